"""Text shortening for messages: untrusted values and long errors never fill a message."""

from __future__ import annotations

from typing import Any

__all__ = ["shorten", "truncate"]

_TRUNCATE = 80


def shorten(text: str, limit: int = _TRUNCATE) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when it was cut.

    Examples:
        >>> shorten("a" * 10, 6)
        'aaa...'
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."


def truncate(value: Any, limit: int = _TRUNCATE) -> str:
    """``repr(value)`` cut to ``limit`` characters, safe on any object.

    Examples:
        >>> truncate(list(range(100)), 12)
        '[0, 1, 2,...'
    """
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not crash an error path
        text = f"<unprintable {type(value).__name__}>"
    return shorten(text, limit)
