"""The compression lab: builders for catalog entries that derive from a trained network.

Low precision (fp16, bf16, int8, 4-bit, ternary, binary), the automatic precision sweep,
magnitude and neuron pruning with and without fine-tuning, quantisation-aware fine-tuning,
an ensemble teacher (its students are built in `distill`), and lossless storage. Each builder returns a
fitted model that is saved, loaded and measured like any other candidate; what a technique
does not buy on this hardware is said in the model's `build_notes`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from advisor.candidates.builders import SklearnModel
from advisor.candidates.codecs import NOTES, fake_quantize
from advisor.candidates.context import FittedModel, TrainContext
from advisor.candidates.layers import linear_layers, make_network, require_torch
from advisor.candidates.networks import TorchModel, fit
from advisor.measure.figures import HIGHER_IS_BETTER

LADDER = ("fp16", "bf16", "int8", "int4", "ternary", "binary")
QAT_SCHEMES = {"int4": "int4", "ternary": "ternary", "binary": "binary", "int8": "int8"}
# Fine-tunes run at least `min_steps` optimiser steps (a few epochs on a large set, more on a
# small one), with early stopping on the validation split.
FINE_TUNE = {"epochs": 5, "learning_rate": 1e-3, "patience": 3, "min_steps": 400, "max_epochs": 60}


def _parent_network(ctx: TrainContext) -> TorchModel:
    parent = ctx.parent_model()
    if not isinstance(parent, TorchModel):
        raise TypeError(f"'{ctx.spec.key}' needs a neural parent; '{ctx.spec.parent}' is {type(parent).__name__}")
    return parent


def _derived(
    parent: TorchModel, network: Any, architecture: dict[str, Any], codec: str, notes: list[str]
) -> TorchModel:
    model = TorchModel(network, architecture, parent.task, parent.y_mean, parent.y_std, parent.trained_on, codec=codec)
    model.build_notes = notes
    return model


def _fine_tune(network: Any, ctx: TrainContext, params: Mapping[str, Any], **kw: Any) -> Any:
    settings = {**FINE_TUNE, **{k: params[k] for k in FINE_TUNE if k in params}}
    steps_per_epoch = -(-len(ctx.y_train) // 256)
    epochs = min(settings["max_epochs"], max(settings["epochs"], -(-settings["min_steps"] // steps_per_epoch)))
    network, _, _ = fit(
        network, ctx, epochs=epochs, learning_rate=settings["learning_rate"], patience=settings["patience"], **kw
    )
    return network


# --------------------------------------------------------------------------- low precision


def build_low_precision(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """The parent stored (and, for fp16/bf16/int8, computed) at lower precision; `qat` fine-tunes
    through the quantiser first (straight-through gradients)."""
    parent = _parent_network(ctx)
    codec = params["codec"]
    network = parent.float_network()
    notes = [NOTES[codec]]
    if params.get("qat"):
        scheme = QAT_SCHEMES[codec]
        network = _fine_tune(network, ctx, params, weight_transform=lambda w: fake_quantize(w, scheme))
        notes.append(
            f"quantisation-aware fine-tune through the {codec} quantiser (straight-through gradient): at least "
            f"{FINE_TUNE['min_steps']} steps or {FINE_TUNE['epochs']} epochs, early stopping on validation"
        )
    return _derived(parent, network, parent.architecture, codec, notes)


def build_precision_sweep(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """Keep lowering the precision until the accuracy drops: walk the ladder, judged on the
    validation split, and keep the last step within the tolerance of the parent."""
    parent = _parent_network(ctx)
    tolerance_pp = float(ctx.options.get("precision_tolerance_pp", params.get("tolerance_pp", 0.5)))
    higher = HIGHER_IS_BETTER[ctx.primary_metric]
    reference = ctx.validation_metric(parent)
    chosen, notes = None, []
    for codec in params.get("ladder", LADDER):
        candidate = _derived(parent, parent.float_network(), parent.architecture, codec, [])
        value = ctx.validation_metric(candidate)
        loss_pp = (reference - value) * 100 if higher else (value - reference) / max(abs(reference), 1e-12) * 100
        within = loss_pp <= tolerance_pp
        notes.append(
            f"{codec}: validation {ctx.primary_metric} {value:.4f} ({-loss_pp:+.2f} pp against "
            f"{reference:.4f}): {'kept' if within else 'beyond the tolerance, sweep stops'}"
        )
        if not within:
            break
        chosen = candidate
    summary = f"precision sweep, tolerance {tolerance_pp:g} pp on the validation split: " + ("; ".join(notes))
    if chosen is None:
        chosen = _derived(parent, parent.float_network(), parent.architecture, "fp32", [])
        summary += "; no lower precision stayed within the tolerance, so fp32 is kept"
    chosen.build_notes = [summary, NOTES.get(chosen.codec, "")]
    chosen.sweep_choice = chosen.codec
    return chosen


# --------------------------------------------------------------------------- pruning


def _magnitude_masks(network: Any, fraction: float) -> list[Any]:
    torch = require_torch()
    masks = []
    for layer in linear_layers(network):
        magnitude = layer.weight.detach().abs()
        k = round(fraction * magnitude.numel())
        threshold = magnitude.flatten().kthvalue(k).values if k > 0 else torch.tensor(-1.0)
        masks.append((magnitude > threshold).float())
    return masks


def _apply_masks(network: Any, masks: list[Any]) -> None:
    torch = require_torch()
    with torch.no_grad():
        for layer, mask in zip(linear_layers(network), masks, strict=True):
            layer.weight.mul_(mask.to(layer.weight.device))


def build_prune(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """Unstructured magnitude pruning: the smallest `fraction` of each layer's weights set to zero."""
    parent = _parent_network(ctx)
    fraction = float(params["fraction"])
    network = parent.float_network()
    masks = _magnitude_masks(network, fraction)
    _apply_masks(network, masks)
    notes = [
        f"{fraction:.0%} of each layer's weights (the smallest) set to zero and stored densely: the zeros "
        "still take 4 bytes each, so size_bytes does not shrink (gzip_bytes shows how well they compress), "
        "and dense matrix products on this CPU take as long with zeros as without"
    ]
    if params.get("fine_tune"):
        network = _fine_tune(network, ctx, params, after_step=lambda net: _apply_masks(net, masks))
        notes.append("fine-tuned with the zeros kept at zero, early stopping on validation")
    return _derived(parent, network, parent.architecture, "fp32", notes)


