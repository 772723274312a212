"""The SQL that the SQLite and PostgreSQL review queues share, behind two dialect hooks.

A backend supplies a write transaction (`SQLQueue._transaction`), a read cursor
(`SQLQueue._reader`), its parameter placeholder and its row-locking suffixes; the
statements and the state machine of [`BaseQueue`][guardrails.review.queue.BaseQueue] are written
once.
"""

from __future__ import annotations

import os
import re
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from guardrails.core.decisions import Reason
from guardrails.core.errors import ConfigurationError
from guardrails.review.cases import (
    CaseNotFoundError,
    Kind,
    ReviewCase,
    ReviewError,
    case_from_row,
)
from guardrails.review.queue import BaseQueue

__all__ = ["COLUMNS", "SQLQueue", "check_table"]

COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "kind",
    "reason",
    "priority",
    "created_at",
    "deadline",
    "claimed_by",
    "lease_until",
    "resolved_at",
    "reviewer",
    "label",
    "note",
    "skips",
    "context",
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_OPEN = "status IN ('pending', 'claimed')"
_CLAIMABLE = "(status = 'pending' OR (status = 'claimed' AND lease_until <= ?))"
# model cases first, data-quality cases after them, then by priority and age
_BY_PRIORITY = (
    "ORDER BY CASE WHEN kind = 'data_quality' THEN 1 ELSE 0 END, priority DESC, created_at, id"
)


def check_table(owner: str, table: Any) -> str:
    """``table`` if it is a plain SQL identifier, else [`ConfigurationError`][]."""
    if not isinstance(table, str) or not _IDENT.match(table):
        raise ConfigurationError(
            f"The 'table' parameter of {owner} must be a plain SQL identifier (letters, "
            f"digits, underscores). Got {table!r} instead."
        )
    return table


