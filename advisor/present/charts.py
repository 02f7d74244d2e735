"""Charts in two steps: gather plain data (NamedTuples, which tests check), then draw it with plotly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from advisor.objectives import COLUMNS, HIGHER_IS_BETTER, LIMITS
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
    skilled: bool = True  # beats the no-skill baseline beyond its interval
    y_low: float | None = None  # the primary metric's 95% interval, when y is the primary metric
    y_high: float | None = None
    x_low: float | None = None  # the same when x is the primary metric
    x_high: float | None = None


class LimitLine(NamedTuple):
    axis: str  # "x" or "y"
    value: float  # in the axis' column unit
    label: str  # e.g. "limit p99_ms <= 10"


class ParetoData(NamedTuple):
    x: str
    y: str
    x_label: str
    y_label: str
    x_log: bool
    y_log: bool
    points: list[ChartPoint]
    front: list[tuple[float, float]]  # the 2-D front, sorted by x, for drawing
    # The quality axis spans the skilled candidates (the baseline and broken models would squash
    # the rest into a sliver); points beyond it are drawn at its edge and say so on hover.
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    limits: tuple[LimitLine, ...] = ()


class BatchSeries(NamedTuple):
    key: str
    name: str
    family: str
    batch_sizes: list[int]
    p50_ms_per_batch: list[float]
    rows_per_s: list[float]
    pareto: bool = False
    recommended: bool = False


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
                label = run.primary_metric.replace("_", " ") if column == "primary" else COLUMNS[column].label
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
                skilled=bool(row.get("skilled", True)) and row.get("family") != "baseline",
                **_interval(row, "y" if y == "primary" else "x" if x == "primary" else ""),
            )
        )
    front = sorted((p.x, p.y) for p in points if p.front_2d)
    return ParetoData(
        x,
        y,
        axis_label(x, run),
        axis_label(y, run),
        AXES[x][2],
        AXES[y][2],
        points,
        front,
        x_range=_quality_range(points, "x") if x == "primary" else None,
        y_range=_quality_range(points, "y") if y == "primary" else None,
        limits=tuple(_limit_lines(run, x, y)),
    )


def _interval(row: Mapping[str, Any], axis: str) -> dict[str, float | None]:
    if not axis or not (_finite(row.get("primary_ci95_low")) and _finite(row.get("primary_ci95_high"))):
        return {}
    return {f"{axis}_low": float(row["primary_ci95_low"]), f"{axis}_high": float(row["primary_ci95_high"])}


def _quality_range(points: list[ChartPoint], axis: str) -> tuple[float, float] | None:
    """The skilled candidates' span of the primary metric (with their intervals), padded by 8%."""
    skilled = [p for p in points if p.skilled]
    if len(skilled) < 2:
        return None
    low_attr, high_attr = f"{axis}_low", f"{axis}_high"
    lows = [min(getattr(p, axis), getattr(p, low_attr) or getattr(p, axis)) for p in skilled]
    highs = [max(getattr(p, axis), getattr(p, high_attr) or getattr(p, axis)) for p in skilled]
    low, high = min(lows), max(highs)
    pad = (high - low) * 0.08 or abs(high) * 0.01 or 0.01
    return (low - pad, high + pad)


