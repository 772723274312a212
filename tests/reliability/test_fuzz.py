"""Fuzzing the public entry points: the only outcomes are decisions or GuardrailsErrors.

Arbitrary arrays (every dtype and shape, NaN, inf, huge values, negative zero), JSON-like
records, unicode and bytes go through ``decide``, ``decide_one``, ``predict`` and
``adecide``. Anything other than a :class:`Decisions` with one row per input, or a
:class:`GuardrailsError` with a message, is a bug.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from guardrails import Decision, Decisions, GuardrailsError, Reason, confidence_below, guard

FUZZ = settings(
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
    | st.binary(max_size=20)
)
json_like = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
dtypes = (
    hnp.floating_dtypes()
    | hnp.integer_dtypes()
    | hnp.unsigned_integer_dtypes()
    | hnp.boolean_dtypes()
    | hnp.complex_number_dtypes()
    | hnp.unicode_string_dtypes(max_len=4)
    | hnp.byte_string_dtypes(max_len=4)
    | hnp.datetime64_dtypes()
)
arrays = hnp.arrays(
    dtype=dtypes,
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
)
special_floats = hnp.arrays(
    dtype=np.float64,
    shape=st.tuples(st.integers(0, 5), st.sampled_from([3, 4, 5])),
    elements=st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 1.0]),
)
inputs = arrays | special_floats | json_like | st.lists(json_like, max_size=4)


@pytest.fixture(scope="module")
def g(iris: dict[str, Any]) -> Any:
    return guard(iris["model"]).abstain(confidence_below(0.6))


def _check(d: Decisions, n: int) -> None:
    assert isinstance(d, Decisions)
    assert len(d) == n
    for row in d:
        assert row.answered or row.reason is not Reason.NONE
        if row.abstained:
            assert row.prediction is None


def _expected_rows(X: Any) -> int | None:
    if isinstance(X, np.ndarray):
        return int(X.shape[0]) if X.ndim >= 1 else None
    if isinstance(X, (list, tuple)):
        return len(X)
    return None


@FUZZ
@given(X=inputs)
def test_decide_gives_decisions_or_a_guardrails_error(g: Any, X: Any) -> None:
    try:
        d = g.decide(X)
    except GuardrailsError as exc:
        assert str(exc)
        return
    n = _expected_rows(X)
    assert n is not None, f"decide accepted a non-batch {type(X).__name__}"
    _check(d, n)


@FUZZ
@given(x=inputs)
def test_decide_one_gives_one_decision_or_a_guardrails_error(g: Any, x: Any) -> None:
    try:
        row = g.decide_one(x)
    except GuardrailsError as exc:
        assert str(exc)
        return
    assert isinstance(row, Decision)
    assert row.answered or row.reason is not Reason.NONE


@FUZZ
@given(X=inputs, marker=st.sampled_from([None, -1, "withheld", np.nan]))
def test_predict_marks_every_withheld_row(g: Any, X: Any, marker: Any) -> None:
    try:
        out = g.predict(X, marker=marker)
    except GuardrailsError as exc:
        assert str(exc)
        return
    assert len(out) == _expected_rows(X)


@settings(FUZZ, max_examples=500)
@given(X=inputs)
def test_adecide_gives_decisions_or_a_guardrails_error(g: Any, X: Any) -> None:
    try:
        d = asyncio.run(g.adecide(X))
    except GuardrailsError as exc:
        assert str(exc)
        return
    n = _expected_rows(X)
    assert n is not None
    _check(d, n)
