"""Helpers for testing your own guard: assertions, fake models, log capture, strategies.

Installed as a pytest plugin (the ``captured_events`` fixture is available in every test
once ``predict-guardrails`` is installed); everything else is imported from here:

    from guardrails.testing import assert_abstains, FailingModel, valid_records

Assertions raise ``AssertionError`` with a message that says what the guard did instead,
so a failing test reads like a bug report. Hypothesis is imported only when a strategy is
built, so the plugin costs nothing to projects that do not use it.
"""

from __future__ import annotations

import enum
import math
import time
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

import numpy as np
import pytest
from numpy.typing import NDArray

from guardrails.abstention.policy import _no_candidate
from guardrails.apps.outcomes import coverage
from guardrails.core.decisions import Decision, Decisions, Reason
from guardrails.core.errors import ConfigurationError
from guardrails.core.layer import Layer, _is_frame, one_row_batch

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy
    from pydantic import BaseModel

__all__ = [
    "BrokenRule",
    "DriftingInputs",
    "FailingModel",
    "OverconfidentModel",
    "SlowModel",
    "assert_abstains",
    "assert_abstention_rate",
    "assert_answers",
    "assert_coverage",
    "captured_events",
    "invalid_records",
    "valid_records",
]

ReasonLike = Union[Reason, str, int]  # noqa: UP007 - a runtime alias on Python 3.10


# -- assertions -----------------------------------------------------------------------------


def _reason(value: ReasonLike) -> Reason:
    if isinstance(value, Reason):
        return value
    if isinstance(value, str):
        try:
            return Reason[value.upper()]
        except KeyError:
            names = ", ".join(str(r) for r in Reason)
            raise ConfigurationError(
                f"The 'reason' parameter must name a Reason ({names}). Got {value!r} instead."
            ) from None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return Reason(int(value))
    raise ConfigurationError(
        f"The 'reason' parameter must be a Reason, its name or its code. Got {value!r} instead."
    )


def _reasons(reason: ReasonLike | Collection[ReasonLike] | None) -> frozenset[Reason] | None:
    if reason is None:
        return None
    if isinstance(reason, (Reason, str, int)):
        return frozenset({_reason(reason)})
    return frozenset(_reason(r) for r in reason)


def _describe(d: Decision) -> str:
    parts = [f"stage {d.stage!r}"]
    if d.abstained:
        parts.insert(0, f"reason {str(d.reason)!r}")
        if d.candidate is not None:
            parts.append(f"candidate {d.candidate!r}")
    else:
        parts.insert(0, f"prediction {d.prediction!r}")
    if d.confidence is not None:
        parts.append(f"confidence {d.confidence:.3g}")
    if d.detail:
        parts.append(f"detail {d.detail!r}")
    return ", ".join(parts)


_SHOWN_ROWS = 5


def _describe_rows(d: Decisions, rows: NDArray[np.intp]) -> str:
    """``row 3: prediction 1, ...; row 7: ...`` for the first few ``rows``, and how many more."""
    shown = "; ".join(f"row {int(i)}: {_describe(d[int(i)])}" for i in rows[:_SHOWN_ROWS])
    if len(rows) > _SHOWN_ROWS:
        shown += f"; and {len(rows) - _SHOWN_ROWS} more"
    return shown


def _is_record_like(value: Any) -> bool:
    """Whether ``value`` can be one record of a batch (not a single feature value)."""
    return (
        isinstance(value, (Mapping, list, tuple, np.ndarray))
        or callable(getattr(value, "model_dump", None))  # a pydantic model instance
        or (hasattr(value, "to_frame") and hasattr(value, "index"))  # a pandas Series
    )


