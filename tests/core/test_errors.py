"""The exception tree: one base, each also the builtin it resembles."""

from __future__ import annotations

import sklearn.exceptions

import guardrails.core.errors as errors
from guardrails import (
    ArtifactError,
    ConfigurationError,
    FallbackExhaustedError,
    GuardrailsError,
    InvalidInputError,
    ModelOutputError,
    NotFittedError,
)


def test_every_error_is_a_guardrails_error_and_its_builtin() -> None:
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(ModelOutputError, ValueError)
    assert issubclass(ArtifactError, ValueError)
    assert issubclass(FallbackExhaustedError, RuntimeError)
    # scikit-learn's NotFittedError's own builtins, without importing scikit-learn
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert set(sklearn.exceptions.NotFittedError.__bases__) == {ValueError, AttributeError}
    for exc in (
        ConfigurationError,
        InvalidInputError,
        ModelOutputError,
        ArtifactError,
        FallbackExhaustedError,
        NotFittedError,
    ):
        assert issubclass(exc, GuardrailsError)
        assert exc.__name__ in (errors.__doc__ or "")


def test_errors_carry_structured_data() -> None:
    exc = InvalidInputError("bad", errors=[{"row": 2, "errors": []}])
    assert exc.errors == [{"row": 2, "errors": []}]
    assert FallbackExhaustedError("none", rows=[1, 4]).rows == [1, 4]
