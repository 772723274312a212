"""The fallback chain's steps and its two drivers: run a chain in the caller's thread or on a loop.

The chain is written once, as generators that yield what to run (``_Run``) or how long to
wait (``_Sleep``) and receive the result (or have the exception thrown in). ``drive``
runs them for ``decide()``, ``adrive`` for ``adecide()``: the only places where sync and
async differ.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from guardrails.core.decisions import Decisions
from guardrails.core.layer import Call
from guardrails.core.workers import Abandoned, WorkerPool

T = TypeVar("T")


@dataclasses.dataclass
class _Outcome:
    """What one attempt of the primary or a stage produced."""

    d: Decisions
    failed: bool  # counts against a circuit breaker


@dataclasses.dataclass(frozen=True)
class _Run:
    """A step of the chain: run user code, under ``limit`` seconds if not None.

    ``sync`` is the blocking call; ``coro`` (when the code awaits work of its own) makes
    the coroutine the async driver awaits instead. ``needs_thread``: the sync driver runs
    ``sync`` in a worker even without a limit (an async rule run by ``decide``).
    """

    sync: Callable[[], Any]
    coro: Callable[[], Awaitable[Any]] | None
    limit: float | None
    needs_thread: bool = False


@dataclasses.dataclass(frozen=True)
class _Sleep:
    """A step of the chain: wait ``seconds`` (a retry's backoff)."""

    seconds: float


_Flow = Generator["_Run | _Sleep", Any, T]
"""The chain written once: yields steps, receives their results, returns its own."""


def _ends(limit: float | None) -> float | None:
    return None if limit is None else time.monotonic() + limit


def _limit(timeout: float | None, call: Call) -> float | None:
    remaining = call.remaining()
    if timeout is None:
        return remaining
    return timeout if remaining is None else min(timeout, remaining)


def drive(flow: _Flow[T], workers: WorkerPool) -> T:
    """Run ``flow`` in the caller's thread (``decide``)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(step, _Sleep):
                time.sleep(step.seconds)
            elif step.limit is None and not step.needs_thread:
                value = step.sync()
            else:
                value = workers.run(step.sync, deadline=_ends(step.limit))
        except BaseException as exc:
            error = exc


async def adrive(flow: _Flow[T], workers: WorkerPool) -> T:
    """Run ``flow`` on the event loop (``adecide``); blocking work goes to threads."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if isinstance(step, _Sleep):
                await asyncio.sleep(step.seconds)
            elif step.coro is not None:
                try:
                    value = await asyncio.wait_for(step.coro(), step.limit)
                except asyncio.TimeoutError:
                    raise Abandoned from None
            elif step.limit is None:  # never abandoned: where the sync path runs it
                value = await asyncio.to_thread(step.sync)
            else:
                value = await workers.arun(step.sync, deadline=_ends(step.limit))
        except BaseException as exc:
            error = exc
