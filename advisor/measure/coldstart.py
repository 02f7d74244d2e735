"""Start-up of saved predictors in a fresh process, as a deployment starts them.

Run by the advisor as `python -m advisor.measure.coldstart ROWS SPAWNED_AT RUNTIME ARTIFACT...`;
prints one JSON line. One process serves all the artifacts of one runtime (scikit-learn,
lightgbm, torch, ...): the interpreter and the imports are timed once, from the parent's
spawn (wall clock), then each artifact is loaded, answers its first row, and predicts a batch
while its peak memory is read.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from typing import Any

RUNTIME_MODULES = {"scikit-learn": "sklearn", "lightgbm": "lightgbm", "torch": "torch"}


def main(argv: list[str]) -> dict[str, Any]:
    rows_path, spawned_at, runtime, artifacts = argv[0], float(argv[1]), argv[2], argv[3:]
    import joblib

    from advisor.deploy.artifact import load_and_answer
    from advisor.measure import hardware

    for part in runtime.split("+"):
        if part in RUNTIME_MODULES:
            __import__(RUNTIME_MODULES[part])
    imported = time.time() - spawned_at
    rows = joblib.load(rows_path)
    figures = []
    for artifact in artifacts:
        before_load_rss = hardware.rss_bytes()
        # the run's own store: digests checked, then rebuilt
        predictor, load_s, first_row_s = load_and_answer(artifact, rows["first"], trust=True, threads=1)
        after_rss = hardware.rss_bytes()

        reset = hardware.reset_peak_rss()
        base = hardware.rss_bytes()
        tracemalloc.start()
        predictor.predict(rows["batch"])
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peak_rss = hardware.peak_rss_bytes()
        rss_delta = (peak_rss - base) if (reset and peak_rss is not None and base is not None) else 0
        figures.append(
            {
                "load_s": load_s,
                "first_row_s": first_row_s,
                "load_rss_bytes": (after_rss - before_load_rss) if after_rss and before_load_rss else None,
                "peak_predict_bytes": int(max(rss_delta, traced_peak)),
                "peak_rss_reset": bool(reset),
                "batch_rows": len(rows["batch"]),
            }
        )
        del predictor
    return {"import_s": imported, "process_rss_bytes": hardware.rss_bytes(), "artifacts": figures}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
