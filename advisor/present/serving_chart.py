"""The serving check drawn: p99 against offered load per served candidate and configuration, and
each one's served capacity as labelled rows (the app and the report both show them).

As with the other charts, `serving_data` gathers plain data (tested on the data) and
`serving_figure` turns it into a plotly figure.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from advisor.measure.figures import served_cost_per_million
from advisor.present.charts import FAMILY_COLOURS
from advisor.present.numbers import format_quantity
from advisor.results import Run
from advisor.serve.capacity import fleet_for_profile


class ServingSeries(NamedTuple):
    key: str
    name: str
    family: str
    configuration: str  # "no batching", "batches of 32, 0 ms wait"
    offered_rps: list[float]  # every level tried, by offered rate
    p99_ms: list[float | None]
    estimate_offered_rps: list[float]  # the queueing estimate at the same rates
    estimate_p99_ms: list[float]
    max_rps_at_p99: float | None
    estimate_rps: float
    recommended: bool = False


class ServingChart(NamedTuple):
    series: list[ServingSeries]
    p99_bound_ms: float | None


def serving_data(run: Run) -> ServingChart:
    """Every served configuration's measured curve and estimate, with the bound they were held to."""
    rec = run.recommendation
    series = []
    bound = None
    for c in run.candidates:
        for s in c.serving:
            if not s.served:
                continue
            bound = s.p99_bound_ms
            # A level measured twice (a failing level is confirmed) is drawn once, as the second
            # measurement decided it; the points in order of offered rate, not of the search.
            measured = sorted({point[0]: point for point in s.curve}.values(), key=lambda point: point[0])
            estimated = sorted(s.estimate_curve)
            series.append(
                ServingSeries(
                    key=c.key,
                    name=c.name,
                    family=c.family,
                    configuration=s.label,
                    offered_rps=[p[0] for p in measured],
                    p99_ms=[p[2] for p in measured],
                    estimate_offered_rps=[p[0] for p in estimated],
                    estimate_p99_ms=[p[1] for p in estimated],
                    max_rps_at_p99=s.max_rps_at_p99,
                    estimate_rps=s.estimate_rps,
                    recommended=bool(rec and rec.key == c.key),
                )
            )
    return ServingChart(series, bound)


def serving_figure(chart: ServingChart) -> Any:
    """p99 against offered load, log-log: measured lines (solid: no batching; dashed: batching),
    the estimate's simulated p99 at the same rates as open markers, the bound as a line."""
    import math

    import plotly.graph_objects as go

    # Above saturation a simulated queue grows without end (p99s of 1e4 ms and more): such points are
    # drawn at a ceiling, 10x the bound (or 1 s), and their hover says so, so the axis stays readable.
    ceiling = 10 * chart.p99_bound_ms if chart.p99_bound_ms else 1000.0

    def capped(values: Any) -> tuple[list[float | None], list[str]]:
        shown, notes = [], []
        for v in values:
            over = v is not None and (not math.isfinite(v) or v > ceiling)
            shown.append(ceiling if over else v)
            notes.append(f"over {ceiling:g} ms: past what one worker can answer" if over else "")
        return shown, notes

    figure = go.Figure()
    for s in chart.series:
        colour = FAMILY_COLOURS.get(s.family, "#17becf")
        label = f"{s.name} ({s.configuration})"
        dash = "solid" if s.configuration == "no batching" else "dash"
        measured, measured_notes = capped(s.p99_ms)
        estimated, estimated_notes = capped(s.estimate_p99_ms)
        figure.add_trace(
            go.Scatter(
                x=s.offered_rps,
                y=measured,
                text=measured_notes,
                mode="lines+markers",
                name=f"{label}: measured",
                legendgroup=label,
                line={"color": colour, "dash": dash, "width": 4 if s.recommended else 2},
            )
        )
        figure.add_trace(
            go.Scatter(
                x=s.estimate_offered_rps,
                y=estimated,
                text=estimated_notes,
                mode="markers",
                name=f"{label}: estimate",
                legendgroup=label,
                marker={"color": colour, "symbol": "circle-open", "size": 10},
            )
        )
    if chart.p99_bound_ms is not None:
        figure.add_hline(
            y=chart.p99_bound_ms,
            line={"color": "#d62728", "dash": "dot"},
            annotation_text=f"p99 bound {chart.p99_bound_ms:g} ms",
        )
    figure.update_xaxes(type="log", title_text="offered load (requests/s, Poisson arrivals)")
    figure.update_yaxes(
        type="log",
        title_text="p99 latency over HTTP (ms): lower is better",
        range=[math.log10(0.1), math.log10(ceiling * 1.5)],
    )
    figure.update_layout(
        height=460, margin={"t": 30}, legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0}
    )
    return figure


def serving_rows(run: Run) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per served candidate and configuration, its figures as (label, value) rows: the served
    capacity, the estimate and their ratio, the cost at that rate, and the fleet for the target's peak."""
    profile = run.profile
    out = []
    for c in run.candidates:
        for s in c.serving:
            if not s.served:
                continue
            rows = [
                ("p99 bound", format_quantity(s.p99_bound_ms, "ms")),
                (
                    "served within it (one worker)",
                    "no level tried met it" if not s.max_rps_at_p99 else f"{s.max_rps_at_p99:,.0f} requests/s",
                ),
                (
                    "p50 / p95 / p99 there",
                    " / ".join(
                        format_quantity(v, "ms") if v is not None else "-" for v in (s.p50_ms, s.p95_ms, s.p99_ms)
                    ),
                ),
                ("estimate (in-process figures)", f"{s.estimate_rps:,.0f} requests/s"),
                ("estimate / measured", f"{s.ratio:.2f}" if s.ratio else "-"),
                ("HTTP overhead in the estimate", format_quantity(s.overhead_ms, "ms")),
            ]
            cost = served_cost_per_million(s, profile)
            if cost is not None:
                rows.append(("cost per million requests", f"${cost.value:.3g}"))
            if s.max_rps_at_p99:
                fleet = fleet_for_profile(profile.peak_rows_per_s, s.max_rps_at_p99, profile)
                price = f", ${fleet.usd_per_month:,.0f} a month" if profile.usd_per_hour > 0 else ""
                rows.append(
                    (
                        f"for the peak of {profile.peak_rows_per_s:,.0f}/s",
                        f"{fleet.workers} worker(s) on {fleet.machines} machine(s){price}",
                    )
                )
            if s.client_limited:
                rows.append(("note", "the load client may have been the limit (it shared the machine)"))
            rows.append(("took", f"{s.wall_s:.0f} s"))
            out.append((f"{c.name} ({s.label})", rows))
    return out
