"""The web app's entry point: `streamlit run app/main.py` (an st.navigation router over thin pages)."""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Options the browser must get whatever folder the server started in (.streamlit/config.toml is read
# from the working directory only). Streamlit's own "Download as CSV" and copy on st.dataframe write
# cells as they are, so a name such as =HYPERLINK(...) would run as a formula in a spreadsheet: the
# page offers spreadsheet-safe downloads instead. "minimal" drops the Deploy button, which offers to
# publish this server's app to Streamlit's cloud.
CLIENT_OPTIONS = {"client.disableDataExport": True, "client.toolbarMode": "minimal"}
if any(st.get_option(name) != value for name, value in CLIENT_OPTIONS.items()):
    for name, value in CLIENT_OPTIONS.items():
        st.set_option(name, value)
    st.rerun()  # the browser reads the options when a run starts, and this first run's start is already sent

# An emoji favicon is drawn in the browser; a ":material/...:" one is fetched from a Google font server
# on every page load, and the app makes no request outside this server.
st.set_page_config(page_title="Model-selection advisor", page_icon="📈", layout="wide")
page = st.navigation(
    [
        st.Page("pages/advisor_page.py", title="Advisor", icon=":material/insights:", url_path="advisor", default=True),
        st.Page("pages/runs.py", title="Runs", icon=":material/history:", url_path="runs"),
    ]
)
page.run()
