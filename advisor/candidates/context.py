"""What every builder receives and returns: the training context and the fitted-model protocol.

A fitted model takes the encoded float32 matrix and returns scores: class probabilities
(n, k) for classification, values (n,) for regression. It knows how to pin its own thread
count and how many parameters it holds. The `Predictor` wraps it with the preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from advisor.measure.figures import point_metrics

Builder = Callable[[Mapping[str, Any], "TrainContext"], "FittedModel"]


def held_out_key(key: str) -> tuple[str, str]:
    """Where a candidate refitted on training + validation rows leaves, in the run's shared cache,
    the validation scores of its model from before the refit (see `TrainContext.validation_scores`)."""
    return ("held-out validation scores", key)


class FittedModel(Protocol):
    runtime: str

    def scores(self, X: np.ndarray) -> np.ndarray: ...

    def set_threads(self, threads: int) -> None: ...

    def param_count(self) -> int: ...


@dataclass(kw_only=True)
class SplitData:
    """The encoded rows a run's candidates learn from, and what they are judged on: the same for
    every candidate of a run (`execute.worker.RunContext` adds the test rows and the encoder;
    `TrainContext` adds what one candidate's builder needs)."""

    task: str
    n_classes: int
    class_weighting: bool
    seed: int
    primary_metric: str = "accuracy"
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray

    @classmethod
    def shared(cls, data: SplitData) -> dict[str, Any]:
        """The fields of `data` this class shares with it, as keywords."""
        return {name: getattr(data, name) for name in SplitData.__dataclass_fields__}


@dataclass(kw_only=True)
class TrainContext(SplitData):
    """Everything a builder may use; the rows are already encoded (train split only fitted)."""

    threads: int = 1
    device: str = "cpu"
    report: Callable[[str], None] = field(default=lambda message: None)
    should_stop: Callable[[], bool] = field(default=lambda: False)
    # For derived candidates: the fitted models trained so far, the catalog entries by key,
    # the entry being built (its parent and what it uses), user options (`miss_cost`,
    # `precision_tolerance_pp`, `budget_s`: the run's time budget, when it has one) and a cache
    # shared by the run's candidates.
    models: dict[str, Any] = field(default_factory=dict)
    specs: dict[str, Any] = field(default_factory=dict)
    spec: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    # The fitted encoder, read for the layout of the encoded columns (augmentation keeps a one-hot
    # group one-hot); None when a builder is called on a bare matrix.
    encoder: Any = None

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def parent_model(self) -> Any:
        """The fitted model this entry derives from (its catalog `parent`)."""
        return self.models[self.spec.parent]

    def validation_scores(self, model: FittedModel, key: str | None = None) -> np.ndarray:
        """`model`'s scores on the validation split as a model that never learned from those rows
        gives them: for a candidate (`key`) refitted on training + validation rows, the scores of its
        model from before the refit (`held_out_key`); for any other, its own. What is chosen on the
        validation split (a decision threshold, an ensemble's weights) reads them here."""
        if key is not None and held_out_key(key) in self.cache:
            return np.asarray(self.cache[held_out_key(key)])
        return model.scores(self.X_val)

    def validation_metric(self, model: FittedModel, key: str | None = None) -> float:
        """The primary metric on the validation split: what compression steps are judged on."""
        scores = self.validation_scores(model, key)
        miss_cost = self.options.get("miss_cost")
        return point_metrics(self.y_val, scores, self.task, self.n_classes, miss_cost=miss_cost)[self.primary_metric]

    def class_weights(self) -> np.ndarray:
        """'balanced' weights n / (k * count) per class, as scikit-learn computes them."""
        counts = np.bincount(self.y_train.astype(int), minlength=self.n_classes).astype(float)
        return len(self.y_train) / (self.n_classes * np.maximum(counts, 1.0))
