"""One candidate, trained and checked away from the run: what an isolated child (or a cluster
worker) executes.

`train_candidate` takes everything it needs in a `CandidateTask` (the encoded splits, or the
path of a file holding them, and the predictor bytes of the candidates it derives from) and
returns plain data: figures and the predictor's bytes. It never touches the run store, so the
same function runs in a local child process or on another machine.
"""

from __future__ import annotations

import hashlib
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from advisor.candidates.catalog import CandidateSpec
from advisor.candidates.compress import teacher_agreement
from advisor.candidates.context import SplitData, TrainContext
from advisor.candidates.registry import resolve_builder
from advisor.candidates.threshold import choose_threshold
from advisor.data.encoder import TabularEncoder
from advisor.deploy.modelfile import load_model_files, model_files
from advisor.deploy.predictor import Predictor
from advisor.measure.figures import QualityMeasurement, SizeMeasurement, measure_quality, measure_size

FAST_PATH_CHECK_ROWS = 50


@dataclass(kw_only=True)
class RunContext(SplitData):
    """What every candidate of a run trains and is scored on (the same for all of them): the
    encoded splits (`SplitData`), the test rows, the encoder and the target."""

    target: str
    classes: list[Any] | None
    encoder: TabularEncoder
    X_test: np.ndarray
    y_test: np.ndarray
    check_rows: pd.DataFrame  # raw test rows for the fast-path check


@dataclass
class CandidateTask:
    spec: CandidateSpec
    specs: dict[str, CandidateSpec]
    context: RunContext | str  # the context, or the path of a joblib file holding it
    dependencies: dict[str, dict[str, bytes]] = field(default_factory=dict)  # model files of what it derives from
    device: str = "cpu"
    threads: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None


@dataclass
class CandidateOutput:
    model_files: dict[str, bytes]  # the predictor stored without pickle (`_modelfile`)
    quality: QualityMeasurement
    size: SizeMeasurement
    train_s: float
    runtime: str
    train_device: str
    notes: list[str]
    sweep_choice: str | None
    worker: dict[str, Any]


class DiskCache:
    """The builders' shared cache (`TrainContext.cache`) kept in files, so candidates trained in
    separate processes still share work such as a teacher's cross-fitted predictions."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: Any) -> Path:
        return self.folder / (hashlib.sha256(repr(key).encode()).hexdigest()[:32] + ".joblib")

    def __contains__(self, key: Any) -> bool:
        return self._path(key).is_file()

    def __getitem__(self, key: Any) -> Any:
        return joblib.load(self._path(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        path = self._path(key)
        partial = path.with_suffix(".partial")
        joblib.dump(value, partial)
        partial.replace(path)  # atomic: a reader never sees half a file


def load_context(context: RunContext | str) -> RunContext:
    return joblib.load(context) if isinstance(context, str) else context


def predictor_from_files(files: dict[str, bytes]) -> Predictor:
    """A predictor this run stored (trusted: a plug-in model may be pickled; see `_modelfile`)."""
    return load_model_files(files, "this run's candidate", trust=True)


def worker_description() -> dict[str, Any]:
    """Where a candidate's figures were taken: host, process and processor."""
    import os
    import sys

    from advisor.measure import hardware

    where = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cpu": hardware.cpu_model(),
        "usable_cpus": hardware.usable_cpus(),
        "python": platform.python_version(),
    }
    if "distributed" in sys.modules:  # on a Dask worker: its address names it in the cluster
        try:
            from distributed import get_worker

            where["dask_worker"] = get_worker().address
        except ValueError:  # not inside a worker after all
            pass
    return where


def train_candidate(task: CandidateTask, report: Callable[[str], None]) -> CandidateOutput:
    """Train one candidate, verify its fast path, score it on the test split and size it."""
    context = load_context(task.context)
    spec = task.spec
    models = {key: predictor_from_files(files).model for key, files in task.dependencies.items()}
    ctx = TrainContext(
        **TrainContext.shared(context),
        threads=task.threads,
        device=task.device,
        report=report,
        models=models,
        specs=task.specs,
        spec=spec,
        options=dict(task.options),
        cache=DiskCache(task.cache_dir) if task.cache_dir else {},
        encoder=context.encoder,
    )
    start = time.perf_counter()
    model = resolve_builder(spec.builder)(spec.params, ctx)
    train_s = time.perf_counter() - start
    notes = list(getattr(model, "build_notes", []))
    predictor = Predictor(context.encoder, model, context.task, context.target, context.classes, spec.key, spec.name)
    if context.task == "binary":  # before the fast-path check, which compares labels at this threshold
        predictor.threshold, predictor.threshold_method = choose_threshold(
            np.asarray(context.y_val),
            ctx.validation_scores(model, spec.key),  # a refitted model's: from before its refit
            context.primary_metric,
            task.options.get("miss_cost"),
            positive_label="class 1" if context.classes is None else str(context.classes[1]),
        )
    check = predictor.verify_fast_path(context.check_rows.head(FAST_PATH_CHECK_ROWS))
    notes.append(_fast_path_note(check))
    if predictor.threshold_method:
        notes.append(f"decision threshold {predictor.threshold_method}")
    files = model_files(predictor)
    X_test = np.asarray(context.X_test)
    scores = predictor.model.scores(X_test)
    extra = {}
    teacher = getattr(model, "teacher", None) or (spec.params.get("teacher") if spec.builder == "distill" else None)
    if teacher in models:
        extra["teacher_agreement"] = teacher_agreement(scores, models[teacher].scores(X_test), context.task)
    quality = measure_quality(
        np.asarray(context.y_test),
        scores,
        context.task,
        context.primary_metric,
        context.n_classes,
        seed=context.seed,
        extra=extra,
        class_labels=None if context.classes is None else [str(c) for c in context.classes],
        threshold=predictor.threshold,
        threshold_method=predictor.threshold_method,
        miss_cost=task.options.get("miss_cost"),
    )
    size = measure_size(
        files,
        predictor.param_count(),
        weight_bytes=model.stored_weight_bytes() if hasattr(model, "stored_weight_bytes") else None,
        nonzero_weights=model.nonzero_weights() if hasattr(model, "nonzero_weights") else None,
    )
    return CandidateOutput(
        model_files=files,
        quality=quality,
        size=size,
        train_s=train_s,
        runtime=model.runtime,
        train_device=getattr(model, "trained_on", "cpu"),
        notes=notes,
        sweep_choice=getattr(model, "sweep_choice", None),
        worker=worker_description(),
    )


def _fast_path_note(check: dict[str, Any]) -> str:
    if check.get("enabled"):
        return (
            f"single records take the fast path (encoder in plain Python, model: {check['model']}); it matched "
            f"the batch path on {check['rows_checked']} test rows, max relative difference "
            f"{check['max_relative_difference']:.1e}"
        )
    reason = check.get("error") or f"max relative difference {check.get('max_relative_difference', float('nan')):.1e}"
    return f"single records use the batch path: the fast path did not match it ({reason})"