def _batch_size(x: Any, owner: str) -> int | None:
    """The number of rows when ``x`` is a batch, None when it is one record.

    A batch is a data frame, an array of 2 or more dimensions (rows first), or a list or
    tuple of records (dicts, sequences, arrays, pydantic models). A dict, a pydantic model,
    a pandas Series, a 1-D array and a list of plain values are one record.
    """
    if _is_frame(x):
        n = len(x)
    elif isinstance(x, np.ndarray):
        if x.ndim < 2:
            return None
        n = int(x.shape[0])
    elif isinstance(x, (list, tuple)):
        if not x:
            n = 0
        else:
            kinds = {_is_record_like(v) for v in x}
            if kinds == {False}:
                return None
            if kinds == {True, False}:
                raise ConfigurationError(
                    f"The 'x' parameter of {owner} mixes records and plain values, so it is "
                    "neither one record nor a batch. Got "
                    f"{[type(v).__name__ for v in x[:_SHOWN_ROWS]]!r}..."
                )
            n = len(x)
    else:
        shape = getattr(x, "shape", None)  # sparse matrices, tensors
        if shape is None or len(shape) < 2 or hasattr(x, "to_frame"):
            return None
        n = int(shape[0])
    if n == 0:
        raise AssertionError(
            f"{owner} got an empty batch: there is no row to check, so nothing was asserted"
        )
    return n


def _decide_rows(guard: Any, X: Any, n: int) -> Decisions:
    d = _decide_batch(guard, X)
    if len(d) != n:
        raise AssertionError(f"the guard returned {len(d)} decisions for a batch of {n} rows")
    return d


def _decide_one(guard: Any, x: Any) -> Decision:
    if not isinstance(guard, Layer) and not callable(getattr(guard, "decide", None)):
        raise ConfigurationError(
            "The 'guard' parameter must be a guard (or any object with decide()). "
            f"Got {type(guard).__name__} instead."
        )
    if isinstance(guard, Layer):
        return guard.decide_one(x)
    d = _as_decisions(guard.decide(one_row_batch(x)))
    if len(d) != 1:
        raise AssertionError(f"the guard returned {len(d)} decisions for one record")
    return d[0]


def _as_decisions(d: Any) -> Decisions:
    if not isinstance(d, Decisions):
        raise ConfigurationError(f"decide() returned {type(d).__name__}, not Decisions.")
    return d


def assert_abstains(
    guard: Any, x: Any, *, reason: ReasonLike | Collection[ReasonLike] | None = None
) -> Decision | Decisions:
    """Assert that ``guard`` withholds its answer on record ``x``, or on every row of a batch.

    A batch (a data frame, a 2-D array, a list of records) is decided in one call and
    checked row by row: one answered row fails the assertion, and the message lists the
    rows that broke it. A record whose own shape has 2 or more dimensions (an image) is
    passed as a batch of one, ``x[np.newaxis]``.

    Args:
        guard: a guard, any layer, or an object with ``decide`` (e.g. ``GuardedClassifier``).
        x: one record (a dict, a 1-D array ``(n_features,)``, a pydantic model...) or a
            batch of them.
        reason: the reason expected (a [`Reason`][], its name such as
            ``"invalid_input"``, or several of them); any reason if None. Name it: without
            it, a malformed record passes because it is withheld as invalid input.

    Returns:
        The decision of the record, or the decisions of the batch, for further checks.

    Raises:
        AssertionError: the guard answered (a row), or withheld for another reason, or
            the batch was empty.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import confidence_below, guard
        >>> from guardrails.testing import assert_abstains
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> g = guard(LogisticRegression().fit(X, y)).abstain(confidence_below(0.99))
        >>> assert_abstains(g, np.array([0.0]), reason="low_confidence").reason.name
        'LOW_CONFIDENCE'
        >>> assert_abstains(g, np.array([[0.1], [-30.0]]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        AssertionError: expected the guard to abstain on every row of the batch, but it ...
    """
    expected = _reasons(reason)
    wanted = "" if expected is None else " or ".join(sorted(str(r) for r in expected))
    n = _batch_size(x, "assert_abstains")
    if n is None:
        one = _decide_one(guard, x)
        if not one.abstained:
            raise AssertionError(
                f"expected the guard to abstain, but it answered: {_describe(one)}"
            )
        if expected is not None and one.reason not in expected:
            raise AssertionError(
                f"expected the guard to abstain with reason {wanted}, but: {_describe(one)}"
            )
        return one
    d = _decide_rows(guard, x, n)
    answered = np.flatnonzero(~d.abstained)
    if expected is None:
        if len(answered):
            raise AssertionError(
                "expected the guard to abstain on every row of the batch, but it answered "
                f"{len(answered)} of {n} rows: {_describe_rows(d, answered)}"
            )
        return d
    codes = np.array([int(r) for r in expected])
    broke = np.flatnonzero(~d.abstained | ~np.isin(d.reason, codes))
    if len(broke):
        raise AssertionError(
            f"expected the guard to abstain with reason {wanted} on every row of the batch, "
            f"but {len(broke)} of {n} rows did not ({len(answered)} answered): "
            f"{_describe_rows(d, broke)}"
        )
    return d


