"""How a run reports its progress: the events a caller renders, and the stop signal's exception.

The library never prints: each phase calls a `Reporter`, which stamps the elapsed time and hands
a `ProgressEvent` to the caller's callback (the CLI and the app each render them their own way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run, for a progress display. `eta_s` is an estimate from the steps so far.

    `stage`, in the order a run emits them:
    - "data": the data loaded and checked, the task found, a resumed run's kept candidates, the
      helper entries (phase "helpers");
    - "train": a candidate starts (phase "training", with `done`/`total`/`eta_s`) and its
      network's epochs (phase "epoch");
    - "waiting": the timing phase waits for another run holding this machine's timing lock;
    - "timing": every candidate timed together (phase "latency");
    - "startup": cold starts in fresh processes (phase "cold-start");
    - "rank": the ranking;
    - "curve": the learning curve (phase "curve");
    - "done": the recommendation, or that there is none.
    """

    stage: str
    message: str
    elapsed_s: float
    candidate: str | None = None
    phase: str | None = None
    done: int = 0
    total: int = 0
    eta_s: float | None = None


class Cancelled(Exception):
    """Raised inside a run when `should_stop` says so; the run is kept as 'cancelled'."""


class Reporter:
    """Turns `report(stage, message, ...)` calls into `ProgressEvent`s for the caller's callback."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None) -> None:
        self.callback = callback
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, stage: str, message: str, **kw: Any) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(stage=stage, message=message, elapsed_s=self.elapsed(), **kw))
