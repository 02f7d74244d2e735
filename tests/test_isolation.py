"""Failing candidates: one that raises, hangs, kills its process, segfaults or eats memory is
recorded as failed with its reason, and the run goes on to recommend among the others."""

from __future__ import annotations

import threading
import time

import pytest

import advisor
from advisor import QUICK_TIMING, CandidateSpec, Registry, advise, load_candidates
from advisor.execute.isolate import Limits, WorkFailed, run_isolated

from conftest import DATA

FAULTS = {
    "raises": ("faulty_builders:raises", "RuntimeError: injected failure"),
    "hangs": ("faulty_builders:hangs", "ran past the time limit of 8 s"),
    "killed": ("faulty_builders:kills_its_process", "killed (SIGKILL)"),
    "segfault": ("faulty_builders:segfaults", "segmentation fault (SIGSEGV)"),
    "memory-hog": ("faulty_builders:eats_memory", "over the limit of 1.46 GiB"),
}


def _registry(*extra: CandidateSpec) -> Registry:
    catalog = load_candidates()
    return Registry([catalog.get("baseline"), catalog.get("linear"), catalog.get("tree"), *extra])


def _faulty(key: str, builder: str, **params) -> CandidateSpec:
    return CandidateSpec(key=key, name=f"Faulty ({key})", family="linear", builder=builder, params=params)


def test_failing_candidates_are_recorded_and_the_run_goes_on(tmp_path):
    registry = _registry(*(_faulty(key, builder) for key, (builder, _) in FAULTS.items()))
    events = []
    started = time.perf_counter()
    run = advise(
        DATA / "titanic.csv",
        "Survived",
        registry=registry,
        candidates=registry.keys(),
        timing=QUICK_TIMING,
        store=tmp_path,
        candidate_time_limit_s=8,
        candidate_memory_limit_mb=1500,
        progress=events.append,
    )
    wall = time.perf_counter() - started
    assert run.status == "complete"
    for key in ("baseline", "linear", "tree"):
        assert run.candidate(key).status == "measured", run.candidate(key).error
    for key, (_, reason) in FAULTS.items():
        result = run.candidate(key)
        assert result.status == "failed", key
        assert reason in result.error, (key, result.error)
    assert run.candidate("raises").notes[-1].startswith("traceback:")  # the detail is kept, not shown as the error
    assert run.candidate("memory-hog").train_peak_rss_bytes > 1500 * 2**20
    assert any(e.message == "about to hang" for e in events)  # progress crosses the process boundary
    assert run.recommendation.key in ("linear", "tree")
    assert wall < 120  # the hang was cut at its limit, not waited out
    # the store has every candidate, failures included, with their reasons
    stored = advisor.open_run(run.run_id, store=tmp_path)
    assert {c.key: c.status for c in stored.candidates} == {c.key: c.status for c in run.candidates}
    assert "segmentation fault" in stored.candidate("segfault").error


def test_a_candidate_derived_from_a_failed_one_is_skipped_with_the_reason(tmp_path):
    broken = _faulty("broken", "faulty_builders:raises")
    child = CandidateSpec(key="child", name="Derived", family="linear", builder="baseline", parent="broken")
    registry = _registry(broken, child)
    run = advise(
        DATA / "titanic.csv",
        "Survived",
        registry=registry,
        candidates=registry.keys(),
        timing=QUICK_TIMING,
        store=tmp_path,
    )
    assert run.candidate("child").status == "skipped"
    assert "needs 'broken'" in run.candidate("child").error


def test_cancel_kills_the_candidate_in_flight(tmp_path):
    registry = _registry(_faulty("hangs", "faulty_builders:hangs"))
    stop = threading.Event()

    def progress(event):
        if event.message == "about to hang":
            stop.set()

    run = advise(
        DATA / "titanic.csv",
        "Survived",
        registry=registry,
        candidates=registry.keys(),
        timing=QUICK_TIMING,
        store=tmp_path,
        progress=progress,
        should_stop=stop.is_set,
    )
    assert run.status == "cancelled"
    assert run.candidate("linear").status in ("trained", "measured")


def _report_and_return(payload, report):
    report("half way")
    return payload * 2


def test_run_isolated_returns_values_and_messages():
    messages = []
    finished = run_isolated(_report_and_return, 21, Limits(time_s=60), on_message=messages.append)
    assert finished.value == 42 and messages == ["half way"]
    assert finished.peak_rss_bytes and finished.peak_rss_bytes > 1e6


def _exit_quietly(payload, report):
    import os

    os._exit(3)


def test_run_isolated_names_an_exit_without_a_result():
    with pytest.raises(WorkFailed, match="exited with code 3 without a result") as failure:
        run_isolated(_exit_quietly, None, Limits(time_s=60))
    assert failure.value.kind == "crashed"


def test_candidates_train_in_parallel_processes_with_the_same_results(tmp_path):
    keys = ["linear", "tree", "lightgbm"]
    one = advise(DATA / "titanic.csv", "Survived", candidates=keys, timing=QUICK_TIMING, store=tmp_path / "a")
    two = advise(DATA / "titanic.csv", "Survived", candidates=keys, timing=QUICK_TIMING, store=tmp_path / "b", jobs=2)
    assert two.settings["backend"] == {"backend": "local", "jobs": 2, "isolation": "one child process per candidate"}
    for key in ["baseline", *keys]:
        assert two.candidate(key).status == "measured"
        assert two.candidate(key).quality.primary_value == one.candidate(key).quality.primary_value
    assert len({two.candidate(k).worker["pid"] for k in ["baseline", *keys]}) == 4  # a process each
