"""Quality benchmark: how close does the advisor's most accurate candidate come to AutoGluon?

    python bench/bench_quality.py adult california_housing          # a subset (names as in datasets/)
    python bench/bench_quality.py                                   # the six sets below
    python bench/bench_quality.py adult --budget 120                # the run's --budget (the tuned search's share)
    python bench/bench_quality.py adult --candidates baseline,lightgbm,lightgbm-tuned   # a smaller catalog
    python bench/bench_quality.py --runs bench/out/quality_runs     # reuse runs made before (same store)

One advisor run per set (the default catalog unless --candidates; quick timing, no learning curve:
only the quality and training figures are read here), seed 0, the run's own 60/20/20 split. For
each set it prints the primary metric on the test split of the most accurate candidate, of the
LightGBM default and of the tuned LightGBM (with its trials, rounds and training time), the
AutoGluon reference figure below and the gap, and the run's wall time. Students (every candidate
whose key starts with "distill") get their gap to the most accurate candidate and their p50 and
size as ratios of its.

AutoGluon references: `TabularPredictor(presets="medium_quality")`, seed 0, on a quiet 2-core
machine, on its own 80/20 split; so the test rows are not the same rows as the advisor's (both are
20% of the set): read a gap under about 0.005 as noise. Sets without a reference say so.

Writes bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402

SETS = {  # name: (file, target)
    "adult": ("adult.csv.gz", "income"),
    "california_housing": ("california_housing.csv.gz", "median_house_value"),
    "digits": ("digits.csv", "target"),
    "penguins": ("penguins.csv", "species"),
    "diamonds": ("diamonds.csv.gz", "price"),
    "seattle_weather": ("seattle_weather.csv", "weather"),
}
# AutoGluon medium_quality (seed 0, 80/20): the primary metric the advisor picks for the set.
AUTOGLUON = {
    "adult": {"metric": "accuracy", "value": 0.872, "note": "0.865-0.872 across repeats; the upper end"},
    "california_housing": {"metric": "r2", "value": 0.849},
    "digits": {"metric": "accuracy", "value": 0.967},
    "penguins": {"metric": "accuracy", "value": 0.986},
}
DATA_FOLDERS = (ROOT / "datasets", ROOT.parent / "shared" / "datasets")


def data_file(name: str) -> Path:
    file = SETS[name][0]
    for folder in DATA_FOLDERS:
        if (folder / file).is_file():
            return folder / file
    raise SystemExit(f"{file} is in none of {', '.join(str(f) for f in DATA_FOLDERS)}")


def get_run(name: str, args: argparse.Namespace, store: advisor.Store, index: dict) -> tuple[advisor.Run, float | None]:
    if name in index:
        try:
            return advisor.open_run(index[name], store=store), None
        except advisor.AdvisorError:
            pass
    started = time.perf_counter()
    run = advisor.advise(
        data_file(name),
        SETS[name][1],
        store=store,
        timing=advisor.QUICK_TIMING,
        with_learning_curve=False,
        candidates=args.candidates.split(",") if args.candidates else None,
        budget_s=args.budget,
        seed=0,
    )
    wall_s = time.perf_counter() - started
    index[name] = run.run_id
    return run, wall_s


def quality(c: Any) -> float | None:
    return c.quality.primary_value if c is not None and c.quality is not None else None


def summarise(name: str, run: advisor.Run, wall_s: float | None) -> dict[str, Any]:
    metric = run.primary_metric
    higher = advisor.HIGHER_IS_BETTER[metric]
    helpers = run.settings.get("helpers") or {}
    scored = [c for c in run.candidates if quality(c) is not None and c.key not in helpers]
    best = (max if higher else min)(scored, key=quality)
    by_key = {c.key: c for c in run.candidates}
    tuned = by_key.get("lightgbm-tuned")
    reference = AUTOGLUON.get(name)
    out: dict[str, Any] = {
        "set": name,
        "metric": metric,
        "rows": run.split,
        "best": {"key": best.key, "value": quality(best)},
        "lightgbm": quality(by_key.get("lightgbm")),
        "lightgbm_tuned": None
        if tuned is None
        else {"value": quality(tuned), "train_s": tuned.train_s, "status": tuned.status, "notes": tuned.notes[:2]},
        "autogluon": reference,
        "gap_to_autogluon": None,
        "run_wall_s": wall_s,
        "train_phase_s": run.phases_s.get("train_s"),
        "students": students(run, best),
    }
    if reference and reference["metric"] == metric:
        sign = 1.0 if higher else -1.0
        out["gap_to_autogluon"] = sign * (quality(best) - reference["value"])
    return out


def students(run: advisor.Run, best: Any) -> list[dict[str, Any]]:
    """The slot for distilled students: each one's gap to the most accurate candidate (positive:
    better), and its p50 latency and artifact size as ratios of that candidate's."""
    higher = advisor.HIGHER_IS_BETTER[run.primary_metric]
    rows = []
    for c in run.candidates:
        if not c.key.startswith("distill") or quality(c) is None:
            continue
        p50 = c.latency.p50_ms / best.latency.p50_ms if c.latency and best.latency else None
        size = c.size.serialized_bytes / best.size.serialized_bytes if c.size and best.size else None
        gap = (quality(c) - quality(best)) * (1.0 if higher else -1.0)
        rows.append({"key": c.key, "value": quality(c), "gap_to_best": gap, "p50_ratio": p50, "size_ratio": size})
    return rows


