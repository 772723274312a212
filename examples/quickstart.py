"""Quickstart: guard a scikit-learn model, decide, and read why rows were withheld.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from guardrails import ConformalSets, guard, infer_schema


def main() -> None:
    data = load_breast_cancer()
    X_train, X_rest, y_train, y_rest = train_test_split(
        data.data, data.target, test_size=0.5, random_state=0, stratify=data.target
    )
    X_cal, X_test, y_cal, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)

    schema = infer_schema(X_train, names=list(data.feature_names))
    g = (
        guard(model, name="quickstart")
        .validate(schema)
        .calibrate("temperature")
        .abstain(ConformalSets(alpha=0.05))  # answer only when the 95% set has one label
        .fit(X_cal, y_cal)
    )

    X_live = X_test.copy()
    X_live[0, 3] = np.nan  # production sends broken rows too
    d = g.decide(X_live)
    print(d)
    answered = d.answered
    accuracy = np.mean(d.prediction[answered] == y_test[answered])
    print(f"answered {answered.mean():.0%} of rows, accuracy on those {accuracy:.1%}")
    print("withheld by reason:", d.reason_counts())
    first = d[0]
    print(f"row 0: abstained={first.abstained} reason={first.reason} detail={first.detail!r}")
    print("one record:", g.decide_one(X_test[1]))


if __name__ == "__main__":
    main()
