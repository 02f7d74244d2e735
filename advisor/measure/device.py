"""Measuring an artifact on the machine it will run on, and bringing those figures back.

`measure_artifact` runs on the target itself (a phone-class board, the production server)
with only the runtime requirements: the same timer and protocol as the advisor, on rows the
team provides. `attach_device` adds the resulting JSON to a run, beside the local figures.
"""

from __future__ import annotations

import json
import math
import platform
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.measure import hardware
from advisor.measure.figures import as_plain
from advisor.measure.timing import TimingConfig, measure_batches, measure_single_row, pinned_threads

DEVICE_FORMAT = "advisor-device-measurement"


def measure_artifact(
    artifact_path: str | Path,
    rows: Any,
    name: str | None = None,
    timing: TimingConfig | None = None,
    trust: bool = False,
) -> dict[str, Any]:
    """Load the artifact here and time it on `rows` (a DataFrame with the model's columns).
    Nothing in it is unpickled unless `trust` is given (see `load_artifact`)."""
    from advisor.deploy.artifact import load_and_answer, model_digest, read_verified

    timing = timing or TimingConfig()
    records = rows.head(200).to_dict(orient="records")
    if not records:
        raise AdvisorError("The rows file has no rows; give the advisor at least one row to time the model on.")
    artifact, load_s, first_row_s = load_and_answer(artifact_path, records[0], trust=trust)
    load_ms, first_row_ms = load_s * 1e3, first_row_s * 1e3
    problems = artifact.problems(rows.head(200))
    if problems:
        raise AdvisorError(problems[0])
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
            "device": name or f"{socket.gethostname()} ({hardware.cpu_model()})",
            "measured_at": time.time(),
            "artifact": {
                "key": manifest.get("key"),
                "run_id": artifact.metrics.get("run", {}).get("run_id"),
                "model_sha256": model_digest(contents),
                "size_bytes": Path(artifact_path).stat().st_size,
            },
            "hardware": hardware.describe(include_gpu=False) | {"node": platform.node()},
            "load_ms": load_ms,
            "first_row_ms": first_row_ms,
            "latency": latency,
            "batches": {str(b): m for b, m in batches.items()},
            "rows_used": len(records),
        }
    )


# A measurement is a few kB; a file this large is not one, and is not read into memory whole.
DEVICE_FILE_MAX_BYTES = 10_000_000
DEVICE_NAME_MAX_CHARS = 200
# What `attach_device`, the ranking and the report read from a measurement, and what each must be.
# "count": a whole number >= 0 ("count>0": >= 1); "number": finite and >= 0; "...|null": may be null.
_LATENCY_FIELDS = {"p50_ms": "number", "p95_ms": "number", "p99_ms": "number"}
_BATCH_FIELDS = {
    "batch_size": "count>0",
    "threads": "count>0",
    "calls": "count",
    "p50_ms": "number",
    "p95_ms": "number",
    "rows_per_s": "number",
    "cpu_s_per_row": "number",
    "rapl_j_per_row": "number|null",
    "disturbed_windows": "count",
    "others_cpu_pct_median": "number|null",
    "method": "text",
}


def _fits(value: Any, kind: str) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return kind.endswith("|null")
    if kind == "text":
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return False
    if kind.startswith("count"):
        return isinstance(value, int) and (value >= 1 or kind != "count>0")
    return True


_KIND_WORDS = {
    "count": "a whole number",
    "count>0": "a whole number of at least 1",
    "number": "a number of at least 0",
    "number|null": "a number or null",
    "text": "a string",
}


def _measurement_problem(data: Mapping[str, Any]) -> str | None:
    """What is wrong with a device measurement's fields, in a few words; None when it is usable."""
    device = data.get("device")
    if not isinstance(device, str) or not device.strip() or len(device) > DEVICE_NAME_MAX_CHARS:
        return f"'device' must be the machine's name, a string of 1 to {DEVICE_NAME_MAX_CHARS} characters"
    artifact = data.get("artifact")
    if not isinstance(artifact, Mapping) or not isinstance(artifact.get("key"), str) or not artifact["key"]:
        return "'artifact' must be an object whose 'key' names the candidate"
    if not isinstance(artifact.get("run_id"), str | None):
        return "'artifact.run_id' must be a run id or null"
    if not _fits(data.get("load_ms"), "number"):
        return f"'load_ms' must be {_KIND_WORDS['number']}"
    if not isinstance(data.get("hardware"), Mapping):
        return "'hardware' must be an object"
    latency = data.get("latency")
    if not isinstance(latency, Mapping):
        return "'latency' must be an object"
    for name, kind in _LATENCY_FIELDS.items():
        if not _fits(latency.get(name), kind):
            return f"'latency.{name}' must be {_KIND_WORDS[kind]}"
    batches = data.get("batches")
    if not isinstance(batches, Mapping) or not batches:
        return "'batches' must be an object with at least one batch size"
    for size, batch in batches.items():
        if not str(size).isdigit() or not isinstance(batch, Mapping):
            return f"'batches' must map batch sizes (whole numbers) to objects, not {str(size)[:20]!r}"
        for name, kind in _BATCH_FIELDS.items():
            if not _fits(batch.get(name), kind):
                return f"'batches.{str(size)[:20]}.{name}' must be {_KIND_WORDS[kind]}"
    return None


_AGAIN = "use the file that 'python -m advisor measure' wrote, or measure again"


def read_device_measurement(source: str | Path | bytes, name: str | None = None, check: bool = True) -> dict[str, Any]:
    """A device measurement that `measure` wrote, from its file or its bytes (an upload, `name`d).

    Refused with one sentence naming it when it is unreadable, over the size cap, not UTF-8 JSON or
    not a measurement; with `check` (the default), also when any figure the advisor reads from it
    has the wrong type or range (`attach_device` checks those too)."""
    label = name or str(source if not isinstance(source, bytes) else "the measurement")
    if isinstance(source, bytes):
        raw = source[: DEVICE_FILE_MAX_BYTES + 1]
    else:
        try:
            with Path(source).open("rb") as handle:  # through a cap: a huge file (or a device) is not one
                raw = handle.read(DEVICE_FILE_MAX_BYTES + 1)
        except OSError as exc:
            raise AdvisorError(
                f"'{label}' could not be read as a device measurement ({exc.strerror}); {_AGAIN}."
            ) from None
    if len(raw) > DEVICE_FILE_MAX_BYTES:
        raise AdvisorError(
            f"'{label}' is over {DEVICE_FILE_MAX_BYTES // 1_000_000} MB, far more than a device measurement "
            f"(a few kB); {_AGAIN}."
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past the parser's depth
        reason = str(exc)[:80] if isinstance(exc, ValueError) else "nested too deeply"
        raise AdvisorError(f"'{label}' is not valid JSON ({reason}); {_AGAIN}.") from None
    if not isinstance(data, Mapping) or data.get("format") != DEVICE_FORMAT:
        raise AdvisorError(f"'{label}' is not a device measurement (no 'format': '{DEVICE_FORMAT}'); {_AGAIN}.")
    if check:
        _check(data, label)
    return dict(data)


def _check(data: Mapping[str, Any], label: str) -> None:
    problem = _measurement_problem(data)
    if problem:
        raise AdvisorError(f"'{label}' is not a usable device measurement: {problem}; {_AGAIN}.")


def attach_device(run: Any, measurement: Mapping[str, Any], name: str = "the measurement") -> str:
    """Add a device measurement (`read_device_measurement`) to the run's candidate it belongs to, once
    its figures are checked; returns that candidate's key."""
    _check(measurement, name)
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
