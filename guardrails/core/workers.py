"""Bounded worker threads that let a caller give up at its deadline, and shed what cannot wait.

Python cannot stop a thread, so a call that must return by a deadline runs in a worker
thread while its caller waits only until then. A [`WorkerPool`][guardrails.WorkerPool]
holds at most ``max_workers`` daemon threads, busy, abandoned or idle. A call that finds
every worker busy waits in line (first come, first served) at most ``max_wait`` seconds
and never past its deadline; past that it is *shed*: it never runs, the caller learns it at
once, and the pool counts it. A call that got a worker but ran past its deadline is
*abandoned*: it finishes in its thread, its result is dropped, and the pool counts it too.

Hand-off is direct: a free worker takes the next call itself, and the caller sleeps on one
lock (a thread) or one future (an event loop) until the result or its deadline, so nobody
polls and an idle pool costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from guardrails.core.errors import ConfigurationError

__all__ = ["Abandoned", "PoolStats", "Shed", "WorkerPool"]

T = TypeVar("T")

_WAITING, _RUNNING, _DONE, _GONE = range(4)


class _Job(Generic[T]):
    """One call handed to the pool: its function, how it ended, and who waits for it."""

    __slots__ = ("afut", "done", "error", "fn", "loop", "state", "value")

    def __init__(self, fn: Callable[[], T], loop: asyncio.AbstractEventLoop | None) -> None:
        self.fn: Callable[[], T] | None = fn
        self.state = _WAITING
        self.value: Any = None
        self.error: BaseException | None = None
        self.loop = loop
        self.afut: asyncio.Future[None] | None = None
        self.done: threading.Lock | None = None
        if loop is None:
            self.done = threading.Lock()
            self.done.acquire()
        else:
            self.afut = loop.create_future()

    def run(self) -> None:
        fn, self.fn = self.fn, None  # an idle worker must not keep the call's input alive
        try:
            if fn is not None:
                self.value = fn()
        except BaseException as exc:  # handed to the caller, who re-raises it
            self.error = exc
        del fn
        if self.done is not None:
            self.done.release()
        elif self.loop is not None:
            with contextlib.suppress(RuntimeError):  # the caller's event loop closed meanwhile
                self.loop.call_soon_threadsafe(_wake, self.afut)


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


class _Worker:
    __slots__ = ("job", "wake")

    def __init__(self) -> None:
        self.job: _Job[Any] | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a [`WorkerPool`][guardrails.WorkerPool].

    Attributes:
        max_workers: the pool's thread limit.
        threads: threads alive (busy, abandoned or idle).
        busy: threads running a call (abandoned ones included).
        waiting: calls in line for a worker.
        started: calls that got a worker.
        shed: calls refused because no worker freed up within ``max_wait`` or their
            deadline (they never ran).
        abandoned: calls whose caller stopped waiting at its deadline while they ran.
    """

    max_workers: int
    threads: int
    busy: int
    waiting: int
    started: int
    shed: int
    abandoned: int


class Shed(Exception):
    """Internal signal: the call never got a worker (it was shed)."""


class Abandoned(Exception):
    """Internal signal: the call got a worker but ran past the caller's deadline."""


