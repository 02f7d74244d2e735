"""Bytes in, a table out: `load_table` reads CSV (plain or gzip), Parquet and Excel files.

It parses with the encoding, separator and decimal comma that `sniff` found, turns each parser's
failures into one sentence, drops repeated header rows and reads a file without a header row as
data (see `repair` for both), then hands the table to `repair.tidy`.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import warnings
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from advisor.data.repair import (
    WARNINGS_KEY,
    first_row_is_data,
    header_text,
    headerless_note,
    reinferred,
    repeated_header_note,
    repeated_headers,
    tidy,
)
from advisor.data.roles import MIN_ROWS
from advisor.data.sniff import (
    BOMLESS,
    GZIP_MAGIC,
    HEAD_BYTES,
    check_expanded,
    check_shape,
    check_size,
    first_bytes,
    is_utf8,
    not_a_workbook,
    refuse_not_csv,
    rewound,
    row_limits,
    separator,
    text_encoding,
    uses_decimal_comma,
)
from advisor.errors import (
    DataError,
    EmptyFile,
    FileNotFound,
    UnreadableFile,
    UnsupportedFormat,
    shown,
)

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")
ARROW_MIN_BYTES = 8 * 2**20  # CSVs this big are read by pyarrow (threads); smaller, the C reader is as fast
# Kept with the table by the CSV reader for load_table: whether its numbers were written with a decimal comma.
DECIMAL_COMMA_KEY = "advisor_decimal_comma"


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
        return tidy(source.copy(), label, notes), label

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            raise FileNotFound(f"File '{path}' does not exist; check the path and try again.")
        size = path.stat().st_size
        check_size(label, size, max_bytes)
        opener: Path | io.BytesIO = path
    else:
        label = name or getattr(source, "name", None) or "the uploaded file"
        raw = bytes(source) if isinstance(source, (bytes, bytearray)) else source.read()
        check_size(label, len(raw), max_bytes)
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

    check_expanded(opener, suffix, label)
    notes: list[str] = []
    frame = _read(opener, suffix, label, notes)
    if frame.shape[1] == 0:
        raise EmptyFile(f"File '{label}' has no columns; give a file with a header row and data rows.")
    if frame.shape[0] == 0:
        raise EmptyFile(f"File '{label}' has a header but no data rows; give a file with at least {MIN_ROWS} rows.")
    check_shape(label, *frame.shape)
    decimal_comma = bool(frame.attrs.pop(DECIMAL_COMMA_KEY, False))
    return tidy(frame, label, notes, decimal_comma), label


def _read(opener: Path | io.BytesIO, suffix: str, label: str, notes: list[str]) -> pd.DataFrame:
    kind = {".csv": "CSV", ".csv.gz": "gzip CSV", ".parquet": "Parquet", ".xlsx": "Excel"}[suffix]
    try:
        with warnings.catch_warnings():  # pandas' and openpyxl's warnings are not for the user
            warnings.simplefilter("ignore")
            if suffix in (".csv", ".csv.gz"):
                return _read_csv(opener, suffix, label, notes)
            if suffix == ".parquet":
                return pd.read_parquet(rewound(opener))
            head = first_bytes(opener)
            if not head.startswith(b"PK"):
                raise UnreadableFile(
                    f"File '{label}' could not be read as Excel ({not_a_workbook(head)}); "
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


def _read_csv(opener: Path | io.BytesIO, suffix: str, label: str, notes: list[str]) -> pd.DataFrame:
    head = first_bytes(opener)
    compression = None
    if suffix == ".csv.gz":
        if head.startswith(GZIP_MAGIC):
            compression = "gzip"
            with gzip.open(rewound(opener), "rb") as stream:
                head = stream.read(HEAD_BYTES)
        else:  # a browser that unpacked the download keeps the .gz name
            notes.append(f"File '{label}' is not gzip-compressed; it was read as a plain CSV.")
    encoding = text_encoding(head)
    if encoding is None:
        refuse_not_csv(head, label, decompressed=compression is not None)
    elif encoding in BOMLESS:
        notes.append(
            f"File '{label}' is {BOMLESS[encoding]} text without a byte-order mark; it was read as such, "
            "so check that its names and values look right."
        )
    sample = head.decode(encoding or "utf-8", errors="replace").replace("\x00", "")
    sep = separator(sample)
    decimal = "," if sep != "," and uses_decimal_comma(sample, sep) else "."
    options = {"sep": sep, "decimal": decimal, "compression": compression}
    # parsing stops one row past the caps, so a table over them is refused without being read whole
    max_rows, max_cells = row_limits()
    try:
        columns = max(len(next(csv.reader(io.StringIO(sample, newline=""), delimiter=sep), [])), 1)
    except csv.Error:
        columns = 1
    row_cap = min(max_rows, max_cells // columns)
    frame, parsed_notes = None, []
    for attempt in [encoding] if encoding else ["utf-8", "cp1252", "latin-1"]:
        options["encoding"] = attempt
        parsed_notes = []
        try:
            frame = _parse_csv(opener, label, options, parsed_notes, row_cap)
        except UnicodeDecodeError:
            continue
        if attempt in ("cp1252", "latin-1"):
            notes.append(f"File '{label}' is not UTF-8; it was read as Windows-1252 (Latin-1), so check accented text.")
        break
    assert frame is not None  # latin-1 decodes any byte
    repeated = repeated_headers(frame)
    if repeated is not None:
        first_line = header_text(sample.splitlines()[0] if sample.splitlines() else "")
        lines = _lines_equal_to(opener, options, first_line)
        if len(lines) == repeated.sum():
            notes.append(repeated_header_note(label, "line", lines))
        else:  # a header with a line break inside quotes: its lines cannot be matched, its rows can
            notes.append(repeated_header_note(label, "data row", [int(i) + 1 for i in np.flatnonzero(repeated)]))
        frame = reinferred(frame.loc[~repeated].reset_index(drop=True))
    elif first_row_is_data(frame, decimal):
        parsed_notes = []
        frame = _parse_csv(opener, label, options, parsed_notes, row_cap, header=False)
        notes.append(headerless_note(label, frame))
    notes.extend(parsed_notes)
    if len(frame) > row_cap:
        check_shape(label, len(frame), max(columns, frame.shape[1]), exact=False)
    if encoding is None and b"\x00" in head:
        notes.append(f"File '{label}' contains NUL bytes (a sign of a damaged file); they were removed.")
        frame.columns = [str(c).replace("\x00", "") for c in frame.columns]
        for column in frame.columns:
            if pd.api.types.is_string_dtype(frame[column]):
                frame[column] = frame[column].str.replace("\x00", "", regex=False)
    frame.attrs[DECIMAL_COMMA_KEY] = decimal == ","
    return frame


def _parse_csv(
    opener: Path | io.BytesIO,
    label: str,
    options: dict[str, Any],
    notes: list[str],
    row_cap: int | None = None,
    header: bool = True,
) -> pd.DataFrame:
    size = opener.stat().st_size if isinstance(opener, Path) else len(opener.getbuffer())
    arrow = (
        size >= ARROW_MIN_BYTES
        and options["decimal"] == "."
        and options.get("encoding") == "utf-8"
        and is_utf8(opener, options["compression"])  # pyarrow keeps other bytes as binary instead of failing
    )
    # index_col=False: rows longer than the header never turn the first column into an index
    base = {"low_memory": False, "index_col": False, **options}
    if not header:
        base["header"] = None
    if row_cap is not None:
        base["nrows"] = row_cap + 1

    def read(**extra: Any) -> pd.DataFrame:
        if arrow and not extra:
            arrow_options = {**options, **({"header": None} if not header else {})}
            try:  # pyarrow's multithreaded reader; what it refuses, the C reader below reads or explains
                frame = pd.read_csv(rewound(opener), engine="pyarrow", **arrow_options)
                dated = [c for c in frame.columns if pd.api.types.infer_dtype(frame[c]) in ("date", "datetime64")]
                if dated:  # pyarrow parses ISO dates; the column roles expect the text, as the C reader gives it
                    text = dict.fromkeys(dated, "str")
                    frame = pd.read_csv(rewound(opener), engine="pyarrow", dtype=text, **arrow_options)
                return frame
            except Exception:
                pass
        return pd.read_csv(rewound(opener), **{**base, **extra})

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
    if not header:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
        return frame
    names = read(header=None, nrows=1, dtype=str, keep_default_na=False)
    if names.shape[1] == frame.shape[1]:  # the names as written: pandas renames duplicates and blanks
        frame.columns = list(names.iloc[0]) if len(names) else list(frame.columns)
    return frame


def _lines_equal_to(opener: Path | io.BytesIO, options: dict[str, Any], first_line: str) -> list[int]:
    """Numbers (from 1) of the lines after the first that read like it, to tell the user where they are."""
    raw = rewound(opener)
    handle = raw.open("rb") if isinstance(raw, Path) else None
    source: Any = handle or raw
    found: list[int] = []
    stream = gzip.GzipFile(fileobj=source, mode="rb") if options["compression"] == "gzip" else source
    text = io.TextIOWrapper(stream, encoding=options["encoding"], errors="replace", newline=None)
    try:
        for number, line in enumerate(text, start=1):
            if number > 1 and header_text(line) == first_line:
                found.append(number)
    finally:
        text.detach()  # closing the wrapper would close the caller's file object
        if handle is not None:
            handle.close()
        rewound(opener)
    return found


def _read_excel(opener: Path | io.BytesIO, label: str, notes: list[str]) -> pd.DataFrame:
    with pd.ExcelFile(rewound(opener), engine="openpyxl") as book:
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
            repeated = repeated_headers(frame)
            if repeated is not None:  # spreadsheet rows: the header's own row plus the data rows above
                rows = [int(grid.index[i + 1]) + 1 for i in np.flatnonzero(repeated)]
                notes.append(repeated_header_note(label, "sheet row", rows))
                frame = reinferred(frame.loc[~repeated].reset_index(drop=True).astype(object)).infer_objects()
            elif first_row_is_data(frame):
                frame = grid.reset_index(drop=True).infer_objects()
                frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
                notes.append(headerless_note(label, frame))
            return frame
    return pd.DataFrame()
