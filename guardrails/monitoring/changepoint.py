"""Change detection on a stream of errors: the Page-Hinkley test for concept drift.

Once labels arrive (from the review queue, or delayed ground truth), the per-row error
(0/1 for a classifier, absolute error for a regressor) is a stream whose mean rises when
the relation between inputs and labels changes, even if the inputs look the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["PageHinkley"]


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(
            f"The {name!r} parameter of PageHinkley must be a float {bound}. Got {value!r} instead."
        )
    return float(value)


@persistable
class PageHinkley:
    """Page-Hinkley test for an increase in the mean of a stream.

    With ``mean_t`` the running mean, the test accumulates
    ``m_t = sum_{i<=t} (x_i - mean_i - delta)`` and signals a change when
    ``m_t - min_{s<=t} m_s`` exceeds ``threshold`` (after ``min_samples`` values). After a
    signal it starts afresh, so each change is reported once.

    Args:
        delta: the size of a rise in the mean that is tolerated (same unit as the values).
        threshold: the evidence needed to signal (lambda); larger means fewer false alarms
            and slower detection.
        min_samples: values to see before any signal.

    Examples:
        >>> import numpy as np
        >>> from guardrails import PageHinkley
        >>> ph = PageHinkley(delta=0.01, threshold=10)
        >>> ph.update(np.zeros(500)), ph.update(np.ones(100))
        (False, True)
    """

    def __init__(
        self, *, delta: float = 0.005, threshold: float = 25.0, min_samples: int = 30
    ) -> None:
        self.delta = _positive("delta", delta, allow_zero=True)
        self.threshold = _positive("threshold", threshold)
        if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
            raise ConfigurationError(
                "The 'min_samples' parameter of PageHinkley must be an int >= 1. "
                f"Got {min_samples!r} instead."
            )
        self.min_samples = min_samples
        self.reset()
        self.detections_ = 0
        self.seen_ = 0

    def reset(self) -> None:
        """Forget the current run (a new reference mean starts from the next value)."""
        self.n_ = 0
        self.sum_ = 0.0
        self.cum_ = 0.0
        self.min_cum_ = 0.0

    @property
    def statistic(self) -> float:
        """The current evidence ``m_t - min m_s`` (compare with ``threshold``)."""
        return self.cum_ - self.min_cum_

    def update(self, values: Any) -> bool:
        """Feed values in order; True when a change was signalled among them.

        Args:
            values: ``(n,)`` finite numbers (e.g. 0/1 errors).

        Raises:
            InvalidInputError: values that are not finite numbers.
        """
        try:
            x = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidInputError("PageHinkley.update() needs numbers.") from None
        if not np.all(np.isfinite(x)):
            raise InvalidInputError("PageHinkley.update() got NaN or infinite values.")
        detected = False
        while x.size:
            cut = self._run(x)
            if cut is None:
                break
            detected = True
            self.detections_ += 1
            self.reset()
            x = x[cut + 1 :]
        return detected

    def _run(self, x: NDArray[np.float64]) -> int | None:
        """Advance over ``x``; index of the first signal (state left there), else None."""
        t = self.n_ + np.arange(1, x.size + 1)
        mean = (self.sum_ + np.cumsum(x)) / t
        cum = self.cum_ + np.cumsum(x - mean - self.delta)
        low = np.minimum(np.minimum.accumulate(cum), self.min_cum_)
        alarm = np.flatnonzero((cum - low > self.threshold) & (t >= self.min_samples))
        end = int(alarm[0]) if alarm.size else x.size - 1
        self.seen_ += end + 1
        self.n_ = int(t[end])
        self.sum_ += float(np.sum(x[: end + 1]))
        self.cum_ = float(cum[end])
        self.min_cum_ = float(low[end])
        return end if alarm.size else None

    def __repr__(self) -> str:
        return (
            f"PageHinkley(delta={self.delta!r}, threshold={self.threshold!r}, "
            f"min_samples={self.min_samples!r})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"delta": self.delta, "threshold": self.threshold, "min_samples": self.min_samples}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> PageHinkley:
        return cls(
            delta=state["delta"], threshold=state["threshold"], min_samples=state["min_samples"]
        )
