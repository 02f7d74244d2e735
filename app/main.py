"""The web app's entry point: `streamlit run app/main.py` (an st.navigation router over thin pages)."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Streamlit's own "Download as CSV" and copy on st.dataframe write cells as they are, so a name such as
# =HYPERLINK(...) would run as a formula in a spreadsheet; the page offers spreadsheet-safe downloads instead.
if not st.get_option("client.disableDataExport"):
    st.set_option("client.disableDataExport", True)
    st.rerun()  # the browser reads the option when a run starts, and this first run's start is already sent

st.set_page_config(page_title="Model-selection advisor", page_icon=":material/insights:", layout="wide")
page = st.navigation(
    [
        st.Page("pages/advisor_page.py", title="Advisor", icon=":material/insights:", url_path="advisor", default=True),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:", url_path="runs"),
    ]
)
page.run()
