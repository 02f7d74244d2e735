"""The recommendation card as plain data: what the CLI, the HTML report and the app all show.

One function gathers the sentences (`recommendation_card`); each front end only lays them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

RARE_CLASS_TEST_ROWS = 10


@dataclass(frozen=True)
class Card:
    key: str | None
    name: str | None
    headline: str  # "Recommended: LightGBM" or "No recommendation"
    reason: str
    decided_by: str
    notes: tuple[str, ...] = ()  # ties, what decided, levels that mattered
    gives_up: tuple[str, ...] = ()
    business: tuple[str, ...] = ()  # classification in a product team's words
    stability: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # rare classes and the like
    ties: tuple[str, ...] = ()
    serving: tuple[str, ...] = ()  # the serving check's figures for the pick, when it was served
    extra: dict[str, Any] = field(default_factory=dict)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{value:.0%}"


def _count(n: int, of: int) -> str:
    return f"{n:,} of {of:,} rows, {n / of:.1%}" if of else f"{n:,} rows"


def business_lines(run: Any, key: str) -> list[str]:
    """What a classifier catches and flags, in the class names of the table."""
    candidate = run.candidate(key)
    quality = candidate.quality
    if quality is None or not quality.per_class or run.task == "regression":
        return []
    per_class = quality.per_class
    labels = list(per_class)
    support = {label: int(per_class[label]["support"]) for label in labels}
    total = sum(support.values())
    lines = []
    if run.task == "binary" and len(labels) == 2:
        rare = min(labels, key=lambda label: support[label])
        common = labels[1] if rare == labels[0] else labels[0]
        flagged_common = None if _missing(per_class[common]["recall"]) else 1 - per_class[common]["recall"]
        lines.append(
            f"It catches {_pct(per_class[rare]['recall'])} of '{rare}' ({_count(support[rare], total)} in the test "
            f"split) and flags {_pct(flagged_common)} of '{common}' as '{rare}'; of the rows it calls '{rare}', "
            f"{_pct(per_class[rare]['precision'])} are."
        )
        if quality.threshold is not None:
            positive = labels[1]
            if quality.threshold == 0.5:
                lines.append(
                    f"It predicts '{positive}' when its probability is 0.5 or more: on the validation split no other "
                    "threshold did clearly better."
                )
            else:
                goal = (
                    f"the cost of errors ({(run.settings.get('options') or {}).get('miss_cost', 0):g} false alarms "
                    "per missed positive)"
                    if run.primary_metric == "error_cost"
                    else run.primary_metric.replace("_", " ")
                )
                lines.append(
                    f"It predicts '{positive}' when its probability is at least {quality.threshold:.3g}, a threshold "
                    f"chosen on the validation split for {goal}; the exported model applies the same threshold."
                )
        majority_share = support[common] / total if total else float("nan")
        accuracy = quality.metrics.get("accuracy")
        miss_cost = (run.settings.get("options") or {}).get("miss_cost")
        if run.primary_metric == "error_cost" and miss_cost and quality.confusion:
            positive, negative = labels[1], labels[0]
            missed, alarms = quality.confusion[1][0], quality.confusion[0][1]
            lines.append(
                f"Its errors cost {quality.primary_value:.3g} false alarms per row: {missed:,} missed '{positive}' "
                f"x {miss_cost:g} + {alarms:,} false alarms on '{negative}' rows, over {total:,} test rows."
            )
        if accuracy is not None and accuracy < majority_share:
            why = (
                f"a missed '{labels[1]}' costs {miss_cost:g} false alarms, so it flags more rows than accuracy would"
                if run.primary_metric == "error_cost" and miss_cost
                else f"it is chosen for {run.primary_metric.replace('_', ' ')}, which counts catching '{rare}' as "
                f"much as getting '{common}' right, so it accepts some false alarms to find the rare class"
            )
            lines.append(
                f"Its accuracy, {accuracy:.3f}, is below the {majority_share:.3f} of always predicting '{common}': "
                f"{why}."
            )
    else:
        recalls = [(label, per_class[label]["recall"]) for label in labels if not _missing(per_class[label]["recall"])]
        if recalls:
            worst = sorted(recalls, key=lambda item: item[1])[:3]
            best = max(recalls, key=lambda item: item[1])
            lines.append(
                "Recall by class (share of each class it gets right): lowest "
                + ", ".join(f"'{label}' {_pct(r)} of {support[label]:,}" for label, r in worst)
                + f"; highest '{best[0]}' {_pct(best[1])} of {support[best[0]]:,}. Per-class precision and recall and "
                "the confusion matrix of every candidate are in its details and in results.json."
            )
    return lines


def rare_class_warnings(run: Any) -> list[str]:
    """Classes with under RARE_CLASS_TEST_ROWS test rows: every figure on them is rough."""
    quality = next((c.quality for c in run.candidates if c.quality and c.quality.per_class), None)
    if quality is None:
        return []
    rare = [
        (label, int(v["support"])) for label, v in quality.per_class.items() if int(v["support"]) < RARE_CLASS_TEST_ROWS
    ]
    if not rare:
        return []
    shown = ", ".join(f"'{label}' ({n} row{'s' if n != 1 else ''})" for label, n in rare)
    return [
        f"Rare in the test split: {shown}. Per-class figures for {'it' if len(rare) == 1 else 'them'} rest on under "
        f"{RARE_CLASS_TEST_ROWS} rows each; the bootstrap keeps every class at its count, but more labelled rows of "
        f"{'that class' if len(rare) == 1 else 'those classes'} would make the comparison firmer."
    ]


def serving_lines(run: Any, key: str) -> list[str]:
    """The pick as served over HTTP (the serving check), and the fleet its target's peak needs.

    The ranking itself stays on the in-process figures every candidate has; a served rate exists
    only for the front, and would not compare with the others' in-process throughput."""
    from advisor.serve.capacity import fleet_for_profile

    candidate = run.candidate(key)
    best = candidate.served
    if best is None or not best.max_rps_at_p99:
        return []
    rate = best.max_rps_at_p99
    others = [s for s in candidate.serving if s is not best and s.served]
    beside = "".join(f"; {s.max_rps_at_p99 or 0:,.0f}/s with {s.label}" for s in others)
    ratio = f" ({best.ratio:.2g} x)" if best.ratio else ""
    limited = " The load client shared the machine and may have been the limit." if best.client_limited else ""
    if any("the machine was over 90% busy while the client was not" in note for note in best.notes):
        limited += (
            " Other work kept this machine's cores over 90% busy during the load (in the app, the browser and the "
            "app's own server share them): the rate understates what a machine of its own would serve."
        )
    lines = [
        f"Served over HTTP: {rate:,.0f} requests/s at p99 <= {best.p99_bound_ms:g} ms on one worker ({best.label}"
        f"{beside}); the estimate from the in-process figures said {best.estimate_rps:,.0f}/s{ratio}.{limited}"
    ]
    profile = run.profile
    fleet = fleet_for_profile(profile.peak_rows_per_s, rate, profile)
    price = f"${fleet.usd_per_month:,.0f} a month" if profile.usd_per_hour > 0 else "no hourly price (owned)"
    lines.append(
        f"For {profile.name}'s peak of {profile.peak_rows_per_s:,.0f} requests/s: {fleet.workers} worker(s) on "
        f"{fleet.machines} machine(s), {price} (an estimate: every machine runs all month)."
    )
    return lines


