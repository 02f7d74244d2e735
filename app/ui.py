"""Glue shared by the pages: state, the store, the job registry, and small display helpers.

No training or measuring happens here: everything comes from `advisor`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

import advisor
from app import presets
from app.jobs import JobRegistry

PROJECT = Path(__file__).resolve().parent.parent
SAMPLE = PROJECT / "datasets" / "titanic.csv"
SAMPLE_KEY = "sample"  # the data source meaning the bundled sample (an upload's source is its file id)
FORMATS = "CSV, CSV.gz, Parquet or XLSX"
# The server's own limit (server.maxUploadSize: .streamlit/config.toml, or --server.maxUploadSize),
# checked again in code so the message is ours and the limit holds for whatever reaches the loader;
# ADVISOR_MAX_UPLOAD_MB can only lower it.
MAX_UPLOAD_MB = min(int(st.get_option("server.maxUploadSize")), int(os.environ.get("ADVISOR_MAX_UPLOAD_MB") or 10**6))
# Sliders and limit widgets, from the one vocabulary of objectives (advisor.OBJECTIVES, advisor.LIMITS).
METRIC_LABELS = {name: objective.label for name, objective in advisor.OBJECTIVES.items()}
# Limit widgets: key -> (label, advisor limit name, step). 0 means "no limit".
LIMIT_FIELDS = {f"limit_{limit.name}": (limit.label, limit.name, limit.step) for limit in advisor.LIMITS.values()}


@st.cache_resource
def _store(root: str) -> advisor.Store:
    return advisor.Store(root)


def store() -> advisor.Store:
    """The run store under $ADVISOR_HOME (else ./advisor_runs), one per location."""
    return _store(str(advisor.Store.default_root()))


@st.cache_resource
def jobs() -> JobRegistry:
    return JobRegistry()


@st.cache_data(show_spinner=False)
def targets() -> dict[str, advisor.TargetProfile]:
    return advisor.load_targets()


@dataclass(frozen=True)
class Table:
    """The dataset the page works on, read once per upload: its frame, or the sentence that refused it."""

    source: str  # SAMPLE_KEY, or the upload's file id
    name: str
    frame: pd.DataFrame | None = None
    error: str | None = None


def use_sample() -> None:
    """The person chose the bundled sample (a button's callback): it is active until the next upload."""
    st.session_state["data_source"] = SAMPLE_KEY


def active_table(upload: UploadedFile | None) -> Table | None:
    """The dataset in use, or None when none is: the sample on a first visit or when picked again,
    else the latest upload. A refused upload, or removing the file, leaves none active (the sample is
    never armed behind the person's back).

    The session holds one table: the previous one is dropped before the next is read, and reruns reuse
    it (no cache keyed on the upload's bytes, no copy per rerun), so a replaced upload's memory is freed.
    """
    upload_id = upload.file_id if upload is not None else None
    if "data_source" not in st.session_state:
        st.session_state["data_source"] = SAMPLE_KEY
        st.session_state["upload_seen"] = upload_id
    previous = st.session_state.get("upload_seen")
    if upload_id != previous:  # a file arrived or replaced the last one (it is used), or was removed
        st.session_state["upload_seen"] = upload_id
        if upload_id is not None or st.session_state["data_source"] == previous:
            st.session_state["data_source"] = upload_id  # removing the file in use leaves none active
    source = st.session_state["data_source"]
    held: Table | None = st.session_state.get("table")
    if held is not None and held.source == source:
        return held
    st.session_state.pop("table", None)
    del held  # the replaced frame goes before the next one is read
    if source is None:
        return None
    if source == SAMPLE_KEY:
        raw, name = SAMPLE.read_bytes(), SAMPLE.name
    elif upload is not None and upload.file_id == source:
        raw, name = upload.getvalue(), upload.name
    else:  # the chosen upload is gone from the widget
        st.session_state["data_source"] = None
        return None
    try:
        frame, _ = advisor.load_table(raw, name=name, max_bytes=MAX_UPLOAD_MB * 1_000_000)
        table = Table(source, name, frame=frame)
    except advisor.AdvisorError as exc:
        table = Table(source, name, error=str(exc))
    st.session_state["table"] = table
    return table


def leaderboard_csv(board: pd.DataFrame) -> bytes:
    """The leaderboard as the CLI writes leaderboard.csv: spreadsheet-safe (a text cell that starts with
    = + - @ gets a leading '), numbers left as numbers."""
    return advisor.spreadsheet_safe(board).to_csv(index=False).encode()


def export_zip(run: advisor.Run, key: str) -> bytes:
    """Candidate `key` of `run` as `advisor export` writes it (`advisor.export`: the verified artifact
    with model.onnx where it converts, preprocessing.json and export.json), through a temporary file."""
    with tempfile.TemporaryDirectory(prefix="advisor-export-") as folder:
        return advisor.export(run, key, Path(folder) / f"{key}.zip").read_bytes()


def apply_profile(key: str) -> None:
    """Fill the weights and limits from a deployment-target preset (the user can then edit them)."""
    profile = targets()[key]
    for metric in advisor.METRICS:
        st.session_state[f"weight_{metric}"] = int(profile.weights.get(metric, 0))
    for field_key, (_, limit, _) in LIMIT_FIELDS.items():
        st.session_state[field_key] = float(profile.limits.get(limit, 0.0))
    st.session_state["predictions_per_month"] = float(profile.predictions_per_month)


def card_for(run: advisor.Run) -> advisor.Card:
    """The recommendation card, kept for this session while the run and the ranking inputs stay the
    same: its stability sweep re-ranks a few hundred times (about half a second on 2 cores), and
    Streamlit reruns the page on every click."""
    rec = run.recommendation or run.rank()
    key = (
        run.run_id,
        run.status,
        tuple(sorted(rec.weights.items())),
        tuple(sorted(rec.limits.items())),
        tuple(sorted(run.profile.__dict__.items(), key=lambda item: item[0])).__repr__(),
        run.device,
        tuple((c.key, c.status) for c in run.candidates),
    )
    cached = st.session_state.get("card_cache")
    if cached is None or cached[0] != key:
        cached = (key, advisor.recommendation_card(run))
        st.session_state["card_cache"] = cached
    return cached[1]


def current_profile() -> advisor.TargetProfile:
    """The chosen deployment target with the volume the user typed."""
    profile = targets()[st.session_state["profile"]]
    volume = st.session_state.get("predictions_per_month")
    return profile.override(predictions_per_month=float(volume)) if volume else profile


def init_state() -> None:
    if "profile" not in st.session_state:
        st.session_state["profile"] = "cloud-cpu"
        apply_profile("cloud-cpu")
        st.session_state["families"] = [f for f in advisor.load_candidates().families() if f != "baseline"]
        st.session_state["budget_s"] = 0
        st.session_state["thorough"] = "Thorough (1,000 timed calls, cold starts)"
        st.session_state["serve_check"] = False
        st.session_state["scheduler"] = os.environ.get("ADVISOR_DASK_SCHEDULER", "")
        st.session_state["measure_on"] = ""


def apply_run_settings(run: advisor.Run) -> None:
    """Take the priorities a run was made with (call before the sidebar's widgets exist)."""
    st.session_state["settings_from_run"] = run.run_id
    if run.profile.key in targets():
        st.session_state["profile"] = run.profile.key
    st.session_state["predictions_per_month"] = float(run.profile.predictions_per_month)
    st.session_state["miss_cost"] = (run.settings.get("options") or {}).get("miss_cost")
    for metric in advisor.METRICS:
        st.session_state[f"weight_{metric}"] = int(run.weights.get(metric, 0))
    for field_key, (_, limit, _) in LIMIT_FIELDS.items():
        st.session_state[field_key] = float(run.limits.get(limit, 0.0))


def current_weights() -> dict[str, float]:
    return {m: float(st.session_state.get(f"weight_{m}", 0)) for m in advisor.METRICS}


def current_limits() -> dict[str, float]:
    return {limit: float(st.session_state[k]) for k, (_, limit, _) in LIMIT_FIELDS.items() if st.session_state.get(k)}


def priorities_sidebar() -> None:
    """Deployment target, weights, limits: every change re-ranks the results without retraining."""
    with st.sidebar:
        st.header("Priorities")
        names = {k: p.name for k, p in targets().items()}
        st.selectbox(
            "Deployment target",
            list(names),
            format_func=names.get,
            key="profile",
            on_change=lambda: apply_profile(st.session_state["profile"]),
            help="Fills the weights and limits below with that target's preset; edit them freely.",
        )
        st.caption(presets.preset_caption(targets()[st.session_state["profile"]]))
        st.caption(targets()[st.session_state["profile"]].source)
        st.number_input(
            "Predictions per month",
            min_value=1.0,
            step=1_000_000.0,
            key="predictions_per_month",
            format="%.0f",
            help="Cost is shown per month at this volume; cost differences under $1 a month (or 1% of the "
            "machine's monthly price) count as none.",
        )
        st.subheader("What matters (0 = ignore, 5 = most)")
        for metric in advisor.METRICS:
            st.slider(METRIC_LABELS[metric], 0, 5, key=f"weight_{metric}")
            if metric == "latency":
                st.caption(presets.latency_caption(targets()[st.session_state["profile"]]))
        st.subheader("Hard limits (0 = none)")
        for field_key, (label, _, step) in LIMIT_FIELDS.items():
            st.number_input(label, min_value=0.0, step=step, key=field_key, format="%g")


def run_id_from_url() -> str | None:
    """The `?run=` id when it is well formed; a malformed one is dropped with a message."""
    value = st.query_params.get("run")
    if not value:
        return None
    if not advisor.is_run_id(value):
        st.warning("The link's run id is not valid; showing a new session instead.")
        del st.query_params["run"]
        return None
    return value


def remember_run(run_id: str) -> None:
    """This browser session started the run or opened its link: it may list it on the Runs page."""
    mine = st.session_state.setdefault("my_runs", [])
    if run_id not in mine:
        mine.append(run_id)


def visible_runs() -> list[dict[str, Any]]:
    """The runs this session may list. Several people share one server, so a session lists only
    the runs it started or opened by link (run ids are unguessable); ADVISOR_LIST_ALL_RUNS=1 lists
    every run in the store, for a server that has one user."""
    runs = store().list_runs()
    if os.environ.get("ADVISOR_LIST_ALL_RUNS", "").lower() in ("1", "true", "yes"):
        return runs
    mine = set(st.session_state.get("my_runs", []))
    return [r for r in runs if r["run_id"] in mine]


def open_run(run_id: str) -> advisor.Run | None:
    """A run from this app's store, or None: a `?run=` id never names anything outside the store."""
    if not advisor.is_run_id(run_id):
        return None
    try:
        return advisor.open_run(run_id, store=store(), files=False)
    except advisor.RunNotFound:
        return None


def import_device(run: advisor.Run, raw: bytes, name: str) -> str | None:
    """Attach an uploaded device measurement to its run in the store; the error sentence, or None."""
    try:
        key = advisor.attach_device(run, advisor.read_device_measurement(raw, name=name), name=name)
    except advisor.AdvisorError as exc:
        return str(exc)
    position = [c.key for c in run.candidates].index(key)
    store().save_candidate(run.run_id, key, position, run.candidate(key).status, run.candidate(key).to_dict())
    return None


def column_table(dataset: advisor.Dataset) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"column": c.name, "role": c.role, "distinct": c.n_unique, "missing": c.n_missing, "why": c.note}
            for c in dataset.columns
        ]
    )


