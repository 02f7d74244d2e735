"""Serving an exported artifact over HTTP, loading it with a measured request rate, and estimating its capacity."""
