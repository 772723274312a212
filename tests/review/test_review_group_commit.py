"""The SQLite queue's group commit: concurrent enqueues share a commit and lose nothing.

Each enqueue returns only once a transaction holding its cases has committed; callers that
arrive while another thread commits are written together by the next one, in the order
they arrived; if that shared commit fails, each caller gets the outcome of its own cases.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from guardrails import Reason, SQLiteQueue
from guardrails.review.cases import NewCase, ReviewError
from guardrails.review.sql import SQLQueue


def _case(**context: Any) -> NewCase:
    return NewCase("withheld", Reason.LOW_CONFIDENCE, 0.5, {"classes": [0, 1], **context})


def _stored(path: Path) -> dict[str, str]:
    """Case id -> context, read through a fresh connection (what another process sees)."""
    conn = sqlite3.connect(path)
    try:
        return {str(i): str(c) for i, c in conn.execute("SELECT id, context FROM review_cases")}
    finally:
        conn.close()


def _wait_until(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Block until ``check()`` holds (a synchronisation point, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


@contextmanager
def _commits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Record the tags of the rows of every transaction the SQL layer writes."""
    seen: list[list[str]] = []
    write = SQLQueue._insert

    def recording(self: SQLQueue, rows: list[dict[str, Any]]) -> None:
        seen.append([str(r["context"]) for r in rows])
        write(self, rows)

    monkeypatch.setattr(SQLQueue, "_insert", recording)
    yield seen


@contextmanager
def _writes_held(queue: SQLiteQueue, callers: int) -> Iterator[list[threading.Thread]]:
    """Hold this process's write turn while one caller leads and ``callers`` queue behind.

    Yields the started threads' list (the caller appends to it); on exit, once every
    follower waits in the group, releases the turn and joins them all.
    """
    writers = queue._local_writers()
    writers.turn.acquire()
    threads: list[threading.Thread] = []
    try:
        yield threads
        _wait_until(lambda: writers.leading, "a caller leads")
        _wait_until(lambda: len(writers.waiting) == callers, f"{callers} callers wait")
    finally:
        writers.turn.release()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.timeout(120)
