"""ONNX export of a candidate's model, checked in onnxruntime before it is written.

The ONNX graph takes the encoded float32 rows (the preprocessing is described in the
artifact's `preprocessing.json`, so another runtime can reproduce it) and returns class
probabilities, or values for regression. Converters: skl2onnx for scikit-learn,
onnxmltools for LightGBM (opset 15: its LightGBM converter takes opset <= 15), and torch's
TorchScript-based exporter for networks computed in fp32. fp16, bf16 and int8 networks, and
the ensemble, have no export here; `onnx_export` says why.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

OPSET = 15
TOLERANCE = 1e-4  # onnxruntime computes in float32: probabilities agree to about 1e-6, allow margin
TREE_ROW_SHARE = 0.05


class NoOnnx(Exception):
    """This model has no ONNX form here; the message says why."""


def _sklearn(estimator: Any, width: int, classification: bool) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(estimator): {"zipmap": False}} if classification else None
    model = convert_sklearn(
        estimator,
        initial_types=[("input", FloatTensorType([None, width]))],
        target_opset={"": OPSET, "ai.onnx.ml": 3},
        options=options,
    )
    return model.SerializeToString()


def _lightgbm(booster: Any, width: int) -> bytes:
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_lightgbm(
            booster, initial_types=[("input", FloatTensorType([None, width]))], target_opset=OPSET, zipmap=False
        )
    return model.SerializeToString()


def _torch(model: Any, width: int) -> bytes:
    import torch

    if model.codec in ("fp16", "bf16", "int8"):
        raise NoOnnx(f"the {model.codec} network's arithmetic has no faithful ONNX export here")
    network = model.float_network().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (torch.zeros(1, width),),
            buffer,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "rows"}, "output": {0: "rows"}},
            dynamo=False,
            opset_version=OPSET,
        )
    return buffer.getvalue()


def _run(onnx_bytes: bytes, X: np.ndarray) -> list[np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # errors only: converters' shape hints are not ours to print
    session = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": X.astype(np.float32)})


def onnx_scores(model: Any, onnx_bytes: bytes, X: np.ndarray) -> np.ndarray:
    """Scores from the ONNX graph in the advisor's convention (probabilities, or values)."""
    outputs = _run(onnx_bytes, X)
    if type(model).__name__ == "TorchModel":
        raw = outputs[0].astype(np.float64)
        if model.task == "regression":
            return raw[:, 0] * model.y_std + model.y_mean
        raw = raw - raw.max(axis=1, keepdims=True)
        return np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    if model.task == "regression":
        return outputs[0].astype(np.float64).reshape(-1)
    probabilities = outputs[1] if len(outputs) > 1 else outputs[0]
    return np.asarray(probabilities, dtype=np.float64)


def onnx_export(model: Any, X_check: np.ndarray, threshold: float | None = None) -> tuple[bytes, dict[str, Any]]:
    """The model as ONNX, and a record of the check against the model itself on `X_check`.

    The graph outputs probabilities; `threshold` (binary) is the decision threshold the labels
    are compared at. Raises NoOnnx (with the reason) when there is no export or it does not match.
    """
    from advisor.candidates.builders import LightGBMModel, SklearnModel

    width = X_check.shape[1]
    if not hasattr(model, "task"):
        raise NoOnnx(f"no ONNX converter for {type(model).__name__} (an ensemble: export its members)")
    classification = model.task != "regression"
    try:
        if type(model).__name__ == "SoftTreeModel":
            raise NoOnnx("the distilled tree's normalised leaf probabilities have no converter here")
        if isinstance(model, SklearnModel):
            data, converter = _sklearn(model.estimator, width, classification), "skl2onnx"
        elif isinstance(model, LightGBMModel):
            data, converter = _lightgbm(model.booster, width), f"onnxmltools (opset {OPSET})"
        elif type(model).__name__ == "TorchModel":
            data, converter = _torch(model, width), "torch.onnx.export (TorchScript-based)"
        else:
            raise NoOnnx(f"no ONNX converter for {type(model).__name__}")
    except NoOnnx:
        raise
    except ImportError as exc:
        raise NoOnnx(f"the ONNX tools are not installed ({exc.name}); pip install -r requirements.txt") from None
    except Exception as exc:  # a converter that cannot handle this model: say so, ship without ONNX
        first_line = (str(exc).strip().splitlines() or [""])[0][:160]
        raise NoOnnx(f"the converter failed ({type(exc).__name__}: {first_line})") from None
    check = compare(model, onnx_scores(model, data, X_check), model.scores(X_check), threshold)
    if not check["within_tolerance"]:
        raise NoOnnx(
            f"onnxruntime's answers differ from the model's on {check['rows_differing']} of {len(X_check)} rows "
            f"(max relative difference {check['max_relative_difference']:.1e})"
        )
    return data, check | {
        "converter": converter,
        "opset": OPSET,
        "rows_checked": len(X_check),
        "input": f"float32 [rows, {width}]: the encoded row, see preprocessing.json",
    }


def is_tree_based(model: Any) -> bool:
    from advisor.candidates.builders import LightGBMModel

    name = type(getattr(model, "estimator", None)).__name__
    return isinstance(model, LightGBMModel) or "Tree" in name or "Forest" in name


def compare(model: Any, got: np.ndarray, expected: np.ndarray, threshold: float | None = None) -> dict[str, Any]:
    """How close onnxruntime's scores are to the model's, and whether the labels agree (binary:
    at the decision `threshold`, when there is one).

    Tree ensembles in ONNX compare features with float32 thresholds, so a row within float32
    rounding of a split can take the other branch: for them up to TREE_ROW_SHARE of the rows may
    differ by more than TOLERANCE; for every other model, none may.
    """
    classification = model.task != "regression"
    scale = 1.0 if classification else max(1.0, float(np.abs(expected).max()))
    per_row = np.abs(got - expected).reshape(len(expected), -1).max(axis=1) / scale
    if classification:
        from advisor.measure.figures import predicted_classes

        per_row = np.where(predicted_classes(got, threshold) != predicted_classes(expected, threshold), np.inf, per_row)
    differing = int((per_row > TOLERANCE).sum())
    allowed = int(TREE_ROW_SHARE * len(per_row)) if is_tree_based(model) else 0
    finite = per_row[np.isfinite(per_row)]
    return {
        "max_relative_difference": float(finite.max()) if finite.size else 0.0,
        "rows_differing": differing,
        "within_tolerance": differing <= allowed,
        "tolerance": TOLERANCE,
        "tolerance_note": (
            f"tree splits compare in float32 in ONNX: up to {TREE_ROW_SHARE:.0%} of rows may take another branch"
            if allowed
            else "every row within the tolerance, with the same label"
        ),
    }
