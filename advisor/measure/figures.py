"""Measurements: frozen dataclasses with units in their field names and a `method` each.

Quality, size and the energy / cost estimates live here; latency and throughput come from
the one timer in `_timing`.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

# Direction of every quality metric (True when higher is better), from the one table of columns.
from advisor.objectives import HIGHER_IS_BETTER as HIGHER_IS_BETTER

if TYPE_CHECKING:
    from advisor.candidates.catalog import TargetProfile


BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class QualityMeasurement:
    metrics: Mapping[str, float]
    primary_metric: str
    primary_value: float
    primary_ci95_low: float
    primary_ci95_high: float
    test_rows: int
    method: str
    # The primary metric on the same BOOTSTRAP_RESAMPLES resamples of the test rows for every
    # candidate of a run (one seed, one set of indices), so two candidates' replicates pair up:
    # their difference is a paired bootstrap of the difference in quality.
    bootstrap: tuple[float, ...] | None = None
    # Classification only: per class label, precision, recall and the count of test rows.
    per_class: Mapping[str, Mapping[str, float]] | None = None
    # Classification only: confusion matrix, rows are the true class, columns the predicted one,
    # both in the order of `per_class`.
    confusion: tuple[tuple[int, ...], ...] | None = None
    # Binary only: predict the positive class when its probability is at least this.
    threshold: float | None = None
    threshold_method: str | None = None


@dataclass(frozen=True)
class LatencyMeasurement:
    """One row end to end, raw record in, prediction out."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    first_call_ms: float
    calls: int
    threads: int
    windows: int
    disturbed_windows: int
    others_cpu_pct_median: float | None
    others_cpu_pct_max: float | None
    method: str
    # p99 of each timed round, so the ranking's sensitivity to timing noise can be resampled.
    round_p99_ms: tuple[float, ...] | None = None


@dataclass(frozen=True)
class BatchMeasurement:
    """One call on `batch_size` rows (a DataFrame), repeated."""

    batch_size: int
    threads: int
    calls: int
    p50_ms: float
    p95_ms: float
    rows_per_s: float
    cpu_s_per_row: float
    rapl_j_per_row: float | None
    disturbed_windows: int
    others_cpu_pct_median: float | None
    method: str
    # rows/s from each round's median call time (see `round_p99_ms`).
    round_rows_per_s: tuple[float, ...] | None = None


@dataclass(frozen=True)
class SizeMeasurement:
    serialized_bytes: int
    gzip_bytes: int
    params: int
    method: str
    weight_bytes: int | None = None  # the network's weights as stored (neural candidates)
    nonzero_weights: int | None = None


@dataclass(frozen=True)
class StartupMeasurement:
    """Loading the saved predictor and answering its first row."""

    load_ms: float
    first_row_ms: float
    cold_start_ms: float | None
    cold_import_ms: float | None
    cold_load_ms: float | None
    cold_first_row_ms: float | None
    load_rss_bytes: int | None
    peak_predict_bytes: int | None
    peak_batch_rows: int | None
    method: str


@dataclass(frozen=True)
class ServingMeasurement:
    """One serving configuration of a candidate's artifact: the highest Poisson request rate one
    worker answered within the p99 bound over HTTP (`served`: measured with the load generator),
    and beside it the queueing estimate from the in-process figures (`advisor.serve.capacity`).
    A candidate that was not served has only the estimate (`served` False, measured fields None)."""

    p99_bound_ms: float
    max_batch: int
    max_wait_ms: float
    served: bool
    max_rps_at_p99: float | None  # the highest offered rate that passed
    p50_ms: float | None  # at that rate, arrival (scheduled send) to answer
    p95_ms: float | None
    p99_ms: float | None
    achieved_rps: float | None
    curve: tuple[tuple[float, float, float | None], ...]  # every level tried: (offered, achieved req/s, p99 ms)
    client_limited: bool
    overhead_ms: float  # the per-request HTTP cost the estimate adds
    estimate_rps: float
    estimate_p99_ms: float | None
    estimate_curve: tuple[tuple[float, float], ...]  # (offered req/s, simulated p99 ms) at the measured rates
    estimate_method: str
    wall_s: float  # serving, loading and estimating this configuration took this long
    notes: tuple[str, ...]
    method: str

    @property
    def ratio(self) -> float | None:
        """The estimate over the measured rate (None when not served or nothing passed)."""
        return self.estimate_rps / self.max_rps_at_p99 if self.max_rps_at_p99 else None

    @property
    def label(self) -> str:
        return "no batching" if self.max_batch <= 1 else f"batches of {self.max_batch}, {self.max_wait_ms:g} ms wait"


