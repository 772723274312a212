"""Drift actions: what the monitor does while drift lasts (alert, tighten, route, mark).

Each is a small object the monitor calls on every batch while drift lasts ([`apply`][])
and when drift starts or ends ([`notify`][]).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ConfigurationError
from guardrails.core.layer import Call
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["DriftAction", "DriftAlert", "MarkDrift", "Reweight", "RouteToReview", "Tighten"]


# Reasons under which the model produced nothing to observe for the row.
_NO_OUTPUT = np.array(
    [Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN],
    dtype=np.int8,
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
