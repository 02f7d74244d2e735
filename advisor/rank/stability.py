"""How firm a recommendation is: the weights over which it holds, and its fate under timing noise.

Re-ranking needs no retraining, so both are plain sweeps over `recommend`: each weighted metric's
weight is moved from 0 to 5 with the others held, and the timed figures are redrawn from their own
timing rounds (a bootstrap over rounds) to see how often the same candidate comes out on top.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.objectives import OBJECTIVES
from advisor.rank.pareto import Recommendation

STEP = 0.5
WEIGHT_STEPS = tuple(np.round(np.arange(0.0, 5.0 + STEP / 2, STEP), 1))
NOISE_DRAWS = 200


@dataclass(frozen=True)
class WeightRange:
    """The pick holds while `metric`'s weight stays in [low, high] (others unchanged)."""

    metric: str
    weight: float
    low: float
    high: float
    below: str | None  # who wins just below `low` (None: the pick holds down to 0)
    above: str | None  # who wins just above `high` (None: the pick holds up to 5)


@dataclass(frozen=True)
class NoiseCheck:
    """How often the pick stays the pick when the timed figures are redrawn from their rounds."""

    draws: int
    held: int
    others: Mapping[str, int] = field(default_factory=dict)  # key -> draws it won
    method: str = ""

    @property
    def share(self) -> float:
        return self.held / self.draws if self.draws else float("nan")


@dataclass(frozen=True)
class Stability:
    weights: tuple[WeightRange, ...]
    noise: NoiseCheck | None

    def sentences(self, names: Mapping[str, str]) -> list[str]:
        """'Holds for accuracy weights 3-5; below 3, LightGBM fast wins.' for every metric that can
        change the pick, then the timing-noise check."""
        out = []
        for r in self.weights:
            if r.below is None and r.above is None:
                continue
            held = f"{r.low:g}" if r.low == r.high else f"{r.low:g}-{r.high:g}"
            parts = [f"holds for {r.metric} weight{'' if r.low == r.high else 's'} {held} (now {r.weight:g})"]
            if r.below is not None:
                lower = r.low - STEP
                parts.append(f"at {lower:g}{' or less' if lower > 0 else ''}, {names.get(r.below, r.below)} wins")
            if r.above is not None:
                higher = r.high + STEP
                parts.append(f"at {higher:g}{' or more' if higher < 5 else ''}, {names.get(r.above, r.above)} wins")
            out.append("The pick " + "; ".join(parts) + ".")
        steady = [r.metric for r in self.weights if r.below is None and r.above is None]
        if steady:
            out.append(f"It holds for any weight from 0 to 5 on {', '.join(steady)} (one at a time).")
        if self.noise is not None and self.noise.draws:
            text = f"Under timing noise it stays the pick in {self.noise.held} of {self.noise.draws} redraws"
            if self.noise.others:
                rivals = ", ".join(f"{names.get(k, k)} {v}" for k, v in Counter(self.noise.others).most_common(3))
                text += f" (otherwise: {rivals})"
            out.append(text + ".")
        return out

    def to_dict(self) -> dict[str, Any]:
        from advisor.measure.figures import as_plain

        return as_plain(self)


Rank = Callable[[Sequence[Mapping[str, Any]], Mapping[str, float]], Recommendation]


def weight_ranges(
    rows: Sequence[Mapping[str, Any]], weights: Mapping[str, float], pick: str, rank: Rank
) -> list[WeightRange]:
    """For each metric, the contiguous range of its weight (0-5, in steps of 0.5) that keeps `pick`."""
    out = []
    for metric in OBJECTIVES:
        current = float(weights.get(metric, 0.0))
        winners = {}
        for step in sorted(set(WEIGHT_STEPS) | {current}):
            trial = dict(weights, **{metric: float(step)})
            if not any(v > 0 for v in trial.values()):
                continue  # all zero means "weigh everything equally", not this sweep
            winners[float(step)] = rank(rows, trial).key
        steps = sorted(winners)
        if current not in winners:
            continue
        i = steps.index(current)
        low_i = i
        while low_i > 0 and winners[steps[low_i - 1]] == pick:
            low_i -= 1
        high_i = i
        while high_i < len(steps) - 1 and winners[steps[high_i + 1]] == pick:
            high_i += 1
        if winners[current] != pick:
            continue
        below = winners[steps[low_i - 1]] if low_i > 0 else None
        above = winners[steps[high_i + 1]] if high_i < len(steps) - 1 else None
        out.append(WeightRange(metric, current, steps[low_i], steps[high_i], below, above))
    return out


def noise_draws(
    rows: Sequence[Mapping[str, Any]],
    rounds: Mapping[str, tuple[Sequence[float] | None, Sequence[float] | None]],
    draws: int = NOISE_DRAWS,
    seed: int = 0,
) -> list[list[dict[str, Any]]]:
    """Leaderboard rows with p99 and throughput redrawn from each candidate's timing rounds.

    A redraw resamples a candidate's rounds with replacement and scales its figure by the mean of
    the resampled rounds over the mean of all rounds; cost and energy follow throughput (both are
    computed from the time per prediction). Candidates without rounds keep their figures."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        drawn = []
        for row in rows:
            row = dict(row)
            p99_rounds, rps_rounds = rounds.get(row["key"], (None, None))
            if p99_rounds and row.get("p99_ms") is not None:
                r = np.asarray(p99_rounds, dtype=float)
                row["p99_ms"] = row["p99_ms"] * rng.choice(r, size=len(r)).mean() / r.mean()
            if rps_rounds and row.get("rows_per_s"):
                r = np.asarray(rps_rounds, dtype=float)
                factor = rng.choice(r, size=len(r)).mean() / r.mean()
                row["rows_per_s"] = row["rows_per_s"] * factor
                for column in ("usd_per_million", "usd_per_month", "joules_per_1k"):
                    if row.get(column) is not None:
                        row[column] = row[column] / factor
            drawn.append(row)
        out.append(drawn)
    return out


def stability(
    rows: Sequence[Mapping[str, Any]],
    weights: Mapping[str, float],
    pick: str,
    rank: Rank,
    rounds: Mapping[str, tuple[Sequence[float] | None, Sequence[float] | None]],
    draws: int = NOISE_DRAWS,
) -> Stability:
    ranges = tuple(weight_ranges(rows, weights, pick, rank))
    noise = None
    if any(a or b for a, b in rounds.values()):
        winners = Counter(rank(drawn, weights).key for drawn in noise_draws(rows, rounds, draws))
        held = winners.pop(pick, 0)
        noise = NoiseCheck(
            draws=draws,
            held=held,
            others={str(k): v for k, v in winners.items()},
            method=(
                f"{draws} redraws of every candidate's p99 and throughput from its own timing rounds "
                "(bootstrap over rounds); cost and energy scaled with throughput; same weights and limits"
            ),
        )
    return Stability(ranges, noise)


__all__ = ["NoiseCheck", "Stability", "WeightRange", "noise_draws", "stability", "weight_ranges"]
