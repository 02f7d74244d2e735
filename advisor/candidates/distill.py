"""Ensemble teachers chosen by selection, and the small students distilled from them.

`build_ensemble_selection` weighs every candidate this run trained (the entry's `pool`, plus
what it `uses`) by greedy ensemble selection on the validation split (`selection`).
`build_distill` trains a small student (a LightGBM, an MLP or a depth-limited tree) on the
teacher's predictions: for the real training rows, out-of-fold predictions of copies of the
teacher's members trained without them; with `augment`, also for synthetic rows made from the
training rows alone (`augment.munge`), which the teacher labels directly. Of the teachers an
entry names (its `teacher`, then its `pool`), the one best on the validation split teaches.

A student is sized to the teacher it replaces: its model may take `size_share` (1/20) of the
teacher's stored model (`stored_bytes`), so that with the preprocessing every artifact carries it
stays under 1/10 of the teacher's artifact. The LightGBM student keeps as many boosting rounds as
fit, the MLP student takes the widest hidden layer that fits. An entry with `labels = "real"` is
the same size rule on the real labels: the control that says whether the teacher helped.
"""

from __future__ import annotations

import pickle
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
from advisor.candidates.selection import (
    DROP_TOLERANCE,
    ROUNDS,
    drop_weak_members,
    select_ensemble,
    selection_loss,
    weighted_average,
)
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
# A student's model may take this share of its teacher's stored model: half the 1/10 (#16),
# the other half left for the preprocessing and LightGBM's header, which every artifact carries.
SIZE_SHARE = 0.05
# The LightGBM student's learning rate is set so the rounds that fit its budget can converge:
# learning rate x rounds = 10 (LightGBM's defaults: 0.1 x 100), within these bounds.
RATE_TIMES_ROUNDS, RATE_BOUNDS = 10.0, (0.03, 0.3)
# The tree sizes (leaves) the LightGBM student tries within its budget: few large trees or many small.
LEAF_LADDER = (31, 15, 7, 3)


