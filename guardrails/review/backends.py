"""Opening a review queue from a URL: the one module that knows every backend.

It sits above the queue protocol and the SQLite and PostgreSQL queues, so none of them
imports another to find its siblings.
"""

from __future__ import annotations

from typing import Any

from guardrails.core.errors import ConfigurationError
from guardrails.review.memory import MemoryQueue
from guardrails.review.postgres import PostgresQueue
from guardrails.review.queue import BaseQueue
from guardrails.review.sqlite import SQLiteQueue

__all__ = ["open_queue"]


def open_queue(url: str, **options: Any) -> BaseQueue:
    """Open the review queue a URL names.

    Args:
        url: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (the
            embedded default), ``postgresql://user@host:port/db`` (needs the ``postgres``
            extra), or ``memory://`` (a new in-memory queue, for unit tests only).
        **options: passed to the backend's constructor (e.g. ``table=``).

    Raises:
        ConfigurationError: the URL names no known backend.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"open_queue needs a queue URL as str. Got {url!r} instead.")
    if url.startswith("sqlite:///"):
        return SQLiteQueue(url[len("sqlite:///") :], **options)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresQueue(url, **options)
    if url == "memory://":
        return MemoryQueue(**options)
    raise ConfigurationError(
        f"open_queue cannot open {url!r}: use sqlite:///path.db, postgresql://... or memory://."
    )
