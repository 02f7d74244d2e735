"""The binary decision threshold: chosen on the validation split, recorded, stored in the artifact
and applied by predict (batch and one-dict fast path)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import advisor
from advisor import QUICK_TIMING, ConfigError, advise
from advisor.candidates.threshold import MIN_GAIN, check_miss_cost, choose_threshold

from conftest import DATA, PROJECT


def _imbalanced(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """900 negatives scored 0-0.45, 100 positives scored 0.2-0.6: argmax misses most positives."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(900, dtype=int), np.ones(100, dtype=int)]
    p = np.r_[rng.uniform(0.0, 0.45, 900), rng.uniform(0.2, 0.6, 100)]
    return y, np.column_stack([1 - p, p])


def test_imbalanced_balanced_accuracy_picks_a_lower_threshold():
    y, scores = _imbalanced()
    threshold, method = choose_threshold(y, scores, "balanced_accuracy", positive_label=">50K")
    assert threshold < 0.45
    at = (scores[:, 1] >= threshold).astype(int)
    recall = lambda predicted: (predicted[y == 1].mean() + (1 - predicted[y == 0]).mean()) / 2  # noqa: E731
    assert recall(at) > recall((scores[:, 1] >= 0.5).astype(int)) + MIN_GAIN
    assert "validation split (1,000 rows)" in method and "'>50K'" in method and "balanced_accuracy" in method
    assert "\n" not in method


def test_a_higher_miss_cost_picks_a_lower_threshold():
    y, scores = _imbalanced()
    cheap, _ = choose_threshold(y, scores, "accuracy", miss_cost=1)
    dear, method = choose_threshold(y, scores, "accuracy", miss_cost=10)
    assert dear < cheap
    assert "minimise 10 x missed" in method
    flagged = scores[:, 1] >= dear
    cost = 10 * int((~flagged & (y == 1)).sum()) + int((flagged & (y == 0)).sum())
    for other in np.linspace(0.01, 0.99, 99):  # nothing on a grid does better on these rows
        grid = scores[:, 1] >= other
        assert cost <= 10 * int((~grid & (y == 1)).sum()) + int((grid & (y == 0)).sum())


def test_a_tie_keeps_one_half():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9])  # every cutoff in (0.2, 0.8] is perfect
    for metric in ("accuracy", "balanced_accuracy", "f1_macro"):
        assert choose_threshold(y, p, metric)[0] == 0.5
    assert choose_threshold(y, p, "accuracy", miss_cost=3)[0] == 0.5


def test_a_trivial_gain_keeps_one_half_and_threshold_free_metrics_keep_it_too():
    y = np.r_[np.zeros(500, dtype=int), np.ones(500, dtype=int)]
    p = np.r_[np.linspace(0.0, 0.45, 500), np.linspace(0.6, 1.0, 500)]
    p[0] = 0.52  # one negative above 0.5: a cutoff past it gains 1 row in 1,000, less than MIN_GAIN
    threshold, method = choose_threshold(y, p, "accuracy")
    assert threshold == 0.5 and method.startswith("0.5 kept")
    for metric in ("roc_auc", "log_loss"):
        threshold, method = choose_threshold(*_imbalanced(), metric)
        assert threshold == 0.5 and "does not depend on the threshold" in method


def test_the_search_is_fast_on_50k_rows():
    import time

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 50_000)
    p = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    start = time.perf_counter()
    choose_threshold(y, p, "f1_macro")
    choose_threshold(y, p, "accuracy", miss_cost=4)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("bad", [0, -2, float("nan"), float("inf"), "ten", True])
def test_the_miss_cost_must_be_a_positive_number(bad):
    with pytest.raises(ConfigError) as caught:
        check_miss_cost(bad)
    assert "positive number" in str(caught.value) and "\n" not in str(caught.value)
    assert check_miss_cost(None) is None and check_miss_cost(10) == 10.0


