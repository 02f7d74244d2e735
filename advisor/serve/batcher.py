"""Dynamic batching: requests wait in one asyncio queue; one batcher task takes them in batches.

A batch closes when it holds `max_batch_rows` rows or when its oldest request has waited
`max_wait_ms`, whichever comes first; then the whole batch is answered by one call of `answer`
(the model is never called from two threads at once). While that call runs, new requests queue
up, so a busy server forms larger batches by itself. A slow model answers in a single worker
thread, so the event loop keeps reading requests meanwhile; a fast one (`inline=True`: the server
chooses it when a full batch takes under `INLINE_BELOW_MS`) answers on the event loop itself:
handing a sub-millisecond call to a thread and back costs more than the call, and the two threads'
turns on the GIL (Python hands it over every 5 ms) put a tail of milliseconds on a few answers.
A request is never split: one with more rows than `max_batch_rows` is a batch of its own, and
one that would overflow the batch being formed opens the next. `max_batch_rows=1` means no
batching: every request is answered alone.

The queue is bounded: when `max_queue` requests are already waiting (queued or in a batch still
forming, not yet being predicted), `submit` refuses the next at once (`Overloaded`) rather than
let every caller's wait grow without end. `stop` drains: it refuses new requests (`Stopping`),
answers every one already waiting, and only then ends the batcher task.

The batcher knows nothing about models or HTTP: `answer` maps a list of payloads to one outcome
per payload (a result, or an exception to hand back to that payload's caller).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

RECENT = 10_000  # queue waits and batch times kept for the percentiles /metrics reports
# A batch that takes less than this is answered on the event loop rather than in a worker thread.
# Measured on adult's linear model behind uvicorn on uvloop (one worker, 2 cores shared with the load
# client, open-loop Poisson load, four servers of each kind, some while other jobs ran): p99 at
# 1,500 requests/s 6.7-21.9 ms inline against 22.7-334 ms through a thread.
INLINE_BELOW_MS = 2.0
# Requests that may wait for a batch before more are refused: room for a burst of a thousand
# concurrent clients (tests/test_serve.py sends one); past it, a caller gets a 503 at once instead
# of a wait that only grows while the server is over its capacity.
DEFAULT_MAX_QUEUE = 2048


class Overloaded(Exception):
    """`submit` refused a request: `waiting` requests were already waiting (the queue's bound)."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} requests are waiting")
        self.waiting = waiting


class Stopping(Exception):
    """`submit` refused a request: the batcher is draining its queue before it stops."""


@dataclass
class _Pending:
    payload: Any
    rows: int
    enqueued_s: float
    future: asyncio.Future[Any]


class Batcher:
    """Collect requests into batches and answer each batch in one worker thread.

    Create it, `await start()` inside the serving event loop, `await submit(payload, rows)` per
    request, `await stop()` at shutdown (it answers what is queued first)."""

    def __init__(
        self,
        answer: Callable[[list[Any]], Sequence[Any]],
        max_batch_rows: int,
        max_wait_ms: float,
        inline: bool = False,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self.answer = answer
        self.inline = inline
        self.max_queue = max_queue
        self.waiting = 0  # submitted and not yet in a batch being predicted
        self.shed = 0  # refused because `max_queue` were waiting
        self.max_batch_rows = max_batch_rows
        self.max_wait_ms = max_wait_ms
        self.requests = 0
        self.rows = 0
        self.batches = 0
        self.batch_rows: Counter[int] = Counter()  # rows in a batch -> how many batches had that many
        self.batch_requests: Counter[int] = Counter()  # requests in a batch -> how many batches
        self.queue_wait_ms: deque[float] = deque(maxlen=RECENT)  # per request: enqueued -> its batch starts
        self.predict_ms: deque[float] = deque(maxlen=RECENT)  # per batch: the `answer` call
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = False
        self._idle: asyncio.Event | None = None  # set while nothing waits and no batch is being predicted

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="advisor-predict")
        self._task = asyncio.create_task(self._run(), name="advisor-batcher")

    async def stop(self) -> None:
        """Refuse new requests, answer every waiting one, then end the batcher task."""
        self._stopping = True
        if self._task is not None and self._idle is not None and not self._task.done():
            drained = asyncio.ensure_future(self._idle.wait())
            await asyncio.wait([drained, self._task], return_when=asyncio.FIRST_COMPLETED)
            drained.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, payload: Any, rows: int) -> Any:
        """The outcome `answer` gave for this payload (raised when it is an exception)."""
        assert self._queue is not None and self._idle is not None, "Batcher.start() was not awaited"
        if self._stopping:
            raise Stopping()
        if self.waiting >= self.max_queue:
            self.shed += 1
            raise Overloaded(self.waiting)
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(payload, rows, time.perf_counter(), future))
        self.waiting += 1
        self._idle.clear()
        outcome = await future
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def _next_batch(self, carried: _Pending | None) -> tuple[list[_Pending], _Pending | None]:
        """The next batch, and a request held over for the one after (it would have overflowed)."""
        assert self._queue is not None
        first = carried if carried is not None else await self._queue.get()
        batch, rows = [first], first.rows
        deadline = first.enqueued_s + self.max_wait_ms / 1e3
        while rows < self.max_batch_rows:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if rows + item.rows > self.max_batch_rows:
                return batch, item
            batch.append(item)
            rows += item.rows
        return batch, None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        carried: _Pending | None = None
        while True:
            batch, carried = await self._next_batch(carried)
            self.waiting -= len(batch)
            batch = [p for p in batch if not p.future.done()]  # callers that went away are not answered
            if not batch:
                self._settle()
                continue
            started = time.perf_counter()
            try:
                payloads = [p.payload for p in batch]
                if self.inline:
                    outcomes = list(self.answer(payloads))
                else:
                    outcomes = list(await loop.run_in_executor(self._executor, self.answer, payloads))
            except Exception as exc:  # `answer` itself failed: every caller in the batch hears of it
                outcomes = [exc] * len(batch)
            self._record(batch, started, time.perf_counter())
            for pending, outcome in zip(batch, outcomes, strict=True):
                if not pending.future.done():
                    pending.future.set_result(outcome)
            self._settle()

    def _settle(self) -> None:
        """Mark the batcher idle once every request submitted has been answered (`stop` waits for it)."""
        if self.waiting == 0 and self._idle is not None:
            self._idle.set()

    def _record(self, batch: list[_Pending], started_s: float, ended_s: float) -> None:
        rows = sum(p.rows for p in batch)
        self.requests += len(batch)
        self.rows += rows
        self.batches += 1
        self.batch_rows[rows] += 1
        self.batch_requests[len(batch)] += 1
        self.queue_wait_ms.extend((started_s - p.enqueued_s) * 1e3 for p in batch)
        self.predict_ms.append((ended_s - started_s) * 1e3)

    def metrics(self) -> dict[str, Any]:
        """Counts since start; percentiles over the last `RECENT` requests (queue wait) and batches."""

        def percentiles(values: deque[float]) -> dict[str, float | None]:
            if not values:
                return {"p50": None, "p99": None, "max": None}
            array = np.fromiter(values, dtype=float)
            return {
                "p50": round(float(np.percentile(array, 50)), 4),
                "p99": round(float(np.percentile(array, 99)), 4),
                "max": round(float(array.max()), 4),
            }

        return {
            "max_batch_rows": self.max_batch_rows,
            "max_wait_ms": self.max_wait_ms,
            "predicts_on": "the event loop" if self.inline else "a worker thread",
            "max_queue": self.max_queue,
            "waiting": self.waiting,
            "shed": self.shed,
            "requests": self.requests,
            "rows": self.rows,
            "batches": self.batches,
            "mean_batch_rows": round(self.rows / self.batches, 3) if self.batches else None,
            "max_batch_rows_seen": max(self.batch_rows, default=0),
            "max_batch_requests_seen": max(self.batch_requests, default=0),
            "batches_by_rows": {str(k): v for k, v in sorted(self.batch_rows.items())},
            "batches_by_requests": {str(k): v for k, v in sorted(self.batch_requests.items())},
            "queue_wait_ms": percentiles(self.queue_wait_ms),
            "batch_predict_ms": percentiles(self.predict_ms),
        }
