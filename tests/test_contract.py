"""One contract for every catalog entry: train on a tiny real set, predict, save, load, predict the same.

Entries derived from others (compressed variants, the ensemble and its students) are built
on top of the entries they need, in catalog order, as a run builds them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor import load_artifact, load_candidates, load_dataset, split_dataset
from advisor.candidates.context import TrainContext
from advisor.candidates.registry import BUILDERS
from advisor.data.encoder import TabularEncoder
from advisor.deploy.artifact import write_artifact
from advisor.deploy.modelfile import model_files
from advisor.deploy.predictor import Predictor

from conftest import DATA

SETS = {"classification": ("penguins.csv", "species"), "regression": ("diabetes.csv", "target")}
REGISTRY = load_candidates()


class Built:
    def __init__(self, kind: str) -> None:
        file, target = SETS[kind]
        self.dataset = load_dataset(DATA / file, target)
        self.split = split_dataset(self.dataset)
        self.encoder = TabularEncoder(self.dataset.roles).fit(self.split.X_train)
        self.models: dict = {}
        self.cache: dict = {}

    def context(self, spec) -> TrainContext:
        dataset, split, encoder = self.dataset, self.split, self.encoder

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
            primary_metric=dataset.primary_metric,
            models=self.models,
            specs={s.key: s for s in REGISTRY},
            spec=spec,
            cache=self.cache,
        )

    def model(self, key: str):
        if key not in self.models:
            spec = REGISTRY.get(key)
            for needed in spec.depends_on:
                self.model(needed)
            self.models[key] = BUILDERS[spec.builder](spec.params, self.context(spec))
        return self.models[key]


@pytest.fixture(scope="module")
def built() -> dict[str, Built]:
    return {kind: Built(kind) for kind in SETS}


@pytest.mark.parametrize("kind", sorted(SETS))
@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda s: s.key)
def test_every_candidate_trains_predicts_saves_and_loads(spec, kind, built, tmp_path: Path):
    if spec.missing_requirements():
        pytest.skip(f"needs {spec.missing_requirements()}")
    b = built[kind]
    dataset, split = b.dataset, b.split
    model = b.model(spec.key)
    predictor = Predictor(b.encoder, model, dataset.task, dataset.target, dataset.classes, spec.key, spec.name)

    before = predictor.predict(split.X_test)
    assert len(before) == len(split.X_test)
    if dataset.is_classification:
        assert set(before) <= set(dataset.classes)
        proba = predictor.predict_proba(split.X_test)
        assert proba.shape == (len(split.X_test), len(dataset.classes))
        assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)
    else:
        assert np.isfinite(before.astype(float)).all()
    assert predictor.param_count() >= 1

    files = model_files(predictor)
    assert "model.pickle" not in files and set(files) >= {"model.json", "model.npz"}  # stored without pickle
    path = write_artifact(tmp_path / f"{spec.key}.zip", files, predictor, {})
    loaded = load_artifact(path).predictor  # trust not given: nothing is unpickled
    after = loaded.predict(split.X_test)
    if dataset.is_classification:
        assert list(after) == list(before)
    else:
        assert np.allclose(after.astype(float), before.astype(float), rtol=1e-5)
    # the fast single-row path is checked against the batch path and then answers single records the same
    # way as that row alone in a DataFrame (not always as inside a batch: int8 dynamic quantisation scales
    # activations per call)
    check = loaded.verify_fast_path(split.X_test.head(20))
    assert check["enabled"], check
    for i in range(10):
        one = loaded.predict(split.X_test.iloc[i].to_dict())[0]
        alone = loaded.predict(split.X_test.iloc[[i]])[0]
        assert one == alone or np.isclose(one, alone, rtol=1e-6)
    loaded.set_threads(1)