def md(text: Any) -> str:
    """User text (file or column names) made inert for st.markdown: shown as typed, never as markup,
    a link, a formula or a heading (line breaks become spaces)."""
    out = " ".join(str(text).splitlines())
    for char in "\\`*_{}[]()#+-=.!|~$":
        out = out.replace(char, "\\" + char)
    return out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def helpers_caption(helpers: Mapping[str, str], names: Mapping[str, str]) -> str:
    """Which entries train only because a chosen one needs them (never recommended), and why."""
    parts = [f"{md(names.get(key, key))} ({md(reason)})" for key, reason in helpers.items()]
    return "Trained as helpers and never recommended: " + "; ".join(parts) + "."


def show_table(table: advisor.TableView) -> None:
    """A view's table (`advisor.run_view`): the figures as the one formatter writes them, each header
    with its unit and the better direction, its meaning on hover. Plain cells, never markdown."""
    arrows = {"higher": " ↑", "lower": " ↓"}
    headers = [column.header + arrows.get(column.direction, "") for column in table.columns]
    frame = pd.DataFrame([row.cells for row in table.rows], columns=headers)
    config = {
        header: st.column_config.TextColumn(label=header, help=column.meaning)
        for header, column in zip(headers, table.columns, strict=True)
    }
    st.dataframe(frame, hide_index=True, column_config=config, width="stretch")


