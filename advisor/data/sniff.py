"""Before a file is parsed: what its bytes are, and whether it is small enough to read.

Format sniffing (gzip, and the zip, Parquet, PDF, SQLite, pickle, HTML and JSON files that arrive
under a CSV name), text encodings (byte-order marks, UTF-16 and UTF-32 without one), the separator
and the decimal comma, and the caps on bytes, expanded bytes, rows and cells.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from advisor.errors import FileTooLarge, UnreadableFile
from advisor.measure.hardware import megabytes_from_env

# The start of a file is enough to recognise its format, encoding and separator.
HEAD_BYTES = 65_536
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


def rewound(opener: Path | io.BytesIO) -> Path | io.BytesIO:
    if isinstance(opener, io.BytesIO):
        opener.seek(0)
    return opener


def first_bytes(opener: Path | io.BytesIO) -> bytes:
    """The first bytes of the file, to recognise its format and encoding."""
    if isinstance(opener, Path):
        with opener.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    return opener.getvalue()[:HEAD_BYTES]


def _is_text(head: bytes) -> bool:
    return len(head.translate(None, TEXT_BYTES)) <= BINARY_SHARE * len(head)


def not_a_workbook(head: bytes) -> str:
    for magic, what in MAGIC:
        if head.startswith(magic):
            return f"it is {what.split(',')[0]}"
    return "it is text, not a workbook" if _is_text(head) else "it is not a zip archive, as .xlsx files are"


def refuse_not_csv(head: bytes, label: str, decompressed: bool) -> None:
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


def text_encoding(head: bytes) -> str | None:
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


def is_utf8(opener: Path | io.BytesIO, compression: str | None) -> bool:
    """Whether the whole (decompressed) file is valid UTF-8, read in 4 MB chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    raw: Any = rewound(opener)
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
        rewound(opener)
    return True


def separator(sample: str) -> str:
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


def uses_decimal_comma(sample: str, sep: str) -> bool:
    """Whether numbers like 12,5 or 3.967,1 stand alone between the separators of these lines."""
    field = r"\s*-?(?:\d{1,3}(?:\.\d{3})+|\d+),\d+\s*"
    return re.search(rf"(?:^|{re.escape(sep)}){field}(?={re.escape(sep)}|$)", sample, re.MULTILINE) is not None


def check_size(label: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(
            f"File '{label}' is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.0f} MB; "
            "sample it down or use the Python API, which has no limit."
        )


def check_expanded(opener: Path | io.BytesIO, suffix: str, label: str) -> None:
    """Refuse a compressed file that expands past the cap, counting its bytes as they stream
    (never holding them): gzip CSV by decompressing it once, xlsx by its members' sizes."""
    cap = megabytes_from_env(MAX_EXPANDED_ENV, DEFAULT_MAX_EXPANDED_MB, FileTooLarge)

    megabytes = f"{cap / 1e6:,.0f}" if cap >= 1e6 else f"{cap / 1e6:.3g}"

    def too_large() -> FileTooLarge:
        return FileTooLarge(
            f"File '{label}' expands to more than {megabytes} MB when decompressed, over the limit; "
            f"give a sample of it, or raise the limit with {MAX_EXPANDED_ENV} (megabytes) where memory allows."
        )

    if suffix == ".csv.gz" and first_bytes(opener).startswith(GZIP_MAGIC):
        total = 0
        try:
            with gzip.open(rewound(opener), "rb") as stream:
                while chunk := stream.read(1 << 22):
                    total += len(chunk)
                    if total > cap:
                        raise too_large()
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError):
            pass  # the reader says what is wrong with a damaged file
        finally:
            rewound(opener)
    elif suffix == ".xlsx":
        try:
            with zipfile.ZipFile(rewound(opener)) as archive:
                declared = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, EOFError):
            return
        finally:
            rewound(opener)
        if declared > cap:
            raise too_large()
    elif suffix == ".parquet":  # its footer says the uncompressed size and the shape: nothing is read
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(str(opener) if isinstance(opener, Path) else rewound(opener)) as parquet:
                meta = parquet.metadata
                uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
                shape = (meta.num_rows, len(parquet.schema_arrow))
        except Exception:
            return  # the reader says what is wrong with a damaged file
        finally:
            rewound(opener)
        if uncompressed > cap:
            raise too_large()
        check_shape(label, *shape)


def _count_from_env(name: str, default: int) -> int:
    """A count cap a user sets through an environment variable (`default` when unset)."""
    raw = os.environ.get(name)
    try:
        return int(float(raw)) if raw else default
    except (ValueError, OverflowError):
        raise FileTooLarge(f"{name}={raw!r} is not a number; set it to a whole number such as {default}.") from None


def row_limits() -> tuple[int, int]:
    return _count_from_env(MAX_ROWS_ENV, DEFAULT_MAX_ROWS), _count_from_env(MAX_CELLS_ENV, DEFAULT_MAX_CELLS)


def check_shape(label: str, rows: int, columns: int, exact: bool = True) -> None:
    """Refuse a table over the row or the cell cap; `exact`: False when the rows were counted
    only until they passed a cap."""
    max_rows, max_cells = row_limits()
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
