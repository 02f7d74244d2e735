"""Candidates fanned out on a real Dask cluster: a LocalCluster of 2 worker processes started from
the checkout, and a scheduler and workers started as separate programs that cannot import the
advisor (it is shipped to them)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import advisor
from advisor import QUICK_TIMING, CandidateSpec, Registry, advise, load_candidates
from advisor.execute import ship

from conftest import DATA, PROJECT

KEYS = ["linear", "tree", "lightgbm"]


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return advise(
        DATA / "titanic.csv", "Survived", candidates=KEYS, timing=QUICK_TIMING, store=tmp_path_factory.mktemp("local")
    )


def test_a_run_on_a_dask_cluster_matches_a_local_run(cluster, local_run, tmp_path):
    remote = advise(
        DATA / "titanic.csv",
        "Survived",
        candidates=KEYS,
        timing=QUICK_TIMING,
        store=tmp_path,
        scheduler=cluster.scheduler_address,
    )
    assert remote.status == "complete"
    assert remote.settings["backend"]["backend"] == "dask" and remote.settings["backend"]["workers"] == 2
    workers = set(cluster.scheduler_info["workers"])
    for key in ["baseline", *KEYS]:
        here, there = local_run.candidate(key), remote.candidate(key)
        assert there.status == "measured", there.error
        # the same model: here it trains with this machine's threads, there with one, so BLAS sums in
        # another order and float32 probabilities can differ in the 7th digit (log loss); labels do not
        assert there.quality.metrics == pytest.approx(here.quality.metrics, rel=1e-5), key
        assert there.quality.metrics.get("accuracy") == here.quality.metrics.get("accuracy"), key
        assert there.worker["dask_worker"] in workers  # each figure says where it was trained
        assert there.measured_on["where"] == "the machine running the advisor"
    assert remote.recommendation.key == local_run.recommendation.key
    stored = advisor.open_run(remote.run_id, store=tmp_path)  # committed one by one, like a local run
    assert {c.key for c in stored.candidates if c.status == "measured"} == {"baseline", *KEYS}


def test_a_failing_candidate_on_the_cluster_is_recorded_and_the_run_goes_on(cluster, tmp_path):
    catalog = load_candidates()
    broken = CandidateSpec(key="broken", name="Broken", family="linear", builder="faulty_builders:raises")
    registry = Registry([catalog.get("baseline"), catalog.get("linear"), broken])
    run = advise(
        DATA / "titanic.csv",
        "Survived",
        registry=registry,
        candidates=registry.keys(),
        timing=QUICK_TIMING,
        store=tmp_path,
        scheduler=cluster.scheduler_address,
    )
    assert run.candidate("broken").status == "failed"
    assert "injected failure" in run.candidate("broken").error
    assert run.candidate("linear").status == "measured"


def test_every_candidate_can_be_timed_on_one_designated_worker(cluster, tmp_path):
    target = sorted(cluster.scheduler_info["workers"])[0]
    run = advise(
        DATA / "titanic.csv",
        "Survived",
        candidates=["linear", "tree"],
        timing=QUICK_TIMING,
        store=tmp_path,
        scheduler=cluster.scheduler_address,
        measure_on=target,
    )
    for candidate in run.candidates:
        assert candidate.status == "measured", candidate.error
        assert candidate.measured_on["dask_worker"] == target
        assert candidate.latency.p50_ms > 0
        assert any(f"timed on worker {target}" in note for note in candidate.notes)


def test_an_unknown_worker_or_scheduler_is_one_sentence(cluster, tmp_path):
    with pytest.raises(advisor.AdvisorError, match="is not in the cluster"):
        advise(
            DATA / "titanic.csv",
            "Survived",
            candidates=["linear"],
            timing=QUICK_TIMING,
            store=tmp_path,
            scheduler=cluster.scheduler_address,
            measure_on="tcp://10.255.255.1:1",
        )
    with pytest.raises(advisor.AdvisorError, match=r"Could not reach the Dask scheduler at 'tcp://127\.0\.0\.1:9'"):
        advise(
            DATA / "titanic.csv",
            "Survived",
            candidates=["linear"],
            timing=QUICK_TIMING,
            store=tmp_path,
            scheduler="tcp://127.0.0.1:9",
        )


class BareCluster:
    """A scheduler and workers as separate programs, run from a folder outside the checkout with no
    PYTHONPATH: the advisor's libraries are installed there, the advisor itself is not."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.processes: list[subprocess.Popen] = []
        self.scheduler_file = folder / "scheduler.json"
        self.address = ""

    def start(self) -> None:
        """The scheduler, then one worker."""
        self._start(
            "scheduler",
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
        )
        deadline = time.monotonic() + 60
        while not self.address:  # the file is written once the scheduler listens
            try:
                self.address = json.loads(self.scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):  # not there yet, or half written
                assert time.monotonic() < deadline and self.processes[0].poll() is None, self.logs()
                time.sleep(0.1)
        self.add_worker()

    def _start(self, name: str, arguments: list[str]) -> None:
        command = [sys.executable, "-m", *arguments, "--scheduler-file", str(self.scheduler_file)]
        with open(self.folder / f"{name}-{len(self.processes)}.log", "w") as log:  # the child keeps its own copy
            self.processes.append(  # its own process group: a nanny's worker goes with it
                subprocess.Popen(
                    command, cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )

    def add_worker(self) -> None:
        """One more worker (behind a nanny, one thread), as an operator would start it."""
        arguments = ["distributed.cli.dask_worker", "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
        self._start("worker", [*arguments, "--host", "127.0.0.1", "--memory-limit", "0"])

    def client(self, workers: int) -> Any:
        from distributed import Client

        client = Client(self.address, timeout=30)
        client.wait_for_workers(workers, timeout=60)
        return client

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.folder.glob("*.log")))

    def stop(self) -> None:
        for process in reversed(self.processes):  # the workers first, then the scheduler
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever of its group is left (a worker whose nanny did not stop it)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory) -> Iterator[BareCluster]:
    cluster = BareCluster(tmp_path_factory.mktemp("bare-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:  # whatever happened, no scheduler or worker outlives the tests
        cluster.stop()


def test_the_advisor_is_shipped_to_a_cluster_that_does_not_have_it(bare_cluster, tmp_path):
    with bare_cluster.client(workers=1) as client:
        before = ship.probe_workers(client, ["advisor"])
        assert all("No module named 'advisor'" in a["failed"]["advisor"] for a in before.values()), before
        assert ship.scheduler_error(client) == ship.NOT_THERE
    run = advise(
        DATA / "penguins.csv",
        "species",
        candidates=["linear"],
        timing=QUICK_TIMING,
        store=tmp_path,
        scheduler=bare_cluster.address,
    )
    assert run.status == "complete"
    linear = run.candidate("linear")
    assert linear.status == "measured", (linear.error, bare_cluster.logs())
    assert linear.worker["dask_worker"] in before  # trained on the bare worker
    # a worker that joins later gets the package from the plugin Dask keeps, without a new run
    bare_cluster.add_worker()
    with bare_cluster.client(workers=2) as client:
        after = ship.probe_workers(client, ["advisor"])
    assert len(after) == 2 and not any(a["failed"] for a in after.values()), after
    assert all(not a["advisor"]["path"].startswith(str(PROJECT)) for a in after.values())


def test_a_worker_without_a_library_the_candidates_need_refuses_the_run_in_one_sentence(
    bare_cluster, tmp_path, monkeypatch
):
    monkeypatch.setattr(ship, "REQUIRED_MODULES", (*ship.REQUIRED_MODULES, "advisor_fake_library"))
    with pytest.raises(advisor.ConfigError) as refused:
        advise(
            DATA / "penguins.csv",
            "species",
            candidates=["linear"],
            timing=QUICK_TIMING,
            store=tmp_path,
            scheduler=bare_cluster.address,
        )
    message = str(refused.value)
    assert "\n" not in message and message.count(". ") == 0, message
    assert message.startswith("Dask worker") and " cannot import advisor_fake_library; install the advisor's" in message
    assert message.endswith("(pip install -r requirements.txt) or run without --scheduler.")


def test_a_library_only_some_candidates_need_is_checked_before_the_first_is_sent(bare_cluster, tmp_path):
    # `faulty_builders` (in tests/) stands for torch: this machine imports it, the workers cannot
    catalog = load_candidates()
    needy = dataclasses.replace(catalog.get("linear"), key="needy", name="Needy", requires=("faulty_builders",))
    registry = Registry([catalog.get("baseline"), catalog.get("linear"), needy])
    with pytest.raises(advisor.ConfigError, match=r"^Dask workers? .* cannot import faulty_builders; install"):
        advise(
            DATA / "penguins.csv",
            "species",
            registry=registry,
            candidates=registry.keys(),
            timing=QUICK_TIMING,
            store=tmp_path,
            scheduler=bare_cluster.address,
        )
