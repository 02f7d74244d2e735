"""Fast forms of networks computed in fp16, bf16 or int8: torch's CPU arithmetic, redone in numpy.

Decoding such weights to fp32 and computing in fp32 would answer a different model from the
one measured, so each form repeats, step by step, what torch does on the CPU (checked by
experiment against torch 2.13's kernels, and again for every model by
`Predictor.verify_fast_path`):

- fp16 and bf16 (`HalfPrecision`): the input is rounded to the format; each Linear layer sums
  its products and its bias in higher precision and rounds the result once to the format
  (round to nearest even); ReLU keeps the rounded values; the output logits are the format's
  values. Here the sums are in float64 (torch: fp32 in its kernel's order), so a sum that
  falls within float32 noise of a rounding boundary can round the other way.
- int8 (`Int8Dynamic`, torch's dynamic quantisation with fbgemm): per call and per layer the
  activations are quantised to 7-bit unsigned codes with a scale and zero point chosen from
  their min and max (`ChooseQuantizationParams` with reduce_range); the integer products are
  summed exactly (float64 holds them); the sum, less zero point x column sums, times
  (activation scale x channel scale) plus the fp32 bias, in float32, is the layer's output.
  It matches torch to float32 rounding (~3e-8), unless an activation falls within that
  rounding of a half-step between two codes.

Measured on 3,000 of adult's test rows with the catalog's MLP: every row within 1e-6 of torch
but one per format (fp16, bf16, int8), which differed by up to 1.2e-4. The check keeps its
1e-6 tolerance: a model whose check rows meet such a boundary keeps torch for single rows.
Every form carries its `arithmetic` (shown in `fast_path_check["model"]`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from advisor.deploy.native import labelled

ARITHMETIC = {
    "fp16": "numpy, torch's fp16 arithmetic: sums in float64, every layer's output rounded to fp16",
    "bf16": "numpy, torch's bf16 arithmetic: sums in float64, every layer's output rounded to bf16 "
    "(round to nearest even on the float32 bits)",
    "int8": "numpy, torch's dynamic int8 arithmetic: activations quantised per call (7-bit, min/max), "
    "exact integer sums, float32 rescale and bias",
}
_SMALL_SCALE = float(np.float32(6.1e-5))  # fbgemm's smallest activation scale
# numpy scalars: Python ints in uint32 arithmetic cost a type check per operation
_SIXTEEN, _ONE, _HALF, _KEPT = np.uint32(16), np.uint32(1), np.uint32(0x7FFF), np.uint32(0xFFFF0000)


def round_bf16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), still as float32."""
    return _bf16_in_place(np.array(values, dtype=np.float32))


def round_fp16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest float16, still as float32."""
    return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)


def _bf16_in_place(values: np.ndarray) -> np.ndarray:
    bits = values.view(np.uint32)
    bits += ((bits >> _SIXTEEN) & _ONE) + _HALF  # half the dropped range, one more when the kept part is odd
    bits &= _KEPT
    return values


def compile_low_precision(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """A numpy scorer for a CPU `TorchModel` stored in fp16, bf16 or int8, or None when its
    layers are not the Linear/ReLU/Dropout stack this emulates."""
    if model.codec in ("fp16", "bf16"):
        layers = _half_layers(model.network)
        if layers is None:
            return None
        forward = _half_forward(layers, _bf16_in_place if model.codec == "bf16" else round_fp16)
    elif model.codec == "int8":
        layers = _int8_layers(model.network)
        if layers is None:
            return None
        forward = _int8_forward(layers)
    else:
        return None
    regression = model.task == "regression"
    y_mean, y_std = float(model.y_mean), float(model.y_std)

    def scores(x: np.ndarray) -> np.ndarray:
        out = forward(x)
        if regression:
            return np.array([float(out[0]) * y_std + y_mean])
        z = out.astype(np.float64)
        e = np.exp(z - z.max())
        return e / e.sum()

    return labelled(scores, ARITHMETIC[model.codec])


# --------------------------------------------------------------------------- fp16 and bf16


def _half_layers(network: Any) -> list[tuple[np.ndarray, np.ndarray | None]] | None:
    """Each Linear's weight and bias as float64 (exact: both formats fit), None for a ReLU."""
    import torch

    layers: list[Any] = []
    for module in network:
        if isinstance(module, torch.nn.Linear):
            weight = module.weight.detach().float().numpy().astype(np.float64)
            bias = None if module.bias is None else module.bias.detach().float().numpy().astype(np.float64)
            layers.append((weight, bias))
        elif isinstance(module, torch.nn.ReLU):
            layers.append(None)
        elif not isinstance(module, torch.nn.Dropout):
            return None
    return layers