def recommendation_card(run: Any, with_stability: bool = True) -> Card:
    rec = run.recommendation or run.rank()
    warnings = rare_class_warnings(run)
    if rec.key is None:
        return Card(None, None, "No recommendation", rec.reason, "", warnings=tuple(warnings))
    chosen = run.candidate(rec.key)
    names = {c.key: c.name for c in run.candidates}
    stability_lines: list[str] = []
    if with_stability:
        found = run.stability()
        if found is not None:
            stability_lines = found.sentences(names)
    return Card(
        key=rec.key,
        name=chosen.name,
        headline=f"Recommended: {chosen.name}",
        reason=rec.reason,
        decided_by=rec.decided_by,
        notes=tuple(rec.notes),
        gives_up=tuple(dict.fromkeys(rec.gives_up.values())),
        business=tuple(business_lines(run, rec.key)),
        stability=tuple(stability_lines),
        warnings=tuple(warnings),
        ties=tuple(rec.ties),
        serving=tuple(serving_lines(run, rec.key)),
    )


def card_lines(card: Card) -> list[str]:
    """The card as plain sentences, in reading order (CLI, plain-text export)."""
    lines = [card.headline if card.key is None else f"{card.headline} ({card.key})", card.reason]
    for group in (card.notes, card.business, card.serving, card.gives_up, card.stability, card.warnings):
        lines.extend(group)
    return [line for line in lines if line]
