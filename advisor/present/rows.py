"""A measurement record as rows a person reads: a label, the figure with its unit, at a sensible
precision (not `7.804e-05` with sixteen digits); the record's `method` stays beside it."""

from __future__ import annotations

import dataclasses
from typing import Any

from advisor.objectives import QUALITY_LABELS
from advisor.present.numbers import format_quantity

# Fields that are not figures (the method is shown beside the rows; the others are tables of their own).
SKIPPED = ("method", "bootstrap", "per_class", "confusion", "round_p99_ms", "metrics", "primary_metric")
# A field's unit from its name's ending; fields without one are counts or plain numbers.
SUFFIX_UNITS = (("_ms", "ms"), ("_bytes", "B"), ("_s", "s"), ("_pct_median", "%"), ("_pct_max", "%"))
LABELS = {
    "p50_ms": "median (p50)",
    "p95_ms": "p95",
    "p99_ms": "p99",
    "mean_ms": "mean",
    "first_call_ms": "first call",
    "serialized_bytes": "stored model",
    "gzip_bytes": "stored model, gzipped",
    "weight_bytes": "network weights as stored",
    "nonzero_weights": "weights that are not zero",
    "load_ms": "load (warm: libraries imported, file cached)",
    "first_row_ms": "first row after the load",
    "params": "parameters (weights, or tree nodes)",
    "calls": "timed calls",
    "windows": "timing windows",
    "disturbed_windows": "windows disturbed by other processes",
    "peak_batch_rows": "rows in that batch",
    "cold_start_ms": "cold start (fresh process)",
    "cold_import_ms": "of which: imports",
    "cold_load_ms": "of which: load",
    "cold_first_row_ms": "of which: first row",
    "load_rss_bytes": "memory to load",
    "peak_predict_bytes": "extra memory predicting a batch",
    "others_cpu_pct_median": "other processes' CPU (median)",
    "others_cpu_pct_max": "other processes' CPU (max)",
    "primary_value": "primary metric",
    "primary_ci95_low": "95% interval, low",
    "primary_ci95_high": "95% interval, high",
    "test_rows": "test rows",
    "threshold_method": "how the threshold was chosen",
}


def _unit(field: str) -> str:
    for suffix, unit in SUFFIX_UNITS:
        if field.endswith(suffix):
            return unit
    return "count" if field in ("calls", "threads", "windows", "disturbed_windows", "params", "test_rows") else ""


def figure_rows(record: Any) -> list[tuple[str, str]]:
    """(label, figure) for every figure of a measurement record (quality, latency, size, start-up):
    quality metrics by their names, times in us/ms/s, bytes in B/kB/MB, counts with separators."""
    if record is None:
        return []
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    rows: list[tuple[str, str]] = []
    for name, value in (values.get("metrics") or {}).items():
        rows.append((QUALITY_LABELS.get(name, name.replace("_", " ")), format_quantity(value, "")))
    for name, value in values.items():
        if name in SKIPPED or value is None:
            continue
        label = LABELS.get(name, name.replace("_", " "))
        if isinstance(value, str):
            rows.append((label, value))
        elif isinstance(value, bool | int | float):
            percent = name.endswith(("_pct_median", "_pct_max"))
            rows.append((label, format_quantity(value / 100 if percent else value, _unit(name))))
    return rows
