"""The advisor run: data in, every candidate trained and measured, one recommendation out.

Phase 1 trains the candidates one at a time; each is saved, scored on the test split, sized
and committed to the store before the next starts. Phase 2 times them all together,
interleaved (see `_timing`), on the predictors loaded back from disk: what is timed is what
a user deploys. Long work reports `ProgressEvent`s through a callback; the library never prints.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np
import pandas as pd

from advisor.candidates.catalog import CandidateSpec, Registry, TargetProfile, get_target, load_candidates
from advisor.candidates.threshold import check_miss_cost
from advisor.data.encoder import TabularEncoder
from advisor.data.load import Dataset, Split, load_dataset, split_dataset
from advisor.deploy.artifact import Artifact, load_artifact, model_members, write_artifact
from advisor.deploy.predictor import Predictor
from advisor.errors import AdvisorError, ConfigError, RunNotFound
from advisor.execute.backend import DaskBackend, LocalBackend, make_backend
from advisor.execute.isolate import Finished, Limits, WorkFailed, run_isolated, warm_up
from advisor.execute.worker import (
    FAST_PATH_CHECK_ROWS,
    CandidateOutput,
    CandidateTask,
    RunContext,
    predictor_from_files,
    train_candidate,
)
from advisor.measure import hardware
from advisor.measure.figures import StartupMeasurement
from advisor.measure.lock import timing_lock
from advisor.measure.timing import TimingConfig, measure_batches, measure_single_row, pinned_threads
from advisor.rank.pareto import parse_limits, parse_priorities
from advisor.results import CandidateResult, Run
from advisor.store import Store, new_run_id

SINGLE_ROW_INPUTS = 200
DEFAULT_ROW_BUDGET = 100_000  # training rows; above it, a stratified sample (the test split stays whole)
CURVE_FRACTIONS = (0.25, 0.5)
DEFAULT_CANDIDATE_TIME_S = 1800.0
TIMING_BASE_S = 120.0  # the timing process's time limit: this, plus the next per candidate
TIMING_PER_CANDIDATE_S = 60.0
COLD_START_TIMEOUT_S = 120


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run, for a progress display. `eta_s` is an estimate from the steps so far."""

    stage: str  # data | train | timing | startup | rank | done
    message: str
    elapsed_s: float
    candidate: str | None = None
    phase: str | None = None
    done: int = 0
    total: int = 0
    eta_s: float | None = None


class Cancelled(Exception):
    """Raised inside a run when `should_stop` says so; the run is kept as 'cancelled'."""


class _Reporter:
    def __init__(self, callback: Callable[[ProgressEvent], None] | None) -> None:
        self.callback = callback
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, stage: str, message: str, **kw: Any) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(stage=stage, message=message, elapsed_s=self.elapsed(), **kw))


def _encode_target(dataset: Dataset, y: pd.Series) -> np.ndarray:
    if dataset.is_classification:
        assert dataset.classes is not None
        index = {value: i for i, value in enumerate(dataset.classes)}
        return np.array([index[v] for v in y], dtype=np.int64)
    return y.to_numpy(dtype=np.float64)


