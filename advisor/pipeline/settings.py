"""What a run saves about itself, and reads back to resume: its settings (options, timing,
catalog entries), the header the store keeps, and the ranking it ends with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from advisor.candidates.catalog import CandidateSpec, Registry, load_candidates
from advisor.measure.timing import TimingConfig
from advisor.results import Run


def user_options(
    precision_tolerance_pp: float | None, miss_cost: float | None, budget_s: float | None = None
) -> dict[str, float]:
    """The user options every candidate's training sees (saved with the run, so `resume` reuses them);
    the time budget is among them for builders that spend a share of it (the tuned LightGBM's search)."""
    given = {"precision_tolerance_pp": precision_tolerance_pp, "miss_cost": miss_cost, "budget_s": budget_s}
    return {name: value for name, value in given.items() if value is not None}


def saved_timing(saved: Mapping[str, Any]) -> TimingConfig:
    known = {f for f in TimingConfig.__dataclass_fields__}
    values = {k: v for k, v in saved.items() if k in known}
    if "batch_sizes" in values:
        values["batch_sizes"] = tuple(values["batch_sizes"])
    return TimingConfig(**values)


def saved_catalog(settings: Mapping[str, Any]) -> Registry:
    """The catalog entries a run used, as it saved them (plug-in entries included)."""
    saved = settings.get("catalog")
    if saved:
        return Registry([_spec_from_dict(entry) for entry in saved])
    catalog = load_candidates()  # a run stored before runs kept their entries
    return Registry([catalog.get(k) for k in settings.get("candidates") or []])


def spec_to_dict(spec: CandidateSpec) -> dict[str, Any]:
    return asdict(spec) | {"params": dict(spec.params)}


def _spec_from_dict(entry: Mapping[str, Any]) -> CandidateSpec:
    tuples = {name: tuple(entry.get(name, ())) for name in ("requires", "uses", "pool")}  # pool: absent in older runs
    return CandidateSpec(**{**entry, **tuples})


def run_header(run: Run) -> dict[str, Any]:
    return {
        "created_at": run.created_at,
        "dataset": run.dataset,
        "split": run.split,
        "hardware": run.hardware,
        "settings": run.settings,
        "profile": dict(run.profile.__dict__, weights=dict(run.profile.weights), limits=dict(run.profile.limits)),
        "phases_s": run.phases_s,
        "learning_curve": run.learning_curve,
        "status": run.status,
        "error": run.error,
    }


def ranking_record(run: Run) -> dict[str, Any]:
    rec = run.recommendation
    assert rec is not None
    return {"key": rec.key, "reason": rec.reason, "pareto": list(rec.pareto)}
