"""Results: one candidate's measurements, the run, its leaderboard and results.json.

Files are written through `advisor.files` (whole or not at all; spreadsheet-safe CSV)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from advisor.candidates.catalog import TargetProfile, get_target
from advisor.files import write_csv, write_file
from advisor.measure.figures import (
    HIGHER_IS_BETTER,
    BatchMeasurement,
    Estimate,
    LatencyMeasurement,
    QualityMeasurement,
    ServingMeasurement,
    SizeMeasurement,
    StartupMeasurement,
    as_plain,
    best_batch,
    cost_per_million,
    energy_per_1k,
    served_cost_per_million,
)
from advisor.objectives import COLUMNS
from advisor.rank.pareto import Recommendation, parse_limits, parse_priorities, recommend
from advisor.rank.served import review
from advisor.rank.significance import Significance, paired_ties, significance_for
from advisor.rank.stability import Stability, stability

RESULTS_VERSION = 1
# Leaderboard columns: unit, direction ("higher", "lower" or "" when it is not a goal), meaning; in
# the leaderboard's order, from the one table of columns (`advisor.objectives.COLUMNS`).
LEADERBOARD_COLUMNS: dict[str, tuple[str, str, str]] = {
    name: (c.unit, c.direction, c.meaning) for name, c in COLUMNS.items()
}


def _where(place: Mapping[str, Any]) -> str | None:
    """'host (CPU)' or 'tcp://worker (host, CPU)': where a figure was taken."""
    if not place:
        return None
    machine = f"{place.get('host')}, {place.get('cpu')}"
    return f"{place['dask_worker']} ({machine})" if place.get("dask_worker") else machine


def _frozen(value: Any) -> Any:
    """JSON lists back to the tuples the frozen measurements hold."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def _load(cls: type, data: Mapping[str, Any] | None) -> Any:
    if data is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: _frozen(v) for k, v in data.items() if k in names})


@dataclass
class CandidateResult:
    key: str
    name: str
    family: str
    status: str = "pending"
    parent: str | None = None
    compression: str | None = None
    description: str = ""
    error: str | None = None
    runtime: str | None = None
    train_s: float | None = None
    train_device: str | None = None
    artifact: str | None = None
    quality: QualityMeasurement | None = None
    latency: LatencyMeasurement | None = None
    batches: dict[int, BatchMeasurement] = field(default_factory=dict)
    batches_multithread: dict[int, BatchMeasurement] = field(default_factory=dict)
    size: SizeMeasurement | None = None
    startup: StartupMeasurement | None = None
    gpu_latency: LatencyMeasurement | None = None  # the same protocol with the network on the GPU
    gpu_batches: dict[int, BatchMeasurement] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # measured on a target machine (`measure`)
    train_peak_rss_bytes: int | None = None  # peak resident memory of the process that trained it
    worker: dict[str, Any] = field(default_factory=dict)  # where it was trained: host, pid, processor
    measured_on: dict[str, Any] = field(default_factory=dict)  # where it was timed: host, processor
    notes: list[str] = field(default_factory=list)
    wall_s: dict[str, float] = field(default_factory=dict)  # where the run spent its time on this one
    serving: tuple[ServingMeasurement, ...] = ()  # the serving check (`advisor.pipeline.serving`), if run

    def to_dict(self) -> dict[str, Any]:
        return as_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateResult:
        plain = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}
        plain["quality"] = _load(QualityMeasurement, data.get("quality"))
        plain["latency"] = _load(LatencyMeasurement, data.get("latency"))
        plain["size"] = _load(SizeMeasurement, data.get("size"))
        plain["startup"] = _load(StartupMeasurement, data.get("startup"))
        plain["gpu_latency"] = _load(LatencyMeasurement, data.get("gpu_latency"))
        plain["devices"] = dict(data.get("devices") or {})
        plain["serving"] = tuple(_load(ServingMeasurement, s) for s in data.get("serving") or ())
        for name in ("batches", "batches_multithread", "gpu_batches"):
            plain[name] = {int(k): _load(BatchMeasurement, v) for k, v in (data.get(name) or {}).items()}
        return cls(**plain)

    def footprint(self) -> dict[str, Any]:
        """Size and start-up figures, flat, as the leaderboard and results.json show them."""
        out: dict[str, Any] = {}
        if self.size:
            out.update(size_bytes=self.size.serialized_bytes, gzip_bytes=self.size.gzip_bytes, params=self.size.params)
            if self.size.weight_bytes is not None:
                out.update(weight_bytes=self.size.weight_bytes, nonzero_weights=self.size.nonzero_weights)
        if self.startup:
            out.update(
                load_ms=self.startup.load_ms + self.startup.first_row_ms,
                cold_start_ms=self.startup.cold_start_ms,
                peak_predict_bytes=self.startup.peak_predict_bytes,
            )
        return out

    def _batches(self, device: str | None) -> dict[int, BatchMeasurement]:
        if device is None:
            return self.batches
        measured = self.devices.get(device)
        if not measured:
            return {}
        return {int(b): _load(BatchMeasurement, m) for b, m in measured["batches"].items()}

    def energy(self, profile: TargetProfile, device: str | None = None) -> Estimate | None:
        batch = best_batch(self._batches(device))
        return energy_per_1k(batch, profile) if batch else None

    def cost(self, profile: TargetProfile, device: str | None = None) -> Estimate | None:
        batch = best_batch(self._batches(device))
        energy = self.energy(profile, device)
        return cost_per_million(batch, profile, energy) if batch and energy else None

    @property
    def served(self) -> ServingMeasurement | None:
        """The serving configuration that answered the highest rate within the bound, if it was served."""
        measured = [s for s in self.serving if s.served and s.max_rps_at_p99]
        return max(measured, key=lambda s: s.max_rps_at_p99 or 0.0) if measured else None


