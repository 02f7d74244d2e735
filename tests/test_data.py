"""Data in: formats, task and role detection, and one clear sentence per user mistake."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from advisor import errors
from advisor.data.inspect import inspect_table, load_dataset
from advisor.data.read import load_table
from advisor.data.split import split_dataset


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
    assert roles["Ticket"] == "categorical"  # 681 distinct short codes: the frequent kept, the rare grouped
    assert roles["Cabin"] == "categorical"
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


# --------------------------------------------------------------------------- header rows


CORPUS = Path(__file__).resolve().parent / "bad_inputs"


def test_headerless_file_refuses_a_target_from_its_first_line_saying_to_add_a_header():
    """headerless.csv runs with column_1..column_5 (see the corpus); a target from its first line
    (as if it were the header) is refused in one sentence naming the generated names."""
    with pytest.raises(errors.UnknownColumn) as caught:
        load_dataset(CORPUS / "headerless.csv", "setosa")
    message = str(caught.value)
    _one_sentence(message)
    assert "column_1 to column_5" in message and "add a header row" in message


def test_headerless_workbook_gets_generated_names(tmp_path: Path):
    rows = [[5.1 + i % 7 / 10, 3.5 - i % 5 / 10, ("setosa", "virginica")[i % 2]] for i in range(40)]
    pd.DataFrame(rows).to_excel(tmp_path / "iris.xlsx", index=False, header=False)
    frame, _ = load_table(tmp_path / "iris.xlsx")
    assert list(frame.columns) == ["column_1", "column_2", "column_3"] and len(frame) == 40
    assert any("not column names" in w for w in frame.attrs["advisor_warnings"])


@pytest.mark.parametrize(
    "header",
    [
        "0,1,2,3",  # what pandas writes for a numpy array's columns
        "2019,2020,2021,2022",  # years, above counts in the millions
        "0.5,1.0,1.5,2.0",  # wavelengths or thresholds: a regular run
    ],
)
def test_numbers_as_names_stay_names(tmp_path: Path, header: str):
    body = "\n".join(f"{i * 7 % 11 * 1e6 + 3},{i % 3 * 1e6 + 1},{i * 1e6},{i % 2 * 2e6}" for i in range(40))
    (tmp_path / "n.csv").write_text(f"{header}\n{body}\n")
    frame, _ = load_table(tmp_path / "n.csv")
    assert list(frame.columns) == header.split(",") and len(frame) == 40
    assert not frame.attrs.get("advisor_warnings")


def test_repeated_header_rows_in_a_workbook_are_dropped_by_sheet_row(tmp_path: Path):
    part = pd.DataFrame({"size": range(20), "label": ["a", "b"] * 10})
    pd.concat([part, pd.DataFrame([["size", "label"]], columns=part.columns), part]).to_excel(
        tmp_path / "joined.xlsx", index=False
    )
    frame, _ = load_table(tmp_path / "joined.xlsx")
    assert len(frame) == 40 and pd.api.types.is_integer_dtype(frame["size"])
    assert any("(sheet row 22)" in w for w in frame.attrs["advisor_warnings"])


# --------------------------------------------------------------------------- numbers as people write them


def test_european_numbers_are_read_but_dotted_dates_are_not(tmp_path: Path):
    """pandas' thousands='.' would turn 01.02.2024 into 1022024: the dates must stay dates."""
    lines = [f"{i % 28 + 1:02d}.02.2024;{i + 1}.{i * 37 % 1000:03d},5;{i % 2}" for i in range(40)]
    (tmp_path / "eu.csv").write_text("day;amount;label\n" + "\n".join(lines) + "\n")
    dataset = load_dataset(tmp_path / "eu.csv", "label")
    assert dataset.frame["amount"].iloc[1] == 2037.5
    assert dataset.roles == {"day": "datetime", "amount": "numeric"}
    assert any("decimal comma" in w for w in dataset.warnings)


def test_a_few_words_in_a_numeric_target_leave_their_rows_out():
    frame = pd.DataFrame({"x": [i % 13 for i in range(100)], "y": [str(i * 37 % 101) for i in range(100)]})
    frame.loc[7, "y"] = "ask"
    dataset = inspect_table(frame, "y", "prices.csv")
    assert dataset.task == "regression" and len(dataset.frame) == 99
    assert dataset.frame["y"].notna().all()
    assert any("'ask'" in w and "left out" in w for w in dataset.warnings)


# --------------------------------------------------------------------------- advice per target type


def _table_with_target(values: list[object]) -> pd.DataFrame:
    raw = pd.DataFrame({"x": [i % 13 for i in range(len(values))], "target": values}).to_csv(index=False)
    return load_table(raw.encode(), name="t.csv")[0]


TARGETS = {
    "dates": ([f"2023-{i % 12 + 1:02d}-{i % 28 + 1:02d}" for i in range(150)], "derive a number"),
    "free text": ([f"the room was clean and quiet {i}" for i in range(150)], "free text"),
    "two currencies": ([f"{'$€'[i % 2]}{i * 31.5:,.2f}" for i in range(150)], "one currency"),
    "numbers and words": (["ask" if i % 4 == 0 else str(i * 1.5) for i in range(150)], "correct those cells"),
    "many codes": ([f"C-{i:04d}" for i in range(150)], "too many classes"),
}


