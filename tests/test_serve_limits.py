"""The server's limits in time: a bounded queue that sheds with 503, and a drain on SIGTERM/SIGINT
that answers every request in flight before `advisor serve` exits 0.

A slow model is the real one with a sleep in front of its predict: in a thread of the test process
(`monkeypatch`), or in the served subprocess (a few lines run before `python -m advisor`'s main).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_serve import _get, _start

import advisor
from advisor.serve.batcher import Batcher, Stopping

from conftest import DATA, PROJECT

SHED = re.compile(r"The server is at capacity: (\d+) requests are waiting; retry in a moment\.")
# `python -m advisor serve ...` with every predict slowed by DELAY seconds (argv[1]).
SLOW_SERVE = """
import runpy, sys, time
import advisor.serve.server as server
delay, fast = float(sys.argv.pop(1)), server.ModelService.predict
server.ModelService.predict = lambda self, rows: (time.sleep(delay), fast(self, rows))[1]
sys.argv[0] = "advisor"
runpy.run_module("advisor", run_name="__main__")
"""


@pytest.fixture(scope="module")
def artifact_path(penguins_linear_artifact: Path) -> Path:
    return penguins_linear_artifact


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    import pandas as pd

    rows = pd.read_csv(DATA / "penguins.csv").drop(columns="species").head(30)
    return json.loads(rows.to_json(orient="records"))


def _post(port: int, rows: Any) -> tuple[int, dict[str, Any], str | None]:
    """Status, parsed body and Retry-After header of one POST /predict on its own connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/predict", json.dumps(rows).encode(), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Retry-After")
    finally:
        connection.close()


def test_a_full_queue_is_shed_with_503_and_retry_after_and_the_server_recovers(
    artifact_path: Path, records: list, monkeypatch: pytest.MonkeyPatch
):
    max_queue = 3
    app = advisor.create_app(artifact_path, max_batch=1, max_queue=max_queue)
    service = app.state.service
    expected = [service.artifact.predict(r)[0] for r in records]
    fast = service.artifact.predict
    monkeypatch.setattr(service.artifact, "predict", lambda rows: (time.sleep(0.1), fast(rows))[1])
    service.batcher.inline = False  # a model this slow predicts in the worker thread
    port, uvicorn_server, thread = _start(app)
    try:
        together = threading.Barrier(len(records))

        def post(record: dict[str, Any]) -> tuple[int, dict[str, Any], str | None]:
            together.wait()
            return _post(port, record)

        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            answers = list(pool.map(post, records))
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 503}, statuses
        served = [(i, body) for i, (status, body, _) in enumerate(answers) if status == 200]
        shed = [(body, retry_after) for status, body, retry_after in answers if status == 503]
        assert len(served) >= max_queue and shed, statuses  # 30 requests of 0.1 s each: most arrive to a full queue
        assert all(body["predictions"] == [expected[i]] for i, body in served)
        for body, retry_after in shed:
            assert SHED.fullmatch(body["error"]) and int(SHED.fullmatch(body["error"])[1]) == max_queue, body
            assert retry_after == "1"
        metrics = _get(port, "/metrics")
        assert metrics["refused_by_status"] == {"503": len(shed)}
        assert metrics["batching"]["shed"] == len(shed) and metrics["batching"]["max_queue"] == max_queue
        assert metrics["batching"]["waiting"] == 0 and metrics["batching"]["requests"] == len(served)
        monkeypatch.undo()
        assert _get(port, "/health")["status"] == "ok"
        status, body, _ = _post(port, records[0])
        assert status == 200 and body["predictions"] == [expected[0]]
    finally:
        uvicorn_server.should_exit = True
        thread.join(10)


def test_a_queue_bound_below_1_is_refused_in_one_sentence(artifact_path: Path, capsys: pytest.CaptureFixture):
    with pytest.raises(advisor.ConfigError, match=r"^--max-queue is 0; give 1 or more requests\.$"):
        advisor.create_app(artifact_path, max_queue=0)
    from advisor.cli import main

    assert main(["serve", str(artifact_path), "--max-queue", "-1"]) == 2
    assert capsys.readouterr().err.strip().endswith("--max-queue is -1; give 1 or more requests.")


def test_stop_answers_every_queued_request_then_refuses_new_ones():
    def answer(payloads: list[int]) -> list[int]:
        time.sleep(0.05)
        return [p * 10 for p in payloads]

    async def scenario() -> tuple[list[int], bool, int]:
        batcher = Batcher(answer, max_batch_rows=1, max_wait_ms=0)
        await batcher.start()
        queued = [asyncio.create_task(batcher.submit(i, 1)) for i in range(6)]
        await asyncio.sleep(0.01)  # all six submitted; the first is being predicted
        waiting = batcher.waiting
        await batcher.stop()
        try:
            await batcher.submit(99, 1)
            refused = False
        except Stopping:
            refused = True
        return [task.result() for task in queued if task.done()], refused, waiting

    answered, refused, waiting = asyncio.run(scenario())
    assert waiting == 5 and answered == [0, 10, 20, 30, 40, 50] and refused


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_drains_every_request_in_flight_and_the_serve_command_exits_0(
    artifact_path: Path, records: list, stop_signal: signal.Signals
):
    port = _free_port()
    command = [sys.executable, "-c", SLOW_SERVE, "0.1", "serve", str(artifact_path), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--max-batch", "1"], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(port, "/health")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "advisor serve did not start"
                time.sleep(0.1)
        # `advisor serve` froze what it loaded (gc.freeze), so collections while serving skip it.
        assert _get(port, "/metrics")["gc"]["frozen_objects"] > 10_000
        expected = [advisor.load_artifact(artifact_path).predict(r)[0] for r in records[:12]]
        with ThreadPoolExecutor(max_workers=12) as pool:
            in_flight = [pool.submit(_post, port, record) for record in records[:12]]
            while _get(port, "/metrics")["batching"]["waiting"] < 6:  # 12 requests of 0.1 s each, one at a time
                assert time.monotonic() < deadline + 30, "the requests never queued up"
                time.sleep(0.02)
            stopped_at = time.monotonic()
            process.send_signal(stop_signal)
            late: list[int] = []  # requests sent after the signal: answered until the socket closes, then refused
            while time.monotonic() < stopped_at + 5:
                try:
                    late.append(_post(port, records[0])[0])
                except (ConnectionRefusedError, ConnectionResetError):
                    # refused at connect, or reset: the kernel had queued its connect on the
                    # listening socket just before the server closed it
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the server still took connections 5 s after the signal")
            answers = [future.result() for future in in_flight]
        assert [status for status, _, _ in answers] == [200] * 12
        assert [body["predictions"] for _, body, _ in answers] == [[label] for label in expected]
        assert set(late) <= {200}, late
        assert process.wait(10) == 0
        assert time.monotonic() - stopped_at < 8
        log = process.stdout.read() if process.stdout else ""
        assert "Waiting for connections to close" in log and "Application shutdown complete" in log, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
