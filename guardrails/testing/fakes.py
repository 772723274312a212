"""Fake models that fail, stall or overconfide, and inputs that drift, to exercise a guard."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any, Literal

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError

__all__ = [
    "DriftingInputs",
    "FailingModel",
    "OverconfidentModel",
    "SlowModel",
]


_PREDICT_METHODS = ("predict_proba", "decision_function", "predict")


class _Wrapped:
    """Delegates to a fitted model, rewriting the outputs of its predict methods.

    Only the methods the wrapped model has are exposed, so the adapter sees the same
    kind of model (classifier with probabilities, scores only, regressor...).
    """

    def __init__(self, model: Any) -> None:
        if not any(callable(getattr(model, m, None)) for m in _PREDICT_METHODS):
            raise ConfigurationError(
                f"The 'model' parameter of {type(self).__name__} must be a fitted model with "
                f"predict_proba, decision_function or predict. Got {type(model).__name__}."
            )
        self.model = model

    def _rewrite(self, method: str, X: Any, out: Any) -> Any:
        return out

    def _before(self, X: Any) -> None:
        """Called before every prediction (a fake may raise or sleep here)."""

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not yet set: during unpickling
            raise AttributeError(name)
        attr = getattr(self.model, name)
        if name not in _PREDICT_METHODS:
            return attr

        def method(X: Any) -> Any:
            self._before(X)
            return self._rewrite(name, X, attr(X))

        return method

    def __sklearn_tags__(self) -> Any:
        return self.model.__sklearn_tags__()


def _row_mask(when: Callable[[Any], bool], X: Any, owner: str) -> NDArray[np.bool_]:
    """``when(row)`` for every row of batch ``X``.

    A predicate that raises (or returns something without a truth value) fails the test
    at once with ``pytest.fail``, whose exception the guard does not catch: raised inside
    the model, it would become a model error on every row, and a test expecting model
    errors would pass for the wrong reason.
    """
    if hasattr(X, "iloc"):
        rows: Any = [X.iloc[i] for i in range(len(X))]
    else:
        rows = X
    mask = np.zeros(len(rows), dtype=bool)
    for i, row in enumerate(rows):
        try:
            mask[i] = bool(when(row))
        except Exception as exc:
            pytest.fail(
                f"the 'when' predicate of {owner} failed on row {i} ({row!r}) with "
                f"{type(exc).__name__}: {exc}. Inside the model it would have been reported "
                "as a model error, so the test would have passed for the wrong reason.",
                pytrace=False,
            )
    return mask


def _check_when(owner: str, when: Any, *, optional: bool) -> None:
    if (when is None and optional) or callable(when):
        return
    expected = "a callable row -> bool" + (" or None" if optional else "")
    raise ConfigurationError(
        f"The 'when' parameter of {owner} must be {expected}. Got {when!r} instead."
    )


class FailingModel(_Wrapped):
    """A model that fails on the rows you choose.

    Args:
        model: a fitted model to delegate the other rows to.
        when: ``row -> bool``; True for rows that make the model fail.
        mode: ``"raise"`` raises ``error`` when the batch holds any such row (the whole
            batch fails, as a crashing remote model does); ``"nan"`` returns NaN outputs
            for those rows only (a model that silently breaks on some inputs).
        error: the exception (an instance or a class) raised in mode ``"raise"``.

    A ``when`` that raises, and NaN outputs that a label-returning model cannot carry,
    fail the test with ``pytest.fail`` instead of turning into model errors that a test
    expecting model errors would take for the fake working.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import guard
        >>> from guardrails.testing import FailingModel
        >>> X = np.array([[0.0], [1.0], [0.2], [0.9]]); y = np.array([0, 1, 0, 1])
        >>> flaky = FailingModel(LogisticRegression().fit(X, y), when=lambda r: r[0] > 5,
        ...                      mode="nan")
        >>> guard(flaky).decide(np.array([[0.1], [9.0]])).reason_counts()
        {'model_error': 1}
    """

    def __init__(
        self,
        model: Any,
        *,
        when: Callable[[Any], bool],
        mode: Literal["raise", "nan"] = "raise",
        error: Exception | type[Exception] | None = None,
    ) -> None:
        super().__init__(model)
        _check_when("FailingModel", when, optional=False)
        is_class = isinstance(error, type) and issubclass(error, Exception)
        if error is not None and not is_class and not isinstance(error, Exception):
            raise ConfigurationError(
                "The 'error' parameter of FailingModel must be an exception, e.g. "
                f"TimeoutError('upstream'), or an exception class. Got {error!r} instead."
            )
        if mode not in ("raise", "nan"):
            raise ConfigurationError(
                f"The 'mode' parameter of FailingModel must be 'raise' or 'nan'. Got {mode!r}."
            )
        self.when = when
        self.mode = mode
        self.error = RuntimeError("the model failed on this input") if error is None else error
        self.calls = 0

    def _before(self, X: Any) -> None:
        self.calls += 1
        if self.mode == "raise" and _row_mask(self.when, X, "FailingModel").any():
            raise self.error

    def _rewrite(self, method: str, X: Any, out: Any) -> Any:
        if self.mode == "raise":
            return out
        bad = _row_mask(self.when, X, "FailingModel")
        try:
            arr = np.array(out, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            pytest.fail(
                f"FailingModel(mode='nan') cannot put NaN into the output of "
                f"{type(self.model).__name__}.{method} ({np.asarray(out).dtype} values); "
                "use mode='raise' for a model that returns labels.",
                pytrace=False,
            )
        arr[bad] = np.nan
        return arr

    def __repr__(self) -> str:
        return f"FailingModel({type(self.model).__name__}, mode={self.mode!r})"


class SlowModel(_Wrapped):
    """A model that sleeps before answering, to exercise timeouts.

    Args:
        model: a fitted model to delegate to.
        delay: seconds to sleep per call.
        when: ``row -> bool``; sleep only when the batch holds such a row (always if None).
    """

    def __init__(
        self, model: Any, *, delay: float, when: Callable[[Any], bool] | None = None
    ) -> None:
        super().__init__(model)
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not delay >= 0:
            raise ConfigurationError(
                f"The 'delay' parameter of SlowModel must be a number of seconds >= 0. "
                f"Got {delay!r} instead."
            )
        _check_when("SlowModel", when, optional=True)
        self.delay = float(delay)
        self.when = when
        self.calls = 0

    def _before(self, X: Any) -> None:
        self.calls += 1
        if self.when is None or _row_mask(self.when, X, "SlowModel").any():
            time.sleep(self.delay)

    def __repr__(self) -> str:
        return f"SlowModel({type(self.model).__name__}, delay={self.delay!r})"


class OverconfidentModel(_Wrapped):
    """A classifier whose probabilities are sharpened: confident and often wrong.

    The probabilities become ``softmax(log(p) / temperature)``: the argmax (and so the
    accuracy) is unchanged while the confidence rises towards 1, which is what an
    uncalibrated deep model or a naive Bayes does. Calibration should undo it.

    Args:
        model: a fitted classifier with ``predict_proba``.
        temperature: in (0, 1); smaller is more overconfident.
    """

    def __init__(self, model: Any, *, temperature: float = 0.25) -> None:
        super().__init__(model)
        if not callable(getattr(model, "predict_proba", None)):
            raise ConfigurationError(
                "The 'model' parameter of OverconfidentModel must have predict_proba. "
                f"Got {type(model).__name__}."
            )
        ok = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
        if not ok or not 0.0 < temperature < 1.0:
            raise ConfigurationError(
                "The 'temperature' parameter of OverconfidentModel must be a float in (0, 1). "
                f"Got {temperature!r} instead."
            )
        self.temperature = float(temperature)

    def _rewrite(self, method: str, X: Any, out: Any) -> Any:
        if method != "predict_proba":
            return out
        logp = np.log(np.clip(np.asarray(out, dtype=np.float64), 1e-300, None)) / self.temperature
        logp -= logp.max(axis=1, keepdims=True)
        p = np.exp(logp)
        return p / p.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return f"OverconfidentModel({type(self.model).__name__}, temperature={self.temperature!r})"


class DriftingInputs:
    """A generator of input batches that drift away from a reference sample.

    Batch ``t`` (from 0) resamples rows of ``reference`` and adds ``t * step`` standard
    deviations to the chosen features, so batch 0 looks like the reference and later
    batches drift further.

    Args:
        reference: ``(n_samples, n_features)`` numeric training-like data.
        features: column indices that drift.
        step: shift per batch, in standard deviations of each feature.
        batch_size: rows per batch.
        seed: seed of the resampling, for reproducible tests.

    Examples:
        >>> import numpy as np
        >>> from guardrails.testing import DriftingInputs
        >>> ref = np.random.default_rng(0).normal(size=(1000, 3))
        >>> stream = DriftingInputs(ref, features=[1], step=1.0, batch_size=500, seed=0)
        >>> [round(float(b[:, 1].mean() - ref[:, 1].mean())) for b in stream.take(3)]
        [0, 1, 2]
    """

    def __init__(
        self,
        reference: Any,
        *,
        features: Collection[int],
        step: float = 0.5,
        batch_size: int = 1000,
        seed: int = 0,
    ) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[0] < 2:
            raise ConfigurationError(
                "The 'reference' parameter of DriftingInputs must be a 2-D numeric array with "
                f"at least 2 rows. Got shape {ref.shape}."
            )
        cols = [int(f) for f in features]
        if not cols or any(not 0 <= c < ref.shape[1] for c in cols):
            raise ConfigurationError(
                "The 'features' parameter of DriftingInputs must list column indices in "
                f"[0, {ref.shape[1]}). Got {list(features)!r} instead."
            )
        finite = isinstance(step, (int, float)) and not isinstance(step, bool)
        if not finite or not math.isfinite(step):
            raise ConfigurationError(
                "The 'step' parameter of DriftingInputs must be a finite number of standard "
                f"deviations. Got {step!r} instead."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(
                f"The 'batch_size' parameter of DriftingInputs must be an int >= 1. "
                f"Got {batch_size!r} instead."
            )
        self.reference = ref
        self.features = cols
        self.step = float(step)
        self.batch_size = batch_size
        self.seed = seed
        self._scale = ref[:, cols].std(axis=0)

    def batch(self, t: int) -> NDArray[np.float64]:
        """Batch number ``t``: ``(batch_size, n_features)``, shifted by ``t * step`` SDs."""
        rng = np.random.default_rng([self.seed, t])
        rows = self.reference[rng.integers(0, self.reference.shape[0], self.batch_size)]
        rows[:, self.features] += t * self.step * self._scale
        return rows

    def take(self, n: int) -> list[NDArray[np.float64]]:
        """The first ``n`` batches."""
        return [self.batch(t) for t in range(n)]

    def __iter__(self) -> Iterator[NDArray[np.float64]]:
        t = 0
        while True:
            yield self.batch(t)
            t += 1

    def __repr__(self) -> str:
        return (
            f"DriftingInputs(features={self.features!r}, step={self.step!r}, "
            f"batch_size={self.batch_size!r}, seed={self.seed!r})"
        )
