"""Pareto front and recommendation: pure functions over plain numbers.

Every objective is first turned into a loss (lower is better; maximised metrics are negated),
then a boolean mask says who is on the front. Ranking turns each weighted metric into a
utility in [0, 1] and ranks the candidates by the weighted mean utility:

- quality (`quality_utilities`): the share of the way from the no-skill baseline to the best
  candidate, counted in reciprocal error (predictions per mistake), so that 3.65% -> 6.7% errors
  (1.8x the mistakes) is a large loss; candidates statistically tied with the most accurate one
  (paired bootstrap on the test rows) count as equal to it;
- latency, throughput, size, energy and cost: decades behind the best, since they span orders of
  magnitude, after a difference users cannot feel has been made none (`Significance`: below a
  target's noticeable level, figures count as equal).

Which objectives there are, the column each reads, its direction and its limits come from the one
vocabulary, `advisor.objectives`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from advisor.errors import ConfigError, did_you_mean
from advisor.objectives import LIMIT_ALIASES, LIMITS, OBJECTIVES, Limit, Objective
from advisor.present.explain import (
    explain_pick,
    is_missing,
    join_names,
    level_note,
    quality_label,
    significant_note,
    tie_break_note,
)
from advisor.present.numbers import column_unit, format_column, format_quantity
from advisor.rank.significance import PairedTies, Significance, paired_ties, quality_error, quality_utilities


def objectives(primary_metric: str, primary_higher_is_better: bool) -> dict[str, Objective]:
    """The six objectives (`advisor.objectives.OBJECTIVES`), accuracy read from this run's
    primary metric in its direction."""
    return {
        name: replace(o, column=primary_metric, higher_is_better=primary_higher_is_better)
        if o.higher_is_better is None
        else o
        for name, o in OBJECTIVES.items()
    }


MIN_DECADES = 3.0


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
        if name not in OBJECTIVES:
            raise ConfigError(f"Priority '{name}' is not a metric; {did_you_mean(name, OBJECTIVES)}.")
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
    most_accurate: str | None = None
    # Front candidates whose paired 95% interval of the quality difference with the pick holds 0.
    ties: tuple[str, ...] = ()
    # What decided: "most accurate", "tied", "limit", "significant difference", "no quality weight".
    decided_by: str = ""
    # Sentences for the card: ties, what decided, which noticeable-difference level mattered.
    notes: tuple[str, ...] = ()


def _bounded(limit: Limit, primary_metric: str, higher: bool) -> tuple[str, str]:
    """The column a limit reads in this run, and whether it is a "max" or a "min" there."""
    if limit.column == "primary":
        return primary_metric, limit.kind if higher else "max"  # 'min_accuracy' on an error metric: at most
    return limit.column, limit.kind


def _in_limit_unit(value: float, limit: Limit, column: str) -> str:
    """A figure in the unit its limit is typed in, so that it reads beside the setting: 0.05 ms, 0.15 MB."""
    if limit.column == "primary":
        return format_column(value, column)
    return format_quantity(value, column_unit(column), display=limit.unit)


def _limit_reasons(row: Mapping[str, Any], limits: Mapping[str, float], primary_metric: str, higher: bool) -> list[str]:
    reasons = []
    for name, bound in limits.items():
        limit = LIMITS[name]
        column, kind = _bounded(limit, primary_metric, higher)
        value = row.get(column)
        if is_missing(value):
            reasons.append(f"{name}: not measured")
        elif kind == "max" and value > bound * limit.scale:
            reasons.append(f"{name} <= {bound:g}: has {_in_limit_unit(value, limit, column)}")
        elif kind == "min" and value < bound * limit.scale:
            reasons.append(f"{name} >= {bound:g}: has {_in_limit_unit(value, limit, column)}")
    return reasons


def _round_for_limit(value: float, up: bool) -> str:
    """A limit a person would type that lets `value` through: 0.953 -> 0.95 (down), 2.13 -> 2.2 (up)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = 1 - math.floor(math.log10(abs(value)))
    scale = 10.0**digits
    rounded = (math.ceil if up else math.floor)(value * scale - (1e-9 if up else -1e-9)) / scale
    return f"{rounded:.{max(digits, 0)}f}".rstrip("0").rstrip(".") if digits > 0 else f"{rounded:.0f}"


