"""The fast single-row path: one record (a dict) encoded and scored with plain Python and numpy.

A fitted model and its encoder are compiled into flat arrays: linear weights, tree node
arrays, a network's weight matrices (fp16, bf16 and int8 ones in torch's own arithmetic, see
`precision`); LightGBM calls its C single-row predict (`native`). Scoring one record then
costs microseconds instead of the per-call validation and dispatch of scikit-learn,
LightGBM's wrapper or torch. Batches
keep the vectorised path. A predictor turns the fast path on only after checking that it
gives the same answer as the batch path (`Predictor.verify_fast_path`).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import _count_elements  # Counter's own C counting loop, without Counter's __init__
from collections.abc import Callable, Mapping
from functools import lru_cache
from operator import mul
from typing import Any

import numpy as np
import pandas as pd

from advisor.data.dates import DATE_PARTS, date_parts, record_parser
from advisor.data.encoder import (
    LARGEST_MAGNITUDE,
    MISSING,
    CategoricalBlock,
    DatetimeBlock,
    TabularEncoder,
    TextBlock,
)

Scorer = Callable[[np.ndarray], np.ndarray]
_TOKEN = re.compile(r"\w+")


def _mixed_parts(value: Any) -> tuple[float, ...] | None:
    """A date block from before formats were learned: pandas' "mixed" parsing, as then."""
    parts = date_parts([value])[0]
    return None if np.isnan(parts[0]) else tuple(parts.tolist())


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return value is pd.NA or value is pd.NaT


# Tokens whose bucket a text block remembers: the words of a column's text repeat (Zipf), and a
# dict lookup costs about a third of encoding the token and its crc32. Bounded: cleared when full.
TOKEN_CACHE_SIZE = 16_384


class _TokenBuckets(dict[str, int]):
    """Token -> hashed bucket, as the batch path computes it (crc32 of the UTF-8 token)."""

    def __init__(self, buckets: int) -> None:
        super().__init__()
        self.buckets, self.size = buckets, TOKEN_CACHE_SIZE

    def __missing__(self, token: str) -> int:
        if len(self) >= self.size:
            self.clear()
        bucket = self[token] = zlib.crc32(token.encode()) % self.buckets
        return bucket


@lru_cache(maxsize=4096)
def _float32_norm(sum_of_squares: int) -> float:
    """The batch path's norm of a row of counts (`np.linalg.norm` in float32): the sum of squares
    is exact in float32 below 2**24, and a float64 square root rounded to float32 is float32's own."""
    return float(np.float32(math.sqrt(sum_of_squares)))


def _tokens(text: str) -> list[str]:
    """`_TOKEN.findall(text.lower())`; ASCII letters, digits and spaces split without the regex
    (a quarter of its cost): in ASCII, \\w is exactly letters, digits and '_'."""
    text = text.lower()
    if text.isascii() and text.replace(" ", "").isalnum():
        return text.split()
    return _TOKEN.findall(text)


