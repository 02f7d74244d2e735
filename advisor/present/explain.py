"""The recommendation in sentences: what the pick gives up, and why.

Pure functions over the plain records and arrays `advisor.rank.pareto.recommend` works on; the
decision itself lives there, the words live here, and every figure is written by
`advisor.present.numbers`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from advisor.objectives import OBJECTIVES, QUALITY_LABELS
from advisor.present.numbers import column_unit, display_unit, format_column, format_quantities, format_quantity

if TYPE_CHECKING:
    from advisor.rank.pareto import PairedTies, Significance

# Shown in percentage points, with the ratio of errors.
PERCENT_POINT_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def quality_label(metric: str) -> str:
    return QUALITY_LABELS.get(metric, metric)


def join_names(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    if len(names) > 4:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return ", ".join(names[:-1]) + " and " + names[-1]


# Energy and cost are estimates from measured CPU time (see their `method`); the card says so.
ESTIMATED = tuple(name for name, o in OBJECTIVES.items() if o.estimated)


def figure_label(metric: str) -> str:
    return f"{metric} (estimated)" if metric in ESTIMATED else metric


def against(a: float, b: float, column: str) -> str:
    """'2 ms against 200 ms': two figures of one column, in the same unit."""
    shown_a, shown_b = format_quantities([a, b], column_unit(column))
    return f"{shown_a} against {shown_b}"


def figure_phrase(metric: str, column: str, a: float, b: float) -> str:
    return f"{figure_label(metric)} {against(a, b, column)}"


def tie_break_note(
    pick, top, feasible, figures, raw, practical_values, significance, objs, label, beats, primary_loss
) -> str:
    other = feasible[top]
    if pick == top:
        same = [i for i in range(len(feasible)) if i != pick and primary_loss[i] == primary_loss[pick]]
        if same:
            return (
                f"{len(same) + 1} candidates share the highest measured {label}; no weighted figure differs among "
                "them by more than users notice, so the lower single-row p99 decided (after setting aside any that "
                "another beats on every weighted figure)."
            )
        return (
            f"Between them, the higher measured {label} decided: no weighted figure differs by more than "
            "its users can notice."
        )
    significant = [
        m
        for j, m in enumerate(figures)
        if np.isfinite(practical_values[pick, j]) and practical_values[pick, j] != practical_values[top, j]
    ]
    if significant:
        parts = [
            figure_phrase(m, objs[m].column, raw[pick, figures.index(m)], raw[top, figures.index(m)])
            for m in significant
        ]
        return (
            f"It is statistically tied with the most accurate, {other['name']}, and better where the difference "
            f"is noticeable: " + "; ".join(parts) + "."
        )
    beaters = [j for j in range(len(feasible)) if beats(j, top)]
    if beaters:
        by = feasible[pick if pick in beaters else beaters[0]]["name"]
        return (
            f"The most accurate, {other['name']}, was set aside: {by} is equal to it in quality (statistically tied, "
            f"errors within {significance.quality_equal_error_ratio - 1:.0%}), at least as good on every weighted "
            f"figure and better on one (by less than users notice); among the rest, the higher measured {label} "
            "decided."
        )
    return f"Between the tied candidates, the higher measured {label} decided."


def significant_note(pick, top, feasible, figures, practical_values, significance, objs, label) -> str:
    best, other = feasible[pick], feasible[top]
    parts = []
    for j, m in enumerate(figures):
        a, b = practical_values[pick, j], practical_values[top, j]
        if not (np.isfinite(a) and np.isfinite(b)) or a == b:
            continue
        better = a > b if objs[m].higher_is_better else a < b
        if better:
            column = objs[m].column
            reason = significance.reasons.get(m, "")
            parts.append(
                f"{figure_label(m)}: {against(best.get(column), other.get(column), column)}"
                + (f" ({reason})" if reason else "")
            )
    if not parts:
        return ""
    return f"It gives up {label} against {other['name']} for differences users can notice: " + "; ".join(parts) + "."


def level_note(unfloored, pick, feasible, figures, raw, significance, objs) -> str:
    other = feasible[unfloored]
    parts: list[str] = []
    levels: list[str] = []
    for j, m in enumerate(figures):
        level = significance.levels.get(m)
        a, b = raw[unfloored, j], raw[pick, j]
        if level is None or not (np.isfinite(a) and np.isfinite(b)) or a == b:
            continue
        better = a > b if objs[m].higher_is_better else a < b
        beyond = (min(a, b) >= level) if objs[m].higher_is_better else (max(a, b) <= level)
        if better and beyond:
            column = objs[m].column
            estimated = ", estimated" if m in ESTIMATED else ""
            parts.append(f"{m} ({against(a, b, column)}{estimated})")
            levels.append(f"{m} {'above' if objs[m].higher_is_better else 'under'} {format_column(level, column)}")
    if not parts:
        return ""
    return (
        f"A noticeable-difference level decided: counting every difference, {other['name']} would win on "
        + join_names(parts)
        + f"; on a {significance.target_name or 'this target'} those differences are below what users notice ("
        + join_names(levels)
        + " count as equal; see catalog/targets.toml)."
    )


def explain_pick(
    best: Mapping[str, Any],
    most_accurate: Mapping[str, Any],
    feasible: Sequence[Mapping[str, Any]],
    scores: Mapping[str, float],
    weights: Mapping[str, float],
    limits: Mapping[str, float],
    primary_metric: str,
    higher: bool,
    n_total: int,
    significance: Significance,
    ties: PairedTies,
) -> tuple[str, dict[str, str]]:
    weight_text = ", ".join(f"{m}={w:g}" for m, w in weights.items())
    limit_text = (" and limits " + ", ".join(f"{k}={v:g}" for k, v in limits.items())) if limits else ""
    reason = (
        f"{best['name']} is recommended for priorities {weight_text}{limit_text}: of the "
        f"{len(feasible)} of {n_total} candidates that are eligible (measured, within the limits, "
        f"clearly better than the no-skill baseline), it has the highest weighted score "
        f"({scores[best['key']]:.2f} of 1) and is on the Pareto front. It has {quality_label(primary_metric)} "
        f"{format_column(best.get(primary_metric), primary_metric)}, "
        f"p99 latency {format_column(best.get('p99_ms'), 'p99_ms')} for one row, "
        f"{format_column(best.get('rows_per_s'), 'rows_per_s')} at its best batch size, "
        f"and {format_column(best.get('size_bytes'), 'size_bytes')} on disk."
    )
    fastest = min(feasible, key=lambda r: r.get("p99_ms") if not is_missing(r.get("p99_ms")) else np.inf)
    volume = significance.predictions_per_month
    if most_accurate["key"] == fastest["key"]:
        text = compare(best, most_accurate, "the most accurate and the fastest", primary_metric, higher, volume, ties)
        gives_up = {"most_accurate": text, "fastest": text}
    else:
        gives_up = {
            "most_accurate": compare(best, most_accurate, "the most accurate", primary_metric, higher, volume, ties),
            "fastest": compare(best, fastest, "the fastest", primary_metric, higher, volume, ties),
        }
    return reason, gives_up


def error_ratio(ratio: float, what: str) -> str:
    """1.8 -> '1.8x the errors'; 0.87 -> '0.87x the errors, 13% less'."""
    return f"{ratio:.3g}x {what}" if ratio >= 1 else f"{ratio:.3g}x {what}, {1 - ratio:.0%} less"


def quality_difference(metric: str, higher: bool, a: float, b: float) -> str:
    """'-3.02 pp (6.7% vs 3.65% errors: 1.8x the errors)', '-0.012 R2', '+0.31 (12% higher)'."""
    if is_missing(a) or is_missing(b):
        return "n/a"
    delta = a - b
    if metric in PERCENT_POINT_METRICS:
        text = f"{delta * 100:+.2f} pp"
        error_a, error_b = 1 - a, 1 - b
        if error_b > 0 and error_a != error_b:
            errors = f"{format_quantity(error_a, '%')} vs {format_quantity(error_b, '%')} errors"
            text += f" ({errors}: {error_ratio(error_a / error_b, 'the errors')})"
        return text
    if metric == "r2":
        text = format_quantity(delta, "", digits=3, signed=True)
        if 1 - b > 0 and a != b:
            text += f" ({error_ratio((1 - a) / (1 - b), 'the unexplained variance')})"
        return text
    text = format_quantity(delta, "", signed=True)
    if b:
        text += f" ({abs(delta) / abs(b):.0%} {'higher' if delta > 0 else 'lower'})"
    return text


def compare(
    best: Mapping[str, Any],
    other: Mapping[str, Any],
    label: str,
    metric: str,
    higher: bool,
    predictions_per_month: float | None = None,
    ties: PairedTies | None = None,
) -> str:
    """What the pick gives up or gains against another candidate, absolute differences beside ratios."""
    if best["key"] == other["key"]:
        return f"It is itself {label} of the eligible candidates."
    parts = [
        f"{quality_label(metric)} "
        f"{quality_difference(metric, higher, best.get(metric, np.nan), other.get(metric, np.nan))}"
    ]
    if ties is not None:
        interval = ties.interval(best["key"], other["key"])
        if interval is not None:
            tied = interval[0] <= 0 <= interval[1]
            parts[0] += (
                f", {'statistically tied' if tied else 'a real difference'} "
                f"(paired 95% interval {interval[0]:+.3g} to {interval[1]:+.3g})"
            )

    def ratio(column: str, smaller_word: str, larger_word: str) -> str:
        a, b = best.get(column), other.get(column)
        if is_missing(a) or is_missing(b) or not a or not b:
            return f"{column} n/a"
        times = b / a if a <= b else a / b
        if times < 1.01:
            return "the same within 1%"
        return (
            f"{times:.3g}x {smaller_word if a <= b else larger_word}"
            if times < 10
            else (f"{times:.0f}x {smaller_word if a <= b else larger_word}")
        )

    p99_a, p99_b = best.get("p99_ms"), other.get("p99_ms")
    if not is_missing(p99_a) and not is_missing(p99_b):
        unit = column_unit("p99_ms")
        shown = display_unit([p99_a, p99_b], unit)  # the difference and both figures in one unit
        change = format_quantity(p99_a - p99_b, unit, signed=True, display=shown)
        shown_a, shown_b = (format_quantity(v, unit, display=shown) for v in (p99_a, p99_b))
        parts.append(f"p99 latency {change} ({shown_a} vs {shown_b}, {ratio('p99_ms', 'lower', 'higher')})")
    size_a, size_b = best.get("size_bytes"), other.get("size_bytes")
    if not is_missing(size_a) and not is_missing(size_b):
        shown_a, shown_b = format_quantities([size_a, size_b], column_unit("size_bytes"))
        parts.append(f"size {shown_a} vs {shown_b} ({ratio('size_bytes', 'smaller', 'larger')})")
    cost_a, cost_b = best.get("usd_per_million"), other.get("usd_per_million")
    if not is_missing(cost_a) and not is_missing(cost_b):
        if predictions_per_month:
            month_a, month_b = cost_a * predictions_per_month / 1e6, cost_b * predictions_per_month / 1e6
            word = "more" if month_a > month_b else "less"
            volume = format_quantity(predictions_per_month, "predictions")
            difference = abs(month_a - month_b)
            parts.append(
                f"estimated cost {format_quantity(difference, 'USD')} {word} a month at {volume}"
                if difference >= 0.01
                else f"estimated cost within $0.01 a month at {volume}"
            )
            parts[-1] += f" ({ratio('usd_per_million', 'lower', 'higher')})"
        else:
            parts.append(f"estimated cost {ratio('usd_per_million', 'lower', 'higher')}")
    return f"Against {label}, {other['name']}: " + "; ".join(parts) + "."


def helpers_message(helpers: Mapping[str, str]) -> str:
    """One line saying which entries are trained only as helpers, and why each one is."""
    reasons = " ".join(f"{key}: {reason}." for key, reason in helpers.items())
    return f"Trained as helpers, never recommended: {', '.join(helpers)}. {reasons}"
