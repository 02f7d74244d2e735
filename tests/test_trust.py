"""Trust: what a hostile file, name or link can do, and the limits that hold against it.

1. Every CSV the advisor writes is safe to open in a spreadsheet (no cell runs as a formula).
2. Uploads are parsed, never unpickled; an artifact is unpickled only once its digests match.
3. Run ids are 128 random bits and validated in the app, the CLI and the store.
4. Every user string is escaped in the app and in the HTML report.
5. The upload size limit holds in the browser, against a direct HTTP upload, and in the loader.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import http.client
import io
import json
import pickle
import re
import string
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_e2e_browser import CHROMIUM, LAUNCH_ARGS, _require_browser, streamlit_server

import advisor
from advisor.cli import main as cli
from advisor.files import FORMULA_START, spreadsheet_safe

from conftest import DATA, PROJECT

MAIN = str(PROJECT / "app" / "main.py")
TEST_DATA = Path(__file__).resolve().parent / "data"
QUICK = "Quick (120 timed calls, rough p99)"
FORMULAS = ('=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3+cmd|' /C calc'!A0")
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[link](javascript:alert(1))"
# What must never reach a markdown element unescaped.
RAW_MARKUP = ("<script", "<img", "onerror=", "**bold**", "$x$", "](javascript:")


def _one_sentence(message: str, *names: str) -> None:
    message = message.strip()
    assert message and "\n" not in message and "Traceback" not in message, message
    for name in names:
        assert name in message.replace("\\", ""), (name, message)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli([str(a) for a in args])
    return code, capsys.readouterr().err


def _hostile_frame() -> pd.DataFrame:
    """tests/data/penguins_xss.csv (a constant column named <script>...) with markup and formulas
    in its other column names and class labels too; the target is last."""
    frame = pd.read_csv(TEST_DATA / "penguins_xss.csv")
    assert SCRIPT in frame.columns
    labels = {"Adelie": SCRIPT, "Chinstrap": "**bold**", "Gentoo": FORMULAS[0]}
    frame["species"] = frame["species"].map(labels)
    frame = frame.rename(
        columns={
            "island": "$x$",
            "sex": LINK,
            "bill_length_mm": FORMULAS[2],
            "bill_depth_mm": FORMULAS[1],
            "body_mass_g": FORMULAS[3],
            "species": IMG,
        }
    )
    return frame[[c for c in frame.columns if c != IMG] + [IMG]]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A run on the hostile table, whose candidates also carry formulas as display names."""
    specs = {s.key: s for s in advisor.load_candidates()}
    registry = advisor.Registry(
        [
            replace(specs["baseline"], name=FORMULAS[2]),
            replace(specs["linear"], name=FORMULAS[0]),
            replace(specs["tree"], name=FORMULAS[1]),
        ]
    )
    folder = tmp_path_factory.mktemp("hostile")
    run = advisor.advise(
        _hostile_frame(),
        IMG,
        name=f"{SCRIPT}{FORMULAS[0]}.csv",
        store=folder / "home",
        out=folder / "out",
        registry=registry,
        timing=advisor.QUICK_TIMING,
    )
    return run, folder / "out"


# --------------------------------------------------------------------------- 1. spreadsheet formulas


def test_text_cells_that_would_run_as_formulas_are_quoted_and_numbers_are_not():
    frame = pd.DataFrame(
        {
            "=cmd": ["=1+1", "+x", "-x", "@x", "\t=1", "\r=1", "plain", None],
            "number": [-1.5, 2.0, np.nan, -3.0, 0.0, -0.0, 1e-9, -1e9],
            "count": [-1, 2, 3, 4, 5, 6, 7, -8],
            "flag": [True, False] * 4,
            "string": pd.Series(["-1", "@SUM(1)", "ok", pd.NA, "=A1", "a=b", " =x", "'=x"], dtype="string"),
        }
    )
    safe = spreadsheet_safe(frame)
    assert list(safe.columns) == ["'=cmd", "number", "count", "flag", "string"]
    assert safe["'=cmd"].tolist()[:7] == ["'=1+1", "'+x", "'-x", "'@x", "'\t=1", "'\r=1", "plain"]
    assert safe["string"].tolist()[:3] == ["'-1", "'@SUM(1)", "ok"] and safe["string"].tolist()[4:] == [
        "'=A1",
        "a=b",
        " =x",
        "'=x",
    ]
    for column in ("number", "count", "flag"):  # numbers, negative ones included, are left alone
        pd.testing.assert_series_equal(safe[column], frame[column])
    assert frame.columns[0] == "=cmd" and frame.iloc[0, 0] == "=1+1"  # the input is not changed


