"""The declarative catalog and its registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor import CandidateSpec, ConfigError, Registry, load_candidates, load_targets
from advisor.errors import UnknownKey

from conftest import PROJECT


def test_default_catalog_covers_the_families():
    registry = load_candidates()
    assert {"baseline", "linear", "tree", "forest", "boosting", "neural"} <= set(registry.families())
    assert {"lightgbm", "lightgbm-fast", "mlp"} <= set(registry.keys())


def test_duplicate_keys_are_rejected():
    spec = CandidateSpec("a", "A", "linear", "linear")
    with pytest.raises(ConfigError, match="'a' appears twice"):
        Registry([spec, spec])


def test_unknown_key_lists_valid_keys():
    with pytest.raises(UnknownKey) as caught:
        load_candidates().get("lightgmb")
    assert "did you mean 'lightgbm'" in str(caught.value)


def test_parent_must_exist_and_builder_must_be_known():
    with pytest.raises(ConfigError, match="names parent 'nothing'"):
        Registry([CandidateSpec("child", "C", "neural", "torch_mlp", parent="nothing")])
    with pytest.raises(ConfigError, match="builder 'magic'"):
        Registry([CandidateSpec("x", "X", "linear", "magic")], builders=["linear"])


def test_a_compressed_variant_is_just_another_entry(tmp_path: Path):
    text = (PROJECT / "catalog" / "candidates.toml").read_text()
    text += (
        '\n[[candidate]]\nkey = "mlp-tiny"\nname = "Tiny MLP"\nfamily = "neural"\nbuilder = "torch_mlp"\n'
        'parent = "mlp"\ncompression = "narrow"\nparams = { hidden = [16] }\nrequires = ["torch"]\n'
    )
    (tmp_path / "c.toml").write_text(text)
    registry = load_candidates(tmp_path / "c.toml")
    child = registry.get("mlp-tiny")
    assert child.parent == "mlp" and child.compression == "narrow" and child.params["hidden"] == [16]


def test_select_by_family_always_keeps_the_baseline():
    specs, helpers = load_candidates().select_with_helpers(families=["boosting"])
    assert specs[0].family == "baseline"
    assert {s.family for s in specs if s.key not in helpers} == {"baseline", "boosting"}  # helpers: a student's teacher
    with pytest.raises(UnknownKey, match="did you mean 'boosting'"):
        load_candidates().select(families=["bosting"])


def test_targets_have_their_figures_and_sources():
    targets = load_targets()
    assert {"cloud-cpu", "cloud-gpu", "laptop", "phone", "sensor"} <= set(targets)
    for profile in targets.values():
        assert profile.source and profile.watts_per_core > 0 and profile.memory_budget_mb > 0
        assert set(profile.weights) <= {"accuracy", "latency", "throughput", "size", "energy", "cost"}
    cheaper = targets["cloud-cpu"].override(usd_per_hour=0.01)
    assert cheaper.usd_per_hour == 0.01 and targets["cloud-cpu"].usd_per_hour != 0.01
    with pytest.raises(ConfigError, match="usd_per_hour"):
        targets["cloud-cpu"].override(usd_per_hr=1)
