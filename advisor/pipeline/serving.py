"""The serving check (optional, `RunPlan.serve_check`): the Pareto front served over HTTP and loaded.

After timing and ranking, each candidate on the front (the pick first, at most
`ServeCheck.max_candidates`) is served from its own stored artifact by `python -m advisor serve`
in a subprocess on this machine (one worker, one model thread), once per configuration (no
batching; dynamic batching), and the load generator (`advisor.serve.load.load_test`: open loop,
Poisson arrivals) finds the highest rate whose p99 stays within the bound: the run's p99 limit,
else the deployment target's expected p99, else 10 ms. Beside each measured rate, the queueing
estimate from the in-process figures (`advisor.serve.capacity`), with the per-request HTTP
overhead calibrated on that candidate's own unbatched server under load (`advisor.serve.calibration`:
closed-loop clients saturate it for two of the check's windows; an open-loop probe at 60% of that
rate reads the server's CPU time per request, and overhead = that - the in-process single-row p50,
the load client's share of the machine included; then a light open-loop probe measures the
latency floor no queue explains); every other measured candidate gets the estimate only (with the
served candidates' median overhead and floor). The load runs under the machine's
timing lock, like the timing phase: two runs loading at once would skew each other. A run's
Cancel ends a configuration's rate search before its next window (`load_test(should_stop=...)`).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from advisor.measure.figures import ServingMeasurement
from advisor.measure.lock import timing_lock
from advisor.pipeline.plan import ServeCheck
from advisor.pipeline.progress import Cancelled
from advisor.pipeline.session import Session
from advisor.results import CandidateResult
from advisor.serve.calibration import OverheadCalibration, calibrate_overhead
from advisor.serve.capacity import capacity_from_result, simulate_sojourn_ms
from advisor.serve.load import LoadResult, LoadStopped, load_test

DEFAULT_P99_BOUND_MS = 10.0
START_TIMEOUT_S = 60.0
CURVE_ARRIVALS = 20_000  # simulated arrivals per point of the estimate's curve (the capacity search uses 1e5)
# The estimate alone (candidates not served) simulates fewer arrivals: with batching, 1e5 took about
# 3 s a candidate on a 2-core machine, 2e4 about 0.6 s, and a default run has 38 candidates.
ESTIMATE_ONLY_ARRIVALS = 20_000
PRIOR_S_PER_CONFIGURATION = 20.0  # serving, loading and estimating one configuration (22 s on penguins, 2 vCPUs)


def p99_bound_ms(session: Session) -> float:
    """The run's p99 limit, else the target's expected p99, else 10 ms."""
    limit = session.plan.limit_values.get("p99_ms")
    return float(limit or session.plan.profile.latency_p99_ms or DEFAULT_P99_BOUND_MS)


def served_keys(session: Session, check: ServeCheck) -> list[str]:
    """The front's candidates that can be served (measured, with an artifact), the pick first."""
    run = session.run
    recommendation = run.recommendation or run.rank()
    front = sorted(recommendation.pareto, key=lambda key: key != recommendation.key)
    ready = [k for k in front if run.candidate(k).artifact and run.candidate(k).latency is not None]
    return ready[: check.max_candidates]


