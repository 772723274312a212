"""The embedded review queue: one SQLite file in WAL mode, safe across threads and processes.

Each enqueue returns only after a ``BEGIN IMMEDIATE ... COMMIT`` transaction holding its
cases has reached the file (``synchronous=FULL`` by default), so a crash of the serving
process loses no case that was reported queued. Enqueues from concurrent threads of one
process share their commit (group commit): while one thread commits, the others' cases
gather, and the next thread to write commits all of them in one transaction and one flush,
then wakes their callers. Every thread of every process gets its own connection; the
threads of one process take turns to write through a lock of their own (no busy-waiting
on SQLite's), processes through SQLite's lock with a busy timeout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

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


@dataclass(eq=False)
class _Ticket:
    """One enqueue call's rows waiting in a group commit, and how their commit went."""

    rows: list[dict[str, Any]]
    done: bool = False
    error: BaseException | None = None


@dataclass(eq=False)
class _Writers:
    """The threads of one process that write to one queue: their turn and their group."""

    turn: threading.Lock = field(default_factory=threading.Lock)  # one writer at a time
    changed: threading.Condition = field(default_factory=threading.Condition)
    waiting: list[_Ticket] = field(default_factory=list)  # rows nobody has committed yet
    leading: bool = False  # a thread is committing a group now


class SQLiteQueue(SQLQueue):
    """A durable review queue in a SQLite file (``sqlite:///path.db``).

    Durability: ``enqueue`` returns once the transaction that holds its cases has
    committed; with ``synchronous="full"`` that commit is flushed to the disk (it survives
    a power cut), with ``"normal"`` it survives a crash of the process. Concurrent enqueues
    of one process are committed together in one transaction (group commit): each still
    returns only after its own cases are committed, and if that commit fails, each caller
    of the group gets the error of its own cases, written again alone, so one call's
    failure does not fail the others and no caller is told a case was queued that is not.

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
        self._writers: dict[int, _Writers] = {}
        self._created = False
        with self._transaction() as cur:
            cur.execute(_SCHEMA.replace("{t}", self.table))
            for index in _INDEXES:
                cur.execute(index.replace("{t}", self.table))
        self._created = True

    def _conn(self) -> sqlite3.Connection:
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == pid:
            return conn
        # Once the file exists, a connection never creates it again: a queue whose file
        # was deleted must fail, not start an empty one where nobody looks.
        mode = "rw" if self._created else "rwc"
        try:
            conn = sqlite3.connect(
                f"file:{quote(str(self.path))}?mode={mode}",
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.OperationalError:
            if self._created and not self.path.exists():
                raise self._gone() from None
            raise
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
            raise self._gone()

    def _gone(self) -> ReviewError:
        return ReviewError(
            f"the review queue file {str(self.path)!r} was deleted or replaced while in "
            "use; nothing was written. Restore it or open a new queue."
        )

    def _local_writers(self) -> _Writers:
        """This process's writer state (a forked child starts its own, with no group)."""
        pid = os.getpid()
        writers = self._writers.get(pid)
        if writers is None:
            writers = self._writers.setdefault(pid, _Writers())
        return writers

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        turn = self._local_writers().turn
        if not turn.acquire(timeout=self.timeout):
            raise ReviewError(
                f"the review queue {self.url} could not start a write: another thread of "
                f"this process held the write for more than {self.timeout:g} s"
            )
        try:
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
        finally:
            turn.release()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """Commit ``rows`` with those of every enqueue waiting meanwhile (group commit).

        The caller joins the group waiting to be written; if no thread is committing, it
        commits the whole group itself, else it waits until a committer has taken its rows
        and reports how their commit went. Either way it returns only once its rows are
        committed, and raises if they are not.
        """
        writers = self._local_writers()
        mine = _Ticket(rows)
        group: list[_Ticket] = []
        with writers.changed:
            writers.waiting.append(mine)
            while not mine.done and writers.leading:
                writers.changed.wait()
            if not mine.done:
                writers.leading = True
                group, writers.waiting = writers.waiting, []
        if group:
            try:
                self._commit_group(group)
            finally:
                with writers.changed:
                    for ticket in group:
                        if not ticket.done:  # interrupted before its outcome was known
                            ticket.done = True
                            ticket.error = ReviewError(
                                f"the review queue {self.url} could not write: the commit "
                                "was interrupted; these cases may not have been stored"
                            )
                    writers.leading = False
                    writers.changed.notify_all()
        if mine.error is not None:
            raise mine.error

    def _commit_group(self, group: list[_Ticket]) -> None:
        """Write every ticket's rows in one transaction; on failure, each ticket alone."""
        try:
            super()._insert([row for ticket in group for row in ticket.rows])
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
            else:  # find whose rows fail: each caller gets the outcome of its own write
                for ticket in group:
                    try:
                        super()._insert(ticket.rows)
                    except Exception as alone:
                        ticket.error = alone
        for ticket in group:
            ticket.done = True

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