def _limit_lines(run: Run, x: str, y: str) -> list[LimitLine]:
    """The run's hard limits that bound the columns on the two axes, in those columns' units."""
    rec = run.recommendation
    lines = []
    for name, value in dict(rec.limits if rec else run.settings.get("limits") or {}).items():
        limit = LIMITS.get(name)
        if limit is None:
            continue
        column = "primary" if limit.column in ("primary", None, "") else limit.column
        for axis, shown in (("x", x), ("y", y)):
            if column == shown:
                sign = "<=" if limit.kind == "max" else ">="
                lines.append(LimitLine(axis, float(value) * limit.scale, f"limit {name} {sign} {value:g}"))
    return lines


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
    placed = label_positions(data, selected)
    groups = sorted({getattr(p, colour_by) for p in data.points})
    lineage_colour = {g: LINEAGE_COLOURS[i % len(LINEAGE_COLOURS)] for i, g in enumerate(groups)}
    for group in groups:
        members = [p for p in data.points if getattr(p, colour_by) == group]
        colour = FAMILY_COLOURS.get(group, "#17becf") if colour_by == "family" else lineage_colour[group]
        xs = [_clamped(p.x, data.x_range) for p in members]
        ys = [_clamped(p.y, data.y_range) for p in members]
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers+text",
                name=group,
                # display names on the front and the pick (and the selection); the rest on hover
                text=[_shown_label(p) if p.key in placed else "" for p in members],
                textposition=[placed.get(p.key, "top center") for p in members],
                customdata=[[p.key] for p in members],
                hovertext=[p.hover + _edge_note(p, data) for p in members],
                hoverinfo="text",
                error_y=_error_bars(members, "y"),
                error_x=_error_bars(members, "x"),
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
    beyond = []
    for line in data.limits:
        values = [p.x if line.axis == "x" else p.y for p in data.points]
        if not _near(line.value, values, data.x_log if line.axis == "x" else data.y_log):
            beyond.append(line.label)  # drawing it would squash every point into a corner
            continue
        draw = figure.add_vline if line.axis == "x" else figure.add_hline
        draw(line.value, line_dash="dot", line_color="#d62728", annotation_text=line.label)
    if beyond:
        figure.add_annotation(
            xref="paper",
            yref="paper",
            x=0,
            y=1.07,
            showarrow=False,
            xanchor="left",  # the right is plotly's toolbar
            font={"size": 11, "color": "#d62728"},
            text="; ".join(beyond) + ": far beyond every candidate, not drawn",
        )
    figure.update_layout(
        xaxis_title=data.x_label,
        yaxis_title=data.y_label,
        height=560,
        margin={"t": 30},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        legend_title_text=f"{colour_by}; shape: compression (filled: on the Pareto front of the weighted metrics)",
        clickmode="event+select",
        modebar={"orientation": "v"},  # down the right side: the top left carries the note on far limits
    )
    for axis, log, values, fixed in (
        ("x", data.x_log, [p.x for p in data.points], data.x_range),
        ("y", data.y_log, [p.y for p in data.points], data.y_range),
    ):
        update = figure.update_xaxes if axis == "x" else figure.update_yaxes
        positive = [v for v in values if _finite(v) and v > 0]
        if log and positive:
            ticks = log_ticks(values)
            span = [math.log10(min(positive) / 1.3), math.log10(max(positive) * 1.3)]
            update(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks], range=span)
        elif log:
            update(type="log")
        else:
            update(type="linear", range=list(fixed) if fixed else None)
    return figure


def _near(value: float, values: list[float], log: bool) -> bool:
    """Whether a limit line sits within (or just beyond) the points' span on its axis."""
    finite = [v for v in values if _finite(v)]
    if not finite:
        return False
    low, high = min(finite), max(finite)
    if log:
        return low > 0 and low / 3 <= value <= high * 3
    pad = (high - low) * 0.25 or abs(high) * 0.1 or 1.0
    return low - pad <= value <= high + pad


# The plot area and a label's letters in pixels, roughly (the app draws the chart beside the
# selected candidate's figures, about this size): enough to tell which labels would overlap.
PLOT_PX = (480.0, 300.0)
CHAR_PX, LINE_PX, GAP_PX = 6.5, 14.0, 9.0
MARKER_PX = 14.0  # a marker's box, which names keep clear of
PICK = "★ "  # the recommendation's name starts with this
LABEL_PLACES = ("top center", "bottom center", "middle right", "middle left")


def label_positions(data: ParetoData, selected: str | None = None) -> dict[str, str]:
    """Where each labelled point's name goes (plotly's textposition), so that no two names overlap:
    the pick first, then the selection, then the front left to right, each taking the first free
    place above, below, right or left of its point; a name with no free place is left to the hover."""

    def scale(values: list[float], log: bool, fixed: tuple[float, float] | None) -> Any:
        finite = [math.log10(v) if log else v for v in values if _finite(v) and (v > 0 or not log)]
        low, high = fixed if fixed and not log else (min(finite, default=0.0), max(finite, default=1.0))
        span = (high - low) or 1.0

        def to_px(value: float, size: float) -> float:
            if not _finite(value) or (log and value <= 0):
                return 0.0
            return ((math.log10(value) if log else value) - low) / span * size

        return to_px

    to_x = scale([p.x for p in data.points], data.x_log, data.x_range)
    to_y = scale([p.y for p in data.points], data.y_log, data.y_range)
    labelled = [p for p in data.points if p.pareto or p.recommended or p.key == selected]
    labelled.sort(key=lambda p: (not p.recommended, p.key != selected, p.x if _finite(p.x) else 0.0))

    def at(point: ChartPoint) -> tuple[float, float]:
        return to_x(_clamped(point.x, data.x_range), PLOT_PX[0]), to_y(_clamped(point.y, data.y_range), PLOT_PX[1])

    half = MARKER_PX / 2
    taken = [(x - half, y - half, x + half, y + half) for x, y in map(at, data.points)]
    places: dict[str, str] = {}
    for point in labelled:
        x, y = at(point)
        width, height = len(_shown_label(point)) * CHAR_PX, LINE_PX
        boxes = {
            "top center": (x - width / 2, y + GAP_PX, x + width / 2, y + GAP_PX + height),
            "bottom center": (x - width / 2, y - GAP_PX - height, x + width / 2, y - GAP_PX),
            "middle right": (x + GAP_PX, y - height / 2, x + GAP_PX + width, y + height / 2),
            "middle left": (x - GAP_PX - width, y - height / 2, x - GAP_PX, y + height / 2),
        }
        for place in LABEL_PLACES:
            box = boxes[place]
            inside = box[0] >= -GAP_PX and box[2] <= PLOT_PX[0] + GAP_PX and -GAP_PX <= box[1] <= box[3] <= PLOT_PX[1]
            if inside and (point.recommended or not any(_overlap(box, other) for other in taken)):
                taken.append(box)
                places[point.key] = place
                break
        if point.recommended and point.key not in places:  # the pick is always named
            taken.append(boxes["bottom center"])
            places[point.key] = "bottom center"
    return places


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _shown_label(point: ChartPoint) -> str:
    return PICK + point_label(point) if point.recommended else point_label(point)


