"""How long the rest of a run will take: one estimate across every phase, for the progress display.

A run's phases cost very different things: training is a few candidates of unknown length (its
remaining time comes from the candidates done so far); the timing phase's work is known up front
(rounds x candidates x calls, from the `TimingConfig`), priced by what one call of each candidate
cost when its artifact was loaded back after training, then corrected by the timing rounds
themselves as they finish; cold starts are one fresh process per runtime; the learning curve
trains one candidate twice more. `Forecast` adds the current phase's remaining seconds to the
later phases' estimates, and smooths the result so the estimated finish never moves later by more
than `MAX_RISE` (10%) at one event.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from advisor.measure.timing import TimingConfig

# The order a run goes through its phases, and their names for people.
PHASE_LABELS: dict[str, str] = {
    "data": "Loading the data",
    "training": "Training",
    "timing": "Timing",
    "startup": "Cold starts",
    "rank": "Ranking",
    "serving": "Serving check",
    "curve": "Learning curve",
    "done": "Done",
}
STAGE_PHASES = {  # a ProgressEvent's stage -> the phase it belongs to
    "data": "data",
    "train": "training",
    "waiting": "timing",
    "timing": "timing",
    "startup": "startup",
    "rank": "rank",
    "serving": "serving",
    "curve": "curve",
    "done": "done",
}
MAX_RISE = 0.10  # at one event, the estimated finish (seconds from the start) moves later by at most 10%
# Priors from a run's warm first-row time (in a 34-candidate adult run: the steady single-row
# call took a median 1/7 of it, and a batch of 4096 rows about 64 first rows' worth).
FIRST_CALL_FACTOR = 7.0  # a first call after loading costs this many steady calls
ROWS_PER_FIRST_CALL = 64  # a batch costs one first call per this many rows
COLD_START_PRIOR_S = 4.0  # a fresh Python process importing one runtime's libraries, before one is seen
ARTIFACT_LOAD_PRIOR_S = 0.2  # the timing child loading one artifact, when the warm load was not measured

# Each default candidate's training time relative to the median candidate of its run: the geometric
# mean of the median over seven default runs (adult, california_housing, diamonds, digits,
# diabetes, penguins, titanic; bench/out/decision_runs) and a default run on adult with the newer
# entries (tuned LightGBM, ensemble selection, augmented students: adult's figure alone). Runs in
# the store refine them (`Store.training_costs`).
TRAIN_COST_PRIOR: dict[str, float] = {
    "baseline": 0.6, "linear": 1.0, "tree": 0.4, "lightgbm-fast": 1.5, "lightgbm": 1.9, "lightgbm-tuned": 6.2,
    "forest": 4.5, "mlp": 6.1, "mlp-fp16": 0.4, "mlp-bf16": 0.5, "mlp-int8": 0.5, "mlp-int4": 0.3,
    "mlp-ternary": 0.4, "mlp-binary": 0.4, "mlp-int4-qat": 3.7, "mlp-ternary-qat": 4.1, "mlp-binary-qat": 4.3,
    "mlp-sweep": 0.7, "mlp-prune50": 0.5, "mlp-prune50-ft": 3.9, "mlp-prune80": 0.5, "mlp-prune80-ft": 4.7,
    "mlp-prune90": 0.5, "mlp-prune90-ft": 5.0, "mlp-neurons50": 0.4, "mlp-neurons50-ft": 3.8,
    "mlp-half": 12.0, "mlp-small": 6.4, "mlp-narrow": 9.5, "mlp-lowrank": 8.1, "mlp-gzip": 0.5,
    "mlp-huffman": 0.5, "ensemble": 0.9, "ensemble-selected": 1.0, "distill-mlp": 18.2, "distill-tree": 0.9,
    "distill-lightgbm": 1.5, "lightgbm-sized": 0.5, "tree-d6": 0.6,
}  # fmt: skip


def train_costs(keys: Sequence[str], history: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Each candidate's expected training time in units of the median candidate's: the median of
    what it took in earlier runs in the store (`history`), else the prior measured above, else 1."""
    return {
        key: statistics.median(history[key]) if history.get(key) else TRAIN_COST_PRIOR.get(key, 1.0) for key in keys
    }


