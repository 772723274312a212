"""Fault injection: broken models, broken queues and broken loggers get the documented outcome.

Each fault ends in one of three ways the docs promise: a fallback answer, a non-answer with
a reason and a detail, or a clear :class:`GuardrailsError`. Cases a queue committed before a
fault are all still there afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import subprocess
import time
import tracemalloc
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrails import (
    CircuitBreaker,
    Default,
    DriftProfile,
    GuardrailsWarning,
    Reason,
    ReviewError,
    SQLiteQueue,
    confidence_below,
    guard,
)

CLASSES = [0, 1, 2]


def _raises(X: Any) -> NDArray[Any]:
    raise RuntimeError("model server said no")


def _nan(X: Any) -> NDArray[Any]:
    return np.full((len(X), 3), np.nan)


def _wrong_shape(X: Any) -> NDArray[Any]:
    return np.full((len(X) + 1, 3), 1 / 3)


def _not_summing(X: Any) -> NDArray[Any]:
    return np.full((len(X), 3), 0.9)


def _wrong_width(X: Any) -> NDArray[Any]:
    return np.full((len(X), 2), 0.5)


BROKEN = {
    "raises": (_raises, "RuntimeError: model server said no"),
    "nan": (_nan, "non-finite"),
    "wrong_shape": (_wrong_shape, "shape (6, 3)"),
    "wrong_width": (_wrong_width, "shape (5, 2)"),
    "not_summing": (_not_summing, "do not sum to 1"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_a_broken_model_gives_model_error_rows_with_the_cause(fault: str) -> None:
    model, says = BROKEN[fault]
    d = guard(model, output="proba", classes=CLASSES).decide(np.zeros((5, 4)))
    assert d.abstained.all()
    assert (d.reason == Reason.MODEL_ERROR).all()
    assert d.detail is not None and says in d.detail[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_a_broken_model_falls_back_and_says_why(fault: str) -> None:
    model, _ = BROKEN[fault]
    g = guard(model, output="proba", classes=CLASSES).fallback(Default(-1))
    d = g.decide(np.zeros((5, 4)))
    assert not d.abstained.any()
    assert (d.prediction == -1).all() and (d.stage == "default").all()
    assert d.detail is not None and "after primary: model_error" in d.detail[0]


@pytest.mark.timeout(60)
def test_an_exhausted_chain_raises_only_when_asked_to() -> None:
    from guardrails import FallbackExhaustedError

    g = guard(_raises, output="proba", classes=CLASSES).fallback(_declines, on_exhausted="raise")
    with pytest.raises(FallbackExhaustedError) as info:
        g.decide(np.zeros((3, 4)))
    assert list(info.value.rows) == [0, 1, 2]
    assert str(info.value) == (
        "3 row(s) got no answer from the primary or any fallback stage (last reasons: model_error)."
    )


def _declines(rows: Any) -> list[Any]:
    return [None] * len(rows)


@pytest.mark.timeout(60)
def test_a_hanging_model_times_out_into_the_fallback() -> None:
    def hangs(X: Any) -> NDArray[Any]:
        time.sleep(2.0)
        return np.zeros(len(X))

    g = guard(hangs, output="values").fallback(Default(7.0), primary_timeout=0.05)
    t0 = time.monotonic()
    d = g.decide(np.zeros((2, 3)))
    waited = time.monotonic() - t0
    assert (d.prediction == 7.0).all() and (d.stage == "default").all()
    assert d.detail is not None and "primary: timeout" in d.detail[0]
    assert waited < 1.5  # not a speed claim: it returned before the hang ended


@pytest.mark.timeout(60)
def test_a_hanging_model_without_fallback_is_withheld_as_timeout() -> None:
    def hangs(X: Any) -> NDArray[Any]:
        time.sleep(2.0)
        return np.zeros(len(X))

    g = guard(hangs, output="values").fallback(_declines, primary_timeout=0.05)
    d = g.decide(np.zeros((2, 3)))
    assert d.abstained.all()
    assert (d.reason == Reason.TIMEOUT).all()  # the primary's reason; the rule only declined
    assert d.tried is not None and d.tried[0] == ("primary", "rule")


@pytest.mark.timeout(60)
def test_a_slow_model_within_its_timeout_answers_itself() -> None:
    def slow(X: Any) -> NDArray[Any]:
        time.sleep(0.02)
        return np.ones(len(X))

    d = (
        guard(slow, output="values")
        .fallback(Default(0.0), primary_timeout=5.0)
        .decide(np.zeros((3, 2)))
    )
    assert (d.stage == "primary").all() and (d.prediction == 1.0).all()


@pytest.mark.timeout(60)
def test_a_repeatedly_failing_model_opens_the_breaker_and_fails_fast() -> None:
    calls = [0]

    def flaky(X: Any) -> NDArray[Any]:
        calls[0] += 1
        raise ConnectionError("down")

    breaker = CircuitBreaker(failure_threshold=3, cool_down=3600)
    g = guard(flaky, output="labels").fallback(Default(0), primary_breaker=breaker)
    for _ in range(10):
        d = g.decide(np.zeros((1, 2)))
        assert d[0].prediction == 0
    assert calls[0] == 3  # then the circuit is open: the model is not called again
    assert d.detail is not None and "circuit_open" in d.detail[0]


# -- memory: nothing of a call is kept after it returns ---------------------------------------


class _Row(np.ndarray):  # type: ignore[type-arg]
    """An ndarray subclass, so a weakref can watch one input."""


def _full_stack(model: Any, tmp_path: Path, X_ref: NDArray[Any], queue: Any = None) -> Any:
    g = guard(model, output="proba", classes=CLASSES).abstain(confidence_below(0.5))
    g = g.monitor(DriftProfile.from_data(X_ref), window=50)
    g = g.fallback(Default(0), primary_timeout=5.0)
    if queue is not None:
        g = g.review(queue)
    return g


@pytest.mark.timeout(120)
def test_the_guard_keeps_no_reference_to_inputs_or_outputs(tmp_path: Path) -> None:
    outputs: list[weakref.ref[Any]] = []

    def leaky_model(X: Any) -> NDArray[Any]:
        out = np.full((len(X), 3), 1 / 3)
        out[:, 0] += 0.2
        out[:, 1] -= 0.2
        outputs.append(weakref.ref(out))
        return out

    rng = np.random.default_rng(0)
    g = _full_stack(leaky_model, tmp_path, rng.normal(size=(500, 4)))
    inputs: list[weakref.ref[Any]] = []
    results: list[weakref.ref[Any]] = []
    for _ in range(20):
        X = rng.normal(size=(8, 4)).view(_Row)
        inputs.append(weakref.ref(X))
        results.append(weakref.ref(g.decide(X).prediction))
        del X
    gc.collect()
    alive = [r for r in inputs + results + outputs if r() is not None]
    assert len(outputs) == 20
    assert alive == [], f"{len(alive)} inputs or outputs outlived their call"


@pytest.mark.timeout(120)
def test_memory_stays_flat_over_many_calls_of_a_model_that_allocates(tmp_path: Path) -> None:
    def allocating(X: Any) -> NDArray[Any]:
        scratch = np.ones((len(X), 20_000))  # 160 kB per row, dropped by the model
        return np.tile(np.array([0.7, 0.2, 0.1]), (len(X), 1)) * scratch[:, :1]

    rng = np.random.default_rng(1)
    queue = SQLiteQueue(tmp_path / "q.db")
    g = _full_stack(allocating, tmp_path, rng.normal(size=(500, 4)), queue=queue)
    X = rng.normal(size=(4, 4))
    for _ in range(100):  # warm up: monitor window, caches, the queue connection
        g.decide(X)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            g.decide(X)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        queue.close()
    # 300 calls allocate 300 * 4 * 160 kB = 192 MB in the model; a leak of even one
    # scratch array per call would keep >= 48 MB. The monitor's window is bounded.
    assert grown < 4 * 2**20, f"memory grew by {grown} bytes over 300 calls"


# -- the review queue: locked, full, gone -----------------------------------------------------


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM review_cases").fetchone()[0])
    finally:
        conn.close()


def _reviewed(queue: Any) -> Any:
    g = guard(_unsure, output="proba", classes=CLASSES)
    return g.abstain(confidence_below(0.9)).review(queue)


def _unsure(X: Any) -> NDArray[Any]:
    return np.tile([0.5, 0.3, 0.2], (len(X), 1))


@pytest.mark.timeout(60)
def test_a_locked_queue_raises_a_review_error_and_keeps_what_was_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.db"
    queue = SQLiteQueue(path, timeout=0.2)
    g = _reviewed(queue)
    first = g.decide(np.zeros((5, 2)))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ReviewError, match=r"could not .*database is locked"):
            g.decide(np.zeros((3, 2)))
    finally:
        other.execute("ROLLBACK")
        other.close()
    again = g.decide(np.zeros((2, 2)))  # the lock is gone: the queue works again
    ids = set(first.review_id) | set(again.review_id)
    assert _count(path) == 7 == len(ids)
    assert all(queue.get(i).status == "pending" for i in ids)
    queue.close()


@contextlib.contextmanager
def _tiny_filesystem(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A 320 kB tmpfs when this process may mount one, else a page-capped database.

    Yields the queue path and which was used ("tmpfs" or "max_page_count").
    """
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode == 0:
        try:
            yield mount / "q.db", "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
    else:  # no mount rights: SQLite's own size cap gives the same SQLITE_FULL error
        yield mount / "q.db", "max_page_count"


