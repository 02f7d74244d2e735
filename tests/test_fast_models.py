"""The fast single-row path for the models with a native or an emulated fast form.

LightGBM answers one row through its C single-row predict (`deploy/native`), fp16, bf16 and
int8 networks through torch's arithmetic redone in numpy (`deploy/precision`), and the
ensemble through its members' fast forms. Each is turned on by `verify_fast_path` only where
it matches the batch path, still answers one dict after the artifact round trip, and a fast
form that does not match is refused.
"""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from advisor import load_artifact, load_dataset, split_dataset
from advisor.candidates.builders import build_lightgbm
from advisor.candidates.context import TrainContext
from advisor.candidates.networks import TorchModel, train_mlp
from advisor.candidates.registry import BUILDERS
from advisor.data.encoder import TabularEncoder
from advisor.deploy.artifact import write_artifact
from advisor.deploy.modelfile import model_files
from advisor.deploy.predictor import Predictor

from conftest import DATA

pytest.importorskip("lightgbm")
pytest.importorskip("torch")

SETS = {
    "binary": ("titanic.csv", "Survived"),
    "multiclass": ("penguins.csv", "species"),
    "regression": ("diabetes.csv", "target"),
}
CODECS = ("fp32", "fp16", "bf16", "int8")
CHECK_ROWS = 50  # as many as a run checks (execute.worker.FAST_PATH_CHECK_ROWS)


class Setup:
    """One small data set, encoded, with a LightGBM model and a small network trained once."""

    def __init__(self, kind: str) -> None:
        file, target = SETS[kind]
        self.dataset = load_dataset(DATA / file, target)
        self.split = split_dataset(self.dataset)
        self.encoder = TabularEncoder(self.dataset.roles).fit(self.split.X_train)
        self.context = TrainContext(
            task=self.dataset.task,
            n_classes=len(self.dataset.classes or []),
            class_weighting=False,
            seed=0,
            X_train=self.encoder.transform(self.split.X_train),
            y_train=self._target(self.split.y_train),
            X_val=self.encoder.transform(self.split.X_val),
            y_val=self._target(self.split.y_val),
        )
        self.lightgbm = build_lightgbm({"n_estimators": 20, "num_leaves": 7}, self.context)
        self.network = train_mlp(self.context, hidden=(32, 16), epochs=3)

    def _target(self, y):
        if self.dataset.is_classification:
            index = {c: i for i, c in enumerate(self.dataset.classes)}
            return np.array([index[v] for v in y])
        return y.to_numpy(dtype=float)

    def predictor(self, model, key: str) -> Predictor:
        d = self.dataset
        return Predictor(self.encoder, model, d.task, d.target, d.classes, key, key)

    def network_in(self, codec: str) -> TorchModel:
        n = self.network
        return TorchModel(n.float_network(), n.architecture, n.task, n.y_mean, n.y_std, codec=codec)

    @property
    def rows(self):
        return self.split.X_test.head(CHECK_ROWS)


@pytest.fixture(scope="module")
def setups() -> dict[str, Setup]:
    return {kind: Setup(kind) for kind in SETS}


def _alone(predictor: Predictor, rows) -> np.ndarray:
    """The batch path's scores for each row in a DataFrame of its own (int8 quantises its
    activations per call, so a row inside a larger batch may score differently)."""
    return np.concatenate([predictor.scores(rows.iloc[[i]]) for i in range(len(rows))])


def _single_records_match_the_batch_path(predictor: Predictor, rows, tolerance: float) -> None:
    rows = rows.head(10)
    batch = _alone(predictor, rows)
    scale = max(1.0, float(np.abs(batch).max())) if predictor.task == "regression" else 1.0
    for i, record in enumerate(rows.to_dict(orient="records")):
        assert np.allclose(predictor.scores(record)[0], batch[i], rtol=0, atol=tolerance * scale)


def _refuse_the_runtime(predictor: Predictor) -> None:
    """After this, an answer can only come from the compiled fast form."""

    def runtime(X):
        raise AssertionError("the model's own runtime was called for one record")

    predictor.model.scores = runtime


@pytest.mark.parametrize("kind", sorted(SETS))
def test_lightgbm_answers_one_row_through_its_c_single_row_predict_exactly(kind, setups):
    s = setups[kind]
    predictor = s.predictor(s.lightgbm, "lightgbm")
    check = predictor.verify_fast_path(s.rows)
    assert check["enabled"], check
    assert check["max_relative_difference"] == 0.0  # the same double arithmetic as Booster.predict
    assert "C single-row predict" in check["model"]
    _single_records_match_the_batch_path(predictor, s.rows, 0.0)
    predictor.set_threads(2)  # the batch path's threads; one row still runs on the calling thread
    assert predictor.verify_fast_path(s.rows)["max_relative_difference"] == 0.0
    predictor.set_threads(1)