def _cells(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_leaderboard_csv_has_no_formula_cells_and_numbers_still_parse(hostile_run, tmp_path: Path):
    run, out = hostile_run
    path = out / "leaderboard.csv"
    cells = _cells(path)
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    assert {"'" + FORMULAS[0], "'" + FORMULAS[1], "'" + FORMULAS[2]} <= set(cells)  # the names arrived, quoted
    written = pd.read_csv(path)
    board = run.leaderboard
    numeric = [c for c in board.columns if pd.api.types.is_numeric_dtype(board[c]) and board[c].dtype != bool]
    assert {"primary", "p50_ms", "size_bytes", "train_s"} <= set(numeric)
    for column in numeric:
        assert pd.api.types.is_numeric_dtype(written[column]), column
        assert np.allclose(written[column].to_numpy(float), board[column].to_numpy(float), equal_nan=True), column

    # A regression run's no-skill baseline has a negative R2: it stays a negative number.
    regression = advisor.advise(
        DATA / "diabetes.csv", "target", candidates=["linear"], timing=advisor.QUICK_TIMING, out=tmp_path / "out"
    )
    written = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    baseline = written.loc[written["key"] == "baseline"]
    assert written["r2"].dtype == float and baseline["r2"].item() < 0
    assert baseline["r2"].item() == pytest.approx(regression.candidate("baseline").quality.metrics["r2"])


# --------------------------------------------------------------------------- 2. never unpickled


class _Trap:
    """Unpickling this creates `marker`: proof that something deserialised it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def trap(tmp_path: Path) -> tuple[bytes, Path]:
    marker = tmp_path / "unpickled.marker"
    payload = pickle.dumps(_Trap(marker))
    pickle.loads(payload)  # the trap is armed: deserialising it does create the marker
    assert marker.exists()
    marker.unlink()
    return payload, marker


EVIL_NAMES = ("evil.csv", "evil.csv.gz", "evil.xlsx", "evil.parquet")


def _evil_files(folder: Path, payload: bytes) -> dict[str, Path]:
    files = {name: folder / name for name in EVIL_NAMES}
    for path in files.values():
        path.write_bytes(payload)
    files["gzipped.csv.gz"] = folder / "gzipped.csv.gz"  # a real gzip around the pickle
    files["gzipped.csv.gz"].write_bytes(gzip.compress(payload))
    return files


def test_uploaded_pickles_are_never_unpickled_by_the_engine_or_the_cli(trap, tmp_path: Path, capsys):
    payload, marker = trap
    for name, path in _evil_files(tmp_path, payload).items():
        try:  # what the app calls: the bytes are parsed as text or refused, never deserialised
            advisor.load_table(path.read_bytes(), name=name)
        except advisor.AdvisorError as exc:
            _one_sentence(str(exc), name)
        for attempt in (
            partial(advisor.load_dataset, path, "x"),
            partial(advisor.advise, path, "x", candidates=["linear"], timing=advisor.QUICK_TIMING),
        ):
            with pytest.raises(advisor.AdvisorError) as caught:
                attempt()
            _one_sentence(str(caught.value), name)
        code, err = _cli(capsys, "run", path, "--target", "x", "--quick", "--candidates", "linear")
        assert code == 2
        _one_sentence(err, name)
        assert not marker.exists(), name
    assert advisor.Store().list_runs() == []

    done = subprocess.run(  # the real command line, exit code included
        [sys.executable, "-m", "advisor", "run", str(tmp_path / "evil.csv"), "--target", "x"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    _one_sentence(done.stderr, "evil.csv")
    assert not marker.exists()


def test_a_parquet_file_carrying_a_pickled_arrow_extension_type_is_not_unpickled(trap, tmp_path: Path):
    """CVE-2023-47248: pyarrow < 14.0.1 unpickled the metadata of 'arrow.py_extension_type' columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    payload, marker = trap

    class PickledType(pa.ExtensionType):
        def __init__(self) -> None:
            super().__init__(pa.int64(), "arrow.py_extension_type")

        def __arrow_ext_serialize__(self) -> bytes:
            return payload

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type, serialized):  # pragma: no cover - never registered
            return cls()

    values = pa.ExtensionArray.from_storage(PickledType(), pa.array(range(40), pa.int64()))
    pq.write_table(pa.table({"x": values, "y": pa.array([0, 1] * 20)}), tmp_path / "extension.parquet")
    assert pq.read_schema(tmp_path / "extension.parquet").field("x").metadata[b"ARROW:extension:metadata"] == payload
    try:
        frame, _ = advisor.load_table(tmp_path / "extension.parquet")
        assert frame["x"].tolist() == list(range(40))  # read as its plain storage type
    except advisor.AdvisorError as exc:  # a pyarrow that refuses the type outright is fine too
        _one_sentence(str(exc), "extension.parquet")
    assert not marker.exists()


