"""The HTTP service for an exported artifact (`advisor serve model.zip`), on Starlette and uvicorn.

The contract. `POST /predict` takes a JSON body (`Content-Type: application/json`) that is one
record (an object of column: value), a list of records, or `{"rows": [records]}`; it answers
`{"predictions": [...]}`, one per row in order, and for classification also `"classes"` and
`"probabilities"` (one list per row, in the order of `classes`). One record is predicted on the
artifact's verified single-row path, a list on its batch path, exactly as
`load_artifact(path).predict(rows)` does (requests batched together by the server take the batch
path, which gives the same labels; probabilities agree to 1e-6). A category not seen in training
is predicted as 'other' and named in `"warnings"`; `POST /predict?strict=true` refuses it
instead. Every refusal is a 4xx with `{"error": "<one sentence>"}`: 400 a body that is not JSON
or not records, 404/405 an unknown endpoint or method, 413 a body over `max_body_bytes` (checked
on Content-Length and on the bytes as they arrive) or more rows than `max_rows`, 415 a content
type other than JSON, 422 rows the model cannot take (a missing column, text where a number
belongs); a 5xx is a fault of the server, also one sentence, its details in the server's log,
except 503, which says "not now": `max_queue` requests are already waiting for a batch ("The server
is at capacity: N requests are waiting; retry in a moment."), or the server is shutting down; a
503 carries `Retry-After: 1`. Shedding at a bound keeps the answers the server does give fast,
where an unbounded queue would make every caller wait longer and longer.
The body is only ever parsed as JSON, never unpickled. `GET /health` answers `{"status": "ok",
"model", "name", "task", "load_s", "uptime_s", "requests_served", "worker_pid", "cpu_s"}` (counts
and CPU seconds are per worker process); `GET /schema` the artifact's input schema (columns with types, categories and
medians; target, task, classes), its decision rule and the limits; `GET /metrics` the health plus
the batcher's counts and recent percentiles (rows and requests per batch, per-request queue wait,
batch predict time; `waiting` now and `shed` so far), the refusals by status, and the garbage
collector's collections and longest pauses while serving (`gc`; see `settle_memory`).

Stopping. On SIGTERM or SIGINT (Ctrl-C) uvicorn stops accepting connections (a later one is
refused at connect), closes idle keep-alive ones, and waits for every request in progress to be
answered (a second Ctrl-C forces the exit); `advisor serve` then exits 0. The lifespan's shutdown
drains the batcher too (a request still queued is answered, a new one refused with 503): under
uvicorn its queue is already empty by then; the drain is for a host that ends the lifespan sooner.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from advisor.deploy.artifact import Artifact, load_artifact, synthetic_rows
from advisor.errors import AdvisorError, ConfigError
from advisor.serve.batcher import DEFAULT_MAX_QUEUE, INLINE_BELOW_MS, Batcher, Overloaded, Stopping

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

SETTINGS_ENV = "ADVISOR_SERVE_SETTINGS"  # the settings, as JSON, for worker processes (--workers > 1)
log = logging.getLogger("advisor.serve")


@dataclass(frozen=True)
class ServeSettings:
    """What one server process needs; checked once, here."""

    artifact_path: str
    max_batch: int = 32  # rows per batch; 1 = no batching
    max_wait_ms: float = 0.0  # how long the oldest request in a forming batch may wait for more (0: none)
    max_body_bytes: int = 1_000_000
    max_rows: int = 1_000  # rows in one request
    threads: int = 1  # the model's threads per worker process
    max_queue: int = DEFAULT_MAX_QUEUE  # requests waiting for a batch before more are refused with 503

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ConfigError(f"--max-batch is {self.max_batch}; give 1 (no batching) or more rows.")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise ConfigError(f"--max-wait-ms is {self.max_wait_ms}; give 0 to 10000 milliseconds.")
        if self.max_body_bytes < 1:
            raise ConfigError(f"The body limit is {self.max_body_bytes} bytes; give a positive --max-body-mb, e.g. 1.")
        if self.max_rows < 1:
            raise ConfigError(f"--max-rows is {self.max_rows}; give 1 or more.")
        if self.threads < 1:
            raise ConfigError(f"--threads is {self.threads}; give 1 or more.")
        if self.max_queue < 1:
            raise ConfigError(f"--max-queue is {self.max_queue}; give 1 or more requests.")


class Refused(Exception):
    """A request the server will not answer: an HTTP status and one sentence for the client."""

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status = status
        self.sentence = sentence


def _plain(value: Any) -> Any:
    """A value JSON can carry: numpy scalars as Python ones, a non-finite number as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number"
    )


def _check_values(record: dict[str, Any], where: str) -> None:
    for column, value in record.items():
        if isinstance(value, (dict, list)):
            raise Refused(
                400, f"Column {column[:40]!r}{where} is {_kind(value)}; a value must be a number, text or null."
            )


