"""Start-up of a saved predictor in a fresh process, as a deployment starts it.

Run by the advisor as `python -m advisor._coldstart ARTIFACT ROWS RUNTIME SPAWNED_AT`;
prints one JSON line. Times are seconds since the parent spawned the process (wall clock),
so interpreter start and every import are included.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc

RUNTIME_MODULES = {"scikit-learn": "sklearn", "lightgbm": "lightgbm", "torch": "torch"}


def main(argv: list[str]) -> dict[str, float | int | None]:
    artifact, rows_path, runtime, spawned_at = argv[0], argv[1], argv[2], float(argv[3])
    import joblib

    from advisor import _hardware
    from advisor._predictor import load_predictor

    module = RUNTIME_MODULES.get(runtime)
    if module:
        __import__(module)
    imported = time.time() - spawned_at
    predictor = load_predictor(artifact)
    predictor.set_threads(1)
    loaded = time.time() - spawned_at
    rows = joblib.load(rows_path)
    before_first = time.time() - spawned_at
    predictor.predict(rows["first"])
    first = time.time() - spawned_at - before_first
    loaded_rss = _hardware.rss_bytes()

    batch = rows["batch"]
    reset = _hardware.reset_peak_rss()
    base = _hardware.rss_bytes()
    tracemalloc.start()
    predictor.predict(batch)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak_rss = _hardware.peak_rss_bytes()
    rss_delta = (peak_rss - base) if (reset and peak_rss is not None and base is not None) else 0
    return {
        "import_s": imported,
        "load_s": loaded - imported,
        "first_row_s": first,
        "start_s": loaded + first,
        "loaded_rss_bytes": loaded_rss,
        "peak_predict_bytes": int(max(rss_delta, traced_peak)),
        "peak_rss_reset": bool(reset),
        "batch_rows": len(batch),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
