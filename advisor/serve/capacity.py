"""How many requests a second one worker can serve within a p99 bound, from figures measured in-process.

The queueing model, stated once (every estimate's `method` repeats it):

- arrivals are Poisson at rate lambda (open loop, as the load generator sends them);
- one worker serves one batch at a time, first come first served;
- without batching (max batch 1) it is an M/G/1 queue whose service time is a fixed per-request
  overhead (HTTP parsing, the JSON answer and GIL sharing, calibrated against the running server at
  saturation: see `calibration`) plus a single-row prediction time drawn from the measured
  single-row distribution (a piecewise-linear quantile function through its p50, p95 and p99);
- with dynamic batching (max batch N, max wait M), a batch closes when it holds N requests or when
  its oldest request has waited M ms, whichever comes first, and never before the worker is free
  (Triton's dynamic batcher's rule); it then takes the interpolated batch time for its size from
  the measured batch curve (p50 ms per call at 1, 16, 256, ... rows), with the single-row draw's
  relative jitter, or its requests' single-row draws one by one when they sum to less (as the
  server does: `server._alone_below`), plus the overhead once per request;
- to each simulated sojourn a delay is added that the worker's queue does not explain: the
  machine's own latency floor (the client's and the kernel's scheduling, the network stack),
  drawn from what a light open-loop probe of the served model measured beyond its service time
  (`calibration`: its p50/p95/p99 less the service time; 0 when not calibrated). On two shared
  cores this floor's p99 is several milliseconds, so without it the estimate ran 1.2-2x high;
- the p99 of the sojourn time (arrival to answer) comes from a seeded discrete-event simulation of
  1e5 arrivals (the first 10% dropped as warm-up), not from a closed formula, so the measured
  tail shapes it; the highest rate is found on a geometric grid, then by bisection.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

WARMUP_SHARE = 0.1  # of simulated arrivals, dropped: the queue starts empty


@dataclass(frozen=True)
class CapacityEstimate:
    """The highest Poisson arrival rate one worker serves with p99 within the bound (an estimate)."""

    max_rps: float
    p50_ms: float | None  # sojourn time (arrival to answer) at max_rps
    p95_ms: float | None
    p99_ms: float | None
    utilisation: float  # the worker's busy share at max_rps
    mean_batch: float  # requests per batch at max_rps
    p99_bound_ms: float
    max_batch: int
    max_wait_ms: float
    overhead_ms: float
    method: str


@dataclass(frozen=True)
class FleetEstimate:
    """Workers and machines for a stated peak rate, and what they cost a month (an estimate)."""

    peak_rps: float
    capacity_rps_per_worker: float
    workers: int
    cores_per_worker: int
    workers_per_machine: int
    machines: int
    usd_per_hour_per_machine: float
    usd_per_month: float
    method: str


def service_sampler(single_row_ms: Any) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Draws of the single-row time (ms) from what was measured: a number (deterministic), raw samples,
    or p50/p95/p99 (a `LatencyMeasurement`, or a mapping with `p50_ms` ... or `p50` ... keys)."""
    if isinstance(single_row_ms, int | float):
        value = float(single_row_ms)
        return lambda rng, n: np.full(n, value)
    quantiles = _quantiles(single_row_ms)
    if quantiles is None:
        samples = np.asarray(single_row_ms, dtype=float)
        return lambda rng, n: rng.choice(samples, size=n)
    p50, p95, p99 = quantiles
    # Below the median the spread is taken as small (a fast path's floor): 0.9 x p50 at the minimum.
    # Above p99 the tail goes on as far again as from p95 to p99 (bounded: a long tail is a measured p99).
    probabilities = [0.0, 0.5, 0.95, 0.99, 1.0]
    values = [0.9 * p50, p50, max(p95, p50), max(p99, p95, p50), max(p99, p50) + 2 * max(p99 - p95, 0.0)]
    return lambda rng, n: np.interp(rng.random(n), probabilities, values)