def serving_entry(serving: ServingMeasurement, profile: TargetProfile) -> dict[str, Any]:
    """One serving configuration as results.json's `metrics.serving` says it."""
    cost = served_cost_per_million(serving, profile)
    return {
        "served": serving.served,
        "p99_bound_ms": serving.p99_bound_ms,
        "max_rps_at_p99": serving.max_rps_at_p99,
        "batching": {"max_batch": serving.max_batch, "max_wait_ms": serving.max_wait_ms},
        "p50_ms": serving.p50_ms,
        "p95_ms": serving.p95_ms,
        "p99_ms": serving.p99_ms,
        "achieved_rps": serving.achieved_rps,
        "method": serving.method,
        "estimate": {
            "max_rps": serving.estimate_rps,
            "p99_ms": serving.estimate_p99_ms,
            "overhead_ms": serving.overhead_ms,
            "method": serving.estimate_method,
            "over_measured": serving.ratio,
        },
        "curve": [list(point) for point in serving.curve],
        "client_limited": serving.client_limited,
        "usd_per_million": None if cost is None else {"value": cost.value, "method": cost.method},
        "wall_s": serving.wall_s,
        "notes": list(serving.notes),
    }


@dataclass
class Run:
    """A finished (or interrupted) advisor run: reopenable, re-rankable without retraining."""

    run_id: str
    created_at: float
    status: str
    dataset: dict[str, Any]
    split: dict[str, int]
    hardware: dict[str, Any]
    settings: dict[str, Any]
    candidates: list[CandidateResult]
    profile: TargetProfile
    phases_s: dict[str, float] = field(default_factory=dict)
    store_root: str | None = None
    error: str | None = None
    recommendation: Recommendation | None = None
    # Would more rows help? The reference candidate's test quality at 25, 50 and 100% of the
    # training rows (see `advisor.pipeline.curve.learning_curve`); None when it was not measured.
    learning_curve: dict[str, Any] | None = None
    # (recommendation, draws, result) of the last stability sweep: the card and results.json both
    # ask for it, and it re-ranks a few hundred times.
    _stability: tuple[Any, int, Any] | None = field(default=None, repr=False, compare=False)
    _served_out: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ derived
    @property
    def task(self) -> str:
        return str(self.dataset["task"])

    @property
    def primary_metric(self) -> str:
        return str(self.dataset["primary_metric"])

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.settings.get("priorities") or self.profile.weights)

    @property
    def limits(self) -> dict[str, float]:
        return dict(self.settings.get("limits") or {})

    def significance(self) -> Significance:
        """The target's levels below which differences count as none (catalog/targets.toml)."""
        return significance_for(self.profile)

    def replicates(self) -> dict[str, tuple[float, ...]]:
        """Each candidate's bootstrap replicates of the primary metric (shared resamples)."""
        return {c.key: c.quality.bootstrap for c in self.candidates if c.quality and c.quality.bootstrap}

    def candidate(self, key: str) -> CandidateResult:
        for c in self.candidates:
            if c.key == key:
                return c
        raise KeyError(key)

    @property
    def device(self) -> str | None:
        """The target machine whose imported figures rank the candidates (None: this machine's)."""
        return self.settings.get("device")

    def devices(self) -> list[str]:
        return sorted({name for c in self.candidates for name in c.devices})

    def records(self) -> list[dict[str, Any]]:
        """One flat record per candidate: the leaderboard's rows before ranking columns."""
        baseline = next((c for c in self.candidates if c.family == "baseline" and c.quality), None)
        higher = HIGHER_IS_BETTER[self.primary_metric]
        rows = []
        for c in self.candidates:
            row: dict[str, Any] = {
                "key": c.key,
                "name": c.name,
                "family": c.family,
                "parent": c.parent,
                "compression": c.compression,
                "status": c.status,
                "train_s": c.train_s,
                "trained_on": _where(c.worker),
                "timed_on": _where(c.measured_on),
            }
            if c.quality:
                row.update(c.quality.metrics)
                row["primary"] = c.quality.primary_value
                row["primary_ci95_low"] = c.quality.primary_ci95_low
                row["primary_ci95_high"] = c.quality.primary_ci95_high
                if baseline is None or baseline.quality is None:
                    row["skilled"] = True
                elif higher:
                    row["skilled"] = c.quality.primary_ci95_low > baseline.quality.primary_value
                else:
                    row["skilled"] = c.quality.primary_ci95_high < baseline.quality.primary_value
            if c.latency:
                row.update(p50_ms=c.latency.p50_ms, p95_ms=c.latency.p95_ms, p99_ms=c.latency.p99_ms)
            batch = best_batch(c.batches)
            if batch:
                row.update(rows_per_s=batch.rows_per_s, best_batch=batch.batch_size)
            if self.device:  # figures measured on the target machine replace this machine's
                measured = c.devices.get(self.device)
                row.update(p50_ms=None, p95_ms=None, p99_ms=None, rows_per_s=None, best_batch=None)
                if measured:
                    latency = measured["latency"]
                    best = max(measured["batches"].values(), key=lambda b: b["rows_per_s"])
                    row.update(
                        p50_ms=latency["p50_ms"],
                        p95_ms=latency["p95_ms"],
                        p99_ms=latency["p99_ms"],
                        rows_per_s=best["rows_per_s"],
                        best_batch=best["batch_size"],
                    )
                else:
                    row["status"] = f"not measured on {self.device}"
            row.update(c.footprint())
            energy, cost = c.energy(self.profile, self.device), c.cost(self.profile, self.device)
            if energy:
                row["joules_per_1k"] = energy.value
            if cost:
                row["usd_per_million"] = cost.value
                row["usd_per_month"] = cost.value * self.profile.predictions_per_month / 1e6
            rows.append(row)
        return rows

    def _recommend(
        self, rows: Any, weights: Mapping[str, float], ineligible: Mapping[str, str], significance: Any, **more: Any
    ) -> Recommendation:
        """`recommend` with this run's limits, primary metric and no-skill baseline."""
        baseline = next((c for c in self.candidates if c.family == "baseline" and c.quality), None)
        return recommend(
            rows,
            weights,
            self.limits,
            self.primary_metric,
            HIGHER_IS_BETTER[self.primary_metric],
            no_skill_value=baseline.quality.primary_value if baseline and baseline.quality else None,
            significance=significance,
            ineligible=ineligible,
            **more,
        )

    def rank(self) -> Recommendation:
        """The pick for this run's priorities and limits; after a serving check, with the served
        capacity's say (`advisor.rank.served`: a bound the served pick never met, a fleet it doubles)."""
        replicates, significance = self.replicates(), self.significance()
        helpers, rows = self.settings.get("helpers") or {}, self.records()

        def rank_with(extra: Mapping[str, str]) -> Recommendation:
            return self._recommend(rows, self.weights, {**helpers, **extra}, significance, replicates=replicates)

        self.recommendation, self._served_out = review(self, rank_with({}), rank_with)
        return self.recommendation

    def stability(self, draws: int = 200) -> Stability | None:
        """How firm the pick is: weight ranges and timing-noise redraws (`advisor.rank.stability`)."""
        recommendation = self.recommendation or self.rank()
        if recommendation.key is None:
            return None
        if self._stability is not None and self._stability[0] is recommendation and self._stability[1] == draws:
            return self._stability[2]
        significance = self.significance()
        ties = paired_ties(self.replicates(), significance.tie_confidence)
        ineligible = {**(self.settings.get("helpers") or {}), **self._served_out}

        def rank(rows: Any, weights: Mapping[str, float]) -> Recommendation:
            return self._recommend(rows, weights, ineligible, significance, ties=ties, explain=False)

        rounds = {}
        if not self.device:
            for c in self.candidates:
                batch = best_batch(c.batches)
                rounds[c.key] = (
                    c.latency.round_p99_ms if c.latency else None,
                    batch.round_rows_per_s if batch else None,
                )
        found = stability(self.records(), recommendation.weights, recommendation.key, rank, rounds, draws)
        self._stability = (recommendation, draws, found)
        return found

    def rerank(
        self,
        priorities: str | Mapping[str, float] | None = None,
        limits: Any = None,
        profile: str | TargetProfile | None = None,
        device: str | None = None,
    ) -> Run:
        """The same measurements under other priorities, limits or target: no retraining.
        `device` ranks on the figures imported from that target machine ("" for this machine's)."""
        settings = dict(self.settings)
        if device is not None:
            if device and device not in self.devices():
                from advisor.errors import UnknownKey, did_you_mean

                raise UnknownKey(
                    f"No figures from device '{device}' in this run; {did_you_mean(device, self.devices())}."
                )
            settings["device"] = device or None
        new_profile = get_target(profile) if profile is not None else self.profile
        if profile is not None and new_profile.key != self.profile.key:
            settings["profile"] = new_profile.key
            if priorities is None:
                settings["priorities"] = dict(new_profile.weights)
            if limits is None:
                settings["limits"] = dict(new_profile.limits)
        if priorities is not None:
            settings["priorities"] = parse_priorities(priorities)
        if limits is not None:
            settings["limits"] = parse_limits(limits)
        other = replace(self, settings=settings, profile=new_profile, recommendation=None)
        other.rank()
        return other

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per candidate; columns and directions in LEADERBOARD_COLUMNS."""
        recommendation = self.recommendation or self.rank()
        rows = self.records()
        for row in rows:
            row["pareto"] = row["key"] in recommendation.pareto
            row["recommended"] = row["key"] == recommendation.key
            row["score"] = recommendation.scores.get(row["key"])
        frame = pd.DataFrame(rows)
        ordered = [c for c in LEADERBOARD_COLUMNS if c in frame.columns]
        frame = frame[ordered]
        frame.attrs["primary_metric"] = self.primary_metric
        return frame

    # ------------------------------------------------------------------ results.json
    def to_dict(self) -> dict[str, Any]:
        recommendation = self.recommendation or self.rank()
        candidates = []
        for c in self.candidates:
            energy, cost = c.energy(self.profile), c.cost(self.profile)
            metrics: dict[str, Any] = {}
            if c.quality:
                metrics.update(c.quality.metrics)
                metrics["primary_ci95"] = [c.quality.primary_ci95_low, c.quality.primary_ci95_high]
            if c.latency:
                metrics["latency_ms"] = {
                    "p50": c.latency.p50_ms,
                    "p95": c.latency.p95_ms,
                    "p99": c.latency.p99_ms,
                    "first_call": c.latency.first_call_ms,
                }
            if c.batches:
                metrics["throughput_rps"] = {str(b): m.rows_per_s for b, m in sorted(c.batches.items())}
                metrics["batch_latency_ms"] = {
                    str(b): {"p50": m.p50_ms, "p95": m.p95_ms} for b, m in sorted(c.batches.items())
                }
            if c.batches_multithread:
                metrics["throughput_rps_multithread"] = {
                    str(b): {"rows_per_s": m.rows_per_s, "threads": m.threads}
                    for b, m in sorted(c.batches_multithread.items())
                }
            metrics.update(c.footprint())
            if c.devices:
                metrics["devices"] = {
                    name: {
                        "latency_ms": {k: d["latency"][f"{k}_ms"] for k in ("p50", "p95", "p99")},
                        "throughput_rps": {b: m["rows_per_s"] for b, m in d["batches"].items()},
                        "load_ms": d["load_ms"],
                        "hardware": d["hardware"].get("cpu_model"),
                    }
                    for name, d in c.devices.items()
                }
            if c.gpu_latency or c.gpu_batches:
                metrics["gpu"] = {
                    "latency_ms": None
                    if c.gpu_latency is None
                    else {"p50": c.gpu_latency.p50_ms, "p95": c.gpu_latency.p95_ms, "p99": c.gpu_latency.p99_ms},
                    "throughput_rps": {str(b): m.rows_per_s for b, m in sorted(c.gpu_batches.items())},
                }
            if energy:
                metrics["energy_j_per_1k"] = {
                    "value": energy.value,
                    "method": energy.method,
                    "measured": energy.measured,
                }
            if cost:
                metrics["usd_per_million"] = {"value": cost.value, "method": cost.method, "measured": cost.measured}
            if c.serving:  # the best served configuration, the others beside it
                best = c.served or max(c.serving, key=lambda s: s.estimate_rps)
                metrics["serving"] = dict(
                    serving_entry(best, self.profile),
                    alternatives=[serving_entry(s, self.profile) for s in c.serving if s is not best],
                )
            entry = {
                "key": c.key,
                "name": c.name,
                "family": c.family,
                "status": c.status,
                "error": c.error,
                "parent": c.parent,
                "compression": c.compression,
                "runtime": c.runtime,
                "train_s": c.train_s,
                "train_device": c.train_device,
                "artifact": c.artifact,
                "pareto": c.key in recommendation.pareto,
                "metrics": metrics,
                "measurements": c.to_dict(),
            }
            candidates.append(entry)
        return as_plain(
            {
                "version": RESULTS_VERSION,
                "run_id": self.run_id,
                "created_at": self.created_at,
                "status": self.status,
                "error": self.error,
                "store": self.store_root,
                "dataset": self.dataset,
                "split": self.split,
                "task": self.task,
                "primary_metric": self.primary_metric,
                "profile": {k: v for k, v in self.profile.__dict__.items()},
                "priorities": recommendation.weights,
                "limits": recommendation.limits,
                "hardware": self.hardware,
                "settings": self.settings,
                "phases_s": self.phases_s,
                "learning_curve": self.learning_curve,
                "candidates": candidates,
                "pareto": list(recommendation.pareto),
                "recommended": recommendation.key,
                "reason": recommendation.reason,
                "gives_up": dict(recommendation.gives_up),
                "decision": self._decision(recommendation),
                "excluded": {k: list(v) for k, v in recommendation.excluded.items()},
                "scores": dict(recommendation.scores),
            }
        )

    def _decision(self, recommendation: Recommendation) -> dict[str, Any]:
        """What decided the pick, its ties, how firm it is, and the levels used (results.json)."""
        significance = self.significance()
        found = self.stability() if recommendation.key else None
        names = {c.key: c.name for c in self.candidates}
        return {
            "most_accurate": recommendation.most_accurate,
            "decided_by": recommendation.decided_by,
            "ties": list(recommendation.ties),
            "notes": list(recommendation.notes),
            "stability": None if found is None else dict(found.to_dict(), sentences=found.sentences(names)),
            "levels": dict(significance.levels),
            "level_reasons": dict(significance.reasons),
            "predictions_per_month": significance.predictions_per_month,
        }

    def save_json(self, out_dir: str | Path) -> Path:
        """results.json and leaderboard.csv in `out_dir`, each written whole or not at all."""
        out = Path(out_dir)
        path = write_file(out / "results.json", json.dumps(self.to_dict(), indent=2, allow_nan=False))
        write_csv(self.leaderboard, out / "leaderboard.csv")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        """A run from results.json."""
        candidates = [CandidateResult.from_dict(c["measurements"]) for c in data["candidates"]]
        return cls.from_header(data, candidates, data["run_id"], data["status"], data.get("store"))

    @classmethod
    def from_header(
        cls,
        header: Mapping[str, Any],
        candidates: list[CandidateResult],
        run_id: str,
        status: str,
        store_root: str | None,
    ) -> Run:
        """A run from its header (results.json or the store's) and its candidates, ranked."""
        run = cls(
            run_id=run_id,
            created_at=header["created_at"],
            status=status,
            dataset=header["dataset"],
            split=header.get("split", {}),
            hardware=header.get("hardware", {}),
            settings=header.get("settings", {}),
            candidates=candidates,
            profile=TargetProfile(**header["profile"]),
            phases_s=header.get("phases_s", {}),
            store_root=store_root,
            error=header.get("error"),
            learning_curve=header.get("learning_curve"),
        )
        run.rank()
        return run
