"""Alert rules: fire over rolling windows, call plain-callable sinks, warn, and cool down."""

from __future__ import annotations

import io
import json
from typing import Any, ClassVar

import numpy as np
import pytest
import structlog
from numpy.typing import NDArray

from guardrails import (
    Alert,
    Alerts,
    Call,
    ConfigurationError,
    Decisions,
    DriftNote,
    Logged,
    Metrics,
    PostLayer,
    Reason,
    abstention_rate_above,
    circuit_opened,
    confidence_below,
    drift_detected,
    error_rate_above,
    fallback_rate_above,
    guard,
)
from guardrails.observability.alerts import Health
from guardrails.observability.telemetry import Rates


def proba_model(X: NDArray[Any]) -> NDArray[Any]:
    p = np.clip(X[:, 0], 0.0, 1.0)
    return np.c_[1 - p, p]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def json_logger() -> tuple[Any, io.StringIO]:
    buf = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=buf),
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
    )
    return logger, buf


def events(buf: io.StringIO, name: str) -> list[dict[str, Any]]:
    out = [json.loads(line) for line in buf.getvalue().splitlines()]
    return [e for e in out if e["event"] == name]


def health(rows: int = 200, abst: float = 0.0, fb: float = 0.0, err: float = 0.0) -> Health:
    return Health("g", "1", Rates(rows, abst, fb, err))


@pytest.mark.parametrize(
    ("rule", "quiet", "loud"),
    [
        (abstention_rate_above(0.2), health(abst=0.2), health(abst=0.25)),
        (fallback_rate_above(0.1), health(fb=0.05), health(fb=0.5)),
        (error_rate_above(0.01), health(err=0.01), health(err=0.02)),
        (
            drift_detected(),
            Health("g", "1", Rates(1, 0, 0, 0), "ok"),
            Health("g", "1", Rates(1, 0, 0, 0), "drift"),
        ),
        (circuit_opened(), health(), Health("g", "1", Rates(1, 0, 0, 0), None, ("primary",))),
    ],
    ids=repr,
)
def test_each_rule_fires_only_past_its_line(rule: Any, quiet: Health, loud: Health) -> None:
    assert rule.value(quiet) is None
    assert rule.value(loud) is not None


def test_rate_rules_wait_for_enough_rows() -> None:
    rule = abstention_rate_above(0.2, min_rows=50)
    assert rule.value(health(rows=49, abst=1.0)) is None
    assert rule.value(health(rows=50, abst=1.0)) == 1.0


def test_sinks_get_the_alert_and_a_warning_event_is_emitted() -> None:
    logger, buf = json_logger()
    got: list[Alert] = []
    alerts = Alerts([abstention_rate_above(0.2)], sinks=[got.append])
    fired = alerts.evaluate(health(abst=0.5), logger=logger)
    assert fired == got
    (alert,) = got
    assert (alert.rule, alert.guard, alert.version, alert.value, alert.threshold) == (
        "abstention_rate",
        "g",
        "1",
        0.5,
        0.2,
    )
    assert "50.0%" in alert.message and "20.0%" in alert.message
    assert alert.to_dict()["rule"] == "abstention_rate"
    (event,) = events(buf, "guardrails.alert")
    assert (event["level"], event["rule"], event["guard"], event["value"]) == (
        "warning",
        "abstention_rate",
        "g",
        0.5,
    )


def test_the_cooldown_holds_back_repeats_per_rule_and_guard() -> None:
    clock = FakeClock()
    got: list[Alert] = []
    alerts = Alerts(
        [abstention_rate_above(0.2), drift_detected()], sinks=[got.append], cooldown=60, clock=clock
    )
    loud = Health("g", "1", Rates(200, 0.5, 0, 0), "drift")
    other = Health("h", "1", Rates(200, 0.5, 0, 0))
    for _ in range(1000):
        alerts.evaluate(loud)
    assert [a.rule for a in got] == ["abstention_rate", "drift"]
    alerts.evaluate(other)  # another guard has its own cool-down
    assert [(a.rule, a.guard) for a in got[2:]] == [("abstention_rate", "h")]
    clock.now += 59.9
    alerts.evaluate(loud)
    assert len(got) == 3
    clock.now += 0.2
    alerts.evaluate(loud)
    assert len(got) == 5
    alerts.reset()
    alerts.evaluate(loud)
    assert len(got) == 7


