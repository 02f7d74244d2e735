"""Fast forms that call a model's own native code for one row, skipping its Python wrapper.

LightGBM's `Booster.predict` spends ~45 us of Python and array checks around a few us of
tree walking. Its C API has a single-row path for exactly this case:
`LGBM_BoosterPredictForMatSingleRowFastInit` prepares a configuration once (1 thread, float32
rows, all iterations as `Booster.predict` uses them), and
`LGBM_BoosterPredictForMatSingleRowFast` then scores one row with it. It runs the same trees
in the same double arithmetic as the batch path, so its scores are the batch path's, bit for
bit (onnxruntime, about as fast, sums in float32 and differs by ~1e-7).

The configuration is a C handle: it is built on first use (`Predictor` keeps compiled forms
out of its pickled state), never stored in an artifact, and freed with its scorer. LightGBM
serialises calls on one booster with its own lock, so one configuration per process is safe
from several threads; each call writes into its own output array.
"""

from __future__ import annotations

import ctypes
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

# LightGBM's C API constants (c_api.h)
_PREDICT_NORMAL = 0
_DTYPE_FLOAT32 = 0


def labelled(scorer: Callable[[np.ndarray], np.ndarray], arithmetic: str) -> Any:
    """The scorer, carrying what it computes in (`arithmetic`): `verify_fast_path` reports it
    in `fast_path_check["model"]`, and a predictor uses a fast form only if it is the one checked."""
    scorer.arithmetic = arithmetic  # type: ignore[attr-defined]
    return scorer


class _FastConfig:
    """One LightGBM single-row configuration: the C handle, freed when this object goes."""

    def __init__(self, booster: Any, library: Any) -> None:
        handle = ctypes.c_void_p()
        _check(
            library,
            library.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_NORMAL),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(booster.best_iteration),  # <= 0: every iteration, as Booster.predict does
                ctypes.c_int(_DTYPE_FLOAT32),
                ctypes.c_int32(booster.num_feature()),
                ctypes.c_char_p(b"num_threads=1"),  # one row is scored on the calling thread
                ctypes.byref(handle),
            ),
        )
        self.handle = handle.value
        self._free = weakref.finalize(self, library.LGBM_FastConfigFree, ctypes.c_void_p(handle.value))


def _check(library: Any, code: int) -> None:
    if code != 0:
        import lightgbm

        raise lightgbm.basic.LightGBMError(library.LGBM_GetLastError().decode("utf-8"))


def compile_lightgbm(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """The booster's single-row C path for a `LightGBMModel`: probabilities (binary: [1 - p, p],
    as the batch path returns them) or a value, exactly as `Booster.predict` computes them.
    None when this LightGBM has no such entry point."""
    try:
        from lightgbm.basic import _LIB as library
    except ImportError:  # pragma: no cover - lightgbm is in requirements.txt
        return None
    if not hasattr(library, "LGBM_BoosterPredictForMatSingleRowFast") or not hasattr(model.booster, "_handle"):
        return None
    booster = model.booster
    try:
        config = _FastConfig(booster, library)
    except Exception:  # a booster this entry point refuses keeps Booster.predict
        return None
    # a prototype of our own: setting argtypes on lightgbm's shared function object would change it for lightgbm too
    predict = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(
        ("LGBM_BoosterPredictForMatSingleRowFast", library)
    )
    width = booster.num_feature()
    outputs = booster.num_model_per_iteration() if model.task != "regression" else 1
    handle = config.handle
    # written with the same value by every call; each scorer keeps `length` itself alive (a default
    # argument), since its address alone would let it be freed and every call write into freed memory
    length = ctypes.c_int64()
    length_at = ctypes.addressof(length)

    def checked(x: np.ndarray) -> np.ndarray:
        if x.dtype != np.float32 or not x.flags.c_contiguous or x.shape != (width,):
            x = np.ascontiguousarray(x, dtype=np.float32).reshape(width)
        return x

    if model.task == "binary":

        def binary(x: np.ndarray, _config: _FastConfig = config, _length: ctypes.c_int64 = length) -> np.ndarray:
            x = checked(x)
            out = np.empty(2)
            code = predict(handle, x.ctypes.data, length_at, out.ctypes.data + 8)  # p into out[1]
            if code:
                _check(library, code)
            out[0] = 1.0 - out[1]
            return out

        scorer = binary
    else:

        def scores(x: np.ndarray, _config: _FastConfig = config, _length: ctypes.c_int64 = length) -> np.ndarray:
            x = checked(x)
            out = np.empty(outputs)
            code = predict(handle, x.ctypes.data, length_at, out.ctypes.data)
            if code:
                _check(library, code)
            return out

        scorer = scores
    return labelled(scorer, "LightGBM's C single-row predict (double, as Booster.predict)")
