"""Audit command line: the ``python -m guardrails audit`` parser and its runner."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

from guardrails.apps.audit_fit import audit
from guardrails.apps.audit_html import build_report
from guardrails.apps.audit_loading import (
    _SECURITY,
    LOADERS,
    AuditError,
    load_model,
    read_labelled_csv,
)
from guardrails.apps.audit_result import AuditResult
from guardrails.core.errors import GuardrailsError

EXIT_OK = 0
EXIT_BAD = 2


def add_audit_parser(sub: Any) -> None:
    """Add the ``audit`` command to ``sub`` (argparse subparsers)."""
    text = "recommend calibration and abstention thresholds for a model on labelled data"
    p: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help=text,
        description=f"{text[0].upper()}{text[1:]}. {_SECURITY}",
    )
    p.add_argument("--model", required=True, metavar="PATH", help="the fitted model file")
    p.add_argument(
        "--loader",
        choices=LOADERS,
        help="how to load --model (required, no default): 'skops' loads only trusted "
        "types; 'joblib' unpickles and CAN RUN ARBITRARY CODE from the file",
    )
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="with --loader skops, a type to trust beyond skops' defaults (repeatable)",
    )
    p.add_argument(
        "--data", required=True, metavar="CSV", help="labelled hold-out set, a CSV with a header"
    )
    p.add_argument("--target", required=True, metavar="COL", help="the label column of --data")
    p.add_argument(
        "--features",
        metavar="A,B,...",
        help="feature columns in the model's order (default: the model's feature names, "
        "else every column but the target)",
    )
    p.add_argument(
        "--cal-size", type=float, default=0.5, metavar="F", help="share of rows to calibrate on"
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the split")
    p.add_argument(
        "--risk",
        type=float,
        action="append",
        default=[],
        metavar="R",
        help="a target selective risk in (0, 1), one threshold each (repeatable)",
    )
    p.add_argument(
        "--delta",
        type=float,
        default=0.1,
        metavar="D",
        help="allowed chance that a risk threshold misses its target (0.1)",
    )
    p.add_argument("--cost-error", type=float, metavar="X", help="cost of a wrong answer (1)")
    p.add_argument("--cost-review", type=float, metavar="Y", help="cost of a human review")
    p.add_argument(
        "--alpha",
        type=float,
        action="append",
        metavar="A",
        help="conformal miscoverage level (repeatable; default 0.1)",
    )
    p.add_argument(
        "--out",
        default="guardrails-audit.html",
        metavar="HTML",
        help="the report to write (guardrails-audit.html)",
    )
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")


def run_audit(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run a parsed ``audit`` command; returns the exit code (0, or 2 with a message)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        report_path = Path(args.out)
        if not report_path.parent.is_dir():
            raise AuditError(f"--out: folder {str(report_path.parent)!r} does not exist.")
        for flag, path in (("--data", args.data),):
            if not Path(path).is_file():
                raise AuditError(f"{flag}: file {path!r} does not exist (or is not a file).")
        if args.loader == "joblib":
            print(
                f"loading {args.model} with joblib at your request: this runs any code the "
                "file carries.",
                file=err,
            )
        model = load_model(args.model, loader=args.loader, trust=args.trust)
        features = None
        if args.features is not None:
            features = [f.strip() for f in args.features.split(",") if f.strip()]
            if not features:
                raise AuditError("--features is empty; name columns separated by commas.")
        data = read_labelled_csv(args.data, target=args.target, features=features, model=model)
        result = audit(
            model,
            data.X,
            data.y,
            risks=args.risk,
            delta=args.delta,
            cost_error=args.cost_error,
            cost_review=args.cost_review,
            alphas=args.alpha or [0.1],
            cal_size=args.cal_size,
            seed=args.seed,
        )
        notes = list(result.notes)
        if data.n_missing_target:
            notes.insert(
                0, f"{data.n_missing_target} of {data.n_read} rows had no target and were dropped."
            )
        result = _with_notes(result, notes)
        subtitle = f"{Path(args.model).name} on {Path(args.data).name}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            written = build_report(result, subtitle=subtitle).to_html(report_path)
    except (AuditError, GuardrailsError) as exc:
        print(f"guardrails audit: error: {exc}", file=err)
        return EXIT_BAD
    except Exception as exc:  # the user's model or data did something unforeseen
        print(f"guardrails audit: error: {type(exc).__name__}: {exc}", file=err)
        return EXIT_BAD
    where = str(written.resolve())
    if args.json:
        payload = result.to_dict()
        payload["report"] = where
        print(json.dumps(payload, indent=2), file=out)
    else:
        print(result.table(), file=out)
        print(f"\nreport: {where}", file=out)
    return EXIT_OK


def _with_notes(result: AuditResult, notes: list[str]) -> AuditResult:
    from dataclasses import replace

    return replace(result, notes=tuple(notes))
