"""From a table and its target to a `Dataset`: the target checked, the task and primary metric
detected (with advice for a target that cannot be used as it is), each column given its role.
`load_dataset` is the one entry point for data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import pandas as pd

from advisor.data.encoder import LARGEST_MAGNITUDE
from advisor.data.read import load_table
from advisor.data.repair import (
    EUROPEAN_NUMBER,
    FORMATTED_NUMBER,
    HEADERLESS_KEY,
    TOO_LARGE_KEY,
    WARNINGS_KEY,
    clean_name,
    tidy,
)
from advisor.data.roles import (
    DROPPED_ROLES,
    MIN_ROWS,
    USED_ROLES,
    ColumnInfo,
    as_numeric,
    column_info,
    is_integer_valued,
    looks_like_datetime,
    utc_offsets,
)
from advisor.errors import (
    ClassTooSmall,
    NoFeatures,
    OneClassTarget,
    TargetAllMissing,
    TaskMismatch,
    TooFewRows,
    UnknownColumn,
    UnknownKey,
    did_you_mean,
    shown,
)

TASKS = ("binary", "multiclass", "regression")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")
MIN_ROWS_PER_CLASS = 5
MAX_CLASSES = 100
# A class this much rarer than the most common one makes plain accuracy misleading:
# for two classes it is a minority share under 20%.
IMBALANCE_RATIO = 0.25
TARGET_HINTS = ("target", "label", "class", "y", "outcome", "income", "survived", "species", "price")


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


def guess_target(frame: pd.DataFrame) -> str:
    """The column most likely meant as the target: a conventional name, else the last column. 'y'
    beside an 'x' is a coordinate or a dimension (diamonds' x, y, z in mm), not the target."""
    by_lower = {str(c).lower(): c for c in frame.columns}
    for hint in TARGET_HINTS:
        if hint in by_lower and not (hint == "y" and "x" in by_lower):
            return by_lower[hint]
    return str(frame.columns[-1])


@dataclass(frozen=True)
class TargetGuess:
    """The column `guess_target` picks, why, and what makes it doubtful (for a person to confirm)."""

    column: str
    reason: str  # "a column named 'price' (a usual name for a target)", "the last column"
    warning: str | None = None  # "looks like a row number ...", or None
    by_name: bool = False  # picked by a usual target name, not only for being the last column


def target_doubt(frame: pd.DataFrame, column: str) -> str | None:
    """Why `column` is probably not meant as the target (a row number, a date or time), or None."""
    values = frame[column]
    present = values.dropna()
    numeric = as_numeric(values)
    n = len(values)
    if numeric is not None and n > 1 and len(present) == n and is_integer_valued(numeric):
        ordered = np.sort(numeric.to_numpy(dtype=float))
        if len(np.unique(ordered)) == n and np.all(np.diff(ordered) == 1):
            return (
                f"'{shown(column)}' holds consecutive whole numbers, a different one in every row: it looks like a "
                "row number, which nothing in the other columns can predict; pick the column you want predicted"
            )
    if numeric is None and looks_like_datetime(values):
        return (
            f"'{shown(column)}' holds dates or times such as '{shown(present.iloc[0])}': it looks like when each "
            "row was recorded rather than something to predict; pick the column you want predicted"
        )
    return None


def guess_target_with_reason(frame: pd.DataFrame) -> TargetGuess:
    """`guess_target`'s column with the reason it was picked and, when it looks like a row number
    or a date, a warning; the app shows both and asks the person to confirm."""
    column = guess_target(frame)
    by_name = column.lower() in TARGET_HINTS and not (column.lower() == "y" and "x" in map(str.lower, frame.columns))
    if by_name:  # guess_target's first rule
        reason = f"a column named '{shown(column)}' (a usual name for the column to predict)"
    else:
        reason = "the last column (no column has a usual target name such as 'target', 'label' or 'price')"
    return TargetGuess(column, reason, target_doubt(frame, column), by_name=by_name)


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
    if looks_like_datetime(present):
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
    numeric = as_numeric(present)
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
        if is_integer_valued(numeric) and few_levels:
            return "multiclass"
        return "regression"
    return "multiclass"


def inspect_table(
    frame: pd.DataFrame,
    target: str,
    name: str = "the table",
    task: str | None = None,
    primary_metric: str | None = None,
) -> Dataset:
    """Validate the table for this target and detect the task, roles and primary metric."""
    if not frame.columns.is_unique or not all(isinstance(c, str) for c in frame.columns):
        frame = tidy(frame.copy(), name, list(frame.attrs.get(WARNINGS_KEY, [])))  # not from load_table
    if target not in frame.columns and clean_name(target) in frame.columns:
        target = clean_name(target)  # as load_table cleaned the names: ' label ' is 'label'
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
        numeric_y = as_numeric(y)
        assert numeric_y is not None  # detect_task checked
        unreadable = numeric_y.isna().to_numpy()
        if unreadable.any():  # the few texts (under 2%) that as_numeric lets through
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
        numeric_y = None if pd.api.types.is_bool_dtype(y) else as_numeric(y)
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
    infos = [column_info(c, rows[c], y, detected, n_classes) for c in rows.columns if c != target]
    for info in infos:
        if info.role in DROPPED_ROLES:
            notes.append(f"Column '{shown(info.name)}' is not used: {info.note} ({info.role}).")
        zones = utc_offsets(rows[info.name]) if info.role == "datetime" else []
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
