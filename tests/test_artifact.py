"""The deployable artifact: verified before unpickling, schema checks, fresh-process round trips."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import advisor
from advisor import ArtifactError, InputSchemaError

from conftest import DATA, PROJECT

ALL_KEYS = [s.key for s in advisor.load_candidates()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return {
        "classification": advisor.advise(
            DATA / "penguins.csv", "species", candidates=ALL_KEYS, store=home, timing=advisor.QUICK_TIMING
        ),
        "regression": advisor.advise(
            DATA / "diabetes.csv", "target", candidates=ALL_KEYS, store=home, timing=advisor.QUICK_TIMING
        ),
    }


def _test_rows(run: advisor.Run):
    dataset = advisor.load_dataset(DATA / run.dataset["name"], run.dataset["target"])
    return advisor.split_dataset(dataset).X_test


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_every_entry_round_trips_through_a_fresh_process(runs, kind, tmp_path: Path):
    run = runs[kind]
    rows = _test_rows(run)
    rows_file = tmp_path / "rows.parquet"
    rows.to_parquet(rows_file)
    exported = {}
    for c in run.candidates:
        assert c.status == "measured", (c.key, c.error)
        exported[c.key] = str(advisor.export(run, c.key, tmp_path / f"{c.key}.zip"))
    script = (
        "import json, sys, pandas as pd, advisor\n"
        "rows = pd.read_parquet(sys.argv[1]); paths = json.loads(sys.argv[2]); out = {}\n"
        "for key, path in paths.items():\n"
        "    model = advisor.load_artifact(path)\n"
        "    scores = model.predictor.scores(rows)\n"
        "    out[key] = {'labels': [str(v) for v in model.predict(rows)], 'scores': scores.tolist()}\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(rows_file), json.dumps(exported)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    fresh = json.loads(done.stdout)
    for key, path in exported.items():
        here = advisor.load_artifact(path)
        if kind == "classification":
            assert fresh[key]["labels"] == [str(v) for v in here.predict(rows)], key
        assert np.allclose(np.array(fresh[key]["scores"]), here.predictor.scores(rows), rtol=1e-6, atol=1e-9), key


def test_artifact_contents(runs, tmp_path: Path):
    run = runs["classification"]
    path = advisor.export(run, "lightgbm", tmp_path / "model.zip")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        schema = json.loads(archive.read("schema.json"))
        metrics = json.loads(archive.read("metrics.json"))
        card = archive.read("MODEL_CARD.md").decode()
    assert {
        "manifest.json",
        "model.json",
        "model.npz",
        "lightgbm-0.txt",
        "preprocessing.json",
        "schema.json",
        "metrics.json",
        "versions.json",
        "MODEL_CARD.md",
    } <= names
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert not any(name.endswith((".joblib", ".pickle", ".pkl")) for name in names)  # no pickle anywhere
    island = next(c for c in schema["columns"] if c["name"] == "island")
    assert set(island["categories"]) == {"Biscoe", "Dream", "Torgersen"}
    assert schema["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert metrics["candidate"]["latency"]["p50_ms"] > 0  # the final, measured figures
    assert "method" in metrics["candidate"]["quality"]
    assert "## Limits" in card and "lightgbm" in card


def test_a_changed_byte_is_refused(runs, tmp_path: Path):
    path = advisor.export(runs["classification"], "linear", tmp_path / "model.zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.npz")
    data[info.header_offset + 30 + len(info.filename) + info.file_size // 2] ^= 0x01  # inside the weights
    (tmp_path / "tampered.zip").write_bytes(bytes(data))
    with pytest.raises(ArtifactError) as caught:
        advisor.load_artifact(tmp_path / "tampered.zip")
    assert "tampered.zip" in str(caught.value) and "\n" not in str(caught.value)


def test_a_consistently_rebuilt_file_with_other_contents_is_refused(runs, tmp_path: Path):
    path = advisor.export(runs["classification"], "linear", tmp_path / "model.zip")
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    evil = dict(contents, **{"model.json": b'{"format": "advisor-model", "version": 1, "predictor": null}'})
    with zipfile.ZipFile(tmp_path / "swapped.zip", "w") as archive:  # valid zip, old manifest
        for name, data in evil.items():
            archive.writestr(name, data)
    with pytest.raises(ArtifactError, match="does not match its SHA-256"):
        advisor.load_artifact(tmp_path / "swapped.zip")
    with zipfile.ZipFile(tmp_path / "extra.zip", "w") as archive:
        for name, data in dict(contents, **{"run_me.py": b"print(1)"}).items():
            archive.writestr(name, data)
    with pytest.raises(ArtifactError, match="does not list"):
        advisor.load_artifact(tmp_path / "extra.zip")


def test_a_signed_artifact_needs_the_same_key(runs, tmp_path: Path, monkeypatch):
    from advisor.deploy.artifact import KEY_ENV, model_members, read_verified, write_artifact

    contents, _ = read_verified(runs["classification"].candidate("linear").artifact)
    predictor = advisor.load_artifact(runs["classification"].candidate("linear").artifact).predictor
    monkeypatch.setenv(KEY_ENV, "team-secret")
    signed = write_artifact(
        tmp_path / "signed.zip", model_members(contents), predictor, json.loads(contents["metrics.json"])
    )
    assert (
        advisor.load_artifact(signed).predict(
            {
                "island": "Biscoe",
                "bill_length_mm": 45,
                "bill_depth_mm": 15,
                "flipper_length_mm": 220,
                "body_mass_g": 5000,
                "sex": "male",
                "year": 2008,
            }
        )[0]
        == "Gentoo"
    )
    monkeypatch.setenv(KEY_ENV, "another-key")
    with pytest.raises(ArtifactError, match="not signed with this"):
        advisor.load_artifact(signed)


def test_inputs_are_checked_against_the_schema(runs):
    model = advisor.load_artifact(runs["classification"].candidate("lightgbm").artifact)
    row = {
        "island": "Biscoe",
        "bill_length_mm": 45.0,
        "bill_depth_mm": 15.0,
        "flipper_length_mm": 220.0,
        "body_mass_g": 5000.0,
        "sex": "male",
        "year": 2008,
    }
    assert model.predict(row)[0] == "Gentoo" and model.problems(row) == []
    with pytest.raises(InputSchemaError, match="Column 'island' is missing"):
        model.predict({k: v for k, v in row.items() if k != "island"})
    with pytest.raises(InputSchemaError, match="'heavy', which is not a number"):
        model.predict(dict(row, body_mass_g="heavy"))
    assert model.predict(dict(row, body_mass_g=None))[0] in model.classes  # missing is fine: imputed
    unseen = dict(row, island="Atlantis")
    assert model.predict(unseen)[0] in model.classes  # treated as 'other'
    with pytest.raises(InputSchemaError, match="'Atlantis', a value not seen in training"):
        model.predict(unseen, strict=True)
    frame = _test_rows(runs["classification"]).copy()
    frame["body_mass_g"] = frame["body_mass_g"].astype(object)
    frame.iloc[3, frame.columns.get_loc("body_mass_g")] = "n/a?"
    assert model.problems(frame) == [
        "Column 'body_mass_g' has 'n/a?' in row 3, which is not a number; send a number or leave it empty "
        "(it is then treated as missing)."
    ]


def test_cli_export_and_its_errors(runs, tmp_path: Path):
    run = runs["classification"]
    out = tmp_path / "out"
    run.save_json(out)
    env = {**os.environ, "ADVISOR_HOME": str(Path(run.store_root))}
    done = subprocess.run(
        [sys.executable, "-m", "advisor", "export", str(out), "--out", str(tmp_path / "m.zip")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert f"candidate {run.recommendation.key}" in done.stdout
    assert advisor.load_artifact(tmp_path / "m.zip").predictor.key == run.recommendation.key
    wrong = subprocess.run(
        [sys.executable, "-m", "advisor", "export", str(out), "lightgmb", "--out", "x.zip"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert wrong.returncode == 2 and "did you mean 'lightgbm'" in wrong.stderr


def test_measure_on_a_target_then_import_and_rank_on_it(runs, tmp_path: Path):
    run = runs["classification"]
    out = tmp_path / "out"
    run.save_json(out)
    env = {**os.environ, "ADVISOR_HOME": str(Path(run.store_root))}
    model = advisor.export(run, "tree", tmp_path / "tree.zip")

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "advisor", *args], cwd=PROJECT, capture_output=True, text=True, env=env, timeout=300
        )

    measured = cli(
        "measure",
        str(model),
        "--rows",
        str(DATA / "penguins.csv"),
        "--out",
        str(tmp_path / "d.json"),
        "--name",
        "edge-board",
        "--quick",
    )
    assert measured.returncode == 0, measured.stderr
    device = json.loads((tmp_path / "d.json").read_text())
    assert device["device"] == "edge-board" and device["artifact"]["key"] == "tree"
    assert device["latency"]["p50_ms"] > 0 and device["hardware"]["cpu_model"]
    imported = cli("import", str(out), str(tmp_path / "d.json"))
    assert imported.returncode == 0, imported.stderr
    reopened = advisor.open_run(out)
    assert "edge-board" in reopened.candidate("tree").devices
    on_board = reopened.rerank(device="edge-board")
    assert on_board.recommendation.key == "tree"  # the only candidate measured there
    assert on_board.recommendation.excluded["linear"] == ("not measured (not measured on edge-board)",)
    shown = cli("show", str(out), "--device", "edge-board")
    assert shown.returncode == 0 and "as measured on edge-board" in shown.stdout
    wrong = cli("import", str(out), str(DATA / "penguins.csv"))
    assert wrong.returncode == 2 and "is not valid JSON" in wrong.stderr and "penguins.csv" in wrong.stderr


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_onnx_is_written_where_a_converter_exists_and_matches(runs, kind, tmp_path: Path):
    from advisor.deploy.onnx import compare, onnx_scores

    run = runs[kind]
    rows = _test_rows(run)
    for key in ("linear", "tree", "forest", "lightgbm", "mlp", "mlp-int4", "mlp-int8", "ensemble"):
        path = advisor.export(run, key, tmp_path / f"{key}.zip")
        with zipfile.ZipFile(path) as archive:
            report = json.loads(archive.read("export.json"))
            onnx = archive.read("model.onnx") if "model.onnx" in archive.namelist() else None
            spec = json.loads(archive.read("preprocessing.json"))
        model = advisor.load_artifact(path).predictor
        assert spec["width"] == model.encoder.n_features_out_
        if key in ("mlp-int8", "ensemble"):
            assert onnx is None and report["onnx_skipped"]  # said why
            continue
        assert onnx is not None, (key, report)
        encoded = model.encoder.transform(rows)
        check = compare(model.model, onnx_scores(model.model, onnx, encoded), model.model.scores(encoded))
        assert check["within_tolerance"], (key, check)  # tree ensembles: <= 5% of rows on another branch
        assert report["onnx"]["tolerance_note"]


def test_an_artifact_from_before_format_2_loads_only_with_trust_and_exports_without_pickle(tmp_path: Path):
    """Format 1 pickled the whole predictor (predictor.joblib). Such a file still opens, but only
    when trust is given; exporting from a run whose store holds one writes format 2, no pickle."""
    import io

    import joblib

    from advisor.deploy.artifact import read_verified
    from advisor.deploy.modelfile import UntrustedPickle, is_model_member, load_model_files

    run = advisor.advise(
        DATA / "penguins.csv", "species", candidates=["tree"], timing=advisor.QUICK_TIMING, store=tmp_path / "s"
    )
    path = Path(run.candidate("tree").artifact)
    rows = _test_rows(run)
    expected = list(advisor.load_artifact(path).predict(rows))
    contents, manifest = read_verified(path)
    buffer = io.BytesIO()
    joblib.dump(load_model_files(contents, path.name), buffer)  # what format 1 stored
    old = {n: d for n, d in contents.items() if not is_model_member(n) and n != "preprocessing.json"}
    old["predictor.joblib"] = buffer.getvalue()
    manifest.update(version=1, files={n: hashlib.sha256(d).hexdigest() for n, d in old.items()})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in old.items():
            archive.writestr(name, data)

    with pytest.raises(UntrustedPickle, match=r"before format 2.*trust=True"):
        advisor.load_artifact(path)
    assert list(advisor.load_artifact(path, trust=True).predict(rows)) == expected
    exported = advisor.export(run, "tree", tmp_path / "upgraded.zip", onnx=False)
    names = set(zipfile.ZipFile(exported).namelist())
    assert "model.json" in names and "predictor.joblib" not in names
    assert list(advisor.load_artifact(exported).predict(rows)) == expected  # no trust needed any more


@pytest.mark.parametrize("key", ["linear", "lightgbm-fast", "mlp-int4"])
def test_artifacts_exported_earlier_keep_loading_and_predict_the_same(key: str):
    """tests/data/format2-*.zip were exported by the advisor as of format 2 (before the engine's
    modules moved); they must load without trust and give the predictions they gave then."""
    import pandas as pd

    expected = json.loads((PROJECT / "tests" / "data" / "format2-expected.json").read_text())["predictions"][key]
    rows = pd.read_csv(DATA / "penguins.csv").drop(columns="species").head(30)
    artifact = advisor.load_artifact(PROJECT / "tests" / "data" / f"format2-{key}.zip")
    assert [str(label) for label in artifact.predict(rows)] == expected["labels"]
    assert np.allclose(artifact.predictor.scores(rows), np.array(expected["scores"]), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("key", ["tree", "mlp-int4"])
def test_format_1_artifacts_from_the_former_module_layout_load_with_trust(key: str):
    """tests/data/format1-*.zip were exported before format 2 (a joblib pickle naming the engine's
    former modules, advisor._predictor and the like): refused without trust, loaded with it."""
    import pandas as pd

    path = PROJECT / "tests" / "data" / f"format1-{key}.zip"
    with pytest.raises(advisor.UntrustedPickle, match="trust=True"):
        advisor.load_artifact(path)
    artifact = advisor.load_artifact(path, trust=True)
    rows = pd.read_csv(DATA / "penguins.csv").drop(columns="species").head(30)
    assert set(artifact.predict(rows)) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (artifact.predict(rows) == pd.read_csv(DATA / "penguins.csv")["species"].head(30)).mean() > 0.9
