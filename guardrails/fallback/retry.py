"""Retries of a fallback stage: how many, and the backoff with jitter between them."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from guardrails.core.errors import (
    ConfigurationError,
)
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["Retry"]


@persistable
class Retry:
    """Retry a failed stage call with exponential backoff and jitter, inside the deadline.

    Give it only to stages that are safe to call twice (idempotent, no side effects). Rows
    whose call raised or timed out are retried; a retry that would start after the
    request's deadline is not made.

    Args:
        retries: extra attempts after the first.
        backoff: seconds before the first retry; doubles each time.
        max_backoff: cap on the wait between attempts.
        jitter: share of each wait drawn at random, in [0, 1] (1: "full jitter").
        seed: seed of the jitter's random generator (None: unpredictable).

    Examples:
        >>> from guardrails import Retry
        >>> Retry(retries=2, backoff=0.01, jitter=0.0).delay(1)
        0.02
    """

    def __init__(
        self,
        *,
        retries: int = 2,
        backoff: float = 0.01,
        max_backoff: float = 1.0,
        jitter: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 1:
            raise ConfigurationError(
                f"The 'retries' parameter of Retry must be an int >= 1. Got {retries!r} instead."
            )
        for name, value in (("backoff", backoff), ("max_backoff", max_backoff)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not (0 <= value < math.inf):
                raise ConfigurationError(
                    f"The {name!r} parameter of Retry must be a number of seconds >= 0. "
                    f"Got {value!r} instead."
                )
        ok = isinstance(jitter, (int, float)) and not isinstance(jitter, bool)
        if not ok or not 0 <= jitter <= 1:
            raise ConfigurationError(
                f"The 'jitter' parameter of Retry must be a float in [0, 1]. Got {jitter!r} "
                "instead."
            )
        self.retries = retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.jitter = float(jitter)
        self.seed = seed
        self._random = random.Random(seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        base = min(self.max_backoff, self.backoff * 2.0**attempt)
        return base * (1.0 - self.jitter * self._random.random())

    def __repr__(self) -> str:
        return (
            f"Retry(retries={self.retries}, backoff={self.backoff:g}, "
            f"max_backoff={self.max_backoff:g}, jitter={self.jitter:g})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Retry) and repr(other) == repr(self)

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "retries": self.retries,
            "backoff": self.backoff,
            "max_backoff": self.max_backoff,
            "jitter": self.jitter,
            "seed": self.seed,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Retry:
        return cls(**state)


# -- stages ----------------------------------------------------------------------------------
