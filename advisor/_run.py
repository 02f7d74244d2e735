"""The advisor run: data in, every candidate trained and measured, one recommendation out.

Phase 1 trains the candidates one at a time; each is saved, scored on the test split, sized
and committed to the store before the next starts. Phase 2 times them all together,
interleaved (see `_timing`), on the predictors loaded back from disk: what is timed is what
a user deploys. Long work reports `ProgressEvent`s through a callback; the library never prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np
import pandas as pd

from advisor import _hardware
from advisor._artifact import Artifact, load_artifact, write_artifact
from advisor._catalog import CandidateSpec, Registry, TargetProfile, get_target, load_candidates
from advisor._compress import teacher_agreement
from advisor._data import Dataset, Split, load_dataset, split_dataset
from advisor._encoder import TabularEncoder
from advisor._errors import AdvisorError
from advisor._measure import StartupMeasurement, measure_quality, measure_size
from advisor._models import BUILDERS, TrainContext
from advisor._pareto import parse_limits, parse_priorities
from advisor._predictor import Predictor
from advisor._results import CandidateResult, Run
from advisor._store import Store, new_run_id
from advisor._timing import TimingConfig, measure_batches, measure_single_row, pinned_threads

SINGLE_ROW_INPUTS = 200
FAST_PATH_CHECK_ROWS = 50
COLD_START_TIMEOUT_S = 120


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run, for a progress display. `eta_s` is an estimate from the steps so far."""

    stage: str  # data | train | timing | startup | rank | done
    message: str
    elapsed_s: float
    candidate: str | None = None
    phase: str | None = None
    done: int = 0
    total: int = 0
    eta_s: float | None = None


class Cancelled(Exception):
    """Raised inside a run when `should_stop` says so; the run is kept as 'cancelled'."""


class _Reporter:
    def __init__(self, callback: Callable[[ProgressEvent], None] | None) -> None:
        self.callback = callback
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, stage: str, message: str, **kw: Any) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(stage=stage, message=message, elapsed_s=self.elapsed(), **kw))


def _encode_target(dataset: Dataset, y: pd.Series) -> np.ndarray:
    if dataset.is_classification:
        assert dataset.classes is not None
        index = {value: i for i, value in enumerate(dataset.classes)}
        return np.array([index[v] for v in y], dtype=np.int64)
    return y.to_numpy(dtype=np.float64)


