"""Torch multi-layer perceptrons: trained on CUDA when available, deployed on the CPU.

A `TorchModel` is stored in one of several forms (its `codec`, see `codecs`): fp32, fp16,
bf16, int8 (torch dynamic quantisation), packed 4-bit / ternary / binary weights, or
losslessly compressed. The stored form is what the artifact holds and what its size is
measured on; the runtime network is rebuilt from it at load, so load time includes decoding.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from advisor.candidates.codecs import CODECS
from advisor.candidates.context import FittedModel, TrainContext
from advisor.candidates.layers import forward, linear_layers, make_network, require_torch


class TorchModel:
    """A trained network for the CPU; pickled in its stored form (`codec`), rebuilt at load."""

    runtime = "torch"

    def __init__(
        self,
        network: Any,
        architecture: dict[str, Any],
        task: str,
        y_mean: float = 0.0,
        y_std: float = 1.0,
        trained_on: str = "cpu",
        codec: str = "fp32",
    ) -> None:
        self.architecture = architecture
        self.task = task
        self.y_mean = y_mean
        self.y_std = y_std
        self.trained_on = trained_on
        self.codec = codec
        self.network = CODECS[codec].runtime(network.eval())

    @property
    def dtype(self) -> Any:
        return next(self.network.parameters(), None).dtype if list(self.network.parameters()) else None

    device = "cpu"

    def on_device(self, device: str) -> TorchModel:
        """A copy whose network runs on `device` (e.g. "cuda"); inputs and outputs stay numpy on the CPU.
        The int8 form is CPU-only in torch, so it raises for CUDA."""
        if self.codec == "int8" and device != "cpu":
            raise ValueError("torch's dynamic int8 quantisation runs on the CPU only")
        moved = copy.copy(self)
        moved.network = copy.deepcopy(self.network).to(device)
        moved.device = device
        return moved

    def scores(self, X: np.ndarray) -> np.ndarray:
        torch = require_torch()
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.device)
            dtype = self.dtype
            if dtype is not None and dtype != torch.float32:
                x = x.to(dtype)
            out = self.network(x).float().cpu()
            if self.task == "regression":
                return out[:, 0].numpy().astype(np.float64) * self.y_std + self.y_mean
            return torch.softmax(out, dim=1).numpy().astype(np.float64)

    def set_threads(self, threads: int) -> None:
        require_torch().set_num_threads(threads)

    def param_count(self) -> int:
        return int(
            sum(
                layer.weight.numel() + (layer.bias.numel() if layer.bias is not None else 0)
                for layer in self._float_layers()
            )
        )

    def nonzero_weights(self) -> int:
        return int(sum(int((layer.weight != 0).sum()) for layer in self._float_layers()))

    def _float_layers(self) -> list[Any]:
        return linear_layers(CODECS[self.codec].float_network(self.network, self.architecture))

    def stored_weight_bytes(self) -> int:
        """Bytes of the weights as stored (payload of the codec), without the encoder or pickle framing."""
        return CODECS[self.codec].payload_bytes(self.__getstate__()["network"])

    def float_network(self) -> Any:
        """An fp32 copy of the network (decoded), for compressing further."""
        return copy.deepcopy(CODECS[self.codec].float_network(self.network, self.architecture))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["network"] = CODECS[self.codec].encode(self.network)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        payload = state.pop("network")
        self.__dict__.update(state)
        self.network = CODECS[self.codec].decode(payload, self.architecture)


def fit(
    network: Any,
    ctx: TrainContext,
    *,
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-5,
    patience: int = 4,
    soft_targets: np.ndarray | None = None,
    temperature: float = 1.0,
    alpha: float = 0.5,
    after_step: Callable[[Any], None] | None = None,
    weight_transform: Callable[[Any], Any] | None = None,
) -> tuple[Any, float, float]:
    """Adam with early stopping on the validation loss (hard labels); keeps the best epoch.

    `soft_targets` (train rows x classes, or values for regression) turn this into
    distillation: the loss mixes KL to the temperature-softened targets (weight `alpha`,
    scaled by T^2) with the hard-label loss. `after_step` runs after every optimiser step
    (pruning re-applies its masks there); `weight_transform` quantises weights in the forward
    pass with a straight-through gradient (quantisation-aware fine-tuning).
    Returns the network (on the CPU) and the target mean and scale used for regression.
    """
    torch = require_torch()
    device = torch.device(ctx.device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(ctx.threads)
    try:
        torch.manual_seed(ctx.seed)
        network = network.to(device)
        X = torch.from_numpy(ctx.X_train).to(device)
        X_val = torch.from_numpy(ctx.X_val).to(device)
        classification = ctx.is_classification
        y_mean, y_std = 0.0, 1.0
        if classification:
            y = torch.from_numpy(ctx.y_train.astype(np.int64)).to(device)
            y_val = torch.from_numpy(ctx.y_val.astype(np.int64)).to(device)
            weight = (
                torch.tensor(ctx.class_weights(), dtype=torch.float32, device=device) if ctx.class_weighting else None
            )
            hard_loss = torch.nn.CrossEntropyLoss(weight=weight)
        else:
            y_mean, y_std = float(ctx.y_train.mean()), float(ctx.y_train.std()) or 1.0
            y = torch.from_numpy(((ctx.y_train - y_mean) / y_std).astype(np.float32)).to(device)[:, None]
            y_val = torch.from_numpy(((ctx.y_val - y_mean) / y_std).astype(np.float32)).to(device)[:, None]
            hard_loss = torch.nn.MSELoss()
        soft = None
        if soft_targets is not None:
            if classification:
                logits = np.log(np.clip(soft_targets, 1e-7, 1.0)) / temperature
                soft = torch.softmax(torch.from_numpy(logits.astype(np.float32)), dim=1).to(device)
            else:
                soft = torch.from_numpy(((soft_targets - y_mean) / y_std).astype(np.float32)).to(device)[:, None]

        def loss_of(out: Any, batch: Any) -> Any:
            loss = hard_loss(out, y[batch])
            if soft is None:
                return loss
            if classification:
                log_p = torch.log_softmax(out / temperature, dim=1)
                kl = torch.nn.functional.kl_div(log_p, soft[batch], reduction="batchmean") * temperature**2
                return alpha * kl + (1 - alpha) * loss
            return alpha * torch.nn.functional.mse_loss(out, soft[batch]) + (1 - alpha) * loss

        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
        generator = torch.Generator(device="cpu").manual_seed(ctx.seed)
        best_loss, best_state, stale = math.inf, copy.deepcopy(network.state_dict()), 0
        for epoch in range(1, epochs + 1):
            if ctx.should_stop():
                break
            network.train()
            order = torch.randperm(len(X), generator=generator).to(device)
            for start in range(0, len(X), batch_size):
                batch = order[start : start + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss_of(forward(network, X[batch], weight_transform), batch).backward()
                optimizer.step()
                if after_step is not None:
                    after_step(network)
            network.eval()
            with torch.inference_mode():
                val_loss = float(hard_loss(forward(network, X_val, weight_transform), y_val))
            ctx.report(f"epoch {epoch}/{epochs}, validation loss {val_loss:.4f}")
            if val_loss < best_loss - 1e-4:
                best_loss, best_state, stale = val_loss, copy.deepcopy(network.state_dict()), 0
            else:
                stale += 1
                if stale >= patience:
                    break
        network.load_state_dict(best_state)
        return network.cpu().eval(), y_mean, y_std
    finally:
        torch.set_num_threads(previous_threads)


def architecture_for(
    ctx: TrainContext, hidden: Sequence[int], dropout: float, rank: int | None = None
) -> dict[str, Any]:
    n_outputs = ctx.n_classes if ctx.is_classification else 1
    return dict(n_inputs=ctx.X_train.shape[1], hidden=list(hidden), n_outputs=n_outputs, dropout=dropout, rank=rank)


def scaled_hidden(n_inputs: int, hidden: Sequence[int], n_outputs: int, param_fraction: float) -> list[int]:
    """Hidden sizes, scaled by one factor, whose network has about `param_fraction` of the parameters."""

    def params(scale: float) -> float:
        widths = [n_inputs] + [max(1, round(h * scale)) for h in hidden] + [n_outputs]
        return sum(a * b + b for a, b in itertools.pairwise(widths))

    target = params(1.0) * param_fraction
    low, high = 0.0, 1.0
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if params(mid) < target else (low, mid)
    return [max(1, round(h * high)) for h in hidden]


def train_mlp(
    ctx: TrainContext,
    hidden: Sequence[int] = (128, 64),
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-5,
    patience: int = 4,
    dropout: float = 0.1,
    rank: int | None = None,
    param_fraction: float | None = None,
    codec: str = "fp32",
) -> TorchModel:
    """A network trained from scratch on hard labels. `param_fraction` shrinks `hidden` evenly
    until the network has about that share of the parameters (a size-matched comparison)."""
    n_outputs = ctx.n_classes if ctx.is_classification else 1
    if param_fraction is not None:
        hidden = scaled_hidden(ctx.X_train.shape[1], hidden, n_outputs, param_fraction)
    architecture = architecture_for(ctx, hidden, dropout, rank)
    torch = require_torch()
    torch.manual_seed(ctx.seed)
    network, y_mean, y_std = fit(
        make_network(**architecture),
        ctx,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        patience=patience,
    )
    return TorchModel(network, architecture, ctx.task, y_mean, y_std, trained_on=ctx.device, codec=codec)


def build_torch_mlp(params: Mapping[str, Any], ctx: TrainContext) -> FittedModel:
    """The catalog's `torch_mlp` builder."""
    return train_mlp(ctx, **params)