def _no_recommendation(
    candidates: Sequence[Mapping[str, Any]],
    limits: Mapping[str, float],
    primary_metric: str,
    higher: bool,
) -> str:
    """One short, actionable sentence per limit that stands in the way: the best value a
    candidate reaches under the other limits, and the setting that would let it through."""
    if not candidates:
        return "No candidate was measured and beats the no-skill baseline, so there is nothing to recommend."
    parts = []
    for name, bound in limits.items():
        others = {k: v for k, v in limits.items() if k != name}
        pool = [r for r in candidates if not _limit_reasons(r, others, primary_metric, higher)] or list(candidates)
        limit = LIMITS[name]
        column, kind = _bounded(limit, primary_metric, higher)
        known = [r for r in pool if not is_missing(r.get(column))]
        if not known:
            continue
        best = (min if kind == "max" else max)(known, key=lambda r: r[column])
        value = best[column] / limit.scale
        if (kind == "max" and value <= bound) or (kind == "min" and value >= bound):
            continue
        unit_value = _round_for_limit(value, kind == "max")
        verb = "raise" if kind == "max" else "lower"
        what = quality_label(primary_metric) if column == primary_metric else name
        extreme = "best" if column == primary_metric else ("lowest" if kind == "max" else "highest")
        under = " under the other limits" if others and pool is not candidates else ""
        parts.append(
            f"the {extreme} {what}{under} is {_in_limit_unit(best[column], limit, column)} ({best['name']}); "
            f"{verb} {'the minimum' if column == primary_metric else name} to {unit_value}"
        )
    if not parts:
        return "No candidate meets all the limits at once; relax one of " + ", ".join(limits) + "."
    return "No candidate meets the limits: " + "; ".join(parts) + "."


