"""Earlier runs: compare two side by side, reopen one, delete one."""

from __future__ import annotations

import streamlit as st

import advisor
from app import run_compare, ui

OPENED = 20  # runs opened for the table's figures and the comparison

st.title("Runs")
runs = ui.visible_runs()
if not runs:
    st.info(
        "No runs yet in this browser session. Start one on the Advisor page, or open an earlier run by its "
        "link (?run=...); runs started by other people on this server are not listed."
    )
    st.stop()
st.caption(
    "The runs this browser session started or opened by link. A run whose process stopped before it "
    "finished (a server restart, a crash) shows as interrupted: open it to resume it."
)

# The newest runs are opened for their figures (opening one reads all its candidates); older ones
# are listed from the store's index, their figures blank, and open when picked below.
opened = {r["run_id"]: ui.open_run(r["run_id"]) for r in runs[:OPENED]}
st.dataframe(
    [run_compare.run_row(r, opened.get(r["run_id"])) for r in runs],
    hide_index=True,
    width="stretch",
    column_config={"duration (s)": st.column_config.NumberColumn("duration (s)", format="%.1f")},
)
labels = {r["run_id"]: f"{r['dataset']} → {r['target']} ({r['status']}, {r['run_id'][:8]})" for r in runs}
chosen = st.selectbox("Run", list(labels), format_func=labels.get, key="runs_choice")
left, right = st.columns(2)
with left:
    if st.button("Open", type="primary", key="runs_open"):
        st.session_state.pop("settings_from_run", None)
        st.switch_page("pages/advisor_page.py", query_params={"run": chosen})


def delete(run_id: str) -> None:
    job = ui.jobs().get(run_id)
    if job is not None and job.running:
        st.session_state["runs_message"] = "That run is still going; cancel it on the Advisor page first."
        return
    try:
        ui.store().delete_run(run_id)
        st.session_state["runs_message"] = None
    except advisor.RunNotFound as exc:
        st.session_state["runs_message"] = str(exc)
    st.session_state["runs_confirm"] = False


with right:
    confirm = st.checkbox("Yes, delete this run and its artifacts", key="runs_confirm")
    st.button("Delete", disabled=not confirm, key="runs_delete", on_click=delete, args=(chosen,))
if st.session_state.get("runs_message"):
    st.error(ui.md(st.session_state["runs_message"]))

st.subheader("Compare two runs")
ids = [r["run_id"] for r in runs if opened.get(r["run_id"]) is not None]
if len(ids) < 2:
    st.caption("Two runs that can be opened are needed to compare them.")
else:
    first, second = st.columns(2)
    with first:
        left_id = st.selectbox("First run", ids, index=0, format_func=labels.get, key="compare_a")
    with second:
        right_id = st.selectbox("Second run", ids, index=1, format_func=labels.get, key="compare_b")
    if left_id == right_id:
        st.caption("Choose two different runs.")
    else:
        chosen_runs = {f"{labels[i]}": opened[i] for i in (left_id, right_id)}
        st.dataframe(run_compare.comparison(chosen_runs), hide_index=True, width="stretch")
