"""The advisor's own code onto a Dask cluster that does not have it.

A candidate's task names `advisor` functions and classes, which the scheduler unpickles and the
workers import: on a cluster without the package every task fails with pages of
`ModuleNotFoundError`. When the Dask backend connects, `ready_workers` therefore:

1. asks every worker which of the libraries the candidates need it cannot import (the probe is
   sent by value, so a worker needs nothing of the advisor to answer), and refuses the run in one
   sentence naming the workers and what to install there;
2. ships this very copy of the `advisor` package (its sources, zipped): a worker plugin,
   registered under the code's digest, unpacks it into each worker's local directory and puts it
   first on `sys.path`, unless the worker already imports the same code. Dask keeps the plugin and
   gives it to workers that join later, with or without a nanny; no worker is restarted. A
   scheduler that cannot import `advisor` gets it the same way (into a private temporary folder);
3. checks that the scheduler and every worker now import `advisor`, and that the workers run this
   very copy (one that already imported another copy keeps it until it is restarted).

The libraries themselves (numpy, lightgbm, torch ...) are never shipped: they hold compiled code
built for the worker's platform, so a worker without them is told to install them.
"""

from __future__ import annotations

import io
import platform
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from advisor.errors import ConfigError, shown

# What every candidate's task imports on a worker: `advisor` itself imports numpy, pandas and
# joblib; the builders import scikit-learn and LightGBM; the timer threadpoolctl. A run's optional
# libraries (torch) come from its catalog entries (`requires`) and are checked on top.
REQUIRED_MODULES: tuple[str, ...] = ("numpy", "pandas", "joblib", "sklearn", "lightgbm", "threadpoolctl")
PACKAGE = Path(__file__).resolve().parent.parent
LISTED_WORKERS = 4  # a sentence names this many workers, then counts the rest
INSTALL = "install the advisor's requirements there (pip install -r requirements.txt) or run without --scheduler"
NOT_THERE = "ModuleNotFoundError: No module named 'advisor'"

# The functions below that run on the cluster are made inside a function: cloudpickle then sends
# them by value, so a machine that cannot import `advisor` can still run them. They import only
# the standard library.


def _make_digest() -> Callable[[str], str]:
    def digest_of(folder: str) -> str:
        """A digest of a package's Python sources: their paths and their bytes."""
        import hashlib
        import os

        digest = hashlib.sha256()
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for file in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(root, file)
                digest.update(os.path.relpath(path, folder).replace(os.sep, "/").encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read() + b"\0")
        return digest.hexdigest()

    return digest_of


def _make_probe() -> Callable[[list[str]], dict[str, Any]]:
    digest_of = _make_digest()

    def probe(modules: list[str]) -> dict[str, Any]:
        """Which of `modules` fail to import here (with their errors), and which copy of `advisor`
        this process has imported (its folder and digest), if any."""
        import importlib
        import os
        import sys

        importlib.invalidate_caches()  # the shipped package may have been unpacked a moment ago
        failed = {}
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # a broken install (a missing shared library) counts as missing
                failed[name] = f"{type(exc).__name__}: {exc}"
        package = sys.modules.get("advisor")
        found = None
        if package is not None and getattr(package, "__file__", None):
            folder = os.path.dirname(os.path.abspath(package.__file__))
            found = {"path": folder, "digest": digest_of(folder)}
        return {"failed": failed, "advisor": found}

    return probe


def _make_plugin(archive: bytes, digest: str, on_scheduler: bool = False) -> Any:
    """A plugin that unpacks `archive` (holding `advisor/`) and puts its folder first on `sys.path`:
    a worker plugin (into `<worker local dir>/advisor-<digest>`, skipped where the worker already
    imports the same code), or a scheduler plugin (into a private temporary folder, removed when
    the scheduler closes)."""
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

    digest_of = _make_digest()
    folder = f"advisor-{digest[:16]}"

    def unpack(base: str) -> None:
        import importlib
        import importlib.util
        import io
        import os
        import shutil
        import sys
        import tempfile
        import zipfile

        try:
            present = importlib.util.find_spec("advisor")
        except (ImportError, ValueError):
            present = None
        if present is not None and present.origin and digest_of(os.path.dirname(present.origin)) == digest:
            return  # e.g. a cluster started from the checkout: leave its `sys.path` alone
        target = os.path.join(base, folder)
        if not os.path.isdir(os.path.join(target, "advisor")):
            staging = tempfile.mkdtemp(prefix=f"{folder}-", dir=base)
            with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                bundle.extractall(staging)
            try:
                os.replace(staging, target)  # whole or not at all: an import never sees half a package
            except OSError:  # another registration unpacked it first
                shutil.rmtree(staging, ignore_errors=True)
        if target not in sys.path:
            sys.path.insert(0, target)
        importlib.invalidate_caches()

    class ShipToWorkers(WorkerPlugin):
        idempotent = True  # registered under the code's digest: the same code twice is one plugin

        def setup(self, worker: Any) -> None:
            unpack(worker.local_directory)

    class ShipToScheduler(SchedulerPlugin):
        idempotent = True

        async def start(self, scheduler: Any) -> None:
            import tempfile

            self.base = tempfile.mkdtemp(prefix="advisor-")  # private to this user, unlike a fixed name
            unpack(self.base)

        async def close(self) -> None:
            import shutil

            shutil.rmtree(self.base, ignore_errors=True)

    return ShipToScheduler() if on_scheduler else ShipToWorkers()