def timing_steps(
    config: TimingConfig,
    first_row_s: Sequence[float],
    sizes: Sequence[int],
    cpus: int,
    load_s: Sequence[float] = (),
) -> list[float]:
    """The timing child's work as steps, each ending at its next message (see
    `timing_phase.measure_candidates`: a message when a part starts, a tick when a round starts),
    with the seconds each is expected to take, from each candidate's warm first row (`first_row_s`:
    one row, right after loading) and each artifact's load (`load_s`). The steps: the artifacts
    loaded; the single-row warm-up, then its rounds; per batch size its warm-up, then its rounds
    (the last one with the next size's warm-up); the same on all CPUs for the largest size, when
    configured."""
    if not first_row_s:
        return []
    call_s = [first / FIRST_CALL_FACTOR for first in first_row_s]
    loads = sum(load_s) if load_s else ARTIFACT_LOAD_PRIOR_S * len(call_s)
    steps = [loads, sum(call_s) * (1 + config.warmup_calls)]
    per_round = max(1, config.calls // config.rounds)
    steps += [sum(call_s) * per_round] * config.rounds

    def one_call(first: float, size: int, threads: int) -> float:
        return first * (1 / FIRST_CALL_FACTOR + size / ROWS_PER_FIRST_CALL) / threads

    def batch_round(size: int, threads: int) -> float:
        total = 0.0
        for first in first_row_s:
            call = one_call(first, size, threads)
            total += max(config.batch_min_calls * call, min(config.batch_min_seconds, config.batch_max_calls * call))
        return total

    def warm_up(size: int, threads: int) -> float:
        return 2 * sum(one_call(first, size, threads) for first in first_row_s)

    groups = [[(size, 1) for size in sizes]]  # each group starts with a message, then ticks per round
    if config.multithread_batches and cpus > 1 and sizes:
        groups.append([(sizes[-1], cpus)])
    rounds = max(1, config.batch_rounds)
    for shapes in groups:
        if not shapes:
            continue
        steps.append(warm_up(*shapes[0]))
        for index, shape in enumerate(shapes):
            steps += [batch_round(*shape)] * (rounds - 1)
            following = warm_up(*shapes[index + 1]) if index + 1 < len(shapes) else 0.0
            steps.append(batch_round(*shape) + following)
    return steps


def curve_prior_s(train_s: Sequence[float], overhead_s: Sequence[float], fractions: Sequence[float]) -> float:
    """The learning curve: the median of `train_s` (the caller passes the most accurate candidates'
    times: the curve retrains the pick) again on each fraction of the rows, plus the child process
    it runs in."""
    if not train_s:
        return 0.0
    train, overhead = statistics.median(train_s), statistics.median(overhead_s) if overhead_s else 1.0
    return sum(overhead + fraction * train for fraction in fractions)


@dataclass
class _Phase:
    remaining_s: float | None  # as of `at_s`
    at_s: float


class Forecast:
    """The run's remaining seconds: the current phase's, as its code last said, and every later
    phase's estimate; `at(elapsed)` turns them into the share of the run done and the seconds left.

    Phases not given an estimate cost nothing (the data, the ranking) unless `expect` says
    otherwise; while a phase's remaining time is unknown (training before its first candidate
    finished), so is the run's."""

    def __init__(self) -> None:
        self.current = "data"
        self.expected: dict[str, float | None] = {"training": None}  # known once a candidate trained
        self.now = _Phase(0.0, 0.0)
        self.phase_started = 0.0
        self.finish_s: float | None = None  # the smoothed estimate of the run's total seconds
        self.fraction = 0.0

    def expect(self, phase: str, seconds: float | None) -> None:
        """A later phase's estimate: seconds, 0 when it will not run, None when not known yet."""
        self.expected[phase] = seconds

    def enter(self, phase: str, elapsed: float) -> None:
        if phase == self.current:
            return
        self.current = phase
        self.phase_started = elapsed
        self.now = _Phase(self.expected.get(phase, 0.0), elapsed)

    def remaining(self, seconds: float | None, elapsed: float) -> None:
        """The current phase's remaining seconds, as of `elapsed`."""
        self.now = _Phase(None if seconds is None else max(0.0, seconds), elapsed)

    def raw_left(self, elapsed: float) -> float | None:
        """The run's remaining seconds as the phases say, before smoothing."""
        if self.now.remaining_s is None:
            return None
        left = max(0.0, self.now.remaining_s - (elapsed - self.now.at_s))
        order = list(PHASE_LABELS)
        later = order[order.index(self.current) + 1 :] if self.current in order else []
        for phase in later:
            seconds = self.expected.get(phase, 0.0)
            if seconds is None:
                return None
            left += seconds
        return left

    def at(self, elapsed: float) -> tuple[float, float | None]:
        """(share of the run done, 0-1 and never decreasing; seconds left, or None when unknown)."""
        if self.current == "done":
            self.fraction, self.finish_s = 1.0, elapsed
            return 1.0, 0.0
        left = self.raw_left(elapsed)
        if left is None or not math.isfinite(left):
            return self.fraction, None if self.finish_s is None else max(0.0, self.finish_s - elapsed)
        finish = elapsed + left
        if self.finish_s is not None and finish > self.finish_s:  # later than said: move there gradually
            said = max(self.finish_s, elapsed)
            finish = min(said * (1 + MAX_RISE), finish)
        self.finish_s = finish
        if finish > 0:
            self.fraction = max(self.fraction, min(elapsed / finish, 0.99))
        return self.fraction, max(0.0, finish - elapsed)
