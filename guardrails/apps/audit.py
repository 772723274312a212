"""Audit: recommend a calibration method and abstention thresholds for an existing model.

Behind ``python -m guardrails audit --model MODEL --loader skops|joblib --data CSV --target
COL``. The labelled hold-out set is split (seeded) into a calibration part and an
evaluation part. Every calibration method is fitted on the calibration part and scored on
the evaluation part; the one with the lowest negative log-likelihood is recommended (NLL
is a proper scoring rule: it cannot be gamed by binning, unlike ECE, and it is what
temperature and Platt scaling minimise). With that calibration, thresholds are fitted on
the calibration part for each target risk ([`RiskControlledThreshold`][])
and cost ([`CostRule`][]), and their coverage and realized selective risk
are measured on the evaluation part. Regressors get split conformal interval widths.

Loading a model file is the user's explicit choice, because both formats can run code:
``joblib`` unpickles, which runs whatever code the file carries; ``skops`` loads only the
types it trusts by default plus those the user names with ``--trust``. The one place in
guardrails that calls ``joblib.load`` is `guardrails.apps.audit_loading`.

This module is the audit's public surface: it re-exports the names of its parts, the
loading (``audit_loading``), the audit itself (``audit_fit``), its results
(``audit_result``), its report (``audit_html``) and its command line (``audit_cli``).
"""

from __future__ import annotations

from guardrails.apps.audit_cli import EXIT_BAD as EXIT_BAD
from guardrails.apps.audit_cli import EXIT_OK as EXIT_OK
from guardrails.apps.audit_cli import add_audit_parser as add_audit_parser
from guardrails.apps.audit_cli import run_audit as run_audit
from guardrails.apps.audit_fit import BINS as BINS
from guardrails.apps.audit_fit import METHODS as METHODS
from guardrails.apps.audit_fit import MIN_PART_ROWS as MIN_PART_ROWS
from guardrails.apps.audit_fit import audit as audit
from guardrails.apps.audit_html import build_report as build_report
from guardrails.apps.audit_loading import LOADERS as LOADERS
from guardrails.apps.audit_loading import AuditError as AuditError
from guardrails.apps.audit_loading import LabelledCSV as LabelledCSV
from guardrails.apps.audit_loading import load_model as load_model
from guardrails.apps.audit_loading import read_labelled_csv as read_labelled_csv
from guardrails.apps.audit_result import CRITERION as CRITERION
from guardrails.apps.audit_result import AuditResult as AuditResult
from guardrails.apps.audit_result import ConformalSummary as ConformalSummary
from guardrails.apps.audit_result import MethodScore as MethodScore
from guardrails.apps.audit_result import OperatingPoint as OperatingPoint

__all__ = [
    "AuditError",
    "AuditResult",
    "add_audit_parser",
    "audit",
    "build_report",
    "load_model",
    "read_labelled_csv",
    "run_audit",
]
