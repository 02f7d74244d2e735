"""The data a run trains on: the rows (sampled down to the row budget), their summary, and the
encoded arrays every candidate's process reads (the run context)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import IO, Any

import numpy as np
import pandas as pd

from advisor.data.encoder import TabularEncoder
from advisor.data.inspect import Dataset, load_dataset
from advisor.data.split import Split
from advisor.errors import AdvisorError, ConfigError
from advisor.execute.worker import FAST_PATH_CHECK_ROWS, RunContext

DEFAULT_ROW_BUDGET = 100_000  # training rows; above it, a stratified sample (the test split stays whole)


def prepare_dataset(
    data: str | os.PathLike[str] | bytes | IO[bytes] | pd.DataFrame | Dataset,
    target: str | None,
    *,
    name: str | None,
    task: str | None,
    primary_metric: str | None,
    max_bytes: int | None,
    miss_cost: float | None,
) -> Dataset:
    """The run's dataset, loaded and checked; with a miss cost, a binary task is ranked on the cost
    of its errors (see `advise`)."""
    if isinstance(data, Dataset):
        dataset = data
    else:
        if target is None:
            raise AdvisorError("No target column was given; name the column to predict (--target COL).")
        dataset = load_dataset(
            data,
            target,
            name=name,
            task=task,
            primary_metric=None if primary_metric == "error_cost" else primary_metric,
            max_bytes=max_bytes,
        )
    if primary_metric == "error_cost" and miss_cost is None:
        raise ConfigError("The metric error_cost needs a miss cost; give one, e.g. --miss-cost 10.")
    if miss_cost is not None and dataset.task == "binary":
        # The user said what errors cost: that cost is the quality every candidate is ranked on.
        positive = dataset.classes[1] if dataset.classes else "class 1"
        dataset = replace(
            dataset,
            primary_metric="error_cost",
            warnings=[
                *dataset.warnings,
                f"A missed '{positive}' costs {miss_cost:g} false alarms: candidates are ranked on the cost of their "
                f"errors per row ({miss_cost:g} x missed '{positive}' + false alarms, lower is better) instead of "
                f"{dataset.primary_metric}.",
            ],
        )
    return dataset


def sample_training_rows(
    split: Split, classification: bool, budget: int | None, seed: int
) -> tuple[Split, dict[str, int] | None]:
    """The split with at most `budget` training (and validation) rows, drawn stratified by class.

    The test split is never sampled: every quality figure is measured on all held-out rows."""
    if budget is None or len(split.X_train) <= budget:
        return split, None
    train = sample_positions(split.y_train, budget, seed, classification)
    val = sample_positions(split.y_val, budget, seed, classification)
    sampled = replace(
        split,
        X_train=split.X_train.iloc[train],
        y_train=split.y_train.iloc[train],
        X_val=split.X_val.iloc[val],
        y_val=split.y_val.iloc[val],
    )
    return sampled, {"train_rows": len(split.X_train), "validation_rows": len(split.X_val), "budget": budget}


def sample_positions(y: pd.Series, n: int, seed: int, stratify: bool) -> np.ndarray:
    """`n` row positions of `y`, stratified by class where every class has two rows or more."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    if n >= len(y):
        return positions
    labels = y.to_numpy() if stratify and y.value_counts().min() >= 2 else None
    try:
        keep, _ = train_test_split(positions, train_size=n, stratify=labels, random_state=seed)
    except ValueError:  # a class too small for the sample size: plain random rows
        keep, _ = train_test_split(positions, train_size=n, random_state=seed)
    return np.sort(keep)


def dataset_summary(
    dataset: Dataset, encoder: TabularEncoder, sampled: dict[str, int] | None, split: Split
) -> dict[str, Any]:
    summary = dataset.summary() | {"features_encoded": encoder.n_features_out_}
    if sampled:
        summary["sampled"] = sampled
        summary["warnings"] = [
            *summary.get("warnings", []),
            f"The candidates trained on a stratified sample of {len(split.X_train):,} of the "
            f"{sampled['train_rows']:,} training rows (the row budget; raise it with --row-budget); the test split "
            f"keeps all {len(split.X_test):,} rows, so every quality figure uses every held-out row. The learning "
            "curve shows whether more rows would help.",
        ]
    return summary


def run_context(dataset: Dataset, split: Split, encoder: TabularEncoder) -> RunContext:
    return RunContext(
        task=dataset.task,
        n_classes=len(dataset.classes) if dataset.classes else 0,
        class_weighting=dataset.class_weighting,
        seed=split.seed,
        primary_metric=dataset.primary_metric,
        target=dataset.target,
        classes=dataset.classes,
        encoder=encoder,
        X_train=encoder.transform(split.X_train),
        y_train=_encode_target(dataset, split.y_train),
        X_val=encoder.transform(split.X_val),
        y_val=_encode_target(dataset, split.y_val),
        X_test=encoder.transform(split.X_test),
        y_test=_encode_target(dataset, split.y_test),
        check_rows=split.X_test.head(FAST_PATH_CHECK_ROWS),
    )


def _encode_target(dataset: Dataset, y: pd.Series) -> np.ndarray:
    if dataset.is_classification:
        assert dataset.classes is not None
        index = {value: i for i, value in enumerate(dataset.classes)}
        return np.array([index[v] for v in y], dtype=np.int64)
    return y.to_numpy(dtype=np.float64)