def expected_seconds(check: ServeCheck | None, front_size: int = 3) -> float:
    """The check's prior cost, for the run's time-left estimate."""
    if check is None:
        return 0.0
    return PRIOR_S_PER_CONFIGURATION * len(check.configurations) * min(front_size, check.max_candidates)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _split_cores() -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """The server's core and the load client's: with two or more usable cores the worker gets the
    first to itself, as a worker on a machine of its own would, and the client the rest, so the two
    never queue for one core (on a shared pair the client's turns showed up as the server's tail)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None, None
    return frozenset(cores[:1]), frozenset(cores[1:])


SERVER_CORES, CLIENT_CORES = _split_cores()


def _pin(cores: frozenset[int] | None) -> Any:
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


def start_server(
    artifact: str, max_batch: int, max_wait_ms: float, cores: frozenset[int] | None = SERVER_CORES
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m advisor serve` on a free port (on `cores`: by default the server's own core, see
    `_split_cores`), waited for until /health answers; returns the process and its /predict URL."""
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    project_root = str(Path(__file__).resolve().parents[2])  # advisor/pipeline/serving.py -> the project
    env["PYTHONPATH"] = project_root + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "advisor", "serve", artifact, "--port", str(port)]
    command += ["--max-batch", str(max_batch), "--max-wait-ms", f"{max_wait_ms:g}", "--threads", "1"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_pin(cores)
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = (server.stderr.read() if server.stderr else b"").decode(errors="replace").strip()
            last = error.splitlines()[-1] if error else f"exit status {server.returncode}"
            raise RuntimeError(f"the server did not start: {last}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as answer:
                if answer.status == 200:
                    return server, f"{base}/predict"
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server did not answer /health within {START_TIMEOUT_S:g} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)
    if server.stderr:
        server.stderr.close()


def _estimate(
    candidate: CandidateResult,
    bound: float,
    overhead_ms: float,
    max_batch: int,
    max_wait_ms: float,
    rates: list[float],
    arrivals: int = 100_000,
    overhead_method: str = "",
    floor_ms: Any = 0.0,
) -> tuple[Any, tuple[tuple[float, float], ...]]:
    """The capacity estimate, and its simulated p99 at each measured offered rate."""
    estimate = capacity_from_result(
        candidate, bound, overhead_ms, max_batch, max_wait_ms, arrivals, overhead_method, floor_ms
    )
    curve = []
    single = {size: m for size, m in candidate.batches.items() if m.threads == 1}
    for rate in rates:
        sojourn, _, _ = simulate_sojourn_ms(
            rate, candidate.latency, single or None, max_batch, max_wait_ms, overhead_ms, CURVE_ARRIVALS, 0, floor_ms
        )
        curve.append((rate, float(np.percentile(sojourn, 99))))
    return estimate, tuple(curve)


def _measurement(
    candidate: CandidateResult,
    bound: float,
    max_batch: int,
    max_wait_ms: float,
    result: LoadResult | None,
    overhead_ms: float,
    overhead_method: str,
    load_s: float,
    notes: tuple[str, ...] = (),
    floor_ms: Any = 0.0,
) -> ServingMeasurement:
    measured = [(float(p.offered_rps or 0.0), p.achieved_rps, p.p99_ms) for p in (result.curve if result else ())]
    rates = sorted({rate for rate, _, _ in measured})
    arrivals = 100_000 if result else ESTIMATE_ONLY_ARRIVALS
    started = time.perf_counter()
    estimate, estimate_curve = _estimate(
        candidate, bound, overhead_ms, max_batch, max_wait_ms, rates, arrivals, overhead_method, floor_ms
    )
    found = result.found if result else None
    how = (
        f"served by `python -m advisor serve` from the run's own artifact in a subprocess on this machine (one "
        f"worker, 1 model thread, --max-batch {max_batch} --max-wait-ms {max_wait_ms:g}), the load generator "
        f"on the same machine; {result.method}"
        if result
        else "not served (not on the Pareto front, or the check was stopped): the estimate only"
    )
    return ServingMeasurement(
        p99_bound_ms=bound,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        served=result is not None,
        max_rps_at_p99=result.max_rps if result else None,
        p50_ms=found.p50_ms if found else None,
        p95_ms=found.p95_ms if found else None,
        p99_ms=found.p99_ms if found else None,
        achieved_rps=found.achieved_rps if found else None,
        curve=tuple(measured),
        client_limited=bool(result and result.client_limited),
        overhead_ms=overhead_ms,
        estimate_rps=estimate.max_rps,
        estimate_p99_ms=estimate.p99_ms,
        estimate_curve=estimate_curve,
        estimate_method=estimate.method,
        wall_s=load_s + time.perf_counter() - started,
        notes=(*notes, *(result.notes if result else ())),
        method=how,
    )


def _serve_and_load(
    session: Session, key: str, check: ServeCheck, bound: float, rows: Any
) -> tuple[list[ServingMeasurement], OverheadCalibration | None]:
    """One candidate served in each configuration: its measurements, and the HTTP overhead and
    latency floor calibrated on its unbatched server (None when it could not be served)."""
    candidate = session.run.candidate(key)
    assert candidate.latency is not None and candidate.artifact
    calibration: OverheadCalibration | None = None
    # The unbatched server goes first: saturating it calibrates the overhead that every configuration's
    # estimate uses. Without one among the configurations, one is started for the calibration alone.
    order = sorted(check.configurations, key=lambda c: c[0] != 1)
    to_serve: list[tuple[int, float, bool]] = [(b, w, True) for b, w in order]
    if order[0][0] != 1:
        to_serve.insert(0, (1, 0.0, False))
    loaded: dict[tuple[int, float], tuple[LoadResult, float]] = {}
    for max_batch, max_wait_ms, to_load in to_serve:
        if session.stop():
            raise Cancelled()
        started = time.perf_counter()
        try:
            server, url = start_server(candidate.artifact, max_batch, max_wait_ms)
        except RuntimeError as exc:
            candidate.notes.append(f"serving check: not served ({exc})")
            break
        try:
            if calibration is None:
                calibration = calibrate_overhead(
                    url,
                    rows,
                    candidate.latency.p50_ms,
                    window_s=check.window_s,
                    should_stop=session.stop,
                    client_cores=CLIENT_CORES,
                )
            if to_load:
                if session.stop():
                    raise Cancelled()
                result = load_test(
                    url,
                    rows,
                    bound,
                    window_s=check.window_s,
                    max_windows=check.max_windows,
                    resolution=check.resolution,
                    min_requests=check.min_requests,
                    should_stop=session.stop,  # a Cancel ends the search within about one window
                    client_cores=CLIENT_CORES,
                )
                loaded[(max_batch, max_wait_ms)] = (result, time.perf_counter() - started)
        except LoadStopped:
            raise Cancelled() from None
        except RuntimeError as exc:  # the calibration got no answer
            candidate.notes.append(f"serving check: not loaded ({exc})")
            break
        finally:
            stop_server(server)
    if calibration is None:
        return [], None
    overhead_ms, how = calibration.overhead_ms, "; ".join(filter(None, (calibration.method, calibration.floor_method)))
    found = []
    for b, w in check.configurations:  # in the check's order, whatever order they were served in
        if (b, w) in loaded:
            result, load_s = loaded[(b, w)]
            found.append(
                _measurement(
                    candidate, bound, b, w, result, overhead_ms, how, load_s, floor_ms=calibration.floor_ms or 0.0
                )
            )
    return found, calibration


def check_serving(session: Session) -> None:
    """Serve and load the front; estimate every measured candidate. Results go into each
    `CandidateResult.serving` and the store."""
    run, report, phases, store = session.run, session.report, session.phases, session.store
    check = session.plan.serve_check
    if check is None:
        return
    bound = p99_bound_ms(session)
    keys = served_keys(session, check)
    rows = session.split.X_test.head(check.rows).reset_index(drop=True)
    total = len(keys) * len(check.configurations)
    t_phase = time.perf_counter()

    def on_wait(waited: float, holder: dict[str, Any] | None) -> None:
        other = f"run {holder['run_id'][:8]}" if holder and holder.get("run_id") else "another run"
        report("serving", f"Waiting for the timing lock: {other} is timing on this machine ({waited:.0f} s so far)")

    calibrations: list[OverheadCalibration] = []
    try:
        lock = timing_lock(run.run_id, on_wait=on_wait, should_stop=session.stop)
        lock.__enter__()
    except InterruptedError:
        raise Cancelled() from None
    try:
        for index, key in enumerate(keys):
            done = index * len(check.configurations)
            spent = time.perf_counter() - t_phase
            per = spent / done if done else PRIOR_S_PER_CONFIGURATION
            report.left("serving", per * (total - done))
            report(
                "serving",
                f"Serving {run.candidate(key).name} over HTTP and loading it (p99 <= {bound:g} ms)",
                phase="serving",
                done=done,
                total=total,
                unit="configurations",
            )
            measured, calibration = _serve_and_load(session, key, check, bound, rows)
            run.candidate(key).serving = tuple(measured)
            if calibration is not None:
                calibrations.append(calibration)
    finally:
        lock.__exit__(None, None, None)
    typical = statistics.median(c.overhead_ms for c in calibrations) if calibrations else 0.0
    floors = [c.floor_ms for c in calibrations if c.floor_ms]
    floor = {q: statistics.median(f[q] for f in floors) for q in ("p50", "p95", "p99")} if floors else 0.0
    for candidate in run.candidates:  # the estimate alone for every other measured candidate
        if candidate.key in keys or candidate.latency is None or candidate.status != "measured":
            continue
        note = (
            f"HTTP overhead {typical:.3g} ms and latency floor: the medians of the served candidates', each "
            "calibrated on its unbatched server (saturated, then lightly loaded)"
            if calibrations
            else "no candidate was served: no HTTP overhead or latency floor added"
        )
        candidate.serving = tuple(
            _measurement(candidate, bound, b, w, None, typical, note, 0.0, (note,), floor)
            for b, w in check.configurations
        )
    phases["serving_s"] = time.perf_counter() - t_phase
    for position, candidate in enumerate(run.candidates):
        if candidate.serving:
            store.save_candidate(run.run_id, candidate.key, position, candidate.status, candidate.to_dict())
