"""Charts for people, checked on their data: the quality axis spans the skilled candidates, labels
only where they help, hard limits drawn, intervals on quality, readable log ticks, the batch chart
showing the front and the pick."""

from __future__ import annotations

from pathlib import Path

import pytest

import advisor
from advisor.present.charts import (
    ChartPoint,
    ParetoData,
    label_positions,
    log_ticks,
    point_label,
)

from conftest import DATA


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> advisor.Run:
    return advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=["baseline", "linear", "tree", "lightgbm-fast", "forest", "mlp"],
        limits=["p99_ms=50"],
        timing=advisor.QUICK_TIMING,
        store=tmp_path_factory.mktemp("charts"),
        with_learning_curve=False,
    )


def test_the_quality_axis_spans_the_skilled_candidates_not_the_baseline(run: advisor.Run):
    data = advisor.pareto_data(run, "p99_ms", "primary")
    baseline = next(p for p in data.points if p.family == "baseline")
    skilled = [p for p in data.points if p.skilled]
    assert not baseline.skilled and len(skilled) >= 2
    low, high = data.y_range
    assert baseline.y < low  # the baseline would squash the rest: it is drawn at the edge
    assert all(low <= p.y <= high for p in skilled)
    figure = advisor.pareto_figure(data)
    assert list(figure.layout.yaxis.range) == [low, high]
    assert any("edge of the axis" in text for trace in figure.data for text in (trace.hovertext or ()))


def test_labels_are_display_names_on_the_front_and_the_pick_only(run: advisor.Run):
    data = advisor.pareto_data(run, "p99_ms", "primary")
    figure = advisor.pareto_figure(data)
    labelled = {t.removeprefix("★ ") for trace in figure.data for t in (trace.text or ()) if t}
    expected = {point_label(p) for p in data.points if p.pareto or p.recommended}
    pick = next(p for p in data.points if p.recommended)
    assert point_label(pick) in labelled  # names that would overlap are left to the hover, never the pick's
    assert labelled <= expected and all(" " in label or len(label) > 5 for label in labelled)
    assert not any(p.key in labelled for p in data.points if p.key != p.name)  # names, not keys


def test_hard_limits_are_drawn_and_quality_has_its_interval(run: advisor.Run):
    data = advisor.pareto_data(run, "p99_ms", "primary")
    assert [(line.axis, line.value) for line in data.limits] == [("x", 50.0)]
    figure = advisor.pareto_figure(data)
    # 50 ms is far beyond every candidate (tens of microseconds): drawn, it would squash the points into
    # a corner, so the chart says so instead; a limit near the points is drawn as a line
    assert not figure.layout.shapes and any("not drawn" in a.text for a in figure.layout.annotations)
    near = data._replace(limits=(data.limits[0]._replace(value=max(p.x for p in data.points)),))
    assert any(shape.x0 == near.limits[0].value for shape in advisor.pareto_figure(near).layout.shapes)
    linear = next(p for p in data.points if p.key == "linear")
    assert linear.y_low <= linear.y <= linear.y_high
    assert any(trace.error_y and trace.error_y.arrayminus for trace in figure.data)
    assert figure.layout.legend.orientation == "h"  # below the chart


def test_hover_texts_use_labels_and_units_not_field_names(run: advisor.Run):
    data = advisor.pareto_data(run, "p99_ms", "primary")
    hover = data.points[0].hover
    assert "p99_ms" not in hover and "size_bytes" not in hover and "p99 latency" in hover


def test_log_axes_get_1_2_5_ticks():
    assert log_ticks([0.03, 0.09]) == [0.02, 0.05, 0.1]
    assert log_ticks([0.001, 10000.0])[0] == 0.001 and len(log_ticks([0.001, 10000.0])) == 8
    assert log_ticks([]) == []


def test_the_batch_chart_shows_the_front_and_the_pick_the_rest_a_click_away(run: advisor.Run):
    from advisor.present.charts import BatchSeries

    measured = advisor.batch_data(run)
    assert any(s.recommended for s in measured) and any(s.pareto for s in measured)
    many = [
        BatchSeries(f"m{i}", f"Model {i}", "tree", [1, 8], [0.1, 0.2], [1e4, 4e4], pareto=i < 2, recommended=i == 0)
        for i in range(9)
    ]
    figure = advisor.batch_figure(many, selected="m5")
    shown = {trace.legendgroup for trace in figure.data if trace.visible not in (False, "legendonly")}
    assert shown == {"m0", "m1", "m5"}
    assert {trace.legendgroup for trace in figure.data} == {s.key for s in many}  # the rest in the legend


def test_charts_draw_in_the_report(run: advisor.Run, tmp_path: Path):
    html = advisor.build_report(run)
    assert "plotly" in html.lower()


def test_names_in_a_dense_cluster_do_not_overlap():
    """Ten front points a hair apart: the pick keeps its name, the others take free places around
    their points or leave the name to the hover; no two names' boxes overlap."""
    points = [
        ChartPoint(f"k{i}", f"Candidate number {i}", "neural", "", "mlp", 0.01 + i * 1e-4, 0.9 + i * 1e-4, True, True,
                   i == 4, "")
        for i in range(10)
    ]  # fmt: skip
    points.append(ChartPoint("far", "Far away", "tree", "", "tree", 5.0, 0.5, True, True, False, ""))
    data = ParetoData("p99_ms", "primary", "p99", "accuracy", True, False, points, [])
    places = label_positions(data, selected="k7")
    assert "k4" in places and "far" in places  # the pick is always named
    assert 2 <= len(places) < len(points)  # some names moved aside, the rest were dropped
    figure = advisor.pareto_figure(data, selected="k7")
    shown = [
        (t, pos)
        for trace in figure.data
        for t, pos in zip(trace.text or (), trace.textposition or (), strict=False)
        if t
    ]
    assert len(shown) == len(places)
    cluster = [place for key, place in places.items() if key != "far"]
    assert len(cluster) == len(set(cluster)) <= 4  # one name above, below, right and left of the spot at most
