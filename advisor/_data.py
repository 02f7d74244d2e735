"""Data in: the one loader, task detection, column roles and the train/validation/test split.

This is the boundary: everything a user can get wrong about a file is caught here and
reported as one sentence (see `_errors`). Code further in trusts what leaves this module.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import os
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from advisor._encoder import LARGEST_MAGNITUDE
from advisor._errors import (
    ClassTooSmall,
    DataError,
    EmptyFile,
    FileNotFound,
    FileTooLarge,
    NoFeatures,
    OneClassTarget,
    TargetAllMissing,
    TaskMismatch,
    TooFewRows,
    UnknownColumn,
    UnknownKey,
    UnreadableFile,
    UnsupportedFormat,
    did_you_mean,
    shown,
)
from advisor._hardware import megabytes_from_env

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")
TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")
# Roles a feature column can have; the last four are dropped before training.
USED_ROLES = ("numeric", "categorical", "text", "datetime")
DROPPED_ROLES = ("id", "leakage", "constant", "empty")

MIN_ROWS = 30
MIN_ROWS_PER_CLASS = 5
MAX_CLASSES = 100
# A class this much rarer than the most common one makes plain accuracy misleading:
# for two classes it is a minority share under 20%.
IMBALANCE_RATIO = 0.25
CATEGORICAL_MAX_UNIQUE = 50
TARGET_HINTS = ("target", "label", "class", "y", "outcome", "income", "survived", "species", "price")

# What load_table repaired on the way (renamed columns, skipped rows, a guessed encoding), kept
# with the table so that inspect_table shows it with its own warnings.
WARNINGS_KEY = "advisor_warnings"
# The start of a file is enough to recognise its format, encoding and separator.
HEAD_BYTES = 65_536
ARROW_MIN_BYTES = 8 * 2**20  # CSVs this big are read by pyarrow (threads); smaller, the C reader is as fast
SEPARATORS = (",", ";", "\t", "|")
# Text has almost no control bytes besides tab, newlines and form feed; random or binary data
# has about one in eight.
TEXT_BYTES = bytes(range(32, 256)) + b"\t\n\r\x0b\x0c\x1a"
BINARY_SHARE = 0.05
GZIP_MAGIC = b"\x1f\x8b"
# Compressed files are checked against a cap on their expanded size before they are parsed, so a
# small gzip or xlsx that expands to gigabytes (a decompression bomb) is refused in one sentence.
MAX_EXPANDED_ENV = "ADVISOR_MAX_EXPANDED_MB"
DEFAULT_MAX_EXPANDED_MB = 1024
# Files that arrive under a CSV name but are something else, by their first bytes.
MAGIC = (
    (b"PK\x03\x04", "a zip archive, not CSV text (an Excel workbook is one); if it is a workbook, rename it to .xlsx"),
    (b"PAR1", "a Parquet file, not CSV text; rename it to .parquet"),
    (GZIP_MAGIC, "gzip-compressed; rename it to .csv.gz"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook, not CSV text; open it in a spreadsheet and save it as .xlsx"),
    (b"%PDF", "a PDF document, not CSV text; export the table itself as CSV"),
    (b"SQLite format 3", "an SQLite database, not CSV text; export the table as CSV"),
)
# A ';'-separated file with numbers like 12,5 comes from a decimal-comma locale.
DECIMAL_COMMA = re.compile(r"(?:^|;)\s*-?\d+,\d+\s*(?=;|$)", re.MULTILINE)
# Numbers written for people: '$1,234.50', '-€ 3', '12 kg', '40%', '1,234,567', 'USD 12'.
FORMATTED_NUMBER = re.compile(
    r"^(?P<sign>[-+−]?)\s*(?P<before>[$€£¥₹]|[A-Z]{3}(?=\s))?\s*(?P<sign2>[-+−]?)"
    r"(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"
    r"\s*(?P<after>%|[$€£¥₹]|[^\W\d_]{1,6}(?:/[^\W\d_]{1,6})?)?$"
)
CONTAINERS = (bytes, bytearray, list, tuple, set, dict, np.ndarray)
PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class ColumnInfo:
    """What the advisor decided about one column, and why."""

    name: str
    role: str
    dtype: str
    n_unique: int
    n_missing: int
    note: str = ""


@dataclass
class Dataset:
    """A validated table with its target, task and column roles."""

    frame: pd.DataFrame
    name: str
    target: str
    task: str
    columns: list[ColumnInfo]
    primary_metric: str
    class_weighting: bool
    classes: list[Any] | None = None
    class_counts: dict[str, int] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def roles(self) -> dict[str, str]:
        return {c.name: c.role for c in self.columns}

    @property
    def feature_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.role in USED_ROLES]

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": len(self.frame),
            "target": self.target,
            "task": self.task,
            "primary_metric": self.primary_metric,
            "class_weighting": self.class_weighting,
            "classes": None if self.classes is None else [str(c) for c in self.classes],
            "class_counts": self.class_counts,
            "columns": [c.__dict__ for c in self.columns],
            "warnings": list(self.warnings),
        }


@dataclass
class Split:
    """Train / validation / test rows, features and target kept apart."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_val: pd.DataFrame
    y_val: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    seed: int

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.X_train), "validation": len(self.X_val), "test": len(self.X_test)}


