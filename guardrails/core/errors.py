"""Exceptions and warnings raised by guardrails.

Expected outcomes (a row the guard will not answer) are values on
[`Decisions`][guardrails.Decisions], never exceptions. Exceptions are for misuse and
for "cannot continue". Every exception derives from [`GuardrailsError`][]
and also from the builtin it resembles, so ``except ValueError`` keeps working:

    GuardrailsError(Exception)
    ├── ConfigurationError(+ValueError)       bad settings, refused when the guard is built
    ├── InvalidInputError(+ValueError)        bad inputs under policy "raise"; ``.errors``
    ├── ModelOutputError(+ValueError)         the model returned the wrong shape or type
    ├── NotFittedError(+ValueError, AttributeError)  a learning part used before ``fit``
    ├── ArtifactError(+ValueError)            a saved guard that cannot be trusted
    └── FallbackExhaustedError(+RuntimeError) no stage answered and the user asked to raise

    GuardrailsWarning(UserWarning)            known traps (e.g. calibrating on training data)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ArtifactError",
    "ConfigurationError",
    "FallbackExhaustedError",
    "GuardrailsError",
    "GuardrailsWarning",
    "InvalidInputError",
    "ModelOutputError",
    "NotFittedError",
]


class GuardrailsError(Exception):
    """Base class of every exception raised on purpose by guardrails."""


class ConfigurationError(GuardrailsError, ValueError):
    """A parameter or a combination of steps makes no sense; raised when the object is built."""


class InvalidInputError(GuardrailsError, ValueError):
    """Inputs failed validation and the guard was asked to raise.

    Attributes:
        errors: one entry per invalid row: ``{"row": i, "errors": [{"loc": ..., "type": ...,
            "msg": ..., "input": ...}, ...]}``. Offending values are truncated and redacted
            as configured.
    """

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.errors: list[Mapping[str, Any]] = list(errors)


class ModelOutputError(GuardrailsError, ValueError):
    """The wrapped model returned something of the wrong shape, type or range."""


class NotFittedError(GuardrailsError, ValueError, AttributeError):
    """A part of the guard that learns from data was used before ``fit``.

    It has the builtin bases of scikit-learn's ``NotFittedError`` (so ``except ValueError``
    and ``except AttributeError``, which scikit-learn's own tools use, catch it) without
    importing scikit-learn: ``import guardrails`` stays light. The scikit-learn estimators
    ([`GuardedClassifier`][guardrails.GuardedClassifier]) raise scikit-learn's own
    ``NotFittedError`` through ``check_is_fitted``, as scikit-learn expects.
    """


class ArtifactError(GuardrailsError, ValueError):
    """A saved guard is malformed, foreign, tampered with or of an unknown type."""


class FallbackExhaustedError(GuardrailsError, RuntimeError):
    """Every fallback stage declined and the guard was asked to raise instead of abstaining.

    Attributes:
        rows: indices of the rows that got no answer.
    """

    def __init__(self, message: str, rows: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.rows: list[int] = list(rows)


class GuardrailsWarning(UserWarning):
    """A known trap: the guard still works, but probably not as the user meant."""
