"""Earlier runs: reopen one, delete one."""

from __future__ import annotations

import datetime as dt

import streamlit as st

import advisor
from app import ui

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

st.dataframe(
    [
        {
            "run": r["run_id"],
            "created": dt.datetime.fromtimestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M"),
            "status": r["status"],
            "dataset": r["dataset"],
            "target": r["target"],
            "task": r["task"],
            "candidates": r["candidates"],
            "recommended": r["recommended"],
        }
        for r in runs
    ],
    hide_index=True,
    width="stretch",
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
