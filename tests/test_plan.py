"""The run's plan: built and checked once at the boundary, saved with the run, read back by resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import advisor
from advisor.cli import _build_parser
from advisor.pipeline.plan import Budget, RunPlan

from conftest import DATA


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ({"priorities": "accuracy=9"}, "accuracy"),
        ({"priorities": "speed=2"}, "speed"),
        ({"limits": ["p99=3"]}, "p99"),
        ({"profile": "moon-base"}, "moon-base"),
        ({"budget_s": -5}, "budget"),
        ({"row_budget": 10.5}, "row_budget"),
        ({"candidate_time_limit_s": 0}, "candidate_time_limit_s"),
        ({"miss_cost": -1}, "miss"),
        ({"seed": "zero"}, "seed"),
    ],
)
def test_a_wrong_setting_is_one_sentence_before_anything_runs(given: dict, words: str):
    with pytest.raises(advisor.AdvisorError) as caught:
        RunPlan.make(**given)
    message = str(caught.value)
    assert "\n" not in message and words in message.lower(), message


def test_the_budget_has_its_two_rules_in_one_place():
    budget = Budget(100)
    assert budget.may_start(60, "tree") and not budget.may_start(61, "tree") and budget.may_start(99, "baseline")
    assert budget.may_time_cold_starts(100) and not budget.may_time_cold_starts(101)
    assert Budget().may_start(10**9, "tree") and "60%" in Budget.rules()


def test_the_cli_and_the_app_read_their_defaults_from_the_plan():
    defaults = _build_parser().parse_args(["run", "data.csv", "--target", "y"])
    assert defaults.seed == RunPlan.default("seed")
    assert defaults.row_budget == RunPlan.default("row_budget")
    assert defaults.candidate_timeout == RunPlan.default("candidate_time_limit_s")
    page = (Path(advisor.__file__).parent.parent / "app" / "pages" / "advisor_page.py").read_text()
    assert "advisor.Budget.rules()" in page and "60%" not in page


def test_a_run_saves_its_plan_and_resume_reads_it_back(tmp_path: Path):
    plan = RunPlan.make(
        priorities="accuracy=5,size=3",
        limits=["p99_ms=50"],
        profile=advisor.get_target("laptop").override(predictions_per_month=12345),
        candidates=["baseline", "linear"],
        budget_s=600,
        seed=3,
        row_budget=5000,
        timing=advisor.QUICK_TIMING,
        with_learning_curve=False,
    )
    run = advisor.advise(DATA / "penguins.csv", "species", plan=plan, store=tmp_path)
    saved = advisor.Store(tmp_path).load_run(run.run_id)["header"]["settings"]
    back = RunPlan.from_saved(saved)
    assert back == plan  # the user's own target figure included
    assert run.settings["priorities"] == {"accuracy": 5.0, "size": 3.0} and run.profile.predictions_per_month == 12345
    # a run stored before plans existed is read from its settings
    old = {k: v for k, v in saved.items() if k != "plan"}
    from_settings = RunPlan.from_saved(old, saved["plan"]["profile"])
    assert from_settings.candidate_memory_limit_mb > 0  # the limit that was in force, saved in MB of memory
    same = replace(from_settings, candidates=plan.candidates, with_learning_curve=False, candidate_memory_limit_mb=None)
    assert same == plan
