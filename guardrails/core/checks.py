"""Argument checks shared by every wing: one message format for a number in a range.

Misuse fails when an object is built, with a message naming the parameter, the owner,
what was expected and what was given (see STYLE.md).
"""

from __future__ import annotations

from typing import Any, Literal

from guardrails.core.errors import ConfigurationError

__all__ = ["check_unit"]

Interval = Literal["[0, 1]", "(0, 1)", "(0, 1]"]


def check_unit(owner: str, name: str, value: Any, *, interval: Interval = "[0, 1]") -> float:
    """``value`` as a float in ``interval``, or a [`ConfigurationError`][] saying so.

    Examples:
        >>> check_unit("ConformalSets", "alpha", 0.1, interval="(0, 1)")
        0.1
        >>> try:
        ...     check_unit("ConformalSets", "alpha", 1.5, interval="(0, 1)")
        ... except ConfigurationError as e:
        ...     print(e)
        The 'alpha' parameter of ConformalSets must be a float in (0, 1). Got 1.5 instead.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        low_open, high_open = interval[0] == "(", interval[-1] == ")"
        ok = (value > 0.0 if low_open else value >= 0.0) and (
            value < 1.0 if high_open else value <= 1.0
        )
    if not ok:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a float in {interval}. "
            f"Got {value!r} instead."
        )
    return float(value)
