"""Compression benchmark: the whole lab on adult and digits, measured like every candidate.

    python bench/bench_compression.py            # adult and digits
    python bench/bench_compression.py digits     # one set

For every variant: its parent, the change in the primary metric (percentage points, test
split), the stored size against the parent (whole artifact, and the network's weights alone),
the single-row p50 latency against the parent (end to end: raw record in, prediction out;
and the model alone on an already-encoded row), and the load time against the parent.
Then the issue's targets, each with its verdict. Writes bench/out/compression.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402
from advisor.measure.timing import TimingConfig, measure_single_row, pinned_threads  # noqa: E402

SETS = {"adult": ("adult.csv.gz", "income"), "digits": ("digits.csv", "target")}
MODEL_ONLY = TimingConfig(warmup_calls=200, calls=1000, rounds=10)


def lab_keys() -> list[str]:
    return [s.key for s in advisor.load_candidates() if s.parent or s.uses]


def model_only_p50(run: advisor.Run, keys: list[str]) -> dict[str, float]:
    """p50 of the model alone (no preprocessing) on single encoded rows, interleaved, 1 thread."""
    predictors = {k: advisor.load_predictor(run.candidate(k).artifact) for k in keys}
    frame = advisor.load_table(ROOT / "datasets" / SETS[run.dataset["name"].split(".")[0]][0])[0]
    rows = frame.drop(columns=[run.dataset["target"]]).head(200)
    encoded = next(iter(predictors.values())).encoder.transform(rows)
    inputs = [encoded[i : i + 1] for i in range(len(encoded))]
    calls = {k: p.model.scores for k, p in predictors.items()}
    with pinned_threads(1, [p.set_threads for p in predictors.values()]):
        figures = measure_single_row(calls, inputs, MODEL_ONLY, input_form="one encoded row")
    return {k: f.p50_ms for k, f in figures.items()}


def ratio(a: float | None, b: float | None) -> float:
    return float(a / b) if a and b else float("nan")


def table(run: advisor.Run) -> list[dict]:
    keys = [c.key for c in run.candidates if c.status == "measured"]
    alone = model_only_p50(run, keys)
    metric = run.primary_metric
    rows = []
    for c in run.candidates:
        if c.status != "measured" or not c.parent:
            continue
        parent = run.candidate(c.parent)
        rows.append(
            {
                "variant": c.key,
                "parent": c.parent,
                "compression": c.compression,
                "delta_pp": (c.quality.metrics[metric] - parent.quality.metrics[metric]) * 100,
                "bytes_ratio": ratio(c.size.serialized_bytes, parent.size.serialized_bytes),
                "weight_bytes_ratio": ratio(c.size.weight_bytes, parent.size.weight_bytes),
                "p50_ratio": ratio(c.latency.p50_ms, parent.latency.p50_ms),
                "model_p50_ratio": ratio(alone.get(c.key), alone.get(c.parent)),
                "load_ratio": ratio(
                    c.startup.load_ms + c.startup.first_row_ms, parent.startup.load_ms + parent.startup.first_row_ms
                ),
                "agreement": c.quality.metrics.get("teacher_agreement"),
                "p50_ms": c.latency.p50_ms,
                "model_p50_ms": alone.get(c.key),
                "notes": c.notes,
            }
        )
    return rows


def print_table(name: str, run: advisor.Run, rows: list[dict]) -> None:
    print(
        f"\n=== {name}: {run.primary_metric}, parent figures: "
        + ", ".join(
            f"{k} {run.candidate(k).quality.metrics[run.primary_metric]:.4f}, p50 "
            f"{run.candidate(k).latency.p50_ms:.3f} ms"
            for k in sorted({r["parent"] for r in rows})
        )
        + " ==="
    )
    print(
        f"{'variant':<18}{'parent':<10}{'d ' + run.primary_metric[:8] + ' pp':>14}{'bytes':>8}{'weights':>9}"
        f"{'p50':>7}{'model p50':>10}{'load':>7}{'agree':>7}"
    )
    for r in rows:
        agreement = f"{r['agreement']:.3f}" if r["agreement"] is not None else "-"
        print(
            f"{r['variant']:<18}{r['parent']:<10}{r['delta_pp']:>+14.2f}{r['bytes_ratio']:>8.3f}"
            f"{r['weight_bytes_ratio']:>9.3f}{r['p50_ratio']:>7.2f}{r['model_p50_ratio']:>10.2f}"
            f"{r['load_ratio']:>7.2f}{agreement:>7}"
        )
    print(
        "ratios are variant / parent, measured in this one run; p50: one raw record end to end, 1 thread; "
        "model p50: the model alone on an encoded row"
    )


def targets(run: advisor.Run, rows: list[dict]) -> list[str]:
    by = {r["variant"]: r for r in rows}
    out = []
    if "mlp-int8" in by:
        r = by["mlp-int8"]
        ok = r["weight_bytes_ratio"] <= 0.3 and r["delta_pp"] >= -0.5
        out.append(
            f"int8 <= 0.3x the fp32 weight bytes at <= 0.5 pp loss: {r['weight_bytes_ratio']:.3f}x "
            f"(whole artifact {r['bytes_ratio']:.3f}x, preprocessing included), {r['delta_pp']:+.2f} pp: "
            f"{'OK' if ok else 'MISSED'}"
        )
    if "mlp-prune80" in by and "mlp-prune80-ft" in by:
        ft, raw = by["mlp-prune80-ft"], by["mlp-prune80"]
        ok = ft["delta_pp"] >= -0.5 and ft["delta_pp"] >= raw["delta_pp"]
        out.append(
            f"80% pruning + fine-tune within 0.5 pp of the parent and better than without: "
            f"{ft['delta_pp']:+.2f} pp with, {raw['delta_pp']:+.2f} pp without: {'OK' if ok else 'MISSED'}"
        )
    for student in ("distill-mlp", "distill-tree"):
        if student in by:
            r = by[student]
            teacher = run.candidate(r["parent"])
            speed = teacher.latency.p50_ms / run.candidate(student).latency.p50_ms
            model_speed = 1 / r["model_p50_ratio"]
            ok = speed >= 10 and r["delta_pp"] >= -1
            out.append(
                f"{student} >= 10x faster per row than its teacher at <= 1 pp loss: {speed:.1f}x end to "
                f"end, {model_speed:.1f}x for the model alone, {r['delta_pp']:+.2f} pp, agreement "
                f"{r['agreement']:.3f}: {'OK' if ok else 'MISSED'}"
            )
    if "mlp-binary" in by:
        from advisor.candidates.layers import linear_layers

        parent = advisor.load_predictor(run.candidate("mlp").artifact).model
        entries = [layer.weight.numel() for layer in linear_layers(parent.network)]
        fp32_matrices = 4 * sum(entries)
        packed_matrices = sum(-(-n // 8) for n in entries)  # one bit per weight, rounded up per layer
        c, fp32 = run.candidate("mlp-binary").size, run.candidate("mlp").size
        out.append(
            f"binary weights about 1/32 of the fp32 weight bytes: the matrices {packed_matrices:,} B against "
            f"{fp32_matrices:,} B = 1/{fp32_matrices / packed_matrices:.1f}; with the fp32 per-channel scales "
            f"and biases, {c.weight_bytes:,} B against {fp32.weight_bytes:,} B = "
            f"1/{fp32.weight_bytes / c.weight_bytes:.1f}"
        )
    return out


def main(names: list[str]) -> int:
    results = {}
    with tempfile.TemporaryDirectory() as home:
        for name in names:
            file, target = SETS[name]
            start = time.perf_counter()
            run = advisor.advise(ROOT / "datasets" / file, target, candidates=lab_keys(), store=home)
            wall = time.perf_counter() - start
            rows = table(run)
            print_table(name, run, rows)
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in run.phases_s.items())
            print(f"wall time of the lab on {name}: {wall:.1f} s ({phases})")
            verdicts = targets(run, rows)
            for line in verdicts:
                print("target: " + line)
            sweep = run.candidate("mlp-sweep")
            print("precision sweep: " + sweep.notes[0])
            results[name] = {"rows": rows, "targets": verdicts, "wall_s": wall, "phases_s": run.phases_s}
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "compression.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["adult", "digits"]))