def _quantiles(measured: Any) -> tuple[float, float, float] | None:
    if all(hasattr(measured, f"p{q}_ms") for q in (50, 95, 99)):
        return measured.p50_ms, measured.p95_ms, measured.p99_ms
    if isinstance(measured, Mapping):
        for form in ("p{}_ms", "p{}"):
            if all(form.format(q) in measured for q in (50, 95, 99)):
                return tuple(float(measured[form.format(q)]) for q in (50, 95, 99))  # type: ignore[return-value]
        raise ValueError("Single-row latency as a mapping needs p50_ms, p95_ms and p99_ms (or p50, p95, p99).")
    return None


def batch_time(batch_curve: Mapping[int, Any]) -> Callable[[int], float]:
    """ms per call of n rows, interpolated linearly between measured sizes (extrapolated past the
    largest from its last two points). Values are ms or anything with `p50_ms` (a `BatchMeasurement`)."""
    points = sorted((int(size), float(getattr(value, "p50_ms", value))) for size, value in batch_curve.items())
    if not points:
        raise ValueError("The batch curve is empty; it needs p50 ms per call at one batch size or more.")
    sizes = np.array([p[0] for p in points], dtype=float)
    ms = np.array([p[1] for p in points], dtype=float)

    def at(n: int) -> float:
        if len(sizes) > 1 and n > sizes[-1]:
            slope = (ms[-1] - ms[-2]) / (sizes[-1] - sizes[-2])
            return float(ms[-1] + slope * (n - sizes[-1]))
        if len(sizes) == 1:
            return float(ms[0] * n / sizes[0])
        return float(np.interp(n, sizes, ms))

    return at


def simulate_sojourn_ms(
    rate_rps: float,
    single_row_ms: Any,
    batch_curve: Mapping[int, Any] | None = None,
    max_batch: int = 1,
    max_wait_ms: float = 0.0,
    overhead_ms: float = 0.0,
    arrivals: int = 100_000,
    seed: int = 0,
    delay_ms: Any = 0.0,
) -> tuple[np.ndarray, float, float]:
    """Sojourn times (ms) of simulated Poisson arrivals at one worker, after the warm-up, each plus
    a draw of `delay_ms` (the latency floor outside the worker's queue; see `service_sampler` for
    its forms); with the worker's busy share and the mean batch size."""
    rng = np.random.default_rng(seed)
    arrive = np.cumsum(rng.exponential(1e3 / rate_rps, size=arrivals))
    draws = service_sampler(single_row_ms)(rng, arrivals)
    keep = int(arrivals * WARMUP_SHARE)
    floor = service_sampler(delay_ms)(np.random.default_rng(seed + 1), arrivals - keep)
    sojourn, busy, mean_batch = _simulate(arrive, draws, batch_curve, max_batch, max_wait_ms, overhead_ms)
    return sojourn[keep:] + floor, busy, mean_batch


def _simulate(
    arrive: np.ndarray,
    draws: np.ndarray,
    batch_curve: Mapping[int, Any] | None,
    max_batch: int,
    max_wait_ms: float,
    overhead_ms: float,
) -> tuple[np.ndarray, float, float]:
    arrivals = len(arrive)
    if max_batch <= 1:
        service = draws + overhead_ms
        # Lindley's recursion in closed form: departure_n = C_n + max_{k<=n}(A_k - C_{k-1}), C = cumsum(S).
        done = np.cumsum(service)
        depart = done + np.maximum.accumulate(arrive - (done - service))
        busy = service.sum() / (depart[-1] - arrive[0])
        return depart - arrive, float(busy), 1.0
    if batch_curve is None:
        raise ValueError("Dynamic batching needs the batch curve (p50 ms per call at each measured batch size).")
    per_call = batch_time(batch_curve)
    median = float(np.median(draws))
    jitter = draws / median if median > 0 else np.ones(arrivals)
    times = arrive.tolist()
    depart = np.empty(arrivals)
    free = 0.0
    busy = 0.0
    batches = 0
    i = 0
    while i < arrivals:
        full_at = times[i + max_batch - 1] if i + max_batch - 1 < arrivals else math.inf
        close = max(free, min(times[i] + max_wait_ms, full_at))
        j = min(i + max_batch, bisect.bisect_right(times, close, lo=i))
        n = j - i
        alone = float(draws[i:j].sum())  # the server answers a few records one by one when that is quicker
        service = (alone if n == 1 else min(alone, per_call(n) * jitter[i])) + n * overhead_ms
        free = close + service
        depart[i:j] = free
        busy += service
        batches += 1
        i = j
    return depart - arrive, busy / (free - times[0]), arrivals / batches


