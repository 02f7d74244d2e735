"""A store that can move: artifact paths are kept relative to the store's root."""

from __future__ import annotations

import json
import shutil
import sqlite3

import advisor
from advisor import QUICK_TIMING, Store, advise, open_run

from conftest import DATA


def test_a_moved_store_keeps_every_run_openable_exportable_and_resumable(tmp_path):
    old = tmp_path / "old_home"
    trained = {"n": 0}

    def progress(event):
        if event.stage == "train" and event.message.endswith("trained"):
            trained["n"] += 1

    run = advise(
        DATA / "penguins.csv",
        "species",
        store=old,
        timing=QUICK_TIMING,
        candidates=["linear", "tree", "lightgbm-fast"],
        progress=progress,
        should_stop=lambda: trained["n"] >= 2,
    )
    assert run.status == "cancelled"
    kept = {c.key: c for c in run.candidates if c.status in ("trained", "measured")}
    assert len(kept) >= 2
    with sqlite3.connect(old / "runs.sqlite") as db:  # what the store holds is relative to its root
        stored = [json.loads(r[0]).get("artifact") for r in db.execute("SELECT result_json FROM candidates")]
    assert all(a is None or not a.startswith("/") for a in stored), stored

    new = tmp_path / "elsewhere" / "home"
    new.parent.mkdir()
    shutil.move(old, new)
    moved = open_run(run.run_id, store=new)
    for key in kept:
        assert moved.candidate(key).artifact.startswith(str(new))
    exported = advisor.export(moved, "linear", tmp_path / "linear.zip")
    import pandas as pd

    row = pd.read_csv(DATA / "penguins.csv").drop(columns="species").iloc[0].to_dict()
    assert len(advisor.load_artifact(exported).predict(row)) == 1

    finished = advisor.resume(run.run_id, store=new, timing=QUICK_TIMING)
    assert finished.status == "complete"
    for key, before in kept.items():  # kept, not trained again
        assert finished.candidate(key).train_s == before.train_s
        assert finished.candidate(key).quality == before.quality


def test_a_store_written_with_absolute_paths_still_opens_after_a_move(tmp_path):
    old = tmp_path / "old_home"
    run = advise(DATA / "penguins.csv", "species", store=old, timing=QUICK_TIMING, candidates=["linear"])
    with sqlite3.connect(old / "runs.sqlite") as db:  # as stores were written before: absolute paths
        for rowid, text in db.execute("SELECT rowid, result_json FROM candidates").fetchall():
            result = json.loads(text)
            if result.get("artifact"):
                result["artifact"] = str(old / result["artifact"])
                db.execute("UPDATE candidates SET result_json = ? WHERE rowid = ?", (json.dumps(result), rowid))
    new = tmp_path / "new_home"
    shutil.move(old, new)
    moved = open_run(run.run_id, store=Store(new))
    assert moved.candidate("linear").artifact == str(new / "artifacts" / run.run_id / "linear.zip")
    assert advisor.load_artifact(moved.candidate("linear").artifact) is not None
