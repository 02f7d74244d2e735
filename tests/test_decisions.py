"""The decision rules on hand-built records: each rule alone, with the numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.measure.figures import bootstrap_indices, measure_quality
from advisor.rank.pareto import recommend
from advisor.rank.significance import Significance, paired_ties, quality_utilities
from advisor.rank.stability import noise_draws, stability, weight_ranges

CLOUD = Significance(
    levels={"latency": 10.0, "size": 409.6e6, "cost": 0.1, "throughput": 100.0},
    reasons={"latency": "p99 under 10 ms counts as equal", "cost": "under $1 a month", "size": "tenth of budget"},
    predictions_per_month=10_000_000,
)
WEIGHTS = {"accuracy": 5, "latency": 2, "throughput": 1, "cost": 1}


def row(key, quality, p99, rows_per_s=None, size=100_000, cost=None, metric="accuracy", family="boosting", **kw):
    rows_per_s = rows_per_s or 1000 / p99
    out = {
        "key": key,
        "name": key.replace("-", " ").title(),
        "family": family,
        "status": "measured",
        "skilled": True,
        metric: quality,
        "primary_ci95_low": quality - 0.01,
        "primary_ci95_high": quality + 0.01,
        "p99_ms": p99,
        "rows_per_s": rows_per_s,
        "size_bytes": size,
        "joules_per_1k": 1 / rows_per_s,
        "usd_per_million": cost if cost is not None else 0.0124 / rows_per_s * 1000,
    }
    out.update(kw)
    return out


def replicates_around(values: dict[str, float], spread: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Replicates sharing one noise draw per resample (paired), each shifted to its own value."""
    common = np.random.default_rng(seed).normal(0, spread, 1000)
    return {
        k: v + common + np.random.default_rng(hash(k) % 1000).normal(0, spread / 2, 1000) for k, v in values.items()
    }


# --------------------------------------------------------------------------- significance


def test_latency_and_cost_under_their_levels_do_not_buy_away_quality():
    # The issue's California case: both answer a row far under 10 ms; the faster net loses 0.05 R2.
    rows = [
        row("lightgbm", 0.827, 0.45, metric="r2", rows_per_s=40_000),
        row("mlp-half", 0.775, 0.004, metric="r2", rows_per_s=4_000_000),
    ]
    rec = recommend(rows, WEIGHTS, {}, "r2", True, no_skill_value=0.0, significance=CLOUD)
    assert rec.key == "lightgbm" and rec.decided_by == "most accurate"
    # Without the levels the 100x faster net wins: the card says a level decided.
    raw = recommend(rows, WEIGHTS, {}, "r2", True, no_skill_value=0.0)
    assert raw.key == "mlp-half"
    assert any("noticeable-difference level decided" in n and "Mlp Half" in n for n in rec.notes)


def test_a_difference_above_the_level_can_decide():
    # A 200 ms model against a 2 ms one on a 100 ms target: users feel that.
    rows = [row("slow", 0.90, 200.0), row("quick", 0.89, 2.0)]
    rec = recommend(rows, {"accuracy": 1, "latency": 5}, {}, "accuracy", True, no_skill_value=0.5, significance=CLOUD)
    assert rec.key == "quick" and rec.decided_by == "significant difference"
    assert any("latency: 2 ms against 200 ms" in n for n in rec.notes)


def test_throughput_above_the_peak_rate_is_fully_good_and_not_a_second_vote_for_cost():
    rows = [row("a", 0.90, 0.5, rows_per_s=2_000, cost=0.005), row("b", 0.899, 0.5, rows_per_s=200_000, cost=0.00005)]
    rec = recommend(rows, {"accuracy": 1, "throughput": 5, "cost": 5}, {}, "accuracy", True, 0.5, significance=CLOUD)
    assert rec.key == "a"
    assert rec.scores["a"] > rec.scores["b"]


