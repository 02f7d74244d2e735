"""A torch multi-layer perceptron: trained on CUDA when available, deployed on the CPU."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from advisor._models import TrainContext


def _require_torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in requirements.txt
        raise ImportError("The neural candidates need torch; run: pip install torch==2.13.0") from None
    return torch


def make_network(n_inputs: int, hidden: Sequence[int], n_outputs: int, dropout: float) -> Any:
    torch = _require_torch()
    layers: list[Any] = []
    width = n_inputs
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        width = size
    layers.append(torch.nn.Linear(width, n_outputs))
    return torch.nn.Sequential(*layers)


class TorchModel:
    """A trained network on the CPU, pickled as its architecture plus a state dict."""

    runtime = "torch"

    def __init__(
        self,
        network: Any,
        architecture: dict[str, Any],
        task: str,
        y_mean: float = 0.0,
        y_std: float = 1.0,
        trained_on: str = "cpu",
    ) -> None:
        self.network = network.eval()
        self.architecture = architecture
        self.task = task
        self.y_mean = y_mean
        self.y_std = y_std
        self.trained_on = trained_on

    def scores(self, X: np.ndarray) -> np.ndarray:
        torch = _require_torch()
        with torch.inference_mode():
            out = self.network(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)))
            if self.task == "regression":
                return out[:, 0].numpy().astype(np.float64) * self.y_std + self.y_mean
            return torch.softmax(out, dim=1).numpy().astype(np.float64)

    def set_threads(self, threads: int) -> None:
        _require_torch().set_num_threads(threads)

    def param_count(self) -> int:
        return int(sum(p.numel() for p in self.network.parameters()))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["network"] = {k: v.cpu() for k, v in self.network.state_dict().items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights = state.pop("network")
        self.__dict__.update(state)
        self.network = make_network(**self.architecture)
        self.network.load_state_dict(weights)
        self.network.eval()


def train_mlp(
    ctx: TrainContext,
    hidden: Sequence[int] = (128, 64),
    epochs: int = 30,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-5,
    patience: int = 4,
    dropout: float = 0.1,
) -> TorchModel:
    """Adam with early stopping on the validation loss; the best epoch's weights are kept."""
    torch = _require_torch()
    device = torch.device(ctx.device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(ctx.threads)
    try:
        torch.manual_seed(ctx.seed)
        classification = ctx.is_classification
        n_outputs = ctx.n_classes if classification else 1
        architecture = dict(n_inputs=ctx.X_train.shape[1], hidden=list(hidden), n_outputs=n_outputs, dropout=dropout)
        network = make_network(**architecture).to(device)

        X = torch.from_numpy(ctx.X_train).to(device)
        X_val = torch.from_numpy(ctx.X_val).to(device)
        y_mean, y_std = 0.0, 1.0
        if classification:
            y = torch.from_numpy(ctx.y_train.astype(np.int64)).to(device)
            y_val = torch.from_numpy(ctx.y_val.astype(np.int64)).to(device)
            weight = (
                torch.tensor(ctx.class_weights(), dtype=torch.float32, device=device) if ctx.class_weighting else None
            )
            loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        else:
            y_mean, y_std = float(ctx.y_train.mean()), float(ctx.y_train.std()) or 1.0
            y = torch.from_numpy(((ctx.y_train - y_mean) / y_std).astype(np.float32)).to(device)[:, None]
            y_val = torch.from_numpy(((ctx.y_val - y_mean) / y_std).astype(np.float32)).to(device)[:, None]
            loss_fn = torch.nn.MSELoss()

        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
        generator = torch.Generator(device="cpu").manual_seed(ctx.seed)
        best_loss, best_state, stale = float("inf"), copy.deepcopy(network.state_dict()), 0
        for epoch in range(1, epochs + 1):
            if ctx.should_stop():
                break
            network.train()
            order = torch.randperm(len(X), generator=generator).to(device)
            for start in range(0, len(X), batch_size):
                batch = order[start : start + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(network(X[batch]), y[batch])
                loss.backward()
                optimizer.step()
            network.eval()
            with torch.inference_mode():
                val_loss = float(loss_fn(network(X_val), y_val))
            ctx.report(f"epoch {epoch}/{epochs}, validation loss {val_loss:.4f}")
            if val_loss < best_loss - 1e-4:
                best_loss, best_state, stale = val_loss, copy.deepcopy(network.state_dict()), 0
            else:
                stale += 1
                if stale >= patience:
                    break
        network.load_state_dict(best_state)
        network = network.cpu().eval()
        return TorchModel(network, architecture, ctx.task, y_mean, y_std, trained_on=str(device))
    finally:
        torch.set_num_threads(previous_threads)
