"""The circuit breaker: opens, fails fast, probes, closes; consistent under concurrency."""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import threading
from typing import Any

import pytest
from structlog.testing import capture_logs

from guardrails import BreakerState, CircuitBreaker, CircuitOpenError, ConfigurationError

pytestmark = pytest.mark.timeout(60)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        b.failure(b.acquire())


def test_opens_after_the_configured_consecutive_failures() -> None:
    b = CircuitBreaker(failure_threshold=3, cool_down=10.0, clock=Clock())
    _fail(b, 2)
    assert b.state is BreakerState.CLOSED
    _fail(b)
    assert b.state is BreakerState.OPEN
    assert b.stats()["opened"] == 1


def test_a_success_resets_the_consecutive_count() -> None:
    b = CircuitBreaker(failure_threshold=3, clock=Clock())
    for _ in range(10):
        _fail(b, 2)
        b.success(b.acquire())
    assert b.state is BreakerState.CLOSED


def test_while_open_the_stage_is_not_called_then_probed_after_the_cool_down() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=2, cool_down=30.0, clock=clock)
    calls = []

    def stage() -> str:
        calls.append(clock.now)
        raise ConnectionError("down")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            b.call(stage)
    assert b.state is BreakerState.OPEN
    clock.now = 29.9
    for _ in range(5):
        with pytest.raises(CircuitOpenError, match="is open"):
            b.call(stage)
    assert len(calls) == 2  # failing fast: the stage was never called while open
    assert b.stats()["rejected"] == 5
    clock.now = 30.0
    assert b.call(lambda: "healthy") == "healthy"  # the half-open probe
    assert b.state is BreakerState.CLOSED


def test_a_failed_probe_opens_the_breaker_for_another_cool_down() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cool_down=5.0, clock=clock)
    _fail(b)
    clock.now = 5.0
    token = b.acquire()
    assert b.state is BreakerState.HALF_OPEN
    b.failure(token)
    assert b.state is BreakerState.OPEN
    clock.now = 9.9
    assert b.acquire() is None
    clock.now = 10.0
    b.success(b.acquire())
    assert b.state is BreakerState.CLOSED


def test_half_open_allows_one_probe_at_a_time() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cool_down=5.0, clock=clock)
    _fail(b)
    clock.now = 5.0
    probe = b.acquire()
    assert probe is not None
    assert b.acquire() is None  # a second caller fails fast while the probe is out
    b.success(probe)
    assert b.acquire() is not None


def test_a_released_probe_frees_the_slot_without_changing_state() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cool_down=5.0, clock=clock)
    _fail(b)
    clock.now = 5.0
    b.release(b.acquire())
    assert b.state is BreakerState.HALF_OPEN
    assert b.acquire() is not None
    assert b.stats()["released"] == 1


def test_a_cancelled_async_call_releases_its_token() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cool_down=5.0, clock=clock)
    _fail(b)
    clock.now = 5.0

    async def hang() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(b.acall(hang), 0.01)

    asyncio.run(main())
    assert b.state is BreakerState.HALF_OPEN and b.stats()["failures"] == 1
    assert b.acquire() is not None  # the next caller gets the probe at once


def test_a_probe_that_never_reports_is_given_up_after_a_cool_down() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cool_down=5.0, clock=clock)
    _fail(b)
    clock.now = 5.0
    assert b.acquire() is not None  # this caller vanishes without reporting
    clock.now = 9.0
    assert b.acquire() is None
    clock.now = 10.0
    assert b.acquire() is not None


def test_opens_on_the_failure_rate_over_the_window() -> None:
    b = CircuitBreaker(
        failure_threshold=100, failure_rate=0.5, window=10, min_calls=10, clock=Clock()
    )
    for i in range(9):  # 5 of 9 fail, never two in a row; fewer calls than min_calls
        (b.failure if i % 2 == 0 else b.success)(b.acquire())
    assert b.state is BreakerState.CLOSED
    b.success(b.acquire())  # a success never opens a breaker
    assert b.state is BreakerState.CLOSED
    b.failure(b.acquire())  # the last 10 calls hold 5 failures: rate 0.5 reached
    assert b.state is BreakerState.OPEN


def test_old_outcomes_drop_out_of_the_window() -> None:
    b = CircuitBreaker(
        failure_threshold=100, failure_rate=0.5, window=4, min_calls=4, clock=Clock()
    )
    for outcome in [True, True, True, False, False, False, True]:
        (b.failure if outcome else b.success)(b.acquire())
    # 4 of 7 calls failed, but only 1 of the last 4: the early failures left the window
    assert b.state is BreakerState.CLOSED


def test_outcomes_of_calls_started_before_a_state_change_are_ignored() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, cool_down=5.0, clock=clock)
    slow = b.acquire()
    _fail(b)
    clock.now = 5.0
    probe = b.acquire()
    b.success(slow)  # a call from the closed era must not close the half-open breaker
    assert b.state is BreakerState.HALF_OPEN
    assert b.stats()["stale"] == 1
    b.success(probe)
    assert b.state is BreakerState.CLOSED


def test_state_changes_reach_listeners_and_a_structlog_event() -> None:
    clock = Clock()
    seen: list[tuple[str, str, str]] = []
    b = CircuitBreaker(name="backup", failure_threshold=1, cool_down=1.0, clock=clock)
    b.add_listener(lambda br, old, new: seen.append((br.name, str(old), str(new))))
    with capture_logs() as logs:
        _fail(b)
        clock.now = 1.0
        b.success(b.acquire())
    assert seen == [
        ("backup", "closed", "open"),
        ("backup", "open", "half_open"),
        ("backup", "half_open", "closed"),
    ]
    assert [(e["event"], e["breaker"], e["old"], e["new"]) for e in logs] == [
        ("circuit_breaker.state_change", "backup", "closed", "open"),
        ("circuit_breaker.state_change", "backup", "open", "half_open"),
        ("circuit_breaker.state_change", "backup", "half_open", "closed"),
    ]


