"""Ensemble teachers chosen by selection, and the small students distilled from them.

`build_ensemble_selection` weighs every candidate this run trained (the entry's `pool`, plus
what it `uses`) by greedy ensemble selection on the validation split (`selection`).
`build_distill` trains a small student (a LightGBM, an MLP or a depth-limited tree) on the
teacher's predictions: for the real training rows, out-of-fold predictions of copies of the
teacher's members trained without them; with `augment`, also for synthetic rows made from the
training rows alone (`augment.munge`), which the teacher labels directly. Of the teachers an
entry names (its `teacher`, then its `pool`), the one best on the validation split teaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from advisor.candidates.augment import column_groups, munge
from advisor.candidates.builders import TABLE_BUILDERS, LightGBMModel
from advisor.candidates.compress import EnsembleModel, SoftTreeModel
from advisor.candidates.context import Builder, FittedModel, TrainContext
from advisor.candidates.layers import make_network, require_torch
from advisor.candidates.networks import TorchModel, architecture_for, build_torch_mlp, fit
from advisor.candidates.selection import ROUNDS, select_ensemble, selection_loss, weighted_average
from advisor.measure.figures import HIGHER_IS_BETTER, point_metrics

# What an ensemble teacher's members may be rebuilt with, to cross-fit it for its students.
MEMBER_BUILDERS: dict[str, Builder] = {**TABLE_BUILDERS, "torch_mlp": build_torch_mlp}
# MUNGE as FAST-DAD and AutoGluon run it (p = 0.5, s = 1, five synthetic rows per real one). On digits
# (1,078 training rows) the MLP student scored 0.922 with none, 0.956 with two per row, 0.972 with five
# (test accuracy, the teacher 0.972). At most 50,000 (AutoGluon: 100,000) keeps the students' training
# time on a large set within a few times the real rows'.
AUGMENT = {"size_factor": 5, "p": 0.5, "s": 1.0, "max_rows": 50_000}
# Below this share of a row's probability a class is left out of the LightGBM student's expanded
# rows (see `_fit_lightgbm`): it changes the loss by less than that share.
SOFT_LABEL_FLOOR = 0.01


def _objective(task: str) -> str:
    return "squared error" if task == "regression" else "log loss"


# --------------------------------------------------------------------------- ensemble selection


def build_ensemble_selection(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """Greedy ensemble selection with replacement over the validation predictions of every model in
    the entry's `uses` and `pool` that this run trained; weights = picks / rounds."""
    rounds = int(params.get("rounds", ROUNDS))
    wanted = list(dict.fromkeys([*ctx.spec.uses, *ctx.spec.pool]))
    pool = [key for key in wanted if key in ctx.models]
    if not pool:
        raise ValueError(f"'{ctx.spec.key}' found none of {', '.join(wanted)} trained in this run")
    predictions = {key: held_out_scores(ctx, key) for key in pool}
    loss = selection_loss(ctx.y_val, ctx.task)
    selection = select_ensemble(predictions, loss, rounds)
    weights = selection.used
    model = EnsembleModel({key: ctx.models[key] for key in weights}, weights)
    single = {key: loss(p) for key, p in predictions.items()}
    best_single = min(single, key=single.__getitem__)
    objective = _objective(ctx.task)
    notes = [
        f"ensemble selection (Caruana et al., 2004): {rounds} greedy rounds with replacement over the validation "
        f"predictions of {', '.join(pool)}, each round adding the model that lowers the validation {objective} most; "
        "weights = times picked / rounds: " + ", ".join(f"{key} {w:.2f}" for key, w in weights.items()),
        f"validation {objective} {selection.losses[-1]:.4f}, against {single[best_single]:.4f} for the best single "
        f"model ({best_single}); the weights were chosen on this same split, so its validation figures are "
        "optimistic (the test split never took part)",
    ]
    left_out = [key for key in wanted if key not in ctx.models]
    if left_out:
        notes.append(f"not trained in this run, so not in the pool: {', '.join(left_out)}")
    model.build_notes = notes
    return model


