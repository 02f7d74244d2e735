"""The one timer. Every latency and throughput figure the advisor shows comes from here.

Protocol (each point cost someone a wrong figure on this kind of machine):
- every library is pinned to a fixed thread count (1 unless stated) while timing;
- warm-up calls first (and every batch shape), the first call reported on its own;
- candidates are interleaved in rounds, in a new shuffled order each round, because the
  host's speed drifts between back-to-back runs while interleaved ratios agree;
- other processes' CPU use is read from /proc/stat around each round; rounds where they
  used more than `disturbed_share` of the machine are flagged and counted;
- the call timed is the deployed call: raw input in, predictions out.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.measure.figures import BatchMeasurement, LatencyMeasurement
from advisor.measure.hardware import CpuSampler, Rapl

Call = Callable[[Any], Any]


@dataclass(frozen=True)
class TimingConfig:
    warmup_calls: int = 200
    calls: int = 1000
    rounds: int = 10
    batch_sizes: tuple[int, ...] = (1, 16, 256, 4096)
    batch_rounds: int = 3
    batch_min_seconds: float = 0.03
    batch_min_calls: int = 3
    batch_max_calls: int = 400
    threads: int = 1
    disturbed_share: float = 0.25
    multithread_batches: bool = True
    cold_start: bool = True


# For tests and quick looks: the same protocol with fewer calls (p99 from 120 calls is rough).
QUICK_TIMING = TimingConfig(
    warmup_calls=20,
    calls=120,
    rounds=3,
    batch_rounds=1,
    batch_min_seconds=0.01,
    batch_min_calls=2,
    batch_max_calls=20,
    multithread_batches=False,
    cold_start=False,
)


@contextmanager
def pinned_threads(threads: int, setters: Sequence[Callable[[int], None]] = ()) -> Any:
    """Pin BLAS/OpenMP pools, torch, and each predictor's own pool to `threads`."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        for setter in setters:
            setter(threads)
        try:
            yield
        finally:
            if torch is not None and torch_before is not None:
                torch.set_num_threads(torch_before)


class _Window:
    """CPU and energy counters around a stretch of timed calls."""

    def __init__(self, sampler: CpuSampler, rapl: Rapl) -> None:
        self.sampler, self.rapl = sampler, rapl

    def __enter__(self) -> _Window:
        self.cpu0 = self.sampler.sample()
        self.energy0 = self.rapl.read_uj() if self.rapl.available else None
        self.process0 = time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.process_s = time.process_time() - self.process0
        self.others = CpuSampler.others_share(self.cpu0, self.sampler.sample())
        self.joules = self.rapl.joules_between(self.energy0, self.rapl.read_uj()) if self.energy0 is not None else None


def _noise_summary(shares: list[float | None], limit: float) -> tuple[int, float | None, float | None]:
    known = [s for s in shares if s is not None]
    if not known:
        return 0, None, None
    disturbed = sum(s > limit for s in known)
    return disturbed, float(np.median(known) * 100), float(max(known) * 100)


def _round_order(keys: list[str], round_index: int) -> list[str]:
    """A different order every round (seeded, so runs repeat): a candidate's neighbours change, so
    what the previous one leaves in the caches or the CPU's clock does not always favour the same one."""
    order = list(keys)
    random.Random(round_index).shuffle(order)
    return order


