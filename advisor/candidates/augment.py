"""Synthetic training rows for distillation: MUNGE (Bucila et al., 2006), as FAST-DAD (Fakoor et
al., NeurIPS 2020) and AutoGluon's `distill(augment_method="munge")` use it.

Each synthetic row starts from a real training row and its nearest neighbour; every column group
is, with probability `p`, moved towards the neighbour: a number is drawn from a normal around the
neighbour's value with standard deviation |a - b| / s, anything else (a one-hot group, a 0/1
indicator, a text or date block) takes the neighbour's values whole. So the rows stay the kind
the encoder makes: one-hot groups have exactly one 1, indicators are 0 or 1, integer-valued
columns stay integers (in the column's own units), numbers stay within the training range. A
teacher labels them; a student learns the teacher's function on more of the input space.

The functions here see only the training rows they are given (the builders pass the train split),
so a synthetic row is never a copy of a test row. Neighbours are searched within random blocks of
`block` training rows, which keeps the cost linear in the rows (MUNGE searches all of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.data.encoder import DATE_PARTS, CategoricalBlock, TextBlock

NUMBER, FLAG, ONE_HOT, WHOLE = "number", "flag", "one-hot", "whole"


@dataclass(frozen=True)
class ColumnGroup:
    """Encoded columns that change together. `kind`: NUMBER (one scaled column; `integer` when its
    training values are whole numbers in raw units, raw = value * scale + mean; `indicator` is the
    column that flags an imputed gap, if any), FLAG (one 0/1 column), ONE_HOT, or WHOLE (a text or
    date block, taken whole)."""

    kind: str
    columns: tuple[int, ...]
    integer: bool = False
    mean: float = 0.0
    scale: float = 1.0
    indicator: int | None = None


def _is_integer(raw: np.ndarray) -> bool:
    # float32 encoding loses about 1e-7 of a value: a whole number comes back within that of itself
    return bool(raw.size) and bool(np.all(np.abs(raw - np.round(raw)) <= 1e-3 + 1e-6 * np.abs(raw)))


def column_groups(encoder: Any, X: np.ndarray) -> list[ColumnGroup]:
    """The column groups of `X` (rows the encoder made): from the encoder's layout when given,
    else guessed from the values (0/1 columns are flags, whole-valued ones integers)."""
    if encoder is None or not hasattr(encoder, "numeric_"):
        return [_guessed(X, j) for j in range(X.shape[1])]
    numeric = encoder.numeric_
    n_numeric = len(numeric.columns)
    indicator_of = {int(i): n_numeric + k for k, i in enumerate(numeric.indicators)}
    groups = []
    for j in range(n_numeric):
        mean, scale = float(numeric.means[j]), float(numeric.scales[j])
        indicator = indicator_of.get(j)
        real = X[:, indicator] < 0.5 if indicator is not None else slice(None)
        raw = X[real, j].astype(np.float64) * scale + mean
        groups.append(ColumnGroup(NUMBER, (j,), _is_integer(raw), mean, scale, indicator))
    at = n_numeric + len(indicator_of)
    for block in encoder.blocks_:
        if isinstance(block, CategoricalBlock):
            width, kind = len(block.vocabulary) + 1, ONE_HOT
        elif isinstance(block, TextBlock):
            width, kind = block.buckets, WHOLE
        else:
            width, kind = len(DATE_PARTS), WHOLE
        groups.append(ColumnGroup(kind, tuple(range(at, at + width))))
        at += width
    return groups


def _guessed(X: np.ndarray, j: int) -> ColumnGroup:
    values = X[:, j]
    if np.isin(values, (0.0, 1.0)).all():
        return ColumnGroup(FLAG, (j,))
    return ColumnGroup(NUMBER, (j,), integer=_is_integer(values.astype(np.float64)))


def nearest_neighbours(X: np.ndarray, rng: np.random.Generator, block: int = 4096) -> np.ndarray:
    """For each row, the index of its nearest other row (Euclidean) within a random block of rows."""
    n = len(X)
    out = np.arange(n)
    if n < 2:
        return out
    order = rng.permutation(n)
    for part in np.array_split(order, -(-n // block)):
        rows = X[part].astype(np.float64)
        squared = (rows**2).sum(axis=1)
        distance = squared[:, None] + squared[None, :] - 2.0 * rows @ rows.T
        np.fill_diagonal(distance, np.inf)
        out[part] = part[np.argmin(distance, axis=1)]
    return out


def munge(
    X: np.ndarray,
    groups: Sequence[ColumnGroup],
    *,
    size_factor: int = 2,
    p: float = 0.5,
    s: float = 1.0,
    max_rows: int | None = None,
    seed: int = 0,
    block: int = 4096,
) -> np.ndarray:
    """`size_factor` synthetic rows per training row (at most `max_rows` in all), float32, built
    from the rows of `X` alone (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    low, high = X.min(axis=0), X.max(axis=0)
    passes = []
    for _ in range(size_factor):
        neighbour = X[nearest_neighbours(X, rng, block)]
        passes.append(_perturb(X, neighbour, groups, p, s, low, high, rng))
    synthetic = np.concatenate(passes) if passes else X[:0].copy()
    if max_rows is not None and len(synthetic) > max_rows:
        synthetic = synthetic[np.sort(rng.choice(len(synthetic), max_rows, replace=False))]
    return synthetic


def _perturb(
    X: np.ndarray,
    N: np.ndarray,
    groups: Sequence[ColumnGroup],
    p: float,
    s: float,
    low: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    out = X.astype(np.float32, copy=True)
    n = len(X)
    for group in groups:
        take = rng.random(n) < p
        if group.kind != NUMBER:
            columns = list(group.columns)
            out[:, columns] = np.where(take[:, None], N[:, columns], X[:, columns])
            continue
        j = group.columns[0]
        a, b = X[:, j].astype(np.float64), N[:, j].astype(np.float64)
        drawn = rng.normal(b, np.abs(a - b) / s)
        if group.integer:
            lowest, highest = np.round(np.array([low[j], high[j]], dtype=np.float64) * group.scale + group.mean)
            raw = np.clip(np.round(drawn * group.scale + group.mean), lowest, highest)
            drawn = (raw - group.mean) / group.scale
        else:
            drawn = np.clip(drawn, low[j], high[j])
        if group.indicator is not None:  # a gap in either row: the imputed value and its flag move together
            k = group.indicator
            gap = (X[:, k] > 0.5) | (N[:, k] > 0.5)
            drawn = np.where(gap, b, drawn)
            out[:, k] = np.where(take, N[:, k], X[:, k])
        out[:, j] = np.where(take, drawn, a)
    return out
