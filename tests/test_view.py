"""The view data every front end draws (`advisor.run_view`): asserted on the data, not on rendered text,
then the terminal and the report checked to show what the view holds."""

from __future__ import annotations

import re

import pytest

import advisor
from advisor.cli import render
from advisor.present.numbers import MISSING, format_quantity
from advisor.present.view import FLAGS, INTERVAL, SHORTLIST_COLUMNS, ColumnView, RowView, TableView

from conftest import DATA

CANDIDATES = ["baseline", "linear", "tree"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> advisor.Run:
    store = tmp_path_factory.mktemp("store")
    return advisor.advise(
        DATA / "penguins.csv", "species", candidates=CANDIDATES, timing=advisor.QUICK_TIMING, store=store
    )


@pytest.fixture(scope="module")
def view(run: advisor.Run) -> advisor.RunView:
    return advisor.run_view(run)


def test_the_table_has_one_row_per_candidate_and_headers_with_units(run, view):
    table = view.table
    assert [row.key for row in table.rows] == [c.key for c in run.candidates] == CANDIDATES
    assert all(len(row.cells) == len(row.values) == len(table.columns) for row in table.rows)
    assert table.keys[:3] == (FLAGS, "key", "family") and "status" in table.keys
    assert table.column("p99_ms").unit in ("us", "ms", "s")
    assert table.column("p99_ms").header == f"p99 latency, one row ({table.column('p99_ms').unit})"
    assert table.column("size_bytes").unit in ("B", "kB", "MB") and table.column("size_bytes").header.endswith(")")
    assert table.column("rows_per_s").header.endswith("(rows/s)")
    primary = table.column("primary")
    assert (primary.label, primary.short, primary.direction) == ("accuracy", "accuracy", "higher")
    assert table.column("p99_ms").direction == "lower" and table.column("key").text
    assert not table.column("p99_ms").text


def test_the_recommended_row_is_flagged(run, view):
    (recommended,) = [row for row in view.table.rows if row.recommended]
    assert recommended.key == run.recommendation.key == view.card.key
    assert view.table.recommended == recommended
    assert recommended.flags.startswith("*") and view.table.cell(recommended.key, FLAGS) == recommended.flags
    assert recommended.pareto and not recommended.no_skill and not recommended.failed
    baseline = view.table.row("baseline")
    assert not baseline.recommended and not baseline.pareto and "*" not in baseline.flags
    assert view.table.legend.startswith("Flags: * recommended")


def test_figures_are_written_by_the_one_formatter_in_their_columns_unit(run, view):
    table = view.table
    board = run.leaderboard.set_index("key")
    for column in ("p50_ms", "p99_ms", "load_ms"):
        shown = table.column(column).unit
        for row in table.rows:
            raw = table.value(row.key, column)
            assert raw == pytest.approx(board.loc[row.key, column])
            cell = table.cell(row.key, column)
            assert re.fullmatch(r"[\d.,]+ (us|ms)", cell), cell  # never bare, never e-notation
            assert cell == format_quantity(raw, "ms", display=shown) and cell.endswith(f" {shown}")
    for row in table.rows:
        assert table.cell(row.key, "size_bytes").endswith(f" {table.column('size_bytes').unit}")
        assert table.cell(row.key, "usd_per_million").startswith("$")
        assert "e-" not in table.cell(row.key, "usd_per_million")
        low, high = table.value(row.key, INTERVAL)
        assert low <= table.value(row.key, "primary") <= high and " to " in table.cell(row.key, INTERVAL)
        for cell, value, column in zip(row.cells, row.values, table.columns, strict=True):
            if not column.text:
                assert (cell == MISSING) == (value is None), (row.key, column.key)


def test_each_candidates_methods_are_labelled_rows(run, view):
    assert [m.key for m in view.methods] == CANDIDATES
    for methods in view.methods:
        labels = [label for label, _ in methods.rows]
        assert labels[:3] == ["quality", "latency", "size"]
        assert {"batches", "energy", "cost"} <= set(labels)
        assert all(isinstance(text, str) and text for _, text in methods.rows)
        assert dict(methods.rows)["latency"] == run.candidate(methods.key).latency.method


def test_the_shortlist_is_the_eligible_top_with_the_recommended_first(run, view):
    rec = run.recommendation
    keys = [row.key for row in view.shortlist.rows]
    assert keys[0] == rec.key and set(keys) <= set(rec.feasible) and "baseline" not in keys
    assert view.shortlist.keys == SHORTLIST_COLUMNS
    for key in keys:  # the same cells as the full table
        assert view.shortlist.cell(key, "p99_ms") == view.table.cell(key, "p99_ms")


def test_the_learning_curve_verdict_and_its_points(run, view):
    curve = run.learning_curve
    assert view.curve is not None and view.curve.key == curve["key"]
    assert view.curve.verdict == curve["verdict"] and view.curve.verdict in view.curve.sentence
    assert [p.fraction_text for p in view.curve.points] == ["25%", "50%", "100%"]
    assert [p.rows for p in view.curve.points] == [p["rows"] for p in curve["points"]]
    assert all(p.rows_text.endswith(" rows") for p in view.curve.points)


def test_the_run_facts_and_a_card_at_hand_is_reused(run, view):
    assert view.run_id == run.run_id and view.task == "multiclass" and view.primary_metric == "accuracy"
    assert view.summary.startswith("penguins.csv, target 'species', multiclass, 344 rows")
    assert view.profile == "Cloud CPU server (cloud-cpu)" and view.limits and view.weights.startswith("accuracy")
    assert view.failures == () and view.device is None and view.device_note == ""
    card = advisor.recommendation_card(run, with_stability=False)
    assert advisor.run_view(run, card=card).card is card


def test_select_keeps_the_cells_as_written():
    columns = tuple(
        ColumnView(k, k, k, "ms" if k == "p99_ms" else "", "", "", text=k == "key") for k in ("key", "p99_ms")
    )
    rows = tuple(
        RowView(k, k, "tree", "measured", (k, cell), (k, value), k == "b", False, False, False)
        for k, cell, value in (("a", "1.2 ms", 1.2), ("b", "45 us", 0.045))
    )
    table = TableView(columns, rows)
    picked = table.select(("p99_ms", "absent"), rows=["b"])
    assert picked.keys == ("p99_ms",) and [r.key for r in picked.rows] == ["b"]
    assert picked.rows[0].cells == ("45 us",) and picked.rows[0].values == (0.045,)
    assert table.select().keys == table.keys and table.recommended.key == "b"


def test_the_terminal_the_report_and_the_view_agree(run, view):
    recommended = view.table.recommended
    p99 = view.table.cell(recommended.key, "p99_ms")
    text = render(run)
    (line,) = [line for line in text.splitlines() if re.match(rf"\S*\*\S*\s+{recommended.key}\s", line)]
    figure, _, unit = p99.partition(" ")  # the compact table moves a unit every cell shares to the heading
    assert f" {figure} " in f"{line} " and f"p99 ({unit})" in text
    assert f"{view.card.headline} ({recommended.key})" in text
    html = advisor.build_report(run)
    row = re.search(r"<tr class='recommended'>(.*?)</tr>", html).group(1)
    assert f">{recommended.key}<" in row and f">{p99}<" in row
    assert f">{view.table.column('p99_ms').header}<" in html


def test_a_measurement_reads_as_labelled_rows_with_units():
    from advisor.measure.figures import LatencyMeasurement, SizeMeasurement

    latency = LatencyMeasurement(
        p50_ms=0.0399,
        p95_ms=0.0899,
        p99_ms=0.417,
        mean_ms=0.057,
        first_call_ms=0.108,
        calls=120,
        threads=1,
        windows=3,
        disturbed_windows=0,
        others_cpu_pct_median=7.804e-05,
        others_cpu_pct_max=12.5,
        method="timer",
    )
    rows = dict(advisor.figure_rows(latency))
    assert rows["median (p50)"] == "39.9 us" and rows["p99"] == "417 us" and rows["timed calls"] == "120"
    assert "method" not in rows and all("e-" not in value for value in rows.values())
    size = dict(
        advisor.figure_rows(SizeMeasurement(serialized_bytes=350_123, gzip_bytes=106_000, params=5158, method=""))
    )
    assert size["stored model"] == "350 kB" and size["parameters (weights, or tree nodes)"] == "5,158"


def _too_wide(text: str) -> list[str]:
    """Lines over 100 columns that are not one unbreakable token (a path, a URL)."""
    return [line for line in text.splitlines() if len(line) > 100 and len(line.strip().split()) > 1]


def test_the_terminal_output_fits_100_columns(run):
    assert not _too_wide(render(run))
    assert not _too_wide(render(run, methods=True))


def test_the_default_table_is_compact_and_all_shows_every_column(run, view, capsys):
    compact = view.table.compact()
    assert compact.keys[:5] == (FLAGS, "key", "primary", INTERVAL, "p99_ms")
    assert {"rows_per_s", "size_bytes", "usd_per_month"} <= set(compact.keys)
    assert ("cold_start_ms" in compact.keys) != ("load_ms" in compact.keys)  # one start-up figure
    assert compact.row(view.table.recommended.key).cells[1] == view.table.recommended.key
    text = render(run)
    header = next(line for line in text.splitlines() if line.lstrip().startswith("key"))
    assert "family" not in header and "gzip" not in header
    everything = render(run, all_columns=True)
    wide = next(line for line in everything.splitlines() if line.lstrip().startswith("key"))
    for column in view.table.columns:
        assert column.short in wide
    assert advisor.cli.main(["show", run.run_id, "--store", run.store_root, "--all"]) == 0
    shown = capsys.readouterr().out
    assert "gzip" in shown and "family" in shown


def test_the_report_opens_with_a_summary_and_says_each_method_once(run, view):
    overview = view.overview
    assert f"{len(run.candidates)} candidate models" in overview
    assert f"Recommended: {view.card.name}" in overview and "How firm" in overview
    assert "trade-off" in overview or "nothing is traded" in overview
    html = advisor.build_report(run)
    assert html.index("<h2>Summary</h2>") < html.index(view.card.headline)
    quality = next(m for label, m in view.methods[0].rows if label == "quality")
    groups = [g for g in view.method_groups if g.method == quality]
    assert len(groups) == 1 and len(groups[0].keys) >= 1
    import html as escaping

    assert html.count(escaping.escape(quality, quote=True)) == 1  # said once, not once per candidate


def test_method_groups_join_identical_texts():
    from advisor.present.view import MethodsView, method_groups

    methods = (
        MethodsView("a", "A", "measured", (("quality", "test split"), ("latency", "120 calls"))),
        MethodsView("b", "B", "measured", (("quality", "test split"), ("latency", "40 calls"))),
    )
    groups = method_groups(methods)
    assert [(g.label, g.method, g.keys) for g in groups] == [
        ("quality", "test split", ("a", "b")),
        ("latency", "120 calls", ("a",)),
        ("latency", "40 calls", ("b",)),
    ]
