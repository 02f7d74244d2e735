"""Phase 2 of a run: every trained candidate timed together, on the artifacts loaded back from disk
(what is timed is what a user deploys), then their cold starts.

The timing runs in one child process, interleaving the candidates by the one timer (see
`advisor.measure.timing`), while this machine's timing lock (see `advisor.measure.lock`) keeps
other runs from timing at the same time; if that process fails, each candidate is timed alone.
With `measure_on`, the same timing runs on a designated Dask worker instead.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from advisor.deploy.artifact import Artifact, load_artifact
from advisor.errors import AdvisorError
from advisor.execute.backend import DaskBackend, LocalBackend
from advisor.execute.isolate import Limits, WorkFailed, run_isolated
from advisor.execute.worker import worker_description
from advisor.measure import hardware
from advisor.measure.lock import timing_lock
from advisor.measure.timing import TimingConfig, measure_batches, measure_single_row, pinned_threads
from advisor.pipeline.forecast import timing_steps
from advisor.pipeline.progress import Cancelled, Reporter
from advisor.pipeline.session import Session
from advisor.pipeline.startup import cold_starts, time_on_device
from advisor.results import CandidateResult, Run

SINGLE_ROW_INPUTS = 200
TIMING_BASE_S = 120.0  # the timing process's time limit: this, plus the next per candidate
TIMING_PER_CANDIDATE_S = 60.0
RECENT_STEPS = 8  # the time left is scaled by what the last this-many steps took against their price
TICK = "tick"  # the timing child's message at the start of each round (see `forecast.timing_steps`)


@dataclass
class TimingTask:
    """What the timing child needs: the artifacts on disk and the rows to time them on."""

    artifacts: dict[str, str]
    records: list[dict[str, Any]]
    batches: dict[int, pd.DataFrame]
    config: TimingConfig
    cpus: int
    gpu: str | None


@dataclass
class TimedFigures:
    latency: Any = None
    batches: dict[int, Any] = field(default_factory=dict)
    batches_multithread: dict[int, Any] = field(default_factory=dict)
    gpu_latency: Any = None
    gpu_batches: dict[int, Any] = field(default_factory=dict)
    gpu_note: str | None = None


def time_all(session: Session, predictors: dict[str, Artifact], measure_on: str | None = None) -> None:
    """Time every trained candidate in one child process while holding the machine's timing lock;
    then their cold starts. If that process fails, each candidate is timed alone, so the one that
    breaks is named and the others still get figures. With `measure_on` (a Dask worker's address)
    the same timing runs on that worker instead, under that machine's lock."""
    run, split, config, store = session.run, session.split, session.plan.timing, session.store
    report, stop, phases, limits, backend = (
        session.report,
        session.stop,
        session.phases,
        session.limits,
        session.backend,
    )
    keys = list(predictors)
    n_test = len(split.X_test)
    sizes = sorted({min(b, n_test) for b in config.batch_sizes})
    records = split.X_test.head(SINGLE_ROW_INPUTS).to_dict(orient="records")
    batches = {b: split.X_test.iloc[:b] for b in sizes}
    task = TimingTask(
        artifacts={k: run.candidate(k).artifact or "" for k in keys},
        records=records,
        batches=batches,
        config=config,
        cpus=hardware.usable_cpus(),
        gpu=run.hardware.get("gpu"),
    )
    timing_limits = Limits(time_s=TIMING_BASE_S + TIMING_PER_CANDIDATE_S * len(keys), memory_bytes=limits.memory_bytes)
    if measure_on:
        _time_on_worker(run, task, timing_limits, backend, measure_on, report, phases)
        for key in keys:
            result = run.candidate(key)
            store.save_candidate(run.run_id, key, _position(run, key), result.status, result.to_dict())
        return
    here = hardware.describe(include_gpu=False)
    measured_on = {
        "where": "the machine running the advisor",
        "host": socket.gethostname(),
        "cpu": here.get("cpu_model"),
        "usable_cpus": here.get("usable_cpus"),
    }

    def on_wait(waited: float, holder: dict[str, Any] | None) -> None:
        other = f"run {holder['run_id'][:8]}" if holder and holder.get("run_id") else "another run"
        report.left("timing", sum(steps))  # the wait is not known: the timing itself has not started
        report(
            "waiting",
            f"Waiting for the timing lock: {other} is timing its candidates on this machine, and timing two runs "
            f"at once would skew both ({waited:.0f} s so far)",
            phase="waiting",
        )

    # The child's work in steps, each priced up front and ending at its next message; the seconds
    # the last few finished steps really took against their price scale the estimate of the rest
    # (recent steps: the single-row rounds and the batch rounds are priced from different models).
    startups = [run.candidate(k).startup for k in keys]
    steps = timing_steps(
        config,
        [s.first_row_ms / 1e3 for s in startups if s is not None],
        sizes,
        task.cpus,
        [s.load_ms / 1e3 for s in startups if s is not None],
    )
    shown = {"phase": "latency", "message": f"Loading the {len(keys)} artifacts to time"}
    done = [0]
    started = [0.0]  # when the timing itself started, after any wait for the lock
    ended: list[float] = []  # when each finished step ended

    def on_message(text: str) -> None:
        phase, _, message = text.partition("\t")
        done[0] = min(done[0] + 1, len(steps))
        if phase != TICK:
            shown.update(phase=phase, message=message)
        ended.append(report.elapsed())
        recent = max(0, done[0] - RECENT_STEPS)
        spent = ended[-1] - (ended[recent - 1] if recent else started[0])
        priced = sum(steps[recent : done[0]])
        scale = min(max(spent / priced, 0.1), 50.0) if priced > 0 and spent > 0 else 1.0
        report.left("timing", scale * sum(steps[done[0] :]))
        report("timing", shown["message"], phase=shown["phase"], done=done[0], total=len(steps), unit="steps")

    try:
        lock = timing_lock(run.run_id, on_wait=on_wait, should_stop=stop)
        waited = lock.__enter__()
    except InterruptedError:
        raise Cancelled() from None
    try:
        report.left("timing", sum(steps))
        started[0] = report.elapsed()
        report("timing", shown["message"], phase="latency", done=0, total=len(steps), unit="steps")
        t_phase = time.perf_counter()
        window = [time.time()]
        if waited >= 1:
            phases["timing_lock_wait_s"] = waited
            for key in keys:
                run.candidate(key).notes.append(
                    f"timing waited {waited:.0f} s for another run on this machine to finish its timing phase"
                )
        try:
            figures = run_isolated(measure_candidates, task, timing_limits, on_message, stop).value
        except WorkFailed as failure:
            if failure.kind == "stopped":
                raise Cancelled() from None
            figures = _time_one_by_one(run, task, timing_limits, failure, report, stop)
        phases["timing_s"] = time.perf_counter() - t_phase
        for key in keys:
            if key in figures:
                _apply_figures(run.candidate(key), figures[key], measured_on)
        t_start = time.perf_counter()
        timed = [k for k in keys if k in figures]
        cold_starts(session, timed, records[0], batches[sizes[-1]])
        window.append(time.time())
        phases["timing_window"] = window  # wall-clock start and end of the locked phase (for the lock's test)
        phases["startup_s"] = time.perf_counter() - t_start
    finally:
        lock.__exit__(None, None, None)
    for key in keys:
        result = run.candidate(key)
        store.save_candidate(run.run_id, key, _position(run, key), result.status, result.to_dict())


def measure_candidates(task: TimingTask, report: Callable[[str], None]) -> dict[str, TimedFigures]:
    """The timing phase, run in its own process: every artifact loaded from disk (what is timed is
    what a user deploys), then interleaved by the one timer (see `advisor.measure.timing`)."""
    predictors = {key: load_artifact(path, trust=True) for key, path in task.artifacts.items()}  # this run's
    keys = list(predictors)
    calls = {k: predictors[k].predict for k in keys}
    setters = [p.set_threads for p in predictors.values()]
    config = task.config
    sizes = sorted(task.batches)

    def tick() -> bool:  # called between timing rounds, outside the timed calls: the parent's progress
        report(f"{TICK}\t")
        return False

    report(f"latency\tTiming one row at a time (interleaved, {len(keys)} candidates)")
    with pinned_threads(config.threads, setters):
        latency = measure_single_row(calls, task.records, config, should_stop=tick)
        report(f"batches\tTiming batches of {', '.join(map(str, sizes))} rows ({len(keys)} candidates)")
        single = measure_batches(calls, task.batches, config, threads=config.threads, should_stop=tick)
    multi: dict[str, dict[int, Any]] = {k: {} for k in keys}
    if config.multithread_batches and task.cpus > 1:
        largest = sizes[-1]
        report(f"batches-multithread\tTiming batches of {largest} rows on {task.cpus} threads")
        with pinned_threads(task.cpus, setters):
            multi = measure_batches(
                calls, {largest: task.batches[largest]}, config, threads=task.cpus, should_stop=tick
            )
    out = {k: TimedFigures(latency.get(k), single.get(k, {}), multi.get(k, {})) for k in keys}
    if task.gpu:
        report(f"gpu\tTiming the neural candidates on the GPU ({task.gpu})")
        on_gpu = time_on_device(predictors, task.records, task.batches, config, "cuda", task.gpu)
        for key, (gpu_latency, gpu_batches, note) in on_gpu.items():
            out[key].gpu_latency, out[key].gpu_batches, out[key].gpu_note = gpu_latency, gpu_batches, note
    return out


def check_worker(backend: LocalBackend | DaskBackend, address: str) -> None:
    """Refuse `--measure-on` unless it names a worker of the Dask cluster the run trains on."""
    if not isinstance(backend, DaskBackend):
        backend.close()
        raise AdvisorError("--measure-on names a Dask worker; give the cluster's scheduler with --scheduler too.")
    known = backend.workers()
    if address not in known:
        backend.close()
        raise AdvisorError(
            f"Worker '{address}' is not in the cluster; its workers are: {', '.join(sorted(known)) or 'none'}."
        )


def _time_on_worker(
    run: Run,
    task: TimingTask,
    limits: Limits,
    backend: LocalBackend | DaskBackend | None,
    address: str,
    report: Reporter,
    phases: dict[str, float],
) -> None:
    """The timing phase on one designated Dask worker: the hardware the model will be deployed on."""
    assert isinstance(backend, DaskBackend)
    known = backend.workers()
    report("timing", f"Timing every candidate on worker {address} ({known[address].get('cpu')})", phase="latency")
    shipped = TimingTask(
        artifacts={k: Path(path).read_bytes() for k, path in task.artifacts.items()},  # type: ignore[misc]
        records=task.records,
        batches=task.batches,
        config=task.config,
        cpus=0,  # the worker's own count
        gpu=None,
    )
    t_phase = time.perf_counter()
    window = [time.time()]
    future = backend.client.submit(
        measure_on_worker, shipped, limits, run.run_id, workers=[address], allow_other_workers=False, pure=False
    )
    try:
        figures, where = future.result(timeout=limits.time_s)
    except Exception as exc:  # the worker failed or timed out: the candidates stay trained, and say so
        future.cancel()
        for key in task.artifacts:
            run.candidate(key).notes.append(
                f"not timed: timing on worker {address} failed ({type(exc).__name__}: {exc})"
            )
        return
    window.append(time.time())
    phases["timing_s"] = time.perf_counter() - t_phase
    phases["timing_window"] = window
    where = dict(where, where=f"Dask worker {address} (chosen with --measure-on)")
    for key, own in figures.items():
        result = run.candidate(key)
        _apply_figures(result, own, where)
        result.notes.append(
            f"timed on worker {address} ({where.get('host')}, {where.get('cpu')}); cold start is measured only on "
            "the machine running the advisor, so it is not shown: run 'python -m advisor measure' on that machine"
        )


def measure_on_worker(task: TimingTask, limits: Limits, run_id: str) -> tuple[dict[str, TimedFigures], dict[str, Any]]:
    """On a Dask worker: the artifacts written to a scratch folder, then timed under that machine's lock."""
    import multiprocessing

    with tempfile.TemporaryDirectory(prefix="advisor-timing-") as folder:
        paths = {}
        for key, data in task.artifacts.items():
            paths[key] = str(Path(folder) / f"{key}.zip")
            Path(paths[key]).write_bytes(data)  # type: ignore[arg-type]
        local = replace(task, artifacts=paths, cpus=hardware.usable_cpus())
        with timing_lock(run_id):
            if multiprocessing.current_process().daemon:  # Dask's default: no child processes allowed
                figures = measure_candidates(local, lambda message: None)
            else:
                figures = run_isolated(measure_candidates, local, limits).value
    return figures, worker_description()


def _apply_figures(result: CandidateResult, own: TimedFigures, measured_on: dict[str, Any]) -> None:
    result.latency, result.batches = own.latency, own.batches
    result.batches_multithread = own.batches_multithread
    result.gpu_latency, result.gpu_batches = own.gpu_latency, own.gpu_batches
    if own.gpu_note:
        result.notes.append(own.gpu_note)
    result.measured_on = measured_on
    result.status = "measured" if result.latency and result.batches else "trained"


def _time_one_by_one(
    run: Run,
    task: TimingTask,
    limits: Limits,
    failure: WorkFailed,
    report: Reporter,
    stop: Callable[[], bool],
) -> dict[str, TimedFigures]:
    figures: dict[str, TimedFigures] = {}
    alone = Limits(time_s=TIMING_BASE_S + TIMING_PER_CANDIDATE_S, memory_bytes=limits.memory_bytes)
    for done, (key, path) in enumerate(task.artifacts.items()):
        report(
            "timing",
            f"Timing {key} alone",
            candidate=key,
            phase="latency",
            done=done,
            total=len(task.artifacts),
            unit="candidates",
        )
        result = run.candidate(key)
        try:
            own = replace(task, artifacts={key: path})
            figures.update(run_isolated(measure_candidates, own, alone, should_stop=stop).value)
            result.notes.append(
                f"timed alone, not interleaved with the others: the shared timing process failed ({failure.reason})"
            )
        except WorkFailed as own_failure:
            if own_failure.kind == "stopped":
                raise Cancelled() from None
            result.status = "failed"
            result.error = f"timing failed: {own_failure.reason}"[:500]
            if own_failure.detail:
                result.notes.append("traceback: " + own_failure.detail[-1500:])
    return figures


def _position(run: Run, key: str) -> int:
    return [c.key for c in run.candidates].index(key)
