"""advisor: train, measure and recommend models for inference on a tabular dataset.

A plain library (it never imports streamlit). The surface:

    run = advisor.advise("datasets/penguins.csv", target="species", priorities="accuracy=5,latency=3")
    run.leaderboard            # one row per candidate; columns in advisor.LEADERBOARD_COLUMNS
    run.recommendation.key     # the chosen candidate, with .reason and .gives_up
    run.rerank(priorities="size=5,accuracy=2")   # same measurements, new ranking
    advisor.export(run, run.recommendation.key, "model.zip")   # a verified, deployable artifact
    model = advisor.load_artifact("model.zip")
    model.predict({"island": "Biscoe", ...})
"""

from advisor._artifact import Artifact, ArtifactError, export, load_artifact
from advisor._card import Card, card_lines, recommendation_card
from advisor._catalog import METRICS, CandidateSpec, Registry, TargetProfile, get_target, load_candidates, load_targets
from advisor._charts import AXES, batch_data, batch_figure, pareto_data, pareto_figure, selected_key
from advisor._data import Dataset, guess_target, inspect_table, load_dataset, load_table, split_dataset
from advisor._errors import AdvisorError, ConfigError, DataError, InputSchemaError, RunNotFound
from advisor._measure import HIGHER_IS_BETTER
from advisor._modelfile import UntrustedPickle
from advisor._pareto import (
    Recommendation,
    pareto_mask,
    parse_limits,
    parse_priorities,
    recommend,
    to_losses,
)
from advisor._predictor import Predictor, load_predictor
from advisor._report import build_report
from advisor._results import LEADERBOARD_COLUMNS, CandidateResult, CannotWrite, Run
from advisor._run import ProgressEvent, advise, open_run, resume
from advisor._significance import Significance
from advisor._store import Store, StoreError, is_run_id, new_run_id
from advisor._timing import QUICK_TIMING, TimingConfig

__version__ = "0.1.0"

__all__ = [
    "AXES",
    "HIGHER_IS_BETTER",
    "LEADERBOARD_COLUMNS",
    "METRICS",
    "QUICK_TIMING",
    "AdvisorError",
    "Artifact",
    "ArtifactError",
    "CandidateResult",
    "CandidateSpec",
    "CannotWrite",
    "Card",
    "ConfigError",
    "DataError",
    "Dataset",
    "InputSchemaError",
    "Predictor",
    "ProgressEvent",
    "Recommendation",
    "Registry",
    "Run",
    "RunNotFound",
    "Significance",
    "Store",
    "StoreError",
    "TargetProfile",
    "TimingConfig",
    "UntrustedPickle",
    "advise",
    "batch_data",
    "batch_figure",
    "build_report",
    "card_lines",
    "export",
    "get_target",
    "guess_target",
    "inspect_table",
    "is_run_id",
    "load_artifact",
    "load_candidates",
    "load_dataset",
    "load_predictor",
    "load_table",
    "load_targets",
    "new_run_id",
    "open_run",
    "pareto_data",
    "pareto_figure",
    "pareto_mask",
    "parse_limits",
    "parse_priorities",
    "recommend",
    "recommendation_card",
    "resume",
    "selected_key",
    "split_dataset",
    "to_losses",
]