def advise(
    data: str | os.PathLike[str] | bytes | IO[bytes] | pd.DataFrame | Dataset,
    target: str | None = None,
    *,
    name: str | None = None,
    task: str | None = None,
    primary_metric: str | None = None,
    priorities: str | Mapping[str, float] | None = None,
    limits: Iterable[str] | Mapping[str, float] | None = None,
    profile: str | TargetProfile = "cloud-cpu",
    candidates: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
    budget_s: float | None = None,
    out: str | os.PathLike[str] | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    seed: int = 0,
    timing: TimingConfig | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int | None = None,
    registry: Registry | None = None,
    run_id: str | None = None,
    precision_tolerance_pp: float | None = None,
) -> Run:
    """Train and measure every candidate on `data`, then recommend one.

    Returns the `Run` (leaderboard, Pareto set, recommendation); it is also in the store and,
    with `out`, written to `out/results.json`. User mistakes raise `AdvisorError` subclasses.
    `registry` replaces the default catalog (see `load_candidates`); `run_id` lets a caller (the
    app) know the id before the run starts (see `advisor.new_run_id`); `precision_tolerance_pp`
    is how much of the primary metric (percentage points, on the validation split) the
    precision sweep may give up (default 0.5).
    """
    report = _Reporter(progress)
    stop = should_stop or (lambda: False)
    timing = timing or TimingConfig()
    target_profile = get_target(profile)
    weights = parse_priorities(priorities)
    limit_values = parse_limits(limits) if limits is not None else dict(target_profile.limits)
    specs = (registry or load_candidates()).select(candidates, families)
    store = store if isinstance(store, Store) else Store(store)
    phases: dict[str, float] = {}

    t0 = time.perf_counter()
    if isinstance(data, Dataset):
        dataset = data
    else:
        if target is None:
            raise AdvisorError("No target column was given; name the column to predict (--target COL).")
        dataset = load_dataset(data, target, name=name, task=task, primary_metric=primary_metric, max_bytes=max_bytes)
    split = split_dataset(dataset, seed=seed)
    encoder = TabularEncoder(dataset.roles).fit(split.X_train)
    phases["data_s"] = time.perf_counter() - t0

    run_id = run_id or new_run_id()
    settings = {
        "priorities": weights if weights is not None else dict(target_profile.weights),
        "limits": limit_values,
        "profile": target_profile.key,
        "candidates": [s.key for s in specs],
        "budget_s": budget_s,
        "seed": seed,
        "timing": asdict(timing),
        "options": {"precision_tolerance_pp": precision_tolerance_pp} if precision_tolerance_pp is not None else {},
    }
    run = Run(
        run_id=run_id,
        created_at=time.time(),
        status="running",
        dataset=dataset.summary() | {"features_encoded": encoder.n_features_out_},
        split=split.sizes(),
        hardware=_hardware.describe(include_gpu="torch" in sys.modules or _wants_torch(specs)),
        settings=settings,
        candidates=[
            CandidateResult(
                s.key, s.name, s.family, parent=s.parent, compression=s.compression, description=s.description
            )
            for s in specs
        ],
        profile=target_profile,
        phases_s=phases,
        store_root=str(store.root),
    )
    store.create_run(run_id, _header(run))
    report("data", f"{dataset.task} task, {len(dataset.frame)} rows, primary metric {dataset.primary_metric}")

    stored: dict[str, tuple[bytes, Predictor]] = {}  # each artifact's predictor, to rewrite with final figures
    try:
        predictors = _train_all(
            run, specs, dataset, split, encoder, store, report, stop, budget_s, phases, settings["options"], stored
        )
        if predictors:
            _time_all(run, predictors, split, timing, store, report, stop, budget_s, phases)
        run.status = "complete"
    except Cancelled:
        run.status = "cancelled"
    except BaseException as exc:  # interrupted or crashed: keep what was committed
        run.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.error = f"{type(exc).__name__}: {exc}"
        store.update_header(run_id, _header(run))
        store.finish_run(run_id, run.status, None, run.error)
        raise
    run.phases_s = phases
    report("rank", "Ranking")
    run.rank()
    _refresh_artifacts(run, stored)
    store.update_header(run_id, _header(run))
    store.finish_run(run_id, run.status, _ranking(run))
    if out is not None:
        run.save_json(out)
    report(
        "done",
        f"Done: {run.recommendation.key if run.recommendation else 'no recommendation'}",
        done=len(specs),
        total=len(specs),
    )
    return run


def _wants_torch(specs: Iterable[CandidateSpec]) -> bool:
    return any("torch" in s.requires for s in specs)


def _header(run: Run) -> dict[str, Any]:
    return {
        "created_at": run.created_at,
        "dataset": run.dataset,
        "split": run.split,
        "hardware": run.hardware,
        "settings": run.settings,
        "profile": dict(run.profile.__dict__, weights=dict(run.profile.weights), limits=dict(run.profile.limits)),
        "phases_s": run.phases_s,
        "status": run.status,
        "error": run.error,
    }


def _ranking(run: Run) -> dict[str, Any]:
    rec = run.recommendation
    assert rec is not None
    return {"key": rec.key, "reason": rec.reason, "pareto": list(rec.pareto)}


