from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "datasets"


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own run store, so tests never see each other's runs."""
    home = tmp_path / "advisor_home"
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    return home


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def penguins_linear_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The linear model on penguins exported once for the session: what the serving tests serve."""
    import advisor

    folder = tmp_path_factory.mktemp("served")
    run = advisor.advise(
        DATA / "penguins.csv", "species", candidates=["linear"], timing=advisor.QUICK_TIMING, store=folder / "store"
    )
    return advisor.export(run, "linear", folder / "model.zip", onnx=False)
