"""One contract for every catalog entry: train on a tiny real set, predict, save, load, predict the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor import load_candidates, load_dataset, load_predictor, split_dataset
from advisor._encoder import TabularEncoder
from advisor._models import BUILDERS, TrainContext
from advisor._predictor import Predictor

from conftest import DATA

SETS = {"classification": ("penguins.csv", "species"), "regression": ("diabetes.csv", "target")}


def _context(dataset, split, encoder):
    def encode_y(y):
        if dataset.is_classification:
            index = {c: i for i, c in enumerate(dataset.classes)}
            return np.array([index[v] for v in y])
        return y.to_numpy(dtype=float)

    return TrainContext(
        task=dataset.task,
        n_classes=len(dataset.classes or []),
        class_weighting=dataset.class_weighting,
        seed=0,
        X_train=encoder.transform(split.X_train),
        y_train=encode_y(split.y_train),
        X_val=encoder.transform(split.X_val),
        y_val=encode_y(split.y_val),
    )


@pytest.mark.parametrize("kind", sorted(SETS))
@pytest.mark.parametrize("spec", list(load_candidates()), ids=lambda s: s.key)
def test_every_candidate_trains_predicts_saves_and_loads(spec, kind, tmp_path: Path):
    if spec.missing_requirements():
        pytest.skip(f"needs {spec.missing_requirements()}")
    file, target = SETS[kind]
    dataset = load_dataset(DATA / file, target)
    split = split_dataset(dataset)
    encoder = TabularEncoder(dataset.roles).fit(split.X_train)
    model = BUILDERS[spec.builder](spec.params, _context(dataset, split, encoder))
    predictor = Predictor(encoder, model, dataset.task, target, dataset.classes, spec.key, spec.name)

    before = predictor.predict(split.X_test)
    assert len(before) == len(split.X_test)
    if dataset.is_classification:
        assert set(before) <= set(dataset.classes)
        proba = predictor.predict_proba(split.X_test)
        assert proba.shape == (len(split.X_test), len(dataset.classes))
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    else:
        assert np.isfinite(before.astype(float)).all()
    assert predictor.param_count() >= 1

    path = predictor.save(tmp_path / f"{spec.key}.joblib")
    loaded = load_predictor(path)
    after = loaded.predict(split.X_test)
    if dataset.is_classification:
        assert list(after) == list(before)
    else:
        assert np.allclose(after.astype(float), before.astype(float), rtol=1e-6)
    one = split.X_test.iloc[0].to_dict()  # a single JSON-like record gives the same answer
    assert loaded.predict(one)[0] == after[0] or np.isclose(loaded.predict(one)[0], after[0])
    loaded.set_threads(1)
