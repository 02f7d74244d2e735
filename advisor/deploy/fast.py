"""The fast single-row path: one record (a dict) encoded and scored with plain Python and numpy.

A fitted model and its encoder are compiled into flat arrays: linear weights, tree node
arrays, a network's weight matrices. Scoring one record then costs microseconds instead of
the per-call validation and dispatch of scikit-learn, LightGBM's wrapper or torch. Batches
keep the vectorised path. A predictor turns the fast path on only after checking that it
gives the same answer as the batch path (`Predictor.verify_fast_path`).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

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


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return value is pd.NA or value is pd.NaT


class FastEncoder:
    """Encodes one record exactly as `TabularEncoder.transform` does, without pandas."""

    def __init__(self, encoder: TabularEncoder) -> None:
        self.width = encoder.n_features_out_
        group = encoder.numeric_
        indicator_at = {int(i): len(group.columns) + k for k, i in enumerate(group.indicators)}
        self.numeric = [
            (name, j, float(group.medians[j]), float(group.means[j]), float(group.scales[j]), indicator_at.get(j, -1))
            for j, name in enumerate(group.columns)
        ]
        self.blocks: list[tuple[Any, ...]] = []
        at = len(group.columns) + len(group.indicators)
        self.pandas_blocks = []
        for block in encoder.blocks_:
            if isinstance(block, CategoricalBlock):
                self.blocks.append(("categorical", block.column, at, block.vocabulary, len(block.vocabulary)))
                at += len(block.vocabulary) + 1
            elif isinstance(block, TextBlock):
                self.blocks.append(("text", block.column, at, block.buckets))
                at += block.buckets
            elif isinstance(block, DatetimeBlock):
                self.blocks.append(("datetime", block.column, at, block))
                at += 5
        self.encoder = encoder

    def __call__(self, record: Mapping[str, Any]) -> tuple[np.ndarray, str | None]:
        """The encoded row, and the first numeric column holding text that is not a number (or None).

        Such text is imputed like a missing value, as the batch path does; a caller that wants
        to refuse it (the artifact) can. Raises KeyError for a missing column."""
        out = [0.0] * self.width
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
        for block in self.blocks:
            kind, name = block[0], block[1]
            value = record[name]
            if kind == "categorical":
                _, _, at, vocabulary, other = block
                key = MISSING if is_missing(value) else str(value)
                out[at + vocabulary.get(key, other)] = 1.0
                continue
            elif kind == "text":
                _, _, at, buckets = block
                if not is_missing(value):
                    counts = np.zeros(buckets, dtype=np.float32)
                    for token in _TOKEN.findall(str(value).lower()):
                        counts[zlib.crc32(token.encode()) % buckets] += 1.0
                    norm = np.linalg.norm(counts)  # in float32, as the batch path computes it
                    if norm > 0:
                        out[at : at + buckets] = (counts / norm).tolist()
            else:
                _, _, at, datetime_block = block
                from advisor.data.encoder import date_parts

                parts = date_parts([value])[0]
                parts = np.where(np.isnan(parts), np.array(datetime_block.medians), parts)
                out[at : at + 5] = ((parts - np.array(datetime_block.means)) / np.array(datetime_block.scales)).tolist()
        return np.array(out, dtype=np.float32), bad


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
        return lambda x: np.mean([m(x) for m in members], axis=0)
    if isinstance(model, LightGBMModel):
        return None
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
    """Numpy forward pass of a network computed in fp32 (fp16, bf16 and int8 keep torch: their
    arithmetic is part of what was measured)."""
    if model.codec in ("fp16", "bf16", "int8") or model.device != "cpu":
        return None
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