def assert_answers(guard: Any, x: Any, *, prediction: Any = None) -> Decision | Decisions:
    """Assert that ``guard`` answers record ``x`` (and, if given, with ``prediction``).

    A batch (a data frame, a 2-D array, a list of records) is checked row by row: every
    row must be answered, and ``prediction`` is one answer for all rows or one per row.

    Args:
        guard: a guard, any layer, or an object with ``decide``.
        x: one record or a batch of them (see [`assert_abstains`][]).
        prediction: the answer expected; any answer if None.

    Returns:
        The decision of the record, or the decisions of the batch, for further checks.

    Raises:
        AssertionError: the guard withheld the answer (on a row) or answered something
            else, or the batch was empty.
        ConfigurationError: ``prediction`` gives a number of answers other than one or
            one per row.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import guard
        >>> from guardrails.testing import assert_answers
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> g = guard(LogisticRegression().fit(X, y))
        >>> assert_answers(g, X, prediction=[0, 0, 1, 1]).abstention_rate
        0.0
    """
    n = _batch_size(x, "assert_answers")
    if n is None:
        one = _decide_one(guard, x)
        if one.abstained:
            raise AssertionError(
                f"expected the guard to answer, but it abstained: {_describe(one)}"
            )
        if prediction is not None and one.prediction != prediction:
            raise AssertionError(
                f"expected the guard to answer {prediction!r}, but it answered: {_describe(one)}"
            )
        return one
    d = _decide_rows(guard, x, n)
    withheld = np.flatnonzero(d.abstained)
    if len(withheld):
        raise AssertionError(
            "expected the guard to answer every row of the batch, but it abstained on "
            f"{len(withheld)} of {n} rows: {_describe_rows(d, withheld)}"
        )
    if prediction is None:
        return d
    wanted = np.asarray(prediction, dtype=object)
    if wanted.ndim == 0:
        wanted = np.full(n, prediction, dtype=object)
    if wanted.shape != (n,):
        raise ConfigurationError(
            "The 'prediction' parameter of assert_answers must be one answer or one per row "
            f"of the batch ({n}). Got {wanted.shape[0] if wanted.ndim else 1} answers."
        )
    got = d.prediction.astype(object)
    wrong = np.flatnonzero([bool(g != w) for g, w in zip(got, wanted)])
    if len(wrong):
        details = "; ".join(
            f"row {int(i)}: expected {wanted[i]!r}, {_describe(d[int(i)])}"
            for i in wrong[:_SHOWN_ROWS]
        )
        more = f"; and {len(wrong) - _SHOWN_ROWS} more" if len(wrong) > _SHOWN_ROWS else ""
        raise AssertionError(
            f"expected the guard's answers, but {len(wrong)} of {n} rows got another: "
            f"{details}{more}"
        )
    return d


def _check_between(name: str, between: Any) -> tuple[float, float]:
    ok = (
        isinstance(between, (tuple, list))
        and len(between) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in between)
        and 0.0 <= between[0] <= between[1] <= 1.0
    )
    if not ok:
        raise ConfigurationError(
            f"The 'between' parameter of {name} must be a pair (low, high) with "
            f"0 <= low <= high <= 1. Got {between!r} instead."
        )
    return float(between[0]), float(between[1])


def _decide_batch(guard: Any, X: Any) -> Decisions:
    if isinstance(X, Decisions):
        return X
    decide = getattr(guard, "decide", None)
    if not callable(decide):
        raise ConfigurationError(
            "The 'guard' parameter must be a guard (or any object with decide()). "
            f"Got {type(guard).__name__} instead."
        )
    return _as_decisions(decide(X))


