"""Streaming drift monitoring: the Monitored wrapper and what it does when drift is found.

[`Monitored`][] observes every decided batch (model-ready inputs, predictions,
confidence, abstentions) into bounded-memory windows on a [`DriftProfile`][]'s grid,
tests each full window, and acts as the user chose while drift lasts: log only, alert
through plain-callable sinks ([`DriftAlert`][]), withhold low-confidence answers
([`Tighten`][]), send rows to review ([`RouteToReview`][]) or mark answers
([`MarkDrift`][]). Labels that arrive later feed a change detector on the error stream
([`Monitored.observe_labels`][]) for concept drift.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import structlog
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ConfigurationError, GuardrailsWarning, InvalidInputError
from guardrails.core.layer import Call, DriftNote, Layer, take_rows
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.monitoring.changepoint import PageHinkley
from guardrails.monitoring.drift import (
    KS_METHODS,
    TESTS,
    DriftProfile,
    DriftReport,
    FeatureDrift,
    TestResult,
    WindowState,
    _Coarse,
    _Numeric,
    check_test_settings,
    drifted_features,
    window_verdicts,
)
from guardrails.monitoring.performance import JoinedScores, PerformanceRule, PerformanceWatch

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "DriftAlert",
    "DriftAction",
    "MarkDrift",
    "Monitored",
    "Reweight",
    "RouteToReview",
    "Tighten",
]

# Reasons under which the model produced nothing to observe for the row.
_NO_OUTPUT = np.array(
    [Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN],
    dtype=np.int8,
)
STATUSES = ("warming_up", "ok", "drift")
_NOTIFY = (
    "drift_detected",
    "drift_recovered",
    "concept_drift_detected",
    "performance_degraded",
    "performance_recovered",
)


class DriftAction:
    """Something the monitor does while drift lasts (besides logging, which it always does).

    Subclasses override [`apply`][] (change the decisions of each batch while drift
    lasts) and/or [`notify`][] (react when drift starts or ends).
    """

    name: ClassVar[str] = "action"
    needs_confidence: ClassVar[bool] = False

    def apply(self, d: Decisions, call: Call, detail: str) -> tuple[Decisions, int]:
        """Decisions of one batch while drift lasts, and how many rows changed."""
        return d, 0

    def notify(self, event: dict[str, Any], log: Any) -> None:
        """Called with the event when drift is detected or recovers."""

    def fresh(self) -> DriftAction:
        """A copy with its own serving state (each built guard owns its actions)."""
        return self

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {}


@persistable
class DriftAlert(DriftAction):
    """Call plain-callable sinks with the event when drift starts or ends.

    A sink is any ``callable(event: dict)``: a pager client, a webhook poster, a queue's
    ``append``. Detections within ``cooldown`` seconds of the last alert sent are logged
    as suppressed instead; a sink that raises is logged and never breaks serving.

    Args:
        *sinks: callables receiving the event dict.
        cooldown: seconds between two detection alerts.
        clock: time source (seconds), for tests.
    """

    name = "alert"

    def __init__(
        self,
        *sinks: Callable[[dict[str, Any]], Any],
        cooldown: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not sinks or not all(callable(s) for s in sinks):
            raise ConfigurationError(
                "DriftAlert needs one or more callables receiving an event dict, e.g. "
                f"DriftAlert(alerts.append). Got {sinks!r}."
            )
        if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)) or cooldown < 0:
            raise ConfigurationError(
                f"The 'cooldown' parameter of DriftAlert must be a float >= 0. Got {cooldown!r}."
            )
        self.sinks = sinks
        self.cooldown = float(cooldown)
        self.clock = clock
        self._last: float | None = None

    def notify(self, event: dict[str, Any], log: Any) -> None:
        kind = event["event"]
        if kind.endswith("_detected"):
            now = self.clock()
            if self._last is not None and now - self._last < self.cooldown:
                log.info("drift_alert_suppressed", alert_of=kind, cooldown=self.cooldown)
                return
            self._last = now
        for sink in self.sinks:
            try:
                sink(dict(event))
            except Exception as exc:  # a broken pager must not break serving
                log.error("drift_alert_failed", alert_of=kind, error=repr(exc)[:200])
            else:
                log.info("drift_alert_sent", alert_of=kind, sink=getattr(sink, "__name__", "?"))

    def fresh(self) -> DriftAlert:
        return DriftAlert(*self.sinks, cooldown=self.cooldown, clock=self.clock)

    def __repr__(self) -> str:
        return f"DriftAlert(<{len(self.sinks)} sink(s)>, cooldown={self.cooldown!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "sinks": enc.ref("alert_sinks", "the alert sinks (a sequence of callables)"),
            "cooldown": self.cooldown,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> DriftAlert:
        sinks = dec.ref(state["sinks"])
        return cls(
            *(sinks if isinstance(sinks, (list, tuple)) else (sinks,)), cooldown=state["cooldown"]
        )


@persistable
class Tighten(DriftAction):
    """While drift lasts, withhold answers whose confidence is below ``threshold + delta``.

    Withheld rows get ``Reason.DRIFT``; the fallback chain and the review queue outside
    handle them like any other non-answer.

    Args:
        threshold: the confidence threshold in force without drift (e.g. the policy's).
        delta: how much stricter to be while drift lasts.
    """

    name = "tighten"
    needs_confidence = True

    def __init__(self, *, threshold: float, delta: float = 0.1) -> None:
        for key, value in (("threshold", threshold), ("delta", delta)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 <= value <= 1)
            ):
                raise ConfigurationError(
                    f"The {key!r} parameter of Tighten must be a float in [0, 1]. "
                    f"Got {value!r} instead."
                )
        self.threshold = float(threshold)
        self.delta = float(delta)

    @property
    def level(self) -> float:
        """The confidence an answer needs while drift lasts."""
        return min(1.0, self.threshold + self.delta)

    def apply(self, d: Decisions, call: Call, detail: str) -> tuple[Decisions, int]:
        if d.confidence is None:
            low = d.answered
        else:
            low = d.answered & ~(d.confidence >= self.level)
        text = f"{detail}; confidence below {self.level:g} while drift lasts"
        return d.withhold(low, Reason.DRIFT, detail=text), int(low.sum())

    def __repr__(self) -> str:
        return f"Tighten(threshold={self.threshold!r}, delta={self.delta!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"threshold": self.threshold, "delta": self.delta}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Tighten:
        return cls(threshold=state["threshold"], delta=state["delta"])


@persistable
class Reweight(DriftAction):
    """While drift lasts, switch weighted conformal policies to weighted mode.

    Keeps the model inputs of the last ``rows`` rows seen during drift; once it holds
    ``min_rows`` of them, and again after every ``rows`` new ones, it calls
    ``shift_to(inputs)`` on each policy inside that supports it (e.g.
    [`WeightedConformalSets`][guardrails.WeightedConformalSets]): the policy fits a domain
    classifier of those inputs against its calibration inputs and weighs calibration rows
    by the likelihood ratio from the next batch on. When drift ends the policies go back
    to unweighted sets. Each refit costs one logistic regression in the request path.

    Args:
        rows: recent rows kept (and rows between two refits).
        min_rows: rows needed before the first switch.
    """

    name = "reweight"

    def __init__(self, *, rows: int = 1000, min_rows: int = 200) -> None:
        for key, value in (("rows", rows), ("min_rows", min_rows)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigurationError(
                    f"The {key!r} parameter of Reweight must be an int >= 2. Got {value!r}."
                )
        self.rows, self.min_rows = rows, min(min_rows, rows)
        self._lock = threading.Lock()
        self._recent: deque[NDArray[Any]] = deque()
        self._held = self._fresh_rows = 0
        self._switched: list[Any] = []

    def apply(self, d: Decisions, call: Call, detail: str) -> tuple[Decisions, int]:
        if not call.reweightable:
            return d, 0
        idx = np.flatnonzero(~np.isin(d.reason, _NO_OUTPUT))
        try:
            x = np.asarray(call.model_rows(idx), dtype=np.float64)
        except (TypeError, ValueError):
            return d, 0  # inputs a domain classifier cannot read: stay unweighted
        with self._lock:
            self._recent.append(x.reshape(len(idx), -1))
            self._held += len(idx)
            self._fresh_rows += len(idx)
            while self._held - len(self._recent[0]) >= self.rows:
                self._held -= len(self._recent.popleft())
            due = self._held >= self.min_rows and (
                not self._switched or self._fresh_rows >= self.rows
            )
            if due:
                sample = np.vstack(self._recent)[-self.rows :]
                self._fresh_rows = 0
                for policy in call.reweightable:
                    policy.shift_to(sample)
                self._switched = list(call.reweightable)
        return d, 0

    def notify(self, event: dict[str, Any], log: Any) -> None:
        if event["event"] == "drift_recovered":
            with self._lock:
                for policy in self._switched:
                    policy.unshift()
                self._switched, self._recent, self._held = [], deque(), 0
            log.info("drift_reweight_off")

    def fresh(self) -> Reweight:
        return Reweight(rows=self.rows, min_rows=self.min_rows)

    def __repr__(self) -> str:
        return f"Reweight(rows={self.rows!r}, min_rows={self.min_rows!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"rows": self.rows, "min_rows": self.min_rows}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Reweight:
        return cls(rows=state["rows"], min_rows=state["min_rows"])


@persistable
class RouteToReview(DriftAction):
    """While drift lasts, withhold a share of the answers so a person reviews them.

    The review layer outside enqueues every withheld row.

    Args:
        share: fraction of answered rows to withhold, in (0, 1]; 1 sends all of them.
        reason: ``Reason.REVIEW`` (default) or ``Reason.DRIFT``.
        seed: seed of the random choice of rows when ``share < 1``.
    """

    name = "route_to_review"

    def __init__(
        self, *, share: float = 1.0, reason: Reason = Reason.REVIEW, seed: int | None = 0
    ) -> None:
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise ConfigurationError(
                f"The 'share' parameter of RouteToReview must be a float in (0, 1]. "
                f"Got {share!r} instead."
            )
        if reason not in (Reason.REVIEW, Reason.DRIFT):
            raise ConfigurationError(
                "The 'reason' parameter of RouteToReview must be Reason.REVIEW or "
                f"Reason.DRIFT. Got {reason!r} instead."
            )
        self.share = float(share)
        self.reason = Reason(reason)
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def apply(self, d: Decisions, call: Call, detail: str) -> tuple[Decisions, int]:
        pick = d.answered
        if self.share < 1.0:
            with self._lock:
                pick = pick & (self._rng.random(len(d)) < self.share)
        text = f"{detail}; sent to review while drift lasts"
        return d.withhold(pick, self.reason, detail=text), int(pick.sum())

    def fresh(self) -> RouteToReview:
        return RouteToReview(share=self.share, reason=self.reason, seed=self.seed)

    def __repr__(self) -> str:
        return f"RouteToReview(share={self.share!r}, reason=Reason.{self.reason.name})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"share": self.share, "reason": int(self.reason), "seed": self.seed}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> RouteToReview:
        return cls(share=state["share"], reason=Reason(state["reason"]), seed=state["seed"])


@persistable
class MarkDrift(DriftAction):
    """While drift lasts, keep answers but say so in their ``detail`` (empty details only)."""

    name = "mark"

    def apply(self, d: Decisions, call: Call, detail: str) -> tuple[Decisions, int]:
        col = object_column(len(d)) if d.detail is None else d.detail.copy()
        mark = d.answered & np.array([v is None for v in col], dtype=bool)
        col[mark] = detail
        return d.replace(detail=col), int(mark.sum())

    def __repr__(self) -> str:
        return "MarkDrift()"

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> MarkDrift:
        return cls()


def _actions(owner: str, action: Any) -> tuple[DriftAction, ...]:
    if action is None:
        return ()
    items = tuple(action) if isinstance(action, (list, tuple)) else (action,)
    if not all(isinstance(a, DriftAction) for a in items):
        raise ConfigurationError(
            f"The 'action' parameter of {owner} must be None, a DriftAction such as "
            f"Tighten(threshold=0.8) or DriftAlert(sink), or a sequence of them. Got {action!r}."
        )
    return items


class _Window:
    """Tumbling or sliding window of [`WindowState`][] buckets; fixed memory."""

    def __init__(self, profile: DriftProfile, window: int, step: int, mode: str) -> None:
        self.profile = profile
        self.capacity = window if mode == "tumbling" else step
        self.n_buckets = 1 if mode == "tumbling" else window // step
        self.done: deque[WindowState] = deque()
        self.current = profile.window_state()

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in (*self.done, self.current))

    def room(self) -> int:
        return self.capacity - self.current.rows

    def close_bucket(self) -> WindowState | None:
        """Close the full current bucket; the window's state when a window ends."""
        self.done.append(self.current)
        if len(self.done) < self.n_buckets:
            self.current = self.profile.window_state()
            return None
        if self.n_buckets == 1:  # tumbling: hand the bucket over, start a new one
            self.current = self.profile.window_state()
            return self.done.popleft()
        total = self.done[0]
        for state in list(self.done)[1:]:
            total = total.merge(state)  # a new state: the buckets stay as they are
        oldest = self.done.popleft()
        oldest.clear()
        self.current = oldest  # reuse the oldest bucket's memory for the next one
        return total

    def reset(self) -> None:
        self.done.clear()
        self.current = self.profile.window_state()


@persistable
class Monitored(PostLayer):
    """Watch inputs and outputs for drift, in windows, and act while drift lasts.

    The monitor observes the rows on which the model produced an output: the model-ready
    inputs (``call.model_input`` when a validating layer made them, else the raw batch),
    the predictions, the confidence and whether the policy abstained. Every ``window``
    observed rows (``mode="tumbling"``), or every ``step`` rows over the last ``window``
    rows (``mode="sliding"``), it tests the window against the profile. Drift is declared
    when the report's verdict is positive and ends after ``recovery`` clean windows in a
    row. While it lasts the ``action`` runs on every batch. It leaves
    ``call.drift``, a [`DriftNote`][guardrails.core.layer.DriftNote] (status and scores), for the
    layers outside.

    Args:
        inner: the model or guard layer to wrap.
        profile: the reference, from [`DriftProfile.from_data`][].
        window: rows per tested window.
        mode: "sliding" or "tumbling".
        step: rows between tests of a sliding window (must divide ``window``; default
            ``window // 4`` when 4 divides ``window``, else ``window``).
        tests: the tests, as in [`DriftProfile.evaluate`][].
        alpha: the tests, as in [`DriftProfile.evaluate`][].
        correction: the tests, as in [`DriftProfile.evaluate`][].
        thresholds: the tests, as in [`DriftProfile.evaluate`][].
        ks_method: KS p-values, as in [`DriftProfile.evaluate`][]; default "asymp", which
            costs nothing on the request path that closes a window ("auto" adds a few
            milliseconds per numeric feature for windows of at most 10,000 rows).
        action: None (log only), a [`DriftAction`][] or a sequence of them.
        recovery: clean windows in a row that end a drift episode.
        detector: the change detector on the error stream (default [`PageHinkley`][]).
        logger: a structlog logger; default ``structlog.get_logger("guardrails")``.
        performance: a [`PerformanceRule`][]: the label-free performance estimate on the
            same windows; while the rule holds the actions run as during drift, and the
            estimate with its bounds joins ``call.drift.scores`` (key "performance").

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import DriftProfile, Monitored
        >>> rng = np.random.default_rng(0)
        >>> from structlog.testing import CapturingLogger
        >>> X = rng.normal(size=(2000, 2)); y = (X[:, 0] > 0).astype(int)
        >>> log = CapturingLogger()
        >>> monitored = Monitored(LogisticRegression().fit(X, y),
        ...                       profile=DriftProfile.from_data(X), window=500,
        ...                       mode="tumbling", logger=log)
        >>> _ = monitored.decide(rng.normal(size=(500, 2)) + [2.0, 0.0])
        >>> [call.args[0] for call in log.calls]
        ['drift_window', 'drift_detected']
        >>> monitored.status, monitored.report.drifted_features
        ('drift', ['x0'])
    """

    name = "monitor"
    identity: tuple[str, str] | None = None
    """The guard's (name, version), set by the guard that assembles this layer."""

    def __init__(
        self,
        inner: Any,
        *,
        profile: DriftProfile,
        window: int = 1000,
        mode: str = "sliding",
        step: int | None = None,
        tests: Sequence[str] = TESTS,
        alpha: float = 0.05,
        correction: str = "bonferroni",
        thresholds: Mapping[str, float | None] | None = None,
        ks_method: str = "asymp",
        action: DriftAction | Sequence[DriftAction] | None = None,
        recovery: int = 1,
        detector: PageHinkley | None = None,
        logger: Any = None,
        performance: PerformanceRule | None = None,
    ) -> None:
        super().__init__(inner)
        ok = self._check(
            profile=profile,
            window=window,
            mode=mode,
            step=step,
            tests=tests,
            alpha=alpha,
            correction=correction,
            thresholds=thresholds,
            ks_method=ks_method,
            action=action,
            recovery=recovery,
            detector=detector,
            logger=logger,
        )
        self.alpha, self.correction, self._limits = ok["alpha"], ok["correction"], ok["limits"]
        self.thresholds = dict(thresholds) if thresholds else None
        self.ks_method = ks_method
        self.tests = tuple(tests)
        self.profile = profile
        self.window = window
        self.mode = mode
        self.step = ok["step"]
        self.actions = ok["actions"]
        if any(a.needs_confidence for a in self.actions) and "proba" not in self.inner.provides:
            raise ConfigurationError(
                "Tighten needs confidence, but the model gives "
                f"{sorted(self.inner.provides)}; use RouteToReview or MarkDrift instead."
            )
        self.recovery = recovery
        self.performance = performance
        self._perf = self._performance_watch(performance)
        self.detector = PageHinkley() if detector is None else detector
        self.logger = logger
        self._lock = threading.Lock()
        self._window = _Window(profile, window, self.step, mode)
        self._status = "warming_up"
        self._clean = 0
        self._report: DriftReport | None = None
        self._pending: _PendingReport | None = None
        self._drifted_now: list[str] = []
        self._coarse: dict[int, _Coarse] = {}
        self._concept: FeatureDrift | None = None
        self._concept_since = 0
        self._note = DriftNote(self._status)
        self._unreadable_logged = False
        self.windows_evaluated = 0
        self.rows_observed = 0

    @staticmethod
    def _check(
        *,
        profile: Any,
        window: Any,
        mode: Any,
        step: Any,
        tests: Any,
        alpha: Any,
        correction: Any,
        thresholds: Any,
        ks_method: Any,
        action: Any,
        recovery: Any,
        detector: Any,
        logger: Any,
    ) -> dict[str, Any]:
        """Validate the settings (also used by the builder, before any layer exists)."""
        owner = "Monitored"
        if not isinstance(profile, DriftProfile):
            raise ConfigurationError(
                f"The 'profile' parameter of {owner} must be a DriftProfile (see "
                f"DriftProfile.from_data). Got {type(profile).__name__} instead."
            )
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ConfigurationError(
                f"The 'window' parameter of {owner} must be an int >= 2. Got {window!r} instead."
            )
        if mode not in ("sliding", "tumbling"):
            raise ConfigurationError(
                f"The 'mode' parameter of {owner} must be 'sliding' or 'tumbling'. "
                f"Got {mode!r} instead."
            )
        if step is None:
            step = window // 4 if window % 4 == 0 else window
        if isinstance(step, bool) or not isinstance(step, int) or step < 1 or window % step:
            raise ConfigurationError(
                f"The 'step' parameter of {owner} must be an int >= 1 that divides window "
                f"({window}). Got {step!r} instead."
            )
        if isinstance(recovery, bool) or not isinstance(recovery, int) or recovery < 1:
            raise ConfigurationError(
                f"The 'recovery' parameter of {owner} must be an int >= 1. Got {recovery!r}."
            )
        if detector is not None and not isinstance(detector, PageHinkley):
            raise ConfigurationError(
                f"The 'detector' parameter of {owner} must be a PageHinkley. Got {detector!r}."
            )
        if logger is not None and not callable(getattr(logger, "info", None)):
            raise ConfigurationError(
                f"The 'logger' parameter of {owner} must be a structlog-style logger. "
                f"Got {logger!r}."
            )
        alpha, correction, limits = check_test_settings(owner, tests, alpha, correction, thresholds)
        if ks_method not in KS_METHODS:
            raise ConfigurationError(
                f"The 'ks_method' parameter of {owner} must be one of {list(KS_METHODS)}. "
                f"Got {ks_method!r} instead."
            )
        return {
            "alpha": alpha,
            "correction": correction,
            "limits": limits,
            "step": step if mode == "sliding" else window,
            "actions": _actions(owner, action),
        }

    def _performance_watch(self, rule: Any) -> PerformanceWatch | None:
        """The label-free performance estimate on this monitor's windows (issue 18)."""
        if rule is None:
            return None
        if not isinstance(rule, PerformanceRule):
            raise ConfigurationError(
                "The 'performance' parameter of Monitored must be a PerformanceRule, e.g. "
                f"PerformanceRule(below=0.9). Got {rule!r} instead."
            )
        if rule.needs_confidence and "proba" not in self.inner.provides:
            raise ConfigurationError(
                f"{rule!r} needs calibrated confidence, but the model gives "
                f"{sorted(self.inner.provides)}."
            )
        return PerformanceWatch(rule, self.window, self.step, self.mode)

    @property
    def performance_firing(self) -> bool:
        """True while the performance rule holds (the actions run as during drift)."""
        return self._perf is not None and self._perf.firing

    # -- what users read -----------------------------------------------------------------

    @property
    def log(self) -> Any:
        return self.logger if self.logger is not None else structlog.get_logger("guardrails")

    @property
    def status(self) -> str:
        """The drift status: "warming_up" before the first full window, then "ok" or "drift"."""
        return self._status

    @property
    def report(self) -> DriftReport | None:
        """The latest window's report (with the label stream's row once labels came).

        Serving computes only each window's verdict; the report's p-values and distances
        are computed here, on first access.
        """
        if self._report is None and self._pending is not None:
            self._report = self._pending.get()
        return self._report

    def scores(self) -> dict[str, dict[str, float]]:
        """Latest statistic per test per feature, for a metrics exporter."""
        report = self.report
        return {} if report is None else report.scores()

    @property
    def state_nbytes(self) -> int:
        """Bytes held by the window state: fixed by the profile and window, not by traffic."""
        return self._window.nbytes + (0 if self._perf is None else self._perf.nbytes)

    def reset(self) -> None:
        """Forget windows, status and the label stream (e.g. after retraining)."""
        with self._lock:
            self._window.reset()
            self._status = "warming_up"
            self._clean = 0
            self._report = None
            self._pending = None
            self._drifted_now = []
            self._concept = None
            self.detector.reset()
            if self._perf is not None:
                self._perf.reset()
            self._note = DriftNote(self._status)

    # -- observing -----------------------------------------------------------------------

    def _fit(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        return self.inner._fit(X, y, call)  # calibration data is not traffic: not observed

    def _post(self, d: Decisions, call: Call) -> Decisions:
        rows = ~np.isin(d.reason, _NO_OUTPUT)
        if call.valid is not None and len(call.valid) == len(d):
            rows &= call.valid
        idx = np.flatnonzero(rows)
        events: list[dict[str, Any]] = []
        if idx.size:
            inputs = self._inputs(call, idx)
            with self._lock:
                events = self._observe(d, idx, inputs)
                if self._perf is not None:
                    conf = None if d.confidence is None else d.confidence[idx]
                    events += self._perf.observe(conf, d.abstained[idx], d.prediction[idx])
                status, note = self._status, self._note
        else:
            status, note = self._status, self._note
        for event in events:
            self._emit(event, call.request_id)
        if self._perf is not None and self._perf.latest is not None:
            note = DriftNote(status, JoinedScores(self._perf.scores(), note.scores))
        call.drift = note
        if (status == "drift" or self.performance_firing) and self.actions:
            if status == "drift":
                detail = "drift: " + ", ".join(self._drifted_names()[:5])
            else:
                detail = f"performance: estimated {self._perf.rule.metric} too low"  # type: ignore[union-attr]
            for action in self.actions:
                d, changed = action.apply(d, call, detail)
                if changed:
                    self.log.info(
                        "drift_action",
                        action=action.name,
                        rows=changed,
                        request_id=call.request_id,
                    )
        return d

    def _inputs(self, call: Call, idx: NDArray[np.intp]) -> Any:
        if not self.profile.features:
            return None
        source = call.raw if call.model_input is None else call.model_input
        try:
            rows = call.model_rows(idx) if call.model_input is not None else call.rows(idx)
            if isinstance(rows, np.ndarray) and rows.dtype.kind not in "iufbO":
                raise InvalidInputError("not numeric")
            if isinstance(rows, list) and rows and not isinstance(rows[0], Mapping):
                rows = np.asarray(rows)
            return rows
        except (InvalidInputError, TypeError, ValueError, IndexError):
            if not self._unreadable_logged:
                self._unreadable_logged = True
                self.log.warning("drift_inputs_unreadable", input_type=type(source).__name__)
            return None

    def _observe(self, d: Decisions, idx: NDArray[np.intp], inputs: Any) -> list[dict[str, Any]]:

        outputs = self.profile.output_names
        pred = d.prediction[idx] if "prediction" in outputs else None
        conf = d.confidence[idx] if "confidence" in outputs and d.confidence is not None else None
        abst = d.abstained[idx] if "abstention" in outputs else None
        if self._closes(idx.size) >= self._window.n_buckets + 2:
            batch = self._observe_batch(inputs, pred, conf, abst, idx.size)
            if batch is not None:
                return batch
        events: list[dict[str, Any]] = []
        start, total = 0, idx.size
        while start < total:
            take = min(self._window.room(), total - start)
            part = np.arange(start, start + take)
            x_part = None if inputs is None else take_rows(inputs, part)
            current = self._window.current
            before = current.rows
            try:
                current.update(
                    x_part,
                    predictions=None if pred is None else pred[part],
                    confidence=None if conf is None else conf[part],
                    abstained=None if abst is None else abst[part],
                )
            except InvalidInputError as exc:
                if not self._unreadable_logged:
                    self._unreadable_logged = True
                    self.log.warning("drift_inputs_unreadable", error=str(exc)[:200])
                inputs = None
                continue
            current.rows = before + take  # rows seen, whatever was readable in them
            self.rows_observed += take
            start += take
            if self._window.room() <= 0:
                state = self._window.close_bucket()
                if state is not None:
                    events += self._evaluate(state)
        return events

    # -- many windows in one call --------------------------------------------------------

    def _closes(self, total: int) -> int:
        """How many windows a call of ``total`` observed rows closes."""
        w = self._window
        room = w.room()
        if total < room:
            return 0
        buckets = 1 + (total - room) // w.capacity
        return max(0, buckets - max(0, w.n_buckets - len(w.done) - 1))

    def _columns(
        self, inputs: Any, pred: Any, conf: Any, abst: Any
    ) -> list[NDArray[Any] | None] | None:
        """Per profiled feature and output, its values (numeric) or slot codes; None when
        the batch is not a plain numeric array the windows can be read from directly."""
        p = self.profile
        cols: list[NDArray[Any] | None] = []
        if p.features:
            if (
                not isinstance(inputs, np.ndarray)
                or inputs.ndim != 2
                or inputs.dtype.kind not in "iufb"
                or inputs.shape[1] != len(p.features)
            ):
                return None
            for j, f in enumerate(p.features):
                col = inputs[:, j]
                cols.append(col if isinstance(f, _Numeric) else _codes(f, col))
        given = {"prediction": pred, "confidence": conf, "abstention": abst}
        for f in p.outputs:
            value = given[f.name]
            if value is None:
                cols.append(None)
            elif isinstance(f, _Numeric):
                cols.append(np.asarray(value))
            elif f.name == "abstention":
                yes, no = f.slots(np.array(["abstained", "answered"])).tolist()
                cols.append(np.where(np.asarray(value).astype(bool), yes, no))
            else:
                try:
                    cols.append(_codes(f, np.asarray(value)))
                except TypeError:  # labels numpy cannot sort
                    return None
        return cols

    def _observe_batch(
        self, inputs: Any, pred: Any, conf: Any, abst: Any, total: int
    ) -> list[dict[str, Any]] | None:
        """Observe a call that closes many windows: verdicts for all windows at once.

        The windows, their verdicts and the events are exactly those of observing the
        rows bucket by bucket; only the windows a full report may be asked of (those that
        hold rows of earlier calls, the last one, and any that starts a drift episode)
        get a window state, built the way the bucket-by-bucket path builds it.
        """

        cols = self._columns(inputs, pred, conf, abst)
        if cols is None:
            return None
        w = self._window
        cap, nb, carried = w.capacity, w.n_buckets, list(w.done)
        room = w.room()
        n_closed = 1 + (total - room) // cap
        starts = np.concatenate(([0], room + cap * np.arange(n_closed))).astype(np.intp)
        # window at the close of new bucket j: sequence [len(carried) + j + 1 - nb, ... + 1)
        closes = [j for j in range(n_closed) if len(carried) + j + 1 >= nb]
        clean = [j for j in closes if nb <= j < n_closed - 1]
        verdicts = window_verdicts(
            self.profile,
            cols,
            starts,
            [(j - nb + 1, j + 1) for j in clean],
            tests=self.tests,
            alpha=self.alpha,
            correction=self.correction,
            limits=self._limits,
            ks_method=self.ks_method,
            cache=self._coarse,
        )
        if verdicts is None:
            return None
        built: dict[int, WindowState] = {}

        def rows_state(a: int, b: int, state: WindowState | None = None) -> WindowState:
            state = self.profile.window_state() if state is None else state
            before = state.rows
            part = np.arange(a, b)
            state.update(
                None if inputs is None else take_rows(inputs, part),
                predictions=None if pred is None else pred[part],
                confidence=None if conf is None else conf[part],
                abstained=None if abst is None else abst[part],
            )
            state.rows = before + (b - a)
            return state

        def bucket(j: int) -> WindowState:  # new bucket j as the bucket-by-bucket path fills it
            if j not in built:
                first = w.current if j == 0 else None
                built[j] = rows_state(int(starts[j]), int(starts[j + 1]), first)
            return built[j]

        def window(j: int) -> WindowState:
            d0 = len(carried)
            seq = [
                carried[k] if k < d0 else bucket(k - d0) for k in range(d0 + j + 1 - nb, d0 + j + 1)
            ]
            total_state = seq[0]
            for state in seq[1:]:
                total_state = total_state.merge(state)
            return total_state

        by_close = dict(zip(clean, verdicts))
        events: list[dict[str, Any]] = []
        for j in closes:
            if j in by_close:
                names = by_close[j]
                events += self._conclude(names, nb * cap, functools.partial(window, j))
            else:
                events += self._evaluate(window(j))
        kept = [bucket(j) for j in range(max(0, n_closed - nb + 1), n_closed)] if nb > 1 else []
        w.done = deque(kept)
        end = int(starts[-1])
        w.current = rows_state(end, total) if end < total else self.profile.window_state()
        self.rows_observed += total
        return events

    # -- verdicts ------------------------------------------------------------------------

    def _evaluate(self, state: WindowState) -> list[dict[str, Any]]:
        names = drifted_features(
            self.profile,
            state,
            tests=self.tests,
            alpha=self.alpha,
            correction=self.correction,
            limits=self._limits,
            ks_method=self.ks_method,
        )
        return self._conclude(names, state.rows, lambda: state)

    def _conclude(
        self, names: list[str], rows: int, state: Callable[[], WindowState]
    ) -> list[dict[str, Any]]:
        """Status, events and the (lazy) report of one window whose verdict is ``names``."""
        concept = self._concept
        if concept is not None:  # the report carries the label stream's row last
            names = [n for n in names if n != concept.feature]
            if concept.drifted:
                names.append(concept.feature)
        self._pending = _PendingReport(self, state, concept)
        self._report = None
        self._drifted_now = names
        self.windows_evaluated += 1
        events: list[dict[str, Any]] = [
            {
                "event": "drift_window",
                "level": "info",
                "rows": rows,
                "drifted": bool(names),
                "drifted_features": list(names),
            }
        ]
        before = self._status
        if names:
            self._clean = 0
            self._status = "drift"
        else:
            self._clean += 1
            if before != "drift" or self._clean >= self.recovery:
                self._status = "ok"
        if before != "drift" and self._status == "drift":
            report = self._pending.get(names)
            events.append(
                {
                    "event": "drift_detected",
                    "level": "warning",
                    "drifted_features": report.drifted_features,
                    "scores": {
                        f.feature: f.to_dict()["tests"] for f in report.features if f.drifted
                    },
                    "actions": [a.name for a in self.actions],
                }
            )
        elif before == "drift" and self._status == "ok":
            events.append({"event": "drift_recovered", "level": "info", "rows": rows})
        self._note = DriftNote(self._status, _LazyScores(self._pending))
        return events

    def _emit(self, event: dict[str, Any], request_id: str | None = None) -> None:
        """Log ``event`` and notify the actions; a broken logger must not break serving.

        Events carry the guard's name and version, and the id of the request whose rows
        closed the window, like decision events.
        """
        fields = {k: v for k, v in event.items() if k not in ("event", "level")}
        if self.identity is not None:
            fields["guard"], fields["guard_version"] = self.identity
        if request_id is not None:
            fields["request_id"] = request_id
        try:
            getattr(self.log, event["level"])(event["event"], **fields)
        except Exception as exc:
            _logger_failed(event["event"], exc)
        if event["event"] in _NOTIFY:
            for action in self.actions:
                try:
                    action.notify(event, self.log)
                except Exception as exc:  # the action's own logging failed
                    _logger_failed(event["event"], exc)

    def _drifted_names(self) -> list[str]:
        return list(self._drifted_now)

    # -- labels --------------------------------------------------------------------------

    def observe_labels(self, predictions: Any, labels: Any) -> bool:
        """Feed the error stream with answers whose true labels arrived; detect concept drift.

        The error is ``prediction != label`` for a classifier and ``|prediction - label|``
        for a regressor. A detected change is reported like input drift: an "errors" row
        in [`report`][] (test "page_hinkley"), status "drift", the actions' alerts, and
        events. It ends once as many labels as a window holds arrive without a new change.

        Args:
            predictions: ``(n,)`` the answers given.
            labels: ``(n,)`` their true labels.

        Returns:
            True when a change was detected in this batch.

        Raises:
            InvalidInputError: the two arrays differ in length or are not 1-D.
        """
        pred, true = np.asarray(predictions), np.asarray(labels)
        if pred.ndim != 1 or pred.shape != true.shape:
            raise InvalidInputError(
                "observe_labels() needs 1-D predictions and labels of the same length. Got "
                f"shapes {pred.shape} and {true.shape}."
            )
        if self.task == "regression":
            errors = np.abs(pred.astype(np.float64) - true.astype(np.float64))
        else:
            errors = (pred != true).astype(np.float64)
        with self._lock:
            found = self.detector.update(errors)
            before = self._status
            if found:
                self._concept_since = 0
            else:
                self._concept_since += errors.size
            drifted = found or (
                self._concept is not None
                and self._concept.drifted
                and self._concept_since < self.window
            )
            self._concept = FeatureDrift(
                feature="errors",
                kind="stream",
                group="labels",
                n=self.detector.seen_,
                tests={
                    "page_hinkley": TestResult(
                        self.detector.statistic, None, None, self.detector.threshold, drifted
                    )
                },
                drifted=drifted,
            )
            base = self.report
            self._pending = None
            self._report = (
                DriftReport((self._concept,), self.alpha, self.correction, 0)
                if base is None
                else base.with_feature(self._concept)
            )
            inputs_drift = base is not None and any(
                f.drifted for f in base.features if f.group != "labels"
            )
            if drifted or inputs_drift:
                self._status = "drift"
            elif before == "drift":
                self._status = "ok"
            self._note = DriftNote(self._status, self._report.scores())
            self._drifted_now = self._report.drifted_features
            events: list[dict[str, Any]] = []
            if found:
                events.append(
                    {
                        "event": "concept_drift_detected",
                        "level": "warning",
                        "labels_seen": self.detector.seen_,
                        "detections": self.detector.detections_,
                    }
                )
            elif before == "drift" and self._status == "ok":
                events.append({"event": "drift_recovered", "level": "info", "rows": 0})
        for event in events:
            self._emit(event)
        return found

    # -- the rest ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"Monitored(profile={self.profile!r}, window={self.window!r}, mode={self.mode!r}, "
            f"step={self.step!r}, tests={self.tests!r}, alpha={self.alpha!r}, "
            f"correction={self.correction!r}, ks_method={self.ks_method!r}, "
            f"action={list(self.actions)!r}"
            + ("" if self.performance is None else f", performance={self.performance!r}")
            + ")"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "profile": enc.component(self.profile),
            "window": self.window,
            "mode": self.mode,
            "step": self.step,
            "tests": list(self.tests),
            "alpha": self.alpha,
            "correction": self.correction,
            "thresholds": self.thresholds,
            "ks_method": self.ks_method,
            "actions": [enc.component(a) for a in self.actions],
            "recovery": self.recovery,
            "detector": enc.component(self.detector),
            "performance": None if self.performance is None else enc.component(self.performance),
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Monitored:
        perf = state.get("performance")
        return cls(
            inner,
            profile=dec.component(state["profile"]),
            window=state["window"],
            mode=state["mode"],
            step=state["step"],
            tests=tuple(state["tests"]),
            alpha=state["alpha"],
            correction=state["correction"],
            thresholds=state["thresholds"],
            ks_method=state.get("ks_method", "asymp"),
            action=[dec.component(a) for a in state["actions"]],
            recovery=state["recovery"],
            detector=dec.component(state["detector"]),
            performance=None if perf is None else dec.component(perf),
        )


def _logger_failed(event: str, exc: Exception) -> None:
    warnings.warn(
        f"the drift monitor's logger failed on {event!r} ({type(exc).__name__}: "
        f"{str(exc)[:200]}); the decision is returned, the event is not logged.",
        GuardrailsWarning,
        stacklevel=3,
    )


def _codes(f: Any, values: NDArray[Any]) -> NDArray[np.intp]:
    """Slot codes of a categorical feature's values (what `WindowState.update` counts)."""
    uniq, inverse = np.unique(values, return_inverse=True)
    codes: NDArray[np.intp] = np.asarray(f.slots(uniq), dtype=np.intp)[inverse.reshape(-1)]
    return codes


class _PendingReport:
    """The full report of one window, computed on first use (serving needs the verdict)."""

    def __init__(
        self, owner: Monitored, state: Callable[[], WindowState], concept: FeatureDrift | None
    ) -> None:
        self._owner = owner
        self._state: Callable[[], WindowState] | None = state
        self._concept = concept
        self._report: DriftReport | None = None
        self._built: WindowState | None = None
        self._lock = threading.Lock()

    def get(self, only: Sequence[str] | None = None) -> DriftReport:
        """The report; with ``only``, the entries of those features (as the report has
        them) and the label stream's, for an event that names the drifted features."""
        with self._lock:
            if self._report is not None:
                return self._report
            o = self._owner
            if self._built is None:
                assert self._state is not None
                self._built, self._state = self._state(), None
            report = o.profile._report(
                self._built, o.tests, o.alpha, o.correction, o._limits, o.ks_method, only
            )
            if self._concept is not None:
                report = report.with_feature(self._concept)
            if only is None:
                self._report, self._built = report, None
            return report


class _LazyScores(Mapping[str, dict[str, float]]):
    """``report.scores()`` of a pending report, computed when first read."""

    def __init__(self, pending: _PendingReport) -> None:
        self._pending = pending
        self._scores: dict[str, dict[str, float]] | None = None

    def _get(self) -> dict[str, dict[str, float]]:
        if self._scores is None:
            self._scores = self._pending.get().scores()
        return self._scores

    def __getitem__(self, key: str) -> dict[str, float]:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())
