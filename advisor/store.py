"""The run store: one SQLite file plus an artifact folder per run.

Each candidate's result is committed as soon as it exists, so an interrupted run loses only
the candidate in flight. Location: $ADVISOR_HOME, else ./advisor_runs under the working
directory.

A store the process cannot write (a read-only folder or file system, another user's store) is
opened read-only: listing and reopening runs work, and a write is refused with one sentence. A
full disk or any other SQLite or file-system failure is one sentence too (`StoreError`); what was
committed before stays committed (each write is one SQLite transaction).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from advisor.errors import AdvisorError, RunNotFound
from advisor.files import disk_problem

HOME_ENV = "ADVISOR_HOME"
DEFAULT_HOME = "advisor_runs"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    dataset TEXT,
    target TEXT,
    task TEXT,
    header_json TEXT NOT NULL,
    ranking_json TEXT,
    error TEXT,
    owner_host TEXT,
    owner_pid INTEGER
);
CREATE TABLE IF NOT EXISTS candidates (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    result_json TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""


def new_run_id() -> str:
    """An unguessable id (128 random bits), safe in URLs and file names. It never starts with '-',
    which a command line takes for an option: such a draw (1 in 64) is replaced by a fresh one."""
    while True:
        run_id = secrets.token_urlsafe(16)
        if not run_id.startswith("-"):
            return run_id


def is_run_id(text: str) -> bool:
    return bool(RUN_ID.match(text or ""))


BUSY_TIMEOUT_S = 30.0


class StoreError(AdvisorError):
    """The run store cannot be written or read: a full disk, a read-only folder, a damaged file."""


class Store:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).resolve() if root else self.default_root()
        self.db_path = self.root / "runs.sqlite"
        with self._guard():
            self.root.mkdir(parents=True, exist_ok=True)
        self.read_only = not (
            os.access(self.root, os.W_OK) and (not self.db_path.exists() or os.access(self.db_path, os.W_OK))
        )
        if self.read_only:  # nothing to set up: an existing store is read as it is
            if not self.db_path.is_file():
                raise StoreError(
                    f"The run store folder '{self.root}' is read-only and holds no runs; choose a writable "
                    f"folder with --store (or ${HOME_ENV})."
                )
            return
        # Two processes opening a new store at once: switching it to WAL (a mode the file keeps)
        # can fail with "database is locked" without waiting on SQLite's busy timeout, so the
        # set-up is retried for as long as that timeout would have waited.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        with self._guard():
            while True:
                try:
                    self._set_up()
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite and file-system failures as one sentence that names the store and what to do."""
        try:
            yield
        except (sqlite3.OperationalError, OSError) as exc:
            raise StoreError(self._problem(exc)) from exc
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # IntegrityError, ProgrammingError: a bug, not the disk
                raise
            raise StoreError(self._problem(exc)) from exc  # not a database, or a damaged one

    def _problem(self, exc: BaseException) -> str:
        where = f"The run store at '{self.root}'"
        elsewhere = f"choose a writable folder with --store (or ${HOME_ENV})"
        problem = disk_problem(exc)
        if problem == "full":
            return (
                f"{where} could not be written ({exc}): the disk is full or failing; free some space or "
                f"{elsewhere} on another disk (runs committed before are kept)."
            )
        if problem == "read-only":
            return f"{where} is read-only; {elsewhere}, or make this one writable."
        if "locked" in str(exc):
            return f"{where} is busy: another process held it for over {BUSY_TIMEOUT_S:.0f} s; try again."
        if "not a database" in str(exc) or "malformed" in str(exc):
            return f"'{self.db_path}' is damaged or is not a run store ({exc}); {elsewhere}."
        return f"{where} could not be used ({exc}); check that its folder can be written, or {elsewhere}."

    def _open(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S)
        # A WAL database read without write access: through its -shm file while another process
        # has it open (that file exists then), else as immutable, which needs no -shm at all.
        shm, wal = Path(f"{self.db_path}-shm"), Path(f"{self.db_path}-wal")
        live = shm.exists() or (wal.exists() and wal.stat().st_size > 0)
        mode = "mode=ro" if live else "immutable=1"
        return sqlite3.connect(f"{self.db_path.as_uri()}?{mode}", uri=True, timeout=BUSY_TIMEOUT_S)

    def _set_up(self) -> None:
        db = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S)
        try:
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
        with self._connect() as db:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            for column, kind in (("owner_host", "TEXT"), ("owner_pid", "INTEGER")):
                if column not in columns:  # a store written before runs recorded their process
                    db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")

    @staticmethod
    def default_root() -> Path:
        return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).resolve()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            db = self._open()
            try:  # the store was switched to WAL once, in __init__: the file keeps that mode
                db.execute("PRAGMA foreign_keys=ON")
                with db:  # one transaction, committed on success (rolled back whole on a failure)
                    yield db
            finally:
                db.close()

    def artifact_dir(self, run_id: str) -> Path:
        path = self.root / "artifacts" / self._checked(run_id)
        with self._guard():
            path.mkdir(parents=True, exist_ok=True)
        return path

    def work_dir(self, run_id: str) -> Path:
        """Scratch space of a running run (its encoded data, shared caches); removed when it ends."""
        path = self.root / "work" / self._checked(run_id)
        with self._guard():
            path.mkdir(parents=True, exist_ok=True)
        return path

    def clear_work(self, run_id: str) -> None:
        shutil.rmtree(self.root / "work" / self._checked(run_id), ignore_errors=True)

    def save_input(self, run_id: str, frame: pd.DataFrame) -> None:
        """Keep the run's data beside its artifacts, so that an interrupted run can be resumed
        without the original upload. Parquet keeps the column types; CSV is the fallback."""
        folder = self.artifact_dir(run_id)
        with self._guard():
            try:
                frame.to_parquet(folder / "input.parquet.partial", index=False)
                (folder / "input.parquet.partial").replace(folder / "input.parquet")
                return
            except OSError:  # the disk, not the data: CSV would fail the same way
                (folder / "input.parquet.partial").unlink(missing_ok=True)
                raise
            except Exception:  # a column Parquet cannot hold
                (folder / "input.parquet.partial").unlink(missing_ok=True)
            try:
                frame.to_csv(folder / "input.csv.partial", index=False)
                (folder / "input.csv.partial").replace(folder / "input.csv")
            except BaseException:
                (folder / "input.csv.partial").unlink(missing_ok=True)
                raise

    def load_input(self, run_id: str) -> pd.DataFrame:
        folder = self.root / "artifacts" / self._checked(run_id)
        if (folder / "input.parquet").is_file():
            return pd.read_parquet(folder / "input.parquet")
        if (folder / "input.csv").is_file():
            from advisor.data.read import load_table

            return load_table(folder / "input.csv")[0]
        raise RunNotFound(
            f"Run '{run_id}' has no saved copy of its data in '{folder}', so it cannot be resumed; start a new run."
        )

    def take_over(self, run_id: str) -> str:
        """Claim an unfinished run for this process in one write transaction (`BEGIN IMMEDIATE`), so
        that of two resumes started together exactly one proceeds; returns the status it had.
        A run still running in a live process, or complete, is refused with one sentence."""
        with self._guard():
            db = self._open()
            db.isolation_level = None  # transactions by hand: BEGIN IMMEDIATE takes the write lock first
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute(
                    "SELECT status, owner_host, owner_pid FROM runs WHERE id = ?", (self._checked(run_id),)
                ).fetchone()
                if row is None:
                    db.execute("ROLLBACK")
                    raise RunNotFound(
                        f"Run '{run_id}' is not in the store at '{self.root}'; list runs with 'python -m advisor list'."
                    )
                status = self._live_status(*row)
                if status in ("running", "complete"):
                    db.execute("ROLLBACK")
                    raise AdvisorError(
                        f"Run '{run_id}' is still running (process {row[2]}); wait for it or cancel it first."
                        if status == "running"
                        else f"Run '{run_id}' is already complete; there is nothing to resume."
                    )
                db.execute(
                    "UPDATE runs SET status = 'running', updated_at = ?, owner_host = ?, owner_pid = ? WHERE id = ?",
                    (time.time(), socket.gethostname(), os.getpid(), run_id),
                )
                db.execute("COMMIT")
                return status
            finally:
                db.close()

    def claim_run(self, run_id: str, header: dict[str, Any]) -> None:
        """Mark a run as running in this process again (a resume)."""
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET status = 'running', header_json = ?, error = NULL, ranking_json = NULL,"
                " updated_at = ?, owner_host = ?, owner_pid = ? WHERE id = ?",
                (json.dumps(header), time.time(), socket.gethostname(), os.getpid(), self._checked(run_id)),
            )

    @staticmethod
    def _live_status(status: str, host: str | None, pid: int | None) -> str:
        """'running' only while the process that runs it is alive; otherwise it was interrupted."""
        if status != "running" or host != socket.gethostname() or not pid:
            return status
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            return status
        return status

    @staticmethod
    def _checked(run_id: str) -> str:
        if not is_run_id(run_id):
            raise RunNotFound(f"'{run_id}' is not a run id; run ids are 16-64 letters, digits, '-' or '_'.")
        return run_id

    def create_run(self, run_id: str, header: dict[str, Any]) -> None:
        now = time.time()
        dataset = header.get("dataset", {})
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (id, created_at, updated_at, status, dataset, target, task, header_json,"
                " owner_host, owner_pid) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    self._checked(run_id),
                    now,
                    now,
                    dataset.get("name"),
                    dataset.get("target"),
                    dataset.get("task"),
                    json.dumps(header),
                    socket.gethostname(),
                    os.getpid(),
                ),
            )

    def _relative(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result as stored: an artifact inside the store is kept relative to its root, so a
        store that is moved or copied keeps every run openable, exportable and resumable."""
        artifact = result.get("artifact")
        if artifact:
            try:
                result = dict(result, artifact=Path(artifact).resolve().relative_to(self.root).as_posix())
            except ValueError:  # outside the store: kept as given
                pass
        return result

    def _absolute(self, result: dict[str, Any], run_id: str) -> dict[str, Any]:
        """The result as used: its artifact under this store's root. Stores written before paths
        were relative hold absolute ones; one that no longer exists is looked up in this store's
        own artifact folder for the run (the store was moved)."""
        artifact = result.get("artifact")
        if not artifact:
            return result
        path = Path(artifact)
        if not path.is_absolute():
            path = self.root / path
        elif not path.exists():
            moved = self.root / "artifacts" / run_id / path.name
            if moved.exists():
                path = moved
        return dict(result, artifact=str(path))

    def save_candidate(self, run_id: str, key: str, position: int, status: str, result: dict[str, Any]) -> None:
        result = self._relative(result)
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO candidates (run_id, key, position, status, result_json, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET"
                " status = excluded.status, result_json = excluded.result_json, updated_at = excluded.updated_at",
                (run_id, key, position, status, json.dumps(result), now),
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, run_id))

    def update_header(self, run_id: str, header: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET header_json = ?, updated_at = ? WHERE id = ?",
                (json.dumps(header), time.time(), run_id),
            )

    def finish_run(
        self, run_id: str, status: str, ranking: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET status = ?, ranking_json = ?, error = ?, updated_at = ? WHERE id = ?",
                (status, json.dumps(ranking) if ranking is not None else None, error, time.time(), run_id),
            )

    def load_run(self, run_id: str) -> dict[str, Any]:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, created_at, updated_at, status, header_json, ranking_json, error, owner_host, owner_pid"
                " FROM runs WHERE id = ?",
                (self._checked(run_id),),
            ).fetchone()
            if row is None:
                raise RunNotFound(
                    f"Run '{run_id}' is not in the store at '{self.root}'; list runs with 'python -m advisor list'."
                )
            candidates = db.execute(
                "SELECT key, status, result_json FROM candidates WHERE run_id = ? ORDER BY position", (run_id,)
            ).fetchall()
        return {
            "run_id": row[0],
            "created_at": row[1],
            "updated_at": row[2],
            "status": self._live_status(row[3], row[7], row[8]),
            "header": json.loads(row[4]),
            "ranking": json.loads(row[5]) if row[5] else None,
            "error": row[6],
            "owner_host": row[7],
            "owner_pid": row[8],
            "candidates": [self._absolute(json.loads(c[2]), row[0]) for c in candidates],
        }

    def list_runs(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT r.id, r.created_at, r.status, r.dataset, r.target, r.task,"
                " (SELECT COUNT(*) FROM candidates c WHERE c.run_id = r.id), r.ranking_json, r.owner_host, r.owner_pid"
                " FROM runs r ORDER BY r.created_at DESC"
            ).fetchall()
        return [
            {
                "run_id": r[0],
                "created_at": r[1],
                "status": self._live_status(r[2], r[8], r[9]),
                "dataset": r[3],
                "target": r[4],
                "task": r[5],
                "candidates": r[6],
                "recommended": (json.loads(r[7]) or {}).get("key") if r[7] else None,
            }
            for r in rows
        ]

    def training_costs(self, runs: int = 10) -> dict[str, list[float]]:
        """Each catalog key's training time in the last `runs` complete runs, relative to the
        median candidate of its run (the progress display's per-candidate estimates)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.run_id, c.key, json_extract(c.result_json, '$.wall_s.isolated_process') FROM candidates c"
                " WHERE c.run_id IN (SELECT id FROM runs WHERE status = 'complete' ORDER BY created_at DESC LIMIT ?)",
                (runs,),
            ).fetchall()
        by_run: dict[str, dict[str, float]] = {}
        for run_id, key, seconds in rows:
            if isinstance(seconds, (int, float)) and seconds > 0:
                by_run.setdefault(run_id, {})[key] = float(seconds)
        costs: dict[str, list[float]] = {}
        for seconds in by_run.values():
            if len(seconds) < 3:  # too few candidates to say what a typical one costs
                continue
            typical = statistics.median(seconds.values())
            for key, value in seconds.items():
                costs.setdefault(key, []).append(value / typical)
        return costs

    def delete_run(self, run_id: str) -> None:
        with self._connect() as db:
            found = db.execute("DELETE FROM runs WHERE id = ?", (self._checked(run_id),)).rowcount
        shutil.rmtree(self.root / "artifacts" / run_id, ignore_errors=True)
        shutil.rmtree(self.root / "work" / run_id, ignore_errors=True)
        if not found:
            raise RunNotFound(f"Run '{run_id}' is not in the store at '{self.root}'; nothing was deleted.")