# --------------------------------------------------------------------------- teacher and its targets


def held_out_scores(ctx: TrainContext, key: str) -> np.ndarray:
    """A trained entry's validation scores as from models that never learned from those rows: an
    ensemble's from its members' (a member refitted on the validation rows gives its scores from
    before the refit; see `TrainContext.validation_scores`)."""
    model = ctx.models[key]
    if isinstance(model, EnsembleModel):
        members = {m: ctx.validation_scores(member, m) for m, member in model.members.items()}
        return weighted_average(members, model.member_weights())
    return ctx.validation_scores(model, key)


def _refit_tuned(member: Any, ctx: TrainContext) -> FittedModel:
    """A tuned LightGBM member (`LightGBMModel.tuning`) trained again on a fold's rows with the
    configuration and rounds its search chose: the cross-fit repeats no search."""
    import lightgbm

    tuning = member.tuning
    objective = {
        "binary": {"objective": "binary"},
        "multiclass": {"objective": "multiclass", "num_class": ctx.n_classes},
    }
    params = {
        **objective.get(ctx.task, {"objective": "regression"}),
        "learning_rate": tuning["learning_rate"],
        **tuning["best_params"],
        "seed": ctx.seed,
        "num_threads": ctx.threads,
        "verbose": -1,
    }
    weight = ctx.class_weights()[ctx.y_train.astype(int)] if ctx.is_classification and ctx.class_weighting else None
    data = lightgbm.Dataset(ctx.X_train, ctx.y_train, weight=weight)
    return LightGBMModel(lightgbm.train(params, data, num_boost_round=int(tuning["best_rounds"])), ctx.task)


def choose_teacher(params: Mapping[str, Any], ctx: TrainContext) -> tuple[str, str]:
    """The teacher: the entry's `teacher`, unless another it may use (its `pool`) scores better on
    the validation split's primary metric. Returns its key and a sentence saying why."""
    first = params["teacher"]
    names = [key for key in dict.fromkeys([first, *ctx.spec.pool]) if key in ctx.models]
    if len(names) == 1:
        return first, f"teacher '{first}'"
    miss_cost = ctx.options.get("miss_cost")
    values = {
        key: point_metrics(ctx.y_val, held_out_scores(ctx, key), ctx.task, ctx.n_classes, miss_cost=miss_cost)[
            ctx.primary_metric
        ]
        for key in names
    }
    sign = 1 if HIGHER_IS_BETTER[ctx.primary_metric] else -1
    best = max(names, key=lambda key: sign * values[key])  # ties go to the first named
    figures = ", ".join(f"{key} {values[key]:.4f}" for key in names)
    return best, f"teacher '{best}', the best on validation {ctx.primary_metric} ({figures})"


