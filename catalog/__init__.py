"""Declarative catalog: candidate models and deployment targets, as TOML data.

`advisor` reads these files; adding a candidate means adding an entry to `candidates.toml`,
and the contract test in `tests/test_contract.py` picks it up.
"""

from pathlib import Path

CATALOG_DIR = Path(__file__).resolve().parent
CANDIDATES_FILE = CATALOG_DIR / "candidates.toml"
TARGETS_FILE = CATALOG_DIR / "targets.toml"
