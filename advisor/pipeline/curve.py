"""Would more rows help? The learning curve: one candidate trained again on a quarter and a half
of the training rows, each point scored on the whole test split."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import joblib

from advisor.execute.isolate import WorkFailed, run_isolated
from advisor.execute.worker import CandidateTask, train_candidate
from advisor.measure import hardware
from advisor.pipeline.prepare import run_context, sample_positions
from advisor.pipeline.session import Session

CURVE_FRACTIONS = (0.25, 0.5)


def learning_curve(session: Session) -> dict[str, Any] | None:
    """Test quality of one candidate trained on 25%, 50% and 100% of the training rows.

    The candidate is the recommended one when it trains from scratch (a compressed or distilled
    one depends on others), else the best such candidate; never a helper (see
    `Registry.select_with_helpers`). Each point trains isolated like any candidate, on a
    stratified subset, and is scored on the whole test split."""
    run, specs, dataset, split, encoder = session.run, session.specs, session.dataset, session.split, session.encoder
    work, limits, report, stop = session.store.work_dir(run.run_id), session.limits, session.report, session.stop
    roots = {
        s.key: s
        for s in specs
        if not s.depends_on
        and s.family != "baseline"
        and s.key not in (run.settings.get("helpers") or {})
        and run.candidate(s.key).quality is not None
    }
    if not roots:
        return None
    chosen = run.recommendation.key if run.recommendation else None
    if chosen not in roots:
        chosen = max(roots, key=lambda k: run.candidate(k).quality.primary_value)
    spec = roots[chosen]
    full = run.candidate(chosen).quality
    n = len(split.X_train)
    points = []
    prior = report.forecast.expected.get("curve") or 0.0
    started = time.perf_counter()
    for done, fraction in enumerate(CURVE_FRACTIONS):
        rows = max(int(n * fraction), 10)
        if stop() or rows >= n:
            return None
        spent = time.perf_counter() - started
        left = sum(CURVE_FRACTIONS[done:])  # a subset costs about its share of the rows
        report.left("curve", spent / sum(CURVE_FRACTIONS[:done]) * left if done else prior)
        report(
            "curve",
            f"Learning curve: {spec.name} on {fraction:.0%} of the training rows ({rows:,})",
            phase="curve",
            done=done,
            total=len(CURVE_FRACTIONS),
            unit="subsets",
        )
        keep = sample_positions(split.y_train, rows, split.seed, dataset.is_classification)
        subset = replace(split, X_train=split.X_train.iloc[keep], y_train=split.y_train.iloc[keep])
        path = work / f"curve-{fraction}.joblib"
        joblib.dump(run_context(dataset, subset, encoder), path)
        task = CandidateTask(
            spec=spec,
            specs={s.key: s for s in specs},
            context=str(path),
            threads=hardware.usable_cpus(),
            options=dict(run.settings.get("options") or {}),  # the same threshold rule as the run's own figure
        )
        try:
            quality = run_isolated(train_candidate, task, limits, should_stop=stop).value.quality
        except WorkFailed as failure:
            return {"key": chosen, "error": failure.reason, "points": points}
        points.append(_curve_point(fraction, rows, quality))
    points.append(_curve_point(1.0, n, full))
    low, mid, high = (p["primary"] for p in points)
    late, early = high - mid, mid - low
    rising = late > 0 and late >= max(0.5 * early, 0.002)
    verdict = (
        f"still rising from 50% to 100% of the rows ({late:+.4f}): more rows would likely help"
        if rising
        else f"levelling off from 50% to 100% of the rows ({late:+.4f}): more rows are unlikely to help much"
    )
    # a candidate refitted on training + validation rows (catalog `refit = true`) adds the validation
    # rows at every point: the curve's shape still answers the question, its row counts say so
    refit = (
        f" Each point, as the candidate itself, was refitted with the {len(split.X_val):,} validation rows added."
        if spec.params.get("refit")
        else ""
    )
    return {
        "key": chosen,
        "name": spec.name,
        "metric": dataset.primary_metric,
        "points": points,
        "verdict": verdict,
        "method": (
            f"{spec.name} trained again, isolated, on stratified subsets of 25% and 50% of the {n:,} training rows "
            "(the encoder as fitted on all of them), each scored on the whole test split; 100% is the run's own "
            "figure. 'Still rising' means the last doubling gained at least half what the one before did "
            f"(and at least 0.002).{refit}"
        ),
    }


def _curve_point(fraction: float, rows: int, quality: Any) -> dict[str, Any]:
    return {
        "fraction": fraction,
        "rows": rows,
        "primary": quality.primary_value,
        "ci95": [quality.primary_ci95_low, quality.primary_ci95_high],
    }
