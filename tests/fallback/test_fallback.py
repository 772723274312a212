"""Fallback chains: every request gets a decision that says who made it and why."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from guardrails import (
    Abstaining,
    ArtifactError,
    Call,
    CircuitBreaker,
    ConfigurationError,
    Decisions,
    Default,
    DriftNote,
    FallbackExhaustedError,
    Layer,
    ModelAdapter,
    ModelStage,
    NotFittedError,
    PostLayer,
    Reason,
    Retry,
    Rule,
    SendToReview,
    ValidationNote,
    WithFallback,
    confidence_below,
    guard,
    load,
    on_abstain,
    on_circuit_open,
    on_error,
    on_invalid_input,
    on_timeout,
    on_withheld,
)
from guardrails.fallback.chain import as_stage

pytestmark = pytest.mark.timeout(120)


class Recorder:
    """A labels model that remembers every batch it was given."""

    def __init__(self, answer: Any = "backup") -> None:
        self.batches: list[Any] = []
        self.answer = answer
        self.lock = threading.Lock()

    def __call__(self, X: Any) -> NDArray[Any]:
        with self.lock:
            self.batches.append(X)
        return np.full(len(X), self.answer, dtype=object)


def labels(fn: Any) -> ModelAdapter:
    return ModelAdapter(fn, output="labels")


def primary_by_row(X: NDArray[Any]) -> NDArray[Any]:
    """Answers 'p' for rows with x0 >= 0; the adapter abstains on nothing by itself."""
    return np.where(X[:, 0] >= 0, "p", "q")


class WithholdNegative(PostLayer):
    """A test layer that withholds rows with x0 < 0 for low confidence."""

    name = "test_withhold"

    def post(self, d: Decisions, call: Call) -> Decisions:
        X = call.raw
        return d.withhold(np.asarray(X)[:, 0] < 0, Reason.LOW_CONFIDENCE, detail="unsure")


# -- batch semantics ---------------------------------------------------------------------


def test_only_withheld_rows_reach_the_fallback_and_row_order_is_kept() -> None:
    backup = Recorder()
    chain = WithFallback(
        WithholdNegative(labels(primary_by_row)),
        [ModelStage(labels(backup).model, name="backup", output="labels", when=on_abstain())],
    )
    X = np.array([[1.0], [-1.0], [2.0], [-2.0], [-3.0], [4.0]])
    d = chain.decide(X)
    assert len(backup.batches) == 1
    np.testing.assert_array_equal(backup.batches[0], X[[1, 3, 4]])
    assert d.prediction.tolist() == ["p", "backup", "p", "backup", "backup", "p"]
    assert d.stage.tolist() == ["primary", "backup", "primary", "backup", "backup", "primary"]
    assert not d.abstained.any()
    assert d[1].stages_tried == ("primary", "backup") and d[0].stages_tried == ("primary",)
    assert d[1].detail == "after primary: low_confidence"
    assert d[0].detail is None
    assert d[1].overridden is Reason.LOW_CONFIDENCE and d[1].overridden_detail == "unsure"
    assert d[0].overridden is None


def test_a_batch_the_primary_answers_never_calls_a_stage() -> None:
    backup = Recorder()
    g = guard(primary_by_row, output="labels").fallback(
        ModelStage(backup, name="backup", output="labels")
    )
    d = g.decide(np.ones((5, 1)))
    assert backup.batches == [] and d.stage_counts() == {"primary": 5}
    assert d.tried is None  # nothing was tried beyond the primary: stages_tried says so
    assert d[0].stages_tried == ("primary",)


def test_a_guard_with_its_own_policy_is_a_stage(iris: dict[str, Any]) -> None:
    backup = LogisticRegression(C=0.05, max_iter=1000).fit(iris["X_train"], iris["y_train"])
    inner = guard(backup).abstain(confidence_below(0.5))
    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.95))
        .fallback(
            ModelStage(inner, name="cautious", when=on_abstain()), Default(-1, when=on_abstain())
        )
    )
    d = g.decide(iris["X_test"])
    primary = guard(iris["model"]).abstain(confidence_below(0.95)).decide(iris["X_test"])
    second = inner.decide(iris["X_test"])
    went = primary.abstained
    np.testing.assert_array_equal(d.stage[~went], "primary")
    # rows the cautious guard answered carry its answers; the rest got the default
    took = went & second.answered
    np.testing.assert_array_equal(d.prediction[took], second.prediction[took])
    assert set(d.stage[took]) <= {"cautious"} and set(d.stage[went & ~took]) <= {"default"}
    assert (d.prediction[went & ~took] == -1).all()
    assert not d.abstained.any()


def test_rules_get_raw_rows_and_may_decline_some() -> None:
    seen: list[Any] = []

    def rule(rows: list[dict[str, Any]]) -> list[Any]:
        seen.append(rows)
        return [r["age"] > 60 if "age" in r else None for r in rows]

    records = [{"age": 70}, {"name": "x"}, {"age": 20}]

    def model(batch: list[dict[str, Any]]) -> list[Any]:
        raise ConnectionError("down")

    g = guard(model, output="labels").fallback(Rule(rule, name="age_rule"), Default(False))
    d = g.decide(records)
    assert seen == [records]
    assert d.prediction.tolist() == [True, False, False]
    assert d.stage.tolist() == ["age_rule", "default", "age_rule"]
    assert d[1].stages_tried == ("primary", "age_rule", "default")
    assert d[1].detail == "after primary: model_error; age_rule: declined"
    assert d[1].reason is Reason.NONE


def test_a_rule_that_breaks_its_contract_is_a_model_error_not_a_crash() -> None:
    for bad in (lambda rows: [1], lambda rows: "yes", lambda rows: 1 / 0):
        g = guard(lambda X: 1 / 0, output="labels").fallback(Rule(bad, name="bad"))
        d = g.decide(np.zeros((2, 1)))
        assert d.abstained.all() and set(d.reasons()) == {Reason.MODEL_ERROR}
        assert d.stage.tolist() == ["bad", "bad"] and d[0].detail


# -- triggers ------------------------------------------------------------------------------


def _withheld(reasons: list[Reason], details: list[str | None] | None = None) -> Decisions:
    n = len(reasons)
    d = Decisions(prediction=np.zeros(n))
    codes = np.array([int(r) for r in reasons], dtype=np.int8)
    detail = None
    if details is not None:
        detail = np.empty(n, dtype=object)
        detail[:] = details
    return d.withhold(codes != 0, codes, detail=detail)


ALL = [
    Reason.NONE,
    Reason.LOW_CONFIDENCE,
    Reason.AMBIGUOUS,
    Reason.INVALID_INPUT,
    Reason.MODEL_ERROR,
    Reason.TIMEOUT,
    Reason.CIRCUIT_OPEN,
    Reason.DRIFT,
    Reason.REVIEW,
]


@pytest.mark.parametrize(
    ("trigger", "takes"),
    [
        (on_abstain(), {Reason.LOW_CONFIDENCE, Reason.AMBIGUOUS, Reason.DRIFT}),
        (on_abstain(reasons=[Reason.AMBIGUOUS]), {Reason.AMBIGUOUS}),
        (on_invalid_input(), {Reason.INVALID_INPUT}),
        (on_error(), {Reason.MODEL_ERROR}),
        (on_timeout(), {Reason.TIMEOUT}),
        (on_circuit_open(), {Reason.CIRCUIT_OPEN}),
        (on_timeout() | on_circuit_open(), {Reason.TIMEOUT, Reason.CIRCUIT_OPEN}),
        (on_withheld(), set(ALL) - {Reason.NONE, Reason.REVIEW}),
    ],
    ids=repr,
)
def test_each_trigger_takes_only_its_reasons(trigger: Any, takes: set[Reason]) -> None:
    d = _withheld(ALL)
    mask = trigger.select(d, Call(raw=None, n=len(ALL)))
    assert {r for r, m in zip(ALL, mask) if m} == takes


def test_on_error_with_types_matches_subclasses_by_the_recorded_error() -> None:
    class FlakyServer(ConnectionResetError):
        pass

    d = _withheld(
        [Reason.MODEL_ERROR] * 4,
        ["ConnectionError: refused", "FlakyServer: reset", "ValueError: bad", None],
    )
    mask = on_error(exc_types=[ConnectionError]).select(d, Call(raw=None, n=4))
    assert mask.tolist() == [True, True, False, False]


def test_on_error_with_types_routes_the_primary_s_exception() -> None:
    def down(X: Any) -> Any:
        raise ConnectionRefusedError("no route")

    def wrong(X: Any) -> Any:
        raise ValueError("bad input")

    stages = [Default("retry-later", when=on_error(exc_types=[ConnectionError]))]
    assert guard(down, output="labels").fallback(*stages).decide([[1]])[0].prediction == (
        "retry-later"
    )
    d = guard(wrong, output="labels").fallback(*stages).decide([[1]])
    assert d[0].reason is Reason.MODEL_ERROR and d[0].stages_tried == ("primary",)


def test_invalid_input_goes_to_the_fallback_only_under_policy_fallback() -> None:
    class Validating(PostLayer):
        """Marks rows with x0 < 0 invalid, under a given policy, like issue 3's layer."""

        name = "test_validate"

        def __init__(self, inner: Any, policy: str) -> None:
            super().__init__(inner)
            self.policy = policy

        def decide_call(self, X: Any, call: Call) -> Decisions:
            invalid = np.asarray(X)[:, 0] < 0
            call.validation = ValidationNote(self.policy, invalid)
            call.valid = ~invalid
            call.model_input = np.where(invalid[:, None], 0.0, X)
            d = self.inner.decide_call(X, call)
            return d.withhold(invalid, Reason.INVALID_INPUT, detail="x0: must be >= 0")

    X = np.array([[1.0], [-1.0]])
    for policy, expected in (("fallback", "partial"), ("abstain", None)):
        rule = Rule(
            lambda rows: ["partial"] * len(rows), name="partial_data", when=on_invalid_input()
        )
        chain = WithFallback(Validating(labels(primary_by_row), policy), [rule])
        d = chain.decide(X)
        assert d[0].prediction == "p"
        assert d[1].prediction == expected
        if expected is None:
            assert d[1].reason is Reason.INVALID_INPUT


