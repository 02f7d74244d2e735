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

from advisor.candidates.catalog import (
    METRICS,
    CandidateSpec,
    Registry,
    TargetProfile,
    get_target,
    load_candidates,
    load_targets,
)
from advisor.data.load import Dataset, guess_target, inspect_table, load_dataset, load_table, split_dataset
from advisor.deploy.artifact import Artifact, ArtifactError, export, load_artifact
from advisor.deploy.modelfile import UntrustedPickle
from advisor.deploy.predictor import Predictor, load_predictor
from advisor.errors import AdvisorError, ConfigError, DataError, InputSchemaError, RunNotFound
from advisor.measure.figures import HIGHER_IS_BETTER
from advisor.measure.timing import QUICK_TIMING, TimingConfig
from advisor.pipeline.run import ProgressEvent, advise, open_run, resume
from advisor.present.card import Card, card_lines, recommendation_card
from advisor.present.charts import AXES, batch_data, batch_figure, pareto_data, pareto_figure, selected_key
from advisor.present.report import build_report
from advisor.rank.pareto import (
    Recommendation,
    pareto_mask,
    parse_limits,
    parse_priorities,
    recommend,
    to_losses,
)
from advisor.rank.significance import Significance
from advisor.results import LEADERBOARD_COLUMNS, CandidateResult, CannotWrite, Run
from advisor.store import Store, StoreError, is_run_id, new_run_id

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