def point_label(point: ChartPoint, width: int = 24) -> str:
    """A point's label on the chart: its display name, cut to `width` characters."""
    return point.name if len(point.name) <= width else point.name[: width - 1] + "…"


def _clamped(value: float, bounds: tuple[float, float] | None) -> float:
    return value if bounds is None else min(max(value, bounds[0]), bounds[1])


def _edge_note(point: ChartPoint, data: ParetoData) -> str:
    beyond = [
        name
        for value, bounds, name in ((point.x, data.x_range, "x"), (point.y, data.y_range, "y"))
        if bounds is not None and not bounds[0] <= value <= bounds[1]
    ]
    return (
        "<br><i>drawn at the edge of the axis: its value is beyond the skilled candidates' range</i>" if beyond else ""
    )


def _error_bars(points: list[ChartPoint], axis: str) -> dict[str, Any] | None:
    lows = [getattr(p, f"{axis}_low") for p in points]
    if all(low is None for low in lows):
        return None
    centre = [getattr(p, axis) for p in points]
    highs = [getattr(p, f"{axis}_high") for p in points]
    return {
        "type": "data",
        "symmetric": False,
        "array": [(h - c) if h is not None else 0 for h, c in zip(highs, centre, strict=True)],
        "arrayminus": [(c - lo) if lo is not None else 0 for lo, c in zip(lows, centre, strict=True)],
        "thickness": 1,
        "width": 3,
        "color": "#999999",
    }


def log_ticks(values: list[float]) -> list[float]:
    """Tick values 1-2-5 per decade across the values' span (log axes): 0.02, 0.05, 0.1, 0.2 rather
    than plotly's lone digits ("3 ... 9") inside a short span."""
    positive = [v for v in values if _finite(v) and v > 0]
    if not positive:
        return []
    low, high = min(positive), max(positive)
    ticks = []
    for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = float(f"{mantissa}e{exponent}")
            if low / 1.5 <= value <= high * 1.5:
                ticks.append(value)
    if len(ticks) > 12:  # many decades: one tick a decade
        ticks = [t for t in ticks if f"{t:e}".startswith("1")]
    return ticks


def batch_data(run: Run) -> list[BatchSeries]:
    rec = run.recommendation
    front = set(rec.pareto) if rec else set()
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
                pareto=c.key in front,
                recommended=bool(rec and rec.key == c.key),
            )
        )
    return out


def batch_figure(series: list[BatchSeries], selected: str | None = None) -> Any:
    """Latency and throughput per batch size. The Pareto front, the pick and the selection are drawn;
    the others are in the legend, a click away (all of them at once would be a tangle of lines)."""
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
        shown = s.pareto or s.recommended or s.key == selected or len(series) <= 6
        common = {
            "mode": "lines+markers",
            "name": s.name if len(s.name) <= 28 else s.name[:27] + "…",
            "legendgroup": s.key,
            "line": {"color": colour, "width": 4 if s.recommended else 2},
            "visible": True if shown else "legendonly",
        }
        figure.add_trace(go.Scatter(x=s.batch_sizes, y=s.p50_ms_per_batch, **common), row=1, col=1)
        figure.add_trace(go.Scatter(x=s.batch_sizes, y=s.rows_per_s, showlegend=False, **common), row=1, col=2)
    figure.update_xaxes(type="log", title_text="batch size (rows)")
    figure.update_yaxes(type="log")
    figure.update_layout(
        height=460, margin={"t": 40}, legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0}
    )
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