def test_a_failing_sink_is_reported_and_does_not_stop_the_others() -> None:
    logger, buf = json_logger()
    got: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise ConnectionError("pager unreachable")

    Alerts([error_rate_above(0.1)], sinks=[broken, got.append]).evaluate(
        health(err=0.5), logger=logger
    )
    assert len(got) == 1
    (event,) = events(buf, "guardrails.alert_sink_failed")
    assert (event["sink"], event["error_type"]) == (broken.__qualname__, "ConnectionError")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: abstention_rate_above(1.0), "'threshold' parameter of abstention_rate_above"),
        (lambda: fallback_rate_above(-0.1), "'threshold'"),
        (lambda: error_rate_above(0.1, min_rows=0), "'min_rows'"),
        (lambda: Alerts([]), "'rules'"),
        (lambda: Alerts(["abstention"]), "'rules'"),  # type: ignore[list-item]
        (lambda: Alerts([drift_detected()], sinks=["pager"]), "'sinks'"),  # type: ignore[list-item]
        (lambda: Alerts([drift_detected()], cooldown=-1), "'cooldown'"),
    ],
)
def test_bad_rules_and_settings_are_refused(make: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        make()


def test_rules_print_as_they_were_made() -> None:
    assert repr(fallback_rate_above(0.3, min_rows=20)) == "fallback_rate_above(0.3, min_rows=20)"
    assert repr(circuit_opened()) == "circuit_opened()"
    assert abstention_rate_above(0.2) == abstention_rate_above(0.2)


# -- through the guard --------------------------------------------------------------------


def test_a_guard_alerts_once_when_abstention_climbs_over_its_window() -> None:
    logger, buf = json_logger()
    got: list[Alert] = []
    alerts = Alerts([abstention_rate_above(0.3, min_rows=20)], sinks=[got.append], cooldown=3600)
    g = (
        guard(proba_model, output="proba", classes=[0, 1], name="churn")
        .abstain(confidence_below(0.8))
        .log(logger=logger, metrics=Metrics(window=20), alerts=alerts)
    )
    for _ in range(40):
        g.decide_one(np.array([0.95]))
    assert got == []
    for _ in range(20):
        g.decide_one(np.array([0.6]))  # the window fills with abstentions
    assert [a.rule for a in got] == ["abstention_rate"]
    assert got[0].value > 0.3
    assert len(events(buf, "guardrails.alert")) == 1


def test_alerts_without_a_metrics_registry_still_see_rolling_rates() -> None:
    def down(X: NDArray[Any]) -> NDArray[Any]:
        raise RuntimeError("down")

    got: list[Alert] = []
    g = guard(down, output="proba", classes=[0, 1]).log(
        logger=structlog.wrap_logger(structlog.ReturnLogger(), processors=[]),
        alerts=Alerts([error_rate_above(0.5, min_rows=5)], sinks=[got.append]),
    )
    g.decide(np.zeros((5, 1)))
    assert [a.rule for a in got] == ["error_rate"]


class OpenCircuit(PostLayer):
    """Test double for a fallback chain whose breaker is open."""

    name: ClassVar[str] = "fallback"

    def __init__(self, inner: Any, *, by_note: bool) -> None:
        super().__init__(inner)
        self.by_note = by_note

    def post(self, d: Decisions, call: Call) -> Decisions:
        if self.by_note:
            call.circuit_opened("primary")
            return d
        return d.withhold(np.ones(len(d), dtype=bool), Reason.CIRCUIT_OPEN)


@pytest.mark.parametrize("by_note", [True, False])
def test_an_open_circuit_alerts(by_note: bool) -> None:
    got: list[Alert] = []
    stack = Logged(
        OpenCircuit(guard(proba_model, output="proba", classes=[0, 1]), by_note=by_note),
        logger=structlog.wrap_logger(structlog.ReturnLogger(), processors=[]),
        alerts=Alerts([circuit_opened()], sinks=[got.append]),
    )
    stack.decide_one(np.array([0.9]))
    assert [a.rule for a in got] == ["circuit_open"]
    assert "primary" in got[0].message


def test_a_fallback_stage_found_open_alerts_even_when_a_later_stage_answers() -> None:
    from guardrails import CircuitBreaker, Default, ModelStage, WithFallback

    def down(X: Any) -> Any:
        raise ConnectionError("backup down")

    breaker = CircuitBreaker(name="backup", failure_threshold=1, cool_down=60)
    chain = WithFallback(
        guard(lambda X: 1 / 0, output="labels", classes=[0, 1]),
        [ModelStage(down, name="backup", output="labels", breaker=breaker), Default(0)],
    )
    got: list[Alert] = []
    stack = Logged(
        chain,
        logger=structlog.wrap_logger(structlog.ReturnLogger(), processors=[]),
        alerts=Alerts([circuit_opened()], sinks=[got.append]),
    )
    stack.decide_one(np.array([0.9]))  # the backup fails once: its breaker opens
    assert got == []
    d = stack.decide_one(np.array([0.9]))
    assert d.stage == "default" and d.prediction == 0  # the default answered
    assert [a.rule for a in got] == ["circuit_open"]
    assert "backup" in got[0].message


def test_drift_reported_by_the_monitor_alerts() -> None:
    class Drifting(PostLayer):
        name: ClassVar[str] = "monitor"

        def post(self, d: Decisions, call: Call) -> Decisions:
            call.drift = DriftNote("drift", {"x": {"psi": 0.5}})
            return d

    got: list[Alert] = []
    metrics = Metrics()
    stack = Logged(
        Drifting(guard(proba_model, output="proba", classes=[0, 1])),
        logger=structlog.wrap_logger(structlog.ReturnLogger(), processors=[]),
        metrics=metrics,
        alerts=Alerts([drift_detected()], sinks=[got.append]),
    )
    stack.decide_one(np.array([0.9]))
    assert [a.rule for a in got] == ["drift"]
    assert metrics.snapshot().guard("guard").drift_scores == {"x.psi": 0.5}
