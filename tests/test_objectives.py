"""One vocabulary of objectives and columns, and one number formatter, read by every face of the advisor."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import advisor
from advisor.objectives import COLUMNS, HIGHER_IS_BETTER, LIMIT_ALIASES, LIMITS, OBJECTIVES, QUALITY_LABELS
from advisor.present.numbers import LADDERS, UNITS, format_column, format_quantities, format_quantity

from conftest import PROJECT

# --------------------------------------------------------------------------- the one table


def test_every_objective_reads_a_leaderboard_column_in_its_unit_and_direction():
    assert list(OBJECTIVES) == ["accuracy", "latency", "throughput", "size", "energy", "cost"]
    for name, objective in OBJECTIVES.items():
        column = COLUMNS[objective.column]
        assert objective.column in advisor.LEADERBOARD_COLUMNS, name
        assert objective.unit == column.unit and objective.log_scale == column.log_scale, name
        expected = {"higher": True, "lower": False}.get(column.direction)
        assert objective.higher_is_better is expected, name
        assert objective.limit.column == objective.column and name in objective.limit.aliases
    for limit in LIMITS.values():
        assert limit.column in advisor.LEADERBOARD_COLUMNS and limit.kind in ("max", "min"), limit.name
    assert advisor.OBJECTIVES is OBJECTIVES and advisor.LIMITS is LIMITS
    assert advisor.METRICS == tuple(OBJECTIVES)


def test_the_leaderboard_axes_and_quality_tables_are_derived_from_the_one_table():
    assert advisor.LEADERBOARD_COLUMNS == {n: (c.unit, c.direction, c.meaning) for n, c in COLUMNS.items()}
    assert list(advisor.AXES) == [n for n, c in COLUMNS.items() if c.axis]
    assert all(advisor.AXES[n] == (COLUMNS[n].label, COLUMNS[n].unit, COLUMNS[n].log_scale) for n in advisor.AXES)
    quality = [n for n, c in COLUMNS.items() if c.quality_metric]
    assert advisor.HIGHER_IS_BETTER == HIGHER_IS_BETTER and list(HIGHER_IS_BETTER) == quality
    assert HIGHER_IS_BETTER["r2"] and not HIGHER_IS_BETTER["rmse"] and QUALITY_LABELS["r2"] == "R2"


def test_the_chart_axes_offer_every_objective_under_its_label():
    for objective in OBJECTIVES.values():
        assert advisor.AXES[objective.column][0] == COLUMNS[objective.column].label


def test_every_column_and_limit_unit_is_one_the_formatter_knows():
    assert all(c.unit in UNITS for c in COLUMNS.values())
    assert all(limit.unit in UNITS for limit in LIMITS.values())


@pytest.mark.parametrize("limit", list(LIMITS.values()), ids=list(LIMITS))
def test_a_limits_scale_is_its_units_conversion(limit):
    column_unit = COLUMNS[limit.column].unit
    if any(limit.unit in dict(steps) for steps in LADDERS.values()):
        assert format_quantity(limit.scale, column_unit, display=limit.unit) == f"1 {limit.unit}"
    else:
        assert limit.scale == 1.0 and limit.unit in (column_unit, "")


def test_priorities_and_limits_parse_every_name_and_alias_of_the_table():
    assert advisor.parse_priorities(",".join(f"{n}=1" for n in OBJECTIVES)) == dict.fromkeys(OBJECTIVES, 1.0)
    assert advisor.parse_limits([f"{n}=2" for n in LIMITS]) == dict.fromkeys(LIMITS, 2.0)
    for alias, name in LIMIT_ALIASES.items():
        assert advisor.parse_limits([f"{alias}=3"]) == {name: 3.0}
    assert LIMIT_ALIASES["latency_ms"] == "p99_ms" and LIMIT_ALIASES["size"] == "size_mb"
    with pytest.raises(advisor.ConfigError, match="not a metric"):
        advisor.parse_priorities("speed=3")


# --------------------------------------------------------------------------- the CLI and the app


def _run_help(option: str) -> str:
    from advisor.cli import _build_parser

    parser = _build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    action = next(a for a in commands.choices["run"]._actions if option in a.option_strings)
    return action.help.replace("%%", "%")


def test_the_cli_help_lists_exactly_the_objectives_and_the_limits():
    listed = re.search(r"weights 0-5 for (.*), e\.g\.", _run_help("--priorities")).group(1)
    assert listed.split(", ") == list(OBJECTIVES)
    assert re.findall(r"(\w+) \(at (?:most|least)", _run_help("--limit")) == list(LIMITS)


def test_the_apps_sliders_and_limit_fields_are_the_objectives_and_the_limits():
    at = AppTest.from_file(str(PROJECT / "app" / "main.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sliders = [s for s in at.slider if str(s.key).startswith("weight_")]
    assert [s.key for s in sliders] == [f"weight_{n}" for n in OBJECTIVES]
    assert [s.label for s in sliders] == [o.label for o in OBJECTIVES.values()]
    fields = [n for n in at.number_input if str(n.key).startswith("limit_")]
    assert [n.key for n in fields] == [f"limit_{n}" for n in LIMITS]
    assert [n.label for n in fields] == [limit.label for limit in LIMITS.values()]
    assert at.number_input(key="limit_p99_ms").label == "Max p99 latency (ms)"  # the browser test finds it so


# --------------------------------------------------------------------------- the one formatter


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.0000453, "s", "45.3 us"),
        (0.0453, "ms", "45.3 us"),
        (20.0, "ms", "20 ms"),
        (1500.0, "ms", "1.5 s"),
        (3600.0, "s", "3,600 s"),
        (512, "B", "512 B"),
        (1536, "B", "1.54 kB"),
        (2.5e6, "B", "2.5 MB"),
        (3.2e9, "B", "3.2 GB"),
        (40_000.0, "rows/s", "40,000 rows/s"),
        (0.5, "rows/s", "0.5 rows/s"),
        (0.213, "J/1k", "0.213 J per 1k"),
        (1.36e-4, "USD/1M", "$0.000136 per 1M"),
        (12.4, "USD/month", "$12.40 a month"),
        (0.1, "USD", "$0.10"),
        (1234.5, "USD", "$1,234"),
        (0.0, "USD", "$0"),
        (3e-9, "USD/1M", "< $0.000001 per 1M"),
        (0.953, "fraction", "0.953"),
        (0.86, "", "0.86"),
        (0.953, "%", "95.3%"),
        (1.36e-5, "", "0.0000136"),
        (12_345.6, "target unit", "12,346"),
        (1_234_567, "count", "1,234,567"),
        (10e6, "predictions", "10M predictions"),
        (None, "ms", "-"),
        (float("nan"), "B", "-"),
        (np.nan, "USD/1M", "-"),
        (math.inf, "rows/s", "-"),
    ],
)
def test_format_quantity(value, unit, shown):
    assert format_quantity(value, unit) == shown
    assert "e-" not in format_quantity(value, unit) and "e+" not in format_quantity(value, unit)


def test_display_units_differences_and_columns():
    assert format_quantity(0.05, "ms", display="ms") == "0.05 ms"  # beside a limit typed in ms
    assert format_quantity(1.5e5, "B", display="MB") == "0.15 MB"
    assert format_quantity(0.9, "ms", signed=True, display="ms") == "+0.9 ms"
    assert format_quantity(-0.012, "", digits=3, signed=True) == "-0.012"
    assert format_quantities([0.45, 1.35], "ms") == ["0.45 ms", "1.35 ms"]  # one unit side by side
    assert format_column(0.0453, "p99_ms") == "45.3 us" and format_column(2.5e6, "size_bytes") == "2.5 MB"
    assert format_column(1.36e-4, "usd_per_million") == "$0.000136 per 1M"
    assert format_column(0.9534, "primary") == "0.9534" and format_column(7, "unknown column") == "7"
    with pytest.raises(ValueError, match="does not know the unit"):
        format_quantity(1.0, "furlongs")
