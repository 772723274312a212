"""The worker pool: bounded threads, a line with a bounded wait, shed and abandoned calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from guardrails import ConfigurationError, WorkerPool
from guardrails.core.workers import Abandoned, Shed


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _hold(pool: WorkerPool, release: threading.Event, k: int) -> None:
    """Abandon ``k`` calls that block until ``release``: they hold ``k`` workers."""
    for _ in range(k):
        with pytest.raises(Abandoned):
            pool.run(lambda: release.wait(10.0), deadline=time.monotonic() + 0.01)


def test_a_call_returns_its_result_or_raises_its_exception() -> None:
    pool = WorkerPool(2)
    assert pool.run(lambda: 42, deadline=None) == 42
    with pytest.raises(ZeroDivisionError):
        pool.run(lambda: 1 / 0, deadline=time.monotonic() + 5.0)
    assert pool.stats().started == 2 and pool.stats().shed == 0


def test_a_call_that_finds_every_worker_busy_is_shed_after_max_wait_and_never_runs(
    release: threading.Event,
) -> None:
    pool = WorkerPool(1, max_wait=0.02)
    _hold(pool, release, 1)
    ran = threading.Event()
    with pytest.raises(Shed):
        pool.run(ran.set, deadline=time.monotonic() + 10.0)
    release.set()
    time.sleep(0.05)
    assert not ran.is_set()
    stats = pool.stats()
    assert (stats.shed, stats.abandoned, stats.threads, stats.waiting) == (1, 1, 1, 0)


def test_without_max_wait_a_call_waits_in_line_until_a_worker_frees_up(
    release: threading.Event,
) -> None:
    pool = WorkerPool(1)
    _hold(pool, release, 1)
    threading.Timer(0.05, release.set).start()
    assert pool.run(lambda: "next", deadline=time.monotonic() + 10.0) == "next"
    assert pool.stats().shed == 0


def test_a_call_never_waits_in_line_past_its_deadline(release: threading.Event) -> None:
    pool = WorkerPool(1)
    _hold(pool, release, 1)
    with pytest.raises(Shed):
        pool.run(lambda: None, deadline=time.monotonic() + 0.02)
    with pytest.raises(Shed):  # a deadline already passed: shed without waiting
        pool.run(lambda: None, deadline=time.monotonic() - 1.0)


def test_threads_never_exceed_max_workers_under_many_callers() -> None:
    pool = WorkerPool(3)
    done: list[int] = []

    def caller() -> None:
        for _ in range(200):
            done.append(pool.run(lambda: 1, deadline=None))

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    stats = pool.stats()
    assert sum(done) == 2400 and stats.started == 2400
    assert stats.threads <= 3 and stats.busy == 0 and stats.waiting == 0


def test_async_callers_wait_in_line_without_polling_and_all_get_answers() -> None:
    pool = WorkerPool(2)

    async def main() -> list[int]:
        return list(
            await asyncio.gather(*(pool.arun(lambda: 2, deadline=None) for _ in range(300)))
        )

    assert sum(asyncio.run(main())) == 600
    assert pool.stats().threads <= 2


def test_an_async_caller_cancelled_in_line_leaves_it_and_its_call_never_runs(
    release: threading.Event,
) -> None:
    pool = WorkerPool(1)
    _hold(pool, release, 1)
    ran = threading.Event()

    async def main() -> None:
        task = asyncio.ensure_future(pool.arun(ran.set, deadline=None))
        await asyncio.sleep(0.02)
        assert pool.stats().waiting == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    release.set()
    time.sleep(0.05)
    assert not ran.is_set()
    assert pool.stats().waiting == 0 and pool.stats().shed == 0  # cancelled, not shed


def test_idle_threads_exit() -> None:
    pool = WorkerPool(2, idle_seconds=0.02)
    pool.run(lambda: None, deadline=None)
    deadline = time.monotonic() + 10.0
    while pool.stats().threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.stats().threads == 0
    assert pool.run(lambda: "again", deadline=None) == "again"  # and new ones start


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"max_workers": 0}, "The 'max_workers' parameter of WorkerPool must be an int >= 1"),
        ({"max_workers": True}, "'max_workers'"),
        ({"max_wait": -1}, "The 'max_wait' parameter of WorkerPool must be a number"),
        ({"idle_seconds": 0}, "'idle_seconds'"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        WorkerPool(**kwargs)  # type: ignore[arg-type]