def _zip(path: Path, files: dict[str, bytes], listed: dict[str, bytes] | None = None) -> Path:
    """An artifact-shaped zip whose manifest lists the SHA-256 of `listed` (default: the files themselves)."""
    manifest = {
        "format": "advisor-artifact",
        "version": 1,
        "created_at": 0,
        "key": "linear",
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in (listed or files).items()},
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_an_artifact_is_unpickled_only_after_its_digests_and_signature_check(trap, tmp_path: Path, capsys, monkeypatch):
    payload, marker = trap
    files = {"predictor.joblib": payload, "schema.json": b'{"columns": []}', "metrics.json": b"{}"}
    swapped = _zip(tmp_path / "swapped.zip", files, listed=dict(files, **{"predictor.joblib": b"the real model"}))
    unsigned = _zip(tmp_path / "unsigned.zip", files)  # self-consistent, but not signed
    (tmp_path / "evil.joblib").write_bytes(payload)

    with pytest.raises(advisor.ArtifactError, match="does not match its SHA-256") as caught:
        advisor.load_artifact(swapped)
    _one_sentence(str(caught.value), "swapped.zip")
    with pytest.raises(advisor.ArtifactError, match="not an advisor artifact"):
        advisor.load_predictor(tmp_path / "evil.joblib")  # a bare pickle is never loaded
    monkeypatch.setenv("ADVISOR_ARTIFACT_KEY", "team-secret")
    with pytest.raises(advisor.ArtifactError, match="not signed"):
        advisor.load_artifact(unsigned)
    monkeypatch.delenv("ADVISOR_ARTIFACT_KEY")

    # The CLI commands that read files: measure (an artifact and rows), import (a device measurement).
    (tmp_path / "evil.json").write_bytes(payload)
    for args, name in (
        (["measure", swapped, "--rows", DATA / "penguins.csv", "--out", tmp_path / "d.json"], "swapped.zip"),
        (["measure", swapped, "--rows", tmp_path / "evil.parquet", "--out", tmp_path / "d.json"], "evil.parquet"),
        (["import", "AAAAAAAAAAAAAAAAAAAAAA", tmp_path / "evil.json"], "evil.json"),
    ):
        (tmp_path / "evil.parquet").write_bytes(payload)
        code, err = _cli(capsys, *args)
        assert code == 2, err
        _one_sentence(err, name)
    assert not (tmp_path / "d.json").exists()
    assert not marker.exists()


def _rebuilt(source: Path, out: Path, version: int = 2, drop: tuple[str, ...] = (), **members: bytes) -> Path:
    """An attacker's copy of an artifact: members swapped or added, the manifest recomputed to match."""
    with zipfile.ZipFile(source) as archive:
        files = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json" and n not in drop}
    files.update({name.replace("__", "."): data for name, data in members.items()})
    manifest = json.loads(zipfile.ZipFile(source).read("manifest.json"))
    manifest.update(version=version, files={n: hashlib.sha256(d).hexdigest() for n, d in files.items()})
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
    return out


