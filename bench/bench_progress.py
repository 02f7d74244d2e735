"""Progress benchmark: is the time left that a run shows close to the time it really had left?

    python bench/bench_progress.py                      # adult, default catalog, default timing
    python bench/bench_progress.py --candidates linear,tree,lightgbm --quick
    python bench/bench_progress.py --data california_housing.csv.gz --target median_house_value

Runs the advisor on datasets/adult.csv.gz (target income; or --data/--target), records (elapsed, share done, time
left, phase) at every progress event, then prints the time left shown at 25%, 50% and 75% of
the run's real duration against the time that was really left (the aim: within 30%), and each
phase's share of the run. Writes bench/out/progress.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402

CHECKPOINTS = (0.25, 0.5, 0.75)
AIM = 0.30  # the shown time left within 30% of the real time left


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", help="comma-separated catalog keys (default: the default catalog)")
    parser.add_argument("--quick", action="store_true", help="QUICK_TIMING instead of the default protocol")
    parser.add_argument("--data", default="adult.csv.gz", help="a file in datasets/ (default adult.csv.gz)")
    parser.add_argument("--target", default="income", help="its target column (default income)")
    args = parser.parse_args()
    events: list[dict] = []

    def record(event: advisor.ProgressEvent) -> None:
        events.append(
            {
                "elapsed_s": event.elapsed_s,
                "fraction": event.fraction,
                "eta_s": event.eta_s,
                "stage": event.stage,
                "phase_label": event.phase_label,
                "message": event.message,
                "done": event.done,
                "total": event.total,
                "unit": event.unit,
            }
        )

    candidates = args.candidates.split(",") if args.candidates else None
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        run = advisor.advise(
            ROOT / "datasets" / args.data,
            args.target,
            store=home,
            candidates=candidates,
            timing=advisor.QUICK_TIMING if args.quick else advisor.TimingConfig(),
            progress=record,
        )
        total_s = time.perf_counter() - start
    offset = total_s - events[-1]["elapsed_s"]  # the events' clock starts after the call did
    for e in events:
        e["real_left_s"] = max(0.0, events[-1]["elapsed_s"] - e["elapsed_s"])
    print(f"{args.data}: {len(run.candidates)} candidates, {total_s:.1f} s, {len(events)} progress events")
    checks = []
    for share in CHECKPOINTS:
        at = share * events[-1]["elapsed_s"]
        shown = [e for e in events if e["elapsed_s"] <= at and e["eta_s"] is not None]
        if not shown:
            print(f"  at {share:.0%} of the run: no time left shown yet")
            checks.append({"share": share, "shown_left_s": None})
            continue
        last = shown[-1]
        said = max(0.0, last["eta_s"] - (at - last["elapsed_s"]))  # as a display counting down would show it
        real = events[-1]["elapsed_s"] - at
        error = (said - real) / real if real else 0.0
        print(
            f"  at {share:.0%} ({at:.0f} s, {last['phase_label']}): shown {said:.0f} s left, really {real:.0f} s "
            f"({error:+.0%}; {'within' if abs(error) <= AIM else 'outside'} {AIM:.0%}); share shown "
            f"{last['fraction']:.0%}"
        )
        checks.append({"share": share, "at_s": at, "shown_left_s": said, "real_left_s": real, "error": error})
    phases: dict[str, float] = {}
    for before, after in itertools.pairwise(events):
        label = before["phase_label"]
        phases[label] = phases.get(label, 0.0) + after["elapsed_s"] - before["elapsed_s"]
    print("  phases: " + ", ".join(f"{k} {v:.0f} s ({v / events[-1]['elapsed_s']:.0%})" for k, v in phases.items()))
    first_eta = next((e for e in events if e["eta_s"] is not None), None)
    if first_eta:
        print(f"  first time left shown at {first_eta['elapsed_s']:.1f} s: {first_eta['eta_s']:.0f} s")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "progress.json").write_text(
        json.dumps(
            {
                "dataset": args.data,
                "candidates": [c.key for c in run.candidates],
                "timing": "quick" if args.quick else "default",
                "total_s": total_s,
                "start_offset_s": offset,
                "checks": checks,
                "phases_s": phases,
                "events": events,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
