"""LightGBM tuned within the run's time budget, then refitted on the training and validation rows.

Three steps, each said in the candidate's notes and kept on the model (`LightGBMModel.tuning`):

1. Early stopping: a lower learning rate (0.05) and up to `max_rounds` rounds, stopped when the
   validation loss (LightGBM's own: log loss, or squared error) has not improved for
   `early_stopping_rounds` rounds.
2. A small search: Optuna's TPE sampler (seeded with the run's seed) over the tree shape and
   regularisation, the first trial being LightGBM's defaults, so the search never ends below
   them. Trials are compared on the run's primary metric on the validation split. The search
   stops after `trials` trials (fewer on a small validation split: one per `val_rows_per_trial`
   rows, at least two) or when its time is spent: `budget_share` of the run's time budget
   (`--budget`), or `search_s` seconds when the run has none; a trial that would overrun is cut
   short at the deadline (or when the run is stopped) and keeps the rounds it has.
3. Use the rows (as AutoGluon's refit does): the chosen configuration is trained again on
   training + validation rows, with the chosen number of rounds scaled by the square root of the
   row ratio (sqrt((n_train + n_val) / n_train): about +15% for the run's 60/20 split), a
   deliberately cautious step between "same rounds" and "rounds in proportion to the rows". The
   test split is never seen.

The refitted model has seen the validation rows, so its own validation scores would flatter it.
What later steps judge on validation (the binary decision threshold, compression references,
ensemble selection) reads `TrainContext.validation_scores`, which returns the scores of the model
chosen before the refit, left in the run's shared cache under `held_out_key(key)`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from advisor.candidates.builders import LightGBMModel
from advisor.candidates.context import FittedModel, TrainContext, held_out_key
from advisor.measure.figures import point_metrics
from advisor.objectives import HIGHER_IS_BETTER

DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_rounds": 2000,
    "early_stopping_rounds": 50,
    "min_loss_gain": 1e-3,  # classification: less log loss gained over those rounds is no gain
    "trials": 8,
    # A small validation split cannot tell many configurations apart (on 69 rows one row is 1.4 pp):
    # at most one trial per this many validation rows (at least two trials).
    "val_rows_per_trial": 50,
    "budget_share": 0.1,  # of the run's --budget, for the search (the refit comes on top: one more fit)
    "search_s": 15.0,  # the search's time when the run has no budget
    "refit": True,
}
# LightGBM's own defaults: the first trial, so the search starts from the known-good point.
FIRST_TRIAL = {"num_leaves": 31, "min_child_samples": 20, "feature_fraction": 1.0, "lambda_l2": 1e-3}


def search_seconds(params: Mapping[str, Any], options: Mapping[str, Any]) -> float:
    """The search's time: its share of the run's budget, else the fixed `search_s`."""
    budget_s = options.get("budget_s")
    if budget_s is None:
        return float(params["search_s"])
    return float(params["budget_share"]) * float(budget_s)


def _objective_params(ctx: TrainContext) -> dict[str, Any]:
    if ctx.task == "binary":
        return {"objective": "binary"}
    if ctx.task == "multiclass":
        return {"objective": "multiclass", "num_class": ctx.n_classes}
    return {"objective": "regression"}


def _weights(ctx: TrainContext, y: np.ndarray) -> np.ndarray | None:
    """'balanced' class weights for these rows, as the untuned LightGBM entry uses them."""
    if not (ctx.is_classification and ctx.class_weighting):
        return None
    counts = np.bincount(y.astype(int), minlength=ctx.n_classes).astype(float)
    per_class = len(y) / (ctx.n_classes * np.maximum(counts, 1.0))
    return per_class[y.astype(int)]


def _deadline_callback(deadline: float, ctx: TrainContext) -> Any:
    """Ends a training at the deadline (or when the run is stopped), keeping the rounds so far."""
    import lightgbm

    def callback(env: Any) -> None:
        if time.perf_counter() >= deadline or ctx.should_stop():
            # 0-based: LightGBM keeps `iteration + 1` rounds
            raise lightgbm.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    callback.order = 40  # after early stopping's own check (30), which records the best so far
    return callback


def _scores(booster: Any, ctx: TrainContext, X: np.ndarray, rounds: int) -> np.ndarray:
    """Scores of the first `rounds` rounds, shaped as `LightGBMModel.scores` shapes them."""
    raw = booster.predict(X, num_iteration=rounds, num_threads=ctx.threads)
    return np.column_stack([1.0 - raw, raw]) if ctx.task == "binary" else raw


def build_lightgbm_tuned(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """LightGBM with early stopping, a seeded TPE search within its time share, and a refit on
    training + validation rows (see the module's docstring)."""
    import lightgbm
    import optuna

    settings = {**DEFAULTS, **params}
    started = time.perf_counter()
    seconds = search_seconds(settings, ctx.options)
    deadline = started + seconds
    n_train, n_val = len(ctx.y_train), len(ctx.y_val)
    base = {
        **_objective_params(ctx),
        "learning_rate": float(settings["learning_rate"]),
        "num_threads": ctx.threads,
        "seed": ctx.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    # binned once for every trial; a trial may change the smallest leaf, so no feature is pre-filtered by it
    binning = {"verbosity": -1, "feature_pre_filter": False}
    train_set = lightgbm.Dataset(
        ctx.X_train, ctx.y_train, weight=_weights(ctx, ctx.y_train), params=binning, free_raw_data=False
    )
    val_set = lightgbm.Dataset(ctx.X_val, ctx.y_val, reference=train_set, params=binning)
    metric = ctx.primary_metric
    # Log loss is in nats per row on every table, so one floor fits all: on classes the trees can
    # separate it falls for thousands of rounds by amounts that change no prediction. Squared error
    # has the target's scale: no floor.
    min_delta = float(settings["min_loss_gain"]) if ctx.is_classification else 0.0
    sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
    # tiny tables: a leaf may not need more rows than a tenth of them
    most_per_leaf = max(6, min(100, n_train // 10))
    best: dict[str, Any] = {}  # the best trial so far: its booster, rounds and validation scores

    def objective(trial: Any) -> float:
        shape = {
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, most_per_leaf, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }
        booster = lightgbm.train(
            {**base, **shape},
            train_set,
            num_boost_round=int(settings["max_rounds"]),
            valid_sets=[val_set],
            callbacks=[
                lightgbm.early_stopping(int(settings["early_stopping_rounds"]), verbose=False, min_delta=min_delta),
                _deadline_callback(deadline, ctx),
            ],
        )
        rounds = max(1, booster.best_iteration or booster.current_iteration())
        scores = _scores(booster, ctx, ctx.X_val, rounds)
        value = point_metrics(ctx.y_val, scores, ctx.task, ctx.n_classes, miss_cost=ctx.options.get("miss_cost"))[
            metric
        ]
        if not best or sign * value > best["loss"]:  # the first of equals wins, as in `study.best_trial`
            best.update(loss=sign * value, number=trial.number, booster=booster, rounds=rounds, scores=scores)
        ctx.report(f"tuning trial {trial.number + 1}: {metric} {value:.4f} on validation after {rounds} rounds")
        return sign * value

    trial_limit = min(int(settings["trials"]), max(2, n_val // int(settings["val_rows_per_trial"])))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=ctx.seed, n_startup_trials=min(3, trial_limit))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({**FIRST_TRIAL, "min_child_samples": min(FIRST_TRIAL["min_child_samples"], most_per_leaf)})

    def stop_when_spent(study: Any, trial: Any) -> None:
        if time.perf_counter() >= deadline or ctx.should_stop():
            study.stop()

    study.optimize(objective, n_trials=trial_limit, callbacks=[stop_when_spent])
    search_s = time.perf_counter() - started
    booster, rounds, held_out = best["booster"], best["rounds"], best["scores"]
    chosen = dict(study.trials[best["number"]].params)
    tuning: dict[str, Any] = {
        "trials": len(study.trials),
        "trial_limit": trial_limit,
        "search_limit_s": round(seconds, 3),
        "search_s": round(search_s, 3),
        "metric": metric,
        "best_validation": sign * float(best["loss"]),
        "best_params": chosen,
        "learning_rate": base["learning_rate"],
        "best_rounds": int(rounds),
        "refit": bool(settings["refit"]),
    }
    ctx.cache[held_out_key(ctx.spec.key if ctx.spec is not None else "lightgbm-tuned")] = held_out
    if settings["refit"]:
        refit_rounds = max(1, math.ceil(rounds * math.sqrt((n_train + n_val) / n_train)))
        X_all = np.concatenate([ctx.X_train, ctx.X_val])
        y_all = np.concatenate([ctx.y_train, ctx.y_val])
        ctx.report(f"refitting on {len(y_all):,} training + validation rows for {refit_rounds} rounds")
        all_rows = lightgbm.Dataset(X_all, y_all, weight=_weights(ctx, y_all), params={"verbosity": -1})
        final = lightgbm.train({**base, **chosen}, all_rows, num_boost_round=refit_rounds)
        tuning.update(refit_rows=len(y_all), refit_rounds=refit_rounds)
    else:  # the chosen booster, cut at its best round
        final = lightgbm.Booster(model_str=booster.model_to_string(num_iteration=rounds))
    tuning["total_s"] = round(time.perf_counter() - started, 3)
    model = LightGBMModel(final, ctx.task)
    model.tuning = tuning
    model.build_notes = _notes(tuning, n_train, n_val)
    return model


def _notes(tuning: Mapping[str, Any], n_train: int, n_val: int) -> list[str]:
    shape = ", ".join(f"{name} {value:.3g}" for name, value in tuning["best_params"].items())
    notes = [
        f"tuned: {tuning['trials']} of at most {tuning['trial_limit']} trials (Optuna TPE, seeded; the first is "
        f"LightGBM's defaults) in {tuning['search_s']:.1f} s of the {tuning['search_limit_s']:.1f} s allowed; "
        f"best {tuning['metric']} on validation {tuning['best_validation']:.4f} with {shape}, learning rate "
        f"{tuning['learning_rate']:g}, {tuning['best_rounds']} rounds (early stopping on the validation loss)",
    ]
    if tuning["refit"]:
        notes.append(
            f"refitted on the training + validation rows ({n_train:,} + {n_val:,}) for {tuning['refit_rounds']} "
            f"rounds ({tuning['best_rounds']} x sqrt of the row ratio); the test split was never seen. Its decision "
            "threshold and other validation-based choices use the validation scores of the model chosen before "
            "the refit"
        )
    return notes
