import subprocess
import sys

from conftest import PROJECT


def test_importing_advisor_does_not_import_streamlit_or_heavy_libraries():
    code = (
        "import sys, advisor, advisor.cli; "
        "print(','.join(m for m in ('streamlit', 'torch', 'lightgbm') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_no_module_in_advisor_mentions_streamlit_imports():
    for path in (PROJECT / "advisor").glob("*.py"):
        text = path.read_text()
        assert "import streamlit" not in text and "from streamlit" not in text, path
