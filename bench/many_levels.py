"""How to encode a string column of many short codes (tickets, cabins, agent ids): the measurement
behind the encoder's choice.

    python bench/many_levels.py

Variants, all fitted on the train split only:
- text: hashed word counts (16 buckets), how such columns were encoded before they became
  categorical;
- one-hot K / min F: the K most frequent values seen at least F times, the rest grouped as "other";
- one-hot 30 + frequency: one-hot 30 plus one column with log(1 + the value's training count),
  standardised (0 for unseen values).
Each is scored by validation ROC AUC for a logistic regression, a random forest and an MLP, on
titanic (Ticket, Cabin) over five splits, and on a synthetic table (a Zipf-distributed code of
600 levels whose effect on the target is random per level) over three. Writes
bench/out/many_levels.json.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import advisor  # noqa: E402
from advisor.data.encoder import MISSING, TabularEncoder, _strings  # noqa: E402

Encode = Callable[[pd.DataFrame, pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def variants(roles: dict[str, str], codes: list[str]) -> dict[str, Encode]:
    def one_hot(k: int, f: int, as_text: bool = False, frequency: bool = False) -> Encode:
        use = {c: ("text" if as_text and c in codes else r) for c, r in roles.items()}

        def encode(train: pd.DataFrame, val: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            encoder = TabularEncoder(use, max_categories=k, min_frequency=f).fit(train)
            a, b = encoder.transform(train), encoder.transform(val)
            if frequency:
                extra_a, extra_b = [], []
                for c in codes:
                    counts = pd.Series(_strings(train[c])).value_counts()
                    counts = counts.drop(MISSING, errors="ignore")
                    fa = np.log1p(np.array([counts.get(v, 0) for v in _strings(train[c])], dtype=float))
                    fb = np.log1p(np.array([counts.get(v, 0) for v in _strings(val[c])], dtype=float))
                    mean, scale = fa.mean(), fa.std() or 1.0
                    extra_a.append((fa - mean) / scale)
                    extra_b.append((fb - mean) / scale)
                a = np.column_stack([a, *extra_a]).astype(np.float32)
                b = np.column_stack([b, *extra_b]).astype(np.float32)
            return a, b

        return encode

    return {
        "text": one_hot(30, 5, as_text=True),
        "one-hot 30 / min 5": one_hot(30, 5),
        "one-hot 100 / min 5": one_hot(100, 5),
        "one-hot 100 / min 2": one_hot(100, 2),
        "one-hot 64 / min 3": one_hot(64, 3),
        "one-hot 64 / min 2": one_hot(64, 2),
        "one-hot 30 + frequency": one_hot(30, 5, frequency=True),
    }


def models() -> dict[str, Callable[[], object]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    return {
        "logistic": lambda: LogisticRegression(C=1.0, max_iter=2000),
        "forest": lambda: RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=0, n_jobs=1),
        "mlp": lambda: MLPClassifier((64,), alpha=1e-3, max_iter=400, early_stopping=True, random_state=0),
    }


def synthetic(seed: int = 0, n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    levels = np.array([f"AG-{i:04d}" for i in range(600)])
    code = levels[np.minimum(rng.zipf(1.3, n), 600) - 1]
    effect = dict(zip(levels, rng.normal(0, 1.2, len(levels)), strict=True))
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    shop = rng.choice([f"S{i}" for i in range(150)], n)
    logit = 0.8 * x1 - 0.5 * x2 + np.array([effect[c] for c in code])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "agent": code, "shop": shop, "y": y})


def score(frame: pd.DataFrame, target: str, codes: list[str], seeds: range) -> dict[str, dict[str, float]]:
    from sklearn.metrics import roc_auc_score

    dataset = advisor.load_dataset(frame, target)
    roles = dict(dataset.roles)
    roles.update(dict.fromkeys(codes, "categorical"))
    out: dict[str, dict[str, float]] = {}
    for name, encode in variants(roles, codes).items():
        aucs: dict[str, list[float]] = {m: [] for m in models()}
        for seed in seeds:
            split = advisor.split_dataset(dataset, seed=seed)
            a, b = encode(split.X_train, split.X_val)
            for key, make in models().items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = make().fit(a, split.y_train)
                aucs[key].append(roc_auc_score(split.y_val, model.predict_proba(b)[:, 1]))
        out[name] = {m: float(np.mean(v)) for m, v in aucs.items()} | {"width": int(a.shape[1])}
        print(f"  {name:<26}" + "".join(f"{m} {v:.4f}  " for m, v in out[name].items() if m != "width"), a.shape[1])
    return out


def main() -> int:
    results = {}
    print("titanic (Ticket, Cabin), validation ROC AUC, mean of 5 splits; last: feature width")
    titanic = pd.read_csv(ROOT / "datasets" / "titanic.csv")
    results["titanic"] = score(titanic, "Survived", ["Ticket", "Cabin"], range(5))
    print("synthetic (agent: 600 Zipf levels with random effects; shop: 150 uniform levels, no effect)")
    results["synthetic"] = score(synthetic(), "y", ["agent", "shop"], range(3))
    out = ROOT / "bench" / "out" / "many_levels.json"
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
