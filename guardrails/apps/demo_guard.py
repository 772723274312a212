"""The demo's model and guard: a classifier behind a flaky network hop, and its full guard."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import ConformalSets
from guardrails.builder import Guard, guard
from guardrails.calibration.calibrators import TemperatureScaling, logits_from_proba
from guardrails.core.workers import WorkerPool
from guardrails.fallback.breaker import CircuitBreaker
from guardrails.fallback.chain import (
    ModelStage,
    Rule,
    on_circuit_open,
    on_error,
    on_invalid_input,
    on_timeout,
)
from guardrails.monitoring.drift import DriftProfile
from guardrails.monitoring.monitor import Tighten
from guardrails.observability.telemetry import Metrics
from guardrails.review.backends import open_queue
from guardrails.review.memory import MemoryQueue
from guardrails.review.queue import ReviewQueue
from guardrails.validation.schema import infer_schema

__all__ = ["CallClock", "FlakyModel", "build_demo_guard"]

BATCH = 10  # rows per call in the demo's traffic


class FlakyModel:
    """A trained classifier behind an unreliable network hop, for the demo's bad phase.

    Faults go by row, not by clock or call order: each row's fate is a number in [0, 1)
    drawn from a hash of the row's bytes keyed by ``seed``, so the same rows fail in every
    run with that seed, for the guard and for the bare model alike. A call raises
    ``ConnectionError`` when one of its rows drew below ``failure_rate``, and hangs when
    one drew in the next ``hang_rate``: it sleeps ``hang`` seconds or until
    ``release()``, then answers. Both rates
    are per row: with 10 rows a call, a row rate of 0.035 fails about 30% of the calls.
    While both rates are zero it is the model itself.
    """

    def __init__(self, model: Any, *, seed: int = 0) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_
        self.failure_rate = 0.0
        self.hang_rate = 0.0
        self.hang = 10.0
        self.sleep = True  # False: a hung call answers at once (the bare model's replay)
        self._key = int(seed).to_bytes(8, "little", signed=True)
        self._released = threading.Event()

    def draws(self, X: Any) -> NDArray[np.float64]:
        """``(n_rows,)`` the fate of each row: a seeded hash of its bytes, in [0, 1)."""
        rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        # Demo code, 10 rows a call: one keyed hash per row is cheap and needs no state.
        return np.array(
            [
                int.from_bytes(
                    hashlib.blake2b(r.tobytes(), key=self._key, digest_size=8).digest(), "little"
                )
                / 2.0**64
                for r in rows.reshape(len(rows), -1)
            ],
            dtype=np.float64,
        )

    def predict_proba(self, X: Any) -> Any:
        if self.failure_rate or self.hang_rate:
            draw = self.draws(X)
            if (draw < self.failure_rate).any():
                raise ConnectionError("model server reset the connection")
            if self.sleep and (draw < self.failure_rate + self.hang_rate).any():
                self._released.wait(self.hang)
        return self.model.predict_proba(X)

    def release(self) -> None:
        """End the hangs in progress now (the demo calls it once the guard gave up on them)."""
        self._released.set()

    def rearm(self) -> None:
        """Let the next hang last ``hang`` seconds again."""
        self._released.clear()


class CallClock:
    """A clock that ticks once per request: the demo's breaker cools down in calls, not
    seconds, so how long it stays open does not depend on the machine's speed."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> float:
        return float(self.calls)


def build_demo_guard(
    seed: int = 0,
    out: Path | None = None,
    log_file: TextIO | None = None,
    *,
    clock: CallClock | None = None,
) -> tuple[Guard, dict[str, Any]]:
    """Train a classifier on scikit-learn's breast-cancer data and build the full guard.

    With a ``CallClock`` (as the demo passes) nothing reads the wall clock for a
    decision but the primary's timeout: faults go by row (`FlakyModel`) and the breaker
    cools down for ten ticks of that clock, which the demo ticks once per call, so a seed
    gives the same decisions on any machine that scores ten rows in less than the 2 s
    timeout. Without one (a server, as in ``examples/fastapi_service.py``) the breaker
    cools down for 0.05 s of ``time.monotonic``.

    Returns the fitted guard and the pieces the demo uses (data, models, queue, metrics,
    the worker pool that runs calls under the timeout).
    """
    # Third-party modules the demo alone needs, imported when it runs.
    import structlog
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X, y, names = data.data, data.target, list(data.feature_names)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.6, random_state=seed, stratify=y
    )
    X_cal, X_pool, y_cal, y_pool = train_test_split(
        X_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=5000))
    model.fit(X_train, y_train)
    backup = make_pipeline(StandardScaler(), GaussianNB()).fit(X_train, y_train)
    primary = FlakyModel(model, seed=seed)
    workers = WorkerPool()  # run_demo waits for it to be idle between calls

    worst_radius = names.index("worst radius")

    def size_rule(rows: Any) -> list[Any]:
        """A clinician's rule that copes with partial rows: very large tumours are malignant."""
        out: list[Any] = []
        for row in rows:
            value = row[worst_radius] if len(row) > worst_radius else None
            big = isinstance(value, (int, float)) and np.isfinite(value) and 25.0 < value < 40.0
            out.append(0 if big else None)
        return out

    schema = infer_schema(X_train, names=names)
    # The monitor sees calibrated confidence, so its reference is calibrated too (the same
    # temperature the guard fits below): raw training confidence would read as drift.
    temperature = TemperatureScaling().fit(logits_from_proba(model.predict_proba(X_cal)), y_cal)
    proba_train = temperature.transform(logits_from_proba(model.predict_proba(X_train)))
    profile = DriftProfile.from_data(
        X_train,
        feature_names=names,
        predictions=model.predict(X_train),
        confidence=proba_train.max(axis=1),
    )
    queue: ReviewQueue = MemoryQueue() if out is None else open_queue(f"sqlite:///{out}")
    metrics = Metrics(window=500)
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=log_file if log_file is not None else sys.stderr),
        processors=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
    )
    g = (
        guard(primary, name="tumour-triage", version="1")
        .validate(schema, on_invalid="fallback")
        .novelty(X_train, alpha=0.01)  # rows unlike the training data: withheld, whatever
        .calibrate("temperature")
        .abstain(ConformalSets(alpha=0.02, max_set_size=1))  # the model is right 96% of the time
        .monitor(
            profile,
            window=200,
            mode="tumbling",
            tests=("ks",),
            alpha=0.01,
            correction="bonferroni",
            action=Tighten(threshold=0.9, delta=0.09),
            logger=logger,
        )
        .fallback(
            ModelStage(backup, name="backup", when=on_error() | on_timeout() | on_circuit_open()),
            Rule(size_rule, name="size_rule", when=on_invalid_input()),
            primary_timeout=2.0,  # a hung call sleeps until released (run_demo)
            workers=workers,
            primary_breaker=CircuitBreaker(
                name="primary",
                failure_rate=0.25,
                window=20,
                min_calls=10,
                cool_down=0.05 if clock is None else 10.0,  # seconds, or ticks of the clock
                clock=time.monotonic if clock is None else clock,
                logger=logger,
            ),
        )
        .review(queue, audit_rate=0.02, seed=seed)
        .log(logger, metrics=metrics, max_row_events=BATCH)
    )
    g.fit(X_cal, y_cal)
    return g, {
        "model": model,
        "primary": primary,
        "backup": backup,
        "names": names,
        "X_train": X_train,
        "X_cal": X_cal,
        "y_cal": y_cal,
        "X_pool": X_pool,
        "y_pool": y_pool,
        "queue": queue,
        "metrics": metrics,
        "workers": workers,
    }