class FastEncoder:
    """Encodes one record exactly as `TabularEncoder.transform` does, without pandas.

    The row starts as a copy of zeros and only what is not zero is set: a one-hot block of 600
    levels costs one item, not 600 floats converted."""

    def __init__(self, encoder: TabularEncoder) -> None:
        self.width = encoder.n_features_out_
        self.zeros = np.zeros(self.width, dtype=np.float32)
        group = encoder.numeric_
        indicator_at = {int(i): len(group.columns) + k for k, i in enumerate(group.indicators)}
        self.numeric = [
            (name, j, float(group.medians[j]), float(group.means[j]), float(group.scales[j]), indicator_at.get(j, -1))
            for j, name in enumerate(group.columns)
        ]
        # One list per role, each block as the tuple its loop unpacks (a role test per block costs).
        self.categorical: list[tuple[str, int, dict[str, int], int]] = []
        self.text: list[tuple[str, int, _TokenBuckets]] = []
        self.datetime: list[tuple[str, int, Callable[[Any], Any], tuple[float, ...], list[float]]] = []
        at = len(group.columns) + len(group.indicators)
        for block in encoder.blocks_:
            if isinstance(block, CategoricalBlock):
                self.categorical.append((block.column, at, block.vocabulary, len(block.vocabulary)))
                at += len(block.vocabulary) + 1
            elif isinstance(block, TextBlock):
                self.text.append((block.column, at, _TokenBuckets(block.buckets)))
                at += block.buckets
            elif isinstance(block, DatetimeBlock):
                parse = _mixed_parts if block.date_format is None else record_parser(block.date_format)
                pairs = list(zip(block.means, block.scales, strict=True))
                scaling = tuple(x for pair in pairs for x in pair)  # mean, scale of each of DATE_PARTS
                imputed = [(m - mean) / scale for m, (mean, scale) in zip(block.medians, pairs, strict=True)]
                self.datetime.append((block.column, at, parse, scaling, imputed))
                at += len(DATE_PARTS)
        self.encoder = encoder

    def __call__(self, record: Mapping[str, Any]) -> tuple[np.ndarray, str | None]:
        """The encoded row, and the first numeric column holding text that is not a number (or None).

        Such text is imputed like a missing value, as the batch path does; a caller that wants
        to refuse it (the artifact) can. Raises KeyError for a missing column."""
        out = self.zeros.copy()  # float32: each item set rounds a float64 as the batch's cast does
        bad = None
        for name, j, median, mean, scale, indicator in self.numeric:
            value = record[name]
            try:
                number = float(value)
                if number != number:
                    raise ValueError
            except (TypeError, ValueError):  # missing or not a number: imputed, as the batch path does
                if bad is None and not is_missing(value):
                    bad = name
                number = math.nan
            if not abs(number) <= LARGEST_MAGNITUDE:  # and so is an infinity, or a number as good as one
                number = median
                if indicator >= 0:
                    out[indicator] = 1.0
            out[j] = (number - mean) / scale
        for name, at, vocabulary, other in self.categorical:
            value = record[name]
            if value.__class__ is not str:
                value = MISSING if is_missing(value) else str(value)
            out[at + vocabulary.get(value, other)] = 1.0
        for name, at, buckets in self.text:
            value = record[name]
            if value.__class__ is not str:
                if is_missing(value):
                    continue
                value = str(value)
            elif value == MISSING:  # the batch path's own mark for a gap
                continue
            counts: dict[int, int] = {}
            _count_elements(counts, map(buckets.__getitem__, _tokens(value)))
            if counts:  # the batch path's float32 norm; float64 division, then rounded to float32 as it is
                norm = _float32_norm(sum(map(mul, counts.values(), counts.values())))
                for bucket, count in counts.items():
                    out[at + bucket] = count / norm
        for name, at, parse, scaling, imputed in self.datetime:
            parts = parse(record[name])  # all five parts, or None: imputed with the training medians
            if parts is None:
                out[at : at + 5] = imputed
            else:  # unrolled: a loop over five parts costs as much as reading the date
                year, month, day, weekday, hour = parts
                m0, s0, m1, s1, m2, s2, m3, s3, m4, s4 = scaling
                out[at] = (year - m0) / s0
                out[at + 1] = (month - m1) / s1
                out[at + 2] = (day - m2) / s2
                out[at + 3] = (weekday - m3) / s3
                out[at + 4] = (hour - m4) / s4
        return out, bad


# --------------------------------------------------------------------------- models


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def _tree_arrays(tree: Any, classification: bool) -> tuple[list[int], list[int], list[int], list[float], np.ndarray]:
    t = tree.tree_
    value = t.value[:, :, 0] if not classification else t.value[:, 0, :]
    if classification:
        value = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
    return (t.children_left.tolist(), t.children_right.tolist(), t.feature.tolist(), t.threshold.tolist(), value)


def _walk(arrays: tuple[Any, ...], x: list[float]) -> np.ndarray:
    left, right, feature, threshold, value = arrays
    node = 0
    while left[node] != -1:
        node = left[node] if x[feature[node]] <= threshold[node] else right[node]
    return value[node]


def compile_model(model: Any) -> Scorer | None:
    """A function from one encoded row (float32 vector) to scores, or None when there is no fast form."""
    from advisor.candidates.builders import LightGBMModel, SklearnModel

    if isinstance(model, SklearnModel):
        return _compile_sklearn(model)
    if type(model).__name__ == "TorchModel":
        return _compile_torch(model)
    if type(model).__name__ == "EnsembleModel":
        members = [compile_model(m) for m in model.members.values()]
        if any(m is None for m in members):
            return None
        weights = [model.member_weights()[key] for key in model.members]
        from advisor.deploy.native import labelled

        return labelled(
            lambda x: sum(w * m(x) for w, m in zip(weights, members, strict=True)),
            "the weighted mean of: " + "; ".join(getattr(m, "arithmetic", "numpy") for m in members),
        )
    if isinstance(model, LightGBMModel):
        from advisor.deploy.native import compile_lightgbm

        return compile_lightgbm(model)
    return None


