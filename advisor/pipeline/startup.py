"""Start-up figures and device timing: how long an artifact takes to load and answer its first
row, warm (in this process, right after training) and cold (a fresh Python process per runtime,
see `advisor.measure.coldstart`); and the torch candidates timed again with their network on a
GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from advisor.deploy.artifact import Artifact, load_and_answer
from advisor.deploy.predictor import Predictor
from advisor.measure.figures import StartupMeasurement
from advisor.measure.timing import TimingConfig, measure_batches, measure_single_row, pinned_threads
from advisor.pipeline.forecast import COLD_START_PRIOR_S
from advisor.pipeline.session import Session
from advisor.results import CandidateResult

COLD_START_TIMEOUT_S = 120


def warm_startup(load_ms: float, first_ms: float) -> StartupMeasurement:
    """A just-trained artifact's warm start-up figures; `cold_starts` fills in the cold ones."""
    return StartupMeasurement(
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
            "load_ms: load_artifact (SHA-256 check of every file, then the model rebuilt) plus the first "
            "prediction of one row, in this process with its libraries already imported (median of 3; "
            "file in the page cache)"
        ),
    )


def load_warm(path: Path, record: dict[str, Any]) -> tuple[Artifact, float, float]:
    """The artifact loaded back three times: the last load, the median load ms and first-row ms."""
    tries = [load_and_answer(path, record, trust=True) for _ in range(3)]  # written by this run
    return tries[-1][0], float(np.median([t[1] for t in tries]) * 1e3), float(np.median([t[2] for t in tries]) * 1e3)


def cold_starts(session: Session, keys: list[str], first: dict[str, Any], batch: pd.DataFrame) -> None:
    """Each runtime's cold start, in one fresh process for all its candidates (unless the time
    budget is spent or the timing config leaves cold starts out)."""
    run, config, report, stop, budget = (
        session.run,
        session.plan.timing,
        session.report,
        session.stop,
        session.plan.budget,
    )
    over_budget = not budget.may_time_cold_starts(report.elapsed())
    if over_budget:
        for key in keys:
            run.candidate(key).notes.append("cold start not measured: the time budget was spent")
        return
    if not config.cold_start or stop():
        return
    handle = tempfile.NamedTemporaryFile(suffix=".joblib", delete=False)
    handle.close()
    try:
        joblib.dump({"first": first, "batch": batch}, handle.name)
        groups: dict[str, list[CandidateResult]] = {}
        for key in keys:
            groups.setdefault(run.candidate(key).runtime or "", []).append(run.candidate(key))
        phase_at = time.perf_counter()
        for done, (runtime, members) in enumerate(groups.items()):
            per_runtime = (time.perf_counter() - phase_at) / done if done else COLD_START_PRIOR_S
            report.left("startup", per_runtime * (len(groups) - done))
            report(
                "startup",
                f"Cold start of the {runtime} candidates in a fresh process",
                phase="cold-start",
                done=done,
                total=len(groups),
                unit="runtimes",
            )
            cold_at = time.perf_counter()
            _cold_start(runtime, members, handle.name)
            for result in members:
                result.wall_s["cold_start_group"] = time.perf_counter() - cold_at
    finally:
        os.unlink(handle.name)


def _cold_start(runtime: str, results: list[CandidateResult], rows_file: str) -> None:
    """Fill each result's start-up figures from one fresh process per runtime (see `advisor.measure.coldstart`)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    project_root = str(Path(__file__).resolve().parents[2])  # advisor/pipeline/startup.py -> the project
    env["PYTHONPATH"] = project_root + os.pathsep + env.get("PYTHONPATH", "")
    artifacts = [r.artifact for r in results if r.artifact]
    command = [sys.executable, "-m", "advisor.measure.coldstart", rows_file, repr(time.time()), runtime, *artifacts]
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
                "this artifact's own load_artifact (digest check and model rebuilt: cold_load_ms) and first row "
                "(cold_first_row_ms) in that "
                f"process ({'the first' if position == 0 else f'number {position + 1}'} of {len(results)} "
                "loaded there; the first also pays one-time library initialisation); load_rss_bytes: resident "
                f"memory the load added; {peak_method} of {own['batch_rows']} rows"
            ),
        )


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
