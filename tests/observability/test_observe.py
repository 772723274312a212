"""The log step: one structlog event per decision with stable keys, read from real log lines."""

from __future__ import annotations

import asyncio
import doctest
import io
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import structlog
from numpy.typing import NDArray
from structlog.testing import capture_logs

import guardrails
from guardrails import (
    Call,
    ConfigurationError,
    Decisions,
    DriftNote,
    InvalidInputError,
    Layer,
    Logged,
    Metrics,
    PostLayer,
    Redactor,
    confidence_below,
    guard,
)
from guardrails.observability.observe import DECISION_KEYS, MAX_ROW_EVENTS, scrub


def json_logger() -> tuple[Any, io.StringIO]:
    """A structlog logger rendering JSON lines into a buffer; nothing global is configured."""
    buf = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=buf),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
    )
    return logger, buf


def lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def proba_model(X: NDArray[Any]) -> NDArray[Any]:
    """P(yes) = first feature clipped to [0, 1]."""
    p = np.clip(X[:, 0], 0.0, 1.0)
    return np.c_[1 - p, p]


def failing_model(X: NDArray[Any]) -> NDArray[Any]:
    raise RuntimeError("backend down")


class Reroute(PostLayer):
    """Test double for a fallback: rows withheld by the inner layers get answered by "rules"."""

    name: ClassVar[str] = "fallback"

    def post(self, d: Decisions, call: Call) -> Decisions:
        rows = np.flatnonzero(d.abstained)
        if rows.size == 0:
            return d
        tried = np.empty(len(d), dtype=object)
        for i in range(len(d)):
            tried[i] = ("primary", "rules") if d.abstained[i] else ("primary",)
        stage = d.stage.copy()
        stage[rows] = "rules"
        abstained = d.abstained.copy()
        abstained[rows] = False
        reason = d.reason.copy()
        reason[rows] = 0
        return d.replace(stage=stage, abstained=abstained, reason=reason, tried=tried)


class Annotate(PostLayer):
    """Test double for the monitor and the review queue: leaves a drift note and review ids."""

    name: ClassVar[str] = "review"

    def post(self, d: Decisions, call: Call) -> Decisions:
        call.drift = DriftNote("drift", {"x0": {"psi": 0.42}})
        ids = np.empty(len(d), dtype=object)
        for i in range(len(d)):
            ids[i] = f"case-{i}" if d.abstained[i] else None
        return d.replace(review_id=ids)


