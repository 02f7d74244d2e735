"""Phase 1 of a run: every candidate trained, one commit at a time.

Each candidate trains through the backend (an isolated child process here, or a Dask worker);
once it is back, its figures go into its result, its artifact is written and loaded back (the
warm start-up figures), and the result is committed to the store before the next one settles.
A resumed run first reloads the candidates it already committed (`reload_finished`).
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import joblib

from advisor.candidates.catalog import CandidateSpec
from advisor.deploy.artifact import Artifact, load_artifact, model_members, read_verified, write_artifact
from advisor.deploy.modelfile import model_files
from advisor.deploy.predictor import Predictor
from advisor.execute.isolate import Finished, WorkFailed
from advisor.execute.worker import CandidateOutput, CandidateTask, predictor_from_files
from advisor.measure import hardware
from advisor.objectives import HIGHER_IS_BETTER
from advisor.pipeline.curve import CURVE_FRACTIONS
from advisor.pipeline.forecast import COLD_START_PRIOR_S, curve_prior_s, timing_steps, train_costs
from advisor.pipeline.prepare import run_context
from advisor.pipeline.progress import Cancelled
from advisor.pipeline.session import Session
from advisor.pipeline.startup import load_warm, warm_startup
from advisor.results import CandidateResult, Run


def train_all(session: Session) -> dict[str, Artifact]:
    """Every candidate through the backend (isolated child processes here, or a Dask cluster),
    each started once what it derives from is trained, in catalog order, as many at once as the
    backend has slots. Results are committed one at a time, as they arrive. Candidates already in
    `stored` (a resumed run) are not trained again."""
    run, specs, dataset, split, encoder = session.run, session.specs, session.dataset, session.split, session.encoder
    store, report, stop, backend = session.store, session.report, session.stop, session.backend
    budget, phases, options, stored = session.plan.budget, session.phases, session.options, session.stored
    t_phase = time.perf_counter()
    device = "cpu"
    if wants_torch(specs):
        device = "cuda" if hardware.cuda_device() else "cpu"
    work = store.work_dir(run.run_id)
    context_path = work / "context.joblib"
    joblib.dump(run_context(dataset, split, encoder), context_path)
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

    settled_here = 0  # this session's candidates: a resumed run's earlier ones took no time here
    costs = train_costs([s.key for s in specs], store.training_costs())  # in median candidates
    cost_done = 0.0  # of those trained in this session

    def settle(spec: CandidateSpec, result: CandidateResult) -> None:
        nonlocal settled_here, cost_done
        store.save_candidate(run.run_id, spec.key, position[spec.key], result.status, result.to_dict())
        finished = sum(c.status not in ("pending", "running") for c in run.candidates)
        settled_here += 1
        if "isolated_process" in result.wall_s or result.status == "failed":  # it took time to train (or fail)
            cost_done += costs[spec.key]
        coming = [s for s in specs if run.candidates[position[s.key]].status in ("pending", "running")]
        if cost_done > 0:  # seconds per median candidate so far, times what is still to come
            per_cost = (time.perf_counter() - t_phase) / cost_done
            report.left("training", per_cost * sum(costs[s.key] for s in coming))
        expect_later_phases(session)
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
                if not all(k in stored for k in spec.depends_on) or any(
                    k in position and run.candidates[position[k]].status in ("pending", "running") for k in spec.pool
                ):  # its pool is waited for, not required: whatever of it trained is passed on
                    continue
                waiting.remove(spec)
                result = run.candidates[position[spec.key]]
                elapsed = report.elapsed()
                if not budget.may_start(elapsed, spec.family):
                    result.status = "skipped"
                    result.error = None
                    result.notes.append(
                        f"skipped: {elapsed:.0f} s of the {budget.seconds:.0f} s time budget were spent "
                        "before it started"
                    )
                    settle(spec, result)
                    continue
                finished = sum(c.status not in ("pending", "running") for c in run.candidates)
                if not settled_here:
                    report.left("training", None)  # nothing to go by until one has trained
                report(
                    "train",
                    f"Training {spec.name}",
                    candidate=spec.key,
                    phase="training",
                    done=finished,
                    total=total,
                    unit="candidates",
                )

                def epoch_report(message: str, key: str = spec.key) -> None:
                    report("train", message, candidate=key, phase="epoch", total=total, unit="candidates")

                task = CandidateTask(
                    spec=spec,
                    specs=specs_by_key,
                    context=str(context_path),
                    dependencies={k: stored[k][0] for k in (*spec.depends_on, *spec.pool) if k in stored},
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
    loaded, load_ms, first_ms = load_warm(path, first_record)
    result.startup = warm_startup(load_ms, first_ms)
    result.status = "trained"
    result.wall_s["save_load"] = time.perf_counter() - saved_at
    stored[spec.key] = (output.model_files, predictor)
    predictors[spec.key] = loaded


def reload_finished(
    run: Run, specs: Iterable[CandidateSpec], stored: dict[str, tuple[dict[str, bytes], Predictor]]
) -> None:
    """A resumed run's committed candidates, back from their verified artifacts. One whose artifact
    cannot be used is reset to a pending result from its catalog entry, to be trained again."""
    specs_by_key = {s.key: s for s in specs}
    for position, result in enumerate(run.candidates):
        if result.status not in ("trained", "measured"):
            continue
        try:
            files, _ = read_verified(result.artifact or "")
            predictor = predictor_from_files(files)  # the run's own store: trusted, as it wrote them
            # a store from before format 2 holds pickles: what is rewritten from here on holds none
            stored[result.key] = (model_members(files) if "model.json" in files else model_files(predictor), predictor)
            result.status = "trained"  # timed again with the others
        except Exception as exc:
            # its labels from the catalog, as a first run has them (a sweep's 'sweep:<choice>' is set
            # again when it is trained again, by `_accept`)
            fresh = pending_result(specs_by_key[result.key])
            fresh.notes.append(f"trained again on resume: its artifact could not be used ({type(exc).__name__})")
            run.candidates[position] = fresh


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


def refresh_artifacts(run: Run, stored: Mapping[str, tuple[dict[str, bytes], Predictor]]) -> None:
    """Rewrite each artifact with its final measurements (the model's bytes do not change)."""
    for key, (files, predictor) in stored.items():
        result = run.candidate(key)
        if result.artifact:
            write_artifact(result.artifact, files, predictor, _artifact_metrics(run, result))


FIRST_ROW_OUTLIER = 5.0  # a warm first row above this many times the median is priced at it


def expect_later_phases(session: Session) -> None:
    """What the phases after training will cost, from the candidates trained so far: the timing
    phase from each one's single-row call (its warm first row) and load (candidates not trained
    yet are assumed to cost their mean), cold starts one process per runtime, the learning curve
    from the median training time."""
    run, plan, forecast = session.run, session.plan, session.report.forecast
    config = plan.timing
    trained = [c for c in run.candidates if c.status in ("trained", "measured") and c.startup is not None]
    coming = sum(c.status in ("pending", "running") for c in run.candidates)
    if not trained:
        return
    first_rows = [c.startup.first_row_ms / 1e3 for c in trained if c.startup is not None]
    loads = [c.startup.load_ms / 1e3 for c in trained if c.startup is not None]
    # those to come cost what the typical one so far did (a median: one slow first call, such as
    # torch's, must not be multiplied by every candidate still to train)
    typical = statistics.median(first_rows)
    # a first call that initialises a library (torch's does) says little about the calls timed later
    first_rows = [min(first, FIRST_ROW_OUTLIER * typical) for first in first_rows]
    first_rows += [typical] * coming
    loads += [statistics.median(loads)] * coming
    n_test = len(session.split.X_test)
    sizes = sorted({min(b, n_test) for b in config.batch_sizes})
    forecast.expect("timing", sum(timing_steps(config, first_rows, sizes, hardware.usable_cpus(), loads)))
    runtimes = {c.runtime or "" for c in trained}
    forecast.expect("startup", COLD_START_PRIOR_S * len(runtimes) if config.cold_start else 0.0)
    if plan.with_learning_curve:  # the curve retrains the pick: most often among the most accurate
        higher = HIGHER_IS_BETTER[run.primary_metric]
        scored = [c for c in trained if c.train_s is not None and c.quality is not None]
        scored.sort(key=lambda c: c.quality.primary_value, reverse=higher)  # type: ignore[union-attr]
        train_s = [c.train_s for c in scored[:3] if c.train_s is not None] or [
            c.train_s for c in trained if c.train_s is not None
        ]
        overhead = [
            c.wall_s["isolated_process"] - c.train_s for c in trained if c.train_s and "isolated_process" in c.wall_s
        ]
        forecast.expect("curve", curve_prior_s(train_s, overhead, CURVE_FRACTIONS))
    else:
        forecast.expect("curve", 0.0)


def wants_torch(specs: Iterable[CandidateSpec]) -> bool:
    return any("torch" in s.requires for s in specs)


def pending_result(spec: CandidateSpec) -> CandidateResult:
    """A candidate's result before it trains: the labels its catalog entry gives it, nothing measured."""
    return CandidateResult(
        spec.key, spec.name, spec.family, parent=spec.parent, compression=spec.compression, description=spec.description
    )
