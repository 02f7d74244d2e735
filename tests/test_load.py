"""The load generator against a stand-in server of known capacity, and the capacity estimate
against queueing results known in closed form."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from advisor.serve.calibration import calibrate_overhead
from advisor.serve.capacity import estimate_capacity, fleet_for_peak, fleet_for_profile, simulate_sojourn_ms
from advisor.serve.client import MAX_CONNECTIONS, Endpoint, install_requests, poisson_schedule, run_window
from advisor.serve.load import LoadClient, LoadStopped, json_records, load_test, measure_level

from conftest import PROJECT


def _standin(service_ms: float) -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, str(PROJECT / "tests" / "standin_server.py"), "--service-ms", str(service_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}/predict"
    finally:
        server.terminate()
        server.wait(5)


@pytest.fixture(scope="module")
def server_5ms() -> Iterator[str]:
    yield from _standin(5.0)


@pytest.fixture(scope="module")
def server_2ms() -> Iterator[str]:
    yield from _standin(2.0)


def _md1_sojourn_p99_ms(rate_per_ms: float, service_ms: float) -> float:
    """M/D/1: P(wait <= t) = (1 - rho) sum_{k <= t/D} (lambda (kD - t))^k / k! e^{-lambda (kD - t)}
    (Erlang's formula); the 99th percentile of wait + D, by bisection."""
    rho = rate_per_ms * service_ms

    def cdf(t: float) -> float:
        total = 0.0
        for k in range(int(t // service_ms) + 1):
            x = rate_per_ms * (k * service_ms - t)
            total += x**k / math.factorial(k) * math.exp(-x)
        return (1 - rho) * total

    low, high = 0.0, 40 * service_ms
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < 0.99 else (low, middle)
    return low + service_ms


def test_the_poisson_schedule_has_the_requested_mean_rate():
    times = poisson_schedule(500.0, 20.0, seed=3)
    assert abs(len(times) - 10_000) < 4 * math.sqrt(10_000)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(1 / 500, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential gaps: coefficient of variation 1
    assert times.min() >= 0 and times.max() < 20.0
    assert np.array_equal(times, poisson_schedule(500.0, 20.0, seed=3))  # drawn up front, reproducible


def test_records_are_sent_as_json_safe_values():
    rows = pd.DataFrame({"a": [1.5, np.nan], "b": ["x", None]})
    assert json_records(rows) == [{"a": 1.5, "b": "x"}, {"a": None, "b": None}]


def test_latency_is_counted_from_the_scheduled_send_time(server_5ms):
    endpoint = Endpoint.parse(server_5ms)
    install_requests([endpoint.request(b"{}")])  # this process plays the client's worker
    light = run_window(endpoint, "open", 20.0, 1.0, time.time(), 1.0, seed=1)
    assert not light["errors"] and light["sent"] > 5
    assert 4.5 <= np.median(light["latencies_ms"]) <= 9.0  # about the service time at low load
    # At 1.5x capacity the queue grows through the window: latency from the schedule shows it,
    # where a client that waited for each answer (coordinated omission) would still see ~5 ms.
    heavy = run_window(endpoint, "open", 300.0, 0.5, time.time(), 2.0, seed=2)
    assert np.percentile(heavy["latencies_ms"], 99) > 60.0
    # Every request is accounted for, and the connections stay within the client's pool.
    assert len(heavy["latencies_ms"]) + sum(heavy["errors"].values()) == heavy["sent"]
    assert 8 <= heavy["connections"] <= MAX_CONNECTIONS
    closed = run_window(endpoint, "closed", 1, 0.3, time.time(), 1.0, seed=0)
    assert np.median(closed["latencies_ms"]) < 9.0 and closed["connections"] == 1
    assert len(closed["latencies_ms"]) == closed["sent"] and not closed["errors"]


def test_an_overloaded_server_gets_no_more_connections_than_the_pool_holds(server_5ms):
    # 2,000/s at a 200/s server for 0.5 s: a client opening a connection per waiting request would
    # open ~900; the pool holds the rest back in the client (their latency still counts from the
    # schedule), and those still waiting at the deadline are timeouts, not lost.
    endpoint = Endpoint.parse(server_5ms)
    install_requests([endpoint.request(b"{}")])
    flood = run_window(endpoint, "open", 2000.0, 0.5, time.time(), 0.5, seed=4)
    assert flood["connections"] <= MAX_CONNECTIONS
    assert flood["errors"].get("timeout", 0) > 0
    assert len(flood["latencies_ms"]) + sum(flood["errors"].values()) == flood["sent"]


def test_a_level_is_measured_until_two_windows_agree(server_5ms):
    records = json_records(pd.DataFrame({"a": [1, 2, 3]}))
    with LoadClient(server_5ms, [str(r).encode() for r in records], processes=1) as client:
        point = measure_level(client, "open", 50.0, 50.0, window_s=0.4, max_windows=4, min_requests=20)
    assert point.meets_bound and point.errors == 0
    assert 2 <= point.windows <= 4 and len(point.window_p99_ms) == point.windows
    assert point.stable == (point.windows < 4 or point.stable)
    assert point.achieved_rps == pytest.approx(50.0, rel=0.35)
    assert 0 <= point.client_cpu_core_share < 1.0


def test_the_search_finds_the_capacity_of_a_server_with_a_known_service_time(server_2ms):
    bound_ms = 20.0
    rows = pd.DataFrame({"a": np.arange(10.0)})
    result = load_test(
        server_2ms,
        rows,
        bound_ms,
        window_s=0.3,
        max_windows=3,
        resolution=0.25,
        timeout_s=0.5,
        processes=1,
        min_requests=100,
    )
    assert result.body_shape == "record" and result.found is not None and result.max_rps is not None
    assert result.probe is not None and result.probe.p50_ms == pytest.approx(2.0, abs=1.5)
    # One worker, deterministic 2 ms: capacity is 500/s; p99 <= 20 ms holds up to about 80% of it
    # (M/D/1), which is what the estimate simulates. The bounds are wide: two shared cores, short windows.
    estimate = estimate_capacity(2.0, None, bound_ms, arrivals=30_000)
    assert 0.5 * estimate.max_rps <= result.max_rps <= min(1.3 * estimate.max_rps, 500.0)
    assert any(not p.meets_bound for p in result.curve)  # the search saw the bound fail above it
    plain = result.to_dict()
    assert plain["found"]["p99_ms"] <= bound_ms and "Poisson" in plain["method"]


def test_a_stop_request_ends_the_search_within_about_one_window(server_2ms):
    # The same search as above takes several levels of up to 1.2 s windows; asked to stop after 1 s,
    # it ends before its next window: within the longest window (4 x 0.3 s) and one pause after a
    # failed level (0.5 s), plus slack for two shared cores.
    asked = threading.Event()
    asked_at: list[float] = []
    timer = threading.Timer(1.0, lambda: (asked_at.append(time.monotonic()), asked.set()))
    measured = []
    timer.start()
    try:
        with pytest.raises(LoadStopped):
            load_test(
                server_2ms,
                pd.DataFrame({"a": np.arange(10.0)}),
                20.0,
                window_s=0.3,
                max_windows=3,
                resolution=0.25,
                timeout_s=0.5,
                processes=1,
                min_requests=100,
                progress=measured.append,
                should_stop=asked.is_set,
            )
    finally:
        timer.cancel()
    assert asked_at and time.monotonic() - asked_at[0] < 1.2 + 0.5 + 1.5
    assert len(measured) < 4  # the search found nothing like an answer before it stopped


def test_the_calibrated_overhead_recovers_a_servers_known_per_request_cost(server_2ms):
    # The stand-in answers one request every 2 ms at saturation: with a "model" of 0.5 ms in-process,
    # the server adds 1.5 ms a request, whatever one unloaded round trip shows.
    rows = pd.DataFrame({"a": np.arange(10.0)})
    calibration = calibrate_overhead(server_2ms, rows, 0.5, concurrency=4, window_s=0.5, processes=1, floor_requests=50)
    assert calibration.errors == 0 and calibration.concurrency == 4 and calibration.probe_s == 1.0
    # The floor: a light open-loop probe at a fifth of the saturated rate, less the 2 ms service time.
    assert calibration.floor_rps == pytest.approx(0.2 * calibration.saturated_rps)
    assert set(calibration.floor_ms) == {"p50", "p95", "p99"}
    assert 0 <= calibration.floor_ms["p50"] <= calibration.floor_ms["p95"] <= calibration.floor_ms["p99"]
    assert "no queue explains" in calibration.floor_method
    assert calibration.saturated_rps == pytest.approx(500.0, rel=0.1)
    assert calibration.server_ms_per_request == pytest.approx(2.0, rel=0.1)
    assert calibration.overhead_ms == pytest.approx(1.5, abs=0.2)
    assert "saturated" in calibration.method and "same machine" in calibration.method
    # Fed to the estimate, it gives the stand-in's own capacity (M/D/1 at 2 ms a request).
    calibrated = estimate_capacity(0.5, None, 20.0, overhead_ms=calibration.overhead_ms, arrivals=30_000)
    known = estimate_capacity(2.0, None, 20.0, arrivals=30_000)
    assert calibrated.max_rps == pytest.approx(known.max_rps, rel=0.12)


def test_the_load_command_writes_its_result_as_json(server_2ms, tmp_path):
    pd.DataFrame({"a": np.arange(10.0)}).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "load.json"
    command = [sys.executable, "-m", "advisor", "load", server_2ms, "--rows", str(tmp_path / "rows.csv")]
    command += ["--p99-ms", "20", "--rate", "100", "--duration", "0.3", "--processes", "1", "--out", str(out)]
    done = subprocess.run(
        command,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    saved = json.loads(out.read_text())
    assert saved["max_rps"] == 100.0 and saved["found"]["p99_ms"] <= 20.0
    assert saved["method"].startswith("open loop: Poisson arrivals") and "one level as given" in saved["method"]
    assert "100 requests/s with p99 <= 20 ms" in done.stdout and f"Written to {out}" in done.stdout
    assert "100/s offered" in done.stderr  # the progress, one line a level


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_the_simulated_md1_p99_matches_erlangs_formula(rho):
    service_ms = 1.0
    sojourn, busy, mean_batch = simulate_sojourn_ms(rho * 1e3 / service_ms, service_ms, arrivals=100_000, seed=0)
    assert np.percentile(sojourn, 99) == pytest.approx(_md1_sojourn_p99_ms(rho / service_ms, service_ms), rel=0.06)
    assert busy == pytest.approx(rho, abs=0.02) and mean_batch == 1.0


def test_the_estimate_finds_the_md1_rate_at_the_bound():
    estimate = estimate_capacity({"p50_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0}, None, 11.36, arrivals=50_000)
    # Erlang's formula puts the M/D/1 sojourn p99 at 11.36 ms at rho = 0.8 with D = 1 ms.
    assert estimate.max_rps == pytest.approx(800.0, rel=0.05)
    assert estimate.p99_ms <= 11.36 and "M/G/1" in estimate.method


def test_batching_raises_capacity_when_the_batch_curve_is_sublinear():
    curve = {1: 1.0, 16: 3.0, 256: 30.0}  # 16 rows cost 3x one row
    alone = estimate_capacity(1.0, curve, 10.0, overhead_ms=0.1, arrivals=30_000)
    batched = estimate_capacity(1.0, curve, 10.0, max_batch=32, max_wait_ms=2.0, overhead_ms=0.1, arrivals=30_000)
    assert batched.max_rps > 2 * alone.max_rps and batched.mean_batch > 2
    linear = {1: 1.0, 16: 16.0, 256: 256.0}  # no economy of scale: batching buys nothing
    no_gain = estimate_capacity(1.0, linear, 10.0, max_batch=32, max_wait_ms=2.0, overhead_ms=0.1, arrivals=30_000)
    assert no_gain.max_rps <= 1.1 * alone.max_rps


def test_the_latency_floor_is_added_to_every_simulated_answer():
    # M/D/1 with D = 1 ms has its sojourn p99 at 11.36 ms at rho = 0.8 (Erlang); a constant floor of
    # 3 ms outside the queue moves the bound that rate meets to 14.36 ms.
    service = {"p50_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0}
    estimate = estimate_capacity(service, None, 14.36, arrivals=50_000, delay_ms=3.0)
    assert estimate.max_rps == pytest.approx(800.0, rel=0.05)
    assert "latency floor outside the queue of 3 ms" in estimate.method
    # A floor with a tail (p50 1 ms, p99 6 ms) leaves less room for queueing than its median alone
    # would, and more than its mean-plus-tail as a constant: the two tails rarely meet in one answer.
    tailed = estimate_capacity(service, None, 14.36, arrivals=50_000, delay_ms={"p50": 1.0, "p95": 3.0, "p99": 6.0})
    median_only = estimate_capacity(service, None, 14.36, arrivals=50_000, delay_ms=1.0)
    assert estimate.max_rps < tailed.max_rps < median_only.max_rps and "p99 6 ms" in tailed.method


def test_a_few_fast_records_are_answered_one_by_one_not_as_a_slow_batch():
    # A fast single-row path (0.01 ms) beside a batch call that costs 0.4 ms however few rows it has:
    # the server answers a handful of records one by one, so batching never costs capacity.
    curve = {1: 0.4, 16: 0.5, 256: 2.0}
    alone = estimate_capacity(0.01, curve, 10.0, overhead_ms=0.2, arrivals=30_000)
    batched = estimate_capacity(0.01, curve, 10.0, max_batch=32, overhead_ms=0.2, arrivals=30_000)
    assert batched.max_rps >= 0.95 * alone.max_rps
    from advisor.serve.server import _alone_below

    # 2 rows 0.4 ms, 32 rows 0.7 ms: fixed 0.38 ms + 0.01 ms a row; a record alone 0.02 ms.
    assert _alone_below(0.02, 0.4, 0.7, 32) == pytest.approx(0.38 / 0.01, rel=0.01)
    assert _alone_below(0.005, 0.4, 0.7, 32) == float("inf")  # alone is always quicker
    assert _alone_below(1.0, 1.2, 5.0, 32) < 2  # a slow single-row path: batch everything


def test_the_workers_needed_for_a_peak_and_their_cost():
    fleet = fleet_for_peak(1000.0, 300.0, cores_per_machine=2, usd_per_hour_per_machine=0.1)
    assert fleet.workers == 4 and fleet.machines == 2
    assert fleet.usd_per_month == pytest.approx(2 * 0.1 * 730)
    assert fleet_for_peak(600.0, 300.0, 2, 0.1).workers == 2  # exactly at capacity: no spare worker
    import advisor

    cloud = fleet_for_profile(100.0, 1000.0, advisor.get_target("cloud-cpu"))
    assert cloud.workers == 1 and cloud.machines == 1 and "ceil" in cloud.method
    with pytest.raises(ValueError):
        fleet_for_peak(10.0, 0.0, 2, 0.1)


def test_a_server_that_refuses_connections_gives_connection_errors_not_a_hang():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = Endpoint.parse(f"http://127.0.0.1:{port}/predict")
    install_requests([endpoint.request(b"{}")])
    started = time.monotonic()
    opened = run_window(endpoint, "open", 100.0, 0.3, time.time(), 0.5, seed=5)
    closed = run_window(endpoint, "closed", 2, 0.3, time.time(), 0.5, seed=0)
    assert time.monotonic() - started < 5
    for window in (opened, closed):
        assert window["sent"] > 0 and not len(window["latencies_ms"])
        assert sum(window["errors"].values()) == window["sent"]
        assert all(kind.startswith("connection: ") for kind in window["errors"]), window["errors"]