def test_invalid_rows_never_reach_a_bare_model_stage_but_reach_rules() -> None:
    backup = Recorder()

    class Validating(PostLayer):
        name = "test_validate"

        def decide_call(self, X: Any, call: Call) -> Decisions:
            invalid = np.asarray(X)[:, 0] < 0
            call.validation = ValidationNote("fallback", invalid)
            call.valid = ~invalid
            call.model_input = np.asarray(X) * 10
            d = self.inner.decide_call(X, call)
            d = d.withhold(np.asarray(X)[:, 1] > 0, Reason.LOW_CONFIDENCE)
            return d.withhold(invalid, Reason.INVALID_INPUT)

    X = np.array([[1.0, 1.0], [-1.0, 0.0], [2.0, 0.0]])
    chain = WithFallback(
        Validating(labels(primary_by_row)),
        [
            ModelStage(backup, name="backup", output="labels", when=on_withheld()),
            Default("d", when=on_withheld()),
        ],
    )
    d = chain.decide(X)
    np.testing.assert_array_equal(backup.batches[0], X[[0]] * 10)  # model-ready rows
    assert d.stage.tolist() == ["backup", "default", "primary"]
    assert d[1].stages_tried == ("primary", "default")


def test_rows_sent_to_review_on_purpose_are_left_alone() -> None:
    class Route(PostLayer):
        name = "test_route"

        def post(self, d: Decisions, call: Call) -> Decisions:
            d = d.withhold(np.array([True, False, False]), Reason.REVIEW)
            return d.withhold(np.array([False, True, False]), Reason.LOW_CONFIDENCE)

    chain = WithFallback(
        Route(labels(primary_by_row)),
        [SendToReview(when=on_abstain()), Default(0, when=on_withheld())],
    )
    d = chain.decide(np.zeros((3, 1)))
    assert d[0].reason is Reason.REVIEW and d[0].stages_tried == ("primary",)
    assert d[1].reason is Reason.REVIEW and d[1].stage == "review"
    assert d[1].detail == "sent to review after primary: low_confidence"
    assert d[1].stages_tried == ("primary", "review")
    assert d[2].answered and d[2].stage == "primary"