def _train_all(
    run: Run,
    specs: list[CandidateSpec],
    dataset: Dataset,
    split: Split,
    encoder: TabularEncoder,
    store: Store,
    report: _Reporter,
    stop: Callable[[], bool],
    budget_s: float | None,
    phases: dict[str, float],
    options: Mapping[str, Any],
    stored: dict[str, tuple[bytes, Predictor]],
) -> dict[str, Artifact]:
    t_phase = time.perf_counter()
    X_train, X_val = encoder.transform(split.X_train), encoder.transform(split.X_val)
    y_train, y_val = _encode_target(dataset, split.y_train), _encode_target(dataset, split.y_val)
    y_test = _encode_target(dataset, split.y_test)
    first_record = split.X_test.iloc[0].to_dict()
    device = "cpu"
    if _wants_torch(specs):
        from advisor._hardware import cuda_device

        device = "cuda" if cuda_device() else "cpu"
    n_classes = len(dataset.classes) if dataset.classes else 0
    artifacts = store.artifact_dir(run.run_id)
    predictors: dict[str, Artifact] = {}  # loaded back from disk: what is timed is what is deployed
    models: dict[str, Any] = {}  # fitted models by key, for the entries derived from them
    test_scores: dict[str, np.ndarray] = {}
    cache: dict[Any, Any] = {}
    specs_by_key = {s.key: s for s in specs}
    total = len(specs)
    for position, spec in enumerate(specs):
        result = run.candidates[position]
        if stop():
            raise Cancelled()
        elapsed = report.elapsed()
        eta = elapsed / position * (total - position) if position else None
        if budget_s is not None and elapsed > 0.6 * budget_s and spec.family != "baseline":
            result.status = "skipped"
            result.notes.append(
                f"skipped: {elapsed:.0f} s of the {budget_s:.0f} s time budget were spent before it started"
            )
            store.save_candidate(run.run_id, spec.key, position, result.status, result.to_dict())
            continue
        missing = spec.missing_requirements()
        unavailable = [k for k in spec.depends_on if k not in models]
        if missing or unavailable:
            result.status = "failed" if missing else "skipped"
            result.error = (
                f"needs the package '{missing[0]}', which is not installed: pip install -r requirements.txt"
                if missing
                else f"needs '{unavailable[0]}', which was not trained in this run "
                f"({run.candidate(unavailable[0]).status})"
            )
            store.save_candidate(run.run_id, spec.key, position, result.status, result.to_dict())
            continue
        report(
            "train",
            f"Training {spec.name}",
            candidate=spec.key,
            phase="training",
            done=position,
            total=total,
            eta_s=eta,
        )

        def epoch_report(message: str, key: str = spec.key, at: int = position) -> None:
            report("train", message, candidate=key, phase="epoch", done=at, total=total)

        try:
            ctx = TrainContext(
                task=dataset.task,
                n_classes=n_classes,
                class_weighting=dataset.class_weighting,
                seed=split.seed,
                X_train=X_train,
                y_train=y_train,
                X_val=X_val,
                y_val=y_val,
                threads=_hardware.usable_cpus(),
                device=device if "torch" in spec.requires else "cpu",
                report=epoch_report,
                should_stop=stop,
                primary_metric=dataset.primary_metric,
                models=models,
                specs=specs_by_key,
                spec=spec,
                options=dict(options),
                cache=cache,
            )
            start = time.perf_counter()
            model = BUILDERS[spec.builder](spec.params, ctx)
            result.train_s = time.perf_counter() - start
            result.notes.extend(getattr(model, "build_notes", []))
            if getattr(model, "sweep_choice", None):
                result.compression = f"sweep:{model.sweep_choice}"
            result.wall_s["train"] = result.train_s
            scored_at = time.perf_counter()
            result.train_device = getattr(model, "trained_on", "cpu")
            result.runtime = model.runtime
            if stop():
                raise Cancelled()
            predictor = Predictor(encoder, model, dataset.task, dataset.target, dataset.classes, spec.key, spec.name)
            check = predictor.verify_fast_path(split.X_test.head(FAST_PATH_CHECK_ROWS))
            result.notes.append(_fast_path_note(check))
            predictor_bytes = predictor.to_bytes()
            path = artifacts / f"{spec.key}.zip"
            report(
                "train",
                f"Scoring {spec.name} on the test split",
                candidate=spec.key,
                phase="scoring",
                done=position,
                total=total,
            )
            scores = predictor.model.scores(encoder.transform(split.X_test))
            extra = {}
            teacher = spec.params.get("teacher") if spec.builder == "distill" else None
            if teacher in test_scores:
                extra["teacher_agreement"] = teacher_agreement(scores, test_scores[teacher], dataset.task)
            result.quality = measure_quality(
                y_test, scores, dataset.task, dataset.primary_metric, n_classes, seed=split.seed, extra=extra
            )
            write_artifact(path, predictor_bytes, predictor, _artifact_metrics(run, result))
            result.artifact = str(path)
            stored[spec.key] = (predictor_bytes, predictor)
            result.size = measure_size(
                predictor_bytes,
                predictor.param_count(),
                weight_bytes=model.stored_weight_bytes() if hasattr(model, "stored_weight_bytes") else None,
                nonzero_weights=model.nonzero_weights() if hasattr(model, "nonzero_weights") else None,
            )
            loaded, load_ms, first_ms = _load_warm(path, first_record)
            result.startup = StartupMeasurement(
                load_ms=load_ms,
                first_row_ms=first_ms,
                cold_start_ms=None,
                cold_import_ms=None,
                cold_load_ms=None,
                cold_first_row_ms=None,
                load_rss_bytes=None,
                peak_predict_bytes=None,
                peak_batch_rows=None,
                method=(
                    "load_ms: load_artifact (SHA-256 check of every file, then joblib.load) plus the first "
                    "prediction of one row, in this process with its libraries already imported (median of 3; "
                    "file in the page cache)"
                ),
            )
            result.status = "trained"
            result.wall_s["save_score_size_load"] = time.perf_counter() - scored_at
            predictors[spec.key] = loaded
            models[spec.key] = model
            test_scores[spec.key] = scores
        except Cancelled:
            raise
        except Exception as exc:  # a failing candidate is recorded with its reason and the run goes on
            result.status = "failed"
            result.error = f"{type(exc).__name__}: {exc}".strip()[:500]
            result.notes.append("traceback: " + traceback.format_exc(limit=3)[-1500:])
        store.save_candidate(run.run_id, spec.key, position, result.status, result.to_dict())
        report(
            "train",
            f"{spec.name}: {result.status}",
            candidate=spec.key,
            phase=result.status,
            done=position + 1,
            total=total,
        )
    phases["train_s"] = time.perf_counter() - t_phase
    return predictors


