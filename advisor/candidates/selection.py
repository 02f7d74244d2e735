"""Ensemble selection (Caruana et al., 2004), as AutoGluon's WeightedEnsemble does it.

Start from an empty ensemble; in each of a fixed number of rounds add, with replacement, the
model whose addition lowers the validation loss of the averaged predictions the most. A model
picked n times out of `rounds` gets weight n / rounds, so the weights sum to one and a model
that never helps gets zero. Pure numpy on validation predictions: the builder that trains the
ensemble (`distill.build_ensemble_selection`) gathers them.

After the rounds, `drop_weak_members` removes the members the loss barely needs (smallest weight
first): a member picked once out of 25 can be most of the ensemble's size and time.

The same validation split chooses the weights and is reported on, so the ensemble's validation
figure is optimistic; the test split, which selection never sees, stays the honest judge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Loss = Callable[[np.ndarray], float]
ROUNDS = 25
# A member goes when the ensemble without it (the others' weights renormalised) has a validation
# loss at most this share above the selected ensemble's: 0.2% of a log loss of 0.30 is 0.0006,
# below the run-to-run noise of the loss on a validation split of a few thousand rows.
DROP_TOLERANCE = 0.002
_EPS = 1e-15


@dataclass(frozen=True)
class Selection:
    """The outcome: weights by model key (zero for those never picked), the pick of each round,
    and the validation loss after each round."""

    weights: dict[str, float]
    picks: tuple[str, ...]
    losses: tuple[float, ...]

    @property
    def used(self) -> dict[str, float]:
        """The models with a non-zero weight, heaviest first."""
        return dict(sorted(((k, w) for k, w in self.weights.items() if w > 0), key=lambda kw: -kw[1]))


def log_loss(y: np.ndarray) -> Loss:
    """Mean negative log-probability of the true class: the selection objective for classification
    (a proper score of the probabilities themselves, smooth where accuracy ties between most picks)."""
    rows, labels = np.arange(len(y)), np.asarray(y).astype(int)

    def loss(probabilities: np.ndarray) -> float:
        return float(-np.mean(np.log(np.clip(probabilities[rows, labels], _EPS, 1.0))))

    return loss


def squared_error(y: np.ndarray) -> Loss:
    """Mean squared error: the selection objective for regression (what R2 ranks by)."""
    target = np.asarray(y, dtype=np.float64)

    def loss(values: np.ndarray) -> float:
        return float(np.mean((np.ravel(values) - target) ** 2))

    return loss


def selection_loss(y: np.ndarray, task: str) -> Loss:
    return squared_error(y) if task == "regression" else log_loss(y)


def select_ensemble(predictions: Mapping[str, np.ndarray], loss: Loss, rounds: int = ROUNDS) -> Selection:
    """Greedy forward selection with replacement over `predictions` (model key -> validation
    scores, all the same shape). Ties go to the model listed first, so the result is reproducible."""
    if not predictions:
        raise ValueError("ensemble selection needs at least one model's predictions")
    if rounds < 1:
        raise ValueError(f"ensemble selection needs at least one round, got {rounds}")
    keys = list(predictions)
    stacked = np.stack([np.asarray(predictions[k], dtype=np.float64) for k in keys])
    total = np.zeros_like(stacked[0])
    counts = dict.fromkeys(keys, 0)
    picks: list[str] = []
    losses: list[float] = []
    for size in range(1, rounds + 1):
        trial = [loss((total + stacked[i]) / size) for i in range(len(keys))]
        best = int(np.argmin(trial))
        total += stacked[best]
        counts[keys[best]] += 1
        picks.append(keys[best])
        losses.append(trial[best])
    return Selection({k: counts[k] / rounds for k in keys}, tuple(picks), tuple(losses))


@dataclass(frozen=True)
class Dropped:
    """A member left out after selection: its weight, and the validation loss without it as a
    share above the selected ensemble's (0.0005 = 0.05% higher; negative = lower)."""

    key: str
    weight: float
    loss_rise: float


def drop_weak_members(
    predictions: Mapping[str, np.ndarray],
    weights: Mapping[str, float],
    loss: Loss,
    tolerance: float = DROP_TOLERANCE,
) -> tuple[dict[str, float], tuple[Dropped, ...]]:
    """The members of the ensemble `weights` (from `select_ensemble`) the loss needs, and those it does
    not: smallest weight first (ties to the later listed), a member is dropped, the others' weights
    renormalised, when the validation loss without it is at most `tolerance` (a share) above the
    selected ensemble's. Every try is judged against that first loss, not the last drop's, so the
    drops together never raise it more than `tolerance`. The heaviest member always stays."""
    if tolerance < 0:
        raise ValueError(f"the drop tolerance is a share of the loss and cannot be negative, got {tolerance}")
    kept = {k: float(w) for k, w in weights.items() if w > 0}
    reference = loss(weighted_average(predictions, kept))
    order = sorted(kept, key=lambda k: (kept[k], -list(kept).index(k)))
    dropped: list[Dropped] = []
    for key in order[:-1]:
        rest = {k: w for k, w in kept.items() if k != key}
        total = sum(rest.values())
        without = loss(weighted_average(predictions, {k: w / total for k, w in rest.items()}))
        rise = (without - reference) / abs(reference) if reference else without - reference
        if rise <= tolerance:
            dropped.append(Dropped(key, kept[key], float(rise)))
            kept = rest
    total = sum(kept.values())
    return {k: w / total for k, w in sorted(kept.items(), key=lambda kw: -kw[1])}, tuple(dropped)


def weighted_average(predictions: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The ensemble's scores: the weighted mean of its members' scores."""
    return sum(weights[k] * np.asarray(predictions[k], dtype=np.float64) for k in weights if weights[k] > 0)
