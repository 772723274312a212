"""Overhead of the guard against the raw model call: one record and a 100,000 x 20 batch.

Run: ``python benchmarks/overhead.py``. Prints medians of repeats and the ratio
guarded / raw for LogisticRegression.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import confidence_below, guard


def main() -> None:
    X, y = make_classification(n_samples=100_000, n_features=20, n_informative=10, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X[:20_000], y[:20_000])
    bare = guard(model)
    guarded = guard(model).abstain(confidence_below(0.8)).fit(X[:5_000], y[:5_000])
    one = X[0]
    one_2d = X[:1]

    rows = []
    raw_one = median_seconds(lambda: model.predict_proba(one_2d), repeats=7, number=300)
    for label, g in (("guard, no layers", bare), ("guard + abstain", guarded)):
        t = median_seconds(lambda g=g: g.decide_one(one), repeats=7, number=300)
        rows.append(
            [
                label,
                "1 record",
                fmt_seconds(raw_one),
                fmt_seconds(t),
                f"{t / raw_one:5.2f}x",
                f"{(t - raw_one) * 1e6:7.1f} us",
            ]
        )
    raw_batch = median_seconds(lambda: model.predict_proba(X), repeats=5)
    for label, g in (("guard, no layers", bare), ("guard + abstain", guarded)):
        t = median_seconds(lambda g=g: g.decide(X), repeats=5)
        rows.append(
            [
                label,
                "100,000 x 20",
                fmt_seconds(raw_batch),
                fmt_seconds(t),
                f"{t / raw_batch:5.2f}x",
                f"{(t - raw_batch) * 1e3:7.2f} ms",
            ]
        )
    print(
        table(
            "Guard overhead vs LogisticRegression.predict_proba (median of repeats)",
            ["stack", "input", "raw model", "guarded", "ratio", "added"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