@dataclass(frozen=True)
class Estimate:
    """A derived figure: its value, unit, and the formula with the measured inputs it used."""

    value: float
    unit: str
    method: str
    measured: bool = False


# --------------------------------------------------------------------------- quality


def predicted_classes(scores: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class indices from probabilities: the most probable class, or for a binary task with a
    decision threshold, the positive class (index 1) when its probability reaches it."""
    if threshold is not None and scores.ndim == 2 and scores.shape[1] == 2:
        return (scores[:, 1] >= threshold).astype(int)
    return np.argmax(scores, axis=1)


def error_costs(y: np.ndarray, predicted: np.ndarray, miss_cost: float) -> np.ndarray:
    """Per row: N for a missed positive (class 1 predicted 0), 1 for a false alarm, else 0."""
    return np.where((y == 1) & (predicted == 0), miss_cost, 0.0) + np.where((y == 0) & (predicted == 1), 1.0, 0.0)


def point_metrics(
    y: np.ndarray,
    scores: np.ndarray,
    task: str,
    n_classes: int,
    threshold: float | None = None,
    miss_cost: float | None = None,
) -> dict[str, float]:
    from sklearn import metrics

    if task == "regression":
        error = scores - y
        return {
            "r2": float(metrics.r2_score(y, scores)),
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
        }
    predicted = predicted_classes(scores, threshold)
    probabilities = np.clip(scores, 1e-15, 1.0)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 softmax drifts ~1e-7
    out = {
        "accuracy": float(np.mean(predicted == y)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, predicted)),
        "f1_macro": float(
            metrics.f1_score(y, predicted, average="macro", labels=np.arange(n_classes), zero_division=0)
        ),
        "log_loss": float(metrics.log_loss(y, probabilities, labels=np.arange(n_classes))),
    }
    if task == "binary":
        out["roc_auc"] = float(metrics.roc_auc_score(y, scores[:, 1])) if len(np.unique(y)) == 2 else float("nan")
        if miss_cost is not None:
            out["error_cost"] = float(error_costs(y, predicted, miss_cost).mean())
    return out


def per_class_figures(
    y: np.ndarray, predicted: np.ndarray, labels: list[str]
) -> tuple[dict[str, dict[str, float | None]], tuple[tuple[int, ...], ...]]:
    """Precision, recall and test-row count per class, and the confusion matrix (rows: true class)."""
    n = len(labels)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y, dtype=int), np.asarray(predicted, dtype=int)), 1)
    per_class = {}
    for i, label in enumerate(labels):
        flagged, support = int(confusion[:, i].sum()), int(confusion[i, :].sum())
        per_class[label] = {
            # None when undefined (nothing predicted as, or no test rows of, this class): the same
            # before and after results.json, which has no NaN
            "precision": float(confusion[i, i] / flagged) if flagged else None,
            "recall": float(confusion[i, i] / support) if support else None,
            "support": support,
            "predicted": flagged,
        }
    return per_class, tuple(tuple(int(v) for v in row) for row in confusion)


def bootstrap_indices(y: np.ndarray, task: str, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """(resamples, n) row indices of the test split, the same for every candidate of a run.

    Classification resamples within each class (stratified), so a resample keeps every class at
    its test-split count: a rare class is never lost and balanced accuracy stays defined."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if task == "regression":
        return rng.integers(0, n, size=(resamples, n))
    out = np.empty((resamples, n), dtype=np.int64)
    column = 0
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        out[:, column : column + len(members)] = members[rng.integers(0, len(members), size=(resamples, len(members)))]
        column += len(members)
    return out


def _bootstrap(
    y: np.ndarray,
    scores: np.ndarray,
    task: str,
    metric: str,
    n_classes: int,
    seed: int,
    threshold: float | None = None,
    miss_cost: float | None = None,
) -> np.ndarray:
    """The primary metric on BOOTSTRAP_RESAMPLES resamples of the test rows (vectorised where simple)."""
    n = len(y)
    out: list[np.ndarray] = []
    predicted = None if task == "regression" else predicted_classes(scores, threshold)
    all_indices = bootstrap_indices(y, task, seed)
    chunk = max(1, min(BOOTSTRAP_RESAMPLES, 4_000_000 // max(n, 1)))
    for start in range(0, BOOTSTRAP_RESAMPLES, chunk):
        idx = all_indices[start : start + chunk]
        if metric == "accuracy":
            out.append((predicted == y)[idx].mean(axis=1))
        elif metric == "error_cost" and miss_cost is not None:
            out.append(error_costs(y, predicted, miss_cost)[idx].mean(axis=1))
        elif metric == "balanced_accuracy":
            yb, correct = y[idx], (predicted == y)[idx]
            recalls = []
            for c in range(n_classes):
                in_class = yb == c
                count = in_class.sum(axis=1)
                recalls.append(np.where(count > 0, (correct & in_class).sum(axis=1) / np.maximum(count, 1), np.nan))
            out.append(np.nanmean(np.vstack(recalls), axis=0))
        elif metric in ("r2", "rmse", "mae"):
            yb, pb = y[idx], scores[idx]
            err = pb - yb
            if metric == "r2":
                sst = ((yb - yb.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
                out.append(1.0 - (err**2).sum(axis=1) / np.where(sst > 0, sst, np.nan))
            elif metric == "rmse":
                out.append(np.sqrt((err**2).mean(axis=1)))
            else:
                out.append(np.abs(err).mean(axis=1))
        else:
            out.append(
                np.array([point_metrics(y[i], scores[i], task, n_classes, threshold).get(metric, np.nan) for i in idx])
            )
    return np.concatenate(out)


def measure_quality(
    y: np.ndarray,
    scores: np.ndarray,
    task: str,
    primary_metric: str,
    n_classes: int,
    seed: int = 0,
    extra: Mapping[str, float] | None = None,
    class_labels: list[str] | None = None,
    threshold: float | None = None,
    threshold_method: str | None = None,
    miss_cost: float | None = None,
) -> QualityMeasurement:
    """Quality on the test split; y holds class indices (classification) or values.
    `extra` adds figures computed elsewhere on the same rows (a student's agreement with its teacher).
    `threshold` (binary only) turns probabilities into classes; the threshold-free figures
    (log loss, ROC AUC) do not depend on it."""
    if task != "binary":
        threshold = threshold_method = miss_cost = None
    values = point_metrics(y, scores, task, n_classes, threshold, miss_cost) | dict(extra or {})
    resampled = _bootstrap(y, scores, task, primary_metric, n_classes, seed, threshold, miss_cost)
    low, high = np.nanpercentile(resampled, [2.5, 97.5])
    per_class = confusion = None
    if task != "regression":
        labels = [str(c) for c in (class_labels if class_labels is not None else range(n_classes))]
        per_class, confusion = per_class_figures(y, predicted_classes(scores, threshold), labels)
    stratified = "" if task == "regression" else ", stratified by class (each resample keeps every class's count)"
    return QualityMeasurement(
        metrics=values,
        primary_metric=primary_metric,
        primary_value=values[primary_metric],
        primary_ci95_low=float(low),
        primary_ci95_high=float(high),
        test_rows=len(y),
        method=(
            f"held-out test split of {len(y)} rows, never seen in training or early stopping; "
            f"95% interval of {primary_metric}: percentile bootstrap over {BOOTSTRAP_RESAMPLES} "
            f"resamples of the test rows{stratified} (seed {seed}, the same resamples for every "
            "candidate, so differences are paired)"
        ),
        bootstrap=tuple(float(f"{v:.6g}") for v in resampled),
        per_class=per_class,
        confusion=confusion,
        threshold=threshold,
        threshold_method=threshold_method,
    )


# --------------------------------------------------------------------------- size


def measure_size(
    model_files: Mapping[str, bytes], params: int, weight_bytes: int | None = None, nonzero_weights: int | None = None
) -> SizeMeasurement:
    """The model as stored: the artifact members that hold it (`_modelfile`), preprocessing included."""
    method = (
        "serialized_bytes: the stored model (model.json, model.npz and any LightGBM text: preprocessing "
        "included, no pickle); gzip_bytes: those bytes through gzip -9; params: model weights, or nodes for "
        "trees (preprocessing state not counted)"
    )
    artifact_bytes = b"".join(data for _, data in sorted(model_files.items()))
    if weight_bytes is not None:
        method += (
            "; weight_bytes: the network's weights, scales and biases in their stored form (packed bits, "
            "int8, fp16, compressed), without the preprocessing or the file's framing; nonzero_weights: "
            "weight-matrix entries that are not zero"
        )
    return SizeMeasurement(
        serialized_bytes=len(artifact_bytes),
        gzip_bytes=len(gzip.compress(artifact_bytes, compresslevel=9)),
        params=params,
        method=method,
        weight_bytes=weight_bytes,
        nonzero_weights=nonzero_weights,
    )


# --------------------------------------------------------------------------- energy and cost


def best_batch(batches: Mapping[int, BatchMeasurement]) -> BatchMeasurement | None:
    """The single-thread batch size with the highest throughput."""
    single = [b for b in batches.values() if b.threads == 1]
    return max(single, key=lambda b: b.rows_per_s) if single else None


def energy_per_1k(batch: BatchMeasurement, profile: TargetProfile) -> Estimate:
    if batch.rapl_j_per_row is not None:
        return Estimate(
            batch.rapl_j_per_row * 1000,
            "J per 1,000 predictions",
            f"rapl: CPU package energy counter over the batch-{batch.batch_size} timing windows "
            "divided by rows predicted (includes every process on the package: an upper bound)",
            measured=True,
        )
    value = batch.cpu_s_per_row * profile.watts_per_core * 1000
    return Estimate(
        value,
        "J per 1,000 predictions",
        f"estimate: CPU-seconds per prediction measured here ({batch.cpu_s_per_row:.3g} s at batch "
        f"{batch.batch_size}, {batch.threads} thread) x {profile.watts_per_core} W per core "
        f"({profile.name}) x 1,000; no RAPL or NVML counter was readable",
    )


def cost_per_million(batch: BatchMeasurement, profile: TargetProfile, energy: Estimate) -> Estimate:
    if profile.usd_per_hour > 0:
        rows_per_hour = batch.rows_per_s * 3600 * max(1, profile.cores // batch.threads)
        return Estimate(
            profile.usd_per_hour / rows_per_hour * 1e6,
            "USD per 1,000,000 predictions",
            f"estimate: ${profile.usd_per_hour}/h ({profile.name}) / ({batch.rows_per_s:,.0f} rows/s "
            f"measured here at batch {batch.batch_size} on {batch.threads} thread x {profile.cores} "
            "vCPUs serving in parallel) x 1,000,000; assumes the machine is kept busy and its cores "
            "are as fast as this one's",
        )
    joules_per_row = energy.value / 1000
    return Estimate(
        joules_per_row * 1e6 / 3.6e6 * profile.usd_per_kwh,
        "USD per 1,000,000 predictions",
        f"estimate: electricity only, {energy.value:.3g} J per 1,000 predictions x 1,000 x "
        f"${profile.usd_per_kwh}/kWh ({profile.name} is owned, so no hourly price)",
    )


def served_cost_per_million(serving: ServingMeasurement, profile: TargetProfile) -> Estimate | None:
    """The price of a million requests at the served rate: one worker per vCPU, every one kept
    busy at the highest rate that met the bound (None: not served, nothing passed, or an owned
    device with no hourly price)."""
    rate = serving.max_rps_at_p99
    if not rate or profile.usd_per_hour <= 0:
        return None
    return Estimate(
        profile.usd_per_hour / (rate * 3600 * max(1, profile.cores)) * 1e6,
        "USD per 1,000,000 predictions",
        f"estimate: ${profile.usd_per_hour}/h ({profile.name}) / ({rate:,.0f} requests/s served over HTTP by one "
        f"worker with p99 <= {serving.p99_bound_ms:g} ms ({serving.label}) x {profile.cores} workers, one per "
        "vCPU) x 1,000,000; assumes every worker is kept at that rate and the cores are as fast as this one's",
        measured=False,
    )


def as_plain(value: Any) -> Any:
    """Dataclasses and numpy scalars to JSON-ready Python values."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return as_plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
