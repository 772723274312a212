"""The value of a review and the capacity to spend on it: priorities, the budget, audit odds.

A person's hour is spent where it changes the outcome most. [`cost_priority`][] and the
default uncertainty priority give each withheld row its *expected value of review*: the
cost of a wrong automated outcome times the probability that it is wrong. A
[`ReviewBudget`][] (``.review(queue, budget=...)``) admits at most ``cases`` withheld rows
per hour (or day) and spends them on the highest values: within a call it takes the best
rows first, and across calls it admits a row only when its value reaches the share of
recent traffic that the remaining capacity can hold, so the first rows of the hour do not
take the whole budget. [`inclusion_probabilities`][] gives the known odds with which an
answered row joins the audit sample, which is what keeps labelled estimates unbiased.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions
from guardrails.core.errors import ConfigurationError

__all__ = [
    "PriorityFn",
    "ReviewBudget",
    "cost_priority",
    "inclusion_probabilities",
    "uncertainty",
]

PriorityFn = Callable[[Decisions, NDArray[np.intp]], NDArray[np.float64]]
_PERIODS = {"hour": 3600.0, "day": 86400.0}


def uncertainty(d: Decisions, idx: NDArray[np.intp]) -> NDArray[np.float64]:
    """``(len(idx),)`` probability that the answer is wrong: 1 - confidence (calibrated);
    interval width for regression; 1.0 where the model gave nothing."""
    out = np.ones(len(idx), dtype=np.float64)
    if d.confidence is not None:
        conf = d.confidence[idx]
        ok = np.isfinite(conf)
        out[ok] = 1.0 - conf[ok]
    elif d.proba is not None:
        top = np.max(d.proba[idx], axis=1) if d.proba.shape[1] else np.full(len(idx), np.nan)
        ok = np.isfinite(top)
        out[ok] = 1.0 - top[ok]
    elif d.interval is not None:
        width = d.interval[idx, 1] - d.interval[idx, 0]
        ok = np.isfinite(width)
        out[ok] = width[ok]
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def cost_priority(
    costs: Mapping[Any, float] | Mapping[Any, Mapping[Any, float]], *, default: float = 1.0
) -> PriorityFn:
    """A priority by expected cost of the automated outcome: the value of reviewing a row.

    Two forms:

    - ``{predicted: cost}``: the cost of an error when the model predicts that label, times
      the probability the candidate is wrong (1 - calibrated confidence).
    - ``{predicted: {true: cost}}``, a cost matrix: the expected cost of the candidate
      under the calibrated probabilities, ``sum_k p_k * cost[candidate][k]`` (missing
      entries cost ``default`` off the diagonal and 0 on it).

    Args:
        costs: one of the two forms above.
        default: cost for labels not in ``costs`` and rows without a candidate.

    Returns:
        A function ``(decisions, rows) -> (n_rows,)`` priorities for ``.review(priority=)``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> d = Decisions(prediction=np.array(["ok", "fraud"]), confidence=np.array([0.9, 0.6]))
        >>> cost_priority({"ok": 10.0, "fraud": 1.0})(d, np.arange(2)).round(2).tolist()
        [1.0, 0.4]
    """
    if not isinstance(costs, Mapping) or not costs:
        raise ConfigurationError(
            "The 'costs' parameter of cost_priority must be a non-empty mapping of label -> "
            f"cost or label -> {{label: cost}}. Got {costs!r} instead."
        )
    nested = all(isinstance(v, Mapping) for v in costs.values())
    if not nested and any(isinstance(v, Mapping) for v in costs.values()):
        raise ConfigurationError(
            "The 'costs' parameter of cost_priority mixes plain costs and rows of a cost "
            "matrix; give one form."
        )
    if nested:
        matrix = {
            str(k): {str(t): _cost(v) for t, v in row.items()}  # type: ignore[union-attr]
            for k, row in costs.items()
        }
        return _matrix_priority(matrix, _cost(default))
    table = {str(k): _cost(v) for k, v in costs.items()}
    fallback = _cost(default)

    def priority(d: Decisions, idx: NDArray[np.intp]) -> NDArray[np.float64]:
        cost = np.array(
            [table.get(str(_plain(d.prediction[i])), fallback) for i in idx], dtype=np.float64
        )
        return cost * uncertainty(d, idx)

    priority.__qualname__ = f"cost_priority({table!r})"
    return priority


def _cost(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigurationError(
            f"cost_priority needs costs that are finite numbers >= 0. Got {value!r} instead."
        )
    if not math.isfinite(value):
        raise ConfigurationError(f"cost_priority needs finite costs. Got {value!r} instead.")
    return float(value)


def _matrix_priority(matrix: dict[str, dict[str, float]], default: float) -> PriorityFn:
    def priority(d: Decisions, idx: NDArray[np.intp]) -> NDArray[np.float64]:
        if d.proba is None or d.classes is None:
            return default * uncertainty(d, idx)
        names = [str(_plain(c)) for c in d.classes]
        out = np.empty(len(idx), dtype=np.float64)
        proba = d.proba[idx]
        for j, i in enumerate(idx):
            pred = str(_plain(d.prediction[i]))
            row = matrix.get(pred, {})
            weights = np.array(
                [row.get(t, 0.0 if t == pred else default) for t in names], dtype=np.float64
            )
            p = proba[j]
            out[j] = float(np.dot(p, weights)) if np.isfinite(p).all() else default
        return out

    priority.__qualname__ = f"cost_priority({matrix!r})"
    return priority


def inclusion_probabilities(
    uncertainty: NDArray[np.float64], rate: float, favour: float
) -> NDArray[np.float64]:
    """``(n,)`` probability that each answered row joins the audit sample.

    ``min(1, rate * (1 + favour * u))`` with ``u`` the row's uncertainty: every answered
    row has probability at least ``rate`` (so no weight exceeds ``1/rate``), and uncertain
    rows are favoured when ``favour > 0``. The draw is independent per row, so each
    probability is exact and stored with its case.
    """
    u = np.where(np.isfinite(uncertainty), np.maximum(uncertainty, 0.0), 1.0)
    return np.minimum(1.0, rate * (1.0 + favour * u))


class ReviewBudget:
    """A reviewing capacity: at most ``cases`` withheld rows queued per hour (or day).

    Rows compete by their priority (the expected value of review, see [`cost_priority`][]).
    Within one call the highest values are admitted first. Across calls, while the window
    lasts, a row is admitted only when its value reaches the ``1 - remaining/expected``
    quantile of the values seen over the last ``lookback`` rows, where ``expected`` is the
    number of rows the recent arrival rate brings before the window ends: the capacity is
    spread over the window and kept for the rows worth most. With priority ``"fifo"``
    (every value equal) it is first come, first served.

    The count is kept in this process: with several replicas give each its share
    (``cases / replicas``). Audit cases count against the budget but are never refused
    (their inclusion probabilities must stay exact), so only an audit sample larger than
    the budget could take the count above it; withheld rows never do.

    Args:
        cases: capacity per period (a positive int).
        per: "hour" or "day"; windows start at multiples of the period on the clock.
        lookback: how many recent values set the admission threshold (>= 16).
        clock: unix-seconds clock (tests pass a fake one).

    Examples:
        >>> import numpy as np
        >>> budget = ReviewBudget(2, per="hour", clock=lambda: 0.0)
        >>> budget.admit(np.array([0.1, 0.9, 0.5])).tolist()
        [False, True, True]
        >>> budget.used, budget.remaining
        (2, 0)
    """

    def __init__(
        self,
        cases: int,
        *,
        per: Literal["hour", "day"] = "hour",
        lookback: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
            raise ConfigurationError(
                f"The 'cases' parameter of ReviewBudget must be a positive int. Got {cases!r}."
            )
        if per not in _PERIODS:
            raise ConfigurationError(
                f"The 'per' parameter of ReviewBudget must be 'hour' or 'day'. Got {per!r}."
            )
        if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 16:
            raise ConfigurationError(
                f"The 'lookback' parameter of ReviewBudget must be an int >= 16. "
                f"Got {lookback!r} instead."
            )
        if not callable(clock):
            raise ConfigurationError(
                "The 'clock' parameter of ReviewBudget must be callable returning unix "
                f"seconds. Got {clock!r} instead."
            )
        self.cases = cases
        self.per = per
        self.period = _PERIODS[per]
        self.lookback = lookback
        self.clock = clock
        self._lock = threading.Lock()
        self._slot = -1
        self._used = 0
        self._values = np.zeros(lookback, dtype=np.float64)
        self._times = np.zeros(lookback, dtype=np.float64)
        self._seen = 0  # values written to the ring so far
        self._sorted: NDArray[np.float64] | None = None
        self._sorted_at = 0
        self._refused = 0

    @property
    def used(self) -> int:
        """Cases queued in the current window."""
        with self._lock:
            self._roll(self.clock())
            return self._used

    @property
    def remaining(self) -> int:
        """Cases the current window can still take."""
        with self._lock:
            self._roll(self.clock())
            return max(0, self.cases - self._used)

    @property
    def refused(self) -> int:
        """Withheld rows the budget kept out of the queue since it was made."""
        with self._lock:
            return self._refused

    def _roll(self, now: float) -> None:
        slot = math.floor(now / self.period)
        if slot != self._slot:
            self._slot, self._used = slot, 0

    def _threshold(self, now: float, remaining: int) -> float:
        """The value a row needs now; -inf while the capacity covers the expected rows."""
        n = min(self._seen, self.lookback)
        if n < 16:
            return -math.inf
        oldest = float(self._times[:n].min())
        span = now - oldest
        if span <= 0:
            return -math.inf
        rate = n / span
        left = (math.floor(now / self.period) + 1) * self.period - now
        expected = rate * left
        if expected <= remaining:
            return -math.inf
        q = 1.0 - remaining / expected
        # the sorted values are refreshed every n/32 arrivals, not on every call: the
        # threshold moves slowly, and a sort per single-row call would cost the hot path
        if self._sorted is None or self._seen - self._sorted_at >= max(1, n // 32):
            self._sorted = np.sort(self._values[:n])
            self._sorted_at = self._seen
        ranked = self._sorted
        pos = q * (ranked.size - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, ranked.size - 1)
        return float(ranked[lo] + (pos - lo) * (ranked[hi] - ranked[lo]))

    def admit(self, values: NDArray[np.float64], *, audit: int = 0) -> NDArray[np.bool_]:
        """Which of these candidate rows to queue; counts them against the window.

        Args:
            values: ``(n,)`` each row's value of review (its priority).
            audit: audit cases queued in the same call: counted, never refused.

        Returns:
            ``(n,)`` bool, True for the rows admitted (never more than the window has left).
        """
        values = np.asarray(values, dtype=np.float64)
        n = values.size
        now = self.clock()
        with self._lock:
            self._roll(now)
            self._used += int(audit)
            remaining = max(0, self.cases - self._used)
            take = np.zeros(n, dtype=bool)
            if n and remaining:
                bar = self._threshold(now, remaining)
                eligible = np.flatnonzero(values >= bar)
                if eligible.size > remaining:  # the best first; ties go to the earlier row
                    order = np.argsort(-values[eligible], kind="stable")
                    eligible = eligible[order[:remaining]]
                take[eligible] = True
                self._used += int(eligible.size)
            self._refused += n - int(take.sum())
            self._remember(values, now)
        return take

    def _remember(self, values: NDArray[np.float64], now: float) -> None:
        n = values.size
        if n == 0:
            return
        if n >= self.lookback:
            self._values[:] = values[-self.lookback :]
            self._times[:] = now
            self._seen += n
            return
        start = self._seen % self.lookback
        end = start + n
        if end <= self.lookback:
            self._values[start:end] = values
            self._times[start:end] = now
        else:
            cut = self.lookback - start
            self._values[start:] = values[:cut]
            self._times[start:] = now
            self._values[: n - cut] = values[cut:]
            self._times[: n - cut] = now
        self._seen += n

    def __deepcopy__(self, memo: dict[int, Any]) -> ReviewBudget:
        """A fresh budget with the same settings (a built guard gets its own count)."""
        return ReviewBudget(self.cases, per=self.per, lookback=self.lookback, clock=self.clock)

    def describe(self) -> str:
        """``"100 cases/hour"``: the capacity, as detail texts say it."""
        return f"{self.cases} cases/{self.per}"

    def __repr__(self) -> str:
        extra = "" if self.lookback == 1024 else f", lookback={self.lookback}"
        return f"ReviewBudget({self.cases}, per={self.per!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReviewBudget) and (other.cases, other.per, other.lookback) == (
            self.cases,
            self.per,
            self.lookback,
        )

    __hash__ = None  # type: ignore[assignment]
