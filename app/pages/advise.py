"""A first page: run the advisor on the bundled sample or an upload, show the leaderboard."""

from pathlib import Path

import streamlit as st

import advisor

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "titanic.csv"

st.title("Model-selection advisor")
st.caption(
    "Trains linear models, trees, boosting and neural nets on your table, measures each for real, and recommends one."
)

upload = st.file_uploader("Dataset (CSV, CSV.gz, Parquet, XLSX)", type=["csv", "gz", "parquet", "xlsx"])
try:
    if upload is not None:
        frame, name = advisor.load_table(upload.getvalue(), name=upload.name)
    else:
        frame, name = advisor.load_table(SAMPLE)
        st.info(f"Using the bundled sample '{name}'. Upload a file to use your own.")
except advisor.AdvisorError as exc:
    st.error(str(exc))
    st.stop()

st.dataframe(frame.head(20))
columns = list(frame.columns)
from advisor._data import guess_target  # noqa: E402

target = st.selectbox("Target column", columns, index=columns.index(guess_target(frame)))
profile = st.selectbox("Deployment target", list(advisor.load_targets()))
if st.button("Run the advisor", type="primary"):
    with st.status("Training and measuring...") as status:
        try:
            run = advisor.advise(
                frame,
                target,
                name=name,
                profile=profile,
                timing=advisor.QUICK_TIMING,
                progress=lambda e: status.write(e.message),
            )
        except advisor.AdvisorError as exc:
            st.error(str(exc))
            st.stop()
    st.subheader(f"Recommended: {run.recommendation.key}")
    st.write(run.recommendation.reason)
    st.dataframe(run.leaderboard)
