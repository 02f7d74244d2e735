"""End to end in a real browser: Debian's chromium driven by Playwright against `streamlit run`.

Upload -> priorities -> run -> chart click -> downloads -> shared link in a fresh context ->
the report opened offline. Screenshots of each step go to $E2E_ARTIFACTS (default
tests/artifacts/e2e), printed at the start of the test.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import advisor

from conftest import DATA, PROJECT

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE_COLUMN = "<script>alert(1)</script>"
UPLOAD_NAME = "penguins <i>x</i>.csv"


def _require_browser() -> None:
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if os.environ.get("ADVISOR_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "chromium or playwright is missing: apt-get install -y chromium; pip install -r requirements-dev.txt"
            )
        pytest.skip("needs /usr/bin/chromium and playwright (CI installs both)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(tmp_path: Path, *options: str) -> Iterator[str]:
    """`streamlit run app/main.py` on a free port, its store in tmp_path/home: yields the base URL.
    `options` are extra command-line settings, e.g. "--server.maxUploadSize", "1"."""
    port = _free_port()
    env = dict(os.environ, ADVISOR_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/main.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            *options,
        ],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if time.time() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("streamlit did not become healthy: " + (tmp_path / "streamlit.log").read_text()[-2000:])
        time.sleep(0.3)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def server(tmp_path: Path):
    _require_browser()
    with streamlit_server(tmp_path) as base:
        yield base, tmp_path / "home"


@pytest.fixture
def shots() -> Path:
    folder = Path(os.environ.get("E2E_ARTIFACTS", PROJECT / "tests" / "artifacts" / "e2e"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"\nE2E screenshots and downloads: {folder}")
    return folder


def _idle(page) -> None:
    """Wait until the app has finished its current rerun (the 'Running...' indicator is gone)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=120_000)


FIND_POINT = """
(key) => {
  for (const trace of document.querySelectorAll('[data-testid="stPlotlyChart"] g.trace.scatter')) {
    const labels = [...trace.querySelectorAll('g.textpoint text')].map(t => t.textContent);
    const i = labels.indexOf(key);
    if (i < 0) continue;
    const point = trace.querySelectorAll('path.point')[i];
    const box = point.getBoundingClientRect();
    return {x: box.x + box.width / 2, y: box.y + box.height / 2};
  }
  return null;
}
"""


