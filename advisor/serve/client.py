"""The load generator's client: one asyncio event loop per process, raw HTTP/1.1 keep-alive.

Each call of `run_window` (in a worker process of `load.LoadClient`'s pool) sends requests for one
measurement window and returns what it saw. Two ways to send:

- open loop: send times are drawn before the window starts (a Poisson schedule); a request's
  latency runs from its *scheduled* time to the end of its answer, so a slow server cannot slow
  the client down (no coordinated omission) and a late client shows up as latency, never as a
  lighter load; each request takes an idle connection or opens one;
- closed loop: `concurrency` clients, each sends its next request when its last one was answered.

The client measures its own CPU time (`time.process_time`) over the window, and how late it sent
against the schedule, so the caller can tell a busy client from a slow server.
"""

from __future__ import annotations

import asyncio
import math
import os
import selectors
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from advisor.errors import ConfigError

# Per process: beyond this, open-loop requests wait in the client for a free connection (their
# latency still runs from their scheduled time), as behind a proxy that keeps a bounded pool of
# keep-alive connections to a worker. Little's law puts the connections a passing level needs at
# its rate x its latency, 50 or so at 7,000/s and 5-7 ms; with no bound, a server's 50 ms hiccup
# made the client open hundreds (900 at 4,500/s on adult), the connects cost the server more than
# the requests, and a level a quiet server passes collapsed to p99s of seconds. The loop uses
# select() (under its limit of 1024 descriptors) because epoll's timeout is whole milliseconds,
# which made sends 0.8 ms late at the median here, against 0.25 ms with select().
MAX_CONNECTIONS = 128
WARM_CONNECTIONS_S = 0.005  # open loop: connections opened before a window, per request a second


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: host, port and the path of `POST`."""

    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"URL '{url}' is not an http:// address with a host, e.g. http://127.0.0.1:8000/predict.")
        return cls(parts.hostname, parts.port or 80, parts.path or "/")

    def request(self, body: bytes, method: str = "POST") -> bytes:
        head = (
            f"{method} {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("ascii") + body


def poisson_schedule(rate_rps: float, duration_s: float, seed: int) -> np.ndarray:
    """Send times in seconds from the window's start: exponential gaps at `rate_rps` (MLPerf
    Server's arrivals), drawn up front so nothing the server does can move them."""
    rng = np.random.default_rng(seed)
    expected = rate_rps * duration_s
    gaps = rng.exponential(1.0 / rate_rps, size=int(expected + 6 * np.sqrt(expected) + 16))
    times = np.cumsum(gaps)
    while times[-1] < duration_s:  # vanishingly rare; drawn on rather than truncated
        times = np.concatenate([times, times[-1] + np.cumsum(rng.exponential(1.0 / rate_rps, size=len(times)))])
    return times[times < duration_s]


