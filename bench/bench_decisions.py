"""Decision benchmark: is every pick one a team can defend?

    python bench/bench_decisions.py                     # every set in datasets/, every target
    python bench/bench_decisions.py titanic digits      # a subset
    python bench/bench_decisions.py --runs bench/out/decision_runs   # reuse runs made before

One advisor run per set (the default catalog and default settings), then a re-rank for every
deployment target at that target's default weights and limits (no retraining). For each it prints
the pick, the most accurate eligible candidate, the gap, the paired-bootstrap tie between them,
what decided, and how firm the pick is. The rule it checks and prints:

    at each target's default weights, the pick is within 1 pp (0.01 R2) of the most accurate, or
    statistically tied with it, unless a stated limit or a practically significant difference
    decided; and the card names which.

Writes bench/out/decisions.json; exits 1 when a pick breaks the rule.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402
from advisor.present.card import recommendation_card  # noqa: E402
from advisor.rank.significance import paired_ties  # noqa: E402

GAP = 0.01  # 1 pp of a share metric, or 0.01 R2


def manifest() -> dict[str, tuple[str, str]]:
    entries = json.loads((ROOT / "datasets" / "manifest.json").read_text())["datasets"]
    return {e["file"].split(".")[0]: (e["file"], e["target"]) for e in entries}


def get_run(name: str, file: str, target: str, store: advisor.Store, index: dict, quick: bool) -> advisor.Run:
    if name in index:
        try:
            return advisor.open_run(index[name], store=store)
        except advisor.AdvisorError:
            pass
    start = time.perf_counter()
    run = advisor.advise(ROOT / "datasets" / file, target, store=store, timing=advisor.QUICK_TIMING if quick else None)
    print(f"[{name}] trained and measured in {time.perf_counter() - start:.0f} s", flush=True)
    index[name] = run.run_id
    return run


def check(run: advisor.Run, target: str) -> dict:
    ranked = run.rerank(profile=target)
    rec = ranked.recommendation
    card = recommendation_card(ranked)
    metric = ranked.primary_metric
    higher = advisor.HIGHER_IS_BETTER[metric]
    records = {r["key"]: r for r in ranked.records()}
    # The most accurate candidate that could be picked at all: measured, skilled, not a helper, not broken
    # (limits aside: when a limit rules it out, the rule says so).
    eligible = [
        k
        for k, reasons in rec.excluded.items()
        if not any(
            r.startswith(("not measured", "the no-skill", "no skill", "not eligible", "broken")) for r in reasons
        )
    ] + list(rec.feasible)
    eligible = [k for k in dict.fromkeys(eligible) if records[k].get(metric) is not None]
    top = (max if higher else min)(eligible, key=lambda k: records[k][metric])
    if rec.key is not None and records[rec.key].get(metric) == records[top][metric]:
        top = rec.key  # as good as the best measured quality: it is one of the most accurate
    row = {"target": target, "pick": rec.key, "most_accurate": top, "decided_by": rec.decided_by}
    if rec.key is None:
        row.update(gap=None, tied=None, ok=True, why="no recommendation: " + rec.reason)
        return row
    gap = records[top][metric] - records[rec.key][metric]
    gap = gap if higher else -gap
    ties = paired_ties(ranked.replicates())
    tied = ties.tied(rec.key, top)
    interval = ties.interval(rec.key, top)
    limited = top in rec.excluded and any(r.split(" ")[0] in rec.limits for r in rec.excluded[top])
    named = " ".join(card.notes)
    if rec.key == top:
        ok, why = True, "is the most accurate"
    elif limited:
        ok, why = "excluded by your limits" in named, "a limit excluded the most accurate"
    elif gap <= GAP + 1e-12:
        ok, why = True, f"within {GAP:g} of the most accurate"
    elif tied:
        ok, why = "Statistically tied" in named, "statistically tied with the most accurate"
    elif rec.decided_by == "significant difference":
        ok, why = "differences users can notice" in named, "a noticeable difference decided"
    else:
        ok, why = False, f"gives up {gap:.4f} {metric} with no stated reason"
    row.update(
        gap=gap,
        tied=tied,
        interval=interval,
        ok=ok,
        why=why,
        notes=list(card.notes),
        stability=list(card.stability),
        gives_up=list(card.gives_up),
    )
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", help="names from datasets/manifest.json (default: all)")
    parser.add_argument("--runs", default=str(ROOT / "bench" / "out" / "decision_runs"), help="run store to reuse")
    parser.add_argument("--full-timing", action="store_true", help="the full timing protocol (slower)")
    args = parser.parse_args(argv)
    sets = manifest()
    names = args.sets or list(sets)
    store_dir = Path(args.runs)
    store_dir.mkdir(parents=True, exist_ok=True)
    store = advisor.Store(store_dir)
    index_file = store_dir / "index.json"
    index = json.loads(index_file.read_text()) if index_file.exists() else {}
    targets = list(advisor.load_targets())
    results, broken = [], 0
    for name in names:
        file, target_column = sets[name]
        run = get_run(name, file, target_column, store, index, quick=not args.full_timing)
        index_file.write_text(json.dumps(index, indent=2))
        print(
            f"\n=== {name} ({run.task}, {run.primary_metric}, {len(run.candidates)} candidates, run {run.run_id}) ==="
        )
        print(f"{'target':<11}{'pick':<22}{'most accurate':<22}{'gap':>8}  {'tied':<6}{'ok':<4}why")
        for target in targets:
            row = check(run, target)
            row["set"] = name
            results.append(row)
            broken += not row["ok"]
            gap = "-" if row["gap"] is None else f"{row['gap']:.4f}"
            print(
                f"{target:<11}{row['pick']!s:<22}{row['most_accurate']:<22}{gap:>8}  {row['tied']!s:<6}"
                f"{'yes' if row['ok'] else 'NO':<4}{row['why']}"
            )
            for text in row.get("notes", []) + row.get("stability", [])[:2]:
                print(f"{'':<11}  {text}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "decisions.json").write_text(json.dumps(results, indent=2, default=str))
    total = len(results)
    picked_top = sum(r["pick"] == r["most_accurate"] for r in results)
    print(
        f"\nRule: at each target's default weights the pick is within {GAP:g} of the most accurate or statistically "
        "tied with it, unless a stated limit or a noticeable difference decided, and the card names which."
    )
    print(f"{total - broken} of {total} picks meet it; {picked_top} are the most accurate eligible candidate.")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
