"""Stored forms of a network's weights: what the artifact holds, and how it becomes runnable.

Each codec turns an fp32 network into its runtime form, encodes that into a payload that is
pickled into the artifact (so the artifact's size is the real stored size), and decodes the
payload at load (so load time includes the decoding). `NOTES` says, per codec, what it buys
and what it does not on a CPU like this one.
"""

from __future__ import annotations

import copy
import gzip
import heapq
import warnings
from collections import Counter
from typing import Any

import numpy as np

from advisor.candidates.layers import linear_layers, make_network, require_torch

# --------------------------------------------------------------------------- quantisers (numpy and torch)
BITS = {"int8": 8, "int4": 4, "ternary": 2, "binary": 1}


def quantize_rows(weight: np.ndarray, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric quantisation: integer codes (int8) and one fp32 scale per row."""
    w = weight.astype(np.float32)
    magnitude = np.abs(w)
    if scheme in ("int8", "int4"):
        top = 127 if scheme == "int8" else 7
        scales = magnitude.max(axis=1) / top
        scales[scales == 0] = 1.0
        codes = np.clip(np.round(w / scales[:, None]), -top, top)
    elif scheme == "ternary":  # ternary weight networks: threshold 0.7 x mean |w|, scale = mean of the kept
        threshold = 0.7 * magnitude.mean(axis=1, keepdims=True)
        keep = magnitude > threshold
        codes = np.sign(w) * keep
        counts = keep.sum(axis=1)
        scales = np.where(counts > 0, (magnitude * keep).sum(axis=1) / np.maximum(counts, 1), 1.0)
    elif scheme == "binary":  # sign x per-channel mean |w| (XNOR-Net style)
        codes = np.where(w >= 0, 1.0, -1.0)
        scales = magnitude.mean(axis=1)
        scales[scales == 0] = 1.0
    else:
        raise ValueError(f"unknown quantisation scheme {scheme!r}")
    return codes.astype(np.int8), scales.astype(np.float32)


def fake_quantize(weight: Any, scheme: str) -> Any:
    """The same quantisation in torch, with a straight-through gradient, for quantisation-aware fine-tuning."""
    torch = require_torch()
    magnitude = weight.abs()
    if scheme in ("int8", "int4"):
        top = 127 if scheme == "int8" else 7
        scales = (magnitude.amax(dim=1, keepdim=True) / top).clamp_min(1e-12)
        quantized = torch.clamp(torch.round(weight / scales), -top, top) * scales
    elif scheme == "ternary":
        keep = (magnitude > 0.7 * magnitude.mean(dim=1, keepdim=True)).float()
        scales = (magnitude * keep).sum(dim=1, keepdim=True) / keep.sum(dim=1, keepdim=True).clamp_min(1.0)
        quantized = torch.sign(weight) * keep * scales
    else:
        scales = magnitude.mean(dim=1, keepdim=True)
        quantized = torch.where(weight >= 0, 1.0, -1.0) * scales
    return weight + (quantized - weight).detach()


def pack(codes: np.ndarray, scheme: str) -> np.ndarray:
    flat = codes.ravel().astype(np.int16)
    if scheme == "int8":
        return codes.ravel().astype(np.int8).view(np.uint8)
    if scheme == "binary":
        return np.packbits(flat > 0)
    bits = BITS[scheme]
    offset = 8 if scheme == "int4" else 1  # int4: -7..7 -> 1..15; ternary: -1..1 -> 0..2
    values = (flat + offset).astype(np.uint8)
    per_byte = 8 // bits
    values = np.concatenate([values, np.zeros((-len(values)) % per_byte, dtype=np.uint8)]).reshape(-1, per_byte)
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(values << shifts, axis=1).astype(np.uint8)


def unpack(packed: np.ndarray, scheme: str, count: int) -> np.ndarray:
    if scheme == "int8":
        return packed.view(np.int8)[:count].astype(np.int8)
    if scheme == "binary":
        return np.where(np.unpackbits(packed)[:count] > 0, 1, -1).astype(np.int8)
    bits = BITS[scheme]
    offset = 8 if scheme == "int4" else 1
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    values = (packed[:, None] >> shifts) & ((1 << bits) - 1)
    return (values.ravel()[:count].astype(np.int16) - offset).astype(np.int8)


# --------------------------------------------------------------------------- Huffman coding (for lossless storage)


def huffman_lengths(symbols: np.ndarray) -> dict[int, int]:
    """Code length per symbol from a Huffman tree over the symbol counts."""
    counts = Counter(symbols.tolist())
    if len(counts) == 1:
        return {next(iter(counts)): 1}
    heap = [(n, i, [s]) for i, (s, n) in enumerate(counts.items())]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    tie = len(heap)
    while len(heap) > 1:
        n1, _, a = heapq.heappop(heap)
        n2, _, b = heapq.heappop(heap)
        for s in a + b:
            lengths[s] += 1
        heapq.heappush(heap, (n1 + n2, tie, a + b))
        tie += 1
    return lengths


def _canonical(lengths: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Canonical codes: symbol -> (code, length), ordered by (length, symbol)."""
    code, previous, out = 0, 0, {}
    for symbol, length in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        out[symbol] = (code, length)
        code += 1
        previous = length
    return out


def huffman_encode(symbols: np.ndarray) -> tuple[bytes, dict[int, int]]:
    lengths = huffman_lengths(symbols)
    table = _canonical(lengths)
    bits = "".join(format(table[s][0], f"0{table[s][1]}b") for s in symbols.tolist())
    bits += "0" * ((-len(bits)) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return data, lengths


def huffman_decode(data: bytes, lengths: dict[int, int], count: int) -> np.ndarray:
    decode = {(length, code): symbol for symbol, (code, length) in _canonical(lengths).items()}
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
    out = np.empty(count, dtype=np.int16)
    code = length = n = 0
    for bit in bits:
        code, length = (code << 1) | bit, length + 1
        symbol = decode.get((length, code))
        if symbol is not None:
            out[n] = symbol
            n += 1
            if n == count:
                break
            code = length = 0
    return out


# --------------------------------------------------------------------------- codecs


def _state(network: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().float().numpy().copy() for k, v in network.state_dict().items()}


def _load(architecture: dict[str, Any], state: dict[str, np.ndarray]) -> Any:
    torch = require_torch()
    network = make_network(**architecture)
    network.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()})
    return network.eval()