def time_left(eta_s: float | None) -> str:
    """The run's time left as a person says it ("about 2 min left"); empty before there is an estimate."""
    if eta_s is None or eta_s != eta_s:
        return ""
    if eta_s < 60:
        return f"about {max(5, round(eta_s / 5) * 5):.0f} s left"
    return f"about {round(eta_s / 60):.0f} min left"


def report_html(run: advisor.Run) -> str:
    """The run's HTML report, built once per ranking and kept for this session only (about 5 MB, half a
    second): a download button that holds the bytes always works, where one built on click can miss a
    click made mid-rerun."""
    rec = run.recommendation
    ranking = (run.run_id, repr((rec.key, dict(rec.weights), dict(rec.limits))) if rec else "")
    kept = st.session_state.get("report_html")
    if not kept or kept[0] != ranking:
        kept = st.session_state["report_html"] = (ranking, advisor.build_report(run))
    return kept[1]


def serving_tab(run: advisor.Run) -> None:
    """The serving check: p99 against offered load, and each served configuration's figures."""
    chart = advisor.serving_data(run)
    if not chart.series:
        st.info(
            "Not served: this run had no serving check. Tick 'Serving check' in the run settings (or run "
            "`python -m advisor run ... --serve-check`) to serve the Pareto front over HTTP and load it."
        )
        return
    st.markdown("**p99 latency against offered load, one worker over HTTP** (open markers: the estimate)")
    st.plotly_chart(advisor.serving_figure(chart), key="serving_chart", width="stretch")
    for title, rows in advisor.serving_rows(run):
        with st.expander(md(title)):
            st.dataframe(pd.DataFrame(rows, columns=["figure", "value"]), hide_index=True, width="stretch")


