"""Charts in two steps: gather plain data (NamedTuples, which tests check), then draw it with plotly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from advisor.objectives import COLUMNS, HIGHER_IS_BETTER
from advisor.present.numbers import format_column
from advisor.rank.pareto import pareto_mask, to_losses
from advisor.results import Run

# Axes a user can put on the Pareto chart: column -> (label, unit, log scale), from the one table.
AXES: dict[str, tuple[str, str, bool]] = {name: (c.label, c.unit, c.log_scale) for name, c in COLUMNS.items() if c.axis}
FAMILY_COLOURS = {
    "baseline": "#9e9e9e",
    "linear": "#1f77b4",
    "tree": "#2ca02c",
    "forest": "#8c564b",
    "boosting": "#ff7f0e",
    "neural": "#9467bd",
}
SYMBOL_OF_KIND = {
    "none": "circle",
    "precision": "diamond",
    "pruning": "square",
    "from scratch": "triangle-up",
    "lossless": "hexagon",
    "distilled": "star",
    "other": "cross",
}


def compression_kind(compression: str) -> str:
    """A compression label (int4-qat, prune-80-ft, ...) grouped into the kind its marker shape shows."""
    if compression in ("none", "", None):
        return "none"
    if compression.startswith(("fp16", "bf16", "int8", "int4", "ternary", "binary", "precision", "sweep")):
        return "precision"
    if compression.startswith(("prune", "neurons")):
        return "pruning"
    if compression.startswith(("scratch", "low-rank")):
        return "from scratch"
    if compression in ("gzip", "huffman-int8"):
        return "lossless"
    if compression.startswith("distill"):
        return "distilled"
    return "other"


HOVER_COLUMNS = (
    "primary",
    "p50_ms",
    "p99_ms",
    "rows_per_s",
    "size_bytes",
    "gzip_bytes",
    "params",
    "peak_predict_bytes",
    "load_ms",
    "cold_start_ms",
    "joules_per_1k",
    "usd_per_million",
    "usd_per_month",
    "train_s",
)


class ChartPoint(NamedTuple):
    key: str
    name: str
    family: str
    compression: str
    lineage: str  # the root of its parent chain: every variant of the MLP shares "mlp"
    x: float
    y: float
    pareto: bool  # on the front of all weighted metrics
    front_2d: bool  # on the front of the two metrics shown
    recommended: bool
    hover: str


class ParetoData(NamedTuple):
    x: str
    y: str
    x_label: str
    y_label: str
    x_log: bool
    y_log: bool
    points: list[ChartPoint]
    front: list[tuple[float, float]]  # the 2-D front, sorted by x, for drawing


class BatchSeries(NamedTuple):
    key: str
    name: str
    family: str
    batch_sizes: list[int]
    p50_ms_per_batch: list[float]
    rows_per_s: list[float]


def axis_label(column: str, run: Run) -> str:
    label, unit, _ = AXES[column]
    if column == "primary":
        label = run.primary_metric.replace("_", " ")
    direction = _direction(column, run)
    arrow = {"higher": "higher is better", "lower": "lower is better"}.get(direction, "")
    return f"{label}{f' ({unit})' if unit else ''}{f', {arrow}' if arrow else ''}"


def _direction(column: str, run: Run) -> str:
    if column == "primary":
        return "higher" if HIGHER_IS_BETTER[run.primary_metric] else "lower"
    return COLUMNS[column].direction


def pareto_data(run: Run, x: str = "p99_ms", y: str = "primary") -> ParetoData:
    """Measured candidates as points on two metrics, with the 2-D front and the flags."""
    board = run.leaderboard
    rows = [r for r in board.to_dict(orient="records") if r.get("status") == "measured"]
    rows = [r for r in rows if _finite(r.get(x)) and _finite(r.get(y))]
    values = np.array([[r[x], r[y]] for r in rows], dtype=float).reshape(-1, 2)
    losses = to_losses(values, [_direction(x, run) == "higher", _direction(y, run) == "higher"])
    front_mask = pareto_mask(losses) if len(rows) else np.zeros(0, dtype=bool)
    parents = {c.key: c.parent for c in run.candidates}

    def root(key: str) -> str:
        seen = set()
        while parents.get(key) and key not in seen:
            seen.add(key)
            key = parents[key]
        return key

    points = []
    for row, on_front in zip(rows, front_mask, strict=True):
        hover_lines = [f"<b>{row['name']}</b> ({row['family']})"]
        for column in HOVER_COLUMNS:
            if column in row:
                label = run.primary_metric if column == "primary" else column
                hover_lines.append(f"{label}: {format_column(row[column], column)}")
        points.append(
            ChartPoint(
                key=row["key"],
                name=row["name"],
                family=row["family"],
                compression=row["compression"] if isinstance(row.get("compression"), str) else "none",
                lineage=root(row["key"]),
                x=float(row[x]),
                y=float(row[y]),
                pareto=bool(row.get("pareto")),
                front_2d=bool(on_front),
                recommended=bool(row.get("recommended")),
                hover="<br>".join(hover_lines),
            )
        )
    front = sorted((p.x, p.y) for p in points if p.front_2d)
    return ParetoData(x, y, axis_label(x, run), axis_label(y, run), AXES[x][2], AXES[y][2], points, front)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and not isinstance(value, bool)


LINEAGE_COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def pareto_figure(data: ParetoData, selected: str | None = None, colour_by: str = "family") -> Any:
    """The chart: colour by family or by lineage (a model and all its compressed variants)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    if len(data.front) > 1:
        xs, ys = zip(*data.front, strict=True)
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": "#bbbbbb", "dash": "dash", "shape": "hv"},
                name="front (these two metrics)",
                hoverinfo="skip",
            )
        )
    groups = sorted({getattr(p, colour_by) for p in data.points})
    lineage_colour = {g: LINEAGE_COLOURS[i % len(LINEAGE_COLOURS)] for i, g in enumerate(groups)}
    for group in groups:
        members = [p for p in data.points if getattr(p, colour_by) == group]
        colour = FAMILY_COLOURS.get(group, "#17becf") if colour_by == "family" else lineage_colour[group]
        figure.add_trace(
            go.Scatter(
                x=[p.x for p in members],
                y=[p.y for p in members],
                mode="markers+text",
                name=group,
                # labels on the front, the recommendation and the selection; the rest on hover
                text=[p.key if (p.pareto or p.recommended or p.key == selected) else "" for p in members],
                textposition="top center",
                customdata=[[p.key] for p in members],
                hovertext=[p.hover for p in members],
                hoverinfo="text",
                marker={
                    "size": [20 if p.recommended else 13 for p in members],
                    "color": colour,
                    "symbol": [
                        SYMBOL_OF_KIND[compression_kind(p.compression)] + ("" if p.pareto else "-open") for p in members
                    ],
                    "line": {
                        "width": [3 if p.key == selected else 1 for p in members],
                        "color": ["#d62728" if p.key == selected else "#333333" for p in members],
                    },
                },
            )
        )
    for kind in sorted({compression_kind(p.compression) for p in data.points}):
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"shape: {kind}",
                marker={"symbol": SYMBOL_OF_KIND[kind], "color": "#666666", "size": 10},
                legendgroup="shapes",
                hoverinfo="skip",
            )
        )
    recommended = [p for p in data.points if p.recommended]
    if recommended:
        p = recommended[0]
        figure.add_annotation(
            x=math.log10(p.x) if data.x_log else p.x,
            y=math.log10(p.y) if data.y_log else p.y,
            text="recommended",
            showarrow=True,
            arrowhead=2,
            ay=-40,
        )
    figure.update_layout(
        xaxis_title=data.x_label,
        yaxis_title=data.y_label,
        height=480,
        margin={"t": 30},
        legend_title_text=f"{colour_by}; shape: compression (filled: on the Pareto front of the weighted metrics)",
        clickmode="event+select",
    )
    figure.update_xaxes(type="log" if data.x_log else "linear")
    figure.update_yaxes(type="log" if data.y_log else "linear")
    return figure


