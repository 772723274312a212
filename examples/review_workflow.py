"""Human review end to end: queue what the guard withholds, label it, measure, recalibrate.

Run: python examples/review_workflow.py  (writes review-example.db in a temporary folder)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from guardrails import confidence_below, guard, open_queue, realized_accuracy


def main() -> None:
    X, y = make_classification(n_samples=6000, n_features=8, flip_y=0.05, random_state=0)
    model = LogisticRegression().fit(X[:2000], y[:2000])
    folder = Path(tempfile.mkdtemp())
    queue = open_queue(f"sqlite:///{folder / 'review-example.db'}")

    g = (
        guard(model, name="review-example", version="1")
        .calibrate("temperature")
        .abstain(confidence_below(0.8))
        .review(queue, audit_rate=0.05, seed=0)  # also audit 5% of confident answers
        .fit(X[2000:3000], y[2000:3000])
    )
    d = g.decide(X[3000:])
    print(d)
    print("queued:", queue.stats().counts)

    # a reviewer works the queue; here the true labels play the reviewer
    while cases := queue.claim("ana", n=200, lease=60):
        for case in cases:
            queue.resolve(case.id, int(y[3000 + case.context["row"]]), reviewer="ana")
    print("after review:", queue.stats().counts)

    acc = realized_accuracy(queue)
    print(
        f"realized accuracy of answers (from the audit sample): {acc.answered.accuracy:.3f} "
        f"[{acc.answered.low:.3f}, {acc.answered.high:.3f}]"
    )
    print(f"the model would have been right on {acc.withheld.accuracy:.1%} of withheld rows")
    print(g.recalibrate_from(queue))
    queue.close()
    assert np.isfinite(acc.answered.accuracy)


if __name__ == "__main__":
    main()
