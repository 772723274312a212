"""Performance rule and watch: what makes the label-free estimate act inside a monitor.

- [`PerformanceRule`][]: what makes the estimate act inside [`Monitored`][]: a rule such
  as "estimated accuracy of answered rows below 0.9 with 95% confidence" that starts
  the monitor's actions while it holds and recovers when it clears.
- the estimate itself ([`estimate_performance`][], [`PerformanceState`][], [`LossModel`][])
  lives in module ``estimation`` and is re-exported here, so every import path keeps working.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError
from guardrails.core.persistence import persistable
from guardrails.monitoring.estimation import (
    _K,
    _ROWS,
    METRICS,
    _check_level,
    _estimate,
)
from guardrails.monitoring.estimation import LossModel as LossModel
from guardrails.monitoring.estimation import PerformanceEstimate as PerformanceEstimate
from guardrails.monitoring.estimation import PerformanceState as PerformanceState
from guardrails.monitoring.estimation import estimate_performance as estimate_performance
from guardrails.monitoring.estimation import (
    estimate_performance_chunks as estimate_performance_chunks,
)

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "METRICS",
    "LossModel",
    "PerformanceEstimate",
    "PerformanceRule",
    "PerformanceState",
    "estimate_performance",
    "estimate_performance_chunks",
]


# -- acting: a rule on windows ----------------------------------------------------------------


@persistable
class PerformanceRule:
    """When the estimated performance of a monitor's window is too poor to keep serving as is.

    The rule fires when, with confidence ``confidence`` (one-sided), the metric is on the
    wrong side of its threshold: the upper bound of an accuracy is below ``below``, or
    the lower bound of the expected absolute error is above ``above``. While it holds the
    monitor runs its actions (alert, tighten, route to review) as it does for drift; it
    recovers after ``recovery`` windows in a row where it does not fire.

    Args:
        metric: "accuracy_answered" (default), "accuracy_all" or "mae".
        below: fire when an accuracy is below this (accuracies).
        above: fire when the error is above this ("mae").
        confidence: one-sided confidence of the bound, in (0, 1).
        recovery: clear windows in a row that end an episode.
        positive: the positive class of a binary model (adds precision/recall to events).
        loss_model: a fitted [`LossModel`][] ("mae").

    Examples:
        >>> PerformanceRule(below=0.9)
        PerformanceRule(metric='accuracy_answered', below=0.9, confidence=0.95)
    """

    def __init__(
        self,
        metric: str = "accuracy_answered",
        *,
        below: float | None = None,
        above: float | None = None,
        confidence: float = 0.95,
        recovery: int = 1,
        positive: Any = None,
        loss_model: LossModel | None = None,
    ) -> None:
        owner = "PerformanceRule"
        if metric not in METRICS:
            raise ConfigurationError(
                f"The 'metric' parameter of {owner} must be one of {list(METRICS)}. "
                f"Got {metric!r} instead."
            )
        accuracy = metric != "mae"
        threshold = below if accuracy else above
        other = above if accuracy else below
        side = "below" if accuracy else "above"
        if other is not None or threshold is None:
            raise ConfigurationError(
                f"{owner}({metric!r}) needs '{side}=' (and only that threshold); "
                f"got below={below!r}, above={above!r}."
            )
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ConfigurationError(
                f"The '{side}' parameter of {owner} must be a float. Got {threshold!r} instead."
            )
        if accuracy and not 0 < threshold <= 1:
            raise ConfigurationError(
                f"The 'below' parameter of {owner} must be a float in (0, 1]. "
                f"Got {threshold!r} instead."
            )
        if not accuracy and (loss_model is None or threshold <= 0):
            raise ConfigurationError(
                f"{owner}('mae') needs a fitted loss_model and above > 0. "
                f"Got loss_model={loss_model!r}, above={threshold!r}."
            )
        if isinstance(recovery, bool) or not isinstance(recovery, int) or recovery < 1:
            raise ConfigurationError(
                f"The 'recovery' parameter of {owner} must be an int >= 1. Got {recovery!r}."
            )
        self.metric = metric
        self.below = below
        self.above = above
        self.confidence = _check_level(owner, "confidence", confidence)
        self.recovery = recovery
        self.positive = positive
        self.loss_model = loss_model

    @property
    def needs_confidence(self) -> bool:
        return self.metric != "mae"

    @property
    def level(self) -> float:
        """Two-sided level whose bound is the rule's one-sided bound."""
        return 2.0 * self.confidence - 1.0

    def fires(self, estimate: PerformanceEstimate) -> bool:
        """True when the window's estimate is on the wrong side of the threshold."""
        value, lo, hi = estimate.value(self.metric)
        if math.isnan(value):
            return False
        if self.below is not None:
            return hi < self.below
        return lo > float(self.above)  # type: ignore[arg-type]

    def state(self) -> PerformanceState:
        return PerformanceState(positive=self.positive, loss_model=self.loss_model)

    def __repr__(self) -> str:
        side = f"below={self.below!r}" if self.below is not None else f"above={self.above!r}"
        extra = "" if self.recovery == 1 else f", recovery={self.recovery!r}"
        return (
            f"PerformanceRule(metric={self.metric!r}, {side}, "
            f"confidence={self.confidence!r}{extra})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "below": self.below,
            "above": self.above,
            "confidence": self.confidence,
            "recovery": self.recovery,
            "positive": self.positive if isinstance(self.positive, (int, str, bool)) else None,
            "loss_model": None if self.loss_model is None else enc.component(self.loss_model),
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> PerformanceRule:
        loss = state.get("loss_model")
        return cls(
            state["metric"],
            below=state["below"],
            above=state["above"],
            confidence=state["confidence"],
            recovery=state["recovery"],
            positive=state.get("positive"),
            loss_model=None if loss is None else dec.component(loss),
        )


class PerformanceWatch:
    """A rule's windows inside a monitor: the monitor's window grid, sums per bucket.

    Rows are observed in the monitor's order, so windows close at the same rows as the
    drift windows. Memory is one [`PerformanceState`][] per bucket. A call of many rows
    is cut into windows with one cumulative sum, not row by row.
    """

    def __init__(self, rule: PerformanceRule, window: int, step: int, mode: str) -> None:
        self.rule = rule
        self.capacity = window if mode == "tumbling" else step
        self.n_buckets = 1 if mode == "tumbling" else window // step
        self.done: deque[NDArray[np.float64]] = deque()
        self.current = np.zeros(_K, dtype=np.float64)
        self.firing = False
        self.latest: PerformanceEstimate | None = None
        self._clear = 0
        self._kinds = (
            rule.loss_model is None,
            rule.loss_model is None and rule.positive is not None,
            rule.loss_model is not None,
        )

    @property
    def nbytes(self) -> int:
        return (len(self.done) + 1) * self.current.nbytes

    def reset(self) -> None:
        self.done.clear()
        self.current = np.zeros(_K, dtype=np.float64)
        self.firing, self.latest, self._clear = False, None, 0

    def scores(self) -> dict[str, Mapping[str, float]]:
        """``{"performance": {"estimate", "lower", "upper", "firing"}}`` for the gauges."""
        if self.latest is None:
            return {}
        value, lo, hi = self.latest.value(self.rule.metric)
        firing = float(self.firing)
        return {"performance": {"estimate": value, "lower": lo, "upper": hi, "firing": firing}}

    def observe(self, confidence: Any, abstained: Any, predictions: Any) -> list[dict[str, Any]]:
        """Add the rows of one call; the events of the windows they close."""
        q = self.rule.state().per_row(confidence, abstained, predictions)
        n = q.shape[0]
        room = self.capacity - int(self.current[_ROWS])
        if n < room:
            self.current += q.sum(axis=0)
            return []
        # bucket ends inside this call: room, room + capacity, ...; one reduceat sums them
        ends = np.arange(room, n + 1, self.capacity)
        cuts = np.concatenate(([0], ends)).astype(np.intp)  # room >= 1: strictly increasing
        last = int(ends[-1])
        sums = np.add.reduceat(q, cuts[:-1] if last == n else cuts, axis=0)
        buckets = sums[: ends.size]
        buckets[0] += self.current
        events: list[dict[str, Any]] = []
        for b in buckets:
            self.done.append(b)
            if len(self.done) > self.n_buckets:
                self.done.popleft()
            if len(self.done) == self.n_buckets:
                events += self._close(np.sum(self.done, axis=0))
        self.current = sums[ends.size].copy() if last < n else np.zeros(_K, dtype=np.float64)
        return events

    def _close(self, sums: NDArray[np.float64]) -> list[dict[str, Any]]:
        rule = self.rule
        est = _estimate(sums, rule.level, self._kinds)
        self.latest = est
        value, lo, hi = est.value(rule.metric)
        fires = rule.fires(est)
        events: list[dict[str, Any]] = [
            {
                "event": "performance_window",
                "level": "info",
                "metric": rule.metric,
                "estimate": value,
                "lower": lo,
                "upper": hi,
                "rows": est.rows,
                "fires": fires,
            }
        ]
        fields = {"metric": rule.metric, "estimate": value, "lower": lo, "upper": hi}
        if fires:
            self._clear = 0
            if not self.firing:
                self.firing = True
                threshold = rule.below if rule.below is not None else rule.above
                events.append(
                    {
                        "event": "performance_degraded",
                        "level": "warning",
                        **fields,
                        "threshold": threshold,
                        "confidence": rule.confidence,
                    }
                )
        elif self.firing:
            self._clear += 1
            if self._clear >= rule.recovery:
                self.firing = False
                events.append({"event": "performance_recovered", "level": "info", **fields})
        return events


class JoinedScores(Mapping[str, Mapping[str, float]]):
    """Two score mappings read as one (the first wins), without reading either early."""

    def __init__(
        self, first: Mapping[str, Mapping[str, float]], rest: Mapping[str, Mapping[str, float]]
    ) -> None:
        self.first, self.rest = first, rest

    def __getitem__(self, key: str) -> Mapping[str, float]:
        if key in self.first:
            return self.first[key]
        return self.rest[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.first
        yield from (k for k in self.rest if k not in self.first)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))