def cross_fitted_targets(ctx: TrainContext, teacher: str, folds: int) -> tuple[np.ndarray, list[str]]:
    """The teacher's predictions for every training row from copies of its members trained without
    that row, combined with the teacher's weights; and the members that could not be rebuilt (a
    plug-in builder), whose own predictions are used instead.

    A teacher scoring its own training rows is overconfident (trees fit them almost exactly),
    which makes soft targets nearly one-hot; out-of-fold predictions keep the information
    distillation needs. Cached per teacher and weights, so several students share one cross-fit.
    """
    model = ctx.models[teacher]
    ensemble = isinstance(model, EnsembleModel)
    weights = model.member_weights() if ensemble else {teacher: 1.0}
    fitted = model.members if ensemble else {teacher: model}
    key = ("cross-fit", teacher, folds, tuple(sorted(weights.items())))
    if key in ctx.cache:
        return ctx.cache[key]
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (StratifiedKFold if ctx.is_classification else KFold)(folds, shuffle=True, random_state=ctx.seed)
    width = ctx.n_classes if ctx.is_classification else None
    out = np.zeros((len(ctx.y_train), width) if width else len(ctx.y_train))

    def rebuild(m: str, sub: TrainContext) -> FittedModel | None:
        spec = ctx.specs.get(m)
        if spec is not None and spec.builder in MEMBER_BUILDERS:
            return MEMBER_BUILDERS[spec.builder](spec.params, sub)
        if isinstance(getattr(fitted[m], "tuning", None), Mapping):
            return _refit_tuned(fitted[m], sub)
        return None

    # A member that cannot be rebuilt (a plug-in) is left out of the cross-fit, the others' weights
    # scaled up; if none can be, the teacher's own predictions are used.
    in_sample: list[str] = []
    for fold, (fit_rows, held_rows) in enumerate(splitter.split(ctx.X_train, ctx.y_train)):
        ctx.report(f"cross-fitting the teacher, fold {fold + 1}/{folds}")
        sub = replace(ctx, X_train=ctx.X_train[fit_rows], y_train=ctx.y_train[fit_rows], report=lambda m: None)
        held = ctx.X_train[held_rows]
        rebuilt = {m: rebuild(m, sub) for m in weights}
        in_sample = [m for m in weights if rebuilt[m] is None]
        kept = {m: w for m, w in weights.items() if rebuilt[m] is not None} or weights
        total = sum(kept.values())
        predictions = {m: (rebuilt[m] or fitted[m]).scores(held) for m in kept}
        out[held_rows] = weighted_average(predictions, {m: w / total for m, w in kept.items()})
    ctx.cache[key] = (out, in_sample)
    return out, in_sample


