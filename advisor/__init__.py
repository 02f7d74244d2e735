"""advisor: train, measure and recommend models for inference on a tabular dataset.

A plain library (it never imports streamlit). The surface:

    run = advisor.advise("datasets/penguins.csv", target="species", priorities="accuracy=5,latency=3")
    run.leaderboard            # one row per candidate; columns in advisor.LEADERBOARD_COLUMNS
    run.recommendation.key     # the chosen candidate, with .reason and .gives_up
    run.rerank(priorities="size=5,accuracy=2")   # same measurements, new ranking
    advisor.export(run, run.recommendation.key, "model.zip")   # a verified, deployable artifact
    model = advisor.load_artifact("model.zip")
    model.predict({"island": "Biscoe", ...})
    advisor.run_server("model.zip", port=8000)   # POST /predict over HTTP, batched (advisor.serve.server)
    advisor.load_test("http://127.0.0.1:8000/predict", rows, p99_bound_ms=10).max_rps   # measured under load
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
from advisor.data.inspect import (
    Dataset,
    TargetGuess,
    guess_target,
    guess_target_with_reason,
    inspect_table,
    load_dataset,
    target_doubt,
)
from advisor.data.read import load_table
from advisor.data.split import split_dataset
from advisor.deploy.artifact import Artifact, export, load_artifact, load_predictor
from advisor.deploy.modelfile import UntrustedPickle
from advisor.deploy.predictor import Predictor
from advisor.errors import AdvisorError, ArtifactError, ConfigError, DataError, InputSchemaError, RunNotFound
from advisor.files import CannotWrite, disk_error, spreadsheet_safe, write_file
from advisor.measure.device import attach_device, measure_artifact, read_device_measurement
from advisor.measure.figures import HIGHER_IS_BETTER
from advisor.measure.timing import QUICK_TIMING, TimingConfig
from advisor.objectives import LIMITS, OBJECTIVES
from advisor.pipeline.advise import advise, open_run, resume
from advisor.pipeline.plan import Budget, RunPlan, ServeCheck
from advisor.pipeline.progress import ProgressEvent
from advisor.present.card import Card, card_lines, recommendation_card
from advisor.present.charts import AXES, batch_data, batch_figure, pareto_data, pareto_figure, selected_key
from advisor.present.explain import helpers_message
from advisor.present.numbers import format_quantity
from advisor.present.report import build_report
from advisor.present.rows import figure_rows
from advisor.present.serving_chart import serving_data, serving_figure, serving_rows
from advisor.present.text import terminal_safe
from advisor.present.view import RunView, TableView, leaderboard_view, run_view
from advisor.rank.pareto import (
    Recommendation,
    pareto_mask,
    parse_limits,
    parse_priorities,
    recommend,
    to_losses,
)
from advisor.rank.significance import Significance, significance_for
from advisor.results import LEADERBOARD_COLUMNS, CandidateResult, Run
from advisor.serve.capacity import CapacityEstimate, FleetEstimate, estimate_capacity, fleet_for_peak
from advisor.serve.load import LoadPoint, LoadResult, load_test
from advisor.serve.server import create_app, run_server
from advisor.store import Store, StoreError, is_run_id, new_run_id
from advisor.version import __version__ as __version__

__all__ = [
    "AXES",
    "HIGHER_IS_BETTER",
    "LEADERBOARD_COLUMNS",
    "LIMITS",
    "METRICS",
    "OBJECTIVES",
    "QUICK_TIMING",
    "AdvisorError",
    "Artifact",
    "ArtifactError",
    "Budget",
    "CandidateResult",
    "CandidateSpec",
    "CannotWrite",
    "CapacityEstimate",
    "Card",
    "ConfigError",
    "DataError",
    "Dataset",
    "FleetEstimate",
    "InputSchemaError",
    "LoadPoint",
    "LoadResult",
    "Predictor",
    "ProgressEvent",
    "Recommendation",
    "Registry",
    "Run",
    "RunNotFound",
    "RunPlan",
    "RunView",
    "ServeCheck",
    "Significance",
    "Store",
    "StoreError",
    "TableView",
    "TargetGuess",
    "TargetProfile",
    "TimingConfig",
    "UntrustedPickle",
    "advise",
    "attach_device",
    "batch_data",
    "batch_figure",
    "build_report",
    "card_lines",
    "create_app",
    "disk_error",
    "estimate_capacity",
    "export",
    "figure_rows",
    "fleet_for_peak",
    "format_quantity",
    "get_target",
    "guess_target",
    "guess_target_with_reason",
    "helpers_message",
    "inspect_table",
    "is_run_id",
    "leaderboard_view",
    "load_artifact",
    "load_candidates",
    "load_dataset",
    "load_predictor",
    "load_table",
    "load_targets",
    "load_test",
    "measure_artifact",
    "new_run_id",
    "open_run",
    "pareto_data",
    "pareto_figure",
    "pareto_mask",
    "parse_limits",
    "parse_priorities",
    "read_device_measurement",
    "recommend",
    "recommendation_card",
    "resume",
    "run_server",
    "run_view",
    "selected_key",
    "serving_data",
    "serving_figure",
    "serving_rows",
    "significance_for",
    "split_dataset",
    "spreadsheet_safe",
    "target_doubt",
    "terminal_safe",
    "to_losses",
    "write_file",
]
