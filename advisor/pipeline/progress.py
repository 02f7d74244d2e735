"""How a run reports its progress: the events a caller renders, and the stop signal's exception.

The library never prints: each phase calls a `Reporter`, which stamps the elapsed time and the
whole run's progress (its `Forecast`, see `advisor.pipeline.forecast`) and hands a `ProgressEvent`
to the caller's callback (the CLI and the app each render them their own way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advisor.pipeline.forecast import PHASE_LABELS, STAGE_PHASES, Forecast


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run, for a progress display.

    The whole run: `fraction` (0-1, never decreasing, 1.0 at "done") and `eta_s` (seconds left
    for the whole run, every phase included; None until the first candidate has trained), and
    `phase_label`, the phase in words ("Training", "Timing", "Cold starts", "Learning curve").
    The current phase: `done` of `total` `unit`s ("candidates" while training, "rounds" while
    timing, "runtimes" for cold starts, "subsets" for the learning curve; 0 of 0 when not counted).

    `stage`, in the order a run emits them:
    - "data": the data loaded and checked, the task found, a resumed run's kept candidates, the
      helper entries (phase "helpers");
    - "train": a candidate starts (phase "training") or settles (phase: its status), and its
      network's epochs (phase "epoch");
    - "waiting": the timing phase waits for another run holding this machine's timing lock;
    - "timing": every candidate timed together (phase "latency", "batches", "batches-multithread",
      "gpu"; an event after each timing round);
    - "startup": cold starts in fresh processes, one per runtime (phase "cold-start");
    - "rank": the ranking;
    - "serving": the optional serving check, one event per candidate served (phase "serving",
      counted in "configurations"), and while it waits for the timing lock;
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
    fraction: float = 0.0
    phase_label: str = ""
    unit: str = ""


class Cancelled(Exception):
    """Raised inside a run when `should_stop` says so; the run is kept as 'cancelled'."""


class Reporter:
    """Turns `report(stage, message, ...)` calls into `ProgressEvent`s for the caller's callback."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None) -> None:
        self.callback = callback
        self.start = time.perf_counter()
        self.forecast = Forecast()  # the phases tell it their remaining seconds as they learn them

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self, phase: str, seconds: float | None) -> None:
        """`phase` is under way (or starts now) with `seconds` left, as its code estimates them."""
        elapsed = self.elapsed()
        self.forecast.enter(phase, elapsed)
        self.forecast.remaining(seconds, elapsed)

    def __call__(self, stage: str, message: str, **kw: Any) -> None:
        elapsed = self.elapsed()
        phase = STAGE_PHASES.get(stage, self.forecast.current)
        self.forecast.enter(phase, elapsed)
        fraction, eta = self.forecast.at(elapsed)
        if self.callback is not None:
            self.callback(
                ProgressEvent(
                    stage=stage,
                    message=message,
                    elapsed_s=elapsed,
                    eta_s=eta,
                    fraction=fraction,
                    phase_label=PHASE_LABELS.get(phase, ""),
                    **kw,
                )
            )
