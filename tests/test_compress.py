"""The compression lab: storage codecs, and a real run of every variant on a small real set."""

from __future__ import annotations

import numpy as np
import pytest

import advisor
from advisor.candidates.codecs import huffman_decode, huffman_encode, pack, quantize_rows, unpack

from conftest import DATA

LAB = [s.key for s in advisor.load_candidates() if s.parent or s.uses]


@pytest.mark.parametrize(
    "scheme, per_byte, levels", [("int8", 1, 255), ("int4", 2, 15), ("ternary", 4, 3), ("binary", 8, 2)]
)
def test_codes_pack_to_their_bit_width_and_back(scheme, per_byte, levels):
    weights = np.random.default_rng(0).normal(size=(24, 40)).astype(np.float32)
    codes, scales = quantize_rows(weights, scheme)
    assert len(np.unique(codes)) <= levels and scales.shape == (24,)
    packed = pack(codes, scheme)
    assert packed.nbytes == -(-codes.size // per_byte)
    assert (unpack(packed, scheme, codes.size).reshape(codes.shape) == codes).all()
    error = np.abs(codes * scales[:, None] - weights).mean() / np.abs(weights).mean()
    assert error < {"int8": 0.01, "int4": 0.15, "ternary": 0.6, "binary": 0.8}[scheme]


def test_huffman_round_trip_is_shorter_than_one_byte_per_code():
    symbols = np.clip(np.round(np.random.default_rng(1).normal(scale=8, size=5000)), -127, 127).astype(np.int8)
    data, lengths = huffman_encode(symbols)
    assert len(data) < symbols.size  # peaked around zero: fewer than 8 bits a code
    assert (huffman_decode(data, lengths, symbols.size) == symbols).all()


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    return advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=LAB,
        timing=advisor.QUICK_TIMING,
        store=tmp_path_factory.mktemp("home"),
    )


def test_every_variant_is_measured_with_its_lineage(lab_run):
    results = lab_run.to_dict()
    by_key = {c["key"]: c for c in results["candidates"]}
    for key in LAB:
        entry = by_key[key]
        assert entry["status"] == "measured", (key, entry["error"])
        if entry["family"] != "ensemble":  # the teachers have members (`uses`), not a parent
            assert entry["parent"] and entry["compression"]
        assert entry["metrics"]["latency_ms"]["p50"] > 0
    assert by_key["mlp-int8"]["parent"] == "mlp" and by_key["distill-mlp"]["parent"] == "ensemble-selected"


def test_stored_sizes_follow_the_bit_width(lab_run):
    weight_bytes = {
        k: lab_run.candidate(k).size.weight_bytes
        for k in ("mlp", "mlp-fp16", "mlp-int8", "mlp-int4", "mlp-ternary", "mlp-binary")
    }
    ordered = ["mlp", "mlp-fp16", "mlp-int8", "mlp-int4", "mlp-ternary", "mlp-binary"]
    assert [weight_bytes[k] for k in ordered] == sorted(weight_bytes.values(), reverse=True)
    assert weight_bytes["mlp-fp16"] == pytest.approx(weight_bytes["mlp"] / 2, rel=0.01)
    assert weight_bytes["mlp-int8"] < 0.3 * weight_bytes["mlp"]
    assert lab_run.candidate("mlp-gzip").size.weight_bytes < weight_bytes["mlp"]


def test_unstructured_pruning_is_honest_about_size(lab_run):
    parent, pruned = lab_run.candidate("mlp").size, lab_run.candidate("mlp-prune80").size
    assert pruned.nonzero_weights <= 0.21 * parent.nonzero_weights
    assert pruned.serialized_bytes >= 0.99 * parent.serialized_bytes  # stored densely: no smaller on disk
    assert pruned.gzip_bytes < 0.6 * parent.gzip_bytes  # but the zeros compress
    assert any("stored densely" in note for note in lab_run.candidate("mlp-prune80").notes)
    tuned = lab_run.candidate("mlp-prune80-ft").size
    assert tuned.nonzero_weights <= pruned.nonzero_weights  # fine-tuning keeps the zeros


def test_structured_pruning_really_shrinks(lab_run):
    parent, pruned, scratch = (lab_run.candidate(k).size for k in ("mlp", "mlp-neurons50", "mlp-half"))
    assert pruned.params < 0.5 * parent.params and pruned.serialized_bytes < 0.6 * parent.serialized_bytes
    assert pruned.params == scratch.params  # the from-scratch comparison has the same shape


def test_precision_sweep_reports_every_step(lab_run):
    sweep = lab_run.candidate("mlp-sweep")
    assert sweep.compression.startswith("sweep:")
    assert "fp16:" in sweep.notes[0] and "tolerance 0.5 pp" in sweep.notes[0]
    chosen = sweep.compression.split(":")[1]
    assert f"{chosen}: validation" in sweep.notes[0] or "fp32 is kept" in sweep.notes[0]


def test_students_report_agreement_with_their_teacher(lab_run):
    for key in ("distill-mlp", "distill-tree", "distill-lightgbm"):
        agreement = lab_run.candidate(key).quality.metrics["teacher_agreement"]
        assert 0.5 < agreement <= 1.0
    assert "cross-fitted" in lab_run.candidate("distill-mlp").notes[0]


def test_precision_tolerance_is_user_settable(tmp_path):
    run = advisor.advise(
        DATA / "penguins.csv",
        "species",
        candidates=["mlp-sweep"],
        timing=advisor.QUICK_TIMING,
        store=tmp_path,
        precision_tolerance_pp=100.0,
    )
    sweep = run.candidate("mlp-sweep")
    assert sweep.compression == "sweep:binary"  # everything is within 100 pp
    assert "tolerance 100 pp" in sweep.notes[0]
