"""Review under a budget: capacity kept, value first, nothing dropped silently, honest labels."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import structlog
from sklearn.linear_model import LogisticRegression

from guardrails import (
    ConfigurationError,
    Decisions,
    Logged,
    MemoryQueue,
    Metrics,
    Reason,
    ReviewBudget,
    Reviewed,
    confidence_below,
    guard,
    load,
    realized_accuracy,
)
from guardrails.review.budget import cost_priority, inclusion_probabilities
from guardrails.review.cases import BUDGET_FALLBACK, UNREVIEWED
from guardrails.review.labels import labelled_data, weighted_accuracy
from guardrails.review.layer import pending_answers


class Clock:
    def __init__(self, now: float = 7200.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    y = (X[:, 0] + rng.normal(scale=1.0, size=400) > 0).astype(int)
    return LogisticRegression().fit(X, y)


def _withheld_rows(n: int, seed: int = 1) -> np.ndarray:
    """Rows near the boundary: every one is withheld below 0.99 confidence."""
    return np.random.default_rng(seed).uniform(-0.3, 0.3, size=(n, 1))


def test_the_budget_is_never_exceeded_under_16_threads() -> None:
    clock = Clock()
    q = MemoryQueue()
    g = (
        guard(_model())
        .abstain(confidence_below(0.99))
        .review(q, budget=ReviewBudget(50, per="hour", clock=clock))
    )
    layer = g.layer(Reviewed)
    results: list[Decisions] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        for k in range(10):
            d = g.decide(_withheld_rows(7, seed=seed * 100 + k))
            with lock:
                results.append(d)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = sum(
        int(sum(r is not None for r in d.review_id)) for d in results if d.review_id is not None
    )
    assert queued == len(q.list(limit=10_000)) == 50
    assert layer.over_budget == 16 * 10 * 7 - 50 == layer.not_queued
    over = sum(int((d.reason == int(Reason.REVIEW_BUDGET)).sum()) for d in results)
    assert over == layer.over_budget
    clock.now += 3600.0  # a new hour: capacity again
    assert layer.budget is not None and layer.budget.remaining == 50


def test_within_a_call_the_highest_values_are_queued_first() -> None:
    budget = ReviewBudget(3, clock=lambda: 0.0)
    take = budget.admit(np.array([0.1, 0.7, 0.2, 0.9, 0.5]))
    assert take.tolist() == [False, True, False, True, True]
    assert budget.admit(np.array([1.0])).tolist() == [False]  # the hour is spent
    assert (budget.used, budget.remaining, budget.refused) == (3, 0, 3)


def test_across_calls_capacity_is_kept_for_rows_worth_more() -> None:
    # 100 rows per hour arrive evenly, capacity 10: a value-based budget admits about the
    # top tenth of values rather than the first ten rows of the hour.
    clock = Clock(0.0)
    budget = ReviewBudget(10, per="hour", lookback=256, clock=clock)
    rng = np.random.default_rng(3)
    admitted: list[float] = []
    for hour in range(6):
        for k in range(100):
            clock.now = hour * 3600.0 + k * 36.0
            v = rng.uniform()
            if budget.admit(np.array([v]))[0]:
                admitted.append(v)
    later = admitted[10:]  # after the first hour the threshold knows the traffic
    assert len(admitted) <= 60
    assert np.mean(later) > 0.75  # FCFS would average 0.5


@pytest.mark.parametrize("outcome", ["withhold", "provisional", "function"])
def test_budget_exhaustion_gives_the_configured_outcome_with_its_reason_and_counts(
    outcome: str,
) -> None:
    q = MemoryQueue()
    metrics = Metrics()
    on_budget: Any = (
        (lambda rows: [1 if r[0] > 0 else None for r in rows]) if outcome == "function" else outcome
    )
    reviewed = Reviewed(
        guard(_model()).abstain(confidence_below(0.99)),
        queue=q,
        budget=ReviewBudget(2, clock=lambda: 0.0),
        on_budget=on_budget,
    )
    g = Logged(reviewed, metrics=metrics, logger=structlog.get_logger("budget-test"))
    X = np.array([[0.01], [-0.2], [0.25], [0.0], [-0.1]])
    with structlog.testing.capture_logs() as events:
        d = g.decide(X, request_id="r1")
    queued = np.array([r is not None for r in d.review_id])  # type: ignore[union-attr]
    assert queued.sum() == 2 and len(q.list()) == 2
    # the queued rows are the two least confident (highest value of review)
    conf = guard(_model()).decide(X).confidence
    assert set(np.flatnonzero(queued)) == set(np.argsort(conf)[:2])  # type: ignore[arg-type]
    over = ~queued
    snap = metrics.snapshot().guard("guard")
    assert (snap.review_over_budget, snap.review_not_queued) == (3, 3)
    assert reviewed.over_budget == 3
    [warning] = [e for e in events if e["event"] == "review_not_queued"]
    assert warning["reason"] == "review_budget" and warning["not_queued"] == 3
    assert warning["budget"] == "2 cases/hour"
    if outcome == "withhold":
        assert (d.reason[over] == int(Reason.REVIEW_BUDGET)).all() and d.abstained.all()
        assert all("review budget exhausted" in t and "low_confidence" in t for t in d.detail[over])  # type: ignore[index]
    elif outcome == "provisional":
        assert d.abstained.all() and (d.reason[over] == int(Reason.REVIEW_BUDGET)).all()
        assert (d.stage[over] == UNREVIEWED).all()
        assert all(t.startswith("provisional answer, not reviewed") for t in d.detail[over])  # type: ignore[index]
        shown = pending_answers(d, marker=-1)
        assert (shown[over] != -1).all() and (shown[queued] == -1).all()
    else:
        answered = over & (X[:, 0] > 0)
        assert (~d.abstained[answered]).all() and (d.stage[answered] == BUDGET_FALLBACK).all()
        assert (d.overridden[answered] == int(Reason.LOW_CONFIDENCE)).all()  # type: ignore[index]
        declined = over & ~(X[:, 0] > 0)
        assert d.abstained[declined].all()
        assert (d.reason[declined] == int(Reason.REVIEW_BUDGET)).all()


def test_budget_warnings_are_capped_but_every_row_is_counted() -> None:
    q = MemoryQueue()
    metrics = Metrics()
    reviewed = Reviewed(
        guard(_model()).abstain(confidence_below(0.99)),
        queue=q,
        budget=ReviewBudget(1, clock=lambda: 0.0),
    )
    g = Logged(reviewed, metrics=metrics, logger=structlog.get_logger("budget-test"))
    with structlog.testing.capture_logs() as events:
        for seed in range(20):
            g.decide(_withheld_rows(5, seed=seed))
    warnings = [e for e in events if e["event"] == "review_not_queued"]
    assert len(warnings) == 1  # one per 10 s at most, with the totals
    assert metrics.snapshot().guard("guard").review_over_budget == 99 == reviewed.over_budget


def test_budget_settings_are_checked_shown_and_saved(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'cases' parameter of ReviewBudget"):
        ReviewBudget(0)
    with pytest.raises(ConfigurationError, match="'per' parameter"):
        ReviewBudget(5, per="week")  # type: ignore[arg-type]
    q = MemoryQueue()
    base = guard(_model()).abstain(confidence_below(0.99))
    with pytest.raises(ConfigurationError, match="'on_budget' parameter"):
        base.review(q, budget=5, on_budget="drop")
    with pytest.raises(ConfigurationError, match="'budget' parameter"):
        base.review(q, budget=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'audit_favour' parameter"):
        base.review(q, audit_rate=0.1, audit_favour=-1.0)
    g = base.review(
        q,
        budget=ReviewBudget(30, per="day"),
        on_budget="provisional",
        audit_rate=0.1,
        audit_favour=4.0,
    )
    assert "budget=ReviewBudget(30, per='day')" in repr(g)
    g.fit(_withheld_rows(40), np.r_[np.zeros(20), np.ones(20)].astype(int))
    path = tmp_path / "g.zip"
    g.save(path)
    back = load(path, model=_model(), queue=q)
    layer = back.layer(Reviewed)
    assert layer.budget == ReviewBudget(30, per="day")
    assert (layer.on_budget, layer.audit_favour) == ("provisional", 4.0)


def test_a_cost_matrix_prices_the_candidate_under_the_calibrated_probabilities() -> None:
    d = Decisions(
        prediction=np.array(["ok", "fraud"], dtype=object),
        proba=np.array([[0.8, 0.2], [0.3, 0.7]]),
        classes=np.array(["ok", "fraud"], dtype=object),
    )
    matrix = {"ok": {"fraud": 50.0}, "fraud": {"ok": 1.0}}
    values = cost_priority(matrix)(d, np.arange(2))
    assert values.tolist() == pytest.approx([0.2 * 50.0, 0.3 * 1.0])
    with pytest.raises(ConfigurationError, match="finite numbers >= 0"):
        cost_priority({"ok": -1.0})


# -- labels that measure the automated part ---------------------------------------------------


def _simulate(rng: np.random.Generator, n: int, rate: float, favour: float) -> tuple[Any, ...]:
    conf = rng.uniform(0.5, 1.0, size=n)
    correct = rng.random(n) < conf  # calibrated: right with probability = confidence
    chance = inclusion_probabilities(1.0 - conf, rate, favour)
    drawn = rng.random(n) < chance
    return correct, chance, drawn


def test_the_weighted_estimate_is_unbiased_and_the_naive_one_is_not() -> None:
    # 300 simulated audit samples that favour uncertain answers. Theory: the weighted
    # (Hajek) share has bias O(1/n), far below its standard error over the repetitions;
    # the naive share over reviewed cases is pulled toward the uncertain rows.
    rng = np.random.default_rng(19)
    reps, n = 300, 20_000
    weighted_err, naive_err, covered = [], [], 0
    for _ in range(reps):
        correct, chance, drawn = _simulate(rng, n, rate=0.02, favour=8.0)
        truth = float(correct.mean())
        est = weighted_accuracy(correct[drawn], 1.0 / chance[drawn])
        weighted_err.append(est.accuracy - truth)
        naive_err.append(est.naive - truth)
        covered += est.low <= truth <= est.high
    w = np.asarray(weighted_err)
    se = w.std(ddof=1) / math.sqrt(reps)
    assert abs(w.mean()) < 3 * se
    naive = np.asarray(naive_err)
    assert naive.mean() < -10 * se  # visibly biased: uncertain rows are the wrong ones
    # 95% intervals: coverage no lower than 0.95 minus 3 binomial standard errors
    assert covered / reps >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / reps)


def test_the_layer_stores_each_audit_cases_inclusion_probability_and_the_weights_are_used() -> None:
    rng = np.random.default_rng(5)
    model = _model()
    X = rng.normal(size=(6000, 1))
    q = MemoryQueue()
    g = (
        guard(model)
        .abstain(confidence_below(0.55))
        .review(q, audit_rate=0.05, audit_favour=6.0, seed=2)
    )
    d = g.decide(X)
    truth_y = (X[:, 0] + rng.normal(scale=1.0, size=len(X)) > 0).astype(int)
    audits = q.list(kind="audit", limit=100_000)
    assert audits
    conf = d.confidence
    for c in audits[:50]:
        row = c.context["row"]
        expected = float(inclusion_probabilities(np.array([1.0 - conf[row]]), 0.05, 6.0)[0])  # type: ignore[index]
        assert c.context["inclusion_probability"] == pytest.approx(expected)
        assert c.context["weight"] == pytest.approx(1.0 / expected)
    for c in q.claim("ana", n=100_000):
        q.resolve(c.id, int(truth_y[c.context["row"]]), reviewer="ana")
    data = labelled_data(q, kind="audit")
    assert np.allclose(data.weight, 1.0 / data.inclusion_probability)
    acc = realized_accuracy(q).answered
    answered = ~d.abstained
    truth = float((d.prediction[answered] == truth_y[answered]).mean())
    assert acc.low <= truth <= acc.high
    assert acc.naive < acc.accuracy  # the audit favoured the uncertain answers
    assert acc.error_rate == pytest.approx(1.0 - acc.accuracy)


def test_equal_weights_give_the_plain_share_and_wilsons_interval() -> None:
    correct = np.array([True] * 8 + [False] * 2)
    a = weighted_accuracy(correct)
    assert (a.n, a.correct, a.accuracy, a.naive) == (10, 8, 0.8, 0.8)
    assert a.n_effective == pytest.approx(10.0)
    assert (round(a.low, 3), round(a.high, 3)) == (0.49, 0.943)
    with pytest.raises(ConfigurationError, match="finite positive weights"):
        weighted_accuracy(correct, np.zeros(10))


def test_recalibrate_from_resamples_by_the_stored_weights() -> None:
    q = MemoryQueue()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    g = (
        guard(_model())
        .calibrate("temperature")
        .abstain(confidence_below(0.0))
        .review(q, audit_rate=0.5, audit_favour=1.0, seed=0)
        .fit(X, y)
    )
    g.decide(X)
    truth = {round(float(x), 12): int(t) for x, t in zip(X[:, 0], y)}
    for c in q.claim("ana", n=1000):
        q.resolve(c.id, truth[round(float(c.context["input"][0]), 12)], reviewer="ana")
    data = labelled_data(q)
    sub = data.resample(seed=0)
    assert 0 < len(sub) < len(data)  # weights differ, so some cases are left out
    keep = np.isin(data.ids, sub.ids)
    # each case is kept with probability weight / max weight (within binomial noise)
    expected = float((data.weight / data.weight.max()).sum())
    assert abs(keep.sum() - expected) < 4 * math.sqrt(expected)
    assert g.recalibrate_from(q).n_cases == len(sub)
    assert g.recalibrate_from(q, weighted=False).n_cases == len(data)
