"""Deployment benchmark on adult: the exported artifact's single-row path against the usual way.

    python bench/bench_artifact.py

For the linear model, the tree, the forest, LightGBM, the MLP in fp32, fp16, bf16 and int8,
and the ensemble (LightGBM + MLP), one run of the timer (interleaved, 1 thread, 1,000 calls
after 200 warm-up) times the ways of answering one row:
- pipeline (table models only): the same estimator (class and parameters), fitted on the same
  training rows, behind a plain scikit-learn Pipeline (ColumnTransformer: impute, one-hot,
  scale) called with a one-row DataFrame: how such models are usually shipped;
- artifact: the advisor's exported artifact, loaded with load_artifact, given one dict (the
  schema check included);
- fast form: the artifact's compiled model alone on a row that is already encoded (numpy, or
  LightGBM's C single-row predict);
- runtime: the model's own runtime on that encoded row as a 1-row matrix (scikit-learn,
  LightGBM's Booster.predict, torch; the ensemble: each member's);
- onnx: the artifact's model.onnx in onnxruntime, where it has one.
Targets: pipeline / artifact >= 20x; artifact within 3x of the model's own runtime; LightGBM's
artifact within 1.5x of bare onnxruntime. Then the recommended candidate is exported, loaded
in a fresh Python process, and its test-split predictions compared.
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

KEYS = ("linear", "tree", "forest", "lightgbm", "mlp", "mlp-fp16", "mlp-bf16", "mlp-int8", "ensemble")
PIPELINES = ("linear", "tree", "forest", "lightgbm")  # the ones a plain scikit-learn Pipeline can hold
CONFIG = TimingConfig(warmup_calls=200, calls=1000, rounds=10)


def onnx_session(path: Path):
    """The artifact's model.onnx in onnxruntime (1 thread): the bare model, the ONNX way; None
    when the artifact has no ONNX form (fp16, bf16 and int8 networks, the ensemble)."""
    import zipfile

    import onnxruntime

    if "model.onnx" not in zipfile.ZipFile(path).namelist():
        return None

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
    from sklearn.ensemble import RandomForestClassifier
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
        "forest": lambda: RandomForestClassifier(random_state=0, n_jobs=1, **params),
        "lightgbm": lambda: lightgbm.LGBMClassifier(random_state=0, n_jobs=1, verbose=-1, **params),
    }[key]()
    return make_pipeline(preprocess, model).fit(split.X_train, split.y_train)


def main() -> int:
    home = tempfile.mkdtemp()
    data = ROOT / "datasets" / "adult.csv.gz"
    run = advisor.advise(
        data, "income", candidates=list(KEYS), store=home, timing=advisor.QUICK_TIMING, with_learning_curve=False
    )
    dataset = advisor.load_dataset(data, "income")
    split = advisor.split_dataset(dataset)
    records = split.X_test.head(200).to_dict(orient="records")
    frames = [split.X_test.iloc[[i]] for i in range(200)]

    calls, inputs = {}, {}
    artifacts = {k: advisor.load_artifact(advisor.export(run, k, Path(home) / f"{k}.zip")) for k in KEYS}
    encoded = list(artifacts["linear"].predictor.encoder.transform(split.X_test.head(200)))
    matrices = [row[None, :] for row in encoded]
    kinds = {}
    for key in KEYS:
        artifact = artifacts[key]
        model = artifact.predictor.model
        scorer = compile_model(model)
        onnx = onnx_session(Path(home) / f"{key}.zip")
        kinds[key] = {
            "artifact": (artifact.predict_proba, records),
            "fast": (scorer, encoded),
            "runtime": (model.scores, matrices),
            "onnx": ((lambda x, s=onnx: s(x)) if onnx else None, matrices),
        }
        if key in PIPELINES:
            kinds[key]["pipeline"] = (sklearn_pipeline(key, dataset, split).predict_proba, frames)
        for kind, (call, rows) in kinds[key].items():
            if call is not None:
                calls[f"{key}:{kind}"], inputs[f"{key}:{kind}"] = call, rows
    # one timer run, all interleaved; each call gets its own kind of input
    cycling = {name: iter(range(10**9)) for name in calls}
    wrapped = {name: (lambda _, n=name: calls[n](inputs[n][next(cycling[n]) % 200])) for name in calls}
    setters = [a.set_threads for a in artifacts.values()]
    with pinned_threads(1, setters):
        figures = measure_single_row(wrapped, list(range(200)), CONFIG, input_form="its own input kind")

    def us(key: str, kind: str) -> float | None:
        figure = figures.get(f"{key}:{kind}")
        return None if figure is None else figure.p50_ms * 1e3

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    rows = []
    columns = ("pipeline", "artifact", "fast form", "runtime", "onnx", "pipe/art", "art/runtime", "art/onnx")
    print(f"{'model':<10}" + "".join(f"{c:>12}" for c in columns) + "  fast path")
    for key in KEYS:
        p, a, f, r, o = (us(key, kind) for kind in ("pipeline", "artifact", "fast", "runtime", "onnx"))
        check = artifacts[key].predictor.fast_path_check or {}
        row = {
            "model": key,
            "pipeline_us": p,
            "artifact_us": a,
            "fast_form_us": f,
            "runtime_us": r,
            "onnx_us": o,
            "speedup": ratio(p, a),
            "overhead_runtime": ratio(a, r),
            "overhead_onnx": ratio(a, o),
            "fast_path": bool(artifacts[key].predictor.fast_single_row),
            "fast_path_model": check.get("model"),
            "fast_path_max_relative_difference": check.get("max_relative_difference"),
        }
        rows.append(row)
        cells = [p, a, f, r, o]
        text = "".join(f"{'-':>12}" if v is None else f"{v:>9.1f} us" for v in cells)
        text += "".join(
            f"{'-':>12}" if v is None else f"{v:>11.1f}x" for v in (row["speedup"], ratio(a, r), ratio(a, o))
        )
        print(f"{key:<10}{text}  {'on' if row['fast_path'] else 'OFF'}: {row['fast_path_model']}")
    print(
        "p50 of 1,000 interleaved calls each, 1 thread; fast form = the artifact's compiled model alone on an "
        "encoded row; runtime = the model's own runtime on that row as a 1-row matrix; onnx = the artifact's "
        "model.onnx in onnxruntime"
    )
    for r in rows:
        verdicts = [f"artifact / own runtime {r['overhead_runtime']:.2f}x (<= 3x: {_ok(r['overhead_runtime'] <= 3)})"]
        if r["speedup"] is not None:
            verdicts.insert(0, f"pipeline / artifact {r['speedup']:.0f}x (>= 20x: {_ok(r['speedup'] >= 20)})")
        if r["model"] == "lightgbm":
            verdicts.append(
                f"artifact / onnxruntime {r['overhead_onnx']:.2f}x (<= 1.5x: {_ok(r['overhead_onnx'] <= 1.5)})"
            )
        print(f"target {r['model']}: " + "; ".join(verdicts))

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


def _ok(met: bool) -> str:
    return "OK" if met else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