def test_a_swapped_model_with_a_recomputed_manifest_runs_no_code(trap, tmp_path: Path, capsys):
    """The manifest catches damage, not an author: what keeps a hostile artifact harmless is that
    the model is stored without pickle, and a pickle inside is read only with trust=True."""
    payload, marker = trap
    run = advisor.advise(
        DATA / "penguins.csv", "species", candidates=["linear"], timing=advisor.QUICK_TIMING, store=tmp_path / "s"
    )
    good = advisor.export(run, "linear", tmp_path / "good.zip", onnx=False)
    tree = json.loads(zipfile.ZipFile(good).read("model.json"))
    model_files = ("model.json", "model.npz")

    def tree_naming(name: str) -> bytes:
        return json.dumps(dict(tree, predictor={"$object": name, "state": {"$map": {}}})).encode()

    buffer = io.BytesIO()
    np.save(buffer, np.array([_Trap(marker)], dtype=object), allow_pickle=True)  # a pickle inside an .npy
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as inner:
        inner.writestr("a0.npy", buffer.getvalue())
    hostile = {
        # an artifact of format 1: the whole predictor pickled (the trap in its place)
        "legacy.zip": _rebuilt(good, tmp_path / "legacy.zip", 1, model_files, predictor__joblib=payload),
        # format 2 claiming a plug-in model that can only be pickled
        "plugin.zip": _rebuilt(
            good,
            tmp_path / "plugin.zip",
            model__json=json.dumps(dict(tree, predictor={"$pickled": 0, "class": "plugin.Model"})).encode(),
            model__pickle=payload,
        ),
        # classes outside the allow-list, named by the file
        "system.zip": _rebuilt(good, tmp_path / "system.zip", model__json=tree_naming("os.system")),
        "eval.zip": _rebuilt(good, tmp_path / "eval.zip", model__json=tree_naming("builtins.eval")),
        # an object array (a pickle) inside the weights
        "weights.zip": _rebuilt(good, tmp_path / "weights.zip", model__npz=npz.getvalue()),
    }
    rows = tmp_path / "rows.csv"
    pd.read_csv(DATA / "penguins.csv").drop(columns="species").head(50).to_csv(rows, index=False)
    for name, path in hostile.items():
        with pytest.raises(advisor.AdvisorError) as caught:
            advisor.load_artifact(path)
        _one_sentence(str(caught.value), name)
        if name in ("legacy.zip", "plugin.zip"):
            assert "pickle" in str(caught.value) and "trust=True" in str(caught.value), caught.value
        code, err = _cli(capsys, "measure", path, "--rows", rows, "--out", tmp_path / "device.json", "--quick")
        assert code == 2, err
        _one_sentence(err, name)
        if name in ("legacy.zip", "plugin.zip"):
            assert "--trust" in err
        assert not marker.exists(), name
    assert not (tmp_path / "device.json").exists()
    first = pd.read_csv(rows).head(1)
    assert advisor.load_artifact(good).predict(first)[0] in {"Adelie", "Chinstrap", "Gentoo"}
    # What --trust is for, shown on the trap itself: given explicitly, the pickle is read.
    with pytest.raises(advisor.ArtifactError, match="does not hold an advisor predictor"):  # it ran all the same
        advisor.load_artifact(hostile["legacy.zip"], trust=True)
    assert marker.exists()


def test_the_app_never_unpickles_an_upload(trap, tmp_path: Path):
    payload, marker = trap
    run = advisor.advise(DATA / "penguins.csv", "species", candidates=["linear"], timing=advisor.QUICK_TIMING)
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run.run_id
    at.run()
    at.file_uploader(key="device_upload").upload("evil.json", payload, "application/json")
    at.run()
    assert not at.exception
    (error,) = at.error
    _one_sentence(error.value, "evil.json", "is not valid JSON")
    for name in (*EVIL_NAMES, "gzipped.csv.gz"):
        data = gzip.compress(payload) if name == "gzipped.csv.gz" else payload
        at.file_uploader(key="upload").upload(name, data, "application/octet-stream")
        at.run()
        assert not at.exception, name
        (error,) = at.error
        _one_sentence(error.value, name)
        assert not marker.exists(), name
    assert [r["run_id"] for r in advisor.Store().list_runs()] == [run.run_id]  # nothing started


# --------------------------------------------------------------------------- 3. run ids