def test_triggers_print_and_compare() -> None:
    t = on_error(exc_types=[ConnectionError]) | on_timeout() | on_abstain([Reason.DRIFT])
    assert repr(t) == (
        "on_error(exc_types=[ConnectionError]) | on_timeout() | on_abstain(reasons=[Reason.DRIFT])"
    )
    assert t == on_error(exc_types=[ConnectionError]) | on_timeout() | on_abstain([Reason.DRIFT])
    assert on_timeout() != on_error()


# -- exhaustion -----------------------------------------------------------------------------


def test_an_exhausted_chain_keeps_the_last_reason_and_lists_the_stages() -> None:
    def down(X: Any) -> Any:
        raise TimeoutError("upstream")

    chain = WithFallback(
        labels(down),
        [ModelStage(down, name="backup", output="labels"), Rule(lambda r: [None] * len(r))],
    )
    d = chain.decide(np.zeros((2, 1)))
    assert d.abstained.all()
    assert d[0].reason is Reason.MODEL_ERROR
    assert d[0].stages_tried == ("primary", "backup", "rule")
    assert d[0].stage == "rule" and d[0].detail == "rule 'rule' declined"


def test_on_exhausted_raise_names_the_rows() -> None:
    chain = WithFallback(
        WithholdNegative(labels(primary_by_row)),
        [Rule(lambda rows: [None] * len(rows), name="nope")],
        on_exhausted="raise",
    )
    with pytest.raises(FallbackExhaustedError, match="2 row") as info:
        chain.decide(np.array([[-1.0], [1.0], [-2.0]]))
    assert info.value.rows == [0, 2]
    assert chain.decide(np.array([[1.0]])).prediction.tolist() == ["p"]


def test_rows_sent_to_review_are_not_exhausted() -> None:
    chain = WithFallback(
        WithholdNegative(labels(primary_by_row)),
        [SendToReview(when=on_abstain())],
        on_exhausted="raise",
    )
    d = chain.decide(np.array([[-1.0]]))
    assert d[0].reason is Reason.REVIEW


# -- timeouts and deadlines -----------------------------------------------------------------


def sleeper(seconds: float, answer: str = "slow") -> Any:
    def model(X: Any) -> NDArray[Any]:
        time.sleep(seconds)
        return np.full(len(X), answer, dtype=object)

    return model


def test_a_primary_past_its_timeout_times_out_and_the_rows_go_on() -> None:
    g = guard(sleeper(3.0), output="labels").fallback(Default("fast"), primary_timeout=0.02)
    t0 = time.monotonic()
    d = g.decide(np.zeros((3, 1)))
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5  # the caller was not blocked by the 3 s call
    assert d.prediction.tolist() == ["fast"] * 3
    assert d[0].detail == "after primary: timeout"


def test_the_request_deadline_is_shared_by_the_stages() -> None:
    stage_calls: list[float | None] = []

    def slow_rule(rows: Any) -> list[str]:
        stage_calls.append(None)
        time.sleep(3.0)
        return ["late"] * len(rows)

    g = guard(sleeper(3.0), output="labels").fallback(
        Rule(slow_rule, name="slow_rule", timeout=5.0), Default("fast")
    )
    t0 = time.monotonic()
    d = g.decide(np.zeros((2, 1)), timeout=0.05)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5
    assert d.prediction.tolist() == ["fast", "fast"]
    assert d[0].stages_tried in (("primary", "slow_rule", "default"), ("primary", "default"))
    assert "primary: timeout" in d[0].detail


