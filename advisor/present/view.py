"""A run as plain view data, gathered once: what the CLI, the HTML report and the app all show.

Like the charts (gather the data, then draw it), `run_view(run)` collects everything a person reads
about a run: the recommendation card, the leaderboard as a table whose figures the one formatter
(`advisor.present.numbers`) has already written, with the raw values beside them for sorting and
charts, the shortlist, the learning-curve verdict, how each candidate's figures were measured, and
the run's notes. The terminal, the report and the page only lay it out; tests assert on this data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from numbers import Integral
from typing import Any

from advisor.objectives import COLUMNS, HIGHER_IS_BETTER, QUALITY_LABELS
from advisor.present.card import Card, recommendation_card
from advisor.present.explain import helpers_message
from advisor.present.numbers import COUNTS, MISSING, PLAIN, display_unit, format_quantities, format_quantity
from advisor.results import Run

FLAGS = "flags"
INTERVAL = "primary_ci95"  # the primary metric's 95% interval, low and high in one cell
# The leaderboard's columns in every front end, in order, with the terminal's short heading (the
# cells carry their units). The primary metric's heading is its own name.
TABLE_COLUMNS: dict[str, str] = {
    FLAGS: "",
    "key": "key",
    "family": "family",
    "primary": "",
    INTERVAL: "95% interval",
    "p50_ms": "p50",
    "p99_ms": "p99",
    "rows_per_s": "throughput",
    "best_batch": "@batch",
    "size_bytes": "size",
    "gzip_bytes": "gzip",
    "params": "params",
    "peak_predict_bytes": "peak memory",
    "load_ms": "load",
    "cold_start_ms": "cold start",
    "joules_per_1k": "energy",
    "usd_per_million": "cost",
    "usd_per_month": "cost/month",
    "train_s": "train",
    "score": "score",
    "status": "status",
}
TEXT_COLUMNS = (FLAGS, "key", "family", "status")
# The shortlist: the few figures that tell the top candidates apart.
SHORTLIST_COLUMNS = (FLAGS, "key", "primary", "p99_ms", "rows_per_s", "size_bytes", "usd_per_month", "score")
SHORTLIST_SIZE = 5
# The compact table a terminal shows by default (every column with `--all`), with its own shorter
# headings; the start-up column is the cold start where it was measured, else the warm load.
COMPACT_COLUMNS: dict[str, str] = {
    FLAGS: "",
    "key": "key",
    "primary": "",
    INTERVAL: "95% interval",
    "p99_ms": "p99",
    "rows_per_s": "rows/s",
    "size_bytes": "size",
    "usd_per_month": "cost/month",
    "cold_start_ms": "cold start",
    "load_ms": "load",
}
FLAG_LEGEND = "Flags: * recommended, P on the Pareto front, ! no skill over the baseline."
TABLE_NOTE = (
    "Latency: one row end to end, 1 thread; throughput: best batch size, 1 thread; energy and cost are "
    "estimates unless their method says 'rapl' (see how each figure was measured)."
)
# How each figure was obtained, in reading order: (label, the measurement's attribute).
MEASUREMENTS = (("quality", "quality"), ("latency", "latency"), ("size", "size"), ("start-up", "startup"))


@dataclass(frozen=True)
class ColumnView:
    """A column of the table: its key, its words for people and the unit its cells are shown in."""

    key: str  # the leaderboard column ("p99_ms"), or FLAGS / INTERVAL
    label: str  # for people: "p99 latency, one row"
    short: str  # the terminal's heading: "p99"
    unit: str  # the unit the cells are shown in ("us", "kB", "rows/s"); "" for words and plain numbers
    direction: str  # "higher", "lower" or "" (not a goal)
    meaning: str
    text: bool = False  # words, not figures (left-aligned)

    @property
    def header(self) -> str:
        """'p99 latency, one row (us)': the label and the unit of its cells."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


@dataclass(frozen=True)
class RowView:
    """A candidate's row: each cell as a person reads it, and the raw value it came from."""

    key: str
    name: str
    family: str
    status: str
    cells: tuple[str, ...]  # one per column, written by the one formatter ("34.8 us", "4.76 kB", "-")
    values: tuple[Any, ...]  # the figures in their stored units (None when missing), for sorting and charts
    recommended: bool
    pareto: bool
    no_skill: bool  # measured, not the baseline, and not clearly better than it
    failed: bool  # failed or skipped: no figures

    @property
    def flags(self) -> str:
        return ("*" if self.recommended else "") + ("P" if self.pareto else "") + ("!" if self.no_skill else "")


