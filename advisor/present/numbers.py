"""The one number formatter: a figure and its unit as a person reads it.

`format_quantity(value, unit)` picks the scale by magnitude where a unit has a ladder (time:
us, ms, s; bytes: B, kB, MB, GB), writes money as dollars without e-notation ($0.000136 per 1M,
$12.40 a month, "< $0.000001" for less), fractions as plain numbers or percentages, and counts
with thousands separators. A missing figure (None, NaN, infinite) is "-". `format_column` shows a
leaderboard column's figure in the unit `advisor.objectives.COLUMNS` gives it. The CLI, the
card's sentences, the chart hovers and the HTML report all go through here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from advisor.objectives import COLUMNS

MISSING = "-"
# Units with a ladder: the figure is shown in the largest step it reaches (0.0000453 s -> 45.3 us).
LADDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "time": (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)),
    "bytes": (("B", 1.0), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9)),
}
_STEP = {unit: (ladder, factor) for ladder, steps in LADDERS.items() for unit, factor in steps}
# Money: the amount in dollars, then what it is per.
MONEY = {"USD": "", "USD/1M": " per 1M", "USD/month": " a month"}
SMALLEST_MONEY = 1e-6
# Figures shown as a number and a suffix.
SUFFIXES = {"rows/s": " rows/s", "J": " J", "J/1k": " J per 1k", "rows": " rows"}
# Shown as the bare number: shares and metrics whose unit is the data's own (or none).
PLAIN = ("", "fraction", "0-1", "nats", "target unit", "false alarms")
COUNTS = ("count",)
PERCENT = "%"  # a fraction shown as a percentage: 0.953 -> 95.3%
PREDICTIONS = "predictions"  # a volume, short: 10M predictions
UNITS = (*_STEP, *MONEY, *SUFFIXES, *PLAIN, *COUNTS, PERCENT, PREDICTIONS)


def _unknown(value: Any) -> bool:
    """None, NaN, infinite or a missing-value marker (pandas' NA): nothing to show."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except TypeError:
        return True


def significant(value: float, digits: int = 3) -> str:
    """`digits` significant digits without e-notation; 1,000 and over in whole numbers with separators."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    rounded = float(f"{value:.{digits}g}")
    if abs(rounded) >= 1000:
        return f"{rounded:,.0f}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(rounded))), 0)
    text = f"{rounded:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def display_unit(values: Sequence[Any], unit: str) -> str:
    """The step of `unit`'s ladder that the largest of `values` reaches (the unit itself when it has none)."""
    if unit not in _STEP:
        return unit
    ladder, factor = _STEP[unit]
    known = [abs(float(v)) * factor for v in values if not _unknown(v) and float(v) != 0]
    if not known:
        return unit
    largest = max(known)
    steps = LADDERS[ladder]
    return next((name for name, size in reversed(steps) if largest >= size * (1 - 5e-4)), steps[0][0])


def _money(value: float, per: str) -> str:
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if amount == 0:
        text = "$0"
    elif amount < SMALLEST_MONEY:
        return ("> -" if value < 0 else "< ") + f"${significant(SMALLEST_MONEY, 1)}{per}"
    elif amount < 1:
        text = f"${significant(amount, 3)}"
        if len(text.partition(".")[2]) < 2:  # cents stay cents: $0.10, not $0.1
            text = f"${amount:.2f}"
    elif amount < 100:
        text = f"${amount:,.2f}"
    else:
        text = f"${amount:,.0f}"
    return f"{sign}{text}{per}"


def _short_count(count: float) -> str:
    for size, word in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(count) >= size:
            return f"{significant(count / size, 3)}{word}"
    return significant(count, 3)


def format_quantity(
    value: Any, unit: str, *, digits: int | None = None, signed: bool = False, display: str | None = None
) -> str:
    """`value`, stored in `unit`, as a person reads it.

    digits: significant digits (4 for plain numbers such as quality metrics, else 3). signed: a
    leading + on positive values (differences). display: the step of the unit's ladder to show it
    in, instead of the one its magnitude picks ("0.05 ms" beside a limit typed in ms).
    """
    if unit not in UNITS:
        raise ValueError(f"format_quantity does not know the unit {unit!r}; known: {', '.join(UNITS)}")
    if _unknown(value):
        return MISSING
    value = float(value)
    sign = "+" if signed and value > 0 else ""
    if unit in MONEY:
        return sign + _money(value, MONEY[unit])
    if unit in PLAIN:
        return sign + significant(value, digits or 4)
    if unit in COUNTS:
        return sign + f"{value:,.0f}"
    if unit == PERCENT:
        return sign + significant(value * 100, digits or 3) + "%"
    if unit == PREDICTIONS:
        return sign + _short_count(value) + " predictions"
    if unit in SUFFIXES:
        return sign + significant(value, digits or 3) + SUFFIXES[unit]
    ladder, factor = _STEP[unit]
    shown = display or display_unit([value], unit)
    steps = dict(LADDERS[ladder])
    if shown not in steps:
        raise ValueError(f"{unit!r} cannot be shown in {shown!r}; use one of {', '.join(steps)}")
    return sign + significant(value * factor / steps[shown], digits or 3) + " " + shown


def format_quantities(values: Sequence[Any], unit: str, *, digits: int | None = None) -> list[str]:
    """Figures of one unit shown side by side, in the same step (the one the largest reaches)."""
    shown = display_unit(values, unit)
    return [format_quantity(v, unit, digits=digits, display=shown if unit in _STEP else None) for v in values]


def column_unit(column: str) -> str:
    """The unit a leaderboard column's figures are stored in ("" for a column the table does not name)."""
    found = COLUMNS.get(column)
    return found.unit if found is not None else ""


def format_column(value: Any, column: str, **options: Any) -> str:
    """A leaderboard column's figure in its unit: format_column(0.0453, "p99_ms") -> "45.3 us"."""
    return format_quantity(value, column_unit(column), **options)
