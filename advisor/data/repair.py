"""Tidying a table as read: its column names, repeated header rows, a first row that is data, and
its values: numbers written for people ('$1,234.50', '3.967,1', '40%'), missing-value markers ('?',
'n/a'), containers in cells, infinities and values too large to use.

What was repaired is listed in `frame.attrs[WARNINGS_KEY]`, so that the user is told.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from advisor.data.encoder import LARGEST_MAGNITUDE
from advisor.data.roles import CATEGORICAL_MAX_UNIQUE, looks_like_datetime
from advisor.errors import shown

# What load_table repaired on the way (renamed columns, skipped rows, a guessed encoding), kept
# with the table so that inspect_table shows it with its own warnings.
WARNINGS_KEY = "advisor_warnings"
# Also kept with the table: the names given to the columns of a file without a header row, and the
# values of each column too large to use.
HEADERLESS_KEY = "advisor_headerless"
TOO_LARGE_KEY = "advisor_too_large"
# Numbers written for people: '$1,234.50', '-€ 3', '12 kg', '40%', '1,234,567', 'USD 12'; and the
# same in a decimal-comma locale: '3.967,1', '1.234,50 €', '-12,5 %'. NUMBER stands for the digits.
WRITTEN_NUMBER = (
    r"^(?P<sign>[-+−]?)\s*(?P<before>[$€£¥₹]|[A-Z]{3}(?=\s))?\s*(?P<sign2>[-+−]?)"
    r"(?P<number>NUMBER)"
    r"\s*(?P<after>%|[$€£¥₹]|[^\W\d_]{1,6}(?:/[^\W\d_]{1,6})?)?$"
)
FORMATTED_NUMBER = re.compile(WRITTEN_NUMBER.replace("NUMBER", r"\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+"))
EUROPEAN_NUMBER = re.compile(WRITTEN_NUMBER.replace("NUMBER", r"\d{1,3}(?:\.\d{3})+(?:,\d*)?|\d+(?:,\d*)?|,\d+"))
# A European number no English reader would take: a decimal comma not followed by exactly three
# digits, a dot group before a comma, or two dot groups.
SURELY_EUROPEAN = re.compile(r",\d{1,2}$|,\d{4,}$|\.\d{3},|\.\d{3}\.")
# How spreadsheets and exports write a missing number (compared in lower case); pandas already
# reads some of them ('NA', 'null', '#N/A') as missing, but not in Parquet strings or these spellings.
MISSING_MARKERS = frozenset(
    [
        *"? ?? - -- --- — – . .. ... na n/a n.a. n.a nan null none nil missing unknown <na> (blank)".split(),
        *"#n/a #na #value! #div/0! #ref! #num! #name? #null!".split(),
        "not available",
    ]
)
CONTAINERS = (bytes, bytearray, list, tuple, set, dict, np.ndarray)
PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$")


def header_text(name: Any) -> str:
    """A header cell as compared with the cells below it: without spaces, NULs or a byte-order mark."""
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    return str(name).replace("\x00", "").strip().lstrip("\ufeff").strip()


def repeated_headers(frame: pd.DataFrame) -> np.ndarray | None:
    """Which rows repeat the header, cell for cell (files joined one after another); None when none do."""
    names = [header_text(name) for name in frame.columns]
    if len(frame) == 0 or not any(names):
        return None
    repeated = np.ones(len(frame), dtype=bool)
    for i, name in enumerate(names):
        values = frame.iloc[:, i]
        if not name:
            repeated &= values.isna().to_numpy()
            continue
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            return None  # a header row read into this column would have made it text
        cells = values.astype("string").str.replace("\x00", "", regex=False).str.strip().str.lstrip("\ufeff")
        repeated &= (cells.str.strip() == name).fillna(False).to_numpy(dtype=bool)
        if not repeated.any():
            return None
    return repeated if repeated.any() else None


def repeated_header_note(label: str, where: str, numbers: list[int]) -> str:
    count = len(numbers)
    at = ", ".join(map(str, numbers[:5])) + (", ..." if count > 5 else "")
    return (
        f"{count} {'row' if count == 1 else 'rows'} of '{label}' {'repeats' if count == 1 else 'repeat'} its header "
        f"row ({where} {at}), as when "
        f"exported files are joined one after another; {'it was' if count == 1 else 'they were'} dropped."
    )


def reinferred(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as numbers again in columns that were text only because of the rows just dropped."""
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            try:
                frame.isetitem(i, pd.to_numeric(values))
            except (ValueError, TypeError):
                pass
    return frame


