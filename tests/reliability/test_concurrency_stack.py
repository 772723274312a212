"""One full guard (abstain, drift monitor, fallback with breaker, SQLite review queue, logging
with metrics) shared by 16 threads and by 500 asyncio tasks: no exception, no deadlock, and
every count adds up.

Each row's outcome does not depend on what else runs (the monitor only logs here), so a
serial pass over the same rows gives the exact counts the concurrent run must reproduce:
decisions per stage, withheld rows == review cases stored, breaker calls == primary calls,
metrics' rows and calls == what the callers received.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrails import (
    CircuitBreaker,
    Decisions,
    DriftProfile,
    Metrics,
    Rule,
    SQLiteQueue,
    WithFallback,
    confidence_below,
    guard,
    on_abstain,
)
from guardrails.observability.observe import Logged

THREADS, CALLS, BATCH = 16, 25, 4
TASKS = 500


def _wide_petals(rows: NDArray[Any]) -> list[Any]:
    """A rule that answers class 2 for wide petals and declines the rest."""
    return [2 if r[3] > 1.7 else None for r in rows]


class _CountingLogger:
    """A structlog-style logger that counts events (thread-safe), standing in for a sink."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, int] = {}

    def _count(self, event: str, **kw: Any) -> None:
        with self.lock:
            self.events[event] = self.events.get(event, 0) + 1

    debug = info = warning = error = critical = _count


def _build(iris: dict[str, Any], path: Path) -> tuple[Any, SQLiteQueue]:
    queue = SQLiteQueue(path, synchronous="normal")
    g = (
        guard(iris["model"], name="shared")
        .abstain(confidence_below(0.9))
        .monitor(DriftProfile.from_data(iris["X_train"]), window=64)
        .fallback(
            Rule(_wide_petals, name="petals", when=on_abstain()),
            primary_breaker=CircuitBreaker(failure_threshold=1000),
        )
        .review(queue)
        .log(_CountingLogger(), metrics=Metrics(window=100))
        .fit(iris["X_cal"], iris["y_cal"])
    )
    return g, queue


def _batches(iris: dict[str, Any], count: int, seed: int) -> list[NDArray[Any]]:
    rng = np.random.default_rng(seed)
    X = np.r_[iris["X_test"], iris["X_cal"]]
    return [X[rng.integers(0, len(X), BATCH)] for _ in range(count)]


def _stored(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM review_cases")}
    finally:
        conn.close()


def _expected(iris: dict[str, Any], tmp_path: Path, batches: list[NDArray[Any]]) -> Any:
    g, queue = _build(iris, tmp_path / "serial.db")
    results = [g.decide(X) for X in batches]
    queue.close()
    return _summary(results)


def _summary(results: list[Decisions]) -> dict[str, Any]:
    d = Decisions.concat(results)
    return {
        "rows": len(d),
        "stages": d.stage_counts(),
        "reasons": d.reason_counts(),
        "withheld": int(d.abstained.sum()),
    }


def _check(results: list[Decisions], g: Any, path: Path, calls: int, want: Any) -> None:
    got = _summary(results)
    assert got == want
    ids = [i for d in results if d.review_id is not None for i in d.review_id if i is not None]
    assert len(ids) == len(set(ids)) == want["withheld"]  # one case per withheld row
    assert _stored(path) == set(ids)  # and every one of them is in the file
    stats = g.layer(WithFallback).primary_breaker.stats()
    assert stats["calls"] == calls  # one primary attempt per call, none lost or doubled
    assert stats["successes"] + stats["failures"] + stats["stale"] + stats["released"] == calls
    assert stats["state"] == "closed"
    logged = g.layer(Logged)
    snap = logged.metrics.snapshot().guard("shared")
    assert snap.calls == calls
    assert snap.count() == want["rows"]
    assert snap.count(outcome="abstained") == want["withheld"]
    assert logged.logger.events.get("guardrails.batch", 0) == calls


@pytest.mark.timeout(120)
def test_sixteen_threads_share_a_full_stack(iris: dict[str, Any], tmp_path: Path) -> None:
    batches = _batches(iris, THREADS * CALLS, seed=0)
    want = _expected(iris, tmp_path, batches)
    assert 0 < want["withheld"] < want["rows"]  # the stack withholds some rows, not all
    assert want["stages"].get("petals", 0) > 0
    path = tmp_path / "threads.db"
    g, queue = _build(iris, path)
    results: list[Decisions | None] = [None] * len(batches)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(k: int) -> None:
        try:
            start.wait()
            for j in range(k, len(batches), THREADS):
                results[j] = g.decide(batches[j])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not any(t.is_alive() for t in threads), "a thread is stuck: deadlock"
    assert errors == []
    done = [d for d in results if d is not None]
    assert len(done) == len(batches)
    queue.close()
    _check(done, g, path, len(batches), want)


@pytest.mark.timeout(120)
def test_five_hundred_tasks_share_a_full_stack(iris: dict[str, Any], tmp_path: Path) -> None:
    batches = _batches(iris, TASKS, seed=1)
    want = _expected(iris, tmp_path, batches)
    path = tmp_path / "tasks.db"
    g, queue = _build(iris, path)

    async def main() -> list[Decisions]:
        return list(await asyncio.wait_for(asyncio.gather(*(g.adecide(X) for X in batches)), 60))

    results = asyncio.run(main())
    queue.close()
    _check(results, g, path, len(batches), want)


@pytest.mark.timeout(120)
def test_threads_and_tasks_at_once(iris: dict[str, Any], tmp_path: Path) -> None:
    """Sync callers and an event loop in another thread on the same guard."""
    batches = _batches(iris, 200, seed=2)
    want = _expected(iris, tmp_path, batches)
    path = tmp_path / "mixed.db"
    g, queue = _build(iris, path)
    results: list[Decisions | None] = [None] * len(batches)
    errors: list[BaseException] = []

    def sync_part(k: int) -> None:
        try:
            for j in range(k, 100, 4):
                results[j] = g.decide(batches[j])
        except BaseException as exc:
            errors.append(exc)

    def async_part() -> None:
        async def main() -> None:
            out = await asyncio.gather(*(g.adecide(batches[j]) for j in range(100, 200)))
            results[100:200] = out

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync_part, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=async_part))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    queue.close()
    _check([d for d in results if d is not None], g, path, len(batches), want)
