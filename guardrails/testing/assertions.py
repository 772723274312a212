"""Assertions on a guard's decisions, failing with a message that says what it did instead."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.policy import _no_candidate
from guardrails.apps.outcomes import coverage
from guardrails.core.decisions import Decision, Decisions, Reason
from guardrails.core.errors import ConfigurationError
from guardrails.core.layer import Layer, _is_frame, one_row_batch

__all__ = [
    "assert_abstains",
    "assert_abstention_rate",
    "assert_answers",
    "assert_coverage",
]


ReasonLike = Union[Reason, str, int]  # noqa: UP007 - a runtime alias on Python 3.10


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
