"""Models stored without pickle: loading an artifact never runs code that came with it.

A predictor (the fitted preprocessing and the model) is stored as these artifact members:

- `model.json`: the predictor as a tree of plain JSON values. An object appears as
  `{"$object": "sklearn.tree.DecisionTreeClassifier", "state": {...}}`, and only the classes
  named in `_ALLOWED` may appear (the advisor's own encoder, predictor and model wrappers, and
  the scikit-learn estimators its builders fit). Loading creates them with `cls.__new__` and
  sets their state: no constructor from the file, no `__reduce__`, no import of a name the file
  chooses.
- `model.npz`: every array (weights, tree node tables, scales, packed codes), read by numpy with
  `allow_pickle=False`, so an object array in it is refused rather than unpickled.
- `lightgbm-<n>.txt`: each LightGBM booster in LightGBM's own text model format.

A model holding something outside that list (a plug-in builder's own class) cannot be stored
this way; its unknown parts go to `model.pickle`, and an artifact with that member loads only
with `trust=True`, as do artifacts written before this format (`predictor.joblib`).
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from advisor.deploy.predictor import Predictor
from advisor.errors import AdvisorError, ArtifactError

TREE = "model.json"
ARRAYS = "model.npz"
PICKLED = "model.pickle"
LEGACY = "predictor.joblib"  # artifacts before format 2: the whole predictor pickled by joblib
FORMAT = "advisor-model"
VERSION = 1


class UntrustedPickle(AdvisorError):
    """An artifact holds a pickle (a plug-in model, or an old artifact) and trust was not given."""


# Every class a model file may name: a stable public name -> (module, attribute). Only the module
# of a class a file actually names is imported, so loading a network does not import scikit-learn.
_ALLOWED: dict[str, tuple[str, str]] = {
    **{
        f"{module}.{name}": (module, name)
        for module, names in (
            ("advisor.deploy.predictor", ("Predictor",)),
            (
                "advisor.data.encoder",
                ("TabularEncoder", "NumericGroup", "CategoricalBlock", "TextBlock", "DatetimeBlock"),
            ),
            ("advisor.candidates.builders", ("SklearnModel", "LightGBMModel")),
            ("advisor.candidates.compress", ("EnsembleModel", "SoftTreeModel")),
            ("advisor.candidates.networks", ("TorchModel",)),
            ("sklearn.dummy", ("DummyClassifier", "DummyRegressor")),
            ("sklearn.linear_model", ("LogisticRegression", "Ridge")),
            ("sklearn.tree", ("DecisionTreeClassifier", "DecisionTreeRegressor")),
            ("sklearn.ensemble", ("RandomForestClassifier", "RandomForestRegressor")),
        )
        for name in names
    }
}
# The names files written before the engine's modules moved into packages use (tests/data/format2-*.zip).
_FORMER_NAMES = {
    "advisor._predictor.Predictor": "advisor.deploy.predictor.Predictor",
    "advisor._encoder.TabularEncoder": "advisor.data.encoder.TabularEncoder",
    **{
        f"advisor._encoder._{name}": f"advisor.data.encoder.{name}"
        for name in ("NumericGroup", "CategoricalBlock", "TextBlock", "DatetimeBlock")
    },
    "advisor._models.SklearnModel": "advisor.candidates.builders.SklearnModel",
    "advisor._models.LightGBMModel": "advisor.candidates.builders.LightGBMModel",
    "advisor._compress.EnsembleModel": "advisor.candidates.compress.EnsembleModel",
    "advisor._compress.SoftTreeModel": "advisor.candidates.compress.SoftTreeModel",
    "advisor._torch_mlp.TorchModel": "advisor.candidates.networks.TorchModel",
}
_ALLOWED.update({former: _ALLOWED[now] for former, now in _FORMER_NAMES.items()})


def _resolve(name: str) -> type:
    if name not in _ALLOWED:
        raise ValueError(f"class {name[:80]!r} is not one an advisor model may hold")
    module, attribute = _ALLOWED[name]
    return getattr(importlib.import_module(module), attribute)


@cache
def _name_of(cls: type) -> str | None:
    """The allowed name of a class, or None; only modules already imported are looked at."""
    for name, (module, attribute) in _ALLOWED.items():
        if attribute == cls.__qualname__ and module in sys.modules and getattr(sys.modules[module], attribute) is cls:
            return name
    return None


def _custom(cls: type, method: str) -> bool:
    return getattr(cls, method, None) is not getattr(object, method, None)


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.texts: dict[str, bytes] = {}
        self.pickled: list[Any] = []

    def _array(self, value: np.ndarray) -> str:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value
        return name

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                return {"$objects": [self.encode(v) for v in value.ravel().tolist()], "shape": list(value.shape)}
            return {"$array": self._array(value)}
        if isinstance(value, np.generic):
            return {"$scalar": value.item(), "dtype": value.dtype.str}
        if isinstance(value, bytes):
            return {"$bytes": self._array(np.frombuffer(value, dtype=np.uint8))}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {"$map": {k: self.encode(v) for k, v in value.items()}}
            return {"$pairs": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        cls = type(value)
        if cls.__module__ == "sklearn.tree._tree" and cls.__name__ == "Tree":
            _, args, state = value.__reduce__()
            return {"$sktree": self.encode(tuple(args)), "state": self.encode(state)}
        if cls.__module__.startswith("lightgbm") and cls.__name__ == "Booster":
            name = f"lightgbm-{len(self.texts)}.txt"
            self.texts[name] = value.model_to_string().encode()
            return {"$lightgbm": name}
        name = _name_of(cls)
        if name is None:  # a plug-in's own class: kept, but only a trusted load will read it
            self.pickled.append(value)
            return {"$pickled": len(self.pickled) - 1, "class": f"{cls.__module__}.{cls.__qualname__}"}
        state = value.__getstate__() if _custom(cls, "__getstate__") else vars(value)
        return {"$object": name, "state": self.encode(dict(state))}


def model_files(predictor: Any) -> dict[str, bytes]:
    """The predictor as artifact members (see the module docstring); the same bytes for the same model."""

    writer = _Writer()
    tree = {"format": FORMAT, "version": VERSION, "predictor": writer.encode(predictor)}
    files = {TREE: json.dumps(tree, separators=(",", ":")).encode()}  # compact: its size is measured
    buffer = io.BytesIO()
    np.savez(buffer, **writer.arrays)
    files[ARRAYS] = buffer.getvalue()
    files.update(writer.texts)
    if writer.pickled:
        import joblib

        pickled = io.BytesIO()
        joblib.dump(writer.pickled, pickled, compress=0)
        files[PICKLED] = pickled.getvalue()
    return files


def is_model_member(name: str) -> bool:
    return name in (TREE, ARRAYS, PICKLED, LEGACY) or (name.startswith("lightgbm-") and name.endswith(".txt"))


def needs_trust(files: Mapping[str, bytes]) -> bool:
    """Whether loading these members would unpickle something."""
    return PICKLED in files or (LEGACY in files and TREE not in files)


# Where the classes a format-1 pickle names live now (the engine's modules moved into packages).
_FORMER_MODULES = {
    "advisor._predictor": "advisor.deploy.predictor",
    "advisor._encoder": "advisor.data.encoder",
    "advisor._models": "advisor.candidates.builders",
    "advisor._compress": "advisor.candidates.compress",
    "advisor._torch_mlp": "advisor.candidates.networks",
    "advisor._codecs": "advisor.candidates.codecs",
    "advisor._fast": "advisor.deploy.fast",
}


def _unpickle(data: bytes) -> Any:
    """A trusted pickle, its former module paths mapped to where those classes live now."""
    from joblib import numpy_pickle

    unpickler = numpy_pickle.NumpyUnpickler
    original = unpickler.find_class

    def find_class(self: Any, module: str, name: str) -> Any:
        if module in _FORMER_MODULES:
            module, name = _FORMER_MODULES[module], name.lstrip("_") if module == "advisor._encoder" else name
        return original(self, module, name)

    unpickler.find_class = find_class  # type: ignore[method-assign]
    try:
        return numpy_pickle.load(io.BytesIO(data))
    finally:
        unpickler.find_class = original  # type: ignore[method-assign]


class _Reader:
    def __init__(self, files: Mapping[str, bytes], trust: bool) -> None:
        self.files = files
        with np.load(io.BytesIO(files[ARRAYS]), allow_pickle=False) as npz:
            self.arrays = {name: npz[name] for name in npz.files}
        self.pickled: list[Any] | None = _unpickle(files[PICKLED]) if trust and PICKLED in files else None

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) > 2:
            raise ValueError(f"unexpected node {str(node)[:60]}")
        if "$array" in node:
            return self.arrays[node["$array"]]
        if "$bytes" in node:
            return self.arrays[node["$bytes"]].tobytes()
        if "$objects" in node:
            out = np.empty(len(node["$objects"]), dtype=object)
            out[:] = [self.decode(v) for v in node["$objects"]]
            return out.reshape([int(n) for n in node["shape"]])
        if "$scalar" in node:
            dtype = np.dtype(str(node["dtype"]))
            if dtype.hasobject:
                raise ValueError("an object scalar")
            return dtype.type(node["$scalar"])
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$map" in node:
            return {str(k): self.decode(v) for k, v in node["$map"].items()}
        if "$pairs" in node:
            return {self.decode(k): self.decode(v) for k, v in node["$pairs"]}
        if "$sktree" in node:
            from sklearn.tree._tree import Tree

            n_features, n_classes, n_outputs = self.decode(node["$sktree"])
            tree = Tree(int(n_features), np.asarray(n_classes, dtype=np.intp), int(n_outputs))
            tree.__setstate__(self.decode(node["state"]))
            return tree
        if "$lightgbm" in node:
            import lightgbm

            name = str(node["$lightgbm"])
            if not (name.startswith("lightgbm-") and name in self.files):
                raise ValueError(f"no member {name!r}")
            return lightgbm.Booster(model_str=self.files[name].decode())
        if "$pickled" in node:
            if self.pickled is None:
                raise UntrustedPickle(str(node.get("class", "a plug-in class")))
            return self.pickled[int(node["$pickled"])]
        if "$object" in node:
            cls = _resolve(str(node["$object"]))
            state = self.decode(node["state"])
            if not isinstance(state, dict):
                raise ValueError("an object state that is not a mapping")
            obj = cls.__new__(cls)
            if _custom(cls, "__setstate__"):
                obj.__setstate__(state)
            else:
                obj.__dict__.update(state)
            return obj
        raise ValueError(f"unexpected node {str(node)[:60]}")


def _untrusted(label: str, why: str) -> UntrustedPickle:
    return UntrustedPickle(
        f"Artifact '{label}' stores its model as a Python pickle ({why}), and loading a pickle can run any code; "
        "load it only if you or your own run produced it, with trust=True (on the command line: --trust)."
    )


def load_model_files(files: Mapping[str, bytes], label: str, trust: bool = False) -> Any:
    """The predictor from its members, creating only allow-listed classes; a pickle only with `trust`."""
    if TREE not in files:
        if LEGACY not in files:
            raise ArtifactError(f"Artifact '{label}' holds no model ({TREE}); export it again.")
        if not trust:
            raise _untrusted(label, "written before format 2; exporting it again from its run stores it without one")
        predictor = _unpickle(files[LEGACY])
    else:
        try:
            tree = json.loads(files[TREE])
            if not isinstance(tree, dict) or tree.get("format") != FORMAT:
                raise ValueError("not an advisor model tree")
            if tree.get("version") != VERSION:
                raise ArtifactError(
                    f"Artifact '{label}' stores its model in version {tree.get('version')!r} of the model format; "
                    f"this advisor reads version {VERSION}: upgrade the advisor or export the model again."
                )
            predictor = _Reader(files, trust).decode(tree["predictor"])
        except UntrustedPickle as exc:
            raise _untrusted(label, f"a plug-in model, {exc}") from None
        except ArtifactError:
            raise
        except Exception as exc:  # malformed trees, arrays, or boosters: never half-loaded
            raise ArtifactError(
                f"Artifact '{label}' has a model this advisor cannot read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); export it again."
            ) from None
    if not isinstance(predictor, Predictor):
        raise ArtifactError(f"'{label}' does not hold an advisor predictor; export one from a run.")
    return predictor
