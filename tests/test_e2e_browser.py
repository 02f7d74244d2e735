"""End to end in a real browser: Debian's chromium driven by Playwright against `streamlit run`.

A bad file then a good one (the setup's choices kept) -> priorities -> run -> the answer in the
first viewport -> a chart click with the candidate's details beside it -> the download (the same
files as `advisor export`) and the report -> a shared link in a fresh context opening on the
results -> the report opened offline. Every request the pages make must go to the local server.
Screenshots of each step go to $E2E_ARTIFACTS (default tests/artifacts/e2e), printed at the start
of the test, with render timings (printed, not asserted).
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
import zipfile
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

    status = page.locator('[data-testid="stStatusWidget"]')
    for _ in range(2):  # twice: on a loaded machine a rerun can start a moment after the action
        page.wait_for_timeout(300)
        expect(status).to_have_count(0, timeout=120_000)


FIND_POINT = """
(key) => {
  // by the candidate's key in the trace's customdata (labels show only on the front and the pick),
  // with its distance to the nearest other point (plotly gives a click to the nearest point)
  const centres = [];
  let found = null;
  for (const gd of document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
    const traces = gd._fullData || [];
    const drawn = gd.querySelectorAll('g.trace.scatter');
    for (let t = 0; t < traces.length; t++) {
      if (!drawn[t]) continue;
      const keys = (traces[t].customdata || []).map(c => (Array.isArray(c) ? c[0] : c));
      drawn[t].querySelectorAll('path.point').forEach((point, i) => {
        const box = point.getBoundingClientRect();
        const centre = {key: keys[i], x: box.x + box.width / 2, y: box.y + box.height / 2};
        centres.push(centre);
        if (keys[i] === key && !found) found = centre;
      });
    }
    if (found) break;
  }
  if (!found) return null;
  const others = centres.filter(c => c.key !== key).map(c => Math.hypot(c.x - found.x, c.y - found.y));
  return {x: found.x, y: found.y, gap: others.length ? Math.min(...others) : 1e9};
}
"""


def _timed(page, action) -> float:
    """Seconds from an action until the app's rerun is drawn."""
    start = time.perf_counter()
    action()
    _idle(page)
    return time.perf_counter() - start


def _in_first_viewport(page, locator) -> bool:
    """The element's top is above the fold of the page as it opens (not merely scrolled to)."""
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] + page.evaluate("window.scrollY") < page.viewport_size["height"]


def _families(page):
    widget = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Candidate families")
    return widget.locator("[data-tag]")


