"""Errors a user can cause.

Every error here is one clear sentence naming the file, column or value and what to do.
The CLI prints it and exits with code 2; the app shows it on the page. Anything that is
not an `AdvisorError` is a bug in the advisor, not a user mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AdvisorError(Exception):
    """Base class for mistakes a user can make and fix."""


class DataError(AdvisorError):
    """The data file or its columns cannot be used as given."""


class FileNotFound(DataError):
    pass


class UnsupportedFormat(DataError):
    pass


class UnreadableFile(DataError):
    pass


class EmptyFile(DataError):
    pass


class FileTooLarge(DataError):
    pass


class UnknownColumn(DataError):
    pass


class TargetAllMissing(DataError):
    pass


class OneClassTarget(DataError):
    pass


class TooFewRows(DataError):
    pass


class ClassTooSmall(DataError):
    pass


class TaskMismatch(DataError):
    pass


class NoFeatures(DataError):
    pass


class InputSchemaError(DataError):
    """Rows given to a saved predictor do not have the columns it was trained on."""


class ConfigError(AdvisorError):
    """A priority, limit, profile or candidate name is not valid."""


class UnknownKey(ConfigError):
    pass


class RunNotFound(AdvisorError):
    pass


def shown(value: object, limit: int = 60) -> str:
    """A user's value as a message quotes it: on one line, and cut to `limit` characters."""
    text = str(value)
    cut = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return cut + ("..." if len(text) > limit else "")


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A short hint listing the closest valid choice, or all of them when few."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    listing = ", ".join(repr(shown(c)) for c in choices[:30])
    if len(choices) > 30:
        listing += f", ... ({len(choices)} in all)"
    if close:
        return f"did you mean {shown(close[0])!r}? Valid: {listing}"
    return f"valid: {listing}"


class ArtifactError(AdvisorError):
    """An artifact file is damaged, changed after export, or not an advisor artifact."""
