"""The advisor: data in, priorities, a live run, then the chart, the recommendation, export and share."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

import advisor
from app import leaderboard, target_check, ui

# Streamlit forgets a widget's value on any rerun that does not draw it (a refused upload, a run's
# results), so the setup's choices are also kept under keys of their own and put back before drawing.
KEPT = ("families", "budget_s", "thorough", "serve_check", "task", "scheduler", "measure_on")


def restore_setup() -> None:
    for key in KEPT:
        if key not in st.session_state and f"kept_{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"kept_{key}"]


def keep_setup() -> None:
    for key in KEPT:
        if key in st.session_state:
            st.session_state[f"kept_{key}"] = st.session_state[key]


ui.init_state()
restore_setup()
run_id = ui.run_id_from_url()
if run_id and st.session_state.get("settings_from_run") != run_id:
    opened = ui.open_run(run_id)  # a shared link opens with the priorities the run was made with
    if opened is not None:
        ui.apply_run_settings(opened)
        if "data_source" not in st.session_state:  # a fresh session: no bundled sample behind someone's results
            st.session_state["data_source"] = None
ui.priorities_sidebar()

st.title("Model-selection advisor")
st.caption(
    "Upload a table and say what you value. The advisor trains linear models, trees, boosting and neural nets, "
    "measures each one for real on this machine, and recommends one."
)

# ----------------------------------------------------------------------------------- setup
job = ui.jobs().get(run_id)
busy = job is not None and job.running  # this session's run is going
run = ui.open_run(run_id) if run_id and not busy else None
# Answer first: the setup folds away when a run starts and when results open (after a run, or on a
# shared link), and opens when there is nothing to show; the person may open or close it meanwhile.
phase = "running" if busy else "results" if run is not None else "setup"
if st.session_state.get("setup_phase") != (run_id, phase):
    st.session_state["setup_phase"] = (run_id, phase)
    st.session_state["setup_open"] = phase == "setup"
setup = st.expander("Data and run settings", key="setup_open", on_change="rerun", icon=":material/tune:")
with setup:
    st.subheader("1. Data")
    # No `type=`: Streamlit's own filter would refuse any other file in its words ("files are not allowed")
    # and leave the last dataset in use; the loader refuses it in one sentence that names the file.
    upload = st.file_uploader(f"Upload a {ui.FORMATS} file (up to {ui.MAX_UPLOAD_MB} MB)", key="upload")
    table = ui.active_table(upload)
    dataset: advisor.Dataset | None = None
    target_confirmed = False  # the person confirmed the target (or it was guessed by its name)
    if table is None or table.frame is None:
        if table is not None:
            st.error(ui.md(table.error))
        st.info(f"No dataset is active: upload a {ui.FORMATS} file, or use the bundled sample.")
        st.button("Use the bundled sample", key="use_sample", on_click=ui.use_sample)
    else:
        if table.source == ui.SAMPLE_KEY:
            ignored = " The file in the uploader is not used." if upload is not None else ""
            st.info(
                f"Using the bundled sample **{ui.md(table.name)}** (Titanic passengers). "
                f"Upload a file to use your own.{ignored}"
            )
            shown = ui.open_run(run_id) if run_id else None
            if shown is not None:
                st.info(
                    f"The results below are run {run_id}, made on **{ui.md(shown.dataset['name'])}** "
                    f"({shown.dataset['rows']:,} rows, target **{ui.md(shown.dataset['target'])}**); the data section "
                    "shows the sample until you upload a file for a new run."
                )
        else:
            st.info(f"Using your upload **{ui.md(table.name)}**.")
        frame = table.frame
        columns = list(frame.columns)
        # a new dataset (or one whose target choice was dropped while none was active): pre-select its likely target
        if st.session_state.get("data_key") != table.source or st.session_state.get("target") not in columns:
            st.session_state["data_key"] = table.source
            st.session_state["target"] = target_check.remember_guess(frame, table.source)
        left, right = st.columns([2, 1])
        with left:
            st.selectbox("Column to predict (target)", columns, key="target")
        with right:
            st.selectbox(
                "Task",
                ["auto", "binary", "multiclass", "regression"],
                key="task",
                help="Detected from the target's values; override if needed.",
            )
        target_confirmed = target_check.confirm_target(frame, table.source)
        try:
            dataset = advisor.inspect_table(
                frame, st.session_state["target"], name=table.name, task=st.session_state["task"]
            )
        except advisor.AdvisorError as exc:  # the rest of the setup is still drawn, so its choices are kept
            st.error(ui.md(str(exc)))

        if dataset is not None:
            st.write(
                f"**{len(frame):,} rows**, {len(columns)} columns. Task: **{dataset.task}**; primary quality metric: "
                f"**{dataset.primary_metric}**."
            )
            for warning in dataset.warnings:
                st.warning(ui.md(warning))
        with st.expander("Preview and column roles", expanded=False):
            st.dataframe(frame.head(50), width="stretch")
            if dataset is not None:
                st.dataframe(ui.column_table(dataset), width="stretch", hide_index=True)

    st.subheader("2. Run")
    registry = advisor.load_candidates()
    c1, c2, c3 = st.columns(3)
    with c1:
        st.multiselect(
            "Candidate families",
            [f for f in registry.families() if f != "baseline"],
            key="families",
            help="The no-skill baseline always runs as the reference.",
        )
    with c2:
        st.number_input(
            "Time budget (s, 0 = none)",
            min_value=0,
            step=30,
            key="budget_s",
            help=advisor.Budget.rules(),
        )
    with c3:
        st.radio(
            "Timing",
            ["Thorough (1,000 timed calls, cold starts)", "Quick (120 timed calls, rough p99)"],
            key="thorough",
        )
        st.checkbox(
            "Serving check",
            key="serve_check",
            help="After timing, serve each Pareto-front candidate over HTTP on one worker and find the highest "
            "request rate within the p99 bound (about 45 s a candidate).",
        )
    if st.session_state["families"]:
        _, helpers = registry.select_with_helpers(families=st.session_state["families"])
        if helpers:
            st.caption(ui.helpers_caption(helpers, {s.key: s.name for s in registry}))
    if dataset is not None and dataset.task == "binary":
        st.number_input(
            f"A missed positive ('{ui.md(str(dataset.classes[1]))}') costs … false alarms "
            "(binary tasks; blank: optimise the primary metric)",
            min_value=0.001,
            value=None,
            step=1.0,
            key="miss_cost",
            help="Each binary candidate predicts the positive class above a decision threshold chosen on the "
            "validation split. With a cost N it minimises N x missed positives + false alarms there; blank, it "
            f"maximises {dataset.primary_metric}.",
        )
    with st.expander("Train on a Dask cluster (optional)"):
        st.text_input(
            "Dask scheduler address",
            key="scheduler",
            placeholder="tcp://10.0.0.5:8786",
            help="Empty: the candidates train here, each in its own process. With an address they train on that "
            "cluster; timing still happens on this server unless a worker is named below.",
        )
        st.text_input(
            "Time every candidate on this worker (the deployment hardware)",
            key="measure_on",
            placeholder="tcp://10.0.0.7:40123",
        )

    if busy:
        why_not = "A run is going in this session (its progress is below): run again when it ends or is cancelled."
    elif table is None or dataset is None:
        why_not = "Nothing to run: no usable dataset is active (section 1)."
    elif not st.session_state["families"]:
        why_not = "Choose at least one candidate family to run."
    elif not target_confirmed:
        why_not = "Confirm the column to predict (section 1) to run."
    else:
        why_not = None
    keep_setup()
    if st.button("Run the advisor", type="primary", disabled=why_not is not None, key="run_advisor"):
        timing = advisor.TimingConfig() if st.session_state["thorough"].startswith("Thorough") else advisor.QUICK_TIMING
        try:  # the plan is checked here, so a wrong setting is one sentence now, not a failed run later
            plan = advisor.RunPlan.make(
                priorities=ui.current_weights(),
                limits=ui.current_limits(),
                profile=ui.current_profile(),
                families=st.session_state["families"],
                budget_s=st.session_state["budget_s"] or None,
                timing=timing,
                miss_cost=st.session_state.get("miss_cost") if dataset.task == "binary" else None,
                serve_check=bool(st.session_state.get("serve_check")),
            )
        except advisor.AdvisorError as exc:
            st.error(str(exc))
        else:
            job = ui.jobs().start(
                table.frame,
                table.name,
                st.session_state["target"],
                ui.store(),
                plan=plan,
                task=st.session_state["task"],
                scheduler=(st.session_state.get("scheduler") or "").strip() or None,
                measure_on=(st.session_state.get("measure_on") or "").strip() or None,
            )
            ui.remember_run(job.run_id)
            st.query_params["run"] = job.run_id
            st.session_state["settings_from_run"] = job.run_id
            st.session_state.pop("pareto_chart", None)
            st.rerun()  # drawn again with the run going: the setup folds, the button is disabled and says why
    if why_not:
        st.caption(why_not)


@st.fragment(run_every=1.0)
def progress_panel(run_id: str) -> None:
    job = ui.jobs().get(run_id)
    if job is None:
        return
    if not job.running:
        if st.session_state.get("watching") == run_id:  # it finished while this session watched: draw results
            del st.session_state["watching"]
            st.rerun(scope="app")
        return
    st.session_state["watching"] = run_id
    event = job.latest
    elapsed = time.time() - job.started_at
    with st.container(border=True):
        if event is None:
            st.write(f"Starting... {elapsed:.0f} s")
        elif event.stage == "waiting":
            st.info(f"{ui.md(event.message)}. Training is done; this run's timing starts when the other's ends.")
        else:
            # one bar for the whole run (training, timing, cold starts, learning curve), its phase named
            eta = ui.time_left(event.eta_s)
            st.write(f"**{ui.md(event.phase_label or event.stage)}**: {ui.md(event.message)}")
            counted = f" ({event.done} of {event.total} {event.unit})" if event.total else ""
            st.progress(
                min(1.0, max(0.0, event.fraction)),
                text=f"{event.fraction:.0%} of the run{counted}, {elapsed:.0f} s elapsed" + (f", {eta}" if eta else ""),
            )
        for note in job.notes:
            st.info(ui.md(note))
        if job.candidates:
            st.dataframe([{"candidate": k, "phase": v} for k, v in job.candidates.items()], hide_index=True)
        if st.button("Cancel the run", key="cancel"):
            job.cancel.set()
            st.toast("Cancelling after the current step; finished candidates are kept.")
        partial = ui.open_run(run_id)
        if partial is not None and partial.candidates:
            st.caption(
                "Results so far (quality and size appear as each candidate finishes training; "
                "latency once all are timed together):"
            )
            so_far = advisor.leaderboard_view(partial).select(("key", "status", "primary", "size_bytes", "train_s"))
            ui.show_table(so_far)


if run_id:
    progress_panel(run_id)
    job = ui.jobs().get(run_id)
    if job is not None and job.error:
        st.error(ui.md(job.error))

# ----------------------------------------------------------------------------------- results
if run_id and run is None and not busy:
    st.warning("That run is not in this app's store (it may have been deleted). Start a new one above.")
if run is None:  # nothing to show yet, or the run is going (its progress is above)
    st.stop()
ui.remember_run(run.run_id)
if run.status in ("interrupted", "failed", "cancelled"):
    finished = sum(c.status in ("trained", "measured") for c in run.candidates)
    said = "was cancelled" if run.status == "cancelled" else f"is {run.status}"
    st.warning(
        f"This run {said}: {finished} of {len(run.candidates)} candidates finished and are kept. "
        "Resume it to train the rest with the same settings and data (then all are timed together), "
        "or change the data and run settings above and start a new run."
    )
    if st.button("Resume this run", key="resume_run", type="primary"):
        ui.jobs().resume(run.run_id, ui.store())
        st.rerun()
    if not any(c.status == "measured" and c.family != "baseline" for c in run.candidates):
        st.stop()  # nothing was timed yet: no recommendation and no chart to draw

# latency and throughput from an imported device measurement (its upload is in the tabs below)
device = st.session_state.get("rank_device", "this machine")
if device not in run.devices():
    device = "this machine"
run = run.rerank(
    priorities=ui.current_weights(),
    limits=ui.current_limits(),
    profile=ui.current_profile(),
    device="" if device == "this machine" else device,
)
rec = run.recommendation
st.caption(
    f"Run {run.run_id}: {ui.md(run.dataset['name'])} → {ui.md(run.dataset['target'])}, {run.status}. "
    "Change the priorities in the sidebar: the ranking updates without retraining."
    + (f" Latency and throughput as measured on {ui.md(device)}." if run.device else "")
)
if run.settings.get("helpers"):
    st.caption(ui.helpers_caption(run.settings["helpers"], {c.key: c.name for c in run.candidates}))

view = advisor.run_view(run, card=ui.card_for(run))
card = view.card
with st.container(border=True):
    st.subheader(ui.md(card.headline))
    if changed := leaderboard.pick_change_note(run):
        st.info(ui.md(changed))
    st.write(ui.md(card.reason))
    for text in (*card.notes, *card.business, *card.serving):
        st.write("• " + ui.md(text))
    if card.gives_up:
        st.markdown("**What it gives up or gains**")
        for text in card.gives_up:
            st.write("• " + ui.md(text))
    if card.stability:
        st.markdown("**How firm the pick is**")
        for text in card.stability:
            st.write("• " + ui.md(text))
    for text in card.warnings:
        st.warning(ui.md(text))
    if card.key and len(view.shortlist.rows) > 1:
        st.caption(f"Shortlist: the top {len(view.shortlist.rows)} by weighted score")
        ui.show_table(view.shortlist)

# the chart and the selected candidate side by side: a click on a point visibly selects it
chart_side, detail_side = st.columns([3, 2], gap="large")
with chart_side:
    axis_names = {k: advisor.AXES[k][0] for k in advisor.AXES}
    axis_names["primary"] = f"{run.primary_metric} (quality)"
    a1, a2, a3 = st.columns([2, 2, 1])
    with a1:
        x_axis = st.selectbox(
            "x axis", list(axis_names), index=list(axis_names).index("p99_ms"), format_func=axis_names.get, key="x_axis"
        )
    with a2:
        y_axis = st.selectbox("y axis", list(axis_names), index=0, format_func=axis_names.get, key="y_axis")
    with a3:
        colour_by = st.radio(
            "Colour by",
            ["family", "lineage"],
            key="colour_by",
            horizontal=True,
            help="Lineage groups a model with all its compressed variants.",
        )

    keys = [c.key for c in run.candidates]
    clicked = advisor.selected_key(st.session_state.get("pareto_chart"))
    if clicked and clicked != st.session_state.get("last_click"):  # a new click on the chart selects that candidate
        st.session_state["last_click"] = clicked
        st.session_state["selected"] = clicked
    if st.session_state.get("selected") not in keys:
        st.session_state["selected"] = rec.key or keys[0]
    selected = st.session_state["selected"]
    chart = advisor.pareto_data(run, x_axis, y_axis)
    st.plotly_chart(
        advisor.pareto_figure(chart, selected=selected, colour_by=colour_by),
        key="pareto_chart",
        on_select="rerun",
        selection_mode="points",
        width="stretch",
    )
    st.caption(
        "Click a point to select that candidate. Filled markers: on the Pareto front of the weighted metrics; "
        "dashed line: the front of the two metrics shown; the largest marker, its name starting with ★, is the "
        "recommendation."
    )
with detail_side:
    st.selectbox("Candidate", keys, key="selected", format_func=lambda k: run.candidate(k).name)
    candidate = run.candidate(st.session_state["selected"])
    if candidate.key == rec.key:
        which = "The recommended candidate. Click a point on the chart to see another."
    elif candidate.key == st.session_state.get("last_click"):
        which = (
            f"The point you clicked; the recommendation is {ui.md(run.candidate(rec.key).name if rec.key else 'none')}."
        )
    else:
        which = "Chosen in the list above; click a point on the chart to see another."
    st.markdown(
        f"**{ui.md(candidate.name)}** · `{candidate.key}` · {ui.md(candidate.family)} · {ui.md(candidate.status)}"
        + (f". Error: {ui.md(candidate.error)}" if candidate.error else "")
    )
    st.caption(which)
    if candidate.key in {row.key for row in view.table.rows}:
        arrows = {"higher": " ↑", "lower": " ↓"}
        row = view.table.row(candidate.key)
        st.dataframe(
            pd.DataFrame(
                [
                    (column.header + arrows.get(column.direction, ""), cell)
                    for column, cell in zip(view.table.columns, row.cells, strict=True)
                    if column.key not in ("key", "name") and cell
                ],
                columns=["figure", "value"],
            ),
            hide_index=True,
            width="stretch",
        )
    if candidate.artifact and candidate.status in ("trained", "measured"):
        st.download_button(
            f"Download {candidate.name} ({candidate.key}.zip)",
            data=lambda key=candidate.key, run=run: ui.export_zip(run, key),  # written when clicked
            file_name=f"{candidate.key}.zip",
            mime="application/zip",
            key="download_artifact",
            on_click="ignore",
            type="primary",
            help="The file `python -m advisor export RUN --key KEY --out model.zip` writes: the model and its "
            "preprocessing, ONNX where it converts and gives the same answers, preprocessing.json, the input "
            "schema, the measured figures with their methods, a model card and SHA-256 digests checked on load.",
        )

st.subheader("Leaderboard")
leaderboard.show(run, view.table)
st.caption("↑ higher is better, ↓ lower is better. " + ui.md(view.table.legend))
for failure in view.failures:
    st.caption(ui.md(failure))
board = run.leaderboard  # the download keeps every column, numbers as numbers
st.download_button(
    "Download the leaderboard (CSV)",
    data=ui.leaderboard_csv(board),
    file_name=f"leaderboard-{run.run_id}.csv",
    mime="text/csv",
    key="download_leaderboard",
    on_click="ignore",
    help="The file the command line writes as leaderboard.csv. A text cell that starts with = + - or @ gets a "
    "leading ' so a spreadsheet shows it instead of running it; numbers stay numbers.",
)

curve = view.curve

# ----------------------------------------------------------------------------------- share
st.subheader("Share")
st.download_button(
    "Download the report (HTML, opens offline)",
    data=ui.report_html(run),
    file_name=f"advisor-report-{run.run_id}.html",
    mime="text/html",
    key="download_report",
    on_click="ignore",
)
st.caption(
    "A single file with the data summary, priorities, leaderboard, charts, recommendation and how every "
    "figure was measured; about 5 MB because the charting library is inside it."
)
st.caption(
    f"To share these results, send this page's address: its `?run={run.run_id}` opens this run, "
    "ranked with the priorities it was made with, for anyone who can reach this server."
)

# ----------------------------------------------------------------------------------- more
names = ["The selected candidate", "Would more rows help?", "Batch size", "Served over HTTP", "CPU and GPU"]
names.append("Target machine")
if not curve:
    names.remove("Would more rows help?")
tabs = dict(zip(names, st.tabs(names), strict=True))
with tabs["The selected candidate"]:
    st.markdown(f"**{ui.md(candidate.name)}** (`{candidate.key}`): how each figure was measured")
    parts = [
        ("Quality", candidate.quality),
        ("Single-row latency", candidate.latency),
        ("Size", candidate.size),
        ("Start-up and memory", candidate.startup),
    ]
    for label, part in parts:
        if part is None:
            continue
        with st.expander(label, expanded=label == "Quality"):
            st.dataframe(
                pd.DataFrame(advisor.figure_rows(part), columns=["figure", "value"]), hide_index=True, width="stretch"
            )
            if label == "Quality" and part.per_class:
                per_class = {name: dict(figures) for name, figures in part.per_class.items()}
                st.markdown(
                    "**Per class** (precision: of the rows it calls this class, the share that are; recall: of "
                    "this class's rows, the share it finds)"
                )
                st.dataframe(
                    [
                        {
                            "class": name,
                            "precision": figures["precision"],
                            "recall": figures["recall"],
                            "test rows": int(figures["support"]),
                            "predicted as this": int(figures["predicted"]),
                        }
                        for name, figures in per_class.items()
                    ],
                    hide_index=True,
                )
                if part.confusion and len(part.confusion) <= 30:
                    st.markdown("**Confusion matrix** (rows: true class, columns: predicted class; test rows)")
                    st.dataframe(
                        pd.DataFrame(
                            [list(row) for row in part.confusion],
                            index=[f"true {name}" for name in per_class],
                            columns=[f"predicted {name}" for name in per_class],
                        )
                    )
            st.caption("How: " + ui.md(part.method))
    if candidate.batches:
        with st.expander("Batches"):
            st.dataframe([{k: v for k, v in b.__dict__.items() if k != "method"} for b in candidate.batches.values()])
            st.caption("How: " + ui.md(next(iter(candidate.batches.values())).method))
    methods = dict(next(m.rows for m in view.methods if m.key == candidate.key))
    for label, column in (("energy", "joules_per_1k"), ("cost", "usd_per_million")):
        if label in methods:
            figure = view.table.cell(candidate.key, column)
            st.write(f"**{label.capitalize()}**: {ui.md(figure)}. {ui.md(methods[label])}")
    if candidate.artifact and candidate.status in ("trained", "measured"):
        used = [
            c["name"] for c in run.dataset["columns"] if c["role"] in ("numeric", "categorical", "text", "datetime")
        ]
        example = used[0] if used else "column"
        st.caption("How to use the downloaded file:")
        st.code(
            "# pip install -r requirements.txt, with this project's advisor package importable\n"
            "import advisor\n"
            f"model = advisor.load_artifact('{candidate.key}.zip')  # refuses a changed or damaged file\n"
            f"model.predict({{{example!r}: ..., ...}})  # one dict, a list of dicts or a DataFrame\n"
            + ("model.predict_proba(rows)  # class probabilities\n" if run.task != "regression" else "")
            + "model.problems(rows)  # what is wrong with rows, one sentence each",
            language="python",
        )
if curve:
    with tabs["Would more rows help?"]:
        st.write(ui.md(curve.sentence))
        st.dataframe(
            [
                {"share of training rows": p.fraction_text, "rows": p.rows_text, curve.metric: p.primary_text}
                for p in curve.points
            ],
            hide_index=True,
        )
        st.caption(ui.md(curve.method))

with tabs["Batch size"]:
    st.markdown("**Batch size: latency against throughput**")
    st.plotly_chart(
        advisor.batch_figure(advisor.batch_data(run), selected=selected), key="batch_chart", width="stretch"
    )
with tabs["Served over HTTP"]:
    ui.serving_tab(run)
with tabs["CPU and GPU"]:
    ui.gpu_tab(run)
with tabs["Target machine"]:
    st.caption(
        "Export a candidate, run `python -m advisor measure model.zip --rows sample.csv --out device.json` "
        "on the machine it will run on, and upload device.json here: its latency and throughput can then "
        "rank the candidates measured there."
    )
    device_file = st.file_uploader("Device measurement (JSON)", key="device_upload")  # any file: ours says why
    if device_file is not None and st.session_state.get("device_imported") != device_file.file_id:
        st.session_state["device_imported"] = device_file.file_id
        error = ui.import_device(run, device_file.getvalue(), device_file.name)
        if error:
            st.error(ui.md(error))
        else:
            st.session_state["device_just_imported"] = True
            st.rerun()  # drawn again from the top, the new device listed
    st.selectbox("Rank on latency and throughput from", ["this machine", *run.devices()], key="rank_device")
    if st.session_state.pop("device_just_imported", False):
        st.success("Imported: choose it above to rank the candidates on its latency and throughput.")
