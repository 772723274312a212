"""The end-to-end demo behind ``python -m guardrails demo``: a model meets real traffic."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from guardrails.decisions import Decisions
from guardrails.guard import Guard

__all__ = ["PhaseSummary", "run_demo"]


@dataclass(frozen=True)
class PhaseSummary:
    """What the guard did with one phase of traffic."""

    phase: str
    requests: int
    answered: int
    abstained_by_reason: dict[str, int]
    answered_by_stage: dict[str, int]
    guarded_accuracy: float
    unguarded_accuracy: float

    def row(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.abstained_by_reason.items()))
        return (
            f"{self.phase:<18} {self.requests:>8} {self.answered:>8} "
            f"{_pct(self.guarded_accuracy):>9} {_pct(self.unguarded_accuracy):>9}  {reasons or '-'}"
        )


def _pct(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{100 * x:.1f}%"


def _accuracy(pred: NDArray[Any], y: NDArray[Any], mask: NDArray[np.bool_]) -> float:
    return float(np.mean(pred[mask] == y[mask])) if mask.any() else float("nan")


def summarize(
    phase: str, d: Decisions, y: NDArray[Any], unguarded: NDArray[Any], valid: NDArray[np.bool_]
) -> PhaseSummary:
    """Summary of one phase; the unguarded model is scored on the rows it could read."""
    return PhaseSummary(
        phase=phase,
        requests=len(d),
        answered=int(d.answered.sum()),
        abstained_by_reason=d.reason_counts(),
        answered_by_stage=d.stage_counts(),
        guarded_accuracy=_accuracy(d.prediction, y, d.answered),
        unguarded_accuracy=_accuracy(unguarded, y, valid),
    )


def build_demo_guard(seed: int = 0) -> tuple[Guard, dict[str, Any]]:
    """Train a classifier on a dataset that ships with scikit-learn and guard it."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from guardrails.abstention import confidence_below
    from guardrails.guard import guard

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.5, random_state=seed, stratify=y
    )
    X_cal, X_test, y_cal, y_test = train_test_split(
        X_rest, y_rest, test_size=0.6, random_state=seed, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    model.fit(X_train, y_train)
    g = guard(model, name="breast-cancer", version="1").abstain(confidence_below(0.9)).build()
    g.fit(X_cal, y_cal)
    data = {"model": model, "X_test": X_test, "y_test": y_test, "X_train": X_train}
    return g, data


def run_demo(out: TextIO | None = None, seed: int = 0) -> list[PhaseSummary]:
    """Run the demo, print a table per phase to ``out`` and return the summaries."""
    stream = out or sys.stdout
    say: Callable[[str], None] = lambda text: print(text, file=stream, flush=True)  # noqa: E731
    rng = np.random.default_rng(seed)

    say("[1/3] Training a classifier on scikit-learn's breast-cancer data ...")
    g, data = build_demo_guard(seed)
    model, X_test, y_test = data["model"], data["X_test"], data["y_test"]
    say(f"      guard: {g!r}")

    say("[2/3] Serving traffic in phases ...")
    phases: list[tuple[str, NDArray[Any], NDArray[Any]]] = []
    phases.append(("normal traffic", X_test, y_test))
    bad = X_test.copy()
    rows = rng.choice(len(bad), size=len(bad) // 5, replace=False)
    bad[rows[: len(rows) // 2], 0] = np.nan
    bad[rows[len(rows) // 2 :], 3] = np.inf
    phases.append(("malformed inputs", bad, y_test))
    noisy = X_test + rng.normal(0, 0.6 * X_test.std(axis=0), size=X_test.shape)
    phases.append(("noisy inputs", noisy, y_test))

    summaries: list[PhaseSummary] = []
    for name, X, y in phases:
        d = g.decide(X)
        valid = np.isfinite(X).all(axis=1)
        unguarded = np.full(len(X), -1)
        unguarded[valid] = model.predict(X[valid])
        summaries.append(summarize(name, d, y, unguarded, valid))

    say("[3/3] Summary (accuracy of the guard on the rows it answered vs the bare model)")
    say(f"{'phase':<18} {'requests':>8} {'answered':>8} {'guarded':>9} {'unguarded':>9}  withheld")
    for s in summaries:
        say(s.row())
    say("Every request got a decision; every withheld one says why.")
    return summaries
