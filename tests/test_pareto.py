"""Pareto front and recommendation on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from advisor import ConfigError, pareto_mask, parse_limits, parse_priorities, recommend, to_losses
from advisor.rank.pareto import utilities


def test_front_on_two_losses():
    losses = np.array([[1, 1], [2, 0], [0, 2], [2, 2], [1, 3]])
    # (2,2) is dominated by (1,1); (1,3) by (1,1) and (0,2)
    assert pareto_mask(losses).tolist() == [True, True, True, False, False]


def test_ties_are_all_kept():
    losses = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(losses).tolist() == [True, True, False]


def test_one_metric_keeps_only_the_best():
    assert pareto_mask(np.array([[3.0], [1.0], [2.0], [1.0]])).tolist() == [False, True, False, True]


def test_one_point_dominating_all_others():
    losses = np.array([[0, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 1]])
    assert pareto_mask(losses).tolist() == [True, False, False, False]


def test_empty_and_single():
    assert pareto_mask(np.zeros((0, 2))).tolist() == []
    assert pareto_mask(np.array([[5.0, 5.0]])).tolist() == [True]


def test_directions_and_missing_values():
    values = np.array([[0.9, 10.0], [0.8, 1.0], [0.7, 5.0], [np.nan, 0.5]])
    losses = to_losses(values, [True, False])  # accuracy up, latency down
    assert losses[0, 0] == -0.9 and losses[3, 0] == np.inf
    # (0.7, 5ms) is dominated by (0.8, 1ms); the row with no accuracy still wins on latency
    assert pareto_mask(losses).tolist() == [True, True, False, True]


def test_utilities_log_scale_needs_a_decade_to_matter():
    values = np.array([[1.0], [1.3], [100.0]])
    u = utilities(values, [False], [True], min_decades=1.0)
    assert u[0, 0] == 1.0 and u[2, 0] == 0.0
    assert 0.9 < u[1, 0] < 1.0  # 1.3x slower of a 100x span: small penalty
    close = utilities(np.array([[1.0], [1.3]]), [False], [True])
    assert close[1, 0] == pytest.approx(1 - np.log10(1.3) / 3)  # a span below three decades counts as three
    wide = utilities(np.array([[1.0], [10.0], [1e5]]), [False], [True])
    assert wide[:, 0].tolist() == pytest.approx([1.0, 0.8, 0.0])  # five decades span: 10x costs a fifth


def test_utilities_accuracy_is_measured_from_the_no_skill_reference():
    u = utilities(np.array([[0.87], [0.85], [0.76]]), [True], [False], references=[0.76])
    assert u[:, 0].tolist() == pytest.approx([1.0, (0.85 - 0.76) / (0.87 - 0.76), 0.0])


def _row(key, acc, p99, size, skilled=True, family="boosting", status="measured"):
    return {
        "key": key,
        "name": key.title(),
        "family": family,
        "status": status,
        "skilled": skilled,
        "accuracy": acc,
        "p99_ms": p99,
        "rows_per_s": 1000 / p99,
        "size_bytes": size,
        "joules_per_1k": p99,
        "usd_per_million": p99 / 100,
    }


ROWS = [
    _row("baseline", 0.60, 0.1, 1_000, skilled=False, family="baseline"),
    _row("big", 0.90, 20.0, 5_000_000),
    _row("small", 0.86, 0.5, 10_000),
    _row("useless", 0.60, 0.05, 500, skilled=False),
    _row("broken", 0.99, 0.01, 10, status="failed"),
]


def _recommend(weights, limits=None):
    return recommend(ROWS, weights, limits or {}, "accuracy", True, no_skill_value=0.60)


def test_weights_decide_between_accurate_and_fast():
    assert _recommend({"accuracy": 5}).key == "big"
    assert _recommend({"accuracy": 1, "latency": 5}).key == "small"


def test_no_skill_failed_and_baseline_are_never_recommended():
    rec = _recommend({"latency": 5, "size": 5})
    assert rec.key == "small"
    assert "useless" not in rec.feasible and "baseline" not in rec.feasible and "broken" not in rec.feasible
    assert any("no skill" in r for r in rec.excluded["useless"])
    assert any("never recommended" in r for r in rec.excluded["baseline"])
    assert any("not measured" in r for r in rec.excluded["broken"])


def test_limits_filter_before_ranking_and_are_named():
    rec = _recommend({"accuracy": 5}, {"p99_ms": 10})
    assert rec.key == "small"
    assert rec.excluded["big"] == ("p99_ms <= 10: has 20 ms",)


def test_nothing_feasible_says_what_would_let_a_candidate_through():
    rec = _recommend({"accuracy": 5}, {"p99_ms": 10, "min_accuracy": 0.88})
    assert rec.key is None
    # one sentence per limit: the best value under the other limits, and the setting that lets it through
    assert rec.reason == (
        "No candidate meets the limits: the lowest p99_ms under the other limits is 20 ms (Big); raise p99_ms to 20; "
        "the best accuracy under the other limits is 0.86 (Small); lower the minimum to 0.86."
    )


def test_recommendation_explains_and_compares():
    rec = _recommend({"accuracy": 1, "latency": 5})
    assert "Small is recommended" in rec.reason and "Pareto front" in rec.reason
    assert "Against the most accurate, Big: accuracy -4.00 pp" in rec.gives_up["most_accurate"]
    assert "itself the fastest" in rec.gives_up["fastest"]
    assert set(rec.pareto) <= set(rec.feasible)


def test_error_metric_limits_mean_at_most():
    rows = [dict(_row("a", 0, 1, 100), rmse=5.0), dict(_row("b", 0, 2, 100), rmse=3.0)]
    rec = recommend(rows, {"accuracy": 5}, {"min_accuracy": 4.0}, "rmse", False)
    assert rec.key == "b" and "a" not in rec.feasible


def test_parse_priorities_and_limits():
    assert parse_priorities("accuracy=5, latency=3") == {"accuracy": 5.0, "latency": 3.0}
    assert parse_limits(["p99_ms=10", "size_mb=1", "accuracy=0.85"]) == {
        "p99_ms": 10,
        "size_mb": 1,
        "min_accuracy": 0.85,
    }
    with pytest.raises(ConfigError, match="did you mean 'latency'"):
        parse_priorities("latncy=3")
    with pytest.raises(ConfigError, match="outside 0-5"):
        parse_priorities("accuracy=9")
    with pytest.raises(ConfigError, match="needs a number"):
        parse_limits(["p99_ms=fast"])
