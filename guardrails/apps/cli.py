"""Command line for reviewers: ``python -m guardrails review list|show|claim|... --queue URL``.

``list`` and ``claim`` filter by ``--kind`` (withheld, audit, data_quality) and ``--reason``;
``release --reviewer NAME [ID ...]`` gives a reviewer's claimed cases back at once;
``expire --older-than SECONDS`` closes stale pending cases as expired, with a reason.
``stats`` shows counts per status and lane, the oldest pending age, and throughput per
reviewer; ``--max-backlog N`` and ``--max-age SECONDS`` turn it into an alert for cron.
``serve --tokens FILE`` runs the browser console (the ``serve`` extra); ``token add|remove|list
NAME --tokens FILE`` issues and revokes the reviewers' console tokens.

Every command takes ``--queue`` (or the ``GUARDRAILS_REVIEW_QUEUE`` environment variable),
prints plain text (or JSON with ``--json``), and exits 0 on success, 2 on a refused
operation (unknown id, resolved twice, a label outside the classes, an expired lease) with
the reason on stderr, and 3 from ``stats --fail-on-overdue`` when cases are overdue (or
``--max-backlog`` / ``--max-age`` when the backlog or the oldest case is above the line).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from typing import Any, TextIO

from guardrails.apps.console.serve import serve
from guardrails.apps.console.tokens import TokenFile
from guardrails.core.decisions import Reason
from guardrails.core.errors import ConfigurationError
from guardrails.review.backends import open_queue
from guardrails.review.cases import KINDS, STATUSES, ReviewCase, ReviewError
from guardrails.review.queue import BaseQueue

__all__ = ["add_review_parser", "run_review"]

EXIT_REFUSED = 2
EXIT_OVERDUE = 3


def add_review_parser(sub: Any) -> None:
    """Add the ``review`` command and its subcommands to ``sub`` (argparse subparsers)."""
    review = sub.add_parser("review", help="work the human review queue")
    ops = review.add_subparsers(dest="review_command", required=True)

    def op(name: str, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = ops.add_parser(name, help=text, description=text)
        p.add_argument(
            "--queue",
            default=os.environ.get("GUARDRAILS_REVIEW_QUEUE"),
            help="queue URL: sqlite:///path.db or postgresql://... "
            "(default: $GUARDRAILS_REVIEW_QUEUE)",
        )
        p.add_argument("--json", action="store_true", help="print JSON")
        return p

    reasons = [str(r) for r in Reason]
    p = op("list", "list cases: model cases first, then highest priority and oldest")
    p.add_argument("--status", choices=STATUSES, default="pending")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--reason", choices=reasons, help="only cases withheld for this reason")
    p.add_argument("--overdue", action="store_true", help="only cases past their deadline")
    p.add_argument("--limit", type=int, default=20)
    p = op("show", "show one case with its context")
    p.add_argument("id")
    p = op("claim", "claim the next cases for a reviewer, with a lease")
    p.add_argument("--reviewer", required=True)
    p.add_argument("-n", type=int, default=1, help="how many cases")
    p.add_argument("--lease", type=float, default=600.0, help="seconds the claim lasts")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--reason", choices=reasons, help="only cases withheld for this reason")
    p = op("release", "give a reviewer's claimed cases back to pending at once")
    p.add_argument("--reviewer", required=True)
    p.add_argument("ids", nargs="*", help="only these cases (default: all the reviewer holds)")
    p = op("resolve", "record the label of a claimed case")
    p.add_argument("id")
    p.add_argument("--label", required=True)
    p.add_argument("--reviewer", required=True)
    p.add_argument("--note")
    p = op("skip", "give back a claimed case as skipped")
    p.add_argument("id")
    p.add_argument("--reviewer", required=True)
    p.add_argument("--note")
    p = op("reopen", "send a resolved, skipped or expired case back to pending")
    p.add_argument("id")
    p.add_argument("--note")
    p = op("expire", "close pending cases older than a given age as expired")
    p.add_argument("--older-than", type=float, required=True, help="age in seconds")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--note", help="the reason stored with each expired case")
    p = op("serve", "serve the browser review console (needs the 'serve' extra)")
    _tokens_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--lease", type=float, default=600.0, help="seconds a console claim lasts")
    token = ops.add_parser(
        "token", help="issue, revoke or list reviewers' console tokens (stored hashed)"
    )
    token.add_argument("action", choices=("add", "remove", "list"))
    token.add_argument("reviewer", nargs="?", help="the reviewer (for add and remove)")
    _tokens_option(token)
    p = op("stats", "counts by status, lane and age, overdue cases, reviewer throughput")
    p.add_argument(
        "--fail-on-overdue",
        action="store_true",
        help=f"exit {EXIT_OVERDUE} when cases are overdue (for cron alerts)",
    )
    p.add_argument(
        "--max-backlog", type=int, help=f"exit {EXIT_OVERDUE} when more cases are pending"
    )
    p.add_argument(
        "--max-age",
        type=float,
        help=f"exit {EXIT_OVERDUE} when the oldest pending case waited longer (seconds)",
    )
    p.add_argument("--window", type=float, default=3600.0, help="seconds of the throughput window")


def _tokens_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tokens",
        default=os.environ.get("GUARDRAILS_REVIEW_TOKENS"),
        help="reviewer token file (default: $GUARDRAILS_REVIEW_TOKENS)",
    )


def _run_token(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.tokens:
        err.write("review token: give --tokens FILE or set GUARDRAILS_REVIEW_TOKENS\n")
        return EXIT_REFUSED
    tokens = TokenFile(args.tokens)
    if args.action == "list":
        out.write("".join(f"{name}\n" for name in tokens.names()) or "no reviewers\n")
        return 0
    if not args.reviewer:
        err.write(f"review token {args.action}: name the reviewer\n")
        return EXIT_REFUSED
    if args.action == "add":
        token = tokens.add(args.reviewer)
        out.write(
            f"token for {args.reviewer} (shown once; only its hash is stored in "
            f"{args.tokens}):\n{token}\n"
        )
        return 0
    if not tokens.remove(args.reviewer):
        err.write(f"review token remove: {args.reviewer} has no token in {args.tokens}\n")
        return EXIT_REFUSED
    out.write(f"revoked the token of {args.reviewer}\n")
    return 0


def run_review(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run a parsed ``review`` command; returns the exit code."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if args.review_command == "token":
        try:
            return _run_token(args, out, err)
        except ConfigurationError as exc:
            err.write(f"review token: {exc}\n")
            return EXIT_REFUSED
    if not args.queue:
        err.write("review: give --queue URL or set GUARDRAILS_REVIEW_QUEUE\n")
        return EXIT_REFUSED
    if args.review_command == "serve":
        if not args.tokens:
            err.write("review serve: give --tokens FILE or set GUARDRAILS_REVIEW_TOKENS\n")
            return EXIT_REFUSED
        try:
            serve(
                args.queue, args.tokens, host=args.host, port=args.port, lease=args.lease, out=out
            )
        except (ConfigurationError, ReviewError, ImportError) as exc:
            err.write(f"review serve: {exc}\n")
            return EXIT_REFUSED
        return 0
    try:
        queue = open_queue(args.queue)
    except (ConfigurationError, ReviewError, ImportError) as exc:
        err.write(f"review: {exc}\n")
        return EXIT_REFUSED
    try:
        return _run(queue, args, out)
    except (ReviewError, ConfigurationError) as exc:
        err.write(f"review {args.review_command}: {exc}\n")
        return EXIT_REFUSED
    finally:
        queue.close()


def _run(queue: BaseQueue, args: argparse.Namespace, out: TextIO) -> int:
    command = args.review_command
    if command == "list":
        cases = queue.list(
            status=args.status,
            kind=args.kind,
            reason=_reason(args.reason),
            overdue=True if args.overdue else None,
            limit=args.limit,
        )
        _print_cases(cases, args.json, out)
    elif command == "show":
        _print_case(queue.get(args.id), args.json, out)
    elif command == "claim":
        cases = queue.claim(
            args.reviewer, n=args.n, lease=args.lease, kind=args.kind, reason=_reason(args.reason)
        )
        _print_cases(cases, args.json, out)
    elif command == "release":
        cases = queue.release(args.reviewer, case_ids=args.ids or None)
        _print_cases(cases, args.json, out)
    elif command == "resolve":
        label = _parse_label(args.label)
        _print_case(
            queue.resolve(args.id, label, reviewer=args.reviewer, note=args.note), args.json, out
        )
    elif command == "skip":
        _print_case(queue.skip(args.id, reviewer=args.reviewer, note=args.note), args.json, out)
    elif command == "reopen":
        _print_case(queue.reopen(args.id, note=args.note), args.json, out)
    elif command == "expire":
        cases = queue.expire(older_than=args.older_than, kind=args.kind, note=args.note)
        _print_cases(cases, args.json, out)
    elif command == "stats":
        stats = queue.stats(throughput_window=args.window)
        alarms = []
        if args.max_backlog is not None and stats.counts["pending"] > args.max_backlog:
            alarms.append(f"backlog {stats.counts['pending']} > {args.max_backlog}")
        if args.max_age is not None and stats.oldest_pending_age > args.max_age:
            alarms.append(f"oldest pending {stats.oldest_pending_age:.0f} s > {args.max_age:g} s")
        if args.json:
            out.write(json.dumps({**stats.to_dict(), "alarms": alarms}, indent=1) + "\n")
        else:
            counts = "  ".join(f"{k}={v}" for k, v in stats.counts.items())
            ages = "  ".join(f"{k}={v}" for k, v in stats.pending_by_age.items())
            lanes = "  ".join(
                f"{k}={n} (oldest {stats.oldest_by_kind.get(k, 0.0):.0f} s)"
                for k, n in stats.pending_by_kind.items()
            )
            out.write(f"cases:   {counts}\npending: {ages}\nlanes:   {lanes}\n")
            out.write(f"overdue: {stats.overdue}\n")
            out.write(f"oldest pending: {stats.oldest_pending_age:.0f} s\n")
            hours = stats.throughput_window / 3600.0
            rates = "  ".join(f"{r}={v:.1f}/h" for r, v in stats.throughput.items()) or "none"
            out.write(f"throughput (last {hours:g} h): {rates}\n")
            for alarm in alarms:
                out.write(f"ALERT: {alarm}\n")
        if (args.fail_on_overdue and stats.overdue) or alarms:
            return EXIT_OVERDUE
    return 0


def _reason(name: str | None) -> Reason | None:
    return None if name is None else Reason[name.upper()]


def _parse_label(text: str) -> Any:
    """A label typed on the command line: JSON when it parses (``3``, ``"x"``), else text.

    The queue matches text against the case's classes, so ``1`` and ``"1"`` both name
    class 1.
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%SZ"
    )


