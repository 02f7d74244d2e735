"""Preprocessing that is part of every candidate: impute, encode and scale raw rows.

Why not scikit-learn's ColumnTransformer: on this kind of machine it costs about 10 ms to
transform one row of adult (profiled: input validation and pandas indexing in every
sub-pipeline), ten to two hundred times the model itself, so every candidate would measure
the same slow preprocessing. This encoder does the same work (median imputation with
missing-value indicators, standard scaling, one-hot with an "other" bucket for rare and
unseen values, hashed word counts for free text, calendar parts for dates) with plain numpy
on arrays it learned from the training rows only.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from advisor.data.dates import DATE_PARTS, date_parts, learn_date_format
from advisor.errors import InputSchemaError

# Larger numbers are as good as infinite: their squares overflow a standard deviation. The loader
# reports them; the encoder (both paths) imputes them like a gap.
LARGEST_MAGNITUDE = 1e150

MISSING = "\x00missing"
_TOKEN = re.compile(r"\w+")
SMALL_FRAME_ROWS = 64


@dataclass(frozen=True)
class NumericGroup:
    """All numeric columns at once: imputed, scaled, plus indicators where training had gaps."""

    columns: list[str]
    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    indicators: np.ndarray  # positions (within `columns`) that get a missing-value indicator


@dataclass(frozen=True)
class CategoricalBlock:
    column: str
    vocabulary: dict[str, int]  # value -> position; len(vocabulary) is the "other" bucket

    @cached_property
    def index(self) -> pd.Index:
        return pd.Index(list(self.vocabulary), dtype=object)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "index"}  # a cache, not state


@dataclass(frozen=True)
class TextBlock:
    column: str
    buckets: int


@dataclass(frozen=True)
class DatetimeBlock:
    column: str
    medians: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    # How the column's text is written (a key of `dates.DATE_FORMATS`), learned on the training
    # rows; None: pandas' "mixed" parsing, row by row (artifacts from before it was learned).
    date_format: str | None = None


class _Rows:
    """Column access for every input form: a dict, a list of dicts, a DataFrame.

    A single dict (a JSON record, as a web service receives it) and small DataFrames are read
    as plain Python values: per-column pandas access costs about 30 us a column in pandas 3,
    more than the whole model for small inputs. Large DataFrames stay vectorised.
    """

    def __init__(self, rows: Any) -> None:
        if isinstance(rows, pd.Series):
            rows = rows.to_frame().T
        self.record = rows if isinstance(rows, Mapping) else None
        self.frame = rows if isinstance(rows, pd.DataFrame) and len(rows) > SMALL_FRAME_ROWS else None
        self.matrix: np.ndarray | None = None
        if self.record is not None:
            self.n, self.present = 1, rows.keys()
        elif isinstance(rows, pd.DataFrame):
            self.n, self.present = len(rows), rows.columns
            if self.frame is None:
                self.matrix = rows.to_numpy(dtype=object)
                self.position = {column: i for i, column in enumerate(rows.columns)}
        elif isinstance(rows, Sequence) and rows and all(isinstance(r, Mapping) for r in rows):
            self.records = rows
            self.n, self.present = len(rows), set().union(*(r.keys() for r in rows))
        else:
            raise InputSchemaError(
                f"Rows of type {type(rows).__name__} cannot be predicted; pass a DataFrame with the "
                "training columns, a dict, or a list of dicts."
            )

    def get(self, column: str) -> Any:
        if self.record is not None:
            return [self.record[column]]
        if self.frame is not None:
            return self.frame[column]
        if self.matrix is not None:
            return self.matrix[:, self.position[column]]
        return [r.get(column) for r in self.records]

    def floats(self, columns: list[str]) -> np.ndarray:
        """(n, len(columns)) float64 in one conversion where the values allow it."""
        try:
            if self.record is not None:
                return np.array([[self.record[c] for c in columns]], dtype=np.float64)
            if self.matrix is not None:
                return self.matrix[:, [self.position[c] for c in columns]].astype(np.float64)
            if self.frame is not None:
                sub = self.frame[columns]
                if all(pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t) for t in sub.dtypes):
                    return sub.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            pass  # text among the numbers, or pandas' NA: convert column by column
        if not columns:
            return np.empty((self.n, 0))
        return np.column_stack([_floats(self.get(c)) for c in columns])


def _floats(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        series = pd.Series(list(values), dtype=object)
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _strings(values: Any) -> list[str]:
    out = []
    for value in values.tolist() if hasattr(values, "tolist") else values:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            out.append(MISSING)
        else:
            out.append(str(value))
    return out


class TabularEncoder:
    """Raw rows (the user's columns) to a float32 feature matrix.

    Parameters are stored as given; `fit` learns from training rows only and returns self.
    A categorical column keeps its `max_categories` most frequent values seen at least
    `min_frequency` times, one position each, and groups the rest in one "other" position. 64 and
    3 were measured (bench/many_levels.py) against 30 and 5, 100 and 2, and a frequency column:
    on columns of many short codes (titanic's tickets and cabins, a synthetic 600-level code)
    they score as well as the widest choice at a third of its width for networks.
    """

    def __init__(
        self,
        roles: Mapping[str, str],
        max_categories: int = 64,
        min_frequency: int = 3,
        text_buckets: int = 16,
    ) -> None:
        self.roles = dict(roles)
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.text_buckets = text_buckets

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame) -> TabularEncoder:
        self.columns_ = [c for c, role in self.roles.items() if role in ("numeric", "categorical", "text", "datetime")]
        numeric = [c for c in self.columns_ if self.roles[c] == "numeric"]
        floats = _Rows(X).floats(numeric) if len(X) else np.empty((0, len(numeric)))
        with np.errstate(invalid="ignore"):  # an infinity is imputed like a gap: it would swamp the scaling
            missing = ~(np.abs(floats) <= LARGEST_MAGNITUDE)
        floats = np.where(missing, np.nan, floats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns are dropped earlier
            medians = np.nan_to_num(np.nanmedian(floats, axis=0)) if numeric else np.zeros(0)
        filled = np.where(missing, medians, floats)
        scales = filled.std(axis=0) if numeric else np.zeros(0)
        self.numeric_ = NumericGroup(
            numeric,
            medians,
            filled.mean(axis=0) if numeric else np.zeros(0),
            np.where(scales > 0, scales, 1.0),
            np.flatnonzero(missing.any(axis=0)),
        )
        names: list[str] = list(numeric) + [f"{numeric[i]}__missing" for i in self.numeric_.indicators]
        blocks: list[Any] = []
        for column in self.columns_:
            role = self.roles[column]
            values = X[column]
            if role == "numeric":
                continue
            elif role == "categorical":
                counts = pd.Series(_strings(values)).value_counts()
                kept = counts[counts >= self.min_frequency].index[: self.max_categories]
                block = CategoricalBlock(column, {v: i for i, v in enumerate(kept)})
                names += [f"{column}={'<missing>' if v == MISSING else v}" for v in kept]
                names.append(f"{column}=<other>")
            elif role == "text":
                block = TextBlock(column, self.text_buckets)
                names += [f"{column}#{i}" for i in range(self.text_buckets)]
            else:
                date_format = learn_date_format(values)
                parts = date_parts(values, date_format)
                medians = tuple(float(np.nanmedian(p)) if (~np.isnan(p)).any() else 0.0 for p in parts.T)
                filled = np.where(np.isnan(parts), np.array(medians), parts)
                scales = tuple(float(s) or 1.0 for s in filled.std(axis=0))
                block = DatetimeBlock(column, medians, tuple(filled.mean(axis=0).tolist()), scales, date_format)
                names += [f"{column}.{part}" for part in DATE_PARTS]
            blocks.append(block)
        self.blocks_ = blocks
        self.feature_names_out_ = names
        self.n_features_out_ = len(names)
        return self

    # ------------------------------------------------------------------ transform
    def transform(self, rows: Any) -> np.ndarray:
        reader = _Rows(rows)
        n = reader.n
        absent = [c for c in self.columns_ if c not in reader.present]
        if absent:
            raise InputSchemaError(
                f"Column '{absent[0]}' is missing from the rows to predict"
                + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else "")
                + f"; the model was trained on: {', '.join(self.columns_)}."
            )
        out = np.empty((n, self.n_features_out_), dtype=np.float32)
        group = self.numeric_
        at = len(group.columns)
        if at:
            floats = reader.floats(group.columns)
            with np.errstate(invalid="ignore"):
                missing = ~(np.abs(floats) <= LARGEST_MAGNITUDE)
            if missing.any():
                floats = np.where(missing, group.medians, floats)
            out[:, :at] = (floats - group.means) / group.scales
            width = len(group.indicators)
            out[:, at : at + width] = missing[:, group.indicators]
            at += width
        for block in self.blocks_:
            values = reader.get(block.column)
            if isinstance(block, CategoricalBlock):
                width = len(block.vocabulary) + 1
                other = len(block.vocabulary)
                lookup = block.vocabulary.get
                if n == 1:
                    codes = np.array([lookup(_strings(values)[0], other)])
                elif isinstance(values, pd.Series):  # large frames: vectorised lookup
                    codes = block.index.get_indexer(values.astype(str))
                    missing = values.isna().to_numpy()
                    codes[missing] = block.vocabulary.get(MISSING, -1)
                    codes[codes < 0] = other
                else:
                    codes = np.fromiter((lookup(v, other) for v in _strings(values)), dtype=np.intp, count=n)
                view = out[:, at : at + width]
                view[:] = 0.0
                if n == 1:
                    view[0, codes[0]] = 1.0
                else:
                    view[np.arange(n), codes] = 1.0
                at += width
            elif isinstance(block, TextBlock):
                view = out[:, at : at + block.buckets]
                view[:] = 0.0
                for i, text in enumerate(_strings(values)):
                    if text == MISSING:
                        continue
                    for token in _TOKEN.findall(text.lower()):
                        view[i, zlib.crc32(token.encode()) % block.buckets] += 1.0
                norms = np.linalg.norm(view, axis=1, keepdims=True)
                np.divide(view, norms, out=view, where=norms > 0)
                at += block.buckets
            else:
                parts = date_parts(values, block.date_format)
                medians = np.array(block.medians)
                parts = np.where(np.isnan(parts), medians, parts)
                out[:, at : at + len(DATE_PARTS)] = (parts - np.array(block.means)) / np.array(block.scales)
                at += len(DATE_PARTS)
        return out

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.fit(X).transform(X)