# --------------------------------------------------------------------------- loading


def _suffix(name: str) -> str:
    lower = name.lower()
    for suffix in SUPPORTED_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    return Path(lower).suffix


def load_table(
    source: str | os.PathLike[str] | bytes | IO[bytes] | pd.DataFrame,
    name: str | None = None,
    max_bytes: int | None = None,
) -> tuple[pd.DataFrame, str]:
    """Read a CSV, CSV.gz, Parquet or XLSX file (a path, bytes or a binary file object).

    Returns the table and the name used in messages. `name` is needed for bytes and file
    objects, whose format is taken from its extension. What had to be repaired on the way
    (renamed columns, skipped rows, an encoding guessed) is listed in `frame.attrs["advisor_warnings"]`.
    """
    if isinstance(source, pd.DataFrame):
        label = name or "the table"
        if source.empty:
            raise EmptyFile(f"{label} has no rows; give a table with a header and data rows.")
        notes = list(source.attrs.get(WARNINGS_KEY, []))
        return _tidy(source.copy(), label, notes), label

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            raise FileNotFound(f"File '{path}' does not exist; check the path and try again.")
        size = path.stat().st_size
        _check_size(label, size, max_bytes)
        opener: Path | io.BytesIO = path
    else:
        label = name or getattr(source, "name", None) or "the uploaded file"
        raw = bytes(source) if isinstance(source, (bytes, bytearray)) else source.read()
        _check_size(label, len(raw), max_bytes)
        opener = io.BytesIO(raw)
        size = len(raw)

    suffix = _suffix(label)
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormat(
            f"File '{label}' has the extension '{suffix or '(none)'}', which the advisor does not "
            f"read; save it as {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if size == 0:
        raise EmptyFile(f"File '{label}' is empty; give a file with a header row and data rows.")

    _check_expanded(opener, suffix, label)
    notes: list[str] = []
    frame = _read(opener, suffix, label, notes)
    if frame.shape[1] == 0:
        raise EmptyFile(f"File '{label}' has no columns; give a file with a header row and data rows.")
    if frame.shape[0] == 0:
        raise EmptyFile(f"File '{label}' has a header but no data rows; give a file with at least {MIN_ROWS} rows.")
    return _tidy(frame, label, notes), label


def _check_expanded(opener: Path | io.BytesIO, suffix: str, label: str) -> None:
    """Refuse a compressed file that expands past the cap, counting its bytes as they stream
    (never holding them): gzip CSV by decompressing it once, xlsx by its members' sizes."""
    cap = megabytes_from_env(MAX_EXPANDED_ENV, DEFAULT_MAX_EXPANDED_MB, FileTooLarge)

    def too_large() -> FileTooLarge:
        return FileTooLarge(
            f"File '{label}' expands to more than {cap / 1e6:,.0f} MB when decompressed, over the limit; "
            f"give a sample of it, or raise the limit with {MAX_EXPANDED_ENV} (megabytes) where memory allows."
        )

    if suffix == ".csv.gz" and _head(opener).startswith(GZIP_MAGIC):
        total = 0
        try:
            with gzip.open(_rewound(opener), "rb") as stream:
                while chunk := stream.read(1 << 22):
                    total += len(chunk)
                    if total > cap:
                        raise too_large()
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError):
            pass  # the reader says what is wrong with a damaged file
        finally:
            _rewound(opener)
    elif suffix == ".xlsx":
        try:
            with zipfile.ZipFile(_rewound(opener)) as archive:
                declared = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, EOFError):
            return
        finally:
            _rewound(opener)
        if declared > cap:
            raise too_large()