def _fast_path_note(check: dict[str, Any]) -> str:
    if check.get("enabled"):
        return (
            f"single records take the fast path (encoder in plain Python, model: {check['model']}); it matched "
            f"the batch path on {check['rows_checked']} test rows, max relative difference "
            f"{check['max_relative_difference']:.1e}"
        )
    reason = check.get("error") or f"max relative difference {check.get('max_relative_difference', float('nan')):.1e}"
    return f"single records use the batch path: the fast path did not match it ({reason})"


def _load_warm(path: Path, record: dict[str, Any]) -> tuple[Artifact, float, float]:
    loads, firsts = [], []
    artifact = None
    for _ in range(3):
        start = time.perf_counter()
        artifact = load_artifact(path)
        loaded = time.perf_counter()
        artifact.predict(record)
        loads.append(loaded - start)
        firsts.append(time.perf_counter() - loaded)
    assert artifact is not None
    return artifact, float(np.median(loads) * 1e3), float(np.median(firsts) * 1e3)


def _artifact_metrics(run: Run, result: CandidateResult) -> dict[str, Any]:
    """What an artifact says about itself: its measurements and where they come from."""
    return {
        "run": {
            "run_id": run.run_id,
            "dataset": run.dataset,
            "split": run.split,
            "hardware": run.hardware,
            "profile": run.profile.key,
            "primary_metric": run.primary_metric,
        },
        "candidate": result.to_dict(),
    }


def _refresh_artifacts(run: Run, stored: Mapping[str, tuple[bytes, Predictor]]) -> None:
    """Rewrite each artifact with its final measurements (the predictor bytes do not change)."""
    for key, (predictor_bytes, predictor) in stored.items():
        result = run.candidate(key)
        if result.artifact:
            write_artifact(result.artifact, predictor_bytes, predictor, _artifact_metrics(run, result))