def test_size_under_a_tenth_of_the_budget_counts_as_equal():
    phone = Significance(levels={"size": 20e6}, reasons={"size": "a tenth of 200 MB"})
    rows = [row("big", 0.95, 1.0, size=15e6), row("small", 0.94, 1.0, size=15e3)]
    assert recommend(rows, {"accuracy": 4, "size": 3}, {}, "accuracy", True, 0.5, significance=phone).key == "big"
    sensor = Significance(levels={"size": 25e3}, reasons={"size": "a tenth of 250 kB"})
    rec = recommend(rows, {"accuracy": 3, "size": 5}, {}, "accuracy", True, 0.5, significance=sensor)
    assert rec.key == "small" and rec.decided_by == "significant difference"


def test_targets_carry_their_levels_with_reasons():
    from advisor.candidates.catalog import load_significance, load_targets
    from advisor.rank.significance import significance_for

    rules = load_significance()
    assert rules.latency_reason and rules.cost_reason and rules.size_reason and rules.energy_reason
    for profile in load_targets().values():
        levels = significance_for(profile)
        assert set(levels.levels) == {"latency", "size", "cost", "throughput", "energy"}
        assert all(levels.reasons[m] for m in levels.levels)
    cloud = significance_for(load_targets()["cloud-cpu"])
    assert cloud.levels["latency"] == pytest.approx(10.0)
    # $1 a month (1% of a $65 machine is less) at 10M predictions: $0.10 per million
    assert cloud.levels["cost"] == pytest.approx(0.1)


def test_volume_is_a_target_figure_the_user_can_change():
    from advisor.candidates.catalog import get_target
    from advisor.rank.significance import significance_for

    busy = get_target("cloud-cpu").override(predictions_per_month=1e9)
    assert significance_for(busy).levels["cost"] == pytest.approx(0.001)


# --------------------------------------------------------------------------- quality utility


def test_quality_counts_errors_not_points_the_issue_example():
    # 3.65% -> 6.7% errors on a many-class table whose no-skill baseline errs 90% of the time.
    u = quality_utilities(np.array([0.9635, 0.933, 0.10]), "accuracy", True, reference=0.10)
    expected = (1 / 0.067 - 1 / 0.90) / (1 / 0.0365 - 1 / 0.90)
    assert u[1] == pytest.approx(expected) and u[1] < 0.55  # a linear scale said 0.97
    assert u[0] == 1.0 and u[2] == 0.0  # the no-skill rule holds


def test_quality_for_error_metrics_and_r2():
    u = quality_utilities(np.array([0.827, 0.775]), "r2", True, reference=0.0)
    assert u[1] == pytest.approx((1 / 0.225 - 1) / (1 / 0.173 - 1))
    u = quality_utilities(np.array([10.0, 20.0, 40.0]), "rmse", False, reference=40.0)
    assert u.tolist() == pytest.approx([1.0, (1 / 20 - 1 / 40) / (1 / 10 - 1 / 40), 0.0])


def test_many_class_pick_keeps_the_accuracy():
    rows = [
        row("ensemble", 0.9635, 0.9, rows_per_s=8_000),
        row("mlp-bf16", 0.9333, 0.09, rows_per_s=90_000),
    ]
    rec = recommend(rows, WEIGHTS, {}, "accuracy", True, no_skill_value=0.10)
    assert rec.key == "ensemble"  # even with every figure counted, 1.8x the errors is too much


# --------------------------------------------------------------------------- ties


def test_paired_bootstrap_ties_and_what_decided():
    reps = replicates_around({"lgbm": 0.870, "forest": 0.868, "linear": 0.840}, spread=0.004)
    ties = paired_ties(reps)
    assert ties.tied("lgbm", "forest") and not ties.tied("lgbm", "linear")
    rows = [row("lgbm", 0.870, 0.3), row("forest", 0.868, 5.0), row("linear", 0.840, 0.02)]
    rec = recommend(rows, WEIGHTS, {}, "accuracy", True, 0.76, significance=CLOUD, replicates=reps)
    assert rec.key == "lgbm" and rec.ties == ()  # forest is slower on every figure: off the front
    sensor = Significance(levels={"latency": 0.1})
    rec = recommend(
        rows, {"accuracy": 5, "latency": 3}, {}, "accuracy", True, 0.76, significance=sensor, replicates=reps
    )
    assert rec.key == "lgbm"


