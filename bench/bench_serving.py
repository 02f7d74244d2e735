"""Serving benchmark on adult: the highest request rate within p99 <= 10 ms, measured and estimated.

    python bench/bench_serving.py [--window 1.0] [--p99-ms 10]

For the linear model, LightGBM and the MLP: one advisor run times them in-process (single-row
latency and the batch curve), each is exported, served with `python -m advisor serve` (one worker)
without batching (--max-batch 1) and with dynamic batching (--max-batch 32, --max-wait-ms 0 and 2), and
the load generator (`advisor.load_test`, open loop, Poisson arrivals) finds the highest rate whose
p99 stays within the bound. Beside it, the capacity estimate from the run's in-process figures
(`advisor.estimate_capacity`: a simulated queue), with the per-request HTTP overhead calibrated
under load (`advisor.serve.calibration`): 8 closed-loop clients saturate the model's unbatched
server for 2 x 1 s; an open-loop probe at 60% of that rate reads the server's CPU time per request
(overhead = that - the in-process single-row p50; the table also gives the ratio with the overhead
from the saturated throughput, 1 / throughput - p50, as before); then an open-loop probe at 20%
measures the latency floor no queue explains (added to every simulated answer; the table also
gives the ratio without it). Each model's
estimate uses its own calibration; the table also gives the ratio with the first model's (one
calibration a run). The client shares the machine's cores with the server during the calibration
as during the load, so its CPU share is in the overhead: the estimate is for this setting.
Each configuration's load search runs `--repeat` times (3) on the same server; the median rate
is reported with each search's. Target: estimate / measured between 0.8 and 1.25. The client's
CPU share is reported.
Writes bench/out/serving.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402
from advisor.pipeline.serving import start_server, stop_server  # noqa: E402
from advisor.serve.calibration import calibrate_overhead  # noqa: E402
from advisor.serve.capacity import capacity_from_result  # noqa: E402

KEYS = ("linear", "lightgbm", "mlp")
SETTINGS = {"no batching": (1, 0.0), "batch 32, 0 ms": (32, 0.0), "batch 32, 2 ms": (32, 2.0)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=1.0, help="seconds per measurement window")
    parser.add_argument("--p99-ms", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="load searches per configuration (median reported)")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the server and the load client share every core (default: split)"
    )
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="bench_serving_")
    data = ROOT / "datasets" / "adult.csv.gz"
    timing = advisor.TimingConfig(multithread_batches=False, cold_start=False)
    run = advisor.advise(data, "income", candidates=list(KEYS), store=home, timing=timing, with_learning_curve=False)
    split = advisor.split_dataset(advisor.load_dataset(data, "income"))
    rows = split.X_test.head(2000).reset_index(drop=True)

    # The server's worker gets core 0 to itself and the load client (this process and the client
    # processes it starts) the others, as on a real deployment where the clients are elsewhere.
    cores = sorted(os.sched_getaffinity(0))
    server_cores = frozenset(cores[:1]) if len(cores) > 1 and not args.no_pin else None
    if server_cores:
        os.sched_setaffinity(0, set(cores[1:]))
    out: dict = {
        "p99_bound_ms": args.p99_ms,
        "cores": os.cpu_count(),
        "server_cores": sorted(server_cores) if server_cores else "shared",
        "window_s": args.window,
        "models": {},
    }
    first_calibration = None
    table = []
    for key in KEYS:
        candidate = run.candidate(key)
        artifact = advisor.export(run, key, Path(home) / f"{key}.zip")
        out["models"][key] = {
            "single_row_ms": {"p50": candidate.latency.p50_ms, "p99": candidate.latency.p99_ms},
            "batch_p50_ms": {str(b): m.p50_ms for b, m in sorted(candidate.batches.items())},
            "settings": {},
        }
        calibration = None
        for label, (max_batch, max_wait_ms) in SETTINGS.items():
            server, url = start_server(str(artifact), max_batch, max_wait_ms, server_cores)
            try:
                if calibration is None:  # "no batching" comes first: its server is the one saturated
                    calibration = calibrate_overhead(url, rows, candidate.latency.p50_ms)
                    first_calibration = first_calibration or calibration
                    out["models"][key]["calibration"] = dataclasses.asdict(calibration)
                results = [
                    advisor.load_test(url, rows, args.p99_ms, window_s=args.window, max_windows=4)
                    for _ in range(args.repeat)
                ]
            finally:
                stop_server(server)
            estimate = capacity_from_result(
                candidate,
                args.p99_ms,
                calibration.overhead_ms,
                max_batch,
                max_wait_ms,
                overhead_method=calibration.method,
                delay_ms=calibration.floor_ms or 0.0,
            )
            once = capacity_from_result(
                candidate,
                args.p99_ms,
                first_calibration.overhead_ms,
                max_batch,
                max_wait_ms,
                delay_ms=first_calibration.floor_ms or 0.0,
            )
            no_floor = capacity_from_result(candidate, args.p99_ms, calibration.overhead_ms, max_batch, max_wait_ms)
            saturated = capacity_from_result(  # the overhead from the saturated throughput alone, as before
                candidate,
                args.p99_ms,
                calibration.saturated_overhead_ms or calibration.overhead_ms,
                max_batch,
                max_wait_ms,
                delay_ms=calibration.floor_ms or 0.0,
            )
            found_rates = sorted(r.max_rps or 0.0 for r in results)
            result = sorted(results, key=lambda r: r.max_rps or 0.0)[len(results) // 2]  # the median search
            measured = result.max_rps
            ratio = estimate.max_rps / measured if measured else None
            found = result.found
            out["models"][key]["settings"][label] = {
                "measured": result.to_dict(),
                "measured_each_rps": found_rates,
                "estimate": dataclasses.asdict(estimate),
                "estimate_over_measured": ratio,
                "estimate_with_first_calibration_rps": once.max_rps,
                "estimate_without_floor_rps": no_floor.max_rps,
                "estimate_saturated_cost_rps": saturated.max_rps,
            }
            table.append(
                (
                    key,
                    label,
                    measured,
                    found.p99_ms if found else None,
                    estimate.max_rps,
                    ratio,
                    once.max_rps / measured if measured else None,
                    calibration.overhead_ms,
                    (
                        found.client_cpu_core_share if found else None,
                        max(p.client_cpu_core_share for r in results for p in r.curve),
                    ),
                    any(r.client_limited for r in results),
                    found_rates,
                    no_floor.max_rps / measured if measured else None,
                    saturated.max_rps / measured if measured else None,
                )
            )
            each = ", ".join(f"{r:,.0f}" for r in found_rates)
            print(
                f"{key:9} {label:15} measured {measured or 0:8,.0f}/s (each {each})"
                f"  estimate {estimate.max_rps:8,.0f}/s  without the floor {no_floor.max_rps:8,.0f}/s"
                f"  on the saturated cost {saturated.max_rps:8,.0f}/s",
                flush=True,
            )

    out["table"] = [
        dict(
            zip(
                (
                    "model",
                    "serving",
                    "measured_rps",
                    "p99_ms",
                    "estimate_rps",
                    "ratio",
                    "ratio_first_calibration",
                    "overhead_ms",
                    "client_cpu_at_rate_and_max",
                    "client_limited",
                    "measured_each_rps",
                    "ratio_without_floor",
                    "ratio_saturated_cost",
                ),
                r,
                strict=True,
            )
        )
        for r in table
    ]
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "serving.json").write_text(json.dumps(out, indent=2, default=str))
    print()
    print(
        f"Highest rate with p99 <= {args.p99_ms:g} ms, one server worker, {os.cpu_count()} cores shared with the client"
    )
    print(
        f"| model | serving | measured (req/s; median of {args.repeat}) | each search | p99 there (ms) "
        "| estimate (req/s) | estimate / measured | ratio, first model's calibration | ratio without the floor "
        "| ratio on the saturated cost "
        "| overhead (ms) | client CPU at the rate found (most in the searches), of a core |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    nan = float("nan")
    for key, label, measured, p99, estimate, ratio, once, overhead, cpu, limited, each, bare, sat in table:
        print(
            f"| {key} | {label} | {measured or 0:,.0f} | {' / '.join(f'{r:,.0f}' for r in each)} | {p99 or nan:.2f} "
            f"| {estimate:,.0f} | {ratio or nan:.2f} | {once or nan:.2f} | {bare or nan:.2f} | {sat or nan:.2f} "
            f"| {overhead:.3g} "
            f"| {cpu[0] or nan:.0%} ({cpu[1]:.0%}){' (client-limited)' if limited else ''} |"
        )
    for key, model in out["models"].items():
        print(f"\n{key}: {model['calibration']['method']}; {model['calibration']['floor_method']}")


if __name__ == "__main__":
    main()
