"""One record encoded by the fast path (`FastEncoder`, plain Python) equals the batch encoding
(`TabularEncoder.transform`) of the same row, bit for bit, for every role; dates are read
without pandas; many short codes are categorical, free text is not."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.candidates.builders import SklearnModel
from advisor.data.dates import DATE_FORMATS, learn_date_format
from advisor.data.encoder import DatetimeBlock, TabularEncoder
from advisor.data.roles import column_info
from advisor.deploy.describe import preprocessing_spec
from advisor.deploy.fast import FastEncoder
from advisor.deploy.modelfile import load_model_files, model_files
from advisor.deploy.predictor import Predictor

from conftest import PROJECT

ODD = ["", "not a date", "2024-02-30", "12:00", "٢٠٢٤-٠١-٠١", "0202-01-01"]


def _agree(encoder: TabularEncoder, rows: pd.DataFrame) -> None:
    """Each row alone through the fast path equals the batch path, for a large frame (vectorised
    pandas), a small one (plain values) and the row as a dict."""
    fast = FastEncoder(encoder)
    large = encoder.transform(pd.concat([rows] * (65 // len(rows) + 1), ignore_index=True))[: len(rows)]
    small = encoder.transform(rows.head(64))
    for i, record in enumerate(rows.to_dict(orient="records")):
        x, _ = fast(record)
        assert np.array_equal(x, large[i]), (record, x, large[i])
        if i < 64:
            assert np.array_equal(x, small[i]), (record, x, small[i])
        assert np.array_equal(x, encoder.transform(record)[0]), record


def _dates(values: list, n_train: int = 80) -> tuple[TabularEncoder, pd.DataFrame]:
    train = pd.DataFrame({"d": values[:n_train], "n": np.arange(min(n_train, len(values)), dtype=float)})
    encoder = TabularEncoder({"d": "datetime", "n": "numeric"}).fit(train)
    return encoder, pd.DataFrame({"d": values, "n": np.arange(len(values), dtype=float)})


@pytest.mark.parametrize("date_format", [f for f in DATE_FORMATS if f != "ISO8601"])
def test_each_date_format_is_learned_and_both_paths_read_it_the_same(date_format: str):
    moments = pd.date_range("2021-01-01 07:00", periods=80, freq="37h")
    written = [m.strftime(date_format) for m in moments]
    if date_format.startswith(("%m/%d", "%d/%m")):  # unpadded months and days: strptime reads them too
        written[:3] = [w.replace("/0", "/").lstrip("0") for w in written[:3]]
    encoder, rows = _dates([*written, None, np.nan, *ODD, "2021/13/45 10:00"])
    block = next(b for b in encoder.blocks_ if isinstance(b, DatetimeBlock))
    assert block.date_format == date_format
    batch = encoder.transform(rows)
    assert not np.isnan(batch).any()
    _agree(encoder, rows)


def test_iso_timestamps_with_mixed_zones_are_read_in_utc_on_both_paths():
    values = [
        "2024-03-01T10:00:00+01:00",  # 09:00 UTC
        "2024-03-01T10:00:00Z",
        "2024-03-01 10:00:00",  # no zone: taken as UTC
        "2024-03-01T23:30:00-05:00",  # the next day in UTC
        "2024-03-01T10:00:00.123456789+0530",
        "2024-03-01T10:00 +01:00",
        "2024-03-01",
        "2024-03-01T10:00:00,5Z",  # a comma: pandas refuses it, so the record path must too
        "2024-03-01t10:00:00",
        "2024-03-01T10:00:00+01:60",
        "2024-03-01T24:00",
        *ODD,
        None,
    ]
    train = [f"2024-0{1 + i % 9}-1{i % 10}T{i % 24:02d}:00:00{'Z' if i % 2 else '+02:00'}" for i in range(60)]
    encoder, rows = _dates(train + values, n_train=60)
    assert encoder.blocks_[-1].date_format == "ISO8601"
    _agree(encoder, rows)
    parts = FastEncoder(encoder)({"d": "2024-03-01T23:30:00-05:00", "n": 0.0})[0]
    block = encoder.blocks_[-1]
    day_at = encoder.feature_names_out_.index("d.day")
    assert parts[day_at] * block.scales[2] + block.means[2] == pytest.approx(2.0, abs=1e-4)


def test_native_datetimes_in_a_record_or_a_column_match_the_text():
    east = dt.timezone(dt.timedelta(hours=2))
    natives = [
        dt.datetime(2024, 3, 1, 11, tzinfo=east),
        pd.Timestamp("2024-03-01 09:00"),
        pd.Timestamp("2024-03-01 04:00", tz="US/Eastern"),
        dt.date(2024, 3, 1),
        np.datetime64("2024-03-01T09:00"),
        np.datetime64("NaT"),
        pd.NaT,
        dt.datetime(1500, 1, 1),  # outside the years pandas holds in every unit: missing on both paths
        5,
        True,
    ]
    encoder, rows = _dates([f"2024/01/{1 + i % 28:02d}" for i in range(40)] + natives, n_train=40)
    _agree(encoder, rows)
    fast = FastEncoder(encoder)
    text = fast({"d": "2024/03/01", "n": 0.0})[0]
    assert np.array_equal(fast({"d": dt.date(2024, 3, 1), "n": 0.0})[0], text)
    native_frame = encoder.transform(pd.DataFrame({"d": pd.to_datetime(["2024-03-01"] * 70), "n": 0.0}))
    assert np.array_equal(native_frame[0], text)


def test_a_column_no_format_reads_keeps_pandas_mixed_parsing_on_both_paths():
    mixed = ["2024-01-05", "05.01.2024", "Jan 5 2024", "2024/01/05 10:00", "5 January 2024"] * 12
    encoder, rows = _dates([*mixed, "not a date", None])
    assert encoder.blocks_[-1].date_format is None
    _agree(encoder, rows)


def test_learning_prefers_the_format_that_reads_the_most():
    assert learn_date_format(pd.Series(["01/02/2024", "03/04/2024"])) == "%m/%d/%Y"  # pandas' own default
    assert learn_date_format(pd.Series(["01/02/2024", "25/04/2024"])) == "%d/%m/%Y"
    assert learn_date_format(pd.Series(pd.to_datetime(["2024-01-01"]))) == "ISO8601"
    assert learn_date_format(pd.Series(["2024-01-01", "soon"] * 3)) is None


def test_categoricals_text_and_numbers_agree_with_unseen_missing_and_odd_values():
    rng = np.random.default_rng(0)
    codes = rng.permutation([f"T-{i % 45}" for i in range(250)] + [f"R-{i}" for i in range(50)]).tolist()
    train = pd.DataFrame(
        {
            "code": codes,
            "small": rng.choice(["a", "b", None], 300),
            "text": rng.choice(["a quick fox", "the lazy dog dog", "", None, "Straße 5 ÉTÉ"], 300),
            "n": np.where(rng.random(300) < 0.1, np.nan, rng.normal(5, 2, 300)),
        }
    )
    roles = {"code": "categorical", "small": "categorical", "text": "text", "n": "numeric"}
    encoder = TabularEncoder(roles).fit(train)
    assert set(encoder.blocks_[0].vocabulary) == {f"T-{i}" for i in range(45)}  # the rare ones grouped
    odd = pd.DataFrame(
        {
            "code": ["T-1", "never seen", None, np.nan, 7, "R-3"],
            "small": ["a", "c", None, "b", 1.0, np.nan],
            "text": ["fox fox fox dog", None, "", "x " * 300, 12, "STRASSE"],
            "n": [1.0, "oops", None, np.inf, "3.5", -1e300],
        }
    )
    _agree(encoder, pd.concat([train.head(20), odd], ignore_index=True))


def test_short_codes_are_categorical_and_free_text_is_not():
    rng = np.random.default_rng(1)
    target = pd.Series(rng.integers(0, 2, 600))
    tickets = pd.Series([f"A/5 {n}" if n % 3 else str(n) for n in rng.integers(1000, 1400, 600)])
    info = column_info("Ticket", tickets, target, "binary", 2)
    assert info.role == "categorical"
    assert info.note == f"{info.n_unique} distinct short codes: the most frequent kept, rare ones grouped"
    words = ["good", "bad", "service", "slow", "friendly", "staff", "food", "cold", "would", "return"]
    reviews = pd.Series([" ".join(rng.choice(words, 8)) for _ in range(100)] * 6)
    assert column_info("Review", reviews, target, "binary", 2).role == "text"
    many = pd.Series([f"AG-{n}" for n in range(1100)] * 2)  # over 1,000 codes
    assert column_info("Agent", many, pd.Series(rng.integers(0, 2, 2200)), "binary", 2).role == "text"


def _seattle_like(n: int = 400) -> pd.DataFrame:
    """The shape of seattle_weather.csv: a YYYY/MM/DD date, four numbers, a weather class."""
    rng = np.random.default_rng(2)
    days = pd.date_range("2012-01-01", periods=n, freq="D")
    temp = 12 + 8 * np.sin(2 * np.pi * days.day_of_year / 365) + rng.normal(0, 2, n)
    rain = np.maximum(0, rng.normal(2, 4, n))
    return pd.DataFrame(
        {
            "date": days.strftime("%Y/%m/%d"),
            "precipitation": rain.round(1),
            "temp_max": temp.round(1),
            "temp_min": (temp - 6).round(1),
            "weather": np.where(rain > 3, "rain", np.where(temp > 15, "sun", "drizzle")),
        }
    )


def _predictor(frame: pd.DataFrame) -> Predictor:
    from sklearn.linear_model import LogisticRegression

    X, y = frame.drop(columns="weather"), frame["weather"]
    encoder = TabularEncoder({"date": "datetime", "precipitation": "numeric", "temp_max": "numeric"}).fit(X)
    classes = sorted(y.unique())
    model = SklearnModel(LogisticRegression(max_iter=500).fit(encoder.transform(X), y.map(classes.index)), "multiclass")
    return Predictor(encoder, model, "multiclass", "weather", classes, "linear", "Linear")


def test_a_dated_predictor_takes_the_fast_path_without_pandas(monkeypatch: pytest.MonkeyPatch):
    frame = _seattle_like()
    predictor = _predictor(frame)
    rows = frame.drop(columns="weather").tail(50)
    check = predictor.verify_fast_path(rows)
    assert check["enabled"], check
    expected = predictor.predict(rows)

    def no_pandas(*args, **kwargs):
        raise AssertionError("pandas.to_datetime called on the single-record path")

    monkeypatch.setattr(pd, "to_datetime", no_pandas)
    records = rows.to_dict(orient="records")
    assert [predictor.predict(r)[0] for r in records] == list(expected)
    spec = preprocessing_spec(predictor)["blocks_in_order_after_numeric"][0]
    assert spec["format"] == "%Y/%m/%d" and spec["pattern"] == DATE_FORMATS["%Y/%m/%d"].pattern


def test_a_date_block_stored_before_formats_were_learned_loads_and_reads_dates_as_then():
    """A model file written before `DatetimeBlock.date_format` existed has no such field: it loads
    with pandas' mixed parsing, and its fast path still agrees with its batch path."""
    frame = _seattle_like(120)
    predictor = _predictor(frame)
    files = model_files(predictor)
    tree = json.loads(files["model.json"])

    def drop_format(node: object) -> int:
        if isinstance(node, dict):
            if str(node.get("$object", "")).endswith("DatetimeBlock"):
                del node["state"]["$map"]["date_format"]
                return 1
            return sum(drop_format(v) for v in node.values())
        return sum(drop_format(v) for v in node) if isinstance(node, list) else 0

    assert drop_format(tree) == 1
    old = tree
    loaded = load_model_files({**files, "model.json": json.dumps(old).encode()}, "old.zip")
    assert loaded.encoder.blocks_[0].date_format is None
    rows = frame.drop(columns="weather").head(40)
    assert np.array_equal(loaded.encoder.transform(rows), predictor.encoder.transform(rows))
    assert loaded.verify_fast_path(rows)["enabled"]
    assert list(loaded.predict(rows.iloc[0].to_dict())) == list(predictor.predict(rows.head(1)))


