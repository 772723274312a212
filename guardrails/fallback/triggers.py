"""Fallback triggers: which withheld rows a stage takes (failures, verdicts, errors by type).

A trigger maps a chain's current decisions to a row mask; triggers combine with ``|``.
The default, [`on_failure`][], takes what the primary *failed* on; verdicts are taken only
by a trigger that names them ([`on_abstain`][], [`on_invalid_input`][], [`on_withheld`][]).
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
)
from guardrails.core.layer import Call
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "Trigger",
    "on_abstain",
    "on_circuit_open",
    "on_error",
    "on_failure",
    "on_invalid_input",
    "on_timeout",
    "on_withheld",
]

_FAILED = frozenset({int(Reason.MODEL_ERROR), int(Reason.TIMEOUT)})
_FAILURES = (Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN)
"""Reasons under which the primary could not answer: what a chain exists for."""
_POLICY_REASONS = (Reason.LOW_CONFIDENCE, Reason.AMBIGUOUS, Reason.DRIFT)
_NOT_VERDICTS = frozenset({int(Reason.NONE), int(Reason.REVIEW), *(int(r) for r in _FAILURES)})


def verdict_mask(reason: NDArray[np.int8]) -> NDArray[np.bool_]:
    """``(n,)`` bool: codes that are verdicts (the guard chose not to trust an answer).

    Everything that is not an answer, a failure (model error, timeout, circuit open) or a
    deliberate routing to review is a verdict, so a reason added later counts as one.
    """
    return ~np.isin(reason, np.fromiter(_NOT_VERDICTS, dtype=np.int8))


# -- triggers ------------------------------------------------------------------------------


class Trigger(ABC):
    """Selects, among the rows still withheld, those a stage should take.

    Triggers combine with ``|``: ``on_error() | on_timeout()`` takes rows either selects.
    """

    @abstractmethod
    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        """``(n,)`` bool: rows of ``d`` this trigger takes (only withheld rows count)."""

    def __or__(self, other: Trigger) -> AnyTrigger:
        if not isinstance(other, Trigger):
            return NotImplemented
        return AnyTrigger(self, other)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Trigger:
        return cls()


def _with_reason(d: Decisions, codes: Iterable[int]) -> NDArray[np.bool_]:
    return d.abstained & np.isin(d.reason, np.fromiter(codes, dtype=np.int8))


@persistable
class AnyTrigger(Trigger):
    """Takes a row when any of its triggers does."""

    def __init__(self, *triggers: Trigger) -> None:
        if len(triggers) < 2 or not all(isinstance(t, Trigger) for t in triggers):
            raise ConfigurationError(
                f"AnyTrigger combines two or more Trigger objects. Got {triggers!r} instead."
            )
        flat: list[Trigger] = []
        for t in triggers:
            flat.extend(t.triggers if isinstance(t, AnyTrigger) else (t,))
        self.triggers: tuple[Trigger, ...] = tuple(flat)

    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        mask = self.triggers[0].select(d, call)
        for t in self.triggers[1:]:
            mask = mask | t.select(d, call)
        return mask

    def __repr__(self) -> str:
        return " | ".join(repr(t) for t in self.triggers)

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"triggers": [enc.component(t) for t in self.triggers]}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> AnyTrigger:
        return cls(*(dec.component(spec) for spec in state["triggers"]))


@persistable
class OnAbstain(Trigger):
    """Rows withheld by a policy: low confidence, ambiguous, drift (or the given reasons)."""

    def __init__(self, reasons: Iterable[Reason | int] | None = None) -> None:
        if reasons is None:
            self.reasons: tuple[Reason, ...] | None = None
            return
        try:
            chosen = tuple(Reason(int(r)) for r in reasons)
        except (TypeError, ValueError):
            chosen = ()
        if not chosen or Reason.NONE in chosen:
            raise ConfigurationError(
                "The 'reasons' parameter of on_abstain must list Reason members other than "
                f"NONE, e.g. [Reason.LOW_CONFIDENCE]. Got {reasons!r} instead."
            )
        self.reasons = chosen

    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        return _with_reason(d, (int(r) for r in (self.reasons or _POLICY_REASONS)))

    def __repr__(self) -> str:
        if self.reasons is None:
            return "on_abstain()"
        return f"on_abstain(reasons=[{', '.join(f'Reason.{r.name}' for r in self.reasons)}])"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"reasons": None if self.reasons is None else [int(r) for r in self.reasons]}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> OnAbstain:
        return cls(state["reasons"])


def _invalid_allowed(call: Call) -> bool:
    """True when INVALID_INPUT rows may go to a fallback (validation policy 'fallback')."""
    note = call.validation
    return note is None or note.policy == "fallback"


@persistable
class OnInvalidInput(Trigger):
    """Rows withheld as invalid input, when the validating layer's policy is "fallback"
    (or when there is no validating layer)."""

    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        if not _invalid_allowed(call):
            return np.zeros(len(d), dtype=bool)
        return _with_reason(d, (int(Reason.INVALID_INPUT),))

    def __repr__(self) -> str:
        return "on_invalid_input()"


def _subclass_names(types: tuple[type[BaseException], ...]) -> frozenset[str]:
    names: set[str] = set()
    todo = list(types)
    while todo:
        cls = todo.pop()
        if cls.__name__ not in names:
            names.add(cls.__name__)
            todo.extend(cls.__subclasses__())
    return frozenset(names)


@persistable
class OnError(Trigger):
    """Rows withheld because the model (or an earlier stage) failed.

    With ``exc_types``, only rows whose recorded error is one of those exception types or
    a subclass. The type is read from the row's detail (``"ConnectionError: ..."``), which
    the adapter and every stage write when they catch an exception.
    """

    def __init__(self, exc_types: Iterable[type[BaseException]] | None = None) -> None:
        if exc_types is None:
            self.exc_types: tuple[type[BaseException], ...] | None = None
            return
        given: Any = exc_types
        types: tuple[type[BaseException], ...] = (
            (given,) if isinstance(given, type) else tuple(given)
        )
        if not types or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in types
        ):
            raise ConfigurationError(
                "The 'exc_types' parameter of on_error must list exception classes, e.g. "
                f"[ConnectionError]. Got {exc_types!r} instead."
            )
        self.exc_types = types

    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        mask = _with_reason(d, (int(Reason.MODEL_ERROR),))
        if self.exc_types is None or not mask.any():
            return mask
        names = _subclass_names(self.exc_types)
        detail = d.detail
        for i in np.flatnonzero(mask):
            text = detail[i] if detail is not None else None
            head = text.split(":", 1)[0] if isinstance(text, str) else ""
            mask[i] = head in names
        return mask

    def __repr__(self) -> str:
        if self.exc_types is None:
            return "on_error()"
        return f"on_error(exc_types=[{', '.join(t.__name__ for t in self.exc_types)}])"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        if self.exc_types is None:
            return {"exc_types": None}
        out: list[Any] = []
        for t in self.exc_types:
            if getattr(builtins, t.__name__, None) is t:
                out.append({"builtin": t.__name__})
            else:
                out.append(enc.ref(t.__name__, f"exception class {t.__qualname__} for on_error"))
        return {"exc_types": out}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> OnError:
        specs = state["exc_types"]
        if specs is None:
            return cls()
        types: list[type[BaseException]] = []
        for spec in specs:
            if isinstance(spec, dict) and "builtin" in spec:
                found = getattr(builtins, str(spec["builtin"]), None)
                if not (isinstance(found, type) and issubclass(found, BaseException)):
                    raise ArtifactError(f"unknown builtin exception {spec['builtin']!r}")
                types.append(found)
            else:
                types.append(dec.ref(spec))
        return cls(types)


class _ByReason(Trigger):
    """Rows withheld for one of the reasons a subclass names; the triggers below share it."""

    codes: ClassVar[tuple[int, ...]] = ()
    label: ClassVar[str] = ""

    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        return _with_reason(d, self.codes)

    def __repr__(self) -> str:
        return f"{self.label}()"


@persistable
class OnTimeout(_ByReason):
    """Rows withheld because the model or an earlier stage ran past its time."""

    codes = (int(Reason.TIMEOUT),)
    label = "on_timeout"


@persistable
class OnCircuitOpen(_ByReason):
    """Rows withheld because a circuit breaker was open."""

    codes = (int(Reason.CIRCUIT_OPEN),)
    label = "on_circuit_open"


@persistable
class OnFailure(_ByReason):
    """Rows the primary (or an earlier stage) failed on: model error, timeout, circuit open.

    The default trigger of every stage: a fallback answers failures, never verdicts.
    """

    codes = tuple(int(r) for r in _FAILURES)
    label = "on_failure"


@persistable
class OnWithheld(Trigger):
    """Every withheld row except those sent to review on purpose, verdicts included.

    Naming it answers low-confidence, ambiguous and drift rows too: ask for it only when a
    stage should override the policy. Invalid-input rows count only when the validating
    layer's policy is "fallback".
    """

    def select(self, d: Decisions, call: Call) -> NDArray[np.bool_]:
        mask: NDArray[np.bool_] = d.abstained & (d.reason != int(Reason.REVIEW))
        if not _invalid_allowed(call):
            mask &= d.reason != int(Reason.INVALID_INPUT)
        return mask

    def __repr__(self) -> str:
        return "on_withheld()"


def on_abstain(reasons: Iterable[Reason | int] | None = None) -> OnAbstain:
    """Take rows a policy withheld (low confidence, ambiguous, drift), or only ``reasons``."""
    return OnAbstain(reasons)


def on_invalid_input() -> OnInvalidInput:
    """Take invalid-input rows (when validation's policy is "fallback" or absent)."""
    return OnInvalidInput()


def on_error(exc_types: Iterable[type[BaseException]] | None = None) -> OnError:
    """Take rows whose model failed, or only those failing with ``exc_types``."""
    return OnError(exc_types)


def on_timeout() -> OnTimeout:
    """Take rows that timed out."""
    return OnTimeout()


def on_circuit_open() -> OnCircuitOpen:
    """Take rows refused by an open circuit breaker."""
    return OnCircuitOpen()


def on_withheld() -> OnWithheld:
    """Take every withheld row except those sent to review, verdicts included."""
    return OnWithheld()


def on_failure() -> OnFailure:
    """Take rows the model failed on: model error, timeout, circuit open (the default)."""
    return OnFailure()
