"""Pareto front and recommendation: pure functions over plain numbers.

Every objective is first turned into a loss (lower is better; maximised metrics are negated),
then a boolean mask says who is on the front. Ranking turns each weighted metric into a
utility in [0, 1] (see `utilities`: quality relative to the no-skill baseline and the best
candidate; latency, throughput, size, energy and cost in decades behind the best, since they
span orders of magnitude) and ranks the front by the weighted mean utility.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor._catalog import METRICS
from advisor._errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Objective:
    metric: str  # a priority name: accuracy, latency, ...
    column: str  # the leaderboard column it reads
    higher_is_better: bool
    log_scale: bool
    unit: str


def objectives(primary_metric: str, primary_higher_is_better: bool) -> dict[str, Objective]:
    """The six priorities and how each is read from a candidate's figures."""
    return {
        "accuracy": Objective("accuracy", primary_metric, primary_higher_is_better, False, ""),
        "latency": Objective("latency", "p99_ms", False, True, "ms"),
        "throughput": Objective("throughput", "rows_per_s", True, True, "rows/s"),
        "size": Objective("size", "size_bytes", False, True, "bytes"),
        "energy": Objective("energy", "joules_per_1k", False, True, "J/1k"),
        "cost": Objective("cost", "usd_per_million", False, True, "USD/1M"),
    }


MIN_DECADES = 3.0

# Limits: name -> (leaderboard column, "max" or "min", scale from the user's unit to the column's).
LIMITS: dict[str, tuple[str | None, str, float]] = {
    "p99_ms": ("p99_ms", "max", 1.0),
    "size_mb": ("size_bytes", "max", 1e6),
    "memory_mb": ("peak_predict_bytes", "max", 1e6),
    "usd_per_million": ("usd_per_million", "max", 1.0),
    "joules_per_1k": ("joules_per_1k", "max", 1.0),
    "min_throughput_rps": ("rows_per_s", "min", 1.0),
    "min_accuracy": (None, "min", 1.0),  # the primary metric
}
LIMIT_ALIASES = {"accuracy": "min_accuracy", "latency_ms": "p99_ms", "cost": "usd_per_million", "size": "size_mb"}


def to_losses(values: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """(n, m) values -> losses; missing values become +inf (worst)."""
    losses = np.array(values, dtype=float, copy=True)
    for j, higher in enumerate(higher_is_better):
        if higher:
            losses[:, j] = -losses[:, j]
    losses[np.isnan(losses)] = np.inf
    return losses


def pareto_mask(losses: np.ndarray) -> np.ndarray:
    """True for rows no other row dominates (<= on every loss and < on at least one).

    Identical rows do not dominate each other, so ties are all kept.
    """
    losses = np.asarray(losses, dtype=float)
    n = losses.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    if losses.ndim == 1:
        losses = losses[:, None]
    not_worse = (losses[:, None, :] <= losses[None, :, :]).all(axis=2)  # [i, j]: i <= j everywhere
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    dominates = not_worse & better  # [i, j]: i dominates j
    return ~dominates.any(axis=0)


def utilities(
    values: np.ndarray,
    higher_is_better: Sequence[bool],
    log_scale: Sequence[bool],
    references: Sequence[float | None] | None = None,
    min_decades: float = MIN_DECADES,
) -> np.ndarray:
    """Utility in [0, 1] per column (1 = the best of the rows given; missing = 0).

    Linear columns: the share of the way from a reference (the no-skill baseline's value,
    when given) or else the worst row, to the best row. Log columns: 1 minus the number of
    decades behind the best row, over the decades the rows span but never fewer than
    `min_decades` (3: each 10x behind the best costs a third of that metric's utility), so
    that a 1.3x difference between fast candidates does not weigh like a 100x one.
    """
    values = np.asarray(values, dtype=float)
    u = np.zeros_like(values)
    references = references or [None] * values.shape[1]
    for j, (higher, use_log, reference) in enumerate(zip(higher_is_better, log_scale, references, strict=True)):
        column = values[:, j]
        known = np.isfinite(column) & (column > 0 if use_log else True)
        if not known.any():
            continue
        best = column[known].max() if higher else column[known].min()
        worst = column[known].min() if higher else column[known].max()
        if use_log:
            behind = np.abs(np.log10(np.where(known, column, best)) - np.log10(best))
            span = max(abs(np.log10(worst) - np.log10(best)), min_decades)
            u[:, j] = np.where(known, np.clip(1.0 - behind / span, 0.0, 1.0), 0.0)
        else:
            floor = worst if reference is None or not np.isfinite(reference) else reference
            span = best - floor
            if span == 0:
                u[:, j] = np.where(known, 1.0, 0.0)
            else:
                u[:, j] = np.where(known, np.clip((column - floor) / span, 0.0, 1.0), 0.0)
    return u


def parse_priorities(text: str | Mapping[str, float] | None) -> dict[str, float] | None:
    """'accuracy=5,latency=3' (or a mapping) -> weights 0-5; unknown names are errors."""
    if text is None or text == "":
        return None
    items = (
        text.items()
        if isinstance(text, Mapping)
        else (part.split("=", 1) if "=" in part else (part, "") for part in str(text).split(",") if part.strip())
    )
    weights: dict[str, float] = {}
    for name, raw in items:
        name = str(name).strip()
        if name not in METRICS:
            raise ConfigError(f"Priority '{name}' is not a metric; {did_you_mean(name, METRICS)}.")
        try:
            weight = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"Priority '{name}={raw}' needs a number from 0 to 5, e.g. {name}=3.") from None
        if not 0 <= weight <= 5:
            raise ConfigError(f"Priority '{name}={raw}' is outside 0-5; use a weight from 0 (ignore) to 5.")
        weights[name] = weight
    return weights