def test_new_run_ids_are_128_random_bits_in_a_url_safe_alphabet():
    ids = [advisor.new_run_id() for _ in range(1000)]
    alphabet = set(string.ascii_letters + string.digits + "-_")
    assert len(set(ids)) == 1000
    for run_id in ids:
        assert len(run_id) == 22 and set(run_id) <= alphabet and advisor.is_run_id(run_id)
        assert len(base64.urlsafe_b64decode(run_id + "==")) == 16  # 128 bits
    for position in range(21):  # no fixed, counted or timed part: every position varies widely
        assert len({run_id[position] for run_id in ids}) > 50, position


BAD_IDS = ("../x", "../../etc/passwd", "..", "a/../../b" * 3, SCRIPT, "x" * 65, "", "%2e%2e%2f" * 3, "a" * 10_000)


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda b: b[:20] or "empty")
def test_the_store_refuses_what_is_not_a_run_id(bad: str, tmp_path: Path):
    store = advisor.Store(tmp_path / "store" / "home")
    before = _tree(tmp_path)
    for attempt in (store.artifact_dir, store.load_run, store.delete_run):
        with pytest.raises(advisor.RunNotFound) as caught:
            attempt(bad)
        _one_sentence(str(caught.value), "not a run id")
    assert _tree(tmp_path) == before


def test_the_cli_refuses_run_ids_that_leave_the_store(tmp_path: Path, capsys, monkeypatch):
    home = tmp_path / "a" / "b" / "home"
    advisor.Store(home)
    monkeypatch.chdir(home)  # "../../x" would be tmp_path/a/x
    device = tmp_path / "device.json"
    device.write_text(json.dumps({"format": "advisor-device-measurement", "artifact": {"key": "linear"}}))
    before = _tree(tmp_path)
    for bad in ("../../x", "../../../../../../tmp/x", "../" * 12 + "x" * 20, SCRIPT):
        for args in (
            ["show", bad],
            ["show", bad, "--methods", "--priorities", "size=5"],
            ["export", bad, "--out", tmp_path / "m.zip"],
            ["export", bad, "linear", "--out", tmp_path / "m.zip"],
            ["report", bad, "--out", tmp_path / "r.html"],
            ["import", bad, device],
            ["resume", bad, "--quick"],
        ):
            code, err = _cli(capsys, *args, "--store", home)
            assert code == 2, (args, err)
            _one_sentence(err, "not a run id")
    assert _tree(tmp_path) == before


