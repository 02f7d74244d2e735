"""Dates and times as calendar parts (year, month, day, weekday, hour), one way for a batch and
the same answer for one record.

The format of a date column is learned on the training rows (`learn_date_format`): the first of
`DATE_FORMATS` that reads nearly all of them (the one that reads the most when several do). Each
format is a strptime format (what another runtime needs; pandas parses a batch with it) and a
regular expression a value must match entirely. The expression is the gate on both paths, so a
batch (`date_parts`, vectorised pandas) and one record (`record_date_parts`, the standard library
only, about a microsecond) accept the same values and read the same instant from them. A value
that does not match (another format, a typo, a number) is missing and imputed.

Times with a zone ('Z', '+01:00', '-0500') are converted to UTC; times without one are taken as
UTC, as the column roles describe them. Native datetimes (Python's, pandas', numpy's) are used as
they are, converted to UTC when they carry a zone. A column no listed format reads keeps pandas'
"mixed" parsing (row by row, slow), as every column did before formats were learned.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

DATE_PARTS = ("year", "month", "day", "weekday", "hour")
Parts = tuple[int, int, int, int, int]  # as DATE_PARTS; ints: exact in any arithmetic that follows

# Years every pandas time unit holds (nanoseconds reach 1677-09-21 to 2262-04-11); dates outside
# them (typos such as 0202 or 20201) are missing on both paths, whatever unit pandas picks.
EARLIEST_YEAR, LATEST_YEAR = 1678, 2261
# The share of the distinct training values a format must read to be chosen.
FORMAT_MIN_SHARE = 0.95
FORMAT_SAMPLE = 1000
# Texts a record parser remembers: dates repeat (a day's records, a table's few thousand days),
# and a remembered one costs a dict lookup instead of a regular expression and a datetime.
RECORD_CACHE_SIZE = 4096
_UNSEEN = object()


@dataclass(frozen=True)
class DateFormat:
    """One way dates are written: `strptime` for pandas and other runtimes, `pattern` the gate,
    `fields` the strptime directive each group of the pattern holds (ISO 8601 has none: Python's
    `datetime.fromisoformat` reads what the pattern lets through)."""

    strptime: str
    pattern: str
    fields: tuple[str, ...] = ()


# Only ASCII digits ([0-9], not \d): pandas' string arrays match with RE2, where \d is ASCII,
# and Python's \d would also let through digits of other scripts.
_N2, _Y = "([0-9]{1,2})", "([0-9]{4})"
_ISO = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?: ?(?:Z|[+-][0-9]{2}(?::?[0-5][0-9])?))?)?"
)
_N60 = "([0-5][0-9])"  # pandas reads 10:00:61 as 10:01:01; Python refuses it: neither gets it
_TIMES = (
    ("", "", ()),
    (" %H:%M", rf" {_N2}:{_N60}", ("H", "M")),
    (" %H:%M:%S", rf" {_N2}:{_N60}:{_N60}", ("H", "M", "S")),
)
_DAYS = (
    ("%Y/%m/%d", rf"{_Y}/{_N2}/{_N2}", ("Y", "m", "d")),
    ("%m/%d/%Y", rf"{_N2}/{_N2}/{_Y}", ("m", "d", "Y")),  # before day-first: pandas' own default
    ("%d/%m/%Y", rf"{_N2}/{_N2}/{_Y}", ("d", "m", "Y")),
    ("%d.%m.%Y", rf"{_N2}\.{_N2}\.{_Y}", ("d", "m", "Y")),
    ("%d-%m-%Y", rf"{_N2}-{_N2}-{_Y}", ("d", "m", "Y")),
)
DATE_FORMATS: dict[str, DateFormat] = {
    # '2024-01-31', '2024-01-31 10:00', '2024-01-31T10:00:00.5Z', '2024-01-31T10:00:00+01:00', ...
    "ISO8601": DateFormat("ISO8601", _ISO),
    **{
        day + time: DateFormat(day + time, day_pattern + time_pattern, day_fields + time_fields)
        for day, day_pattern, day_fields in _DAYS
        for time, time_pattern, time_fields in _TIMES
    },
    "%Y-%m": DateFormat("%Y-%m", rf"{_Y}-{_N2}", ("Y", "m")),  # months: '2024-01'
}


# --------------------------------------------------------------------------- one record


def _from_fields(regex: re.Pattern[str], fields: tuple[str, ...]) -> Callable[[str], datetime | None]:
    # The formats' fields run Y, m, d, H, M, S with a tail left out ('%Y-%m' has no day: the 1st);
    # every format has a year and a month, so `group` of these numbers gives a tuple.
    groups = [fields.index(f) + 1 for f in ("Y", "m", "d", "H", "M", "S") if f in fields]
    first_day = () if "d" in fields else (1,)

    def parse(text: str) -> datetime | None:
        match = regex.fullmatch(text)
        if match is None:
            return None
        try:  # minutes and seconds are not parts, but 10:75 is no time
            return datetime(*map(int, match.group(*groups)), *first_day)
        except ValueError:  # 2024-02-30, 25:00
            return None

    return parse


def _from_iso(regex: re.Pattern[str]) -> Callable[[str], datetime | None]:
    def parse(text: str) -> datetime | None:
        if regex.fullmatch(text) is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00, before year 1 in UTC
            return None

    return parse


def text_parser(date_format: str) -> Callable[[str], datetime | None]:
    """The instant (in UTC; naive when the text names no zone) a stripped string holds, or None."""
    spec = DATE_FORMATS[date_format]
    regex = re.compile(spec.pattern)
    return _from_iso(regex) if date_format == "ISO8601" else _from_fields(regex, spec.fields)


def record_parser(date_format: str, remembered: dict[str, Parts | None] | None = None) -> Callable[[Any], Parts | None]:
    """One value (text or a native datetime) to its calendar parts, or None for a missing one;
    the standard library only, the same answer as `date_parts` gives in a batch. The parts of up
    to `RECORD_CACHE_SIZE` texts are kept in `remembered` (a new dict when None), all forgotten
    at once when full."""
    from_text = text_parser(date_format)
    remembered = {} if remembered is None else remembered
    size = RECORD_CACHE_SIZE

    def read(text: str) -> Parts | None:
        moment = from_text(text.strip())
        found = None
        if moment is not None and EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            found = (moment.year, moment.month, moment.day, moment.weekday(), moment.hour)
        if len(remembered) >= size:
            remembered.clear()
        remembered[text] = found
        return found

    def parts(value: Any) -> Parts | None:
        if isinstance(value, str):
            found = remembered.get(value, _UNSEEN)
            return read(value) if found is _UNSEEN else found
        if isinstance(value, datetime):  # pandas' Timestamp too
            if value is pd.NaT:
                return None
            moment = value
            if value.tzinfo is not None and value.utcoffset() is not None:
                try:
                    moment = value.astimezone(UTC)
                except OverflowError:
                    return None
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, np.datetime64) and not np.isnat(value):
            moment = _from_numpy(value)
        else:  # missing, a number, anything else
            return None
        if moment is None or not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            return None
        return (moment.year, moment.month, moment.day, moment.weekday(), moment.hour)

    return parts


def _from_numpy(value: np.datetime64) -> datetime | None:
    moment = value.astype("datetime64[us]").item()  # an int when outside Python's years
    return moment if isinstance(moment, datetime) else None


# --------------------------------------------------------------------------- learning


def learn_date_format(values: pd.Series) -> str | None:
    """The format of a column's text, learned on (up to) 1,000 of its distinct values; ISO 8601
    when it holds no text (native datetimes); None when no listed format reads nearly all of it."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "ISO8601"
    texts = [v.strip() for v in values.dropna().unique()[: FORMAT_SAMPLE * 2] if isinstance(v, str)]
    sample = list(dict.fromkeys(t for t in texts if t))[:FORMAT_SAMPLE]
    if not sample:
        return "ISO8601"
    best, best_read = None, FORMAT_MIN_SHARE * len(sample)
    for name in DATE_FORMATS:
        parse = text_parser(name)
        read = sum(parse(text) is not None for text in sample)
        if read > best_read or (best is None and read >= best_read):
            best, best_read = name, read
    return best