class Fp32:
    name = "fp32"

    def runtime(self, network: Any) -> Any:
        return network.float()

    def encode(self, network: Any) -> Any:
        return _state(network)

    def decode(self, payload: Any, architecture: dict[str, Any]) -> Any:
        return _load(architecture, payload)

    def float_network(self, network: Any, architecture: dict[str, Any]) -> Any:
        return network

    def payload_bytes(self, payload: Any) -> int:
        return int(sum(np.asarray(v).nbytes for v in payload.values()))


class HalfPrecision(Fp32):
    """fp16 or bf16 weights, computed in that type (torch runs both on this CPU)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _dtype(self) -> Any:
        torch = require_torch()
        return torch.float16 if self.name == "fp16" else torch.bfloat16

    def runtime(self, network: Any) -> Any:
        return network.to(self._dtype())

    def encode(self, network: Any) -> Any:
        torch = require_torch()
        # numpy has no bfloat16: keep the 16 raw bits of either type
        return {
            k: v.detach().cpu().to(self._dtype()).view(torch.int16).numpy().copy()
            for k, v in network.state_dict().items()
        }

    def decode(self, payload: Any, architecture: dict[str, Any]) -> Any:
        torch = require_torch()
        network = make_network(**architecture).to(self._dtype())
        network.load_state_dict({k: torch.from_numpy(v).view(self._dtype()) for k, v in payload.items()})
        return network.eval()

    def float_network(self, network: Any, architecture: dict[str, Any]) -> Any:
        return copy.deepcopy(network).float()


class Int8Dynamic:
    """torch's dynamic quantisation of the Linear layers: int8 weights per output channel, activations
    quantised on every call.

    API: torch.ao.quantization.quantize_dynamic with per_channel_dynamic_qconfig, still working
    in torch 2.13 but deprecated (torchao is the maintained route); its warnings are silenced.
    Stored compactly (int8 codes, one fp32 scale and int8 zero point per channel, fp32 biases)
    rather than as torch's packed state, and rebuilt exactly at load with set_weight_bias.
    """

    name = "int8"

    @staticmethod
    def _quantized_layers(network: Any) -> list[Any]:
        torch = require_torch()
        return [m for m in network.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]

    def _quantize(self, network: Any) -> Any:
        torch = require_torch()
        from torch.ao.quantization import per_channel_dynamic_qconfig

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(network).float(), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
            )

    def runtime(self, network: Any) -> Any:
        # through the stored form, so the model in memory is exactly the one a load rebuilds
        return self._rebuild(self._quantize(network), self.encode(self._quantize(network)))

    def encode(self, network: Any) -> Any:
        layers = []
        for module in self._quantized_layers(network):
            weight = module.weight()
            bias = module.bias()
            layers.append(
                {
                    "codes": weight.int_repr().numpy().astype(np.int8).copy(),
                    "scales": weight.q_per_channel_scales().numpy().astype(np.float32),
                    "zero_points": weight.q_per_channel_zero_points().numpy().astype(np.int8),
                    "bias": None if bias is None else bias.detach().numpy().astype(np.float32).copy(),
                }
            )
        return layers

    def _rebuild(self, quantized: Any, payload: Any) -> Any:
        torch = require_torch()
        for module, stored in zip(self._quantized_layers(quantized), payload, strict=True):
            scales = torch.from_numpy(stored["scales"].astype(np.float64))
            zero_points = torch.from_numpy(stored["zero_points"].astype(np.int64))
            values = (stored["codes"].astype(np.float64) - stored["zero_points"][:, None]) * stored["scales"][:, None]
            weight = torch.quantize_per_channel(torch.from_numpy(values).float(), scales, zero_points, 0, torch.qint8)
            bias = None if stored["bias"] is None else torch.from_numpy(stored["bias"])
            module.set_weight_bias(weight, bias)
        return quantized.eval()

    def decode(self, payload: Any, architecture: dict[str, Any]) -> Any:
        return self._rebuild(self._quantize(make_network(**architecture)), payload)

    def float_network(self, network: Any, architecture: dict[str, Any]) -> Any:
        plain = make_network(**architecture)
        for target, source in zip(linear_layers(plain), self._quantized_layers(network), strict=True):
            target.weight.data = source.weight().dequantize().float()
            bias = source.bias()
            if bias is not None:
                target.bias.data = bias.detach().float()
        return plain.eval()

    def payload_bytes(self, payload: Any) -> int:
        return int(
            sum(
                s["codes"].nbytes
                + s["scales"].nbytes
                + s["zero_points"].nbytes
                + (0 if s["bias"] is None else s["bias"].nbytes)
                for s in payload
            )
        )


class Packed:
    """Weights quantised per output channel and bit-packed (int4, ternary, binary, or plain int8 codes).

    This CPU has no kernels for such arithmetic in torch, so the weights are decoded to fp32
    at load: the model is smaller on disk and in transit, not faster.
    """

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.name = scheme + "-packed" if scheme == "int8" else scheme

    def runtime(self, network: Any) -> Any:
        torch = require_torch()
        network = copy.deepcopy(network).float()
        for layer in linear_layers(network):
            codes, scales = quantize_rows(layer.weight.detach().numpy(), self.scheme)
            layer.weight.data = torch.from_numpy(codes.astype(np.float32) * scales[:, None])
        return network.eval()

    def encode(self, network: Any) -> Any:
        layers = []
        for layer in linear_layers(network):
            codes, scales = quantize_rows(layer.weight.detach().numpy(), self.scheme)
            bias = None if layer.bias is None else layer.bias.detach().numpy().astype(np.float32).copy()
            layers.append({"packed": pack(codes, self.scheme), "scales": scales, "shape": codes.shape, "bias": bias})
        return layers

    def decode(self, payload: Any, architecture: dict[str, Any]) -> Any:
        torch = require_torch()
        network = make_network(**architecture)
        for layer, stored in zip(linear_layers(network), payload, strict=True):
            rows, cols = stored["shape"]
            codes = unpack(stored["packed"], self.scheme, rows * cols).reshape(rows, cols)
            layer.weight.data = torch.from_numpy(codes.astype(np.float32) * stored["scales"][:, None])
            if stored["bias"] is not None:
                layer.bias.data = torch.from_numpy(stored["bias"])
        return network.eval()

    def float_network(self, network: Any, architecture: dict[str, Any]) -> Any:
        return network

    def payload_bytes(self, payload: Any) -> int:
        return int(
            sum(
                s["packed"].nbytes + s["scales"].nbytes + (0 if s["bias"] is None else s["bias"].nbytes)
                for s in payload
            )
        )


class Gzip(Fp32):
    """fp32 weights, gzip -9 compressed in the artifact and decompressed at load: lossless."""

    name = "gzip"

    def encode(self, network: Any) -> Any:
        state = _state(network)
        raw = b"".join(v.tobytes() for v in state.values())
        return {"shapes": {k: v.shape for k, v in state.items()}, "data": gzip.compress(raw, compresslevel=9)}

    def decode(self, payload: Any, architecture: dict[str, Any]) -> Any:
        raw = np.frombuffer(gzip.decompress(payload["data"]), dtype=np.float32)
        state, at = {}, 0
        for key, shape in payload["shapes"].items():
            size = int(np.prod(shape))
            state[key] = raw[at : at + size].reshape(shape)
            at += size
        return _load(architecture, state)

    def payload_bytes(self, payload: Any) -> int:
        return len(payload["data"])


class HuffmanInt8(Packed):
    """int8 codes per output channel, Huffman-coded (most weights are small, so short codes):
    lossless on top of the int8 rounding; decoded and dequantised at load."""

    def __init__(self) -> None:
        super().__init__("int8")
        self.name = "huffman-int8"

    def encode(self, network: Any) -> Any:
        layers, all_codes = [], []
        for layer in linear_layers(network):
            codes, scales = quantize_rows(layer.weight.detach().numpy(), "int8")
            bias = None if layer.bias is None else layer.bias.detach().numpy().astype(np.float32).copy()
            layers.append({"scales": scales, "shape": codes.shape, "bias": bias})
            all_codes.append(codes.ravel())
        symbols = np.concatenate(all_codes)
        data, lengths = huffman_encode(symbols)
        return {"layers": layers, "data": data, "lengths": lengths, "count": int(symbols.size)}

    def decode(self, payload: Any, architecture: dict[str, Any]) -> Any:
        torch = require_torch()
        symbols = huffman_decode(payload["data"], payload["lengths"], payload["count"])
        network = make_network(**architecture)
        at = 0
        for layer, stored in zip(linear_layers(network), payload["layers"], strict=True):
            rows, cols = stored["shape"]
            codes = symbols[at : at + rows * cols].reshape(rows, cols)
            at += rows * cols
            layer.weight.data = torch.from_numpy(codes.astype(np.float32) * stored["scales"][:, None])
            if stored["bias"] is not None:
                layer.bias.data = torch.from_numpy(stored["bias"])
        return network.eval()

    def payload_bytes(self, payload: Any) -> int:
        table = 3 * len(payload["lengths"])  # symbol and length per entry
        return (
            len(payload["data"])
            + table
            + int(sum(s["scales"].nbytes + (0 if s["bias"] is None else s["bias"].nbytes) for s in payload["layers"]))
        )


CODECS: dict[str, Any] = {
    codec.name: codec
    for codec in (
        Fp32(),
        HalfPrecision("fp16"),
        HalfPrecision("bf16"),
        Int8Dynamic(),
        Packed("int4"),
        Packed("ternary"),
        Packed("binary"),
        Gzip(),
        HuffmanInt8(),
    )
}
NOTES = {
    "fp16": "fp16 weights and arithmetic: half the bytes; whether it is faster depends on the CPU's fp16 support "
    "(see the measured latency)",
    "bf16": "bf16 weights and arithmetic: half the bytes; CPUs without native bf16 matrix units emulate it "
    "(see the measured latency)",
    "int8": "torch dynamic quantisation (torch.ao.quantization.quantize_dynamic, per-channel int8 weights; deprecated "
    "in favour of torchao): about a quarter of the bytes; activations are quantised on every call, which costs "
    "time per call, and a row's prediction can shift slightly with the batch it arrives in",
    "int4": "4-bit weights packed two per byte with one fp32 scale per output channel; decoded to fp32 at load "
    "because torch has no 4-bit CPU kernels: smaller on disk, computed like fp32",
    "ternary": "ternary weights (-a, 0, +a per output channel) packed four per byte; decoded to fp32 at load: "
    "smaller on disk, computed like fp32",
    "binary": "binary weights (sign x per-channel scale) packed eight per byte; decoded to fp32 at load: smaller "
    "on disk, computed like fp32",
    "gzip": "lossless: fp32 weights gzip -9 compressed in the artifact and decompressed at load (see load_ms)",
    "huffman-int8": "int8 weight codes Huffman-coded (lossless on top of the int8 rounding), decoded in Python at "
    "load (see load_ms)",
}
