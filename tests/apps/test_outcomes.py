"""Outcome metrics: risk-coverage, AURC, selective accuracy, coverage, set size, cost."""

from __future__ import annotations

import numpy as np
import pytest

from guardrails import ConfigurationError, Decisions, InvalidInputError, Reason
from guardrails.apps import outcomes


def test_risk_coverage_curve_takes_tied_confidences_together() -> None:
    cov, risk, t = outcomes.risk_coverage_curve(
        [0.9, 0.6, 0.8, 0.6, 0.5], [True, False, True, True, False]
    )
    assert cov.tolist() == [0.2, 0.4, 0.8, 1.0]
    np.testing.assert_allclose(risk, [0.0, 0.0, 0.25, 0.4])
    assert t.tolist() == [0.9, 0.8, 0.6, 0.5]


def test_aurc_is_the_mean_risk_over_coverage_and_rewards_good_ranking() -> None:
    correct = np.array([True, True, False, False])
    good = outcomes.aurc([0.9, 0.8, 0.3, 0.2], correct)
    bad = outcomes.aurc([0.2, 0.3, 0.8, 0.9], correct)
    # good: risks at k = 1..4 are 0, 0, 1/3, 1/2; bad: 1, 1, 2/3, 1/2
    assert good == pytest.approx((0 + 0 + 1 / 3 + 1 / 2) / 4)
    assert bad == pytest.approx((1 + 1 + 2 / 3 + 1 / 2) / 4)


def test_selective_accuracy_uses_the_most_confident_share() -> None:
    conf = [0.9, 0.8, 0.7, 0.6]
    right = [True, False, True, False]
    assert outcomes.selective_accuracy(conf, right, coverage=0.25) == 1.0
    assert outcomes.selective_accuracy(conf, right, coverage=0.5) == 0.5
    assert outcomes.selective_accuracy(conf, right, coverage=0.75) == pytest.approx(2 / 3)
    with pytest.raises(ConfigurationError, match="'coverage' parameter of selective_accuracy"):
        outcomes.selective_accuracy(conf, right, coverage=0.0)


def test_curves_refuse_mismatched_or_non_finite_inputs() -> None:
    with pytest.raises(InvalidInputError, match="same length"):
        outcomes.aurc([0.1, 0.2], [True])
    with pytest.raises(InvalidInputError, match="NaN"):
        outcomes.aurc([0.1, np.nan], [True, False])
    with pytest.raises(InvalidInputError, match="at least one row"):
        outcomes.aurc([], [])


def test_coverage_and_set_size_overall_per_class_and_per_group() -> None:
    d = Decisions(
        prediction=np.array([0, 1, 2, 0]),
        pred_set=np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=bool),
        classes=np.arange(3),
    )
    y = np.array([0, 2, 2, 1])
    assert outcomes.coverage(d, y) == 0.75
    assert outcomes.coverage(d, y, groups=y) == {0: 1.0, 1: 1.0, 2: 0.5}
    assert outcomes.mean_set_size(d) == 1.75
    assert outcomes.mean_set_size(d, groups=np.array(["a", "a", "b", "b"])) == {"a": 1.5, "b": 2.0}
    with pytest.raises(InvalidInputError, match="one true label per decision"):
        outcomes.coverage(d, y[:2])
    with pytest.raises(ConfigurationError, match="prediction sets"):
        outcomes.coverage(Decisions(prediction=np.zeros(2)), np.zeros(2))


def test_interval_coverage_and_width_skip_rows_without_an_interval() -> None:
    d = Decisions(
        prediction=np.zeros(3), interval=np.array([[0.0, 1.0], [0.0, 3.0], [np.nan, np.nan]])
    )
    assert outcomes.coverage(d, np.array([0.5, 4.0, 0.0])) == 0.5
    assert outcomes.mean_interval_width(d) == 2.0


def test_selective_risk_and_expected_cost_of_a_policy() -> None:
    d = Decisions(
        prediction=np.array([0, 1, 1, 0]),
        abstained=np.array([False, False, True, False]),
        reason=np.array([0, 0, Reason.LOW_CONFIDENCE, 0], dtype=np.int8),
        classes=np.arange(2),
    )
    y = np.array([0, 0, 1, 0])
    assert outcomes.selective_risk(d, y) == pytest.approx(1 / 3)
    # one wrong answer (cost 5) and one review (cost 1) over four rows
    assert outcomes.expected_cost(d, y, cost_review=1.0, cost_error=5.0) == 1.5
    matrix = np.array([[0.0, 2.0], [7.0, 0.0]])  # truth 0 answered 1 costs 2
    assert outcomes.expected_cost(d, y, cost_review=1.0, cost_matrix=matrix) == 0.75
    nothing = d.replace(abstained=np.ones(4, bool), reason=np.ones(4, np.int8))
    assert np.isnan(outcomes.selective_risk(nothing, y))
