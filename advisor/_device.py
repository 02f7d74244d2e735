"""Measuring an artifact on the machine it will run on, and bringing those figures back.

`measure_artifact` runs on the target itself (a phone-class board, the production server)
with only the runtime requirements: the same timer and protocol as the advisor, on rows the
team provides. `attach_device` adds the resulting JSON to a run, beside the local figures.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from advisor import _hardware
from advisor._errors import AdvisorError
from advisor._measure import as_plain
from advisor._timing import TimingConfig, measure_batches, measure_single_row, pinned_threads

DEVICE_FORMAT = "advisor-device-measurement"


def measure_artifact(
    artifact_path: str | Path,
    rows: Any,
    name: str | None = None,
    timing: TimingConfig | None = None,
) -> dict[str, Any]:
    """Load the artifact here and time it on `rows` (a DataFrame with the model's columns)."""
    from advisor._artifact import load_artifact, read_verified

    timing = timing or TimingConfig()
    started = time.perf_counter()
    artifact = load_artifact(artifact_path)
    load_ms = (time.perf_counter() - started) * 1e3
    records = rows.head(200).to_dict(orient="records")
    if not records:
        raise AdvisorError("The rows file has no rows; give the advisor at least one row to time the model on.")
    problems = artifact.problems(rows.head(200))
    if problems:
        raise AdvisorError(problems[0])
    first_start = time.perf_counter()
    artifact.predict(records[0])
    first_row_ms = (time.perf_counter() - first_start) * 1e3
    sizes = sorted({min(b, len(rows)) for b in timing.batch_sizes})
    with pinned_threads(timing.threads, [artifact.set_threads]):
        latency = measure_single_row({"artifact": artifact.predict}, records, timing)["artifact"]
        batches = measure_batches(
            {"artifact": artifact.predict}, {b: rows.iloc[:b] for b in sizes}, timing, threads=timing.threads
        )["artifact"]
    contents, manifest = read_verified(artifact_path)
    return as_plain(
        {
            "format": DEVICE_FORMAT,
            "device": name or f"{socket.gethostname()} ({_hardware.cpu_model()})",
            "measured_at": time.time(),
            "artifact": {
                "key": manifest.get("key"),
                "run_id": artifact.metrics.get("run", {}).get("run_id"),
                "predictor_sha256": hashlib.sha256(contents["predictor.joblib"]).hexdigest(),
                "size_bytes": Path(artifact_path).stat().st_size,
            },
            "hardware": _hardware.describe(include_gpu=False) | {"node": platform.node()},
            "load_ms": load_ms,
            "first_row_ms": first_row_ms,
            "latency": latency,
            "batches": {str(b): m for b, m in batches.items()},
            "rows_used": len(records),
        }
    )


def read_device_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AdvisorError(
            f"'{path.name}' could not be read as a device measurement ({exc}); use the file that "
            "'python -m advisor measure' wrote."
        ) from None
    if not isinstance(data, Mapping) or data.get("format") != DEVICE_FORMAT:
        raise AdvisorError(
            f"'{path.name}' is not a device measurement; use the file that 'python -m advisor measure' wrote."
        )
    return dict(data)


def attach_device(run: Any, measurement: Mapping[str, Any]) -> str:
    """Add a device measurement to the run's candidate it belongs to; returns that candidate's key."""
    key = measurement["artifact"]["key"]
    run_id = measurement["artifact"].get("run_id")
    if run_id and run_id != run.run_id:
        raise AdvisorError(
            f"The measurement is of an artifact from run {run_id}, not run {run.run_id}; import it into that run."
        )
    try:
        candidate = run.candidate(key)
    except KeyError:
        raise AdvisorError(
            f"Run {run.run_id} has no candidate '{key}'; import the measurement into the run the artifact came from."
        ) from None
    candidate.devices[measurement["device"]] = dict(measurement)
    return key
