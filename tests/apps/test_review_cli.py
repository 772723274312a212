"""A person can work the review queue from the command line, against a queue URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from guardrails import Reason, SQLiteQueue
from guardrails.__main__ import main
from tests.review_support import FakeClock, case

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(tmp_path: Path) -> str:
    q = SQLiteQueue(tmp_path / "review.db")
    q.enqueue(
        [
            case(classes=[0, 1, 2], priority=0.9, input=[5.1, 3.5], proba=[0.1, 0.5, 0.4]),
            case(classes=[0, 1, 2], priority=0.2, reason=Reason.DRIFT, deadline=0.001),
            case(classes=[0, 1, 2], priority=0.1, kind="audit", reason=Reason.NONE),
        ]
    )
    q.close()
    return f"sqlite:///{tmp_path / 'review.db'}"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["review", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_module_runs_as_a_command(url: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "guardrails", "review", "stats", "--queue", url],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pending=3" in done.stdout and "overdue: 1" in done.stdout


def test_a_reviewer_lists_claims_shows_and_resolves(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "list", "--queue", url)
    assert code == 0 and len(out.strip().splitlines()) == 4  # header + 3 cases
    assert "OVERDUE" in out
    code, out, _ = _run(capsys, "list", "--queue", url, "--kind", "audit", "--json")
    assert [c["kind"] for c in json.loads(out)] == ["audit"]
    code, out, _ = _run(capsys, "claim", "--queue", url, "--reviewer", "ana", "--json")
    [claimed] = json.loads(out)
    assert claimed["priority"] == 0.9 and claimed["claimed_by"] == "ana"
    code, out, _ = _run(capsys, "show", claimed["id"], "--queue", url)
    assert "input     [5.1, 3.5]" in out and "1: 0.500" in out
    code, out, _ = _run(
        capsys,
        "resolve",
        claimed["id"],
        "--queue",
        url,
        "--label",
        "1",
        "--reviewer",
        "ana",
        "--note",
        "checked the photo",
    )
    assert code == 0 and "resolved  by ana" in out and "label 1" in out
    code, out, _ = _run(capsys, "show", claimed["id"], "--queue", url, "--json")
    assert json.loads(out)["label"] == 1
    code, out, _ = _run(capsys, "reopen", claimed["id"], "--queue", url)
    assert code == 0 and "status    pending" in out


def test_refused_operations_exit_2_with_the_reason(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(capsys, "claim", "--queue", url, "--reviewer", "ana", "-n", "2", "--json")
    first, second = (c["id"] for c in json.loads(out))
    code, _, err = _run(
        capsys, "resolve", first, "--queue", url, "--label", "7", "--reviewer", "ana"
    )
    assert code == 2 and "not one of the classes" in err
    code, _, err = _run(
        capsys, "resolve", "nope", "--queue", url, "--label", "1", "--reviewer", "a"
    )
    assert code == 2 and "no review case" in err
    _run(capsys, "resolve", first, "--queue", url, "--label", "2", "--reviewer", "ana")
    code, _, err = _run(
        capsys, "resolve", first, "--queue", url, "--label", "0", "--reviewer", "ana"
    )
    assert code == 2 and "already resolved" in err
    code, _, err = _run(capsys, "skip", second, "--queue", url, "--reviewer", "bo")
    assert code == 2 and "claimed by ana" in err
    code, _, err = _run(capsys, "stats", "--queue", "mysql://x")
    assert code == 2 and "cannot open" in err
    q = SQLiteQueue(Path(url[len("sqlite:///") :]))
    assert q.get(first).label == 2 and q.get(second).status == "claimed"  # nothing else changed
    q.close()


def test_list_and_claim_filter_by_reason_and_kind(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    q = SQLiteQueue(Path(url[len("sqlite:///") :]))
    [garbage] = q.enqueue([case(kind="data_quality", reason=Reason.INVALID_INPUT, priority=1.0)])
    q.close()
    code, out, _ = _run(capsys, "list", "--queue", url, "--reason", "drift", "--json")
    assert code == 0 and [c["reason"] for c in json.loads(out)] == ["drift"]
    code, out, _ = _run(capsys, "list", "--queue", url)
    assert out.strip().splitlines()[-1].split()[:3] == [garbage, "pending", "data_quality"]
    code, out, _ = _run(
        capsys, "claim", "--queue", url, "--reviewer", "ana", "--kind", "data_quality", "--json"
    )
    assert [c["id"] for c in json.loads(out)] == [garbage]
    code, out, _ = _run(
        capsys, "claim", "--queue", url, "--reviewer", "ana", "--reason", "none", "--json"
    )
    assert [c["kind"] for c in json.loads(out)] == ["audit"]
    with pytest.raises(SystemExit):
        main(["review", "list", "--queue", url, "--reason", "bogus"])


def test_release_gives_a_reviewers_claims_back(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run(capsys, "claim", "--queue", url, "--reviewer", "ana", "-n", "3", "--json")
    first, *rest = (c["id"] for c in json.loads(out))
    code, out, _ = _run(capsys, "release", first, "--queue", url, "--reviewer", "ana", "--json")
    assert code == 0 and [(c["id"], c["status"]) for c in json.loads(out)] == [(first, "pending")]
    code, _, err = _run(capsys, "release", rest[0], "--queue", url, "--reviewer", "bo")
    assert code == 2 and "claimed by ana" in err
    code, out, _ = _run(capsys, "release", "--queue", url, "--reviewer", "ana", "--json")
    assert sorted(c["id"] for c in json.loads(out)) == sorted(rest)
    code, out, _ = _run(capsys, "list", "--queue", url, "--status", "claimed")
    assert out.strip() == "no cases"


def test_stats_can_fail_on_overdue_cases_for_alerting(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARDRAILS_REVIEW_QUEUE", url)
    code, out, _ = _run(capsys, "stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["overdue"] == 1 and stats["counts"]["pending"] == 3
    code, _, _ = _run(capsys, "stats", "--fail-on-overdue")
    assert code == 3
    code, out, _ = _run(capsys, "list", "--overdue")
    assert code == 0 and len(out.strip().splitlines()) == 2


def test_skipping_needs_a_reason_to_come_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock()
    q = SQLiteQueue(tmp_path / "q.db", clock=clock)
    [cid] = q.enqueue([case(input=np.arange(3).tolist())])
    q.close()
    url = f"sqlite:///{tmp_path / 'q.db'}"
    _run(capsys, "claim", "--queue", url, "--reviewer", "ana")
    code, out, _ = _run(capsys, "skip", cid, "--queue", url, "--reviewer", "ana", "--note", "?")
    assert code == 0 and "skipped   by ana" in out
    code, out, _ = _run(capsys, "list", "--queue", url, "--status", "skipped")
    assert cid in out


def test_without_a_queue_url_it_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GUARDRAILS_REVIEW_QUEUE", raising=False)
    code, _, err = _run(capsys, "stats")
    assert code == 2 and "--queue" in err