def stored_bytes(model: Any) -> int:
    """About what `model` takes in an artifact, its preprocessing left out: a LightGBM booster its
    text, exactly as stored; an ensemble the sum of its members; a network its weights as stored;
    anything else its pickle (its arrays, as the artifact's model.npz holds them)."""
    if isinstance(model, EnsembleModel):
        return sum(stored_bytes(member) for member in model.members.values())
    if isinstance(model, LightGBMModel):
        return len(model.booster.model_to_string())
    if hasattr(model, "stored_weight_bytes"):
        return int(model.stored_weight_bytes())
    try:
        return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError):  # a plug-in's model: fp32 weights
        return 4 * int(model.param_count())


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.2f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} KB"


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
    tolerance = float(params.get("drop_tolerance", DROP_TOLERANCE))
    weights, dropped = drop_weak_members(predictions, selection.used, loss, tolerance)
    model = EnsembleModel({key: ctx.models[key] for key in weights}, weights)
    single = {key: loss(p) for key, p in predictions.items()}
    best_single = min(single, key=single.__getitem__)
    objective = _objective(ctx.task)
    notes = [
        f"ensemble selection (Caruana et al., 2004): {rounds} greedy rounds with replacement over the validation "
        f"predictions of {', '.join(pool)}, each round adding the model that lowers the validation {objective} most; "
        "weights = times picked / rounds: " + ", ".join(f"{key} {w:.2f}" for key, w in selection.used.items()),
    ]
    if dropped:
        sizes = {key: stored_bytes(ctx.models[key]) for key in selection.used}
        total = sum(sizes.values())
        for d in dropped:
            change = f"rises {d.loss_rise:.2%}" if d.loss_rise >= 0 else f"falls {-d.loss_rise:.2%}"
            notes.append(
                f"{d.key} (weight {d.weight:.2f}) dropped: without it the validation {objective} {change} (at most "
                f"{tolerance:.1%} allowed), and it is {_size(sizes[d.key])} of the {_size(total)} the selected "
                "members take"
            )
        notes.append("weights after the drops, renormalised: " + ", ".join(f"{k} {w:.2f}" for k, w in weights.items()))
    notes.append(
        f"validation {objective} {loss(weighted_average(predictions, weights)):.4f}, against "
        f"{single[best_single]:.4f} for the best single model ({best_single}); the weights were chosen on this "
        "same split, so its validation figures are optimistic (the test split never took part)"
    )
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
    """A student sized to `size_share` of the teacher's stored model, trained to match the teacher's
    predictions: cross-fitted ones for the training rows, and with `augment` (true, or MUNGE
    settings) also its predictions on synthetic rows. With `labels = "real"`, the same size rule on
    the real labels alone (the student's control)."""
    teacher, why = choose_teacher(params, ctx)
    share = float(params.get("size_share", SIZE_SHARE))
    teacher_bytes = stored_bytes(ctx.models[teacher])
    budget = max(1, int(teacher_bytes * share))
    sized = f"sized to 1/{1 / share:.0f} of the teacher's stored model: {_size(budget)} of {_size(teacher_bytes)}"
    if params.get("labels") == "real":
        model, description = _STUDENTS[params["student"]](params, ctx, _label_targets(ctx), budget)
        model.build_notes = [
            f"a student's size rule, for {why}: {sized}; trained on the real labels only (none of the teacher's "
            "predictions, no synthetic rows)",
            f"the model: {description}",
        ]
        return model
    folds = int(params.get("folds", 2))
    targets, in_sample = cross_fitted_targets(ctx, teacher, folds)
    notes = [
        f"distilled from {why}, on its {folds}-fold cross-fitted predictions for the training rows (not its "
        f"predictions on rows it was trained on); {sized}"
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
    model, description = _STUDENTS[params["student"]](params, student_ctx, targets, budget)
    model.build_notes = [*notes, f"the student: {description}"]
    model.teacher = teacher
    return model


def _label_targets(ctx: TrainContext) -> np.ndarray:
    """The real labels in the teacher's form: one-hot probabilities, or the values."""
    y = ctx.y_train
    return np.eye(ctx.n_classes)[y.astype(int)] if ctx.is_classification else y.astype(np.float64)


def _fit_tree(params: Mapping[str, Any], ctx: TrainContext, targets: np.ndarray, budget: int) -> tuple[Any, str]:
    from sklearn.tree import DecisionTreeRegressor

    depth = int(params.get("max_depth", 6))
    tree = DecisionTreeRegressor(
        max_depth=depth, min_samples_leaf=int(params.get("min_samples_leaf", 5)), random_state=ctx.seed
    )
    tree.fit(ctx.X_train, targets if ctx.is_classification else targets.ravel())
    return SoftTreeModel(tree, ctx.task), (
        f"a regression tree of depth {depth} on the teacher's predictions (a fixed shape: one tree gains little "
        f"from more depth; {_size(stored_bytes(tree))} of its {_size(budget)} budget)"
    )


def _fit_lightgbm(params: Mapping[str, Any], ctx: TrainContext, targets: np.ndarray, budget: int) -> tuple[Any, str]:
    """Boosting on soft labels with LightGBM's own objectives, sized to `budget` bytes of model text.

    Soft labels: each row appears once per class that holds at least `SOFT_LABEL_FLOOR` of its
    probability, labelled with that class and weighted by it, so the weighted log loss is the
    cross-entropy against the teacher's probabilities. Size: for each tree size in `LEAF_LADDER`
    (up to the entry's `num_leaves`), a two-round probe gives the text one round adds, hence the
    rounds that fit; the learning rate is `RATE_TIMES_ROUNDS` / those rounds; training stops early
    on the validation split's real labels; the rounds kept are the most, up to the best, whose text
    fits. Of these, the one with the lowest validation loss (real labels) is the student."""
    import lightgbm

    booster_params: dict[str, Any] = {"seed": ctx.seed, "num_threads": ctx.threads, "verbose": -1}
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
    valid = lightgbm.Dataset(ctx.X_val, ctx.y_val, reference=data)
    loss = selection_loss(ctx.y_val, ctx.task)
    patience = int(params.get("patience", 30))

    def text_bytes(booster: Any, rounds: int) -> int:
        return len(booster.model_to_string(num_iteration=rounds))

    def sized(leaves: int) -> dict[str, Any]:
        probe = lightgbm.train({**booster_params, "num_leaves": leaves, "learning_rate": 0.1}, data, num_boost_round=2)
        per_round = max(1, text_bytes(probe, 2) - text_bytes(probe, 1))
        fits = max(1, (budget - (text_bytes(probe, 1) - per_round)) // per_round)
        rate = float(np.clip(RATE_TIMES_ROUNDS / fits, *RATE_BOUNDS))
        most = min(int(params.get("max_rounds", 1000)), int(fits * 1.5) + 1)
        booster = lightgbm.train(
            {**booster_params, "num_leaves": leaves, "learning_rate": rate},
            data,
            num_boost_round=most,
            valid_sets=[valid],
            callbacks=[lightgbm.early_stopping(patience, verbose=False)],
        )
        best = booster.best_iteration or booster.current_iteration()
        low, high = 1, best  # the most rounds, up to the best on validation, whose text fits
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if text_bytes(booster, mid) <= budget else (low, mid - 1)
        text = booster.model_to_string(num_iteration=low)
        model = LightGBMModel(lightgbm.Booster(model_str=text), ctx.task)
        return dict(
            model=model, leaves=leaves, rate=rate, fits=fits, most=most, best=best, kept=low, text=len(text),
            loss=loss(model.scores(ctx.X_val)),
        )  # fmt: skip

    widest = int(params.get("num_leaves", 31))
    tried = [sized(leaves) for leaves in LEAF_LADDER if leaves <= widest] or [sized(widest)]
    chosen = min(tried, key=lambda t: t["loss"])
    per_round = f" ({ctx.n_classes} trees a round)" if ctx.task == "multiclass" else ""
    shapes = "; ".join(f"{t['leaves']} leaves: {t['kept']} rounds, {t['loss']:.4g}" for t in tried)
    fitted = (
        f"the most that fit {_size(budget)} ({_size(chosen['text'])} of model text)"
        if chosen["text"] <= budget
        else f"one round, {_size(chosen['text'])} of model text: even that is over the {_size(budget)} budget"
    )
    return chosen["model"], (
        f"LightGBM with trees of at most {chosen['leaves']} leaves, learning rate {chosen['rate']:.3f} (10 / the "
        f"{chosen['fits']} rounds that should fit); best on validation after {chosen['best']} of at most "
        f"{chosen['most']} rounds, kept {chosen['kept']}{per_round}: {fitted}; the tree size with the lowest "
        f"validation {_objective(ctx.task)} of {len(tried)} tried ({shapes}); on {how}"
    )


def _fit_mlp(params: Mapping[str, Any], ctx: TrainContext, targets: np.ndarray, budget: int) -> tuple[Any, str]:
    """An MLP with one hidden layer, the widest of 32, 64, ... `max_width` whose fp32 weights fit
    `budget` (at least 32 wide), or the entry's fixed `hidden`."""
    torch = require_torch()
    torch.manual_seed(ctx.seed)
    n_in, n_out = ctx.X_train.shape[1], ctx.n_classes if ctx.is_classification else 1
    hidden = list(params.get("hidden", [32]))
    sizing = ""
    if "max_width" in params:
        width = 32
        while width * 2 <= int(params["max_width"]) and 4 * (n_in * width * 2 + width * 2 * (n_out + 1)) <= budget:
            width *= 2
        hidden = [width]
        sizing = f", the widest of 32 to {int(params['max_width'])} whose fp32 weights fit {_size(budget)}"
    architecture = architecture_for(ctx, hidden, float(params.get("dropout", 0.0)))
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
        f"an MLP {architecture['hidden']}{sizing}; loss = {alpha:g} x KL at temperature {temperature:g} + "
        f"{1 - alpha:g} x hard-label loss"
    )


_STUDENTS = {"tree": _fit_tree, "lightgbm": _fit_lightgbm, "mlp": _fit_mlp}
