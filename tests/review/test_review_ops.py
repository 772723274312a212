"""The queue as an operation: lanes, ages, expiry with a reason, throughput, alerts."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from guardrails import Alerts, review_age_above, review_backlog_above
from guardrails.__main__ import main as cli_main
from guardrails.observability.alerts import Health
from guardrails.review.queue import BaseQueue
from guardrails.review.sqlite import SQLiteQueue
from tests.review_support import BACKENDS, FakeClock, case, make_queue

__all__ = ["make_queue"]

MakeQueue = Callable[..., BaseQueue]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_count_each_lane_its_oldest_case_and_each_reviewers_throughput(
    make_queue: MakeQueue, backend: str
) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    q.enqueue([case(kind="data_quality")])
    clock.advance(600)
    q.enqueue([case(), case(), case(kind="audit")])
    clock.advance(600)
    for c in q.claim("ana", n=2, kind="withheld"):
        q.resolve(c.id, "dog", reviewer="ana")
    [c] = q.claim("bo", kind="audit")
    q.skip(c.id, reviewer="bo")
    s = q.stats()
    assert dict(s.pending_by_kind) == {"withheld": 0, "audit": 0, "data_quality": 1}
    assert s.oldest_by_kind["data_quality"] == pytest.approx(1200.0)
    assert dict(s.throughput) == {"ana": 2.0, "bo": 1.0}  # per hour over the last hour
    m = s.as_metrics()
    assert m["guardrails_review_pending_data_quality"] == 1.0
    assert m["guardrails_review_throughput_per_hour"] == 3.0
    clock.advance(3601)
    assert dict(q.stats().throughput) == {}  # the work is older than the window now
    assert dict(q.stats(throughput_window=7200).throughput) == {"ana": 1.0, "bo": 0.5}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stale_cases_expire_with_a_reason_and_live_claims_stay(
    make_queue: MakeQueue, backend: str
) -> None:
    clock = FakeClock()
    q = make_queue(backend, clock=clock)
    old = q.enqueue([case(priority=0.9), case(priority=0.5), case(priority=0.1)])
    clock.advance(7200)
    [fresh] = q.enqueue([case()])
    [held] = q.claim("ana", lease=86400)  # the highest priority old case, claimed live
    expired = q.expire(older_than=3600)
    assert {c.id for c in expired} == set(old) - {held.id}
    assert all(c.status == "expired" for c in expired)
    assert all(c.note == "expired: pending for more than 3600 s" for c in expired)
    s = q.stats()
    assert (s.counts["expired"], s.counts["pending"], s.counts["claimed"]) == (2, 1, 1)
    assert {c.id for c in q.list(status="expired")} == {c.id for c in expired}
    assert q.get(fresh).status == "pending"
    assert list(q.labelled()) == []  # expired cases are no labels
    back = q.reopen(expired[0].id)
    assert back.status == "pending"
    assert q.expire(older_than=60, note="the campaign ended")[0].note == "the campaign ended"


def test_an_old_sqlite_file_still_opens_and_gains_the_new_statuses(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    q = SQLiteQueue(path)
    [cid] = q.enqueue([case()])
    q.close()
    # the file has the schema of the first release: nothing to migrate
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(review_cases)")]
    assert "context" in cols and len(cols) == 15
    again = SQLiteQueue(path)
    assert again.get(cid).status == "pending"
    assert again.stats().counts["expired"] == 0
    again.close()


def test_backlog_and_age_rules_fire_on_a_queues_health() -> None:
    clock = FakeClock()
    from guardrails.review.memory import MemoryQueue

    q = MemoryQueue(clock=clock)
    q.enqueue([case() for _ in range(5)])
    clock.advance(7200)
    fired: list[object] = []
    alerts = Alerts([review_backlog_above(3), review_age_above(3600)], sinks=[fired.append])
    got = alerts.evaluate(Health.of_queue(q.stats(), guard="fraud"))
    assert [a.rule for a in got] == ["review_backlog", "review_age"]
    assert "5 review cases pending" in got[0].message
    assert alerts.rules == (review_backlog_above(3), review_age_above(3600))
    assert repr(review_age_above(3600)) == "review_age_above(3600.0)"
    assert alerts.evaluate(Health.of_queue(q.stats())) != []  # another guard name
    with pytest.raises(Exception, match="'cases' parameter"):
        review_backlog_above(-1)


def test_the_command_line_expires_and_shows_lanes_throughput_and_alarms(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    q = SQLiteQueue(tmp_path / "q.db")
    q.enqueue([case(), case(kind="data_quality")])
    [c] = q.claim("ana")
    q.resolve(c.id, "cat", reviewer="ana")
    q.close()

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        import contextlib

        with contextlib.redirect_stdout(out):
            code = cli_main(["review", *argv, "--queue", url])
        return code, out.getvalue()

    code, text = run("stats", "--max-backlog", "0")
    assert code == 3
    assert "lanes:   withheld=0" in text and "data_quality=1" in text
    assert "ana=1.0/h" in text and "ALERT: backlog 1 > 0" in text
    code, text = run("stats", "--json")
    assert code == 0 and json.loads(text)["pending_by_kind"]["data_quality"] == 1
    code, text = run("expire", "--older-than", "0.000001", "--note", "stale", "--json")
    assert code == 0 and json.loads(text)[0]["status"] == "expired"
    code, text = run("stats", "--max-backlog", "0", "--max-age", "60")
    assert code == 0 and "expired=1" in text
