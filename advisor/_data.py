"""Data in: the one loader, task detection, column roles and the train/validation/test split.

This is the boundary: everything a user can get wrong about a file is caught here and
reported as one sentence (see `_errors`). Code further in trusts what leaves this module.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

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
)

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
    objects, whose format is taken from its extension.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        frame.columns = [str(c) for c in frame.columns]
        label = name or "the table"
        if frame.empty:
            raise EmptyFile(f"{label} has no rows; give a table with a header and data rows.")
        return frame, label

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name
        if not path.is_file():
            raise FileNotFound(f"File '{path}' does not exist; check the path and try again.")
        size = path.stat().st_size
        _check_size(label, size, max_bytes)
        raw: bytes | None = None
        opener: Any = path
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

    frame = _read(opener, suffix, label)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise EmptyFile(f"File '{label}' has a header but no data rows; give a file with at least {MIN_ROWS} rows.")
    return frame, label


def _check_size(label: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(
            f"File '{label}' is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.0f} MB; "
            "sample it down or use the Python API, which has no limit."
        )


def _read(opener: Any, suffix: str, label: str) -> pd.DataFrame:
    try:
        if suffix in (".csv", ".csv.gz"):
            return _read_csv(opener, suffix, label)
        if suffix == ".parquet":
            return pd.read_parquet(opener)
        return pd.read_excel(opener, engine="openpyxl")
    except DataError:
        raise
    except (pd.errors.EmptyDataError, StopIteration):
        raise EmptyFile(f"File '{label}' has no columns; give a file with a header row and data rows.") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UnreadableFile(
            f"File '{label}' could not be decompressed ({_first_line(exc)}); check that it is a "
            "complete gzip file or upload the plain CSV."
        ) from None
    except Exception as exc:
        kind = {".csv": "CSV", ".csv.gz": "gzip CSV", ".parquet": "Parquet", ".xlsx": "Excel"}[suffix]
        raise UnreadableFile(
            f"File '{label}' could not be read as {kind} ({_first_line(exc)}); open it in a "
            "spreadsheet, check it, and save it again as UTF-8 CSV."
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def _read_csv(opener: Any, suffix: str, label: str) -> pd.DataFrame:
    compression = "gzip" if suffix == ".csv.gz" else None

    def read(**kwargs: Any) -> pd.DataFrame:
        if hasattr(opener, "seek"):
            opener.seek(0)
        return pd.read_csv(opener, compression=compression, low_memory=False, **kwargs)

    try:
        frame = read()
    except UnicodeDecodeError:
        frame = read(encoding="latin-1")
        frame.attrs["advisor_warning"] = f"File '{label}' is not UTF-8; it was read as Latin-1. Check accented text."
    # A one-column result with separators in its header is a CSV written with ';' or tabs.
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        for sep in (";", "\t", "|"):
            if sep in header:
                return read(sep=sep)
    return frame


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
    array = array[~np.isnan(array)]
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


def detect_task(target: pd.Series, column: str, override: str | None = None) -> str:
    """binary, multiclass or regression, from the target's values (or checked against an override)."""
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
                f"Target column '{column}' holds text such as '{present.iloc[0]}', so it cannot be "
                "a regression target; choose binary or multiclass, or another column."
            )
        if override == "binary" and n_unique != 2:
            raise TaskMismatch(
                f"Target column '{column}' has {n_unique} distinct values, not 2, so the task cannot "
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


def _column_info(name: str, values: pd.Series, target: pd.Series, task: str) -> ColumnInfo:
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
        return info("constant", f"every value is '{present.iloc[0]}'")
    if _is_leak(values, target, task):
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
    if target not in frame.columns:
        raise UnknownColumn(f"Column '{target}' is not in '{name}'; {did_you_mean(target, frame.columns)}.")
    notes: list[str] = []
    if "advisor_warning" in frame.attrs:
        notes.append(frame.attrs["advisor_warning"])
    y_all = frame[target]
    if isinstance(y_all.dtype, pd.StringDtype) or y_all.dtype == object:
        y_all = y_all.where(y_all.astype("string").str.strip() != "", None)
    if y_all.notna().sum() == 0:
        raise TargetAllMissing(f"Target column '{target}' in '{name}' has no values; pick a column that has them.")
    n_dropped = int(y_all.isna().sum())
    rows = frame.loc[y_all.notna()].reset_index(drop=True)
    y = y_all[y_all.notna()].reset_index(drop=True)
    if n_dropped:
        notes.append(f"{n_dropped} rows have no value in target column '{target}' and were left out.")
    if y.nunique() < 2:
        raise OneClassTarget(
            f"Target column '{target}' in '{name}' has only one value ('{y.iloc[0]}'); a model "
            "needs at least two different values to learn from."
        )
    if len(rows) < MIN_ROWS:
        raise TooFewRows(
            f"'{name}' has {len(rows)} rows with a value in '{target}'; the advisor needs at least "
            f"{MIN_ROWS} to split them into train, validation and test sets."
        )

    detected = detect_task(y, target, task)
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
                f"Target column '{target}' has {len(value_counts)} distinct values, too many classes "
                f"(the limit is {MAX_CLASSES}); if it holds numbers, choose the regression task."
            )
        rare = value_counts[value_counts < MIN_ROWS_PER_CLASS]
        if len(rare):
            raise ClassTooSmall(
                f"Class '{rare.index[0]}' of target column '{target}' has only {int(rare.iloc[0])} "
                f"rows; each class needs at least {MIN_ROWS_PER_CLASS} to appear in the train, "
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
                f"Classes are imbalanced: '{minority}' is {value_counts.min() / len(y):.1%} of rows "
                f"({ratio:.2f}x the most common class), so the primary metric is balanced accuracy "
                "and candidates train with class weights."
            )
    if primary_metric in (None, "", "auto"):
        primary_metric = default_metric
    elif primary_metric not in valid_metrics:
        raise UnknownKey(
            f"Metric '{primary_metric}' does not apply to a {detected} task; "
            f"{did_you_mean(primary_metric, valid_metrics)}."
        )

    infos = [_column_info(column, rows[column], y, detected) for column in rows.columns if column != target]
    for info in infos:
        if info.role in DROPPED_ROLES:
            notes.append(f"Column '{info.name}' is not used: {info.note} ({info.role}).")
    if not any(info.role in USED_ROLES for info in infos):
        raise NoFeatures(
            f"'{name}' has no usable feature column besides '{target}' (the others are IDs, "
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
