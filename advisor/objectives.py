"""The one vocabulary: every leaderboard column and the six objectives a team ranks on.

`COLUMNS` says, for each leaderboard column, its label for people, the unit its figures are stored
in (which is also how `advisor.present.numbers.format_quantity` shows them), which way is better,
what it means and whether it spans orders of magnitude. `OBJECTIVES` names the six things a team
weighs (accuracy, latency, throughput, size, energy, cost): the column each reads and its hard
limit. Everything else is derived from these two tables: the leaderboard's columns
(`advisor.results.LEADERBOARD_COLUMNS`), the chart axes (`advisor.present.charts.AXES`), the quality
labels and directions (`advisor.present.explain.QUALITY_LABELS`,
`advisor.measure.figures.HIGHER_IS_BETTER`), the Pareto code's objectives and limits
(`advisor.rank.pareto`), the CLI's `--priorities` and `--limit` help and the app's sliders and
limit fields.

This module imports nothing from `advisor`, so any part of the engine may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Column:
    """A leaderboard column."""

    label: str  # for people: "p99 latency, one row"
    unit: str  # the unit its figures are stored in: "ms", "B", "USD/1M", "fraction", "" (text)
    direction: str  # "higher", "lower", "higher/lower" (the primary metric: its own) or "" (not a goal)
    meaning: str
    log_scale: bool = False  # spans orders of magnitude: charts and utilities use a log scale
    axis: bool = False  # offered as an axis of the Pareto chart
    quality_metric: bool = False  # a quality metric a run can rank on (its primary metric)


def _quality(label: str, unit: str, direction: str, meaning: str) -> Column:
    return Column(label, unit, direction, meaning, quality_metric=True)


def _figure(label: str, unit: str, meaning: str, direction: str = "lower", axis: bool = True) -> Column:
    return Column(label, unit, direction, meaning, log_scale=True, axis=axis)


def _text(label: str, meaning: str) -> Column:
    return Column(label, "", "", meaning)


# In the leaderboard's order.
COLUMNS: dict[str, Column] = {
    "key": _text("key", "catalog key of the candidate"),
    "name": _text("name", "display name"),
    "family": _text("family", "baseline, linear, tree, forest, boosting or neural"),
    "parent": _text("parent", "the candidate this one was derived from (compressed variants)"),
    "compression": _text("compression", "what was done to the parent model, if anything"),
    "status": _text("status", "measured, trained (not timed), failed or skipped"),
    "primary": Column(
        "quality (primary metric)",
        "",
        "higher/lower",
        "the primary quality metric on the test split (its name is in primary_metric)",
        axis=True,
    ),
    "primary_ci95_low": Column(
        "primary metric, 95% interval low", "", "", "95% bootstrap interval of the primary metric, low end"
    ),
    "primary_ci95_high": Column(
        "primary metric, 95% interval high", "", "", "95% bootstrap interval of the primary metric, high end"
    ),
    "accuracy": _quality("accuracy", "fraction", "higher", "share of test rows classified right"),
    "balanced_accuracy": _quality("balanced accuracy", "fraction", "higher", "mean recall over classes"),
    "f1_macro": _quality("macro F1", "fraction", "higher", "F1 averaged over classes"),
    "roc_auc": _quality("ROC AUC", "fraction", "higher", "area under the ROC curve (binary only)"),
    "log_loss": _quality("log loss", "nats", "lower", "cross-entropy of the predicted probabilities"),
    "r2": _quality("R2", "fraction", "higher", "coefficient of determination"),
    "rmse": _quality("RMSE", "target unit", "lower", "root mean squared error"),
    "mae": _quality("MAE", "target unit", "lower", "mean absolute error"),
    "error_cost": _quality(
        "cost of errors",
        "false alarms",
        "lower",
        "binary with a miss cost N: (N x missed positives + false alarms) per row",
    ),
    "p50_ms": _figure("p50 latency, one row", "ms", "median latency, one row end to end, 1 thread"),
    "p95_ms": _figure("p95 latency, one row", "ms", "95th percentile latency, one row, 1 thread", axis=False),
    "p99_ms": _figure("p99 latency, one row", "ms", "99th percentile latency, one row, 1 thread"),
    "rows_per_s": _figure(
        "throughput, best batch", "rows/s", "throughput at the best batch size, 1 thread", direction="higher"
    ),
    "best_batch": Column("best batch size", "rows", "", "the batch size with the highest throughput"),
    "size_bytes": _figure("size on disk", "B", "saved artifact on disk, preprocessing included"),
    "gzip_bytes": _figure("size gzipped", "B", "the artifact through gzip -9"),
    "params": _figure("parameters", "count", "model weights, or tree nodes", axis=False),
    "weight_bytes": _figure(
        "network weights as stored", "B", "a network's weights as stored (packed bits, int8, fp16, compressed)"
    ),
    "nonzero_weights": _figure(
        "non-zero weights", "count", "a network's weight entries that are not zero (pruning)", axis=False
    ),
    "teacher_agreement": Column(
        "agreement with the teacher",
        "fraction",
        "higher",
        "a distilled student's agreement with its teacher on the test rows",
    ),
    "peak_predict_bytes": _figure(
        "peak memory predicting a batch", "B", "extra memory at peak while predicting a batch"
    ),
    "load_ms": _figure("load + first row", "ms", "load the artifact and answer one row (libraries already imported)"),
    "cold_start_ms": _figure("cold start, fresh process", "ms", "fresh process: interpreter, imports, load, first row"),
    "joules_per_1k": _figure("energy per 1,000 predictions", "J/1k", "energy per 1,000 predictions (see its method)"),
    "usd_per_million": _figure(
        "cost per 1,000,000 predictions", "USD/1M", "cost per 1,000,000 predictions (see its method)"
    ),
    "usd_per_month": _figure(
        "cost a month at the target's volume",
        "USD/month",
        "cost a month at the target's expected volume (predictions_per_month)",
    ),
    "train_s": _figure("training time", "s", "training time (not an inference metric; shown for context)"),
    "trained_on": _text("trained on", "the machine (or Dask worker) that trained it"),
    "timed_on": _text("timed on", "the machine (or Dask worker) its latency and throughput were measured on"),
    "skilled": _text("skilled", "beats the no-skill baseline beyond the 95% interval"),
    "pareto": _text("on the Pareto front", "on the Pareto front of the weighted metrics"),
    "recommended": _text("recommended", "the recommendation for the current priorities"),
    "score": Column("weighted score", "0-1", "higher", "weighted normalised utility used to rank the front"),
}


@dataclass(frozen=True)
class Limit:
    """A hard limit a user sets (`p99_ms=10`): a candidate past it is never recommended."""

    name: str  # as typed: p99_ms, size_mb, ...
    kind: str  # "max" (at most) or "min" (at least; on an error metric, min_accuracy means at most)
    unit: str  # the unit the user types it in, which sentences about it use: "ms", "MB", "" (the metric's)
    scale: float  # from the user's unit to the column's: size_mb 1 -> 1e6 bytes
    label: str  # the app's field
    step: float  # the app's step
    column: str = ""  # the leaderboard column it bounds ("primary": the run's primary metric)
    aliases: tuple[str, ...] = ()  # other names it is known by (its objective's name first)


@dataclass(frozen=True)
class Objective:
    """One of the six things a team weighs, 0 (ignore) to 5."""

    name: str  # accuracy, latency, throughput, size, energy, cost
    label: str  # the app's slider
    column: str  # the leaderboard column it reads ("primary": the run's primary metric)
    unit: str  # its column's unit
    higher_is_better: bool | None  # None: the primary metric's own direction
    log_scale: bool  # utilities count decades behind the best rather than a linear share
    limit: Limit
    estimated: bool = False  # energy and cost are estimates from measured CPU time (see their method)


def _objective(name: str, label: str, column: str, limit: Limit, estimated: bool = False) -> Objective:
    info = COLUMNS[column]
    higher = {"higher": True, "lower": False}.get(info.direction)
    bound = replace(limit, column=column, aliases=(name, *limit.aliases))
    return Objective(name, label, column, info.unit, higher, info.log_scale, bound, estimated)


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        _objective(
            "accuracy",
            "Accuracy (the primary quality metric)",
            "primary",
            Limit("min_accuracy", "min", "", 1.0, "Min quality (primary metric)", 0.01),
        ),
        _objective(
            "latency",
            "Latency (p99, one row)",
            "p99_ms",
            Limit("p99_ms", "max", "ms", 1.0, "Max p99 latency (ms)", 1.0, aliases=("latency_ms",)),
        ),
        _objective(
            "throughput",
            "Throughput (rows/s)",
            "rows_per_s",
            Limit("min_throughput_rps", "min", "rows/s", 1.0, "Min throughput (rows/s)", 100.0),
        ),
        _objective(
            "size",
            "Model size",
            "size_bytes",
            Limit("size_mb", "max", "MB", 1e6, "Max size (MB)", 0.1),
        ),
        _objective(
            "energy",
            "Energy per prediction",
            "joules_per_1k",
            Limit("joules_per_1k", "max", "J/1k", 1.0, "Max energy (J per 1,000 predictions)", 0.1),
            estimated=True,
        ),
        _objective(
            "cost",
            "Cost per prediction",
            "usd_per_million",
            Limit("usd_per_million", "max", "USD/1M", 1.0, "Max cost (USD per 1M predictions)", 0.01),
            estimated=True,
        ),
    )
}
# A limit on a figure that is not ranked on: memory while predicting a batch.
MEMORY_LIMIT = Limit(
    "memory_mb", "max", "MB", 1e6, "Max memory predicting a batch (MB)", 1.0, column="peak_predict_bytes"
)
LIMITS: dict[str, Limit] = {**{o.limit.name: o.limit for o in OBJECTIVES.values()}, MEMORY_LIMIT.name: MEMORY_LIMIT}
LIMIT_ALIASES: dict[str, str] = {alias: limit.name for limit in LIMITS.values() for alias in limit.aliases}
# Quality metrics: their labels for sentences, and which way is better.
QUALITY_LABELS: dict[str, str] = {name: c.label for name, c in COLUMNS.items() if c.quality_metric}
HIGHER_IS_BETTER: dict[str, bool] = {name: c.direction == "higher" for name, c in COLUMNS.items() if c.quality_metric}