def test_upload_run_select_download_share_reopen(server, shots: Path, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    base, _ = server
    expect.set_options(timeout=20_000)  # the plotly bundle loads lazily and takes over 5 s
    data = (DATA / "penguins.csv").read_text().splitlines()
    hostile = [data[0] + f',"{HOSTILE_COLUMN}"'] + [line + ",same" for line in data[1:]]
    dialogs: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        page.goto(base)
        expect(page.get_by_role("heading", name="Model-selection advisor")).to_be_visible()
        expect(page.get_by_text("Using the bundled sample")).to_be_visible()
        page.screenshot(path=shots / "01-opened-on-sample.png", full_page=True)

        page.locator('input[type="file"]').set_input_files(
            {"name": UPLOAD_NAME, "mimeType": "text/csv", "buffer": "\n".join(hostile).encode()}
        )
        expect(page.get_by_text("multiclass").first).to_be_visible()
        expect(page.get_by_text(f"Column '{HOSTILE_COLUMN}' is not used")).to_be_visible()  # text, not markup
        page.screenshot(path=shots / "02-uploaded.png", full_page=True)

        size = page.locator('[data-testid="stSlider"]').filter(has_text="Model size").get_by_role("slider")
        size.focus()
        size.press("ArrowRight")
        size.press("ArrowRight")
        expect(size).to_have_value("2")
        limit = page.get_by_label("Max p99 latency (ms)")
        limit.fill("50")
        limit.press("Enter")
        page.get_by_text("Quick (120 timed calls, rough p99)").click()
        page.get_by_role("button", name="Run the advisor").scroll_into_view_if_needed()
        page.screenshot(path=shots / "03-priorities.png")

        _idle(page)
        page.get_by_role("button", name="Run the advisor").click()
        expect(page.get_by_text("Recommended:").first).to_be_visible(timeout=300_000)
        _idle(page)
        run_id = re.search(r"run=([A-Za-z0-9_-]+)", page.url).group(1)
        recommended = page.get_by_text("Recommended:").first.inner_text()
        assert advisor.is_run_id(run_id)
        # the card says how firm the pick is, in sentences a person reads
        expect(page.get_by_text("How firm the pick is").first).to_be_visible()
        expect(page.get_by_text(re.compile(r"holds for (any weight|\w+ weights?)")).first).to_be_visible()
        page.get_by_text("Recommended:").first.scroll_into_view_if_needed()
        page.screenshot(path=shots / "04-results.png")

        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.scroll_into_view_if_needed()
        expect(chart.locator("path.point").first).to_be_visible()
        page.screenshot(path=shots / "05a-pareto-chart.png")
        point = page.evaluate(FIND_POINT, "tree")
        assert point, "the tree candidate is not on the chart"
        page.mouse.click(point["x"], point["y"])
        _idle(page)
        download_tree = page.get_by_role("button", name="Download tree.zip")
        expect(download_tree).to_be_visible()
        page.get_by_text("4. The selected candidate").scroll_into_view_if_needed()
        page.screenshot(path=shots / "05-point-selected.png")

        with page.expect_download() as artifact_download:
            download_tree.click()
        artifact = shots / "tree.zip"
        artifact_download.value.save_as(artifact)
        model = advisor.load_artifact(artifact)  # digests checked
        rows = advisor.load_table(DATA / "penguins.csv")[0].head(5).assign(**{HOSTILE_COLUMN: "same"})
        assert set(model.predict(rows)) <= {"Adelie", "Chinstrap", "Gentoo"}

        _idle(page)
        with page.expect_download() as report_download:
            page.get_by_role("button", name=re.compile("Download the report")).click()
        report = shots / "report.html"
        report_download.value.save_as(report)
        text = report.read_text()
        assert report.stat().st_size > 3_000_000  # plotly.js is inside: it opens offline
        assert HOSTILE_COLUMN not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "<i>x</i>" not in text and "&lt;i&gt;x&lt;/i&gt;" in text
        page.get_by_text("5. Export and share").scroll_into_view_if_needed()
        page.screenshot(path=shots / "06-downloaded.png")

        fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
        other = fresh.new_page()
        other.goto(f"{base}/?run={run_id}")
        try:
            expect(other.get_by_text("Recommended:").first).to_be_visible(timeout=60_000)
            expect(other.get_by_text(run_id).first).to_be_visible()
        except AssertionError:
            other.screenshot(path=shots / "07-FAILED-shared-link.png", full_page=True)
            raise
        _idle(other)
        expect(other.get_by_text(f"The results below are run {run_id}")).to_be_visible()
        assert other.get_by_text("Recommended:").first.inner_text() == recommended  # the same run, the same pick
        expect(other.get_by_role("button", name="Run the advisor")).to_be_visible()  # widgets drawn, not placeholders
        expect(other.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_attached()
        other.get_by_text("Recommended:").first.scroll_into_view_if_needed()
        other.screenshot(path=shots / "07-shared-link-fresh-context.png")

        offline = browser.new_context(viewport={"width": 1400, "height": 1000})
        offline.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
        )
        report_page = offline.new_page()
        report_page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        report_page.goto(report.resolve().as_uri())
        expect(report_page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        assert report_page.locator(".js-plotly-plot").count() == 4  # Pareto, size, batches, compression
        expect(report_page.get_by_role("cell", name=HOSTILE_COLUMN)).to_be_visible()  # shown as text
        report_page.screenshot(path=shots / "08-report-offline.png", full_page=True)
        browser.close()

    assert dialogs == [], f"a script ran: {dialogs}"