def build_prune_neurons(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """Structured pruning: whole hidden neurons removed (the matrices really shrink).
    A neuron's importance is the norm of its incoming weights times the norm of its outgoing ones."""
    torch = require_torch()
    parent = _parent_network(ctx)
    keep_fraction = float(params["keep"])
    network = parent.float_network()
    layers = linear_layers(network)
    if parent.architecture.get("rank"):
        raise ValueError("structured pruning of a factorised network is not supported")
    hidden, new_layers = [], [copy.deepcopy(layer) for layer in layers]
    for i in range(len(layers) - 1):
        incoming, outgoing = new_layers[i], new_layers[i + 1]
        importance = incoming.weight.detach().norm(dim=1) * outgoing.weight.detach().norm(dim=0)
        keep = max(1, round(keep_fraction * importance.numel()))
        kept = torch.sort(torch.topk(importance, keep).indices).values
        new_layers[i] = _slice(incoming, rows=kept)
        new_layers[i + 1] = _slice(outgoing, cols=kept)
        hidden.append(keep)
    architecture = dict(parent.architecture, hidden=hidden)
    pruned = make_network(**architecture)
    for target, source in zip(linear_layers(pruned), new_layers, strict=True):
        target.load_state_dict(source.state_dict())
    notes = [
        f"structured: {1 - keep_fraction:.0%} of the neurons of each hidden layer removed (hidden "
        f"{parent.architecture['hidden']} -> {hidden}); the matrices really shrink, so size and time drop"
    ]
    if params.get("fine_tune"):
        pruned = _fine_tune(pruned, ctx, params)
        notes.append("fine-tuned after pruning, early stopping on validation")
    return _derived(parent, pruned, architecture, "fp32", notes)


def _slice(layer: Any, rows: Any = None, cols: Any = None) -> Any:
    torch = require_torch()
    weight = layer.weight.detach()
    bias = layer.bias.detach() if layer.bias is not None else None
    if rows is not None:
        weight, bias = weight[rows], (bias[rows] if bias is not None else None)
    if cols is not None:
        weight = weight[:, cols]
    out = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    out.weight.data = weight.clone()
    if bias is not None:
        out.bias.data = bias.clone()
    return out


# --------------------------------------------------------------------------- ensemble and distillation


class EnsembleModel:
    """Several fitted models whose scores are averaged, with `weights` (by member, summing to one)
    or equally: accurate, and as slow as all of them together. Artifacts written before weights
    existed hold none, and load as the equal average they were."""

    def __init__(self, members: dict[str, FittedModel], weights: dict[str, float] | None = None) -> None:
        self.members = members
        self.weights = weights
        self.runtime = "+".join(sorted({m.runtime for m in members.values()}))

    def member_weights(self) -> dict[str, float]:
        weights = getattr(self, "weights", None)
        return dict(weights) if weights else {key: 1.0 / len(self.members) for key in self.members}

    def scores(self, X: np.ndarray) -> np.ndarray:
        weights = self.member_weights()
        return sum(weights[key] * member.scores(X) for key, member in self.members.items())

    def set_threads(self, threads: int) -> None:
        for member in self.members.values():
            member.set_threads(threads)

    def param_count(self) -> int:
        return int(sum(member.param_count() for member in self.members.values()))


def build_ensemble(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    members = {key: ctx.models[key] for key in params["members"]}
    model = EnsembleModel(members)
    model.build_notes = [f"the average of {', '.join(members)}: every prediction runs all of them"]
    return model


class SoftTreeModel(SklearnModel):
    """A regression tree fitted to the teacher's class probabilities; its leaves hold probabilities."""

    def scores(self, X: np.ndarray) -> np.ndarray:
        import sklearn

        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            raw = self.estimator.predict(X)
        if self.task == "regression":
            return raw
        raw = np.clip(np.atleast_2d(raw), 0.0, None)
        return raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-12)


def teacher_agreement(student_scores: np.ndarray, teacher_scores: np.ndarray, task: str) -> float:
    """Share of rows where student and teacher pick the same class; R2 of the student against the
    teacher for regression."""
    if task == "regression":
        residual = ((student_scores - teacher_scores) ** 2).sum()
        total = ((teacher_scores - teacher_scores.mean()) ** 2).sum()
        return float(1 - residual / total) if total > 0 else float("nan")
    return float(np.mean(np.argmax(student_scores, axis=1) == np.argmax(teacher_scores, axis=1)))