def _half_forward(layers: list[Any], rounded: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """`rounded` takes a float32 array it may overwrite."""

    def forward(x: np.ndarray) -> np.ndarray:
        h = rounded(np.array(x, dtype=np.float32))
        for layer in layers:
            if layer is None:
                h = np.maximum(h, np.float32(0.0))
                continue
            weight, bias = layer
            total = weight @ h if bias is None else weight @ h + bias
            h = rounded(total.astype(np.float32))  # float32 first, as torch's kernel holds its sums
        return h

    return forward


# --------------------------------------------------------------------------- int8 (dynamic quantisation)


def _int8_layers(network: Any) -> list[Any] | None:
    """Per quantised Linear: the int8 codes as float64, their per-row sums, the per-row scales
    (float32) and the fp32 bias; None for a ReLU."""
    import torch

    dynamic = torch.ao.nn.quantized.dynamic.Linear
    layers: list[Any] = []
    for module in network:
        if isinstance(module, dynamic):
            weight = module.weight()
            if weight.qscheme() != torch.per_channel_affine or int(weight.q_per_channel_zero_points().abs().max()):
                return None  # symmetric per-channel weights only (what `Int8Dynamic` stores)
            codes = weight.int_repr().numpy().astype(np.float64)
            scales = weight.q_per_channel_scales().numpy().astype(np.float32)
            bias = module.bias()
            bias32 = np.zeros(codes.shape[0], np.float32) if bias is None else bias.detach().numpy().astype(np.float32)
            layers.append((codes, codes.sum(axis=1), scales, bias32))
        elif isinstance(module, torch.nn.ReLU):
            layers.append(None)
        elif not isinstance(module, torch.nn.Dropout):
            return None
    return layers


def activation_qparams(h: np.ndarray, qmin: int = 0, qmax: int = 127) -> tuple[np.float32, int]:
    """The scale and zero point torch's dynamic linear picks for these activations (fbgemm's
    `ChooseQuantizationParams` with reduce_range: 7-bit unsigned codes)."""
    low = min(float(h.min()), 0.0)
    high = max(float(h.max()), 0.0)
    scale = (high - low) / (qmax - qmin)
    if float(np.float32(scale)) == 0.0 or math.isinf(1.0 / float(np.float32(scale))):
        scale = 0.1
    if scale < _SMALL_SCALE:
        amplifier = _SMALL_SCALE / scale
        scale = _SMALL_SCALE
        if low == 0.0:
            high = float(np.float32(_SMALL_SCALE * (qmax - qmin)))
        elif high == 0.0:
            low = float(np.float32(-_SMALL_SCALE * (qmax - qmin)))
        else:
            low, high = float(np.float32(low * amplifier)), float(np.float32(high * amplifier))
    from_min, from_max = qmin - low / scale, qmax - high / scale
    error_min, error_max = abs(qmin) - abs(low / scale), abs(qmax) - abs(high / scale)
    zero = from_min if error_min < error_max else from_max
    zero_point = qmin if zero < qmin else qmax if zero > qmax else int(np.rint(zero))
    return np.float32(scale), zero_point


def _int8_forward(layers: list[Any]) -> Callable[[np.ndarray], np.ndarray]:
    one, zero = np.float32(1.0), np.float32(0.0)

    def forward(x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        for layer in layers:
            if layer is None:
                h = np.maximum(h, zero)
                continue
            codes, row_sums, scales, bias = layer
            scale, zero_point = activation_qparams(h)
            quantised = np.rint(h * (one / scale)).astype(np.float64)  # float32 product, rounded half to even
            quantised += zero_point
            np.maximum(quantised, 0.0, out=quantised)  # fbgemm's clamp to the uint8 range (np.clip is slower)
            np.minimum(quantised, 255.0, out=quantised)
            exact = codes @ quantised  # integer codes and sums: exact in float64
            exact -= zero_point * row_sums
            h = exact.astype(np.float32)
            h *= scale * scales  # float32: (activation scale x channel scale), then the bias
            h += bias
        return h

    return forward