def _print_cases(cases: list[ReviewCase], as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps([c.to_dict() for c in cases], indent=1) + "\n")
        return
    if not cases:
        out.write("no cases\n")
        return
    out.write(f"{'id':32}  {'status':8}  {'kind':12}  {'reason':14}  {'priority':>8}  created\n")
    for c in cases:
        late = "  OVERDUE" if c.overdue() else ""
        out.write(
            f"{c.id:32}  {c.status:8}  {c.kind:12}  {c.reason!s:14}  {c.priority:8.3f}  "
            f"{_when(c.created_at)}{late}\n"
        )


def _print_case(case: ReviewCase, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(case.to_dict(), indent=1) + "\n")
        return
    ctx = case.context
    lines = [
        f"case      {case.id}",
        f"status    {case.status}" + ("  OVERDUE" if case.overdue() else ""),
        f"kind      {case.kind}   reason {case.reason}   priority {case.priority:.3f}",
        f"created   {_when(case.created_at)}   deadline {_when(case.deadline)}",
        f"request   {ctx.get('request_id')} row {ctx.get('row')}   "
        f"guard {ctx.get('guard')} {ctx.get('version')}",
        f"input     {json.dumps(ctx.get('input'))}",
        f"candidate {ctx.get('candidate')!r}   confidence {ctx.get('confidence')}",
    ]
    if ctx.get("classes") is not None and ctx.get("proba") is not None:
        pairs = ", ".join(f"{c}: {p:.3f}" for c, p in zip(ctx["classes"], ctx["proba"]))
        lines.append(f"proba     {pairs}")
    if ctx.get("prediction_set") is not None:
        lines.append(f"set       {ctx['prediction_set']}")
    if ctx.get("interval") is not None:
        lines.append(f"interval  {ctx['interval']}")
    lines.append(f"stages    {' > '.join(ctx.get('stages_tried', []))}   {ctx.get('detail')}")
    if case.claimed_by:
        lines.append(f"claimed   by {case.claimed_by} until {_when(case.lease_until)}")
    if case.status in ("resolved", "skipped"):
        lines.append(
            f"{case.status:9} by {case.reviewer} at {_when(case.resolved_at)}: "
            f"label {case.label!r}" + (f"  note {case.note!r}" if case.note else "")
        )
    if case.status == "expired":
        lines.append(f"expired   at {_when(case.resolved_at)}: {case.note}")
    if ctx.get("inclusion_probability") is not None and case.kind == "audit":
        lines.append(f"audit     drawn with probability {ctx['inclusion_probability']:.4f}")
    out.write("\n".join(lines) + "\n")