def test_a_given_logger_is_used() -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    class Logger:
        def info(self, event: str, **kw: Any) -> None:
            events.append((event, kw))

    b = CircuitBreaker(failure_threshold=1, logger=Logger(), clock=Clock())
    _fail(b)
    assert events == [
        ("circuit_breaker.state_change", {"breaker": "breaker", "old": "closed", "new": "open"})
    ]


def test_a_listener_may_read_the_breaker_without_deadlocking() -> None:
    b = CircuitBreaker(failure_threshold=1, clock=Clock())
    snapshots: list[dict[str, Any]] = []
    b.add_listener(lambda br, old, new: snapshots.append(br.stats()))
    _fail(b)
    assert snapshots[0]["state"] == "open"


def test_reset_closes_and_forgets() -> None:
    b = CircuitBreaker(failure_threshold=1, clock=Clock())
    _fail(b)
    b.reset()
    assert b.state is BreakerState.CLOSED and b.stats()["failures"] == 0


def test_a_deep_copy_is_a_fresh_breaker_with_the_same_settings() -> None:
    b = CircuitBreaker(name="x", failure_threshold=1, cool_down=3.0, clock=Clock())
    b.add_listener(lambda *a: None)
    _fail(b)
    c = copy.deepcopy(b)
    assert c.settings() == b.settings()
    assert c.state is BreakerState.CLOSED and b.state is BreakerState.OPEN
    assert c.clock is b.clock and len(c._listeners) == 1


def test_repr_shows_settings_and_state() -> None:
    b = CircuitBreaker(name="api", failure_threshold=4, failure_rate=0.5, window=10)
    assert repr(b) == (
        "CircuitBreaker(name='api', failure_threshold=4, failure_rate=0.5, window=10, cool_down=30)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, r"'failure_threshold' parameter of CircuitBreaker.*Got 0"),
        ({"failure_threshold": 2.5}, r"'failure_threshold'.*an int"),
        ({"failure_rate": 1.5}, r"'failure_rate'.*Got 1.5"),
        ({"failure_rate": 0}, r"'failure_rate'.*\(0, 1\]"),
        ({"cool_down": -1}, r"'cool_down'.*Got -1"),
        ({"cool_down": float("inf")}, r"'cool_down'"),
        ({"window": 5, "min_calls": 6}, r"'min_calls'.*\[1, 5\]"),
        ({"name": ""}, r"'name' parameter of CircuitBreaker"),
        ({"clock": 3}, r"'clock' parameter of CircuitBreaker must be callable"),
        ({"half_open_probes": True}, r"'half_open_probes'"),
    ],
)
def test_bad_settings_are_refused_with_the_parameter_named(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CircuitBreaker(**kwargs)


def test_a_listener_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="listener must be callable"):
        CircuitBreaker().add_listener("not a function")  # type: ignore[arg-type]


def _check_consistent(b: CircuitBreaker, attempts: int, transitions: list[tuple[str, str]]) -> None:
    stats = b.stats()
    # every attempt was either let through or refused, and every call let through reported
    # exactly one outcome, counted once (fresh) or as stale
    assert stats["calls"] + stats["rejected"] == attempts
    ends = stats["successes"] + stats["failures"] + stats["stale"] + stats["released"]
    assert ends == stats["calls"]
    # the listener saw a valid path through the state machine, ending in the current state
    allowed = {("closed", "open"), ("open", "half_open"), ("half_open", "open"),
               ("half_open", "closed")}  # fmt: skip
    assert set(transitions) <= allowed
    for (_, new), (old, _) in itertools.pairwise(transitions):
        assert new == old
    assert (transitions[-1][1] if transitions else "closed") == stats["state"]
    assert stats["opened"] == sum(1 for _, new in transitions if new == "open")


def test_sixteen_threads_give_consistent_state_and_counts() -> None:
    clock = Clock()
    lock = threading.Lock()
    b = CircuitBreaker(failure_threshold=5, cool_down=1.0, clock=clock)
    transitions: list[tuple[str, str]] = []
    b.add_listener(lambda br, old, new: transitions.append((str(old), str(new))))
    per_thread = 400
    start = threading.Barrier(16)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(per_thread):
            token = b.acquire()
            if token is not None:
                (b.failure if rng.random() < 0.4 else b.success)(token)
            if rng.random() < 0.01:
                with lock:
                    clock.now += 1.0  # let cool-downs pass now and then

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check_consistent(b, 16 * per_thread, transitions)
    assert b.stats()["opened"] >= 1  # 40% failures: five in a row happen


def test_two_hundred_asyncio_tasks_give_consistent_state_and_counts() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=5, cool_down=1.0, clock=clock)
    transitions: list[tuple[str, str]] = []
    b.add_listener(lambda br, old, new: transitions.append((str(old), str(new))))
    per_task = 20
    refused = 0

    async def task(seed: int) -> None:
        nonlocal refused
        rng = random.Random(seed)

        async def call() -> None:
            await asyncio.sleep(0)  # suspend while holding the breaker's token, not its lock
            if rng.random() < 0.4:
                raise ConnectionError("down")

        for _ in range(per_task):
            try:
                await b.acall(call)
            except ConnectionError:
                pass
            except CircuitOpenError:
                refused += 1
            if rng.random() < 0.01:
                clock.now += 1.0

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(200)))

    asyncio.run(main())
    _check_consistent(b, 200 * per_task, transitions)
    assert refused == b.stats()["rejected"]