def recommend(
    rows: Sequence[Mapping[str, Any]],
    weights: Mapping[str, float],
    limits: Mapping[str, float],
    primary_metric: str,
    primary_higher_is_better: bool,
    no_skill_value: float | None = None,
    significance: Significance | None = None,
    replicates: Mapping[str, Sequence[float]] | None = None,
    ineligible: Mapping[str, str] | None = None,
    ties: PairedTies | None = None,
    explain: bool = True,
) -> Recommendation:
    """Pick one candidate for these weights and limits.

    `rows` are leaderboard records with at least: key, name, family, skilled (beats the
    no-skill baseline beyond its 95% interval), the primary metric and the objective columns.
    `replicates` (or precomputed `ties`): each candidate's bootstrap replicates of the primary
    metric on shared resamples of the test rows. `ineligible`: key -> why it may not be picked
    (a helper the user left out). Order:
    1. eligible: measured, within the hard limits, skilled, chosen by the user, and not broken
       (statistically below the no-skill baseline plus `broken_gain_fraction` of the best's gain);
    2. score: the weighted mean utility, with differences under the target's noticeable levels
       made none and quality statistically tied with the most accurate counted as equal to it;
    3. among equal scores: candidates equal in quality to another (statistically tied and within
       `quality_equal_error_ratio` of its errors) and no better on any weighted figure are set
       aside, then the higher measured quality, then the lower p99.
    The front shown is every eligible candidate that no other beats that way (equal-or-better
    quality, at least as good on every weighted figure, better on one).
    """
    significance = significance or Significance()
    higher = primary_higher_is_better
    objs = objectives(primary_metric, higher)
    active = [m for m in OBJECTIVES if weights.get(m, 0) > 0] or list(OBJECTIVES)
    used_weights = {m: float(weights.get(m, 0)) for m in active} if any(weights.values()) else {m: 1.0 for m in active}
    ineligible = dict(ineligible or {})

    excluded: dict[str, list[str]] = {}
    for row in rows:
        reasons = excluded.setdefault(row["key"], [])
        if row.get("status") != "measured":
            reasons.append(f"not measured ({row.get('status')})")
            continue
        reasons.extend(_limit_reasons(row, limits, primary_metric, higher))
        if row.get("family") == "baseline":
            reasons.append("the no-skill reference is never recommended")
        elif not row.get("skilled", False):
            reasons.append(
                f"no skill: its {primary_metric} does not beat the no-skill baseline beyond the 95% interval"
            )
        if row["key"] in ineligible:
            reasons.append(f"not eligible: {ineligible[row['key']]}")
    # Broken: recovers under a stated share of the best candidate's gain over the baseline, even at
    # the top of its 95% interval (a 90%-pruned net at R2 0.01 where the best reaches 0.83).
    candidates = [
        r for r in rows if r.get("status") == "measured" and r.get("family") != "baseline" and r.get("skilled")
    ]
    if no_skill_value is not None and np.isfinite(no_skill_value) and candidates:
        primary_values = [r.get(primary_metric) for r in candidates if not is_missing(r.get(primary_metric))]
        if primary_values:
            best_value = max(primary_values) if higher else min(primary_values)
            needed = no_skill_value + significance.broken_gain_fraction * (best_value - no_skill_value)
            for row in candidates:
                best_end = row.get("primary_ci95_high" if higher else "primary_ci95_low")
                if is_missing(best_end):
                    best_end = row.get(primary_metric)
                if not is_missing(best_end) and ((best_end < needed) if higher else (best_end > needed)):
                    excluded[row["key"]].append(
                        f"broken: its {primary_metric} ({format_column(row.get(primary_metric), primary_metric)}, "
                        f"95% interval {'up' if higher else 'down'} to {format_column(best_end, primary_metric)}) "
                        f"falls short of the no-skill baseline plus {significance.broken_gain_fraction:.0%} of the "
                        f"best candidate's gain over it ({format_column(needed, primary_metric)})"
                    )
    feasible = [row for row in rows if not excluded[row["key"]]]
    excluded_out = {k: tuple(v) for k, v in excluded.items() if v}
    limits_out = dict(limits)

    if not feasible:
        pool = [
            r
            for r in candidates
            if r["key"] not in ineligible and not any(x.startswith("broken") for x in excluded[r["key"]])
        ]
        reason = _no_recommendation(pool, limits, primary_metric, higher)
        return Recommendation(None, reason, (), (), excluded_out, {}, {}, used_weights, limits_out)

    if ties is None:
        ties = paired_ties(
            {
                r["key"]: (replicates or {}).get(r["key"])
                for r in feasible
                if (replicates or {}).get(r["key"]) is not None
            },
            significance.tie_confidence,
        )
    keys = [r["key"] for r in feasible]
    primary = np.array([r.get(primary_metric, np.nan) for r in feasible], dtype=float)
    primary_loss = np.where(np.isnan(primary), np.inf, -primary if higher else primary)
    top = int(np.argmin(primary_loss))
    most_accurate = feasible[top]
    tied_with_top = np.array(
        [ties.tied(k, most_accurate["key"]) or primary[i] == primary[top] for i, k in enumerate(keys)]
    )

    figures = [m for m in active if m != "accuracy"]
    raw = np.array([[r.get(objs[m].column, np.nan) for m in figures] for r in feasible], dtype=float).reshape(
        len(feasible), len(figures)
    )
    raw_losses = to_losses(raw, [objs[m].higher_is_better for m in figures])

    def practical(values: np.ndarray) -> np.ndarray:
        out = values.copy()
        for j, m in enumerate(figures):
            level = significance.levels.get(m)
            if level is None:
                continue
            column = out[:, j]
            known = np.isfinite(column)
            out[:, j] = np.where(
                known, np.minimum(column, level) if objs[m].higher_is_better else np.maximum(column, level), column
            )
        return out

    def scores_for(values: np.ndarray, tie_aware: bool) -> np.ndarray:
        u = np.zeros((len(feasible), len(active)))
        for j, m in enumerate(active):
            if m == "accuracy":
                u[:, j] = quality_utilities(
                    primary, primary_metric, higher, no_skill_value, tied_with_top if tie_aware else None
                )
            else:
                f = figures.index(m)
                u[:, j] = utilities(values[:, [f]], [objs[m].higher_is_better], [objs[m].log_scale])[:, 0]
        w = np.array([used_weights[m] for m in active])
        return (u * w).sum(axis=1) / w.sum()

    # beats[a, b]: a is as good as b on quality (equal or better) and on every weighted figure,
    # and better on one of them (measured values, no levels).
    n = len(feasible)
    tie = np.eye(n, dtype=bool)
    if ties.keys:
        where = [ties.keys.index(k) if k in ties.keys else -1 for k in keys]
        for i in range(n):
            for j in range(n):
                if where[i] >= 0 and where[j] >= 0:
                    tie[i, j] = ties.low[where[i], where[j]] <= 0.0 <= ties.high[where[i], where[j]]
    uses_quality = "accuracy" in active
    # Equal in quality: statistically tied and within a small ratio of errors (the bf16 twin of an
    # fp32 net); a tie alone is not enough to set a candidate aside for differences nobody feels.
    errors = np.abs(quality_error(primary, primary_metric, higher))
    with np.errstate(divide="ignore", invalid="ignore"):
        error_ratio = np.maximum(errors[:, None], errors[None, :]) / np.minimum(errors[:, None], errors[None, :])
    equal = tie & ((error_ratio <= significance.quality_equal_error_ratio) | (errors[:, None] == errors[None, :]))
    quality_ok = (primary_loss[:, None] <= primary_loss[None, :]) | equal if uses_quality else np.ones((n, n), bool)
    figures_ok = (raw_losses[:, None, :] <= raw_losses[None, :, :]).all(axis=2)
    strictly = (raw_losses[:, None, :] < raw_losses[None, :, :]).any(axis=2)
    if uses_quality:
        strictly |= primary_loss[:, None] < primary_loss[None, :]
    beats_matrix = quality_ok & figures_ok & strictly
    np.fill_diagonal(beats_matrix, False)

    def beats(a: int, b: int) -> bool:
        return bool(beats_matrix[a, b])

    def choose(score: np.ndarray) -> int:
        group = [i for i in range(len(feasible)) if score[i] >= score.max() - 1e-9]
        kept = [i for i in group if not beats_matrix[group, i].any()] or group
        p99 = [raw[i, figures.index("latency")] if "latency" in figures else 0.0 for i in kept]
        return kept[min(range(len(kept)), key=lambda n: (primary_loss[kept[n]], np.nan_to_num(p99[n], nan=np.inf)))]

    practical_values = practical(raw)
    score = scores_for(practical_values, tie_aware=True)
    pick = choose(score)
    if primary_loss[pick] == primary_loss[top]:  # as accurate as the most accurate: it is one of them
        top = pick
        most_accurate = feasible[top]
    front = [i for i in range(n) if i == pick or not beats_matrix[:, i].any()]
    best = feasible[pick]
    scores = {k: float(s) for k, s in zip(keys, score, strict=True)}
    pareto_keys = tuple(keys[i] for i in front)
    # Ties worth naming: the front, and the most accurate even when it is off the front.
    tied_keys = tuple(keys[i] for i in sorted(set(front) | {top}) if i != pick and ties.tied(keys[i], best["key"]))
    if not explain:
        return Recommendation(
            best["key"],
            "",
            pareto_keys,
            tuple(keys),
            excluded_out,
            scores,
            {},
            used_weights,
            limits_out,
            most_accurate["key"],
            tied_keys,
        )

    # What decided, in sentences for the card.
    notes: list[str] = []
    label = quality_label(primary_metric)
    if "accuracy" not in active:
        decided_by = "no quality weight"
        notes.append(f"Quality has no weight in these priorities, so {label} did not count in the pick.")
    elif pick == top:
        decided_by = "most accurate"
    elif tied_with_top[pick]:
        decided_by = "tied"
    else:
        decided_by = "significant difference"
    more_accurate_limited = [
        r
        for r in rows
        if r["key"] in excluded_out
        and r.get("status") == "measured"
        and r.get("skilled")
        and r.get("family") != "baseline"
        and not is_missing(r.get(primary_metric))
        and not is_missing(best.get(primary_metric))
        and ((r[primary_metric] > best[primary_metric]) if higher else (r[primary_metric] < best[primary_metric]))
        and any(x.split(":")[0].split(" ")[0] in limits for x in excluded_out[r["key"]])
    ]
    if more_accurate_limited and decided_by in ("most accurate", "tied", "significant difference"):
        shown = more_accurate_limited[:3]
        notes.append(
            "More accurate candidates are excluded by your limits: "
            + "; ".join(
                f"{r['name']} ({format_column(r[primary_metric], primary_metric)}, {excluded_out[r['key']][0]})"
                for r in shown
            )
            + "."
        )
        if decided_by == "most accurate":
            decided_by = "limit"
    if tied_keys:
        names = [feasible[keys.index(k)]["name"] for k in tied_keys]
        notes.append(
            f"Statistically tied on {label} with {join_names(names)}: the {ties.confidence:.0%} paired bootstrap "
            "interval of the difference on the same test rows includes 0."
        )
    shared_best = any(i != pick and primary_loss[i] == primary_loss[pick] for i in range(n))
    if decided_by == "tied" or (decided_by == "most accurate" and (tied_keys or shared_best)):
        notes.append(
            tie_break_note(
                pick, top, feasible, figures, raw, practical_values, significance, objs, label, beats, primary_loss
            )
        )
    elif decided_by == "significant difference":
        notes.append(significant_note(pick, top, feasible, figures, practical_values, significance, objs, label))
    # Did a noticeable-difference level change the pick? Rank again without them.
    if significance.levels:
        unfloored = choose(scores_for(raw, tie_aware=True))
        if unfloored != pick:
            notes.append(level_note(unfloored, pick, feasible, figures, raw, significance, objs))
    reason, gives_up = explain_pick(
        best,
        most_accurate,
        feasible,
        scores,
        used_weights,
        limits,
        primary_metric,
        higher,
        len(rows),
        significance,
        ties,
    )
    return Recommendation(
        best["key"],
        reason,
        pareto_keys,
        tuple(keys),
        excluded_out,
        scores,
        gives_up,
        used_weights,
        limits_out,
        most_accurate["key"],
        tied_keys,
        decided_by,
        tuple(n for n in notes if n),
    )