def _check_size(label: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(
            f"File '{label}' is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.0f} MB; "
            "sample it down or use the Python API, which has no limit."
        )


def _read(opener: Path | io.BytesIO, suffix: str, label: str, notes: list[str]) -> pd.DataFrame:
    kind = {".csv": "CSV", ".csv.gz": "gzip CSV", ".parquet": "Parquet", ".xlsx": "Excel"}[suffix]
    try:
        with warnings.catch_warnings():  # pandas' and openpyxl's warnings are not for the user
            warnings.simplefilter("ignore")
            if suffix in (".csv", ".csv.gz"):
                return _read_csv(opener, suffix, label, notes)
            if suffix == ".parquet":
                return pd.read_parquet(_rewound(opener))
            head = _head(opener)
            if not head.startswith(b"PK"):
                raise UnreadableFile(
                    f"File '{label}' could not be read as Excel ({_not_a_workbook(head)}); "
                    "if it is a CSV, rename it to .csv, or save it again from the spreadsheet as .xlsx."
                )
            return _read_excel(opener, label, notes)
    except DataError:
        raise
    except (pd.errors.EmptyDataError, StopIteration):
        raise EmptyFile(f"File '{label}' has no columns; give a file with a header row and data rows.") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UnreadableFile(
            f"File '{label}' could not be decompressed ({_first_line(exc)}); check that it is a "
            "complete gzip file or upload the plain CSV."
        ) from None
    except pd.errors.ParserError as exc:
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if unclosed:
            raise UnreadableFile(
                f"File '{label}' has a quote (\") opened in row {int(unclosed.group(1)) + 1} that is never closed; "
                "close or remove it and save the file again."
            ) from None
        raise UnreadableFile(
            f"File '{label}' could not be read as {kind} ({_first_line(exc)}); open it in a "
            "spreadsheet, check it, and save it again as UTF-8 CSV."
        ) from None
    except Exception as exc:
        hint = {
            "Parquet": "write it again (it may be incomplete) or export the table as CSV",
            "Excel": "open it in a spreadsheet, check it, and save it again as .xlsx or UTF-8 CSV",
        }.get(kind, "open it in a spreadsheet, check it, and save it again as UTF-8 CSV")
        raise UnreadableFile(f"File '{label}' could not be read as {kind} ({_first_line(exc)}); {hint}.") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = re.sub(r"^Could not open Parquet input source '[^']*': ", "", text[0]) if text else type(exc).__name__
    return shown(first, 160)


def _rewound(opener: Path | io.BytesIO) -> Path | io.BytesIO:
    if isinstance(opener, io.BytesIO):
        opener.seek(0)
    return opener


def _head(opener: Path | io.BytesIO) -> bytes:
    """The first bytes of the file, to recognise its format and encoding."""
    if isinstance(opener, Path):
        with opener.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    return opener.getvalue()[:HEAD_BYTES]


def _not_a_workbook(head: bytes) -> str:
    for magic, what in MAGIC:
        if head.startswith(magic):
            return f"it is {what.split(',')[0]}"
    return "it is text, not a workbook" if _is_text(head) else "it is not a zip archive, as .xlsx files are"


def _is_text(head: bytes) -> bool:
    return len(head.translate(None, TEXT_BYTES)) <= BINARY_SHARE * len(head)


def _refuse_not_csv(head: bytes, label: str, decompressed: bool) -> None:
    """Stop a file that is not CSV text before pandas turns its bytes into nonsense columns."""
    for magic, what in MAGIC:
        if head.startswith(magic) and not (decompressed and magic == GZIP_MAGIC):
            where = "holds" if decompressed else "is"
            raise UnreadableFile(f"File '{label}' {where} {what}.")
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocols 2 to 5
        raise UnreadableFile(
            f"File '{label}' is a Python pickle, not CSV text; the advisor never opens pickled data "
            "from a file it is given, so export the table as CSV."
        )
    if not _is_text(head):
        where = "holds binary data once decompressed" if decompressed else "is binary"
        raise UnreadableFile(
            f"File '{label}' {where}, not CSV text; export the table as UTF-8 CSV, Parquet or Excel "
            "from the program that made it."
        )
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        raise UnreadableFile(
            f"File '{label}' is a web page (HTML or XML), not CSV; download the data file itself rather than "
            "the page that shows or links to it."
        )
    if re.match(rb'(\{\s*"|\[\s*[\[{"\d-])', start):
        raise UnreadableFile(f"File '{label}' holds JSON, not CSV; convert it to a table and save that as CSV.")


def _text_encoding(head: bytes) -> str | None:
    """UTF-32 or UTF-16 when a byte-order mark or zero bytes give it away; None to try UTF-8 first."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE starts both
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    even, odd = head[0:4096:2], head[1:4096:2]
    if len(odd) >= 8:
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    return None


def _separator(sample: str) -> str:
    """The separator that splits the first lines into the most fields, the same number in (nearly) each."""
    lines = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    best, best_score = ",", (0.0, 1)
    for sep in SEPARATORS:
        try:
            reader = csv.reader(io.StringIO(lines), delimiter=sep)
            counts = [len(r) for r, _ in zip(reader, range(50), strict=False) if r]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        score = (round(sum(c == counts[0] for c in counts) / len(counts), 1), counts[0])
        if score > best_score:
            best, best_score = sep, score
    return best


def _read_csv(opener: Path | io.BytesIO, suffix: str, label: str, notes: list[str]) -> pd.DataFrame:
    head = _head(opener)
    compression = None
    if suffix == ".csv.gz":
        if head.startswith(GZIP_MAGIC):
            compression = "gzip"
            with gzip.open(_rewound(opener), "rb") as stream:
                head = stream.read(HEAD_BYTES)
        else:  # a browser that unpacked the download keeps the .gz name
            notes.append(f"File '{label}' is not gzip-compressed; it was read as a plain CSV.")
    encoding = _text_encoding(head)
    if encoding is None:
        _refuse_not_csv(head, label, decompressed=compression is not None)
    sample = head.decode(encoding or "utf-8", errors="replace").replace("\x00", "")
    sep = _separator(sample)
    decimal = "," if sep == ";" and DECIMAL_COMMA.search(sample) else "."
    options = {"sep": sep, "decimal": decimal, "compression": compression}
    frame = None
    for attempt in [encoding] if encoding else ["utf-8", "cp1252", "latin-1"]:
        try:
            frame = _parse_csv(opener, label, options | {"encoding": attempt}, notes)
        except UnicodeDecodeError:
            continue
        if attempt in ("cp1252", "latin-1"):
            notes.append(f"File '{label}' is not UTF-8; it was read as Windows-1252 (Latin-1), so check accented text.")
        break
    assert frame is not None  # latin-1 decodes any byte
    if encoding is None and b"\x00" in head:
        notes.append(f"File '{label}' contains NUL bytes (a sign of a damaged file); they were removed.")
        frame.columns = [str(c).replace("\x00", "") for c in frame.columns]
        for column in frame.columns:
            if pd.api.types.is_string_dtype(frame[column]):
                frame[column] = frame[column].str.replace("\x00", "", regex=False)
    return frame


def _parse_csv(opener: Path | io.BytesIO, label: str, options: dict[str, Any], notes: list[str]) -> pd.DataFrame:
    size = opener.stat().st_size if isinstance(opener, Path) else len(opener.getbuffer())
    arrow = (
        size >= ARROW_MIN_BYTES
        and options["decimal"] == "."
        and options.get("encoding") == "utf-8"
        and _is_utf8(opener, options["compression"])  # pyarrow keeps other bytes as binary instead of failing
    )

    def read(**extra: Any) -> pd.DataFrame:
        if arrow and not extra:
            try:  # pyarrow's multithreaded reader; what it refuses, the C reader below reads or explains
                frame = pd.read_csv(_rewound(opener), engine="pyarrow", **options)
                dated = [c for c in frame.columns if pd.api.types.infer_dtype(frame[c]) in ("date", "datetime64")]
                if dated:  # pyarrow parses ISO dates; the column roles expect the text, as the C reader gives it
                    text = dict.fromkeys(dated, "str")
                    frame = pd.read_csv(_rewound(opener), engine="pyarrow", dtype=text, **options)
                return frame
            except Exception:
                pass
        # index_col=False: rows longer than the header never turn the first column into an index
        return pd.read_csv(_rewound(opener), low_memory=False, index_col=False, **options, **extra)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = read()
        except pd.errors.ParserError as exc:
            if not re.search(r"Expected \d+ fields", str(exc)):
                raise
            caught.clear()
            frame = read(on_bad_lines="warn")
            skipped = [int(n) for w in caught for n in re.findall(r"Skipping line (\d+)", str(w.message))]
            if not skipped:
                raise
            if len(skipped) >= len(frame):
                raise UnreadableFile(
                    f"File '{label}' has {len(skipped):,} lines with more fields than its first line "
                    f"({frame.shape[1]}), from line {skipped[0]} on; make the first line the header row "
                    "(remove any lines above it) and use one separator throughout."
                ) from None
            lines = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
            notes.append(
                f"{len(skipped)} rows of '{label}' have more fields than the header and were skipped "
                f"(line {lines}); check the separators and quotes on those lines."
            )
    if any("loss of data" in str(w.message) for w in caught):
        notes.append(
            f"Rows of '{label}' have more fields than the header; the extra fields at the end were dropped, "
            "so check the separators."
        )
    header = read(header=None, nrows=1, dtype=str, keep_default_na=False)
    if header.shape[1] == frame.shape[1]:  # the names as written: pandas renames duplicates and blanks
        frame.columns = list(header.iloc[0]) if len(header) else list(frame.columns)
    return frame


def _is_utf8(opener: Path | io.BytesIO, compression: str | None) -> bool:
    """Whether the whole (decompressed) file is valid UTF-8, read in 4 MB chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    raw: Any = _rewound(opener)
    handle = raw.open("rb") if isinstance(raw, Path) else None
    source = handle or raw
    try:
        stream = gzip.GzipFile(fileobj=source, mode="rb") if compression == "gzip" else source
        while chunk := stream.read(2**22):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError, EOFError):
        return False
    finally:
        if handle is not None:
            handle.close()
        _rewound(opener)
    return True


