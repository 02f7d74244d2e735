"""The Advisor page's data in and tables out: a refused file, the dataset that is active, the memory an
upload holds, and what a table on the page lets a person download."""

from __future__ import annotations

import csv
import gc
import io
import pickle
import weakref
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.runtime.caching import cache_data_api
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from test_app import MAIN, TEST_DATA, _app, _plain
from test_e2e_browser import CHROMIUM, LAUNCH_ARGS, _idle, _require_browser, streamlit_server

import advisor
from advisor.files import FORMULA_START

from conftest import DATA

FORMATS = (".csv", ".csv.gz", ".parquet", ".xlsx")
FORMULAS = ('=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "@SUM(1)")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    return buffer.getvalue()


# Files a person may well pick by mistake, none of them a table the advisor reads.
WRONG_KINDS = {
    "model.pkl": pickle.dumps({"weights": [1.0, 2.0]}),
    "archive.zip": _zip(),
    "data.json": b'[{"a": 1, "b": 2}]',
    "old.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
    "notes.txt": b"a,b\n1,2\n",
    "README": b"a,b\n1,2\n",
}


def _runnable(at: AppTest) -> bool:
    """A Run button that can be clicked (it is always drawn; disabled, with the reason beside it)."""
    return any(b.label == "Run the advisor" and not b.disabled for b in at.button)


def _active(at: AppTest) -> str:
    """What the page says about the dataset in use (its info boxes), as plain text."""
    return " ".join(_plain(i.value).replace("**", "") for i in at.info)


# --------------------------------------------------------------------------- 1. a file of another kind


def test_a_file_of_another_kind_gets_one_sentence_naming_it_and_the_formats():
    at = _app()
    # Streamlit's own type filter would refuse the file before the app sees it, in its words
    # ("application/octet-stream files are not allowed."), so the uploader takes any file.
    assert at.file_uploader(key="upload").allowed_type == []
    for name, data in WRONG_KINDS.items():
        at.file_uploader(key="upload").upload(name, data)
        at.run()
        assert not at.exception, (name, [e.value for e in at.exception])
        (error,) = at.error
        message = _plain(error.value)
        assert message.count(". ") == 0 and "\n" not in message and "Traceback" not in message, message
        assert f"'{name}'" in message and all(suffix in message for suffix in FORMATS), message
        assert not _runnable(at), name


def test_a_device_measurement_of_another_kind_gets_one_sentence():
    run = advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear"])
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    assert at.file_uploader(key="device_upload").allowed_type == []
    at.file_uploader(key="device_upload").upload("device.csv", b"a,b\n1,2\n", "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = at.error
    message = _plain(error.value)
    assert "'device.csv'" in message and "python -m advisor measure" in message and "\n" not in message


# --------------------------------------------------------------------------- 2. the active dataset


def test_a_refused_upload_leaves_nothing_to_run_until_a_dataset_is_chosen():
    at = _app()
    assert "Using the bundled sample titanic.csv" in _active(at) and _runnable(at)

    at.file_uploader(key="upload").upload("penguins.csv", (DATA / "penguins.csv").read_bytes(), "text/csv")
    at.run()
    assert "penguins.csv" in _active(at) and "titanic" not in _active(at) and not _runnable(at)
    at.button(key="confirm_target").click().run()  # an upload's guessed target is confirmed first
    assert _runnable(at)

    at.file_uploader(key="upload").upload("model.pkl", WRONG_KINDS["model.pkl"])
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "model.pkl" in _plain(at.error[0].value)
    assert "No dataset is active" in _active(at) and not _runnable(at)  # neither penguins nor the sample
    at.slider(key="weight_size").set_value(4)  # any rerun: still refused, still said
    at.run()
    assert len(at.error) == 1 and "No dataset is active" in _active(at) and not _runnable(at)

    at.button(key="use_sample").click()  # the person picks the sample explicitly
    at.run()
    assert not at.error and "Using the bundled sample titanic.csv" in _active(at) and _runnable(at)
    assert at.selectbox(key="target").value == "Survived"

    at.file_uploader(key="upload").upload("broken.xlsx", (TEST_DATA / "broken.xlsx").read_bytes())
    at.run()  # refused while reading, after the sample was picked: the sample is not armed either
    assert len(at.error) == 1 and "No dataset is active" in _active(at) and not _runnable(at)

    at.file_uploader(key="upload").upload("penguins.csv", (DATA / "penguins.csv").read_bytes(), "text/csv")
    at.run()
    assert not at.error and "penguins.csv" in _active(at)
    assert at.selectbox(key="target").value == "species"
    at.button(key="confirm_target").click().run()
    assert _runnable(at)

    at.file_uploader(key="upload").clear()  # removing the file does not silently fall back to the sample
    at.run()
    assert not at.error and "No dataset is active" in _active(at) and not _runnable(at)


# --------------------------------------------------------------------------- 3. memory


def _big_csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 6)), columns=[f"x{i}" for i in range(6)])
    frame["label"] = rng.choice(["a", "b", "c"], size=rows)
    return frame.to_csv(index=False).encode()