def _delay_words(delay_ms: Any) -> str:
    quantiles = _quantiles(delay_ms) if not isinstance(delay_ms, int | float) else None
    if quantiles is not None:
        p50, p95, p99 = quantiles
        return f"plus a latency floor outside the queue of p50 {p50:.3g} / p95 {p95:.3g} / p99 {p99:.3g} ms"
    if isinstance(delay_ms, int | float):
        return f"plus a latency floor outside the queue of {delay_ms:.3g} ms" if delay_ms else "no latency floor added"
    return "plus a latency floor outside the queue drawn from measured samples"


def _p99(sojourn: np.ndarray) -> float:
    return float(np.percentile(sojourn, 99))


def estimate_capacity(
    single_row_ms: Any,
    batch_curve: Mapping[int, Any] | None,
    p99_bound_ms: float,
    max_batch: int = 1,
    max_wait_ms: float = 0.0,
    overhead_ms: float = 0.0,
    arrivals: int = 100_000,
    seed: int = 0,
    overhead_method: str = "",
    delay_ms: Any = 0.0,
) -> CapacityEstimate:
    """The highest Poisson rate at which one worker's simulated p99 sojourn stays within the bound.

    `single_row_ms`: the measured single-row latency (see `service_sampler`); `batch_curve`: batch
    size -> p50 ms per call (needed when `max_batch` > 1); `overhead_ms`: the per-request cost the
    server adds (HTTP, JSON), measured against the server; `overhead_method` says how (it goes into
    the estimate's `method`); `delay_ms`: the latency floor outside the worker's queue (a number or
    p50/p95/p99, from `calibration`), added to every sojourn.
    """
    sampler = service_sampler(single_row_ms)
    typical = float(np.median(sampler(np.random.default_rng(seed), 1001))) + overhead_ms
    if max_batch > 1 and batch_curve is not None:
        per_call = batch_time(batch_curve)
        sizes = sorted({1, max_batch, *(s for s in batch_curve if s <= max_batch)})
        saturation = max(n * 1e3 / (typical if n == 1 else per_call(n) + n * overhead_ms) for n in sizes)
    else:
        saturation = 1e3 / typical

    def run(rate: float) -> tuple[np.ndarray, float, float]:
        return simulate_sojourn_ms(
            rate, single_row_ms, batch_curve, max_batch, max_wait_ms, overhead_ms, arrivals, seed, delay_ms
        )

    # A geometric grid from 0.1% of saturation up, then bisection above the highest passing grid rate
    # (the p99 need not rise monotonically at low rates when batches wait for company).
    grid = saturation * np.geomspace(1e-3, 0.999, 12)
    passing = [rate for rate in grid if _p99(run(rate)[0]) <= p99_bound_ms]
    model = (
        "M/G/1, one worker: service = overhead + single-row time"
        if max_batch <= 1
        else f"one worker with a dynamic batcher (max batch {max_batch}, max wait {max_wait_ms:g} ms from the "
        "oldest request, never before the worker is free): batch time interpolated from the measured batch "
        "curve x the single-row draw's jitter, + overhead per request"
    )
    method = (
        f"estimate: {model}; overhead {overhead_ms:.3g} ms per request"
        f"{f' ({overhead_method})' if overhead_method else ''}; {_delay_words(delay_ms)}; Poisson arrivals; "
        "p99 of the sojourn "
        f"time from a seeded discrete-event simulation of {arrivals:,} arrivals (first {WARMUP_SHARE:.0%} "
        "dropped); highest rate with p99 <= the bound by grid then bisection"
    )
    if not passing:
        return CapacityEstimate(
            0.0,
            None,
            None,
            None,
            0.0,
            0.0,
            p99_bound_ms,
            max_batch,
            max_wait_ms,
            overhead_ms,
            method + "; no rate passes: even a lone request exceeds the bound",
        )
    low = max(passing)
    above = [rate for rate in grid if rate > low]
    high = min(above) if above else saturation
    for _ in range(12):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if _p99(run(middle)[0]) <= p99_bound_ms else (low, middle)
    sojourn, busy, mean_batch = run(low)
    return CapacityEstimate(
        max_rps=float(low),
        p50_ms=float(np.percentile(sojourn, 50)),
        p95_ms=float(np.percentile(sojourn, 95)),
        p99_ms=_p99(sojourn),
        utilisation=float(busy),
        mean_batch=float(mean_batch),
        p99_bound_ms=p99_bound_ms,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        overhead_ms=overhead_ms,
        method=method,
    )


