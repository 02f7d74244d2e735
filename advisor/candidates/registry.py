"""Every builder by the name a catalog entry gives in its `builder` field.

A name here, or "package.module:function" for a plug-in (see `resolve_builder`).
"""

from __future__ import annotations

import importlib

from advisor.candidates import compress, distill
from advisor.candidates.builders import TABLE_BUILDERS
from advisor.candidates.context import Builder
from advisor.candidates.networks import build_torch_mlp
from advisor.candidates.tuned import build_lightgbm_tuned

BUILDERS: dict[str, Builder] = {
    **TABLE_BUILDERS,
    "lightgbm_tuned": build_lightgbm_tuned,
    "torch_mlp": build_torch_mlp,
    # the compression lab (advisor/candidates/compress.py): entries with a parent
    "low_precision": compress.build_low_precision,
    "precision_sweep": compress.build_precision_sweep,
    "prune": compress.build_prune,
    "prune_neurons": compress.build_prune_neurons,
    "ensemble": compress.build_ensemble,
    "ensemble_selection": distill.build_ensemble_selection,
    "distill": distill.build_distill,
}


def resolve_builder(name: str) -> Builder:
    """A catalog `builder`: a name in `BUILDERS`, or 'package.module:function' for a plug-in."""
    if name in BUILDERS:
        return BUILDERS[name]
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)
