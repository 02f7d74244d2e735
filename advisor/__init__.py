"""advisor: train, measure and recommend models for inference on a tabular dataset.

A plain library (it never imports streamlit). The surface:

    run = advisor.advise("datasets/penguins.csv", target="species", priorities="accuracy=5,latency=3")
    run.leaderboard            # one row per candidate; columns in advisor.LEADERBOARD_COLUMNS
    run.recommendation.key     # the chosen candidate, with .reason and .gives_up
    run.rerank(priorities="size=5,accuracy=2")   # same measurements, new ranking
    predictor = advisor.load_predictor(run.candidate(run.recommendation.key).artifact)
    predictor.predict({"island": "Biscoe", ...})
"""

from advisor._catalog import METRICS, CandidateSpec, Registry, TargetProfile, get_target, load_candidates, load_targets
from advisor._data import Dataset, inspect_table, load_dataset, load_table, split_dataset
from advisor._errors import AdvisorError, ConfigError, DataError, RunNotFound
from advisor._pareto import Recommendation, pareto_mask, parse_limits, parse_priorities, recommend, to_losses
from advisor._predictor import Predictor, load_predictor
from advisor._results import LEADERBOARD_COLUMNS, CandidateResult, Run
from advisor._run import ProgressEvent, advise, open_run
from advisor._store import Store
from advisor._timing import QUICK_TIMING, TimingConfig

__version__ = "0.1.0"

__all__ = [
    "LEADERBOARD_COLUMNS",
    "METRICS",
    "QUICK_TIMING",
    "AdvisorError",
    "CandidateResult",
    "CandidateSpec",
    "ConfigError",
    "DataError",
    "Dataset",
    "Predictor",
    "ProgressEvent",
    "Recommendation",
    "Registry",
    "Run",
    "RunNotFound",
    "Store",
    "TargetProfile",
    "TimingConfig",
    "advise",
    "get_target",
    "inspect_table",
    "load_candidates",
    "load_dataset",
    "load_predictor",
    "load_table",
    "load_targets",
    "open_run",
    "pareto_mask",
    "parse_limits",
    "parse_priorities",
    "recommend",
    "split_dataset",
    "to_losses",
]
