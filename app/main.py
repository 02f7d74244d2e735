"""The web app's entry point: `streamlit run app/main.py`."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

page = st.navigation([st.Page("pages/advise.py", title="Advise", icon=":material/insights:", default=True)])
st.set_page_config(page_title="Model-selection advisor", layout="wide")
page.run()
