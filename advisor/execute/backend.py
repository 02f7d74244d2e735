"""Where candidates train: child processes on this machine (the default), or a Dask cluster.

Both backends offer the same three calls: `submit` a `CandidateTask`, `wait_any` for some to
finish, and `outcome` (a `Finished`, or `WorkFailed` with the reason). The run decides what to
submit and when (a candidate starts once what it derives from is trained), commits each result
as it arrives, and never needs to know which backend it talks to.

- `LocalBackend`: up to `jobs` candidates at once, each in its own isolated child process under
  the time and memory limits (see `_isolate`); a thread per candidate supervises its child.
- `DaskBackend`: the candidates are tasks on an existing Dask cluster (`--scheduler
  tcp://host:8786`, $ADVISOR_DASK_SCHEDULER, or the app's setting). The run's encoded data is
  scattered to the workers once. On a worker that may start processes, each candidate is again
  isolated under the limits; on a daemonic worker (Dask's default) it runs in the worker itself,
  and Dask's own nanny supplies the isolation: a worker that crashes or exceeds its memory limit
  is restarted and the candidate fails as `KilledWorker`. The cluster need not have the advisor
  installed: on connecting, the backend checks that every worker imports the libraries the
  candidates need and ships this copy of the `advisor` package to the workers (and the scheduler)
  that lack it (see `ship`), or refuses the run in one sentence.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from advisor.errors import ConfigError
from advisor.execute import ship
from advisor.execute.isolate import Finished, Limits, WorkFailed, run_isolated
from advisor.execute.worker import CandidateTask, RunContext, load_context, train_candidate, worker_description

SCHEDULER_ENV = "ADVISOR_DASK_SCHEDULER"
WAIT_S = 0.2
CONNECT_TIMEOUT_S = 10


def scheduler_address(explicit: str | None = None) -> str | None:
    """The Dask scheduler to use: the one given, else $ADVISOR_DASK_SCHEDULER, else none (local)."""
    return explicit or os.environ.get(SCHEDULER_ENV) or None


class LocalBackend:
    """Isolated child processes on this machine, `jobs` at a time."""

    name = "local"

    def __init__(self, limits: Limits, jobs: int = 1) -> None:
        self.limits = limits
        self.jobs = max(1, int(jobs))
        self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="advisor-candidate")
        self._abort = threading.Event()

    @property
    def slots(self) -> int:
        return self.jobs

    def describe(self) -> dict[str, Any]:
        return {"backend": "local", "jobs": self.jobs, "isolation": "one child process per candidate"}

    def prepare(self, context: RunContext | str) -> None:
        """Nothing to send: the children read the run's data from the file each task names."""

    def submit(
        self,
        task: CandidateTask,
        on_message: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Future:
        def stop() -> bool:
            return self._abort.is_set() or (should_stop is not None and should_stop())

        return self._pool.submit(run_isolated, train_candidate, task, self.limits, on_message, stop)

    def wait_any(self, handles: Iterable[Any]) -> list[Any]:
        done, _ = wait_futures(list(handles), timeout=WAIT_S, return_when=FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle: Future) -> Finished:
        return handle.result()

    def cancel(self, handle: Any) -> None:
        handle.cancel()

    def abort(self) -> None:
        """Kill the candidates in flight (the run was interrupted or crashed)."""
        self._abort.set()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """Candidates as tasks on a Dask distributed cluster."""

    name = "dask"

    def __init__(self, address: str, limits: Limits, client: Any = None) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(
                "A Dask scheduler was given but the 'distributed' package is not installed; "
                "pip install 'dask[distributed]' (or run without --scheduler)."
            ) from None
        self.address = address
        self.limits = limits
        self._own_client = client is None
        try:
            self.client = client or Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"Could not reach the Dask scheduler at '{address}' ({type(exc).__name__}); check the address "
                "and that the scheduler is running, or run without --scheduler to train on this machine."
            ) from None
        try:
            ship.ready_workers(self.client, address, ship.REQUIRED_MODULES)
        except BaseException:
            if self._own_client:
                self.client.close()
            raise
        self._checked: set[str] = set(ship.REQUIRED_MODULES)
        self._context: Any = None
        self._started: dict[str, float] = {}
        self._submitted: list[Any] = []

    @property
    def slots(self) -> int:
        threads = self.client.nthreads()
        return max(1, sum(threads.values()))

    def workers(self) -> dict[str, dict[str, Any]]:
        """Each worker's address with its host and processor, as the worker reports them."""
        return self.client.run(worker_description)

    def describe(self) -> dict[str, Any]:
        info = self.client.scheduler_info()
        return {
            "backend": "dask",
            "scheduler": self.address,
            "workers": len(info.get("workers", {})),
            "threads": self.slots,
            "isolation": "a child process per candidate on workers that allow it, else Dask's worker restarts",
        }

    def prepare(self, context: RunContext | str) -> None:
        """Send the run's encoded data to every worker once (they may not share this machine's disk)."""
        self._context = self.client.scatter(load_context(context), broadcast=True)

    def submit(
        self,
        task: CandidateTask,
        on_message: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Any:
        import time

        # the run's optional libraries (torch), checked once, before its first candidate is sent; an
        # entry whose library this machine lacks is failed by `train_all` and never sent
        wanted = [s for s in task.specs.values() if s.requires and not s.missing_requirements()]
        needed = {name for spec in wanted for name in spec.requires} - self._checked
        if needed:
            ship.require_modules(self.client, sorted(needed))
            self._checked |= needed
        key = f"advisor-{task.spec.key}-{uuid.uuid4().hex[:8]}"
        self._started[key] = time.monotonic()
        future = self.client.submit(_train_on_worker, task, self._context, self.limits, key=key, pure=False, retries=0)
        self._submitted.append(future)
        return future

    def wait_any(self, handles: Iterable[Any]) -> list[Any]:
        import time

        from distributed import wait

        handles = list(handles)
        try:
            done, _ = wait(handles, timeout=WAIT_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        overdue = []
        if self.limits.time_s is not None:
            now = time.monotonic()
            overdue = [h for h in handles if h not in done and now - self._started.get(h.key, now) > self.limits.time_s]
        return list(done) + overdue

    def outcome(self, handle: Any) -> Finished:
        import time

        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if handle.status not in ("finished", "error", "cancelled"):
            elapsed = time.monotonic() - self._started.get(handle.key, time.monotonic())
            handle.cancel()
            raise WorkFailed(
                f"it ran past the time limit of {self.limits.time_s:.0f} s on the cluster and was cancelled "
                f"({elapsed:.0f} s)",
                "time",
            )
        try:
            return handle.result()
        except WorkFailed:
            raise
        except KilledWorker:
            raise WorkFailed(
                "the Dask worker running it died (a crash or its memory limit) and the scheduler gave up on it "
                "(KilledWorker)",
                "crashed",
            ) from None
        except FutureCancelledError:
            raise WorkFailed("it was cancelled on the cluster", "stopped") from None
        except Exception as exc:  # raised in the builder on the worker: the same as a local failure
            raise WorkFailed(f"{type(exc).__name__}: {exc}".strip(), "raised") from None

    def cancel(self, handle: Any) -> None:
        handle.cancel()

    def abort(self) -> None:
        self.client.cancel([f for f in self._submitted if not f.done()])

    def close(self) -> None:
        if self._context is not None:
            self._context.release()
        if self._own_client:
            self.client.close()


def _train_on_worker(task: CandidateTask, context: RunContext, limits: Limits) -> Finished:
    """On a Dask worker: the same `train_candidate`, isolated where the worker allows children."""
    import multiprocessing
    import time

    from advisor.measure import hardware

    task.context = context
    task.cache_dir = None  # workers do not share a disk; a cross-fit is recomputed where needed
    try:
        from distributed import get_worker

        worker = get_worker()
        task.threads = max(1, hardware.usable_cpus() // max(1, worker.state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    if not multiprocessing.current_process().daemon:
        return run_isolated(train_candidate, task, limits)
    start = time.perf_counter()
    output = train_candidate(task, lambda message: None)
    return Finished(output, time.perf_counter() - start, None)


def make_backend(
    limits: Limits, scheduler: str | None = None, jobs: int | None = None, client: Any = None
) -> LocalBackend | DaskBackend:
    address = scheduler_address(scheduler)
    if client is not None or address:
        return DaskBackend(address or str(client.scheduler.address), limits, client=client)
    return LocalBackend(limits, jobs or 1)
