"""The decision threshold of a binary classifier, chosen on the validation split.

A binary candidate predicts the positive class (index 1 of the encoded classes) when its
probability is at least the threshold. By default the threshold maximises the run's primary
metric on the validation split; with a cost ratio ("a missed positive costs N false alarms") it
minimises N x missed positives + false alarms there instead. The test split never sees the
choice, so the test figures measured with it stay honest.
"""

from __future__ import annotations

import math

import numpy as np

from advisor.errors import ConfigError

DEFAULT_THRESHOLD = 0.5
# Validation gain needed to move away from 0.5: a metric must rise by more than this (half a
# percentage point), a cost must fall by more than this share of its value at 0.5. Smaller gains
# are as likely to be the validation rows' noise as a better threshold.
MIN_GAIN = 0.005
THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")


def _confusion_at(p: np.ndarray, y: np.ndarray, cutoffs: np.ndarray) -> tuple[np.ndarray, ...]:
    """True/false positives and negatives at each cutoff (positive when p >= cutoff), vectorised:
    one sort, then a binary search per cutoff."""
    order = np.argsort(p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    positives_below = np.concatenate([[0], np.cumsum(y_sorted)])  # positives among the k lowest rows
    below = np.searchsorted(p_sorted, cutoffs, side="left")  # rows with p < cutoff: predicted negative
    false_negatives = positives_below[below]
    true_negatives = below - false_negatives
    n_positive = int(y_sorted.sum())
    true_positives = n_positive - false_negatives
    false_positives = (len(y) - n_positive) - true_negatives
    return true_positives, false_positives, true_negatives, false_negatives


def _metric(name: str, tp: np.ndarray, fp: np.ndarray, tn: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """The metric from confusion counts, as `_measure.point_metrics` computes it (F1 of a class
    with no predicted or true rows counts 0, like scikit-learn's zero_division=0)."""
    tp, fp, tn, fn = (a.astype(np.float64) for a in (tp, fp, tn, fn))
    if name == "accuracy":
        return (tp + tn) / (tp + fp + tn + fn)
    if name == "balanced_accuracy":
        return (tp / (tp + fn) + tn / (tn + fp)) / 2
    f1_positive = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    f1_negative = np.divide(2 * tn, 2 * tn + fn + fp, out=np.zeros_like(tn), where=(2 * tn + fn + fp) > 0)
    return (f1_positive + f1_negative) / 2


def choose_threshold(
    y_val: np.ndarray,
    val_scores: np.ndarray,
    primary_metric: str,
    miss_cost: float | None = None,
    *,
    positive_label: str = "class 1",
) -> tuple[float, str]:
    """The probability threshold for the positive class, and one sentence saying how it was chosen.

    `y_val` holds class indices (0/1), `val_scores` the validation probabilities ((n, 2), or
    (n,) for the positive class). The cutoffs searched are the midpoints between consecutive
    distinct validation probabilities (and one below the lowest, one above the highest), plus
    0.5. Without `miss_cost` the threshold maximises `primary_metric` (accuracy,
    balanced_accuracy or f1_macro; roc_auc and log_loss do not depend on it, so 0.5 stays);
    with `miss_cost` = N it minimises N x false negatives + false positives. Among equally good
    cutoffs the one closest to 0.5 wins, and 0.5 stays unless the best beats it by more than
    MIN_GAIN (0.005 of the metric, or 0.5% of the cost).
    """
    y = np.asarray(y_val).astype(np.int64)
    scores = np.asarray(val_scores, dtype=np.float64)
    p = scores[:, 1] if scores.ndim == 2 else scores
    n = len(y)
    where = f"the validation split ({n:,} rows)"
    if miss_cost is None and primary_metric not in THRESHOLD_METRICS:
        return DEFAULT_THRESHOLD, f"0.5: the primary metric {primary_metric} does not depend on the threshold"
    if n == 0 or y.min() == y.max():
        return DEFAULT_THRESHOLD, f"0.5 kept: {where} holds only one class, so it cannot choose a threshold"
    distinct = np.unique(p)
    cutoffs = np.concatenate(
        [[distinct[0] / 2], (distinct[:-1] + distinct[1:]) / 2, [(distinct[-1] + 1) / 2], [DEFAULT_THRESHOLD]]
    )
    tp, fp, tn, fn = _confusion_at(p, y, cutoffs)
    if miss_cost is None:
        gain = _metric(primary_metric, tp, fp, tn, fn)
        goal = f"maximise {primary_metric}"
    else:
        gain = -(miss_cost * fn + fp).astype(np.float64)  # a loss, negated: higher is better throughout
        goal = f"minimise {miss_cost:g} x missed '{positive_label}' + false alarms"
    at_default = gain[-1]
    # Best first, then closest to 0.5: lexsort's last key is the primary one.
    best = int(np.lexsort((np.abs(cutoffs - DEFAULT_THRESHOLD), -gain))[0])
    margin = MIN_GAIN if miss_cost is None else MIN_GAIN * max(-at_default, 1.0)
    shown = _shown(gain[best], miss_cost), _shown(at_default, miss_cost)
    if cutoffs[best] == DEFAULT_THRESHOLD or gain[best] <= at_default:
        return DEFAULT_THRESHOLD, f"0.5: on {where}, chosen to {goal}, no threshold does better ({shown[1]})"
    if gain[best] - at_default <= margin:
        return DEFAULT_THRESHOLD, (
            f"0.5 kept: on {where}, chosen to {goal}, no threshold beat it by more than the "
            f"{_margin_text(miss_cost)} needed to move (best {cutoffs[best]:.3g} gives {shown[0]}, 0.5 gives "
            f"{shown[1]})"
        )
    threshold = float(cutoffs[best])
    return threshold, (
        f"chosen on {where} to {goal}: predicts '{positive_label}' when its probability is at least "
        f"{threshold:.3g} ({shown[0]} there; 0.5 would give {shown[1]})"
    )


def _shown(value: float, miss_cost: float | None) -> str:
    return f"{value:.4f}" if miss_cost is None else f"cost {-value:,.4g}"


def _margin_text(miss_cost: float | None) -> str:
    return f"{MIN_GAIN}" if miss_cost is None else f"{MIN_GAIN:.1%} of the cost"


def check_miss_cost(miss_cost: object) -> float | None:
    """The user's cost ratio as a float, or None; anything but a positive finite number is refused."""
    if miss_cost is None:
        return None
    try:
        value = float(miss_cost)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0) or isinstance(miss_cost, bool):
        raise ConfigError(
            f"The miss cost must be a positive number (how many false alarms one missed positive costs, "
            f"e.g. 10), not {miss_cost!r}."
        )
    return value
