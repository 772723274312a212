"""Helpers shared by the review tests: queues on every backend, a fake clock, case makers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from guardrails import Reason
from guardrails.review.cases import NewCase
from guardrails.review.memory import MemoryQueue
from guardrails.review.queue import BaseQueue
from guardrails.review.sqlite import SQLiteQueue

PG_ENV = "GUARDRAILS_TEST_POSTGRES_URL"
PG_SKIP = "set GUARDRAILS_TEST_POSTGRES_URL (see .ci/postgres.sh) to run the PostgreSQL tests"
BACKENDS = ["memory", "sqlite", "postgres"]
DURABLE = ["sqlite", "postgres"]


class FakeClock:
    """A unix clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP)
    return url


def queue_url(backend: str, tmp_path: Path, table: str) -> str:
    """A URL another process can open to reach the same queue."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return pg_url()


@pytest.fixture
def make_queue(tmp_path: Path) -> Iterator[Callable[..., BaseQueue]]:
    """``make_queue(backend, clock=None)``: a fresh, empty queue; dropped afterwards."""
    made: list[BaseQueue] = []

    def make(backend: str, *, clock: Callable[[], float] | None = None, **opts: Any) -> BaseQueue:
        extra: dict[str, Any] = {} if clock is None else {"clock": clock}
        queue: BaseQueue
        if backend == "memory":
            queue = MemoryQueue(**extra)
        elif backend == "sqlite":
            queue = SQLiteQueue(tmp_path / "review.db", **extra, **opts)
        else:
            from guardrails.review.postgres import PostgresQueue

            table = opts.pop("table", f"t_{uuid.uuid4().hex[:12]}")
            queue = PostgresQueue(pg_url(), table=table, **extra, **opts)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        drop = getattr(queue, "drop", None)
        if drop is not None:
            drop()
        queue.close()


def case(
    *,
    classes: list[Any] | None = None,
    priority: float = 0.5,
    kind: str = "withheld",
    reason: Reason = Reason.LOW_CONFIDENCE,
    deadline: float | None = None,
    **context: Any,
) -> NewCase:
    """One new case with the given context."""
    ctx = {"classes": ["cat", "dog"] if classes is None else classes, **context}
    if classes == []:
        ctx["classes"] = None
    return NewCase(kind, reason, priority, ctx, deadline=deadline)  # type: ignore[arg-type]