def _time_all(
    run: Run,
    predictors: dict[str, Predictor],
    split: Split,
    config: TimingConfig,
    store: Store,
    report: _Reporter,
    stop: Callable[[], bool],
    budget_s: float | None,
    phases: dict[str, float],
) -> None:
    t_phase = time.perf_counter()
    keys = list(predictors)
    calls = {k: predictors[k].predict for k in keys}
    setters = [p.set_threads for p in predictors.values()]
    records = split.X_test.head(SINGLE_ROW_INPUTS).to_dict(orient="records")
    n_test = len(split.X_test)
    sizes = sorted({min(b, n_test) for b in config.batch_sizes})
    batches = {b: split.X_test.iloc[:b] for b in sizes}

    report("timing", f"Timing one row at a time: {len(keys)} candidates interleaved", phase="latency", total=len(keys))
    with pinned_threads(config.threads, setters):
        latency = measure_single_row(calls, records, config, should_stop=stop)
        report("timing", f"Timing batches of {', '.join(map(str, sizes))} rows", phase="batches", total=len(keys))
        single = measure_batches(calls, batches, config, threads=config.threads, should_stop=stop)
    multi: dict[str, dict[int, Any]] = {k: {} for k in keys}
    cpus = _hardware.usable_cpus()
    if config.multithread_batches and cpus > 1 and not stop():
        largest = sizes[-1]
        report(
            "timing",
            f"Timing batches of {largest} rows on {cpus} threads",
            phase="batches-multithread",
            total=len(keys),
        )
        with pinned_threads(cpus, setters):
            multi = measure_batches(calls, {largest: batches[largest]}, config, threads=cpus, should_stop=stop)
    gpu = run.hardware.get("gpu")
    if gpu and not stop():
        report("timing", f"Timing the neural candidates on the GPU ({gpu})", phase="gpu", total=len(keys))
        on_gpu = time_on_device(predictors, records, batches, config, "cuda", gpu, stop)
        for key, (gpu_latency, gpu_batches, note) in on_gpu.items():
            result = run.candidate(key)
            result.gpu_latency, result.gpu_batches = gpu_latency, gpu_batches
            if note:
                result.notes.append(note)
    phases["timing_s"] = time.perf_counter() - t_phase
    if stop():
        raise Cancelled()

    for key in keys:
        result = run.candidate(key)
        result.latency = latency.get(key)
        result.batches = single.get(key, {})
        result.batches_multithread = multi.get(key, {})
        result.status = "measured" if result.latency and result.batches else "trained"

    t_start = time.perf_counter()
    over_budget = budget_s is not None and report.elapsed() > budget_s
    if config.cold_start and not over_budget and not stop():
        handle = tempfile.NamedTemporaryFile(suffix=".joblib", delete=False)
        handle.close()
        try:
            joblib.dump({"first": records[0], "batch": batches[sizes[-1]]}, handle.name)
            groups: dict[str, list[CandidateResult]] = {}
            for key in keys:
                groups.setdefault(run.candidate(key).runtime or "", []).append(run.candidate(key))
            for done, (runtime, members) in enumerate(groups.items()):
                report(
                    "startup",
                    f"Cold start of the {runtime} candidates in a fresh process",
                    phase="cold-start",
                    done=done,
                    total=len(groups),
                )
                cold_at = time.perf_counter()
                _cold_start(runtime, members, handle.name)
                for result in members:
                    result.wall_s["cold_start_group"] = time.perf_counter() - cold_at
        finally:
            os.unlink(handle.name)
    elif over_budget:
        for key in keys:
            run.candidate(key).notes.append("cold start not measured: the time budget was spent")
    for key in keys:
        result = run.candidate(key)
        store.save_candidate(run.run_id, key, _position(run, key), result.status, result.to_dict())
    phases["startup_s"] = time.perf_counter() - t_start


