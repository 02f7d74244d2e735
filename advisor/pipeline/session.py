"""One run in progress: what every phase of `advise` reads and writes, in one place.

Phase functions (`train.train_all`, `timing_phase.time_all`, `startup.cold_starts`,
`curve.learning_curve`) take the session rather than the same eight values one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from advisor.candidates.catalog import CandidateSpec
from advisor.data.encoder import TabularEncoder
from advisor.data.inspect import Dataset
from advisor.data.split import Split
from advisor.deploy.predictor import Predictor
from advisor.execute.backend import DaskBackend, LocalBackend
from advisor.execute.isolate import Limits
from advisor.pipeline.plan import RunPlan
from advisor.pipeline.progress import Reporter
from advisor.results import Run
from advisor.store import Store


@dataclass
class Session:
    """The run record and its plan; the data its candidates train on; where results go (the store),
    how progress is told (`report`) and stopped (`stop`); the backend and per-candidate limits;
    each phase's seconds; each trained candidate's model files and predictor (`stored`, rewritten
    with the final figures at the end)."""

    run: Run
    plan: RunPlan
    dataset: Dataset
    split: Split
    encoder: TabularEncoder
    specs: list[CandidateSpec]
    store: Store
    report: Reporter
    stop: Callable[[], bool]
    backend: LocalBackend | DaskBackend
    limits: Limits
    options: dict[str, Any]
    phases: dict[str, float] = field(default_factory=dict)
    stored: dict[str, tuple[dict[str, bytes], Predictor]] = field(default_factory=dict)