def package_archive() -> bytes:
    """This copy of the `advisor` package as a zip holding `advisor/...` (no bytecode caches)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                bundle.write(path, Path("advisor") / path.relative_to(PACKAGE))
    return buffer.getvalue()


def archive_digest(archive: bytes) -> str:
    """The digest of the sources in `archive`, computed as a worker computes its own once they are
    unpacked (from the archive, not the disk: a file edited meanwhile cannot make them differ)."""
    with tempfile.TemporaryDirectory(prefix="advisor-digest-") as folder:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            bundle.extractall(folder)
        return _make_digest()(str(Path(folder) / "advisor"))


def probe_workers(client: Any, modules: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each worker's answer to the probe; a worker where the probe itself failed (a different
    Python cannot even unpickle it) answers with an `error`."""
    answers = client.run(_make_probe(), list(modules), on_error="return")
    return {
        worker: answer if isinstance(answer, dict) else {"error": f"{type(answer).__name__}: {answer}"}
        for worker, answer in answers.items()
    }


def scheduler_error(client: Any) -> str | None:
    """Why the scheduler cannot import `advisor`, or None when it can."""
    try:
        answer = client.run_on_scheduler(_make_probe(), ["advisor"])
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return answer["failed"].get("advisor")


def ready_workers(client: Any, address: str, modules: Iterable[str]) -> None:
    """Make the scheduler (it unpickles each task) and every worker able to run candidates with
    this copy of the advisor, or refuse in one sentence. `modules` are the libraries to check."""
    require_modules(client, modules)
    archive = package_archive()
    digest = archive_digest(archive)
    _register(client, _make_plugin(archive, digest), f"advisor-{digest}", address)
    if scheduler_error(client) == NOT_THERE:
        _register(client, _make_plugin(archive, digest, on_scheduler=True), f"advisor-scheduler-{digest}", address)
    error = scheduler_error(client)
    if error:
        raise ConfigError(
            f"The Dask scheduler at '{shown(address)}' cannot import the advisor's code ({shown(error)}); {INSTALL}."
        )
    answers = probe_workers(client, ["advisor"])
    broken = {w: a.get("error") or a["failed"]["advisor"] for w, a in answers.items() if a.get("error") or a["failed"]}
    if broken:
        raise ConfigError(
            f"{_workers(broken)} cannot import the advisor's code shipped to {_them(broken)} "
            f"({shown(next(iter(broken.values())))}); give the workers this machine's Python "
            f"({platform.python_version()}) and requirements (pip install -r requirements.txt) or run without "
            "--scheduler."
        )
    stale = {w: a["advisor"]["path"] for w, a in answers.items() if a["advisor"]["digest"] != digest}
    if stale:
        raise ConfigError(
            f"{_workers(stale)} already imported another copy of the advisor (from "
            f"{shown(next(iter(stale.values())), 120)}); restart the workers so that they load this one, or run "
            "without --scheduler."
        )


def require_modules(client: Any, modules: Iterable[str]) -> None:
    """Refuse, in one sentence, unless every worker imports every one of `modules`."""
    answers = probe_workers(client, modules)
    errors = {w: a["error"] for w, a in answers.items() if "error" in a}
    if errors:
        raise ConfigError(
            f"{_workers(errors)} could not run the advisor's check ({shown(next(iter(errors.values())))}); "
            f"give the workers this machine's Python ({platform.python_version()}) and requirements "
            "(pip install -r requirements.txt) or run without --scheduler."
        )
    failed = {w: a["failed"] for w, a in answers.items() if a["failed"]}
    if failed:
        raise ConfigError(f"{_workers(failed)} cannot import {_missing(failed)}; {INSTALL}.")


def _register(client: Any, plugin: Any, name: str, address: str) -> None:
    try:
        client.register_plugin(plugin, name=name)
    except Exception as exc:  # the scheduler or a worker refused it: one sentence, not its traceback
        raise ConfigError(
            f"Could not ship the advisor's code to the Dask cluster at '{shown(address)}' "
            f"({shown(f'{type(exc).__name__}: {exc}')}); install the advisor there or run without --scheduler."
        ) from None


def _workers(by_worker: Mapping[str, Any]) -> str:
    """'Dask worker A' or 'Dask workers A, B and 3 more'."""
    names = sorted(by_worker)
    listed = ", ".join(shown(n) for n in names[:LISTED_WORKERS])
    if len(names) > LISTED_WORKERS:
        listed += f" and {len(names) - LISTED_WORKERS} more"
    return f"Dask worker{'s' if len(names) > 1 else ''} {listed}"


def _them(by_worker: Mapping[str, Any]) -> str:
    return "them" if len(by_worker) > 1 else "it"


def _missing(failed: Mapping[str, Mapping[str, str]]) -> str:
    """The modules the workers lack; for one that is installed but broken (a missing shared
    library), its error too."""
    errors = {name: error for by_name in failed.values() for name, error in by_name.items()}
    listed = ", ".join(sorted(errors))
    broken = sorted(name for name, error in errors.items() if not error.startswith("ModuleNotFoundError"))
    if broken:
        listed += f" ({broken[0]}: {shown(errors[broken[0]])})"
    return listed