def time_on_device(
    predictors: Mapping[str, Artifact | Predictor],
    records: list[dict[str, Any]],
    batches: Mapping[int, pd.DataFrame],
    config: TimingConfig,
    device: str,
    device_name: str,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, tuple[Any, dict[int, Any], str | None]]:
    """The torch candidates again with their network on `device`, by the same timer and protocol.

    Preprocessing stays on the CPU (1 thread); each call copies the encoded rows to the device and
    the answer back, as a deployment would. Candidates torch cannot move (int8) get a note instead.
    """
    moved: dict[str, Predictor] = {}
    out: dict[str, tuple[Any, dict[int, Any], str | None]] = {}
    for key, loaded in predictors.items():
        predictor = loaded.predictor if isinstance(loaded, Artifact) else loaded
        if not hasattr(predictor.model, "on_device"):
            continue
        try:
            model = predictor.model.on_device(device)
        except ValueError as exc:
            out[key] = (None, {}, f"not measured on {device_name}: {exc}")
            continue
        moved[key] = Predictor(
            predictor.encoder,
            model,
            predictor.task,
            predictor.target,
            None if predictor.classes is None else list(predictor.classes),
            key,
            predictor.name,
        )
        moved[key].fast_single_row = predictor.fast_single_row  # the record encoder; the network on the device
    if not moved:
        return out
    calls = {k: p.predict for k, p in moved.items()}
    label = f"on {device_name}: network on the device, preprocessing on the CPU, rows copied over and back"
    with pinned_threads(config.threads, [p.set_threads for p in moved.values()]):
        latency = measure_single_row(calls, records, config, input_form=f"one dict ({label})", should_stop=stop)
        per_batch = measure_batches(calls, batches, config, threads=config.threads, should_stop=stop)
    for key in moved:
        figures = {b: replace(m, method=f"{label}; {m.method}") for b, m in per_batch.get(key, {}).items()}
        out[key] = (latency.get(key), figures, None)
    return out


def _position(run: Run, key: str) -> int:
    return [c.key for c in run.candidates].index(key)


def _cold_start(runtime: str, results: list[CandidateResult], rows_file: str) -> None:
    """Fill each result's start-up figures from one fresh process per runtime (see `_coldstart`)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    project_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = project_root + os.pathsep + env.get("PYTHONPATH", "")
    artifacts = [r.artifact for r in results if r.artifact]
    command = [sys.executable, "-m", "advisor._coldstart", rows_file, repr(time.time()), runtime, *artifacts]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=COLD_START_TIMEOUT_S, check=True
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        for result in results:
            result.notes.append(f"cold start not measured: {type(exc).__name__}")
        return
    import_ms = figures["import_s"] * 1e3
    for position, (result, own) in enumerate(zip(results, figures["artifacts"], strict=True)):
        assert result.startup is not None
        peak_method = (
            "peak_predict_bytes: the larger of the peak-RSS rise (VmHWM reset through /proc/self/clear_refs) "
            "and Python's tracemalloc peak while predicting the batch"
            if own["peak_rss_reset"]
            else "peak_predict_bytes: tracemalloc peak while predicting the batch (numpy and Python allocations "
            "only; the kernel's peak-RSS mark could not be reset here)"
        )
        result.startup = replace(
            result.startup,
            cold_start_ms=import_ms + (own["load_s"] + own["first_row_s"]) * 1e3,
            cold_import_ms=import_ms,
            cold_load_ms=own["load_s"] * 1e3,
            cold_first_row_ms=own["first_row_s"] * 1e3,
            load_rss_bytes=own["load_rss_bytes"],
            peak_predict_bytes=own["peak_predict_bytes"],
            peak_batch_rows=own["batch_rows"],
            method=(
                result.startup.method + "; cold_start_ms: a fresh Python process (1 thread): interpreter start and "
                f"imports for the {runtime} runtime (cold_import_ms, timed once per runtime from spawn), plus "
                "this artifact's own load_artifact (digest check and joblib.load: cold_load_ms) and first row "
                "(cold_first_row_ms) in that "
                f"process ({'the first' if position == 0 else f'number {position + 1}'} of {len(results)} "
                "loaded there; the first also pays one-time library initialisation); load_rss_bytes: resident "
                f"memory the load added; {peak_method} of {own['batch_rows']} rows"
            ),
        )


def open_run(run: str | os.PathLike[str], store: Store | str | os.PathLike[str] | None = None) -> Run:
    """Reopen a run: a run id from the store, an --out folder, or a results.json path."""
    path = Path(run)
    if path.is_dir() and (path / "results.json").is_file():
        path = path / "results.json"
    if path.is_file():
        return Run.from_dict(json.loads(path.read_text()))
    store = store if isinstance(store, Store) else Store(store)
    stored = store.load_run(str(run))
    header = dict(stored["header"], created_at=stored["created_at"], error=stored["error"])
    candidates = [CandidateResult.from_dict(c) for c in stored["candidates"]]
    return Run.from_header(header, candidates, stored["run_id"], stored["status"], str(store.root))