def _read_excel(opener: Path | io.BytesIO, label: str, notes: list[str]) -> pd.DataFrame:
    with pd.ExcelFile(_rewound(opener), engine="openpyxl") as book:
        sheets = book.sheet_names
        for sheet in sheets:
            grid = book.parse(sheet, header=None).dropna(how="all")
            if grid.empty:
                continue
            if len(sheets) > 1:
                notes.append(
                    f"File '{label}' has {len(sheets)} sheets; only the first, '{shown(sheet)}', was read."
                    if sheet == sheets[0]
                    else f"File '{label}': the first sheet '{shown(sheets[0])}' is empty, so sheet "
                    f"'{shown(sheet)}' was read ({len(sheets)} sheets in all)."
                )
            frame = grid.iloc[1:].reset_index(drop=True).infer_objects()
            frame.columns = list(grid.iloc[0])  # the names as written: cleaned with every other format's
            return frame
    return pd.DataFrame()


# --------------------------------------------------------------------------- repairs


def _tidy(frame: pd.DataFrame, label: str, notes: list[str]) -> pd.DataFrame:
    """Names unique and on one line, lists as text, infinities as missing, formatted numbers as numbers."""
    frame.columns = _clean_names(list(frame.columns), label, notes)
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
            parsed = _formatted_numbers(values)
            if parsed is not None:
                numbers, example = parsed
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
                frame[column] = values.mask(infinite)
    if notes:  # only then: pandas deep-copies attrs into every frame derived from this one
        frame.attrs[WARNINGS_KEY] = list(dict.fromkeys(notes))
    return frame


