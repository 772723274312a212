"""The review layer queues what the guard withholds, with its context, and labels flow back."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from guardrails import (
    REDACTED,
    ArtifactError,
    Call,
    ConfigurationError,
    Decisions,
    MemoryQueue,
    PostLayer,
    Reason,
    Redactor,
    Reviewed,
    SQLiteQueue,
    confidence_below,
    guard,
    labelled_data,
    load,
    realized_accuracy,
)
from guardrails.review.budget import cost_priority
from guardrails.review.cases import PENDING_REVIEW
from guardrails.review.labels import LabelledData
from guardrails.review.layer import pending_answers
from guardrails.review.queue import BaseQueue
from tests.review_support import FakeClock


def _resolve_all(q: BaseQueue, truth: Any) -> int:
    """Claim every pending case and resolve it with the true label of its row."""
    done = 0
    while True:
        cases = q.claim("oracle", n=500)
        if not cases:
            return done
        for c in cases:
            q.resolve(c.id, truth[c.context["row"]], reviewer="oracle")
            done += 1


class _Route(PostLayer):
    """Withholds rows listed by index with a given reason (a policy routing on purpose)."""

    name = "route"

    def __init__(self, inner: Any, rows: dict[int, Reason]) -> None:
        super().__init__(inner)
        self.rows = rows

    def post(self, d: Decisions, call: Call) -> Decisions:
        codes = np.zeros(len(d), dtype=np.int8)
        mask = np.zeros(len(d), dtype=bool)
        for i, reason in self.rows.items():
            mask[i], codes[i] = True, int(reason)
        return d.withhold(mask, codes, detail="routed")


def test_withheld_rows_are_queued_with_their_context(iris: dict[str, Any]) -> None:
    q = MemoryQueue()
    g = (
        guard(iris["model"], name="iris", version="2.1")
        .abstain(confidence_below(0.95))
        .review(q)
        .fit(iris["X_cal"], iris["y_cal"])
    )
    X = iris["X_test"]
    d = g.decide(X, request_id="req-7")
    assert d.abstained.any() and (~d.abstained).any()
    assert d.review_id is not None
    assert all((rid is not None) == withheld for rid, withheld in zip(d.review_id, d.abstained))
    assert len(q.list(limit=1000)) == int(d.abstained.sum())
    i = int(np.flatnonzero(d.abstained)[0])
    c = q.get(d.review_id[i])
    row = d[i]
    assert (c.kind, c.reason, c.status) == ("withheld", Reason.LOW_CONFIDENCE, "pending")
    assert c.context["input"] == X[i].tolist()
    assert c.context["candidate"] == row.candidate
    assert c.context["proba"] == pytest.approx(list(row.proba))
    assert c.context["classes"] == [0, 1, 2]
    assert c.context["confidence"] == pytest.approx(row.confidence)
    assert c.context["stages_tried"] == ["primary"]
    assert (c.context["guard"], c.context["version"]) == ("iris", "2.1")
    assert (c.context["request_id"], c.context["row"]) == ("req-7", i)
    assert c.priority == pytest.approx(1 - row.confidence)  # by uncertainty
    assert d[i].abstained and d[i].prediction is None  # the caller still gets a non-answer
    assert len(q.list(limit=1000)) == int(d.abstained.sum())  # and nothing else was queued


def test_rows_routed_to_review_or_drift_on_purpose_are_queued() -> None:
    q = MemoryQueue()
    model = LogisticRegression().fit(np.r_[np.zeros((5, 1)), np.ones((5, 1))], [0] * 5 + [1] * 5)
    layer = Reviewed(_Route(model, {0: Reason.REVIEW, 2: Reason.DRIFT}), queue=q)
    d = layer.decide(np.array([[0.0], [1.0], [1.0]]))
    assert [r is not None for r in d.review_id] == [True, False, True]  # type: ignore[union-attr]
    reasons = {c.reason for c in q.list()}
    assert reasons == {Reason.REVIEW, Reason.DRIFT}


def test_rows_without_a_model_answer_are_queued_with_top_priority() -> None:
    def down(X: Any) -> NDArray[np.float64]:
        raise RuntimeError("model server down")

    q = MemoryQueue()
    g = guard(down, output="proba", classes=["no", "yes"]).review(q, provisional=True)
    d = g.decide(np.zeros((3, 2)))
    assert list(d.reason) == [Reason.MODEL_ERROR] * 3  # nothing provisional to offer
    cases = q.list()
    assert len(cases) == 3
    assert all(c.context["candidate"] is None and c.priority == 1.0 for c in cases)
    assert not any(c.context["provisional"] for c in cases)


def test_provisional_answers_are_marked_pending_review(iris: dict[str, Any]) -> None:
    q = MemoryQueue()
    g = guard(iris["model"]).abstain(confidence_below(0.95)).review(q, provisional=True)
    plain = guard(iris["model"]).abstain(confidence_below(0.95))
    X = iris["X_test"]
    d, base = g.decide(X), plain.decide(X)
    pending = base.abstained
    assert np.array_equal(d.abstained, base.abstained)  # still not counted as answers
    assert set(d.reason[pending]) == {Reason.REVIEW}
    assert set(d.stage[pending]) == {PENDING_REVIEW}
    i = int(np.flatnonzero(pending)[0])
    assert d[i].candidate == base[i].candidate
    assert "low_confidence" in str(d[i].detail)
    assert np.array_equal(pending_answers(d), base.prediction)  # every row has a value
    assert np.array_equal(d.predictions(-1), base.predictions(-1))
    assert all(c.context["provisional"] for c in q.list(limit=1000))


@pytest.mark.parametrize("seed", range(5))
def test_the_audit_sample_is_a_random_share_of_answers_still_returned(seed: int) -> None:
    q = MemoryQueue()
    X = np.random.default_rng(seed).normal(size=(2000, 1))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    g = guard(model).review(q, audit_rate=0.25, seed=seed)  # nothing withheld
    d = g.decide(X)
    assert not d.abstained.any()
    audit = q.list(kind="audit", limit=10_000)
    # k ~ Binomial(2000, 0.25): mean 500, sd 19.4; 4 sd leaves < 1e-4 chance of a false alarm
    assert abs(len(audit) - 500) <= 4 * math.sqrt(2000 * 0.25 * 0.75)
    assert len(audit) == sum(r is not None for r in d.review_id)  # type: ignore[union-attr]
    assert all(c.reason is Reason.NONE and c.context["weight"] == 4.0 for c in audit)


def test_sensitive_fields_are_redacted_before_they_are_stored() -> None:
    q = MemoryQueue()

    def model(X: Any) -> NDArray[np.float64]:
        return np.tile([0.4, 0.6], (len(X), 1))

    red = Redactor(fields=["ssn"], patterns=["^1$"])
    g = guard(model, output="proba", classes=["no", "yes"]).abstain(confidence_below(0.9))
    g = g.review(q, redactor=red)
    g.decide([{"age": 41, "ssn": "123-45-6789", "nested": {"ssn": "x"}}])
    g.decide(pd.DataFrame({"age": [30], "ssn": ["987"]}))
    g.decide(np.array([[1.0, 2.0, 3.0]]))
    inputs = sorted((c.context["input"] for c in q.list()), key=str)
    assert {"age": 41, "ssn": REDACTED, "nested": {"ssn": REDACTED}} in inputs
    assert {"age": 30, "ssn": REDACTED} in inputs
    assert [1.0, REDACTED, 3.0] in inputs  # array columns are named by position
    assert "123-45-6789" not in str([c.to_dict() for c in q.list()])


def test_fitting_asks_no_one(iris: dict[str, Any]) -> None:
    q = MemoryQueue()
    guard(iris["model"]).abstain(confidence_below(0.99)).review(q).fit(iris["X_cal"], iris["y_cal"])
    assert q.stats().total == 0


def test_async_decisions_are_queued_too(iris: dict[str, Any]) -> None:
    q = MemoryQueue()
    g = guard(iris["model"]).abstain(confidence_below(0.95)).review(q)
    d = asyncio.run(g.adecide(iris["X_test"]))
    assert q.stats().total == int(d.abstained.sum()) > 0


def test_a_failing_queue_fails_the_call_rather_than_lose_the_case(iris: dict[str, Any]) -> None:
    class Broken(MemoryQueue):
        def _insert(self, rows: list[dict[str, Any]]) -> None:
            raise OSError("disk full")

    g = guard(iris["model"]).abstain(confidence_below(0.95)).review(Broken())
    with pytest.raises(OSError, match="disk full"):
        g.decide(iris["X_test"])


def test_priorities_by_uncertainty_cost_or_user(iris: dict[str, Any]) -> None:
    X = iris["X_test"]
    for priority, check in [
        ("fifo", lambda c: c.priority == 0.0),
        (2.5, lambda c: c.priority == 2.5),
        (
            cost_priority({2: 10.0}),
            lambda c: (
                c.priority
                == pytest.approx(
                    (10.0 if c.context["candidate"] == 2 else 1.0) * (1 - c.context["confidence"])
                )
            ),
        ),
    ]:
        q = MemoryQueue()
        guard(iris["model"]).abstain(confidence_below(0.95)).review(q, priority=priority).decide(X)
        assert q.list() and all(check(c) for c in q.list(limit=1000))
    q = MemoryQueue()
    bad = guard(iris["model"]).abstain(confidence_below(0.95))
    bad = bad.review(q, priority=lambda d, idx: np.zeros(1))
    with pytest.raises(ConfigurationError, match="priority function"):
        bad.decide(X)


def test_bad_settings_are_refused_when_the_step_is_added(iris: dict[str, Any]) -> None:
    g = guard(iris["model"])
    q = MemoryQueue()
    with pytest.raises(ConfigurationError, match="'queue' parameter of Reviewed"):
        g.review("sqlite:///x.db")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'audit_rate' parameter"):
        g.review(q, audit_rate=1.5)
    with pytest.raises(ConfigurationError, match="'priority' parameter"):
        g.review(q, priority="loudest")
    with pytest.raises(ConfigurationError, match="'deadline' parameter"):
        g.review(q, deadline=-3)
    with pytest.raises(ConfigurationError, match="'redactor' parameter"):
        g.review(q, redactor=["ssn"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="already called"):
        g.review(q).review(q)
    text = repr(g.review(q, audit_rate=0.1, provisional=True))
    assert "review(MemoryQueue(), audit_rate=0.1, provisional=True)" in text


def test_a_saved_guard_needs_its_queue_back(iris: dict[str, Any], tmp_path: Path) -> None:
    q = SQLiteQueue(tmp_path / "review.db")
    g = (
        guard(iris["model"], version="3")
        .abstain(confidence_below(0.95))
        .review(q, audit_rate=0.1, redactor=Redactor(fields=["0"]), deadline=60.0, seed=1)
        .fit(iris["X_cal"], iris["y_cal"])
    )
    path = g.save(tmp_path / "g.zip")
    with pytest.raises(ArtifactError, match="queue"):
        load(path, model=iris["model"])
    again = load(path, model=iris["model"], queue=q)
    layer = again.layer(Reviewed)
    assert isinstance(layer, Reviewed)
    assert (layer.audit_rate, layer.deadline, layer.version) == (0.1, 60.0, "3")
    assert layer.redactor == Redactor(fields=["0"])
    d1 = g.decide(iris["X_test"])
    d2 = again.decide(iris["X_test"])
    assert np.array_equal(d1.abstained, d2.abstained)
    q.close()


def test_labels_flow_back_as_arrays(iris: dict[str, Any]) -> None:
    q = MemoryQueue()
    g = guard(iris["model"]).abstain(confidence_below(0.95)).review(q, audit_rate=0.5, seed=0)
    X, y = iris["X_test"], iris["y_test"]
    d = g.decide(X)
    n = _resolve_all(q, y)
    data = labelled_data(q)
    assert len(data) == n == sum(r is not None for r in d.review_id)  # type: ignore[union-attr]
    rows = [q.get(str(i)).context["row"] for i in data.ids]
    assert np.allclose(data.X, X[rows])
    assert np.array_equal(data.y, y[rows])
    assert data.proba is not None and np.allclose(data.proba, d.proba[rows])  # type: ignore[index]
    assert np.array_equal(data.classes, [0, 1, 2])  # type: ignore[arg-type]
    assert np.array_equal(data.answered, ~d.abstained[rows])
    assert len(labelled_data(q, kind="audit")) == int(data.answered.sum())
    back = data.as_decisions()  # what a calibrator or policy learns from: (d, y)
    assert np.array_equal(back.abstained, d.abstained[rows])
    assert np.allclose(back.proba, d.proba[rows])  # type: ignore[arg-type,index]
    assert np.allclose(back.confidence, d.confidence[rows])  # type: ignore[arg-type,index]
    assert list(back.prediction) == list(d.prediction[rows])
    assert list(back.review_id) == list(data.ids)  # type: ignore[arg-type]
    assert len(labelled_data(q, since=math.inf)) == 0


def test_realized_accuracy_of_answers_is_unbiased_with_an_audit_sample() -> None:
    # Every withheld row is reviewed, so the withheld accuracy is exact. Answers are
    # audited at random (rate 0.2), so their accuracy is estimated; its 95% Wilson
    # interval must cover the true accuracy of all answers in about 95% of runs. Over 20
    # seeds, 15 or more covers happen with probability > 0.9997 (Binomial(20, 0.95)).
    X, y = make_classification(n_samples=5000, n_features=5, flip_y=0.1, random_state=0)
    model = LogisticRegression().fit(X[:3000], y[:3000])
    X_test, y_test = X[3000:], y[3000:]
    covered = 0
    for seed in range(20):
        q = MemoryQueue()
        g = guard(model).abstain(confidence_below(0.8)).review(q, audit_rate=0.2, seed=seed)
        d = g.decide(X_test)
        _resolve_all(q, y_test)
        result = realized_accuracy(q)
        right = d.prediction == y_test
        truth_answered = float(right[~d.abstained].mean())
        assert result.withheld.accuracy == pytest.approx(float(right[d.abstained].mean()))
        assert result.withheld.n == int(d.abstained.sum())
        covered += result.answered.low <= truth_answered <= result.answered.high
        assert 0.0 < result.model < 1.0
    assert covered >= 15


def test_realized_accuracy_over_time_windows() -> None:
    clock = FakeClock(start=3600.0 * 100)
    q = MemoryQueue(clock=clock)
    model = LogisticRegression().fit(np.r_[np.zeros((5, 1)), np.ones((5, 1))], [0] * 5 + [1] * 5)
    g = guard(model).abstain(confidence_below(0.99)).review(q)
    g.decide(np.array([[0.5], [0.5]]))
    clock.advance(3600)
    g.decide(np.array([[0.5]]))
    _resolve_all(q, {0: 0, 1: 1})
    result = realized_accuracy(q, window=3600)
    assert [start for start, _, _ in result.windows] == [3600.0 * 100, 3600.0 * 101]
    assert [w.n for _, _, w in result.windows] == [2, 1]
    assert math.isnan(result.answered.accuracy) and math.isnan(result.model)  # no audit
    assert isinstance(labelled_data(q), LabelledData)
    with pytest.raises(ConfigurationError, match="'window' parameter"):
        realized_accuracy(q, window=0)


def test_regression_cases_give_arrays_but_no_accuracy() -> None:
    q = MemoryQueue()

    def model(X: Any) -> NDArray[np.float64]:
        return np.asarray(X, dtype=float)[:, 0] * 2

    class All(PostLayer):
        def post(self, d: Decisions, call: Call) -> Decisions:
            return d.withhold(np.ones(len(d), dtype=bool), Reason.REVIEW)

    layer = Reviewed(All(guard(model, output="values")), queue=q)
    layer.decide(np.array([[1.0], [2.0]]))
    _resolve_all(q, {0: 2.5, 1: 3.5})
    data = labelled_data(q)
    assert sorted(data.y.tolist()) == [2.5, 3.5]
    assert data.proba is None and data.classes is None
    with pytest.raises(ConfigurationError, match="regression"):
        realized_accuracy(q)


@pytest.mark.parametrize(
    "module",
    ["review.memory", "review.sqlite", "review.layer", "review.labels", "review.budget"],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"guardrails.{module}"))
    assert result.attempted > 0 and result.failed == 0


class _Row(pydantic.BaseModel):
    a: float = pydantic.Field(ge=0)
    b: float = pydantic.Field(ge=0)


def _checked_guard() -> Any:
    """A guard on 2 features whose schema refuses negative values; low confidence abstains."""
    X = np.r_[np.zeros((20, 2)), np.ones((20, 2))]
    y = np.r_[np.zeros(20), np.ones(20)]
    model = LogisticRegression().fit(X, y)
    return guard(model).validate(_Row).abstain(confidence_below(0.9))


def _invalid_guard(q: BaseQueue, **review: Any) -> Any:
    return _checked_guard().review(q, **review)


def test_invalid_input_rows_are_queued_as_data_quality_cases_below_model_cases() -> None:
    q = MemoryQueue()
    g = _invalid_guard(q)
    d = g.decide(np.array([[-1.0, 0.0], [0.5, 0.5], [-5.0, 1.0]]))
    assert list(d.reason) == [Reason.INVALID_INPUT, Reason.LOW_CONFIDENCE, Reason.INVALID_INPUT]
    assert all(r is not None for r in d.review_id)  # type: ignore[union-attr]
    cases = q.list()
    assert [c.kind for c in cases] == ["withheld", "data_quality", "data_quality"]
    assert cases[0].reason is Reason.LOW_CONFIDENCE
    assert cases[1].priority == 1.0 > cases[0].priority  # ranked below all the same
    assert q.claim("ana")[0].id == d.review_id[1]  # type: ignore[index]


def test_the_data_quality_cap_keeps_garbage_out_and_counts_what_it_kept_out() -> None:
    import structlog

    from guardrails.observability.telemetry import Metrics

    clock = FakeClock(start=7200.0)
    q = MemoryQueue()
    metrics = Metrics()
    logger = structlog.get_logger("test-cap")
    from guardrails import Logged

    reviewed = Reviewed(
        _checked_guard(),
        queue=q,
        data_quality_cap=3,
        data_quality_window=60.0,
        logger=logger,
        clock=clock,
    )
    g = Logged(reviewed, metrics=metrics, logger=logger)
    garbage = np.full((5, 2), -1.0)
    with structlog.testing.capture_logs() as events:
        d = g.decide(np.r_[garbage, [[0.5, 0.5]]], request_id="flood")
    assert d.abstained.all()  # still withheld: the cap changes the queue, not the answer
    queued = [r is not None for r in d.review_id]  # type: ignore[union-attr]
    assert queued == [True, True, True, False, False, True]  # the model case is never capped
    assert len(q.list(kind="data_quality")) == 3 and len(q.list(kind="withheld")) == 1
    layer = reviewed
    assert layer.not_queued == 2
    [warning] = [e for e in events if e["event"] == "review_not_queued"]
    assert warning["not_queued"] == 2 and warning["data_quality_cap"] == 3
    assert warning["request_id"] == "flood" and warning["log_level"] == "warning"
    snap = metrics.snapshot().guard("guard")
    assert (snap.review_not_queued, snap.review_data_quality_cap) == (2, 3)
    g.decide(garbage[:1])  # the window is full: kept out again
    assert layer.not_queued == 3
    clock.advance(60.0)  # a new window opens
    assert g.decide(garbage[:2]).review_id[0] is not None  # type: ignore[index]
    assert metrics.snapshot().guard("guard").review_not_queued == 3


def test_a_data_quality_cap_of_zero_queues_no_invalid_row_and_none_lifts_the_cap() -> None:
    q = MemoryQueue()
    d = _invalid_guard(q, data_quality_cap=0).decide(np.full((4, 2), -1.0))
    assert d.review_id is None and d.abstained.all()
    assert q.list() == []
    unlimited = MemoryQueue()
    _invalid_guard(unlimited, data_quality_cap=None).decide(np.full((250, 2), -1.0))
    assert len(unlimited.list(limit=1000)) == 250


def test_data_quality_settings_are_checked_and_saved(tmp_path: Path) -> None:
    q = MemoryQueue()
    with pytest.raises(ConfigurationError, match="'data_quality_cap' parameter of Reviewed"):
        _invalid_guard(q, data_quality_cap=-1)
    with pytest.raises(ConfigurationError, match="'data_quality_window' parameter"):
        _invalid_guard(q, data_quality_window=0)
    g = _invalid_guard(q, data_quality_cap=7, data_quality_window=30.0)
    assert "data_quality_cap=7, data_quality_window=30.0" in repr(g)
    fitted = g.fit(np.ones((10, 2)), np.r_[np.zeros(5), np.ones(5)])
    path = fitted.save(tmp_path / "g.zip")
    layer = load(path, model=g.model, queue=q, schema=_Row).layer(Reviewed)
    assert (layer.data_quality_cap, layer.data_quality_window) == (7, 30.0)


def test_labelled_data_reason_holds_reason_values_not_codes() -> None:
    q = MemoryQueue()
    g = _invalid_guard(q)
    g.decide(np.array([[-1.0, 0.0], [0.5, 0.5]]))
    for c in q.claim("ana", n=2):
        q.resolve(c.id, 1.0, reviewer="ana")
    data = labelled_data(q)
    assert list(data.reason) == [Reason.LOW_CONFIDENCE, Reason.INVALID_INPUT]
    assert all(type(r) is Reason for r in data.reason)
    assert data.as_decisions().reason.tolist() == [
        int(Reason.LOW_CONFIDENCE),
        int(Reason.INVALID_INPUT),
    ]
    assert len(labelled_data(q, kind="data_quality")) == 1
