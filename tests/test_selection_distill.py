"""Ensemble selection on hand-built predictions, MUNGE augmentation keeping column types and never
seeing a test row, and the weighted ensemble stored without pickle (old, unweighted ones still load)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from advisor import load_candidates, load_dataset, split_dataset
from advisor.candidates import distill
from advisor.candidates.augment import FLAG, NUMBER, ONE_HOT, column_groups, munge
from advisor.candidates.builders import SklearnModel, build_decision_tree, build_linear
from advisor.candidates.compress import EnsembleModel
from advisor.candidates.context import TrainContext
from advisor.candidates.registry import BUILDERS
from advisor.candidates.selection import drop_weak_members, log_loss, select_ensemble, squared_error
from advisor.data.encoder import TabularEncoder
from advisor.deploy.describe import model_card
from advisor.deploy.fast import compile_model
from advisor.deploy.modelfile import ARRAYS, PICKLED, TREE, load_model_files, model_files
from advisor.deploy.predictor import Predictor

from conftest import DATA

# --------------------------------------------------------------------------- ensemble selection


def _probabilities(y: np.ndarray, right: np.ndarray, k: int = 3) -> np.ndarray:
    """Probability `right[i]` on the true class of row i, the rest spread over the others."""
    out = np.repeat(((1 - right) / (k - 1))[:, None], k, axis=1)
    out[np.arange(len(y)), y] = right
    return out


def test_selection_weighs_the_best_model_most_and_leaves_a_useless_one_out():
    y = np.arange(300) % 3
    rng = np.random.default_rng(0)
    predictions = {
        "useless": _probabilities(y, np.full(300, 0.05)),  # confidently wrong
        "good": _probabilities(y, np.clip(rng.normal(0.8, 0.1, 300), 0.4, 0.99)),
        "fair": _probabilities(y, np.clip(rng.normal(0.6, 0.2, 300), 0.2, 0.99)),
    }
    selection = select_ensemble(predictions, log_loss(y), rounds=25)
    assert sum(selection.weights.values()) == pytest.approx(1.0)
    assert selection.weights["useless"] == 0.0
    assert max(selection.weights, key=selection.weights.get) == "good"
    assert selection.picks.count("good") >= 2  # with replacement: picked again and again
    assert list(selection.used) == [k for k in ("good", "fair") if selection.weights[k] > 0]
    assert selection.losses[-1] <= log_loss(y)(predictions["good"]) + 1e-12  # never worse than its first pick


def test_selection_mixes_two_models_that_are_right_on_different_rows():
    y = np.arange(200) % 2
    first_half = np.arange(200) < 100
    a = _probabilities(y, np.where(first_half, 0.95, 0.3), k=2)
    b = _probabilities(y, np.where(first_half, 0.3, 0.95), k=2)
    selection = select_ensemble({"a": a, "b": b}, log_loss(y), rounds=20)
    assert selection.weights["a"] == pytest.approx(0.5, abs=0.1) and selection.weights["b"] > 0.3
    assert selection.losses[-1] < min(log_loss(y)(a), log_loss(y)(b))


def test_selection_on_squared_error_for_regression():
    y = np.linspace(0, 10, 50)
    selection = select_ensemble({"exact": y.copy(), "off": y + 3.0, "mean": np.full(50, y.mean())}, squared_error(y))
    assert selection.weights == {"exact": 1.0, "off": 0.0, "mean": 0.0}


def test_a_member_that_barely_helps_is_dropped_and_the_others_renormalised():
    y = np.arange(400) % 2
    rng = np.random.default_rng(1)
    first_half = np.arange(400) < 200
    good = _probabilities(y, np.where(first_half, 0.95, 0.45), k=2)
    other = _probabilities(y, np.where(first_half, 0.4, 0.9), k=2)  # right where good is unsure
    near_copy = 0.5 * good + 0.5 * other + rng.normal(0, 0.002, good.shape)  # adds next to nothing
    near_copy /= near_copy.sum(axis=1, keepdims=True)
    predictions = {"good": good, "other": other, "copy": near_copy}
    loss = log_loss(y)
    weights = {"good": 0.6, "other": 0.36, "copy": 0.04}
    kept, dropped = drop_weak_members(predictions, weights, loss, tolerance=0.002)
    assert [d.key for d in dropped] == ["copy"] and dropped[0].weight == 0.04
    assert kept == pytest.approx({"good": 0.6 / 0.96, "other": 0.36 / 0.96})
    assert list(kept) == ["good", "other"]  # heaviest first
    reference = loss(0.6 * good + 0.36 * other + 0.04 * near_copy)
    assert loss(kept["good"] * good + kept["other"] * other) <= reference * 1.002
    assert dropped[0].loss_rise == pytest.approx(loss(kept["good"] * good + kept["other"] * other) / reference - 1)


def test_a_member_the_loss_needs_stays_and_the_drops_together_stay_within_the_tolerance():
    y = np.arange(200) % 2
    first_half = np.arange(200) < 100
    a = _probabilities(y, np.where(first_half, 0.95, 0.3), k=2)
    b = _probabilities(y, np.where(first_half, 0.3, 0.95), k=2)
    kept, dropped = drop_weak_members({"a": a, "b": b}, {"a": 0.5, "b": 0.5}, log_loss(y))
    assert dropped == () and kept == {"a": 0.5, "b": 0.5}  # each is right where the other is wrong
    # three members each costing ~0.15% alone: dropping two would cost more than 0.2% together
    base = _probabilities(y, np.full(200, 0.8), k=2)
    tweaks = {f"m{i}": _probabilities(y, np.full(200, 0.8 + d), k=2) for i, d in enumerate((0.0016, 0.0016))}
    predictions = {"base": base, **tweaks}
    weights = {"base": 0.5, "m0": 0.25, "m1": 0.25}
    loss = log_loss(y)
    reference = loss(sum(weights[k] * p for k, p in predictions.items()))
    kept, dropped = drop_weak_members(predictions, weights, loss, tolerance=0.002)
    assert loss(sum(w * predictions[k] for k, w in kept.items())) <= reference * 1.002 + 1e-12
    assert [d.key for d in dropped] == ["m1"] and list(kept) == ["base", "m0"]  # equal weights: the later first
    with pytest.raises(ValueError):
        drop_weak_members(predictions, weights, loss, tolerance=-0.1)


def test_selection_refuses_no_models_or_rounds():
    with pytest.raises(ValueError):
        select_ensemble({}, squared_error(np.zeros(3)))
    with pytest.raises(ValueError):
        select_ensemble({"a": np.zeros(3)}, squared_error(np.zeros(3)), rounds=0)


# --------------------------------------------------------------------------- augmentation


def _table(n: int, seed: int, gaps: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    height = rng.normal(170, 10, n)
    if gaps:
        height[rng.random(n) < 0.2] = np.nan  # an indicator column
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),  # whole numbers
            "height": height,
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": rng.choice(["S", "M", "L", "XL"], n),
        }
    )


ROLES = {"age": "numeric", "height": "numeric", "colour": "categorical", "size": "categorical"}


def test_munge_keeps_column_types_and_never_copies_a_test_row():
    # test rows with a measured height: no two draws of a continuous value are equal, so a synthetic
    # row could only equal one of them by copying it
    train, test = _table(400, 1), _table(100, 2, gaps=False)
    encoder = TabularEncoder(ROLES).fit(train)
    X_train, X_test = encoder.transform(train), encoder.transform(test)
    groups = column_groups(encoder, X_train)
    kinds = {encoder.feature_names_out_[g.columns[0]]: g for g in groups}
    assert kinds["age"].kind == NUMBER and kinds["age"].integer
    assert kinds["height"].kind == NUMBER and not kinds["height"].integer and kinds["height"].indicator is not None
    assert [g.kind for g in groups].count(ONE_HOT) == 2

    synthetic = munge(X_train, groups, size_factor=3, seed=0)
    assert synthetic.shape == (3 * len(X_train), X_train.shape[1]) and synthetic.dtype == np.float32
    for group in groups:
        columns = list(group.columns)
        block = synthetic[:, columns]
        if group.kind == ONE_HOT:
            assert np.isin(block, (0.0, 1.0)).all() and (block.sum(axis=1) == 1).all()
        if group.kind == NUMBER:
            raw = block[:, 0].astype(np.float64) * group.scale + group.mean
            assert raw.min() >= (X_train[:, columns[0]] * group.scale + group.mean).min() - 1e-3
            if group.integer:
                assert np.allclose(raw, np.round(raw), atol=1e-3)
            if group.indicator is not None:
                flags = synthetic[:, group.indicator]
                assert np.isin(flags, (0.0, 1.0)).all()
                imputed = X_train[X_train[:, group.indicator] == 1, columns[0]][0]  # a gap's value: the median
                assert np.allclose(block[flags == 1, 0], imputed)  # a flagged gap keeps its imputed value
    changed = (synthetic[: len(X_train)] != X_train).any(axis=1).mean()
    assert changed > 0.5  # most rows moved (a neighbour often shares the categories)
    # nothing of the test split got in: no synthetic row equals a test row
    test_rows = {row.tobytes() for row in X_test.astype(np.float32)}
    assert not any(row.tobytes() in test_rows for row in synthetic)


def test_munge_guesses_types_without_an_encoder():
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.integers(0, 2, 200), rng.integers(0, 9, 200), rng.normal(size=200)]).astype(np.float32)
    groups = column_groups(None, X)
    assert [g.kind for g in groups] == [FLAG, NUMBER, NUMBER] and groups[1].integer and not groups[2].integer
    synthetic = munge(X, groups, seed=1)
    assert np.isin(synthetic[:, 0], (0, 1)).all() and (synthetic[:, 1] == np.round(synthetic[:, 1])).all()


# --------------------------------------------------------------------------- the builders on a real small set


def _context(seed: int = 0) -> tuple[TrainContext, np.ndarray]:
    dataset = load_dataset(DATA / "penguins.csv", "species")
    split = split_dataset(dataset, seed=seed)
    encoder = TabularEncoder(dataset.roles).fit(split.X_train)
    index = {c: i for i, c in enumerate(dataset.classes)}
    ctx = TrainContext(
        task=dataset.task,
        n_classes=len(dataset.classes),
        class_weighting=dataset.class_weighting,
        seed=seed,
        X_train=encoder.transform(split.X_train),
        y_train=np.array([index[v] for v in split.y_train]),
        X_val=encoder.transform(split.X_val),
        y_val=np.array([index[v] for v in split.y_val]),
        primary_metric=dataset.primary_metric,
        specs={s.key: s for s in load_candidates()},
        encoder=encoder,
    )
    return ctx, encoder.transform(split.X_test)


def test_students_learn_from_augmented_train_rows_only(monkeypatch):
    ctx, X_test = _context()
    registry = load_candidates()
    for key in ("linear", "tree", "lightgbm-fast", "ensemble-selected"):
        spec = registry.get(key)
        ctx.models[key] = BUILDERS[spec.builder](spec.params, replace(ctx, spec=spec))
    teacher = ctx.models["ensemble-selected"]
    assert isinstance(teacher, EnsembleModel) and sum(teacher.member_weights().values()) == pytest.approx(1.0)
    assert any("weights = times picked / rounds" in note for note in teacher.build_notes)

    seen: list[np.ndarray] = []
    original = distill.munge

    def recording(X: np.ndarray, *args, **kwargs) -> np.ndarray:
        seen.append(X)
        return original(X, *args, **kwargs)

    monkeypatch.setattr(distill, "munge", recording)
    spec = registry.get("distill-tree")
    student = BUILDERS[spec.builder](spec.params, replace(ctx, spec=spec))
    assert len(seen) == 1 and seen[0] is ctx.X_train  # the augmentation saw the training rows, nothing else
    test_rows = {row.tobytes() for row in X_test}
    assert not any(row.tobytes() in test_rows for row in seen[0])
    assert student.teacher == "ensemble-selected"
    assert any("synthetic rows (MUNGE" in note for note in student.build_notes)
    probabilities = student.scores(X_test)
    assert probabilities.shape == (len(X_test), ctx.n_classes) and np.allclose(probabilities.sum(axis=1), 1.0)


# --------------------------------------------------------------------------- storage


def _two_model_predictor() -> tuple[Predictor, np.ndarray]:
    ctx, X_test = _context()
    members = {"linear": build_linear({}, ctx), "tree": build_decision_tree({"max_depth": 3}, ctx)}
    assert all(isinstance(m, SklearnModel) for m in members.values())
    model = EnsembleModel(members, {"linear": 0.75, "tree": 0.25})
    predictor = Predictor(ctx.encoder, model, ctx.task, "species", ["a", "b", "c"][: ctx.n_classes], "e", "E")
    return predictor, X_test


def test_weighted_ensemble_round_trips_without_pickle_and_its_fast_path_weighs_the_same():
    predictor, X_test = _two_model_predictor()
    model = predictor.model
    expected = 0.75 * model.members["linear"].scores(X_test) + 0.25 * model.members["tree"].scores(X_test)
    assert np.allclose(model.scores(X_test), expected)
    files = model_files(predictor)
    assert PICKLED not in files and set(files) >= {TREE, ARRAYS}
    loaded = load_model_files(files, "test", trust=False).model
    assert loaded.weights == {"linear": 0.75, "tree": 0.25}
    assert np.allclose(loaded.scores(X_test), expected)
    fast = compile_model(loaded)
    assert fast is not None and np.allclose(fast(X_test[0]), expected[0])
    assert "`linear` 0.75, `tree` 0.25" in model_card(predictor, {})  # the weights are shown where it ships


def test_an_ensemble_stored_before_weights_loads_as_the_equal_average():
    predictor, X_test = _two_model_predictor()
    files = model_files(predictor)
    tree = json.loads(files[TREE])

    def strip(node):  # remove the weights from the ensemble's stored state, as older artifacts lack them
        if isinstance(node, dict):
            if node.get("$object", "").endswith("EnsembleModel"):
                node["state"]["$map"].pop("weights")
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(tree)
    old = load_model_files({**files, TREE: json.dumps(tree).encode()}, "test", trust=False).model
    members = old.members
    assert getattr(old, "weights", None) is None
    assert np.allclose(old.scores(X_test), (members["linear"].scores(X_test) + members["tree"].scores(X_test)) / 2)


def test_the_lightgbm_student_and_its_control_fit_a_twentieth_of_the_teacher_and_say_what_they_kept():
    ctx, X_test = _context()
    registry = load_candidates()
    for key in ("linear", "lightgbm", "ensemble-selected"):
        spec = registry.get(key)
        ctx.models[key] = BUILDERS[spec.builder](spec.params, replace(ctx, spec=spec))
    budget = int(distill.stored_bytes(ctx.models["ensemble-selected"]) * distill.SIZE_SHARE)
    for key in ("distill-lightgbm", "lightgbm-sized"):
        spec = registry.get(key)
        model = BUILDERS[spec.builder](spec.params, replace(ctx, spec=spec))
        assert len(model.booster.model_to_string()) <= budget
        assert any("sized to 1/20 of the teacher's stored model" in note for note in model.build_notes)
        assert any("kept" in note and "the most that fit" in note for note in model.build_notes)
        assert model.scores(X_test).shape == (len(X_test), ctx.n_classes)
    assert "real labels only" in model.build_notes[0]  # the control learns from no teacher


def test_the_stored_size_estimate_is_the_lightgbm_text_and_sums_an_ensemble():
    ctx, _ = _context()
    registry = load_candidates()
    for key in ("lightgbm-fast", "tree"):
        spec = registry.get(key)
        ctx.models[key] = BUILDERS[spec.builder](spec.params, replace(ctx, spec=spec))
    booster_text = len(ctx.models["lightgbm-fast"].booster.model_to_string())
    assert distill.stored_bytes(ctx.models["lightgbm-fast"]) == booster_text
    both = EnsembleModel(dict(ctx.models), {"lightgbm-fast": 0.5, "tree": 0.5})
    assert distill.stored_bytes(both) == booster_text + distill.stored_bytes(ctx.models["tree"])
