"""The preprocessing inside every predictor: fitted on training rows only, same answer for every input form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advisor.data.encoder import TabularEncoder
from advisor.errors import InputSchemaError

ROLES = {"n": "numeric", "c": "categorical", "t": "text", "d": "datetime"}


def _frame(n=60):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "n": np.where(rng.random(n) < 0.1, np.nan, rng.normal(10, 2, n)),
            "c": rng.choice(["red", "green", "blue", None], n),
            "t": rng.choice(["a quick fox", "lazy dog", "quick dog", None], n),
            "d": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
        }
    )


def test_learns_from_training_rows_only():
    train = _frame()
    encoder = TabularEncoder(ROLES, min_frequency=1).fit(train)
    X = encoder.transform(train)
    assert X.shape == (60, encoder.n_features_out_) and X.dtype == np.float32
    assert abs(X[:, 0].mean()) < 1e-5  # scaled on these rows
    shifted = train.assign(n=train["n"] + 100)
    assert encoder.transform(shifted)[:, 0].mean() > 10  # not refitted on new rows


def test_unseen_and_missing_values_do_not_break_prediction():
    encoder = TabularEncoder(ROLES, min_frequency=1).fit(_frame())
    odd = pd.DataFrame({"n": [None], "c": ["purple"], "t": [None], "d": ["not a date"]})
    row = encoder.transform(odd)
    assert np.isfinite(row).all()
    other = encoder.feature_names_out_.index("c=<other>")
    assert row[0, other] == 1.0


@pytest.mark.parametrize("size", [1, 5, 200])
def test_dict_records_small_and_large_frames_agree(size):
    train = _frame(300)
    encoder = TabularEncoder(ROLES, min_frequency=1).fit(train)
    part = train.head(size)
    from_frame = encoder.transform(part)
    from_records = encoder.transform(part.to_dict(orient="records"))
    assert np.allclose(from_frame, from_records, equal_nan=True)
    assert np.allclose(encoder.transform(part.iloc[0].to_dict()), from_frame[:1])


def test_missing_column_is_named():
    encoder = TabularEncoder(ROLES).fit(_frame())
    with pytest.raises(InputSchemaError, match="Column 'c' is missing"):
        encoder.transform(_frame().drop(columns=["c"]))
    with pytest.raises(InputSchemaError, match="cannot be predicted"):
        encoder.transform(np.zeros((1, 4)))


def test_numbers_as_good_as_infinite_are_imputed_on_both_paths():
    """Found by the loader's fuzz test: 1.4e154 as text in a numeric column overflowed the scaling."""
    from advisor.deploy.fast import FastEncoder

    train = pd.DataFrame({"n": ["0.0"] * 20 + ["1.3870146134423377e+154", "inf", "-1e200", "2.5"]})
    with np.errstate(all="raise"):  # no overflow anywhere
        encoder = TabularEncoder({"n": "numeric"}).fit(train)
        batch = encoder.transform(train)
    assert np.isfinite(batch).all()
    fast = FastEncoder(encoder)
    for i, record in enumerate(train.to_dict(orient="records")):
        x, _ = fast(record)
        np.testing.assert_allclose(x, batch[i], rtol=1e-6)