def _decide_whole_batch(guard: Any, X: Any, owner: str) -> Decisions:
    """Decisions on batch ``X``, refusing one record and an empty batch."""
    if isinstance(X, Decisions):
        if len(X) == 0:
            raise AssertionError(
                f"{owner} got empty decisions: there is no row to check, so nothing was asserted"
            )
        return X
    n = _batch_size(X, owner)
    if n is None:
        shape = getattr(X, "shape", None)
        what = type(X).__name__ + (f" of shape {shape}" if shape is not None else "")
        raise ConfigurationError(
            f"The 'X' parameter of {owner} must be a batch of rows (a data frame, a 2-D "
            f"array, a list of records). Got one record ({what}); a 1-D array is ambiguous: "
            "pass X.reshape(-1, 1) for rows of one feature, X[np.newaxis] for one record."
        )
    return _decide_rows(guard, X, n)


def assert_abstention_rate(guard: Any, X: Any, *, between: tuple[float, float]) -> Decisions:
    """Assert that the share of rows of ``X`` the guard withholds lies in ``between``.

    Args:
        guard: a guard, any layer, or an object with ``decide``.
        X: a batch ``(n_samples, n_features)``, a data frame or a list of records (one
            record, or an empty batch, is refused: a rate over no rows proves nothing).
        between: ``(low, high)``, inclusive bounds on the abstention rate.

    Returns:
        The decisions, for further checks.

    Raises:
        AssertionError: the rate is outside the bounds (the message counts reasons), or
            the batch was empty.
        ConfigurationError: ``X`` is one record rather than a batch.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import confidence_below, guard
        >>> from guardrails.testing import assert_abstention_rate
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> g = guard(LogisticRegression().fit(X, y)).abstain(confidence_below(0.99))
        >>> assert_abstention_rate(g, np.array([[0.0], [0.1]]), between=(0.0, 0.5))
        Traceback (most recent call last):
        ...
        AssertionError: abstention rate 1.0000 (2 of 2 rows) is outside [0, 0.5]; ...
    """
    low, high = _check_between("assert_abstention_rate", between)
    d = _decide_whole_batch(guard, X, "assert_abstention_rate")
    rate = d.abstention_rate
    if not low <= rate <= high:
        raise AssertionError(
            f"abstention rate {rate:.4f} ({int(d.abstained.sum())} of {len(d)} rows) is "
            f"outside [{low:g}, {high:g}]; reasons: {d.reason_counts()}"
        )
    return d


def assert_coverage(
    guard: Any,
    X: Any,
    y: Any,
    *,
    at_least: float | None = None,
    between: tuple[float, float] | None = None,
    max_unscored: float = 0.0,
) -> float:
    """Assert that prediction sets (or intervals) contain the truth often enough.

    Coverage is [`guardrails.apps.outcomes.coverage`][]: rows the model never scored
    (invalid input, model error) have no set and are left out of it. So that a batch the
    guard mostly refused cannot pass on the few rows left, the share of such rows may be
    at most ``max_unscored`` (none by default).

    Args:
        guard: a guard whose policy makes sets or intervals (conformal), or an object
            with ``decide``; ``X`` may also be the [`Decisions`][] already computed.
        X: the batch to decide.
        y: ``(n_samples,)`` true labels (classification) or values (regression).
        at_least: the minimum coverage, e.g. ``0.9`` for ``alpha=0.1``.
        between: ``(low, high)`` inclusive bounds instead of ``at_least``.
        max_unscored: the largest share of rows allowed to have no set or interval,
            in [0, 1].

    Returns:
        The empirical coverage.

    Raises:
        AssertionError: coverage is out of bounds, too many rows have no set or interval,
            or the batch was empty.
        ConfigurationError: neither bound was given, the decisions carry no sets, or
            ``X`` is one record rather than a batch.
    """
    if (at_least is None) == (between is None):
        raise ConfigurationError(
            "assert_coverage takes exactly one of at_least= or between=. "
            f"Got at_least={at_least!r}, between={between!r}."
        )
    if between is not None:
        low, high = _check_between("assert_coverage", between)
    else:
        low, high = _check_between("assert_coverage", (at_least, 1.0))
    ok = isinstance(max_unscored, (int, float)) and not isinstance(max_unscored, bool)
    if not ok or not 0.0 <= max_unscored <= 1.0:
        raise ConfigurationError(
            "The 'max_unscored' parameter of assert_coverage must be a float in [0, 1]. "
            f"Got {max_unscored!r} instead."
        )

    d = _decide_whole_batch(guard, X, "assert_coverage")
    value = coverage(d, y)
    if not isinstance(value, float) or math.isnan(value):
        raise AssertionError(
            f"no row had a prediction set or interval to check (reasons: {d.reason_counts()})"
        )
    unscored = _unscored(d)
    if unscored.mean() > max_unscored:
        reasons = d.take(np.flatnonzero(unscored)).reason_counts()
        raise AssertionError(
            f"{int(unscored.sum())} of {len(d)} rows have no prediction set or interval "
            f"(reasons: {reasons}), more than max_unscored={max_unscored:g}: coverage "
            f"{value:.4f} holds only for the other {int((~unscored).sum())} rows"
        )
    if not low <= value <= high:
        scored = int((~unscored).sum())
        among = f" ({scored} with a set or interval)" if scored < len(d) else ""
        raise AssertionError(
            f"coverage {value:.4f} of {len(d)} decisions{among} is outside [{low:g}, {high:g}]"
        )
    return value