def advise(
    data: str | os.PathLike[str] | bytes | IO[bytes] | pd.DataFrame | Dataset,
    target: str | None = None,
    *,
    name: str | None = None,
    task: str | None = None,
    primary_metric: str | None = None,
    priorities: str | Mapping[str, float] | None = None,
    limits: Iterable[str] | Mapping[str, float] | None = None,
    profile: str | TargetProfile = "cloud-cpu",
    candidates: Iterable[str] | None = None,
    families: Iterable[str] | None = None,
    budget_s: float | None = None,
    out: str | os.PathLike[str] | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    seed: int = 0,
    timing: TimingConfig | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bytes: int | None = None,
    registry: Registry | None = None,
    run_id: str | None = None,
    precision_tolerance_pp: float | None = None,
    candidate_time_limit_s: float | None = DEFAULT_CANDIDATE_TIME_S,
    candidate_memory_limit_mb: float | None = None,
    scheduler: str | None = None,
    jobs: int | None = None,
    measure_on: str | None = None,
    row_budget: int | None = DEFAULT_ROW_BUDGET,
    with_learning_curve: bool = True,
    miss_cost: float | None = None,
    _resumed: Mapping[str, Any] | None = None,
) -> Run:
    """Train and measure every candidate on `data`, then recommend one.

    Returns the `Run` (leaderboard, Pareto set, recommendation); it is also in the store and,
    with `out`, written to `out/results.json`. User mistakes raise `AdvisorError` subclasses.
    `registry` replaces the default catalog (see `load_candidates`); `run_id` lets a caller (the
    app) know the id before the run starts (see `advisor.new_run_id`); `precision_tolerance_pp`
    is how much of the primary metric (percentage points, on the validation split) the
    precision sweep may give up (default 0.5).

    Each candidate trains in its own process under `candidate_time_limit_s` and
    `candidate_memory_limit_mb` (default: 80% of this machine's memory); one that fails, hangs or
    crashes is recorded as failed with the reason and the others go on. The timing phase holds
    the machine's timing lock (see `_lock`) so that concurrent runs do not skew each other.

    `scheduler` (a Dask scheduler address, or $ADVISOR_DASK_SCHEDULER) trains the candidates on
    that cluster instead of this machine (see `_backend`); `jobs` is how many train at once here
    (default 1: on a small machine parallel training slows each candidate as much as it saves);
    `measure_on` (a worker's address) times the candidates on that worker, the hardware they will
    be deployed on, so that every candidate is compared on it.

    Above `row_budget` training rows the candidates train on a stratified sample of that many
    (the test split keeps every row), and the run says so. With `with_learning_curve`, the
    recommended candidate (or the best one trained from scratch) is trained again on 25% and 50%
    of the training rows, so the user sees whether more rows would help.

    A binary candidate predicts the positive class (the second of the sorted classes) above a
    decision threshold chosen on the validation split: the one that maximises the primary metric,
    or with `miss_cost` = N ("a missed positive costs N false alarms") the one that minimises
    N x missed positives + false alarms. The test figures use it, and so does the artifact.
    """
    miss_cost = check_miss_cost(miss_cost)
    report = _Reporter(progress)
    stop = should_stop or (lambda: False)
    timing = timing or TimingConfig()
    target_profile = get_target(profile)
    weights = parse_priorities(priorities)
    limit_values = parse_limits(limits) if limits is not None else dict(target_profile.limits)
    specs, helpers = (registry or load_candidates()).select_with_helpers(candidates, families)
    if _resumed is not None:  # a resumed run names every entry; its helpers are the ones it first recorded
        helpers = dict(_resumed.get("__helpers__") or {})
    store = store if isinstance(store, Store) else Store(store)
    phases: dict[str, float] = {}

    t0 = time.perf_counter()
    if isinstance(data, Dataset):
        dataset = data
    else:
        if target is None:
            raise AdvisorError("No target column was given; name the column to predict (--target COL).")
        dataset = load_dataset(
            data,
            target,
            name=name,
            task=task,
            primary_metric=None if primary_metric == "error_cost" else primary_metric,
            max_bytes=max_bytes,
        )
    if primary_metric == "error_cost" and miss_cost is None:
        raise ConfigError("The metric error_cost needs a miss cost; give one, e.g. --miss-cost 10.")
    if miss_cost is not None and dataset.task == "binary":
        # The user said what errors cost: that cost is the quality every candidate is ranked on.
        positive = dataset.classes[1] if dataset.classes else "class 1"
        dataset = replace(
            dataset,
            primary_metric="error_cost",
            warnings=[
                *dataset.warnings,
                f"A missed '{positive}' costs {miss_cost:g} false alarms: candidates are ranked on the cost of their "
                f"errors per row ({miss_cost:g} x missed '{positive}' + false alarms, lower is better) instead of "
                f"{dataset.primary_metric}.",
            ],
        )
    warm_up()  # the data is usable: the forkserver imports the libraries while it is split and encoded
    split = split_dataset(dataset, seed=seed)
    split, sampled = sample_training_rows(split, dataset.is_classification, row_budget, seed)
    encoder = TabularEncoder(dataset.roles).fit(split.X_train)
    phases["data_s"] = time.perf_counter() - t0

    run_id = run_id or new_run_id()
    candidate_limits = Limits(
        time_s=candidate_time_limit_s,
        memory_bytes=int(candidate_memory_limit_mb * 2**20)
        if candidate_memory_limit_mb
        else hardware.default_memory_limit_bytes(),
    )
    settings = {
        "priorities": weights if weights is not None else dict(target_profile.weights),
        "limits": limit_values,
        "profile": target_profile.key,
        "candidates": [s.key for s in specs],
        "helpers": helpers,  # trained only because a chosen entry needs them; never recommended
        "catalog": [_spec_to_dict(s) for s in specs],
        "budget_s": budget_s,
        "seed": seed,
        "row_budget": row_budget,
        "timing": asdict(timing),
        "options": _options(precision_tolerance_pp, miss_cost if dataset.task == "binary" else None),
        "candidate_limits": {"time_s": candidate_limits.time_s, "memory_bytes": candidate_limits.memory_bytes},
    }
    run = Run(
        run_id=run_id,
        created_at=time.time(),
        status="running",
        dataset=_summary(dataset, encoder, sampled, split),
        split=split.sizes(),
        hardware=hardware.describe(include_gpu="torch" in sys.modules or _wants_torch(specs)),
        settings=settings,
        candidates=[
            CandidateResult.from_dict(_resumed[s.key])
            if _resumed and s.key in _resumed
            else CandidateResult(
                s.key, s.name, s.family, parent=s.parent, compression=s.compression, description=s.description
            )
            for s in specs
        ],
        profile=target_profile,
        phases_s=phases,
        store_root=str(store.root),
    )
    backend = make_backend(candidate_limits, scheduler=scheduler, jobs=jobs)
    run.settings["backend"] = backend.describe()
    if measure_on:
        _check_worker(backend, measure_on)
    # each artifact's model files and predictor, to rewrite with the final figures
    stored: dict[str, tuple[dict[str, bytes], Predictor]] = {}
    if _resumed is None:
        store.create_run(run_id, _header(run))
        store.save_input(run_id, dataset.frame)
    else:
        run.created_at = _resumed.get("__created_at__", run.created_at)
        store.claim_run(run_id, _header(run))
        _reload_finished(run, stored)
        report("data", f"Resuming: {len(stored)} of {len(specs)} candidates were already trained and are kept")
    report("data", f"{dataset.task} task, {len(dataset.frame)} rows, primary metric {dataset.primary_metric}")
    if miss_cost is not None and dataset.task != "binary":
        report("data", f"The miss cost ({miss_cost:g}) is for binary tasks; this {dataset.task} run ignores it")
    if helpers:
        report("data", helpers_message(helpers), phase="helpers")

    try:
        predictors = _train_all(
            run,
            specs,
            dataset,
            split,
            encoder,
            store,
            report,
            stop,
            budget_s,
            phases,
            settings["options"],
            stored,
            backend,
        )
        if predictors:
            _time_all(
                run,
                predictors,
                split,
                timing,
                store,
                report,
                stop,
                budget_s,
                phases,
                candidate_limits,
                backend,
                measure_on,
            )
        run.status = "complete"
    except Cancelled:
        run.status = "cancelled"
    except BaseException as exc:  # interrupted or crashed: keep what was committed
        backend.abort()
        run.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.error = f"{type(exc).__name__}: {exc}"
        store.update_header(run_id, _header(run))
        store.finish_run(run_id, run.status, None, run.error)
        raise
    finally:
        backend.close()
    run.phases_s = phases
    report("rank", "Ranking")
    run.rank()
    if with_learning_curve and run.status == "complete" and not stop():
        t_curve = time.perf_counter()
        run.learning_curve = learning_curve(
            run, specs, dataset, split, encoder, store.work_dir(run_id), candidate_limits, report, stop
        )
        phases["learning_curve_s"] = time.perf_counter() - t_curve
    store.clear_work(run_id)
    _refresh_artifacts(run, stored)
    store.update_header(run_id, _header(run))
    store.finish_run(run_id, run.status, _ranking(run))
    if out is not None:
        run.save_json(out)
    report(
        "done",
        f"Done: {run.recommendation.key if run.recommendation else 'no recommendation'}",
        done=len(specs),
        total=len(specs),
    )
    return run


