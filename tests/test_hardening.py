"""Hardening: what goes wrong around the advisor ends in one sentence, never a traceback, and
nothing it prints or writes can be run by a terminal or a markdown renderer.

1. A reader that leaves (`| head`), a missing output folder, a malformed device file, and a child
   whose parent stops listening: quiet, or one sentence.
2. A full disk and a read-only store: one sentence naming the path and what to do; reads still
   work; nothing committed is lost; no half-written file is left behind.
3. Escaping: the model card's markdown and every line the CLI prints.
4. Run ids: new ones never start with '-'; old ones still work after '--'.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pytest

import advisor
from advisor import store as _store
from advisor.cli import _command, terminal_safe
from advisor.cli import main as cli
from advisor.deploy.describe import model_card
from advisor.files import CannotWrite, write_file
from advisor.measure.device import DEVICE_FORMAT
from advisor.store import Store

from conftest import DATA, PROJECT

TESTS = Path(__file__).resolve().parent
# An id from before ids were kept off '-': 1 in 64 of them start with it.
DASH_ID = "-Ab3dEfGh1jKlMn0pQrStU"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[x](javascript:alert(1))"
CONTROLS = "\x1b[2J\x1b]0;owned\x07\r\x08\x9b31m\u202e\u2066"


def _one_sentence(message: str, *names: str) -> None:
    message = message.strip()
    assert message and "\n" not in message and "Traceback" not in message, message
    for name in names:
        assert str(name) in message, (name, message)


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = cli([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _advisor(
    *args: object, limit_bytes: int | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """`python -m advisor ARGS` in a fresh process; with `limit_bytes`, no file it writes may grow past
    that size (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write fails with EFBIG as on a full disk)."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "advisor", *map(str, args)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=None if limit_bytes is None else lambda: _limit_file_size(limit_bytes),
    )


def _python(code: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT), str(TESTS)])},
        preexec_fn=None if limit_bytes is None else lambda: _limit_file_size(limit_bytes),
    )


def _limit_file_size(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> SimpleNamespace:
    """A two-candidate run whose id starts with '-' (as 1 in 64 old ids do), in its own store, with
    an --out folder."""
    folder = tmp_path_factory.mktemp("hardening")
    run = advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=["baseline", "linear"],
        store=folder / "home",
        out=folder / "out",
        run_id=DASH_ID,
        timing=advisor.QUICK_TIMING,
        with_learning_curve=False,
    )
    assert run.candidate("linear").status == "measured"
    return SimpleNamespace(run=run, home=folder / "home", out=folder / "out")


def _measurement(run_id: str, key: str = "linear", device: str = "edge box") -> dict:
    """A device measurement shaped as `python -m advisor measure` writes one."""
    batch = {
        "batch_size": 1,
        "threads": 1,
        "calls": 20,
        "p50_ms": 0.35,
        "p95_ms": 0.41,
        "rows_per_s": 2877.8,
        "cpu_s_per_row": 0.00036,
        "rapl_j_per_row": None,
        "disturbed_windows": 0,
        "others_cpu_pct_median": 0.0,
        "method": "20 calls on a DataFrame of 1 test rows",
        "round_rows_per_s": [2877.8],
    }
    return {
        "format": DEVICE_FORMAT,
        "device": device,
        "measured_at": 1.0,
        "artifact": {"key": key, "run_id": run_id, "size_bytes": 5000},
        "hardware": {"cpu_model": "ARM Cortex-A72"},
        "load_ms": 700.0,
        "first_row_ms": 1.0,
        "latency": {"p50_ms": 0.01, "p95_ms": 0.02, "p99_ms": 0.03},
        "batches": {"1": batch, "32": dict(batch, batch_size=32, rows_per_s=90000.0)},
        "rows_used": 200,
    }


# --------------------------------------------------------------------------- 1. tracebacks


