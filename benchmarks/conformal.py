"""Split conformal sets (LAC) against MAPIE and crepes on the same split.

Run: ``python benchmarks/conformal.py``. 200,000 rows, 3 classes, LogisticRegression,
alpha 0.1: 40,000 rows train the model, 60,000 calibrate, 100,000 are the test set.
Prints calibration time, prediction-set time, coverage and mean set size for each
library, the raw ``predict_proba`` time, and whether the sets equal MAPIE's.
MAPIE and crepes are optional: install ``mapie==1.6.0`` and ``crepes==0.9.1`` by hand;
a missing one is reported, not fatal. crepes computes p-values per test row in Python,
so it gets the first 20,000 test rows only (said in the table).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import ConformalSets, guard
from guardrails.apps import outcomes

ALPHA = 0.1
CREPES_ROWS = 20_000


def _once(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _coverage(sets: np.ndarray, y: np.ndarray) -> float:
    return float(sets[np.arange(len(y)), y].mean())


def main() -> None:
    X, y = make_classification(
        n_samples=200_000,
        n_features=20,
        n_informative=8,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=0.7,
        random_state=0,
    )
    X_train, y_train = X[:40_000], y[:40_000]
    X_cal, y_cal = X[40_000:100_000], y[40_000:100_000]
    X_test, y_test = X[100_000:], y[100_000:]
    model = LogisticRegression(max_iter=1000).fit(X_train, y_train)

    rows = []
    raw = median_seconds(lambda: model.predict_proba(X_test), repeats=5)
    rows.append(["predict_proba (raw model)", "-", fmt_seconds(raw), "-", "-", "-"])

    def ours_fit() -> Any:
        return guard(model).abstain(ConformalSets(ALPHA, max_set_size=None)).fit(X_cal, y_cal)

    g = ours_fit()
    t_cal = median_seconds(ours_fit, repeats=7)
    t_set = median_seconds(lambda: g.decide(X_test), repeats=7)
    d = g.decide(X_test)
    ours = d.pred_set
    assert ours is not None
    rows.append(
        [
            "guardrails ConformalSets (guard)",
            fmt_seconds(t_cal),
            fmt_seconds(t_set),
            f"{t_set / raw:5.2f}x",
            f"{outcomes.coverage(d, y_test):.4f}",
            f"{outcomes.mean_set_size(d):.4f}",
        ]
    )
    policy = g.layer(type(g.stack)).policy  # type: ignore[attr-defined]
    bare = guard(model).decide(X_test)
    t_policy = median_seconds(lambda: policy.evaluate(bare), repeats=5)
    rows.append(["  of which the policy alone", "-", fmt_seconds(t_policy), "-", "-", "-"])

    identical = "MAPIE not installed"
    try:
        from mapie.classification import SplitConformalClassifier
    except ImportError:
        rows.append(["MAPIE: could not import mapie", "-", "-", "-", "-", "-"])
    else:

        def mapie_fit() -> Any:
            m = SplitConformalClassifier(
                estimator=model, confidence_level=1 - ALPHA, conformity_score="lac", prefit=True
            )
            return m.conformalize(X_cal, y_cal)

        mapie = mapie_fit()
        m_cal = median_seconds(mapie_fit, repeats=7)
        m_set = median_seconds(lambda: mapie.predict_set(X_test), repeats=7)
        theirs = mapie.predict_set(X_test)[1][:, :, 0]
        identical = (
            "yes"
            if np.array_equal(theirs, ours)
            else (f"NO ({int((theirs != ours).sum())} cells differ)")
        )
        rows.append(
            [
                "MAPIE SplitConformalClassifier LAC",
                fmt_seconds(m_cal),
                fmt_seconds(m_set),
                f"{m_set / raw:5.2f}x",
                f"{_coverage(theirs, y_test):.4f}",
                f"{theirs.sum(axis=1).mean():.4f}",
            ]
        )
        rows.append(
            [
                "  guardrails / MAPIE",
                f"{t_cal / m_cal:5.2f}x",
                f"{t_set / m_set:5.2f}x",
                "-",
                "-",
                "-",
            ]
        )

    crepes_same = "crepes not installed"
    try:
        from crepes import WrapClassifier
    except ImportError:
        rows.append(["crepes: could not import crepes", "-", "-", "-", "-", "-"])
    else:
        wrapped = WrapClassifier(model)
        c_cal, _ = _once(lambda: wrapped.calibrate(X_cal, y_cal))
        Xc, yc = X_test[:CREPES_ROWS], y_test[:CREPES_ROWS]
        c_set, sets = _once(
            lambda: wrapped.predict_set(Xc, labels=False, confidence=1 - ALPHA, smoothing=False)
        )
        sets = np.asarray(sets, dtype=bool)
        same = int((sets == ours[:CREPES_ROWS]).all(axis=1).sum())
        crepes_same = f"{same} of {CREPES_ROWS} rows"
        t_ours_sub = median_seconds(lambda: g.decide(Xc), repeats=7)
        rows.append(
            [
                f"crepes WrapClassifier (first {CREPES_ROWS:,} test rows)",
                fmt_seconds(c_cal),
                fmt_seconds(c_set),
                "-",
                f"{_coverage(sets, yc):.4f}",
                f"{sets.sum(axis=1).mean():.4f}",
            ]
        )
        rows.append(
            [
                f"  guardrails on the same {CREPES_ROWS:,} rows / crepes",
                f"{t_cal / c_cal:5.2f}x",
                f"{t_ours_sub / c_set:7.4f}x",
                "-",
                "-",
                "-",
            ]
        )

    print(
        table(
            f"Split conformal LAC, alpha={ALPHA}: 60,000 calibration rows, 100,000 test rows, "
            "3 classes (median of repeats; crepes timed once)",
            ["library", "calibrate", "sets", "sets / raw", "coverage", "mean size"],
            rows,
        )
    )
    print(f"sets identical to MAPIE's: {identical}")
    print(f"crepes (smoothing=False) sets equal to ours: {crepes_same}")


if __name__ == "__main__":
    main()