def _best_ms(call: Any, repeats: int = 3) -> float:
    """The quickest of a few calls, in ms (the warm-up before it compiled what needed compiling)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def _alone_below(single_ms: float, pair_ms: float, batch_ms: float, batch_rows: int) -> float:
    """Below how many single-record requests answering each on the single-row path beats one batch
    call. The batch call's cost is taken as linear in its rows through the timed 2-row and full
    batches (a fixed part a, b per row); k records alone cost k x single, so alone wins while
    k < a / (single - b). A fast single-row path (a boosted tree's C call, a network in numpy) makes
    small batches slower than their records one by one: a pandas batch costs about 0.4 ms however
    few rows it has."""
    per_row = max(0.0, (batch_ms - pair_ms) / max(1, batch_rows - 2))
    fixed = max(0.0, pair_ms - 2 * per_row)
    if single_ms <= per_row:
        return float("inf")
    return fixed / (single_ms - per_row)


class _Collections:
    """The garbage collector's pauses in this process: each one stops every request in it, whatever
    the model, so they are the first suspect for a tail (`/metrics` "gc"). Installed once a process."""

    def __init__(self) -> None:
        self.by_generation: Counter[int] = Counter()
        self.total_ms = 0.0
        self.worst_ms: dict[int, float] = {}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        ms = (time.perf_counter() - self._started) * 1e3
        self.by_generation[info["generation"]] += 1
        self.total_ms += ms
        self.worst_ms[info["generation"]] = max(self.worst_ms.get(info["generation"], 0.0), ms)

    def metrics(self) -> dict[str, Any]:
        return {
            "collections_by_generation": {str(g): n for g, n in sorted(self.by_generation.items())},
            "pause_ms_total": round(self.total_ms, 3),
            "pause_ms_max_by_generation": {str(g): round(ms, 3) for g, ms in sorted(self.worst_ms.items())},
            "frozen_objects": gc.get_freeze_count(),
        }


def _collections() -> _Collections:
    found = next((c for c in gc.callbacks if isinstance(c, _Collections)), None)
    if found is None:
        found = _Collections()
        gc.callbacks.append(found)
    return found


def settle_memory() -> None:
    """Once the model is loaded and warm: collect, then freeze what is left (`gc.freeze`), so that the
    collector never walks the model's, the libraries' and the interpreter's objects again while
    serving. Done by the server process (`run_server`, each worker of `--workers`), not by
    `create_app`, which may run inside a longer-lived process."""
    gc.collect()
    gc.freeze()
    _collections().__init__()  # what /metrics reports are the pauses while serving, not this one


class ModelService:
    """The artifact behind the endpoints: checks a request's rows, answers batches of them."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        started = time.perf_counter()
        self.artifact: Artifact = load_artifact(settings.artifact_path)  # verified, never trust=True
        self.artifact.set_threads(settings.threads)
        # Both paths answer before the first request does, so it does not pay for compiling them; the
        # second full batch is timed: a model that answers it within INLINE_BELOW_MS predicts on the event loop.
        warm = synthetic_rows(self.artifact.predictor, max(2, min(settings.max_batch, 256))).to_dict(orient="records")
        self.predict(warm[0])
        self.predict(warm)
        self.batch_ms = _best_ms(lambda: self.predict(warm))
        self.single_ms = _best_ms(lambda: self.predict(warm[0]))
        self.pair_ms = _best_ms(lambda: self.predict(warm[:2]))
        self.alone_below = _alone_below(self.single_ms, self.pair_ms, self.batch_ms, len(warm))
        self.load_s = time.perf_counter() - started
        inline = self.batch_ms < INLINE_BELOW_MS
        self.batcher = Batcher(
            self.answer, settings.max_batch, settings.max_wait_ms, inline=inline, max_queue=settings.max_queue
        )
        self.started_s = time.monotonic()
        self.refusals: Counter[int] = Counter()
        self.collections = _collections()

    def records(self, body: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """The rows of a parsed body: one record (a dict) or a list of them."""
        if isinstance(body, dict) and set(body) == {"rows"}:
            body = body["rows"]
            if not isinstance(body, list):
                raise Refused(400, f'"rows" is {_kind(body)}; send a list of records, each an object of column: value.')
        if isinstance(body, dict):
            _check_values(body, "")
            return body
        if not isinstance(body, list):
            raise Refused(
                400,
                f"The body is {_kind(body)}; send one record (an object of column: value), a list of records, or "
                '{"rows": [records]}.',
            )
        if not body:
            raise Refused(400, "The list of rows is empty; send at least one record.")
        if len(body) > self.settings.max_rows:
            raise Refused(
                413,
                f"The request has {len(body)} rows, over this server's limit of {self.settings.max_rows}; split it.",
            )
        for i, record in enumerate(body):
            if not isinstance(record, dict):
                raise Refused(400, f"Row {i} is {_kind(record)}; each row must be an object of column: value.")
            _check_values(record, f" in row {i}")
        return body

    def warnings(self, rows: dict[str, Any] | list[dict[str, Any]], strict: bool) -> list[str]:
        """Refuse rows the model cannot take (422); name unseen categories, refused when `strict`."""
        found = self.artifact.problems(rows)
        if found:
            raise Refused(422, found[0])
        unseen = self.artifact.problems(rows, strict=True)  # with the rows otherwise fine: only unseen categories
        if unseen and strict:
            raise Refused(422, unseen[0].replace("; without strict=True it is treated as 'other'", ""))
        return [u.replace("without strict=True", "without ?strict=true") for u in unseen]

    def predict(self, rows: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        """Exactly `load_artifact(path).predict(rows)` (and `predict_proba` for classification)."""
        labels = self.artifact.predict(rows)
        answer: dict[str, Any] = {"predictions": [_plain(v) for v in labels]}
        if self.artifact.task != "regression":
            answer["classes"] = [_plain(c) for c in self.artifact.classes or []]
            answer["probabilities"] = [[_plain(p) for p in row] for row in self.artifact.predict_proba(rows).tolist()]
        return answer

    def answer_alone(self, rows: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any] | Exception:
        try:
            return self.predict(rows)
        except AdvisorError as exc:  # rows the checks let through but the model refused
            return Refused(422, str(exc))
        except Exception as exc:
            log.exception("predicting %d row(s) failed", 1 if isinstance(rows, dict) else len(rows))
            return Refused(
                500, f"The model failed on these rows ({type(exc).__name__}); the server logged the details."
            )

    def answer(self, payloads: list[dict[str, Any] | list[dict[str, Any]]]) -> list[dict[str, Any] | Exception]:
        """One outcome per request; several requests are predicted as one batch, in a worker thread."""
        if len(payloads) == 1 or (
            len(payloads) < self.alone_below and all(isinstance(rows, dict) for rows in payloads)
        ):  # a few single records: each on the single-row path is quicker than one batch call
            return [self.answer_alone(rows) for rows in payloads]
        combined = [r for rows in payloads for r in ([rows] if isinstance(rows, dict) else rows)]
        try:
            together = self.predict(combined)
        except Exception:  # one request's rows spoil the batch: answer each alone, so only it is refused
            return [self.answer_alone(rows) for rows in payloads]
        outcomes: list[dict[str, Any] | Exception] = []
        start = 0
        for rows in payloads:
            end = start + (1 if isinstance(rows, dict) else len(rows))
            outcomes.append({k: v[start:end] if k != "classes" else v for k, v in together.items()})
            start = end
        return outcomes

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "model": self.artifact.predictor.key,
            "name": self.artifact.predictor.name,
            "task": self.artifact.task,
            "load_s": round(self.load_s, 3),
            "uptime_s": round(time.monotonic() - self.started_s, 3),
            "requests_served": self.batcher.requests,
            "worker_pid": os.getpid(),  # with --workers > 1 each process counts its own requests
            "cpu_s": round(time.process_time(), 4),  # this worker process's CPU time since it started
        }

    def schema(self) -> dict[str, Any]:
        return {
            **self.artifact.schema,
            "decision": self.artifact.metrics.get("decision"),
            "unseen_categories": "predicted as 'other' and named in the answer's warnings; POST /predict?strict=true "
            "refuses them",
            "limits": {"max_body_bytes": self.settings.max_body_bytes, "max_rows": self.settings.max_rows},
        }

    def metrics(self) -> dict[str, Any]:
        return {
            **self.health(),
            "batching": {
                **self.batcher.metrics(),
                # fewer single-record requests than this in a batch are answered one by one (see _alone_below)
                "records_alone_below": None if self.alone_below == float("inf") else round(self.alone_below, 1),
                "warm_ms": {"one_record": self.single_ms, "two_rows": self.pair_ms, "full_batch": self.batch_ms},
            },
            "refused_by_status": {str(k): v for k, v in sorted(self.refusals.items())},
            "gc": self.collections.metrics(),
        }


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to be over `limit` bytes (declared or counted)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refused(400, f"The Content-Length header is {declared[:20]!r}, not a number of bytes.")
        if int(declared) > limit:
            raise Refused(
                413, f"The body is {int(declared)} bytes, over this server's limit of {limit}; send fewer rows."
            )
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise Refused(413, f"The body is over this server's limit of {limit} bytes; send fewer rows.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise Refused(
            400, f"The body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from None
    except UnicodeDecodeError:
        raise Refused(400, "The body is not UTF-8 text, so it is not JSON; send the rows as JSON.") from None
    except RecursionError:
        raise Refused(400, "The body's JSON is nested too deeply; send a list of flat records.") from None


def create_app(
    artifact_path: str | Path,
    max_batch: int = 32,
    max_wait_ms: float = 0.0,
    max_body_bytes: int = 1_000_000,
    max_rows: int = 1_000,
    threads: int = 1,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> Starlette:
    """The ASGI app serving this artifact (loaded and verified now, so a bad file fails here)."""
    settings = ServeSettings(str(artifact_path), max_batch, max_wait_ms, max_body_bytes, max_rows, threads, max_queue)
    return _app(ModelService(settings))


def app_from_env() -> Starlette:
    """The app factory uvicorn's worker processes call (`--workers` > 1): settings from `SETTINGS_ENV`."""
    settings = json.loads(os.environ[SETTINGS_ENV])
    app = create_app(**settings)
    settle_memory()
    return app


def _app(service: ModelService) -> Starlette:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def refused(exc: Refused) -> JSONResponse:
        service.refusals[exc.status] += 1
        retry = {"Retry-After": "1"} if exc.status == 503 else None  # a 503 here is always "not now"
        return JSONResponse({"error": exc.sentence}, status_code=exc.status, headers=retry)

    async def predict(request: Request) -> JSONResponse:
        try:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise Refused(
                    415,
                    f"Send the rows as JSON with Content-Type: application/json (this one's is {media or 'none'!r}).",
                )
            rows = service.records(_parsed(await _body(request, service.settings.max_body_bytes)))
            strict = request.query_params.get("strict", "").lower() in ("1", "true", "yes")
            warnings = service.warnings(rows, strict)
            try:
                answer = await service.batcher.submit(rows, 1 if isinstance(rows, dict) else len(rows))
            except Overloaded as exc:
                raise Refused(
                    503, f"The server is at capacity: {exc.waiting} requests are waiting; retry in a moment."
                ) from None
            except Stopping:
                raise Refused(503, "The server is shutting down; retry in a moment.") from None
        except Refused as exc:
            return refused(exc)
        return JSONResponse({**answer, "warnings": warnings} if warnings else answer)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(service.health())

    async def schema(request: Request) -> JSONResponse:
        return JSONResponse(service.schema())

    async def metrics(request: Request) -> JSONResponse:
        return JSONResponse(service.metrics())

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        sentence = {
            404: f"There is no {request.url.path!r} here; the endpoints are POST /predict, GET /health, GET /schema "
            "and GET /metrics.",
            405: f"{request.url.path} does not take {request.method}; POST /predict, GET the others.",
        }.get(exc.status_code, f"The request was refused ({exc.status_code}).")
        return refused(Refused(exc.status_code, sentence))

    async def server_fault(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "answering %s %s failed: %s (traceback follows)", request.method, request.url.path, type(exc).__name__
        )
        service.refusals[500] += 1
        return JSONResponse({"error": "The server failed on this request; its log has the details."}, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        await service.batcher.start()
        try:
            yield
        finally:
            await service.batcher.stop()

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/schema", schema, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_fault},
        lifespan=lifespan,
    )
    app.state.service = service  # the loaded artifact, settings and counters, for tests and embedding
    return app


@contextlib.contextmanager
def _stop_on_signals(server: Any) -> Iterator[None]:
    """While `server` runs, SIGTERM and SIGINT stop it gracefully, and the process then goes on
    (`advisor serve` exits 0). uvicorn handles both itself while serving, then raises the signal
    again once it has drained, for the handler it found: with the default ones, SIGTERM would kill
    the process after a clean drain. This handler, the one it finds, asks the server to exit
    instead (also for a signal that comes while it is still starting)."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    stopping = (signal.SIGTERM, signal.SIGINT)
    before = {sig: signal.getsignal(sig) for sig in stopping}
    for sig in stopping:
        signal.signal(sig, lambda sig, frame: setattr(server, "should_exit", True))
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def run_server(
    artifact_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    access_log: bool = False,
    **settings: Any,
) -> None:
    """Serve the artifact until interrupted (`settings`: those of `create_app`). With `workers` > 1,
    uvicorn starts that many processes, each loading the artifact (checked once here first)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError("Serving needs uvicorn and starlette: pip install -r requirements.txt.") from exc
    if workers < 1:
        raise ConfigError(f"--workers is {workers}; give 1 or more.")
    if workers == 1:
        app: Any = create_app(artifact_path, **settings)
        settle_memory()
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=access_log, log_level="info"))
        with _stop_on_signals(server):
            server.run()
        return
    checked = ServeSettings(str(artifact_path), **settings)
    load_artifact(checked.artifact_path)  # a bad file is one sentence here, not one per worker
    os.environ[SETTINGS_ENV] = json.dumps(asdict(checked))
    uvicorn.run(
        "advisor.serve.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
    )
