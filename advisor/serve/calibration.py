"""The per-request cost a server adds to its model, calibrated from the server under load.

One client's unloaded round trip understates it: under load the server's event loop and its
predict thread take turns on the GIL, and every request is parsed, checked and answered in JSON
(with probabilities). So the server is driven to saturation instead: `concurrency` closed-loop
clients (each sends its next request when its last one was answered) keep its queue non-empty for
a short probe, and the throughput X they achieve is what one worker serves back to back. Without
batching (max batch 1) each request is one service, so

    per-request cost at saturation = 1 / X,    overhead = 1 / X - the in-process single-row time.

The load client runs where it runs (on the bench and in a run's serving check: the same machine):
its CPU time competes with the server's, and the calibration keeps that competition in the cost,
so an estimate built on it holds for that setting (the `method` says how much of the machine the
client used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advisor.serve.load import load_test

SATURATION_CLIENTS = 8  # enough to keep one worker's queue non-empty at sub-millisecond service times
PROBE_WINDOW_S = 1.0
PROBE_WINDOWS = 2  # the probe pools two windows: about 2 s of saturation


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
) -> OverheadCalibration:
    """Saturate the unbatched server at `url` (its `POST /predict`, one row of `rows` a request)
    and return its per-request cost less `model_ms`, the model's in-process single-row time."""
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
    )
    point = result.curve[-1]
    if point.achieved_rps <= 0:
        raise RuntimeError(f"{url} answered no request in the {point.windows * window_s:g} s saturation probe")
    server_ms = 1e3 / point.achieved_rps
    overhead_ms = max(0.0, server_ms - model_ms)
    method = (
        f"calibrated under load: {concurrency} closed-loop clients saturated the unbatched server for "
        f"{point.windows} x {window_s:g} s and it answered {point.achieved_rps:,.0f} requests/s, so "
        f"{server_ms:.3g} ms a request; less the in-process single-row p50 ({model_ms:.3g} ms) = "
        f"{overhead_ms:.3g} ms of HTTP, JSON and GIL sharing a request. The load client ran on the same "
        f"machine and used {point.client_cpu_machine_share:.0%} of its CPU: its competition for the cores is in "
        "the figure, so the estimate is for that setting"
    )
    return OverheadCalibration(
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
