"""What the forkserver imports once, so that every isolated child starts with it (see `_isolate`)."""

import importlib

import advisor.execute.worker  # noqa: F401

for _heavy in ("sklearn.linear_model", "sklearn.tree", "sklearn.ensemble", "lightgbm", "torch"):
    try:
        importlib.import_module(_heavy)
    except ImportError:  # an optional library: the candidates that need it fail with that reason
        pass