def test_upload_run_select_download_share_reopen(server, shots: Path, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    base, home = server
    expect.set_options(timeout=20_000)  # the plotly bundle loads lazily and takes over 5 s
    data = (DATA / "penguins.csv").read_text().splitlines()
    hostile = [data[0] + f',"{HOSTILE_COLUMN}"'] + [line + ",same" for line in data[1:]]
    dialogs: list[str] = []
    requests: list[str] = []
    timings: dict[str, float] = {}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        page.goto(base)
        expect(page.get_by_role("heading", name="Model-selection advisor")).to_be_visible()
        expect(page.get_by_text("Using the bundled sample")).to_be_visible()
        expect(page.get_by_role("button", name="Deploy", exact=True)).not_to_be_visible()  # toolbarMode minimal
        expect(_families(page).first).to_be_attached()  # drawn
        _idle(page)
        families = _families(page).count()
        assert families >= 2
        page.screenshot(path=shots / "01-opened-on-sample.png", full_page=True)

        # a refused file: the run button is off and says why, and the choices stay
        broken = (PROJECT / "tests" / "bad_inputs" / "corrupt.xlsx").read_bytes()
        page.locator('input[type="file"]').first.set_input_files(
            {"name": "corrupt.xlsx", "mimeType": "application/octet-stream", "buffer": broken}
        )
        expect(page.get_by_text("could not be read as Excel")).to_be_visible()
        _idle(page)
        expect(page.get_by_role("button", name="Run the advisor")).to_be_disabled()
        expect(page.get_by_text("Nothing to run: no usable dataset")).to_be_visible()
        assert _families(page).count() == families
        page.screenshot(path=shots / "02-refused-file.png", full_page=True)

        page.locator('input[type="file"]').first.set_input_files(
            {"name": UPLOAD_NAME, "mimeType": "text/csv", "buffer": "\n".join(hostile).encode()}
        )
        expect(page.get_by_text("multiclass").first).to_be_visible()
        expect(page.get_by_text(f"Column '{HOSTILE_COLUMN}' is not used")).to_be_visible()  # text, not markup
        _idle(page)
        assert _families(page).count() == families  # the families survived the refused file
        expect(page.get_by_text("Guessed target:")).to_be_visible()  # the guess, with its reason
        expect(page.get_by_role("button", name="Run the advisor")).to_be_disabled()  # until it is confirmed
        page.screenshot(path=shots / "03-uploaded.png", full_page=True)
        page.get_by_role("button", name=re.compile(r"^Yes, predict")).click()
        expect(page.get_by_role("button", name="Run the advisor")).to_be_enabled()

        size = page.locator('[data-testid="stSlider"]').filter(has_text="Model size").get_by_role("slider")
        size.focus()
        size.press("ArrowRight")
        size.press("ArrowRight")
        expect(size).to_have_value("2")
        limit = page.get_by_label("Max p99 latency (ms)")
        limit.fill("50")
        limit.press("Enter")
        page.get_by_text("Quick (120 timed calls, rough p99)").click()
        _idle(page)
        page.get_by_role("button", name="Run the advisor").click()
        expect(page.get_by_text("Cancel the run")).to_be_visible(timeout=60_000)
        page.get_by_text("Data and run settings").click()  # open the folded setup: the button is off
        expect(page.get_by_role("button", name="Run the advisor")).to_be_disabled()
        expect(page.get_by_text("A run is going in this session")).to_be_visible()
        page.screenshot(path=shots / "04-running.png")

        card = page.get_by_text("Recommended:").first
        expect(card).to_be_visible(timeout=300_000)
        # the progress panel goes once the page has redrawn with the results (a second or two)
        expect(page.get_by_role("button", name="Cancel the run")).to_have_count(0, timeout=60_000)
        _idle(page)
        run_id = re.search(r"run=([A-Za-z0-9_-]+)", page.url).group(1)
        assert advisor.is_run_id(run_id)
        recommended = card.inner_text()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=shots / "05-results-first-viewport.png")
        assert _in_first_viewport(page, card), "the recommendation is not in the first viewport"
        expect(page.get_by_text("Using your upload")).not_to_be_visible()  # the setup folded away
        expect(page.get_by_text("How firm the pick is").first).to_be_visible()
        expect(page.get_by_text(re.compile(r"holds for (any weight|\w+ weights?)")).first).to_be_visible()

        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.scroll_into_view_if_needed()
        expect(chart.locator("path.point").first).to_be_visible()
        # the candidate whose point stands furthest from the others (points can share a spot)
        keys = [c.key for c in advisor.open_run(run_id, store=home).candidates if c.status == "measured"]
        found = {k: page.evaluate(FIND_POINT, k) for k in keys if k != "baseline"}
        key = max((k for k in found if found[k]), key=lambda k: found[k]["gap"], default=None)
        assert key and found[key]["gap"] >= 6, f"no candidate's point can be clicked on its own: {found}"
        point = found[key]
        timings["point click"] = _timed(page, lambda: page.mouse.click(point["x"], point["y"]))
        name = advisor.load_candidates().get(key).name
        download = page.get_by_role("button", name=f"Download {name} ({key}.zip)")
        expect(download).to_be_in_viewport()  # the details sit beside the chart: no scrolling
        expect(page.get_by_text("The point you clicked").or_(page.get_by_text("The recommended candidate")))
        page.screenshot(path=shots / "06-point-selected.png")

        with page.expect_download(timeout=120_000) as artifact_download:
            download.click()
        artifact = shots / f"{key}.zip"
        artifact_download.value.save_as(artifact)
        cli = tmp_path / f"cli-{key}.zip"
        subprocess.run(
            [sys.executable, "-m", "advisor", "export", run_id, key, "--out", str(cli)],
            cwd=PROJECT,
            env=dict(os.environ, ADVISOR_HOME=str(home)),
            check=True,
        )
        members = sorted(zipfile.ZipFile(artifact).namelist())
        assert members == sorted(zipfile.ZipFile(cli).namelist()), "the download is not what `advisor export` writes"
        model = advisor.load_artifact(artifact)  # digests checked
        rows = advisor.load_table(DATA / "penguins.csv")[0].head(5).assign(**{HOSTILE_COLUMN: "same"})
        assert set(model.predict(rows)) <= {"Adelie", "Chinstrap", "Gentoo"}

        _idle(page)
        timings["re-rank (a priority slider)"] = _timed(page, lambda: (size.focus(), size.press("ArrowRight")))
        x_axis = page.locator('[data-testid="stSelectbox"]').filter(has_text="x axis")
        x_axis.click()
        timings["axis switch"] = _timed(
            page, lambda: page.get_by_role("option", name=advisor.AXES["size_bytes"][0]).click()
        )
        page.screenshot(path=shots / "07-reranked-axis-switched.png")

        _idle(page)
        with page.expect_download(timeout=120_000) as report_download:
            page.get_by_role("button", name=re.compile("Download the report")).click()
        report = shots / "report.html"
        report_download.value.save_as(report)
        text = report.read_text()
        assert report.stat().st_size > 3_000_000  # plotly.js is inside: it opens offline
        assert HOSTILE_COLUMN not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "<i>x</i>" not in text and "&lt;i&gt;x&lt;/i&gt;" in text
        page.screenshot(path=shots / "08-report-tab.png")

        fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
        fresh.on("request", lambda r: requests.append(r.url))
        other = fresh.new_page()
        other.goto(f"{base}/?run={run_id}")
        try:
            expect(other.get_by_text("Recommended:").first).to_be_visible(timeout=60_000)
            expect(other.get_by_text(run_id).first).to_be_visible()
        except AssertionError:
            other.screenshot(path=shots / "09-FAILED-shared-link.png", full_page=True)
            raise
        _idle(other)
        assert other.get_by_text("Recommended:").first.inner_text() == recommended  # the same run, the same pick
        assert _in_first_viewport(other, other.get_by_text("Recommended:").first)
        expect(other.get_by_text("Using the bundled sample")).to_have_count(0)  # no sample above their results
        expect(other.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_attached()
        other.screenshot(path=shots / "09-shared-link-fresh-context.png")

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
        report_page.screenshot(path=shots / "10-report-offline.png", full_page=True)
        browser.close()

    print("render timings (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items()))
    assert dialogs == [], f"a script ran: {dialogs}"
    outside = sorted({url for url in requests if not url.startswith((base, "data:", "blob:"))})
    assert outside == [], f"the app asked other servers: {outside}"