def _compile_sklearn(model: Any) -> Scorer | None:
    estimator = model.estimator
    classification = model.task != "regression"
    name = type(estimator).__name__
    if type(model).__name__ == "SoftTreeModel":
        arrays = _tree_arrays(estimator, classification=False)
        if not classification:
            return lambda x: _walk(arrays, x.tolist())[:1].copy()

        def soft(x: np.ndarray) -> np.ndarray:
            raw = np.clip(_walk(arrays, x.tolist()), 0.0, None)
            return raw / max(raw.sum(), 1e-12)

        return soft
    if name == "DummyClassifier":
        prior = np.asarray(estimator.class_prior_, dtype=np.float64)
        return lambda x: prior
    if name == "DummyRegressor":
        constant = float(np.ravel(estimator.constant_)[0])
        return lambda x: np.array([constant])
    if name == "LogisticRegression":
        coef, intercept = estimator.coef_.astype(np.float64), estimator.intercept_.astype(np.float64)
        if coef.shape[0] == 1:

            def binary(x: np.ndarray) -> np.ndarray:
                z = float(coef[0] @ x.astype(np.float64) + intercept[0])
                p = 1.0 / (1.0 + math.exp(-z)) if z >= -700 else 0.0
                return np.array([1.0 - p, p])

            return binary
        return lambda x: _softmax(coef @ x.astype(np.float64) + intercept)
    if name == "Ridge":
        coef = np.ravel(estimator.coef_).astype(np.float64)
        intercept = float(np.ravel(estimator.intercept_)[0])
        return lambda x: np.array([float(coef @ x.astype(np.float64)) + intercept])
    if name in ("DecisionTreeClassifier", "DecisionTreeRegressor"):
        arrays = _tree_arrays(estimator, classification)
        if classification:
            return lambda x: _walk(arrays, x.tolist())
        return lambda x: np.array([_walk(arrays, x.tolist())[0]])
    if name in ("RandomForestClassifier", "RandomForestRegressor"):
        trees = [_tree_arrays(t, classification) for t in estimator.estimators_]
        if classification:
            return lambda x: _mean_walk(trees, x.tolist())
        return lambda x: np.array([_mean_walk(trees, x.tolist())[0]])
    return None


def _mean_walk(trees: list[tuple[Any, ...]], x: list[float]) -> np.ndarray:
    total = _walk(trees[0], x).copy()
    for arrays in trees[1:]:
        total += _walk(arrays, x)
    return total / len(trees)


def _compile_torch(model: Any) -> Scorer | None:
    """Numpy forward pass of a network computed in fp32; fp16, bf16 and int8 networks repeat
    torch's own arithmetic in numpy (`precision`). A network on another device keeps torch."""
    if model.device != "cpu":
        return None
    if model.codec in ("fp16", "bf16", "int8"):
        from advisor.deploy.precision import compile_low_precision

        return compile_low_precision(model)
    import torch

    steps: list[tuple[str, Any, Any]] = []
    for module in model.network:
        if isinstance(module, torch.nn.Linear):
            weight = module.weight.detach().numpy().astype(np.float32)
            bias = None if module.bias is None else module.bias.detach().numpy().astype(np.float32)
            steps.append(("linear", weight, bias))
        elif isinstance(module, torch.nn.ReLU):
            steps.append(("relu", None, None))
        elif isinstance(module, torch.nn.Dropout):
            continue
        else:
            return None
    regression = model.task == "regression"
    y_mean, y_std = model.y_mean, model.y_std

    def forward(x: np.ndarray) -> np.ndarray:
        h = x
        for kind, weight, bias in steps:
            if kind == "linear":
                h = weight @ h if bias is None else weight @ h + bias
            else:
                h = np.maximum(h, 0.0)
        if regression:
            return np.array([float(h[0]) * y_std + y_mean])
        return _softmax(h.astype(np.float64))

    return forward