class SQLQueue(BaseQueue):
    """A review queue stored in one SQL table; subclasses supply the connection."""

    table: str
    url: str
    placeholder: str = "?"
    lock_row: str = ""
    lock_skip: str = ""
    _local: threading.local
    _all: list[tuple[int, Any]]
    _all_lock: threading.Lock

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A cursor inside a write transaction, committed durably on a clean exit."""

    @abstractmethod
    def _reader(self) -> AbstractContextManager[Any]:
        """A cursor for reads."""

    def _failed(self, what: str, exc: Exception) -> ReviewError:
        """A backend error as a [`ReviewError`][]; a lost connection reconnects next time."""
        return ReviewError(
            f"the review queue {self.url} could not {what}: {type(exc).__name__}: {exc}"
        )

    def _close_connections(self) -> None:
        """Close the connections this process opened; the next use opens new ones."""
        pid = os.getpid()
        with self._all_lock:
            mine = [c for p, c in self._all if p == pid]
            self._all = [(p, c) for p, c in self._all if p != pid]
        for conn in mine:
            conn.close()
        self._local = threading.local()

    def _q(self, text: str) -> str:
        return text.replace("{t}", self.table).replace("?", self.placeholder)

    def _rows(self, cur: Any) -> Iterator[dict[str, Any]]:
        for values in cur.fetchall():
            yield dict(zip(COLUMNS, values))

    # -- primitives --------------------------------------------------------------------

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        cols = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        sql = self._q(f"INSERT INTO {{t}} ({cols}) VALUES ({marks})")
        with self._transaction() as cur:
            cur.executemany(sql, [tuple(r[c] for c in COLUMNS) for r in rows])

    def _update(
        self, case_id: str, change: Callable[[ReviewCase, float], dict[str, Any]]
    ) -> ReviewCase:
        cols = ", ".join(COLUMNS)
        with self._transaction() as cur:
            select = f"SELECT {cols} FROM {{t}} WHERE id = ?{self.lock_row}"
            cur.execute(self._q(select), (case_id,))
            found = list(self._rows(cur))
            now = self.clock()
            if not found:
                raise CaseNotFoundError(f"no review case has id {case_id!r} in {self.url}")
            row = found[0]
            fields = change(case_from_row(row, now), now)
            sets = ", ".join(f"{name} = ?" for name in fields)
            update = f"UPDATE {{t}} SET {sets} WHERE id = ?"
            cur.execute(self._q(update), (*fields.values(), case_id))
            row.update(fields)
        return case_from_row(row, now)

    def _claim(
        self,
        reviewer: str,
        n: int,
        lease: float,
        kind: Kind | None,
        reason: Reason | None,
        now: float,
    ) -> list[ReviewCase]:
        cols = ", ".join(COLUMNS)
        params: list[Any] = [now]
        sql = f"SELECT id FROM {{t}} WHERE {_CLAIMABLE}"
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if reason is not None:
            sql += " AND reason = ?"
            params.append(int(reason))
        sql += f" {_BY_PRIORITY} LIMIT ?{self.lock_skip}"
        params.append(n)
        with self._transaction() as cur:
            cur.execute(self._q(sql), params)
            ids = [str(r[0]) for r in cur.fetchall()]
            if not ids:
                return []
            until = now + lease
            cur.executemany(
                self._q(
                    "UPDATE {t} SET status = 'claimed', claimed_by = ?, lease_until = ? "
                    "WHERE id = ?"
                ),
                [(reviewer, until, case_id) for case_id in ids],
            )
            marks = ", ".join("?" for _ in ids)
            cur.execute(self._q(f"SELECT {cols} FROM {{t}} WHERE id IN ({marks})"), ids)
            rows = {r["id"]: r for r in self._rows(cur)}
        return [case_from_row(rows[i], now) for i in ids]

    def _select(
        self, *, where: Mapping[str, Any], now: float, limit: int | None, order: str
    ) -> list[ReviewCase]:
        clauses: list[str] = []
        params: list[Any] = []
        if where.get("id") is not None:
            clauses.append("id = ?")
            params.append(where["id"])
        status = where.get("status")
        if status == "pending":
            clauses.append(_CLAIMABLE)
            params.append(now)
        elif status == "claimed":
            clauses.append("(status = 'claimed' AND lease_until > ?)")
            params.append(now)
        elif status is not None:
            clauses.append("status = ?")
            params.append(status)
        if where.get("kind") is not None:
            clauses.append("kind = ?")
            params.append(where["kind"])
        if where.get("reason") is not None:
            clauses.append("reason = ?")
            params.append(int(where["reason"]))
        if where.get("claimed_by") is not None:
            clauses.append("claimed_by = ?")
            params.append(str(where["claimed_by"]))
        overdue = where.get("overdue")
        if overdue is not None:
            late = f"(deadline IS NOT NULL AND deadline < ? AND {_OPEN})"
            clauses.append(late if overdue else f"NOT {late}")
            params.append(now)
        if where.get("since") is not None:
            clauses.append("resolved_at >= ?")
            params.append(float(where["since"]))
        if where.get("until") is not None:
            clauses.append("resolved_at < ?")
            params.append(float(where["until"]))
        sql = f"SELECT {', '.join(COLUMNS)} FROM {{t}}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order == "resolved":
            sql += " ORDER BY resolved_at, id"
        elif order == "priority":
            sql += f" {_BY_PRIORITY}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._reader() as cur:
            cur.execute(self._q(sql), params)
            return [case_from_row(r, now) for r in self._rows(cur)]

    def _open_rows(self, now: float) -> tuple[dict[str, int], list[tuple[str, float, float, str]]]:
        with self._reader() as cur:
            cur.execute(
                self._q(
                    "SELECT status, COUNT(*) FROM {t} "
                    "WHERE status IN ('resolved', 'skipped', 'expired') GROUP BY status"
                )
            )
            stored = {str(s): int(k) for s, k in cur.fetchall()}
            cur.execute(
                self._q(
                    "SELECT status, lease_until, created_at, deadline, kind FROM {t} "
                    f"WHERE {_OPEN}"
                )
            )
            open_rows = []
            for status, lease, created, deadline, kind in cur.fetchall():
                if status == "claimed" and lease is not None and lease <= now:
                    status = "pending"
                open_rows.append(
                    (
                        str(status),
                        float(created),
                        float("nan") if deadline is None else float(deadline),
                        str(kind),
                    )
                )
        return stored, open_rows
