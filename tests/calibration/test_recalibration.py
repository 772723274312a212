"""Labels that flow back: refitting the calibrator from the review queue."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from guardrails import (
    Calibrated,
    ConfigurationError,
    InvalidInputError,
    MemoryQueue,
    confidence_below,
    guard,
)
from guardrails.calibration.calibrators import recalibrate


def _problem(seed: int, n: int, scale: float) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Two features; the label depends on the first with noise of width ``scale``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + scale * rng.normal(size=n) > 0).astype(int)
    return X, y


def _label_everything(queue: MemoryQueue, X: Any, y: Any) -> None:
    truth = {tuple(np.round(row, 12)): label for row, label in zip(X, y)}
    while True:
        cases = queue.claim("ana", n=500)
        if not cases:
            return
        for case in cases:
            key = tuple(np.round(np.asarray(case.context["input"], dtype=float), 12))
            queue.resolve(case.id, int(truth[key]), reviewer="ana")


def test_recalibrating_from_reviewed_cases_fixes_calibration_after_a_shift() -> None:
    X_train, y_train = _problem(0, 2000, scale=0.3)
    model = LogisticRegression().fit(X_train, y_train)
    X_cal, y_cal = _problem(1, 2000, scale=0.3)
    queue = MemoryQueue()
    g = (
        guard(model)
        .calibrate("temperature")
        .abstain(confidence_below(0.0))
        .review(queue, audit_rate=1.0, seed=0)
    )
    g.fit(X_cal, y_cal)
    # the world got noisier: the same model is now overconfident
    X_new, y_new = _problem(2, 3000, scale=1.5)
    g.decide(X_new)
    _label_everything(queue, X_new, y_new)
    old_temperature = g.layer(Calibrated).calibrator.temperature_  # type: ignore[attr-defined]
    report = g.recalibrate_from(queue)
    assert report.n_cases == 3000
    assert report.n_used == 3000
    assert report.after.ece < report.before.ece / 2
    assert report.after.nll < report.before.nll
    new_temperature = g.layer(Calibrated).calibrator.temperature_  # type: ignore[attr-defined]
    assert new_temperature > old_temperature  # noisier world: softer probabilities
    assert "ece" in str(report)


def test_recalibrate_refuses_what_it_cannot_do() -> None:
    X, y = _problem(0, 500, scale=0.5)
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ConfigurationError, match="calibrate step"):
        recalibrate(guard(model), X, y)
    g = guard(model).calibrate("temperature").fit(X, y)
    with pytest.raises(InvalidInputError, match="at least 20 rows"):
        recalibrate(g, X[:10], y[:10])
    with pytest.raises(ConfigurationError, match="'holdout'"):
        recalibrate(g, X, y, holdout=1.5)
    with pytest.raises(InvalidInputError, match="one label per row"):
        recalibrate(g, X, y[:-1])
    empty = guard(model).calibrate("temperature").review(MemoryQueue()).fit(X, y)
    with pytest.raises(InvalidInputError, match="no labelled case"):
        empty.recalibrate_from(MemoryQueue())
