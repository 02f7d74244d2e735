"""The serving check in a run (`advise(serve_check=...)`, `--serve-check`, the app's checkbox):
the Pareto front served over HTTP from its own artifacts, loaded, estimated, saved and shown.

One small run (penguins, linear and tree, quick timing, tiny load windows) serves both; about 40 s."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import advisor

from conftest import DATA, PROJECT

TINY = advisor.ServeCheck(window_s=0.2, max_windows=1, min_requests=50, resolution=1.0, rows=100)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[advisor.Run, dict[str, Any], Path]:
    home = tmp_path_factory.mktemp("serving_check")
    events: list[advisor.ProgressEvent] = []
    run = advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=["linear", "tree"],
        timing=advisor.QUICK_TIMING,
        with_learning_curve=False,
        serve_check=TINY,
        store=home / "store",
        out=home / "out",
        progress=events.append,
    )
    assert any(e.stage == "serving" and e.phase_label == "Serving check" for e in events)
    return run, json.loads((home / "out" / "results.json").read_text()), home / "store"


def test_the_front_is_served_and_every_measured_candidate_estimated(served):
    _, saved, _ = served
    by_key = {c["key"]: c for c in saved["candidates"]}
    assert saved["pareto"]
    for key in saved["pareto"]:
        serving = by_key[key]["metrics"]["serving"]
        assert serving["served"] and serving["max_rps_at_p99"] > 0 and serving["method"]
        assert serving["p99_bound_ms"] == 100  # cloud-cpu's p99 limit
        assert serving["estimate"]["max_rps"] > 0 and serving["estimate"]["method"].startswith("estimate:")
        # the overhead is the served model's CPU per request at 60% of its saturated rate
        assert "near where a p99 bound binds" in serving["estimate"]["method"]
        assert serving["curve"] and all(len(point) == 3 for point in serving["curve"])
        assert serving["usd_per_million"]["value"] > 0
        configurations = [serving["batching"], *(a["batching"] for a in serving["alternatives"])]
        assert sorted(c["max_batch"] for c in configurations) == [1, 32]
    for c in saved["candidates"]:  # not on the front but measured: the estimate alone
        if c["key"] not in saved["pareto"] and c["status"] == "measured":
            assert not c["metrics"]["serving"]["served"] and c["metrics"]["serving"]["estimate"]["max_rps"] > 0
    assert saved["phases_s"]["serving_s"] > 0
    assert saved["settings"]["plan"]["serve_check"]["window_s"] == TINY.window_s


def test_serving_figures_round_trip_and_reach_the_store_the_card_and_the_report(served):
    run, saved, store = served
    again = advisor.Run.from_dict(saved)
    for c in run.candidates:
        assert again.candidate(c.key).serving == c.serving
    reopened = advisor.open_run(run.run_id, store=store)
    assert reopened.candidate(run.recommendation.key).serving == run.candidate(run.recommendation.key).serving
    card = advisor.recommendation_card(run, with_stability=False)
    assert card.serving and card.serving[0].startswith("Served over HTTP:")
    assert "peak of 100 requests/s" in card.serving[1]
    chart = advisor.serving_data(run)
    assert {s.key for s in chart.series} == set(run.recommendation.pareto) and chart.p99_bound_ms == 100
    report = advisor.build_report(run)
    assert "Served over HTTP: p99 against offered load" in report and "estimate / measured" in report


def test_a_run_without_the_check_has_no_serving_entry_and_old_results_load(tmp_path: Path):
    run = advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=["linear"],
        timing=advisor.QUICK_TIMING,
        with_learning_curve=False,
        out=tmp_path,
    )
    saved = json.loads((tmp_path / "results.json").read_text())
    assert all("serving" not in c["metrics"] for c in saved["candidates"])
    for c in saved["candidates"]:  # a results.json from before the check existed
        c["measurements"].pop("serving")
    old = advisor.Run.from_dict(saved)
    assert all(c.serving == () for c in old.candidates)
    assert not advisor.serving_data(run).series and "Served over HTTP" not in advisor.build_report(run)
    assert advisor.RunPlan.from_saved(saved["settings"]).serve_check is None


def test_the_cli_and_the_plan_take_the_check():
    from advisor.cli import _build_parser

    args = _build_parser().parse_args(["run", "x.csv", "--target", "y", "--serve-check"])
    assert args.serve_check
    plan = advisor.RunPlan.make(serve_check=True)
    assert plan.serve_check == advisor.ServeCheck()
    assert advisor.RunPlan.from_saved({"plan": plan.to_dict()}).serve_check == plan.serve_check


def test_the_app_has_the_checkbox_and_a_served_run_shows_its_tab(served, monkeypatch: pytest.MonkeyPatch):
    run, _, store = served
    monkeypatch.setenv("ADVISOR_HOME", str(store))
    at = AppTest.from_file(str(PROJECT / "app" / "main.py"), default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.checkbox(key="serve_check").value is False
    assert any(t.label == "Served over HTTP" for t in at.tabs)


def test_a_cancel_during_a_load_search_ends_the_run_before_the_next_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import advisor.pipeline.serving as serving

    cancelled_at: list[float] = []
    real_load_test = serving.load_test

    def cancel_after_the_first_level(*args: Any, **kwargs: Any) -> Any:  # Cancel pressed as the probe is measured
        return real_load_test(*args, **kwargs, progress=lambda point: cancelled_at.append(time.monotonic()))

    monkeypatch.setattr(serving, "load_test", cancel_after_the_first_level)
    run = advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=["linear"],
        timing=advisor.QUICK_TIMING,
        with_learning_curve=False,
        serve_check=advisor.ServeCheck(
            window_s=0.5, max_windows=2, min_requests=50, rows=100, configurations=((1, 0),)
        ),
        should_stop=lambda: bool(cancelled_at),
        store=tmp_path / "store",
    )
    # The search would go on for levels of windows; it ends before its next window instead (a failed
    # probe pauses up to 1 s first), and the server is stopped on the way out.
    assert run.status == "cancelled" and len(cancelled_at) == 1
    assert time.monotonic() - cancelled_at[0] < 1.0 + 2.0


def test_estimates_past_saturation_are_drawn_at_a_ceiling_not_off_the_axis():
    # Above saturation the simulated queue grows without end (p99s of 1e4 ms, or inf): the chart
    # draws such points at 10x the bound and says why in the hover, so the axis stays readable.
    from advisor.present.serving_chart import ServingChart, ServingSeries, serving_figure

    series = ServingSeries(
        key="linear",
        name="Linear",
        family="linear",
        configuration="no batching",
        offered_rps=[1000.0, 2000.0, 4000.0],
        p99_ms=[3.0, 8.0, 2500.0],
        estimate_offered_rps=[1000.0, 2000.0, 4000.0],
        estimate_p99_ms=[2.0, 6.0, float("inf")],
        max_rps_at_p99=2000.0,
        estimate_rps=2500.0,
    )
    figure = serving_figure(ServingChart([series], 10.0))
    measured, estimate = figure.data[0], figure.data[1]
    assert list(measured.y) == [3.0, 8.0, 100.0] and list(estimate.y) == [2.0, 6.0, 100.0]
    assert "past what one worker can answer" in estimate.text[2] and estimate.text[0] == ""
    assert figure.layout.yaxis.range[1] < 3  # log10: the axis ends near 150 ms, not at 1e104


def _served_at(rate: float | None, bound: float = 100.0) -> Any:
    """One served configuration whose load search found `rate` (None: no rate kept p99 within the
    bound). The served-capacity rules take these figures as `recommend` takes rows; the fixture
    above serves and loads for real."""
    from advisor.measure.figures import ServingMeasurement

    p99 = 5.0 if rate else 3 * bound
    return ServingMeasurement(
        p99_bound_ms=bound,
        max_batch=1,
        max_wait_ms=0.0,
        served=True,
        max_rps_at_p99=rate,
        p50_ms=1.0 if rate else None,
        p95_ms=3.0 if rate else None,
        p99_ms=p99 if rate else None,
        achieved_rps=rate,
        curve=((100.0, 100.0, p99),),
        client_limited=False,
        overhead_ms=0.1,
        estimate_rps=1000.0,
        estimate_p99_ms=5.0,
        estimate_curve=(),
        estimate_method="estimate: given by the test",
        wall_s=0.0,
        notes=(),
        method="served: given by the test",
    )


def _with_serving(run: advisor.Run, rates: dict[str, float | None]) -> advisor.Run:
    copy = advisor.Run.from_dict(run.to_dict())
    for c in copy.candidates:
        c.serving = (_served_at(rates[c.key]),) if c.key in rates else ()
    return copy


def test_a_pick_that_never_kept_the_bound_when_served_gives_way(served):
    run = served[0]
    pick = run.recommendation.key
    other = next(k for k in run.recommendation.feasible if k != pick)
    moved = _with_serving(run, {pick: None, other: 500.0}).rank()
    assert moved.key == other
    assert "p99 stayed above 100 ms at every rate tried" in moved.excluded[pick][-1]
    assert moved.notes[0].startswith(
        f"The serving check moved the pick: served over HTTP, {run.candidate(pick).name} kept p99 above 100 ms"
    )
    # When nothing served kept the bound, the bound tells them apart no more than the ranking did.
    assert _with_serving(run, {pick: None, other: None}).rank().key == pick
    kept = _with_serving(run, {pick: 400.0, other: 500.0})
    assert kept.rank().key == pick and pick not in kept.recommendation.excluded
    assert kept.stability(draws=20) is not None


def test_a_tied_candidate_that_needs_fewer_machines_takes_the_pick_and_a_faster_one_that_does_not_is_named(served):
    run = served[0]
    rec = run.recommendation
    assert rec.ties, "penguins' linear model and tree are tied on accuracy (69 test rows)"
    pick, rival = rec.key, rec.ties[0]
    assert rec.weights.get("cost", 0) > 0  # cloud-cpu's priorities weight cost

    def ranked(peak: float, pick_rate: float, rival_rate: float) -> advisor.Recommendation:
        again = _with_serving(run, {pick: pick_rate, rival: rival_rate})
        again.profile = again.profile.override(peak_rows_per_s=peak, cores=2)
        return again.rank()

    # 3,000/s: 3 workers of the pick (2 machines of 2 cores) against 2 of the rival (1 machine).
    moved = ranked(3000.0, 1000.0, 2000.0)
    assert moved.key == rival and "1 machine(s) for the target's peak of 3,000/s instead of 2" in moved.notes[0]
    assert moved.excluded[pick][-1].startswith(f"not eligible: tied on quality with {run.candidate(rival).name}")
    # Faster, but the same fleet at the target's peak: said, with the peak from which it would count.
    same = ranked(100.0, 1000.0, 2000.0)
    assert same.key == pick
    assert (
        "both need 1 machine(s), so the served rate does not change the pick (it would from a peak of 2,001/s)"
        in (same.notes[-1])
    )
    # Fewer machines, but within the spread of repeated searches (1.2x): not a difference to act on.
    close = ranked(2200.0, 1000.0, 1200.0)
    assert close.key == pick and "under 1.5x" in close.notes[-1]


def test_the_card_says_when_other_work_crowded_the_machine_during_the_load(served):
    import dataclasses

    from advisor.serve.load import LoadPoint, _notes

    run = served[0]
    pick = run.recommendation.key
    quiet = _with_serving(run, {pick: 800.0})
    assert "understates" not in advisor.recommendation_card(quiet, with_stability=False).serving[0]
    # The load generator's own note for a level where the machine was busy and the client was not
    # (the app's server and the browser at work beside the check).
    level = LoadPoint(
        mode="open",
        offered_rps=800.0,
        concurrency=None,
        achieved_rps=800.0,
        p50_ms=1.0,
        p95_ms=3.0,
        p99_ms=5.0,
        requests=1600,
        errors=0,
        error_rate=0.0,
        error_kinds={},
        windows=2,
        window_s=1.0,
        stable=True,
        window_p99_ms=(5.0, 5.0),
        send_lag_p99_ms=0.1,
        client_cpu_core_share=0.3,
        client_cpu_machine_share=0.15,
        machine_cpu_share=0.97,
        meets_bound=True,
    )
    _, notes = _notes([level], level, 100.0)
    crowded = quiet.candidate(pick)
    crowded.serving = (dataclasses.replace(crowded.serving[0], notes=tuple(notes)),)
    line = advisor.recommendation_card(quiet, with_stability=False).serving[0]
    assert "over 90% busy during the load" in line and "understates what a machine of its own would serve" in line


def test_the_chart_draws_a_confirmed_level_once_and_the_curve_in_order_of_rate(served):
    import dataclasses

    run = served[0]
    pick = run.recommendation.key
    again = _with_serving(run, {pick: 1500.0})
    # The search's order: 1,000 passes, 2,000 fails and is measured again (fails), 1,500 passes.
    search = ((1000.0, 990.0, 5.0), (2000.0, 1900.0, 300.0), (2000.0, 1950.0, 40.0), (1500.0, 1490.0, 8.0))
    served_at = again.candidate(pick).serving[0]
    again.candidate(pick).serving = (dataclasses.replace(served_at, curve=search),)
    (series,) = advisor.serving_data(again).series
    assert series.offered_rps == [1000.0, 1500.0, 2000.0] and series.p99_ms == [5.0, 8.0, 40.0]
