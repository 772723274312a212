"""The review queue for several serving replicas: one PostgreSQL table, through psycopg 3.

Needs the ``postgres`` extra (``pip install 'predict-guardrails[postgres]'``). Each enqueue
is one committed transaction before the decision is returned; claims use
``SELECT ... FOR UPDATE SKIP LOCKED`` so two reviewers never get the same case and never
wait on each other; state changes lock their row with ``FOR UPDATE``.
"""

from __future__ import annotations

import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from guardrails.core.errors import ConfigurationError
from guardrails.review.cases import ReviewError
from guardrails.review.sql import SQLQueue, check_table

__all__ = ["PostgresQueue"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {t} (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason SMALLINT NOT NULL,
    priority DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    deadline DOUBLE PRECISION,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION,
    resolved_at DOUBLE PRECISION,
    reviewer TEXT,
    label TEXT,
    note TEXT,
    skips INTEGER NOT NULL DEFAULT 0,
    context TEXT NOT NULL
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {t}_open ON {t} (status, priority DESC, created_at)",
    "CREATE INDEX IF NOT EXISTS {t}_resolved ON {t} (resolved_at)",
)


def _mask(url: str) -> str:
    """The URL with any password hidden."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


class PostgresQueue(SQLQueue):
    """A durable review queue in a PostgreSQL table (``postgresql://user@host:port/db``).

    Args:
        url: a libpq connection URL.
        table: the table name (created on first use).
        connect_timeout: seconds to wait for the server.
        clock: unix-seconds clock (tests pass a fake one to expire leases).

    Raises:
        ImportError: psycopg is not installed (install the ``postgres`` extra).
        ReviewError: the server cannot be reached.
    """

    placeholder = "%s"
    lock_row = " FOR UPDATE"
    lock_skip = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        url: str,
        *,
        table: str = "guardrails_review_cases",
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        try:
            import psycopg
        except ImportError as exc:
            raise ImportError(
                "PostgresQueue needs psycopg 3: pip install 'predict-guardrails[postgres]'"
            ) from exc
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(
                "The 'url' parameter of PostgresQueue must be a postgresql:// URL. "
                f"Got {url!r} instead."
            )
        self.table = check_table("PostgresQueue", table)
        if (
            isinstance(connect_timeout, bool)
            or not isinstance(connect_timeout, (int, float))
            or connect_timeout <= 0
        ):
            raise ConfigurationError(
                "The 'connect_timeout' parameter of PostgresQueue must be positive seconds. "
                f"Got {connect_timeout!r} instead."
            )
        self._psycopg = psycopg
        self._dsn = url
        self.url = _mask(url)
        self.connect_timeout = float(connect_timeout)
        self._local = threading.local()
        self._all = []
        self._all_lock = threading.Lock()
        key = zlib.crc32(f"guardrails-review:{self.table}".encode())
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (key,))  # one creator at a time
            cur.execute(_SCHEMA.replace("{t}", self.table))
            for index in _INDEXES:
                cur.execute(index.replace("{t}", self.table))

    def _conn(self) -> Any:
        pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == pid and not conn.closed:
            return conn
        try:
            conn = self._psycopg.connect(
                self._dsn, autocommit=True, connect_timeout=max(1, int(self.connect_timeout))
            )
        except self._psycopg.OperationalError as exc:
            raise ReviewError(f"cannot connect to the review queue at {self.url}: {exc}") from exc
        self._local.conn = conn
        self._local.pid = pid
        with self._all_lock:
            self._all.append((pid, conn))
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except self._psycopg.Error as exc:
            raise self._failed("write", exc) from exc

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        conn = self._conn()
        try:
            with conn.cursor() as cur:
                yield cur
        except self._psycopg.Error as exc:
            raise self._failed("read", exc) from exc

    def close(self) -> None:
        """Close this process's connections (the data stays); the queue reopens on use."""
        self._close_connections()

    def drop(self) -> None:
        """Delete the queue's table and every case in it (for tests and teardown)."""
        with self._transaction() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")

    def __repr__(self) -> str:
        return f"PostgresQueue({self.url!r}, table={self.table!r})"