def test_the_cli_refuses_a_file_that_is_not_a_run_in_one_sentence(tmp_path: Path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "results.json").write_text("{}")
    for target in (tmp_path / "folder", tmp_path / "passwd"):
        (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
        code, err = _cli(capsys, "show", target)
        assert code == 2
        _one_sentence(err)


def _app_with_run_link(value: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> list[str]:
    """Every element whose text Streamlit renders as markdown."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "toast")
    found = [e.value for kind in kinds for e in at.get(kind)]
    return found + [b.label for b in at.button] + [d.label for d in at.get("download_button")]


@pytest.mark.parametrize(
    "link, expected",
    [
        ("../../etc/passwd", "run id is not valid"),
        (SCRIPT, "run id is not valid"),
        ("A" * 20_000, "run id is not valid"),
        ("", None),
        ("valid-looking-but-unknown-id", "not in this app's store"),
    ],
    ids=["traversal", "script", "very-long", "empty", "unknown"],
)
def test_a_bad_run_link_gives_one_sentence_and_the_page_still_works(link: str, expected: str | None):
    at = _app_with_run_link(link)
    about_the_link = [w.value for w in at.warning if "run" in w.value]
    assert len(about_the_link) == (1 if expected else 0), about_the_link
    if expected:
        _one_sentence(about_the_link[0], expected)
    if expected == "run id is not valid":
        assert "run" not in at.query_params  # dropped from the URL
    assert at.title[0].value == "Model-selection advisor"
    assert any("Using the bundled sample" in i.value for i in at.info)
    assert any(b.label == "Run the advisor" for b in at.button)
    assert "3. Results" not in [h.value for h in at.header]
    assert not [t for t in _texts(at) if "<script" in t or "etc/passwd" in t]


def test_a_run_link_never_opens_a_folder_outside_the_store(hostile_run, tmp_path: Path, monkeypatch):
    """`advisor.open_run` also opens an --out folder by name; a link naming one in the server's
    working directory must not reach it."""
    _, out = hostile_run
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "a-folder-named-like-a-run"
    outside.mkdir()
    (outside / "results.json").write_text((out / "results.json").read_text())
    assert advisor.is_run_id(outside.name) and advisor.open_run(outside.name).run_id  # what a link must not reach
    at = _app_with_run_link(outside.name)
    assert "3. Results" not in [h.value for h in at.header]
    (warning,) = [w.value for w in at.warning if "run" in w.value]
    _one_sentence(warning, "not in this app's store")


# --------------------------------------------------------------------------- 4. escaping


def _wait_for_workers(timeout: float = 240) -> None:
    start = time.time()
    while any(t.name.startswith("advisor-") for t in threading.enumerate()):
        assert time.time() - start < timeout, "the advisor run did not finish"
        time.sleep(0.2)


def test_the_app_shows_hostile_names_and_labels_as_text():
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    name = f"evil {SCRIPT} $x$ {LINK}.csv"
    at.file_uploader(key="upload").upload(name, _hostile_frame().to_csv(index=False).encode(), "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="target").value == IMG
    at.radio(key="thorough").set_value(QUICK)
    at.multiselect(key="families").set_value(["linear"])
    at.run()
    confirm = [b for b in at.button if b.key == "confirm_target"]
    if confirm:  # a target guessed only as the last column is confirmed first
        confirm[0].click()
        at.run()
    next(b for b in at.button if b.label == "Run the advisor").click()
    at.run()
    _wait_for_workers()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Recommended:") for s in at.subheader)

    texts = _texts(at)
    leaks = [(raw, t) for t in texts for raw in RAW_MARKUP if raw in t]
    assert not leaks, leaks
    shown = " ".join(texts)
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in shown  # the constant column's warning, as text
    assert "&lt;img src\\=x onerror\\=alert\\(1\\)&gt;" in shown  # the target, in the run caption
    assert "\\[link\\]\\(javascript:alert\\(1\\)\\)" in shown  # the file name
    for path in (PROJECT / "app").rglob("*.py"):  # and nothing is ever let through as HTML
        assert "unsafe_allow_html" not in path.read_text(), path


def test_the_html_report_shows_hostile_names_as_text(hostile_run):
    run, _ = hostile_run
    html = advisor.build_report(run)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;=HYPERLINK(&quot;http://evil&quot;" in html  # the file name
    scripts = re.findall(r"<script\b.*?</script>", html, flags=re.DOTALL)  # the report's own: plotly
    assert scripts and not [s for s in scripts if SCRIPT in s or IMG in s]  # data in them is \u003c-escaped
    markup = re.sub(r"<script\b.*?</script>", "", html, flags=re.DOTALL)
    assert "<script" not in markup and "<img" not in markup
    assert not re.search(r"<[^>]+\son\w+\s*=", markup)  # no event handler on any tag
    assert not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", markup, re.IGNORECASE)


# --------------------------------------------------------------------------- 5. upload size


def _big_csv(megabytes: float) -> bytes:
    row = b"1.5,2.5,3.5,a\n"
    return b"x,y,z,label\n" + row * int(megabytes * 1_000_000 / len(row))


def test_the_loader_refuses_a_file_over_max_bytes_in_one_sentence(tmp_path: Path):
    big = _big_csv(2)
    (tmp_path / "big.csv").write_bytes(big)
    for attempt in (
        lambda: advisor.load_table(big, name="big.csv", max_bytes=1_000_000),
        lambda: advisor.load_table(tmp_path / "big.csv", max_bytes=1_000_000),
        lambda: advisor.advise(tmp_path / "big.csv", "label", max_bytes=1_000_000),
    ):
        with pytest.raises(advisor.DataError) as caught:
            attempt()
        _one_sentence(str(caught.value), "big.csv", "over the limit of 1 MB")
    assert advisor.load_table(big, name="big.csv", max_bytes=3_000_000)[0].shape == (len(big) // 14, 4)


def test_the_app_checks_the_servers_upload_limit_itself(monkeypatch):
    import streamlit as st

    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    ui = sys.modules["app.ui"]
    assert ui.MAX_UPLOAD_MB == st.get_option("server.maxUploadSize")  # the app's check follows the server's
    monkeypatch.setattr(ui, "MAX_UPLOAD_MB", 1)  # as with --server.maxUploadSize 1
    at.file_uploader(key="upload").upload("big.csv", _big_csv(2), "text/csv")
    at.run()
    assert not at.exception
    (error,) = at.error
    _one_sentence(error.value, "big.csv", "over the limit of 1 MB")
    assert "(up to 1 MB)" in at.get("file_uploader")[0].label
    assert advisor.Store().list_runs() == []


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory):
    """The real app under `streamlit run --server.maxUploadSize 1` (MB)."""
    folder = tmp_path_factory.mktemp("server")
    with streamlit_server(folder, "--server.maxUploadSize", "1") as base:
        yield base, folder / "home"


@contextmanager
def _session(base: str) -> Iterator[tuple[str, str]]:
    """What the browser does first: take the XSRF cookie, open a websocket session with the app.
    Yields the session id and the XSRF token while the session is open."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=10) as response:
        cookie = " ".join(response.headers.get_all("Set-Cookie") or [])
    xsrf = re.search(r"_streamlit_xsrf=([^;\s]+)", cookie).group(1)
    with connect(
        base.replace("http", "ws") + "/_stcore/stream",
        subprotocols=["streamlit", xsrf],
        additional_headers={"Cookie": f"_streamlit_xsrf={xsrf}", "Origin": base},
        max_size=None,
    ) as socket:
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_script_hash = ""
        socket.send(back.SerializeToString())
        deadline = time.time() + 60
        while time.time() < deadline:
            message = ForwardMsg()
            message.ParseFromString(socket.recv(timeout=30))
            if message.WhichOneof("type") == "new_session":
                yield message.new_session.initialize.session_id, xsrf
                return
        raise AssertionError("the app never started a session")


def _put(base: str, session_id: str, xsrf: str | None, body: bytes, chunked: bool = False) -> int | str:
    """A multipart PUT to Streamlit's upload endpoint, as its file_uploader sends it: the status, or
    'closed' when the server hung up on it mid-body."""
    boundary = uuid.uuid4().hex
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="data.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if xsrf:
        headers |= {"X-Xsrftoken": xsrf, "Cookie": f"_streamlit_xsrf={xsrf}"}
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    path = f"/_stcore/upload_file/{session_id}/{uuid.uuid4()}"
    try:
        if chunked:  # no Content-Length: the server has to count the bytes as they come
            parts = (form[i : i + 65536] for i in range(0, len(form), 65536))
            connection.request("PUT", path, body=parts, headers=headers, encode_chunked=True)
        else:
            connection.request("PUT", path, body=form, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (ConnectionError, http.client.HTTPException):
        return "closed"
    finally:
        connection.close()


def test_a_direct_http_upload_over_the_limit_is_refused(small_limit_server):
    base, home = small_limit_server
    small, big = _big_csv(0.1), _big_csv(2)
    with _session(base) as (session_id, xsrf):
        assert _put(base, session_id, xsrf, small) == 204  # the request shape is right: a small file goes in
        assert _put(base, session_id, xsrf, small, chunked=True) == 204
        assert _put(base, session_id, xsrf, big) in (413, "closed")
        assert _put(base, session_id, xsrf, big, chunked=True) in (413, "closed")
        assert _put(base, session_id, None, small) == 403  # and without the XSRF token nothing goes in
        assert _put(base, "not-a-session", xsrf, small) == 400
    assert advisor.Store(home).list_runs() == []


def test_the_browser_refuses_a_file_over_the_limit(small_limit_server):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    base, home = small_limit_server
    puts: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
        page.goto(base)
        expect(page.get_by_text("Using the bundled sample")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("(up to 1 MB)")).to_be_visible()  # the app's own check follows the server
        page.locator('input[type="file"]').first.set_input_files(
            {"name": "big.csv", "mimeType": "text/csv", "buffer": _big_csv(2)}
        )
        expect(page.get_by_text(re.compile(r"File must be 1(\.0)?\s?MB or smaller"))).to_be_visible()
        page.wait_for_timeout(1000)
        expect(page.get_by_text("Using the bundled sample")).to_be_visible()  # the file was not taken
        assert "run=" not in page.url
        browser.close()
    assert puts == []  # nothing was sent
    assert advisor.Store(home).list_runs() == []