def augmented_rows(ctx: TrainContext, teacher: str, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic rows made from the training rows only (MUNGE), and the teacher's predictions for
    them. Cached, so the students of one teacher learn from the same rows."""
    key = ("munge", teacher, ctx.seed, tuple(sorted(settings.items())))
    if key in ctx.cache:
        return ctx.cache[key]
    groups = column_groups(ctx.encoder, ctx.X_train)
    synthetic = munge(ctx.X_train, groups, seed=ctx.seed, **settings)
    labelled = (synthetic, ctx.models[teacher].scores(synthetic))
    ctx.cache[key] = labelled
    return labelled


# --------------------------------------------------------------------------- students


def build_distill(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """A small student trained to match the teacher's predictions: cross-fitted ones for the
    training rows, and with `augment` (true, or MUNGE settings) also its predictions on synthetic rows."""
    teacher, why = choose_teacher(params, ctx)
    folds = int(params.get("folds", 2))
    targets, in_sample = cross_fitted_targets(ctx, teacher, folds)
    notes = [
        f"distilled from {why}, on its {folds}-fold cross-fitted predictions for the training rows (not its "
        "predictions on rows it was trained on)"
    ]
    if in_sample:
        notes.append(f"members that could not be rebuilt per fold, left out of the cross-fit: {', '.join(in_sample)}")
    X, y = ctx.X_train, ctx.y_train
    augment = params.get("augment")
    if augment:
        settings = {**AUGMENT, **(augment if isinstance(augment, Mapping) else {})}
        synthetic, labels = augmented_rows(ctx, teacher, settings)
        X = np.concatenate([X, synthetic])
        targets = np.concatenate([targets, labels])
        # hard labels for the synthetic rows: the teacher's choice (the loss mostly follows its probabilities)
        y = np.concatenate([y, np.argmax(labels, axis=1) if ctx.is_classification else labels]).astype(y.dtype)
        notes.append(
            f"plus {len(synthetic):,} synthetic rows (MUNGE: each training row moved towards its nearest neighbour, "
            f"each column group with probability {settings['p']:g}, numbers drawn with sd |a-b|/{settings['s']:g}; "
            f"{settings['size_factor']} per training row, at most {settings['max_rows']:,}), labelled by the teacher"
        )
    student_ctx = replace(ctx, X_train=X, y_train=y)
    kind = params["student"]
    fit_student = {"tree": _fit_tree, "lightgbm": _fit_lightgbm, "mlp": _fit_mlp}[kind]
    model, description = fit_student(params, student_ctx, targets)
    model.build_notes = [*notes, f"the student: {description}"]
    model.teacher = teacher
    return model


def _fit_tree(params: Mapping[str, Any], ctx: TrainContext, targets: np.ndarray) -> tuple[Any, str]:
    from sklearn.tree import DecisionTreeRegressor

    depth = int(params.get("max_depth", 6))
    tree = DecisionTreeRegressor(
        max_depth=depth, min_samples_leaf=int(params.get("min_samples_leaf", 5)), random_state=ctx.seed
    )
    tree.fit(ctx.X_train, targets if ctx.is_classification else targets.ravel())
    return SoftTreeModel(tree, ctx.task), f"a regression tree of depth {depth} on the teacher's predictions"


def _fit_lightgbm(params: Mapping[str, Any], ctx: TrainContext, targets: np.ndarray) -> tuple[Any, str]:
    """Boosting on soft labels with LightGBM's own objectives: each row appears once per class that
    holds at least `SOFT_LABEL_FLOOR` of its probability, labelled with that class and weighted by
    it, so the weighted log loss is the cross-entropy against the teacher's probabilities."""
    import lightgbm

    settings = {"n_estimators": 30, "num_leaves": 7, "max_depth": 3, "learning_rate": 0.2, **params}
    booster_params: dict[str, Any] = {
        "num_leaves": int(settings["num_leaves"]),
        "max_depth": int(settings["max_depth"]),
        "learning_rate": float(settings["learning_rate"]),
        "seed": ctx.seed,
        "num_threads": ctx.threads,
        "verbose": -1,
    }
    if ctx.is_classification:
        kept = np.where(targets >= SOFT_LABEL_FLOOR, targets, 0.0)
        kept /= np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)
        rows, labels = np.nonzero(kept)
        data = lightgbm.Dataset(ctx.X_train[rows], labels, weight=kept[rows, labels], free_raw_data=True)
        if ctx.task == "binary":
            booster_params["objective"] = "binary"
        else:
            booster_params.update(objective="multiclass", num_class=ctx.n_classes)
        how = f"soft labels as weighted rows (classes under {SOFT_LABEL_FLOOR:g} of a row's probability left out)"
    else:
        data = lightgbm.Dataset(ctx.X_train, np.ravel(targets), free_raw_data=True)
        booster_params["objective"] = "regression"
        how = "the teacher's values as targets"
    booster = lightgbm.train(booster_params, data, num_boost_round=int(settings["n_estimators"]))
    return LightGBMModel(booster, ctx.task), (
        f"LightGBM with {settings['n_estimators']} trees of at most {settings['num_leaves']} leaves, "
        f"depth {settings['max_depth']}, on {how}"
    )


def _fit_mlp(params: Mapping[str, Any], ctx: TrainContext, targets: np.ndarray) -> tuple[Any, str]:
    torch = require_torch()
    torch.manual_seed(ctx.seed)
    architecture = architecture_for(ctx, params.get("hidden", [32]), float(params.get("dropout", 0.0)))
    temperature, alpha = float(params.get("temperature", 2.0)), float(params.get("alpha", 0.7))
    network, y_mean, y_std = fit(
        make_network(**architecture),
        ctx,
        epochs=int(params.get("epochs", 30)),
        learning_rate=float(params.get("learning_rate", 2e-3)),
        patience=int(params.get("patience", 4)),
        soft_targets=targets,
        temperature=temperature,
        alpha=alpha,
    )
    return TorchModel(network, architecture, ctx.task, y_mean, y_std, trained_on=ctx.device), (
        f"an MLP {architecture['hidden']}; loss = {alpha:g} x KL at temperature {temperature:g} + "
        f"{1 - alpha:g} x hard-label loss"
    )