def test_tied_candidate_wins_on_a_noticeable_difference_and_the_card_says_so():
    reps = replicates_around({"big": 0.870, "small": 0.867}, spread=0.004)
    rows = [row("big", 0.870, 1.0, size=50e6), row("small", 0.867, 1.0, size=50e3)]
    sensor = Significance(levels={"size": 25e3}, reasons={"size": "a tenth of the sensor's 250 kB"})
    rec = recommend(rows, {"accuracy": 3, "size": 5}, {}, "accuracy", True, 0.76, significance=sensor, replicates=reps)
    assert rec.key == "small" and rec.decided_by == "tied"
    assert rec.ties == ("big",)
    assert any("Statistically tied on accuracy with Big" in n for n in rec.notes)
    assert any("better where the difference is noticeable: size" in n for n in rec.notes)


def test_the_most_accurate_set_aside_is_said_in_plain_words():
    # Equal in quality, and the other at least as good everywhere (faster by less than users notice).
    reps = replicates_around({"big": 0.870, "small": 0.8695}, spread=0.004)
    rows = [row("big", 0.870, 1.0, size=50e6), row("small", 0.8695, 0.9, size=50e6)]
    rec = recommend(rows, WEIGHTS, {}, "accuracy", True, 0.76, significance=CLOUD, replicates=reps)
    assert rec.key == "small" and rec.decided_by == "tied"
    aside = [n for n in rec.notes if "was set aside" in n]
    assert aside and aside[0].endswith("among the rest, the higher measured accuracy decided.")
    assert not any("{" in n or "}" in n for n in rec.notes)  # no template left unfilled (it once said "{label}")


def test_equal_quality_worse_everywhere_is_never_picked_the_bf16_case():
    reps = replicates_around({"mlp": 0.9333, "mlp-bf16": 0.9335}, spread=0.003)
    rows = [
        row("mlp", 0.9333, 0.012, rows_per_s=300_000, size=90_000),
        row("mlp-bf16", 0.9335, 0.093, rows_per_s=40_000, size=60_000),
    ]
    rec = recommend(rows, WEIGHTS, {}, "accuracy", True, 0.1, significance=CLOUD, replicates=reps)
    assert rec.key == "mlp" and "mlp-bf16" not in rec.pareto
    # Size is not weighted on a cloud server; when it is, the smaller twin has a reason to exist.
    rec = recommend(rows, dict(WEIGHTS, size=1), {}, "accuracy", True, 0.1, significance=CLOUD, replicates=reps)
    assert "mlp-bf16" in rec.pareto


# --------------------------------------------------------------------------- exclusions and broken models


def test_a_helper_the_user_left_out_is_never_recommended():
    rows = [row("mlp", 0.90, 0.1), row("distill-tree", 0.86, 0.01)]
    helpers = {"mlp": "trained only because Distilled tree needs it as its teacher; you left out the neural family"}
    rec = recommend(rows, {"accuracy": 5}, {}, "accuracy", True, 0.5, ineligible=helpers)
    assert rec.key == "distill-tree"
    assert any("not eligible: trained only because" in r for r in rec.excluded["mlp"])


def test_a_broken_model_is_off_the_front_and_out_of_the_fastest_comparison():
    rows = [
        row("lgbm", 0.83, 0.3, metric="r2"),
        row("pruned-90", 0.01, 0.01, metric="r2", primary_ci95_low=0.005, primary_ci95_high=0.02),
    ]
    rec = recommend(rows, {"accuracy": 1, "latency": 5}, {}, "r2", True, no_skill_value=0.0)
    assert rec.key == "lgbm" and "pruned-90" not in rec.pareto
    assert any(r.startswith("broken:") for r in rec.excluded["pruned-90"])
    assert "itself the most accurate and the fastest" in rec.gives_up["fastest"]


def test_no_recommendation_is_one_actionable_sentence():
    rows = [row("ensemble", 0.953, 2.0, metric="r2"), row("linear", 0.80, 0.05, metric="r2")]
    rec = recommend(rows, {"accuracy": 5}, {"min_accuracy": 0.96}, "r2", True, no_skill_value=0.0)
    assert rec.key is None
    assert rec.reason == "No candidate meets the limits: the best R2 is 0.953 (Ensemble); lower the minimum to 0.95."
    rec = recommend(rows, {"accuracy": 5}, {"p99_ms": 0.01}, "r2", True, no_skill_value=0.0)
    assert rec.reason == "No candidate meets the limits: the lowest p99_ms is 0.05 ms (Linear); raise p99_ms to 0.05."


