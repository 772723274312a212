"""GuardedClassifier against the raw estimator and scikit-learn's CalibratedClassifierCV.

Run: ``python benchmarks/estimator.py``. Fit and predict times on 100,000 x 20 rows for:
the raw LogisticRegression, GuardedClassifier with a fixed threshold (no split), with a
held-out learning policy, with 5-fold cross-fitting, and CalibratedClassifierCV(cv=5) as
the scikit-learn meta-estimator of the same shape (it refits per fold too).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import ConfidenceThreshold, GuardedClassifier, confidence_below
from guardrails.core.persistence import persistable


@persistable
class _FittedThreshold(ConfidenceThreshold):
    """A threshold fitted on held-out data (stands in for the learning policies)."""

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__(threshold)
        self.fitted_ = False

    def fit(self, d: Any, y: Any) -> _FittedThreshold:
        self.threshold = float(np.quantile(d.confidence, 0.1))
        self.fitted_ = True
        return self

    def is_fitted(self) -> bool:
        return self.fitted_

    def _to_state(self, enc: Any) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Any) -> _FittedThreshold:
        out = cls(state["threshold"])
        out.fitted_ = True
        return out


def main() -> None:
    X, y = make_classification(n_samples=100_000, n_features=20, n_informative=10, random_state=0)
    lr = LogisticRegression(max_iter=1000)
    candidates = [
        ("raw LogisticRegression", lambda: LogisticRegression(max_iter=1000)),
        (
            "GuardedClassifier, fixed threshold",
            lambda: GuardedClassifier(lr, policy=confidence_below(0.8)),
        ),
        (
            "GuardedClassifier, held-out 25%",
            lambda: GuardedClassifier(lr, policy=_FittedThreshold(), random_state=0),
        ),
        ("GuardedClassifier, cv=5", lambda: GuardedClassifier(lr, policy=_FittedThreshold(), cv=5)),
        (
            "CalibratedClassifierCV(cv=5, sigmoid)",
            lambda: CalibratedClassifierCV(lr, cv=5, method="sigmoid"),
        ),
    ]
    rows = []
    raw_fit = raw_predict = 0.0
    for name, make in candidates:
        fit = median_seconds(lambda make=make: make().fit(X, y), repeats=3)
        est = make().fit(X, y)
        predict = median_seconds(lambda est=est: est.predict(X), repeats=5)
        if not raw_fit:
            raw_fit, raw_predict = fit, predict
        rows.append(
            [
                name,
                fmt_seconds(fit),
                f"{fit / raw_fit:5.2f}x",
                fmt_seconds(predict),
                f"{predict / raw_predict:5.2f}x",
            ]
        )
    print(
        table(
            "fit and predict on 100,000 x 20 (median of repeats; ratios to the raw model)",
            ["estimator", "fit", "fit ratio", "predict", "predict ratio"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