def test_a_stage_timeout_moves_rows_to_the_next_stage() -> None:
    g = guard(lambda X: 1 / 0, output="labels").fallback(
        ModelStage(sleeper(3.0), name="backup", output="labels", timeout=0.02), Default("d")
    )
    d = g.decide(np.zeros((1, 1)))
    assert d[0].prediction == "d"
    assert d[0].detail == "after primary: model_error; backup: timeout"


def test_an_abandoned_call_finishes_in_the_background_and_its_result_is_discarded() -> None:
    finished = threading.Event()

    def slow(X: Any) -> NDArray[Any]:
        time.sleep(0.1)
        finished.set()
        return np.full(len(X), "late", dtype=object)

    chain = WithFallback(labels(slow), [Default("d")], primary_timeout=0.01)
    d = chain.decide(np.zeros((1, 1)))
    assert d[0].prediction == "d" and not finished.is_set()
    assert finished.wait(10.0)  # it ran to completion in its worker thread
    assert d[0].prediction == "d"  # and nothing changed the decision already returned


def test_when_every_worker_is_hung_calls_wait_only_until_their_deadline() -> None:
    release = threading.Event()

    def hung(X: Any) -> NDArray[Any]:
        release.wait(10.0)
        return np.full(len(X), "late", dtype=object)

    chain = WithFallback(
        labels(hung), [Default("d", when=on_error())], primary_timeout=0.02, max_workers=1
    )
    try:
        first = chain.decide(np.zeros((1, 1)))  # abandons the only worker
        t0 = time.monotonic()
        second = chain.decide(np.zeros((1, 1)))
        # a call that waited for the hung worker would take 10 s; scheduling on a loaded
        # machine takes far less than the margin
        assert time.monotonic() - t0 < 2.0
        assert first[0].reason is second[0].reason is Reason.TIMEOUT
        assert first[0].detail == "timed out after 0.02 s"
        assert second[0].detail.startswith("no free worker thread before the deadline")
    finally:
        release.set()


def test_the_primary_s_notes_survive_when_it_runs_under_a_timeout() -> None:
    class Noting(PostLayer):
        name = "test_notes"

        def decide_call(self, X: Any, call: Call) -> Decisions:
            call.drift = DriftNote("ok", {"x0": {"psi": 0.01}})
            call.validation = ValidationNote("abstain", np.zeros(call.n, dtype=bool))
            return self.inner.decide_call(X, call)

    class Reader(Layer):
        """Outer layer that reads what the inner layers noted."""

        def __init__(self, inner: Layer) -> None:
            self.inner = inner
            self.seen: Call | None = None

        def decide_call(self, X: Any, call: Call) -> Decisions:
            assert self.inner is not None
            d = self.inner.decide_call(X, call)
            self.seen = call
            return d

    outer = Reader(
        WithFallback(Noting(labels(primary_by_row)), [Default("d")], primary_timeout=1.0)
    )
    outer.decide(np.ones((1, 1)))
    assert outer.seen is not None
    assert outer.seen.drift == DriftNote("ok", {"x0": {"psi": 0.01}})
    assert outer.seen.validation is not None and outer.seen.validation.policy == "abstain"


# -- circuit breakers -----------------------------------------------------------------------


def test_an_open_breaker_sends_rows_on_without_calling_the_stage() -> None:
    now = [0.0]
    backup = Recorder()

    def failing_backup(X: Any) -> Any:
        backup(X)
        raise ConnectionError("backup down")

    breaker = CircuitBreaker(name="backup", failure_threshold=2, cool_down=10, clock=lambda: now[0])
    chain = WithFallback(
        labels(lambda X: 1 / 0),
        [
            ModelStage(failing_backup, name="backup", output="labels", breaker=breaker),
            Default("d"),
        ],
    )
    for _ in range(2):
        chain.decide(np.zeros((1, 1)))
    assert len(backup.batches) == 2
    d = chain.decide(np.zeros((3, 1)))
    assert len(backup.batches) == 2  # open: not called
    assert d.prediction.tolist() == ["d"] * 3
    assert d[0].detail == "after primary: model_error; backup: circuit_open"
    now[0] = 10.0
    chain.decide(np.zeros((1, 1)))
    assert len(backup.batches) == 3  # the half-open probe


def test_a_primary_breaker_fails_fast_with_circuit_open() -> None:
    now = [0.0]
    calls = Recorder()

    def down(X: Any) -> Any:
        calls(X)
        raise ConnectionError("down")

    chain = WithFallback(
        labels(down),
        [Default("d", when=on_circuit_open()), SendToReview()],
        primary_breaker=CircuitBreaker(failure_threshold=1, cool_down=5, clock=lambda: now[0]),
    )
    first = chain.decide(np.zeros((1, 1)))
    assert first[0].reason is Reason.REVIEW  # model_error is not circuit_open
    second = chain.decide(np.zeros((1, 1)))
    assert len(calls.batches) == 1
    assert second[0].prediction == "d" and second[0].detail == "after primary: circuit_open"


def test_an_abstention_is_not_a_failure_of_the_primary() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    chain = WithFallback(
        WithholdNegative(labels(primary_by_row)), [Default("d")], primary_breaker=breaker
    )
    for _ in range(3):
        chain.decide(np.array([[-1.0]]))
    assert breaker.stats()["failures"] == 0 and breaker.stats()["successes"] == 3


