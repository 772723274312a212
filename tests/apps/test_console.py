"""The review console over HTTP: sign-in, CSRF, leases, escaping, redaction, next case."""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrails import Reason, confidence_below, guard
from guardrails.__main__ import main
from guardrails.apps.console import TokenFile, claim_case, create_app
from guardrails.apps.console.serve import bind_notice
from guardrails.core.redaction import REDACTED, Redactor
from guardrails.review.cases import CaseStateError
from guardrails.review.queue import BaseQueue
from tests.review_support import DURABLE, FakeClock, case, make_queue

pytest.importorskip("fastapi", reason="the console needs the 'serve' extra")
pytest.importorskip("jinja2", reason="the console needs the 'serve' extra")
from fastapi.testclient import TestClient

__all__ = ["make_queue"]

MakeQueue = Callable[..., BaseQueue]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Reviewer:
    """A browser-less reviewer: a test client with its session and CSRF token."""

    def __init__(self, app: Any, name: str, token: str) -> None:
        self.client = TestClient(app)
        self.name = name
        page = self.client.get("/signin")
        response = self.client.post(
            "/signin",
            data={"csrf": _csrf(page.text), "reviewer": name, "token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        self.csrf = _csrf(self.client.get("/").text)

    def post(self, path: str, **data: str) -> Any:
        return self.client.post(path, data={"csrf": self.csrf, **data}, follow_redirects=False)


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[TokenFile, dict[str, str]]:
    tf = TokenFile(tmp_path / "reviewers.json")
    return tf, {name: tf.add(name) for name in ("ana", "bob")}


@pytest.fixture(params=DURABLE)
def console(
    request: pytest.FixtureRequest,
    make_queue: MakeQueue,
    tokens: tuple[TokenFile, dict[str, str]],
) -> tuple[BaseQueue, Callable[[str], Reviewer], TokenFile]:
    queue = make_queue(request.param)
    app = create_app(queue, tokens[0])
    return queue, lambda name: Reviewer(app, name, tokens[1][name]), tokens[0]


Console = tuple[BaseQueue, Callable[[str], Reviewer], TokenFile]


def test_a_wrong_token_or_an_unknown_reviewer_gets_401(console: Console) -> None:
    queue, _, tf = console
    client = TestClient(create_app(queue, tf))
    csrf = _csrf(client.get("/signin").text)
    for name, token in (("ana", "not-the-token"), ("eve", "anything"), ("ana", "")):
        r = client.post("/signin", data={"csrf": csrf, "reviewer": name, "token": token})
        assert r.status_code == 401
        assert "Unknown reviewer or wrong token." in r.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"


def test_pages_need_a_session_and_a_forged_cookie_is_no_session(console: Console) -> None:
    queue, _, tf = console
    [cid] = queue.enqueue([case()])
    client = TestClient(create_app(queue, tf))
    client.cookies.set("gr_session", "YW5h.9999999999.nonce.0000")
    for path in ("/", f"/cases/{cid}"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/signin")


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    queue, sign_in, _ = console
    [cid] = queue.enqueue([case()])
    ana = sign_in("ana")
    assert ana.post(f"/cases/{cid}/claim").status_code == 303
    for data in ({}, {"csrf": "forged"}):
        r = ana.client.post(
            f"/cases/{cid}/resolve", data={"label": "dog", **data}, follow_redirects=False
        )
        assert r.status_code == 403
        assert "CSRF token is missing or wrong" in r.text
    assert queue.get(cid).status == "claimed"
    # the sign-in form is protected too
    fresh = TestClient(ana.client.app)
    r = fresh.post("/signin", data={"reviewer": "ana", "token": "x"})
    assert r.status_code == 403


def test_another_reviewer_cannot_resolve_skip_or_release_a_claimed_case(console: Console) -> None:
    queue, sign_in, _ = console
    [cid] = queue.enqueue([case()])
    ana, bob = sign_in("ana"), sign_in("bob")
    assert ana.post("/next").headers["location"].startswith(f"/cases/{cid}")
    page = bob.client.get(f"/cases/{cid}").text
    assert "claimed by <strong>ana</strong>" in page
    assert "resolve-form" not in page
    for action, data in (
        ("resolve", {"label": "dog"}),
        ("skip", {}),
        ("release", {}),
        ("claim", {}),
    ):
        r = bob.post(f"/cases/{cid}/{action}", **data)
        assert r.status_code == 409, (action, r.text)
    held = queue.get(cid)
    assert (held.status, held.claimed_by) == ("claimed", "ana")
    assert ana.post(f"/cases/{cid}/resolve", label="dog").status_code == 303
    assert (queue.get(cid).reviewer, queue.get(cid).label) == ("ana", "dog")


def test_every_action_is_attributed_to_the_signed_in_reviewer(console: Console) -> None:
    queue, sign_in, _ = console
    ids = queue.enqueue([case(priority=p) for p in (0.9, 0.8)])
    bob = sign_in("bob")
    bob.post("/next")
    # a 'reviewer' field in the form is ignored: the session says who acts
    bob.post(f"/cases/{ids[0]}/resolve", label="cat", reviewer="ana", note="looks like a cat")
    bob.post(f"/cases/{ids[1]}/skip", reviewer="ana", note="blurry")
    first, second = queue.get(ids[0]), queue.get(ids[1])
    assert (first.reviewer, first.label, first.note) == ("bob", "cat", "looks like a cat")
    assert (second.status, second.reviewer, second.note) == ("skipped", "bob", "blurry")


def test_the_next_case_of_the_lane_opens_after_a_resolve(console: Console) -> None:
    queue, sign_in, _ = console
    top, low, audit = queue.enqueue(
        [case(priority=0.9), case(priority=0.1), case(kind="audit", reason=Reason.NONE)]
    )
    ana = sign_in("ana")
    assert ana.post("/next", kind="withheld").headers["location"] == f"/cases/{top}?kind=withheld"
    r = ana.post(f"/cases/{top}/resolve", label="dog", kind="withheld")
    assert r.headers["location"] == f"/cases/{low}?kind=withheld&done=resolved"
    assert queue.get(low).claimed_by == "ana"
    assert "Resolved; here is the next case." in ana.client.get(r.headers["location"]).text
    r = ana.post(f"/cases/{low}/resolve", label="cat", kind="withheld")
    assert r.headers["location"] == "/?kind=withheld&msg=resolved"
    assert queue.get(audit).status == "pending"  # another lane is left alone


def test_release_gives_the_case_back_and_a_pending_case_can_be_claimed(console: Console) -> None:
    queue, sign_in, _ = console
    [cid] = queue.enqueue([case()])
    ana, bob = sign_in("ana"), sign_in("bob")
    assert "claim-form" in ana.client.get(f"/cases/{cid}").text
    assert ana.post(f"/cases/{cid}/claim").status_code == 303
    assert ana.post(f"/cases/{cid}/release").headers["location"] == "/?msg=released"
    assert queue.get(cid).status == "pending"
    assert bob.post(f"/cases/{cid}/claim").status_code == 303
    assert queue.get(cid).claimed_by == "bob"


def test_claiming_one_case_is_atomic_and_respects_the_holder(make_queue: MakeQueue) -> None:
    queue = make_queue("sqlite")
    [cid] = queue.enqueue([case()])
    assert claim_case(queue, cid, "ana", 60.0).claimed_by == "ana"
    with pytest.raises(CaseStateError, match="claimed by ana"):
        claim_case(queue, cid, "bob", 60.0)


def test_html_in_a_case_renders_as_text(console: Console) -> None:
    queue, sign_in, _ = console
    evil = "<script>alert('x')</script>"
    [cid] = queue.enqueue([case(input={"comment": evil, evil: 1}, candidate=evil)])
    ana = sign_in("ana")
    page = ana.client.get(f"/cases/{cid}").text
    assert evil not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    listing = ana.client.get("/").text
    assert evil not in listing
    r = ana.client.get(f"/cases/{cid}")
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_redacted_fields_stay_redacted_on_the_case_page(console: Console) -> None:
    queue, sign_in, _ = console

    def model(X: Any) -> NDArray[np.float64]:
        return np.tile([0.4, 0.6], (len(X), 1))

    g = guard(model, output="proba", classes=["no", "yes"]).abstain(confidence_below(0.9))
    g = g.review(queue, redactor=Redactor(fields=["ssn"]))
    d = g.decide([{"age": 41, "ssn": "123-45-6789"}])
    cid = str(d.review_id[0])  # type: ignore[index]
    page = sign_in("ana").client.get(f"/cases/{cid}").text
    assert "123-45-6789" not in page
    assert re.search(r'data-field="ssn">\s*<th>ssn</th>\s*<td><code>' + re.escape(REDACTED), page)


def test_the_case_page_shows_failed_fields_probabilities_and_stages(console: Console) -> None:
    queue, sign_in, _ = console
    [cid] = queue.enqueue(
        [
            case(
                input={"age": -3, "income": 1200.5},
                proba=[0.25, 0.75],
                candidate="dog",
                prediction_set=["cat", "dog"],
                stages_tried=["primary", "backup"],
                detail="invalid input: age: Input should be >= 0 (got -3)",
            )
        ]
    )
    page = sign_in("ana").client.get(f"/cases/{cid}").text
    assert re.search(r'<tr class="failed" data-field="age">', page)
    assert re.search(r'<tr class="" data-field="income">', page)
    chart = page.split('id="proba-chart"', 1)[1].split("</svg>", 1)[0]
    assert 'width="55.0"' in chart and 'width="165.0"' in chart  # 0.25 and 0.75 of 220 px
    assert "0.750 · in set · candidate" in chart
    assert "<li>primary</li><li>backup</li>" in page


def test_similar_labelled_cases_are_the_nearest_resolved_ones(console: Console) -> None:
    queue, sign_in, _ = console
    near, far, new = queue.enqueue(
        [
            case(input={"x": 1.0, "y": 2.0}),
            case(input={"x": 9.0, "y": -5.0}),
            case(input={"x": 1.1, "y": 2.0}),
        ]
    )
    for cid, label in ((near, "cat"), (far, "dog")):
        claim_case(queue, cid, "ana", 60.0)
        queue.resolve(cid, label, reviewer="ana")
    page = sign_in("bob").client.get(f"/cases/{new}").text
    table = page.split('id="similar"', 1)[1]
    assert table.index(near[:12]) < table.index(far[:12])


def test_the_queue_page_counts_lanes_and_filters(console: Console) -> None:
    queue, sign_in, _ = console
    queue.enqueue(
        [case(), case(reason=Reason.DRIFT), case(kind="audit", reason=Reason.NONE)]
        + [case(kind="data_quality", reason=Reason.INVALID_INPUT)] * 2
    )
    ana = sign_in("ana")
    page = ana.client.get("/").text

    def count(kind: str) -> int:
        block = page.split(f'id="lane-{kind}"', 1)[1]
        return int(re.search(r'data-count="pending">(\d+)', block).group(1))  # type: ignore[union-attr]

    assert (count("withheld"), count("audit"), count("data_quality")) == (2, 1, 2)
    assert page.count("data-case=") == 5
    drift = ana.client.get("/?kind=withheld&reason=drift").text
    assert drift.count("data-case=") == 1
    assert ana.client.get("/?status=resolved").text.count("data-case=") == 0


def test_a_regression_case_takes_a_number(console: Console) -> None:
    queue, sign_in, _ = console
    [cid] = queue.enqueue([case(classes=[], candidate=3.5, interval=[2.0, 5.0])])
    ana = sign_in("ana")
    ana.post("/next")
    page = ana.client.get(f"/cases/{cid}").text
    assert 'id="value"' in page and "[2.0, 5.0]" in page
    r = ana.post(f"/cases/{cid}/resolve", label="lots")
    assert r.status_code == 422 and "finite number" in r.text
    assert ana.post(f"/cases/{cid}/resolve", label="4.25").status_code == 303
    assert queue.get(cid).label == 4.25


def test_several_reviewers_at_once_never_share_a_case(console: Console) -> None:
    queue, sign_in, _ = console
    queue.enqueue([case(priority=i / 40) for i in range(40)])
    people = [sign_in("ana"), sign_in("bob")]
    got: dict[str, list[str]] = {"ana": [], "bob": []}

    def work(who: Reviewer) -> None:
        where = who.post("/next").headers["location"]
        while where.startswith("/cases/"):  # each resolve opens the next case, claimed
            cid = where.split("/cases/", 1)[1].split("?", 1)[0]
            r = who.post(f"/cases/{cid}/resolve", label="cat")
            assert r.status_code == 303, r.text
            got[who.name].append(cid)
            where = r.headers["location"]

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got["ana"]) + len(got["bob"]) == 40
    assert not set(got["ana"]) & set(got["bob"])
    for name, ids in got.items():
        assert all(queue.get(i).reviewer == name for i in ids)
    assert queue.stats().counts["resolved"] == 40


def test_a_revoked_token_ends_the_session(console: Console) -> None:
    _, sign_in, tf = console
    ana = sign_in("ana")
    assert ana.client.get("/", follow_redirects=False).status_code == 200
    tf.remove("ana")
    assert ana.client.get("/", follow_redirects=False).headers["location"] == "/signin"


def test_the_token_file_holds_only_hashes(tmp_path: Path) -> None:
    tf = TokenFile(tmp_path / "t.json")
    token = tf.add("ana")
    text = (tmp_path / "t.json").read_text()
    assert token not in text and '"hash"' in text
    assert stat.S_IMODE(os.stat(tmp_path / "t.json").st_mode) == 0o600
    assert tf.verify("ana", token) and not tf.verify("ana", token + "x")
    assert tf.add("ana") != token and not tf.verify("ana", token)  # a new token replaces it


def test_the_console_binds_to_loopback_unless_told_and_says_so() -> None:
    assert "reachable from this machine only" in bind_notice("127.0.0.1", 8787)
    assert "put it behind a TLS proxy" in bind_notice("0.0.0.0", 8787)


def test_the_cli_issues_tokens_and_serve_needs_a_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "t.json")
    assert main(["review", "token", "add", "ana", "--tokens", path]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert TokenFile(path).verify("ana", token)
    assert main(["review", "token", "list", "--tokens", path]) == 0
    assert capsys.readouterr().out == "ana\n"
    queue = f"sqlite:///{tmp_path / 'q.db'}"
    empty = str(tmp_path / "none.json")
    assert main(["review", "serve", "--queue", queue, "--tokens", empty]) == 2
    assert "no reviewer has a token" in capsys.readouterr().err
    assert main(["review", "token", "remove", "ana", "--tokens", path]) == 0
    assert TokenFile(path).names() == []


@pytest.mark.parametrize("backend", DURABLE)
def test_a_claim_that_ran_out_must_be_claimed_again(
    make_queue: MakeQueue, tokens: tuple[TokenFile, dict[str, str]], backend: str
) -> None:
    clock = FakeClock(time.time())
    queue = make_queue(backend, clock=clock)
    [cid] = queue.enqueue([case()])
    ana = Reviewer(create_app(queue, tokens[0], lease=60.0), "ana", tokens[1]["ana"])
    ana.post("/next")
    clock.advance(61.0)
    r = ana.post(f"/cases/{cid}/resolve", label="dog")
    assert r.status_code == 409 and "expired" in r.text
    assert "claim-form" in ana.client.get(f"/cases/{cid}").text  # pending again
    assert ana.post(f"/cases/{cid}/claim").status_code == 303
    assert ana.post(f"/cases/{cid}/resolve", label="dog").status_code == 303
    assert queue.get(cid).label == "dog"