@pytest.mark.parametrize("kind", list(TARGETS))
@pytest.mark.parametrize("task", [None, "regression", "binary", "multiclass"])
def test_target_advice_fits_the_target_and_never_goes_in_circles(kind: str, task: str | None):
    """Whatever task is asked, the refusal names what the target holds; a task it suggests works."""
    values, words = TARGETS[kind]
    frame = _table_with_target(values)
    with pytest.raises(errors.TaskMismatch) as caught:
        inspect_table(frame, "target", "t.csv", task=task)
    message = str(caught.value)
    _one_sentence(message)
    assert words in message, message
    for suggested in ("regression", "binary", "multiclass"):
        if f"choose {suggested}" in message or f"choose the {suggested}" in message:
            inspect_table(frame, "target", "t.csv", task=suggested)


def test_missing_markers_in_a_numeric_target_make_it_a_regression_target():
    """'?' and 'n.a.' once sent the user to regression, which then sent them back to classes."""
    frame = _table_with_target(["?" if i % 5 == 0 else "n.a." if i % 7 == 0 else i * 1.5 for i in range(150)])
    for task in (None, "regression"):
        dataset = inspect_table(frame, "target", "t.csv", task=task)
        assert dataset.task == "regression" and dataset.frame["target"].notna().all()
        assert any("'?' and 'n.a.'" in w for w in dataset.warnings)
    with pytest.raises(errors.TaskMismatch, match="choose the regression task"):
        inspect_table(frame, "target", "t.csv", task="multiclass")


@pytest.mark.parametrize("value, words", [(1e200, "too large to use, such as 1e+200"), (np.inf, "only infinite")])
def test_target_too_large_names_the_value(value: float, words: str):
    """Also for a table that did not come through load_table (whose repairs would have caught it)."""
    frame = pd.DataFrame({"x": range(40), "y": [value * (1 + i % 3) for i in range(40)]})
    with pytest.raises(errors.TargetAllMissing) as caught:
        inspect_table(frame, "y", "big.csv")
    _one_sentence(str(caught.value))
    assert words in str(caught.value) and "'y'" in str(caught.value)


def test_mixed_time_zones_are_converted_to_utc_with_a_note():
    times = ["2024-01-01T10:00:00+01:00", "2024-06-01T10:00:00-05:00", "2024-03-01 10:00:00"]
    frame = pd.DataFrame({"when": [times[i % 3] for i in range(60)], "y": ["a", "b"] * 30})
    dataset = inspect_table(frame, "y", "tz.csv")
    assert dataset.roles["when"] == "datetime"
    assert any("mixes time zones (+01:00, -05:00, none)" in w and "UTC" in w for w in dataset.warnings)


# --------------------------------------------------------------------------- caps


def _small_table(tmp_path: Path, suffix: str) -> Path:
    frame = pd.DataFrame({"a": range(60), "b": [i % 7 for i in range(60)], "label": ["yes", "no"] * 30})
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        raw = frame.to_csv(index=False).encode()
        path.write_bytes(gzip.compress(raw) if suffix == ".csv.gz" else raw)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".xlsx"])
@pytest.mark.parametrize(
    "variable, at_limit, words",
    [("ADVISOR_MAX_ROWS", "60", "rows"), ("ADVISOR_MAX_CELLS", "180", "cells")],
)
def test_row_and_cell_caps_refuse_every_format(tmp_path, monkeypatch, suffix, variable, at_limit, words):
    path = _small_table(tmp_path, suffix)
    monkeypatch.setenv(variable, at_limit)  # 60 rows x 3 columns: exactly at the limit
    assert load_table(path)[0].shape == (60, 3)
    monkeypatch.setenv(variable, str(int(at_limit) - 1))
    with pytest.raises(errors.FileTooLarge) as caught:
        load_table(path)
    message = str(caught.value)
    _one_sentence(message)
    assert path.name in message and words in message and variable in message and f"{int(at_limit) - 1:,}" in message


def test_parquet_is_capped_from_its_footer_before_it_is_read(tmp_path, monkeypatch):
    path = _small_table(tmp_path, ".parquet")

    def never(*args, **kwargs):
        raise AssertionError("the table was read")

    monkeypatch.setattr(pd, "read_parquet", never)
    for variable, value, words in [
        ("ADVISOR_MAX_EXPANDED_MB", "0.0001", "expands to more than 0.0001 MB"),
        ("ADVISOR_MAX_ROWS", "10", "60 rows, over the limit of 10"),
        ("ADVISOR_MAX_CELLS", "100", "180 cells (60 rows x 3 columns)"),
    ]:
        with monkeypatch.context() as env:
            env.setenv(variable, value)
            with pytest.raises(errors.FileTooLarge) as caught:
                load_table(path)
        assert words in str(caught.value) and variable in str(caught.value)


def test_a_cap_that_is_not_a_number_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_MAX_ROWS", "lots")
    with pytest.raises(errors.FileTooLarge) as caught:
        load_table(_small_table(tmp_path, ".csv"))
    _one_sentence(str(caught.value))
    assert "ADVISOR_MAX_ROWS='lots'" in str(caught.value)
