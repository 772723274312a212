"""Redaction canary: known secrets go in through every path and must come out nowhere.

A secret key and a sensitive income travel through valid rows, invalid rows, a model and a
fallback stage whose exceptions quote them, the review queue, the reviewer CLI, raised
exceptions and an HTML report. None may appear in log events, decisions' details and
errors, the SQLite file's bytes, CLI output, or exception messages.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
from numpy.typing import NDArray
from structlog.testing import capture_logs

from guardrails import (
    CircuitBreaker,
    DriftProfile,
    GuardrailsError,
    Metrics,
    ModelStage,
    Redactor,
    Schema,
    SQLiteQueue,
    confidence_below,
    guard,
    on_withheld,
)
from guardrails.__main__ import main

KEY = "sk-canary-7f3a9c21e5d04b"
INCOME = 987654.125
# the income as repr() writes it: its bare digits could also occur inside a timing float
CANARIES = (KEY, "987654.125", "7f3a9c21e5d04b")


class Applicant(pydantic.BaseModel):
    age: int = pydantic.Field(ge=18, le=120)
    income: float = pydantic.Field(ge=0, json_schema_extra={"sensitive": True})
    api_key: pydantic.SecretStr


REDACTOR = Redactor(fields=["api_key", "income"])


def _model(X: NDArray[Any]) -> NDArray[Any]:
    """Answers unsure (so rows go to review); fails like a remote client that echoes input."""
    if (X[:, 0] == 99).any():
        raise RuntimeError(f"upstream refused key {KEY} for income {INCOME}")
    return np.tile([0.55, 0.45], (len(X), 1))


def _backup(X: NDArray[Any]) -> NDArray[Any]:
    raise ValueError(f"backup choked on income {INCOME} (key {KEY})")


ROWS = [
    {"age": 40, "income": INCOME, "api_key": KEY},  # valid, unsure: review
    {"age": 7, "income": -INCOME, "api_key": KEY},  # invalid
    {"age": 99, "income": INCOME, "api_key": KEY},  # the model raises, quoting the secret
]


def _assert_clean(where: str, text: str | bytes) -> None:
    blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for canary in CANARIES:
        assert canary not in blob, f"secret {canary!r} leaked into {where}"


def _stack(queue: Any, *, with_fallback: bool, profile: DriftProfile) -> Any:
    g = guard(_model, output="proba", classes=[0, 1]).validate(
        Schema(Applicant, exclude=["api_key"]), redactor=REDACTOR
    )
    g = g.abstain(confidence_below(0.9)).monitor(profile, window=20)
    if with_fallback:
        g = g.fallback(
            ModelStage(_backup, name="backup", output="proba", classes=[0, 1], when=on_withheld()),
            primary_breaker=CircuitBreaker(failure_threshold=100),
        )
    g = g.review(queue, redactor=REDACTOR)
    return g.log(redactor=REDACTOR, details=True, sample=1.0, metrics=METRICS)


METRICS = Metrics()


@pytest.fixture
def profile() -> DriftProfile:
    rng = np.random.default_rng(0)
    return DriftProfile.from_data(np.c_[rng.integers(18, 90, 500), rng.uniform(0, 1e5, 500)])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("with_fallback", [False, True])
@pytest.mark.parametrize("entry", ["decide", "adecide"])
def test_no_secret_reaches_logs_decisions_or_the_queue_file(
    tmp_path: Path, profile: DriftProfile, with_fallback: bool, entry: str
) -> None:
    path = tmp_path / "q.db"
    queue = SQLiteQueue(path)
    g = _stack(queue, with_fallback=with_fallback, profile=profile)
    with capture_logs() as logs:
        import asyncio

        for _ in range(3):  # enough traffic for the monitor's window to log
            d = g.decide(ROWS) if entry == "decide" else asyncio.run(g.adecide(ROWS))
    assert d.abstained.all() and d.review_id is not None and all(d.review_id)
    assert d.detail is not None and "[REDACTED]" in d.detail[2]  # the message was kept
    assert {"guardrails.batch", "guardrails.decision"} <= {e["event"] for e in logs}
    _assert_clean("log events", json.dumps(logs, default=repr))
    _assert_clean("decisions", json.dumps(d.to_records(), default=repr))
    cases = [queue.get(i) for i in d.review_id]
    _assert_clean("review cases", json.dumps([c.to_dict() for c in cases], default=repr))
    queue.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.db"))
    assert b"withheld" in raw  # the cases are in the file we read
    _assert_clean("the SQLite file", raw)


@pytest.mark.timeout(60)
def test_no_secret_reaches_the_review_cli(tmp_path: Path, profile: DriftProfile) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    d = _stack(queue, with_fallback=True, profile=profile).decide(ROWS)
    queue.close()
    url = f"sqlite:///{tmp_path / 'q.db'}"
    commands = [
        ["list"],
        ["list", "--json"],
        ["stats", "--json"],
        *[["show", str(i)] for i in d.review_id],
        *[["show", str(i), "--json"] for i in d.review_id],
        ["claim", "--reviewer", "ana", "-n", "3", "--json"],
        ["resolve", str(d.review_id[0]), "--label", KEY, "--reviewer", "ana"],  # refused label
        ["show", KEY],  # an unknown id: the CLI repeats what it was given? it must not
    ]
    for command in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["review", command[0], "--queue", url, *command[1:]])
        assert code in (0, 2), (command, code, err.getvalue())
        printed = out.getvalue() + err.getvalue()
        if KEY in command:
            printed = printed.replace(KEY, "")  # echoing the user's own argument is fine
        _assert_clean(f"`review {' '.join(command[:1])}` output", printed)


@pytest.mark.timeout(60)
def test_no_secret_reaches_exception_messages(profile: DriftProfile) -> None:
    strict = guard(_model, output="proba", classes=[0, 1]).validate(
        Schema(Applicant, exclude=["api_key"]), redactor=REDACTOR, on_invalid="raise"
    )
    with pytest.raises(GuardrailsError) as info:
        strict.decide(ROWS)
    _assert_clean("InvalidInputError", str(info.value) + repr(getattr(info.value, "errors", "")))
    exhausted = (
        guard(_model, output="proba", classes=[0, 1])
        .validate(Schema(Applicant, exclude=["api_key"]), redactor=REDACTOR)
        .fallback(
            ModelStage(_backup, name="backup", output="proba", classes=[0, 1], when=on_withheld()),
            on_exhausted="raise",
        )
    )
    with pytest.raises(GuardrailsError) as info:
        exhausted.decide(ROWS)
    _assert_clean("FallbackExhaustedError", str(info.value))


@pytest.mark.timeout(60)
def test_no_secret_reaches_the_report(tmp_path: Path, profile: DriftProfile) -> None:
    pytest.importorskip("matplotlib", reason="the report needs the 'report' extra")
    from guardrails import Report

    queue = SQLiteQueue(tmp_path / "q.db")
    d = _stack(queue, with_fallback=True, profile=profile).decide(ROWS)
    records = d.to_records()
    report = Report("canary").add_table(
        "Withheld rows",
        ["reason", "stage", "detail"],
        [[r["reason"], r["stage"], r["detail"]] for r in records],
    )
    html = report.to_html(tmp_path / "r.html").read_text()
    assert "[REDACTED]" in html
    _assert_clean("the HTML report", html)
    queue.close()


@pytest.mark.timeout(60)
def test_no_secret_reaches_the_metrics_exposition(profile: DriftProfile, tmp_path: Path) -> None:
    prometheus_client = pytest.importorskip("prometheus_client", reason="needs prometheus")
    from guardrails.exporters.prometheus import register

    queue = SQLiteQueue(tmp_path / "q.db")
    _stack(queue, with_fallback=True, profile=profile).decide(ROWS)
    registry = prometheus_client.CollectorRegistry()
    register(METRICS, registry=registry)
    text = prometheus_client.generate_latest(registry).decode()
    assert "guardrails" in text
    _assert_clean("the Prometheus exposition", text)
    queue.close()


@pytest.mark.timeout(60)
def test_the_canary_would_be_caught(tmp_path: Path) -> None:
    """Without a redactor the same traffic does leak: the checks above can fail."""
    queue = SQLiteQueue(tmp_path / "q.db")
    g = guard(_model, output="proba", classes=[0, 1]).abstain(confidence_below(0.9)).review(queue)
    g.decide(np.array([[99.0, INCOME]]))
    queue.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.db"))
    with pytest.raises(AssertionError, match="leaked"):
        _assert_clean("the SQLite file", raw)


# -- what the schema alone declares: no Redactor passed anywhere --------------------------------

MISSPELLED = [
    {"age": 40, "income": INCOME, "api_keyy": KEY},  # a misspelled key: extra, unknown
    {"age": 40, "income": INCOME, "api_key": "sk-other", "token": KEY},  # an extra key
    {"income": INCOME, "note": KEY},  # missing fields: the errors quote the whole row
]


def _schema_only(queue: Any, order: str, *, on_invalid: str = "abstain") -> Any:
    """The stack with the schema as the only word on secrets, steps in either order."""
    g = guard(_model, output="proba", classes=[0, 1])
    steps = [
        lambda g: g.validate(Schema(Applicant, exclude=["api_key"]), on_invalid=on_invalid),
        lambda g: g.abstain(confidence_below(0.9)),
        lambda g: g.review(queue),
        lambda g: g.log(details=True, sample=1.0),
    ]
    for step in steps if order == "canonical" else steps[::-1]:
        g = step(g)
    return g


@pytest.mark.timeout(60)
@pytest.mark.parametrize("order", ["canonical", "reversed"])
def test_secrets_the_schema_declares_reach_no_sink_without_a_redactor(
    tmp_path: Path, order: str
) -> None:
    path = tmp_path / "q.db"
    queue = SQLiteQueue(path)
    g = _schema_only(queue, order)
    with capture_logs() as logs:
        d = g.decide(ROWS + MISSPELLED)
    assert d.abstained.all() and all(d.review_id)
    assert "api_keyy" in d.detail[3] and "[REDACTED]" in d.detail[3]  # named, not shown
    _assert_clean("log events", json.dumps(logs, default=repr))
    _assert_clean("decisions", json.dumps(d.to_records(), default=repr))
    cases = [queue.get(i) for i in d.review_id]
    _assert_clean("review cases", json.dumps([c.to_dict() for c in cases], default=repr))
    queue.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.db"))
    assert b"withheld" in raw
    _assert_clean("the SQLite file", raw)
    url = f"sqlite:///{path}"
    for command in (
        ["list"],
        ["list", "--json"],
        *[["show", str(i), "--json"] for i in d.review_id],
    ):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            assert main(["review", command[0], "--queue", url, *command[1:]]) == 0
        _assert_clean(f"`review {command[0]}` output", out.getvalue())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("row", MISSPELLED, ids=["misspelled", "extra", "missing"])
def test_the_value_of_a_key_the_schema_does_not_know_is_in_no_error(
    tmp_path: Path, row: dict[str, Any]
) -> None:
    queue = SQLiteQueue(tmp_path / "q.db")
    with pytest.raises(GuardrailsError) as info:
        _schema_only(queue, "canonical", on_invalid="raise").decide([row])
    _assert_clean("InvalidInputError", str(info.value) + repr(getattr(info.value, "errors", "")))
    queue.close()


@pytest.mark.timeout(60)
def test_a_report_of_schema_only_decisions_holds_no_secret(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the report needs the 'report' extra")
    from guardrails import Report

    queue = SQLiteQueue(tmp_path / "q.db")
    records = _schema_only(queue, "reversed").decide(ROWS + MISSPELLED).to_records()
    report = Report("canary").add_table(
        "Withheld rows", ["reason", "detail"], [[r["reason"], r["detail"]] for r in records]
    )
    _assert_clean("the HTML report", report.to_html(tmp_path / "r.html").read_text())
    queue.close()
