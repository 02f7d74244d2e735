"""Deployment benchmark on adult: the exported artifact's single-row path against the usual way.

    python bench/bench_artifact.py

For the linear, tree and LightGBM candidates, one run of the timer (interleaved, 1 thread,
1,000 calls after 200 warm-up) times three ways of answering one row:
- pipeline: the same estimator (class and parameters), fitted on the same training rows, behind
  a plain scikit-learn Pipeline (ColumnTransformer: impute, one-hot, scale) called with a
  one-row DataFrame: how such models are usually shipped;
- artifact: the advisor's exported artifact, loaded with load_artifact, given one dict (the
  schema check included);
- bare: the model alone on a row that is already encoded: numpy for the linear model and the
  tree, LightGBM's own predict for LightGBM.
Targets: pipeline / artifact >= 20x; artifact / bare <= 3x. Then the recommended candidate is
exported, loaded in a fresh Python process, and its test-split predictions compared.
Writes bench/out/artifact.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402
from advisor.deploy.fast import compile_model  # noqa: E402
from advisor.measure.timing import TimingConfig, measure_single_row, pinned_threads  # noqa: E402

KEYS = ("linear", "tree", "lightgbm")
CONFIG = TimingConfig(warmup_calls=200, calls=1000, rounds=10)


def onnx_session(path: Path):
    """The artifact's model.onnx in onnxruntime (1 thread): the bare model, the ONNX way."""
    import zipfile

    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        zipfile.ZipFile(path).read("model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return lambda x: session.run(None, {"input": x})


def sklearn_pipeline(key: str, dataset: advisor.Dataset, split: advisor.data.split.Split) -> object:
    import lightgbm
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    spec = advisor.load_candidates().get(key)
    numeric = [c for c, r in dataset.roles.items() if r == "numeric"]
    categorical = [c for c, r in dataset.roles.items() if r == "categorical"]
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=31),
                ),
                categorical,
            ),
        ]
    )
    params = dict(spec.params)
    model = {
        "linear": lambda: LogisticRegression(C=params["C"], max_iter=params["max_iter"]),
        "tree": lambda: DecisionTreeClassifier(random_state=0, **params),
        "lightgbm": lambda: lightgbm.LGBMClassifier(random_state=0, n_jobs=1, verbose=-1, **params),
    }[key]()
    return make_pipeline(preprocess, model).fit(split.X_train, split.y_train)


def main() -> int:
    home = tempfile.mkdtemp()
    data = ROOT / "datasets" / "adult.csv.gz"
    run = advisor.advise(data, "income", candidates=list(KEYS), store=home, timing=advisor.QUICK_TIMING)
    dataset = advisor.load_dataset(data, "income")
    split = advisor.split_dataset(dataset)
    records = split.X_test.head(200).to_dict(orient="records")
    frames = [split.X_test.iloc[[i]] for i in range(200)]

    calls, inputs = {}, {}
    artifacts = {k: advisor.load_artifact(advisor.export(run, k, Path(home) / f"{k}.zip")) for k in KEYS}
    encoded = artifacts["linear"].predictor.encoder.transform(split.X_test.head(200))
    for key in KEYS:
        pipeline = sklearn_pipeline(key, dataset, split)
        artifact = artifacts[key]
        scorer = compile_model(artifact.predictor.model)
        model = artifact.predictor.model
        calls[f"{key}:pipeline"] = pipeline.predict_proba
        calls[f"{key}:artifact"] = artifact.predict_proba
        calls[f"{key}:bare"] = scorer if scorer is not None else (lambda x, m=model: m.scores(x[None, :]))
        inputs[f"{key}:pipeline"], inputs[f"{key}:artifact"], inputs[f"{key}:bare"] = frames, records, list(encoded)
        calls[f"{key}:onnx"] = onnx_session(Path(home) / f"{key}.zip")
        inputs[f"{key}:onnx"] = [row[None, :] for row in encoded]
    # one timer run, all interleaved; each call gets its own kind of input
    cycling = {name: iter(range(10**9)) for name in calls}
    wrapped = {name: (lambda _, n=name: calls[n](inputs[n][next(cycling[n]) % 200])) for name in calls}
    setters = [a.set_threads for a in artifacts.values()]
    with pinned_threads(1, setters):
        figures = measure_single_row(wrapped, list(range(200)), CONFIG, input_form="its own input kind")
    rows = []
    print(
        f"{'model':<10}{'pipeline':>11}{'artifact':>11}{'bare':>9}{'onnx':>9}{'pipeline/artifact':>19}"
        f"{'artifact/bare':>15}{'artifact/onnx':>15}"
    )
    for key in KEYS:
        p, a, b, o = (figures[f"{key}:{kind}"].p50_ms * 1e3 for kind in ("pipeline", "artifact", "bare", "onnx"))
        rows.append(
            {
                "model": key,
                "pipeline_us": p,
                "artifact_us": a,
                "bare_us": b,
                "onnx_us": o,
                "speedup": p / a,
                "overhead_bare": a / b,
                "overhead_onnx": a / o,
            }
        )
        print(f"{key:<10}{p:>8.1f} us{a:>8.1f} us{b:>6.1f} us{o:>6.1f} us{p / a:>18.1f}x{a / b:>14.1f}x{a / o:>14.1f}x")
    print(
        "p50 of 1,000 interleaved calls each, 1 thread; bare = the model alone on an encoded row (numpy for "
        "linear and tree, LightGBM's Booster.predict); onnx = the artifact's model.onnx in onnxruntime on an "
        "encoded row"
    )
    for r in rows:
        print(
            f"target {r['model']}: pipeline/artifact {r['speedup']:.1f}x (>= 20x: "
            f"{'OK' if r['speedup'] >= 20 else 'MISSED'}); artifact within 3x of the bare model: "
            f"{r['overhead_bare']:.1f}x numpy/native, {r['overhead_onnx']:.1f}x onnxruntime "
            f"({'OK' if min(r['overhead_bare'], r['overhead_onnx']) <= 3 else 'MISSED'})"
        )

    key = run.recommendation.key
    path = advisor.export(run, key, Path(home) / "recommended.zip")
    rows_file = Path(home) / "test.parquet"
    split.X_test.to_parquet(rows_file)
    script = (
        "import sys, json, pandas as pd, advisor\n"
        "m = advisor.load_artifact(sys.argv[1]); rows = pd.read_parquet(sys.argv[2])\n"
        "print(json.dumps([str(v) for v in m.predict(rows)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(rows_file)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    fresh = json.loads(done.stdout)
    here = [str(v) for v in artifacts[key].predict(split.X_test)]
    same = fresh == here
    print(
        f"recommended '{key}' exported ({path.stat().st_size / 1e3:.1f} kB), loaded in a fresh process, "
        f"{len(fresh)} test-split predictions: {'identical' if same else 'DIFFERENT'}"
    )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "artifact.json").write_text(json.dumps({"rows": rows, "round_trip_identical": same}, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