def _plain_number(text: str, decimal: str = ".") -> float | None:
    text = text.replace(",", ".") if decimal == "," else text
    if re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text) is None:
        return None
    return float(text)


def first_row_is_data(frame: pd.DataFrame, decimal: str = ".") -> bool:
    """Whether the names read from the first row are a row of data instead: a number above each
    numeric column (most within its range), a value of the column above each column of a few
    classes, no number above text, and not a run such as 0, 1, 2 or 2019, 2020 (the names that
    numbered columns get)."""
    if frame.shape[1] < 2 or len(frame) < 2:
        return False
    names = [header_text(name) for name in frame.columns]
    numbers: list[float] = []
    within = 0
    for i, name in enumerate(names):  # numeric columns first: a real header fails here at once
        values = frame.iloc[:, i]
        if not name or not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        number = _plain_number(name, decimal)
        present = values.dropna()
        if number is None or present.empty:
            return False
        numbers.append(number)
        within += bool(present.min() <= number <= present.max())
    if not numbers or within < len(numbers) / 2:
        return False
    steps = np.diff(numbers)
    if len(numbers) >= 3 and steps[0] != 0 and np.all(steps == steps[0]):
        return False
    if len(numbers) == 2 and steps[0] == 1 and numbers[0].is_integer():
        return False
    for i, name in enumerate(names):
        values = frame.iloc[:, i]
        if not name or pd.api.types.is_numeric_dtype(values):
            continue
        if _plain_number(name, decimal) is not None:
            return False  # a number above text: a name such as '3'
        if looks_like_datetime(values):
            if not looks_like_datetime(pd.Series([name])):
                return False
            continue
        present = values.dropna().astype(str).str.strip()
        if present.nunique() <= CATEGORICAL_MAX_UNIQUE and name not in set(present):
            return False  # 'label' above 'yes' and 'no'
    return True


def headerless_note(label: str, frame: pd.DataFrame) -> str:
    names = list(frame.columns)
    frame.attrs[HEADERLESS_KEY] = names
    example = shown(frame.iloc[0, 0])
    return (
        f"The first line of '{label}' holds data (such as '{example}'), not column names, so it was read as a "
        f"data row and the columns were named {names[0]} to {names[-1]}; add a header row to name them."
    )


