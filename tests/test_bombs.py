"""Decompression bombs cannot fill memory: artifacts and compressed tables are read through caps on expanded bytes."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from advisor._artifact import FORMAT, FORMAT_VERSION, ArtifactError, read_verified

from conftest import PROJECT

ZEROS = b"\0" * (16 << 20)


def _bomb(path: Path, member_mib: int, listed: bool = True) -> Path:
    """A small zip whose one member expands to `member_mib` MiB of zeros."""
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "files": {"predictor.joblib": "0" * 64} if listed else {}}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        with archive.open("predictor.joblib", "w", force_zip64=True) as member:
            for _ in range(member_mib // 16):
                member.write(ZEROS)
    return path


def test_a_member_past_the_cap_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_MAX_ARTIFACT_MB", "64")
    bomb = _bomb(tmp_path / "bomb.zip", 256)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ArtifactError, match=r"'predictor.joblib' expands past 64 MB.*ADVISOR_MAX_ARTIFACT_MB"):
        read_verified(bomb)


def test_an_unlisted_member_is_refused_before_its_body_is_read(tmp_path):
    bomb = _bomb(tmp_path / "unlisted.zip", 32, listed=False)
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


def test_reading_a_gigabyte_bomb_stays_small_in_memory(tmp_path):
    bomb = _bomb(tmp_path / "big.zip", 1024)
    code = (
        "import resource, sys\n"
        "from advisor._artifact import ArtifactError, read_verified\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    read_verified({str(bomb)!r})\n"
        "except ArtifactError as exc:\n"
        "    print(str(exc), file=sys.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    env = {"ADVISOR_MAX_ARTIFACT_MB": "100", "PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "expands past 100 MB" in done.stderr, done.stderr
    grown_mb = int(done.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux
    assert grown_mb < 100 + 200, grown_mb  # the cap plus working room, not the gigabyte


def _gzip_bomb(path: Path, mib: int) -> Path:
    import gzip

    row = b"1,2,3,4,5,6,7,8,9,0\n" * (1 << 16)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"a,b,c,d,e,f,g,h,i,j\n")
        for _ in range(mib * (1 << 20) // len(row)):
            out.write(row)
    return path


def test_a_csv_gz_that_expands_past_the_cap_is_one_sentence(tmp_path, monkeypatch):
    import advisor

    monkeypatch.setenv("ADVISOR_MAX_EXPANDED_MB", "64")
    bomb = _gzip_bomb(tmp_path / "rows.csv.gz", 256)
    assert bomb.stat().st_size < 5_000_000
    with pytest.raises(advisor.DataError, match=r"'rows.csv.gz' expands to more than 64 MB.*ADVISOR_MAX_EXPANDED_MB"):
        advisor.load_table(bomb)
    with pytest.raises(advisor.DataError, match="expands to more than 64 MB"):  # uploaded bytes too
        advisor.load_table(bomb.read_bytes(), name="upload.csv.gz")


def test_loading_a_gigabyte_csv_bomb_stays_small_in_memory(tmp_path):
    bomb = _gzip_bomb(tmp_path / "big.csv.gz", 1024)
    code = (
        "import resource, sys\n"
        "import advisor\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    advisor.load_table({str(bomb)!r})\n"
        "except advisor.DataError as exc:\n"
        "    print(str(exc), file=sys.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    env = {"ADVISOR_MAX_EXPANDED_MB": "100", "PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "expands to more than 100 MB" in done.stderr, done.stderr
    grown_mb = int(done.stdout.strip()) / 1024
    assert grown_mb < 100 + 200, grown_mb