# --------------------------------------------------------------------------- a batch


def date_parts(values: Any, date_format: str | None = None) -> np.ndarray:
    """(n, 5) float64 calendar parts, NaN where a value is missing or unreadable. `date_format`
    None is pandas' "mixed" parsing, as before formats were learned (older artifacts)."""
    if not isinstance(values, pd.Series):
        values = pd.Series(list(values), dtype=object)
    if date_format is None:
        return _mixed_parts(values)
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        is_text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        natives = values.map(_native).where(~is_text)
        stamps = _parse_texts(values.where(is_text), date_format)
        stamps = stamps.where(is_text, pd.to_datetime(natives, errors="coerce", utc=True))
    elif values.dtype == object or pd.api.types.is_string_dtype(values):
        stamps = _parse_texts(values, date_format)
    else:  # numbers, booleans: not dates
        return np.full((len(values), len(DATE_PARTS)), np.nan)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    parts = _calendar(stamps)
    outside = ~((parts[:, 0] >= EARLIEST_YEAR) & (parts[:, 0] <= LATEST_YEAR))
    parts[outside] = np.nan
    return parts


def _native(value: Any) -> Any:
    return value if isinstance(value, date | np.datetime64) else None


def _parse_texts(values: pd.Series, date_format: str) -> pd.Series:
    texts = values.str.strip()
    readable = texts.str.fullmatch(DATE_FORMATS[date_format].pattern).fillna(False).to_numpy(dtype=bool)
    return pd.to_datetime(texts.where(readable), format=date_format, errors="coerce", utc=True)


def _calendar(stamps: pd.Series) -> np.ndarray:
    parts = [stamps.dt.year, stamps.dt.month, stamps.dt.day, stamps.dt.day_of_week, stamps.dt.hour]
    return np.column_stack([p.to_numpy(dtype=np.float64, na_value=np.nan) for p in parts])


def _mixed_parts(values: pd.Series) -> np.ndarray:
    if not pd.api.types.is_datetime64_any_dtype(values):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    return _calendar(values)
