"""Per-record encoding cost: microseconds per column for each role, and one whole record per table.

    python bench/bench_roles.py

Targets (issue 15): each role under 2 us per column; a 27-column record with a date and three
many-level strings within 3x of adult's 14-column record. Writes bench/out/roles.json.

`per_column_us(role)`: an encoder fitted on one numeric column plus ten columns of the role; the
fast path's time for one record minus that of the numeric column alone, over ten. `record_us`:
the fast path's p50 for one record of each table, interleaved in one run of the advisor's timer
(`measure_single_row`). Encoding only: the model's own time is not included.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402
from advisor.data.encoder import TabularEncoder  # noqa: E402
from advisor.deploy.fast import FastEncoder  # noqa: E402
from advisor.measure.timing import TimingConfig, measure_single_row  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
ROLES = ("numeric", "categorical", "many-level categorical", "text", "date", "ISO timestamp")


def block_us(fn: Callable[[Any], Any], inputs: list[Any], calls: int = 2000, repeats: int = 9) -> float:
    """Median over `repeats` of the mean time of `calls` calls (after a warm-up), in microseconds."""
    for row in inputs[:200]:
        fn(row)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            fn(inputs[i % len(inputs)])
        times.append((time.perf_counter() - start) / calls)
    return float(np.median(times) * 1e6)


def role_column(role: str, n: int, rng: np.random.Generator) -> tuple[str, pd.Series]:
    if role == "numeric":
        return "numeric", pd.Series(np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n)))
    if role == "categorical":
        return "categorical", pd.Series(rng.choice(["red", "green", "blue", "amber", None], n))
    if role == "many-level categorical":
        return "categorical", pd.Series([f"AG-{v}" for v in np.minimum(rng.zipf(1.3, n), 900)])
    if role == "text":
        words = np.array("the quick brown fox jumps over a lazy dog near river bank today".split())
        return "text", pd.Series([" ".join(rng.choice(words, rng.integers(3, 12))) for _ in range(n)])
    moments = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n), unit="s")
    if role == "date":
        return "datetime", pd.Series(moments.strftime("%Y/%m/%d"))
    zones = rng.choice(["Z", "+01:00", "-05:00", ""], n)
    return "datetime", pd.Series([f"{m.isoformat()}{z}" for m, z in zip(moments, zones, strict=True)])


def per_column_us(role: str, columns: int = 10, n: int = 2000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"base": rng.normal(size=n)})
    roles = {"base": "numeric"}
    for k in range(columns):
        kind, frame[f"c{k}"] = role_column(role, n, rng)
        roles[f"c{k}"] = kind
    records = frame.to_dict(orient="records")
    alone = FastEncoder(TabularEncoder({"base": "numeric"}).fit(frame))
    full = FastEncoder(TabularEncoder(roles).fit(frame))
    return (block_us(full, records) - block_us(alone, records)) / columns


def synthetic_mixed(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """30 columns: 16 numeric, 6 categorical, 3 many-level codes, 3 texts, 2 dates (one ISO with zones)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    plan = [("numeric", 16), ("categorical", 6), ("many-level categorical", 3), ("text", 3)]
    plan += [("date", 1), ("ISO timestamp", 1)]
    for role, count in plan:
        for k in range(count):
            columns[f"{role.split()[0]}_{k}"] = role_column(role, n, rng)[1]
    columns["y"] = rng.integers(0, 2, n)
    return pd.DataFrame(columns)


def synthetic_27(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """The issue's wide record: 27 columns, one date stored as text and three many-level strings
    (codes of 100-900 levels), the rest numbers and small categoricals."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for role, count in (("numeric", 19), ("categorical", 4), ("many-level categorical", 3), ("date", 1)):
        for k in range(count):
            columns[f"{role.split()[0]}_{k}"] = role_column(role, n, rng)[1]
    columns["y"] = rng.integers(0, 2, n)
    return pd.DataFrame(columns)


def tables() -> dict[str, tuple[pd.DataFrame, str]]:
    found = {
        "adult": (pd.read_csv(ROOT / "datasets" / "adult.csv.gz"), "income"),
        "titanic": (pd.read_csv(ROOT / "datasets" / "titanic.csv"), "Survived"),
        "synthetic-30": (synthetic_mixed(), "y"),
        "synthetic-27": (synthetic_27(), "y"),
    }
    for folder in (ROOT / "datasets", SHARED):
        if (folder / "seattle_weather.csv").exists():
            found["seattle_weather"] = (pd.read_csv(folder / "seattle_weather.csv"), "weather")
            break
    return found


def record_us(config: TimingConfig | None = None) -> dict[str, Mapping[str, Any]]:
    """Whole-record encoding p50 per table (test split records), interleaved in one timer run."""
    calls, inputs, widths = {}, {}, {}
    for name, (frame, target) in tables().items():
        dataset = advisor.load_dataset(frame, target)
        split = advisor.split_dataset(dataset)
        encoder = TabularEncoder(dataset.roles).fit(split.X_train)
        calls[name] = FastEncoder(encoder)
        inputs[name] = split.X_test.head(200).to_dict(orient="records")
        widths[name] = (len(encoder.columns_), encoder.n_features_out_)
    cycling = {name: iter(range(10**9)) for name in calls}
    wrapped = {name: (lambda _, k=name: calls[k](inputs[k][next(cycling[k]) % len(inputs[k])])) for name in calls}
    config = config or TimingConfig(warmup_calls=200, calls=3000, rounds=10)
    figures = measure_single_row(wrapped, list(range(200)), config, input_form="one dict, encoding only")
    return {
        name: {"p50_us": figures[name].p50_ms * 1e3, "columns": widths[name][0], "width": widths[name][1]}
        for name in calls
    }


def main() -> int:
    results: dict[str, Any] = {"per_column_us": {}, "record": {}}
    for role in ROLES:
        results["per_column_us"][role] = per_column_us(role)
        print(f"{role:<24}{results['per_column_us'][role]:>7.2f} us per column")
    results["record"] = record_us()
    for name, figure in results["record"].items():
        print(f"{name:<16}{figure['p50_us']:>7.1f} us p50  ({figure['columns']} columns, {figure['width']} features)")
    worst = max(results["per_column_us"].items(), key=lambda item: item[1])
    print(f"target: every role under 2 us per column; slowest {worst[0]} {worst[1]:.2f} us")
    ratio = results["record"]["synthetic-27"]["p50_us"] / results["record"]["adult"]["p50_us"]
    print(f"target: the 27-column record within 3x of adult's 14-column record; measured {ratio:.2f}x")
    results["ratio_27_to_adult"] = ratio
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "roles.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
