"""The call: what layers leave each other travels in typed fields, found by no attribute."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydantic
from numpy.typing import NDArray

from guardrails import Call, ConfidenceThreshold, DriftNote, Reason, ValidationNote, guard


class Row(pydantic.BaseModel):
    x: float = pydantic.Field(ge=0, le=1)


def proba(X: NDArray[Any]) -> NDArray[Any]:
    p = np.clip(np.asarray(X, dtype=float)[:, 0], 0.0, 1.0)
    return np.c_[1 - p, p]


def test_a_call_starts_with_empty_typed_slots() -> None:
    call = Call(raw=np.zeros((2, 1)), n=2)
    assert call.validation is None and call.drift is None and call.open_circuits == ()
    assert not hasattr(call, "notes")


def test_a_circuit_is_recorded_once_in_the_order_found() -> None:
    call = Call(raw=np.zeros((1, 1)), n=1)
    for name in ("primary", "backup", "primary"):
        call.circuit_opened(name)
    assert call.open_circuits == ("primary", "backup")


def test_adopting_a_worker_s_copy_keeps_every_slot_it_filled() -> None:
    call = Call(raw=np.zeros((2, 1)), n=2)
    call.circuit_opened("backup")
    sub = Call(raw=call.raw, n=2)
    sub.model_input = np.ones((2, 1))
    sub.valid = np.array([True, False])
    sub.validation = ValidationNote("fallback", np.array([False, True]))
    sub.drift = DriftNote("ok")
    sub.circuit_opened("primary")
    call.adopt(sub)
    assert call.model_input is sub.model_input and call.valid is sub.valid
    assert call.validation is sub.validation and call.drift is sub.drift
    assert call.open_circuits == ("backup", "primary")


def test_a_stack_without_a_validating_layer_screens_nothing() -> None:
    g = guard(proba, output="proba", classes=[0, 1]).abstain(ConfidenceThreshold(0.8))
    X = np.array([[0.5]])
    assert g.screen(X, Call(raw=X, n=1)) is None


def test_the_validating_layer_screens_through_every_layer_outside_it() -> None:
    g = (
        guard(proba, output="proba", classes=[0, 1])
        .validate(Row, on_invalid="fallback")
        .abstain(ConfidenceThreshold(0.8))
    )
    X = [{"x": 0.9}, {"x": 7.0}]
    call = Call(raw=X, n=2)
    screened = g.screen(X, call)
    assert screened is not None and screened.abstained.all()
    assert screened[1].reason is Reason.INVALID_INPUT and screened[1].errors
    assert call.validation is not None and call.validation.policy == "fallback"
    assert call.validation.invalid.tolist() == [False, True]
    assert call.valid is not None and call.valid.tolist() == [True, False]


def test_importing_guardrails_loads_neither_sklearn_nor_scipy_nor_pandas() -> None:
    import subprocess
    import sys

    code = (
        "import sys, guardrails\n"
        "heavy = [m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert 'GuardedClassifier' in dir(guardrails)\n"
        "from guardrails import GuardedClassifier\n"  # loads scikit-learn on first use
        "assert 'sklearn' in sys.modules and GuardedClassifier.__module__ == "
        "'guardrails.apps.estimator'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
