"""The timer against callables whose cost is known."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from advisor.measure.hardware import CpuSampler
from advisor.measure.timing import TimingConfig, measure_batches, measure_single_row, pinned_threads

CONFIG = TimingConfig(warmup_calls=10, calls=300, rounds=6, batch_rounds=2, batch_min_seconds=0.02, batch_min_calls=3)


def _sleeper(seconds: float):
    def call(_row):
        time.sleep(seconds)

    return call


def test_p50_of_a_sleeping_predictor_is_within_15_percent():
    known = 0.003
    figures = measure_single_row({"sleep": _sleeper(known)}, [0, 1, 2], CONFIG)["sleep"]
    assert figures.p50_ms == pytest.approx(known * 1e3, rel=0.15)
    assert figures.calls == 300 and figures.windows == 6
    assert figures.p50_ms <= figures.p95_ms <= figures.p99_ms
    assert "300 timed calls" in figures.method and "1 thread" in figures.method


def test_interleaved_candidates_keep_their_ratio():
    figures = measure_single_row({"one": _sleeper(0.001), "three": _sleeper(0.003)}, [0], CONFIG)
    ratio = figures["three"].p50_ms / figures["one"].p50_ms
    assert 2.2 < ratio < 3.3  # sleep overshoot is a fixed few tens of microseconds


def test_batches_report_rows_per_second_from_the_median_call():
    def call(frame):
        time.sleep(0.002)
        return len(frame)

    frames = {1: pd.DataFrame({"a": [1]}), 100: pd.DataFrame({"a": range(100)})}
    out = measure_batches({"c": call}, frames, CONFIG, threads=1)["c"]
    assert set(out) == {1, 100}
    assert out[100].rows_per_s == pytest.approx(100 / out[100].p50_ms * 1e3)
    assert out[100].rows_per_s == pytest.approx(50_000, rel=0.2)
    # sleeping uses no CPU: the CPU-seconds per row must be far below the wall time per row
    assert out[100].cpu_s_per_row < 0.5 * (out[100].p50_ms / 1e3 / 100)


def test_busy_work_shows_cpu_time():
    def burn(frame):
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    out = measure_batches({"burn": burn}, {10: pd.DataFrame({"a": range(10)})}, CONFIG, threads=1)["burn"][10]
    wall_per_row = out.p50_ms / 1e3 / 10
    assert out.cpu_s_per_row == pytest.approx(wall_per_row, rel=0.5)


def test_cpu_sampler_reads_proc_stat():
    sampler = CpuSampler()
    if not sampler.available:
        pytest.skip("no /proc/stat")
    before = sampler.sample()
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        pass
    share = CpuSampler.others_share(before, sampler.sample())
    assert share is None or 0.0 <= share <= 1.0


def test_pinned_threads_restores_torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    seen = []
    with pinned_threads(1, [seen.append]):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before and seen == [1]
    assert np.isfinite(before)
