"""The train / validation / test split of a `Dataset`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from advisor.data.inspect import Dataset


@dataclass
class Split:
    """Train / validation / test rows, features and target kept apart."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_val: pd.DataFrame
    y_val: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    seed: int

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.X_train), "validation": len(self.X_val), "test": len(self.X_test)}


def split_dataset(dataset: Dataset, seed: int = 0, fractions: Mapping[str, float] | None = None) -> Split:
    """Stratified (for classes) train / validation / test split, 60 / 20 / 20 by default."""
    from sklearn.model_selection import train_test_split

    fractions = dict(fractions or {"validation": 0.2, "test": 0.2})
    X = dataset.frame[dataset.feature_columns]
    y = dataset.frame[dataset.target]
    stratify = y if dataset.is_classification else None
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=fractions["test"], random_state=seed, stratify=stratify
    )
    val_share = fractions["validation"] / (1.0 - fractions["test"])
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest,
        y_rest,
        test_size=val_share,
        random_state=seed,
        stratify=y_rest if dataset.is_classification else None,
    )
    return Split(X_train, y_train, X_val, y_val, X_test, y_test, seed)
