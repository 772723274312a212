"""One decision: the frozen [`Decision`][] row, the [`Reason`][] codes, the primary stage's name.

[`Decisions`][] (the columnar batch every layer returns) is built from these; both are
re-exported by ``guardrails.core.decisions`` and ``guardrails``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PRIMARY", "Decision", "Reason"]

PRIMARY = "primary"
"""Name of the stage that answers when the wrapped model itself answers."""


class Reason(enum.IntEnum):
    """Why a row got no answer. ``NONE`` marks an answer.

    The integer codes are stable: they are stored in saved artifacts and review queues.
    ``str(reason)`` gives the stable snake-case name used in logs and metrics.
    """

    NONE = 0
    LOW_CONFIDENCE = 1
    AMBIGUOUS = 2
    INVALID_INPUT = 3
    MODEL_ERROR = 4
    TIMEOUT = 5
    CIRCUIT_OPEN = 6
    DRIFT = 7
    REVIEW = 8
    REVIEW_BUDGET = 9
    NOVEL = 10

    def __str__(self) -> str:
        return self.name.lower()


_REASON_OF: tuple[Reason, ...] = tuple(sorted(Reason, key=int))  # by code: 0, 1, 2...
assert all(int(r) == i for i, r in enumerate(_REASON_OF))


@dataclass(frozen=True)
class Decision:
    """One row of a [`Decisions`][] batch; immutable.

    Attributes:
        prediction: the answer, or ``None`` for a non-answer.
        abstained: True when the guard withheld the answer.
        reason: why it withheld (``Reason.NONE`` for an answer).
        stage: name of the stage that produced this row ("primary", a fallback's name, ...).
        confidence: calibrated confidence of the answer, when known.
        proba: class probabilities in the order of ``classes``, when known.
        classes: the class labels, for classifiers.
        interval: ``(low, high)`` prediction interval, for regressors that give one.
        prediction_set: labels in the conformal prediction set, when one was computed.
        candidate: what the model proposed even when the guard withheld it (``None`` when
            the model never ran on this row). Useful for audit and review, never an answer.
        review_id: id of the review case, when one was queued.
        detail: a readable explanation of the reason.
        errors: structured validation errors of an invalid input.
        repaired: True when a repair step changed the input before the model saw it.
        stages_tried: every stage that saw this row, in order.
        overridden: the verdict a fallback stage overrode to answer this row (the reason the
            row had when it entered the chain: low confidence, invalid input, drift...), or
            ``None`` when no verdict was overridden.
        overridden_detail: that verdict's own detail (e.g. the validation error).
        timings: seconds spent per stage for the batch this row came from.
    """

    prediction: Any
    abstained: bool
    reason: Reason
    stage: str
    confidence: float | None = None
    proba: tuple[float, ...] | None = None
    classes: tuple[Any, ...] | None = None
    interval: tuple[float, float] | None = None
    prediction_set: tuple[Any, ...] | None = None
    candidate: Any = None
    review_id: str | None = None
    detail: str | None = None
    errors: tuple[Mapping[str, Any], ...] | None = None
    repaired: bool = False
    stages_tried: tuple[str, ...] = ()
    overridden: Reason | None = None
    overridden_detail: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def answered(self) -> bool:
        """True when the row carries an answer."""
        return not self.abstained

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict (JSON-friendly apart from the labels' own types)."""
        return {
            "prediction": self.prediction,
            "abstained": self.abstained,
            "reason": str(self.reason),
            "stage": self.stage,
            "confidence": self.confidence,
            "proba": None
            if self.proba is None or self.classes is None
            else dict(zip(self.classes, self.proba)),
            "interval": self.interval,
            "prediction_set": self.prediction_set,
            "candidate": self.candidate,
            "review_id": self.review_id,
            "detail": self.detail,
            "errors": None if self.errors is None else [dict(e) for e in self.errors],
            "repaired": self.repaired,
            "stages_tried": list(self.stages_tried),
            "overridden": None if self.overridden is None else str(self.overridden),
            "overridden_detail": self.overridden_detail,
        }
