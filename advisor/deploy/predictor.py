"""The predictor: what a user deploys and what the advisor times.

Raw rows in (a DataFrame with the user's columns, one dict, or a list of dicts),
predictions out, preprocessing included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from advisor.candidates.context import FittedModel
from advisor.data.encoder import TabularEncoder
from advisor.errors import AdvisorError, InputSchemaError
from advisor.measure.figures import predicted_classes


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
        # The fast single-row path (see `_fast`) is used only once checked against the batch path.
        self.fast_single_row = False
        self.fast_path_check: dict[str, Any] | None = None
        # Binary only: predict classes[1] when its probability is at least this (chosen on the
        # validation split, see `_threshold`); None predicts the most probable class.
        self.threshold: float | None = None
        self.threshold_method: str | None = None

    @property
    def input_columns(self) -> list[str]:
        return list(self.encoder.columns_)

    @property
    def runtime(self) -> str:
        return self.model.runtime

    def scores(self, rows: Any, check_types: bool = False) -> np.ndarray:
        """Probabilities (n, classes) or values (n,): one dict takes the fast path once verified.
        With `check_types`, text in a numeric column of that dict is refused rather than imputed."""
        if getattr(self, "fast_single_row", False) and isinstance(rows, Mapping):
            return self._record_scores(rows, check_types)
        return self.model.scores(self.encoder.transform(rows))

    def predict_proba(self, rows: Any) -> np.ndarray:
        """Class probabilities, columns in the order of `classes`."""
        if self.task == "regression":
            raise AdvisorError("predict_proba is for classification; this predictor does regression, use predict.")
        return self.scores(rows)

    @property
    def decision_threshold(self) -> float | None:
        """The threshold `predict` applies (binary only; artifacts saved before it existed have none)."""
        return getattr(self, "threshold", None) if self.task == "binary" else None

    def predict(self, rows: Any, check_types: bool = False) -> np.ndarray:
        """Predicted labels (classification) or values (regression), one per row; a binary
        predictor with a decision threshold predicts classes[1] when its probability reaches it."""
        scores = self.scores(rows, check_types)
        if self.task == "regression":
            return scores
        assert self.classes is not None
        threshold = self.decision_threshold
        if len(scores) == 1:  # one row: skip numpy's fancy indexing of an object array (~10 us)
            row = scores[0]
            out = np.empty(1, dtype=object)
            out[0] = self.classes[int(row[1] >= threshold) if threshold is not None else int(row.argmax())]
            return out
        return self.classes[predicted_classes(scores, threshold)]

    def _compiled(self) -> tuple[Any, Any]:
        compiled = self.__dict__.get("_compiled_paths")
        if compiled is None:
            from advisor.deploy.fast import FastEncoder, compile_model

            scorer = compile_model(self.model)
            verified = (getattr(self, "fast_path_check", None) or {}).get("model")
            if scorer is not None and verified is not None and verified != getattr(scorer, "arithmetic", "numpy"):
                scorer = None  # checked with another form (saved before this one existed): keep that one
            compiled = self.__dict__["_compiled_paths"] = (FastEncoder(self.encoder), scorer)
        return compiled

    def _record_scores(self, record: Mapping[str, Any], check_types: bool = False) -> np.ndarray:
        encode, scorer = self._compiled()
        try:
            x, bad = encode(record)
        except KeyError:
            self.encoder.transform(record)  # raises the one-sentence schema error for the missing column
            raise
        if check_types and bad is not None:
            raise InputSchemaError(not_a_number(bad, record[bad], ""))
        if scorer is None:
            return self.model.scores(x[None, :])
        out = scorer(x)
        return out[:1].astype(np.float64) if self.task == "regression" else out[None, :].astype(np.float64)

    def verify_fast_path(self, rows: Any, tolerance: float = 1e-6) -> dict[str, Any]:
        """Turn on the fast single-row path if, on these rows (a DataFrame), it gives what the
        batch path gives for each row alone: same labels, scores within `tolerance` (relative to
        the score scale for regression)."""
        self.__dict__.pop("_compiled_paths", None)  # check the fast form compiled now, not one checked before
        self.fast_path_check = None
        encoded = self.encoder.transform(rows)
        reference = [self.model.scores(encoded[i : i + 1]) for i in range(len(encoded))]
        records = rows.to_dict(orient="records")
        check: dict[str, Any] = {
            "rows_checked": len(records),
            "tolerance": tolerance,
            "encoder": "plain Python on the record",
        }
        try:
            singles = [self._record_scores(r) for r in records]
            joined = np.concatenate if self.task == "regression" else np.vstack
            fast, batch = joined(singles), joined(reference)
            scale = max(1.0, float(np.abs(batch).max())) if self.task == "regression" else 1.0
            difference = float(np.abs(fast - batch).max()) / scale
            threshold = self.decision_threshold
            same_labels = self.task == "regression" or bool(
                (predicted_classes(fast, threshold) == predicted_classes(batch, threshold)).all()
            )
            check.update(
                max_relative_difference=difference,
                same_labels=same_labels,
                enabled=difference <= tolerance and same_labels,
            )
        except Exception as exc:  # a fast form that cannot score is simply not used
            check.update(enabled=False, error=f"{type(exc).__name__}: {exc}")
        compiled = self.__dict__.get("_compiled_paths")  # absent when compiling failed (then disabled above)
        scorer = None if compiled is None else compiled[1]
        check["model"] = (
            getattr(scorer, "arithmetic", "numpy") if scorer is not None else f"{self.model.runtime} on one encoded row"
        )
        self.fast_single_row = bool(check["enabled"])
        self.fast_path_check = check
        return check

    def set_threads(self, threads: int) -> None:
        self.model.set_threads(threads)

    def param_count(self) -> int:
        return self.model.param_count()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_compiled_paths"}  # rebuilt on first use


def not_a_number(name: str, value: Any, where: str) -> str:
    """The sentence for text where a column needs a number (`where`: e.g. " in row 3")."""
    return (
        f"Column '{name}' has {str(value)[:40]!r}{where}, which is not a number; send a number or leave it "
        "empty (it is then treated as missing)."
    )
