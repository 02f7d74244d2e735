"""What counts as a difference: levels users cannot feel, statistical ties, quality in errors.

Pure functions and plain records that `advisor.rank.pareto.recommend` decides with: a target's
noticeable-difference levels (`significance_for`, from `catalog/targets.toml`), paired-bootstrap
intervals between candidates (`paired_ties`), and the quality utility counted in reciprocal error
(`quality_utilities`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from advisor.candidates.catalog import HOURS_PER_MONTH, TargetProfile, load_significance
from advisor.present.numbers import format_quantity


@dataclass(frozen=True)
class Significance:
    """Levels below which a difference is one the target's users cannot feel.

    Each is a figure in the leaderboard column's unit: lower-is-better figures under their level
    count as equal to it, throughput above its level counts as fully good. Built from a deployment
    target by `advisor.results.significance_for`; every level and its reason come from
    `catalog/targets.toml`.
    """

    levels: Mapping[str, float] = field(default_factory=dict)  # metric -> level in its column's unit
    reasons: Mapping[str, str] = field(default_factory=dict)  # metric -> why, in a sentence
    tie_confidence: float = 0.95
    broken_gain_fraction: float = 0.25
    quality_equal_error_ratio: float = 1.02
    predictions_per_month: float | None = None
    target_name: str | None = None


@dataclass(frozen=True)
class PairedTies:
    """Paired bootstrap intervals of the difference in the primary metric, for every pair.

    `low[i, j]`, `high[i, j]`: the interval of (candidate i - candidate j) at `confidence`, from
    replicates computed on the same resamples of the test rows for every candidate."""

    keys: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    confidence: float

    def interval(self, a: str, b: str) -> tuple[float, float] | None:
        if a not in self.keys or b not in self.keys:
            return None
        i, j = self.keys.index(a), self.keys.index(b)
        return float(self.low[i, j]), float(self.high[i, j])

    def tied(self, a: str, b: str) -> bool:
        if a == b:
            return True
        found = self.interval(a, b)
        return found is not None and found[0] <= 0.0 <= found[1]


def paired_ties(replicates: Mapping[str, Sequence[float]], confidence: float = 0.95) -> PairedTies:
    """Intervals of every pairwise difference from per-candidate bootstrap replicates."""
    keys = tuple(k for k, r in replicates.items() if r is not None and len(r) > 0)
    if not keys:
        return PairedTies((), np.zeros((0, 0)), np.zeros((0, 0)), confidence)
    length = min(len(replicates[k]) for k in keys)
    reps = np.array([np.asarray(replicates[k], dtype=float)[:length] for k in keys])
    n = len(keys)
    low, high = np.zeros((n, n)), np.zeros((n, n))
    tail = (1 - confidence) / 2 * 100
    for i in range(n):
        diff = reps[i][None, :] - reps  # (n, B): candidate i minus each
        low[i], high[i] = np.nanpercentile(diff, [tail, 100 - tail], axis=1)
    return PairedTies(keys, low, high, confidence)


def quality_error(value: np.ndarray | float, metric: str, higher_is_better: bool) -> np.ndarray:
    """The error a quality metric measures. Every higher-is-better one (accuracy, balanced accuracy,
    macro F1, ROC AUC, R2) is a share with 1 perfect, so its error is 1 - value (for R2, the share
    of the variance left unexplained); RMSE, MAE, log loss and the cost of errors are errors."""
    value = np.asarray(value, dtype=float)
    return 1.0 - value if higher_is_better else value


def quality_utilities(
    values: np.ndarray,
    metric: str,
    higher_is_better: bool,
    reference: float | None = None,
    tied_with_best: np.ndarray | None = None,
) -> np.ndarray:
    """Quality utility in [0, 1]: the share of the way from the no-skill reference (or the worst
    row) to the best row, counted in reciprocal error (1 / error: predictions per mistake).

    Going from 3.65% to 6.7% errors with a 90%-error baseline: 1/0.0365 = 27.4 and 1/0.067 = 14.9
    against 1.1, so the utility is (14.9 - 1.1) / (27.4 - 1.1) = 0.52; a linear scale would say
    0.97. Rows statistically tied with the best (`tied_with_best`) get 1. Missing values get 0."""
    values = np.asarray(values, dtype=float)
    u = np.zeros(len(values))
    known = np.isfinite(values)
    if not known.any():
        return u
    error = quality_error(values, metric, higher_is_better)
    best_error = float(np.nanmin(error[known]))
    reference_error = (
        float(quality_error(reference, metric, higher_is_better))
        if reference is not None and np.isfinite(reference)
        else float(np.nanmax(error[known]))
    )
    floor = max(abs(reference_error) * 1e-3, 1e-12)  # errors a thousandth of the baseline's count as that
    inverse = 1.0 / np.maximum(np.where(known, error, np.inf), floor)
    best_inverse = 1.0 / max(best_error, floor)
    reference_inverse = 1.0 / max(reference_error, floor)
    span = best_inverse - reference_inverse
    if span <= 0:
        u = np.where(known, 1.0, 0.0)
    else:
        u = np.where(known, np.clip((inverse - reference_inverse) / span, 0.0, 1.0), 0.0)
    if tied_with_best is not None:
        u = np.where(known & np.asarray(tied_with_best, dtype=bool), 1.0, u)
    return u


def significance_for(profile: TargetProfile) -> Significance:
    """Levels, in leaderboard units, below which a difference on this target is not noticed."""
    rules = load_significance()
    volume = max(profile.predictions_per_month, 1.0)
    monthly_price = profile.usd_per_hour * HOURS_PER_MONTH
    cost_month = max(rules.cost_usd_per_month, rules.cost_fraction_of_monthly_price * monthly_price)
    levels = {
        "latency": profile.latency_p99_ms * rules.latency_fraction_of_expected_p99,
        "size": profile.memory_budget_mb * 1e6 * rules.size_fraction_of_memory_budget,
        "cost": cost_month / volume * 1e6,
        "throughput": profile.peak_rows_per_s,
    }
    reasons = {
        "latency": (
            f"p99 under {format_quantity(levels['latency'], 'ms')} counts as equal on a {profile.name}: "
            f"{rules.latency_reason}"
        ),
        "size": f"sizes under {format_quantity(levels['size'], 'B')} count as equal on a {profile.name}: "
        f"{rules.size_reason}",
        "cost": (
            f"costs under {format_quantity(cost_month, 'USD/month')} at {format_quantity(volume, 'predictions')} "
            f"a month count as equal: {rules.cost_reason}"
        ),
        "throughput": (
            f"throughput above {format_quantity(profile.peak_rows_per_s, 'rows/s')} (the expected peak on a "
            f"{profile.name}) counts as fully good: {rules.throughput_reason}"
        ),
    }
    if profile.energy_budget_j_per_month:
        per_1k = profile.energy_budget_j_per_month * rules.energy_fraction_of_budget / volume * 1000
        levels["energy"] = per_1k
        reasons["energy"] = (
            f"energy under {format_quantity(per_1k, 'J/1k')} predictions counts as equal on a {profile.name}: "
            f"{rules.energy_reason}"
        )
    return Significance(
        levels=levels,
        reasons=reasons,
        tie_confidence=rules.tie_confidence,
        broken_gain_fraction=rules.broken_gain_fraction,
        quality_equal_error_ratio=rules.quality_equal_error_ratio,
        predictions_per_month=volume,
        target_name=profile.name,
    )
