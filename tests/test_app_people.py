"""The app for people: the leaderboard, the Runs page's comparison, intent presets, the target's
confirmation and what a re-rank changed. AppTest on small real runs (penguins, two candidates)."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import advisor
from app import leaderboard, presets, run_compare

from conftest import DATA, PROJECT

MAIN = str(PROJECT / "app" / "main.py")


def _run() -> advisor.Run:
    return advisor.advise(DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["linear", "tree"])


def _open(run_id: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def module_run(tmp_path_factory: pytest.TempPathFactory) -> advisor.Run:
    return advisor.advise(
        DATA / "penguins.csv",
        "species",
        timing=advisor.QUICK_TIMING,
        candidates=["linear", "tree"],
        store=tmp_path_factory.mktemp("store"),
    )


# --------------------------------------------------------------------------- 1. the leaderboard


def test_leaderboard_pins_the_pick_with_numbers_that_sort_as_numbers(module_run):
    table = advisor.leaderboard_view(module_run)
    values, cells = leaderboard.leaderboard_frame(module_run, table)
    pick = module_run.recommendation.key
    assert values.iloc[0, 0].startswith("★") and f"({pick})" in values.iloc[0, 0]
    assert list(values.columns[:3]) == ["name", "accuracy ↑", "± accuracy (95%)"]
    headers = " | ".join(values.columns)
    for unit in ("p99 latency, one row (", "rows/s", "size on disk (", "USD/month", "load + first row (ms)"):
        assert unit in headers
    p99 = next(h for h in values.columns if h.startswith("p99"))
    assert pd.api.types.is_float_dtype(values[p99])  # raw numbers: a header click sorts by value
    assert cells[p99].iloc[0].endswith(table.column("p99_ms").unit)  # shown as the one formatter writes it
    # missing figures (no cold start measured with quick timing) are blank, never None or nan
    _, with_cold = leaderboard.leaderboard_frame(module_run, table, extra=("cold_start_ms", "peak_predict_bytes"))
    shown = leaderboard.styled(*leaderboard.leaderboard_frame(module_run, table, extra=("cold_start_ms",)), True)
    html = shown.to_html()
    assert "nan" not in html and "None" not in html
    assert leaderboard.PICK_STYLE.split(";")[0] in html
    assert "-" not in set(with_cold.iloc[:, -1])
    # the rest follow by weighted score
    scores = module_run.recommendation.scores
    rest = [k for k in leaderboard.ordered_keys(module_run, table)[1:] if k in scores]
    assert [scores[k] for k in rest] == sorted((scores[k] for k in rest), reverse=True)


def test_hiding_compressed_variants_keeps_their_parents_and_the_pick(tmp_path):
    run = advisor.advise(
        DATA / "penguins.csv",
        "species",
        timing=advisor.QUICK_TIMING,
        candidates=["linear", "mlp", "mlp-int8", "mlp-binary"],
        store=tmp_path,
        with_learning_curve=False,
    )
    table = advisor.leaderboard_view(run)
    every, _ = leaderboard.leaderboard_frame(run, table)
    hidden, _ = leaderboard.leaderboard_frame(run, table, hide_compressed=True)
    named = " ".join(every["name"])
    assert "(mlp-int8)" in named and "(mlp-binary)" in named
    kept = " ".join(hidden["name"])
    pick = run.recommendation.key
    assert "(mlp)" in kept and "(linear)" in kept and f"({pick})" in kept
    for key in ("mlp-int8", "mlp-binary"):
        assert (f"({key})" in kept) == (key == pick)  # a compressed pick stays pinned
    assert len(hidden) == len(every) - sum(k != pick for k in ("mlp-int8", "mlp-binary"))


def test_the_page_shows_the_people_leaderboard_with_a_column_picker():
    run = _run()
    at = _open(run.run_id)
    board = next(d for d in at.dataframe if "name" in d.value.columns and "± accuracy (95%)" in d.value.columns)
    assert board.value.iloc[0]["name"].startswith("★")
    assert at.toggle(key="leaderboard_hide_compressed").value is False
    at.multiselect(key="leaderboard_columns").set_value(["params"]).run()
    assert not at.exception
    board = next(d for d in at.dataframe if "name" in d.value.columns and "± accuracy (95%)" in d.value.columns)
    assert "parameters ↓" in board.value.columns
    at.toggle(key="leaderboard_hide_compressed").set_value(True).run()
    assert not at.exception


# --------------------------------------------------------------------------- 2. the Runs page


def test_runs_page_lists_duration_metric_pick_and_compares_two_runs(monkeypatch):
    monkeypatch.setenv("ADVISOR_LIST_ALL_RUNS", "1")
    first = _run()
    advisor.advise(
        DATA / "penguins.csv", "species", timing=advisor.QUICK_TIMING, candidates=["tree"], priorities="size=5"
    )
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    listed = at.dataframe[0].value
    assert {"duration (s)", "primary metric", "pick", "status"} <= set(listed.columns)
    assert set(listed["primary metric"]) == {"accuracy"}
    assert (listed["duration (s)"] > 0).all()
    assert f"({first.rank().key})" in " ".join(listed["pick"])
    compared = at.dataframe[1].value
    assert len(compared.columns) == 3  # what, then a column per run
    rows = dict(zip(compared[""], zip(compared.iloc[:, 1], compared.iloc[:, 2], strict=True), strict=True))
    assert all("penguins.csv" in text for text in rows["data"])
    assert any("size 5" in text for text in rows["priorities"])
    assert rows["pick"][0] != "" and "pick: p99 latency, one row" in rows


def test_duration_is_the_sum_of_the_phases(module_run):
    seconds = run_compare.duration_s(module_run)
    assert seconds is not None and seconds == pytest.approx(
        sum(v for k, v in module_run.phases_s.items() if k.endswith("_s"))
    )


# --------------------------------------------------------------------------- 3. intent presets


def test_intents_are_presets_beside_the_hardware_targets():
    targets = advisor.load_targets()
    web, batch = targets["web-api"], targets["batch-scoring"]
    assert web.name == "Real-time web API (p99 under 10 ms)" and web.limits["p99_ms"] == 10
    assert batch.name == "Batch scoring (throughput first)"
    assert batch.weights["throughput"] == max(batch.weights.values())
    assert advisor.significance_for(web).levels["latency"] == pytest.approx(1.0)
    caption = presets.preset_caption(web)
    assert "latency 5" in caption and "max p99 latency 10 ms" in caption and "p99 under 1 ms" in caption


def test_choosing_an_intent_fills_the_sidebar_and_says_what_it_sets():
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.selectbox(key="profile").set_value("web-api").run()
    assert not at.exception
    assert at.slider(key="weight_latency").value == 5
    assert at.number_input(key="limit_p99_ms").value == 10
    captions = [c.value for c in at.sidebar.caption]
    assert any(c.startswith("Sets the weights") and "p99 under 1 ms" in c for c in captions)
    assert any("p99 latencies under 1 ms" in c and "count as equal" in c for c in captions)


# --------------------------------------------------------------------------- 4. the target's confirmation


def test_the_guess_comes_with_its_reason_and_doubts():
    penguins = pd.read_csv(DATA / "penguins.csv")
    guess = advisor.guess_target_with_reason(penguins)
    assert guess.column == "species" and "named 'species'" in guess.reason and guess.by_name
    assert guess.warning is None
    numbered = pd.DataFrame({"x": [3.0, 1.0, 2.0, 5.0] * 10, "row": range(40)})
    guess = advisor.guess_target_with_reason(numbered)
    assert guess.column == "row" and guess.reason.startswith("the last column") and not guess.by_name
    assert "row number" in guess.warning
    dated = pd.DataFrame({"x": range(30), "when": pd.date_range("2024-01-01", periods=30).astype(str)})
    assert "dates or times" in advisor.target_doubt(dated, "when")
    assert advisor.target_doubt(numbered, "x") is None
    assert advisor.guess_target(penguins) == "species"  # unchanged
    # diamonds' x, y, z are its sizes in mm: 'y' beside 'x' is a dimension, and price is the usual target
    diamonds = pd.read_csv(DATA / "diamonds.csv.gz", nrows=50)
    guess = advisor.guess_target_with_reason(diamonds)
    assert guess.column == "price" and "named 'price'" in guess.reason and guess.by_name
    assert advisor.guess_target(pd.DataFrame({"a": [1, 2], "y": [0, 1]})) == "y"  # a lone y is still the target


def test_a_doubtful_target_must_be_confirmed_before_run():
    frame = pd.read_csv(DATA / "penguins.csv").rename(columns={"species": "kind"})  # no usual target name
    frame["row"] = range(len(frame))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.file_uploader(key="upload").upload("numbered.csv", frame.to_csv(index=False).encode(), "text/csv")
    at.run()
    assert not at.exception
    assert at.selectbox(key="target").value == "row"
    assert any("the last column" in c.value for c in at.caption)
    assert any("row number" in w.value for w in at.warning if "Check the target" in w.value)
    run_button = next(b for b in at.button if b.label == "Run the advisor")
    assert run_button.disabled
    at.button(key="confirm_target").click().run()
    assert not next(b for b in at.button if b.label == "Run the advisor").disabled
    at.selectbox(key="target").set_value("kind").run()  # picking another column is a choice too
    assert not next(b for b in at.button if b.label == "Run the advisor").disabled
    assert not any("Check the target" in w.value for w in at.warning)


# --------------------------------------------------------------------------- 5. what a re-rank changed


def test_after_a_rerank_the_card_says_what_the_pick_was():
    run = _run()
    pick = run.recommendation.key
    at = _open(run.run_id)
    assert not any("was:" in i.value for i in at.info)
    other = next(c for c in run.candidates if c.key not in (pick, "baseline"))
    # a hard limit the pick breaks and the other keeps moves the pick
    board = run.leaderboard.set_index("key")
    mine, theirs = board.loc[pick], board.loc[other.key]
    if theirs["size_bytes"] < mine["size_bytes"]:
        at.number_input(key="limit_size_mb").set_value((theirs["size_bytes"] + mine["size_bytes"]) / 2e6)
    elif theirs["p99_ms"] < mine["p99_ms"]:
        at.number_input(key="limit_p99_ms").set_value((theirs["p99_ms"] + mine["p99_ms"]) / 2)
    else:
        pytest.skip("the other candidate is neither smaller nor faster here")
    at.run()
    assert not at.exception
    assert any(f"was: {run.candidate(pick).name} ({pick})" in i.value.replace("\\", "") for i in at.info)
