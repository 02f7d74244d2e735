"""Network building blocks in torch: the layer stack, its linear layers and its forward pass.

Shared by the networks (`networks`), their stored forms (`codecs`) and the compression lab.
torch is imported on first use, so importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def require_torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in requirements.txt
        raise ImportError("The neural candidates need torch; run: pip install torch==2.13.0") from None
    return torch


def make_network(
    n_inputs: int, hidden: Sequence[int], n_outputs: int, dropout: float = 0.0, rank: int | None = None
) -> Any:
    """Linear-ReLU(-Dropout) layers; with `rank`, each hidden layer is factorised in two (in->rank->out)."""
    torch = require_torch()
    layers: list[Any] = []
    width = n_inputs
    for size in hidden:
        if rank and rank < min(width, size):
            layers += [torch.nn.Linear(width, rank, bias=False), torch.nn.Linear(rank, size)]
        else:
            layers.append(torch.nn.Linear(width, size))
        layers.append(torch.nn.ReLU())
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        width = size
    layers.append(torch.nn.Linear(width, n_outputs))
    return torch.nn.Sequential(*layers)


def linear_layers(network: Any) -> list[Any]:
    torch = require_torch()
    return [m for m in network if isinstance(m, torch.nn.Linear)]


def forward(network: Any, x: Any, weight_transform: Callable[[Any], Any] | None = None) -> Any:
    """The network's forward pass, optionally through transformed weights (quantisation-aware training)."""
    if weight_transform is None:
        return network(x)
    torch = require_torch()
    for module in network:
        if isinstance(module, torch.nn.Linear):
            x = torch.nn.functional.linear(x, weight_transform(module.weight), module.bias)
        else:
            x = module(x)
    return x
