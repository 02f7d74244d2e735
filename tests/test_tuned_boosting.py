"""The tuned LightGBM: its search keeps to its trials and its time, early stopping picks the rounds,
the refit learns from exactly the training + validation rows, what is chosen on validation reads the
model from before the refit, and the artifact holds no pickle."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from advisor import load_artifact, load_candidates, load_dataset, split_dataset
from advisor.candidates.context import TrainContext, held_out_key
from advisor.candidates.tuned import build_lightgbm_tuned, search_seconds
from advisor.data.encoder import TabularEncoder
from advisor.deploy.artifact import write_artifact
from advisor.deploy.modelfile import model_files
from advisor.deploy.predictor import Predictor
from advisor.pipeline.settings import user_options

from conftest import DATA

pytest.importorskip("optuna")
pytest.importorskip("lightgbm")

SPEC = load_candidates().get("lightgbm-tuned")
CHEAP = {**SPEC.params, "trials": 2, "max_rounds": 60, "early_stopping_rounds": 5, "learning_rate": 0.3}


class Titanic:
    """891 rows, binary: the split's encoded rows, as a run hands them to a builder."""

    def __init__(self) -> None:
        self.dataset = load_dataset(DATA / "titanic.csv", "Survived")
        self.split = split_dataset(self.dataset)
        self.encoder = TabularEncoder(self.dataset.roles).fit(self.split.X_train)
        index = {c: i for i, c in enumerate(self.dataset.classes)}
        self.y = {name: np.array([index[v] for v in getattr(self.split, f"y_{name}")]) for name in ("train", "val")}
        self.X = {name: self.encoder.transform(getattr(self.split, f"X_{name}")) for name in ("train", "val", "test")}

    def context(self, **changes) -> TrainContext:
        values = dict(
            task=self.dataset.task,
            n_classes=len(self.dataset.classes),
            class_weighting=self.dataset.class_weighting,
            seed=0,
            primary_metric=self.dataset.primary_metric,
            X_train=self.X["train"],
            y_train=self.y["train"],
            X_val=self.X["val"],
            y_val=self.y["val"],
            spec=SPEC,
            cache={},
        )
        return TrainContext(**(values | changes))


@pytest.fixture(scope="module")
def titanic() -> Titanic:
    return Titanic()


def test_the_search_stops_at_its_trial_count(titanic):
    model = build_lightgbm_tuned({**CHEAP, "trials": 3, "search_s": 60.0}, titanic.context())
    assert model.tuning["trials"] == 3 and model.tuning["trial_limit"] == 3
    assert model.tuning["search_limit_s"] == 60.0
    assert set(model.tuning["best_params"]) == {"num_leaves", "min_child_samples", "feature_fraction", "lambda_l2"}
    # a validation split too small to tell many configurations apart: fewer trials (one per 50 rows, at least 2)
    few = titanic.context(X_val=titanic.X["val"][:60], y_val=titanic.y["val"][:60])
    assert build_lightgbm_tuned({**CHEAP, "trials": 8, "search_s": 60.0}, few).tuning["trials"] == 2


def test_the_search_takes_its_share_of_the_run_budget(titanic):
    assert search_seconds(SPEC.params, {}) == SPEC.params["search_s"]  # no budget: the fixed time
    assert search_seconds(SPEC.params, {"budget_s": 200.0}) == pytest.approx(SPEC.params["budget_share"] * 200.0)
    assert user_options(None, None, 200.0) == {"budget_s": 200.0}  # how the run's budget reaches the builders
    # a share too small for even one whole trial: the first trial is cut at the deadline and is the answer
    params = {**CHEAP, "trials": 5, "max_rounds": 5000, "early_stopping_rounds": 5000, "budget_share": 0.001}
    model = build_lightgbm_tuned(params, titanic.context(options={"budget_s": 10.0}))
    assert model.tuning["search_limit_s"] == pytest.approx(0.01)
    assert model.tuning["trials"] == 1
    assert 1 <= model.tuning["best_rounds"] < 5000
    assert model.tuning["search_s"] < 2.0


