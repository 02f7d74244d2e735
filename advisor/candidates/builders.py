"""Builders: one training function per catalog `builder`, each returning a fitted model.

A fitted model takes the encoded float32 matrix and returns scores: class probabilities
(n, k) for classification, values (n,) for regression. It knows how to pin its own thread
count and how many parameters it holds. The `Predictor` wraps it with the preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class FittedModel(Protocol):
    runtime: str

    def scores(self, X: np.ndarray) -> np.ndarray: ...

    def set_threads(self, threads: int) -> None: ...

    def param_count(self) -> int: ...


@dataclass
class TrainContext:
    """Everything a builder may use; the rows are already encoded (train split only fitted)."""

    task: str
    n_classes: int
    class_weighting: bool
    seed: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    threads: int = 1
    device: str = "cpu"
    report: Callable[[str], None] = field(default=lambda message: None)
    should_stop: Callable[[], bool] = field(default=lambda: False)
    primary_metric: str = "accuracy"
    # For derived candidates: the fitted models trained so far, the catalog entries by key,
    # the entry being built (its parent and what it uses), user options and a shared cache.
    models: dict[str, Any] = field(default_factory=dict)
    specs: dict[str, Any] = field(default_factory=dict)
    spec: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def parent_model(self) -> Any:
        """The fitted model this entry derives from (its catalog `parent`)."""
        return self.models[self.spec.parent]

    def validation_metric(self, model: FittedModel) -> float:
        """The primary metric on the validation split: what compression steps are judged on."""
        from advisor.measure.figures import point_metrics

        scores = model.scores(self.X_val)
        miss_cost = self.options.get("miss_cost")
        return point_metrics(self.y_val, scores, self.task, self.n_classes, miss_cost=miss_cost)[self.primary_metric]

    def class_weights(self) -> np.ndarray:
        """'balanced' weights n / (k * count) per class, as scikit-learn computes them."""
        counts = np.bincount(self.y_train.astype(int), minlength=self.n_classes).astype(float)
        return len(self.y_train) / (self.n_classes * np.maximum(counts, 1.0))


class SklearnModel:
    """Any fitted scikit-learn estimator; validation is skipped on the hot path."""

    runtime = "scikit-learn"

    def __init__(self, estimator: Any, task: str) -> None:
        self.estimator = estimator
        self.task = task

    def scores(self, X: np.ndarray) -> np.ndarray:
        import sklearn

        # Inputs come from our own encoder (finite float32), so the checks only cost time.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            if self.task == "regression":
                return self.estimator.predict(X)
            return self.estimator.predict_proba(X)

    def set_threads(self, threads: int) -> None:
        if "n_jobs" in self.estimator.get_params():
            self.estimator.set_params(n_jobs=threads)

    def param_count(self) -> int:
        est = self.estimator
        if hasattr(est, "estimators_"):
            return int(sum(tree.tree_.node_count for tree in est.estimators_))
        if hasattr(est, "tree_"):
            return int(est.tree_.node_count)
        if hasattr(est, "coef_"):
            return int(np.size(est.coef_) + np.size(getattr(est, "intercept_", 0)))
        if hasattr(est, "class_prior_"):
            return int(np.size(est.class_prior_))
        return 1  # a mean


class LightGBMModel:
    """A LightGBM booster called directly: the scikit-learn wrapper adds ~0.8 ms per call."""

    runtime = "lightgbm"

    def __init__(self, booster: Any, task: str) -> None:
        self.booster = booster
        self.task = task
        self.threads = 1

    def scores(self, X: np.ndarray) -> np.ndarray:
        raw = self.booster.predict(X, num_threads=self.threads)
        if self.task == "binary":
            return np.column_stack([1.0 - raw, raw])
        return raw

    def set_threads(self, threads: int) -> None:
        self.threads = threads

    def param_count(self) -> int:
        trees = self.booster.dump_model()["tree_info"]
        return int(sum(2 * tree["num_leaves"] - 1 for tree in trees))


def build_baseline(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if ctx.is_classification:
        estimator = DummyClassifier(strategy="prior")
    else:
        estimator = DummyRegressor(strategy="mean")
    return SklearnModel(estimator.fit(ctx.X_train, ctx.y_train), ctx.task)


def build_linear(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    from sklearn.linear_model import LogisticRegression, Ridge

    if ctx.is_classification:
        estimator = LogisticRegression(
            C=params.get("C", 1.0),
            max_iter=params.get("max_iter", 1000),
            class_weight="balanced" if ctx.class_weighting else None,
        )
    else:
        estimator = Ridge(alpha=params.get("alpha", 1.0))
    return SklearnModel(estimator.fit(ctx.X_train, ctx.y_train), ctx.task)


def build_decision_tree(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if ctx.is_classification:
        estimator: Any = DecisionTreeClassifier(
            random_state=ctx.seed, class_weight="balanced" if ctx.class_weighting else None, **params
        )
    else:
        estimator = DecisionTreeRegressor(random_state=ctx.seed, **params)
    return SklearnModel(estimator.fit(ctx.X_train, ctx.y_train), ctx.task)


def build_random_forest(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if ctx.is_classification:
        estimator: Any = RandomForestClassifier(
            random_state=ctx.seed,
            n_jobs=ctx.threads,
            class_weight="balanced" if ctx.class_weighting else None,
            **params,
        )
    else:
        estimator = RandomForestRegressor(random_state=ctx.seed, n_jobs=ctx.threads, **params)
    return SklearnModel(estimator.fit(ctx.X_train, ctx.y_train), ctx.task)


def build_lightgbm(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    import lightgbm

    common = dict(random_state=ctx.seed, n_jobs=ctx.threads, verbose=-1, **params)
    if ctx.is_classification:
        model: Any = lightgbm.LGBMClassifier(class_weight="balanced" if ctx.class_weighting else None, **common)
    else:
        model = lightgbm.LGBMRegressor(**common)
    model.fit(ctx.X_train, ctx.y_train)
    return LightGBMModel(model.booster_, ctx.task)


def build_torch_mlp(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    from advisor.candidates.networks import train_mlp

    return train_mlp(ctx, **params)


def _compress(name: str) -> Callable[[Mapping[str, Any], TrainContext], FittedModel]:
    def build(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
        from advisor.candidates import compress

        return getattr(compress, name)(params, ctx)

    build.__name__ = name
    return build


BUILDERS: dict[str, Callable[[Mapping[str, Any], TrainContext], FittedModel]] = {
    "baseline": build_baseline,
    "linear": build_linear,
    "decision_tree": build_decision_tree,
    "random_forest": build_random_forest,
    "lightgbm": build_lightgbm,
    "torch_mlp": build_torch_mlp,
    # the compression lab (advisor/candidates/compress.py): entries with a parent
    "low_precision": _compress("build_low_precision"),
    "precision_sweep": _compress("build_precision_sweep"),
    "prune": _compress("build_prune"),
    "prune_neurons": _compress("build_prune_neurons"),
    "ensemble": _compress("build_ensemble"),
    "distill": _compress("build_distill"),
}