def _clean_name(name: Any) -> str:
    """A column name on one line: no control or invisible characters, runs of spaces made one."""
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    text = "".join(ch for ch in str(name) if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(text.split())


def _clean_names(names: list[Any], label: str, notes: list[str]) -> list[str]:
    cleaned = [_clean_name(n) for n in names]
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


def _formatted_numbers(values: pd.Series) -> tuple[pd.Series, str] | None:
    """'$1,234.50', '12 kg', '40%' or '1,234,567' as numbers, with an example; None for other text.

    Only when (nearly) every value has that form, with one currency and one unit at most, and
    at least one is not a plain number (those are left to `_as_numeric`).
    """
    present = values.dropna()
    sample = present.head(200).astype(str).str.strip()
    if sample.empty:
        return None
    matches = [FORMATTED_NUMBER.match(v) for v in sample]
    found = [m for m in matches if m]
    if len(found) < 0.98 * len(sample) or not any(
        m.group("before") or m.group("after") or "," in m.group("number") for m in found
    ):
        return None
    if (
        len({m.group("before") for m in found if m.group("before")}) > 1
        or len({m.group("after") for m in found if m.group("after")}) > 1
    ):
        return None

    def number(text: str) -> float:
        match = FORMATTED_NUMBER.match(text.strip())
        if match is None:
            return math.nan
        signs = match.group("sign") + match.group("sign2")
        value = float(match.group("number").replace(",", ""))
        return -value if sum(sign in "-−" for sign in signs) % 2 else value

    uniques = present.astype(str).unique()
    lookup = {text: number(text) for text in uniques}
    parsed = values.map(lambda v: math.nan if pd.isna(v) else lookup.get(str(v), math.nan)).astype(float)
    if parsed[values.notna()].notna().mean() < 0.98:
        return None
    example = next(v for v in sample if FORMATTED_NUMBER.match(v) and not PLAIN_NUMBER.match(v))
    return parsed, example


# --------------------------------------------------------------------------- detection


def guess_target(frame: pd.DataFrame) -> str:
    """The column most likely meant as the target: a conventional name, else the last column."""
    by_lower = {c.lower(): c for c in frame.columns}
    for hint in TARGET_HINTS:
        if hint in by_lower:
            return by_lower[hint]
    return str(frame.columns[-1])


def _is_integer_valued(values: pd.Series) -> bool:
    array = values.to_numpy(dtype=float, na_value=np.nan)
    array = array[np.isfinite(array)]
    return bool(array.size) and bool(np.all(np.equal(np.mod(array, 1), 0)))


def _as_numeric(values: pd.Series) -> pd.Series | None:
    """The values as numbers when (nearly) all non-missing ones are numbers, else None."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values
    present = values.dropna()
    if present.empty:
        return None
    parsed = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if parsed.notna().mean() >= 0.98:
        return pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
    return None


def _looks_like_datetime(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    sample = values.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def detect_task(target: pd.Series, column: str, override: str | None = None, name: str | None = None) -> str:
    """binary, multiclass or regression, from the target's values (or checked against an override)."""
    where = f" in '{name}'" if name else ""
    present = target.dropna()
    numeric = _as_numeric(present)
    n_unique = int(present.nunique())
    if override not in (None, "auto"):
        override = "multiclass" if override == "classification" and n_unique > 2 else override
        override = "binary" if override == "classification" else override
        if override not in TASKS:
            raise UnknownKey(f"Task '{override}' is not known; {did_you_mean(override, TASKS)}.")
        if override == "regression" and numeric is None:
            raise TaskMismatch(
                f"Target column '{shown(column)}'{where} holds text such as '{shown(present.iloc[0])}', so it "
                "cannot be a regression target; choose binary or multiclass, or another column."
            )
        if override == "binary" and n_unique != 2:
            raise TaskMismatch(
                f"Target column '{shown(column)}'{where} has {n_unique} distinct values, not 2, so the task cannot "
                "be binary; choose multiclass or regression."
            )
        return override
    if n_unique == 2:
        return "binary"
    if numeric is not None and not pd.api.types.is_bool_dtype(present):
        few_levels = n_unique <= 20 and n_unique <= max(3, 0.05 * len(present))
        if _is_integer_valued(numeric) and few_levels:
            return "multiclass"
        return "regression"
    return "multiclass"


def _column_info(
    name: str, values: pd.Series, target: pd.Series, task: str, target_classes: int | None = None
) -> ColumnInfo:
    n = len(values)
    n_missing = int(values.isna().sum())
    present = values.dropna()
    n_unique = int(present.nunique())
    dtype = str(values.dtype)

    def info(role: str, note: str = "") -> ColumnInfo:
        return ColumnInfo(name, role, dtype, n_unique, n_missing, note)

    if n_missing == n:
        return info("empty", "every value is missing")
    if n_unique == 1:
        return info("constant", f"every value is '{shown(present.iloc[0])}'")
    # more distinct values than the target has classes cannot relabel it (a quick no on wide tables)
    relabels = task == "regression" or target_classes is None or n_unique <= target_classes
    if relabels and _is_leak(values, target, task):
        return info("leakage", "equals the target (or is a one-to-one relabelling of it)")

    numeric = _as_numeric(values)
    if numeric is not None:
        if _is_integer_valued(numeric) and n_missing == 0 and n_unique == n and n > MIN_ROWS:
            ordered = np.sort(numeric.to_numpy(dtype=float))
            if np.all(np.diff(ordered) == 1):
                return info("id", "consecutive integers, one per row: a row number")
        note = "" if pd.api.types.is_numeric_dtype(values) else "numbers stored as text"
        return info("numeric", note)
    if _looks_like_datetime(values):
        return info("datetime", "dates or times: year, month, day, weekday and hour are used")
    if n_unique == len(present) and len(present) >= 0.9 * n and n > MIN_ROWS:
        return info("id", "a different text in every row: a name or identifier")
    if n_unique <= CATEGORICAL_MAX_UNIQUE:
        return info("categorical")
    return info("text", f"{n_unique} distinct strings: hashed word counts are used")


def _is_leak(values: pd.Series, target: pd.Series, task: str) -> bool:
    both = values.notna() & target.notna()
    if both.sum() < 0.9 * len(values):
        return False
    left, right = values[both], target[both]
    if task == "regression":
        numeric = _as_numeric(left)
        if numeric is None:
            return False
        a = numeric.to_numpy(dtype=float)
        b = pd.to_numeric(right, errors="coerce").to_numpy(dtype=float)
        if np.allclose(a, b, equal_nan=False):
            return True
        with np.errstate(all="ignore"):
            corr = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
        return bool(abs(corr) > 0.9999)
    if left.nunique() != right.nunique():
        return False
    pairs = pd.DataFrame({"a": left.astype(str).to_numpy(), "b": right.astype(str).to_numpy()})
    return bool(pairs.drop_duplicates().shape[0] == left.nunique())


def inspect_table(
    frame: pd.DataFrame,
    target: str,
    name: str = "the table",
    task: str | None = None,
    primary_metric: str | None = None,
) -> Dataset:
    """Validate the table for this target and detect the task, roles and primary metric."""
    if not frame.columns.is_unique or not all(isinstance(c, str) for c in frame.columns):
        frame = _tidy(frame.copy(), name, list(frame.attrs.get(WARNINGS_KEY, [])))  # not from load_table
    if target not in frame.columns and _clean_name(target) in frame.columns:
        target = _clean_name(target)  # as load_table cleaned the names: ' label ' is 'label'
    if target not in frame.columns:
        raise UnknownColumn(f"Column '{shown(target)}' is not in '{name}'; {did_you_mean(target, frame.columns)}.")
    notes: list[str] = list(frame.attrs.get(WARNINGS_KEY, []))
    y_all = frame[target]
    if isinstance(y_all.dtype, pd.StringDtype) or y_all.dtype == object:
        y_all = y_all.where(y_all.astype("string").str.strip() != "", None)
    if y_all.notna().sum() == 0:
        raise TargetAllMissing(
            f"Target column '{shown(target)}' in '{name}' has no values; pick a column that has them."
        )
    n_dropped = int(y_all.isna().sum())
    rows = frame.loc[y_all.notna()].reset_index(drop=True)
    rows.attrs = {}  # the notes are in the Dataset's warnings from here on
    y = y_all[y_all.notna()].reset_index(drop=True)
    if n_dropped:
        notes.append(f"{n_dropped} rows have no value in target column '{shown(target)}' and were left out.")
    if y.dtype == object and len({type(v) for v in y}) > 1 and any(isinstance(v, str) for v in y):
        y = y.map(str)  # 1 and 'yes' in one Excel column: classes must compare, so all are text
        notes.append(
            f"Target column '{shown(target)}' of '{name}' mixes numbers and text; all its values were read as text."
        )
    if len(rows) < MIN_ROWS:
        raise TooFewRows(
            f"'{name}' has {len(rows)} {'row' if len(rows) == 1 else 'rows'} with a value in '{shown(target)}'; "
            "the advisor needs at least "
            f"{MIN_ROWS} to split them into train, validation and test sets."
        )
    if y.nunique() < 2:
        raise OneClassTarget(
            f"Target column '{shown(target)}' in '{name}' has only one value ('{shown(y.iloc[0])}'); a model "
            "needs at least two different values to learn from."
        )

    detected = detect_task(y, target, task, name)
    classes: list[Any] | None = None
    counts: dict[str, int] | None = None
    class_weighting = False
    if detected == "regression":
        numeric_y = _as_numeric(y)
        assert numeric_y is not None  # detect_task checked
        y = numeric_y.astype(float)
        default_metric = "r2"
        valid_metrics: tuple[str, ...] = REGRESSION_METRICS
    else:
        value_counts = y.value_counts()
        if len(value_counts) > MAX_CLASSES:
            raise TaskMismatch(
                f"Target column '{shown(target)}' in '{name}' has {len(value_counts)} distinct values, too many "
                f"classes (the limit is {MAX_CLASSES}); if it holds numbers, choose the regression task."
            )
        rare = value_counts[value_counts < MIN_ROWS_PER_CLASS]
        if len(rare):
            raise ClassTooSmall(
                f"Class '{shown(rare.index[0])}' of target column '{shown(target)}' in '{name}' has only "
                f"{int(rare.iloc[0])} rows; each class needs at least {MIN_ROWS_PER_CLASS} to appear in the train, "
                "validation and test sets, so remove those rows or merge the class into another."
            )
        classes = sorted(value_counts.index.tolist(), key=str)
        counts = {str(k): int(v) for k, v in value_counts.items()}
        ratio = float(value_counts.min() / value_counts.max())
        class_weighting = ratio < IMBALANCE_RATIO
        default_metric = "balanced_accuracy" if class_weighting else "accuracy"
        valid_metrics = (
            CLASSIFICATION_METRICS
            if detected == "binary"
            else tuple(m for m in CLASSIFICATION_METRICS if m != "roc_auc")
        )
        if class_weighting:
            minority = value_counts.idxmin()
            notes.append(
                f"Classes are imbalanced: '{shown(minority)}' is {value_counts.min() / len(y):.1%} of rows "
                f"({int(value_counts.min()):,} of {len(y):,}) "
                f"({ratio:.2g}x the most common class), so the primary metric is balanced accuracy "
                "and candidates train with class weights."
            )
    if primary_metric in (None, "", "auto"):
        primary_metric = default_metric
    elif primary_metric not in valid_metrics:
        raise UnknownKey(
            f"Metric '{primary_metric}' does not apply to a {detected} task; "
            f"{did_you_mean(primary_metric, valid_metrics)}."
        )

    n_classes = None if detected == "regression" else int(y.nunique())
    infos = [_column_info(c, rows[c], y, detected, n_classes) for c in rows.columns if c != target]
    for info in infos:
        if info.role in DROPPED_ROLES:
            notes.append(f"Column '{shown(info.name)}' is not used: {info.note} ({info.role}).")
    if not any(info.role in USED_ROLES for info in infos):
        raise NoFeatures(
            f"'{name}' has no usable feature column besides '{shown(target)}' (the others are IDs, "
            "constant, empty or copies of the target); add columns that describe each row."
        )
    rows = rows.copy()
    rows[target] = y.to_numpy()
    return Dataset(
        frame=rows,
        name=name,
        target=target,
        task=detected,
        columns=infos,
        primary_metric=primary_metric,
        class_weighting=class_weighting,
        classes=classes,
        class_counts=counts,
        warnings=notes,
    )


def load_dataset(
    source: str | os.PathLike[str] | bytes | IO[bytes] | pd.DataFrame,
    target: str,
    name: str | None = None,
    task: str | None = None,
    primary_metric: str | None = None,
    max_bytes: int | None = None,
) -> Dataset:
    """Load a file and validate it for `target`: the one entry point for data."""
    frame, label = load_table(source, name=name, max_bytes=max_bytes)
    return inspect_table(frame, target, name=label, task=task, primary_metric=primary_metric)


def split_dataset(dataset: Dataset, seed: int = 0, fractions: Mapping[str, float] | None = None) -> Split:
    """Stratified (for classes) train / validation / test split, 60 / 20 / 20 by default."""
    from sklearn.model_selection import train_test_split

    fractions = dict(fractions or {"validation": 0.2, "test": 0.2})
    X = dataset.frame[dataset.feature_columns]
    y = dataset.frame[dataset.target]
    stratify = y if dataset.is_classification else None
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=fractions["test"], random_state=seed, stratify=stratify
    )
    val_share = fractions["validation"] / (1.0 - fractions["test"])
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest,
        y_rest,
        test_size=val_share,
        random_state=seed,
        stratify=y_rest if dataset.is_classification else None,
    )
    return Split(X_train, y_train, X_val, y_val, X_test, y_test, seed)