def tidy(frame: pd.DataFrame, label: str, notes: list[str], decimal_comma: bool = False) -> pd.DataFrame:
    """Names unique and on one line, lists as text, missing-value markers and infinities as missing,
    formatted numbers as numbers. `decimal_comma`: the file's numbers are written like 12,5."""
    frame.columns = _clean_names(list(frame.columns), label, notes)
    too_large: dict[str, str] = {}
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:
            listed = _cells_as_text(values)
            if listed is not None:
                example = next((v for v in listed.dropna() if v), "")
                notes.append(
                    f"Column '{shown(column)}' of '{label}' holds lists, bytes or other containers; they were "
                    f"turned into text such as '{shown(example)}'."
                )
                frame[column] = values = listed
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            marked = _missing_markers(values)
            if marked is not None:
                values, markers, count = marked
                quoted = " and ".join(f"'{shown(m)}'" for m in markers[:3]) + (
                    " and others" if len(markers) > 3 else ""
                )
                notes.append(
                    f"Column '{shown(column)}' of '{label}' holds numbers and marks missing ones with {quoted} "
                    f"({count:,} {'row' if count == 1 else 'rows'}); those were treated as missing."
                )
                frame[column] = values
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            parsed = _formatted_numbers(values, decimal_comma)
            if parsed is not None:
                numbers, example, value, european = parsed
                if european:
                    notes.append(
                        f"Column '{shown(column)}' of '{label}' holds numbers written with a decimal comma, such "
                        f"as '{shown(example)}'; they were read as numbers ('{shown(example)}' is {value:.15g})."
                    )
                else:
                    notes.append(
                        f"Column '{shown(column)}' of '{label}' holds numbers written as text, such as "
                        f"'{shown(example)}'; they were read as numbers."
                    )
                frame[column] = values = numbers
        if pd.api.types.is_float_dtype(values):  # read as numbers, or parsed from text just above
            with np.errstate(invalid="ignore"):
                infinite = np.abs(values.to_numpy(dtype=float, na_value=np.nan)) > LARGEST_MAGNITUDE
            if infinite.any():
                notes.append(
                    f"Column '{shown(column)}' of '{label}' has {int(infinite.sum())} infinite values ('inf', or "
                    f"beyond ±{LARGEST_MAGNITUDE:.0e}); they are treated as missing."
                )
                too_large[column] = f"{float(values[infinite].iloc[0]):.3g}"  # for the target's message
                frame[column] = values.mask(infinite)
    if too_large:
        frame.attrs[TOO_LARGE_KEY] = too_large
    if notes:  # only then: pandas deep-copies attrs into every frame derived from this one
        frame.attrs[WARNINGS_KEY] = list(dict.fromkeys(notes))
    return frame