def resume(
    run_id: str,
    store: Store | str | os.PathLike[str] | None = None,
    *,
    timing: TimingConfig | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Run:
    """Finish an interrupted run (its process was killed, the machine restarted, it was cancelled).

    The candidates it committed are kept as they were (their artifacts are checked, not retrained);
    the others train now, with the run's own settings and the copy of its data kept in the store;
    then every candidate is timed together again, since timings from different sessions would not
    be comparable. A run that is still running elsewhere is refused."""
    store = store if isinstance(store, Store) else Store(store)
    previous = store.take_over(run_id)  # atomic: of two resumes at once, the second gets one sentence
    try:
        stored = store.load_run(run_id)
        frame = store.load_input(run_id)
    except BaseException:
        store.finish_run(run_id, previous, None, None)  # hand it back as it was
        raise
    header = stored["header"]
    settings = header["settings"]
    dataset = header["dataset"]
    limits = settings.get("candidate_limits") or {}
    finished = {c["key"]: c for c in stored["candidates"]}
    return advise(
        frame,
        dataset["target"],
        name=dataset.get("name"),
        task=dataset.get("task"),
        primary_metric=dataset.get("primary_metric"),
        priorities=settings.get("priorities"),
        limits=settings.get("limits"),
        profile=settings.get("profile", "cloud-cpu"),
        registry=_saved_catalog(settings),
        candidates=settings.get("candidates"),
        budget_s=settings.get("budget_s"),
        store=store,
        seed=settings.get("seed", 0),
        timing=timing or _saved_timing(settings.get("timing") or {}),
        progress=progress,
        should_stop=should_stop,
        run_id=run_id,
        precision_tolerance_pp=(settings.get("options") or {}).get("precision_tolerance_pp"),
        miss_cost=(settings.get("options") or {}).get("miss_cost"),
        candidate_time_limit_s=limits.get("time_s", DEFAULT_CANDIDATE_TIME_S),
        candidate_memory_limit_mb=limits["memory_bytes"] / 2**20 if limits.get("memory_bytes") else None,
        row_budget=settings.get("row_budget", DEFAULT_ROW_BUDGET),
        _resumed=dict(finished, __created_at__=stored["created_at"], __helpers__=settings.get("helpers") or {}),
    )


def helpers_message(helpers: Mapping[str, str]) -> str:
    """One line saying which entries are trained only as helpers, and why each one is."""
    reasons = " ".join(f"{key}: {reason}." for key, reason in helpers.items())
    return f"Trained as helpers, never recommended: {', '.join(helpers)}. {reasons}"


def _options(precision_tolerance_pp: float | None, miss_cost: float | None) -> dict[str, float]:
    """The user options every candidate's training sees (saved with the run, so `resume` reuses them)."""
    given = {"precision_tolerance_pp": precision_tolerance_pp, "miss_cost": miss_cost}
    return {name: value for name, value in given.items() if value is not None}


def _saved_timing(saved: Mapping[str, Any]) -> TimingConfig:
    known = {f for f in TimingConfig.__dataclass_fields__}
    values = {k: v for k, v in saved.items() if k in known}
    if "batch_sizes" in values:
        values["batch_sizes"] = tuple(values["batch_sizes"])
    return TimingConfig(**values)


def _saved_catalog(settings: Mapping[str, Any]) -> Registry:
    """The catalog entries a run used, as it saved them (plug-in entries included)."""
    saved = settings.get("catalog")
    if saved:
        return Registry([_spec_from_dict(entry) for entry in saved])
    catalog = load_candidates()  # a run stored before runs kept their entries
    return Registry([catalog.get(k) for k in settings.get("candidates") or []])


def _spec_to_dict(spec: CandidateSpec) -> dict[str, Any]:
    return asdict(spec) | {"params": dict(spec.params)}


def _spec_from_dict(entry: Mapping[str, Any]) -> CandidateSpec:
    return CandidateSpec(**{**entry, "requires": tuple(entry["requires"]), "uses": tuple(entry["uses"])})


def _reload_finished(run: Run, stored: dict[str, tuple[dict[str, bytes], Predictor]]) -> None:
    """A resumed run's committed candidates, back from their verified artifacts."""
    from advisor.deploy.artifact import read_verified

    for position, result in enumerate(run.candidates):
        if result.status not in ("trained", "measured"):
            continue
        try:
            files, _ = read_verified(result.artifact or "")
            predictor = predictor_from_files(files)  # the run's own store: trusted, as it wrote them
            # a store from before format 2 holds pickles: what is rewritten from here on holds none
            stored[result.key] = (model_members(files) if "model.json" in files else predictor.to_files(), predictor)
            result.status = "trained"  # timed again with the others
        except Exception as exc:
            fresh = CandidateResult(
                result.key,
                result.name,
                result.family,
                parent=result.parent,
                compression=result.compression,
                description=result.description,
            )
            fresh.notes.append(f"trained again on resume: its artifact could not be used ({type(exc).__name__})")
            run.candidates[position] = fresh


def _summary(dataset: Dataset, encoder: TabularEncoder, sampled: dict[str, int] | None, split: Split) -> dict[str, Any]:
    summary = dataset.summary() | {"features_encoded": encoder.n_features_out_}
    if sampled:
        summary["sampled"] = sampled
        summary["warnings"] = [
            *summary.get("warnings", []),
            f"The candidates trained on a stratified sample of {len(split.X_train):,} of the "
            f"{sampled['train_rows']:,} training rows (the row budget; raise it with --row-budget); the test split "
            f"keeps all {len(split.X_test):,} rows, so every quality figure uses every held-out row. The learning "
            "curve shows whether more rows would help.",
        ]
    return summary


def _sample_positions(y: pd.Series, n: int, seed: int, stratify: bool) -> np.ndarray:
    """`n` row positions of `y`, stratified by class where every class has two rows or more."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    if n >= len(y):
        return positions
    labels = y.to_numpy() if stratify and y.value_counts().min() >= 2 else None
    try:
        keep, _ = train_test_split(positions, train_size=n, stratify=labels, random_state=seed)
    except ValueError:  # a class too small for the sample size: plain random rows
        keep, _ = train_test_split(positions, train_size=n, random_state=seed)
    return np.sort(keep)


def sample_training_rows(
    split: Split, classification: bool, budget: int | None, seed: int
) -> tuple[Split, dict[str, int] | None]:
    """The split with at most `budget` training (and validation) rows, drawn stratified by class.

    The test split is never sampled: every quality figure is measured on all held-out rows."""
    if budget is None or len(split.X_train) <= budget:
        return split, None
    train = _sample_positions(split.y_train, budget, seed, classification)
    val = _sample_positions(split.y_val, budget, seed, classification)
    sampled = replace(
        split,
        X_train=split.X_train.iloc[train],
        y_train=split.y_train.iloc[train],
        X_val=split.X_val.iloc[val],
        y_val=split.y_val.iloc[val],
    )
    return sampled, {"train_rows": len(split.X_train), "validation_rows": len(split.X_val), "budget": budget}


def learning_curve(
    run: Run,
    specs: list[CandidateSpec],
    dataset: Dataset,
    split: Split,
    encoder: TabularEncoder,
    work: Path,
    limits: Limits,
    report: _Reporter,
    stop: Callable[[], bool],
) -> dict[str, Any] | None:
    """Test quality of one candidate trained on 25%, 50% and 100% of the training rows.

    The candidate is the recommended one when it trains from scratch (a compressed or distilled
    one depends on others), else the best such candidate; never a helper (see
    `Registry.select_with_helpers`). Each point trains isolated like any candidate, on a
    stratified subset, and is scored on the whole test split."""
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
    for fraction in CURVE_FRACTIONS:
        rows = max(int(n * fraction), 10)
        if stop() or rows >= n:
            return None
        report("curve", f"Learning curve: {spec.name} on {fraction:.0%} of the training rows ({rows:,})", phase="curve")
        keep = _sample_positions(split.y_train, rows, split.seed, dataset.is_classification)
        subset = replace(split, X_train=split.X_train.iloc[keep], y_train=split.y_train.iloc[keep])
        path = work / f"curve-{fraction}.joblib"
        joblib.dump(_run_context(dataset, subset, encoder), path)
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
            "(and at least 0.002)."
        ),
    }


def _curve_point(fraction: float, rows: int, quality: Any) -> dict[str, Any]:
    return {
        "fraction": fraction,
        "rows": rows,
        "primary": quality.primary_value,
        "ci95": [quality.primary_ci95_low, quality.primary_ci95_high],
    }


def _wants_torch(specs: Iterable[CandidateSpec]) -> bool:
    return any("torch" in s.requires for s in specs)


def _header(run: Run) -> dict[str, Any]:
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


def _ranking(run: Run) -> dict[str, Any]:
    rec = run.recommendation
    assert rec is not None
    return {"key": rec.key, "reason": rec.reason, "pareto": list(rec.pareto)}


def _train_all(
    run: Run,
    specs: list[CandidateSpec],
    dataset: Dataset,
    split: Split,
    encoder: TabularEncoder,
    store: Store,
    report: _Reporter,
    stop: Callable[[], bool],
    budget_s: float | None,
    phases: dict[str, float],
    options: Mapping[str, Any],
    stored: dict[str, tuple[dict[str, bytes], Predictor]],
    backend: LocalBackend | DaskBackend,
) -> dict[str, Artifact]:
    """Every candidate through the backend (isolated child processes here, or a Dask cluster),
    each started once what it derives from is trained, in catalog order, as many at once as the
    backend has slots. Results are committed one at a time, as they arrive. Candidates already in
    `stored` (a resumed run) are not trained again."""
    t_phase = time.perf_counter()
    device = "cpu"
    if _wants_torch(specs):
        from advisor.measure.hardware import cuda_device

        device = "cuda" if cuda_device() else "cpu"
    work = store.work_dir(run.run_id)
    context_path = work / "context.joblib"
    joblib.dump(_run_context(dataset, split, encoder), context_path)
    backend.prepare(str(context_path))
    first_record = split.X_test.iloc[0].to_dict()
    artifacts = store.artifact_dir(run.run_id)
    predictors: dict[str, Artifact] = {}  # loaded back from disk: what is timed is what is deployed
    for key in stored:
        predictors[key] = load_artifact(run.candidate(key).artifact or "", trust=True)  # its own store
    specs_by_key = {s.key: s for s in specs}
    position = {s.key: i for i, s in enumerate(specs)}
    total = len(specs)
    threads = max(1, hardware.usable_cpus() // backend.slots) if backend.name == "local" else 1
    waiting = [s for s in specs if s.key not in stored and run.candidates[position[s.key]].status == "pending"]
    running: dict[Any, CandidateSpec] = {}

    def settle(spec: CandidateSpec, result: CandidateResult) -> None:
        store.save_candidate(run.run_id, spec.key, position[spec.key], result.status, result.to_dict())
        finished = sum(c.status not in ("pending", "running") for c in run.candidates)
        report(
            "train",
            f"{spec.name}: {result.status}",
            candidate=spec.key,
            phase=result.status,
            done=finished,
            total=total,
        )

    try:
        while waiting or running:
            if stop():
                raise Cancelled()
            waiting_before = len(waiting)
            for spec in list(waiting):  # those that can no longer train, in catalog order
                result = run.candidates[position[spec.key]]
                missing = spec.missing_requirements()
                lost = [k for k in spec.depends_on if run.candidate(k).status in ("failed", "skipped")]
                if missing or lost:
                    waiting.remove(spec)
                    result.status = "failed" if missing else "skipped"
                    result.error = (
                        f"needs the package '{missing[0]}', which is not installed: pip install -r requirements.txt"
                        if missing
                        else f"needs '{lost[0]}', which was not trained in this run ({run.candidate(lost[0]).status})"
                    )
                    settle(spec, result)
            for spec in list(waiting):  # start what is ready, while the backend has room
                if len(running) >= backend.slots:
                    break
                if not all(k in stored for k in spec.depends_on):
                    continue
                waiting.remove(spec)
                result = run.candidates[position[spec.key]]
                elapsed = report.elapsed()
                if budget_s is not None and elapsed > 0.6 * budget_s and spec.family != "baseline":
                    result.status = "skipped"
                    result.error = None
                    result.notes.append(
                        f"skipped: {elapsed:.0f} s of the {budget_s:.0f} s time budget were spent before it started"
                    )
                    settle(spec, result)
                    continue
                finished = sum(c.status not in ("pending", "running") for c in run.candidates)
                eta = elapsed / finished * (total - finished) if finished else None
                report(
                    "train",
                    f"Training {spec.name}",
                    candidate=spec.key,
                    phase="training",
                    done=finished,
                    total=total,
                    eta_s=eta,
                )

                def epoch_report(message: str, key: str = spec.key) -> None:
                    report("train", message, candidate=key, phase="epoch", total=total)

                task = CandidateTask(
                    spec=spec,
                    specs=specs_by_key,
                    context=str(context_path),
                    dependencies={k: stored[k][0] for k in spec.depends_on},
                    device=device if "torch" in spec.requires else "cpu",
                    threads=threads,
                    options=dict(options),
                    cache_dir=str(work / "cache"),
                )
                result.status = "running"
                running[backend.submit(task, epoch_report, stop)] = spec
            if not running:
                if waiting and len(waiting) == waiting_before:  # a valid catalog never gets here; never spin
                    raise RuntimeError(f"no candidate can start: {[s.key for s in waiting]}")
                continue
            for handle in backend.wait_any(list(running)):
                spec = running.pop(handle)
                result = run.candidates[position[spec.key]]
                try:
                    finished_work = backend.outcome(handle)
                    _accept(run, spec, result, finished_work, artifacts, first_record, stored, predictors)
                except WorkFailed as failure:
                    if failure.kind == "stopped":
                        raise Cancelled() from None
                    result.status = "failed"
                    result.error = failure.reason[:500]
                    result.train_peak_rss_bytes = failure.peak_rss_bytes
                    if failure.detail:
                        result.notes.append("traceback: " + failure.detail[-1500:])
                except Exception as exc:  # saving or loading it failed: recorded with its reason, the run goes on
                    result.status = "failed"
                    result.error = f"{type(exc).__name__}: {exc}".strip()[:500]
                    result.notes.append("traceback: " + traceback.format_exc(limit=3)[-1500:])
                settle(spec, result)
    finally:
        for handle, spec in running.items():
            backend.cancel(handle)
            run.candidates[position[spec.key]].status = "pending"
    phases["train_s"] = time.perf_counter() - t_phase
    return predictors


def _accept(
    run: Run,
    spec: CandidateSpec,
    result: CandidateResult,
    finished: Finished,
    artifacts: Path,
    first_record: dict[str, Any],
    stored: dict[str, tuple[dict[str, bytes], Predictor]],
    predictors: dict[str, Artifact],
) -> None:
    """A trained candidate's figures into its result; its artifact written and loaded back."""
    output: CandidateOutput = finished.value
    saved_at = time.perf_counter()
    result.train_s = output.train_s
    result.wall_s["train"] = output.train_s
    result.wall_s["isolated_process"] = finished.wall_s
    result.train_peak_rss_bytes = finished.peak_rss_bytes
    result.worker = output.worker
    result.notes.extend(output.notes)
    if output.sweep_choice:
        result.compression = f"sweep:{output.sweep_choice}"
    result.train_device = output.train_device
    result.runtime = output.runtime
    result.quality = output.quality
    result.size = output.size
    predictor = predictor_from_files(output.model_files)
    path = artifacts / f"{spec.key}.zip"
    write_artifact(path, output.model_files, predictor, _artifact_metrics(run, result))
    result.artifact = str(path)
    loaded, load_ms, first_ms = _load_warm(path, first_record)
    result.startup = _warm_startup(load_ms, first_ms)
    result.status = "trained"
    result.wall_s["save_load"] = time.perf_counter() - saved_at
    stored[spec.key] = (output.model_files, predictor)
    predictors[spec.key] = loaded


def _run_context(dataset: Dataset, split: Split, encoder: TabularEncoder) -> RunContext:
    return RunContext(
        task=dataset.task,
        n_classes=len(dataset.classes) if dataset.classes else 0,
        class_weighting=dataset.class_weighting,
        seed=split.seed,
        primary_metric=dataset.primary_metric,
        target=dataset.target,
        classes=dataset.classes,
        encoder=encoder,
        X_train=encoder.transform(split.X_train),
        y_train=_encode_target(dataset, split.y_train),
        X_val=encoder.transform(split.X_val),
        y_val=_encode_target(dataset, split.y_val),
        X_test=encoder.transform(split.X_test),
        y_test=_encode_target(dataset, split.y_test),
        check_rows=split.X_test.head(FAST_PATH_CHECK_ROWS),
    )


def _warm_startup(load_ms: float, first_ms: float) -> StartupMeasurement:
    return StartupMeasurement(
        load_ms=load_ms,
        first_row_ms=first_ms,
        cold_start_ms=None,
        cold_import_ms=None,
        cold_load_ms=None,
        cold_first_row_ms=None,
        load_rss_bytes=None,
        peak_predict_bytes=None,
        peak_batch_rows=None,
        method=(
            "load_ms: load_artifact (SHA-256 check of every file, then the model rebuilt) plus the first "
            "prediction of one row, in this process with its libraries already imported (median of 3; "
            "file in the page cache)"
        ),
    )


def _load_warm(path: Path, record: dict[str, Any]) -> tuple[Artifact, float, float]:
    loads, firsts = [], []
    artifact = None
    for _ in range(3):
        start = time.perf_counter()
        artifact = load_artifact(path, trust=True)  # written by this run
        loaded = time.perf_counter()
        artifact.predict(record)
        loads.append(loaded - start)
        firsts.append(time.perf_counter() - loaded)
    assert artifact is not None
    return artifact, float(np.median(loads) * 1e3), float(np.median(firsts) * 1e3)


def _artifact_metrics(run: Run, result: CandidateResult) -> dict[str, Any]:
    """What an artifact says about itself: its measurements and where they come from."""
    return {
        "run": {
            "run_id": run.run_id,
            "dataset": run.dataset,
            "split": run.split,
            "hardware": run.hardware,
            "profile": run.profile.key,
            "primary_metric": run.primary_metric,
        },
        "candidate": result.to_dict(),
    }


def _refresh_artifacts(run: Run, stored: Mapping[str, tuple[dict[str, bytes], Predictor]]) -> None:
    """Rewrite each artifact with its final measurements (the model's bytes do not change)."""
    for key, (model_files, predictor) in stored.items():
        result = run.candidate(key)
        if result.artifact:
            write_artifact(result.artifact, model_files, predictor, _artifact_metrics(run, result))


@dataclass
class TimingTask:
    """What the timing child needs: the artifacts on disk and the rows to time them on."""

    artifacts: dict[str, str]
    records: list[dict[str, Any]]
    batches: dict[int, pd.DataFrame]
    config: TimingConfig
    cpus: int
    gpu: str | None


@dataclass
class TimedFigures:
    latency: Any = None
    batches: dict[int, Any] = field(default_factory=dict)
    batches_multithread: dict[int, Any] = field(default_factory=dict)
    gpu_latency: Any = None
    gpu_batches: dict[int, Any] = field(default_factory=dict)
    gpu_note: str | None = None


def measure_candidates(task: TimingTask, report: Callable[[str], None]) -> dict[str, TimedFigures]:
    """The timing phase, run in its own process: every artifact loaded from disk (what is timed is
    what a user deploys), then interleaved by the one timer (see `_timing`)."""
    predictors = {key: load_artifact(path, trust=True) for key, path in task.artifacts.items()}  # this run's
    keys = list(predictors)
    calls = {k: predictors[k].predict for k in keys}
    setters = [p.set_threads for p in predictors.values()]
    config = task.config
    sizes = sorted(task.batches)
    report(f"latency\tTiming one row at a time: {len(keys)} candidates interleaved")
    with pinned_threads(config.threads, setters):
        latency = measure_single_row(calls, task.records, config)
        report(f"batches\tTiming batches of {', '.join(map(str, sizes))} rows")
        single = measure_batches(calls, task.batches, config, threads=config.threads)
    multi: dict[str, dict[int, Any]] = {k: {} for k in keys}
    if config.multithread_batches and task.cpus > 1:
        largest = sizes[-1]
        report(f"batches-multithread\tTiming batches of {largest} rows on {task.cpus} threads")
        with pinned_threads(task.cpus, setters):
            multi = measure_batches(calls, {largest: task.batches[largest]}, config, threads=task.cpus)
    out = {k: TimedFigures(latency.get(k), single.get(k, {}), multi.get(k, {})) for k in keys}
    if task.gpu:
        report(f"gpu\tTiming the neural candidates on the GPU ({task.gpu})")
        on_gpu = time_on_device(predictors, task.records, task.batches, config, "cuda", task.gpu)
        for key, (gpu_latency, gpu_batches, note) in on_gpu.items():
            out[key].gpu_latency, out[key].gpu_batches, out[key].gpu_note = gpu_latency, gpu_batches, note
    return out


def _time_all(
    run: Run,
    predictors: dict[str, Artifact],
    split: Split,
    config: TimingConfig,
    store: Store,
    report: _Reporter,
    stop: Callable[[], bool],
    budget_s: float | None,
    phases: dict[str, float],
    limits: Limits,
    backend: LocalBackend | DaskBackend | None = None,
    measure_on: str | None = None,
) -> None:
    """Time every trained candidate in one child process while holding the machine's timing lock;
    then their cold starts. If that process fails, each candidate is timed alone, so the one that
    breaks is named and the others still get figures. With `measure_on` (a Dask worker's address)
    the same timing runs on that worker instead, under that machine's lock."""
    keys = list(predictors)
    n_test = len(split.X_test)
    sizes = sorted({min(b, n_test) for b in config.batch_sizes})
    records = split.X_test.head(SINGLE_ROW_INPUTS).to_dict(orient="records")
    batches = {b: split.X_test.iloc[:b] for b in sizes}
    task = TimingTask(
        artifacts={k: run.candidate(k).artifact or "" for k in keys},
        records=records,
        batches=batches,
        config=config,
        cpus=hardware.usable_cpus(),
        gpu=run.hardware.get("gpu"),
    )
    timing_limits = Limits(time_s=TIMING_BASE_S + TIMING_PER_CANDIDATE_S * len(keys), memory_bytes=limits.memory_bytes)
    if measure_on:
        _time_on_worker(run, task, timing_limits, backend, measure_on, report, phases)
        for key in keys:
            result = run.candidate(key)
            store.save_candidate(run.run_id, key, _position(run, key), result.status, result.to_dict())
        return
    here = hardware.describe(include_gpu=False)
    measured_on = {
        "where": "the machine running the advisor",
        "host": socket.gethostname(),
        "cpu": here.get("cpu_model"),
        "usable_cpus": here.get("usable_cpus"),
    }

    def on_wait(waited: float, holder: dict[str, Any] | None) -> None:
        other = f"run {holder['run_id'][:8]}" if holder and holder.get("run_id") else "another run"
        report(
            "waiting",
            f"Waiting for the timing lock: {other} is timing its candidates on this machine, and timing two runs "
            f"at once would skew both ({waited:.0f} s so far)",
            phase="waiting",
        )

    def on_message(text: str) -> None:
        phase, _, message = text.partition("\t")
        report("timing", message, phase=phase, total=len(keys))

    try:
        lock = timing_lock(run.run_id, on_wait=on_wait, should_stop=stop)
        waited = lock.__enter__()
    except InterruptedError:
        raise Cancelled() from None
    try:
        t_phase = time.perf_counter()
        window = [time.time()]
        if waited >= 1:
            phases["timing_lock_wait_s"] = waited
            for key in keys:
                run.candidate(key).notes.append(
                    f"timing waited {waited:.0f} s for another run on this machine to finish its timing phase"
                )
        try:
            figures = run_isolated(measure_candidates, task, timing_limits, on_message, stop).value
        except WorkFailed as failure:
            if failure.kind == "stopped":
                raise Cancelled() from None
            figures = _time_one_by_one(run, task, timing_limits, failure, report, stop)
        phases["timing_s"] = time.perf_counter() - t_phase
        for key in keys:
            if key in figures:
                _apply_figures(run.candidate(key), figures[key], measured_on)
        t_start = time.perf_counter()
        timed = [k for k in keys if k in figures]
        _cold_starts(run, timed, records[0], batches[sizes[-1]], config, report, stop, budget_s)
        window.append(time.time())
        phases["timing_window"] = window  # wall-clock start and end of the locked phase (for the lock's test)
        phases["startup_s"] = time.perf_counter() - t_start
    finally:
        lock.__exit__(None, None, None)
    for key in keys:
        result = run.candidate(key)
        store.save_candidate(run.run_id, key, _position(run, key), result.status, result.to_dict())


def _check_worker(backend: LocalBackend | DaskBackend, address: str) -> None:
    if not isinstance(backend, DaskBackend):
        backend.close()
        raise AdvisorError("--measure-on names a Dask worker; give the cluster's scheduler with --scheduler too.")
    known = backend.workers()
    if address not in known:
        backend.close()
        raise AdvisorError(
            f"Worker '{address}' is not in the cluster; its workers are: {', '.join(sorted(known)) or 'none'}."
        )


def _time_on_worker(
    run: Run,
    task: TimingTask,
    limits: Limits,
    backend: LocalBackend | DaskBackend | None,
    address: str,
    report: _Reporter,
    phases: dict[str, float],
) -> None:
    """The timing phase on one designated Dask worker: the hardware the model will be deployed on."""
    assert isinstance(backend, DaskBackend)
    known = backend.workers()
    report("timing", f"Timing every candidate on worker {address} ({known[address].get('cpu')})", phase="latency")
    shipped = TimingTask(
        artifacts={k: Path(path).read_bytes() for k, path in task.artifacts.items()},  # type: ignore[misc]
        records=task.records,
        batches=task.batches,
        config=task.config,
        cpus=0,  # the worker's own count
        gpu=None,
    )
    t_phase = time.perf_counter()
    window = [time.time()]
    future = backend.client.submit(
        measure_on_worker, shipped, limits, run.run_id, workers=[address], allow_other_workers=False, pure=False
    )
    try:
        figures, where = future.result(timeout=limits.time_s)
    except Exception as exc:  # the worker failed or timed out: the candidates stay trained, and say so
        future.cancel()
        for key in task.artifacts:
            run.candidate(key).notes.append(
                f"not timed: timing on worker {address} failed ({type(exc).__name__}: {exc})"
            )
        return
    window.append(time.time())
    phases["timing_s"] = time.perf_counter() - t_phase
    phases["timing_window"] = window
    where = dict(where, where=f"Dask worker {address} (chosen with --measure-on)")
    for key, own in figures.items():
        result = run.candidate(key)
        _apply_figures(result, own, where)
        result.notes.append(
            f"timed on worker {address} ({where.get('host')}, {where.get('cpu')}); cold start is measured only on "
            "the machine running the advisor, so it is not shown: run 'python -m advisor measure' on that machine"
        )


def _apply_figures(result: CandidateResult, own: TimedFigures, measured_on: dict[str, Any]) -> None:
    result.latency, result.batches = own.latency, own.batches
    result.batches_multithread = own.batches_multithread
    result.gpu_latency, result.gpu_batches = own.gpu_latency, own.gpu_batches
    if own.gpu_note:
        result.notes.append(own.gpu_note)
    result.measured_on = measured_on
    result.status = "measured" if result.latency and result.batches else "trained"


def measure_on_worker(task: TimingTask, limits: Limits, run_id: str) -> tuple[dict[str, TimedFigures], dict[str, Any]]:
    """On a Dask worker: the artifacts written to a scratch folder, then timed under that machine's lock."""
    import multiprocessing

    from advisor.execute.worker import worker_description

    with tempfile.TemporaryDirectory(prefix="advisor-timing-") as folder:
        paths = {}
        for key, data in task.artifacts.items():
            paths[key] = str(Path(folder) / f"{key}.zip")
            Path(paths[key]).write_bytes(data)  # type: ignore[arg-type]
        local = replace(task, artifacts=paths, cpus=hardware.usable_cpus())
        with timing_lock(run_id):
            if multiprocessing.current_process().daemon:  # Dask's default: no child processes allowed
                figures = measure_candidates(local, lambda message: None)
            else:
                figures = run_isolated(measure_candidates, local, limits).value
    return figures, worker_description()


def _time_one_by_one(
    run: Run,
    task: TimingTask,
    limits: Limits,
    failure: WorkFailed,
    report: _Reporter,
    stop: Callable[[], bool],
) -> dict[str, TimedFigures]:
    figures: dict[str, TimedFigures] = {}
    alone = Limits(time_s=TIMING_BASE_S + TIMING_PER_CANDIDATE_S, memory_bytes=limits.memory_bytes)
    for done, (key, path) in enumerate(task.artifacts.items()):
        report("timing", f"Timing {key} alone", candidate=key, phase="latency", done=done, total=len(task.artifacts))
        result = run.candidate(key)
        try:
            own = replace(task, artifacts={key: path})
            figures.update(run_isolated(measure_candidates, own, alone, should_stop=stop).value)
            result.notes.append(
                f"timed alone, not interleaved with the others: the shared timing process failed ({failure.reason})"
            )
        except WorkFailed as own_failure:
            if own_failure.kind == "stopped":
                raise Cancelled() from None
            result.status = "failed"
            result.error = f"timing failed: {own_failure.reason}"[:500]
            if own_failure.detail:
                result.notes.append("traceback: " + own_failure.detail[-1500:])
    return figures


def _cold_starts(
    run: Run,
    keys: list[str],
    first: dict[str, Any],
    batch: pd.DataFrame,
    config: TimingConfig,
    report: _Reporter,
    stop: Callable[[], bool],
    budget_s: float | None,
) -> None:
    over_budget = budget_s is not None and report.elapsed() > budget_s
    if over_budget:
        for key in keys:
            run.candidate(key).notes.append("cold start not measured: the time budget was spent")
        return
    if not config.cold_start or stop():
        return
    handle = tempfile.NamedTemporaryFile(suffix=".joblib", delete=False)
    handle.close()
    try:
        joblib.dump({"first": first, "batch": batch}, handle.name)
        groups: dict[str, list[CandidateResult]] = {}
        for key in keys:
            groups.setdefault(run.candidate(key).runtime or "", []).append(run.candidate(key))
        for done, (runtime, members) in enumerate(groups.items()):
            report(
                "startup",
                f"Cold start of the {runtime} candidates in a fresh process",
                phase="cold-start",
                done=done,
                total=len(groups),
            )
            cold_at = time.perf_counter()
            _cold_start(runtime, members, handle.name)
            for result in members:
                result.wall_s["cold_start_group"] = time.perf_counter() - cold_at
    finally:
        os.unlink(handle.name)


def time_on_device(
    predictors: Mapping[str, Artifact | Predictor],
    records: list[dict[str, Any]],
    batches: Mapping[int, pd.DataFrame],
    config: TimingConfig,
    device: str,
    device_name: str,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, tuple[Any, dict[int, Any], str | None]]:
    """The torch candidates again with their network on `device`, by the same timer and protocol.

    Preprocessing stays on the CPU (1 thread); each call copies the encoded rows to the device and
    the answer back, as a deployment would. Candidates torch cannot move (int8) get a note instead.
    """
    moved: dict[str, Predictor] = {}
    out: dict[str, tuple[Any, dict[int, Any], str | None]] = {}
    for key, loaded in predictors.items():
        predictor = loaded.predictor if isinstance(loaded, Artifact) else loaded
        if not hasattr(predictor.model, "on_device"):
            continue
        try:
            model = predictor.model.on_device(device)
        except ValueError as exc:
            out[key] = (None, {}, f"not measured on {device_name}: {exc}")
            continue
        moved[key] = Predictor(
            predictor.encoder,
            model,
            predictor.task,
            predictor.target,
            None if predictor.classes is None else list(predictor.classes),
            key,
            predictor.name,
        )
        moved[key].fast_single_row = predictor.fast_single_row  # the record encoder; the network on the device
    if not moved:
        return out
    calls = {k: p.predict for k, p in moved.items()}
    label = f"on {device_name}: network on the device, preprocessing on the CPU, rows copied over and back"
    with pinned_threads(config.threads, [p.set_threads for p in moved.values()]):
        latency = measure_single_row(calls, records, config, input_form=f"one dict ({label})", should_stop=stop)
        per_batch = measure_batches(calls, batches, config, threads=config.threads, should_stop=stop)
    for key in moved:
        figures = {b: replace(m, method=f"{label}; {m.method}") for b, m in per_batch.get(key, {}).items()}
        out[key] = (latency.get(key), figures, None)
    return out


def _position(run: Run, key: str) -> int:
    return [c.key for c in run.candidates].index(key)


def _cold_start(runtime: str, results: list[CandidateResult], rows_file: str) -> None:
    """Fill each result's start-up figures from one fresh process per runtime (see `_coldstart`)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    project_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = project_root + os.pathsep + env.get("PYTHONPATH", "")
    artifacts = [r.artifact for r in results if r.artifact]
    command = [sys.executable, "-m", "advisor.measure.coldstart", rows_file, repr(time.time()), runtime, *artifacts]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=COLD_START_TIMEOUT_S, check=True
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        for result in results:
            result.notes.append(f"cold start not measured: {type(exc).__name__}")
        return
    import_ms = figures["import_s"] * 1e3
    for position, (result, own) in enumerate(zip(results, figures["artifacts"], strict=True)):
        assert result.startup is not None
        peak_method = (
            "peak_predict_bytes: the larger of the peak-RSS rise (VmHWM reset through /proc/self/clear_refs) "
            "and Python's tracemalloc peak while predicting the batch"
            if own["peak_rss_reset"]
            else "peak_predict_bytes: tracemalloc peak while predicting the batch (numpy and Python allocations "
            "only; the kernel's peak-RSS mark could not be reset here)"
        )
        result.startup = replace(
            result.startup,
            cold_start_ms=import_ms + (own["load_s"] + own["first_row_s"]) * 1e3,
            cold_import_ms=import_ms,
            cold_load_ms=own["load_s"] * 1e3,
            cold_first_row_ms=own["first_row_s"] * 1e3,
            load_rss_bytes=own["load_rss_bytes"],
            peak_predict_bytes=own["peak_predict_bytes"],
            peak_batch_rows=own["batch_rows"],
            method=(
                result.startup.method + "; cold_start_ms: a fresh Python process (1 thread): interpreter start and "
                f"imports for the {runtime} runtime (cold_import_ms, timed once per runtime from spawn), plus "
                "this artifact's own load_artifact (digest check and model rebuilt: cold_load_ms) and first row "
                "(cold_first_row_ms) in that "
                f"process ({'the first' if position == 0 else f'number {position + 1}'} of {len(results)} "
                "loaded there; the first also pays one-time library initialisation); load_rss_bytes: resident "
                f"memory the load added; {peak_method} of {own['batch_rows']} rows"
            ),
        )


def open_run(
    run: str | os.PathLike[str], store: Store | str | os.PathLike[str] | None = None, files: bool = True
) -> Run:
    """Reopen a run: a run id from the store, or (with `files`) an --out folder or a results.json.

    A link (the app's `?run=`) must pass `files=False`: an id then never names anything outside
    the store."""
    path = Path(run)
    if files and path.is_dir() and (path / "results.json").is_file():
        path = path / "results.json"
    if files and path.is_file():
        try:
            return Run.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise RunNotFound(
                f"'{path}' is not a results.json the advisor wrote; give a run id, an --out folder or its results.json."
            ) from None
    store = store if isinstance(store, Store) else Store(store)
    stored = store.load_run(str(run))
    header = dict(stored["header"], created_at=stored["created_at"], error=stored["error"])
    committed = {c["key"]: CandidateResult.from_dict(c) for c in stored["candidates"]}
    planned = header.get("settings", {}).get("catalog") or []
    candidates = [  # the run's candidates in order; those not committed yet (or never: a killed run) are pending
        committed.pop(e["key"], None)
        or CandidateResult(
            e["key"],
            e["name"],
            e["family"],
            parent=e.get("parent"),
            compression=e.get("compression"),
            description=e.get("description", ""),
        )
        for e in planned
    ] + list(committed.values())
    return Run.from_header(header, candidates, stored["run_id"], stored["status"], str(store.root))