def _unscored(d: Decisions) -> NDArray[np.bool_]:
    """Rows without a prediction set or interval, which coverage leaves out."""

    if d.interval is not None and (d.pred_set is None or d.classes is None):
        return np.isnan(d.interval[:, 0]) | np.isnan(d.interval[:, 1])
    return np.asarray(_no_candidate(d), dtype=bool)


# -- fake models ----------------------------------------------------------------------------

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


# -- pytest fixture -------------------------------------------------------------------------


@pytest.fixture
def captured_events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog event emitted during the test, as a list of dicts.

    Uses ``structlog.testing.capture_logs``: events are captured instead of rendered,
    with their ``event`` name and ``log_level`` keys.
    """
    from structlog.testing import capture_logs

    with capture_logs() as events:
        yield events


# -- hypothesis strategies from a schema ----------------------------------------------------


@dataclass(frozen=True)
class BrokenRule:
    """Which rule an invalid record breaks: the field and a short rule name."""

    field: str
    rule: str


@dataclass
class _FieldSpec:
    name: str
    kind: str  # "int", "float", "bool", "str", "choice"
    required: bool
    optional: bool  # None allowed
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_len: int | None = None
    max_len: int | None = None
    choices: tuple[Any, ...] = ()
    allow_inf_nan: bool = True


def _schema_class(schema: Any) -> type[BaseModel]:
    """The pydantic model behind ``schema``: the class itself, or a guard's/schema's."""
    from pydantic import BaseModel

    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema
    candidates: list[Any] = [schema]
    if isinstance(schema, Layer):
        candidates.extend(schema.layers())
    for obj in candidates:
        for attr in ("schema", "model", "record_model"):
            value = getattr(obj, attr, None)
            if isinstance(value, type) and issubclass(value, BaseModel):
                return value
            inner = getattr(value, "model", None) if value is not None else None
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    raise ConfigurationError(
        "The 'schema' parameter must be a pydantic model class, or a guard with a validating "
        f"step built from one. Got {type(schema).__name__} instead."
    )


def _field_specs(model: type[BaseModel]) -> list[_FieldSpec]:
    import annotated_types as at
    from pydantic import SecretStr

    config_inf_nan = model.model_config.get("allow_inf_nan", True)
    specs = []
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        optional = False
        origin = get_origin(annotation)
        if origin is Union or origin is types.UnionType:
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = len(args) < len(get_args(annotation))
            if len(args) != 1:
                raise ConfigurationError(
                    f"field {name!r} of {model.__name__}: unions of several types are not "
                    "supported by the strategies; use one type per field."
                )
            annotation = args[0]
        metadata = list(info.metadata)
        if get_origin(annotation) is typing.Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        spec = _FieldSpec(name, "", info.is_required(), optional)
        spec.allow_inf_nan = bool(config_inf_nan)
        if get_origin(annotation) is Literal:
            spec.kind, spec.choices = "choice", get_args(annotation)
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            spec.kind, spec.choices = "choice", tuple(m.value for m in annotation)
        elif annotation is bool:
            spec.kind = "bool"
        elif annotation is int:
            spec.kind = "int"
        elif annotation is float:
            spec.kind = "float"
        elif annotation is str or annotation is SecretStr:
            spec.kind = "str"  # a SecretStr field takes a plain str
        else:
            raise ConfigurationError(
                f"field {name!r} of {model.__name__} has type {annotation!r}; the strategies "
                "support int, float, bool, str, SecretStr, Literal and Enum fields "
                "(optional or not)."
            )
        for m in metadata:
            if isinstance(m, at.Ge):
                spec.ge = float(m.ge)  # type: ignore[arg-type]
            elif isinstance(m, at.Gt):
                spec.gt = float(m.gt)  # type: ignore[arg-type]
            elif isinstance(m, at.Le):
                spec.le = float(m.le)  # type: ignore[arg-type]
            elif isinstance(m, at.Lt):
                spec.lt = float(m.lt)  # type: ignore[arg-type]
            elif isinstance(m, at.MinLen):
                spec.min_len = int(m.min_length)
            elif isinstance(m, at.MaxLen):
                spec.max_len = int(m.max_length)
            elif getattr(m, "allow_inf_nan", None) is not None:
                spec.allow_inf_nan = bool(m.allow_inf_nan)
            elif isinstance(m, at.MultipleOf) or getattr(m, "pattern", None) is not None:
                # drawn anyway, "valid" records would break it: refuse rather than mislead
                raise ConfigurationError(
                    f"field {name!r} of {model.__name__} has the constraint {m!r}, which the "
                    "strategies do not support (they support ge, gt, le, lt, min_length, "
                    "max_length and allow_inf_nan)."
                )
        specs.append(spec)
    return specs


def _int_bounds(spec: _FieldSpec) -> tuple[int | None, int | None]:
    low = None
    if spec.ge is not None:
        low = math.ceil(spec.ge)
    if spec.gt is not None:
        low = max(low if low is not None else -(2**62), math.floor(spec.gt) + 1)
    high = None
    if spec.le is not None:
        high = math.floor(spec.le)
    if spec.lt is not None:
        high = min(high if high is not None else 2**62, math.ceil(spec.lt) - 1)
    return low, high


def _valid_value(spec: _FieldSpec) -> SearchStrategy[Any]:
    from hypothesis import strategies as st

    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "int":
        low, high = _int_bounds(spec)
        return st.integers(min_value=low, max_value=high)
    if spec.kind == "float":
        low_f = spec.gt if spec.gt is not None else spec.ge
        high_f = spec.lt if spec.lt is not None else spec.le
        return st.floats(
            min_value=low_f,
            max_value=high_f,
            exclude_min=spec.gt is not None,
            exclude_max=spec.lt is not None,
            allow_nan=False,
            allow_infinity=False,
        )
    return st.text(min_size=spec.min_len or 0, max_size=spec.max_len)


def _breaks(spec: _FieldSpec) -> list[tuple[str, SearchStrategy[Any]]]:
    """Strategies for values that break one rule of the field, with the rule's name."""
    from hypothesis import strategies as st

    out: list[tuple[str, SearchStrategy[Any]]] = []
    if spec.kind in ("int", "float"):
        out.append(("type", st.sampled_from(["not a number", "", "1,5"])))
        if spec.kind == "int":
            low_i, high_i = _int_bounds(spec)
            if low_i is not None:
                out.append(("below minimum", st.integers(max_value=low_i - 1)))
            if high_i is not None:
                out.append(("above maximum", st.integers(min_value=high_i + 1)))
        else:
            low = spec.ge if spec.ge is not None else spec.gt
            high = spec.le if spec.le is not None else spec.lt
            if low is not None:
                below = st.floats(
                    max_value=low, exclude_max=spec.ge is not None, allow_infinity=False
                )
                out.append(("below minimum", below.filter(lambda v: v < low)))
            if high is not None:
                above = st.floats(
                    min_value=high, exclude_min=spec.le is not None, allow_infinity=False
                )
                out.append(("above maximum", above.filter(lambda v: v > high)))
        if spec.kind == "float" and not spec.allow_inf_nan:
            out.append(("finite", st.sampled_from([math.nan, math.inf, -math.inf])))
    elif spec.kind == "str":
        out.append(("type", st.sampled_from([[1], {"a": 1}])))
        if spec.min_len is not None and spec.min_len > 0:
            out.append(("min length", st.text(max_size=spec.min_len - 1)))
        if spec.max_len is not None:
            out.append(("max length", st.text(min_size=spec.max_len + 1)))
    elif spec.kind == "choice":
        unseen = st.text(min_size=1).filter(lambda v: v not in spec.choices)
        out.append(("category", unseen))
    elif spec.kind == "bool":
        out.append(("type", st.sampled_from(["maybe", 7, [True]])))
    if not spec.optional:
        out.append(("not null", st.none()))
    return out


