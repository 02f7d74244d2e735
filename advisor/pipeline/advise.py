"""The advisor run: data in, every candidate trained and measured, one recommendation out.

`advise` reads top-down as the run goes: the data is loaded and prepared (`prepare`), the run
is opened in the store with its settings (`settings`), phase 1 trains the candidates one at a
time, each saved, scored on the test split, sized and committed before the next starts
(`train`); phase 2 times them all together, interleaved, on the predictors loaded back from disk,
then their cold starts (`timing_phase`, `startup`); then the ranking, the optional serving check
of the Pareto front over HTTP (`serving`), and the learning curve (`curve`). `resume` finishes an
interrupted run; `open_run` reopens one. Long work reports `ProgressEvent`s through a callback;
the library never prints.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO, Any

import pandas as pd

from advisor.candidates.catalog import Registry, TargetProfile, load_candidates
from advisor.data.encoder import TabularEncoder
from advisor.data.inspect import Dataset
from advisor.data.split import split_dataset
from advisor.errors import RunNotFound
from advisor.execute.backend import make_backend
from advisor.execute.isolate import Limits, warm_up
from advisor.measure import hardware
from advisor.measure.timing import TimingConfig
from advisor.pipeline.curve import learning_curve
from advisor.pipeline.plan import DEFAULT_CANDIDATE_TIME_S, RunPlan, ServeCheck
from advisor.pipeline.prepare import DEFAULT_ROW_BUDGET, dataset_summary, prepare_dataset, sample_training_rows
from advisor.pipeline.progress import Cancelled, ProgressEvent, Reporter
from advisor.pipeline.serving import check_serving, expected_seconds
from advisor.pipeline.session import Session
from advisor.pipeline.settings import (
    ranking_record,
    run_header,
    saved_catalog,
    spec_to_dict,
    user_options,
)
from advisor.pipeline.timing_phase import check_worker, time_all
from advisor.pipeline.train import pending_result, refresh_artifacts, reload_finished, train_all, wants_torch
from advisor.present.explain import helpers_message
from advisor.results import CandidateResult, Run
from advisor.store import Store, new_run_id


def advise(
    data: str | os.PathLike[str] | bytes | IO[bytes] | pd.DataFrame | Dataset,
    target: str | None = None,
    *,
    plan: RunPlan | None = None,
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
    serve_check: bool | ServeCheck = False,
    _resumed: Mapping[str, Any] | None = None,
) -> Run:
    """Train and measure every candidate on `data`, then recommend one.

    Returns the `Run` (leaderboard, Pareto set, recommendation); it is also in the store and,
    with `out`, written to `out/results.json`. What to train and how to judge it is a `RunPlan`:
    give one as `plan`, or its values as the keywords below (`RunPlan.make` checks them; with
    `plan`, those keywords are not used). User mistakes raise `AdvisorError` subclasses.
    `registry` replaces the default catalog (see `load_candidates`); `run_id` lets a caller (the
    app) know the id before the run starts (see `advisor.new_run_id`); `precision_tolerance_pp`
    is how much of the primary metric (percentage points, on the validation split) the
    precision sweep may give up (default 0.5).

    Each candidate trains in its own process under `candidate_time_limit_s` and
    `candidate_memory_limit_mb` (default: 80% of this machine's memory); one that fails, hangs or
    crashes is recorded as failed with the reason and the others go on. The timing phase holds
    the machine's timing lock (see `advisor.measure.lock`) so that concurrent runs do not skew each other.

    `scheduler` (a Dask scheduler address, or $ADVISOR_DASK_SCHEDULER) trains the candidates on
    that cluster instead of this machine (see `advisor.execute.backend`); `jobs` is how many train at once here
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

    With `serve_check` (True, or a `ServeCheck` with its own windows), the candidates on the Pareto
    front are then served over HTTP from their artifacts, one worker each, and loaded to the highest
    request rate within the p99 bound (see `advisor.pipeline.serving`); it takes about 45 s
    per candidate.
    """
    plan = plan or RunPlan.make(
        priorities=priorities,
        limits=limits,
        profile=profile,
        candidates=candidates,
        families=families,
        budget_s=budget_s,
        seed=seed,
        row_budget=row_budget,
        timing=timing,
        candidate_time_limit_s=candidate_time_limit_s,
        candidate_memory_limit_mb=candidate_memory_limit_mb,
        precision_tolerance_pp=precision_tolerance_pp,
        miss_cost=miss_cost,
        with_learning_curve=with_learning_curve,
        serve_check=serve_check,
    )
    miss_cost = plan.miss_cost
    report = Reporter(progress)
    report.forecast.expect("serving", expected_seconds(plan.serve_check))
    stop = should_stop or (lambda: False)
    specs, helpers = (registry or load_candidates()).select_with_helpers(plan.candidates, plan.families)
    if _resumed is not None:  # a resumed run names every entry; its helpers are the ones it first recorded
        helpers = dict(_resumed.get("__helpers__") or {})
    store = store if isinstance(store, Store) else Store(store)
    phases: dict[str, float] = {}

    t0 = time.perf_counter()
    dataset = prepare_dataset(
        data,
        target,
        name=name,
        task=task,
        primary_metric=primary_metric,
        max_bytes=max_bytes,
        miss_cost=miss_cost,
    )
    warm_up()  # the data is usable: the forkserver imports the libraries while it is split and encoded
    split = split_dataset(dataset, seed=plan.seed)
    split, sampled = sample_training_rows(split, dataset.is_classification, plan.row_budget, plan.seed)
    encoder = TabularEncoder(dataset.roles).fit(split.X_train)
    phases["data_s"] = time.perf_counter() - t0

    run_id = run_id or new_run_id()
    candidate_limits = Limits(
        time_s=plan.candidate_time_limit_s,
        memory_bytes=int(plan.candidate_memory_limit_mb * 2**20)
        if plan.candidate_memory_limit_mb
        else hardware.default_memory_limit_bytes(),
    )
    settings = {  # what the page, the report and `show` read; the plan itself is saved whole
        "priorities": plan.weights,
        "limits": plan.limit_values,
        "profile": plan.profile.key,
        "candidates": [s.key for s in specs],
        "helpers": helpers,  # trained only because a chosen entry needs them; never recommended
        "catalog": [spec_to_dict(s) for s in specs],
        "budget_s": plan.budget.seconds,
        "seed": plan.seed,
        "row_budget": plan.row_budget,
        "timing": asdict(plan.timing),
        "options": user_options(
            plan.precision_tolerance_pp, miss_cost if dataset.task == "binary" else None, plan.budget.seconds
        ),
        "candidate_limits": {"time_s": candidate_limits.time_s, "memory_bytes": candidate_limits.memory_bytes},
        "plan": plan.to_dict(),
    }
    run = Run(
        run_id=run_id,
        created_at=time.time(),
        status="running",
        dataset=dataset_summary(dataset, encoder, sampled, split),
        split=split.sizes(),
        hardware=hardware.describe(include_gpu="torch" in sys.modules or wants_torch(specs)),
        settings=settings,
        candidates=[
            CandidateResult.from_dict(_resumed[s.key]) if _resumed and s.key in _resumed else pending_result(s)
            for s in specs
        ],
        profile=plan.profile,
        phases_s=phases,
        store_root=str(store.root),
    )
    backend = make_backend(candidate_limits, scheduler=scheduler, jobs=jobs)
    run.settings["backend"] = backend.describe()
    if measure_on:
        check_worker(backend, measure_on)
    session = Session(
        run=run,
        plan=plan,
        dataset=dataset,
        split=split,
        encoder=encoder,
        specs=specs,
        store=store,
        report=report,
        stop=stop,
        backend=backend,
        limits=candidate_limits,
        options=settings["options"],
        phases=phases,
    )
    stored = session.stored  # each artifact's model files and predictor, to rewrite with the final figures
    if _resumed is None:
        store.create_run(run_id, run_header(run))
        store.save_input(run_id, dataset.frame)
    else:
        run.created_at = _resumed.get("__created_at__", run.created_at)
        store.claim_run(run_id, run_header(run))
        reload_finished(run, specs, stored)
        report("data", f"Resuming: {len(stored)} of {len(specs)} candidates were already trained and are kept")
    report("data", f"{dataset.task} task, {len(dataset.frame)} rows, primary metric {dataset.primary_metric}")
    if miss_cost is not None and dataset.task != "binary":
        report("data", f"The miss cost ({miss_cost:g}) is for binary tasks; this {dataset.task} run ignores it")
    if helpers:
        report("data", helpers_message(helpers), phase="helpers")

    try:
        predictors = train_all(session)
        if predictors:
            time_all(session, predictors, measure_on)
        run.status = "complete"
    except Cancelled:
        run.status = "cancelled"
    except BaseException as exc:  # interrupted or crashed: keep what was committed
        backend.abort()
        run.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.error = f"{type(exc).__name__}: {exc}"
        store.update_header(run_id, run_header(run))
        store.finish_run(run_id, run.status, None, run.error)
        raise
    finally:
        backend.close()
    run.phases_s = phases
    report("rank", "Ranking")
    run.rank()
    if plan.serve_check is not None and run.status == "complete" and not stop():
        try:
            check_serving(session)
            run.rank()  # the served capacity has its say in the pick (`advisor.rank.served`)
        except Cancelled:
            run.status = "cancelled"
    if plan.with_learning_curve and run.status == "complete" and not stop():
        t_curve = time.perf_counter()
        run.learning_curve = learning_curve(session)
        phases["learning_curve_s"] = time.perf_counter() - t_curve
    store.clear_work(run_id)
    refresh_artifacts(run, stored)
    store.update_header(run_id, run_header(run))
    store.finish_run(run_id, run.status, ranking_record(run))
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
    finished = {c["key"]: c for c in stored["candidates"]}
    plan = RunPlan.from_saved(settings, header.get("profile"))
    # exactly the entries it ran (a non-default entry asked for by key included), from its own catalog
    plan = replace(plan, candidates=tuple(settings.get("candidates") or ()), families=None)
    if timing is not None:
        plan = replace(plan, timing=timing)
    return advise(
        frame,
        dataset["target"],
        plan=plan,
        name=dataset.get("name"),
        task=dataset.get("task"),
        primary_metric=dataset.get("primary_metric"),
        registry=saved_catalog(settings),
        store=store,
        progress=progress,
        should_stop=should_stop,
        run_id=run_id,
        _resumed=dict(finished, __created_at__=stored["created_at"], __helpers__=settings.get("helpers") or {}),
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
