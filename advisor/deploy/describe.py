"""What an artifact says about itself, in plain files: the input schema, the preprocessing in
plain numbers, the decision rule, the library versions and the model card.

Every string from the user or the run in the model card is escaped for markdown (`present.text`).
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from advisor.data.dates import DATE_FORMATS, EARLIEST_YEAR, LATEST_YEAR
from advisor.data.encoder import MISSING, CategoricalBlock
from advisor.deploy.predictor import Predictor
from advisor.present.text import markdown_code as code
from advisor.present.text import markdown_text as text
from advisor.version import __version__

LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "torch")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["advisor"] = __version__
    return found


def input_schema(predictor: Predictor) -> dict[str, Any]:
    encoder = predictor.encoder
    group = encoder.numeric_
    columns: list[dict[str, Any]] = []
    for j, name in enumerate(group.columns):
        columns.append({"name": name, "role": "numeric", "type": "number", "median": float(group.medians[j])})
    for block in encoder.blocks_:
        role = encoder.roles[block.column]
        entry: dict[str, Any] = {
            "name": block.column,
            "role": role,
            "type": "datetime" if role == "datetime" else "string",
        }
        if isinstance(block, CategoricalBlock):
            entry["categories"] = [c for c in block.vocabulary if c != MISSING]
            entry["missing_seen"] = MISSING in block.vocabulary
        columns.append(entry)
    order = {c: i for i, c in enumerate(encoder.columns_)}
    columns.sort(key=lambda c: order[c["name"]])
    return {
        "target": predictor.target,
        "task": predictor.task,
        "classes": None if predictor.classes is None else [str(c) for c in predictor.classes],
        "columns": columns,
    }


def model_card(predictor: Predictor, metrics: Mapping[str, Any]) -> str:
    """MODEL_CARD.md. Every string from the user or the run (names, labels, notes) is escaped for
    markdown: identifiers as code spans no backtick can close, prose as literal text."""

    run = metrics.get("run", {})
    dataset = run.get("dataset", {})
    candidate = metrics.get("candidate", {})
    quality = (candidate.get("quality") or {}).get("metrics", {})
    latency = candidate.get("latency") or {}
    size = candidate.get("size") or {}
    lines = [
        f"# Model card: {text(predictor.name)}",
        "",
        f"- Candidate: {code(predictor.key)} ({text(candidate.get('family', '?'))}), from advisor run "
        f"{code(run.get('run_id', '?'))}.",
        f"- Task: {text(predictor.task)}, predicting {code(predictor.target)} from {len(predictor.input_columns)} "
        "columns.",
        f"- Trained on: {text(dataset.get('name', '?'))} ({text(dataset.get('rows', '?'))} rows; 60% train, "
        "20% validation, 20% test, split with a fixed seed).",
    ]
    if candidate.get("parent"):
        lines.append(f"- Derived from {code(candidate['parent'])} by {code(candidate.get('compression'))}.")
    member_weights = getattr(getattr(predictor, "model", None), "member_weights", None)  # an ensemble's weights
    if callable(member_weights):
        members = ", ".join(f"{code(key)} {weight:.2f}" for key, weight in member_weights().items())
        lines.append(f"- An ensemble: its scores are its members' averaged with these weights: {members}.")
    decision = decision_rule(predictor)
    if decision is not None and "threshold" in decision:
        lines.append(
            f"- Decision: predicts '{text(decision['positive_class'])}' when its probability is at least "
            f"{decision['threshold']:.4g}, otherwise '{text(decision['negative_class'])}' "
            f"({text(decision['method'])}); "
            "`predict_proba` gives the probabilities themselves."
        )
    elif decision is not None:
        lines.append("- Decision: predicts the class with the highest probability.")
    lines += ["", "## Measured", ""]
    labels_at = " (labels at the decision threshold above)" if decision and "threshold" in decision else ""
    for name, value in quality.items():
        labels = labels_at if name in _LABEL_METRICS else ""
        lines.append(f"- {text(name)}: {value:.4f} on the held-out test split{labels}")
    if latency:
        lines.append(f"- one-row latency (1 thread): p50 {latency['p50_ms']:.3f} ms, p99 {latency['p99_ms']:.3f} ms")
    if size:
        lines.append(f"- size: {size['serialized_bytes']:,} bytes stored, {size['params']:,} parameters")
    hardware = run.get("hardware", {})
    if hardware:
        lines.append(
            f"- measured on: {text(hardware.get('cpu_model'))}, {text(hardware.get('usable_cpus'))} usable CPUs"
        )
    lines += [
        "",
        "How each figure was obtained is in `metrics.json` (the `method` of each measurement).",
        "",
        "## Intended use",
        "",
        f"Predicting {code(predictor.target)} for rows like the training data, with the same columns and meanings. "
        "Load with `advisor.load_artifact(path)`; `predict` accepts a DataFrame, a list of dicts or one dict.",
        "",
        "## Limits",
        "",
        "- Quality was measured on a random test split of the same data: rows from another time, place or "
        "population can score differently. Re-measure on recent data before relying on it.",
        "- Values never seen in training for a categorical column are treated as 'other' (strict=True refuses "
        "them); a missing number is replaced by the training median.",
        "- Latency and throughput were measured on the machine above; other hardware will differ "
        "(`python -m advisor measure` measures an artifact on the target machine).",
    ]
    for warning in dataset.get("warnings", []):
        lines.append(f"- Data note: {text(warning)}")
    return "\n".join(lines) + "\n"


_LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")


def decision_rule(predictor: Predictor) -> dict[str, Any] | None:
    """How the predictor turns probabilities into a label, stated for another runtime (None for regression)."""
    if predictor.task == "regression" or predictor.classes is None:
        return None
    classes = [str(c) for c in predictor.classes]
    threshold = predictor.decision_threshold
    if threshold is None:
        return {"rule": "the class with the highest probability (argmax over `classes`)", "classes": classes}
    return {
        "rule": f"'{classes[1]}' when probability[:, 1] >= threshold, else '{classes[0]}'",
        "positive_class": classes[1],
        "negative_class": classes[0],
        "threshold": threshold,
        "method": predictor.threshold_method,
        "classes": classes,
    }


def preprocessing_spec(predictor: Predictor) -> dict[str, Any]:
    """The fitted preprocessing as plain numbers, so a runtime other than Python can reproduce it."""
    encoder = predictor.encoder
    group = encoder.numeric_
    blocks = []
    for block in encoder.blocks_:
        entry: dict[str, Any] = {"column": block.column, "role": encoder.roles[block.column]}
        if isinstance(block, CategoricalBlock):
            entry.update(
                one_hot=[None if v == MISSING else v for v in block.vocabulary],
                other="one more position after these, for unseen or rare values",
            )
        elif hasattr(block, "buckets"):
            entry.update(
                buckets=block.buckets,
                rule="lower-case, tokens \\w+, bucket = crc32(token) % buckets, counts then L2-normalised",
            )
        else:
            entry.update(date_reading(block.date_format))
            entry.update(
                parts=["year", "month", "day", "weekday", "hour"],
                medians=list(block.medians),
                means=list(block.means),
                scales=list(block.scales),
            )
        blocks.append(entry)
    return {
        "width": encoder.n_features_out_,
        "feature_names": list(encoder.feature_names_out_),
        "numeric": {
            "columns": list(group.columns),
            "medians": group.medians.tolist(),
            "means": group.means.tolist(),
            "scales": group.scales.tolist(),
            "missing_indicators_for": [group.columns[i] for i in group.indicators],
            "rule": "x = ((the value, or the median when missing) - mean) / scale; then one 0/1 indicator per "
            "listed column",
        },
        "blocks_in_order_after_numeric": blocks,
        "decision": decision_rule(predictor),
    }


def date_reading(date_format: str | None) -> dict[str, Any]:
    """How a date column's values are read, stated for another runtime."""
    if date_format is None:  # artifacts from before formats were learned
        return {
            "format": None,
            "rule": "pandas.to_datetime(format='mixed', utc=True), then without the zone; unreadable values are "
            "missing (imputed with the medians)",
        }
    return {
        "format": date_format,
        "pattern": DATE_FORMATS[date_format].pattern,
        "rule": "text, stripped, must match `pattern` entirely, else it is missing (imputed with the medians); it "
        "is then read with strptime `format` ('ISO8601': ISO 8601, as Python's datetime.fromisoformat reads it), "
        "converted to UTC when it names a zone and taken as UTC otherwise; weekday 0 is Monday. Dates outside "
        f"the years {EARLIEST_YEAR}-{LATEST_YEAR} are missing.",
    }
