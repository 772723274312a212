"""The embedded review queue: one SQLite file in WAL mode, safe across threads and processes.

Each enqueue is one ``BEGIN IMMEDIATE ... COMMIT`` transaction that has reached the file
(``synchronous=FULL`` by default) before the decision is returned, so a crash of the
serving process loses no case that was reported queued. Every thread of every process gets
its own connection; writers take turns through SQLite's lock with a busy timeout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from guardrails.core.errors import ConfigurationError
from guardrails.review.cases import ReviewError
from guardrails.review.sql import SQLQueue, check_table

__all__ = ["SQLiteQueue"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {t} (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason INTEGER NOT NULL,
    priority REAL NOT NULL,
    created_at REAL NOT NULL,
    deadline REAL,
    claimed_by TEXT,
    lease_until REAL,
    resolved_at REAL,
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


class SQLiteQueue(SQLQueue):
    """A durable review queue in a SQLite file (``sqlite:///path.db``).

    Args:
        path: the database file; its folder must exist. Created on first use.
        table: the table name.
        synchronous: "full" (default: a commit survives a power cut) or "normal" (survives
            a crash of the process, not of the machine; faster).
        timeout: seconds a writer waits for another to finish before failing.
        clock: unix-seconds clock (tests pass a fake one to expire leases).

    Examples:
        >>> import tempfile, os
        >>> from guardrails.review import NewCase
        >>> from guardrails import Reason
        >>> q = SQLiteQueue(os.path.join(tempfile.mkdtemp(), "review.db"))
        >>> [cid] = q.enqueue([NewCase("withheld", Reason.DRIFT, 1.0, {"input": [1, 2]})])
        >>> q.get(cid).reason is Reason.DRIFT
        True
        >>> q.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "review_cases",
        synchronous: Literal["full", "normal"] = "full",
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        self.table = check_table("SQLiteQueue", table)
        if synchronous not in ("full", "normal"):
            raise ConfigurationError(
                "The 'synchronous' parameter of SQLiteQueue must be 'full' or 'normal'. "
                f"Got {synchronous!r} instead."
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigurationError(
                f"The 'timeout' parameter of SQLiteQueue must be positive seconds. Got {timeout!r}."
            )
        target = Path(path)
        if not str(path) or not target.parent.is_dir():
            raise ConfigurationError(
                f"The 'path' parameter of SQLiteQueue must be a file in an existing folder. "
                f"Got {str(path)!r} instead."
            )
        self.path = target
        self.synchronous = synchronous
        self.timeout = float(timeout)
        self.url = f"sqlite:///{path}"
        self._local = threading.local()
        self._all = []
        self._all_lock = threading.Lock()
        with self._transaction() as cur:
            cur.execute(_SCHEMA.replace("{t}", self.table))
            for index in _INDEXES:
                cur.execute(index.replace("{t}", self.table))

    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == pid:
            return conn
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        self._local.conn = conn
        self._local.pid = pid
        self._local.file = _identity(self.path)
        with self._all_lock:
            self._all.append((pid, conn))
        return conn

    def _check_file(self) -> None:
        """Refuse to commit into a file that was deleted or replaced under the connection.

        SQLite keeps writing to an unlinked file's inode, so without this check cases
        would be "committed" where nobody can ever read them.
        """
        if _identity(self.path) != self._local.file:
            raise ReviewError(
                f"the review queue file {str(self.path)!r} was deleted or replaced while in "
                "use; nothing was written. Restore it or open a new queue."
            )

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        try:
            conn = self._conn()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failed("start a write", exc) from exc
        try:
            yield cur
            self._check_file()
            cur.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._failed("write", exc) from exc
            raise
        finally:
            cur.close()

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        try:
            cur = self._conn().cursor()
        except sqlite3.Error as exc:
            raise self._failed("open", exc) from exc
        try:
            yield cur
        except sqlite3.Error as exc:
            raise self._failed("read", exc) from exc
        finally:
            cur.close()

    def close(self) -> None:
        """Close this process's connections (the file stays); the queue reopens on use."""
        self._close_connections()

    def __repr__(self) -> str:
        return f"SQLiteQueue({str(self.path)!r})"


def _identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of ``path``, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