def test_gives_up_shows_absolute_differences_beside_ratios():
    rows = [row("lgbm", 0.827, 0.45, metric="r2", cost=0.02), row("mlp", 0.815, 1.35, metric="r2", cost=0.01)]
    rec = recommend(
        rows, {"accuracy": 1, "cost": 5}, {}, "r2", True, 0.0, significance=Significance(predictions_per_month=10e6)
    )
    text = rec.gives_up["most_accurate"]
    assert rec.key == "mlp"
    assert "R2 -0.012 (" in text and "+0.9 ms" in text and "$0.10 less a month at 10M predictions (2x lower)" in text


# --------------------------------------------------------------------------- stability


def test_weight_ranges_say_where_the_pick_changes():
    rows = [row("accurate", 0.90, 50.0), row("fast", 0.85, 0.5)]

    def rank(rs, weights):
        return recommend(rs, weights, {}, "accuracy", True, 0.5, explain=False)

    pick = rank(rows, {"accuracy": 5, "latency": 2}).key
    assert pick == "accurate"
    ranges = {r.metric: r for r in weight_ranges(rows, {"accuracy": 5, "latency": 2}, pick, rank)}
    accuracy = ranges["accuracy"]
    assert accuracy.high == 5 and accuracy.low > 0 and accuracy.below == "fast" and accuracy.above is None
    latency = ranges["latency"]
    assert latency.low == 0 and latency.above == "fast"
    # check the boundary by ranking just outside it
    assert rank(rows, {"accuracy": accuracy.low - 0.5, "latency": 2}).key == "fast"
    assert rank(rows, {"accuracy": accuracy.low, "latency": 2}).key == "accurate"


def test_timing_noise_redraws_from_the_rounds():
    rows = [row("a", 0.90, 1.0), row("b", 0.90, 1.02)]
    rounds = {"a": ((0.5, 1.5, 1.0), None), "b": ((1.02, 1.02, 1.02), None)}
    drawn = noise_draws(rows, rounds, draws=50)
    a_values = {round(d[0]["p99_ms"], 6) for d in drawn}
    assert len(a_values) > 3 and all(d[1]["p99_ms"] == pytest.approx(1.02) for d in drawn)

    def rank(rs, weights):
        return recommend(rs, weights, {}, "accuracy", True, 0.5, explain=False)

    found = stability(rows, {"latency": 5}, rank(rows, {"latency": 5}).key, rank, rounds, draws=100)
    assert found.noise is not None and 0 < found.noise.held < 100  # a and b swap under noise
    assert "redraws" in " ".join(found.sentences({"a": "A", "b": "B"}))


# --------------------------------------------------------------------------- rare classes


def test_stratified_bootstrap_never_loses_a_class():
    y = np.array([0] * 500 + [1] * 3)
    idx = bootstrap_indices(y, "binary", seed=0)
    counts = (y[idx] == 1).sum(axis=1)
    assert (counts == 3).all()
    scores = np.column_stack([np.full(503, 0.9), np.full(503, 0.1)])
    scores[-3:] = [[0.2, 0.8]] * 3
    q = measure_quality(y, scores, "binary", "balanced_accuracy", 2, class_labels=["ok", "fraud"])
    assert not np.isnan(q.primary_ci95_low)
    assert q.per_class["fraud"]["support"] == 3 and q.per_class["fraud"]["recall"] == 1.0
    assert q.confusion == ((500, 0), (0, 3))
    assert len(q.bootstrap) == 1000


# --------------------------------------------------------------------------- real runs: the card


