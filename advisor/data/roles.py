"""Column roles: what each feature column is (numeric, categorical, text, datetime) or why it is
left out (id, leakage, constant, empty), and the tests on values behind them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from advisor.errors import shown

# Roles a feature column can have; the last four are dropped before training.
USED_ROLES = ("numeric", "categorical", "text", "datetime")
DROPPED_ROLES = ("id", "leakage", "constant", "empty")

# The fewest rows a table needs to be split into train, validation and test sets.
MIN_ROWS = 30
CATEGORICAL_MAX_UNIQUE = 50
# Strings with more distinct values are still categorical when they are short codes (tickets,
# cabins, agent ids, country codes), up to this many: the encoder keeps the most frequent and
# groups the rare ones. Free text (several words, long strings) is hashed instead.
CODES_MAX_UNIQUE = 1000
CODE_MAX_WORDS, CODE_MAX_CHARACTERS = 3, 32
# The time zone after a time of day: '10:00Z', '10:00:00+01:00', '10:00:00.5-0500'.
UTC_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class ColumnInfo:
    """What the advisor decided about one column, and why."""

    name: str
    role: str
    dtype: str
    n_unique: int
    n_missing: int
    note: str = ""


def is_integer_valued(values: pd.Series) -> bool:
    array = values.to_numpy(dtype=float, na_value=np.nan)
    array = array[np.isfinite(array)]
    return bool(array.size) and bool(np.all(np.equal(np.mod(array, 1), 0)))


def as_numeric(values: pd.Series) -> pd.Series | None:
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


def looks_like_datetime(values: pd.Series) -> bool:
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


def looks_like_codes(present: pd.Series) -> bool:
    """Short codes rather than free text: nine in ten distinct values have at most 3 words and 32
    characters ('A/5 21171', 'C23 C25 C27', 'AG-0042'; not a sentence or a description)."""
    distinct = pd.Series(present.astype(str).unique())
    short = (distinct.str.split().str.len() <= CODE_MAX_WORDS) & (distinct.str.len() <= CODE_MAX_CHARACTERS)
    return bool(short.mean() >= 0.9)


def utc_offsets(values: pd.Series) -> list[str]:
    """The different time zones written in a column of times ('none' for times without one)."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return []
    distinct = pd.Series(values.dropna().astype(str).str.strip().unique()[:10_000])  # enough to tell
    zones = distinct.str.extract(UTC_OFFSET, expand=False)
    return sorted(zones.dropna().unique().tolist()) + (["none"] if zones.isna().any() else [])


def column_info(
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

    numeric = as_numeric(values)
    if numeric is not None:
        if is_integer_valued(numeric) and n_missing == 0 and n_unique == n and n > MIN_ROWS:
            ordered = np.sort(numeric.to_numpy(dtype=float))
            if np.all(np.diff(ordered) == 1):
                return info("id", "consecutive integers, one per row: a row number")
        note = "" if pd.api.types.is_numeric_dtype(values) else "numbers stored as text"
        return info("numeric", note)
    if looks_like_datetime(values):
        return info("datetime", "dates or times: year, month, day, weekday and hour are used")
    if n_unique == len(present) and len(present) >= 0.9 * n and n > MIN_ROWS:
        return info("id", "a different text in every row: a name or identifier")
    if n_unique <= CATEGORICAL_MAX_UNIQUE:
        return info("categorical")
    if n_unique <= CODES_MAX_UNIQUE and looks_like_codes(present):
        return info("categorical", f"{n_unique} distinct short codes: the most frequent kept, rare ones grouped")
    return info("text", f"{n_unique} distinct strings: hashed word counts are used")


def _is_leak(values: pd.Series, target: pd.Series, task: str) -> bool:
    both = values.notna() & target.notna()
    if both.sum() < 0.9 * len(values):
        return False
    left, right = values[both], target[both]
    if task == "regression":
        numeric = as_numeric(left)
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
