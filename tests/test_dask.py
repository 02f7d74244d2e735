"""Candidates fanned out on a real Dask cluster (a LocalCluster of 2 worker processes)."""

from __future__ import annotations

import pytest

import advisor
from advisor import QUICK_TIMING, CandidateSpec, Registry, advise, load_candidates

from conftest import DATA

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
        assert there.quality.metrics == pytest.approx(here.quality.metrics, rel=1e-9), key
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
