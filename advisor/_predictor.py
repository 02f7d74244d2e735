"""The predictor: what a user deploys and what the advisor times.

Raw rows in (a DataFrame with the user's columns, one dict, or a list of dicts),
predictions out, preprocessing included.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from advisor._encoder import TabularEncoder
from advisor._errors import AdvisorError
from advisor._models import FittedModel

ARTIFACT_VERSION = 1


class Predictor:
    """A candidate as deployed: the fitted encoder plus the fitted model."""

    def __init__(
        self,
        encoder: TabularEncoder,
        model: FittedModel,
        task: str,
        target: str,
        classes: list[Any] | None,
        key: str,
        name: str,
    ) -> None:
        self.encoder = encoder
        self.model = model
        self.task = task
        self.target = target
        self.classes = None if classes is None else np.asarray(classes, dtype=object)
        self.key = key
        self.name = name
        self.artifact_version = ARTIFACT_VERSION

    @property
    def input_columns(self) -> list[str]:
        return list(self.encoder.columns_)

    @property
    def runtime(self) -> str:
        return self.model.runtime

    def predict_proba(self, rows: Any) -> np.ndarray:
        """Class probabilities, columns in the order of `classes`."""
        if self.task == "regression":
            raise AdvisorError("predict_proba is for classification; this predictor does regression, use predict.")
        return self.model.scores(self.encoder.transform(rows))

    def predict(self, rows: Any) -> np.ndarray:
        """Predicted labels (classification) or values (regression), one per row."""
        scores = self.model.scores(self.encoder.transform(rows))
        if self.task == "regression":
            return scores
        assert self.classes is not None
        return self.classes[np.argmax(scores, axis=1)]

    def set_threads(self, threads: int) -> None:
        self.model.set_threads(threads)

    def param_count(self) -> int:
        return self.model.param_count()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.saved_with = {"python": platform.python_version(), "numpy": np.__version__}
        joblib.dump(self, path, compress=0)
        return path


def load_predictor(path: str | Path) -> Predictor:
    """Load a predictor saved by the advisor (a joblib file: only load files you trust)."""
    path = Path(path)
    if not path.is_file():
        raise AdvisorError(f"Artifact '{path}' does not exist; check the path or re-run the advisor.")
    predictor = joblib.load(path)
    if not isinstance(predictor, Predictor):
        raise AdvisorError(f"'{path}' is not an advisor predictor; export one from a run.")
    return predictor
