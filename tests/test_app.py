"""Every page through Streamlit's AppTest: real uploads, a real run in the worker thread, real results."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import advisor
from app import ui

from conftest import DATA, PROJECT

MAIN = str(PROJECT / "app" / "main.py")
TEST_DATA = Path(__file__).resolve().parent / "data"
QUICK = "Quick (120 timed calls, rough p99)"


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _plain(text: str) -> str:
    return text.replace("\\", "")


def _wait_for_workers(timeout: float = 240) -> None:
    start = time.time()
    while any(t.name.startswith("advisor-") for t in threading.enumerate()):
        assert time.time() - start < timeout, "the advisor run did not finish"
        time.sleep(0.2)


def _run_query(at: AppTest) -> str:
    value = at.query_params["run"]
    return value[0] if isinstance(value, list) else value


def _start_run(at: AppTest, families=("linear", "tree")) -> str:
    at.radio(key="thorough").set_value(QUICK)
    at.multiselect(key="families").set_value(list(families))
    at.run()
    if any(b.key == "confirm_target" for b in at.button):  # an uploaded table's target is confirmed first
        at.button(key="confirm_target").click().run()
    at.button(key="run_advisor").click()
    at.run()
    return _run_query(at)


def _setup(at: AppTest):
    return next(e for e in at.expander if e.label == "Data and run settings")


def test_opens_on_the_bundled_sample():
    at = _app()
    assert at.title[0].value == "Model-selection advisor"
    assert "titanic.csv" in _plain(at.info[0].value)
    assert at.selectbox(key="target").value == "Survived"
    assert any("binary" in m.value for m in at.markdown)
    assert any("PassengerId" in _plain(w.value) and "row number" in w.value for w in at.warning)


def test_upload_detects_task_and_target():
    at = _app()
    at.file_uploader(key="upload").upload("penguins.csv", (DATA / "penguins.csv").read_bytes(), "text/csv")
    at.run()
    assert not at.exception
    assert at.selectbox(key="target").value == "species"
    assert any("multiclass" in m.value for m in at.markdown)
    # the guess says why, and an uploaded table's target is confirmed before it can run
    assert any("Guessed target" in c.value and "species" in c.value for c in at.caption)
    assert at.button(key="run_advisor").disabled
    at.button(key="confirm_target").click().run()
    assert not at.button(key="run_advisor").disabled


def test_bad_file_shows_one_sentence_not_a_traceback():
    at = _app()
    at.file_uploader(key="upload").upload("broken.xlsx", (TEST_DATA / "broken.xlsx").read_bytes())
    at.run()
    assert not at.exception
    (error,) = at.error
    message = _plain(error.value)
    assert "broken.xlsx" in message and "could not be read as Excel" in message
    assert "Traceback" not in message and "\n" not in message


def test_preset_fills_weights_and_limits():
    at = _app()
    at.selectbox(key="profile").set_value("sensor")
    at.run()
    sensor = advisor.get_target("sensor")
    assert at.slider(key="weight_size").value == sensor.weights["size"]
    assert at.number_input(key="limit_size_mb").value == sensor.limits["size_mb"]
    at.slider(key="weight_size").set_value(1)  # and it stays editable
    at.run()
    assert at.slider(key="weight_size").value == 1


def test_full_flow_run_select_rerank_export_and_reopen():
    at = _app()
    at.file_uploader(key="upload").upload("penguins.csv", (DATA / "penguins.csv").read_bytes(), "text/csv")
    at.run()
    run_id = _start_run(at)
    assert advisor.is_run_id(run_id)
    # while it runs the button is off and says why, and the setup is folded for the progress
    assert at.button(key="run_advisor").disabled
    assert any(c.value.startswith("A run is going in this session") for c in at.caption)
    assert not _setup(at).proto.expanded
    at.slider(key="weight_latency").set_value(5)  # moving a slider during the run must not lose it
    at.run()
    assert not at.exception
    _wait_for_workers()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Recommended:") for s in at.subheader)
    assert any(t.label == "Would more rows help?" for t in at.tabs)  # the learning curve
    assert any("more rows" in m.value for m in at.markdown)
    # answer first: the setup folded, the card, then the chart with the selected candidate beside it
    assert not _setup(at).proto.expanded
    assert not at.button(key="run_advisor").disabled
    chart_side = next(c for c in at.columns if c.get("plotly_chart"))
    detail_side = next(c for c in at.columns if "selected" in [s.key for s in c.selectbox])
    assert "selected" not in [s.key for s in chart_side.selectbox]  # in the next column, not under the chart
    assert detail_side.selectbox[0].key == "selected"
    run = advisor.open_run(run_id)
    rec = run.recommendation
    assert detail_side.selectbox[0].value == rec.key
    labels = [d.label for d in at.get("download_button")]
    assert f"Download {run.candidate(rec.key).name} ({rec.key}.zip)" in labels
    assert any("report" in label for label in labels)
    assert any(c.value.startswith("The recommended candidate") for c in at.caption)

    # a click on the chart arrives as a dict, customdata in either shape
    at.session_state["pareto_chart"] = {"selection": {"points": [{"customdata": {"0": "tree"}}]}}
    at.run()
    assert at.selectbox(key="selected").value == "tree"
    assert "Download Decision tree (depth 8) (tree.zip)" in [d.label for d in at.get("download_button")]
    if rec.key != "tree":
        assert any(c.value.startswith("The point you clicked") for c in at.caption)
    at.session_state["pareto_chart"] = {"selection": {"points": [{"customdata": ["linear"]}]}}
    at.run()
    assert at.selectbox(key="selected").value == "linear"

    # re-ranked live, without retraining
    for metric in advisor.METRICS:
        at.slider(key=f"weight_{metric}").set_value(0)
    at.slider(key="weight_size").set_value(5)
    at.run()
    run = advisor.open_run(run_id)
    smallest = min((c for c in run.candidates if c.family != "baseline"), key=lambda c: c.size.serialized_bytes)
    assert any(_plain(s.value) == f"Recommended: {smallest.name}" for s in at.subheader)

    # a fresh session opening the shared link sees the same run
    other = AppTest.from_file(MAIN, default_timeout=120)
    other.query_params["run"] = run_id
    other.run()
    assert not other.exception
    assert any(s.value.startswith("Recommended:") for s in other.subheader)
    assert any(run_id in c.value for c in other.caption)
    assert not _setup(other).proto.expanded  # it opens on the results
    assert not any("Using the bundled sample" in i.value for i in other.info)


def test_runs_page_lists_reopens_and_deletes(tmp_path):
    run = advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear"])
    stranger = _app()  # another person's session on the same server
    stranger.switch_page("pages/runs.py")
    stranger.run()
    assert not stranger.exception and not stranger.selectbox
    assert any("No runs yet in this browser session" in i.value for i in stranger.info)
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id  # opening its link makes it this session's
    at.run()
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Runs"
    assert at.selectbox(key="runs_choice").value == run.run_id
    at.checkbox(key="runs_confirm").check()
    at.run()
    at.button(key="runs_delete").click()
    at.run()
    assert not at.exception
    assert advisor.Store().list_runs() == []
    assert any("No runs yet" in i.value for i in at.info)


def test_an_interrupted_run_is_resumed_from_the_page(tmp_path):
    store = advisor.Store()
    run = advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear", "tree"])
    with sqlite3.connect(store.db_path) as db:  # as a killed server leaves it: running, by a process that is gone
        db.execute("UPDATE runs SET status = 'running', owner_pid = 2147483646 WHERE id = ?", (run.run_id,))
        db.execute("DELETE FROM candidates WHERE run_id = ? AND key = 'tree'", (run.run_id,))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    assert not at.exception
    assert any("This run is interrupted: 2 of 3 candidates finished" in w.value for w in at.warning)
    at.button(key="resume_run").click()
    at.run()
    _wait_for_workers()
    at.run()
    assert not at.exception and not at.error
    resumed = advisor.open_run(run.run_id, store=store)
    assert resumed.status == "complete"
    assert {c.key: c.status for c in resumed.candidates} == {
        "baseline": "measured",
        "linear": "measured",
        "tree": "measured",
    }
    assert not any("interrupted" in w.value for w in at.warning)


def test_an_unreachable_dask_scheduler_is_one_sentence():
    at = _app()
    at.text_input(key="scheduler").set_value("tcp://127.0.0.1:9")
    _start_run(at, families=("linear",))
    _wait_for_workers()
    at.run()
    assert not at.exception
    errors = [_plain(e.value) for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Could not reach the Dask scheduler at 'tcp://127.0.0.1:9'")
    assert "Traceback" not in errors[0]


@pytest.mark.parametrize("page", ["pages/advisor_page.py", "pages/runs.py"])
def test_every_page_renders_without_error(page):
    at = _app()
    at.switch_page(page)
    at.run()
    assert not at.exception


def test_device_measurement_upload_ranks_on_it(tmp_path):
    import json

    from advisor.measure.device import measure_artifact

    run = advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear", "tree"])
    rows = advisor.load_table(DATA / "penguins.csv")[0]
    measurement = measure_artifact(run.candidate("tree").artifact, rows, name="edge-board", timing=advisor.QUICK_TIMING)
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    at.file_uploader(key="device_upload").upload("device.json", json.dumps(measurement).encode(), "application/json")
    at.run()
    assert not at.exception and not at.error
    at.selectbox(key="rank_device").set_value("edge-board")
    at.run()
    assert any(_plain(s.value) == "Recommended: Decision tree (depth 8)" for s in at.subheader)
    assert any("as measured on edge" in c.value for c in at.caption)
    at.file_uploader(key="device_upload").upload("bad.json", b"{}", "application/json")
    at.run()
    assert "not a device measurement" in _plain(at.error[0].value)


def test_the_card_says_how_firm_the_pick_is_and_the_volume_is_editable():
    run = advisor.advise(
        DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear", "tree", "lightgbm-fast"]
    )
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    texts = [_plain(m.value) for m in at.markdown]
    assert "**How firm the pick is**" in texts
    assert any(t.startswith("• ") and ("holds" in t or "redraws" in t) for t in texts)
    assert at.number_input(key="predictions_per_month").value == advisor.get_target("cloud-cpu").predictions_per_month
    at.number_input(key="predictions_per_month").set_value(1e9)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    card = " ".join(_plain(m.value) for m in at.markdown)
    if "a month at" in card:  # a cost comparison is on the card: it is priced at the volume typed
        assert "a month at 1B predictions" in card and "a month at 10M predictions" not in card


def test_a_refused_upload_keeps_the_setup_and_says_why_run_is_off():
    at = _app()
    at.multiselect(key="families").set_value(["linear", "tree"])
    at.number_input(key="budget_s").set_value(60)
    at.run()
    for bad in ("no_usable_features.csv", "corrupt.xlsx"):  # refused by the checks, then by the reader
        at.file_uploader(key="upload").upload(bad, (PROJECT / "tests" / "bad_inputs" / bad).read_bytes())
        at.run()
        assert not at.exception and at.error
        assert at.button(key="run_advisor").disabled
        assert any(c.value.startswith("Nothing to run: no usable dataset") for c in at.caption)
        assert at.multiselect(key="families").value == ["linear", "tree"]
    at.file_uploader(key="upload").upload("penguins.csv", (DATA / "penguins.csv").read_bytes(), "text/csv")
    at.run()
    assert at.multiselect(key="families").value == ["linear", "tree"]
    assert at.number_input(key="budget_s").value == 60
    at.multiselect(key="families").set_value([])
    at.run()
    assert at.button(key="run_advisor").disabled
    assert any(c.value == "Choose at least one candidate family to run." for c in at.caption)


def test_the_download_is_what_advisor_export_writes(tmp_path):
    run = advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear"])
    cli = tmp_path / "cli.zip"
    subprocess.run(
        [sys.executable, "-m", "advisor", "export", run.run_id, "linear", "--out", str(cli)], cwd=PROJECT, check=True
    )
    app = tmp_path / "app.zip"
    app.write_bytes(ui.export_zip(advisor.open_run(run.run_id), "linear"))
    members = sorted(zipfile.ZipFile(app).namelist())
    assert members == sorted(zipfile.ZipFile(cli).namelist())
    assert {"model.onnx", "preprocessing.json", "export.json"} <= set(members)
    advisor.load_artifact(app)  # verified like any export


def test_a_cancelled_run_says_so_without_empty_charts():
    store = advisor.Store()
    run = advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear", "tree"])
    with sqlite3.connect(store.db_path) as db:  # cancelled before any model was timed
        db.execute("UPDATE runs SET status = 'cancelled' WHERE id = ?", (run.run_id,))
        db.execute("DELETE FROM candidates WHERE run_id = ? AND key != 'baseline'", (run.run_id,))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    assert not at.exception
    (warning,) = at.warning
    assert warning.value.startswith("This run was cancelled: 1 of 3 candidates finished")
    assert "Resume" in warning.value
    assert at.button(key="resume_run")
    assert not at.get("plotly_chart") and not any("No candidate" in s.value for s in at.subheader)


def test_the_page_asks_nothing_of_other_servers(monkeypatch):
    import streamlit as st

    configs: list[dict] = []
    real = st.set_page_config
    monkeypatch.setattr(st, "set_page_config", lambda **kw: (configs.append(kw), real(**kw))[1])
    _app()
    (config,) = configs
    icon = config["page_icon"]  # a ":material/...:" favicon is fetched from fonts.gstatic.com on every load
    assert isinstance(icon, str) and not icon.startswith(":") and len(icon) <= 2
    assert st.get_option("client.toolbarMode") in ("minimal", "viewer")  # no Deploy button
