"""Calibration: fit and transform time and ECE, guardrails against scikit-learn (and netcal).

Two synthetic problems where the model is overconfident (its logits are the true ones
scaled up and perturbed): 1,000,000 binary rows and 200,000 rows of 10 classes, each with
a calibration split and a test split of that size. The model is a frozen lookup of
precomputed outputs, so the times are the calibrators' own plus each library's plumbing.
"guardrails" rows time the guard: ``fit`` calls the model, fits, and also calibrates the
calibration rows (outer layers such as abstention are fitted on them); "calibrator
alone" rows time ``Calibrator.fit`` / ``transform`` on logits. scikit-learn runs
CalibratedClassifierCV(FrozenEstimator(model), method=...), on ``predict_proba`` (what it
does for a model without ``decision_function``) and, for sigmoid, on the same logits as
ours through ``decision_function``.
Times are single runs (a second run would double the benchmark's two minutes).

Run: ``.venv/bin/python benchmarks/calibration.py``
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from _timing import fmt_seconds, table
from numpy.typing import NDArray
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from guardrails import (
    expected_calibration_error,
    guard,
    logits_from_proba,
    negative_log_likelihood,
)
from guardrails.calibration.calibrators import make_calibrator


class Lookup(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A 'model' whose input is a row number and whose output is a stored row."""

    def __init__(self, proba: Any = None, margin: bool = False) -> None:
        self.proba = proba
        self.margin = margin

    def fit(self, X: Any, y: Any) -> Lookup:
        self.classes_ = np.arange(self.proba.shape[1])
        self.n_features_in_ = 1
        return self

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        return np.asarray(self.proba[X[:, 0].astype(np.intp)])

    def predict(self, X: Any) -> NDArray[np.intp]:
        return np.asarray(np.argmax(self.predict_proba(X), axis=1))


class MarginLookup(Lookup):
    """The same model seen through logits (``decision_function``), as an SVM would be."""

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        p = np.clip(self.predict_proba(X), 1e-12, 1.0)
        if p.shape[1] == 2:
            return np.asarray(np.log(p[:, 1]) - np.log(p[:, 0]))
        z = np.log(p)
        others = np.stack(
            [np.logaddexp.reduce(np.delete(z, j, axis=1), axis=1) for j in range(z.shape[1])],
            axis=1,
        )
        return np.asarray(z - others)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        return super().predict_proba(X)


def problem(n: int, k: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Overconfident model probabilities ``(2n, k)`` and labels ``(2n,)``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, (2 * n, k))
    cum = np.cumsum(softmax(z, axis=1), axis=1)
    y = (rng.uniform(size=(2 * n, 1)) > cum).sum(axis=1).clip(0, k - 1)
    model_z = 3.0 * z + rng.normal(0.0, 0.5, z.shape) + 0.3 * z**2 / k
    return np.asarray(softmax(model_z, axis=1)), y


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(n: int, k: int) -> list[list[str]]:
    proba, y = problem(n, k, seed=k)
    X = np.arange(2 * n, dtype=np.float64)[:, None]
    X_cal, y_cal, X_test, y_test = X[:n], y[:n], X[n:], y[n:]
    model = Lookup(proba).fit(X, y)
    margins = MarginLookup(proba).fit(X, y)
    raw = proba[n:]
    before = expected_calibration_error(y_test, raw)
    rows: list[list[str]] = []

    def add(name: str, library: str, fit: Callable[[], Any], predict: Callable[[Any], Any]) -> None:
        fitted, t_fit = timed(fit)
        p, t_transform = timed(lambda: predict(fitted))
        after = expected_calibration_error(y_test, p)
        rows.append(
            [
                name,
                library,
                fmt_seconds(t_fit),
                fmt_seconds(t_transform),
                f"{before:.4f}",
                f"{after:.4f}",
                f"{negative_log_likelihood(y_test, p):.4f}",
            ]
        )

    for method in ("temperature", "sigmoid", "isotonic", "histogram", "vector"):
        add(
            method,
            "guardrails",
            lambda m=method: guard(model).calibrate(m).fit(X_cal, y_cal),  # type: ignore[misc]
            lambda g: g.decide(X_test).proba,
        )
        z_cal, z_test = logits_from_proba(proba[:n]), logits_from_proba(raw)
        add(
            method,
            "guardrails (calibrator alone)",
            lambda m=method, z=z_cal: make_calibrator(m).fit(z, y_cal),  # type: ignore[misc]
            lambda c, z=z_test: c.transform(z),  # type: ignore[misc]
        )
        if method in ("histogram", "vector"):  # scikit-learn has neither
            continue
        add(
            method,
            "sklearn (predict_proba)",
            lambda m=method: CalibratedClassifierCV(FrozenEstimator(model), method=m).fit(  # type: ignore[misc]
                X_cal, y_cal
            ),
            lambda c: c.predict_proba(X_test),
        )
        if method == "sigmoid":
            add(
                method,
                "sklearn (decision_function)",
                lambda: CalibratedClassifierCV(FrozenEstimator(margins), method="sigmoid").fit(
                    X_cal, y_cal
                ),
                lambda c: c.predict_proba(X_test),
            )
    return rows


def main() -> None:
    header = ["method", "library", "fit", "transform", "ECE before", "ECE after", "NLL after"]
    warnings.simplefilter("ignore")
    for n, k in ((1_000_000, 2), (200_000, 10)):
        rows = run(n, k)
        print(table(f"\n{n:,} calibration + {n:,} test rows, {k} classes", header, rows))
    try:
        import netcal  # noqa: F401
    except Exception as exc:  # ImportError, or torch missing underneath
        print(
            f"\nnetcal: not compared ({type(exc).__name__}: {exc}). netcal 1.4 imports torch "
            "unconditionally (see PEERS.md); we do not install torch for a benchmark."
        )
    else:
        print("\nnetcal imports here, but this script does not compare it yet.")


if __name__ == "__main__":
    main()