@pytest.mark.parametrize("kind", sorted(SETS))
def test_the_c_scorer_keeps_alive_the_counter_it_passes_by_address(kind, setups):
    # LightGBM writes the output length through a pointer on every call: had the scorer kept only the
    # address, the counter would be freed when compile_lightgbm returned and each call would write 8
    # bytes into freed memory (seen: a stored fast-path label garbled, so the slow path came back).
    import ctypes
    import gc

    from advisor.deploy.native import compile_lightgbm

    s = setups[kind]
    scorer = compile_lightgbm(s.lightgbm)
    assert scorer is not None
    kept = [v for v in (getattr(scorer, "__defaults__", None) or ()) if isinstance(v, ctypes.c_int64)]
    assert len(kept) == 1
    gc.collect()
    row = s.encoder.transform(s.rows.head(1))[0]
    first = scorer(row)
    garbage = [bytearray(8) for _ in range(10_000)]  # reuse freed memory, as the process would
    assert np.array_equal(scorer(row), first) and len(garbage) == 10_000


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("kind", sorted(SETS))
def test_networks_answer_one_row_in_their_own_arithmetic(kind, codec, setups):
    s = setups[kind]
    predictor = s.predictor(s.network_in(codec), f"mlp-{codec}")
    check = predictor.verify_fast_path(s.rows)
    assert check["enabled"], check
    assert check["tolerance"] == 1e-6 and check["max_relative_difference"] <= 1e-6
    assert check["model"].startswith("numpy") and (
        codec == "fp32" or f"torch's {codec}" in check["model"].replace("dynamic ", "")
    )
    _single_records_match_the_batch_path(predictor, s.rows, 1e-6)


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_the_ensemble_answers_one_row_through_its_members_fast_forms(kind, setups):
    s = setups[kind]
    context = replace(s.context, models={"lightgbm": s.lightgbm, "mlp": s.network_in("bf16")})
    ensemble = BUILDERS["ensemble"]({"members": ["lightgbm", "mlp"]}, context)
    predictor = s.predictor(ensemble, "ensemble")
    check = predictor.verify_fast_path(s.rows)
    assert check["enabled"], check
    assert "C single-row predict" in check["model"] and "bf16" in check["model"]
    _single_records_match_the_batch_path(predictor, s.rows, 1e-6)


@pytest.mark.parametrize("which", ["lightgbm", "bf16", "int8", "ensemble"])
def test_the_fast_path_survives_the_artifact_and_pickling(which, setups, tmp_path: Path):
    s = setups["binary"]
    if which == "lightgbm":
        model = s.lightgbm
    elif which == "ensemble":
        context = replace(s.context, models={"lightgbm": s.lightgbm, "mlp": s.network_in("fp16")})
        model = BUILDERS["ensemble"]({"members": ["lightgbm", "mlp"]}, context)
    else:
        model = s.network_in(which)
    predictor = s.predictor(model, which)
    assert predictor.verify_fast_path(s.rows)["enabled"]
    expected = _alone(predictor, s.rows.head(5))
    records = s.rows.head(5).to_dict(orient="records")

    path = write_artifact(tmp_path / f"{which}.zip", model_files(predictor), predictor, {})
    loaded = load_artifact(path)  # the compiled form is not stored: it is built again on first use
    assert loaded.predictor.fast_single_row
    copied = pickle.loads(pickle.dumps(predictor))
    assert "_compiled_paths" not in copied.__dict__
    for answering in (loaded, copied):
        target = answering.predictor if answering is loaded else answering
        _refuse_the_runtime(target)
        for i, record in enumerate(records):
            assert np.allclose(answering.predict_proba(record)[0], expected[i], rtol=0, atol=1e-6)


def test_a_lightgbm_fast_form_that_does_not_match_is_refused(setups, monkeypatch):
    import advisor.deploy.native as native

    s = setups["binary"]
    monkeypatch.setattr(native, "_PREDICT_NORMAL", 1)  # raw margins where probabilities are due
    predictor = s.predictor(s.lightgbm, "lightgbm")
    check = predictor.verify_fast_path(s.rows)
    assert not check["enabled"] and not predictor.fast_single_row
    assert check["max_relative_difference"] > 1e-3
    record = s.rows.head(1).to_dict(orient="records")[0]
    assert np.array_equal(predictor.scores(record), predictor.scores(s.rows.head(1)))  # the batch path answers


@pytest.mark.parametrize("codec", ["fp16", "bf16"])
def test_low_precision_weights_computed_in_float32_are_refused(codec, setups, monkeypatch):
    """Decoding fp16/bf16 weights and computing in float32 is another model: the check says so."""
    import advisor.deploy.precision as precision

    s = setups["multiclass"]
    keep = lambda values: np.asarray(values, dtype=np.float32)  # noqa: E731 - no rounding at all
    monkeypatch.setattr(precision, "_bf16_in_place", keep)
    monkeypatch.setattr(precision, "round_fp16", keep)
    predictor = s.predictor(s.network_in(codec), f"mlp-{codec}")
    check = predictor.verify_fast_path(s.rows)
    assert not check["enabled"] and check["max_relative_difference"] > 1e-6, check


def test_an_artifact_checked_with_another_fast_form_keeps_it_until_checked_again():
    """An artifact saved when LightGBM's single rows went through Booster.predict was checked
    that way: it keeps that form until `verify_fast_path` checks the C single-row predict."""
    import pandas as pd

    loaded = load_artifact(DATA.parent / "tests" / "data" / "format2-lightgbm-fast.zip")
    predictor = loaded.predictor
    assert predictor.fast_single_row and predictor.fast_path_check["model"] == "lightgbm on one encoded row"
    rows = pd.read_csv(DATA / "penguins.csv").drop(columns="species").head(30)
    record = rows.head(1).to_dict(orient="records")[0]
    before = loaded.predict_proba(record)
    assert predictor._compiled()[1] is None  # the runtime answers, as when it was checked
    check = predictor.verify_fast_path(rows)
    assert check["enabled"] and "C single-row predict" in check["model"], check
    assert predictor._compiled()[1] is not None
    assert np.array_equal(loaded.predict_proba(record), before)
