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

from advisor.data.encoder import LARGEST_MAGNITUDE
from advisor.errors import (
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
from advisor.measure.hardware import megabytes_from_env

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
# Also kept with the table: the names given to the columns of a file without a header row, the
# values of each column too large to use, and whether its numbers were written with a decimal comma.
HEADERLESS_KEY = "advisor_headerless"
TOO_LARGE_KEY = "advisor_too_large"
DECIMAL_COMMA_KEY = "advisor_decimal_comma"
# The start of a file is enough to recognise its format, encoding and separator.
HEAD_BYTES = 65_536
ARROW_MIN_BYTES = 8 * 2**20  # CSVs this big are read by pyarrow (threads); smaller, the C reader is as fast
SEPARATORS = (",", ";", "\t", "|")
# Text that gives itself away by its zero bytes when it has no byte-order mark.
BOMLESS = {
    "utf-16-le": "UTF-16 (little-endian)",
    "utf-16-be": "UTF-16 (big-endian)",
    "utf-32-le": "UTF-32 (little-endian)",
    "utf-32-be": "UTF-32 (big-endian)",
}
# Text has almost no control bytes besides tab, newlines and form feed; random or binary data
# has about one in eight.
TEXT_BYTES = bytes(range(32, 256)) + b"\t\n\r\x0b\x0c\x1a"
BINARY_SHARE = 0.05
GZIP_MAGIC = b"\x1f\x8b"
# Compressed files are checked against a cap on their expanded size before they are parsed, so a
# small gzip or xlsx that expands to gigabytes (a decompression bomb) is refused in one sentence.
MAX_EXPANDED_ENV = "ADVISOR_MAX_EXPANDED_MB"
DEFAULT_MAX_EXPANDED_MB = 1024
# Every table is capped in rows and in cells (rows x columns), checked before parsing where the
# format says (Parquet metadata; CSV is read up to one row past the cap) and after it otherwise.
MAX_ROWS_ENV = "ADVISOR_MAX_ROWS"
DEFAULT_MAX_ROWS = 10_000_000
MAX_CELLS_ENV = "ADVISOR_MAX_CELLS"
DEFAULT_MAX_CELLS = 200_000_000
# Files that arrive under a CSV name but are something else, by their first bytes.
MAGIC = (
    (b"PK\x03\x04", "a zip archive, not CSV text (an Excel workbook is one); if it is a workbook, rename it to .xlsx"),
    (b"PAR1", "a Parquet file, not CSV text; rename it to .parquet"),
    (GZIP_MAGIC, "gzip-compressed; rename it to .csv.gz"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook, not CSV text; open it in a spreadsheet and save it as .xlsx"),
    (b"%PDF", "a PDF document, not CSV text; export the table itself as CSV"),
    (b"SQLite format 3", "an SQLite database, not CSV text; export the table as CSV"),
)
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
# The time zone after a time of day: '10:00Z', '10:00:00+01:00', '10:00:00.5-0500'.
UTC_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$"
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
    _check_shape(label, *frame.shape)
    decimal_comma = bool(frame.attrs.pop(DECIMAL_COMMA_KEY, False))
    return _tidy(frame, label, notes, decimal_comma), label


def _check_expanded(opener: Path | io.BytesIO, suffix: str, label: str) -> None:
    """Refuse a compressed file that expands past the cap, counting its bytes as they stream
    (never holding them): gzip CSV by decompressing it once, xlsx by its members' sizes."""
    cap = megabytes_from_env(MAX_EXPANDED_ENV, DEFAULT_MAX_EXPANDED_MB, FileTooLarge)

    megabytes = f"{cap / 1e6:,.0f}" if cap >= 1e6 else f"{cap / 1e6:.3g}"

    def too_large() -> FileTooLarge:
        return FileTooLarge(
            f"File '{label}' expands to more than {megabytes} MB when decompressed, over the limit; "
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
    elif suffix == ".parquet":  # its footer says the uncompressed size and the shape: nothing is read
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(str(opener) if isinstance(opener, Path) else _rewound(opener)) as parquet:
                meta = parquet.metadata
                uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                shape = (meta.num_rows, len(parquet.schema_arrow))
        except Exception:
            return  # the reader says what is wrong with a damaged file
        finally:
            _rewound(opener)
        if uncompressed > cap:
            raise too_large()
        _check_shape(label, *shape)


def _count_from_env(name: str, default: int) -> int:
    """A count cap a user sets through an environment variable (`default` when unset)."""
    raw = os.environ.get(name)
    try:
        return int(float(raw)) if raw else default
    except (ValueError, OverflowError):
        raise FileTooLarge(f"{name}={raw!r} is not a number; set it to a whole number such as {default}.") from None


def _row_limits() -> tuple[int, int]:
    return _count_from_env(MAX_ROWS_ENV, DEFAULT_MAX_ROWS), _count_from_env(MAX_CELLS_ENV, DEFAULT_MAX_CELLS)


def _check_shape(label: str, rows: int, columns: int, exact: bool = True) -> None:
    """Refuse a table over the row or the cell cap; `exact`: False when the rows were counted
    only until they passed a cap."""
    max_rows, max_cells = _row_limits()
    if rows > max_rows:
        counted = (
            f"{rows:,} rows, over the limit of {max_rows:,}" if exact else f"more rows than the limit of {max_rows:,}"
        )
        raise FileTooLarge(
            f"File '{label}' has {counted}; give a sample of it, or raise the limit with {MAX_ROWS_ENV} "
            "where memory allows."
        )
    if rows * columns > max_cells:
        counted = (
            f"{rows * columns:,} cells ({rows:,} rows x {columns:,} columns), over the limit of {max_cells:,}"
            if exact
            else f"more cells (rows x columns, with {columns:,} columns) than the limit of {max_cells:,}"
        )
        raise FileTooLarge(
            f"File '{label}' has {counted}; give a sample of it or fewer columns, or raise the limit with "
            f"{MAX_CELLS_ENV} where memory allows."
        )


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
    quarters = [head[i:4096:4] for i in range(4)]
    if len(quarters[3]) >= 8:
        zeros = [q.count(0) / len(q) for q in quarters]
        if zeros[2] > 0.9 and zeros[3] > 0.9 and zeros[0] < 0.05:
            return "utf-32-le"
        if zeros[0] > 0.9 and zeros[1] > 0.9 and zeros[3] < 0.05:
            return "utf-32-be"
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
    elif encoding in BOMLESS:
        notes.append(
            f"File '{label}' is {BOMLESS[encoding]} text without a byte-order mark; it was read as such, "
            "so check that its names and values look right."
        )
    sample = head.decode(encoding or "utf-8", errors="replace").replace("\x00", "")
    sep = _separator(sample)
    decimal = "," if sep != "," and _decimal_comma(sample, sep) else "."
    options = {"sep": sep, "decimal": decimal, "compression": compression}
    # parsing stops one row past the caps, so a table over them is refused without being read whole
    max_rows, max_cells = _row_limits()
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
    repeated = _repeated_headers(frame)
    if repeated is not None:
        first_line = _header_text(sample.splitlines()[0] if sample.splitlines() else "")
        lines = _lines_equal_to(opener, options, first_line)
        if len(lines) == repeated.sum():
            notes.append(_repeated_header_note(label, "line", lines))
        else:  # a header with a line break inside quotes: its lines cannot be matched, its rows can
            notes.append(_repeated_header_note(label, "data row", [int(i) + 1 for i in np.flatnonzero(repeated)]))
        frame = _reinferred(frame.loc[~repeated].reset_index(drop=True))
    elif _first_row_is_data(frame, decimal):
        parsed_notes = []
        frame = _parse_csv(opener, label, options, parsed_notes, row_cap, header=False)
        notes.append(_headerless_note(label, frame))
    notes.extend(parsed_notes)
    if len(frame) > row_cap:
        _check_shape(label, len(frame), max(columns, frame.shape[1]), exact=False)
    if encoding is None and b"\x00" in head:
        notes.append(f"File '{label}' contains NUL bytes (a sign of a damaged file); they were removed.")
        frame.columns = [str(c).replace("\x00", "") for c in frame.columns]
        for column in frame.columns:
            if pd.api.types.is_string_dtype(frame[column]):
                frame[column] = frame[column].str.replace("\x00", "", regex=False)
    frame.attrs[DECIMAL_COMMA_KEY] = decimal == ","
    return frame


def _decimal_comma(sample: str, sep: str) -> bool:
    """Whether numbers like 12,5 or 3.967,1 stand alone between the separators of these lines."""
    field = r"\s*-?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+\s*"
    return re.search(rf"(?:^|{re.escape(sep)}){field}(?={re.escape(sep)}|$)", sample, re.MULTILINE) is not None


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
        and _is_utf8(opener, options["compression"])  # pyarrow keeps other bytes as binary instead of failing
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
                frame = pd.read_csv(_rewound(opener), engine="pyarrow", **arrow_options)
                dated = [c for c in frame.columns if pd.api.types.infer_dtype(frame[c]) in ("date", "datetime64")]
                if dated:  # pyarrow parses ISO dates; the column roles expect the text, as the C reader gives it
                    text = dict.fromkeys(dated, "str")
                    frame = pd.read_csv(_rewound(opener), engine="pyarrow", dtype=text, **arrow_options)
                return frame
            except Exception:
                pass
        return pd.read_csv(_rewound(opener), **{**base, **extra})

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


def _header_text(name: Any) -> str:
    """A header cell as compared with the cells below it: without spaces, NULs or a byte-order mark."""
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return ""
    return str(name).replace("\x00", "").strip().lstrip("\ufeff").strip()


def _repeated_headers(frame: pd.DataFrame) -> np.ndarray | None:
    """Which rows repeat the header, cell for cell (files joined one after another); None when none do."""
    names = [_header_text(name) for name in frame.columns]
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


def _lines_equal_to(opener: Path | io.BytesIO, options: dict[str, Any], first_line: str) -> list[int]:
    """Numbers (from 1) of the lines after the first that read like it, to tell the user where they are."""
    raw = _rewound(opener)
    handle = raw.open("rb") if isinstance(raw, Path) else None
    source: Any = handle or raw
    found: list[int] = []
    stream = gzip.GzipFile(fileobj=source, mode="rb") if options["compression"] == "gzip" else source
    text = io.TextIOWrapper(stream, encoding=options["encoding"], errors="replace", newline=None)
    try:
        for number, line in enumerate(text, start=1):
            if number > 1 and _header_text(line) == first_line:
                found.append(number)
    finally:
        text.detach()  # closing the wrapper would close the caller's file object
        if handle is not None:
            handle.close()
        _rewound(opener)
    return found


def _repeated_header_note(label: str, where: str, numbers: list[int]) -> str:
    count = len(numbers)
    at = ", ".join(map(str, numbers[:5])) + (", ..." if count > 5 else "")
    return (
        f"{count} {'row' if count == 1 else 'rows'} of '{label}' {'repeats' if count == 1 else 'repeat'} its header "
        f"row ({where} {at}), as when "
        f"exported files are joined one after another; {'it was' if count == 1 else 'they were'} dropped."
    )


def _reinferred(frame: pd.DataFrame) -> pd.DataFrame:
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


def _first_row_is_data(frame: pd.DataFrame, decimal: str = ".") -> bool:
    """Whether the names read from the first row are a row of data instead: a number above each
    numeric column (most within its range), a value of the column above each column of a few
    classes, no number above text, and not a run such as 0, 1, 2 or 2019, 2020 (the names that
    numbered columns get)."""
    if frame.shape[1] < 2 or len(frame) < 2:
        return False
    names = [_header_text(name) for name in frame.columns]
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
        if _looks_like_datetime(values):
            if not _looks_like_datetime(pd.Series([name])):
                return False
            continue
        present = values.dropna().astype(str).str.strip()
        if present.nunique() <= CATEGORICAL_MAX_UNIQUE and name not in set(present):
            return False  # 'label' above 'yes' and 'no'
    return True


def _headerless_note(label: str, frame: pd.DataFrame) -> str:
    names = list(frame.columns)
    frame.attrs[HEADERLESS_KEY] = names
    example = shown(frame.iloc[0, 0])
    return (
        f"The first line of '{label}' holds data (such as '{example}'), not column names, so it was read as a "
        f"data row and the columns were named {names[0]} to {names[-1]}; add a header row to name them."
    )


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
            repeated = _repeated_headers(frame)
            if repeated is not None:  # spreadsheet rows: the header's own row plus the data rows above
                rows = [int(grid.index[i + 1]) + 1 for i in np.flatnonzero(repeated)]
                notes.append(_repeated_header_note(label, "sheet row", rows))
                frame = _reinferred(frame.loc[~repeated].reset_index(drop=True).astype(object)).infer_objects()
            elif _first_row_is_data(frame):
                frame = grid.reset_index(drop=True).infer_objects()
                frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
                notes.append(_headerless_note(label, frame))
            return frame
    return pd.DataFrame()


# --------------------------------------------------------------------------- repairs


def _tidy(frame: pd.DataFrame, label: str, notes: list[str], decimal_comma: bool = False) -> pd.DataFrame:
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
    at least one is not a plain number (those are left to `_as_numeric`). Numbers such as
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
        try:  # utc: times in different zones (+01:00 and -05:00) are one column of instants
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError):
            return False
    return bool(parsed.notna().mean() >= 0.95)


def _utc_offsets(values: pd.Series) -> list[str]:
    """The different time zones written in a column of times ('none' for times without one)."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return []
    distinct = pd.Series(values.dropna().astype(str).str.strip().unique()[:10_000])  # enough to tell
    zones = distinct.str.extract(UTC_OFFSET, expand=False)
    return sorted(zones.dropna().unique().tolist()) + (["none"] if zones.isna().any() else [])


def _target_trouble(present: pd.Series) -> str | None:
    """What keeps a target of text from being classes or numbers, and what to do about it: the end
    of a sentence that starts with the column's name. None for text that can be classes."""
    texts = present.astype(str).str.strip()
    n, n_unique = len(texts), int(texts.nunique())
    if n == 0:
        return None
    plain = pd.to_numeric(texts, errors="coerce").notna()
    written = plain | texts.str.match(FORMATTED_NUMBER.pattern) | texts.str.match(EUROPEAN_NUMBER.pattern)
    if written.all() and not plain.all():
        kinds = texts[~plain].str.replace(r"[\d.,\s+\-−]", "", regex=True).drop_duplicates()
        examples = " and ".join(f"'{shown(texts[~plain][kinds.index[i]])}'" for i in range(min(2, len(kinds))))
        return (
            f"holds amounts such as {examples} in more than one currency or unit, so they cannot be read as "
            "numbers; convert them to one currency or unit to make it a regression target"
        )
    if written.mean() >= 0.5:
        other = texts[~written]
        return (
            f"holds numbers, but {len(other):,} of its {n:,} values are not, such as '{shown(other.iloc[0])}'; "
            "correct those cells, or empty them to leave their rows out, to make it a regression target"
        )
    if _looks_like_datetime(present):
        return (
            f"holds dates or times such as '{shown(texts.iloc[0])}', which cannot be predicted as they are; "
            "derive a number from them (such as days since the first date) in a new column and make that the target"
        )
    if n_unique > 0.5 * n and (texts.str.split().str.len().median() >= 3 or texts.str.len().median() >= 40):
        return (
            f"holds free text such as '{shown(texts.iloc[0], 60)}' ({n_unique:,} different texts), which is not a "
            "supported target; pick a column of classes (a few values, each in many rows) or of numbers"
        )
    if n_unique > MAX_CLASSES:
        return (
            f"has {n_unique:,} distinct values, too many classes (the limit is {MAX_CLASSES}), and they are not "
            "numbers; group them into fewer classes or pick another column"
        )
    return None


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
            trouble = _target_trouble(present)
            if trouble:
                raise TaskMismatch(f"Target column '{shown(column)}'{where} {trouble}.")
            text = present[pd.to_numeric(present.astype(str), errors="coerce").isna()]
            raise TaskMismatch(
                f"Target column '{shown(column)}'{where} holds text such as '{shown(text.iloc[0])}', so it cannot "
                f"be a regression target; choose {'binary' if n_unique == 2 else 'multiclass'}, or another column."
            )
        if override == "binary" and n_unique != 2:
            trouble = None if numeric is not None else _target_trouble(present)
            if trouble:
                raise TaskMismatch(f"Target column '{shown(column)}'{where} {trouble}.")
            others = "multiclass" if numeric is None else "regression" if n_unique > 20 else "multiclass or regression"
            raise TaskMismatch(
                f"Target column '{shown(column)}'{where} has {n_unique} distinct values, not 2, so the task cannot "
                f"be binary; choose {others}."
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
        named = frame.attrs.get(HEADERLESS_KEY)
        if named:
            raise UnknownColumn(
                f"Column '{shown(target)}' is not in '{name}': its first line is data, not a header, so its columns "
                f"were named {named[0]} to {named[-1]}; pick one of those as the target, or add a header row."
            )
        raise UnknownColumn(f"Column '{shown(target)}' is not in '{name}'; {did_you_mean(target, frame.columns)}.")
    notes: list[str] = list(frame.attrs.get(WARNINGS_KEY, []))
    y_all = frame[target]
    if isinstance(y_all.dtype, pd.StringDtype) or y_all.dtype == object:
        y_all = y_all.where(y_all.astype("string").str.strip() != "", None)
    too_large = frame.attrs.get(TOO_LARGE_KEY, {}).get(target)
    if pd.api.types.is_float_dtype(y_all):  # a table that did not come through load_table may have them
        with np.errstate(invalid="ignore"):
            huge = np.abs(y_all.to_numpy(dtype=float, na_value=np.nan)) > LARGEST_MAGNITUDE
        if huge.any():
            too_large = f"{float(y_all[huge].iloc[0]):.3g}"
            y_all = y_all.mask(huge)
            notes.append(
                f"Target column '{shown(target)}' of '{name}' has {int(huge.sum())} infinite values ('inf', or "
                f"beyond ±{LARGEST_MAGNITUDE:.0e}); they are treated as missing."
            )
    if y_all.notna().sum() == 0:
        if too_large in ("inf", "-inf"):
            raise TargetAllMissing(
                f"Target column '{shown(target)}' in '{name}' holds only infinite values ('{too_large}'); "
                "give it finite numbers or pick another column."
            )
        if too_large:
            raise TargetAllMissing(
                f"Target column '{shown(target)}' in '{name}' holds values too large to use, such as {too_large} "
                f"(the limit is ±{LARGEST_MAGNITUDE:.0e}); rescale them, for example take their logarithm or divide "
                "them by a power of ten, and try again."
            )
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
        unreadable = numeric_y.isna().to_numpy()
        if unreadable.any():  # the few texts (under 2%) that _as_numeric lets through
            count = int(unreadable.sum())
            notes.append(
                f"{count} {'row' if count == 1 else 'rows'} of target column '{shown(target)}' "
                f"{'holds' if count == 1 else 'hold'} text instead of a number, such as "
                f"'{shown(y[unreadable].iloc[0])}'; {'it was' if count == 1 else 'they were'} left out."
            )
            rows = rows.loc[~unreadable].reset_index(drop=True)
            numeric_y = numeric_y[~unreadable].reset_index(drop=True)
            if len(rows) < MIN_ROWS:
                raise TooFewRows(
                    f"'{name}' has {len(rows)} rows with a number in '{shown(target)}'; the advisor needs at least "
                    f"{MIN_ROWS} to split them into train, validation and test sets."
                )
        y = numeric_y.astype(float)
        default_metric = "r2"
        valid_metrics: tuple[str, ...] = REGRESSION_METRICS
    else:
        value_counts = y.value_counts()
        rare = value_counts[value_counts < MIN_ROWS_PER_CLASS]
        numeric_y = None if pd.api.types.is_bool_dtype(y) else _as_numeric(y)
        if numeric_y is not None and (len(value_counts) > MAX_CLASSES or (len(rare) and len(value_counts) > 20)):
            raise TaskMismatch(
                f"Target column '{shown(target)}' in '{name}' holds {len(value_counts):,} different numbers, too "
                "many to be classes with enough rows each; choose the regression task."
            )
        trouble = _target_trouble(y) if numeric_y is None and (len(value_counts) > MAX_CLASSES or len(rare)) else None
        if trouble:
            raise TaskMismatch(f"Target column '{shown(target)}' in '{name}' {trouble}.")
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
        zones = _utc_offsets(rows[info.name]) if info.role == "datetime" else []
        if len(zones) > 1:
            notes.append(
                f"Column '{shown(info.name)}' of '{name}' mixes time zones ({', '.join(zones[:4])}); its times were "
                "converted to UTC" + (" (those without a zone were taken as UTC)." if "none" in zones else ".")
            )
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
