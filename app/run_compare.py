"""The Runs page's figures: one line per run (duration, primary metric, pick, status) and two runs
side by side (their data, priorities, pick and the pick's key figures, a column per run)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import advisor

# The pick's figures compared across runs: leaderboard column -> row label.
PICK_FIGURES = {
    "primary": "pick: quality",
    "primary_ci95": "pick: quality, 95% interval",
    "p99_ms": "pick: p99 latency, one row",
    "rows_per_s": "pick: throughput",
    "size_bytes": "pick: size",
    "usd_per_month": "pick: cost a month",
    "load_ms": "pick: start-up (load + first row)",
}


def duration_s(run: advisor.Run) -> float | None:
    """Seconds the run's phases took (data, training, timing, start-up, learning curve), or None."""
    phases = [v for k, v in run.phases_s.items() if k.endswith("_s") and isinstance(v, int | float)]
    return sum(phases) if phases else None


def pick_label(run: advisor.Run) -> str:
    rec = run.recommendation or run.rank()
    return f"{run.candidate(rec.key).name} ({rec.key})" if rec.key else ""


def run_row(listed: dict[str, Any], run: advisor.Run | None) -> dict[str, Any]:
    """A run's line in the Runs table; blanks where the run could not be opened."""
    seconds = duration_s(run) if run is not None else None
    return {
        "run": listed["run_id"],
        "created": dt.datetime.fromtimestamp(listed["created_at"]).strftime("%Y-%m-%d %H:%M"),
        "status": listed["status"],
        "dataset": listed["dataset"],
        "target": listed["target"],
        "task": listed["task"],
        "primary metric": run.primary_metric if run is not None else "",
        "duration (s)": round(seconds, 1) if seconds is not None else None,
        "candidates": listed["candidates"],
        "pick": pick_label(run) if run is not None and run.candidates else (listed["recommended"] or ""),
    }


def comparison(runs: dict[str, advisor.Run]) -> list[dict[str, str]]:
    """Rows of (what, one text per run): each run's data, priorities, pick and the pick's figures."""
    facts: dict[str, dict[str, str]] = {}
    for label, run in runs.items():
        view = advisor.run_view(run, with_stability=False)
        rec = run.recommendation or run.rank()
        seconds = duration_s(run)
        column = {
            "data": f"{view.dataset} ({run.dataset.get('rows', '?'):,} rows)"
            if isinstance(run.dataset.get("rows"), int)
            else view.dataset,
            "target (task)": f"{view.target} ({view.task})",
            "primary metric": view.primary_metric,
            "status": view.status,
            "duration": advisor.format_quantity(seconds, "s") if seconds is not None else "",
            "deployment target": view.profile,
            "priorities": view.weights,
            "hard limits": view.limits,
            "pick": pick_label(run),
        }
        for key, what in PICK_FIGURES.items():
            column[what] = view.table.cell(rec.key, key) if rec.key else ""
        facts[label] = column
    whats = list(next(iter(facts.values()))) if facts else []
    return [{"": what} | {label: facts[label][what] for label in facts} for what in whats]
