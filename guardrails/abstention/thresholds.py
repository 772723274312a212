"""Fixed-threshold policies: confidence, margin, entropy, set size and interval width."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from guardrails.abstention.policy import Policy, Verdict, _check_number
from guardrails.abstention.scores import entropy_score, margin_score
from guardrails.core.checks import check_unit
from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import (
    ConfigurationError,
)
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "ConfidenceThreshold",
    "EntropyThreshold",
    "IntervalWiderThan",
    "MarginThreshold",
    "SetSizeAbove",
    "confidence_below",
    "entropy_above",
    "interval_wider_than",
    "margin_below",
    "set_size_above",
]


@persistable
class ConfidenceThreshold(Policy):
    """Withhold answers whose confidence (top-class probability) is below ``threshold``.

    Rows with unknown confidence (NaN) are withheld too: no probability, no trust.

    Examples:
        >>> import numpy as np
        >>> from guardrails import ConfidenceThreshold, Decisions
        >>> d = Decisions(prediction=np.array([0, 1]), confidence=np.array([0.95, 0.6]))
        >>> ConfidenceThreshold(0.8).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})

    def __init__(self, threshold: float) -> None:
        self.threshold = check_unit("ConfidenceThreshold", "threshold", threshold)

    def evaluate(self, d: Decisions) -> Verdict:
        if d.confidence is None:
            return Verdict(
                np.ones(len(d), dtype=bool),
                Reason.LOW_CONFIDENCE,
                "no confidence available for this answer",
            )
        low = ~(d.confidence >= self.threshold)  # NaN compares False: withheld
        return Verdict(low, Reason.LOW_CONFIDENCE, f"confidence below {self.threshold:g}")

    def __repr__(self) -> str:
        return f"ConfidenceThreshold(threshold={self.threshold!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfidenceThreshold) and other.threshold == self.threshold

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ConfidenceThreshold:
        return cls(state["threshold"])


def confidence_below(threshold: float) -> ConfidenceThreshold:
    """Withhold answers whose confidence is below ``threshold``."""
    return ConfidenceThreshold(threshold)


class _Simple(Policy):
    """A fixed threshold on one number per row; subclasses say which and how."""

    param: ClassVar[str] = "threshold"

    def __init__(self, value: float) -> None:
        self.value = value

    def _has_param(self, name: str) -> bool:
        return name == self.param

    def _get_param(self, name: str) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.param}={self.value!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {self.param: self.value}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Self:
        return cls(state[cls.param])


@persistable
class MarginThreshold(_Simple):
    """Withhold answers whose top two class probabilities are closer than ``margin``.

    Two labels nearly tied means the model cannot tell them apart: the reason is
    ``AMBIGUOUS``. Rows without probabilities are withheld as ``LOW_CONFIDENCE``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions, MarginThreshold
        >>> d = Decisions(prediction=np.array([0, 0]), proba=np.array([[0.9, 0.1], [0.55, 0.45]]))
        >>> MarginThreshold(0.2).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})
    param = "margin"

    def __init__(self, margin: float) -> None:
        super().__init__(check_unit("MarginThreshold", "margin", margin))

    def evaluate(self, d: Decisions) -> Verdict:
        m = margin_score(d)
        low = ~(m >= self.value)
        reason = np.where(np.isnan(m), Reason.LOW_CONFIDENCE, Reason.AMBIGUOUS).astype(np.int8)
        return Verdict(low, reason, f"top two classes within {self.value:g}")


@persistable
class EntropyThreshold(_Simple):
    """Withhold answers whose class distribution has entropy (nats) above ``entropy``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions, EntropyThreshold
        >>> d = Decisions(prediction=np.array([0, 0]), proba=np.array([[0.99, 0.01], [0.5, 0.5]]))
        >>> EntropyThreshold(0.5).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})
    param = "entropy"

    def __init__(self, entropy: float) -> None:
        super().__init__(_check_number("EntropyThreshold", "entropy", entropy))

    def evaluate(self, d: Decisions) -> Verdict:
        h = entropy_score(d)
        return Verdict(~(h <= self.value), Reason.LOW_CONFIDENCE, f"entropy above {self.value:g}")


@persistable
class SetSizeAbove(_Simple):
    """Withhold answers whose prediction set holds more than ``size`` labels (``AMBIGUOUS``).

    Reads the ``pred_set`` column, e.g. the one a [`ConformalSets`][guardrails.ConformalSets]
    placed before it in ``ConformalSets(...) | SetSizeAbove(2)`` computes. Rows without a
    set are withheld.
    """

    requires = frozenset({"pred_set"})
    param = "size"

    def __init__(self, size: int) -> None:
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ConfigurationError(
                f"The 'size' parameter of SetSizeAbove must be an int >= 0. Got {size!r} instead."
            )
        super().__init__(int(size))

    def evaluate(self, d: Decisions) -> Verdict:
        if d.pred_set is None:
            return Verdict(np.ones(len(d), dtype=bool), Reason.AMBIGUOUS, "no prediction set")
        big = d.pred_set.sum(axis=1) > self.value
        return Verdict(big, Reason.AMBIGUOUS, f"more than {self.value} labels are plausible")


@persistable
class IntervalWiderThan(_Simple):
    """Withhold answers whose prediction interval is wider than ``width`` (``AMBIGUOUS``).

    Reads the ``interval`` column (e.g. from [`ConformalIntervals`][guardrails.ConformalIntervals]).
    Rows without a finite interval are withheld.
    """

    requires = frozenset({"interval"})
    param = "width"

    def __init__(self, width: float) -> None:
        super().__init__(_check_number("IntervalWiderThan", "width", width))

    def evaluate(self, d: Decisions) -> Verdict:
        if d.interval is None:
            return Verdict(np.ones(len(d), dtype=bool), Reason.AMBIGUOUS, "no interval")
        width = d.interval[:, 1] - d.interval[:, 0]
        return Verdict(
            ~(width <= self.value), Reason.AMBIGUOUS, f"interval wider than {self.value:g}"
        )


def margin_below(margin: float) -> MarginThreshold:
    """Withhold answers whose top two class probabilities differ by less than ``margin``."""
    return MarginThreshold(margin)


def entropy_above(entropy: float) -> EntropyThreshold:
    """Withhold answers whose class distribution has entropy above ``entropy`` nats."""
    return EntropyThreshold(entropy)


def set_size_above(size: int) -> SetSizeAbove:
    """Withhold answers whose prediction set holds more than ``size`` labels."""
    return SetSizeAbove(size)


def interval_wider_than(width: float) -> IntervalWiderThan:
    """Withhold answers whose prediction interval is wider than ``width``."""
    return IntervalWiderThan(width)