@pytest.mark.timeout(120)
def test_a_full_disk_refuses_the_batch_and_loses_nothing_committed(tmp_path: Path) -> None:
    with _tiny_filesystem(tmp_path) as (path, how):
        queue = SQLiteQueue(path, timeout=1.0)
        if how == "max_page_count":
            conn = queue._conn()
            conn.execute("PRAGMA max_page_count=80")
        g = _reviewed(queue)
        committed: list[str] = []
        X = np.zeros((20, 2))
        error: ReviewError | None = None
        for _ in range(400):
            try:
                d = g.decide(X)
            except ReviewError as exc:
                error = exc
                break
            committed.extend(d.review_id.tolist())
        assert error is not None, f"the {how} filesystem never filled"
        assert "full" in str(error), str(error)
        assert committed  # some batches fit before the disk filled
        queue.close()
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {r[0] for r in conn.execute("SELECT id FROM review_cases")}
        finally:
            conn.close()
        assert stored == set(committed)  # the refused batch left no partial rows


@pytest.mark.timeout(60)
def test_a_deleted_queue_file_raises_instead_of_writing_into_the_void(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    queue = SQLiteQueue(path)
    g = _reviewed(queue)
    g.decide(np.zeros((3, 2)))
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    with pytest.raises(ReviewError, match="deleted or replaced"):
        g.decide(np.zeros((2, 2)))
    queue.close()
    assert not path.exists()  # and it did not create a new, empty queue behind our back


@pytest.mark.timeout(60)
def test_a_queue_file_that_is_not_a_database_is_a_review_error(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ReviewError, match="could not"):
        SQLiteQueue(path)


@pytest.mark.timeout(60)
def test_a_killed_postgres_connection_fails_one_call_and_loses_nothing() -> None:
    from tests.review_support import pg_url

    url = pg_url()
    from guardrails.review.postgres import PostgresQueue

    queue = PostgresQueue(url, table=f"t_{uuid.uuid4().hex[:12]}")
    try:
        g = _reviewed(queue)
        committed = list(g.decide(np.zeros((4, 2))).review_id)
        import psycopg

        pid = queue._conn().info.backend_pid
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(ReviewError, match="could not"):
            g.decide(np.zeros((2, 2)))
        committed += list(g.decide(np.zeros((3, 2))).review_id)  # reconnects
        assert {c.id for c in queue.list(limit=100)} == set(committed)
    finally:
        queue.drop()
        queue.close()


# -- loggers that raise -----------------------------------------------------------------------


class _RaisingLogger:
    """A structlog-style logger whose every call fails, like a sink on a full disk."""

    def _fail(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("log sink is gone")

    debug = info = warning = error = critical = exception = _fail


@pytest.mark.timeout(60)
def test_a_raising_monitor_logger_warns_and_the_decision_is_returned() -> None:
    rng = np.random.default_rng(2)
    profile = DriftProfile.from_data(rng.normal(size=(2000, 3)))
    model = guard(lambda X: np.zeros(len(X)), output="values")
    g = model.monitor(profile, window=50, mode="tumbling", logger=_RaisingLogger())
    batches = [rng.normal(loc=5.0, size=(50, 3)) for _ in range(4)]  # drifted: logged
    with pytest.warns(GuardrailsWarning, match="logger failed"):
        results = [g.decide(X) for X in batches]
    assert all(len(d) == 50 and not d.abstained.any() for d in results)


@pytest.mark.timeout(60)
def test_a_raising_breaker_logger_warns_and_the_breaker_still_opens() -> None:
    breaker = CircuitBreaker(failure_threshold=1, cool_down=3600, logger=_RaisingLogger())
    g = guard(_raises, output="proba", classes=CLASSES).fallback(
        Default(1), primary_breaker=breaker
    )
    with pytest.warns(GuardrailsWarning, match="not logged"):
        d = g.decide(np.zeros((2, 2)))
    assert (d.prediction == 1).all()
    d = g.decide(np.zeros((2, 2)))
    assert d.detail is not None and "circuit_open" in d.detail[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("entry", ["decide", "adecide"])
def test_a_raising_decision_logger_warns_and_the_decision_is_returned(
    tmp_path: Path, entry: str
) -> None:
    import asyncio

    from guardrails import Metrics

    metrics = Metrics()
    queue = SQLiteQueue(tmp_path / "q.db")
    g = _reviewed(queue).log(_RaisingLogger(), metrics=metrics)
    X = np.zeros((3, 2))
    with pytest.warns(GuardrailsWarning):
        d = g.decide(X) if entry == "decide" else asyncio.run(g.adecide(X))
    assert d.abstained.all() and d.review_id is not None and all(d.review_id)
    assert _count(tmp_path / "q.db") == 3  # the cases were committed all the same
    assert metrics.snapshot().guard("guard").count() == 3  # and counted
    queue.close()
