"""Crashes and many users: the advisor killed mid-run loses no committed candidate and resumes;
concurrent runs are kept apart and their timing phases never overlap."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import advisor
from advisor import QUICK_TIMING, Store, advise
from advisor.measure.lock import timing_lock

from conftest import DATA, PROJECT


def _cli(*args: str, home: Path, **kw) -> subprocess.Popen:
    env = dict(os.environ, ADVISOR_HOME=str(home), PYTHONPATH=str(PROJECT))
    return subprocess.Popen(
        [sys.executable, "-m", "advisor", *args],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kw,
    )


def _committed(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT key, status FROM candidates ORDER BY position").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A CLI run SIGKILLed after three candidates were committed, while the fourth trains."""
    home = tmp_path_factory.mktemp("home")
    process = _cli(
        "run", str(DATA / "titanic.csv"), "--target", "Survived", "--families", "linear,tree", "--quick", home=home
    )
    deadline = time.time() + 300
    while len(_committed(home / "runs.sqlite")) < 3:
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "the run never committed three candidates"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the advisor and everything it started, without warning
    process.wait(timeout=30)
    before = {key: status for key, status in _committed(home / "runs.sqlite")}
    return home, before


def test_a_killed_run_keeps_every_finished_candidate(killed_run):
    home, before = killed_run
    with sqlite3.connect(home / "runs.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = Store(home)
    (listed,) = store.list_runs()
    assert listed["status"] == "interrupted"  # its process is gone, so it is not shown as running
    run = advisor.open_run(listed["run_id"], store=home)
    assert len(before) >= 3
    for key, status in before.items():
        result = run.candidate(key)
        assert result.status == status == "trained"
        assert result.quality is not None and Path(result.artifact).is_file()
        advisor.load_artifact(result.artifact)  # digests check out: nothing half-written
    listing = subprocess.run(
        [sys.executable, "-m", "advisor", "list"],
        cwd=PROJECT,
        env=dict(os.environ, ADVISOR_HOME=str(home)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "interrupted" in listing and f"advisor resume {listed['run_id']}" in listing


def test_a_killed_run_resumes_without_retraining_what_was_finished(killed_run):
    home, before = killed_run
    run_id = Store(home).list_runs()[0]["run_id"]
    kept = {key: advisor.open_run(run_id, store=home).candidate(key) for key in before}
    process = _cli("resume", run_id, "--quick", home=home)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert f"Resuming: {len(before)} of" in err
    run = advisor.open_run(run_id, store=home)
    assert run.status == "complete"
    assert all(c.status == "measured" for c in run.candidates), [(c.key, c.status, c.error) for c in run.candidates]
    for key, old in kept.items():  # the same training, not a new one
        assert run.candidate(key).train_s == old.train_s
        assert run.candidate(key).quality == old.quality
    assert run.recommendation is not None and run.recommendation.key
    assert not (home / "work" / run_id).exists()  # its scratch space is cleaned up


def test_resume_refuses_a_complete_run(tmp_path):
    run = advise(DATA / "titanic.csv", "Survived", candidates=["linear"], timing=QUICK_TIMING, store=tmp_path)
    with pytest.raises(advisor.AdvisorError, match="already complete"):
        advisor.resume(run.run_id, store=tmp_path)


def test_the_timing_phase_waits_for_another_run_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_TIMING_LOCK", str(tmp_path / "timing.lock"))
    events: list[advisor.ProgressEvent] = []
    result: dict[str, advisor.Run] = {}
    with timing_lock("someone-else-timing-now"):
        worker = threading.Thread(
            target=lambda: result.setdefault(
                "run",
                advise(
                    DATA / "titanic.csv",
                    "Survived",
                    candidates=["linear"],
                    timing=QUICK_TIMING,
                    store=tmp_path,
                    progress=events.append,
                ),
            )
        )
        worker.start()
        deadline = time.time() + 120
        while not any(e.stage == "waiting" for e in events):
            assert time.time() < deadline and worker.is_alive()
            time.sleep(0.05)
        time.sleep(1.0)
        assert not any(e.stage == "timing" for e in events)  # it does not time while another run does
        released = time.time()
    worker.join(timeout=120)
    run = result["run"]
    waiting = next(e for e in events if e.stage == "waiting")
    assert "Waiting for the timing lock: run someone-" in waiting.message
    assert run.phases_s["timing_window"][0] >= released
    assert run.phases_s["timing_lock_wait_s"] >= 1
    assert any("waited" in note for note in run.candidate("linear").notes)


def test_two_runs_at_once_complete_and_never_time_together(tmp_path, monkeypatch):
    """Two advisor processes started together, sharing a machine (and its timing lock)."""
    lock = tmp_path / "timing.lock"
    monkeypatch.setenv("ADVISOR_TIMING_LOCK", str(lock))
    outs = [tmp_path / "a", tmp_path / "b"]
    processes = [
        _cli(
            "run",
            str(DATA / name),
            "--target",
            target,
            "--candidates",
            "linear,tree,lightgbm",
            "--quick",
            "--out",
            str(out),
            home=tmp_path / "home",
        )
        for (name, target), out in zip((("titanic.csv", "Survived"), ("penguins.csv", "species")), outs, strict=True)
    ]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    runs = [json.loads((out / "results.json").read_text()) for out in outs]
    assert [r["status"] for r in runs] == ["complete", "complete"]
    assert runs[0]["run_id"] != runs[1]["run_id"]
    assert {runs[0]["dataset"]["name"], runs[1]["dataset"]["name"]} == {"titanic.csv", "penguins.csv"}
    (a_start, a_end), (b_start, b_end) = (r["phases_s"]["timing_window"] for r in runs)
    assert a_end <= b_start or b_end <= a_start, "the two timing phases overlapped"


def _cancelled_run(home: Path) -> str:
    trained = {"n": 0}

    def progress(event):
        if event.stage == "train" and event.message.endswith("trained"):
            trained["n"] += 1

    run = advisor.advise(
        PROJECT / "datasets" / "penguins.csv",
        "species",
        store=home,
        timing=advisor.QUICK_TIMING,
        candidates=["linear", "tree", "lightgbm-fast"],
        progress=progress,
        should_stop=lambda: trained["n"] >= 2,
    )
    assert run.status == "cancelled"
    return run.run_id


def test_a_run_has_one_owner_the_claim_is_atomic(tmp_path):
    import threading

    run_id = _cancelled_run(tmp_path)
    store = Store(tmp_path)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def claim():
        start.wait()
        try:
            outcomes.append(store.take_over(run_id))
        except advisor.AdvisorError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("cancelled") == 1, outcomes  # exactly one claim took it over
    assert all("is still running" in o for o in outcomes if o != "cancelled")
    assert store.load_run(run_id)["status"] == "running"


def test_two_resumes_at_once_one_proceeds_the_other_gets_one_sentence(tmp_path):
    run_id = _cancelled_run(tmp_path)
    first, second = (_cli("resume", run_id, "--quick", home=tmp_path) for _ in range(2))
    results = [(*p.communicate(timeout=600), p.returncode) for p in (first, second)]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    refused = next(r for r in results if r[2] == 2)
    assert "Traceback" not in refused[1]
    assert refused[1].strip().startswith("error: Run ") and (
        "is still running" in refused[1] or "is already complete" in refused[1]
    )
    assert advisor.open_run(run_id, store=tmp_path).status == "complete"


def test_a_candidate_trained_again_on_resume_keeps_its_compression_label(tmp_path):
    trained: set[str] = set()

    def progress(event: advisor.ProgressEvent) -> None:
        if event.stage == "train" and event.phase == "trained":
            trained.add(event.candidate)

    run = advise(
        DATA / "penguins.csv",
        "species",
        store=tmp_path,
        timing=QUICK_TIMING,
        candidates=["mlp", "mlp-int8", "mlp-sweep", "mlp-small"],  # one after the sweep: the stop lands in training
        progress=progress,
        should_stop=lambda: "mlp-sweep" in trained,
        with_learning_curve=False,
    )
    assert run.status == "cancelled"
    assert run.candidate("mlp-int8").compression == "int8"
    Path(run.candidate("mlp-int8").artifact).write_bytes(b"not a zip")  # damaged: it cannot be reused
    Path(run.candidate("mlp-sweep").artifact).unlink()  # gone

    finished = advisor.resume(run.run_id, store=tmp_path, timing=QUICK_TIMING)
    assert finished.status == "complete"
    for key in ("mlp-int8", "mlp-sweep"):
        assert any(n.startswith("trained again on resume") for n in finished.candidate(key).notes), key
    reopened = advisor.open_run(run.run_id, store=tmp_path)
    for result in (finished, reopened):
        assert result.candidate("mlp-int8").compression == "int8"
        assert (result.candidate("mlp-sweep").compression or "").startswith("sweep:")