def gpu_tab(run: advisor.Run) -> None:
    """The neural candidates timed with their network on the GPU beside the CPU, or why there were none."""
    hardware = run.hardware
    on_gpu = [c for c in run.candidates if c.gpu_latency or c.gpu_batches]
    if on_gpu:
        st.write(
            f"The neural candidates were also timed with their network on **{md(hardware['gpu'])}** "
            "(preprocessing on the CPU, rows copied over and back on every call):"
        )
        rows = []
        for c in on_gpu:
            largest = max(c.gpu_batches) if c.gpu_batches else None
            rows.append(
                {
                    "key": c.key,
                    "CPU p50 ms (1 row)": c.latency.p50_ms if c.latency else None,
                    "GPU p50 ms (1 row)": c.gpu_latency.p50_ms if c.gpu_latency else None,
                    "batch": largest,
                    "CPU rows/s": c.batches[largest].rows_per_s if largest in c.batches else None,
                    "GPU rows/s": c.gpu_batches[largest].rows_per_s if largest else None,
                }
            )
        st.dataframe(rows, hide_index=True)
    elif hardware.get("gpu"):
        st.info(f"GPU {md(hardware['gpu'])} was present but no candidate was timed on it.")
    else:
        st.info(
            f"No GPU was available: {md(hardware.get('gpu_note'))}. CPU: {md(hardware.get('cpu_model'))}, "
            f"{hardware.get('usable_cpus')} usable CPUs."
        )
