"""Alert rules: notice when a guard's rolling rates or health cross a line, and tell someone.

A rule looks at what one call left behind (the guard's rolling rates from
[`Metrics`][guardrails.observability.telemetry.Metrics], the drift status, whether a circuit is
open) and
says whether it fires. [`Alerts`][] evaluates its rules after every call, emits a
warning event, and calls the user's sinks (plain callables taking an [`Alert`][]),
at most once per rule and guard per ``cooldown`` seconds, so one incident does not send
a thousand alerts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from guardrails.core.errors import ConfigurationError
from guardrails.observability.telemetry import Rates

__all__ = [
    "Alert",
    "AlertRule",
    "Alerts",
    "Health",
    "Sink",
    "abstention_rate_above",
    "circuit_opened",
    "drift_detected",
    "error_rate_above",
    "fallback_rate_above",
    "review_age_above",
    "review_backlog_above",
]


@dataclass(frozen=True)
class Health:
    """What a rule may look at after one call of one guard.

    Attributes:
        guard: the guard's name; version: its version.
        rates: rolling abstention, fallback and error rates over the metrics window.
        drift_status: the monitor's latest status ("ok", "drift", ...) or None.
        circuit_open: names of the circuits (breakers) seen open on this call.
        review_pending: pending cases in the review queue (None: not measured).
        review_oldest: seconds the oldest pending review case has waited (None: not
            measured). Build both from a queue with `Health.of_queue`.
    """

    guard: str
    version: str
    rates: Rates
    drift_status: str | None = None
    circuit_open: tuple[str, ...] = ()
    review_pending: int | None = None
    review_oldest: float | None = None

    @classmethod
    def of_queue(cls, stats: Any, *, guard: str = "review", version: str = "0") -> Health:
        """The health of a review queue from its ``stats()`` snapshot, for the backlog and
        age rules: ``alerts.evaluate(Health.of_queue(queue.stats()))`` from a periodic
        job (queue statistics are a database read, so no guard call takes them)."""
        return cls(
            guard,
            version,
            Rates(0, 0.0, 0.0, 0.0),
            review_pending=int(stats.counts["pending"]),
            review_oldest=float(stats.oldest_pending_age),
        )


@dataclass(frozen=True)
class Alert:
    """One fired alert, as handed to the sinks.

    Attributes:
        rule: the rule's name ("abstention_rate", "fallback_rate", "error_rate", "drift",
            "circuit_open").
        guard: the guard's name; version: its version.
        value: the observed value (a rate, or 1.0 for a state).
        threshold: the line it crossed.
        message: one readable sentence.
        at: wall-clock time (``time.time()``) when it fired.
    """

    rule: str
    guard: str
    version: str
    value: float
    threshold: float
    message: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        """The alert as plain JSON-friendly values."""
        return {
            "rule": self.rule,
            "guard": self.guard,
            "version": self.version,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "at": self.at,
        }


Sink = Callable[[Alert], Any]
"""Where alerts go: any callable taking an [`Alert`][] (a pager client, a queue put...)."""


class AlertRule:
    """A condition over `Health`; use the factory functions to make one.

    Args:
        name: the rule's stable name (used in events and the cool-down key).
        threshold: the line; its meaning depends on the rule.
        min_rows: rate rules stay quiet until the window holds at least this many rows.
    """

    def __init__(self, name: str, *, threshold: float, min_rows: int = 0) -> None:
        self.name = name
        self.threshold = float(threshold)
        self.min_rows = int(min_rows)

    def value(self, health: Health) -> float | None:
        """The observed value when the rule fires, else None."""
        name = self.name
        if name == "abstention_rate":
            rate = health.rates.abstention
        elif name == "fallback_rate":
            rate = health.rates.fallback
        elif name == "error_rate":
            rate = health.rates.error
        else:
            rate = None
        if rate is not None:
            if health.rates.rows < self.min_rows or rate <= self.threshold:
                return None
            return rate
        if name == "drift":
            return 1.0 if health.drift_status == "drift" else None
        if name == "circuit_open":
            return 1.0 if health.circuit_open else None
        if name == "review_backlog":
            n = health.review_pending
            return None if n is None or n <= self.threshold else float(n)
        if name == "review_age":
            age = health.review_oldest
            return None if age is None or age <= self.threshold else float(age)
        return None  # pragma: no cover - the factories make only the names above

    def message(self, health: Health, value: float) -> str:
        """A readable sentence for an alert of this rule."""
        who = f"guard {health.guard!r} (version {health.version})"
        if self.name == "drift":
            return f"{who}: the monitor declared drift."
        if self.name == "circuit_open":
            return f"{who}: circuit open for {', '.join(health.circuit_open)}."
        if self.name == "review_backlog":
            return f"{who}: {value:.0f} review cases pending, above {self.threshold:.0f}."
        if self.name == "review_age":
            return (
                f"{who}: the oldest pending review case has waited {value:.0f} s, above "
                f"{self.threshold:.0f} s."
            )
        what = self.name.replace("_", " ")
        return (
            f"{who}: {what} {value:.1%} over the last {health.rates.rows} rows is above "
            f"{self.threshold:.1%}."
        )

    def __repr__(self) -> str:
        if self.name in ("drift", "circuit_open"):
            return {"drift": "drift_detected()", "circuit_open": "circuit_opened()"}[self.name]
        if self.name in ("review_backlog", "review_age"):
            return f"{self.name}_above({self.threshold!r})"
        return f"{self.name}_above({self.threshold!r}, min_rows={self.min_rows})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlertRule) and (other.name, other.threshold, other.min_rows) == (
            self.name,
            self.threshold,
            self.min_rows,
        )

    __hash__ = None  # type: ignore[assignment]


def _rate_rule(name: str, threshold: float, min_rows: int) -> AlertRule:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0.0 <= threshold < 1.0
    ):
        raise ConfigurationError(
            f"The 'threshold' parameter of {name}_above must be a float in [0, 1). "
            f"Got {threshold!r} instead."
        )
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ConfigurationError(
            f"The 'min_rows' parameter of {name}_above must be an int >= 1. "
            f"Got {min_rows!r} instead."
        )
    return AlertRule(name, threshold=threshold, min_rows=min_rows)


def abstention_rate_above(threshold: float, *, min_rows: int = 100) -> AlertRule:
    """Fire when the rolling share of withheld rows exceeds ``threshold``.

    Args:
        threshold: a rate in [0, 1).
        min_rows: stay quiet until the metrics window holds this many rows.
    """
    return _rate_rule("abstention_rate", threshold, min_rows)


def fallback_rate_above(threshold: float, *, min_rows: int = 100) -> AlertRule:
    """Fire when the rolling share of rows answered by a fallback stage exceeds ``threshold``."""
    return _rate_rule("fallback_rate", threshold, min_rows)


def error_rate_above(threshold: float, *, min_rows: int = 100) -> AlertRule:
    """Fire when the rolling share of rows lost to model errors, timeouts, open circuits or
    raised calls exceeds ``threshold``."""
    return _rate_rule("error_rate", threshold, min_rows)


def drift_detected() -> AlertRule:
    """Fire when the guard's monitor reports status ``"drift"``."""
    return AlertRule("drift", threshold=1.0)