def test_many_threads_enqueue_at_once_and_every_case_is_stored_when_its_call_returns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "review.db"
    queue = SQLiteQueue(path)
    n_threads, calls = 12, 15
    returned: dict[tuple[int, int], list[str]] = {}
    problems: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def writer(t: int) -> None:
        start.wait()
        for i in range(calls):
            cases = [_case(tag=f"{t}-{i}-{j}") for j in range(1 + (t + i) % 3)]
            ids = queue.enqueue(cases)
            stored = _stored(path)  # another connection, after the call returned
            missing = [case_id for case_id in ids if case_id not in stored]
            wrong = [
                case_id
                for case_id, c in zip(ids, cases)
                if case_id in stored and f'"{c.context["tag"]}"' not in stored[case_id]
            ]
            with lock:
                returned[(t, i)] = ids
                if missing or wrong:
                    problems.append(f"call {t}-{i}: missing {missing}, wrong context {wrong}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not problems
    every = [case_id for ids in returned.values() for case_id in ids]
    assert len(returned) == n_threads * calls
    assert len(every) == len(set(every)) == sum(1 + (t + i) % 3 for t, i in returned)
    assert set(_stored(path)) == set(every)
    for (t, i), ids in returned.items():  # ids come back in the order of the cases
        assert [queue.get(c).context["tag"] for c in ids] == [
            f"{t}-{i}-{j}" for j in range(len(ids))
        ]
    queue.close()


@pytest.mark.timeout(120)
def test_callers_that_arrive_during_a_commit_share_the_next_one_in_arrival_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "review.db"
    queue = SQLiteQueue(path)
    returned: dict[str, list[str]] = {}

    def enqueue(tag: str) -> None:
        returned[tag] = queue.enqueue([_case(tag=f"{tag}a"), _case(tag=f"{tag}b")])

    with _commits(monkeypatch) as seen, _writes_held(queue, callers=5) as threads:
        threads.append(threading.Thread(target=enqueue, args=("lead",)))
        threads[0].start()
        _wait_until(lambda: queue._local_writers().leading, "the first caller leads")
        for k in range(5):  # one at a time, so the order they join the group is known
            threads.append(threading.Thread(target=enqueue, args=(f"f{k}",)))
            threads[-1].start()
            _wait_until(lambda k=k: len(queue._local_writers().waiting) == k + 1, "joined")
    tags = [[c.split('"tag": "')[1].split('"')[0] for c in commit] for commit in seen]
    # two transactions: the leader's own, then every follower's cases at once, in order
    assert tags == [["leada", "leadb"], [f"f{k}{s}" for k in range(5) for s in "ab"]]
    stored = _stored(path)
    assert set(stored) == {c for ids in returned.values() for c in ids}
    for tag, ids in returned.items():
        assert [queue.get(c).context["tag"] for c in ids] == [f"{tag}a", f"{tag}b"]
    queue.close()


@pytest.mark.timeout(120)
def test_a_failed_group_commit_raises_to_every_caller_in_the_group(tmp_path: Path) -> None:
    path = tmp_path / "review.db"
    queue = SQLiteQueue(path)
    queue.enqueue([_case(tag="before")])
    errors: dict[str, BaseException | None] = {}
    ready, go = threading.Semaphore(0), threading.Event()

    def enqueue(tag: str) -> None:
        queue.enqueue([_case(tag=f"{tag}-warm")])  # each thread has its connection open
        ready.release()
        go.wait()
        try:
            queue.enqueue([_case(tag=tag)])
            errors[tag] = None
        except BaseException as exc:  # the test reports what each caller got
            errors[tag] = exc

    threads = [threading.Thread(target=enqueue, args=(f"t{k}",)) for k in range(5)]
    for t in threads:
        t.start()
    for _ in threads:
        assert ready.acquire(timeout=60)
    with _writes_held(queue, callers=4) as held:
        held.extend(threads)
        go.set()
        _wait_until(lambda: len(queue._local_writers().waiting) == 4, "four callers wait")
        for suffix in ("", "-wal", "-shm"):  # the file goes away under the whole group
            with suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
    assert sorted(errors) == [f"t{k}" for k in range(5)]
    for tag, error in errors.items():
        assert isinstance(error, ReviewError), f"{tag} got {error!r}"
        assert "deleted or replaced" in str(error)
    queue.close()


@pytest.mark.timeout(120)
def test_one_callers_failing_cases_fail_that_caller_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "review.db"
    queue = SQLiteQueue(path)
    write = SQLQueue._insert

    def refusing(self: SQLQueue, rows: list[dict[str, Any]]) -> None:
        if any("poison" in str(r["context"]) for r in rows):
            raise ReviewError("the review queue refused a poisoned case")
        write(self, rows)

    monkeypatch.setattr(SQLQueue, "_insert", refusing)
    outcome: dict[str, list[str] | BaseException] = {}

    def enqueue(tag: str) -> None:
        try:
            outcome[tag] = queue.enqueue([_case(tag=tag), _case(tag=f"{tag}-2")])
        except BaseException as exc:  # the test reports what each caller got
            outcome[tag] = exc

    with _writes_held(queue, callers=4) as threads:
        for tag in ("lead", "f0", "poison", "f2", "f3"):
            threads.append(threading.Thread(target=enqueue, args=(tag,)))
            threads[-1].start()
            if tag == "lead":
                _wait_until(lambda: queue._local_writers().leading, "the first caller leads")
    assert isinstance(outcome["poison"], ReviewError)
    assert "poisoned" in str(outcome["poison"])
    good = [outcome[t] for t in ("lead", "f0", "f2", "f3")]
    assert all(isinstance(ids, list) and len(ids) == 2 for ids in good)
    assert set(_stored(path)) == {c for ids in good if isinstance(ids, list) for c in ids}
    assert not any("poison" in c for c in _stored(path).values())
    queue.close()


def test_writes_of_a_forked_child_do_not_wait_for_the_parents_group(tmp_path: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    path = tmp_path / "review.db"
    queue = SQLiteQueue(path)
    queue.enqueue([_case(tag="parent")])
    writers = queue._local_writers()
    with writers.changed:
        writers.leading = True  # as if a parent thread were committing when the child forks
        pid = os.fork()
        if pid == 0:  # the child: its own writer state, so its enqueue does not wait
            code = 1
            try:
                queue.enqueue([_case(tag="child")])
                code = 0
            finally:
                os._exit(code)
        writers.leading = False
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tags = sorted(c.split('"tag": "')[1].split('"')[0] for c in _stored(path).values())
    assert tags == ["child", "parent"]
    queue.close()
