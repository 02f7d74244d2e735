"""Decompression bombs cannot fill memory: artifacts and compressed tables are read through caps on expanded bytes.

The bombs and the fresh-process memory probe are the ones `bench/bench_bombs.py` uses.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile

import pytest

import advisor
from advisor.deploy.artifact import FORMAT, FORMAT_VERSION, ArtifactError, read_verified

from conftest import PROJECT

_spec = importlib.util.spec_from_file_location("bench_bombs", PROJECT / "bench" / "bench_bombs.py")
bombs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bombs)


def test_a_member_past_the_cap_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_MAX_ARTIFACT_MB", "64")
    bomb = bombs.artifact_bomb(tmp_path / "bomb.zip", 256)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ArtifactError, match=r"'model.npz' expands past 64 MB.*ADVISOR_MAX_ARTIFACT_MB"):
        read_verified(bomb)


def test_an_unlisted_member_is_refused_before_its_body_is_read(tmp_path):
    bomb = bombs.artifact_bomb(tmp_path / "unlisted.zip", 32, listed=False)
    with pytest.raises(ArtifactError, match="which its manifest does not list"):
        read_verified(bomb)


def test_a_malformed_signature_or_manifest_is_one_sentence(tmp_path, monkeypatch):
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "files": {}}))
        archive.writestr("manifest.hmac", b"\xff\xfe not text")
    monkeypatch.setenv("ADVISOR_ARTIFACT_KEY", "secret")
    with pytest.raises(ArtifactError, match="is not signed with this ADVISOR_ARTIFACT_KEY"):
        read_verified(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", b"[1, 2")
    with pytest.raises(ArtifactError, match="has no readable manifest"):
        read_verified(path)


def test_a_csv_gz_that_expands_past_the_cap_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_MAX_EXPANDED_MB", "64")
    bomb = bombs.csv_bomb(tmp_path / "rows.csv.gz", 256)
    assert bomb.stat().st_size < 5_000_000
    with pytest.raises(advisor.DataError, match=r"'rows.csv.gz' expands to more than 64 MB.*ADVISOR_MAX_EXPANDED_MB"):
        advisor.load_table(bomb)
    with pytest.raises(advisor.DataError, match="expands to more than 64 MB"):  # uploaded bytes too
        advisor.load_table(bomb.read_bytes(), name="upload.csv.gz")


@pytest.mark.parametrize(
    ("kind", "make", "refusal"),
    [("artifact", "artifact_bomb", "expands past 100 MB"), ("table", "csv_bomb", "expands to more than 100 MB")],
)
def test_a_gigabyte_bomb_stays_small_in_memory(tmp_path, kind, make, refusal):
    bomb = getattr(bombs, make)(tmp_path / f"big{'.zip' if kind == 'artifact' else '.csv.gz'}", 1024)
    found = bombs.probe(kind, bomb, cap_mb=100)  # a fresh process; ru_maxrss growth while refusing it
    assert refusal in found["refused"], found
    assert found["grew_mb"] < 100 + bombs.HEADROOM_MB, found  # the cap plus working room, not the gigabyte