def test_imbalanced_binary_card_speaks_in_classes_and_saves_its_decision(tmp_path):
    import json

    import pandas as pd

    from advisor import QUICK_TIMING, advise, card_lines, recommendation_card

    from conftest import DATA

    frame = pd.read_csv(DATA / "adult.csv.gz")
    rare = frame[frame["income"] == ">50K"].sample(150, random_state=1)
    common = frame[frame["income"] == "<=50K"].sample(1850, random_state=1)
    data = pd.concat([rare, common]).sample(frac=1, random_state=1)
    out = tmp_path / "out"
    run = advise(
        data,
        "income",
        name="adult-rare.csv",
        store=tmp_path / "home",
        out=out,
        timing=QUICK_TIMING,
        candidates=["linear", "tree", "lightgbm-fast"],
    )
    assert run.primary_metric == "balanced_accuracy"
    chosen = run.candidate(run.recommendation.key)
    quality = chosen.quality
    assert set(quality.per_class) == {"<=50K", ">50K"}
    assert sum(v["support"] for v in quality.per_class.values()) == quality.test_rows
    assert sum(map(sum, quality.confusion)) == quality.test_rows
    assert quality.threshold is not None and 0 < quality.threshold < 1
    card = recommendation_card(run)
    text = " ".join(card_lines(card))
    recall = quality.per_class[">50K"]["recall"]
    assert f"It catches {recall:.0%} of '>50K'" in text
    assert "flags" in text and "as '>50K'" in text
    assert f"at least {quality.threshold:.3g}" in text
    if quality.metrics["accuracy"] < quality.per_class["<=50K"]["support"] / quality.test_rows:
        assert "below the" in text and "of always predicting '<=50K'" in text
    assert any("holds" in s for s in card.stability) and any("redraws" in s for s in card.stability)
    saved = json.loads((out / "results.json").read_text())
    decision = saved["decision"]
    assert decision["most_accurate"] and decision["levels"]["latency"] == pytest.approx(10.0)
    assert decision["stability"]["sentences"] == list(card.stability)
    assert saved["candidates"][0]["measurements"]["quality"]["confusion"]
    assert len(saved["candidates"][0]["measurements"]["quality"]["bootstrap"]) == 1000


def test_a_rare_class_is_named_and_the_interval_keeps_it(tmp_path):
    import pandas as pd

    from advisor import QUICK_TIMING, advise, recommendation_card

    from conftest import DATA

    frame = pd.read_csv(DATA / "penguins.csv")
    rare = frame[frame["species"] == "Chinstrap"].head(20)
    data = pd.concat([frame[frame["species"] != "Chinstrap"], rare]).sample(frac=1, random_state=0)
    run = advise(data, "species", name="penguins-rare.csv", store=tmp_path, timing=QUICK_TIMING, candidates=["linear"])
    support = run.candidate("linear").quality.per_class["Chinstrap"]["support"]
    assert support < 10
    card = recommendation_card(run)
    assert any(f"'Chinstrap' ({support} row" in w for w in card.warnings)
    q = run.candidate("linear").quality
    assert np.isfinite(q.primary_ci95_low) and np.isfinite(q.primary_ci95_high)


def test_a_tie_with_more_errors_is_not_bought_with_speed_nobody_feels():
    # Titanic-sized test split: 0.82 and 0.80 are statistically tied, but 11% more errors is not
    # "equal in quality"; the tree's faster answers are all under the 10 ms level.
    reps = replicates_around({"lightgbm": 0.82, "tree": 0.80}, spread=0.02)
    assert paired_ties(reps).tied("lightgbm", "tree")
    rows = [row("lightgbm", 0.82, 0.2, rows_per_s=50_000), row("tree", 0.80, 0.02, rows_per_s=500_000)]
    rec = recommend(rows, WEIGHTS, {}, "accuracy", True, 0.62, significance=CLOUD, replicates=reps)
    assert rec.key == "lightgbm" and rec.ties == ("tree",)
    assert "tree" in rec.pareto  # faster, and not equal in quality: a real trade-off on the chart


def test_equal_measured_quality_is_the_most_accurate_and_the_card_says_what_decided():
    reps = replicates_around({"a": 0.9855, "b": 0.9855, "c": 0.9855}, spread=0.01)
    rows = [row("a", 0.9855, 0.05, size=9_000), row("b", 0.9855, 0.04, size=6_000), row("c", 0.9855, 0.03, size=3_000)]
    rec = recommend(rows, WEIGHTS, {}, "accuracy", True, 0.4, significance=CLOUD, replicates=reps)
    assert rec.key == rec.most_accurate and rec.decided_by == "most accurate"
    assert any("3 candidates share the highest measured accuracy" in n for n in rec.notes)
