"""Command line: ``python -m guardrails demo``, ``review ...`` and ``audit ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from guardrails.apps.audit import add_audit_parser, run_audit
from guardrails.apps.cli import add_review_parser, run_review
from guardrails.apps.demo import run_demo

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m guardrails",
        description="Guard any predict callable: validate, calibrate, abstain, fall back.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the end-to-end demo on data that ships with sklearn")
    demo.add_argument("--seed", type=int, default=0, help="random seed for the traffic")
    demo.add_argument(
        "--out",
        default="guardrails-demo",
        help="folder for the HTML report, the JSON log and the review queue "
        "(default: ./guardrails-demo)",
    )
    demo.add_argument(
        "--no-report", action="store_true", help="skip the HTML report (needs matplotlib)"
    )
    add_review_parser(sub)
    add_audit_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        run_demo(sys.stdout, seed=args.seed, out_dir=args.out, report=not args.no_report)
    if args.command == "review":
        return run_review(args)
    if args.command == "audit":
        return run_audit(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
