"""The run's plan: every setting a run starts with, typed and checked once at the boundary.

The CLI, the app and the API all build a `RunPlan` (`RunPlan.make` checks each value and says in
one sentence what is wrong); the run saves it in its header (`to_dict`) and `resume` reads it
back (`from_saved`), so defaults live here and nowhere else. Where a run executes (a Dask
scheduler, parallel jobs, a worker to time on) is not part of the plan: a resumed run trains here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from advisor.candidates.catalog import TargetProfile, get_target
from advisor.candidates.threshold import check_miss_cost
from advisor.errors import ConfigError
from advisor.measure.timing import TimingConfig
from advisor.pipeline.prepare import DEFAULT_ROW_BUDGET
from advisor.rank.pareto import parse_limits, parse_priorities

DEFAULT_CANDIDATE_TIME_S = 1800.0
PLAN_VERSION = 1


@dataclass(frozen=True)
class Budget:
    """The run's time budget (None: none) and its two rules: a candidate may start until
    `candidate_share` of it is spent (the baseline always starts, every ranking needs it), and cold
    starts are timed until all of it is spent."""

    seconds: float | None = None
    candidate_share: float = 0.6

    def __post_init__(self) -> None:
        seconds = self.seconds
        if seconds is not None and not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ConfigError(f"The time budget must be a number of seconds, 0 or more, not {seconds!r}.")

    def may_start(self, elapsed_s: float, family: str) -> bool:
        return self.seconds is None or family == "baseline" or elapsed_s <= self.candidate_share * self.seconds

    def may_time_cold_starts(self, elapsed_s: float) -> bool:
        return self.seconds is None or elapsed_s <= self.seconds

    @classmethod
    def rules(cls) -> str:
        """The rules in one sentence, for a help text."""
        return (
            f"Candidates that would start after {cls.candidate_share:.0%} of the budget are skipped and say so; "
            "cold starts are timed until the whole budget is spent."
        )


def _positive(name: str, value: Any, whole: bool = False) -> Any:
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok or (whole and int(value) != value):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"'{name}' must be {kind} above 0 (or left out), not {value!r}.")
    return int(value) if whole else float(value)


@dataclass(frozen=True)
class ServeCheck:
    """The optional serving check's settings (see `advisor.pipeline.serving`): each Pareto-front
    candidate served on one worker in each `configurations` (max batch, max wait ms), loaded with
    windows of `window_s` (at most `max_windows` per level, at least `min_requests` requests), the
    rate search stopping within `resolution`, on up to `rows` test rows and `max_candidates`
    candidates of the front (the pick first). The defaults take about 45 s a candidate."""

    window_s: float = 1.0
    max_windows: int = 3
    min_requests: int = 200
    resolution: float = 0.25
    rows: int = 500
    max_candidates: int = 4
    # No batching, then batches of up to 32 closed as soon as the worker is free: on penguins (linear
    # model, 2 cores shared with the client, p99 <= 100 ms) a 0 ms wait served 1,775 requests/s and
    # a 2 ms wait 491/s (each request waited for company that came too rarely), no batching 617/s.
    configurations: tuple[tuple[int, float], ...] = ((1, 0.0), (32, 0.0))

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and self.max_windows >= 1 and self.min_requests >= 1 and self.resolution > 0):
            raise ConfigError(
                "The serving check needs a positive window, at least one window and request, and a positive "
                f"resolution; got {self!r}."
            )
        if self.max_candidates < 1 or not self.configurations:
            raise ConfigError("The serving check needs at least one candidate and one serving configuration.")

    @classmethod
    def from_saved(cls, saved: Mapping[str, Any] | None) -> ServeCheck | None:
        if not saved:
            return None
        return cls(**dict(saved, configurations=tuple(tuple(c) for c in saved.get("configurations", ()))))


@dataclass(frozen=True)
class RunPlan:
    """What to train, how to judge it and how long to spend; see `make` for each field."""

    priorities: Mapping[str, float] | None = None
    limits: Mapping[str, float] | None = None
    profile: TargetProfile = field(default_factory=lambda: get_target("cloud-cpu"))
    candidates: tuple[str, ...] | None = None
    families: tuple[str, ...] | None = None
    budget: Budget = field(default_factory=Budget)
    seed: int = 0
    row_budget: int | None = DEFAULT_ROW_BUDGET
    timing: TimingConfig = field(default_factory=TimingConfig)
    candidate_time_limit_s: float | None = DEFAULT_CANDIDATE_TIME_S
    candidate_memory_limit_mb: float | None = None
    precision_tolerance_pp: float | None = None
    miss_cost: float | None = None
    with_learning_curve: bool = True
    serve_check: ServeCheck | None = None

    @classmethod
    def make(
        cls,
        *,
        priorities: str | Mapping[str, float] | None = None,
        limits: Iterable[str] | Mapping[str, float] | None = None,
        profile: str | TargetProfile = "cloud-cpu",
        candidates: Iterable[str] | None = None,
        families: Iterable[str] | None = None,
        budget_s: float | None = None,
        seed: int = 0,
        row_budget: int | None = DEFAULT_ROW_BUDGET,
        timing: TimingConfig | None = None,
        candidate_time_limit_s: float | None = DEFAULT_CANDIDATE_TIME_S,
        candidate_memory_limit_mb: float | None = None,
        precision_tolerance_pp: float | None = None,
        miss_cost: float | None = None,
        with_learning_curve: bool = True,
        serve_check: bool | ServeCheck = False,
    ) -> RunPlan:
        """A plan from the user's values, each checked: priorities 'name=weight,...' (weights 0-5;
        None: the target's), limits 'name=value' (None: the target's), a deployment target's key
        (or a `TargetProfile` with the user's own figures), catalog keys or families, a time
        budget, a seed, a row budget, the timing settings, per-candidate time and memory limits,
        the precision sweep's tolerance, a binary task's miss cost, and whether (with which
        settings) to serve the Pareto front over HTTP and load it after timing (`serve_check`)."""
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"The seed must be a whole number, not {seed!r}.")
        return cls(
            priorities=parse_priorities(priorities),
            limits=parse_limits(limits) if limits is not None else None,
            profile=get_target(profile),
            candidates=tuple(candidates) if candidates is not None else None,
            families=tuple(families) if families is not None else None,
            budget=Budget(budget_s),
            seed=seed,
            row_budget=_positive("row_budget", row_budget, whole=True),
            timing=timing or TimingConfig(),
            candidate_time_limit_s=_positive("candidate_time_limit_s", candidate_time_limit_s),
            candidate_memory_limit_mb=_positive("candidate_memory_limit_mb", candidate_memory_limit_mb),
            precision_tolerance_pp=precision_tolerance_pp,
            miss_cost=check_miss_cost(miss_cost),
            with_learning_curve=bool(with_learning_curve),
            serve_check=serve_check if isinstance(serve_check, ServeCheck) else ServeCheck() if serve_check else None,
        )

    @classmethod
    def default(cls, name: str) -> Any:
        """A field's default value (the CLI's and the app's defaults are read from here)."""
        return cls.__dataclass_fields__[name].default

    @property
    def weights(self) -> dict[str, float]:
        """The priorities in force: the user's, else the deployment target's."""
        return dict(self.priorities) if self.priorities is not None else dict(self.profile.weights)

    @property
    def limit_values(self) -> dict[str, float]:
        """The limits in force: the user's, else the deployment target's."""
        return dict(self.limits) if self.limits is not None else dict(self.profile.limits)

    def to_dict(self) -> dict[str, Any]:
        """The plan as the run saves it (plain JSON values)."""
        profile = dict(self.profile.__dict__, weights=dict(self.profile.weights), limits=dict(self.profile.limits))
        return {
            "version": PLAN_VERSION,
            "priorities": None if self.priorities is None else dict(self.priorities),
            "limits": None if self.limits is None else dict(self.limits),
            "profile": profile,
            "candidates": None if self.candidates is None else list(self.candidates),
            "families": None if self.families is None else list(self.families),
            "budget": asdict(self.budget),
            "seed": self.seed,
            "row_budget": self.row_budget,
            "timing": asdict(self.timing),
            "candidate_time_limit_s": self.candidate_time_limit_s,
            "candidate_memory_limit_mb": self.candidate_memory_limit_mb,
            "precision_tolerance_pp": self.precision_tolerance_pp,
            "miss_cost": self.miss_cost,
            "with_learning_curve": self.with_learning_curve,
            "serve_check": None if self.serve_check is None else asdict(self.serve_check),
        }

    @classmethod
    def from_saved(cls, settings: Mapping[str, Any], profile: Mapping[str, Any] | None = None) -> RunPlan:
        """The plan a run saved; a run saved before plans existed is read from its settings."""
        saved = settings.get("plan")
        if saved:
            timing = dict(saved["timing"], batch_sizes=tuple(saved["timing"]["batch_sizes"]))
            return cls(
                priorities=saved["priorities"],
                limits=saved["limits"],
                profile=TargetProfile(**saved["profile"]),
                candidates=None if saved["candidates"] is None else tuple(saved["candidates"]),
                families=None if saved["families"] is None else tuple(saved["families"]),
                budget=Budget(**saved["budget"]),
                seed=saved["seed"],
                row_budget=saved["row_budget"],
                timing=TimingConfig(**timing),
                candidate_time_limit_s=saved["candidate_time_limit_s"],
                candidate_memory_limit_mb=saved["candidate_memory_limit_mb"],
                precision_tolerance_pp=saved["precision_tolerance_pp"],
                miss_cost=saved["miss_cost"],
                with_learning_curve=saved["with_learning_curve"],
                serve_check=ServeCheck.from_saved(saved.get("serve_check")),
            )
        limits = settings.get("candidate_limits") or {}
        options = settings.get("options") or {}
        timing_saved = settings.get("timing") or {}
        known = TimingConfig.__dataclass_fields__
        timing_values = {k: v for k, v in timing_saved.items() if k in known}
        if "batch_sizes" in timing_values:
            timing_values["batch_sizes"] = tuple(timing_values["batch_sizes"])
        return cls.make(
            priorities=settings.get("priorities"),
            limits=settings.get("limits"),
            profile=TargetProfile(**profile) if profile else settings.get("profile", "cloud-cpu"),
            candidates=settings.get("candidates"),
            budget_s=settings.get("budget_s"),
            seed=settings.get("seed", 0),
            row_budget=settings.get("row_budget", DEFAULT_ROW_BUDGET),
            timing=TimingConfig(**timing_values),
            candidate_time_limit_s=limits.get("time_s", DEFAULT_CANDIDATE_TIME_S),
            candidate_memory_limit_mb=limits["memory_bytes"] / 2**20 if limits.get("memory_bytes") else None,
            precision_tolerance_pp=options.get("precision_tolerance_pp"),
            miss_cost=options.get("miss_cost"),
        )