@dataclass(frozen=True)
class TableView:
    """Rows of formatted cells under labelled columns."""

    columns: tuple[ColumnView, ...]
    rows: tuple[RowView, ...]
    legend: str = ""  # what the flags and the figures mean

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns)

    def column(self, key: str) -> ColumnView:
        return self.columns[self.keys.index(key)]

    def row(self, key: str) -> RowView:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def cell(self, row: str, column: str) -> str:
        return self.row(row).cells[self.keys.index(column)]

    def value(self, row: str, column: str) -> Any:
        return self.row(row).values[self.keys.index(column)]

    @property
    def recommended(self) -> RowView | None:
        return next((row for row in self.rows if row.recommended), None)

    def compact(self) -> TableView:
        """The few columns a narrow screen shows (`COMPACT_COLUMNS`), with their short headings: the
        quality and its interval, p99, rows/s, size, cost a month and one start-up figure."""
        startup = "cold_start_ms" if "cold_start_ms" in self.keys and self._measured("cold_start_ms") else "load_ms"
        keys = [key for key in COMPACT_COLUMNS if key not in ("cold_start_ms", "load_ms") or key == startup]
        chosen = self.select(keys)
        shorter = tuple(replace(column, short=COMPACT_COLUMNS[column.key] or column.short) for column in chosen.columns)
        return replace(chosen, columns=shorter)

    def _measured(self, column: str) -> bool:
        index = self.keys.index(column)
        return any(row.values[index] is not None for row in self.rows)

    def select(self, columns: Iterable[str] = (), rows: Iterable[str] | None = None) -> TableView:
        """Some of the columns (those present, in the order given; all when none are named) and,
        optionally, some of the rows (in the order given); the cells stay as written."""
        wanted = [self.keys.index(c) for c in columns if c in self.keys] or list(range(len(self.columns)))
        chosen = self.rows if rows is None else tuple(self.row(key) for key in rows)
        return replace(
            self,
            columns=tuple(self.columns[i] for i in wanted),
            rows=tuple(
                replace(r, cells=tuple(r.cells[i] for i in wanted), values=tuple(r.values[i] for i in wanted))
                for r in chosen
            ),
        )


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    rows: int
    primary: float
    fraction_text: str  # "25%"
    rows_text: str  # "51 rows"
    primary_text: str  # "0.9855"


@dataclass(frozen=True)
class CurveView:
    """Would more rows help: the verdict in a sentence, and the points it rests on."""

    key: str
    name: str
    metric: str
    verdict: str
    sentence: str  # "Logistic regression, accuracy on the test split: levelling off ...: more rows are unlikely..."
    points: tuple[CurvePoint, ...]
    method: str


@dataclass(frozen=True)
class MethodsView:
    """How each figure of one candidate was obtained, as labelled rows."""

    key: str
    name: str
    status: str
    rows: tuple[tuple[str, str], ...]  # (label, method): ("latency", "120 timed calls, ...")


@dataclass(frozen=True)
class MethodGroup:
    """One way a figure was obtained, and every candidate it was obtained that way for."""

    label: str  # "latency"
    method: str
    keys: tuple[str, ...]


def method_groups(methods: Sequence[MethodsView]) -> tuple[MethodGroup, ...]:
    """The candidates' methods with the identical ones said once: by label in reading order, then
    each distinct text with the candidates that share it."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for candidate in methods:
        for label, method in candidate.rows:
            grouped.setdefault((label, method), []).append(candidate.key)
    labels = list(dict.fromkeys(label for label, _ in grouped))
    return tuple(
        MethodGroup(label, method, tuple(keys))
        for wanted in labels
        for (label, method), keys in grouped.items()
        if label == wanted
    )


@dataclass(frozen=True)
class RunView:
    """Everything a person reads about a run, gathered once."""

    run_id: str
    status: str
    dataset: str  # the file's name
    target: str
    task: str
    primary_metric: str
    summary: str  # "penguins.csv, target 'species', multiclass, 344 rows (train 206, validation 69, test 69)"
    hardware: str  # "AMD EPYC, 2 usable CPUs; no CUDA GPU available: ..."
    profile: str  # "Cloud CPU server (cloud-cpu)"
    weights: str  # "accuracy 5, latency 2, ..."
    limits: str  # "p99_ms 100", or "none"
    card: Card
    table: TableView
    shortlist: TableView  # the top candidates by weighted score, the recommended one first
    curve: CurveView | None
    methods: tuple[MethodsView, ...]
    device: str | None = None  # the target machine whose imported figures rank the candidates
    device_note: str = ""
    data_notes: tuple[str, ...] = ()  # what the data check found (the user's columns, named)
    helpers: str = ""  # which candidates trained only as helpers, and why
    failures: tuple[str, ...] = ()  # "mlp: failed: out of memory"
    overview: str = ""  # one paragraph for a stakeholder: compared, recommended and why, the trade-off, how firm

    @property
    def method_groups(self) -> tuple[MethodGroup, ...]:
        return method_groups(self.methods)

    @property
    def notes(self) -> tuple[str, ...]:
        """The run's notes in reading order: the data's, then the helpers'."""
        return self.data_notes + ((self.helpers,) if self.helpers else ())


