"""End to end: real training, real timing, a real SQLite store, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import advisor
from advisor import QUICK_TIMING, CandidateSpec, Registry, Store, advise, load_candidates, open_run

from conftest import DATA, PROJECT

REQUIRED_METRICS = {
    "latency_ms",
    "throughput_rps",
    "size_bytes",
    "gzip_bytes",
    "params",
    "load_ms",
    "energy_j_per_1k",
    "usd_per_million",
}


@pytest.fixture(scope="module")
def titanic_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("out")
    run = advise(DATA / "titanic.csv", "Survived", out=out, store=home, timing=QUICK_TIMING)
    return run, out, home


def test_titanic_run_fills_every_field(titanic_run):
    _, out, _ = titanic_run
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "binary" and results["primary_metric"] == "accuracy"
    measured = [c for c in results["candidates"] if c["status"] == "measured"]
    assert len(measured) >= 6
    for c in measured:
        m = c["metrics"]
        assert REQUIRED_METRICS <= set(m), c["key"]
        assert set(m["latency_ms"]) >= {"p50", "p95", "p99"}
        assert set(m["throughput_rps"]) == {"1", "16", "179"}  # 4096 and 256 clip to the 179 test rows
        for quality in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"):
            assert 0 <= m[quality] < 10
        assert m["energy_j_per_1k"]["method"].startswith(("estimate", "rapl"))
        assert "$" in m["usd_per_million"]["method"]
        assert c["family"] and c["key"]
        assert m["primary_ci95"][0] <= m["accuracy"] <= m["primary_ci95"][1]
    assert results["recommended"] in results["pareto"]
    assert results["recommended"] != "baseline"
    assert results["reason"].startswith(
        next(c["name"] for c in results["candidates"] if c["key"] == results["recommended"])
    )
    assert results["hardware"]["cpu_model"]
    assert (out / "leaderboard.csv").is_file()


def test_leaderboard_has_documented_columns(titanic_run):
    run, _, _ = titanic_run
    board = run.leaderboard
    assert set(board.columns) <= set(advisor.LEADERBOARD_COLUMNS)
    assert board["recommended"].sum() == 1
    assert (
        board.loc[board["key"] == "baseline", "skilled"].item() is False
        or board.loc[board["key"] == "baseline", "primary"].item() < 0.7
    )


def test_reopen_from_folder_and_store_and_rerank(titanic_run):
    run, out, home = titanic_run
    from_folder = open_run(out)
    from_store = open_run(run.run_id, store=home)
    for other in (from_folder, from_store):
        assert [c.key for c in other.candidates] == [c.key for c in run.candidates]
        assert other.recommendation.key == run.recommendation.key
        assert other.candidate("linear").latency == run.candidate("linear").latency
    small = run.rerank(priorities="size=5")
    sizes = {
        c.key: c.size.serialized_bytes for c in run.candidates if c.size and c.key in small.recommendation.feasible
    }
    assert small.recommendation.key == min(sizes, key=sizes.get)
    sensor = run.rerank(profile="sensor")
    assert sensor.profile.key == "sensor" and sensor.limits == {"size_mb": 0.25}
    assert run.profile.key == "cloud-cpu"  # reranking returns a new run


def test_interrupted_run_reopens_with_the_candidates_it_finished(tmp_path: Path):
    finished = []

    def interrupt_after_three(event):
        if event.stage == "train" and event.phase == "trained":
            finished.append(event.candidate)
            if len(finished) == 3:
                raise KeyboardInterrupt

    store = Store(tmp_path / "home")
    with pytest.raises(KeyboardInterrupt):
        advise(DATA / "penguins.csv", "species", store=store, timing=QUICK_TIMING, progress=interrupt_after_three)
    (listed,) = store.list_runs()
    assert listed["status"] == "interrupted" and listed["candidates"] == 3
    reopened = open_run(listed["run_id"], store=store)
    committed = [c for c in reopened.candidates if c.status != "pending"]
    assert [c.key for c in committed] == finished
    for candidate in committed:
        assert candidate.status == "trained" and candidate.quality and candidate.size
        assert Path(candidate.artifact).is_file()
    assert len(reopened.candidates) > 3  # the ones it never reached are listed as pending, ready for a resume
    assert reopened.recommendation.key is None  # nothing was timed, so nothing is recommended


def test_a_failing_candidate_is_recorded_and_the_run_goes_on(tmp_path: Path):
    specs = list(load_candidates())
    broken = CandidateSpec("broken-tree", "Broken tree", "tree", "decision_tree", params={"max_depth": -1})
    registry = Registry([s for s in specs if s.key in ("baseline", "linear")] + [broken])
    run = advise(
        DATA / "penguins.csv",
        "species",
        store=tmp_path,
        timing=QUICK_TIMING,
        registry=registry,
        candidates=["linear", "broken-tree"],
    )
    assert run.candidate("broken-tree").status == "failed"
    assert "max_depth" in run.candidate("broken-tree").error
    assert run.candidate("linear").status == "measured"
    assert run.recommendation.key == "linear"
    assert run.recommendation.excluded["broken-tree"] == ("not measured (failed)",)


def test_cancel_keeps_the_run(tmp_path: Path):
    calls = {"n": 0}

    def stop_soon():
        calls["n"] += 1
        return calls["n"] > 3

    run = advise(DATA / "penguins.csv", "species", store=tmp_path, timing=QUICK_TIMING, should_stop=stop_soon)
    assert run.status == "cancelled"
    assert Store(tmp_path).list_runs()[0]["status"] == "cancelled"


def test_imbalanced_set_never_recommends_the_majority_class(tmp_path: Path):
    frame = pd.read_csv(DATA / "adult.csv.gz")
    rare = frame[frame["income"] == ">50K"].sample(120, random_state=0)
    common = frame[frame["income"] == "<=50K"].sample(2280, random_state=0)
    data = pd.concat([rare, common]).sample(frac=1, random_state=0)
    run = advise(
        data,
        "income",
        name="adult-rare.csv",
        store=tmp_path,
        timing=QUICK_TIMING,
        candidates=["linear", "tree", "lightgbm-fast"],
    )
    assert run.primary_metric == "balanced_accuracy"
    assert any("imbalanced" in w for w in run.dataset["warnings"])
    baseline = run.candidate("baseline")
    assert baseline.quality.metrics["balanced_accuracy"] == pytest.approx(0.5)
    assert baseline.quality.metrics["accuracy"] > 0.9  # the trap: 95% accuracy, no skill
    assert run.recommendation.key not in (None, "baseline")
    chosen = run.candidate(run.recommendation.key)
    assert chosen.quality.metrics["balanced_accuracy"] > 0.65


def test_regression_run(tmp_path: Path):
    run = advise(
        DATA / "diabetes.csv", "target", store=tmp_path, timing=QUICK_TIMING, candidates=["linear", "lightgbm-fast"]
    )
    assert run.task == "regression" and run.primary_metric == "r2"
    assert {"r2", "rmse", "mae"} <= set(run.candidate("linear").quality.metrics)
    assert run.recommendation.key in ("linear", "lightgbm-fast")


def test_cold_start_in_a_fresh_process(tmp_path: Path):
    timing = replace(QUICK_TIMING, cold_start=True)
    run = advise(DATA / "penguins.csv", "species", store=tmp_path, timing=timing, candidates=["linear"])
    startup = run.candidate("linear").startup
    assert startup.cold_start_ms > startup.cold_load_ms > 0
    assert startup.cold_import_ms > 0 and startup.load_rss_bytes is not None
    assert startup.peak_predict_bytes > 0 and startup.peak_batch_rows == 69
    assert "fresh Python process" in startup.method


def test_time_budget_skips_later_candidates(tmp_path: Path):
    run = advise(DATA / "penguins.csv", "species", store=tmp_path, timing=QUICK_TIMING, budget_s=0.0)
    skipped = [c for c in run.candidates if c.status == "skipped"]
    assert len(skipped) == len(run.candidates) - 1  # the baseline always runs
    assert "time budget" in skipped[0].notes[0]


# --------------------------------------------------------------------------- CLI


def _cli(*args, home):
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "ADVISOR_HOME": str(home)},
        timeout=600,
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "missing.csv", "--target", "y"], "does not exist"),
        (["run", "datasets/penguins.csv", "--target", "specie"], "did you mean 'species'"),
        (["run", "datasets/penguins.csv", "--target", "species", "--priorities", "speed=3"], "not a metric"),
        (["run", "datasets/penguins.csv"], "--target"),
        (["show", "not-a-run"], "not a run id"),
    ],
)
def test_cli_user_errors_exit_2_with_one_sentence(args, words, tmp_path):
    done = _cli(*args, home=tmp_path)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_run_then_show(tmp_path: Path):
    out = tmp_path / "out"
    done = _cli(
        "run",
        "datasets/penguins.csv",
        "--target",
        "species",
        "--out",
        str(out),
        "--quick",
        "--candidates",
        "linear,tree",
        "--priorities",
        "accuracy=5,latency=3",
        "--limit",
        "p99_ms=50",
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr
    assert "Recommended:" in done.stdout and "multiclass" in done.stdout
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert any(line.startswith(("[ 1", "[ 2", "[ 3", "[ 4", "[ 5", "[ 6", "[ 7", "[ 8", "[ 9")) for line in progress)
    assert any("Timing one row at a time" in line and "left" in line for line in progress)
    assert progress[-1].startswith("[100%] Done")
    commands = [line for line in done.stdout.splitlines() if line.startswith("  python -m advisor")]
    assert commands  # a command to copy stays on one line, however long its path
    assert all(len(line) <= 100 or len(line.split()) == 1 or line in commands for line in done.stdout.splitlines())
    results = json.loads((out / "results.json").read_text())
    assert results["priorities"] == {"accuracy": 5.0, "latency": 3.0} and results["limits"] == {"p99_ms": 50.0}
    shown = _cli("show", str(out), "--methods", home=tmp_path / "home")
    assert shown.returncode == 0 and "How each figure was obtained" in shown.stdout
    listed = _cli("list", home=tmp_path / "home")
    assert results["run_id"] in listed.stdout
    cheaper = _cli("show", str(out), "--target-set", "usd_per_hour=0.0008925", home=tmp_path / "home")
    assert (
        cheaper.returncode == 0
        and "$0.0008925/h"
        in _cli("show", str(out), "--methods", "--target-set", "usd_per_hour=0.0008925", home=tmp_path / "home").stdout
    )
    report = _cli("report", str(out), "--out", str(tmp_path / "r.html"), home=tmp_path / "home")
    assert report.returncode == 0 and (tmp_path / "r.html").stat().st_size > 3_000_000


def test_device_timing_path_and_int8_stays_on_the_cpu(tmp_path: Path):
    from advisor.pipeline.startup import time_on_device

    run = advise(
        DATA / "penguins.csv", "species", store=tmp_path, timing=QUICK_TIMING, candidates=["linear", "mlp", "mlp-int8"]
    )
    predictors = {k: advisor.load_artifact(run.candidate(k).artifact) for k in ("linear", "mlp", "mlp-int8")}
    frame = advisor.load_table(DATA / "penguins.csv")[0].drop(columns=["species"])
    out = time_on_device(
        predictors,
        frame.head(20).to_dict("records"),
        {16: frame.head(16)},
        QUICK_TIMING,
        "cpu",
        "the CPU, standing in for a GPU",
    )
    assert "linear" not in out  # only networks move
    latency, batches, note = out["mlp"]
    assert latency.p50_ms > 0 and batches[16].rows_per_s > 0 and note is None
    assert "standing in for a GPU" in batches[16].method
    with pytest.raises(ValueError, match="CPU only"):
        predictors["mlp-int8"].predictor.model.on_device("cuda")
    assert run.hardware["gpu"] or "no CUDA GPU" in run.hardware["gpu_note"]