def show(row: dict[str, Any]) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    tuned = row["lightgbm_tuned"] or {}
    reference = row["autogluon"]
    print(f"\n[{row['set']}] {row['metric']}, split {row['rows']}")
    print(f"  best candidate      {row['best']['key']:<22} {fmt(row['best']['value'])}")
    print(f"  LightGBM default    {'':<22} {fmt(row['lightgbm'])}")
    tuned_s = f"   trained in {tuned['train_s']:.1f} s" if tuned.get("train_s") is not None else ""
    print(f"  LightGBM tuned      {'':<22} {fmt(tuned.get('value'))}{tuned_s}")
    if reference:
        note = f" ({reference['note']})" if reference.get("note") else ""
        print(f"  AutoGluon medium    {'':<22} {reference['value']:.4f}{note}; gap {row['gap_to_autogluon']:+.4f}")
    else:
        print("  AutoGluon medium    no reference figure for this set")
    if row["run_wall_s"] is not None:
        print(f"  run wall time {row['run_wall_s']:.0f} s (training phase {row['train_phase_s']:.0f} s)")
    for note in tuned.get("notes", []):
        print(f"    {note}")
    for s in row["students"]:
        print(
            f"  student {s['key']:<18} {fmt(s['value'])} gap {s['gap_to_best']:+.4f}, "
            f"p50 x{s['p50_ratio'] or float('nan'):.2f}, size x{s['size_ratio'] or float('nan'):.2f} of the best"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help=f"data sets (default: all six): {', '.join(SETS)}")
    parser.add_argument("--candidates", help="comma-separated catalog keys (default: the default catalog)")
    parser.add_argument("--budget", type=float, help="the run's time budget in seconds (default: none)")
    parser.add_argument("--runs", default=str(ROOT / "bench" / "out" / "quality_runs"), help="run store to use")
    args = parser.parse_args()
    unknown = [name for name in args.sets if name not in SETS]
    if unknown:
        parser.error(f"unknown set {unknown[0]!r}: choose from {', '.join(SETS)}")
    store = advisor.Store(args.runs)
    index_path = Path(args.runs) / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    rows = []
    for name in args.sets or list(SETS):
        run, wall_s = get_run(name, args, store, index)
        index_path.write_text(json.dumps(index, indent=1))
        row = summarise(name, run, wall_s)
        show(row)
        rows.append(row)
    out = ROOT / "bench" / "out" / "quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
