"""One timing phase at a time on a machine.

Two runs timing at once share the CPU, caches and memory bandwidth, and each inflates the
other's latency figures. Runs therefore take an exclusive lock (`flock` on one file) for their
timing and cold-start phases; training still overlaps. A run that waits says so, and for whom.
The lock is released by the kernel if its holder dies, so a crashed run never blocks the next.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_ENV = "ADVISOR_TIMING_LOCK"
POLL_S = 0.1


def lock_path() -> Path:
    """$ADVISOR_TIMING_LOCK, else one file in the system's temp folder: shared by every store."""
    return Path(os.environ.get(LOCK_ENV) or Path(tempfile.gettempdir()) / "advisor-timing.lock")


def holder(path: Path | None = None) -> dict[str, Any] | None:
    """Who holds (or last held) the lock, as it wrote itself into the file."""
    try:
        return json.loads((path or lock_path()).read_text() or "null")
    except (OSError, ValueError):
        return None


@contextmanager
def timing_lock(
    run_id: str,
    on_wait: Callable[[float, dict[str, Any] | None], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[float]:
    """Hold the machine's timing lock; yields the seconds spent waiting for it.

    `on_wait(waited_s, holder)` is called about once a second while another run holds it.
    Where `fcntl` does not exist (Windows) the lock is a no-op and says so in the run's notes."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield 0.0
        return
    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        start = time.monotonic()
        last_report = -1.0
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if should_stop is not None and should_stop():
                    raise InterruptedError("cancelled while waiting for the timing lock") from None
                if on_wait is not None and waited - last_report >= 1.0:
                    last_report = waited
                    on_wait(waited, holder(path))
                time.sleep(POLL_S)
        waited = time.monotonic() - start
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"run_id": run_id, "pid": os.getpid(), "since": time.time()}))
        handle.flush()
        try:
            yield waited
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