def test_a_reader_that_leaves_early_ends_the_cli_quietly(tmp_path: Path):
    store = Store(tmp_path / "home")
    for _ in range(40):  # ~160 kB of listing: more than a pipe holds, so the reader's exit is felt
        store.create_run(advisor.new_run_id(), {"dataset": {"name": "x" * 4000, "target": "y", "task": "binary"}})
    process = subprocess.Popen(
        [sys.executable, "-m", "advisor", "list", "--store", str(tmp_path / "home")],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()  # `| head -1`
    process.stdout.close()
    err = process.stderr.read().decode()
    code = process.wait(timeout=60)
    assert code in (0, 141) and "Traceback" not in err and "BrokenPipe" not in err, (code, err)


def test_report_creates_a_missing_output_folder(small_run, tmp_path: Path, capsys):
    path = tmp_path / "not" / "there" / "report.html"
    code, out, err = _cli(capsys, "report", small_run.out, "--out", path)
    assert code == 0, err
    assert path.stat().st_size > 1000 and str(path) in out
    assert _files(path.parent) == ["report.html"]  # no temporary file left beside it


def _device_file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "device.json"
    path.write_bytes(content)
    return path


def _broken(**changes: object) -> bytes:
    data = _measurement(DASH_ID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for name in parents:
            target = target[name]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return json.dumps(data).encode()


MALFORMED = {
    "not JSON": b"{oops",
    "binary": b"\xff\xfe\x00\x81garbage",
    "a JSON list": b"[1, 2, 3]",
    "nested past the parser": b"[" * 100_000,
    "no format": json.dumps({"device": "x"}).encode(),
    "no latency": _broken(latency=KeyError),
    "no batches": _broken(batches={}),
    "latency as text": _broken(latency="fast"),
    "p99 as text": _broken(latency__p99_ms="0.03"),
    "p99 not a number": _broken(latency__p99_ms=float("nan")),
    "negative load time": _broken(load_ms=-1),
    "rows_per_s missing": _broken(batches__1__rows_per_s=KeyError),
    "batch size zero": _broken(batches__1__batch_size=0),
    "batch key not a size": _broken(batches={"big": _measurement(DASH_ID)["batches"]["1"]}),
    "artifact as a list": _broken(artifact=[1]),
    "key as a number": _broken(artifact__key=3),
    "device name empty": _broken(device=""),
    "device name huge": _broken(device="x" * 10_000),
    "hardware as text": _broken(hardware="arm"),
    "a huge file": b"{" + b" " * 11_000_000 + b"}",
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_device_file_is_refused_in_one_sentence(content: bytes, small_run, tmp_path: Path, capsys):
    out = tmp_path / "out"
    shutil.copytree(small_run.out, out)
    before = (out / "results.json").read_bytes()
    path = _device_file(tmp_path, content)
    code, _, err = _cli(capsys, "import", out, path, "--store", tmp_path / "other")
    assert code == 2
    _one_sentence(err, str(path))
    assert (out / "results.json").read_bytes() == before  # nothing was written


def test_a_well_formed_device_file_is_imported_and_ranks(small_run, tmp_path: Path, capsys):
    out = tmp_path / "out"
    shutil.copytree(small_run.out, out)
    path = _device_file(tmp_path, json.dumps(_measurement(DASH_ID)).encode())
    code, printed, err = _cli(capsys, "import", out, path, "--store", tmp_path / "other")
    assert code == 0, err
    assert "--device 'edge box'" in printed
    code, printed, err = _cli(capsys, "show", out, "--device", "edge box")
    assert code == 0 and "as measured on edge box" in printed, err


def test_a_child_whose_parent_stops_listening_exits_quietly():
    """The parent's end of the pipe is gone (the run was cancelled, or the advisor died): the child's
    next message would fail with BrokenPipeError; it ends quietly instead."""
    result = _python(
        "import multiprocessing\n"
        "from advisor.execute.isolate import _child\n"
        "receiver, sender = multiprocessing.Pipe(duplex=False)\n"
        "receiver.close()\n"
        "_child(sender, lambda payload, report: report('epoch 1/5'), None)\n"
        "print('still running')\n"
    )
    assert result.returncode == 0 and not result.stderr and "still running" not in result.stdout, result.stderr


def chatty_work(seconds: float, report) -> None:
    """Work for `run_isolated` that keeps reporting, as a training loop reports epochs."""
    report(f"pid {os.getpid()}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
        report("epoch")


def test_a_caller_that_stops_waiting_takes_its_child_down_quietly():
    """Ctrl-C (or any failure) in the process waiting on a child: the child is killed, not left
    to report into a closed pipe."""
    result = _python(
        "import os, time\n"
        "from advisor.execute.isolate import run_isolated\n"
        "from test_hardening import chatty_work\n"
        "seen = []\n"
        "def interrupt(message):\n"
        "    seen.append(int(message.split()[1]))\n"
        "    raise KeyboardInterrupt\n"
        "try:\n"
        "    run_isolated(chatty_work, 30.0, on_message=interrupt)\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "time.sleep(1.0)  # a child left running would report into the closed pipe by now\n"
        "try:\n"
        "    state = open(f'/proc/{seen[0]}/stat').read().split(') ')[1][0]\n"
        "except FileNotFoundError:\n"
        "    state = 'gone'\n"
        "print(state)\n"
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.strip() in ("gone", "Z", "X"), result.stdout  # killed (a zombie until reaped)


# --------------------------------------------------------------------------- 2. full disk, read-only store


def test_write_file_replaces_a_good_file_only_with_a_whole_one(tmp_path: Path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("good")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CannotWrite) as caught:
        write_file(path, "new" * 1000)
    _one_sentence(str(caught.value), str(path), "disk is full")
    assert path.read_text() == "good" and _files(tmp_path) == ["results.json"]
    monkeypatch.undo()
    (tmp_path / "file").write_text("")
    with pytest.raises(CannotWrite) as caught:
        write_file(tmp_path / "file" / "report.html", "x")
    _one_sentence(str(caught.value), "report.html", "not a folder")


def test_the_store_on_a_full_disk_is_one_sentence_and_keeps_what_was_committed(tmp_path: Path):
    home = tmp_path / "home"
    store = Store(home)
    run_id = advisor.new_run_id()
    store.create_run(run_id, {"dataset": {"name": "d.csv"}})
    store.save_candidate(run_id, "baseline", 0, "measured", {"key": "baseline", "notes": ["kept"]})
    result = _python(
        "from advisor.store import Store, StoreError\n"
        f"store = Store({str(home)!r})\n"
        "try:\n"
        "    big = {'key': 'linear', 'notes': ['x' * 2_000_000]}\n"
        f"    store.save_candidate({run_id!r}, 'linear', 1, 'measured', big)\n"
        "except StoreError as exc:\n"
        "    print(exc)\n",
        limit_bytes=256_000,
    )
    assert "Traceback" not in result.stderr, result.stderr
    _one_sentence(result.stdout, str(home), "free some space", "--store")
    db = sqlite3.connect(home / "runs.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    stored = Store(home).load_run(run_id)
    assert [c["key"] for c in stored["candidates"]] == ["baseline"] and stored["candidates"][0]["notes"] == ["kept"]


@pytest.mark.parametrize("command", ["report", "export"])
def test_the_cli_on_a_full_disk_is_one_sentence_and_leaves_no_file(command: str, small_run, tmp_path: Path):
    dest = tmp_path / "dest"
    path = dest / ("report.html" if command == "report" else "model.zip")
    args = [small_run.out, "--out", path] if command == "report" else [small_run.out, "linear", "--out", path]
    result = _advisor(command, *args, limit_bytes=2048)
    assert result.returncode == 2, result.stderr
    _one_sentence(result.stderr, str(path), "disk is full")
    assert _files(dest) == []  # neither the file nor a temporary one beside it


def test_results_json_on_a_full_disk_keeps_the_good_one(small_run, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(small_run.out, out)
    before = {name: (out / name).read_bytes() for name in _files(out)}
    result = _python(
        "from advisor import open_run\n"
        "from advisor.files import CannotWrite\n"
        f"run = open_run({str(out)!r})\n"
        "try:\n"
        f"    run.save_json({str(out)!r})\n"
        "except CannotWrite as exc:\n"
        "    print(exc)\n",
        limit_bytes=2048,
    )
    assert "Traceback" not in result.stderr, result.stderr
    _one_sentence(result.stdout, "results.json", "disk is full")
    assert {name: (out / name).read_bytes() for name in _files(out)} == before  # the same files, unchanged


@pytest.fixture
def read_only_prefix() -> tuple[str, ...]:
    """How to run a command that cannot write a chmod-ed folder. Root ignores file modes, so as
    root the command runs in a new user namespace (`unshare -U`), where it keeps its uid but not its
    power over files: it then reads and writes by the owner's bits, as a normal user would."""
    if os.geteuid() != 0:
        return ()
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-U", "true"], capture_output=True).returncode == 0:
        return (unshare, "-U")
    pytest.skip("running as root without user namespaces: nothing here can make a folder read-only to root")


def test_a_read_only_store_lists_and_shows_and_refuses_writes_in_one_sentence(
    small_run, read_only_prefix, tmp_path: Path
):
    home = tmp_path / "home"
    shutil.copytree(small_run.home, home)
    device = _device_file(tmp_path, json.dumps(_measurement(DASH_ID)).encode())
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    for path in [home, *home.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        listed = _advisor("list", "--store", home, prefix=read_only_prefix)
        assert listed.returncode == 0 and DASH_ID in listed.stdout, listed.stderr
        shown = _advisor("show", "--store", home, "--", DASH_ID, prefix=read_only_prefix)
        assert shown.returncode == 0 and "linear" in shown.stdout, shown.stderr
        report = tmp_path / "report.html"
        made = _advisor("report", "--store", home, "--out", report, "--", DASH_ID, prefix=read_only_prefix)
        assert made.returncode == 0 and report.is_file(), made.stderr
        imported = _advisor("import", "--store", home, "--", DASH_ID, device, prefix=read_only_prefix)
        assert imported.returncode == 2
        _one_sentence(imported.stderr, str(home), "read-only", "--store")
        fresh = _advisor("list", "--store", home / "new", prefix=read_only_prefix)
        assert fresh.returncode == 2
        _one_sentence(fresh.stderr, str(home / "new"), "read-only")
    finally:
        for path in folders:
            path.chmod(0o755)
    assert sorted(p.name for p in home.iterdir()) == sorted(p.name for p in small_run.home.iterdir())


# --------------------------------------------------------------------------- 3. escaping


def _code_spans(line: str) -> tuple[str, list[str]]:
    """A line split as CommonMark reads code spans: the text outside them, and their contents. A
    run of n backticks opens a span that only a run of exactly n backticks closes."""
    outside, spans, i = [], [], 0
    while i < len(line):
        if line[i] != "`":
            outside.append(line[i])
            i += 1
            continue
        j = i
        while j < len(line) and line[j] == "`":
            j += 1
        fence = line[i:j]
        k = j
        while True:
            k = line.find(fence, k)
            if k < 0 or ((k + len(fence) == len(line) or line[k + len(fence)] != "`") and line[k - 1] != "`"):
                break
            k += 1
        if k < 0:  # no closer: the backticks are literal
            outside.append(fence)
            i = j
            continue
        content = line[j:k]
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        spans.append(content)
        i = k + len(fence)
    return "".join(outside), spans


def test_the_model_card_escapes_every_user_string():
    target = f"a`b ``{IMG}"
    predictor = SimpleNamespace(
        name=f"**{IMG}**",
        key="lin`ear",
        task="binary",
        target=target,
        input_columns=["x", "y"],
        classes=[LINK, "<script>alert(1)</script>"],
        decision_threshold=0.5,
        threshold_method=f"maximises accuracy for {LINK}",
    )
    metrics = {
        "run": {
            "run_id": DASH_ID,
            "dataset": {
                "name": f"{LINK}{IMG}.csv",
                "rows": 10,
                "warnings": [f"Column '{IMG}' is constant", "x\n# injected heading\n<script>alert(1)</script>"],
            },
            "hardware": {"cpu_model": "$x$ ~~cpu~~ | a |", "usable_cpus": 2},
        },
        "candidate": {"family": "linear", "quality": {"metrics": {"accuracy": 0.9}}},
    }
    card = model_card(predictor, metrics)  # type: ignore[arg-type]
    spans: list[str] = []
    for line in card.splitlines():
        assert not line.startswith(("# injected", "<")), line
        outside, found = _code_spans(line)
        spans += found
        for markup in ("<img", "<script", "](", "**", "$x$", "~~", "onerror=alert(1)>"):
            assert markup not in outside, (markup, line)
    assert target in spans and "lin`ear" in spans  # each a whole code span: no backtick in it closed it


def test_terminal_safe_shows_control_characters_as_escapes():
    assert terminal_safe("plain text\nnext line") == "plain text\nnext line"
    safe = terminal_safe(f"a{CONTROLS}b\nc\x1bd")
    assert not _controls(safe) and "\\x1b" in safe and "\\u202e" in safe and safe.count("\n") == 1


def _controls(text: str) -> set[str]:
    return {c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")}


def test_the_cli_prints_no_terminal_control_characters(small_run, tmp_path: Path, capsys):
    results = json.loads((small_run.out / "results.json").read_text())
    results["dataset"]["name"] = f"data{CONTROLS}.csv"
    results["dataset"]["target"] = f"species{CONTROLS}"
    results["dataset"]["warnings"] = [f"Column 'x{CONTROLS}' is constant"]
    for candidate in results["candidates"]:
        candidate["measurements"]["notes"].append(f"note{CONTROLS}")
    shared = tmp_path / "shared" / "results.json"
    shared.parent.mkdir()
    shared.write_text(json.dumps(results))
    device = _device_file(tmp_path, json.dumps(_measurement(DASH_ID, device=f"box{CONTROLS}")).encode())
    home = tmp_path / "home"
    Store(home).create_run(advisor.new_run_id(), {"dataset": {"name": f"d{CONTROLS}.csv", "target": "t"}})
    for args in (
        ["show", shared.parent, "--methods"],
        ["import", shared.parent, device, "--store", home],
        ["show", shared.parent, "--device", f"box{CONTROLS}"],
        ["show", shared.parent, "--device", f"other{CONTROLS}"],  # an error that echoes the argument
        ["list", "--store", home],
        ["show", f"x{CONTROLS}"],
        ["catalog", f"--bogus{CONTROLS}"],
    ):
        try:
            _, out, err = _cli(capsys, *args)
        except SystemExit:
            captured = capsys.readouterr()
            out, err = captured.out, captured.err
        assert out or err
        assert not _controls(out + err), (args, _controls(out + err))


# --------------------------------------------------------------------------- 4. run ids


def test_new_run_ids_never_start_with_a_dash(monkeypatch):
    assert not any(advisor.new_run_id().startswith("-") for _ in range(3000))  # ~47 would, drawn plainly
    draws = iter(["-" + "a" * 21, "-" + "b" * 21, "Zz" + "c" * 20])
    monkeypatch.setattr(_store.secrets, "token_urlsafe", lambda n: next(draws))
    assert advisor.new_run_id() == "Zz" + "c" * 20


def test_an_old_run_id_that_starts_with_a_dash_works_after_double_dash(small_run, tmp_path: Path, capsys):
    store = ["--store", small_run.home]
    code, out, err = _cli(capsys, "show", *store, "--", DASH_ID)
    assert code == 0 and DASH_ID in out, err
    code, out, err = _cli(capsys, "export", *store, "--out", tmp_path / "m.zip", "--", DASH_ID, "linear")
    assert code == 0 and (tmp_path / "m.zip").is_file(), err
    code, out, err = _cli(capsys, "report", *store, "--out", tmp_path / "r.html", "--", DASH_ID)
    assert code == 0 and (tmp_path / "r.html").is_file(), err
    code, out, err = _cli(capsys, "resume", *store, "--", DASH_ID)
    assert code == 2 and "already complete" in err  # parsed as the run id: the run is done
    for args in (
        ["show", DASH_ID],
        ["export", DASH_ID, "--out", "m.zip"],
        ["report", DASH_ID, "--out", "r.html"],
        ["resume", DASH_ID],
    ):  # without '--': argparse takes the id for an option, and the sentence says what to do
        with pytest.raises(SystemExit) as exited:
            cli([*args, *map(str, store)])
        assert exited.value.code == 2
        _one_sentence(capsys.readouterr().err, f"-- {DASH_ID}")
    assert _command("resume", DASH_ID) == f"python -m advisor resume -- {DASH_ID}"
    assert _command("show", "runs/x", options=["--device", "a b"]) == "python -m advisor show --device 'a b' runs/x"
