"""Advisor runs in worker threads. Workers never call Streamlit; pages read their progress.

One registry per server process (held by `st.cache_resource`), so a run survives reruns,
slider moves and page switches, and a second browser tab opening `?run=<id>` sees it too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import advisor


@dataclass
class Job:
    run_id: str
    started_at: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)
    latest: advisor.ProgressEvent | None = None
    candidates: dict[str, str] = field(default_factory=dict)  # key -> latest phase
    notes: list[str] = field(default_factory=list)  # events worth keeping on screen (the helpers)
    error: str | None = None
    finished_at: float | None = None
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def on_event(self, event: advisor.ProgressEvent) -> None:
        self.latest = event
        if event.phase == "helpers":
            self.notes.append(event.message)
        if event.candidate:
            self.candidates[event.candidate] = event.phase or event.stage


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(run_id or "")

    def start(self, frame: pd.DataFrame, name: str, target: str, store: advisor.Store, **options: Any) -> Job:
        run_id = advisor.new_run_id()
        return self._launch(
            run_id,
            lambda job: advisor.advise(
                frame,
                target,
                name=name,
                store=store,
                run_id=run_id,
                progress=job.on_event,
                should_stop=job.cancel.is_set,
                **options,
            ),
        )

    def resume(self, run_id: str, store: advisor.Store, **options: Any) -> Job:
        """Finish an interrupted run in a worker thread (see `advisor.resume`)."""
        return self._launch(
            run_id,
            lambda job: advisor.resume(
                run_id, store=store, progress=job.on_event, should_stop=job.cancel.is_set, **options
            ),
        )

    def _launch(self, run_id: str, call: Callable[[Job], Any]) -> Job:
        job = Job(run_id=run_id)

        def work() -> None:
            try:
                call(job)
            except advisor.AdvisorError as exc:
                job.error = str(exc)
            except Exception as exc:  # shown as one sentence; the candidates already committed stay in the store
                job.error = (
                    f"The run stopped on an internal error ({type(exc).__name__}: {exc}); finished candidates are kept."
                )
            finally:
                job.finished_at = time.time()

        job.thread = threading.Thread(target=work, name=f"advisor-{job.run_id[:8]}", daemon=True)
        with self._lock:
            self._jobs[job.run_id] = job
        job.thread.start()
        return job