def measure_single_row(
    calls: Mapping[str, Call],
    inputs: Sequence[Any],
    config: TimingConfig,
    input_form: str = "one dict (a JSON record)",
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, LatencyMeasurement]:
    """Single-row latency of every candidate, interleaved in rounds; returns one figure each."""
    sampler, rapl = CpuSampler(), Rapl()
    keys = list(calls)
    first: dict[str, float] = {}
    for key in keys:
        fn = calls[key]
        start = time.perf_counter()
        fn(inputs[0])
        first[key] = time.perf_counter() - start
        for i in range(config.warmup_calls):
            fn(inputs[i % len(inputs)])

    per_round = max(1, config.calls // config.rounds)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    shares: dict[str, list[float | None]] = {k: [] for k in keys}
    position = 0
    for round_index in range(config.rounds):
        if should_stop():
            break
        for key in _round_order(keys, round_index):
            fn = calls[key]
            times = np.empty(per_round)
            with _Window(sampler, rapl) as window:
                for i in range(per_round):
                    row = inputs[(position + i) % len(inputs)]
                    start = time.perf_counter()
                    fn(row)
                    times[i] = time.perf_counter() - start
            samples[key].append(times)
            shares[key].append(window.others)
        position += per_round

    out: dict[str, LatencyMeasurement] = {}
    for key in keys:
        if not samples[key]:
            continue
        ms = np.concatenate(samples[key]) * 1e3
        disturbed, median_share, max_share = _noise_summary(shares[key], config.disturbed_share)
        out[key] = LatencyMeasurement(
            p50_ms=float(np.percentile(ms, 50)),
            p95_ms=float(np.percentile(ms, 95)),
            p99_ms=float(np.percentile(ms, 99)),
            mean_ms=float(ms.mean()),
            first_call_ms=first[key] * 1e3,
            calls=int(ms.size),
            threads=config.threads,
            windows=len(samples[key]),
            disturbed_windows=disturbed,
            others_cpu_pct_median=median_share,
            others_cpu_pct_max=max_share,
            round_p99_ms=tuple(float(np.percentile(r, 99) * 1e3) for r in samples[key]),
            method=(
                f"{ms.size} timed calls, {input_form} in, prediction out, each a different test "
                f"row; after {config.warmup_calls} warm-up calls; {config.threads} thread (torch, "
                f"BLAS/OpenMP via threadpoolctl, LightGBM num_threads, n_jobs); interleaved with the "
                f"other candidates in {len(samples[key])} rounds of {per_round}, order shuffled each round; "
                f"time.perf_counter; {disturbed} of {len(samples[key])} rounds had other processes "
                f"above {config.disturbed_share:.0%} of the CPUs (/proc/stat)"
            ),
        )
    return out


def measure_batches(
    calls: Mapping[str, Call],
    batches: Mapping[int, Any],
    config: TimingConfig,
    threads: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, dict[int, BatchMeasurement]]:
    """Latency per batch and rows/s at each batch size, candidates interleaved per size."""
    sampler, rapl = CpuSampler(), Rapl()
    keys = list(calls)
    out: dict[str, dict[int, BatchMeasurement]] = {k: {} for k in keys}
    for size, frame in batches.items():
        for key in keys:  # warm up this shape
            for _ in range(2):
                calls[key](frame)
        times: dict[str, list[float]] = {k: [] for k in keys}
        round_medians: dict[str, list[float]] = {k: [] for k in keys}
        process_s: dict[str, float] = {k: 0.0 for k in keys}
        joules: dict[str, float | None] = {k: 0.0 if rapl.available else None for k in keys}
        shares: dict[str, list[float | None]] = {k: [] for k in keys}
        for round_index in range(config.batch_rounds):
            if should_stop():
                break
            for key in _round_order(keys, round_index):
                fn = calls[key]
                with _Window(sampler, rapl) as window:
                    spent = 0.0
                    n_calls = 0
                    while n_calls < config.batch_min_calls or (
                        spent < config.batch_min_seconds and n_calls < config.batch_max_calls
                    ):
                        start = time.perf_counter()
                        fn(frame)
                        elapsed = time.perf_counter() - start
                        times[key].append(elapsed)
                        spent += elapsed
                        n_calls += 1
                round_medians[key].append(float(np.median(times[key][-n_calls:])))
                process_s[key] += window.process_s
                shares[key].append(window.others)
                if window.joules is not None and joules[key] is not None:
                    joules[key] = joules[key] + window.joules  # type: ignore[operator]
        for key in keys:
            if not times[key]:
                continue
            ms = np.array(times[key]) * 1e3
            rows = size * ms.size
            disturbed, median_share, _ = _noise_summary(shares[key], config.disturbed_share)
            energy = joules[key]
            out[key][size] = BatchMeasurement(
                batch_size=size,
                threads=threads,
                calls=int(ms.size),
                p50_ms=float(np.percentile(ms, 50)),
                p95_ms=float(np.percentile(ms, 95)),
                rows_per_s=float(size / (np.percentile(ms, 50) / 1e3)),
                cpu_s_per_row=process_s[key] / rows,
                rapl_j_per_row=None if energy is None else energy / rows,
                disturbed_windows=disturbed,
                others_cpu_pct_median=median_share,
                round_rows_per_s=tuple(size / m for m in round_medians[key]),
                method=(
                    f"{ms.size} calls on a DataFrame of {size} test rows, after 2 warm-up calls of "
                    f"this shape; {threads} thread{'s' if threads > 1 else ''}"
                    f"{' (multi-thread figure)' if threads > 1 else ''}; rows/s = batch size / "
                    f"median call time; CPU-seconds from time.process_time over the same calls; "
                    f"interleaved with the other candidates over {config.batch_rounds} rounds"
                ),
            )
    return out