def parse_limits(items: Sequence[str] | Mapping[str, float] | None) -> dict[str, float]:
    """['p99_ms=10', 'size_mb=1'] (or a mapping) -> {limit name: value}."""
    if not items:
        return {}
    pairs = (
        items.items()
        if isinstance(items, Mapping)
        else (str(item).split("=", 1) if "=" in str(item) else (str(item), "") for item in items)
    )
    limits: dict[str, float] = {}
    for name, raw in pairs:
        name = LIMIT_ALIASES.get(str(name).strip(), str(name).strip())
        if name not in LIMITS:
            raise ConfigError(f"Limit '{name}' is not known; {did_you_mean(name, LIMITS)}.")
        try:
            limits[name] = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"Limit '{name}={raw}' needs a number, e.g. p99_ms=10.") from None
    return limits


@dataclass(frozen=True)
class Recommendation:
    key: str | None
    reason: str
    pareto: tuple[str, ...]
    feasible: tuple[str, ...]
    excluded: Mapping[str, tuple[str, ...]]
    scores: Mapping[str, float]
    gives_up: Mapping[str, str] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)


def _format(value: float, column: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if column == "size_bytes" or column == "peak_predict_bytes":
        return f"{value / 1e6:.3g} MB" if value >= 1e5 else f"{value / 1e3:.3g} kB"
    if column == "p99_ms":
        return f"{value:.3g} ms"
    if column == "rows_per_s":
        return f"{value:,.0f} rows/s"
    if column == "joules_per_1k":
        return f"{value:.3g} J/1k"
    if column == "usd_per_million":
        return f"${value:.3g}/1M"
    return f"{value:.4g}"


def recommend(
    rows: Sequence[Mapping[str, Any]],
    weights: Mapping[str, float],
    limits: Mapping[str, float],
    primary_metric: str,
    primary_higher_is_better: bool,
    no_skill_value: float | None = None,
    good_enough: Mapping[str, float] | None = None,
) -> Recommendation:
    """Pick one candidate for these weights and limits.

    `rows` are leaderboard records with at least: key, name, family, skilled (beats the
    no-skill baseline beyond its 95% interval), the primary metric and the objective columns.
    Order: measured candidates only; hard limits filter; no-skill ones never win; the Pareto
    front over the weighted metrics; the highest weighted utility among its members.
    """
    objs = objectives(primary_metric, primary_higher_is_better)
    active = [m for m in METRICS if weights.get(m, 0) > 0] or list(METRICS)
    used_weights = {m: float(weights.get(m, 0)) for m in active} if any(weights.values()) else {m: 1.0 for m in active}

    excluded: dict[str, list[str]] = {}
    for row in rows:
        reasons = excluded.setdefault(row["key"], [])
        if row.get("status") != "measured":
            reasons.append(f"not measured ({row.get('status')})")
            continue
        for name, bound in limits.items():
            column, kind, scale = LIMITS[name]
            column = column or primary_metric
            value = row.get(column)
            if kind == "min" and column == primary_metric and not primary_higher_is_better:
                kind = "max"  # 'min_accuracy' on an error metric means 'at most'
            if value is None or (isinstance(value, float) and math.isnan(value)):
                reasons.append(f"{name}: not measured")
            elif kind == "max" and value > bound * scale:
                reasons.append(f"{name} <= {bound:g}: has {_format(value, column)}")
            elif kind == "min" and value < bound * scale:
                reasons.append(f"{name} >= {bound:g}: has {_format(value, column)}")
        if row.get("family") == "baseline":
            reasons.append("the no-skill reference is never recommended")
        elif not row.get("skilled", False):
            reasons.append(
                f"no skill: its {primary_metric} does not beat the no-skill baseline beyond the 95% interval"
            )
    feasible = [row for row in rows if not excluded[row["key"]]]
    excluded_out = {k: tuple(v) for k, v in excluded.items() if v}
    limits_out = dict(limits)

    if not feasible:
        parts = []
        for name in limits:
            hit = [f"{k} ({r.split(': has ')[-1]})" for k, rs in excluded.items() for r in rs if r.startswith(name)]
            if hit:
                parts.append(
                    f"{name} <= {limits[name]:g} excluded " + ", ".join(hit)
                    if LIMITS[name][1] == "max"
                    else f"{name} >= {limits[name]:g} excluded " + ", ".join(hit)
                )
        no_skill = [k for k, rs in excluded.items() if any(r.startswith("no skill") for r in rs)]
        if no_skill:
            parts.append("no skill over the baseline: " + ", ".join(no_skill))
        reason = "No candidate meets the limits. " + ("; ".join(parts) + "." if parts else "")
        return Recommendation(None, reason.strip(), (), (), excluded_out, {}, {}, used_weights, limits_out)

    values = np.array([[row.get(objs[m].column, np.nan) for m in active] for row in feasible], dtype=float)
    losses = to_losses(values, [objs[m].higher_is_better for m in active])
    mask = pareto_mask(losses)
    references = [no_skill_value if m == "accuracy" else None for m in active]
    ranked_values = values.copy()
    for j, m in enumerate(active):  # below a target's "good enough" level, lower-is-better figures count as equal
        if good_enough and m in good_enough and not objs[m].higher_is_better:
            ranked_values[:, j] = np.maximum(ranked_values[:, j], good_enough[m])
    u = utilities(
        ranked_values, [objs[m].higher_is_better for m in active], [objs[m].log_scale for m in active], references
    )
    w = np.array([used_weights[m] for m in active])
    score = (u * w).sum(axis=1) / w.sum()
    scores = {row["key"]: float(s) for row, s in zip(feasible, score, strict=True)}
    primary = np.array([row.get(primary_metric, np.nan) for row in feasible], dtype=float)
    primary_loss = -primary if primary_higher_is_better else primary
    # Highest score on the front; ties go to the better primary metric.
    order = sorted(np.flatnonzero(mask), key=lambda i: (-score[i], primary_loss[i]))
    best = feasible[order[0]]
    pareto_keys = tuple(feasible[i]["key"] for i in np.flatnonzero(mask))

    reason, gives_up = _explain(
        best, feasible, scores, used_weights, limits, primary_metric, primary_higher_is_better, len(rows)
    )
    if good_enough and "latency" in good_enough and "latency" in active:
        reason += (
            f" Single-row p99 latencies under {good_enough['latency']:g} ms count as equally good here "
            "(a tenth of the deployment target's expected p99)."
        )
    return Recommendation(
        best["key"],
        reason,
        pareto_keys,
        tuple(r["key"] for r in feasible),
        excluded_out,
        scores,
        gives_up,
        used_weights,
        limits_out,
    )


def _explain(
    best: Mapping[str, Any],
    feasible: Sequence[Mapping[str, Any]],
    scores: Mapping[str, float],
    weights: Mapping[str, float],
    limits: Mapping[str, float],
    primary_metric: str,
    higher: bool,
    n_total: int,
) -> tuple[str, dict[str, str]]:
    weight_text = ", ".join(f"{m}={w:g}" for m, w in weights.items())
    limit_text = (" and limits " + ", ".join(f"{k}={v:g}" for k, v in limits.items())) if limits else ""
    reason = (
        f"{best['name']} is recommended for priorities {weight_text}{limit_text}: of the "
        f"{len(feasible)} of {n_total} candidates that meet the limits and beat the no-skill "
        f"baseline, it is on the Pareto front and has the highest weighted score "
        f"({scores[best['key']]:.2f} of 1). It has {primary_metric} "
        f"{_format(best.get(primary_metric), primary_metric)}, "
        f"p99 latency {_format(best.get('p99_ms'), 'p99_ms')} for one row, "
        f"{_format(best.get('rows_per_s'), 'rows_per_s')} at its best batch size, "
        f"and {_format(best.get('size_bytes'), 'size_bytes')} on disk."
    )
    pick = max if higher else min
    most_accurate = pick(feasible, key=lambda r: r.get(primary_metric, np.nan))
    fastest = min(feasible, key=lambda r: r.get("p99_ms", np.inf))
    if most_accurate["key"] == fastest["key"]:
        label = "the most accurate and the fastest"
        gives_up = {"most_accurate": _compare(best, most_accurate, label, primary_metric, higher)}
        gives_up["fastest"] = gives_up["most_accurate"]
    else:
        gives_up = {
            "most_accurate": _compare(best, most_accurate, "the most accurate", primary_metric, higher),
            "fastest": _compare(best, fastest, "the fastest", primary_metric, higher),
        }
    return reason, gives_up


def _compare(best: Mapping[str, Any], other: Mapping[str, Any], label: str, metric: str, higher: bool) -> str:
    if best["key"] == other["key"]:
        return f"It is itself {label} of the candidates that meet the limits."
    delta = best.get(metric, np.nan) - other.get(metric, np.nan)
    percent_points = metric in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "r2")
    delta_text = f"{delta * 100:+.2f} pp" if percent_points else f"{delta:+.4g}"

    def ratio(column: str, faster_word: str, slower_word: str) -> str:
        a, b = best.get(column), other.get(column)
        if not a or not b:
            return f"{column} n/a"
        if a <= b:
            return f"{b / a:.3g}x {faster_word}"
        return f"{a / b:.3g}x {slower_word}"

    return (
        f"Against {label}, {other['name']}: {metric} {delta_text}; p99 latency "
        f"{ratio('p99_ms', 'lower', 'higher')}; size {ratio('size_bytes', 'smaller', 'larger')}; "
        f"cost {ratio('usd_per_million', 'lower', 'higher')}."
    )