def circuit_opened() -> AlertRule:
    """Fire when a call finds a circuit breaker open (rows withheld with reason
    ``circuit_open``, or a fallback chain found a breaker open: ``call.open_circuits``)."""
    return AlertRule("circuit_open", threshold=1.0)


def review_backlog_above(cases: int) -> AlertRule:
    """Fire when more than ``cases`` review cases are pending (see `Health.of_queue`)."""
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 0:
        raise ConfigurationError(
            f"The 'cases' parameter of review_backlog_above must be an int >= 0. Got {cases!r}."
        )
    return AlertRule("review_backlog", threshold=cases)


def review_age_above(seconds: float) -> AlertRule:
    """Fire when the oldest pending review case has waited more than ``seconds``."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ConfigurationError(
            "The 'seconds' parameter of review_age_above must be a positive number. "
            f"Got {seconds!r} instead."
        )
    return AlertRule("review_age", threshold=seconds)


class Alerts:
    """Rules, sinks and a cool-down; give it to ``guard(...).log(alerts=...)``.

    One [`Alerts`][] may serve several guards: cool-downs are kept per rule and guard.

    Args:
        rules: the rules to evaluate after every call.
        sinks: callables each fired [`Alert`][] is passed to. A sink that raises is
            reported in a warning event and does not affect the decision.
        cooldown: seconds during which a rule that fired for a guard stays quiet.
        clock: the monotonic clock used for cool-downs (tests pass a fake one).

    Raises:
        ConfigurationError: a rule, a sink or the cool-down is not valid.

    Examples:
        >>> from guardrails import Alerts, abstention_rate_above, drift_detected
        >>> fired = []
        >>> alerts = Alerts([abstention_rate_above(0.2), drift_detected()],
        ...                 sinks=[fired.append], cooldown=600)
        >>> alerts.rules
        (abstention_rate_above(0.2, min_rows=100), drift_detected())
    """

    def __init__(
        self,
        rules: Iterable[AlertRule],
        *,
        sinks: Iterable[Sink] = (),
        cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = tuple(rules)
        if not self.rules or not all(isinstance(r, AlertRule) for r in self.rules):
            raise ConfigurationError(
                "The 'rules' parameter of Alerts must be a non-empty list of rules such as "
                f"abstention_rate_above(0.2). Got {rules!r} instead."
            )
        self.sinks = tuple(sinks)
        bad = [s for s in self.sinks if not callable(s)]
        if bad:
            raise ConfigurationError(
                f"The 'sinks' parameter of Alerts must hold callables. Got {bad[0]!r}."
            )
        if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)) or cooldown < 0:
            raise ConfigurationError(
                "The 'cooldown' parameter of Alerts must be a number of seconds >= 0. "
                f"Got {cooldown!r} instead."
            )
        self.cooldown = float(cooldown)
        self.clock = clock
        self._last: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Alerts({list(self.rules)!r}, sinks={len(self.sinks)}, cooldown={self.cooldown})"

    def evaluate(self, health: Health, logger: Any = None) -> list[Alert]:
        """Check every rule against ``health``; fire those due, respecting the cool-down.

        Args:
            health: what the last call of a guard left behind.
            logger: a structlog logger for the warning events; none are emitted if None.

        Returns:
            The alerts fired now (empty while rules hold or cool down).
        """
        fired: list[Alert] = []
        for rule in self.rules:
            value = rule.value(health)
            if value is None:
                continue
            key = (rule.name, health.guard, health.version)
            now = self.clock()
            with self._lock:
                last = self._last.get(key)
                if last is not None and now - last < self.cooldown:
                    continue
                self._last[key] = now
            fired.append(
                Alert(
                    rule=rule.name,
                    guard=health.guard,
                    version=health.version,
                    value=value,
                    threshold=rule.threshold,
                    message=rule.message(health, value),
                    at=time.time(),
                )
            )
        for alert in fired:
            if logger is not None:
                logger.warning(
                    "guardrails.alert",
                    rule=alert.rule,
                    guard=alert.guard,
                    guard_version=alert.version,
                    value=alert.value,
                    threshold=alert.threshold,
                    message=alert.message,
                )
            for sink in self.sinks:
                try:
                    sink(alert)
                except Exception as exc:  # a broken pager must not break predictions
                    if logger is not None:
                        logger.warning(
                            "guardrails.alert_sink_failed",
                            rule=alert.rule,
                            guard=alert.guard,
                            sink=_name(sink),
                            error_type=type(exc).__name__,
                        )
        return fired

    def reset(self) -> None:
        """Forget every cool-down (the next due alert fires at once)."""
        with self._lock:
            self._last.clear()


def _name(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", None) or type(obj).__name__)
