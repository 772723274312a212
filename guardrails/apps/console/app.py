"""The review console's web app: sign-in, the queue page, the case page and their forms.

Pages are rendered on the server from Jinja2 templates shipped in the package, with
autoescaping on, so any text from a case (inputs, notes, labels) shows as text. Every form
carries the session's CSRF token and every answer forbids inline scripts and framing. The
queue's own rules decide who may do what: the console claims, resolves, skips and releases
through the queue's operations, in the signed-in reviewer's name.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at
# run time, and ``Request`` is imported inside create_app (the 'serve' extra is optional).
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails.apps.console import views
from guardrails.apps.console.sessions import PRE_COOKIE, SESSION_COOKIE, Session, Signer
from guardrails.apps.console.tokens import TokenFile
from guardrails.core.decisions import Reason
from guardrails.core.errors import ConfigurationError
from guardrails.review.cases import (
    KINDS,
    STATUSES,
    CaseNotFoundError,
    CaseStateError,
    InvalidLabelError,
    Kind,
    ReviewCase,
    ReviewError,
)
from guardrails.review.queue import BaseQueue

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

__all__ = ["claim_case", "create_app"]

HERE = Path(__file__).parent
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
COUNT_CAP = 1000
"""Lane counts stop at this many (shown as "1000+"), so the queue page stays cheap."""
PAGE = 200
MAX_FORM = 64 * 1024
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MESSAGES = {
    "empty": "No case left to claim with these filters.",
    "resolved": "Resolved. No case left to claim in this lane.",
    "skipped": "Skipped. No case left to claim in this lane.",
    "released": "Released: the case is pending again.",
    "signedout": "Signed out.",
}


def claim_case(queue: BaseQueue, case_id: str, reviewer: str, lease: float) -> ReviewCase:
    """Lease the pending case ``case_id`` to ``reviewer``, atomically (the queue's row lock).

    Raises:
        CaseNotFoundError: no case has that id.
        CaseStateError: the case is not pending (someone holds it, or it is closed).
    """

    def change(case: ReviewCase, now: float) -> dict[str, Any]:
        if case.status != "pending":
            holder = f" by {case.claimed_by}" if case.status == "claimed" else ""
            raise CaseStateError(f"case {case.id} is {case.status}{holder}; it cannot be claimed.")
        return {"status": "claimed", "claimed_by": reviewer, "lease_until": now + lease}

    return queue._update(str(case_id), change)


@dataclass(frozen=True)
class _Lane:
    kind: Kind | None
    reason: str | None

    def query(self, **more: str) -> str:
        items = {"kind": self.kind or "", "reason": self.reason or "", **more}
        return urllib.parse.urlencode({k: v for k, v in items.items() if v})

    def reason_value(self) -> Reason | None:
        return None if not self.reason else Reason[self.reason.upper()]


def _lane(values: Mapping[str, str]) -> _Lane:
    kind = values.get("kind") or None
    reason = values.get("reason") or None
    if kind not in KINDS:
        kind = None
    if reason is not None and reason.upper() not in Reason.__members__:
        reason = None
    return _Lane(kind, reason)


def create_app(
    queue: BaseQueue,
    tokens: TokenFile,
    *,
    lease: float = 600.0,
    key: bytes | None = None,
    session_hours: float = 8.0,
) -> "FastAPI":
    """The console as a FastAPI app over ``queue``, for the reviewers in ``tokens``.

    Args:
        queue: an open review queue (SQLite or PostgreSQL; several reviewers at once).
        tokens: who may sign in (see [`TokenFile`][guardrails.apps.console.tokens.TokenFile]).
        lease: seconds a claim made in the console lasts.
        key: the secret that signs sessions (32+ bytes); None draws a random one.
        session_hours: hours a sign-in lasts.

    Raises:
        ImportError: the ``serve`` extra (fastapi, jinja2) is not installed.
    """
    # Heavy optional dependencies of the 'serve' extra, imported only when a console is made.
    import jinja2
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, RedirectResponse, Response
    from starlette.concurrency import run_in_threadpool

    if not isinstance(queue, BaseQueue):
        raise ConfigurationError(
            f"The 'queue' parameter of create_app must be a review queue. Got {queue!r} instead."
        )
    if not isinstance(tokens, TokenFile):
        raise ConfigurationError(
            f"The 'tokens' parameter of create_app must be a TokenFile. Got {tokens!r} instead."
        )
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
        raise ConfigurationError(
            f"The 'lease' parameter of create_app must be a positive number of seconds. "
            f"Got {lease!r} instead."
        )
    signer = Signer(key, max_age=session_hours * 3600.0)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(when=views.when, age=views.age, show=views.show)
    statics = {name: (HERE / "static" / name).read_bytes() for name in STATIC}
    app = FastAPI(
        title="guardrails review console", docs_url=None, redoc_url=None, openapi_url=None
    )

    def page(name: str, code: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(name).render(queue_url=_safe_url(queue.url), **values)
        return HTMLResponse(html, status_code=code, headers=HEADERS)

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303, headers=HEADERS)

    def session_of(request: Request) -> Session | None:
        s = signer.session(request.cookies.get(SESSION_COOKIE))
        if s is None or not tokens.has(s.reviewer):
            return None
        return s

    async def form(request: Request) -> dict[str, str] | None:
        body = await request.body()
        if len(body) > MAX_FORM:
            return None
        parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def refused(who: Session | None, message: str, code: int, back: str = "/") -> HTMLResponse:
        return page("error.html", code, me=who, message=message, back=back)

    async def act(
        request: Request, work: Callable[[Session, dict[str, str]], Response]
    ) -> Response:
        """Run a form action: signed in, CSRF token checked, queue errors shown as pages."""
        who = session_of(request)
        if who is None:
            return redirect("/signin")
        values = await form(request)
        if values is None:
            return refused(who, "The form is too large.", 413)
        if not signer.same(values.get("csrf"), who.csrf):
            return refused(who, "The form's CSRF token is missing or wrong; reload the page.", 403)
        try:
            return await run_in_threadpool(work, who, values)
        except CaseNotFoundError as exc:
            return refused(who, str(exc), 404)
        except InvalidLabelError as exc:
            return refused(who, str(exc), 422, back=request.url.path.rsplit("/", 1)[0])
        except (ReviewError, ConfigurationError) as exc:
            return refused(who, str(exc), 409, back=request.url.path.rsplit("/", 1)[0])

    def after(who: Session, lane: _Lane, done: str) -> Response:
        """Open the next case of the lane (claimed for ``who``), or the queue when none."""
        nxt = queue.claim(
            who.reviewer,
            n=1,
            lease=float(lease),
            kind=lane.kind,
            reason=lane.reason_value(),
        )
        if nxt:
            return redirect(f"/cases/{urllib.parse.quote(nxt[0].id)}?{lane.query(done=done)}")
        return redirect(f"/?{lane.query(msg=done)}")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found", status_code=404, headers=HEADERS)
        return Response(statics[name], media_type=STATIC[name], headers=HEADERS)

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request) -> Response:
        nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
        response = page("signin.html", me=None, csrf=signer.pre_csrf(nonce), error=None)
        response.set_cookie(
            PRE_COOKIE, nonce, httponly=True, samesite="strict", secure=_https(request)
        )
        return response

    @app.post("/signin")
    async def signin(request: Request) -> Response:
        values = await form(request) or {}
        nonce = request.cookies.get(PRE_COOKIE)
        if not nonce or not signer.same(values.get("csrf"), signer.pre_csrf(nonce)):
            return refused(
                None, "The sign-in form's CSRF token is missing or wrong.", 403, "/signin"
            )
        reviewer = values.get("reviewer", "").strip()
        ok = await run_in_threadpool(tokens.verify, reviewer, values.get("token", ""))
        if not ok:
            return page(
                "signin.html",
                401,
                me=None,
                csrf=signer.pre_csrf(nonce),
                error="Unknown reviewer or wrong token.",
            )
        response = redirect("/")
        response.set_cookie(
            SESSION_COOKIE,
            signer.issue(reviewer),
            max_age=int(signer.max_age),
            httponly=True,
            samesite="strict",
            secure=_https(request),
        )
        response.delete_cookie(PRE_COOKIE)
        return response

    @app.post("/signout")
    async def signout(request: Request) -> Response:
        def work(who: Session, values: dict[str, str]) -> Response:
            response = redirect("/signin")
            response.delete_cookie(SESSION_COOKIE)
            return response

        return await act(request, work)

    @app.get("/", response_class=HTMLResponse)
    def queue_page(request: Request) -> Response:
        who = session_of(request)
        if who is None:
            return redirect("/signin")
        q = request.query_params
        lane = _lane(q)
        status = q.get("status") or "pending"
        if status not in (*STATUSES, "all"):
            status = "pending"
        sort = q.get("sort") if q.get("sort") in ("priority", "age") else "priority"
        cases = queue.list(
            status=None if status == "all" else status,  # type: ignore[arg-type]
            kind=lane.kind,
            reason=lane.reason_value(),
            limit=PAGE,
        )
        if sort == "age":
            cases.sort(key=lambda c: (c.created_at, c.id))
        counts = {
            kind: {
                s: len(queue.list(status=s, kind=kind, limit=COUNT_CAP))
                for s in ("pending", "claimed")
            }
            for kind in KINDS
        }
        mine = [c for c in queue.list(status="claimed", limit=PAGE) if c.claimed_by == who.reviewer]
        return page(
            "queue.html",
            me=who,
            cases=cases,
            mine=mine,
            counts=counts,
            cap=COUNT_CAP,
            stats=queue.stats(),
            kinds=KINDS,
            reasons=[str(r) for r in Reason],
            statuses=(*STATUSES, "all"),
            lane=lane,
            status=status,
            sort=sort,
            page_size=PAGE,
            message=MESSAGES.get(q.get("msg", "")),
            now=queue.clock(),
        )

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(case_id: str, request: Request) -> Response:
        who = session_of(request)
        if who is None:
            return redirect("/signin")
        try:
            case = queue.get(case_id)
        except CaseNotFoundError as exc:
            return refused(who, str(exc), 404)
        lane = _lane(request.query_params)
        labelled = queue.list(
            status="resolved", kind=case.kind, reason=case.reason, limit=views.SIMILAR_SAMPLE
        )
        done = request.query_params.get("done")
        return page(
            "case.html",
            me=who,
            case=case,
            mine=case.status == "claimed" and case.claimed_by == who.reviewer,
            rows=views.input_rows(case),
            bars=views.bars(case),
            choices=views.choices(case),
            similar=views.similar(case, labelled),
            lane=lane,
            done={
                "resolved": "Resolved; here is the next case.",
                "skipped": "Skipped; here is the next case.",
            }.get(done or ""),
            now=queue.clock(),
        )

    @app.post("/next")
    async def next_case(request: Request) -> Response:
        def work(who: Session, values: dict[str, str]) -> Response:
            lane = _lane(values)
            nxt = queue.claim(
                who.reviewer,
                n=1,
                lease=float(lease),
                kind=lane.kind,
                reason=lane.reason_value(),
            )
            if not nxt:
                return redirect(f"/?{lane.query(msg='empty')}")
            return redirect(f"/cases/{urllib.parse.quote(nxt[0].id)}?{lane.query()}")

        return await act(request, work)

    @app.post("/cases/{case_id}/claim")
    async def claim(case_id: str, request: Request) -> Response:
        def work(who: Session, values: dict[str, str]) -> Response:
            claim_case(queue, case_id, who.reviewer, float(lease))
            return redirect(f"/cases/{urllib.parse.quote(case_id)}?{_lane(values).query()}")

        return await act(request, work)

    @app.post("/cases/{case_id}/resolve")
    async def resolve(case_id: str, request: Request) -> Response:
        def work(who: Session, values: dict[str, str]) -> Response:
            label = values.get("label", "")
            if label == "":
                raise InvalidLabelError(f"pick a label for case {case_id}.")
            note = values.get("note", "").strip() or None
            queue.resolve(case_id, label, reviewer=who.reviewer, note=note)
            return after(who, _lane(values), "resolved")

        return await act(request, work)

    @app.post("/cases/{case_id}/skip")
    async def skip(case_id: str, request: Request) -> Response:
        def work(who: Session, values: dict[str, str]) -> Response:
            note = values.get("note", "").strip() or None
            queue.skip(case_id, reviewer=who.reviewer, note=note)
            return after(who, _lane(values), "skipped")

        return await act(request, work)

    @app.post("/cases/{case_id}/release")
    async def release(case_id: str, request: Request) -> Response:
        def work(who: Session, values: dict[str, str]) -> Response:
            case = queue.get(case_id)
            if case.status != "claimed" or case.claimed_by != who.reviewer:
                raise CaseStateError(
                    f"case {case_id} is not claimed by {who.reviewer}; nothing to release."
                )
            queue.release(who.reviewer, case_ids=[case_id])
            return redirect(f"/?{_lane(values).query(msg='released')}")

        return await act(request, work)

    return app


def _https(request: "Request") -> bool:
    return request.url.scheme == "https"


def _safe_url(url: str) -> str:
    """The queue URL without a password, for the page footer."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
