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