@pytest.mark.parametrize("key", ["linear", "mlp-int4"])
def test_artifacts_exported_earlier_encode_records_as_their_batch_path(key: str):
    import advisor

    artifact = advisor.load_artifact(PROJECT / "tests" / "data" / f"format2-{key}.zip")
    rows = pd.read_csv(PROJECT / "datasets" / "penguins.csv").drop(columns="species").head(30)
    _agree(artifact.predictor.encoder, rows)


def test_remembered_date_texts_read_as_when_first_read_and_the_memory_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
):
    from advisor.data import dates

    monkeypatch.setattr(dates, "RECORD_CACHE_SIZE", 3)
    values = ["2024/01/31", " 2024/01/31", "2024/02/30", "0202/01/01", "2024/12/01 10:00", "2024/01/31", ""] * 3
    expected = dates.date_parts(values, "%Y/%m/%d")
    memory: dict = {}
    parse = dates.record_parser("%Y/%m/%d", memory)
    for value, row in zip(values, expected, strict=True):
        found = parse(value)
        assert (found is None and np.isnan(row).all()) or list(found) == row.tolist(), value
        assert len(memory) <= 3
    encoder, rows = _dates(values * 5)
    _agree(encoder, rows)


def test_an_iso_timestamp_before_year_one_in_utc_is_missing_on_the_record_path_too():
    train = [f"2024-03-{1 + i % 28:02d}T10:00Z" for i in range(40)]
    encoder, rows = _dates([*train, "0001-01-01T00:00+01:00", "9999-12-31T23:00-05:00"], n_train=40)
    assert encoder.blocks_[-1].date_format == "ISO8601"
    _agree(encoder, rows)


def test_remembered_token_buckets_give_the_batch_encoding_and_stay_bounded(monkeypatch: pytest.MonkeyPatch):
    from advisor.deploy import fast

    monkeypatch.setattr(fast, "TOKEN_CACHE_SIZE", 5)
    words = [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(words, rng.integers(1, 30))) for _ in range(120)]
    train = pd.DataFrame({"t": [*texts, "Straße, ÉTÉ!", "a_b a-b", "\x00missing", None], "n": 0.0})
    encoder = TabularEncoder({"t": "text", "n": "numeric"}).fit(train)
    fast_encoder = FastEncoder(encoder)
    first = [fast_encoder(r)[0] for r in train.to_dict(orient="records")]
    again = [fast_encoder(r)[0] for r in train.to_dict(orient="records")]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert len(fast_encoder.text[0][2]) <= 5
    _agree(encoder, train)


@given(st.text(alphabet=st.sampled_from("aZ09_ -.,\t\nßÉİK٢")))
def test_words_split_without_the_regex_are_the_regex_words(text: str):
    from advisor.deploy.fast import _TOKEN, _tokens

    assert _tokens(text) == _TOKEN.findall(text.lower())
