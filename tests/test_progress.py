"""The whole run's progress: one share done and one time left across every phase."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from advisor import QUICK_TIMING, ProgressEvent, advise
from advisor.measure.timing import TimingConfig
from advisor.pipeline.forecast import Forecast, timing_steps

from conftest import DATA


@pytest.fixture(scope="module")
def penguin_events(tmp_path_factory) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    advise(
        DATA / "penguins.csv",
        "species",
        store=tmp_path_factory.mktemp("home"),
        candidates=["baseline", "linear", "tree", "lightgbm-fast"],
        timing=replace(QUICK_TIMING, cold_start=True),  # so the cold-start phase runs too
        progress=events.append,
    )
    return events


def test_fraction_never_decreases_and_reaches_one_at_done(penguin_events):
    fractions = [e.fraction for e in penguin_events]
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)
    assert penguin_events[-1].stage == "done" and fractions[-1] == 1.0 and penguin_events[-1].eta_s == 0.0
    assert max(fractions[:-1]) < 1.0


def test_every_phase_appears_with_its_label_and_unit(penguin_events):
    labels = {e.phase_label for e in penguin_events}
    assert {"Training", "Timing", "Cold starts", "Ranking", "Learning curve", "Done"} <= labels
    units = {(e.stage, e.unit) for e in penguin_events if e.total}
    assert ("train", "candidates") in units and ("startup", "runtimes") in units and ("timing", "steps") in units
    for event in penguin_events:
        if event.stage == "startup":
            assert "candidates" not in event.unit and event.total <= 4  # runtimes, not candidates
    timing = [e for e in penguin_events if e.stage == "timing"]
    assert len(timing) > 3  # an event per timing round, not one for the whole phase
    assert all(e.done <= e.total for e in timing)


def test_eta_is_finite_after_the_first_candidate(penguin_events):
    first_settled = next(i for i, e in enumerate(penguin_events) if e.stage == "train" and e.phase != "training")
    later = penguin_events[first_settled:]
    assert all(e.eta_s is not None and math.isfinite(e.eta_s) and e.eta_s >= 0 for e in later)
    before = [e for e in penguin_events[:first_settled] if e.stage == "train"]
    assert all(e.eta_s is None for e in before)  # nothing to estimate from yet


def test_the_finish_estimate_never_jumps_later_by_more_than_the_smoothing_allows():
    forecast = Forecast()
    forecast.enter("training", 0.0)
    forecast.remaining(10.0, 1.0)
    for phase in ("timing", "startup", "curve"):
        forecast.expect(phase, 0.0)
    _, eta = forecast.at(1.0)
    assert eta == pytest.approx(10.0)
    forecast.remaining(100.0, 2.0)  # the estimate got ten times worse at once
    _, eta = forecast.at(2.0)
    assert eta == pytest.approx(11.0 * 1.1 - 2.0)  # the finish (11 s) moves later by at most 10% at once
    for second in range(3, 40):
        forecast.remaining(100.0, second - 1.0)  # and keeps moving while the phase keeps saying so
        _, eta = forecast.at(float(second))
    assert eta > 80.0
    forecast.enter("done", 41.0)
    assert forecast.at(41.0) == (1.0, 0.0)


def test_timing_steps_match_the_childs_messages():
    config = TimingConfig(rounds=4, batch_rounds=3, batch_sizes=(1, 16), multithread_batches=True)
    steps = timing_steps(config, [1e-4, 2e-4], [1, 16], cpus=2)
    # load, warm-up, 4 rounds; per group: warm-up, then 3 rounds per size (2 single-thread sizes, 1 multi)
    assert len(steps) == 2 + 4 + (1 + 3 * 2) + (1 + 3)
    assert all(s > 0 for s in steps)


def test_no_estimate_before_anything_trained(tmp_path: Path):
    forecast = Forecast()
    forecast.enter("training", 0.0)
    assert forecast.at(5.0) == (0.0, None)


def test_the_cli_prints_the_share_the_phase_and_the_time_left(capsys):
    from advisor.cli import _progress

    _progress(
        ProgressEvent(
            stage="timing",
            message="Timing one row at a time (interleaved, 12 candidates)",
            elapsed_s=40.0,
            phase="latency",
            done=3,
            total=31,
            unit="steps",
            eta_s=62.0,
            fraction=0.37,
            phase_label="Timing",
        )
    )
    _progress(
        ProgressEvent(
            stage="startup",
            message="Cold start of the sklearn candidates in a fresh process",
            elapsed_s=80.0,
            done=1,
            total=3,
            unit="runtimes",
            eta_s=20.0,
            fraction=0.8,
        )
    )
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[ 37%] Timing one row at a time (interleaved, 12 candidates), about 1 min left"
    assert lines[1].endswith("(1 of 3 runtimes), about 20 s left")


def test_training_estimates_come_from_earlier_runs_then_the_prior(tmp_path: Path):
    """Each candidate's expected training time, in median candidates: what it took in the store's
    earlier complete runs, else the measured prior (an MLP costs about ten shallow trees), else 1."""
    from advisor.pipeline.forecast import TRAIN_COST_PRIOR, train_costs
    from advisor.store import Store

    store = Store(tmp_path)
    seconds = {"baseline": 1.0, "linear": 2.0, "tree": 2.0, "mlp": 40.0}
    for run_id in ("AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"):
        store.create_run(run_id, {"dataset": {"name": "t.csv"}})
        for position, (key, wall) in enumerate(seconds.items()):
            store.save_candidate(run_id, key, position, "measured", {"key": key, "wall_s": {"isolated_process": wall}})
        store.finish_run(run_id, "complete")
    store.create_run("CCCCCCCCCCCCCCCCCCCCCC", {"dataset": {"name": "t.csv"}})  # unfinished: not history
    store.save_candidate("CCCCCCCCCCCCCCCCCCCCCC", "mlp", 0, "measured", {"wall_s": {"isolated_process": 1e6}})
    history = store.training_costs()
    assert history["mlp"] == [20.0, 20.0] and history["baseline"] == [0.5, 0.5]
    costs = train_costs(["mlp", "forest", "plug-in"], history)
    assert costs == {"mlp": 20.0, "forest": TRAIN_COST_PRIOR["forest"], "plug-in": 1.0}
    assert TRAIN_COST_PRIOR["mlp"] > 5 * TRAIN_COST_PRIOR["tree"]