class _Answer:
    """Reads one HTTP/1.1 answer from the bytes a connection received: `feed` returns (status,
    keep-alive) once the whole answer is in, else None. Bytes, not text: the header block is searched
    for the two headers that matter (length or chunking, and `Connection: close`)."""

    __slots__ = ("buffer", "chunked", "head_end", "keep", "length", "status")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.head_end = -1

    def feed(self, data: bytes) -> tuple[int, bool] | None:
        buffer = self.buffer
        buffer += data
        if self.head_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            head = bytes(buffer[:end]).lower()
            self.head_end = end + 4
            self.status = int(head[9:12])  # "HTTP/1.1 200 OK"
            self.keep = b"\r\nconnection: close" not in head
            self.chunked = b"\r\ntransfer-encoding: chunked" in head
            at = head.find(b"\r\ncontent-length:")
            self.length = int(head[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if self.chunked:
            return self._chunked()
        total = self.head_end + self.length
        if len(buffer) < total:
            return None
        del buffer[:total]
        self.head_end = -1
        return self.status, self.keep

    def _chunked(self) -> tuple[int, bool] | None:
        buffer, at = self.buffer, self.head_end
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
            after = line_end + 2 + size + 2
            if len(buffer) < after:
                return None
            at = after
            if size == 0:
                del buffer[:at]
                self.head_end = -1
                return self.status, self.keep


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer handed to the client."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.answer = _Answer()
        self.scheduled = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.client.opened_one(self)

    def send(self, request: bytes, scheduled: float) -> None:
        self.scheduled = scheduled
        self.busy = True
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        try:
            done = self.answer.feed(data)
        except (ValueError, IndexError):
            self.client.failed(self, "connection: ValueError")
            return
        if done is not None:
            self.busy = False
            self.client.answered(self, *done)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(self, f"connection: {type(exc).__name__}" if exc else "connection: closed")

    def close(self) -> None:
        self.busy = False
        if self.transport is not None:
            self.transport.close()


class _Client:
    """Every connection of one window, with no task or coroutine per request: a request is written
    when it is due (open loop) or when its connection's last answer is read (closed loop), and its
    answer is tallied in the protocol's callback. That costs a fraction of the CPU of a
    StreamReader/StreamWriter exchange per request, so the client stays far from its core's limit
    at the rates one model worker can serve."""

    def __init__(self, endpoint: Endpoint, requests: list[bytes], timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.clock = self.loop.time
        self.endpoint = endpoint
        self.requests = requests
        self.timeout_s = timeout_s
        self.idle: list[_Connection] = []
        self.backlog: deque[tuple[bytes, float]] = deque()
        self.connections: set[_Connection] = set()
        self.opening = 0
        self.opened = 0  # connections opened in the window
        self.latencies_s: list[float] = []
        self.lags_s: list[float] = []
        self.errors: dict[str, int] = {}
        self.sent = 0
        self.in_flight = 0
        self.closed_loop = False
        self.closed_until: float | None = None  # closed loop: send again on an answer until then
        self.next_index = 0
        self.settled: asyncio.Future[None] | None = None

    # --- connections ---------------------------------------------------------------------------
    def open_one(self) -> None:
        self.opened += 1
        self.opening += 1
        task = self.loop.create_task(
            self.loop.create_connection(lambda: _Connection(self), self.endpoint.host, self.endpoint.port)
        )
        task.add_done_callback(self._open_done)

    def _open_done(self, task: asyncio.Task[Any]) -> None:
        self.opening -= 1
        if task.cancelled() or task.exception() is None:
            return
        kind = f"connection: {type(task.exception()).__name__}"
        if self.backlog:  # the oldest waiting request cannot be sent
            self.backlog.popleft()
            self.error(kind)
            self._one_done()
        elif self.closed_loop:  # a closed-loop client that never connected: one failed request
            self.sent += 1
            self.error(kind)
        # (an open-loop connection opened ahead of need that fails is no request's error)

    def opened_one(self, connection: _Connection) -> None:
        self.connections.add(connection)
        self._ready(connection)

    def _ready(self, connection: _Connection) -> None:
        """A connection is free: it takes the oldest waiting request (open loop) or the next one
        (closed loop, until the window ends), or waits itself."""
        if self.closed_until is not None:
            now = self.clock()
            if now < self.closed_until:
                self.sent += 1
                self.in_flight += 1
                self._write(connection, self._next_request(), now)
            else:
                self.idle.append(connection)
            return
        while self.backlog:
            request, scheduled = self.backlog.popleft()
            if self.clock() - scheduled > self.timeout_s:
                self.error("timeout")
                self._one_done()
                continue
            self._write(connection, request, scheduled)
            return
        self.idle.append(connection)

    def _write(self, connection: _Connection, request: bytes, scheduled: float) -> None:
        self.lags_s.append(self.clock() - scheduled)
        connection.send(request, scheduled)

    # --- requests ------------------------------------------------------------------------------
    def submit(self, request: bytes, scheduled: float) -> None:
        self.sent += 1
        self.in_flight += 1
        if self.idle:
            self._write(self.idle.pop(), request, scheduled)
            return
        self.backlog.append((request, scheduled))
        if len(self.connections) + self.opening < MAX_CONNECTIONS:
            self.open_one()

    def answered(self, connection: _Connection, status: int, keep: bool) -> None:
        now = self.clock()
        latency = now - connection.scheduled
        if latency > self.timeout_s:
            self.error("timeout")
        elif 200 <= status < 300:
            self.latencies_s.append(latency)
        else:
            self.error(f"http {status}")
        self._one_done()
        if keep:
            self._ready(connection)
        else:
            self._drop(connection)

    def failed(self, connection: _Connection, kind: str) -> None:
        if connection.busy:
            self.error(kind)
            self._one_done()
        self._drop(connection)

    def lost(self, connection: _Connection, kind: str) -> None:
        if connection in self.connections:
            self.failed(connection, kind)

    def _drop(self, connection: _Connection) -> None:
        """Close a connection the server closed or broke; open another where one is wanted (a
        waiting request, or a closed-loop client while its window lasts)."""
        self.connections.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        connection.close()
        wanted = self.backlog if self.closed_until is None else self.clock() < self.closed_until
        if wanted and len(self.connections) + self.opening < MAX_CONNECTIONS:
            self.open_one()

    def _next_request(self) -> bytes:
        request = self.requests[self.next_index % len(self.requests)]
        self.next_index += 1
        return request

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def _one_done(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self.settled is not None and not self.settled.done():
            self.settled.set_result(None)

    async def settle(self, last_deadline: float) -> None:
        """Wait for every answer, at most until the last request's deadline; what is still out
        then timed out (its connection is closed)."""
        if self.in_flight > 0:
            self.settled = self.loop.create_future()
            try:
                await asyncio.wait_for(self.settled, max(0.0, last_deadline - self.clock()) + 0.01)
            except TimeoutError:
                pass
        for connection in list(self.connections):
            if connection.busy:
                self.error("timeout")
                self.in_flight -= 1
                connection.busy = False
                self.connections.discard(connection)
                connection.close()
        for _ in self.backlog:
            self.error("timeout")
        self.backlog.clear()
        for connection in list(self.connections):
            connection.close()
        self.connections.clear()


async def _open_loop(client: _Client, schedule: np.ndarray, start: float, rate_rps: float) -> None:
    """Requests at their scheduled times. Connections for the requests expected in flight at once
    (the rate x 5 ms, plus 8) are opened before the window starts, as a load balancer keeps its
    keep-alive connections to a worker: opened on demand instead, each window began with dozens
    of connects, and a window that opened 95 had a p99 of 17 ms where one that opened 31 had 4 ms
    (linear model on adult at 4,500/s)."""
    clock = client.clock
    for _ in range(min(MAX_CONNECTIONS, math.ceil(rate_rps * WARM_CONNECTIONS_S) + 8)):
        client.open_one()
    while client.opening and clock() < start:
        await asyncio.sleep(0.001)
    due = start + schedule
    i, n = 0, len(due)
    while i < n:
        wait = float(due[i]) - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        now = clock()
        while i < n and due[i] <= now:  # every request now due, at its own scheduled time
            client.submit(client._next_request(), float(due[i]))
            i += 1
    await client.settle((float(due[-1]) if n else clock()) + client.timeout_s)


async def _closed_loop(client: _Client, concurrency: int, start: float, duration_s: float, offset: int) -> None:
    """`concurrency` connections, each sending its next request as soon as its last is answered."""
    client.next_index, client.closed_loop = offset, True
    for _ in range(concurrency):
        client.open_one()
    await asyncio.sleep(max(0.0, start - client.clock()))
    client.closed_until = start + duration_s
    ready = list(client.idle)
    client.idle.clear()
    for connection in ready:  # those opened late start on their own (`_ready`)
        client._ready(connection)
    await asyncio.sleep(max(0.0, client.closed_until - client.clock()))
    await client.settle(client.clock() + client.timeout_s)


# The requests of this worker process, set once by the pool's initializer.
_REQUESTS: list[bytes] = []


def install_requests(requests: list[bytes], cores: frozenset[int] | None = None) -> None:
    """Pool initializer: every window of this process sends these (already framed) requests in turn;
    with `cores`, the process runs on those cores only (apart from the server's)."""
    _REQUESTS[:] = requests
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def run_window(
    endpoint: Endpoint,
    mode: str,
    level: float,
    duration_s: float,
    start_at: float,
    timeout_s: float,
    seed: int,
) -> dict[str, Any]:
    """One window in this process: `level` is a rate (rows/s, open loop) or a number of clients
    (closed loop). `start_at` is a `time.time()` shared by every process of the window."""

    async def main() -> tuple[_Client, float]:
        loop = asyncio.get_running_loop()
        start = loop.time() + max(0.0, start_at - time.time())
        client = _Client(endpoint, _REQUESTS, timeout_s)
        if mode == "open":
            client.next_index = seed
            schedule = poisson_schedule(level, duration_s, seed) if level > 0 else np.empty(0)
            await _open_loop(client, schedule, start, level)
        else:
            await _closed_loop(client, int(level), start, duration_s, offset=seed)
        return client, loop.time() - start

    cpu_before = time.process_time()
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())) as runner:
        client, elapsed = runner.run(main())
    return {
        "latencies_ms": np.asarray(client.latencies_s, dtype=float) * 1e3,
        "lag_ms": np.asarray(client.lags_s, dtype=float) * 1e3,
        "sent": client.sent,
        "connections": client.opened,
        "errors": client.errors,
        "cpu_s": time.process_time() - cpu_before,
        "elapsed_s": elapsed,
    }
