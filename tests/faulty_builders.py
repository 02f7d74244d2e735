"""Plug-in builders that fail on purpose, for the isolation tests (catalog `builder = "faulty_builders:..."`).

They run inside the isolated child process, as any candidate does; none of them may take the
run down with it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import numpy as np


def raises(params: Mapping[str, Any], ctx: Any) -> Any:
    raise RuntimeError("injected failure: this builder always raises")


def hangs(params: Mapping[str, Any], ctx: Any) -> Any:
    ctx.report("about to hang")
    while True:
        time.sleep(1)


def kills_its_process(params: Mapping[str, Any], ctx: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def segfaults(params: Mapping[str, Any], ctx: Any) -> Any:
    ctypes.string_at(0)  # reads address 0: SIGSEGV in native code


def eats_memory(params: Mapping[str, Any], ctx: Any) -> Any:
    hoard = []
    for _ in range(int(params.get("steps", 60))):  # 100 MiB a step, touched so it is resident
        hoard.append(np.ones(100 * 2**20 // 8))
        time.sleep(0.02)
    raise RuntimeError("the memory limit did not stop this builder")


def slow_baseline(params: Mapping[str, Any], ctx: Any) -> Any:
    """The no-skill baseline after a pause: lets a test kill the advisor while a candidate trains."""
    from advisor.candidates.registry import BUILDERS

    time.sleep(float(params.get("seconds", 1.0)))
    return BUILDERS["baseline"]({}, ctx)
