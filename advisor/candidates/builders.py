"""Builders of the table models: the baseline, linear models, trees, forests and LightGBM.

Each takes the catalog entry's parameters and a `TrainContext` and returns a fitted model (see
`context`); the networks are in `networks`, the compression lab in `compress`, and every
builder by its catalog name in `registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from advisor.candidates.context import Builder, FittedModel, TrainContext


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


TABLE_BUILDERS: dict[str, Builder] = {
    "baseline": build_baseline,
    "linear": build_linear,
    "decision_tree": build_decision_tree,
    "random_forest": build_random_forest,
    "lightgbm": build_lightgbm,
}
