"""The load generator: the highest request rate a served model answers within a p99 bound.

How a rate is measured and searched (the result's `method` says the same):

- the client runs in its own processes (`LoadClient`, one asyncio loop each, see `client`); an
  open-loop rate is split evenly over them (the sum of independent Poisson streams is Poisson);
- a level (a rate, or a number of closed-loop clients) is measured over windows repeated until two
  successive windows' p99 agree within `stability` (10%: Triton perf_analyzer's rule) or
  `max_windows` were run; its figures pool the last two windows;
- a level passes when its p99 is within the bound and at most 0.1% of its requests failed (an
  HTTP error, a broken connection, or no answer within `timeout_s` of the scheduled send time);
- the search: one closed-loop client gives the service time S; the open loop starts at 0.5 / S,
  doubles while levels pass (halves while they fail), then bisects (geometric midpoints) until
  the highest passing and lowest failing rates are within `resolution` of each other; an open-loop
  level that fails is measured again and fails only if it fails twice (one spike of a shared
  machine in one window would otherwise halve the rate found);
- the client's CPU time is read in every process: when a process used over 70% of a core, or the
  client over 70% of the machine, the result says the figures cannot tell client from server;
- `should_stop` (e.g. a run's Cancel) is asked before every window: when it says so, the search
  ends with `LoadStopped` within about one window, not at the end of the search.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from advisor.errors import ConfigError

if TYPE_CHECKING:
    from advisor.serve.client import Endpoint

ERROR_RATE_LIMIT = 0.001  # a level where more than 0.1% of requests failed does not pass
CLIENT_BUSY_SHARE = 0.7  # above this share of a core (or of the machine), client and server limits blur
BODY_SHAPES = ("record", "list", "rows")  # row, [row], {"rows": [row]}: what `advisor serve` takes


class LoadStopped(Exception):
    """`should_stop` said to stop before the load test ended (the levels measured by then went to `progress`)."""


@dataclass(frozen=True)
class LoadPoint:
    """One level measured: an offered rate (open loop) or a number of clients (closed loop)."""

    mode: str
    offered_rps: float | None
    concurrency: int | None
    achieved_rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    requests: int
    errors: int
    error_rate: float
    error_kinds: dict[str, int]
    windows: int
    window_s: float
    stable: bool
    window_p99_ms: tuple[float | None, ...]
    send_lag_p99_ms: float | None
    client_cpu_core_share: float  # the busiest client process's CPU time / wall time
    client_cpu_machine_share: float  # all client processes' CPU time / (wall time x cores)
    machine_cpu_share: float | None  # the whole machine's busy share over the windows (psutil)
    meets_bound: bool

    def summary(self) -> str:
        """This level as one line, e.g. for progress on a terminal."""
        level = f"{self.offered_rps:,.0f}/s offered" if self.offered_rps is not None else f"{self.concurrency} clients"
        p99 = "-" if self.p99_ms is None else f"{self.p99_ms:.3g} ms"
        return (
            f"{level}: {self.achieved_rps:,.0f}/s answered, p99 {p99}, {self.errors} failed, {self.windows} "
            f"window(s), client {self.client_cpu_core_share:.0%} of a core: {'passes' if self.meets_bound else 'fails'}"
        )


@dataclass(frozen=True)
class LoadResult:
    url: str
    mode: str
    p99_bound_ms: float
    max_rps: float | None
    found: LoadPoint | None
    curve: tuple[LoadPoint, ...]
    probe: LoadPoint | None
    client_processes: int
    client_limited: bool
    notes: tuple[str, ...]
    method: str
    body_shape: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        from advisor.measure.figures import as_plain

        return as_plain(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary_lines(self) -> list[str]:
        """The finding in sentences: the rate, its percentiles, then every note."""
        found = self.found
        if found is None or self.max_rps is None:
            lines = [f"{self.url}: no level tried met p99 <= {self.p99_bound_ms:g} ms."]
        else:
            lines = [
                f"{self.url}: {self.max_rps:,.0f} requests/s with p99 <= {self.p99_bound_ms:g} ms "
                f"(p50 {found.p50_ms:.3g} ms, p95 {found.p95_ms:.3g} ms, p99 {found.p99_ms:.3g} ms; "
                f"{found.achieved_rps:,.0f}/s answered, {found.errors} of {found.requests} failed; "
                f"{len(self.curve)} level(s) tried)."
            ]
        return lines + [f"Note: {note}" for note in self.notes if not note.startswith("No level tried")]


@dataclass
class _Window:
    latencies_ms: np.ndarray
    lag_ms: np.ndarray
    sent: int
    errors: dict[str, int]
    elapsed_s: float
    core_share: float
    machine_share: float
    machine_busy: float | None
    duration_s: float

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def p99_ms(self) -> float | None:
        return float(np.percentile(self.latencies_ms, 99)) if len(self.latencies_ms) else None


def json_records(rows: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as JSON-safe records: NaN and NaT become null, dates ISO text."""
    return json.loads(rows.to_json(orient="records", date_format="iso"))


