"""Decompression bombs: peak memory of the table loader and the artifact reader.

    python bench/bench_bombs.py                 # 256 MiB and 1 GiB bombs, caps of 100 MB
    python bench/bench_bombs.py --cap-mb 500

Each bomb is a small file (a gzip CSV, or an artifact zip whose model member is zeros) that
expands to 256 MiB or 1 GiB. Each is opened in a fresh Python process with the cap set through
ADVISOR_MAX_EXPANDED_MB / ADVISOR_MAX_ARTIFACT_MB; the process reports how much its peak resident
memory grew (ru_maxrss) while refusing it. The target: under the cap plus about 200 MB.
Writes bench/out/bombs.json; exits 1 when a bomb is accepted or memory goes past the target.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.deploy.artifact import FORMAT, FORMAT_VERSION  # noqa: E402

HEADROOM_MB = 200
PROBE = """
import resource, sys
import advisor
from advisor.deploy.artifact import read_verified
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = ""
try:
    if sys.argv[1] == "table":
        advisor.load_table(sys.argv[2])
    else:
        read_verified(sys.argv[2])
except advisor.AdvisorError as exc:
    refused = str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
print(refused)
"""


def csv_bomb(path: Path, mib: int) -> Path:
    """A gzip CSV of small numeric rows that expands to about `mib` MiB."""
    rows = b"1,2,3,4,5,6,7,8,9,0\n" * (1 << 16)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"a,b,c,d,e,f,g,h,i,j\n")
        for _ in range(mib * (1 << 20) // len(rows)):
            out.write(rows)
    return path


def artifact_bomb(path: Path, mib: int, listed: bool = True) -> Path:
    """An artifact zip whose model member expands to `mib` MiB of zeros (`listed`: in its manifest)."""
    zeros = b"\0" * (16 << 20)
    files = {"model.npz": "0" * 64} if listed else {}
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "files": files}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        with archive.open("model.npz", "w", force_zip64=True) as member:
            for _ in range(mib // 16):
                member.write(zeros)
    return path


def probe(kind: str, path: Path, cap_mb: int) -> dict:
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        "ADVISOR_MAX_EXPANDED_MB": str(cap_mb),
        "ADVISOR_MAX_ARTIFACT_MB": str(cap_mb),
    }
    done = subprocess.run([sys.executable, "-c", PROBE, kind, str(path)], capture_output=True, text=True, env=env)
    grown_kib, refused = [*done.stdout.splitlines(), "", ""][:2]
    return {"grew_mb": int(grown_kib or 0) / 1024, "refused": refused, "stderr": done.stderr[-500:]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap-mb", type=int, default=100)
    args = parser.parse_args(argv)
    results, failed = [], 0
    print(f"{'bomb':<28}{'file MB':>9}{'expands to':>12}{'grew MB':>9}  verdict")
    with tempfile.TemporaryDirectory() as folder:
        for kind, make, suffix in (("table", csv_bomb, ".csv.gz"), ("artifact", artifact_bomb, ".zip")):
            for mib in (256, 1024):
                path = make(Path(folder) / f"bomb-{mib}{suffix}", mib)
                found = probe(kind, path, args.cap_mb)
                ok = bool(found["refused"]) and found["grew_mb"] < args.cap_mb + HEADROOM_MB
                failed += not ok
                results.append(dict(found, kind=kind, expands_mib=mib, file_bytes=path.stat().st_size, ok=ok))
                print(
                    f"{kind + ' ' + suffix:<28}{path.stat().st_size / 1e6:>9.2f}{mib:>9} MiB{found['grew_mb']:>9.0f}  "
                    f"{'refused' if found['refused'] else 'ACCEPTED'}, "
                    f"{'under' if ok else 'OVER'} {args.cap_mb} + {HEADROOM_MB} MB"
                )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "bombs.json").write_text(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