def _value(value: Any) -> Any:
    """A raw figure, with every kind of missing (None, NaN, pandas' NA) as None."""
    if value is None or isinstance(value, str | bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if isinstance(value, Integral) else number


def _stored_unit(run: Run, key: str) -> str:
    """The unit a column's figures are stored in (the primary metric's own for its figure and interval)."""
    column = COLUMNS.get(run.primary_metric if key in ("primary", INTERVAL) else key)
    return "" if column is None or key in TEXT_COLUMNS else column.unit


def _raw(record: Mapping[str, Any], key: str) -> Any:
    """A row's value in a column: the figure in its stored unit, the interval as (low, high), or None."""
    if key == FLAGS:
        return None
    if key == INTERVAL:
        low, high = _value(record.get("primary_ci95_low")), _value(record.get("primary_ci95_high"))
        return (low, high) if low is not None and high is not None else None
    return _value(record.get(key))


def _cells(key: str, values: Sequence[Any], unit: str) -> list[str]:
    """One column's cells, as the one formatter writes them: a column's figures in one step."""
    if key in TEXT_COLUMNS:
        return ["" if v is None else str(v) for v in values]
    if key == INTERVAL:
        return [MISSING if v is None else " to ".join(format_quantity(x, unit, digits=3) for x in v) for v in values]
    return format_quantities(values, unit)


def _column(run: Run, key: str, short: str, values: Sequence[Any]) -> ColumnView:
    unit = _stored_unit(run, key)
    shown = "" if unit in PLAIN or unit in COUNTS or key == INTERVAL else display_unit(values, unit)
    if key == FLAGS:
        return ColumnView(FLAGS, "flags", short, "", "", FLAG_LEGEND, text=True)
    metric = run.primary_metric
    label = QUALITY_LABELS.get(metric, metric)
    if key == "primary":
        direction = "higher" if HIGHER_IS_BETTER.get(metric, True) else "lower"
        meaning = f"{label} on the test split (the primary quality metric)"
        return ColumnView(key, label, metric, shown, direction, meaning)
    if key == INTERVAL:
        meaning = f"95% bootstrap interval of {label} on the test split, low to high"
        return ColumnView(key, f"{label}, 95% interval", short, "", "", meaning)
    column = COLUMNS[key]
    direction = column.direction if column.direction in ("higher", "lower") else ""
    return ColumnView(key, column.label, short, shown, direction, column.meaning, text=key in TEXT_COLUMNS)


def leaderboard_view(run: Run) -> TableView:
    """The leaderboard as a table: one row per candidate, in the run's order, every figure formatted."""
    records = run.leaderboard.to_dict(orient="records")
    values = {key: [_raw(r, key) for r in records] for key in TABLE_COLUMNS}
    columns = tuple(_column(run, key, short, values[key]) for key, short in TABLE_COLUMNS.items())
    cells = {key: _cells(key, values[key], _stored_unit(run, key)) for key in TABLE_COLUMNS if key != FLAGS}
    rows = []
    for i, r in enumerate(records):
        status = str(r.get("status") or "")
        row = RowView(
            key=str(r["key"]),
            name=str(r.get("name") or r["key"]),
            family=str(r.get("family") or ""),
            status=status,
            cells=(),
            values=tuple(values[key][i] for key in TABLE_COLUMNS),
            recommended=bool(r.get("recommended")),
            pareto=bool(r.get("pareto")),
            no_skill=status == "measured" and r.get("skilled") is False and r.get("family") != "baseline",
            failed=status in ("failed", "skipped"),
        )
        rows.append(replace(row, cells=tuple(row.flags if key == FLAGS else cells[key][i] for key in TABLE_COLUMNS)))
    return TableView(columns, tuple(rows), legend=f"{FLAG_LEGEND} {TABLE_NOTE}")


def shortlist(run: Run, table: TableView, size: int = SHORTLIST_SIZE) -> TableView:
    """The top `size` eligible candidates by weighted score, the recommended one first."""
    rec = run.recommendation or run.rank()
    scored = [key for key in rec.feasible if key in rec.scores]
    order = sorted(scored, key=lambda key: (key != rec.key, -rec.scores[key]))[:size]
    return table.select(SHORTLIST_COLUMNS, rows=order)


def curve_view(run: Run) -> CurveView | None:
    """The learning curve's verdict and points; None when it was not measured or failed."""
    curve = run.learning_curve
    if not curve or not curve.get("points") or curve.get("error"):
        return None
    metric = curve["metric"]
    unit = COLUMNS[metric].unit if metric in COLUMNS else ""
    points = tuple(
        CurvePoint(
            fraction=p["fraction"],
            rows=p["rows"],
            primary=p["primary"],
            fraction_text=format_quantity(p["fraction"], "%"),
            rows_text=format_quantity(p["rows"], "rows"),
            primary_text=format_quantity(p["primary"], unit),
        )
        for p in curve["points"]
    )
    name = curve.get("name") or curve["key"]
    return CurveView(
        key=curve["key"],
        name=name,
        metric=metric,
        verdict=curve["verdict"],
        sentence=f"{name}, {metric} on the test split: {curve['verdict']}.",
        points=points,
        method=curve.get("method", ""),
    )


def methods_view(run: Run) -> tuple[MethodsView, ...]:
    """Each candidate's figures and how they were obtained, as (label, method) rows."""
    out = []
    for c in run.candidates:
        rows = [(label, part.method) for label, attribute in MEASUREMENTS if (part := getattr(c, attribute))]
        if c.batches:
            rows.append(("batches", next(iter(c.batches.values())).method))
        # The estimates behind the table's figures: on the imported machine's timings when ranked on one.
        energy, cost = c.energy(run.profile, run.device), c.cost(run.profile, run.device)
        for label, estimate in (("energy", energy), ("cost", cost)):
            if estimate is not None:
                rows.append((label, estimate.method))
        for serving in c.serving:  # the serving check: the load, then the estimate beside it
            if serving.served:
                rows.append((f"served ({serving.label})", serving.method))
            rows.append((f"serving estimate ({serving.label})", serving.estimate_method))
        if c.error:
            rows.append(("error", c.error))
        out.append(MethodsView(c.key, c.name, c.status, tuple(rows)))
    return tuple(out)


def _trade_off(run: Run, table: TableView, chosen: str) -> str:
    """The main trade-off in plain words: the recommended candidate against the most accurate, or
    against the fastest (lowest p99), among the eligible ones."""
    rec = run.recommendation or run.rank()
    known = {row.key for row in table.rows}
    eligible = [
        k
        for k in rec.feasible
        if k in known and table.value(k, "primary") is not None and table.value(k, "p99_ms") is not None
    ]
    if chosen not in eligible or len(eligible) < 2:
        return ""
    higher = HIGHER_IS_BETTER.get(run.primary_metric, True)
    sign = 1 if higher else -1
    best = max(eligible, key=lambda k: sign * table.value(k, "primary"))
    fastest = min(eligible, key=lambda k: table.value(k, "p99_ms"))
    name = table.row(chosen).name
    metric = QUALITY_LABELS.get(run.primary_metric, run.primary_metric)

    def quality(key: str) -> str:
        return table.cell(key, "primary")

    def p99(key: str) -> str:
        return table.cell(key, "p99_ms")

    if best != chosen:
        other = table.row(best).name
        return (
            f"The main trade-off: {other} scores higher on {metric} ({quality(best)} against {quality(chosen)}), "
            f"but {name} answers one row faster (p99 {p99(chosen)} against {p99(best)}) or is better on the other "
            "priorities."
        )
    if fastest != chosen:
        other = table.row(fastest).name
        return (
            f"The main trade-off: {other} answers one row faster (p99 {p99(fastest)} against {p99(chosen)}), but "
            f"{name} scores higher on {metric} ({quality(chosen)} against {quality(fastest)})."
        )
    return (
        f"{name} is both the most accurate and the fastest eligible candidate: nothing is traded off between the two."
    )


def overview(run: Run, table: TableView, card: Card) -> str:
    """One paragraph a stakeholder reads in 30 seconds: what was compared, what is recommended and
    why in plain words, the main trade-off, and how firm the pick is."""
    families = Counter(row.family for row in table.rows)
    measured = sum(row.status == "measured" for row in table.rows)
    dataset = run.dataset
    rows = dataset.get("rows")
    compared = (
        f"{len(table.rows)} candidate models ({', '.join(f'{n} {family}' for family, n in families.items())}) "
        f"were trained to predict '{dataset.get('target')}' in {dataset.get('name')} "
        f"({format_quantity(rows, 'count') if rows is not None else '?'} rows, {run.task}); {measured} were "
        f"measured end to end for the {run.profile.name} target."
    )
    if not card.key:
        return f"{compared} None is recommended: {card.reason}"
    row = table.row(card.key)
    metric = QUALITY_LABELS.get(run.primary_metric, run.primary_metric)
    figures = [f"{metric} {table.cell(card.key, 'primary')}"]
    if table.value(card.key, INTERVAL) is not None:
        figures[0] += f" (95% interval {table.cell(card.key, INTERVAL)})"
    for key, words in (("p99_ms", "p99 latency {} for one row"), ("size_bytes", "{} on disk")):
        if table.value(card.key, key) is not None:
            figures.append(words.format(table.cell(card.key, key)))
    if table.value(card.key, "usd_per_month") is not None:
        figures.append(f"about {table.cell(card.key, 'usd_per_month')} to run")
    rec = run.recommendation or run.rank()
    weights = ", ".join(f"{name} {weight:g}" for name, weight in rec.weights.items() if weight)
    why = {
        "most accurate": "it is the most accurate of the eligible candidates",
        "tied": "its quality is tied with the best, and it does better on the other priorities",
        "significant difference": "it does best on the priorities set",
        "no quality weight": "quality was given no weight, and it does best on the other priorities",
    }.get(card.decided_by, "it does best on the priorities set")
    recommended = f"Recommended: {row.name}, because {why} ({weights}): {', '.join(figures)}."
    firm = " ".join(card.stability[:1] + card.stability[-1:] if len(card.stability) > 1 else card.stability)
    firmness = f"How firm: {firm}" if firm else "How firm: not checked for this run."
    return " ".join(part for part in (compared, recommended, _trade_off(run, table, card.key), firmness) if part)


def run_view(run: Run, card: Card | None = None, with_stability: bool = True) -> RunView:
    """Everything a person reads about `run`, gathered once. Pass `card` when it is already at hand
    (its stability sweep re-ranks a few hundred times)."""
    rec = run.recommendation or run.rank()
    dataset, split, hw = run.dataset, run.split, run.hardware
    rows = dataset.get("rows")
    table = leaderboard_view(run)
    card = card if card is not None else recommendation_card(run, with_stability=with_stability)
    return RunView(
        run_id=run.run_id,
        status=run.status,
        dataset=str(dataset.get("name")),
        target=str(dataset.get("target")),
        task=run.task,
        primary_metric=run.primary_metric,
        summary=(
            f"{dataset.get('name')}, target '{dataset.get('target')}', {run.task}, "
            f"{format_quantity(rows, 'count') if rows is not None else '?'} rows (train {split.get('train')}, "
            f"validation {split.get('validation')}, test {split.get('test')})"
        ),
        hardware=f"{hw.get('cpu_model')}, {hw.get('usable_cpus')} usable CPUs; {hw.get('gpu') or hw.get('gpu_note')}",
        profile=f"{run.profile.name} ({run.profile.key})",
        weights=", ".join(f"{name} {weight:g}" for name, weight in rec.weights.items()),
        limits=", ".join(f"{name} {value:g}" for name, value in rec.limits.items()) or "none",
        card=card,
        table=table,
        shortlist=shortlist(run, table),
        curve=curve_view(run),
        methods=methods_view(run),
        device=run.device,
        device_note=(
            f"Latency, throughput, energy and cost: as measured on {run.device} (imported); candidates not "
            "measured there are not ranked."
            if run.device
            else ""
        ),
        data_notes=tuple(str(w) for w in dataset.get("warnings", [])),
        helpers=helpers_message(run.settings["helpers"]) if run.settings.get("helpers") else "",
        failures=tuple(
            f"{c.key}: {c.status}: {c.error or '; '.join(c.notes)}"
            for c in run.candidates
            if c.status in ("failed", "skipped")
        ),
        overview=overview(run, table, card),
    )
