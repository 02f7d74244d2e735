"""Large data: above the row budget the candidates train on a stratified sample, the test split
stays whole, and a learning curve says whether more rows would help."""

from __future__ import annotations

import pandas as pd

import advisor
from advisor import QUICK_TIMING, advise
from advisor.data.inspect import load_dataset
from advisor.data.split import split_dataset
from advisor.pipeline.prepare import sample_training_rows

from conftest import DATA


def test_the_sample_is_stratified_and_the_test_split_whole():
    dataset = load_dataset(DATA / "adult.csv.gz", "income")
    split = split_dataset(dataset, seed=0)
    sampled, info = sample_training_rows(split, True, 2_000, seed=0)
    assert len(sampled.X_train) == len(sampled.y_train) == 2_000
    assert len(sampled.X_val) == 2_000
    assert sampled.X_test is split.X_test  # every held-out row stays
    assert info == {"train_rows": len(split.X_train), "validation_rows": len(split.X_val), "budget": 2_000}
    full = split.y_train.value_counts(normalize=True)
    part = sampled.y_train.value_counts(normalize=True)
    assert (part - full).abs().max() < 0.002  # class shares kept
    assert set(sampled.X_train.index) <= set(split.X_train.index)
    again, _ = sample_training_rows(split, True, 2_000, seed=0)
    assert again.X_train.index.equals(sampled.X_train.index)  # the same seed, the same rows
    assert sample_training_rows(split, True, None, 0)[0] is split


def test_a_run_over_the_budget_says_so_and_shows_a_learning_curve(tmp_path):
    run = advise(
        DATA / "titanic.csv",
        "Survived",
        candidates=["linear", "tree"],
        timing=QUICK_TIMING,
        store=tmp_path,
        row_budget=300,
    )
    assert run.split["train"] == 300 and run.split["test"] == 179
    assert run.dataset["sampled"]["train_rows"] == 534
    assert any("stratified sample of 300 of the 534 training rows" in w for w in run.dataset["warnings"])
    assert all(c.quality.test_rows == 179 for c in run.candidates)
    curve = run.learning_curve
    assert curve["key"] == run.recommendation.key or curve["key"] in ("linear", "tree")
    assert [p["rows"] for p in curve["points"]] == [75, 150, 300]
    assert curve["points"][-1]["primary"] == run.candidate(curve["key"]).quality.primary_value
    assert all(0 <= p["primary"] <= 1 for p in curve["points"])
    assert "more rows" in curve["verdict"]
    reopened = advisor.open_run(run.run_id, store=tmp_path)  # kept with the run
    assert reopened.learning_curve == curve
    from advisor.cli import render

    assert "Learning curve, " in render(reopened)
    report = advisor.build_report(reopened)
    assert "Would more rows help?" in report


def test_a_regression_run_samples_without_classes(tmp_path):
    frame = pd.read_csv(DATA / "diabetes.csv")
    run = advise(
        frame,
        "target",
        candidates=["linear"],
        timing=QUICK_TIMING,
        store=tmp_path,
        row_budget=100,
        with_learning_curve=False,
    )
    assert run.split["train"] == 100 and run.learning_curve is None
    assert run.candidate("linear").status == "measured"
