"""The HTTP service (`advisor serve`): right answers on both paths, one-sentence refusals for bad
requests, and dynamic batching under 1,000 concurrent requests.

Servers run in a thread of the test process (uvicorn on a socket bound here, so no port race);
one test starts the real command in a subprocess.
"""

from __future__ import annotations

import http.client
import json
import pickle
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import advisor

from conftest import DATA, PROJECT

MAX_BODY_BYTES = 64_000
MAX_ROWS = 100


@pytest.fixture(scope="module")
def artifact_path(penguins_linear_artifact: Path) -> Path:
    return penguins_linear_artifact


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    import pandas as pd

    rows = pd.read_csv(DATA / "penguins.csv").drop(columns="species").head(60)
    return json.loads(rows.to_json(orient="records"))  # as a client would send them: NaN as null


def _start(app: Any) -> tuple[int, Any, threading.Thread]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    return sock.getsockname()[1], server, thread


@pytest.fixture(scope="module")
def server(artifact_path: Path) -> Iterator[int]:
    """A batching server: up to 32 rows, waiting up to 5 ms for them."""
    app = advisor.create_app(
        artifact_path, max_batch=32, max_wait_ms=5, max_body_bytes=MAX_BODY_BYTES, max_rows=MAX_ROWS
    )
    port, uvicorn_server, thread = _start(app)
    yield port
    uvicorn_server.should_exit = True
    thread.join(10)


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=not isinstance(body, bytes))
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _request_json(port: int, rows: Any, path: str = "/predict") -> tuple[int, str]:
    return _request(port, "POST", path, json.dumps(rows).encode(), {"Content-Type": "application/json"})


def _post(port: int, rows: Any, path: str = "/predict") -> tuple[int, dict[str, Any]]:
    status, text = _request_json(port, rows, path)
    return status, json.loads(text)


def _get(port: int, path: str) -> dict[str, Any]:
    status, text = _request(port, "GET", path)
    assert status == 200, text
    return json.loads(text)


def _expected(artifact: advisor.Artifact, rows: Any) -> tuple[list[Any], np.ndarray]:
    return list(artifact.predict(rows)), artifact.predict_proba(rows)


def test_one_record_and_a_list_get_what_the_artifact_predicts(server: int, artifact_path: Path, records: list):
    artifact = advisor.load_artifact(artifact_path)
    for rows in (records[0], records[:7], {"rows": records[7:12]}):
        status, answer = _post(server, rows)
        assert status == 200, answer
        plain = rows["rows"] if isinstance(rows, dict) and "rows" in rows else rows
        labels, probabilities = _expected(artifact, plain)
        assert answer["predictions"] == labels
        assert answer["classes"] == artifact.classes
        assert np.allclose(answer["probabilities"], probabilities, rtol=0, atol=1e-9)
        assert "warnings" not in answer
    # the single-row path (one dict) and the batch path give the same labels on every record
    assert [artifact.predict(r)[0] for r in records] == list(artifact.predict(records))


def test_health_schema_and_metrics_describe_the_served_model(server: int, artifact_path: Path):
    health = _get(server, "/health")
    assert health["status"] == "ok" and health["model"] == "linear" and health["uptime_s"] >= 0
    schema = _get(server, "/schema")
    artifact = advisor.load_artifact(artifact_path)
    assert schema["columns"] == artifact.schema["columns"] and schema["classes"] == artifact.classes
    assert schema["limits"] == {"max_body_bytes": MAX_BODY_BYTES, "max_rows": MAX_ROWS}
    assert "other" in schema["unseen_categories"]
    metrics = _get(server, "/metrics")
    assert {"batches", "queue_wait_ms", "batches_by_rows"} <= set(metrics["batching"])
    assert {"collections_by_generation", "pause_ms_total", "pause_ms_max_by_generation"} <= set(metrics["gc"])


def test_an_unseen_category_is_predicted_as_other_and_named_and_strict_refuses_it(
    server: int, artifact_path: Path, records: list
):
    row = {**records[0], "island": "Atlantis"}
    status, answer = _post(server, [row])
    assert status == 200
    assert answer["predictions"] == list(advisor.load_artifact(artifact_path).predict([row]))
    assert "Atlantis" in answer["warnings"][0] and "'other'" in answer["warnings"][0]
    status, answer = _post(server, [row], path="/predict?strict=true")
    assert status == 422 and "Atlantis" in answer["error"]