def frame_body(record: dict[str, Any], shape: str) -> bytes:
    payload: Any = {"rows": [record]} if shape == "rows" else [record] if shape == "list" else record
    return json.dumps(payload, separators=(",", ":")).encode()


def detect_body_shape(url: str, record: dict[str, Any], timeout_s: float = 10.0) -> str:
    """The first body shape the server answers with 2xx: one record (`advisor serve`'s single-row path),
    then a list of one, then {"rows": [row]}."""
    answers = []
    for shape in BODY_SHAPES:
        request = urllib.request.Request(
            url, data=frame_body(record, shape), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if 200 <= response.status < 300:
                    return shape
                answers.append(f"{shape}: HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            answers.append(f"{shape}: HTTP {exc.code} {exc.read()[:200].decode(errors='replace')}")
        except OSError as exc:
            raise ConfigError(f"Cannot reach {url} ({exc}); start the server first, or check the URL.") from exc
    raise ConfigError(f"{url} answered no request body shape with success ({'; '.join(answers)}).")


class LoadClient:
    """The client's worker processes (spawned, so each has its own interpreter and event loop),
    kept for a whole search; every window is sent by all of them at once."""

    def __init__(
        self, url: str, requests: Sequence[bytes], processes: int | None = None, cores: frozenset[int] | None = None
    ) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from advisor.serve.client import Endpoint, install_requests  # asyncio: only when loading a server

        self.endpoint: Endpoint = Endpoint.parse(url)
        framed = [self.endpoint.request(body) for body in requests]
        self.processes = processes or default_processes()
        self._pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=install_requests,
            initargs=(framed, cores),
        )
        self._windows = 0
        # Start every process now, so the first window does not pay for interpreter start-up.
        list(self._pool.map(time.sleep, [0.0] * self.processes))

    def __enter__(self) -> LoadClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool.shutdown(cancel_futures=True)

    def window(self, mode: str, level: float, duration_s: float, timeout_s: float) -> _Window:
        """One window: `level` is the total rate (open) or the total number of clients (closed)."""
        if mode == "open":
            shares = [level / self.processes] * self.processes
        else:
            whole = int(level)
            shares = [whole // self.processes + (1 if i < whole % self.processes else 0) for i in range(self.processes)]
        from advisor.serve.client import run_window

        busy_before = _machine_busy()
        start_at = time.time() + 0.05 + 0.01 * self.processes
        futures = [
            self._pool.submit(
                run_window,
                self.endpoint,
                mode,
                share,
                duration_s,
                start_at,
                timeout_s,
                (self._windows * 1000 + i) if mode == "open" else sum(shares[:i]),
            )
            for i, share in enumerate(shares)
            if share > 0
        ]
        self._windows += 1
        parts = [f.result() for f in futures]
        busy_after = _machine_busy()
        elapsed = max(p["elapsed_s"] for p in parts)
        errors: dict[str, int] = {}
        for part in parts:
            for kind, count in part["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
        cpu = [p["cpu_s"] for p in parts]
        machine_busy = None
        if busy_before is not None and busy_after is not None:
            busy = busy_after[0] - busy_before[0]
            total = busy_after[1] - busy_before[1]
            machine_busy = busy / total if total > 0 else None
        return _Window(
            latencies_ms=np.concatenate([p["latencies_ms"] for p in parts]),
            lag_ms=np.concatenate([p["lag_ms"] for p in parts]),
            sent=sum(p["sent"] for p in parts),
            errors=errors,
            elapsed_s=elapsed,
            core_share=max(c / max(p["elapsed_s"], 1e-9) for c, p in zip(cpu, parts, strict=True)),
            machine_share=sum(cpu) / (elapsed * (os.cpu_count() or 1)),
            machine_busy=machine_busy,
            duration_s=duration_s,
        )


def default_processes() -> int:
    """One client process per four cores, at least one and at most four: enough to send tens of
    thousands of requests a second while leaving most cores to the server."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


def _machine_busy() -> tuple[float, float] | None:
    try:
        import psutil
    except ImportError:
        return None
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    total = sum(times)
    return total - idle, total


def _percentile(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def _point(mode: str, level: float, windows: list[_Window], p99_bound_ms: float, stable: bool) -> LoadPoint:
    pooled = windows[-2:]
    latencies = np.concatenate([w.latencies_ms for w in pooled])
    lags = np.concatenate([w.lag_ms for w in pooled])
    sent = sum(w.sent for w in pooled)
    errors: dict[str, int] = {}
    for w in pooled:
        for kind, count in w.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    failed = sum(errors.values())
    error_rate = failed / sent if sent else 1.0
    p99 = _percentile(latencies, 99)
    busy = [w.machine_busy for w in pooled if w.machine_busy is not None]
    return LoadPoint(
        mode=mode,
        offered_rps=float(level) if mode == "open" else None,
        concurrency=int(level) if mode == "closed" else None,
        achieved_rps=len(latencies) / sum(max(w.elapsed_s, w.duration_s) for w in pooled),
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        p99_ms=p99,
        requests=sent,
        errors=failed,
        error_rate=error_rate,
        error_kinds=errors,
        windows=len(windows),
        window_s=pooled[-1].duration_s,
        stable=stable,
        window_p99_ms=tuple(w.p99_ms for w in windows),
        send_lag_p99_ms=_percentile(lags, 99),
        client_cpu_core_share=max(w.core_share for w in pooled),
        client_cpu_machine_share=max(w.machine_share for w in pooled),
        machine_cpu_share=max(busy) if busy else None,
        meets_bound=p99 is not None and p99 <= p99_bound_ms and error_rate <= ERROR_RATE_LIMIT,
    )


def measure_level(
    client: LoadClient,
    mode: str,
    level: float,
    p99_bound_ms: float,
    window_s: float = 2.0,
    max_windows: int = 5,
    stability: float = 0.1,
    timeout_s: float = 1.0,
    min_requests: int = 300,
    should_stop: Callable[[], bool] | None = None,
) -> LoadPoint:
    """A level measured over windows until two successive p99s agree within `stability`. A window
    of an open-loop rate lasts long enough for `min_requests` (at most 4 x `window_s`). Raises
    `LoadStopped` before a window when `should_stop()` is true."""
    duration = window_s
    if mode == "open":
        duration = min(max(window_s, min_requests / level), 4 * window_s)
    windows: list[_Window] = []
    stable = False
    while len(windows) < max_windows:
        if should_stop is not None and should_stop():
            raise LoadStopped()
        windows.append(client.window(mode, level, duration, timeout_s))
        last = windows[-1]
        if len(windows) >= 2:
            before, now = windows[-2].p99_ms, last.p99_ms
            if before is not None and now is not None and abs(now - before) <= stability * max(before, now):
                stable = True
                break
        # Far over the bound (or failing): repeating it would only confirm it, and load the server longer.
        if (last.p99_ms is None or last.p99_ms > 3 * p99_bound_ms) or last.failed > 0.05 * max(last.sent, 1):
            break
    return _point(mode, level, windows, p99_bound_ms, stable)


def search_rate(
    client: LoadClient,
    p99_bound_ms: float,
    mode: str = "open",
    window_s: float = 2.0,
    max_windows: int = 5,
    stability: float = 0.1,
    resolution: float = 0.1,
    timeout_s: float = 1.0,
    max_rps: float = 1e5,
    max_concurrency: int = 512,
    min_requests: int = 300,
    progress: Callable[[LoadPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[LoadPoint | None, list[LoadPoint], LoadPoint]:
    """The highest passing level: (that point or None, every point tried in order, the probe)."""
    tried: list[LoadPoint] = []

    def measure(kind: str, level: float) -> LoadPoint:
        point = measure_level(
            client, kind, level, p99_bound_ms, window_s, max_windows, stability, timeout_s, min_requests, should_stop
        )
        if progress:
            progress(point)
        if not point.meets_bound:
            time.sleep(min(timeout_s, 1.0))  # let the server drain what the failed level queued
        return point

    probe = measure("closed", 1)
    if mode == "closed":
        tried.append(probe)
        level_of: Callable[[LoadPoint], float] = lambda p: float(p.concurrency or 0)  # noqa: E731
        low, high = (probe, None) if probe.meets_bound else (None, probe)
        level = 2.0
        while low is not None and high is None and level <= max_concurrency:
            point = measure("closed", level)
            tried.append(point)
            low, high = (point, None) if point.meets_bound else (low, point)
            level *= 2
        while low is not None and high is not None and level_of(high) - level_of(low) > 1:
            point = measure("closed", float((int(level_of(low)) + int(level_of(high))) // 2))
            tried.append(point)
            low, high = (point, high) if point.meets_bound else (low, point)
        passing = [p for p in tried if p.meets_bound]
        return (max(passing, key=lambda p: p.achieved_rps) if passing else None), tried, probe

    def confirmed(rate: float) -> LoadPoint:
        # A level that fails is measured once more and fails only if it fails again: one spike of the
        # machine (another process waking, a collection) in one window would otherwise halve the rate
        # found. On two shared cores two searches of one server differed up to 2x before this.
        point = measure("open", rate)
        tried.append(point)
        if point.meets_bound:
            return point
        again = measure("open", rate)
        tried.append(again)
        return again

    service_ms = probe.p50_ms or p99_bound_ms
    rate = max(1.0, 0.5 * 1e3 / service_ms)
    low_point: LoadPoint | None = None
    high_point: LoadPoint | None = None
    while rate <= max_rps and rate >= 1.0:
        point = confirmed(rate)
        if point.meets_bound:
            low_point = point
            if high_point is not None:
                break
            rate *= 2
        else:
            high_point = point
            if low_point is not None:
                break
            rate /= 2
    while low_point is not None and high_point is not None:
        low_rate, high_rate = float(low_point.offered_rps or 0), float(high_point.offered_rps or 0)
        if high_rate / low_rate <= 1 + resolution:
            break
        point = confirmed(math.sqrt(low_rate * high_rate))
        low_point, high_point = (point, high_point) if point.meets_bound else (low_point, point)
    return low_point, tried, probe


def _notes(points: Sequence[LoadPoint], found: LoadPoint | None, p99_bound_ms: float) -> tuple[bool, list[str]]:
    notes = []
    busy = [p for p in points if p.meets_bound or p is found]
    core = max((p.client_cpu_core_share for p in busy), default=0.0)
    machine = max((p.client_cpu_machine_share for p in busy), default=0.0)
    limited = core > CLIENT_BUSY_SHARE or machine > CLIENT_BUSY_SHARE
    if limited:
        notes.append(
            f"The client used up to {core:.0%} of a core ({machine:.0%} of the machine) at the rates that passed: "
            "on this machine the figures cannot tell the client's limit from the server's; run the client on "
            "another machine or with more --processes."
        )
    if found is not None and found.send_lag_p99_ms is not None and found.send_lag_p99_ms > 0.2 * p99_bound_ms:
        notes.append(
            f"At the rate found, the client sent 1% of requests over {found.send_lag_p99_ms:.2g} ms late: its lateness "
            "is part of the latency measured (it is counted from the scheduled time)."
        )
    crowded = [p for p in points if (p.machine_cpu_share or 0) > 0.9 and p.client_cpu_core_share < 0.5]
    if crowded:
        notes.append(
            f"At {len(crowded)} level(s) the machine was over 90% busy while the client was not: the server, or "
            "other processes, used the cores; figures measured on a crowded machine understate the rate."
        )
    unstable = [p for p in points if not p.stable and p.meets_bound]
    if unstable:
        notes.append(
            f"{len(unstable)} passing level(s) never had two successive windows' p99 agree within the stability "
            "rule; their p99 pools the last two windows."
        )
    return limited, notes


def load_test(
    url: str,
    rows: Any,
    p99_bound_ms: float,
    *,
    mode: str = "open",
    rate_rps: float | None = None,
    concurrency: int | None = None,
    window_s: float = 2.0,
    max_windows: int = 5,
    stability: float = 0.1,
    resolution: float = 0.1,
    timeout_s: float = 1.0,
    processes: int | None = None,
    client_cores: frozenset[int] | None = None,
    body_shape: str = "auto",
    min_requests: int = 300,
    progress: Callable[[LoadPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadResult:
    """Load the model served at `url` (its `POST /predict`) with `rows` (a DataFrame), one row a
    request: the highest rate whose p99 stays within `p99_bound_ms`, or, with `rate_rps` (open
    loop) or `concurrency` (closed loop), that one level measured. `should_stop` is asked before
    every window; when it returns True, `LoadStopped` is raised. `client_cores`: the cores the
    client's processes run on (e.g. all but the server's), or anywhere."""
    if mode not in ("open", "closed"):
        raise ConfigError(f"Load mode '{mode}' is not known; use 'open' or 'closed'.")
    if p99_bound_ms <= 0:
        raise ConfigError(f"The p99 bound must be a positive number of milliseconds, not {p99_bound_ms}.")
    if window_s <= 0:
        raise ConfigError(f"The window is {window_s} s; give a positive number of seconds (--duration), e.g. 2.")
    if len(rows) == 0:
        raise ConfigError("The rows to send are empty; give a table with at least one data row.")
    records = json_records(rows)
    shape = detect_body_shape(url, records[0]) if body_shape == "auto" else body_shape
    bodies = [frame_body(record, shape) for record in records]
    with LoadClient(url, bodies, processes, client_cores) as client:
        fixed = rate_rps if mode == "open" else concurrency
        if fixed is not None:
            point = measure_level(
                client,
                mode,
                fixed,
                p99_bound_ms,
                window_s,
                max_windows,
                stability,
                timeout_s,
                min_requests,
                should_stop=should_stop,
            )
            if progress:
                progress(point)
            found, tried, probe = (point if point.meets_bound else None), [point], None
        else:
            found, tried, probe = search_rate(
                client,
                p99_bound_ms,
                mode,
                window_s,
                max_windows,
                stability,
                resolution,
                timeout_s,
                min_requests=min_requests,
                progress=progress,
                should_stop=should_stop,
            )
        processes_used = client.processes
    limited, notes = _notes([*tried, *([probe] if probe else [])], found, p99_bound_ms)
    if found is None:
        notes.insert(0, f"No level tried kept p99 within {p99_bound_ms:g} ms with at most 0.1% errors.")
    how = (
        "open loop: Poisson arrivals, send times drawn up front, latency from the scheduled send time"
        if mode == "open"
        else "closed loop: each client sends its next request when its last one was answered"
    )
    search = (
        "one level as given"
        if (rate_rps if mode == "open" else concurrency) is not None
        else (
            "a closed-loop client first (service time S), then rates from 0.5/S doubled while passing, "
            f"then bisected to within {resolution:.0%}; a failing level measured again, failing only twice"
            if mode == "open"
            else "clients doubled from 1 while passing, then bisected to one client"
        )
    )
    method = (
        f"{how}; {processes_used} client process(es), one asyncio loop each, HTTP/1.1 keep-alive; each level "
        f"measured over windows of {window_s:g} s (open loop: at least {min_requests} requests) until two "
        f"successive p99s agree within {stability:.0%} (at most {max_windows} windows), figures pooled over the "
        f"last two; a level passes with p99 <= {p99_bound_ms:g} ms and at most {ERROR_RATE_LIMIT:.1%} failed "
        f"requests (HTTP errors, broken connections, no answer within {timeout_s:g} s); search: {search}"
    )
    return LoadResult(
        url=url,
        mode=mode,
        p99_bound_ms=p99_bound_ms,
        max_rps=None if found is None else (found.offered_rps if mode == "open" else found.achieved_rps),
        found=found,
        curve=tuple(tried),
        probe=probe,
        client_processes=processes_used,
        client_limited=limited,
        notes=tuple(notes),
        method=method,
        body_shape=shape,
        rows=len(records),
    )
