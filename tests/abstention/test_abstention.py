"""Abstention policies: simple thresholds, data-chosen thresholds, the cost rule."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import guardrails
from guardrails import (
    ConfigurationError,
    CostRule,
    CoverageThreshold,
    Decisions,
    EntropyThreshold,
    GuardrailsWarning,
    InvalidInputError,
    MarginThreshold,
    NotFittedError,
    Reason,
    RiskControlledThreshold,
    confidence_below,
    entropy_above,
    guard,
    interval_wider_than,
    margin_below,
    set_size_above,
)
from guardrails.apps import outcomes


def _decisions(p: NDArray[np.float64]) -> Decisions:
    return Decisions(
        prediction=p.argmax(axis=1),
        proba=p,
        confidence=p.max(axis=1),
        classes=np.arange(p.shape[1]),
    )


def test_margin_and_entropy_policies_withhold_with_their_reasons() -> None:
    p = np.array([[0.9, 0.05, 0.05], [0.48, 0.47, 0.05], [0.34, 0.33, 0.33], [np.nan] * 3])
    d = _decisions(p)
    v = margin_below(0.1).evaluate(d)
    assert v.abstain.tolist() == [False, True, True, True]
    assert v.reason_codes().tolist() == [
        Reason.AMBIGUOUS,
        Reason.AMBIGUOUS,
        Reason.AMBIGUOUS,
        Reason.LOW_CONFIDENCE,
    ]
    h = entropy_above(0.9).evaluate(d)
    assert h.abstain.tolist() == [False, False, True, True]
    assert repr(margin_below(0.1) | entropy_above(0.9)) == (
        "(MarginThreshold(margin=0.1) | EntropyThreshold(entropy=0.9))"
    )


def test_set_size_and_interval_policies_read_the_columns_before_them() -> None:
    d = Decisions(
        prediction=np.zeros(3, int),
        pred_set=np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool),
        interval=np.array([[0.0, 1.0], [0.0, 3.0], [np.nan, np.nan]]),
        classes=np.arange(3),
    )
    assert set_size_above(1).evaluate(d).abstain.tolist() == [False, True, False]
    assert interval_wider_than(2.0).evaluate(d).abstain.tolist() == [False, True, True]
    no_set = Decisions(prediction=np.zeros(2))
    assert set_size_above(1).evaluate(no_set).abstain.all()
    assert interval_wider_than(1.0).evaluate(no_set).abstain.all()


def test_a_size_policy_needs_a_set_maker_before_it_in_a_guard(iris: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="pred_set"):
        guard(iris["model"]).abstain(set_size_above(1)).build()
    g = guard(iris["model"]).abstain(guardrails.ConformalSets(0.1) | set_size_above(1))
    g.build()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MarginThreshold(1.5), "'margin' parameter of MarginThreshold"),
        (lambda: EntropyThreshold(-1), "'entropy' parameter of EntropyThreshold"),
        (lambda: set_size_above(-1), "'size' parameter of SetSizeAbove"),
        (lambda: interval_wider_than(float("nan")), "'width' parameter of IntervalWiderThan"),
        (lambda: CoverageThreshold(0.0), "'coverage' parameter of CoverageThreshold"),
        (lambda: CoverageThreshold(0.5, score="loss"), "'score' parameter"),
        (lambda: RiskControlledThreshold(1.0), "'target_risk' parameter"),
        (lambda: RiskControlledThreshold(0.1, delta=0), "'delta' parameter"),
        (lambda: RiskControlledThreshold(0.1, n_thresholds=0), "'n_thresholds' parameter"),
        (lambda: CostRule(cost_review=-1), "'cost_review' parameter of CostRule"),
        (lambda: CostRule(cost_review=1, cost_matrix=[[0, 1]]), "'cost_matrix' parameter"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(make: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(2, 5))
def test_raising_a_threshold_never_shrinks_the_abstained_set(seed: int, k: int) -> None:
    p = np.random.default_rng(seed).dirichlet(np.ones(k), size=50)
    d = _decisions(p)
    grid = np.linspace(0.0, 1.0, 11)
    for make in (confidence_below, margin_below):
        masks = [make(float(t)).evaluate(d).abstain for t in grid]
        assert all((b >= a).all() for a, b in itertools.pairwise(masks))
    # for entropy the stricter direction is a lower ceiling
    masks = [entropy_above(float(h)).evaluate(d).abstain for h in grid[::-1] * math.log(k)]
    assert all((b >= a).all() for a, b in itertools.pairwise(masks))
    # a larger target coverage never withholds more
    y = np.zeros(50, int)
    masks = [CoverageThreshold(float(c)).fit(d, y).evaluate(d).abstain for c in grid[1:][::-1]]
    assert all((b >= a).all() for a, b in itertools.pairwise(masks))


def test_learning_policies_refuse_to_decide_before_fit() -> None:
    d = _decisions(np.array([[0.6, 0.4]]))
    for policy in (CoverageThreshold(0.8), RiskControlledThreshold(0.1)):
        assert not policy.is_fitted()
        with pytest.raises(NotFittedError, match="not fitted"):
            policy.evaluate(d)
        with pytest.raises(InvalidInputError, match="one label per decision"):
            policy.fit(d, np.zeros(3))


@pytest.mark.slow
def test_coverage_threshold_answers_at_least_the_target_share_on_new_rows() -> None:
    # by exchangeability the expected answered share is in [c, c + 1/(n + 1)); the mean
    # over 200 splits has standard error below sqrt(c(1 - c)/n_test / 200) plus the
    # order-statistic spread sqrt(c(1 - c)/(n + 2) / 200): 4 of those is the tolerance
    rng = np.random.default_rng(0)
    c, n, n_test, splits = 0.8, 200, 1000, 200
    shares = np.empty(splits)
    for r in range(splits):
        conf = rng.uniform(0.3, 1.0, n + n_test)
        d = Decisions(prediction=np.zeros(n + n_test), confidence=conf)
        policy = CoverageThreshold(c).fit(d.take(np.arange(n)), np.zeros(n))
        shares[r] = 1 - policy.evaluate(d.take(np.arange(n, n + n_test))).abstain.mean()
    tol = 4 * math.sqrt((c * (1 - c) / n_test + c * (1 - c) / (n + 2)) / splits)
    assert c - tol <= shares.mean() <= c + 1 / (n + 1) + tol


def _risk_problem(
    rng: np.random.Generator, n: int
) -> tuple[Decisions, NDArray[np.int64], NDArray[np.float64]]:
    """Binary answers with confidence c ~ U(0.5, 1), right with probability exactly c.

    The true selective risk of answering rows with confidence >= t (t in [0.5, 1)) is
    E[1 - c | c >= t] = (1 - t) / 2: no test-set noise in judging a threshold.
    """
    c = rng.uniform(0.5, 1.0, n)
    right = rng.random(n) < c
    p = np.column_stack([c, 1 - c])
    d = Decisions(prediction=np.zeros(n, int), proba=p, confidence=c, classes=np.arange(2))
    return d, np.where(right, 0, 1), c


def _true_risk(t: float) -> float:
    if np.isinf(t):
        return 0.0
    return (1 - max(t, 0.5)) / 2


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:RiskControlledThreshold")  # a few draws allow no threshold
def test_risk_controlled_threshold_keeps_risk_below_target_with_probability_1_minus_delta() -> None:
    rng = np.random.default_rng(11)
    target, delta, n, splits = 0.1, 0.1, 2000, 300
    violations, naive_violations, coverage, test_violations = 0, 0, 0.0, 0
    for _ in range(splits):
        d, y, _ = _risk_problem(rng, n)
        policy = RiskControlledThreshold(target, delta=delta).fit(d, y)
        violations += _true_risk(policy.threshold_) > target
        coverage += policy.coverage_ / splits
        # a fresh test set: its realized selective risk (with test noise) for the record
        dt, yt, _ = _risk_problem(rng, 5000)
        test_violations += (
            outcomes.selective_risk(
                dt.withhold(policy.evaluate(dt).abstain, Reason.LOW_CONFIDENCE), yt
            )
            > target
        )
        # the plug-in choice (empirical risk <= target) has no guarantee: it shows the
        # check has teeth
        _cov, risk, thresholds = outcomes.risk_coverage_curve(d.confidence, d.prediction == y)
        naive = thresholds[risk <= target].min()
        naive_violations += _true_risk(float(naive)) > target
    # a binomial count over independent splits: mean <= delta, sd sqrt(delta(1-delta)/S)
    tol = 3 * math.sqrt(delta * (1 - delta) / splits)
    print(
        f"risk above target: guaranteed {violations / splits:.3f} (on a test set "
        f"{test_violations / splits:.3f}), plug-in {naive_violations / splits:.3f}; "
        f"mean coverage {coverage:.3f} (the best possible is 0.4)"
    )
    assert violations / splits <= delta + tol
    assert naive_violations / splits > delta + tol
    assert coverage > 0.25


def test_risk_controlled_threshold_withholds_everything_when_nothing_is_safe() -> None:
    rng = np.random.default_rng(0)
    d, y, _ = _risk_problem(rng, 50)
    with pytest.warns(GuardrailsWarning, match="every row will be withheld"):
        policy = RiskControlledThreshold(0.001).fit(d, y)
    assert policy.evaluate(d).abstain.all()


def test_cost_rule_attains_the_minimum_expected_cost() -> None:
    rng = np.random.default_rng(3)
    n, k = 5000, 3
    p = rng.dirichlet(np.ones(k), size=n)
    d = _decisions(p)
    cost_matrix = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    review = 0.5
    rule = CostRule(cost_review=review, cost_matrix=cost_matrix)
    answer_cost = (p @ cost_matrix)[np.arange(n), d.prediction]  # known exactly
    np.testing.assert_allclose(rule.answer_cost(d), answer_cost)

    def cost_of(abstain: NDArray[np.bool_]) -> float:
        return float(np.where(abstain, review, answer_cost).mean())

    best = cost_of(rule.evaluate(d).abstain)
    assert best == pytest.approx(float(np.minimum(answer_cost, review).mean()))
    assert rule.expected_cost(d).mean() == pytest.approx(best)
    for t in np.linspace(0, 1, 101):  # no confidence threshold does better
        assert best <= cost_of(confidence_below(float(t)).evaluate(d).abstain) + 1e-12
    for _ in range(50):  # nor any random withholding
        assert best <= cost_of(rng.random(n) < rng.random()) + 1e-12
    # realized cost on labels drawn from p matches the expectation within 4 SE
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    decided = d.withhold(rule.evaluate(d).abstain, Reason.LOW_CONFIDENCE)
    realized = outcomes.expected_cost(decided, y, cost_review=review, cost_matrix=cost_matrix)
    assert abs(realized - best) <= 4 * 4.0 / math.sqrt(n)  # costs lie in [0, 4]


def test_cost_rule_without_a_matrix_is_chows_threshold_on_confidence() -> None:
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=200)
    d = _decisions(p)
    # answer when cost_error * (1 - confidence) <= review, i.e. confidence >= 1 - review/cost
    rule = CostRule(cost_review=0.3, cost_error=2.0)
    np.testing.assert_array_equal(rule.evaluate(d).abstain, p.max(axis=1) < 1 - 0.3 / 2.0)
    with pytest.raises(ConfigurationError, match="2x2 cost matrix"):
        CostRule(cost_review=1, cost_matrix=np.eye(2)).evaluate(d)


@pytest.mark.parametrize(
    "policy",
    [
        margin_below(0.2),
        entropy_above(0.7),
        CoverageThreshold(0.7, score="margin"),
        RiskControlledThreshold(0.2, delta=0.2),
        CostRule(cost_review=0.2, cost_matrix=np.ones((3, 3)) - np.eye(3)),
        confidence_below(0.6) & margin_below(0.3),
    ],
    ids=repr,
)
def test_every_policy_survives_save_and_load_with_its_fitted_state(
    policy: Any, iris: dict[str, Any], tmp_path: Path
) -> None:
    g = guard(iris["model"]).abstain(policy).fit(iris["X_cal"], iris["y_cal"])
    d = g.decide(iris["X_test"])
    loaded = guardrails.load(g.save(tmp_path / "g.zip"), model=iris["model"])
    assert loaded.decide(iris["X_test"]) == d
    assert repr(loaded) == repr(g)
