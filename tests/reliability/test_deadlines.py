"""Deadlines hold on every path: sync and async, worker pool free or exhausted.

The probe's case: a primary that hangs 3 s, ``primary_timeout=0.05``, ``max_workers=2``.
Every bound below is generous (ten times the timeout and more) so that a loaded CI machine
cannot fail it, while a call that waited for a hung worker would take the full 3 s.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import BaseModel

from guardrails import Default, Metrics, Reason, Rule, WithFallback, WorkerPool, guard

HANG, TIMEOUT, BOUND = 3.0, 0.05, 1.0


class Row(BaseModel):
    a: float
    b: float


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Ends every hang when the test is over, so no thread outlives it by 3 s."""
    event = threading.Event()
    yield event
    event.set()


class _Silent:
    """A structlog-style logger that drops every event."""

    def _drop(self, event: str, **kw: Any) -> None:
        return None

    debug = info = warning = error = critical = _drop


def _hanging(release: threading.Event) -> Any:
    def hangs(X: Any) -> NDArray[Any]:
        release.wait(HANG)
        return np.zeros(len(X))

    return hangs


def _sevens(rows: Any) -> list[float]:
    return [7.0] * len(rows)


def _guards(release: threading.Event) -> dict[str, Any]:
    """The same chain three ways: a rule (runs code, so it needs a thread in async), a
    constant, and a rule behind validation (whose async path is the native one)."""
    hangs = _hanging(release)
    settings: dict[str, Any] = {"primary_timeout": TIMEOUT, "max_workers": 2}
    return {
        "rule": guard(hangs, output="values").fallback(Rule(_sevens), **settings),
        "default": guard(hangs, output="values").fallback(Default(7.0), **settings),
        "validated": guard(hangs, output="values")
        .validate(Row)
        .fallback(Rule(_sevens), **settings),
    }


def _batch(kind: str) -> Any:
    return [{"a": 0.0, "b": 1.0}] * 2 if kind == "validated" else np.zeros((2, 2))


def _timed_out_into_the_fallback(d: Any) -> None:
    assert (d.prediction == 7.0).all()
    assert d.detail is not None and all("primary: timeout" in t for t in d.detail)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rule", "default", "validated"])
def test_sync_calls_return_by_their_deadline_while_hung_calls_hold_every_worker(
    kind: str, release: threading.Event
) -> None:
    g = _guards(release)[kind]
    for _ in range(4):  # the first two abandon both workers; the rest find none free
        t0 = time.monotonic()
        d = g.decide(_batch(kind))
        assert time.monotonic() - t0 < BOUND
        _timed_out_into_the_fallback(d)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rule", "default", "validated"])
def test_async_calls_return_by_their_deadline_while_hung_calls_hold_every_worker(
    kind: str, release: threading.Event
) -> None:
    g = _guards(release)[kind]

    async def main() -> list[float]:
        waits = []
        for _ in range(4):
            t0 = time.monotonic()
            d = await g.adecide(_batch(kind))
            waits.append(time.monotonic() - t0)
            _timed_out_into_the_fallback(d)
        return waits

    assert max(asyncio.run(main())) < BOUND


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["rule", "default", "validated"])
def test_fifty_concurrent_async_callers_all_return_by_their_deadline(
    kind: str, release: threading.Event
) -> None:
    g = _guards(release)[kind]

    async def one() -> float:
        t0 = time.monotonic()
        d = await g.adecide(_batch(kind))
        _timed_out_into_the_fallback(d)
        return time.monotonic() - t0

    async def main() -> list[float]:
        return list(await asyncio.gather(*(one() for _ in range(50))))

    assert max(asyncio.run(main())) < BOUND


@pytest.mark.timeout(60)
def test_a_hung_primary_never_holds_more_threads_than_its_pool(
    release: threading.Event,
) -> None:
    g = _guards(release)["validated"]

    async def main() -> None:
        await asyncio.gather(*(g.adecide(_batch("validated")) for _ in range(50)))

    before = threading.active_count()
    asyncio.run(main())
    stats = g.layer(WithFallback).worker_stats()
    assert stats.threads <= 2 and stats.abandoned == 2
    assert threading.active_count() - before <= 2  # not one thread per hung call


@pytest.mark.timeout(60)
def test_ten_guards_sharing_one_pool_hold_at_most_its_threads(
    release: threading.Event,
) -> None:
    pool = WorkerPool(max_workers=4)
    hangs = _hanging(release)
    guards = [
        guard(hangs, output="values").fallback(Default(0.0), primary_timeout=TIMEOUT, workers=pool)
        for _ in range(10)
    ]
    for g in guards:
        for _ in range(3):
            assert g.decide(np.zeros((1, 2)))[0].stage == "default"
    stats = pool.stats()
    assert stats.threads == 4  # with a pool each, ten guards held 10 x 2 threads or more
    assert stats.abandoned == 4 and stats.shed == 26


@pytest.mark.timeout(60)
def test_a_burst_beyond_the_workers_is_shed_at_once_and_counted(
    release: threading.Event,
) -> None:
    """max_wait is the load-shedding policy: a call waits that long for a worker, no more."""
    metrics = Metrics()
    g = (
        guard(_hanging(release), output="values", name="burst")
        .fallback(Default(0.0), primary_timeout=1.0, max_workers=2, max_wait=0.0)
        .log(_Silent(), metrics=metrics)
    )

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(g.adecide(np.zeros((1, 2))) for _ in range(20))))

    t0 = time.monotonic()
    results = asyncio.run(main())
    assert time.monotonic() - t0 < 1.0 + BOUND  # two ran to their 1 s limit; none waited more
    assert all(d[0].reason is Reason.NONE and d[0].stage == "default" for d in results)
    stats = g.layer(WithFallback).worker_stats()
    # two got the two workers and were abandoned at 1 s; eighteen found none and never ran
    assert stats.shed == 18 and stats.started == 2 and stats.abandoned == 2
    assert metrics.snapshot().guard("burst").shed == {"primary": 18}  # and the metric says so


@pytest.mark.timeout(60)
def test_a_shed_row_says_so_and_does_not_count_against_the_breaker(
    release: threading.Event,
) -> None:
    from guardrails import CircuitBreaker, SendToReview

    g = guard(_hanging(release), output="values").fallback(
        SendToReview(),
        primary_timeout=TIMEOUT,
        primary_breaker=CircuitBreaker(failure_threshold=1),
        max_workers=1,
        max_wait=0.0,
    )
    breaker = g.layer(WithFallback).primary_breaker
    assert breaker is not None
    first = g.decide(np.zeros((1, 2)))  # abandons the only worker: a failure, the breaker opens
    assert first[0].detail == "sent to review after primary: timeout"
    breaker.reset()
    g.decide(np.zeros((1, 2)))
    stats = breaker.stats()
    assert stats["state"] == "closed" and stats["released"] == 1  # the shed call never ran
    assert g.layer(WithFallback).worker_stats().shed == 1
