"""Reviewer operations behave the same on every backend: memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guardrails import ConfigurationError, MemoryQueue, Reason, SQLiteQueue, open_queue
from guardrails.review.cases import (
    CaseNotFoundError,
    CaseStateError,
    InvalidLabelError,
    LeaseExpiredError,
)
from guardrails.review.queue import BaseQueue, ReviewQueue
from tests.review_support import BACKENDS, FakeClock, case, make_queue

__all__ = ["make_queue"]

MakeQueue = Callable[..., BaseQueue]


def _snapshot(q: BaseQueue) -> list[dict[str, Any]]:
    return sorted((c.to_dict() for c in q.list(limit=10_000)), key=lambda c: c["id"]) + sorted(
        (c.to_dict() for s in ("resolved", "skipped") for c in q.list(status=s, limit=10_000)),
        key=lambda c: c["id"],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_satisfies_the_protocol(make_queue: MakeQueue, backend: str) -> None:
    assert isinstance(make_queue(backend), ReviewQueue)


@pytest.mark.parametrize("backend", BACKENDS)
def test_enqueued_cases_come_back_with_their_context(make_queue: MakeQueue, backend: str) -> None:
    q = make_queue(backend)
    ids = q.enqueue([case(input=[1.0, float("nan")], note="é"), case(reason=Reason.DRIFT)])
    assert len(set(ids)) == 2
    first = q.get(ids[0])
    assert first.status == "pending"
    assert first.reason is Reason.LOW_CONFIDENCE
    assert first.context["input"] == [1.0, "nan"]  # JSON-safe, numpy parses it back
    assert first.context["note"] == "é"
    assert q.get(ids[1]).reason is Reason.DRIFT
    assert q.enqueue([]) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_claims_go_by_priority_then_age_and_never_twice(
    make_queue: MakeQueue, backend: str
) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    low = q.enqueue([case(priority=0.1)])[0]
    clock.advance(1)
    high, high_later = q.enqueue([case(priority=0.9), case(priority=0.9)])
    clock.advance(1)
    got = q.claim("ana", n=2)
    assert [c.id for c in got] in ([high, high_later], [high_later, high])
    assert all(c.status == "claimed" and c.claimed_by == "ana" for c in got)
    assert [c.id for c in q.claim("bo", n=5)] == [low]
    assert q.claim("cy") == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lease_expires_and_the_case_is_pending_again(make_queue: MakeQueue, backend: str) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    [cid] = q.enqueue([case()])
    q.claim("ana", lease=60)
    assert q.get(cid).status == "claimed"
    assert q.claim("bo") == []
    clock.advance(61)
    assert q.get(cid).status == "pending"
    assert q.stats().counts["pending"] == 1
    with pytest.raises(LeaseExpiredError, match="expired"):
        q.resolve(cid, "dog", reviewer="ana")
    assert q.get(cid).status == "pending"  # nothing changed
    [again] = q.claim("bo")
    assert again.id == cid
    assert q.resolve(cid, "dog", reviewer="bo").label == "dog"


@pytest.mark.parametrize("backend", BACKENDS)
def test_resolve_skip_and_reopen(make_queue: MakeQueue, backend: str) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    a, b = q.enqueue([case(priority=1.0), case(priority=0.0)])
    q.claim("ana", n=2)
    done = q.resolve(a, "cat", reviewer="ana", note="whiskers")
    assert (done.status, done.label, done.note) == ("resolved", "cat", "whiskers")
    assert done.reviewer == "ana"
    assert done.resolved_at == clock.now
    skipped = q.skip(b, reviewer="ana", note="blurry")
    assert (skipped.status, skipped.skips) == ("skipped", 1)
    assert q.claim("bo") == []  # skipped cases wait for a reopen
    assert q.reopen(b).status == "pending"
    reopened = q.reopen(a, note="second opinion")
    assert (reopened.status, reopened.label, reopened.note) == ("pending", None, "second opinion")
    assert {c.id for c in q.claim("bo", n=5)} == {a, b}
    assert [c.id for c in q.labelled()] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_are_matched_to_the_case_classes(make_queue: MakeQueue, backend: str) -> None:
    q = make_queue(backend)
    ints, reg = q.enqueue([case(classes=[0, 1, 2]), case(classes=[])])
    q.claim("ana", n=2)
    assert q.resolve(ints, "2", reviewer="ana").label == 2  # text from a CLI names class 2
    with pytest.raises(InvalidLabelError, match="finite number"):
        q.resolve(reg, "tall", reviewer="ana")
    assert q.resolve(reg, 3.5, reviewer="ana").label == 3.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_operations_fail_clearly_and_change_nothing(
    make_queue: MakeQueue, backend: str
) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    a, b, c = q.enqueue([case(priority=0.9), case(priority=0.5), case(priority=0.1)])
    q.claim("ana", n=2, lease=30)
    q.resolve(a, "dog", reviewer="ana")
    before = _snapshot(q)
    refused: list[tuple[type[Exception], str, Callable[[], Any]]] = [
        (CaseNotFoundError, "no review case", lambda: q.resolve("nope", "dog", reviewer="ana")),
        (CaseStateError, "already resolved", lambda: q.resolve(a, "cat", reviewer="ana")),
        (InvalidLabelError, "not one of the classes", lambda: q.resolve(b, "cow", reviewer="ana")),
        (CaseStateError, "claimed by ana", lambda: q.resolve(b, "dog", reviewer="bo")),
        (CaseStateError, "claim it before", lambda: q.resolve(c, "dog", reviewer="ana")),
        (CaseStateError, "only resolved or skipped", lambda: q.reopen(b)),
        (CaseNotFoundError, "no review case", lambda: q.get("nope")),
        (CaseStateError, "already resolved", lambda: q.skip(a, reviewer="ana")),
    ]
    for error, message, operation in refused:
        with pytest.raises(error, match=message):
            operation()
    assert _snapshot(q) == before
    clock.advance(31)
    with pytest.raises(LeaseExpiredError, match="claim it again"):
        q.resolve(b, "dog", reviewer="ana")
    with pytest.raises(LeaseExpiredError):
        q.skip(b, reviewer="ana")
    after = _snapshot(q)
    assert [x for x in after if x["id"] != b] == [x for x in before if x["id"] != b]
    assert q.get(b).status == "pending" and q.get(b).label is None
    # KeyError / ValueError still catch them, as the builtins they resemble
    with pytest.raises(KeyError):
        q.get("nope")
    with pytest.raises(ValueError, match="already resolved"):
        q.resolve(a, "cat", reviewer="ana")


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_count_by_status_and_age_and_flag_overdue_cases(
    make_queue: MakeQueue, backend: str
) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    old = q.enqueue([case(deadline=3600.0, priority=1.0)])[0]
    clock.advance(2 * 86400)
    fresh = q.enqueue([case(deadline=3600.0, priority=0.9), case(), case()])
    q.claim("ana", n=1)
    q.resolve(old, "cat", reviewer="ana")
    assert [c.id for c in q.claim("ana", n=1, lease=86400)] == [fresh[0]]
    clock.advance(7200)  # fresh[0] is now overdue
    s = q.stats()
    assert dict(s.counts) == {"pending": 2, "claimed": 1, "resolved": 1, "skipped": 0, "expired": 0}
    assert dict(s.pending_by_age) == {"<1h": 0, "1h-1d": 2, "1d-7d": 0, ">7d": 0}
    assert s.overdue == 1
    assert s.oldest_pending_age == pytest.approx(7200.0)
    assert s.total == 4
    assert s.as_metrics()["guardrails_review_overdue"] == 1.0
    assert [c.id for c in q.list(status="claimed", overdue=True)] == [fresh[0]]
    assert q.get(fresh[0]).overdue(clock.now)
    assert not q.get(old).overdue(clock.now)  # resolved cases are never overdue
    assert len(q.list(overdue=False, limit=50)) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_list_filters_by_status_kind_and_reason(make_queue: MakeQueue, backend: str) -> None:
    q = make_queue(backend)
    q.enqueue([case(kind="audit", reason=Reason.NONE), case(reason=Reason.DRIFT), case()])
    assert len(q.list()) == 3
    assert [c.kind for c in q.list(kind="audit")] == ["audit"]
    assert [c.reason for c in q.list(reason=Reason.DRIFT)] == [Reason.DRIFT]
    assert len(q.list(limit=2)) == 2
    assert q.list(status="resolved") == []
    with pytest.raises(ConfigurationError, match="'status' parameter"):
        q.list(status="done")  # type: ignore[arg-type]


def test_settings_are_checked_with_clear_messages(tmp_path: Path) -> None:
    q = MemoryQueue()
    with pytest.raises(ConfigurationError, match="'reviewer' parameter"):
        q.claim("")
    with pytest.raises(ConfigurationError, match="'lease' parameter"):
        q.claim("ana", lease=-1)
    with pytest.raises(ConfigurationError, match="'n' parameter"):
        q.claim("ana", n=0)
    with pytest.raises(ConfigurationError, match="'path' parameter"):
        SQLiteQueue(tmp_path / "missing" / "q.db")
    with pytest.raises(ConfigurationError, match="'table' parameter"):
        SQLiteQueue(tmp_path / "q.db", table="x; DROP TABLE y")
    with pytest.raises(ConfigurationError, match="cannot open"):
        open_queue("mysql://nope")


def test_open_queue_reads_the_url(tmp_path: Path) -> None:
    q = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    assert isinstance(q, SQLiteQueue)
    [cid] = q.enqueue([case()])
    q.close()
    again = open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    assert again.get(cid).status == "pending"  # the file is the queue
    again.close()
    assert isinstance(open_queue("memory://"), MemoryQueue)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    q = SQLiteQueue(tmp_path / "q.db")
    assert q._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert q._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    q.close()


def test_an_unreachable_postgres_server_is_a_clear_error_without_the_password() -> None:
    from guardrails.review.cases import ReviewError
    from guardrails.review.postgres import PostgresQueue

    with pytest.raises(ReviewError, match="cannot connect") as info:
        PostgresQueue("postgresql://ana:s3cret@127.0.0.1:1/review", connect_timeout=1)
    assert "s3cret" not in str(info.value) and "ana:***@" in str(info.value)
    with pytest.raises(ConfigurationError, match="'url' parameter"):
        PostgresQueue("sqlite:///x.db")


def test_sqlite_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'synchronous' parameter"):
        SQLiteQueue(tmp_path / "q.db", synchronous="off")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'timeout' parameter"):
        SQLiteQueue(tmp_path / "q.db", timeout=0)
    fast = SQLiteQueue(tmp_path / "q.db", synchronous="normal")
    assert fast._conn().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    fast.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_data_quality_cases_are_listed_and_claimed_after_every_model_case(
    make_queue: MakeQueue, backend: str
) -> None:
    q = make_queue(backend)
    garbage = [case(kind="data_quality", reason=Reason.INVALID_INPUT, priority=1.0)] * 3
    [low] = q.enqueue([case(priority=0.01)])
    q.enqueue(garbage)
    [audit] = q.enqueue([case(kind="audit", reason=Reason.NONE, priority=0.0)])
    listed = q.list()
    assert [c.kind for c in listed] == ["withheld", "audit", *["data_quality"] * 3]
    first = q.claim("ana", n=2)
    assert [c.id for c in first] == [low, audit]  # priority 1.0 garbage waits its turn
    assert {c.kind for c in q.claim("ana", n=5)} == {"data_quality"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_claims_filter_by_kind_and_reason(make_queue: MakeQueue, backend: str) -> None:
    q = make_queue(backend)
    q.enqueue(
        [
            case(reason=Reason.DRIFT, priority=0.9),
            case(reason=Reason.LOW_CONFIDENCE, priority=0.5),
            case(kind="data_quality", reason=Reason.INVALID_INPUT, priority=1.0),
        ]
    )
    assert [c.reason for c in q.claim("ana", reason=Reason.LOW_CONFIDENCE)] == [
        Reason.LOW_CONFIDENCE
    ]
    assert [c.kind for c in q.claim("bo", kind="data_quality")] == ["data_quality"]
    assert [c.reason for c in q.list(kind="data_quality", status="claimed")] == [
        Reason.INVALID_INPUT
    ]
    assert q.claim("cy", reason="invalid_input") == []  # a reason by name; none left
    with pytest.raises(ConfigurationError, match=r"'reason' parameter of .*claim"):
        q.claim("cy", reason="garbage")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"'kind' parameter of .*claim"):
        q.claim("cy", kind="spam")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_release_gives_a_reviewers_claimed_cases_back_at_once(
    make_queue: MakeQueue, backend: str
) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    ids = q.enqueue([case(priority=p) for p in (0.9, 0.8, 0.7, 0.6)])
    mine = [c.id for c in q.claim("ana", n=2)]
    [theirs] = [c.id for c in q.claim("bo")]
    assert [c.id for c in q.release("ana", case_ids=[mine[1]])] == [mine[1]]
    assert q.get(mine[1]).status == "pending" and q.get(mine[1]).claimed_by is None
    with pytest.raises(CaseStateError, match="claimed by bo"):
        q.release("ana", case_ids=[mine[0], theirs])
    assert q.get(mine[0]).status == "claimed"  # a refused release changes nothing
    released = q.release("ana")  # everything ana holds
    assert [c.id for c in released] == [mine[0]]
    assert q.get(theirs).claimed_by == "bo"
    assert {c.id for c in q.list(status="pending")} == set(ids) - {theirs}
    assert q.release("ana") == []
    [again] = q.claim("ana")
    clock.advance(601)  # the lease ran out: the case is free already, nothing to release
    assert q.release("ana", case_ids=[again.id]) == []
    assert q.release("ana") == []
    with pytest.raises(CaseNotFoundError):
        q.release("ana", case_ids=["nope"])