def test_cli_refuses_a_bad_miss_cost_in_one_sentence(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "advisor", "run", "datasets/titanic.csv", "--target", "Survived", "--miss-cost", "-1"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "ADVISOR_HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 2 and "positive number" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- a real binary run


@pytest.fixture(scope="module")
def rare_run(tmp_path_factory):
    """Adult with 5% positives (class-weighted training), and a missed '>50K' costs 5 false alarms."""
    frame = pd.read_csv(DATA / "adult.csv.gz")
    rare = frame[frame["income"] == ">50K"].sample(120, random_state=0)
    common = frame[frame["income"] == "<=50K"].sample(2280, random_state=0)
    data = pd.concat([rare, common]).sample(frac=1, random_state=0)
    home = tmp_path_factory.mktemp("home")
    run = advise(
        data,
        "income",
        name="adult-rare.csv",
        store=home,
        timing=QUICK_TIMING,
        candidates=["linear", "lightgbm-fast"],
        miss_cost=5,
        with_learning_curve=False,
    )
    dataset = advisor.load_dataset(data, "income", name="adult-rare.csv")
    return run, advisor.split_dataset(dataset).X_test, home


@pytest.mark.parametrize("key", ["linear", "lightgbm-fast"])
def test_the_exported_artifact_predicts_at_its_stored_threshold(rare_run, key, tmp_path: Path):
    run, rows, _ = rare_run
    candidate = run.candidate(key)
    path = advisor.export(run, key, tmp_path / f"{key}.zip")
    artifact = advisor.load_artifact(path)
    threshold = artifact.threshold
    # The models train class-weighted here (5% positives), so their probabilities overstate '>50K':
    # at a miss cost of 5 the chosen threshold moves away from 0.5, up rather than down.
    assert threshold is not None and 0 < threshold < 1 and threshold != 0.5
    assert candidate.quality.threshold == threshold
    assert "minimise 5 x missed '>50K'" in candidate.quality.threshold_method
    proba = artifact.predict_proba(rows)
    expected = np.where(proba[:, 1] >= threshold, ">50K", "<=50K")
    assert ((proba[:, 1] >= threshold) != (proba.argmax(axis=1) == 1)).any()  # the threshold changes labels here
    assert list(artifact.predict(rows)) == list(expected)
    records = rows.to_dict(orient="records")
    assert [artifact.predict(r)[0] for r in records] == list(expected)  # one dict, the fast path where verified
    if key == "linear":
        assert artifact.predictor.fast_single_row
    with zipfile.ZipFile(path) as archive:
        spec = json.loads(archive.read("preprocessing.json"))
        metrics = json.loads(archive.read("metrics.json"))
        card = archive.read("MODEL_CARD.md").decode()
    assert spec["decision"]["threshold"] == threshold and spec["decision"]["positive_class"] == ">50K"
    assert metrics["decision"]["threshold"] == metrics["candidate"]["quality"]["threshold"] == threshold
    assert f"predicts '>50K' when its probability is at least {threshold:.4g}" in card


def test_test_metrics_use_the_threshold_and_the_setting_is_saved(rare_run):
    run, _, home = rare_run
    quality = run.candidate("lightgbm-fast").quality
    missed, caught = quality.confusion[1]  # rows: true class; '>50K' is the second
    assert quality.per_class[">50K"]["recall"] == pytest.approx(caught / (missed + caught))
    assert run.settings["options"]["miss_cost"] == 5.0
    assert advisor.open_run(run.run_id, store=home).settings["options"]["miss_cost"] == 5.0  # resume reads it there


def test_a_predictor_saved_before_thresholds_predicts_the_most_probable_class(rare_run):
    run, rows, _ = rare_run
    predictor = advisor.load_artifact(run.candidate("linear").artifact).predictor
    del predictor.threshold, predictor.threshold_method  # as unpickled from an older artifact
    proba = predictor.predict_proba(rows)
    assert list(predictor.predict(rows)) == list(predictor.classes[proba.argmax(axis=1)])
    assert predictor.predict(rows.iloc[0].to_dict())[0] == predictor.classes[proba[0].argmax()]
    from advisor.deploy.describe import decision_rule

    assert "highest probability" in decision_rule(predictor)["rule"]


def test_a_miss_cost_makes_the_cost_of_errors_the_primary_metric(tmp_path):
    """With a miss cost the ranking, the skill check and the intervals all use the cost of errors."""
    import pandas as pd

    from advisor import QUICK_TIMING, advise
    from advisor.measure.figures import error_costs

    from conftest import DATA

    frame = pd.read_csv(DATA / "adult.csv.gz").sample(3000, random_state=2)
    run = advise(
        frame,
        "income",
        name="adult-cost.csv",
        store=tmp_path,
        timing=QUICK_TIMING,
        candidates=["linear", "lightgbm-fast"],
        miss_cost=5,
    )
    assert run.primary_metric == "error_cost"
    assert any("costs 5 false alarms" in w for w in run.dataset["warnings"])
    baseline = run.candidate("baseline").quality
    chosen = run.candidate(run.recommendation.key).quality
    # the no-skill reference is the cheaper constant policy: flag everyone or no one
    assert baseline.primary_value <= min(5 * 0.241, 1 - 0.241) + 0.05
    assert chosen.primary_value < baseline.primary_value and chosen.primary_ci95_high < baseline.primary_value
    confusion = chosen.confusion
    missed, false_alarms = confusion[1][0], confusion[0][1]
    assert chosen.primary_value == pytest.approx((5 * missed + false_alarms) / chosen.test_rows)
    assert error_costs(np.array([1, 0, 1, 0]), np.array([0, 1, 1, 0]), 5).tolist() == [5, 1, 0, 0]


def test_a_cancelled_run_with_a_miss_cost_resumes_on_the_cost_of_errors(tmp_path):
    from conftest import DATA as data

    frame = pd.read_csv(data / "adult.csv.gz").sample(1500, random_state=3)
    events = {"trained": 0}

    def progress(event):
        if event.stage == "train" and event.message.endswith("trained"):
            events["trained"] += 1

    run = advise(
        frame,
        "income",
        name="adult-cost.csv",
        store=tmp_path,
        timing=QUICK_TIMING,
        candidates=["linear", "tree", "lightgbm-fast"],
        miss_cost=4,
        progress=progress,
        should_stop=lambda: events["trained"] >= 2,
    )
    assert run.status == "cancelled" and run.primary_metric == "error_cost"
    finished = advisor.resume(run.run_id, store=tmp_path, timing=QUICK_TIMING)
    assert finished.status == "complete" and finished.primary_metric == "error_cost"
    assert finished.settings["options"]["miss_cost"] == 4.0
    assert all(c.quality.primary_metric == "error_cost" for c in finished.candidates if c.quality)
    assert finished.recommendation.key not in (None, "baseline")