def clean_name(name: Any) -> str:
    """A column name on one line: no control or invisible characters, runs of spaces made one."""
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    text = "".join(ch for ch in str(name) if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(text.split())


def _clean_names(names: list[Any], label: str, notes: list[str]) -> list[str]:
    cleaned = [clean_name(n) for n in names]
    taken = set(cleaned)

    def fresh(base: str) -> str:
        number = 1
        while f"{base}.{number}" in taken:
            number += 1
        taken.add(f"{base}.{number}")
        return f"{base}.{number}"

    unnamed = [i for i, n in enumerate(cleaned) if not n]
    for i in unnamed:
        cleaned[i] = f"column_{i + 1}" if f"column_{i + 1}" not in taken else fresh(f"column_{i + 1}")
        taken.add(cleaned[i])
    if unnamed:
        given = ", ".join(f"'{cleaned[i]}'" for i in unnamed[:5]) + (", ..." if len(unnamed) > 5 else "")
        notes.append(
            f"1 column of '{label}' has no name; it was named {given}."
            if len(unnamed) == 1
            else f"{len(unnamed)} columns of '{label}' have no name; they were named {given}."
        )
    used: set[str] = set()
    copies: dict[str, list[str]] = {}
    for i, name in enumerate(cleaned):
        if name in used:
            cleaned[i] = fresh(name)
            copies.setdefault(name, []).append(cleaned[i])
        used.add(cleaned[i])
    for name, renamed in list(copies.items())[:3]:
        notes.append(
            f"Column '{shown(name)}' appears {len(renamed) + 1} times in '{label}'; the later "
            f"{'copy was' if len(renamed) == 1 else 'copies were'} renamed "
            + ", ".join(f"'{shown(r)}'" for r in renamed[:5])
            + "."
        )
    if len(copies) > 3:
        notes.append(
            f"{len(copies) - 3} more column names appear more than once in '{label}'; they were renamed alike."
        )
    return cleaned


def _cells_as_text(values: pd.Series) -> pd.Series | None:
    """Lists, arrays, dicts and bytes in cells (Parquet list and binary columns) as text; None when none."""
    if not any(issubclass(kind, CONTAINERS) for kind in values.map(type).unique()):
        return None

    def text(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return bytes(value).hex()
        if isinstance(value, Mapping):
            return ", ".join(f"{k}: {v}" for k, v in value.items())
        if isinstance(value, CONTAINERS):
            return ", ".join(map(str, value))
        return value

    return values.map(text)


def _all_numbers(texts: pd.Series) -> bool:
    """Whether every (stripped) text is a number, plain or written for people."""
    plain = pd.to_numeric(texts, errors="coerce").notna()
    if plain.all():
        return True
    rest = texts[~plain]
    return bool((rest.str.match(FORMATTED_NUMBER.pattern) | rest.str.match(EUROPEAN_NUMBER.pattern)).all())


def _missing_markers(values: pd.Series) -> tuple[pd.Series, list[str], int] | None:
    """A column of numbers with gaps written as '?', '-', 'n.a.' or 'missing': the numbers with those
    as missing (as numbers, or as text when formatted), the markers seen and how many rows; None
    for any other column."""
    present = values.dropna()
    if present.empty:
        return None
    texts = present.astype("string").str.strip()
    head = texts.head(200)
    if not _all_numbers(head[~head.str.lower().isin(MISSING_MARKERS)]):
        return None  # quick no for columns of words
    marked = texts.str.lower().isin(MISSING_MARKERS)
    if not marked.any() or marked.all() or not _all_numbers(texts[~marked]):
        return None
    markers = list(dict.fromkeys(texts[marked]))
    cleaned = values.mask(values.index.isin(present.index[marked.to_numpy()]))
    numbers = pd.to_numeric(cleaned.astype("string").str.strip(), errors="coerce")
    if int(numbers.notna().sum()) == int((~marked).sum()):
        cleaned = numbers.astype(float)
    return cleaned, markers, int(marked.sum())


def _formatted_numbers(values: pd.Series, decimal_comma: bool = False) -> tuple[pd.Series, str, float, bool] | None:
    """'$1,234.50', '12 kg', '40%', '1,234,567' or '3.967,1' as numbers, with an example, its value
    and whether they are written with a decimal comma; None for other text.

    Only when (nearly) every value has that form, with one currency and one unit at most, and
    at least one is not a plain number (those are left to `roles.as_numeric`). Numbers such as
    '1.234' are read with a decimal comma only when another value shows it ('12,5', '1.234,5')
    or the file's numbers are written so (`decimal_comma`).
    """
    present = values.dropna()
    sample = present.head(200).astype(str).str.strip()
    if sample.empty:
        return None
    for pattern in (FORMATTED_NUMBER, EUROPEAN_NUMBER):
        found = [m for m in map(pattern.match, sample) if m]
        if len(found) < 0.98 * len(sample):
            continue
        numbers = [m.group("number") for m in found]
        signs = any(m.group("before") or m.group("after") for m in found)
        if pattern is FORMATTED_NUMBER:
            telling = signs or any("," in n for n in numbers)
        else:
            telling = any(SURELY_EUROPEAN.search(n) for n in numbers) or (
                decimal_comma and (signs or any("," in n or "." in n for n in numbers))
            )
        if telling:
            break
    else:
        return None
    if (
        len({m.group("before") for m in found if m.group("before")}) > 1
        or len({m.group("after") for m in found if m.group("after")}) > 1
    ):
        return None
    european = pattern is EUROPEAN_NUMBER
    group, point = (".", ",") if european else (",", ".")

    def number(text: str) -> float:
        match = pattern.match(text.strip())
        if match is None:
            return math.nan
        signs = match.group("sign") + match.group("sign2")
        value = float(match.group("number").replace(group, "").replace(point, "."))
        return -value if sum(sign in "-−" for sign in signs) % 2 else value

    uniques = present.astype(str).unique()
    lookup = {text: number(text) for text in uniques}
    parsed = values.map(lambda v: math.nan if pd.isna(v) else lookup.get(str(v), math.nan)).astype(float)
    if parsed[values.notna()].notna().mean() < 0.98:
        return None
    example = next(v for v in sample if pattern.match(v) and not PLAIN_NUMBER.match(v))
    return parsed, example, number(example), european