def _cached_bytes() -> int:
    stats = cache_data_api._data_caches.get_stats()
    return sum(stat.byte_length for family in stats.values() for stat in family)


def test_a_replaced_upload_is_dropped_from_the_session_and_the_caches(monkeypatch):
    seen: dict[str, weakref.ref[pd.DataFrame]] = {}
    inspect = advisor.inspect_table

    def watching(frame: pd.DataFrame, target: str, name: str = "the table", **options):
        seen[name] = weakref.ref(frame)
        return inspect(frame, target, name=name, **options)

    monkeypatch.setattr(advisor, "inspect_table", watching)
    first, second = _big_csv(40_000, 1), _big_csv(30_000, 2)  # about 4 MB each
    at = _app()
    for name, data in (("first.csv", first), ("second.csv", second)):
        at.file_uploader(key="upload").upload(name, data, "text/csv")
        at.run()
        assert not at.exception and not at.error
        at.button(key="confirm_target").click().run()
        assert _runnable(at)
    at.slider(key="weight_size").set_value(4)  # reruns reuse the parsed table: no copy per rerun either
    at.run()
    gc.collect()
    assert seen["first.csv"]() is None, "the replaced upload's table is still held"
    assert _cached_bytes() < len(second) // 4  # no st.cache_data entry holds an upload's table
    assert seen["second.csv"]() is not None  # the active one is kept for the session's reruns


# --------------------------------------------------------------------------- 4. tables out


@pytest.fixture
def formula_run() -> advisor.Run:
    """A run whose candidates carry spreadsheet formulas as their display names."""
    specs = {s.key: s for s in advisor.load_candidates()}
    registry = advisor.Registry(
        [replace(specs["baseline"], name=FORMULAS[2]), replace(specs["linear"], name=FORMULAS[0])]
    )
    return advisor.advise(
        DATA / "penguins.csv", "species", name=f"{FORMULAS[1]}.csv", registry=registry, timing=advisor.QUICK_TIMING
    )


def test_no_table_exports_formulas_and_the_leaderboard_downloads_spreadsheet_safe(formula_run, monkeypatch):
    files: dict[str, bytes] = {}
    add = MediaFileManager.add

    def recording(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if file_name and isinstance(path_or_data, bytes):
            files[file_name] = path_or_data
        return add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", recording)
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = formula_run.run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # Streamlit's own "Download as CSV" (and copy) on st.dataframe writes cells as they are: it is off.
    assert st.get_option("client.disableDataExport") is True
    (button,) = [d for d in at.get("download_button") if "leaderboard" in d.label]
    assert button.proto.label == "Download the leaderboard (CSV)"
    data = files[f"leaderboard-{formula_run.run_id}.csv"]
    cells = [cell for row in csv.reader(io.StringIO(data.decode())) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    assert {"'" + FORMULAS[0], "'" + FORMULAS[2]} <= set(cells)  # the names arrived, quoted
    written, board = pd.read_csv(io.BytesIO(data)), formula_run.leaderboard
    assert list(written["key"]) == list(board["key"])
    for column in ("primary", "size_bytes", "train_s"):  # numbers stay numbers
        assert np.allclose(written[column].to_numpy(float), board[column].to_numpy(float), equal_nan=True), column


# --------------------------------------------------------------------------- in a real browser


def test_in_a_browser_tables_have_no_csv_export_and_a_wrong_file_gets_our_sentence(tmp_path: Path):
    """A fresh server's first page: Streamlit's table toolbar is there without its CSV export; a
    .pkl file gets the app's sentence (not 'files are not allowed') and disarms the sample."""
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    with streamlit_server(tmp_path) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base)
        expect(page.get_by_text("Using the bundled sample")).to_be_visible(timeout=60_000)
        _idle(page)
        page.get_by_text("Preview and column roles").click()
        table = page.locator('[data-testid="stDataFrame"]').first
        expect(table).to_be_visible()
        table.hover()
        toolbar = page.locator('[data-testid="stElementToolbar"]').first
        expect(toolbar.get_by_role("button").first).to_be_visible()  # the toolbar is drawn...
        assert page.get_by_role("button", name="Download as CSV").count() == 0  # ...without the export

        page.locator('input[type="file"]').first.set_input_files(
            {"name": "model.pkl", "mimeType": "application/octet-stream", "buffer": WRONG_KINDS["model.pkl"]}
        )
        expect(page.get_by_text("File 'model.pkl' has the extension '.pkl'")).to_be_visible()
        expect(page.get_by_text("No dataset is active: upload")).to_be_visible()
        _idle(page)
        assert page.get_by_text("files are not allowed").count() == 0
        expect(page.get_by_role("button", name="Run the advisor")).to_be_disabled()  # drawn, with the reason
        page.get_by_role("button", name="Use the bundled sample").click()
        expect(page.get_by_role("button", name="Run the advisor")).to_be_visible()
        expect(page.get_by_text("Using the bundled sample")).to_be_visible()
        browser.close()
