"""Files for people, written whole or not at all, and CSV that no spreadsheet runs as a formula.

`write_file` writes under a temporary name in the same folder, flushes it to disk and renames it
over the target, so a full disk, a crash or a kill never leaves a half or empty file; a failure
is one sentence naming the path and what to do (`CannotWrite`).
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import Any

import pandas as pd

from advisor.errors import AdvisorError

# A text cell starting with one of these is run as a formula by spreadsheets (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose headers and text cells cannot run as formulas when the CSV is opened in a
    spreadsheet: each one that starts with a formula character gets a leading `'`. Numeric and
    boolean columns are left as they are, so -0.5 stays a number."""
    columns = []
    for _, values in frame.items():
        numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
        columns.append(values if numeric else values.map(_inert))
    safe = pd.concat(columns, axis=1) if columns else frame.copy()
    return safe.set_axis([_inert(str(c)) for c in frame.columns], axis=1)


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """The one way the advisor writes a CSV a person may open: spreadsheet-safe, no index, whole."""
    return write_file(path, spreadsheet_safe(frame).to_csv(index=False))


class CannotWrite(AdvisorError):
    """A file could not be written: the disk is full, or the folder is read-only."""


FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def disk_problem(exc: BaseException) -> str | None:
    """'full' or 'read-only' when an OSError (or an SQLite error) says so; None for anything else."""
    number = getattr(exc, "errno", None)
    text = str(exc).lower()
    if number in FULL_DISK or "disk is full" in text or "disk i/o error" in text:
        return "full"
    if number in READ_ONLY or "readonly database" in text or "read-only" in text:
        return "read-only"
    return None


def cannot_write(path: str | Path, exc: OSError) -> CannotWrite:
    """The one sentence for a file the advisor could not write: the path, the cause, what to do."""
    problem = disk_problem(exc)
    if problem == "full":
        cause = "the disk is full (or the file is over a size limit); free some space or write it to another disk"
    elif problem == "read-only":
        cause = "its folder is read-only (permission denied); choose a folder you can write to"
    elif isinstance(exc, IsADirectoryError):
        cause = "that is a folder; give a file name, e.g. report.html"
    elif isinstance(exc, NotADirectoryError | FileExistsError):
        cause = "a part of that path is a file, not a folder; choose another location"
    else:
        cause = f"{exc.strerror or exc}; choose another location"
    return CannotWrite(f"Could not write '{path}': {cause}.")


def write_file(path: str | Path, data: str | bytes) -> Path:
    """Write a file a person will open, whole or not at all.

    The data goes to a temporary file in the same folder, is flushed to disk, and is then renamed
    over `path` (atomic): a full disk, a crash or a kill never leaves a half-written file, and a
    good file is only ever replaced by a complete one. The folder is created when missing. A
    failure is one sentence (`CannotWrite`) naming the path, and the temporary file is removed.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with open(partial, "xb") as handle:  # created with the usual permissions (umask), never reused
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk can surface only here (delayed allocation)
        os.replace(partial, path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise
    return path


def disk_error(exc: OSError) -> CannotWrite | None:
    """The one sentence for an `OSError` from a full disk or a folder that cannot be written,
    wherever it came from (the CLI's last safety net); None for any other error."""
    problem = disk_problem(exc)
    if problem is None or isinstance(exc, BrokenPipeError):
        return None
    where = exc.filename or "a file"
    if problem == "full":
        return cannot_write(where, exc)
    return CannotWrite(
        f"Permission denied for '{where}'; choose a file or folder you can write to, or change its mode."
    )
