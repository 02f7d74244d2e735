"""The advisor's version, in one place (the package, reports and artifacts read it)."""

__version__ = "0.1.0"
