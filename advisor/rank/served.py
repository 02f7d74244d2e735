"""The serving check's say in the pick: the served capacity, where it was measured.

The ranking reads figures every candidate has (in-process latency, throughput at its best batch);
a served rate exists only for the candidates the serving check loaded over HTTP (the Pareto
front), so it cannot be one more column to rank everyone on. It is used between served
candidates, in two rules, each as a reason the ranking can show (`ineligible`):

1. **The bound.** A served candidate whose p99 stayed above the bound at every rate tried, in
   every configuration, cannot be defended for this target when another served candidate kept
   within it: it is set aside and the ranking picks again.
2. **The fleet.** Among the pick and the candidates statistically tied with it on quality, one
   that served at least `SERVED_MARGIN` times the pick's rate and needs fewer machines for the
   target's peak takes the pick, when the priorities weight throughput or cost. A faster server
   that needs the same fleet changes nothing anyone pays for, so it decides nothing (the note
   says so, and at what peak it would).

The margin is above the spread of repeated load searches of one server on a shared 2-core
machine (up to 1.6x between the slowest and the fastest of three; the median is what is kept).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from advisor.rank.pareto import Recommendation

SERVED_MARGIN = 1.5


def _served_rate(candidate: Any) -> float | None:
    best = candidate.served
    return best.max_rps_at_p99 if best is not None else None


def _never_met(candidate: Any) -> bool:
    served = [s for s in candidate.serving if s.served]
    return bool(served) and not any(s.max_rps_at_p99 for s in served)


def _machines(peak: float, rate: float, profile: Any) -> int:
    from advisor.serve.capacity import fleet_for_profile

    return fleet_for_profile(peak, rate, profile).machines


def _peak_that_splits(slow: float, fast: float, profile: Any) -> float | None:
    """The lowest peak at which the slower server needs more machines than the faster one."""
    per_machine = max(1, int(profile.cores))
    for machines in range(1, 10_000):
        peak = slow * per_machine * machines + 1  # just past what `machines` machines of the slower one answer
        if _machines(peak, fast, profile) <= machines:
            return float(math.ceil(peak))
    return None


def review(
    run: Any, first: Recommendation, rank_with: Callable[[Mapping[str, str]], Recommendation]
) -> tuple[Recommendation, dict[str, str]]:
    """The pick after the serving check's two rules: (the recommendation, the candidates the rules
    set aside with why). `rank_with(extra)` ranks again with `extra` set aside beside the user's."""
    served = [c for c in run.candidates if any(s.served for s in c.serving)]
    if first.key is None or not served:
        return first, {}
    bound = next(s.p99_bound_ms for c in served for s in c.serving if s.served)
    names = {c.key: c.name for c in run.candidates}
    out: dict[str, str] = {}

    # 1. The bound.
    if any(_served_rate(c) for c in served):
        for c in served:
            if _never_met(c):
                out[c.key] = (
                    f"served over HTTP by the serving check, its p99 stayed above {bound:g} ms at every rate tried, "
                    "while another served candidate kept within it"
                )
    recommendation = rank_with(out) if out else first
    if recommendation.key is None:
        return first, {}
    notes: list[str] = []  # why the pick moved: before the ranking's own notes
    after: list[str] = []  # what the served rates did not change: after them
    if first.key in out:
        notes.append(
            f"The serving check moved the pick: served over HTTP, {names[first.key]} kept p99 above {bound:g} ms "
            f"at every rate tried, while another served candidate kept within it; {names[recommendation.key]} is "
            "the best of the rest."
        )

    # 2. The fleet.
    profile, pick = run.profile, run.candidate(recommendation.key)
    pick_rate = _served_rate(pick)
    peak = float(profile.peak_rows_per_s or 0)
    weights = recommendation.weights
    values_rate = weights.get("throughput", 0) > 0 or weights.get("cost", 0) > 0
    tied = [run.candidate(k) for k in recommendation.ties if _served_rate(run.candidate(k))]
    if pick_rate and peak > 0 and tied:
        pick_machines = _machines(peak, pick_rate, profile)
        rivals = sorted(tied, key=lambda c: -(_served_rate(c) or 0.0))
        rival = rivals[0]
        rate = _served_rate(rival) or 0.0
        machines = _machines(peak, rate, profile)
        moved = False
        if rate >= SERVED_MARGIN * pick_rate and machines < pick_machines and values_rate:
            why = (
                f"tied on quality with {rival.name}, which served {rate:,.0f} requests/s per worker against its "
                f"{pick_rate:,.0f}: {machines} machine(s) for the target's peak of {peak:,.0f}/s instead of "
                f"{pick_machines}"
            )
            again = rank_with({**out, pick.key: why})
            if again.key == rival.key:
                out[pick.key] = why
                recommendation, moved = again, True
                notes.append(f"The serving check moved the pick: {names[pick.key]} is {why}.")
        if not moved and rate > pick_rate:
            said = (
                f"Served over HTTP, {rival.name} (tied on quality) answered {rate:,.0f} requests/s per worker, "
                f"{pick.name} {pick_rate:,.0f}"
            )
            if machines == pick_machines:
                split = _peak_that_splits(pick_rate, rate, profile) if rate >= SERVED_MARGIN * pick_rate else None
                after.append(
                    f"{said}; at the target's peak of {peak:,.0f}/s both need {pick_machines} machine(s), so the "
                    "served rate does not change the pick"
                    + (f" (it would from a peak of {split:,.0f}/s)." if split and values_rate else ".")
                )
            elif rate < SERVED_MARGIN * pick_rate:
                after.append(
                    f"{said}: under {SERVED_MARGIN:g}x, within what repeated load searches of one server spread, "
                    "so the served rate does not change the pick."
                )
            else:
                after.append(
                    f"{said}; these priorities weight neither throughput nor cost, so it does not change the pick."
                )
    if not notes and not after:
        return recommendation, out
    return replace(recommendation, notes=(*notes, *recommendation.notes, *after)), out