def test_a_stopped_run_ends_the_search_after_one_round(titanic):
    params = {**CHEAP, "trials": 5, "max_rounds": 5000, "early_stopping_rounds": 5000, "search_s": 60.0}
    model = build_lightgbm_tuned(params, titanic.context(should_stop=lambda: True))
    assert model.tuning["trials"] == 1 and model.tuning["best_rounds"] == 1


def test_early_stopping_picks_the_rounds(titanic):
    params = {**CHEAP, "trials": 1, "max_rounds": 2000, "early_stopping_rounds": 5, "refit": False}
    model = build_lightgbm_tuned(params, titanic.context())
    rounds = model.tuning["best_rounds"]
    assert 1 <= rounds < 2000  # a learning rate of 0.3 on 534 rows stops long before the cap
    assert model.booster.current_iteration() == rounds  # the stored model is cut at the chosen round
    assert "refit_rounds" not in model.tuning


def test_the_refit_learns_from_exactly_the_training_and_validation_rows(titanic, monkeypatch):
    import lightgbm

    seen: list[tuple[np.ndarray, int]] = []
    train = lightgbm.train

    def recording_train(params, train_set, num_boost_round=100, **kw):
        seen.append((np.asarray(train_set.data), num_boost_round))
        return train(params, train_set, num_boost_round=num_boost_round, **kw)

    monkeypatch.setattr(lightgbm, "train", recording_train)
    ctx = titanic.context()
    model = build_lightgbm_tuned(CHEAP, ctx)
    assert len(seen) == CHEAP["trials"] + 1
    for rows, _ in seen[:-1]:  # the search learns from the training rows only
        assert np.array_equal(rows, titanic.X["train"])
    refit_rows, refit_rounds = seen[-1]
    # row for row the training then the validation split: none of the test split's rows
    assert np.array_equal(refit_rows, np.concatenate([titanic.X["train"], titanic.X["val"]]))
    n_train, n_val = len(titanic.y["train"]), len(titanic.y["val"])
    assert model.tuning["refit_rows"] == n_train + n_val
    best = model.tuning["best_rounds"]
    assert refit_rounds == model.tuning["refit_rounds"] == math.ceil(best * math.sqrt((n_train + n_val) / n_train))
    assert model.booster.current_iteration() == refit_rounds
    assert any("refitted on the training + validation rows" in note for note in model.build_notes)


def test_validation_choices_read_the_model_from_before_the_refit(titanic):
    ctx = titanic.context()
    model = build_lightgbm_tuned(CHEAP, ctx)
    held_out = ctx.cache[held_out_key(SPEC.key)]
    assert held_out.shape == (len(titanic.y["val"]), 2)
    assert np.array_equal(ctx.validation_scores(model, SPEC.key), held_out)
    assert not np.allclose(model.scores(titanic.X["val"]), held_out)  # the refitted model has seen these rows
    assert np.array_equal(ctx.validation_scores(model), model.scores(titanic.X["val"]))  # no key: its own


def test_it_saves_and_loads_without_pickle(titanic, tmp_path: Path):
    model = build_lightgbm_tuned(CHEAP, titanic.context())
    dataset = titanic.dataset
    predictor = Predictor(titanic.encoder, model, dataset.task, dataset.target, dataset.classes, SPEC.key, SPEC.name)
    files = model_files(predictor)
    assert "model.pickle" not in files and any(name.startswith("lightgbm-") for name in files)
    path = write_artifact(tmp_path / "tuned.zip", files, predictor, {})
    loaded = load_artifact(path).predictor  # not trusted: nothing may be unpickled
    X_test = titanic.split.X_test
    assert np.allclose(loaded.predict_proba(X_test), predictor.predict_proba(X_test))
    assert loaded.model.tuning == model.tuning  # what was searched travels with the model


def test_a_missing_optuna_is_named_before_training(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else find_spec(name, *a))
    assert SPEC.requires == ("lightgbm", "optuna")
    assert SPEC.missing_requirements() == ["optuna"]