class _Unpickled:
    """Unpickling this would create a file: the server must never do it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _bad_requests(records: list, marker: Path) -> dict[str, tuple[int, bytes | Iterator[bytes], str]]:
    """name -> (expected status, body, content type)."""
    row = records[0]
    too_big = b"[" + b" " * (MAX_BODY_BYTES + 10) + b"]"
    return {
        "missing column": (422, json.dumps({k: v for k, v in row.items() if k != "bill_depth_mm"}).encode(), ""),
        "text for a number": (422, json.dumps([{**row, "body_mass_g": "heavy"}]).encode(), ""),
        "text for a number, one record": (422, json.dumps({**row, "body_mass_g": "heavy"}).encode(), ""),
        "malformed JSON": (400, b'{"island": "Dream",', ""),
        "deeply nested JSON": (400, b"[" * 50_000, ""),
        "not records": (400, b"42", ""),
        "a list of non-records": (400, b"[1, 2]", ""),
        "an object as a value": (400, json.dumps({**row, "island": {"a": 1}}).encode(), ""),
        "rows not a list": (400, b'{"rows": "all of them"}', ""),
        "no rows": (400, b"[]", ""),
        "too many rows": (413, json.dumps([row] * (MAX_ROWS + 1)).encode(), ""),
        "body over the limit": (413, too_big, ""),
        "chunked body over the limit": (413, iter([too_big[i : i + 8192] for i in range(0, len(too_big), 8192)]), ""),
        "a pickle as JSON": (400, pickle.dumps(_Unpickled(marker)), ""),
        "a pickle": (415, pickle.dumps(_Unpickled(marker)), "application/octet-stream"),
        "plain text": (415, json.dumps(row).encode(), "text/plain"),
    }


def test_every_bad_request_gets_a_4xx_with_one_sentence_and_the_server_stays_healthy(
    server: int, records: list, tmp_path: Path
):
    marker = tmp_path / "unpickled"
    before = _get(server, "/metrics")["refused_by_status"]
    for name, (expected, body, content_type) in _bad_requests(records, marker).items():
        status, text = _request(server, "POST", "/predict", body, {"Content-Type": content_type or "application/json"})
        assert status == expected, (name, text)
        error = json.loads(text)["error"]
        assert error.endswith(".") and "\n" not in error and "Traceback" not in text and 'File "' not in text, name
    for method, path, expected in (("GET", "/predict", 405), ("GET", "/nowhere", 404), ("POST", "/health", 405)):
        status, text = _request(server, method, path)
        assert status == expected and json.loads(text)["error"].endswith("."), text
    assert not marker.exists()
    refused = _get(server, "/metrics")["refused_by_status"]
    assert sum(refused.values()) - sum(before.values()) == len(_bad_requests(records, marker)) + 3
    assert "500" not in refused
    assert _get(server, "/health")["status"] == "ok"
    assert _post(server, records[0])[0] == 200


def _concurrent(port: int, records: list, artifact: advisor.Artifact, n: int = 1000) -> None:
    rng = random.Random(0)
    requests = [
        records[rng.randrange(60)] if rng.random() < 0.7 else rng.sample(records, rng.randint(1, 5)) for _ in range(n)
    ]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda rows: _post(port, rows), requests))
    for rows, (status, answer) in zip(requests, answers, strict=True):
        assert status == 200, answer
        labels, probabilities = _expected(artifact, rows)
        assert answer["predictions"] == labels
        # batched with others, one record takes the batch path: same label, scores within 1e-6
        assert np.allclose(answer["probabilities"], probabilities, rtol=0, atol=1e-6)


def test_a_thousand_concurrent_requests_are_answered_right_in_batches(server: int, artifact_path: Path, records: list):
    before = _get(server, "/metrics")["batching"]
    _concurrent(server, records, advisor.load_artifact(artifact_path))
    after = _get(server, "/metrics")["batching"]
    assert after["requests"] - before["requests"] == 1000
    assert after["max_batch_requests_seen"] > 1 and after["max_batch_rows_seen"] <= 32
    assert after["batches"] - before["batches"] < 1000
    assert after["queue_wait_ms"]["p50"] is not None


def test_max_batch_1_predicts_every_request_alone(artifact_path: Path, records: list):
    port, uvicorn_server, thread = _start(advisor.create_app(artifact_path, max_batch=1))
    try:
        artifact = advisor.load_artifact(artifact_path)
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda r: _post(port, r), records))
        assert [a["predictions"][0] for _, a in answers] == [artifact.predict(r)[0] for r in records]
        batching = _get(port, "/metrics")["batching"]
        assert batching["batches_by_requests"] == {"1": len(records)}
    finally:
        uvicorn_server.should_exit = True
        thread.join(10)


def test_a_model_that_fails_is_a_500_with_one_sentence_and_the_server_keeps_serving(
    artifact_path: Path, records: list, monkeypatch: pytest.MonkeyPatch
):
    app = advisor.create_app(artifact_path, max_batch=8, max_wait_ms=20)
    artifact = app.state.service.artifact
    port, uvicorn_server, thread = _start(app)
    try:
        monkeypatch.setattr(artifact, "predict", lambda rows: 1 / 0)
        with ThreadPoolExecutor(max_workers=4) as pool:  # alone and batched with others
            answers = list(
                pool.map(lambda r: _request_json(port, r), [records[0], records[:2], records[2], records[3]])
            )
        for status, text in answers:
            assert status == 500 and "Traceback" not in text
            assert json.loads(text)["error"] == (
                "The model failed on these rows (ZeroDivisionError); the server logged the details."
            )
        monkeypatch.undo()
        assert _post(port, records[0])[1]["predictions"] == list(artifact.predict(records[0]))
        assert _get(port, "/metrics")["refused_by_status"] == {"500": 4}
    finally:
        uvicorn_server.should_exit = True
        thread.join(10)


def test_the_serve_command_serves_and_refuses_bad_settings_in_one_sentence(artifact_path: Path, records: list):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "advisor", "serve", str(artifact_path), "--port", str(port), "--max-batch", "1"]
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _get(port, "/health")["model"] == "linear"
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "advisor serve did not start"
                time.sleep(0.1)
        status, answer = _post(port, records[0])
        assert status == 200 and answer["predictions"] == list(advisor.load_artifact(artifact_path).predict(records[0]))
    finally:
        process.terminate()
        process.wait(10)
    failed = subprocess.run([*command[:4], "missing.zip"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "missing.zip" in failed.stderr
