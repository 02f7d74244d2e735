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
import os
import selectors
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from advisor.errors import ConfigError

# Per process: beyond this, open-loop requests wait for a free connection. Under select()'s limit of
# 1024 file descriptors: the loop uses select() because epoll's timeout is whole milliseconds, which
# made sends 0.8 ms late at the median here, against 0.25 ms with select().
MAX_CONNECTIONS = 900


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


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bool]:
    """Send one request and read its whole answer: (HTTP status, whether the connection stays open)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").lower() != "close"


class _Connections:
    """Idle keep-alive connections to one endpoint, opened on demand."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.limit = asyncio.Semaphore(MAX_CONNECTIONS)

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        self.opened += 1
        return await asyncio.open_connection(self.endpoint.host, self.endpoint.port)

    def close_all(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class _Tally:
    def __init__(self) -> None:
        self.latencies_s: list[float] = []
        self.lags_s: list[float] = []
        self.errors: dict[str, int] = {}
        self.sent = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def _send(
    pool: _Connections, request: bytes, scheduled: float, deadline: float, tally: _Tally, clock: Any
) -> None:
    """One request: latency from `scheduled` (the open loop's send time, or the closed loop's actual one)."""
    async with pool.limit:
        tally.lags_s.append(clock() - scheduled)
        tally.sent += 1
        conn = None
        try:
            async with asyncio.timeout(max(0.0, deadline - clock())):
                conn = await pool.take()
                status, keep = await _exchange(*conn, request)
        except TimeoutError:
            tally.error("timeout")
            if conn is not None:
                conn[1].close()
            return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            tally.error(f"connection: {type(exc).__name__}")
            if conn is not None:
                conn[1].close()
            return
        done = clock()
        (pool.idle.append(conn) if keep else conn[1].close())
        if 200 <= status < 300:
            tally.latencies_s.append(done - scheduled)
        else:
            tally.error(f"http {status}")


async def _open_loop(
    pool: _Connections, requests: list[bytes], schedule: np.ndarray, start: float, timeout_s: float, tally: _Tally
) -> None:
    loop = asyncio.get_running_loop()
    clock = loop.time
    tasks = set()
    for i, offset in enumerate(schedule):
        at = start + float(offset)
        wait = at - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        task = asyncio.create_task(_send(pool, requests[i % len(requests)], at, at + timeout_s, tally, clock))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)


async def _closed_loop(
    pool: _Connections,
    requests: list[bytes],
    concurrency: int,
    start: float,
    duration_s: float,
    timeout_s: float,
    tally: _Tally,
    offset: int,
) -> None:
    loop = asyncio.get_running_loop()
    clock = loop.time
    end = start + duration_s

    async def client(index: int) -> None:
        i = index
        while (now := clock()) < end:
            await _send(pool, requests[i % len(requests)], now, now + timeout_s, tally, clock)
            i += concurrency

    await asyncio.sleep(max(0.0, start - clock()))
    await asyncio.gather(*(client(offset + c) for c in range(concurrency)))


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

    async def main() -> tuple[_Tally, float]:
        loop = asyncio.get_running_loop()
        start = loop.time() + max(0.0, start_at - time.time())
        pool = _Connections(endpoint)
        tally = _Tally()
        if mode == "open":
            schedule = poisson_schedule(level, duration_s, seed) if level > 0 else np.empty(0)
            await _open_loop(pool, _REQUESTS, schedule, start, timeout_s, tally)
        else:
            await _closed_loop(pool, _REQUESTS, int(level), start, duration_s, timeout_s, tally, offset=seed)
        elapsed = loop.time() - start
        pool.close_all()
        return tally, elapsed

    cpu_before = time.process_time()
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(selectors.SelectSelector())) as runner:
        tally, elapsed = runner.run(main())
    return {
        "latencies_ms": np.asarray(tally.latencies_s, dtype=float) * 1e3,
        "lag_ms": np.asarray(tally.lags_s, dtype=float) * 1e3,
        "sent": tally.sent,
        "errors": tally.errors,
        "cpu_s": time.process_time() - cpu_before,
        "elapsed_s": elapsed,
    }
