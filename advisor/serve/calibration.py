"""The per-request cost a server adds to its model, calibrated from the server under load.

One client's unloaded round trip understates it: under load the server's event loop and its
predict thread take turns on the GIL, and every request is parsed, checked and answered in JSON
(with probabilities). So the server is driven to saturation instead: `concurrency` closed-loop
clients (each sends its next request when its last one was answered) keep its queue non-empty for
a short probe, and the throughput X they achieve is what one worker serves back to back. Without
batching (max batch 1) each request is one service, so

    per-request cost at saturation = 1 / X,    overhead = 1 / X - the in-process single-row time.

That is the cost of a request when the worker is never idle and 8 connections keep it fed. Open
loop, near the rate where a p99 bound binds, a request costs the server more: its event loop
reads fewer requests per turn, so its own per-turn work is shared among fewer (on adult's linear
model the server's CPU per request was 0.234 ms at 1,000 requests/s, 0.195 ms at 4,000, 0.152 ms
at 6,000, 0.148 ms with 8 closed-loop clients and 0.104 ms with 32). An estimate on the
saturated cost ran 1.3-1.8x above the measured capacity. So, when the server reports its CPU
time (`/health` `cpu_s`), an open-loop probe at `KNEE_SHARE` of the saturated rate (where the
measured capacity fell, 0.55-0.8 of it, on adult) reads the server's CPU per request there, and
that is the service cost the estimate uses:

    overhead = the server's CPU time per request at the knee probe - the in-process single-row time.

The load client runs where it runs (on the bench and in a run's serving check: the same machine):
its CPU time competes with the server's, and the calibration keeps that competition in the cost,
so an estimate built on it holds for that setting (the `method` says how much of the machine the
client used).

Then the latency floor: what a request waits that no queue explains (the client's and the
kernel's scheduling, the network stack, a collection by Python's garbage collector). An open-loop
probe at `LIGHT_SHARE` of the saturated rate, where the worker is mostly idle, measures the round
trip's p50/p95/p99; less the service time (overhead + model time), that is the floor the
estimate adds to every simulated answer (`capacity.simulate_sojourn_ms`'s `delay_ms`). On two
shared cores its p99 was 2-6 ms beside a service time of about 0.5 ms, which is why an estimate
without it ran 1.2-2x above the measured capacity at a 10 ms bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advisor.serve.load import load_test

SATURATION_CLIENTS = 8  # enough to keep one worker's queue non-empty at sub-millisecond service times
PROBE_WINDOW_S = 1.0
PROBE_WINDOWS = 2  # the probe pools two windows: about 2 s of saturation
LIGHT_SHARE = 0.2  # the floor's probe offers this share of the saturated rate (a mostly idle worker)
KNEE_SHARE = 0.6  # the cost's probe offers this share of it (near where a p99 bound binds)
KNEE_REQUESTS = 300  # at least this many requests in each of its windows (the load generator's default)
LIGHT_REQUESTS = 600  # at least this many requests in each of the floor probe's windows (p99 from 6 or more)


@dataclass(frozen=True)
class OverheadCalibration:
    """The per-request overhead over the in-process single-row time, from saturated throughput."""

    overhead_ms: float  # server_ms_per_request - model_ms, at least 0
    server_ms_per_request: float  # 1000 / saturated_rps
    model_ms: float  # the in-process single-row time subtracted (its p50)
    saturated_rps: float  # answered per second with `concurrency` closed-loop clients
    concurrency: int
    probe_s: float  # seconds of saturation the figure pools
    latency_p50_ms: float | None  # round trip at saturation (queueing included)
    client_cpu_machine_share: float  # the load client's CPU time / (wall time x cores) during the probe
    errors: int
    method: str
    floor_ms: dict[str, float] | None = None  # p50/p95/p99 of the round trip less the service time, light load
    floor_rps: float | None = None  # the rate the floor was probed at
    floor_method: str = ""
    # the server's own CPU time per request during the floor's probe (its /health `cpu_s`), when it reports one
    open_loop_ms_per_request: float | None = None
    # ... and during the knee's probe at `knee_rps`: the service cost the overhead comes from, when measured
    knee_ms_per_request: float | None = None
    knee_rps: float | None = None
    saturated_overhead_ms: float | None = None  # the overhead from the saturated throughput alone


def _server_cpu(url: str) -> tuple[float, int] | None:
    """The server's CPU seconds and requests answered so far, from its /health (None if it has none)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(url.rsplit("/", 1)[0] + "/health", timeout=2) as answer:
            health = json.loads(answer.read())
        return float(health["cpu_s"]), int(health["requests_served"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def calibrate_overhead(
    url: str,
    rows: Any,
    model_ms: float,
    *,
    concurrency: int = SATURATION_CLIENTS,
    window_s: float = PROBE_WINDOW_S,
    windows: int = PROBE_WINDOWS,
    processes: int | None = None,
    timeout_s: float = 2.0,
    floor: bool = True,
    floor_requests: int = LIGHT_REQUESTS,
    should_stop: Callable[[], bool] | None = None,
    client_cores: frozenset[int] | None = None,
) -> OverheadCalibration:
    """Saturate the unbatched server at `url` (its `POST /predict`, one row of `rows` a request)
    and return its per-request cost less `model_ms`, the model's in-process single-row time; with
    `floor`, also the latency floor from a light open-loop probe (see the module's note).
    `should_stop` is passed to both probes (`load.LoadStopped` when it says stop)."""
    result = load_test(
        url,
        rows,
        timeout_s * 1e3,  # no bound to meet: the probe wants throughput, not a passing level
        mode="closed",
        concurrency=concurrency,
        window_s=window_s,
        max_windows=windows,
        timeout_s=timeout_s,
        processes=processes,
        should_stop=should_stop,
        client_cores=client_cores,
    )
    point = result.curve[-1]
    if point.achieved_rps <= 0:
        raise RuntimeError(f"{url} answered no request in the {point.windows * window_s:g} s saturation probe")
    server_ms = 1e3 / point.achieved_rps
    saturated_overhead_ms = max(0.0, server_ms - model_ms)
    overhead_ms = saturated_overhead_ms
    method = (
        f"calibrated under load: {concurrency} closed-loop clients saturated the unbatched server for "
        f"{point.windows} x {window_s:g} s and it answered {point.achieved_rps:,.0f} requests/s, so "
        f"{server_ms:.3g} ms a request"
    )
    knee_ms, knee_rps = None, KNEE_SHARE * point.achieved_rps

    def open_probe(rate: float, max_windows: int, min_requests: int) -> tuple[Any, float | None]:
        """One open-loop level at `rate`: its point, and the server's CPU ms per request over it."""
        before = _server_cpu(url)
        probe = load_test(
            url,
            rows,
            timeout_s * 1e3,  # no bound to meet
            rate_rps=rate,
            window_s=window_s,
            max_windows=max_windows,
            timeout_s=timeout_s,
            processes=processes,
            min_requests=min_requests,
            should_stop=should_stop,
            client_cores=client_cores,
        ).curve[-1]
        after = _server_cpu(url)
        cpu_ms = (
            (after[0] - before[0]) * 1e3 / (after[1] - before[1]) if before and after and after[1] > before[1] else None
        )
        return probe, cpu_ms

    if _server_cpu(url) is not None:  # a server that reports its CPU time (`advisor serve` does)
        knee, cpu_ms = open_probe(knee_rps, windows, KNEE_REQUESTS)
        if cpu_ms is not None and knee.errors == 0:
            knee_ms = cpu_ms
            overhead_ms = max(0.0, knee_ms - model_ms)
            method += (
                f"; open loop at {knee_rps:,.0f} requests/s ({KNEE_SHARE:.0%} of that, near where a p99 bound binds) "
                f"the server spent {knee_ms:.3g} ms of CPU a request (its /health cpu_s), the cost used"
            )
    method += (
        f"; less the in-process single-row p50 ({model_ms:.3g} ms) = {overhead_ms:.3g} ms of HTTP, JSON and GIL "
        f"sharing a request. The load client ran on the same machine and used {point.client_cpu_machine_share:.0%} "
        "of its CPU: its competition for the cores is in the figure, so the estimate is for that setting"
    )
    floor_ms, floor_rps, floor_method, open_loop_ms = None, None, "", None
    if floor:
        floor_rps = LIGHT_SHARE * point.achieved_rps
        light, open_loop_ms = open_probe(floor_rps, windows + 1, floor_requests)
        service_ms = overhead_ms + model_ms
        if light.p50_ms is not None and light.p95_ms is not None and light.p99_ms is not None:
            floor_ms = {
                "p50": max(0.0, light.p50_ms - service_ms),
                "p95": max(0.0, light.p95_ms - service_ms),
                "p99": max(0.0, light.p99_ms - service_ms),
            }
            floor_method = (
                f"latency floor: an open-loop probe at {floor_rps:,.0f} requests/s ({LIGHT_SHARE:.0%} of the "
                f"saturated rate; {light.requests:,} requests) answered in p50 {light.p50_ms:.3g} / p95 "
                f"{light.p95_ms:.3g} / p99 {light.p99_ms:.3g} ms; less the {service_ms:.3g} ms service time, "
                f"p50 {floor_ms['p50']:.3g} / p95 {floor_ms['p95']:.3g} / p99 {floor_ms['p99']:.3g} ms that no queue "
                "explains, added to every simulated answer"
            )
    return OverheadCalibration(
        knee_ms_per_request=knee_ms,
        knee_rps=knee_rps if knee_ms is not None else None,
        saturated_overhead_ms=saturated_overhead_ms,
        open_loop_ms_per_request=open_loop_ms,
        floor_ms=floor_ms,
        floor_rps=floor_rps,
        floor_method=floor_method,
        overhead_ms=overhead_ms,
        server_ms_per_request=server_ms,
        model_ms=model_ms,
        saturated_rps=point.achieved_rps,
        concurrency=concurrency,
        probe_s=point.windows * window_s,
        latency_p50_ms=point.p50_ms,
        client_cpu_machine_share=point.client_cpu_machine_share,
        errors=point.errors,
        method=method,
    )