def valid_records(schema: Any) -> SearchStrategy[dict[str, Any]]:
    """Hypothesis strategy of records (dicts) that satisfy every rule of ``schema``.

    Built from the pydantic model's fields: ``int``/``float`` with ``ge``/``gt``/``le``/
    ``lt`` (floats always finite), ``str`` with ``min_length``/``max_length``, ``bool``,
    ``Literal`` and ``Enum`` categories, optional fields (sometimes None, sometimes
    left out when they have a default).

    Args:
        schema: a pydantic model class, or a guard (or schema object) built from one.

    Examples:
        >>> from pydantic import BaseModel, Field
        >>> from hypothesis import find
        >>> from guardrails.testing import valid_records
        >>> class Applicant(BaseModel):
        ...     age: int = Field(ge=18, le=120)
        >>> find(valid_records(Applicant), lambda record: record["age"] > 60)
        {'age': 61}
    """
    from hypothesis import strategies as st

    specs = _field_specs(_schema_class(schema))
    required: dict[str, SearchStrategy[Any]] = {}
    optional: dict[str, SearchStrategy[Any]] = {}
    for spec in specs:
        value = _valid_value(spec)
        if spec.optional:
            value = st.none() | value
        (required if spec.required else optional)[spec.name] = value
    return st.fixed_dictionaries(required, optional=optional)


