"""The redaction canary: known secrets go through every path and never reach the log output.

Each entry of ``PATHS`` drives a guard through one path (valid, invalid, model error,
raised error, ...) with the secrets in its inputs and its error messages, writing JSON
log lines and Prometheus metrics. To cover a new path (schema validation, fallback,
review), append a ``CanaryPath`` that uses ``ctx.logger``, ``ctx.metrics`` and
``ctx.redactor``.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import structlog
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, generate_latest

from guardrails import (
    Alerts,
    Call,
    Decisions,
    InvalidInputError,
    Layer,
    Logged,
    Metrics,
    Redactor,
    abstention_rate_above,
    confidence_below,
    error_rate_above,
    guard,
)

SSN = "123-45-6789"
EMAIL = "canary.secret@example.com"
NUMBER = 73917.123  # a secret that lives in a numeric column
# the number as repr() writes it: bare digits like "73917" also occur inside timing floats
SECRETS = (SSN, EMAIL, "73917.123")


def record(age: float = 41.0) -> dict[str, Any]:
    return {"ssn": SSN, "email": EMAIL, "age": age}


@dataclass
class Ctx:
    logger: Any
    metrics: Metrics
    redactor: Redactor


@dataclass(frozen=True)
class CanaryPath:
    name: str
    run: Callable[[Ctx], None]


def record_model(rows: list[dict[str, Any]]) -> NDArray[Any]:
    """P(yes) from the age field: confident for age > 60, unsure otherwise."""
    p = np.array([0.95 if r["age"] > 60 else 0.55 for r in rows])
    return np.c_[1 - p, p]


def echoing_model(rows: list[dict[str, Any]]) -> NDArray[Any]:
    raise ValueError(f"cannot score {rows[0]!r}; ssn={SSN} email: {EMAIL}")


def numeric_model(X: NDArray[Any]) -> NDArray[Any]:
    p = np.clip(X[:, 1], 0.0, 1.0)
    return np.c_[1 - p, p]


def echoing_numeric_model(X: NDArray[Any]) -> NDArray[Any]:
    raise ValueError(f"row {X[0].tolist()} is out of range")


class RaisingValidator(Layer):
    """Stands for a validating layer under policy "raise" whose errors echo the input."""

    @property
    def task(self) -> str:
        return "classification"

    def decide_call(self, X: Any, call: Call) -> Decisions:
        raise InvalidInputError(
            f"row 0: ssn={SSN!r} is malformed; email: {EMAIL}",
            [
                {
                    "row": 0,
                    "errors": [
                        {"loc": ("ssn",), "input": SSN, "msg": f"bad ssn={SSN}", "type": "x"},
                        {"loc": ("email",), "input": EMAIL, "msg": "bad", "type": "x"},
                    ],
                }
            ],
        )


def records_guard(ctx: Ctx, model: Any = record_model, **log: Any) -> Any:
    return (
        guard(model, output="proba", classes=["no", "yes"], name="canary")
        .abstain(confidence_below(0.8))
        .log(logger=ctx.logger, redactor=ctx.redactor, metrics=ctx.metrics, **log)
    )


def numeric_guard(ctx: Ctx, model: Any = numeric_model, **log: Any) -> Any:
    return (
        guard(model, output="proba", classes=[0, 1], name="canary-num")
        .abstain(confidence_below(0.8))
        .log(logger=ctx.logger, redactor=ctx.redactor, metrics=ctx.metrics, **log)
    )


def _raising(ctx: Ctx, details: bool) -> None:
    stack = Logged(
        RaisingValidator(),
        logger=ctx.logger,
        redactor=ctx.redactor,
        metrics=ctx.metrics,
        details=details,
    )
    with pytest.raises(InvalidInputError):
        stack.decide([record()])


PATHS: list[CanaryPath] = [
    CanaryPath("valid record, answered", lambda c: records_guard(c).decide_one(record(70))),
    CanaryPath("valid record, abstained", lambda c: records_guard(c).decide_one(record(30))),
    CanaryPath(
        "batch of records, every row sampled",
        lambda c: records_guard(c, sample=1.0).decide([record(70), record(30), record(80)]),
    ),
    CanaryPath(
        "async record",
        lambda c: asyncio.run(records_guard(c).adecide_one(record(70))) and None,
    ),
    CanaryPath(
        "numeric row with the secret, answered",
        lambda c: numeric_guard(c, sample=1.0).decide(np.array([[NUMBER, 0.9], [NUMBER, 0.95]])),
    ),
    CanaryPath(
        "invalid numeric row (NaN) detected by the adapter",
        lambda c: numeric_guard(c).decide(np.array([[NUMBER, np.nan], [NUMBER, 0.9]])),
    ),
    CanaryPath(
        "model error echoing the record",
        lambda c: records_guard(c, model=echoing_model).decide_one(record()),
    ),
    CanaryPath(
        "model error echoing the record, details on and scrubbed",
        lambda c: records_guard(c, model=echoing_model, details=True).decide([record(), record()]),
    ),
    CanaryPath(
        "model error echoing a numeric row",
        lambda c: numeric_guard(c, model=echoing_numeric_model).decide(np.array([[NUMBER, 0.5]])),
    ),
    CanaryPath("raised validation error", lambda c: _raising(c, details=False)),
    CanaryPath("raised validation error, details on", lambda c: _raising(c, details=True)),
    CanaryPath(
        "alerts firing",
        lambda c: records_guard(
            c,
            alerts=Alerts(
                [abstention_rate_above(0.1, min_rows=1), error_rate_above(0.1, min_rows=1)]
            ),
        ).decide([record(30)] * 3),
    ),
]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_no_secret_reaches_the_logs_or_the_metrics(path: CanaryPath) -> None:
    buf = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=buf),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    metrics = Metrics()
    registry = CollectorRegistry()
    from guardrails.exporters.prometheus import register

    register(metrics, registry)
    ctx = Ctx(logger, metrics, Redactor(fields=["ssn"], patterns=["mail"]))
    path.run(ctx)
    output = buf.getvalue()
    assert output, "the path emitted no event, so it tested nothing"
    exposition = generate_latest(registry).decode()
    for secret in SECRETS:
        assert secret not in output, f"{secret!r} leaked into the log output"
        assert secret not in exposition, f"{secret!r} leaked into the metrics"


def test_record_fingerprints_do_not_depend_on_sensitive_fields() -> None:
    with structlog.testing.capture_logs() as events:
        g = (
            guard(record_model, output="proba", classes=["no", "yes"])
            .abstain(confidence_below(0.8))
            .log(redactor=Redactor(fields=["ssn"], patterns=["mail"]))
        )
        g.decide_one(record(70.0))
        g.decide_one({"ssn": "000-00-0000", "email": "other@example.com", "age": 70.0})
        g.decide_one(record(71.0))
    a, b, c = (e["input_fingerprint"] for e in events)
    assert a == b != c


def test_the_canary_catches_a_leak_when_details_are_on_without_a_redactor() -> None:
    """Negative control: opting in to details with nothing declared sensitive does leak."""
    with structlog.testing.capture_logs() as events:
        guard(echoing_model, output="proba", classes=["no", "yes"]).log(details=True).decide_one(
            record()
        )
    assert SSN in repr(events)
