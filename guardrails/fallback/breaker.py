"""The circuit breaker: stop calling a stage that keeps failing, and probe it back to health.

A [`CircuitBreaker`][] is *closed* while calls succeed. It *opens* after
``failure_threshold`` consecutive failures, or when the failure rate over the last
``window`` calls reaches ``failure_rate``. While open it fails fast: [`acquire`][]
returns None and the caller does not call the stage. After ``cool_down`` seconds the next
caller gets a *half-open* probe; a healthy probe closes the breaker, a failed one opens it
again for another cool-down.

It is safe to share between threads and asyncio tasks: every state change happens under a
short thread lock that is never held across a call, an ``await`` or a listener.
"""

from __future__ import annotations

import asyncio
import enum
import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from guardrails.core.errors import ConfigurationError, GuardrailsError, GuardrailsWarning
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["BreakerState", "CircuitBreaker", "CircuitOpenError", "StateListener"]

T = TypeVar("T")


class BreakerState(str, enum.Enum):
    """Where a breaker is: ``closed`` (calls flow), ``open`` (fail fast), ``half_open``."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


class CircuitOpenError(GuardrailsError, RuntimeError):
    """Raised by [`CircuitBreaker.call`][] when the breaker fails fast.

    Attributes:
        breaker: name of the breaker that refused the call.
    """

    def __init__(self, message: str, breaker: str = "") -> None:
        super().__init__(message)
        self.breaker = breaker


StateListener = Callable[["CircuitBreaker", BreakerState, BreakerState], None]
"""A plain callable ``(breaker, old_state, new_state) -> None`` told of every change."""


def _check_number(
    name: str, value: Any, *, low: float, high: float = math.inf, integer: bool = False
) -> None:
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        ok = low <= value <= high and math.isfinite(value)
    if not ok:
        what = "an int" if integer else "a number"
        bound = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigurationError(
            f"The {name!r} parameter of CircuitBreaker must be {what} {bound}. "
            f"Got {value!r} instead."
        )


@persistable
class CircuitBreaker:
    """Fail fast on a stage that keeps failing; probe it after a cool-down.

    Args:
        name: the breaker's name in events and metrics (usually the stage's name).
        failure_threshold: consecutive failures that open the breaker.
        failure_rate: open when this share of the last ``window`` calls failed (None: off).
        window: number of recent calls the failure rate is computed over.
        min_calls: calls the window must hold before the failure rate can open it.
        cool_down: seconds the breaker stays open before a half-open probe.
        half_open_probes: probes allowed at the same time while half-open.
        clock: a monotonic clock in seconds; inject one to test without sleeping.
        logger: a structlog logger for state-change events; default
            ``structlog.get_logger("guardrails")``. Logging is never configured here.

    Examples:
        >>> from structlog.testing import CapturingLogger
        >>> from guardrails import CircuitBreaker
        >>> now, log = [0.0], CapturingLogger()
        >>> b = CircuitBreaker(failure_threshold=2, cool_down=10.0, clock=lambda: now[0],
        ...                    logger=log)
        >>> for _ in range(2):
        ...     b.failure(b.acquire())
        >>> b.state, b.acquire()
        (<BreakerState.OPEN: 'open'>, None)
        >>> now[0] = 10.0
        >>> token = b.acquire(); b.success(token); b.state
        <BreakerState.CLOSED: 'closed'>
        >>> [call.kwargs["new"] for call in log.calls]
        ['open', 'half_open', 'closed']
    """

    def __init__(
        self,
        *,
        name: str = "breaker",
        failure_threshold: int = 5,
        failure_rate: float | None = None,
        window: int = 20,
        min_calls: int = 10,
        cool_down: float = 30.0,
        half_open_probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
        logger: Any = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"The 'name' parameter of CircuitBreaker must be a non-empty str. Got {name!r}."
            )
        _check_number("failure_threshold", failure_threshold, low=1, integer=True)
        if failure_rate is not None:
            _check_number("failure_rate", failure_rate, low=0.0, high=1.0)
            if failure_rate == 0:
                raise ConfigurationError(
                    "The 'failure_rate' parameter of CircuitBreaker must be in (0, 1]. Got 0."
                )
        _check_number("window", window, low=1, integer=True)
        _check_number("min_calls", min_calls, low=1, high=window, integer=True)
        _check_number("cool_down", cool_down, low=0.0)
        _check_number("half_open_probes", half_open_probes, low=1, integer=True)
        if not callable(clock):
            raise ConfigurationError(
                f"The 'clock' parameter of CircuitBreaker must be callable. Got {clock!r}."
            )
        self.name = name
        self.failure_threshold = failure_threshold
        self.failure_rate = None if failure_rate is None else float(failure_rate)
        self.window = window
        self.min_calls = min_calls
        self.cool_down = float(cool_down)
        self.half_open_probes = half_open_probes
        self.clock = clock
        self.logger = logger
        self._listeners: list[StateListener] = []
        self._lock = threading.Lock()
        # state changes wait here, in order, until one thread tells the log and listeners
        self._changes: deque[tuple[BreakerState, BreakerState]] = deque()
        self._announcing = threading.RLock()
        self._reset_state()

    def _reset_state(self) -> None:
        self._state = BreakerState.CLOSED
        self._generation = 0  # bumps on every state change; outcomes of older calls are stale
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=self.window)  # True = failure
        self._recent_failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._probe_started = 0.0
        self._counts = {
            "calls": 0,
            "successes": 0,
            "failures": 0,
            "rejected": 0,
            "stale": 0,
            "released": 0,
            "opened": 0,
        }

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker past its cool-down still reads ``open``
        until a caller takes the probe)."""
        return self._state

    def stats(self) -> dict[str, Any]:
        """A consistent snapshot: state and counts of calls let through, successes,
        failures, rejected calls (failed fast), stale outcomes (calls that ended after a
        state change), released tokens (no outcome) and times opened.

        Every call let through ends as exactly one of success, failure, stale or released.
        """
        with self._lock:
            return {"state": str(self._state), **self._counts}

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(breaker, old, new)`` on every state change (outside the lock)."""
        if not callable(listener):
            raise ConfigurationError(
                f"A CircuitBreaker listener must be callable. Got {listener!r} instead."
            )
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        """Stop telling ``listener`` of state changes."""
        self._listeners.remove(listener)

    def reset(self) -> None:
        """Close the breaker and forget its history and counts."""
        with self._lock:
            old = self._state
            self._reset_state()
            if old is not BreakerState.CLOSED:
                self._changes.append((old, BreakerState.CLOSED))
        if old is not BreakerState.CLOSED:
            self._announce()

    # -- the protocol a caller follows ---------------------------------------------------

    def acquire(self) -> int | None:
        """Ask to make one call: a token to report the outcome with, or None to fail fast.

        Every token must be reported with [`success`][] or [`failure`][].
        """
        change: tuple[BreakerState, BreakerState] | None = None
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                self._counts["calls"] += 1
                return self._generation
            now = self.clock()
            if state is BreakerState.OPEN:
                if now - self._opened_at < self.cool_down:
                    self._counts["rejected"] += 1
                    return None
                change = self._move(BreakerState.HALF_OPEN)
            elif self._probes >= self.half_open_probes:
                if now - self._probe_started < self.cool_down:
                    self._counts["rejected"] += 1
                    return None
                self._probes = 0  # probes that never reported for a whole cool-down are lost
            self._probes += 1
            self._probe_started = now
            self._counts["calls"] += 1
            token = self._generation
        if change is not None:
            self._announce()
        return token

    def success(self, token: int | None) -> None:
        """Report that the call holding ``token`` succeeded."""
        self._report(token, failed=False)

    def failure(self, token: int | None) -> None:
        """Report that the call holding ``token`` failed (raised, timed out, gave nothing)."""
        self._report(token, failed=True)

    def _report(self, token: int | None, *, failed: bool) -> None:
        """Count one outcome of the call holding ``token``; a stale token only counts as stale."""
        if token is None:
            return
        change: tuple[BreakerState, BreakerState] | None = None
        with self._lock:
            if token != self._generation:
                self._counts["stale"] += 1
                return
            self._counts["failures" if failed else "successes"] += 1
            if self._state is BreakerState.HALF_OPEN:
                change = self._move(BreakerState.OPEN if failed else BreakerState.CLOSED)
            else:
                self._consecutive = self._consecutive + 1 if failed else 0
                self._push(failed)
                if failed and self._should_open():
                    change = self._move(BreakerState.OPEN)
        if change is not None:
            self._announce()

    def release(self, token: int | None) -> None:
        """Give ``token`` back without an outcome (the call was abandoned by its caller for
        reasons that say nothing about the stage, e.g. a cancelled request or bad input).

        A half-open probe slot is freed for the next caller.
        """
        if token is None:
            return
        with self._lock:
            self._counts["released"] += 1
            if token == self._generation and self._state is BreakerState.HALF_OPEN:
                self._probes = max(0, self._probes - 1)

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` through the breaker; any exception is a failure.

        Raises:
            CircuitOpenError: the breaker is open; ``fn`` was not called.
        """
        token = self.acquire()
        if token is None:
            raise CircuitOpenError(f"circuit {self.name!r} is open", self.name)
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            self.failure(token)
            raise
        self.success(token)
        return result

    async def acall(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` through the breaker (no lock is held while waiting).

        Raises:
            CircuitOpenError: the breaker is open; ``fn`` was not called.
        """
        token = self.acquire()
        if token is None:
            raise CircuitOpenError(f"circuit {self.name!r} is open", self.name)
        try:
            result = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            self.release(token)  # the caller gave up; says nothing about the stage
            raise
        except BaseException:
            self.failure(token)
            raise
        self.success(token)
        return result

    # -- internals (called with the lock held) -------------------------------------------

    def _push(self, failed: bool) -> None:
        if len(self._recent) == self.window and self._recent[0]:
            self._recent_failures -= 1
        self._recent.append(failed)
        self._recent_failures += failed

    def _should_open(self) -> bool:
        if self._consecutive >= self.failure_threshold:
            return True
        return (
            self.failure_rate is not None
            and len(self._recent) >= self.min_calls
            and self._recent_failures >= self.failure_rate * len(self._recent)
        )

    def _move(self, new: BreakerState) -> tuple[BreakerState, BreakerState]:
        old = self._state
        self._changes.append((old, new))
        self._state = new
        self._generation += 1
        self._probes = 0
        if new is BreakerState.OPEN:
            self._opened_at = self.clock()
            self._counts["opened"] += 1
        elif new is BreakerState.CLOSED:
            self._consecutive = 0
            self._recent.clear()
            self._recent_failures = 0
        return old, new

    def _announce(self) -> None:
        """Tell the log and the listeners of pending changes, in the order they happened.

        Runs outside the state lock (listeners may read the breaker); a separate lock keeps
        the announcements of concurrent changes in order. No lock is held across an await.
        """
        with self._announcing:
            while self._changes:
                try:
                    old, new = self._changes.popleft()
                except IndexError:  # another thread emptied it
                    return
                logger = self.logger
                if logger is None:
                    logger = structlog.get_logger("guardrails")
                try:
                    logger.info(
                        "circuit_breaker.state_change",
                        breaker=self.name,
                        old=str(old),
                        new=str(new),
                    )
                except Exception as exc:  # a broken logger must not break the breaker
                    warnings.warn(
                        f"the logger of circuit breaker {self.name!r} failed "
                        f"({type(exc).__name__}: {str(exc)[:200]}); the state change to "
                        f"{new} happened but was not logged.",
                        GuardrailsWarning,
                        stacklevel=2,
                    )
                for listener in list(self._listeners):
                    listener(self, old, new)

    # -- copies, display, persistence ----------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The constructor settings that are data (no clock, logger or listeners)."""
        return {
            "name": self.name,
            "failure_threshold": self.failure_threshold,
            "failure_rate": self.failure_rate,
            "window": self.window,
            "min_calls": self.min_calls,
            "cool_down": self.cool_down,
            "half_open_probes": self.half_open_probes,
        }

    def __deepcopy__(self, memo: dict[int, Any]) -> CircuitBreaker:
        """A fresh closed breaker with the same settings, clock, logger and listeners."""
        new = CircuitBreaker(**self.settings(), clock=self.clock, logger=self.logger)
        new._listeners = list(self._listeners)
        return new

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a CircuitBreaker holds locks and cannot be pickled; save the guard")

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}", f"failure_threshold={self.failure_threshold}"]
        if self.failure_rate is not None:
            parts += [f"failure_rate={self.failure_rate:g}", f"window={self.window}"]
        parts.append(f"cool_down={self.cool_down:g}")
        return f"CircuitBreaker({', '.join(parts)})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return self.settings()

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> CircuitBreaker:
        return cls(**state)