def invalid_records(
    schema: Any, *, explain: bool = False
) -> SearchStrategy[dict[str, Any]] | SearchStrategy[tuple[dict[str, Any], BrokenRule]]:
    """Hypothesis strategy of records that break exactly one rule of ``schema``.

    Each record is valid except for one field, which has the wrong type, lies outside
    its bounds, is NaN or infinite where the schema forbids it, is an unseen category, is
    too short or too long, is None where the field is not optional, or is missing. When
    the model forbids extra fields, records with an unknown field are drawn too.

    Args:
        schema: a pydantic model class, or a guard (or schema object) built from one.
        explain: draw ``(record, BrokenRule(field, rule))`` pairs instead of records.

    Raises:
        ConfigurationError: the schema has no rule that a record could break.
    """
    from hypothesis import strategies as st

    model = _schema_class(schema)
    specs = _field_specs(model)
    base = valid_records(model)
    options: list[SearchStrategy[tuple[dict[str, Any], BrokenRule]]] = []

    def replace(name: str, rule: str, bad: SearchStrategy[Any]) -> None:
        def build(pair: tuple[dict[str, Any], Any]) -> tuple[dict[str, Any], BrokenRule]:
            record, value = pair
            return {**record, name: value}, BrokenRule(name, rule)

        options.append(st.tuples(base, bad).map(build))

    for spec in specs:
        for rule, bad in _breaks(spec):
            replace(spec.name, rule, bad)
        if spec.required:
            name = spec.name

            def drop(record: dict[str, Any], name: str = name) -> tuple[dict[str, Any], BrokenRule]:
                return {k: v for k, v in record.items() if k != name}, BrokenRule(name, "required")

            options.append(base.map(drop))
    if model.model_config.get("extra") == "forbid":
        names = {s.name for s in specs}

        def extra(record: dict[str, Any]) -> tuple[dict[str, Any], BrokenRule]:
            key = "unexpected_field"
            while key in names:
                key += "_"
            return {**record, key: 1}, BrokenRule(key, "extra field")

        options.append(base.map(extra))
    if not options:
        raise ConfigurationError(f"{model.__name__} has no rule a record could break (no fields?).")

    def rejected(pair: tuple[dict[str, Any], BrokenRule]) -> bool:
        from pydantic import ValidationError

        try:
            model.model_validate(pair[0])
        except ValidationError:
            return True
        return False

    pairs = st.one_of(options).filter(rejected)
    if explain:
        return pairs
    return pairs.map(lambda pair: pair[0])
