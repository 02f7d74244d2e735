"""Data in: formats, task and role detection, and one clear sentence per user mistake."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from advisor import _errors as errors
from advisor._data import inspect_table, load_dataset, load_table, split_dataset


def _one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    assert "Traceback" not in message


# --------------------------------------------------------------------------- formats


def test_reads_csv_gz_parquet_and_xlsx_alike(data_dir: Path, tmp_path: Path):
    frame, _ = load_table(data_dir / "penguins.csv")
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_excel(tmp_path / "p.xlsx", index=False)
    (tmp_path / "p.csv.gz").write_bytes(gzip.compress((data_dir / "penguins.csv").read_bytes()))
    for name in ("p.parquet", "p.xlsx", "p.csv.gz"):
        other, label = load_table(tmp_path / name)
        assert label == name
        assert other.shape == frame.shape
        assert list(other.columns) == list(frame.columns)


def test_reads_uploaded_bytes_by_name(data_dir: Path):
    raw = (data_dir / "titanic.csv").read_bytes()
    frame, label = load_table(raw, name="upload.csv")
    assert label == "upload.csv" and frame.shape == (891, 12)


def test_semicolon_csv_is_read(tmp_path: Path):
    rows = "a;b;y\n" + "\n".join(f"{i};{i % 3};{i % 2}" for i in range(40))
    (tmp_path / "semi.csv").write_text(rows)
    frame, _ = load_table(tmp_path / "semi.csv")
    assert list(frame.columns) == ["a", "b", "y"]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda d: d / "nope.csv", errors.FileNotFound, ["nope.csv", "does not exist"]),
        (lambda d: _write(d / "empty.csv", b""), errors.EmptyFile, ["empty.csv", "empty"]),
        (lambda d: _write(d / "header.csv", b"a,b,c\n"), errors.EmptyFile, ["header.csv", "no data rows"]),
        (lambda d: _write(d / "data.txt", b"a,b\n1,2\n"), errors.UnsupportedFormat, ["data.txt", ".csv"]),
        (lambda d: _write(d / "bad.xlsx", b"this is not a spreadsheet"), errors.UnreadableFile, ["bad.xlsx", "Excel"]),
        (lambda d: _write(d / "bad.parquet", b"PAR1 nonsense"), errors.UnreadableFile, ["bad.parquet", "Parquet"]),
        (lambda d: _write(d / "cut.csv.gz", _truncated_gzip()), errors.UnreadableFile, ["cut.csv.gz", "gzip"]),
    ],
)
def test_file_errors_are_one_sentence_naming_the_file(tmp_path, make, error, words):
    with pytest.raises(error) as caught:
        load_table(make(tmp_path))
    message = str(caught.value)
    _one_sentence(message)
    for word in words:
        assert word in message


def _truncated_gzip() -> bytes:
    rows = "\n".join(f"{i},{i * 7919 % 1000}" for i in range(5000)).encode()
    whole = gzip.compress(b"a,b\n" + rows)
    return whole[: len(whole) // 2]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_size_limit_names_the_file_and_the_limit(data_dir: Path):
    with pytest.raises(errors.FileTooLarge) as caught:
        load_table(data_dir / "titanic.csv", max_bytes=10_000)
    assert "titanic.csv" in str(caught.value) and "limit" in str(caught.value)


def test_unknown_target_suggests_the_closest_column(data_dir: Path):
    with pytest.raises(errors.UnknownColumn) as caught:
        load_dataset(data_dir / "titanic.csv", "Survivd")
    message = str(caught.value)
    _one_sentence(message)
    assert "'Survivd'" in message and "did you mean 'Survived'" in message


def _titanic(data_dir: Path) -> pd.DataFrame:
    return load_table(data_dir / "titanic.csv")[0]


def test_one_class_target(data_dir: Path):
    frame = _titanic(data_dir).assign(Survived=1)
    with pytest.raises(errors.OneClassTarget) as caught:
        inspect_table(frame, "Survived", "titanic.csv")
    _one_sentence(str(caught.value))
    assert "'Survived'" in str(caught.value) and "only one value" in str(caught.value)


def test_target_all_missing(data_dir: Path):
    frame = _titanic(data_dir).assign(Survived=np.nan)
    with pytest.raises(errors.TargetAllMissing) as caught:
        inspect_table(frame, "Survived", "titanic.csv")
    assert "'Survived'" in str(caught.value) and "titanic.csv" in str(caught.value)


def test_too_few_rows(data_dir: Path):
    with pytest.raises(errors.TooFewRows) as caught:
        inspect_table(_titanic(data_dir).head(12), "Survived", "titanic.csv")
    assert "12 rows" in str(caught.value)
    _one_sentence(str(caught.value))


def test_class_with_too_few_rows_is_named(data_dir: Path):
    frame = load_table(data_dir / "penguins.csv")[0]
    frame.loc[frame.index[:2], "species"] = "Emperor"
    with pytest.raises(errors.ClassTooSmall) as caught:
        inspect_table(frame, "species", "penguins.csv")
    assert "'Emperor'" in str(caught.value) and "'species'" in str(caught.value)


def test_regression_on_text_target_is_refused(data_dir: Path):
    with pytest.raises(errors.TaskMismatch) as caught:
        load_dataset(data_dir / "penguins.csv", "species", task="regression")
    assert "'species'" in str(caught.value)


def test_no_usable_feature(tmp_path: Path):
    frame = pd.DataFrame({"id": range(100), "y": [0, 1] * 50})
    with pytest.raises(errors.NoFeatures):
        inspect_table(frame, "y", "ids.csv")


def test_rows_without_target_are_dropped_with_a_note(data_dir: Path):
    frame = _titanic(data_dir)
    frame.loc[frame.index[:10], "Survived"] = np.nan
    dataset = inspect_table(frame, "Survived", "titanic.csv")
    assert len(dataset.frame) == 881
    assert any("10 rows have no value" in w for w in dataset.warnings)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "file, target, task",
    [
        ("titanic.csv", "Survived", "binary"),
        ("adult.csv.gz", "income", "binary"),
        ("penguins.csv", "species", "multiclass"),
        ("digits.csv", "target", "multiclass"),
        ("diabetes.csv", "target", "regression"),
        ("california_housing.csv.gz", "median_house_value", "regression"),
    ],
)
def test_task_detection_on_real_sets(data_dir: Path, file, target, task):
    assert load_dataset(data_dir / file, target).task == task


def test_titanic_roles(data_dir: Path):
    roles = load_dataset(data_dir / "titanic.csv", "Survived").roles
    assert roles["PassengerId"] == "id"  # a row number
    assert roles["Name"] == "id"  # different in every row
    assert roles["Ticket"] == "text"  # 681 distinct strings
    assert roles["Sex"] == "categorical"
    assert roles["Age"] == "numeric"  # with missing values


def test_leakage_datetime_and_numbers_as_text_are_detected(data_dir: Path):
    frame = _titanic(data_dir)
    frame["outcome_copy"] = frame["Survived"].map({0: "died", 1: "survived"})
    frame["boarded"] = pd.date_range("1912-04-10", periods=len(frame), freq="h").astype(str)
    frame["fare_text"] = frame["Fare"].astype(str)
    frame["constant"] = "same"
    dataset = inspect_table(frame, "Survived", "titanic.csv")
    roles = dataset.roles
    assert roles["outcome_copy"] == "leakage"
    assert roles["boarded"] == "datetime"
    assert roles["fare_text"] == "numeric"
    assert roles["constant"] == "constant"
    assert "outcome_copy" not in dataset.feature_columns
    assert any("outcome_copy" in w and "leakage" in w for w in dataset.warnings)


def test_regression_leak_is_detected(data_dir: Path):
    frame = load_table(data_dir / "diabetes.csv")[0]
    frame["target_again"] = frame["target"] * 2.0 + 1.0
    assert inspect_table(frame, "target", "diabetes.csv").roles["target_again"] == "leakage"


def test_imbalance_switches_to_balanced_accuracy(data_dir: Path):
    frame = load_table(data_dir / "adult.csv.gz")[0]
    rich = frame[frame["income"] == ">50K"].head(150)
    rest = frame[frame["income"] == "<=50K"].head(2850)
    dataset = inspect_table(pd.concat([rich, rest]), "income", "adult.csv.gz")
    assert dataset.primary_metric == "balanced_accuracy"
    assert dataset.class_weighting
    assert any("imbalanced" in w for w in dataset.warnings)
    balanced = load_dataset(data_dir / "adult.csv.gz", "income")  # 24% minority: not imbalanced
    assert balanced.primary_metric == "accuracy" and not balanced.class_weighting


def test_primary_metric_override_is_checked(data_dir: Path):
    assert load_dataset(data_dir / "titanic.csv", "Survived", primary_metric="roc_auc").primary_metric == "roc_auc"
    with pytest.raises(errors.UnknownKey) as caught:
        load_dataset(data_dir / "titanic.csv", "Survived", primary_metric="r2")
    assert "'r2'" in str(caught.value)


# --------------------------------------------------------------------------- split


def test_split_is_stratified_seeded_and_disjoint(data_dir: Path):
    dataset = load_dataset(data_dir / "penguins.csv", "species")
    a, b = split_dataset(dataset, seed=0), split_dataset(dataset, seed=0)
    assert list(a.X_test.index) == list(b.X_test.index)
    parts = [set(a.X_train.index), set(a.X_val.index), set(a.X_test.index)]
    assert sum(map(len, parts)) == len(dataset.frame) and len(set.union(*parts)) == len(dataset.frame)
    share = dataset.frame["species"].value_counts(normalize=True)
    test_share = a.y_test.value_counts(normalize=True)
    assert (share - test_share).abs().max() < 0.05
    assert sum(a.sizes().values()) == len(dataset.frame)
