"""Helpers shared by the monitor's tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

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


def benchmark_data(
    seed: int, n_ref: int = 100_000, n_cur: int = 100_000
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """The data of benchmarks/drift.py: 50 features of mixed shapes, 5 shifted.

    Same generator as the benchmark script (kept in step by hand), at any size.
    """
    rng = np.random.default_rng(seed)

    def draw(n: int, shifted: bool) -> NDArray[np.float64]:
        cols = []
        for j in range(50):
            kind = j % 5
            s = shifted and j in (3, 11, 22, 34, 47)
            if kind == 0:
                cols.append(rng.normal(0.2 if s else 0.0, 1.0, n))
            elif kind == 1:
                cols.append(rng.normal(0.0, 1.25 if s else 1.0, n))
            elif kind == 2:
                cols.append(rng.exponential(1.2 if s else 1.0, n))
            elif kind == 3:
                cols.append(rng.uniform(0.1 if s else 0.0, 1.1 if s else 1.0, n))
            else:
                cols.append(rng.poisson(3.3 if s else 3.0, n).astype(np.float64))
        return np.column_stack(cols)

    return draw(n_ref, False), draw(n_cur, True), [3, 11, 22, 34, 47]
