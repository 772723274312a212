"""Helpers shared by the monitor's tests."""

from __future__ import annotations

from typing import Any

from guardrails import DriftProfile
from guardrails.monitoring.verdicts import drifted_features

EVERY_TEST = ("ks", "chi2", "psi", "wasserstein", "js")
PSI_ONLY_LIMITS = {"psi": 0.2, "wasserstein": None, "js": None}


def assert_verdict_is_the_full_evaluations(
    profile: DriftProfile, state: Any, *, correction: str, ks_method: str
) -> Any:
    """The report's drifted features are those of every test evaluated in full on ``state``
    (the monitor's shortcuts may skip work, never change the verdict); returns the report."""
    report = profile.evaluate(state, correction=correction, ks_method=ks_method)
    assert report.drifted_features == drifted_features(
        profile,
        state,
        tests=EVERY_TEST,
        alpha=0.05,
        correction=correction,
        limits=PSI_ONLY_LIMITS,
        ks_method=ks_method,
    )
    return report
