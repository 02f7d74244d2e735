"""Run one piece of work in a child process, under a time limit and a memory limit.

A candidate that raises, hangs, eats memory or takes its interpreter down (a segfault in a
native library, an out-of-memory kill) ends as a `WorkFailed` carrying the reason in plain
words; the caller records it and goes on with the next candidate.

Children come from a forkserver: a clean, single-threaded process that imported numpy,
scikit-learn, LightGBM and torch once (see `_preload`). Forking it costs milliseconds instead of
the seconds a fresh interpreter needs, and the child never inherits the threads of the process
that asked (OpenMP pools, the Streamlit server's threads), which is what makes a plain `fork`
unsafe. Each child leads its own process group, so a kill also takes down any processes it
started, and it dies with the forkserver if the advisor itself is killed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

POLL_S = 0.05
START_TIMEOUT_S = 300.0  # a child waits for the forkserver to import its libraries once (seconds on a busy machine)
PRELOAD = ["advisor.execute.preload"]
_context_lock = threading.Lock()
_context: Any = None


@dataclass(frozen=True)
class Limits:
    """What one isolated piece of work may use. None means no limit."""

    time_s: float | None = 900.0
    memory_bytes: int | None = None


class WorkFailed(Exception):
    """The work raised, ran out of time or memory, or its process died; `reason` says which."""

    def __init__(self, reason: str, kind: str, detail: str = "", peak_rss_bytes: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # raised | time | memory | crashed | stopped
        self.detail = detail
        self.peak_rss_bytes = peak_rss_bytes

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process and machine boundaries (Dask) intact
        return (WorkFailed, (self.reason, self.kind, self.detail, self.peak_rss_bytes))


@dataclass(frozen=True)
class Finished:
    value: Any
    wall_s: float
    peak_rss_bytes: int | None


def _mp_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = multiprocessing.get_context("forkserver")
                _context.set_forkserver_preload(PRELOAD)
            else:  # not on Linux or macOS: a fresh interpreter per piece of work, slower but just as isolated
                _context = multiprocessing.get_context("spawn")
        return _context


def _process_class(context: Any) -> Any:
    """The context's Process, minus one step: re-running the caller's main script in each child.

    multiprocessing re-imports `__main__` in every child so that functions defined there can be
    unpickled; the work here is always an importable `advisor` function, and re-running a main
    script fails for `python -c`, stdin and unguarded scripts. Python 3.9-3.13 only (the launch
    code below is theirs); elsewhere the standard behaviour stays.
    """
    if context.get_start_method() == "forkserver" and _IsolatedProcess is not None:
        return _IsolatedProcess
    return context.Process


_IsolatedProcess: Any = None
if sys.platform != "win32" and (3, 9) <= sys.version_info[:2] <= (3, 13):
    import io
    from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
    from multiprocessing.context import ForkServerProcess, set_spawning_popen

    class _Popen(popen_forkserver.Popen):
        def _launch(self, process_obj: Any) -> None:
            prep_data = spawn.get_preparation_data(process_obj._name)
            prep_data.pop("init_main_from_path", None)
            prep_data.pop("init_main_from_name", None)
            buf = io.BytesIO()
            set_spawning_popen(self)
            try:
                reduction.dump(prep_data, buf)
                reduction.dump(process_obj, buf)
            finally:
                set_spawning_popen(None)
            self.sentinel, w = forkserver.connect_to_new_process(self._fds)
            _parent_w = os.dup(w)
            self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = forkserver.read_signed(self.sentinel)

    class _IsolatedProcess(ForkServerProcess):  # type: ignore[no-redef]
        @staticmethod
        def _Popen(process_obj: Any) -> Any:
            return _Popen(process_obj)


def warm_up() -> None:
    """Start the forkserver now (it imports the heavy libraries), so the first candidate need not wait."""
    context = _mp_context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def run_isolated(
    work: Callable[[Any, Callable[[str], None]], Any],
    payload: Any,
    limits: Limits = Limits(),
    on_message: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Finished:
    """`work(payload, report)` in a child process; its return value, or `WorkFailed`.

    `work` must be a module-level function (the child imports it by name). `report(text)` in
    the child reaches `on_message` here. `should_stop()` is polled; when it turns true the child
    is killed and `WorkFailed(kind="stopped")` raised.
    """
    context = _mp_context()
    receiver, sender = context.Pipe(duplex=False)
    # not a daemon: a candidate may start its own worker processes (scikit-learn n_jobs, joblib)
    process = _process_class(context)(target=_child, args=(sender, work, payload), daemon=False)
    start = time.perf_counter()
    process.start()
    sender.close()
    started: float | None = None  # the time limit counts from when the child runs, not from its launch
    peak = 0
    outcome: tuple[Any, ...] | None = None
    try:
        while outcome is None:
            ready = wait([receiver, process.sentinel], timeout=POLL_S)
            if receiver in ready:
                try:
                    message = receiver.recv()
                except (EOFError, OSError):
                    message = None
                if message is None:
                    break
                if message[0] == "started":
                    started = time.perf_counter()
                    continue
                if message[0] == "message":
                    if on_message is not None:
                        on_message(message[1])
                    continue
                outcome = message
                break
            if process.sentinel in ready and not receiver.poll():
                break
            peak = max(peak, _tree_rss(process.pid))
            now = time.perf_counter()
            if started is None and now - start > START_TIMEOUT_S:
                _kill(process)
                raise WorkFailed(f"its process did not start within {START_TIMEOUT_S:.0f} s", "crashed")
            elapsed = now - started if started is not None else 0.0
            if limits.memory_bytes is not None and peak > limits.memory_bytes:
                _kill(process)
                raise WorkFailed(
                    f"it used {_gb(peak)} of memory, over the limit of {_gb(limits.memory_bytes)}, and was stopped",
                    "memory",
                    peak_rss_bytes=peak,
                )
            if limits.time_s is not None and elapsed > limits.time_s:
                _kill(process)
                raise WorkFailed(
                    f"it ran past the time limit of {limits.time_s:.0f} s and was stopped", "time", peak_rss_bytes=peak
                )
            if should_stop is not None and should_stop():
                _kill(process)
                raise WorkFailed("the run was cancelled", "stopped", peak_rss_bytes=peak)
    except BaseException:  # leaving early (Ctrl-C, a failure here): nobody will read the child's answer now
        if process.is_alive():
            _kill(process)
        raise
    finally:
        receiver.close()
    process.join(timeout=10)
    if process.is_alive():
        _kill(process)
    wall = time.perf_counter() - start
    if outcome is None:
        raise WorkFailed(_death(process.exitcode), "crashed", peak_rss_bytes=peak or None)
    if outcome[0] == "error":
        raise WorkFailed(outcome[1], "raised", detail=outcome[2], peak_rss_bytes=outcome[3] or peak or None)
    return Finished(outcome[1], wall, max(peak, outcome[2] or 0) or None)


def _child(sender: Connection, work: Callable[[Any, Callable[[str], None]], Any], payload: Any) -> None:
    os.setpgid(0, 0)  # its own process group: a kill takes its helpers too
    _die_with_parent()

    def send(message: tuple[Any, ...]) -> None:
        try:
            sender.send(message)
        except (BrokenPipeError, ConnectionResetError):
            # The parent stopped listening (the run was cancelled, or the advisor died): nobody
            # is left to tell, so end now, quietly, instead of a traceback on the user's terminal.
            os._exit(0)

    def report(text: str) -> None:
        send(("message", text))

    send(("started",))
    try:
        value = work(payload, report)
        send(("result", value, _own_peak_rss()))
    except BaseException as exc:
        send(("error", f"{type(exc).__name__}: {exc}".strip(), traceback.format_exc(limit=6), _own_peak_rss()))
    finally:
        sender.close()


def _die_with_parent() -> None:
    """Ask Linux to kill this child when the process that forked it (the forkserver) ends."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill(process: Any) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.join(timeout=10)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        if number == signal.SIGKILL:
            return (
                "its process was killed (SIGKILL) without a result: the machine may have run out of memory "
                "(the kernel's out-of-memory killer), or another program killed it"
            )
        if number == signal.SIGSEGV:
            return "its process crashed with a segmentation fault (SIGSEGV) in native code"
        return f"its process died on {name} without a result"
    return f"its process exited with code {exitcode} without a result"


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _own_peak_rss() -> int | None:
    try:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
    except (ImportError, OSError):
        return None


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and its descendants (Linux /proc; 0 elsewhere)."""
    total, pending, seen = 0, [pid], set()
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (OSError, ValueError, IndexError):
            continue
    return total