class Raising(Layer):
    """A layer that raises like a validating layer under policy "raise"."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        self.message = message
        self.errors = errors

    @property
    def task(self) -> str:
        return "classification"

    def decide_call(self, X: Any, call: Call) -> Decisions:
        raise InvalidInputError(self.message, self.errors)


def yes_no_guard(**log: Any) -> guardrails.Guard:
    return (
        guard(proba_model, output="proba", classes=["no", "yes"], name="churn", version="7")
        .abstain(confidence_below(0.8))
        .log(**log)
    )


# -- single records: one event with stable keys ----------------------------------------


def test_an_answered_record_gives_one_event_with_every_documented_key() -> None:
    logger, buf = json_logger()
    yes_no_guard(logger=logger).decide_one(np.array([0.95, 1.0]), request_id="req-1")
    (event,) = lines(buf)
    assert event["event"] == "guardrails.decision"
    assert set(DECISION_KEYS) <= set(event)
    assert event["request_id"] == "req-1"
    assert (event["guard"], event["guard_version"]) == ("churn", "7")
    assert (event["outcome"], event["reason"], event["stage"]) == ("answered", "none", "primary")
    assert event["stages_tried"] == ["primary"]
    assert event["confidence"] == pytest.approx(0.95)
    assert event["level"] == "info"
    assert event["latency_ms"] > 0
    assert set(event["stage_latency_ms"]) == {"primary", "abstain"}
    assert event["input_fingerprint"] == guardrails.fingerprint(np.array([0.95, 1.0]))
    assert event["drift"] is None and event["review_id"] is None
    assert event["error_type"] is None


@pytest.mark.parametrize(
    ("x", "outcome", "reason", "level"),
    [
        (np.array([0.6, 0.0]), "abstained", "low_confidence", "info"),
        (np.array([np.nan, 0.0]), "abstained", "invalid_input", "info"),
    ],
)
def test_a_withheld_record_says_why(x: NDArray[Any], outcome: str, reason: str, level: str) -> None:
    logger, buf = json_logger()
    yes_no_guard(logger=logger).decide_one(x)
    (event,) = lines(buf)
    assert (event["outcome"], event["reason"], event["level"]) == (outcome, reason, level)


def test_a_model_error_is_a_warning_with_the_exception_type_only() -> None:
    logger, buf = json_logger()
    g = guard(failing_model, output="proba", classes=["no", "yes"]).log(logger=logger)
    g.decide_one(np.array([0.5]))
    (event,) = lines(buf)
    assert (event["outcome"], event["reason"], event["level"]) == (
        "abstained",
        "model_error",
        "warning",
    )
    assert event["error_type"] == "RuntimeError"
    assert "detail" not in event and "backend down" not in json.dumps(event)


def test_details_opt_in_emits_the_scrubbed_message() -> None:
    logger, buf = json_logger()
    g = guard(failing_model, output="proba", classes=["no", "yes"]).log(logger=logger, details=True)
    g.decide_one(np.array([0.5]))
    (event,) = lines(buf)
    assert event["detail"] == "RuntimeError: backend down"


def test_fallback_review_and_drift_show_in_the_event() -> None:
    logger, buf = json_logger()
    base = guard(proba_model, output="proba", classes=["no", "yes"]).abstain(confidence_below(0.8))
    stack = Logged(Reroute(Annotate(base)), logger=logger, guard_name="g", version="1")
    stack.decide_one(np.array([0.6, 0.0]))
    (event,) = lines(buf)
    assert (event["outcome"], event["stage"]) == ("fallback", "rules")
    assert event["stages_tried"] == ["primary", "rules"]
    assert event["reason"] == "none"
    assert event["drift"] == "drift"
    assert event["review_id"] == "case-0"


def test_set_size_and_interval_width_are_reported() -> None:
    class Sets(PostLayer):
        name: ClassVar[str] = "abstain"

        def post(self, d: Decisions, call: Call) -> Decisions:
            n = len(d)
            return d.replace(
                pred_set=np.ones((n, 2), dtype=bool),
                interval=np.tile([1.0, 3.5], (n, 1)),
            )

    logger, buf = json_logger()
    Logged(Sets(guard(proba_model, output="proba", classes=[0, 1])), logger=logger).decide_one(
        np.array([0.9])
    )
    (event,) = lines(buf)
    assert event["set_size"] == 2
    assert event["interval_width"] == pytest.approx(2.5)


def test_the_request_id_bound_by_the_application_wins() -> None:
    logger, buf = json_logger()
    g = yes_no_guard(logger=logger)
    structlog.contextvars.bind_contextvars(request_id="from-app")
    try:
        g.decide_one(np.array([0.95, 0.0]), request_id="ignored")
    finally:
        structlog.contextvars.clear_contextvars()
    g.decide_one(np.array([0.95, 0.0]), request_id="explicit")
    first, second = lines(buf)
    assert first["request_id"] == "from-app"
    assert second["request_id"] == "explicit"


def test_without_a_request_id_each_call_gets_a_fresh_one() -> None:
    logger, buf = json_logger()
    g = yes_no_guard(logger=logger)
    g.decide_one(np.array([0.95, 0.0]))
    g.decide_one(np.array([0.95, 0.0]))
    a, b = lines(buf)
    assert a["request_id"] and a["request_id"] != b["request_id"]


def test_the_default_logger_is_structlogs_and_nothing_is_configured_globally() -> None:
    config_before = structlog.get_config()
    handlers_before = list(logging.getLogger().handlers)
    g = yes_no_guard()
    with capture_logs() as events:
        g.decide_one(np.array([0.95, 0.0]))
    assert [e["event"] for e in events] == ["guardrails.decision"]
    assert structlog.get_config() == config_before
    assert logging.getLogger().handlers == handlers_before


def test_the_async_path_logs_the_same_event() -> None:
    logger, buf = json_logger()
    asyncio.run(yes_no_guard(logger=logger).adecide_one(np.array([0.6, 0.0]), request_id="a"))
    (event,) = lines(buf)
    assert (event["request_id"], event["outcome"]) == ("a", "abstained")


def test_fitting_is_not_traffic_and_logs_nothing() -> None:
    logger, buf = json_logger()
    from sklearn.linear_model import LogisticRegression

    X = np.r_[np.zeros((10, 1)), np.ones((10, 1))]
    y = np.r_[np.zeros(10), np.ones(10)]
    guard(LogisticRegression().fit(X, y)).log(logger=logger).fit(X, y)
    assert buf.getvalue() == ""


# -- batches: one summary, per-row events for notable rows, sampling for the rest ----------


def test_a_batch_gives_a_summary_and_events_only_for_notable_rows() -> None:
    logger, buf = json_logger()
    X = np.array([[0.95, 0], [0.6, 0], [np.nan, 0], [0.1, 0], [0.99, 0]])
    yes_no_guard(logger=logger).decide(X, request_id="batch-1")
    summary, *rows = lines(buf)
    assert summary["event"] == "guardrails.batch"
    assert summary["request_id"] == "batch-1"
    assert (summary["n_rows"], summary["answered"], summary["abstained"]) == (5, 3, 2)
    assert summary["reasons"] == {"low_confidence": 1, "invalid_input": 1}
    assert summary["stages"] == {"primary": 3}
    assert summary["row_events"] == 2
    assert [(r["row"], r["reason"]) for r in rows] == [(1, "low_confidence"), (2, "invalid_input")]
    assert all(r["request_id"] == "batch-1" for r in rows)


def test_fallback_rows_of_a_batch_are_logged_too() -> None:
    logger, buf = json_logger()
    base = guard(proba_model, output="proba", classes=["no", "yes"]).abstain(confidence_below(0.8))
    Logged(Reroute(base), logger=logger).decide(np.array([[0.95], [0.6], [0.99]]))
    summary, *rows = lines(buf)
    assert (summary["answered"], summary["fallback"], summary["abstained"]) == (2, 1, 0)
    assert [(r["row"], r["outcome"], r["stage"]) for r in rows] == [(1, "fallback", "rules")]


@pytest.mark.parametrize(("sample", "expected"), [(0.0, 0), (1.0, 20)])
def test_sampling_picks_answered_rows(sample: float, expected: int) -> None:
    logger, buf = json_logger()
    X = np.c_[np.full(20, 0.99), np.zeros(20)]
    yes_no_guard(logger=logger, sample=sample).decide(X)
    _, *rows = lines(buf)
    assert len(rows) == expected
    assert all(r["sampled"] is True for r in rows)


def test_a_partial_sample_logs_about_that_share_of_answered_rows() -> None:
    logger, buf = json_logger()
    g = Logged(
        guard(proba_model, output="proba", classes=[0, 1]),
        logger=logger,
        sample=0.1,
        seed=3,
        max_row_events=None,
    )
    g.decide(np.c_[np.full(2_000, 0.99)])
    _, *rows = lines(buf)
    # Binomial(2000, 0.1): mean 200, sd ~13.4; 6 sd either side.
    assert 120 <= len(rows) <= 280


def test_max_row_events_keeps_failed_rows_first_and_counts_the_rest() -> None:
    class FailSome(PostLayer):
        name: ClassVar[str] = "abstain"

        def post(self, d: Decisions, call: Call) -> Decisions:
            mask = np.zeros(len(d), dtype=bool)
            mask[[7, 9]] = True
            return d.withhold(mask, guardrails.Reason.MODEL_ERROR)

    logger, buf = json_logger()
    stack = Logged(
        FailSome(guard(proba_model, output="proba", classes=[0, 1]).abstain(confidence_below(0.8))),
        logger=logger,
        max_row_events=3,
    )
    X = np.c_[np.r_[np.full(6, 0.6), np.full(6, 0.99)]]  # rows 0-5 unsure, 6-11 confident
    stack.decide(X)
    summary, *rows = lines(buf)
    assert (summary["row_events"], summary["row_events_dropped"]) == (3, 5)
    assert [(r["row"], r["reason"]) for r in rows] == [
        (0, "low_confidence"),
        (7, "model_error"),
        (9, "model_error"),
    ]


def test_a_large_batch_logs_at_most_the_default_cap_of_row_events() -> None:
    logger, buf = json_logger()
    X = np.c_[np.r_[np.full(300, 0.6), np.full(200, 0.99)], np.zeros(500)]
    yes_no_guard(logger=logger).decide(X)
    summary, *rows = lines(buf)
    assert len(rows) == MAX_ROW_EVENTS
    assert (summary["row_events"], summary["row_events_dropped"]) == (20, 280)
    assert summary["abstained"] == 300


def test_every_withheld_row_of_a_capped_batch_is_named_in_the_batch_event() -> None:
    logger, buf = json_logger()
    X = np.c_[np.r_[np.full(150, 0.6), np.full(50, 0.99)], np.zeros(200)]
    X[[3, 170], 0] = np.nan  # invalid rows, among unsure and confident ones
    rng = np.random.default_rng(0)
    X = X[rng.permutation(200)]
    d = yes_no_guard(logger=logger).decide(X)
    summary, *_ = lines(buf)
    codes = summary["row_reasons"]
    assert len(codes) == 200
    assert [i for i, c in enumerate(codes) if c != "."] == np.flatnonzero(d.abstained).tolist()
    legend = summary["reason_codes"]
    assert [legend[codes[i]] for i in np.flatnonzero(d.abstained)] == [
        str(r) for r in d.reasons() if r
    ]
    assert legend == {"1": "low_confidence", "3": "invalid_input"}
    assert summary["reasons"] == {"low_confidence": 149, "invalid_input": 2}


def test_fallback_rows_are_named_by_stage_in_the_batch_event() -> None:
    logger, buf = json_logger()
    base = guard(proba_model, output="proba", classes=["no", "yes"]).abstain(confidence_below(0.8))
    Logged(Reroute(base), logger=logger).decide(np.array([[0.95], [0.6], [0.99], [0.7]]))
    summary, *_ = lines(buf)
    assert summary["fallback_rows"] == {"rules": [1, 3]}
    assert summary["row_reasons"] == "...."
    assert summary["stages"] == {"primary": 2, "rules": 2}


# -- calls that raise -------------------------------------------------------------------


def test_a_raising_call_logs_an_error_event_counts_it_and_reraises() -> None:
    logger, buf = json_logger()
    metrics = Metrics()
    layer = Raising("bad rows", [{"row": 0, "errors": [{"loc": ("age",), "type": "missing"}]}])
    stack = Logged(layer, logger=logger, metrics=metrics, guard_name="g")
    with pytest.raises(InvalidInputError):
        stack.decide(np.zeros((3, 1)), request_id="r")
    (event,) = lines(buf)
    assert event["event"] == "guardrails.error"
    assert (event["outcome"], event["reason"], event["level"]) == ("error", "exception", "error")
    assert event["error_type"] == "InvalidInputError"
    assert event["invalid_fields"] == ["age"]
    assert event["n_rows"] == 3 and "detail" not in event
    snap = metrics.snapshot().guard("g")
    assert snap.count(outcome="error") == 3
    assert snap.rates.error == 1.0


def test_a_broken_logger_costs_a_warning_not_the_decision() -> None:
    def explode(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        raise OSError("disk full")

    broken = structlog.wrap_logger(structlog.ReturnLogger(), processors=[explode])
    g = yes_no_guard(logger=broken)
    with pytest.warns(guardrails.GuardrailsWarning, match="OSError"):
        d = g.decide_one(np.array([0.95, 0.0]))
    assert d.prediction == "yes"


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample": 1.5}, "'sample' parameter of log\\(\\)"),
        ({"sample": True}, "'sample'"),
        ({"details": "yes"}, "'details'"),
        ({"metrics": {}}, "'metrics'"),
        ({"alerts": [1]}, "'alerts'"),
        ({"redactor": ["ssn"]}, "'redactor'"),
        ({"logger": object()}, "'logger'"),
        ({"max_row_events": -1}, "'max_row_events'"),
    ],
)
def test_bad_settings_fail_when_the_step_is_added(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        guard(proba_model, output="proba", classes=[0, 1]).log(**kwargs)


def test_the_log_step_is_added_once_and_shows_in_the_repr() -> None:
    g = guard(proba_model, output="proba", classes=[0, 1]).log(sample=0.5)
    assert repr(g).endswith(".log(sample=0.5)")
    with pytest.raises(ConfigurationError, match="already called"):
        g.log()
    assert isinstance(g.layer(Logged), Logged)
    assert "Logged(guard_name='guard'" in repr(g.layer(Logged))


def test_each_built_guard_owns_its_redactor_but_shares_the_metrics() -> None:
    metrics = Metrics()
    redactor = Redactor(fields=["ssn"])
    step = guard(proba_model, output="proba", classes=[0, 1]).log(
        redactor=redactor, metrics=metrics
    )
    layer = step.layer(Logged)
    assert isinstance(layer, Logged)
    assert layer.redactor == redactor and layer.redactor is not redactor
    assert layer.metrics is metrics


def test_a_saved_guard_loads_with_its_log_settings_and_the_objects_it_names(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    X = np.r_[np.zeros((10, 1)), np.ones((10, 1))]
    model = LogisticRegression().fit(X, np.r_[np.zeros(10), np.ones(10)])
    metrics = Metrics()
    g = guard(model, name="s", version="2").log(
        redactor=Redactor(fields=["ssn"]),
        sample=0.25,
        details=True,
        metrics=metrics,
        max_row_events=50,
    )
    path = g.save(tmp_path / "g.zip")
    fresh = guardrails.load(path, model=model).layer(Logged)  # an omitted registry starts fresh
    assert isinstance(fresh, Logged) and fresh.metrics is not None and fresh.metrics is not metrics
    loaded = guardrails.load(path, model=model, metrics=metrics)
    layer = loaded.layer(Logged)
    assert isinstance(layer, Logged)
    assert (layer.guard_name, layer.version, layer.sample, layer.details) == ("s", "2", 0.25, True)
    assert layer.redactor == Redactor(fields=["ssn"]) and layer.metrics is metrics
    assert layer.max_row_events == 50
    loaded.decide_one(np.array([0.9]))
    assert metrics.snapshot().guard("s").calls == 1


# -- helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssn=123-45-6789 bad", "ssn=[REDACTED] bad"),
        ("{'ssn': '1', 'age': 4}", "{'ssn': [REDACTED], 'age': 4}"),
        ('{"SSN": "1"}', '{"SSN": [REDACTED]}'),
        ("age: 41", "age: 41"),
    ],
)
def test_scrub_hides_values_after_sensitive_names(text: str, expected: str) -> None:
    assert scrub(text, Redactor(fields=["ssn"], patterns=["^ssn$"])) == expected


def test_scrub_cuts_long_text() -> None:
    assert len(scrub("x" * 1000, None)) == 200


@pytest.mark.parametrize(
    "module",
    [
        "guardrails.observability.observe",
        "guardrails.observability.telemetry",
        "guardrails.observability.alerts",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