def fleet_for_peak(
    peak_rps: float,
    capacity_rps_per_worker: float,
    cores_per_machine: int,
    usd_per_hour_per_machine: float,
    cores_per_worker: int = 1,
) -> FleetEstimate:
    """Workers for a peak rate (ceil(peak / capacity)), machines to hold them (a worker per
    `cores_per_worker` cores) and their price a month at an hourly price, running all month."""
    from advisor.candidates.catalog import HOURS_PER_MONTH

    if capacity_rps_per_worker <= 0:
        raise ValueError("A worker's capacity is 0 requests a second: no number of workers meets the bound.")
    workers = max(1, math.ceil(peak_rps / capacity_rps_per_worker - 1e-9))
    per_machine = max(1, cores_per_machine // cores_per_worker)
    machines = math.ceil(workers / per_machine)
    return FleetEstimate(
        peak_rps=peak_rps,
        capacity_rps_per_worker=capacity_rps_per_worker,
        workers=workers,
        cores_per_worker=cores_per_worker,
        workers_per_machine=per_machine,
        machines=machines,
        usd_per_hour_per_machine=usd_per_hour_per_machine,
        usd_per_month=machines * usd_per_hour_per_machine * HOURS_PER_MONTH,
        method=(
            f"estimate: ceil({peak_rps:g} rows/s peak / {capacity_rps_per_worker:,.0f} rows/s per worker) = {workers} "
            f"worker(s), {per_machine} per {cores_per_machine}-core machine ({cores_per_worker} core each) = "
            f"{machines} machine(s) x ${usd_per_hour_per_machine}/h x {HOURS_PER_MONTH:g} h a month; every machine "
            "runs all month and its cores are as fast as the one measured"
        ),
    )


def fleet_for_profile(peak_rps: float, capacity_rps_per_worker: float, profile: Any) -> FleetEstimate:
    """`fleet_for_peak` on a deployment target's cores and hourly price (catalog/targets.toml)."""
    return fleet_for_peak(peak_rps, capacity_rps_per_worker, int(profile.cores), float(profile.usd_per_hour))


def capacity_from_result(
    candidate: Any,
    p99_bound_ms: float,
    overhead_ms: float,
    max_batch: int = 1,
    max_wait_ms: float = 0.0,
    arrivals: int = 100_000,
    overhead_method: str = "",
    delay_ms: Any = 0.0,
) -> CapacityEstimate:
    """`estimate_capacity` from a `CandidateResult`'s single-row latency and single-thread batch curve."""
    if candidate.latency is None:
        raise ValueError(f"Candidate '{candidate.key}' has no single-row latency measured; it cannot be estimated.")
    curve: dict[int, Any] = {size: m for size, m in candidate.batches.items() if m.threads == 1}
    return estimate_capacity(
        candidate.latency,
        curve or None,
        p99_bound_ms,
        max_batch,
        max_wait_ms,
        overhead_ms,
        arrivals,
        overhead_method=overhead_method,
        delay_ms=delay_ms,
    )
