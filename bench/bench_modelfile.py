"""What storing models without pickle costs: size and load time against joblib, per candidate.

    python bench/bench_modelfile.py [dataset.csv.gz target]   (default: adult, income)

Trains every default candidate once (quick timing), then for each one compares the format the
advisor writes (`model.json` + `model.npz` + LightGBM text, see advisor/deploy/modelfile.py) with
what format 1 stored (the whole predictor through joblib.dump): bytes, and the time to rebuild
the predictor from those bytes in this process (median of 7 loads after one warm-up, 1 thread),
and the largest difference between their scores on 2,000 test rows (0 when both rebuild the
same model; a random forest's multi-threaded averaging may differ in the last bits). Writes bench/out/modelfile.json.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import advisor  # noqa: E402
from advisor.deploy.artifact import model_members, read_verified  # noqa: E402
from advisor.deploy.modelfile import load_model_files  # noqa: E402

LOADS = 7


def _median_ms(load) -> float:
    load()
    times = []
    for _ in range(LOADS):
        start = time.perf_counter()
        load()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv: list[str]) -> dict:
    source = Path(argv[0]) if argv else ROOT / "datasets" / "adult.csv.gz"
    target = argv[1] if len(argv) > 1 else "income"
    with tempfile.TemporaryDirectory() as store:
        run = advisor.advise(source, target, timing=advisor.QUICK_TIMING, store=store)
        dataset = advisor.load_dataset(source, target)
        rows = advisor.split_dataset(dataset).X_test.head(2000)
        figures = {}
        with threadpool_limits(1):
            for result in run.candidates:
                if not result.artifact or result.status != "measured":
                    continue
                contents, _ = read_verified(result.artifact)
                files = model_members(contents)
                predictor = load_model_files(files, result.key)
                buffer = io.BytesIO()
                joblib.dump(predictor, buffer, compress=0)
                old = buffer.getvalue()
                ours = np.asarray(predictor.scores(rows), dtype=float)
                theirs = np.asarray(joblib.load(io.BytesIO(old)).scores(rows), dtype=float)
                difference = float(np.abs(ours - theirs).max())
                new_bytes = sum(len(d) for d in files.values())
                figures[result.key] = {
                    "new_bytes": new_bytes,
                    "joblib_bytes": len(old),
                    "size_ratio": round(new_bytes / len(old), 3),
                    "new_load_ms": round(_median_ms(lambda f=files, k=result.key: load_model_files(f, k)), 3),
                    "joblib_load_ms": round(_median_ms(lambda b=old: joblib.load(io.BytesIO(b))), 3),
                    "max_score_difference": difference,
                }
                f = figures[result.key]
                f["load_ratio"] = round(f["new_load_ms"] / f["joblib_load_ms"], 2)
                print(
                    f"{result.key:22s} {f['new_bytes']:>10,} B vs {f['joblib_bytes']:>10,} B ({f['size_ratio']:.2f}x)  "
                    f"load {f['new_load_ms']:8.2f} ms vs {f['joblib_load_ms']:8.2f} ms ({f['load_ratio']:.2f}x)  "
                    f"max score difference: {difference:.2g}"
                )
    out = {
        "dataset": source.name,
        "method": f"median of {LOADS} loads from bytes in memory after one warm-up, 1 thread; same process",
        "candidates": figures,
    }
    path = ROOT / "bench" / "out" / "modelfile.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
