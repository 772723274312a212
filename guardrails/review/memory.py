"""The in-memory review queue, for users' unit tests only (nothing survives the process)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from guardrails.core.decisions import Reason
from guardrails.review.cases import (
    CaseNotFoundError,
    Kind,
    ReviewCase,
    _lane,
    case_from_row,
)
from guardrails.review.queue import BaseQueue

__all__ = [
    "MemoryQueue",
]


class MemoryQueue(BaseQueue):
    """A review queue held in this process's memory: **for unit tests only**.

    Nothing survives the process, so never serve with it; it exists so that users can test
    their review wiring without a database. It is thread-safe and behaves like the durable
    queues in every other respect.

    Args:
        clock: unix-seconds clock (tests pass a fake one to expire leases).

    Examples:
        >>> from guardrails.review import MemoryQueue, NewCase
        >>> from guardrails import Reason
        >>> q = MemoryQueue()
        >>> [case_id] = q.enqueue([NewCase("withheld", Reason.LOW_CONFIDENCE, 0.5,
        ...                                {"classes": ["cat", "dog"]})])
        >>> q.claim("ana")[0].id == case_id
        True
        >>> q.resolve(case_id, "dog", reviewer="ana").label
        'dog'
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.url = "memory://"
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._rows[row["id"]] = dict(row)

    def _update(
        self, case_id: str, change: Callable[[ReviewCase, float], dict[str, Any]]
    ) -> ReviewCase:
        with self._lock:
            row = self._rows.get(case_id)
            now = self.clock()
            if row is None:
                raise CaseNotFoundError(f"no review case has id {case_id!r} in {self.url}")
            fields = change(case_from_row(row, now), now)
            row.update(fields)
            return case_from_row(row, now)

    def _claimable(self, row: Mapping[str, Any], now: float) -> bool:
        return bool(
            row["status"] == "pending" or (row["status"] == "claimed" and row["lease_until"] <= now)
        )

    def _claim(
        self,
        reviewer: str,
        n: int,
        lease: float,
        kind: Kind | None,
        reason: Reason | None,
        now: float,
    ) -> list[ReviewCase]:
        with self._lock:
            free = [
                r
                for r in self._rows.values()
                if self._claimable(r, now)
                and (kind is None or r["kind"] == kind)
                and (reason is None or r["reason"] == int(reason))
            ]
            free.sort(key=lambda r: (_lane(r["kind"]), -r["priority"], r["created_at"], r["id"]))
            out = []
            for row in free[:n]:
                row.update(status="claimed", claimed_by=reviewer, lease_until=now + lease)
                out.append(case_from_row(row, now))
            return out

    def _select(
        self, *, where: Mapping[str, Any], now: float, limit: int | None, order: str
    ) -> list[ReviewCase]:
        with self._lock:
            if where.get("id") is not None:
                row = self._rows.get(where["id"])
                return [] if row is None else [case_from_row(row, now)]
            cases = [case_from_row(r, now) for r in self._rows.values()]
        cases = [c for c in cases if _matches(c, where, now)]
        if order == "resolved":
            cases.sort(key=lambda c: (c.resolved_at or 0.0, c.id))
        else:
            cases.sort(key=lambda c: (_lane(c.kind), -c.priority, c.created_at, c.id))
        return cases if limit is None else cases[:limit]

    def _open_rows(self, now: float) -> tuple[dict[str, int], list[tuple[str, float, float, str]]]:
        with self._lock:
            cases = [case_from_row(r, now) for r in self._rows.values()]
        closed = ("resolved", "skipped", "expired")
        stored = {s: sum(c.status == s for c in cases) for s in closed}
        open_rows: list[tuple[str, float, float, str]] = [
            (
                str(c.status),
                c.created_at,
                math.nan if c.deadline is None else c.deadline,
                str(c.kind),
            )
            for c in cases
            if c.status in ("pending", "claimed")
        ]
        return stored, open_rows

    def __repr__(self) -> str:
        return "MemoryQueue()"


def _matches(case: ReviewCase, where: Mapping[str, Any], now: float) -> bool:
    if where.get("status") is not None and case.status != where["status"]:
        return False
    if where.get("kind") is not None and case.kind != where["kind"]:
        return False
    if where.get("reason") is not None and int(case.reason) != where["reason"]:
        return False
    if where.get("claimed_by") is not None and case.claimed_by != where["claimed_by"]:
        return False
    if where.get("overdue") is not None and case.overdue(now) != bool(where["overdue"]):
        return False
    resolved = case.resolved_at if case.resolved_at is not None else -math.inf
    if where.get("since") is not None and resolved < where["since"]:
        return False
    return not (where.get("until") is not None and resolved >= where["until"])
