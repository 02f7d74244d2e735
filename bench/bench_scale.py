"""Scale benchmark: the default run (default catalog, full timing protocol) at 10k, 30k and 100k rows.

    python bench/bench_scale.py                   # 10000 30000 100000
    python bench/bench_scale.py 10000 100000      # chosen sizes

The rows are drawn from the shared adult census set (32,561 rows): without replacement up to
its size, with replacement above it (so the 100k run holds repeated rows, which also land on
both sides of the split: its quality figures are inflated, its timings are what matter here).
Prints the wall time per phase at each size and the growth against the smallest size; writes
bench/out/scale.json. The goal (issue 7): 10x the rows costs at most 10x the time.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

import advisor  # noqa: E402

SOURCE = ROOT / "datasets" / "adult.csv.gz"
TARGET = "income"


def rows_of(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    return frame.sample(n=n, replace=n > len(frame), random_state=0).reset_index(drop=True)


def bench(frame: pd.DataFrame, n: int, store: advisor.Store) -> dict:
    data = rows_of(frame, n)
    start = time.perf_counter()
    run = advisor.advise(data, TARGET, name=f"adult-{n}", store=store)
    wall = time.perf_counter() - start
    phases = {k: round(v, 2) for k, v in run.phases_s.items() if isinstance(v, float)}
    print(f"\n=== {n:,} rows: {wall:.1f} s wall ===")
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    train = sorted(((c.key, c.wall_s.get("isolated_process", 0.0)) for c in run.candidates), key=lambda kv: -kv[1])[:5]
    print("slowest candidates (training process, s): " + ", ".join(f"{k} {v:.1f}" for k, v in train))
    if run.learning_curve:
        print(f"learning curve ({run.learning_curve['key']}): {run.learning_curve.get('verdict')}")
    return {
        "rows": n,
        "wall_s": wall,
        "phases_s": phases,
        "split": run.split,
        "measured": sum(c.status == "measured" for c in run.candidates),
        "recommended": run.recommendation.key if run.recommendation else None,
    }


def main(sizes: list[int]) -> int:
    frame = pd.read_csv(SOURCE)
    results = []
    with tempfile.TemporaryDirectory() as home:
        store = advisor.Store(home)
        for n in sizes:
            results.append(bench(frame, n, store))
    base = results[0]
    print("\n=== growth ===")
    print(f"{'rows':>8} {'wall s':>8} {'x rows':>7} {'x time':>7}  measured  recommended")
    for r in results:
        r["rows_ratio"] = r["rows"] / base["rows"]
        r["time_ratio"] = r["wall_s"] / base["wall_s"]
        print(
            f"{r['rows']:>8,} {r['wall_s']:>8.1f} {r['rows_ratio']:>7.1f} {r['time_ratio']:>7.2f}  "
            f"{r['measured']:>8}  {r['recommended']}"
        )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=2))
    last = results[-1]
    ok = last["time_ratio"] <= last["rows_ratio"]
    print(
        f"{last['rows_ratio']:.0f}x the rows took {last['time_ratio']:.2f}x the time: "
        f"{'OK' if ok else 'OVER'} (goal: at most {last['rows_ratio']:.0f}x)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main([int(a) for a in sys.argv[1:]] or [10_000, 30_000, 100_000]))