# -- retries --------------------------------------------------------------------------------


class Flaky:
    """Raises on the first ``failures`` calls, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, X: Any) -> NDArray[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionResetError("blip")
        return np.full(len(X), "ok", dtype=object)


def test_a_stage_declared_safe_is_retried_with_backoff() -> None:
    flaky = Flaky(2)
    g = guard(lambda X: 1 / 0, output="labels").fallback(
        ModelStage(
            flaky, name="backup", output="labels", retry=Retry(retries=2, backoff=0.001, seed=0)
        ),
        Default("d"),
    )
    d = g.decide(np.zeros((2, 1)))
    assert flaky.calls == 3 and d.prediction.tolist() == ["ok", "ok"]


def test_a_stage_without_retry_is_called_once() -> None:
    flaky = Flaky(1)
    g = guard(lambda X: 1 / 0, output="labels").fallback(
        ModelStage(flaky, name="backup", output="labels"), Default("d")
    )
    assert g.decide(np.zeros((1, 1)))[0].prediction == "d" and flaky.calls == 1


def test_retries_stop_at_the_deadline() -> None:
    flaky = Flaky(100)
    g = guard(lambda X: 1 / 0, output="labels").fallback(
        Rule(flaky, name="flaky", retry=Retry(retries=50, backoff=0.02, jitter=0.0)),
        Default("d"),
    )
    t0 = time.monotonic()
    d = g.decide(np.zeros((1, 1)), timeout=0.1)
    assert time.monotonic() - t0 < 1.5
    assert d[0].prediction == "d" and 2 <= flaky.calls <= 4  # waits 20, 40 ms: then no time


def test_retry_delays_grow_and_stay_within_jitter_bounds() -> None:
    r = Retry(retries=5, backoff=0.01, max_backoff=0.05, jitter=0.5, seed=3)
    for attempt, base in enumerate([0.01, 0.02, 0.04, 0.05, 0.05]):
        for _ in range(20):
            assert base * 0.5 <= r.delay(attempt) <= base


# -- async ----------------------------------------------------------------------------------


def test_adecide_awaits_async_rules_natively_and_runs_sync_stages_in_threads() -> None:
    threads: dict[str, str] = {}

    async def async_rule(rows: Any) -> list[Any]:
        threads["async_rule"] = threading.current_thread().name
        await asyncio.sleep(0)
        return [None, "a"]

    def sync_model(X: Any) -> NDArray[Any]:
        threads["sync_model"] = threading.current_thread().name
        return np.full(len(X), "s", dtype=object)

    g = guard(lambda X: 1 / 0, output="labels").fallback(
        Rule(async_rule, name="async_rule"),
        ModelStage(sync_model, name="sync_model", output="labels"),
    )

    async def main() -> Decisions:
        threads["loop"] = threading.current_thread().name
        return await g.adecide(np.zeros((2, 1)))

    d = asyncio.run(main())
    assert d.prediction.tolist() == ["s", "a"]
    assert threads["async_rule"] == threads["loop"]
    assert threads["sync_model"] != threads["loop"]
    assert g.decide(np.zeros((2, 1))).prediction.tolist() == ["s", "a"]  # sync runs it too


def test_sync_decide_inside_an_event_loop_still_runs_async_rules() -> None:
    async def rule(rows: Any) -> list[str]:
        await asyncio.sleep(0)
        return ["r"] * len(rows)

    g = guard(lambda X: 1 / 0, output="labels").fallback(Rule(rule, name="async_rule"))

    async def handler() -> Decisions:
        return g.decide(np.zeros((2, 1)))  # a sync call from async code: blocks, but works

    assert asyncio.run(handler()).prediction.tolist() == ["r", "r"]


def test_async_timeouts_cancel_the_coroutine() -> None:
    cancelled = []

    async def slow_rule(rows: Any) -> list[Any]:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return ["late"] * len(rows)

    g = guard(lambda X: 1 / 0, output="labels").fallback(
        Rule(slow_rule, name="slow", timeout=0.02), Default("d")
    )
    d = asyncio.run(g.adecide(np.zeros((1, 1))))
    assert cancelled == [True]
    assert d[0].prediction == "d" and d[0].detail == "after primary: model_error; slow: timeout"


def test_async_primary_timeout_and_deadline() -> None:
    g = guard(sleeper(3.0), output="labels").fallback(
        ModelStage(sleeper(3.0, "b"), name="backup", output="labels"), Default("d")
    )

    async def main() -> tuple[Decisions, float]:
        t0 = time.monotonic()
        d = await g.adecide(np.zeros((1, 1)), timeout=0.03)
        return d, time.monotonic() - t0

    d, elapsed = asyncio.run(main())
    assert elapsed < 1.5 and d[0].prediction == "d"
    assert d[0].detail.startswith("after primary: timeout")


def test_async_matches_sync_on_the_same_chain(iris: dict[str, Any]) -> None:
    backup = LogisticRegression(C=0.05, max_iter=1000).fit(iris["X_train"], iris["y_train"])
    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.9))
        .fallback(
            ModelStage(guard(backup).abstain(confidence_below(0.6)), name="guarded_backup"),
            ModelStage(backup, name="bare_backup", when=on_abstain()),
        )
    )
    assert asyncio.run(g.adecide(iris["X_test"])) == g.decide(iris["X_test"])


# -- the reliability bar ------------------------------------------------------------------


class Unreliable:
    """Raises on a share of calls and sleeps far past the deadline on another share."""

    def __init__(
        self, seed: int, *, answer: int, raises: float, sleeps: float = 0.0, sleep: float = 0.0
    ) -> None:
        self.rng = random.Random(seed)
        self.answer, self.raises, self.sleeps, self.sleep = answer, raises, sleeps, sleep
        self.lock = threading.Lock()

    def __call__(self, X: Any) -> NDArray[Any]:
        with self.lock:
            u = self.rng.random()
        if u < self.raises:
            raise ConnectionError("model failed")
        if u < self.raises + self.sleeps:
            time.sleep(self.sleep)
        return np.full(len(X), self.answer, dtype=np.int64)


# How long a hanging primary call sleeps. The timing check below asks only that no caller
# waited for a hang (which would take all of HANG), not how close to its deadline it got:
# that depends on how loaded the shared machine is, so it is not asserted.
HANG = 3.0


def _unreliable_guard(seed: int, primary_timeout: float) -> Any:
    """Primary: raises 30%, hangs for HANG seconds (far past any deadline here) 5%.
    Backup: raises 10%, with a breaker. Default: always answers."""
    primary = Unreliable(seed, answer=0, raises=0.30, sleeps=0.05, sleep=HANG)
    backup = Unreliable(seed + 1, answer=1, raises=0.10)
    return guard(primary, output="labels", classes=[0, 1, 2]).fallback(
        ModelStage(
            backup,
            name="backup",
            output="labels",
            classes=[0, 1, 2],
            breaker=CircuitBreaker(name="backup", cool_down=0.01),
        ),
        Default(2),
        primary_timeout=primary_timeout,
        max_workers=128,
    )


def _check_reliable(decisions: list[Decisions], elapsed: list[float], deadline: float) -> None:
    counts: dict[str, int] = {}
    for d in decisions:
        assert len(d) == 1
        row = d[0]
        assert row.answered, row  # every request gets a decision: here, an answer
        counts[row.stage] = counts.get(row.stage, 0) + 1
        if row.stage != "primary":
            assert row.stage in ("backup", "default")
            assert row.stages_tried[0] == "primary" and row.stages_tried[-1] == row.stage
            assert row.prediction == {"backup": 1, "default": 2}[row.stage]
            # the detail names each earlier stage and why it did not answer
            assert row.detail is not None and row.detail.startswith("after primary: ")
            steps = [s.split(": ") for s in row.detail.removeprefix("after ").split("; ")]
            assert [name for name, _ in steps] == list(row.stages_tried[:-1])
            assert {why for _, why in steps} <= {"model_error", "timeout", "circuit_open"}
        else:
            assert row.prediction == 0
    # every hang was abandoned at the deadline: a caller that waited for one would have
    # taken at least HANG seconds
    assert max(elapsed) < HANG - 0.5, max(elapsed)
    assert min(counts.get(s, 0) for s in ("primary", "backup", "default")) > 0


@pytest.mark.slow
def test_every_request_gets_a_timely_decision_under_primary_faults() -> None:
    """10,000 requests: primary raises 30%, hangs 5%; a backup model and a default."""
    n_requests, deadline = 10_000, 0.02
    g = _unreliable_guard(seed=0, primary_timeout=0.005)
    decisions, elapsed = [], []
    x = np.zeros((1, 3))
    for i in range(n_requests):
        t0 = time.monotonic()
        decisions.append(g.decide(x, request_id=str(i), timeout=deadline))
        elapsed.append(time.monotonic() - t0)
    _check_reliable(decisions, elapsed, deadline)


@pytest.mark.slow
def test_every_async_request_gets_a_timely_decision_under_primary_faults() -> None:
    n_requests, deadline = 2_000, 0.05
    g = _unreliable_guard(seed=10, primary_timeout=0.01)
    x = np.zeros((1, 3))

    async def one(i: int) -> tuple[Decisions, float]:
        t0 = time.monotonic()
        d = await g.adecide(x, request_id=str(i), timeout=deadline)
        return d, time.monotonic() - t0

    async def main() -> list[tuple[Decisions, float]]:
        out = []
        for start in range(0, n_requests, 50):  # 50 concurrent requests at a time
            out += await asyncio.gather(*(one(i) for i in range(start, start + 50)))
        return out

    results = asyncio.run(main())
    _check_reliable([d for d, _ in results], [t for _, t in results], deadline)


def test_concurrent_threads_share_one_chain_and_its_breaker() -> None:
    breaker = CircuitBreaker(name="backup", failure_threshold=3, cool_down=60)
    chain = WithFallback(
        labels(lambda X: 1 / 0),
        [ModelStage(Flaky(10**9), name="backup", output="labels", breaker=breaker), Default("d")],
    )
    results: list[Decisions] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            d = chain.decide(np.zeros((1, 1)))
            with lock:
                results.append(d)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = breaker.stats()
    assert len(results) == 400 and all(d[0].prediction == "d" for d in results)
    assert stats["state"] == "open" and stats["opened"] == 1
    assert stats["calls"] + stats["rejected"] == 400
    called = sum(1 for d in results if "backup: model_error" in d[0].detail)
    refused = sum(1 for d in results if "backup: circuit_open" in d[0].detail)
    assert (called, refused) == (stats["calls"], stats["rejected"])


def test_two_hundred_asyncio_tasks_share_one_chain_and_its_breaker() -> None:
    breaker = CircuitBreaker(name="backup", failure_threshold=3, cool_down=60)

    async def failing(rows: Any) -> list[Any]:
        await asyncio.sleep(0)
        raise ConnectionError("backup down")

    chain = WithFallback(
        labels(lambda X: 1 / 0),
        [Rule(failing, name="backup", breaker=breaker), Default("d")],
    )

    async def main() -> list[Decisions]:
        return list(await asyncio.gather(*(chain.adecide(np.zeros((1, 1))) for _ in range(200))))

    results = asyncio.run(main())
    stats = breaker.stats()
    assert all(d[0].prediction == "d" for d in results)
    assert stats["state"] == "open" and stats["opened"] == 1
    assert stats["calls"] + stats["rejected"] == 200
    ends = stats["successes"] + stats["failures"] + stats["stale"] + stats["released"]
    assert ends == stats["calls"]
    called = sum(1 for d in results if "backup: model_error" in d[0].detail)
    refused = sum(1 for d in results if "backup: circuit_open" in d[0].detail)
    assert (called, refused) == (stats["calls"], stats["rejected"])


# -- builder, settings, persistence ----------------------------------------------------------


def test_the_builder_places_the_chain_and_copies_breakers(iris: dict[str, Any]) -> None:
    breaker = CircuitBreaker(name="backup")
    step = ModelStage(iris["model"], name="backup", breaker=breaker)
    g = guard(iris["model"]).fallback(step, Default(0)).abstain(confidence_below(0.9))
    assert [type(x).__name__ for x in g.layers()] == ["WithFallback", "Abstaining", "ModelAdapter"]
    chain = g.layer(WithFallback)
    assert isinstance(chain, WithFallback)
    assert chain.stage("backup").breaker is not breaker
    assert repr(g) == (
        "guard(LogisticRegression).abstain(ConfidenceThreshold(threshold=0.9)).fallback("
        "ModelStage(LogisticRegression, name='backup', breaker=CircuitBreaker(name='backup', "
        "failure_threshold=5, cool_down=30)), Default(0))"
    )
    with pytest.raises(ConfigurationError, match=r"\.fallback\(\) was already called"):
        g.fallback(Default(1))


def test_shorthand_becomes_stages(iris: dict[str, Any]) -> None:
    assert isinstance(as_stage(iris["model"]), ModelStage)
    assert isinstance(as_stage(guard(iris["model"])), ModelStage)
    assert isinstance(as_stage(lambda rows: [1] * len(rows)), Rule)
    with pytest.raises(ConfigurationError, match=r"write Default\(0\)"):
        as_stage(0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m: guard(m).fallback(), "at least one stage"),
        (lambda m: guard(m).fallback(Default(0), Default(1)), r"unique; \['default'\]"),
        (lambda m: guard(m).fallback(Default(0), primary_timeout=0), "'primary_timeout'"),
        (lambda m: guard(m).fallback(Default(0), primary_timeout=-1.0), "'primary_timeout'"),
        (lambda m: guard(m).fallback(Default(0), on_exhausted="panic"), "'on_exhausted'"),
        (lambda m: guard(m).fallback(Default(0), max_workers=0), "'max_workers'"),
        (lambda m: guard(m).fallback(Default(0), primary_breaker=3), "'primary_breaker'"),
        (lambda m: Default(None), "'value' parameter of Default"),
        (lambda m: Default(float("nan")), "'value' parameter of Default"),
        (lambda m: Default(0, name="primary"), "reserved"),
        (lambda m: Default(0, when=Reason.TIMEOUT), "'when' parameter of Default"),
        (lambda m: ModelStage(m, timeout=0), "'timeout' parameter of ModelStage"),
        (lambda m: ModelStage(m, retry=3), "'retry' parameter of ModelStage"),
        (lambda m: ModelStage(m, breaker="x"), "'breaker' parameter of ModelStage"),
        (lambda m: ModelStage(guard(m), output="labels"), "apply to a bare model"),
        (lambda m: Rule(3), "'fn' parameter of Rule"),
        (lambda m: on_abstain(reasons=[Reason.NONE]), "'reasons' parameter of on_abstain"),
        (lambda m: on_error(exc_types=["ValueError"]), "'exc_types' parameter of on_error"),
        (lambda m: Retry(retries=0), "'retries' parameter of Retry"),
        (lambda m: Retry(jitter=2), "'jitter' parameter of Retry"),
        (lambda m: WithFallback(m, Default(0)), "'stages' parameter of WithFallback"),
    ],
)
def test_bad_settings_are_refused_with_the_parameter_named(
    iris: dict[str, Any], make: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make(iris["model"])


def test_fit_fits_an_unfitted_guard_stage(iris: dict[str, Any]) -> None:
    from tests.test_builder import QuantileThreshold

    stage_guard = guard(iris["model"]).abstain(QuantileThreshold(0.3))
    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.9))
        .fallback(
            ModelStage(stage_guard, name="inner", when=on_abstain()),
            Default(-1, when=on_abstain()),
        )
    )
    with pytest.raises(NotFittedError):
        g.decide(iris["X_test"])
    g.fit(iris["X_cal"], iris["y_cal"])
    assert stage_guard.layer(Abstaining).is_fitted()
    assert not g.decide(iris["X_test"]).abstained.any()


def test_save_and_load_round_trip(tmp_path: Path, iris: dict[str, Any]) -> None:
    backup = LogisticRegression(C=0.05, max_iter=1000).fit(iris["X_train"], iris["y_train"])

    def rule(rows: Any) -> list[Any]:
        return [0 if r[2] < 2.5 else None for r in rows]

    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.95))
        .fallback(
            ModelStage(
                backup,
                name="backup",
                when=on_abstain() | on_error(exc_types=[ValueError]),
                timeout=0.5,
                breaker=CircuitBreaker(name="b", failure_rate=0.5),
                retry=Retry(retries=1),
            ),
            Rule(rule, name="petal_rule"),
            Default(2),
            primary_timeout=1.0,
            on_exhausted="abstain",
        )
    )
    path = g.fit(iris["X_cal"], iris["y_cal"]).save(tmp_path / "chain.guard")
    with pytest.raises(ArtifactError, match=r"needs an object .*backup=\.\.\."):
        load(path, model=iris["model"], petal_rule=rule)
    loaded = load(path, model=iris["model"], backup=backup, petal_rule=rule)
    assert loaded.decide(iris["X_test"]) == g.decide(iris["X_test"])
    assert repr(loaded) == repr(g)
    chain = loaded.layer(WithFallback)
    assert isinstance(chain, WithFallback)
    assert chain.primary_timeout == 1.0
    assert (
        chain.stage("backup").breaker.settings()
        == CircuitBreaker(  # type: ignore[union-attr]
            name="b", failure_rate=0.5
        ).settings()
    )


def test_save_refers_to_custom_exception_types_by_name(
    tmp_path: Path, iris: dict[str, Any]
) -> None:
    class UpstreamError(Exception):
        pass

    g = guard(iris["model"]).fallback(Default(0, when=on_error(exc_types=[UpstreamError])))
    path = g.save(tmp_path / "g.guard")
    loaded = load(path, model=iris["model"], UpstreamError=UpstreamError)
    chain = loaded.layer(WithFallback)
    assert isinstance(chain, WithFallback)
    assert chain.stages[0].when == on_error(exc_types=[UpstreamError])


def test_stage_decisions_keep_probabilities_aligned_by_label(iris: dict[str, Any]) -> None:
    X = iris["X_test"]
    y = iris["y_test"]
    reordered = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    g = guard(lambda X: 1 / 0, output="proba", classes=[2, 1, 0]).fallback(
        ModelStage(reordered, name="backup")
    )
    d = g.decide(X)
    assert d.classes is not None and d.classes.tolist() == [2, 1, 0]
    np.testing.assert_allclose(d.proba[:, ::-1], reordered.predict_proba(X))
    np.testing.assert_array_equal(d.prediction, reordered.predict(X))
    assert len(y) == len(d)


def test_fit_never_raises_for_rows_the_chain_cannot_answer(iris: dict[str, Any]) -> None:
    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.99))
        .fallback(Rule(lambda rows: [None] * len(rows), name="nothing"), on_exhausted="raise")
    )
    g.fit(iris["X_cal"], iris["y_cal"])  # calibration data is not a request
    with pytest.raises(FallbackExhaustedError):
        g.decide(iris["X_test"])


def test_a_stage_must_be_a_known_kind() -> None:
    from guardrails import Stage

    class Odd(Stage):
        def __init__(self) -> None:
            super().__init__(name="odd", when=None)

    with pytest.raises(ConfigurationError, match="subclass ModelStage, Rule"):
        WithFallback(labels(primary_by_row), [Odd()])


def test_an_open_circuit_still_keeps_invalid_rows_away_from_a_bare_backup() -> None:
    """The validating layer sits inside the primary stack; skipping the stack must not
    skip validation: the backup never sees a row the schema refuses."""
    import pydantic

    from guardrails import CircuitBreaker

    class Reading(pydantic.BaseModel):
        x: float = pydantic.Field(ge=0.0, le=1.0)

    seen: list[NDArray[Any]] = []

    def backup(X: NDArray[Any]) -> NDArray[Any]:
        seen.append(np.asarray(X))
        return np.full(len(X), "b", dtype=object)

    def primary(X: NDArray[Any]) -> NDArray[Any]:
        raise ConnectionError("down")

    breaker = CircuitBreaker(name="p", failure_threshold=1, cool_down=60.0)
    g = (
        guard(primary, output="labels")
        .validate(Reading, on_invalid="fallback")
        .fallback(ModelStage(backup, name="backup", output="labels"), primary_breaker=breaker)
    )
    g.decide(np.array([[0.5]]))  # opens the circuit
    seen.clear()
    d = g.decide(np.array([[0.2], [7.0], [0.9]]))
    assert d.reasons() == [Reason.NONE, Reason.INVALID_INPUT, Reason.NONE]
    assert d.stage.tolist() == ["backup", "validate", "backup"]
    assert np.concatenate(seen).ravel().tolist() == [0.2, 0.9]
    assert d[1].errors is not None