class WorkerPool:
    """At most ``max_workers`` daemon threads for calls that must return by a deadline.

    One pool may serve many fallback chains (``fallback(..., workers=pool)``): it is then a
    process-wide limit. Ten guards around a model that hangs hold at most ``max_workers``
    threads between them, against ten times their own ``max_workers`` with a pool each.

    Args:
        max_workers: threads at most, busy (abandoned calls included) or idle.
        max_wait: seconds a call waits in line for a worker before it is shed, or None to
            wait until the call's own deadline. Never past the deadline either way.
        idle_seconds: an idle thread exits after this long.

    Examples:
        >>> from guardrails import WorkerPool
        >>> pool = WorkerPool(max_workers=4, max_wait=0.05)
        >>> pool.run(lambda: 6 * 7, deadline=None)
        42
        >>> pool
        WorkerPool(max_workers=4, max_wait=0.05)
        >>> pool.stats().started, pool.stats().shed
        (1, 0)
    """

    def __init__(
        self, max_workers: int = 32, *, max_wait: float | None = None, idle_seconds: float = 5.0
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ConfigurationError(
                "The 'max_workers' parameter of WorkerPool must be an int >= 1. "
                f"Got {max_workers!r} instead."
            )
        self.max_workers = max_workers
        self.max_wait = _seconds("max_wait", max_wait, allow_zero=True)
        idle = _seconds("idle_seconds", idle_seconds, allow_zero=False)
        if idle is None:
            raise ConfigurationError(
                "The 'idle_seconds' parameter of WorkerPool must be a positive number of "
                "seconds. Got None instead."
            )
        self.idle_seconds = idle
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._waiting: deque[_Job[Any]] = deque()
        self._threads = 0
        self._busy = 0
        self._started = 0
        self._shed = 0
        self._abandoned = 0

    def __repr__(self) -> str:
        wait = "" if self.max_wait is None else f", max_wait={self.max_wait:g}"
        return f"WorkerPool(max_workers={self.max_workers}{wait})"

    def stats(self) -> PoolStats:
        """Threads, calls in line, and the calls started, shed and abandoned so far."""
        with self._lock:
            return PoolStats(
                self.max_workers,
                self._threads,
                self._busy,
                len(self._waiting),
                self._started,
                self._shed,
                self._abandoned,
            )

    # -- running ---------------------------------------------------------------------------

    def run(self, fn: Callable[[], T], *, deadline: float | None) -> T:
        """``fn()`` in a worker; return its result or raise what it raised.

        Args:
            fn: the call.
            deadline: ``time.monotonic()`` by which to give up, or None to wait for ever.

        Raises:
            Shed: no worker freed up within ``max_wait`` or before ``deadline``.
            Abandoned: ``fn`` ran past ``deadline`` (it goes on in its thread).
        """
        job: _Job[T] = _Job(fn, None)
        self._enter(job, deadline)
        done = job.done
        assert done is not None
        if job.state == _WAITING:
            end = self._wait_end(deadline)
            if not done.acquire(timeout=_lock_wait(end)):
                if self._leave_line(job, shed=True):
                    raise Shed
                if not done.acquire(timeout=_lock_wait(deadline)) and self._abandon(job):
                    raise Abandoned
        elif not done.acquire(timeout=_lock_wait(deadline)) and self._abandon(job):
            raise Abandoned
        return self._result(job)

    async def arun(self, fn: Callable[[], T], *, deadline: float | None) -> T:
        """Async [`run`][guardrails.WorkerPool.run]: the event loop waits on a future.

        A caller cancelled from outside leaves the line (its call never runs) or abandons
        its running call.
        """
        job: _Job[T] = _Job(fn, asyncio.get_running_loop())
        fut = job.afut
        assert fut is not None
        self._enter(job, deadline)
        try:
            if job.state == _WAITING:
                end = self._wait_end(deadline)
                await asyncio.wait((fut,), timeout=_left(end))
                if not fut.done():
                    if self._leave_line(job, shed=True):
                        raise Shed
                    await asyncio.wait((fut,), timeout=_left(deadline))
            else:
                await asyncio.wait((fut,), timeout=_left(deadline))
        except asyncio.CancelledError:
            if not self._leave_line(job, shed=False):
                self._abandon(job)
            raise
        if not fut.done() and self._abandon(job):
            raise Abandoned
        return self._result(job)

    # -- the line and the threads ----------------------------------------------------------

    def _enter(self, job: _Job[Any], deadline: float | None) -> None:
        worker: _Worker | None = None
        spawn = False
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
            elif self._threads < self.max_workers:
                self._threads += 1
                spawn = True
            elif self.max_wait == 0 or (deadline is not None and deadline <= time.monotonic()):
                self._shed += 1
                raise Shed
            else:
                self._waiting.append(job)
                return
            job.state = _RUNNING
            self._busy += 1
            self._started += 1
        if spawn:
            first = _Worker()
            first.job = job
            thread = threading.Thread(
                target=self._work, args=(first,), name="guardrails-worker", daemon=True
            )
            try:
                thread.start()
            except BaseException:
                with self._lock:
                    self._threads -= 1
                    self._busy -= 1
                    self._started -= 1
                    self._shed += 1
                raise Shed from None
            first.wake.release()
        else:
            assert worker is not None
            worker.wake.release()

    def _wait_end(self, deadline: float | None) -> float | None:
        if self.max_wait is None:
            return deadline
        end = time.monotonic() + self.max_wait
        return end if deadline is None else min(end, deadline)

    def _leave_line(self, job: _Job[Any], *, shed: bool) -> bool:
        """Take ``job`` out of the line if it is still waiting (it never runs); False if it
        already got a worker."""
        with self._lock:
            if job.state != _WAITING:
                return False
            self._waiting.remove(job)
            job.state = _GONE
            self._shed += shed
            return True

    def _abandon(self, job: _Job[Any]) -> bool:
        """Stop waiting for running ``job``; False if it finished after all."""
        with self._lock:
            if job.state == _DONE:
                return False
            job.state = _GONE
            self._abandoned += 1
            return True

    @staticmethod
    def _result(job: _Job[T]) -> T:
        if job.error is not None:
            error, job.error = job.error, None
            raise error
        value: T = job.value
        job.value = None
        return value

    def _work(self, me: _Worker) -> None:
        while True:
            if not me.wake.acquire(timeout=self.idle_seconds):
                with self._lock:
                    if me.job is None:
                        self._idle.remove(me)
                        self._threads -= 1
                        return
                me.wake.acquire()  # a call was handed over as the wait ran out
            job = me.job
            me.job = None
            while job is not None:
                job.run()
                with self._lock:
                    if job.state == _RUNNING:
                        job.state = _DONE
                    if self._waiting:
                        job = self._waiting.popleft()
                        job.state = _RUNNING
                        self._started += 1
                    else:
                        job = None
                        self._busy -= 1
                        self._idle.append(me)


def _left(end: float | None) -> float | None:
    """Seconds until ``end`` (never negative), or None for no end."""
    return None if end is None else max(0.0, end - time.monotonic())


def _lock_wait(end: float | None) -> float:
    """``threading.Lock.acquire``'s timeout until ``end`` (-1: no end)."""
    return -1 if end is None else max(0.0, end - time.monotonic())


def _seconds(name: str, value: Any, *, allow_zero: bool) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0 <= value < math.inf) or (value == 0 and not allow_zero):
        expected = "a number of seconds >= 0" if allow_zero else "a positive number of seconds"
        raise ConfigurationError(
            f"The {name!r} parameter of WorkerPool must be {expected} or None. "
            f"Got {value!r} instead."
        )
    return float(value)