def batch_data(run: Run) -> list[BatchSeries]:
    out = []
    for c in run.candidates:
        if not c.batches:
            continue
        sizes = sorted(c.batches)
        out.append(
            BatchSeries(
                key=c.key,
                name=c.name,
                family=c.family,
                batch_sizes=sizes,
                p50_ms_per_batch=[c.batches[b].p50_ms for b in sizes],
                rows_per_s=[c.batches[b].rows_per_s for b in sizes],
            )
        )
    return out


def batch_figure(series: list[BatchSeries]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "latency per batch (ms, p50, 1 thread): lower is better",
            "throughput (rows/s, 1 thread): higher is better",
        ),
    )
    for s in series:
        colour = FAMILY_COLOURS.get(s.family, "#17becf")
        common = {"mode": "lines+markers", "name": s.key, "legendgroup": s.key, "line": {"color": colour}}
        figure.add_trace(go.Scatter(x=s.batch_sizes, y=s.p50_ms_per_batch, **common), row=1, col=1)
        figure.add_trace(go.Scatter(x=s.batch_sizes, y=s.rows_per_s, showlegend=False, **common), row=1, col=2)
    figure.update_xaxes(type="log", title_text="batch size (rows)")
    figure.update_yaxes(type="log")
    figure.update_layout(height=420, margin={"t": 40})
    return figure


def selected_key(event: Any) -> str | None:
    """The candidate key from a plotly selection event, whatever shape customdata arrives in.

    Streamlit passes customdata as a list ([key]) or as a dict ({"0": key}) depending on the path.
    """
    if event is None:
        return None
    selection = event.get("selection") if isinstance(event, Mapping) else getattr(event, "selection", None)
    if not selection:
        return None
    points = selection.get("points") if isinstance(selection, Mapping) else getattr(selection, "points", None)
    for point in points or []:
        custom = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(custom, Mapping):
            custom = custom.get("0", custom.get(0))
        elif isinstance(custom, (list, tuple)):
            custom = custom[0] if custom else None
        if custom:
            return str(custom)
    return None
