"""Exclusions are rules: an entry trained only because a chosen one needs it is never recommended."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from advisor import QUICK_TIMING, Registry, Store, advise, load_candidates, open_run, resume

from conftest import DATA, PROJECT


def test_families_left_out_make_the_teacher_and_its_members_helpers():
    registry = load_candidates()
    specs, helpers = registry.select_with_helpers(families=["linear", "tree"])
    keys = [s.key for s in specs]
    assert {"linear", "tree", "distill-tree", "ensemble-selected", "lightgbm", "mlp"} <= set(keys)
    assert keys == [k for k in registry.keys() if k in keys]  # catalog order
    assert set(helpers) == {"ensemble-selected", "lightgbm", "mlp"}  # the fixed `ensemble` is only in its pool
    assert helpers["ensemble-selected"] == (
        "trained only because Depth-6 tree distilled from the ensemble (distill-tree) needs it as its teacher; "
        "you left out the ensemble family"
    )
    assert "(ensemble-selected) needs it as an ensemble member, for Depth-6 tree" in helpers["mlp"]
    assert helpers["mlp"].endswith("you left out the neural family")
    assert helpers["lightgbm"].endswith("you left out the boosting family")
    assert "baseline" in keys and "baseline" not in helpers
    assert registry.select(families=["linear", "tree"]) == specs  # `select` is unchanged for its callers


def test_an_entry_left_out_by_key_is_a_helper_and_a_chosen_one_never_is():
    registry = load_candidates()
    _, helpers = registry.select_with_helpers(["mlp-fp16"])
    assert helpers == {
        "mlp": "trained only because MLP fp16 (mlp-fp16) needs it as the model it is derived from; "
        "you did not choose it"
    }
    _, helpers = registry.select_with_helpers(["mlp-fp16", "mlp"])
    assert helpers == {}
    _, helpers = registry.select_with_helpers(families=["neural", "ensemble", "boosting", "tree"])
    assert helpers == {}  # everything the distilled students need was chosen


def test_a_helper_of_a_helper_names_the_chosen_entry_it_serves():
    specs = {s.key: s for s in load_candidates()}
    student = specs["distill-tree"]  # needs the ensemble only; the ensemble needs its members
    registry = Registry([specs["baseline"], specs["lightgbm"], specs["mlp"], specs["ensemble-selected"], student])
    _, helpers = registry.select_with_helpers(families=["tree"])
    assert helpers["mlp"].startswith(
        "trained only because Ensemble by selection (weights chosen on validation) (ensemble-selected) needs it as "
        "an ensemble member, for Depth-6 tree distilled from the ensemble (distill-tree)"
    )


def _distill_registry() -> Registry:
    """The distilled tree, its teacher and the teacher's members, made small so that the run is quick."""
    specs = {s.key: s for s in load_candidates()}
    mlp = specs["mlp"]
    small_mlp = replace(mlp, params=dict(mlp.params, hidden=[16], epochs=3))
    small_lgbm = replace(specs["lightgbm"], params=dict(specs["lightgbm"].params, n_estimators=10))
    return Registry([specs["baseline"], small_lgbm, small_mlp, specs["ensemble-selected"], specs["distill-tree"]])


@pytest.fixture(scope="module")
def distill_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("out")
    events = []
    run = advise(
        DATA / "penguins.csv",
        "species",
        out=out,
        store=home,
        timing=QUICK_TIMING,
        registry=_distill_registry(),
        families=["tree"],
        with_learning_curve=False,
        progress=events.append,
    )
    return run, out, home, events


def test_a_run_records_its_helpers_in_its_settings_and_results(distill_run):
    run, out, home, _ = distill_run
    assert set(run.settings["helpers"]) == {"lightgbm", "mlp", "ensemble-selected"}
    assert run.settings["helpers"]["ensemble-selected"].endswith("you left out the ensemble family")
    assert run.candidate("distill-tree").status == "measured"
    assert all(run.candidate(k).status == "measured" for k in run.settings["helpers"])  # trained, as it needs them
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["helpers"] == run.settings["helpers"]
    assert open_run(run.run_id, store=home).settings["helpers"] == run.settings["helpers"]
    assert open_run(out).settings["helpers"] == run.settings["helpers"]


def test_the_helpers_are_announced_before_any_candidate_trains(distill_run):
    _, _, _, events = distill_run
    (announced,) = [i for i, e in enumerate(events) if e.phase == "helpers"]
    first_training = next(i for i, e in enumerate(events) if e.stage == "train")
    assert announced < first_training
    message = events[announced].message
    assert message.startswith("Trained as helpers, never recommended: lightgbm, mlp, ensemble-selected.")
    assert "you left out the neural family" in message


def test_a_helper_is_never_recommended_and_says_why(distill_run):
    run, _, _, _ = distill_run
    helpers = run.settings["helpers"]
    for ranked in (run, run.rerank(priorities="accuracy=5"), run.rerank(priorities="size=5")):
        assert ranked.recommendation.key not in helpers
        for key, reason in helpers.items():
            assert any(reason in why for why in ranked.recommendation.excluded[key]), key


def test_resume_keeps_the_helpers_the_run_first_recorded(tmp_path: Path):
    def interrupt_after_first(event):
        if event.stage == "train" and event.phase == "trained":
            raise KeyboardInterrupt

    store = Store(tmp_path / "home")
    with pytest.raises(KeyboardInterrupt):
        advise(
            DATA / "penguins.csv",
            "species",
            store=store,
            timing=QUICK_TIMING,
            registry=_distill_registry(),
            families=["tree"],
            progress=interrupt_after_first,
        )
    (listed,) = store.list_runs()
    first = open_run(listed["run_id"], store=store).settings["helpers"]
    assert set(first) == {"lightgbm", "mlp", "ensemble-selected"}
    events = []
    resumed = resume(listed["run_id"], store=store, timing=QUICK_TIMING, progress=events.append)
    assert resumed.status == "complete"
    assert resumed.settings["helpers"] == first
    assert open_run(listed["run_id"], store=store).settings["helpers"] == first
    assert any(e.phase == "helpers" for e in events)


def test_the_app_says_which_families_pull_in_helpers():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT / "app" / "main.py"), default_timeout=120)
    at.run()
    at.multiselect(key="families").set_value(["linear", "tree"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (caption,) = [c.value.replace("\\", "") for c in at.caption if "Trained as helpers" in c.value]
    assert "Ensemble by selection" in caption and "you left out the neural family" in caption
    at.multiselect(key="families").set_value(["linear"])
    at.run()
    assert not any("Trained as helpers" in c.value for c in at.caption)
