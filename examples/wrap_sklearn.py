"""Wrap a scikit-learn model as an estimator: Pipeline, GridSearchCV and our scorers.

Run: python examples/wrap_sklearn.py
"""

from __future__ import annotations

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from guardrails import ConfidenceThreshold, GuardedClassifier
from guardrails.apps.scoring import SelectiveAccuracy


def main() -> None:
    X, y = make_classification(n_samples=3000, n_features=10, flip_y=0.08, random_state=0)
    guarded = GuardedClassifier(
        make_pipeline(StandardScaler(), LogisticRegression()),
        calibration="temperature",
        policy=ConfidenceThreshold(0.7),
        marker=-1,
        random_state=0,
    )
    print(
        "cross-validated accuracy (withheld rows count as wrong):",
        cross_val_score(guarded, X, y, cv=3).round(3),
    )

    # choose the abstention threshold for the best accuracy while answering >= 70% of rows
    search = GridSearchCV(
        guarded,
        {"policy": [ConfidenceThreshold(t) for t in (0.55, 0.65, 0.75, 0.85, 0.95)]},
        scoring=SelectiveAccuracy(min_coverage=0.7),
        cv=3,
    ).fit(X[:2000], y[:2000])
    print("chosen:", search.best_params_["policy"], "score:", round(search.best_score_, 3))

    best = search.best_estimator_
    d = best.decide(X[2000:])
    answered = d.answered
    print(
        f"answered {answered.mean():.0%}, accuracy on those "
        f"{(d.prediction[answered] == y[2000:][answered]).mean():.1%}"
    )
    print("labels with the abstention marker:", best.predict(X[2000:2010]))


if __name__ == "__main__":
    main()
