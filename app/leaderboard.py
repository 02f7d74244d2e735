"""The leaderboard for people: the pick first and highlighted, the rest by weighted score, a compact
set of columns with units in their headers, and what changed after a re-rank.

The figures come from `advisor.leaderboard_view` (the one formatter's cells and the raw values
beside them). The table holds the raw numbers, so a click on a header sorts by value, and a pandas
Styler shows the formatted cells (blank where a figure is missing) and highlights the pick.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

import advisor

NAME = "name"
SPREAD = "primary_spread"  # the primary metric's 95% interval as +/- half its width
# The compact default: name, quality +/- interval, p99, rows/s, size, cost per month, start-up.
DEFAULT_COLUMNS = ("primary", SPREAD, "p99_ms", "rows_per_s", "size_bytes", "usd_per_month", "load_ms")
HIDDEN = ("flags", "key")  # the pick is pinned and highlighted; the name carries the key
PICK_STYLE = "background-color: rgba(255, 200, 0, 0.25); font-weight: bold"
ARROWS = {"higher": " ↑", "lower": " ↓"}


def ordered_keys(run: advisor.Run, table: advisor.TableView) -> list[str]:
    """The pick first, then the ranked candidates by weighted score (highest first), then the rest
    (over a limit, failed, not measured) in the run's order."""
    rec = run.recommendation or run.rank()
    scores = rec.scores
    return sorted(
        (row.key for row in table.rows),
        key=lambda key: (key != rec.key, key not in scores, -scores.get(key, 0.0)),
    )


def is_compressed(run: advisor.Run, key: str) -> bool:
    return bool(run.candidate(key).compression)


def optional_columns(table: advisor.TableView) -> dict[str, str]:
    """The columns the picker offers beyond the default set: key -> header."""
    return {
        column.key: _header(column)
        for column in table.columns
        if column.key not in (*DEFAULT_COLUMNS, *HIDDEN, "primary_ci95")
    } | {"primary_ci95": _header(table.column("primary_ci95")), "key": "key"}


def leaderboard_frame(
    run: advisor.Run, table: advisor.TableView, extra: tuple[str, ...] = (), hide_compressed: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, cells): the raw figures to sort by and the text to show, one row per candidate in
    `ordered_keys` order, one column per header (name, the default set, then `extra`)."""
    keys = [
        k for k in ordered_keys(run, table) if not (hide_compressed and is_compressed(run, k) and not _pick(table, k))
    ]
    columns = [c for c in (*DEFAULT_COLUMNS, *extra) if c in table.keys or c == SPREAD]
    headers = [NAME] + [_spread_header(table) if c == SPREAD else _header(table.column(c)) for c in columns]
    values, cells = [], []
    for key in keys:
        row = table.row(key)
        name = f"★ {row.name} ({key})" if row.recommended else f"{row.name} ({key})"
        row_values: list[Any] = [name]
        row_cells: list[str] = [name]
        for column in columns:
            value, cell = _spread(table, key) if column == SPREAD else _figure(table, key, column)
            row_values.append(value)
            row_cells.append(cell)
        values.append(row_values)
        cells.append(row_cells)
    return pd.DataFrame(values, columns=headers), pd.DataFrame(cells, columns=headers)


def styled(values: pd.DataFrame, cells: pd.DataFrame, pick_first: bool) -> Styler:
    """The raw values shown as their formatted cells (blank where missing), the pick's row highlighted."""
    formatters = {header: _by_value(values[header], cells[header]) for header in values.columns}
    styler = values.style.format(formatters, na_rep="")
    if pick_first and len(values):
        first = values.index[0]
        styler = styler.apply(lambda row: [PICK_STYLE if row.name == first else ""] * len(row), axis=1)
    return styler


def show(run: advisor.Run, table: advisor.TableView) -> None:
    """The leaderboard with its column picker and compressed-variant toggle."""
    options = optional_columns(table)
    left, right = st.columns([3, 1])
    with left:
        extra = st.multiselect(
            "More columns",
            list(options),
            format_func=options.get,
            key="leaderboard_columns",
            help="The table shows name, quality with its 95% interval, p99 latency, throughput, size, cost a "
            "month and start-up; add any other measured column here.",
        )
    with right:
        hide = st.toggle(
            "Hide compressed variants",
            key="leaderboard_hide_compressed",
            help="Leave out quantized, pruned and distilled variants (the pick is always shown).",
        )
    values, cells = leaderboard_frame(run, table, tuple(extra), hide)
    pick = table.recommended
    help_by_header = {_header(c): c.meaning for c in table.columns} | {_spread_header(table): _spread_meaning(table)}
    config = {
        header: st.column_config.Column(label=header, help=help_by_header.get(header)) for header in values.columns
    }
    st.dataframe(
        styled(values, cells, pick_first=pick is not None), hide_index=True, column_config=config, width="stretch"
    )
    if pick is not None:
        st.caption("★ the pick, pinned first; the others by weighted score. Click a header to sort by its figures.")


def pick_change_note(run: advisor.Run) -> str | None:
    """'Changed with your priorities; was: LightGBM fast (lightgbm-fast)' when the re-ranked pick differs from the
    one shown before on this run in this session; None when it did not change."""
    rec = run.recommendation or run.rank()
    held = st.session_state.get("shown_pick")
    was = None
    if held is not None and held["run"] == run.run_id:
        was = held["was"] if held["key"] == rec.key else held["key"]
    st.session_state["shown_pick"] = {"run": run.run_id, "key": rec.key, "was": was}
    if was is None or was == rec.key:
        return None
    names = {c.key: c.name for c in run.candidates}
    before = f"{names.get(was, was)} ({was})" if was else "no candidate"
    return f"Changed with your priorities; was: {before}."


def _pick(table: advisor.TableView, key: str) -> bool:
    return table.row(key).recommended


def _header(column: Any) -> str:
    return column.header + ARROWS.get(column.direction, "")


def _spread_header(table: advisor.TableView) -> str:
    return f"± {table.column('primary').label} (95%)"


def _spread_meaning(table: advisor.TableView) -> str:
    return f"Half the width of the 95% bootstrap interval of {table.column('primary').label} on the test split"


def _spread(table: advisor.TableView, key: str) -> tuple[float | None, str]:
    interval = table.value(key, "primary_ci95")
    if interval is None:
        return None, ""
    half = (interval[1] - interval[0]) / 2
    return half, "± " + advisor.format_quantity(half, "", digits=2)


def _figure(table: advisor.TableView, key: str, column: str) -> tuple[Any, str]:
    value = table.value(key, column)
    cell = table.cell(key, column)
    if column == "primary_ci95":  # a (low, high) pair: sorts by its low end
        return (None if value is None else value[0]), ("" if value is None else cell)
    return (None if _missing(value) else value), ("" if _missing(value) else cell)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _by_value(values: pd.Series, cells: pd.Series) -> Any:
    """A Styler formatter (it sees a value, not its row) that writes a value as its cell: equal
    values in one column are written the same by the one formatter."""
    by_value = dict(zip(values, cells, strict=True))
    return lambda value: by_value.get(value, "")
