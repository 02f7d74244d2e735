"""Engine benchmark: the full default catalog, full timing protocol, on three real sets.

    python bench/bench_engine.py                 # adult, california_housing, digits
    python bench/bench_engine.py adult digits    # a subset

Prints wall time per phase and per candidate, and the leaderboard of each run; writes
bench/out/engine.json. The target it checks (issue 1): the adult run ends within 120 s on
2 cores.
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
from advisor.cli import render  # noqa: E402

SETS = {
    "adult": ("adult.csv.gz", "income"),
    "california_housing": ("california_housing.csv.gz", "median_house_value"),
    "digits": ("digits.csv", "target"),
    "penguins": ("penguins.csv", "species"),
}
ADULT_TARGET_S = 120.0


def bench(name: str, store: advisor.Store) -> dict:
    file, target = SETS[name]
    start = time.perf_counter()
    run = advisor.advise(ROOT / "datasets" / file, target, store=store)
    wall = time.perf_counter() - start
    print(f"\n=== {name}: {wall:.1f} s wall ===")
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.phases_s.items() if isinstance(v, float)))
    print(
        f"{'candidate':<16}{'status':<10}{'train s':>9}{'process s':>11}{'save+load s':>13}{'peak RSS MB':>13}"
        f"{'cold-start group s':>20}"
    )
    for c in run.candidates:
        w = c.wall_s
        print(
            f"{c.key:<16}{c.status:<10}{w.get('train', float('nan')):>9.2f}"
            f"{w.get('isolated_process', float('nan')):>11.2f}"
            f"{w.get('save_load', float('nan')):>13.2f}{(c.train_peak_rss_bytes or 0) / 2**20:>13.0f}"
            f"{w.get('cold_start_group', float('nan')):>20.2f}"
        )
    print(render(run))
    return {
        "set": name,
        "wall_s": wall,
        "phases_s": run.phases_s,
        "candidates": {c.key: {"status": c.status, "wall_s": c.wall_s} for c in run.candidates},
        "recommended": run.recommendation.key if run.recommendation else None,
        "measured": sum(c.status == "measured" for c in run.candidates),
    }


def main(names: list[str]) -> int:
    results = []
    with tempfile.TemporaryDirectory() as home:
        store = advisor.Store(home)
        for name in names:
            results.append(bench(name, store))
    print("\n=== summary ===")
    for r in results:
        print(f"{r['set']:<20} {r['wall_s']:7.1f} s  {r['measured']} measured  recommended: {r['recommended']}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "engine.json").write_text(json.dumps(results, indent=2))
    adult = next((r for r in results if r["set"] == "adult"), None)
    if adult is not None:
        verdict = "OK" if adult["wall_s"] <= ADULT_TARGET_S else "OVER"
        print(f"adult: {adult['wall_s']:.1f} s against the {ADULT_TARGET_S:.0f} s target: {verdict}")
        return 0 if verdict == "OK" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["adult", "california_housing", "digits"]))
