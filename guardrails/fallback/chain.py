"""Fallback chains: rows the primary does not answer go down an ordered list of stages.

[`WithFallback`][] runs the layer inside it (the *primary*), then hands the rows that
are still withheld to each stage in turn: another model or a whole guard
([`ModelStage`][]), a function over the raw input rows ([`Rule`][]), a constant
([`Default`][]) or a person ([`SendToReview`][]). A stage takes only the rows its
trigger selects (``on_error() | on_timeout()``...); its answers are merged back by row, so
a batch keeps its order. Every row says which stage answered (``stage``), every stage that
saw it (``tried``) and, for a fallback answer, why the earlier stages did not answer
(``detail``).

Failures and verdicts. A stage built without ``when=`` takes only rows the primary
*failed* on ([`on_failure`][]: model error, timeout, circuit open). Rows the guard
withheld as a *verdict* (low confidence, ambiguous, invalid input, drift, and any reason
that is not a failure) stay withheld unless a stage names them (``when=on_abstain()``,
``on_invalid_input()``, ``on_withheld()``). A row a stage answers after a verdict keeps
that verdict in ``overridden`` and ``overridden_detail``, so no abstention rate can hide
behind a fallback.

Timeouts. The primary and each stage that runs code may have a timeout; a request's
overall ``timeout=`` sets a deadline they all share. A call under a limit runs in the
chain's [`WorkerPool`][guardrails.WorkerPool] (``max_workers`` daemon threads, or a pool
shared with other chains): past its limit it is *abandoned* (it finishes in its thread, its
result is discarded) and the rows go on with reason ``TIMEOUT``. When every worker is busy,
a call waits in line at most ``max_wait`` seconds and never past its deadline; then it is
*shed*: it never runs, its rows time out at once, and the pool counts it. A call without any
limit is never abandoned, so it needs no bounded worker: it runs in the caller's thread
(``decide``) or the event loop's default executor (``adecide``), like the sync path. The
async path awaits coroutine stages natively and cancels them at their deadline
(``asyncio.wait_for``); a primary whose layers await nothing of their own runs its sync path
in the pool, so a hung model never holds a thread of the event loop's executor.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import dataclasses
import inspect
import math
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from guardrails.core.adapter import ModelAdapter, OutputKind, as_layer
from guardrails.core.decisions import PRIMARY, Decisions, Reason, object_column
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    FallbackExhaustedError,
    GuardrailsError,
    InvalidInputError,
)
from guardrails.core.layer import Call, Layer, _is_frame
from guardrails.core.persistence import persistable
from guardrails.core.redaction import scrub_details
from guardrails.core.text import shorten
from guardrails.core.workers import Abandoned, PoolStats, Shed, WorkerPool
from guardrails.fallback.breaker import CircuitBreaker

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "Default",
    "ModelStage",
    "Retry",
    "Rule",
    "SendToReview",
    "Stage",
    "Trigger",
    "WithFallback",
    "as_stage",
    "on_abstain",
    "on_circuit_open",
    "on_error",
    "on_failure",
    "on_invalid_input",
    "on_timeout",
    "on_withheld",
]

T = TypeVar("T")

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


_RESERVED_NAMES = frozenset({PRIMARY, "model", "path"})
_DETAIL_LIMIT = 300


def _error_text(exc: BaseException) -> str:
    return shorten(f"{type(exc).__name__}: {exc}", _DETAIL_LIMIT)


def _check_seconds(owner: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0 < value < math.inf):
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a positive number of seconds or "
            f"None. Got {value!r} instead."
        )
    return float(value)


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


# -- retries ---------------------------------------------------------------------------------


@persistable
class Retry:
    """Retry a failed stage call with exponential backoff and jitter, inside the deadline.

    Give it only to stages that are safe to call twice (idempotent, no side effects). Rows
    whose call raised or timed out are retried; a retry that would start after the
    request's deadline is not made.

    Args:
        retries: extra attempts after the first.
        backoff: seconds before the first retry; doubles each time.
        max_backoff: cap on the wait between attempts.
        jitter: share of each wait drawn at random, in [0, 1] (1: "full jitter").
        seed: seed of the jitter's random generator (None: unpredictable).

    Examples:
        >>> from guardrails import Retry
        >>> Retry(retries=2, backoff=0.01, jitter=0.0).delay(1)
        0.02
    """

    def __init__(
        self,
        *,
        retries: int = 2,
        backoff: float = 0.01,
        max_backoff: float = 1.0,
        jitter: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 1:
            raise ConfigurationError(
                f"The 'retries' parameter of Retry must be an int >= 1. Got {retries!r} instead."
            )
        for name, value in (("backoff", backoff), ("max_backoff", max_backoff)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not (0 <= value < math.inf):
                raise ConfigurationError(
                    f"The {name!r} parameter of Retry must be a number of seconds >= 0. "
                    f"Got {value!r} instead."
                )
        ok = isinstance(jitter, (int, float)) and not isinstance(jitter, bool)
        if not ok or not 0 <= jitter <= 1:
            raise ConfigurationError(
                f"The 'jitter' parameter of Retry must be a float in [0, 1]. Got {jitter!r} "
                "instead."
            )
        self.retries = retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.jitter = float(jitter)
        self.seed = seed
        self._random = random.Random(seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        base = min(self.max_backoff, self.backoff * 2.0**attempt)
        return base * (1.0 - self.jitter * self._random.random())

    def __repr__(self) -> str:
        return (
            f"Retry(retries={self.retries}, backoff={self.backoff:g}, "
            f"max_backoff={self.max_backoff:g}, jitter={self.jitter:g})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Retry) and repr(other) == repr(self)

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "retries": self.retries,
            "backoff": self.backoff,
            "max_backoff": self.max_backoff,
            "jitter": self.jitter,
            "seed": self.seed,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Retry:
        return cls(**state)


# -- stages ----------------------------------------------------------------------------------


class Stage(ABC):  # noqa: B024 - abstract by intent: subclass a code or an instant stage
    """One link of a fallback chain.

    Args (shared by every stage):
        name: written into the ``stage`` column of rows this stage answers and appended to
            their ``tried`` column. Unique within a chain.
        when: the [`Trigger`][] choosing which withheld rows this stage takes
            (default [`on_failure`][]: failures only, never verdicts).
    """

    kind: ClassVar[str] = "stage"
    runs_code: ClassVar[bool] = False

    def __init__(self, *, name: str | None, when: Trigger | None) -> None:
        owner = type(self).__name__
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigurationError(
                f"The 'name' parameter of {owner} must be a non-empty str. Got {name!r}."
            )
        if name in _RESERVED_NAMES:
            raise ConfigurationError(
                f"The 'name' parameter of {owner} cannot be {name!r}: the name is reserved."
            )
        if when is not None and not isinstance(when, Trigger):
            raise ConfigurationError(
                f"The 'when' parameter of {owner} must be a trigger such as on_error() | "
                f"on_timeout(). Got {when!r} instead."
            )
        self.name: str = name or self._default_name()
        self.when: Trigger = when if when is not None else OnFailure()
        self.timeout: float | None = None
        self.breaker: CircuitBreaker | None = None
        self.retry: Retry | None = None

    def _default_name(self) -> str:
        return self.kind

    def copy(self) -> Stage:
        """A copy that owns fresh breaker, retry and trigger state and shares the model."""
        new = copy.copy(self)
        new.when = copy.deepcopy(self.when)
        new.breaker = copy.deepcopy(self.breaker)
        new.retry = copy.deepcopy(self.retry)
        return new

    def is_fitted(self) -> bool:
        return True

    def _settings_repr(self) -> str:
        parts = [f"name={self.name!r}"]
        if not isinstance(self.when, OnFailure):
            parts.append(f"when={self.when!r}")
        if self.timeout is not None:
            parts.append(f"timeout={self.timeout:g}")
        if self.breaker is not None:
            parts.append(f"breaker={self.breaker!r}")
        if self.retry is not None:
            parts.append(f"retry={self.retry!r}")
        return ", ".join(parts)

    def _common_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "name": self.name,
            "when": enc.component(self.when),
            "timeout": self.timeout,
            "breaker": None if self.breaker is None else enc.component(self.breaker),
            "retry": None if self.retry is None else enc.component(self.retry),
        }

    @staticmethod
    def _common_args(state: dict[str, Any], dec: Decoder) -> dict[str, Any]:
        return {
            "name": state["name"],
            "when": dec.component(state["when"]),
            "timeout": state["timeout"],
            "breaker": None if state["breaker"] is None else dec.component(state["breaker"]),
            "retry": None if state["retry"] is None else dec.component(state["retry"]),
        }


class _CodeStage(Stage):
    """A stage that calls user code: it may have a timeout, a breaker and retries."""

    runs_code = True
    needs_thread = False  # True: run in a worker even without a timeout (async rules)

    def __init__(
        self,
        *,
        name: str | None,
        when: Trigger | None,
        timeout: float | None,
        breaker: CircuitBreaker | None,
        retry: Retry | None,
    ) -> None:
        super().__init__(name=name, when=when)
        owner = type(self).__name__
        self.timeout = _check_seconds(owner, "timeout", timeout)
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise ConfigurationError(
                f"The 'breaker' parameter of {owner} must be a CircuitBreaker or None. "
                f"Got {breaker!r} instead."
            )
        if retry is not None and not isinstance(retry, Retry):
            raise ConfigurationError(
                f"The 'retry' parameter of {owner} must be a Retry(...) or None; give one only "
                f"when the stage is safe to call twice. Got {retry!r} instead."
            )
        self.breaker = breaker
        self.retry = retry

    def takes(self, idx: NDArray[np.intp], call: Call) -> NDArray[np.intp]:
        """The rows among ``idx`` this stage can be given at all."""
        return idx

    @abstractmethod
    def compute(self, idx: NDArray[np.intp], call: Call, prev: Decisions) -> Decisions:
        """Decisions for rows ``idx`` of the request (may raise; the chain catches)."""

    def awaits(self) -> bool:
        """True when [`acompute`][] awaits work of its own; otherwise the async path runs
        [`compute`][] in a thread."""
        return False

    async def acompute(self, idx: NDArray[np.intp], call: Call, prev: Decisions) -> Decisions:
        """Async [`compute`][], called only when [`awaits`][] is True."""
        return self.compute(idx, call, prev)


def native_async(layer: Layer) -> bool:
    """True when some layer of ``layer``'s stack awaits work of its own (see
    [`Layer.awaits_io`][guardrails.Layer.awaits_io]).

    When none does, the async path would only do the sync path's work on the event loop
    and in threads; the chain then runs the sync path in its own bounded workers, so that
    a hung call holds one of them and never a thread of the event loop's default executor.
    """
    return any(part.awaits_io() for part in (layer, *layer.layers()))


def _sub_call(rows: Any, n: int, call: Call) -> Call:
    return Call(raw=rows, n=n, request_id=call.request_id, deadline=call.deadline)


@persistable
class ModelStage(_CodeStage):
    """Another model, or a whole guard with its own calibration and policy.

    A bare model gets the model-ready rows (``call.model_rows``) and is adapted like the
    primary; rows that failed validation never reach it. A guard (any
    [`Layer`][guardrails.core.layer.Layer]) gets the raw rows and validates them itself.

    Args:
        model: a fitted estimator, an object with ``predict_proba``/``predict``, a callable,
            or a [`Guard`][guardrails.Guard].
        name: stage name (default: from the model, e.g. ``"random_forest_classifier"``
            for a ``RandomForestClassifier``, a guard's own name, a function's name).
        when: trigger (default [`on_failure`][]: failures only).
        timeout: seconds this stage may take (the request's deadline still applies).
        breaker: a [`CircuitBreaker`][guardrails.CircuitBreaker] for this stage.
        retry: a [`Retry`][], only if the model is safe to call twice.
        output: as for [`ModelAdapter`][guardrails.ModelAdapter], for a bare model.
        classes: as for [`ModelAdapter`][guardrails.ModelAdapter], for a bare model.
    """

    kind = "model"

    def __init__(
        self,
        model: Any,
        *,
        name: str | None = None,
        when: Trigger | None = None,
        timeout: float | None = None,
        breaker: CircuitBreaker | None = None,
        retry: Retry | None = None,
        output: OutputKind | None = None,
        classes: Sequence[Any] | NDArray[Any] | None = None,
    ) -> None:
        self.model = model
        super().__init__(name=name, when=when, timeout=timeout, breaker=breaker, retry=retry)
        self.output = output
        self.classes = None if classes is None else np.asarray(classes)
        if isinstance(model, Layer):
            if output is not None or classes is not None:
                raise ConfigurationError(
                    "output= and classes= apply to a bare model, not to a guard used as a stage."
                )
            self.layer: Layer = model
            self.is_guard = True
        else:
            self.layer = ModelAdapter(model, output=output, classes=classes, name=self.name)
            self.is_guard = False

    def _default_name(self) -> str:
        """A name from the model: a guard's own name, a function's name, or its class
        in snake case (``RandomForestClassifier`` -> ``random_forest_classifier``)."""
        model = self.model
        text = getattr(model, "guard_name", None)
        if not isinstance(text, str):
            text = getattr(model, "__name__", None) if inspect.isroutine(model) else None
        if not isinstance(text, str):
            text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(model).__name__).lower()
        if not text.isidentifier() or text in _RESERVED_NAMES:
            return "backup_model"
        return text

    def is_fitted(self) -> bool:
        return all(layer.is_fitted() for layer in self.layer.layers())

    def takes(self, idx: NDArray[np.intp], call: Call) -> NDArray[np.intp]:
        if self.is_guard or call.valid is None:
            return idx
        valid: NDArray[np.bool_] = np.asarray(call.valid, dtype=bool)
        return idx[valid[idx]]

    def _rows(self, idx: NDArray[np.intp], call: Call) -> Any:
        return call.rows(idx) if self.is_guard else call.model_rows(idx)

    def compute(self, idx: NDArray[np.intp], call: Call, prev: Decisions) -> Decisions:
        rows = self._rows(idx, call)
        return self.layer.decide_call(rows, _sub_call(rows, len(idx), call))

    def awaits(self) -> bool:
        return self.is_guard and native_async(self.layer)

    async def acompute(self, idx: NDArray[np.intp], call: Call, prev: Decisions) -> Decisions:
        rows = self._rows(idx, call)
        return await self.layer.adecide_call(rows, _sub_call(rows, len(idx), call))

    def __repr__(self) -> str:
        what = type(self.model).__name__
        return f"ModelStage({what}, {self._settings_repr()})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state = self._common_state(enc)
        what = "guard" if self.is_guard else "model"
        state["model"] = enc.ref(
            self.name, f"the {what} of fallback stage {self.name!r}", self.model, shown="type"
        )
        state["output"] = None if self.is_guard else self._layer_output()
        classes = self.classes
        if classes is not None and classes.dtype == object:
            classes = classes.astype(str)
        state["classes"] = enc.array(classes)
        return state

    def _layer_output(self) -> str | None:
        return self.layer.output if isinstance(self.layer, ModelAdapter) else None

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ModelStage:
        model = dec.ref(state["model"])
        is_guard = isinstance(model, Layer)
        classes = dec.array(state["classes"])
        return cls(
            model,
            output=None if is_guard else state["output"],
            classes=None if is_guard or classes is None else classes,
            **cls._common_args(state, dec),
        )


def _as_answers(raw: Any, m: int, name: str) -> NDArray[Any]:
    if _is_frame(raw):
        raw = raw.to_numpy()
    if isinstance(raw, (str, bytes, dict)) or not hasattr(raw, "__len__"):
        raise TypeError(f"rule {name!r} returned {type(raw).__name__}; expected one answer per row")
    if len(raw) != m:
        raise ValueError(f"rule {name!r} returned {len(raw)} answers for {m} rows")
    values = list(raw)
    if any(v is None for v in values):
        out = object_column(m)
        out[:] = values
        return out
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = object_column(m)
        arr[:] = values
    return arr


@persistable
class Rule(_CodeStage):
    """A function over the raw input rows: ``fn(rows) -> one answer per row``.

    Return ``None`` for a row the rule cannot answer: that row keeps its earlier reason and
    goes on to the next stage. ``fn`` may be a coroutine function; ``adecide`` awaits it
    natively, ``decide`` runs it to completion.

    Args:
        fn: the rule; receives the rows as the caller gave them (array rows, records...).
        name: stage name (default ``"rule"``).
        when: as for [`ModelStage`][].
        timeout: as for [`ModelStage`][].
        breaker: as for [`ModelStage`][].
        retry: as for [`ModelStage`][].

    Examples:
        >>> import numpy as np
        >>> from guardrails import Rule
        >>> Rule(lambda rows: [1 if r[0] > 0 else None for r in rows], name="sign").name
        'sign'
    """

    kind = "rule"

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        name: str | None = None,
        when: Trigger | None = None,
        timeout: float | None = None,
        breaker: CircuitBreaker | None = None,
        retry: Retry | None = None,
    ) -> None:
        if not callable(fn) or isinstance(fn, Layer):
            raise ConfigurationError(
                f"The 'fn' parameter of Rule must be a function of the rows. Got {fn!r} instead."
            )
        super().__init__(name=name, when=when, timeout=timeout, breaker=breaker, retry=retry)
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.needs_thread = self.is_async  # decide() runs it on a worker's own event loop

    def _finish(self, raw: Any, prev: Decisions) -> Decisions:
        m = len(prev)
        answers = _as_answers(raw, m, self.name)
        declined = np.fromiter((v is None for v in answers), dtype=bool, count=m)
        if answers.dtype == object and not declined.any():
            answers = np.asarray(answers.tolist())
            if answers.ndim != 1:
                answers = _as_answers(list(answers), m, self.name)
        d = Decisions(prediction=answers, stage=self.name)
        if declined.any():
            d = d.withhold(declined, prev.reason, detail=f"rule {self.name!r} declined")
        return d

    def compute(self, idx: NDArray[np.intp], call: Call, prev: Decisions) -> Decisions:
        rows = call.rows(idx)
        if self.is_async:
            raw = asyncio.run(self.fn(rows))
        else:
            raw = self.fn(rows)
        return self._finish(raw, prev)

    def awaits(self) -> bool:
        return self.is_async

    async def acompute(self, idx: NDArray[np.intp], call: Call, prev: Decisions) -> Decisions:
        return self._finish(await self.fn(call.rows(idx)), prev)

    def __repr__(self) -> str:
        fn = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"Rule({fn}, {self._settings_repr()})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state = self._common_state(enc)
        state["fn"] = enc.ref(self.name, f"the function of rule stage {self.name!r}")
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Rule:
        return cls(dec.ref(state["fn"]), **cls._common_args(state, dec))


_JSON_SCALARS = (str, int, float, bool)


class _InstantStage(Stage):
    """A stage that runs no user code: it answers at once and ignores deadlines."""

    @abstractmethod
    def answer(self, prev: Decisions) -> Decisions:
        """Decisions for the rows ``prev`` describes."""


@persistable
class Default(_InstantStage):
    """A constant answer for every row that reaches it; never fails, never waits.

    Args:
        value: the answer (a str, int, float or bool, so that it can be saved).
        name: stage name (default ``"default"``).
        when: trigger (default [`on_failure`][]).

    Examples:
        >>> from guardrails import Default
        >>> Default("manual check", name="fallback_label")
        Default('manual check', name='fallback_label')
    """

    kind = "default"

    def __init__(self, value: Any, *, name: str | None = None, when: Trigger | None = None) -> None:
        super().__init__(name=name, when=when)
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, _JSON_SCALARS) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise ConfigurationError(
                "The 'value' parameter of Default must be a str, int, finite float or bool "
                f"(so the guard can be saved). Got {value!r} instead."
            )
        self.value = value

    def answer(self, prev: Decisions) -> Decisions:
        m = len(prev)
        if isinstance(self.value, str):
            pred: NDArray[Any] = object_column(m, self.value)
        else:
            pred = np.full(m, self.value)
        return Decisions(prediction=pred, stage=self.name)

    def __repr__(self) -> str:
        name = "" if self.name == self.kind else f", name={self.name!r}"
        when = "" if isinstance(self.when, OnFailure) else f", when={self.when!r}"
        return f"Default({self.value!r}{name}{when})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"value": self.value, "name": self.name, "when": enc.component(self.when)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Default:
        return cls(state["value"], name=state["name"], when=dec.component(state["when"]))


@persistable
class SendToReview(_InstantStage):
    """Route the rows that reach it to a person: withheld with ``Reason.REVIEW``.

    The review layer outside the chain enqueues every row still withheld when it sees it;
    this stage makes the routing explicit and says so in ``stage``, ``tried`` and ``detail``.

    Args:
        name: stage name (default ``"review"``).
        when: trigger (default [`on_failure`][]).
    """

    kind = "review"

    def __init__(self, *, name: str | None = None, when: Trigger | None = None) -> None:
        super().__init__(name=name, when=when)

    def answer(self, prev: Decisions) -> Decisions:
        return Decisions.withheld(
            len(prev), Reason.REVIEW, stage=self.name, dtype=prev.prediction.dtype
        )

    def __repr__(self) -> str:
        return f"SendToReview({self._settings_repr()})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"name": self.name, "when": enc.component(self.when)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> SendToReview:
        return cls(name=state["name"], when=dec.component(state["when"]))


def _looks_like_model(obj: Any) -> bool:
    return isinstance(obj, Layer) or any(
        callable(getattr(obj, m, None)) for m in ("predict_proba", "decision_function", "predict")
    )


def as_stage(obj: Any) -> Stage:
    """The one place shorthand becomes a stage.

    A [`Stage`][] is kept; a guard, a layer or an object with ``predict_proba``/
    ``decision_function``/``predict`` becomes a [`ModelStage`][]; any other callable a
    [`Rule`][]. A constant must be wrapped explicitly: ``Default(value)``.
    """
    if isinstance(obj, Stage):
        return obj
    if _looks_like_model(obj):
        return ModelStage(obj)
    if callable(obj):
        return Rule(obj)
    raise ConfigurationError(
        f"A fallback stage must be a Stage, a model, a guard or a rule function. Got {obj!r}; "
        f"for a constant answer write Default({obj!r})."
    )


def normalise_stages(stages: Sequence[Any]) -> list[Stage]:
    """Stages from shorthand (see `as_stage`), checked for unique names."""
    if not stages:
        raise ConfigurationError(
            "A fallback chain needs at least one stage, e.g. fallback(backup_model, Default(0))."
        )
    out = [as_stage(s) for s in stages]
    for s in out:
        if not isinstance(s, (_CodeStage, _InstantStage)):
            raise ConfigurationError(
                f"{type(s).__name__} subclasses Stage directly; subclass ModelStage, Rule, "
                "Default or SendToReview instead."
            )
    seen: dict[str, int] = {}
    for s in out:
        seen[s.name] = seen.get(s.name, 0) + 1
    repeated = sorted(name for name, k in seen.items() if k > 1)
    if repeated:
        raise ConfigurationError(
            f"Fallback stage names must be unique; {repeated} repeat. Give each stage a name=..."
        )
    return out


# -- the layer ------------------------------------------------------------------------------


@dataclasses.dataclass
class _Outcome:
    """What one attempt of the primary or a stage produced."""

    d: Decisions
    failed: bool  # counts against a circuit breaker


@dataclasses.dataclass(frozen=True)
class _Run:
    """A step of the chain: run user code, under ``limit`` seconds if not None.

    ``sync`` is the blocking call; ``coro`` (when the code awaits work of its own) makes
    the coroutine the async driver awaits instead. ``needs_thread``: the sync driver runs
    ``sync`` in a worker even without a limit (an async rule run by ``decide``).
    """

    sync: Callable[[], Any]
    coro: Callable[[], Awaitable[Any]] | None
    limit: float | None
    needs_thread: bool = False


@dataclasses.dataclass(frozen=True)
class _Sleep:
    """A step of the chain: wait ``seconds`` (a retry's backoff)."""

    seconds: float


_Flow = Generator["_Run | _Sleep", Any, T]
"""The chain written once: yields steps, receives their results, returns its own."""


def _ends(limit: float | None) -> float | None:
    return None if limit is None else time.monotonic() + limit


def _limit(timeout: float | None, call: Call) -> float | None:
    remaining = call.remaining()
    if timeout is None:
        return remaining
    return timeout if remaining is None else min(timeout, remaining)


_SKIPPED = (int(Reason.CIRCUIT_OPEN), int(Reason.TIMEOUT))
"""Reasons under which the primary stack, validation included, did not run."""


def _all_failed(d: Decisions) -> bool:
    return len(d) > 0 and bool(np.isin(d.reason, list(_FAILED)).all() and d.abstained.all())


def _scrubbed(d: Decisions, call: Call) -> Decisions:
    """``d`` with sensitive input values (as validation found them) cut from its details."""
    secrets = None if call.validation is None else call.validation.secrets
    if not secrets or d.detail is None or len(d) != call.n:
        return d
    detail = scrub_details(d.detail, secrets)
    return d if detail is d.detail else d.replace(detail=detail)


ExhaustedPolicy = Literal["abstain", "raise"]


@persistable
class WithFallback(Layer):
    """Send the rows the layer inside does not answer down an ordered chain of stages.

    Args:
        inner: the primary: a model or the guard layers below this one.
        stages: the chain, in order: [`ModelStage`][], [`Rule`][], [`Default`][],
            [`SendToReview`][], or shorthand (see `as_stage`).
        primary_timeout: seconds the primary may take; past it the call is abandoned and
            its rows go on with reason ``TIMEOUT``. The request's deadline also applies.
        primary_breaker: a [`CircuitBreaker`][guardrails.CircuitBreaker] protecting the primary;
            while open, rows skip it with reason ``CIRCUIT_OPEN``.
        on_exhausted: ``"abstain"`` (rows no stage answered stay non-answers with the last
            reason and the stages tried) or ``"raise"`` ([`FallbackExhaustedError`][]).
            Rows sent to review are not exhausted.
        max_workers: worker threads for calls that run under a timeout (see the module doc).
        max_wait: seconds a call under a timeout waits in line for a free worker before it
            is shed (its rows time out at once, counted in ``worker_stats().shed``); None
            waits until the call's own deadline.
        workers: a [`WorkerPool`][guardrails.WorkerPool] shared with other chains (one
            limit for the whole process); its ``max_workers`` and ``max_wait`` then apply.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Default, ModelAdapter, WithFallback, on_error
        >>> def down(X):
        ...     raise ConnectionError("model server down")
        >>> primary = ModelAdapter(down, output="labels")
        >>> chain = WithFallback(primary, [Default(0, when=on_error())])
        >>> d = chain.decide(np.zeros((2, 3)))
        >>> d.stage.tolist(), d[0].stages_tried, d[0].detail
        (['default', 'default'], ('primary', 'default'), 'after primary: model_error')
    """

    name = "fallback"
    inner: Layer

    def __init__(
        self,
        inner: Any,
        stages: Sequence[Any],
        *,
        primary_timeout: float | None = None,
        primary_breaker: CircuitBreaker | None = None,
        on_exhausted: ExhaustedPolicy = "abstain",
        max_workers: int = 32,
        max_wait: float | None = None,
        workers: WorkerPool | None = None,
    ) -> None:

        self.inner = as_layer(inner)
        if isinstance(stages, (Stage, str)) or not isinstance(stages, Sequence):
            raise ConfigurationError(
                "The 'stages' parameter of WithFallback must be a list of stages. "
                f"Got {stages!r} instead."
            )
        check_settings(primary_timeout, primary_breaker, on_exhausted, max_workers, max_wait)
        if workers is not None and not isinstance(workers, WorkerPool):
            raise ConfigurationError(
                "The 'workers' parameter of WithFallback must be a WorkerPool or None. "
                f"Got {workers!r} instead."
            )
        self.stages: list[Stage] = normalise_stages(stages)
        self.primary_timeout = None if primary_timeout is None else float(primary_timeout)
        self.primary_breaker = primary_breaker
        self.on_exhausted: ExhaustedPolicy = on_exhausted
        self._workers = (
            workers if workers is not None else WorkerPool(max_workers, max_wait=max_wait)
        )
        self.max_workers = self._workers.max_workers
        self.max_wait = self._workers.max_wait
        self.shared_workers = workers is not None
        self._native = native_async(self.inner)

    # -- what the stack exposes ----------------------------------------------------------

    def is_fitted(self) -> bool:
        return all(s.is_fitted() for s in self.stages)

    def awaits_io(self) -> bool:
        return self._native or any(isinstance(s, _CodeStage) and s.awaits() for s in self.stages)

    @property
    def workers(self) -> WorkerPool:
        """The [`WorkerPool`][guardrails.WorkerPool] running this chain's calls under a
        timeout (shared with other chains when one was given)."""
        return self._workers

    def worker_stats(self) -> PoolStats:
        """Threads, calls in line, and the calls started, shed and abandoned so far."""
        return self._workers.stats()

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"this chain has no stage {name!r}; it has {[s.name for s in self.stages]}")

    def __repr__(self) -> str:
        parts = [f"stages=[{', '.join(repr(s) for s in self.stages)}]"]
        if self.primary_timeout is not None:
            parts.append(f"primary_timeout={self.primary_timeout:g}")
        if self.primary_breaker is not None:
            parts.append(f"primary_breaker={self.primary_breaker!r}")
        if self.on_exhausted != "abstain":
            parts.append(f"on_exhausted={self.on_exhausted!r}")
        if self.max_wait is not None:
            parts.append(f"max_wait={self.max_wait:g}")
        return f"WithFallback({', '.join(parts)})"

    # -- one chain, two drivers ----------------------------------------------------------
    #
    # The chain is written once, as generators that yield what to run (_Run) or how long to
    # wait (_Sleep) and receive the result (or have the exception thrown in). _drive runs
    # them for decide(), _adrive for adecide(): the only places where sync and async differ.

    def decide_call(self, X: Any, call: Call) -> Decisions:
        return self._drive(self._flow(X, call))

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        return await self._adrive(self._flow(X, call))

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner.fit_call(X, y, call)
        for s in self.stages:
            if isinstance(s, ModelStage) and s.is_guard and not s.is_fitted():
                s.layer.fit(X, y)
        return self._drive(self._chain(d, call, fitting=True))

    def _flow(self, X: Any, call: Call) -> _Flow[Decisions]:
        d = yield from self._primary(X, call)
        d = yield from self._chain(d, call)
        return _scrubbed(d, call)

    def _drive(self, flow: _Flow[T]) -> T:
        """Run ``flow`` in the caller's thread (``decide``)."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            try:
                if isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                elif step.limit is None and not step.needs_thread:
                    value = step.sync()
                else:
                    value = self._workers.run(step.sync, deadline=_ends(step.limit))
            except BaseException as exc:
                error = exc

    async def _adrive(self, flow: _Flow[T]) -> T:
        """Run ``flow`` on the event loop (``adecide``); blocking work goes to threads."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            try:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                elif step.coro is not None:
                    try:
                        value = await asyncio.wait_for(step.coro(), step.limit)
                    except asyncio.TimeoutError:
                        raise Abandoned from None
                elif step.limit is None:  # never abandoned: where the sync path runs it
                    value = await asyncio.to_thread(step.sync)
                else:
                    value = await self._workers.arun(step.sync, deadline=_ends(step.limit))
            except BaseException as exc:
                error = exc

    def _primary(self, X: Any, call: Call) -> _Flow[Decisions]:
        breaker = self.primary_breaker
        token = breaker.acquire() if breaker is not None else 0
        if token is None:
            call.circuit_opened(PRIMARY)
            d = self._withheld_primary(call.n, Reason.CIRCUIT_OPEN, "circuit open for primary")
            return self._screen_skipped(X, call, d)
        limit = _limit(self.primary_timeout, call)
        if limit is not None and limit <= 0:
            d = self._withheld_primary(call.n, Reason.TIMEOUT, "deadline passed")
        else:
            # a call that may be abandoned works on a copy: a late finish writes nothing here
            sub = call if limit is None else dataclasses.replace(call)
            try:
                d = yield _Run(
                    lambda: self.inner.decide_call(X, sub),
                    (lambda: self.inner.adecide_call(X, sub)) if self._native else None,
                    limit,
                )
            except Abandoned:
                d = self._withheld_primary(
                    call.n, Reason.TIMEOUT, f"timed out after {limit or 0:.3g} s"
                )
            except Shed:
                if breaker is not None:
                    breaker.release(token)  # it never ran: says nothing about the primary
                call.was_shed(PRIMARY)
                d = self._withheld_primary(call.n, Reason.TIMEOUT, self._no_worker())
                return self._screen_skipped(X, call, d)
            except (InvalidInputError, asyncio.CancelledError):
                if breaker is not None:
                    breaker.release(token)  # the caller's input failed, or the caller left
                raise
            except BaseException:
                if breaker is not None:
                    breaker.failure(token)
                raise
            if sub is not call:
                _adopt(call, sub)
        if breaker is not None:
            (breaker.failure if _all_failed(d) else breaker.success)(token)
        return self._screen_skipped(X, call, d)

    def _chain(self, d: Decisions, call: Call, *, fitting: bool = False) -> _Flow[Decisions]:
        if not d.abstained.any():
            return d
        book = _Book(d)
        for stage in self.stages:
            idx = self._selected(stage, book.d, call)
            if idx.size == 0:
                continue
            t0 = time.perf_counter()
            prev = book.d.take(idx)
            if isinstance(stage, _CodeStage):
                sub = yield from self._run_code(stage, idx, call, prev)
            else:
                sub = _instant(stage).answer(prev)
            book.record(stage, idx, sub, time.perf_counter() - t0)
        return book.result() if fitting else self._finish(book)

    def _run_code(
        self, stage: _CodeStage, idx: NDArray[np.intp], call: Call, prev: Decisions
    ) -> _Flow[Decisions]:
        out: Decisions | None = None
        pending = np.arange(idx.size)
        attempt = 0
        while True:
            result = yield from self._attempt(stage, idx[pending], call, prev.take(pending))
            out = result.d if out is None else out.merge(pending, result.d)
            retry = stage.retry
            if retry is None or attempt >= retry.retries:
                return out
            again = np.isin(result.d.reason, list(_FAILED)) & result.d.abstained
            if not again.any():
                return out
            delay = retry.delay(attempt)
            remaining = call.remaining()
            if remaining is not None and delay >= remaining:
                return out
            if delay > 0:
                yield _Sleep(delay)
            pending = pending[again]
            attempt += 1

    def _attempt(
        self, stage: _CodeStage, idx: NDArray[np.intp], call: Call, prev: Decisions
    ) -> _Flow[_Outcome]:
        breaker = stage.breaker
        token = breaker.acquire() if breaker is not None else 0
        if token is None:
            call.circuit_opened(stage.name)
            return _Outcome(
                _stage_withheld(stage, prev, Reason.CIRCUIT_OPEN, "circuit open"), False
            )
        limit = _limit(stage.timeout, call)
        try:
            outcome = yield from self._attempt_once(stage, idx, call, prev, limit)
        except BaseException:
            if breaker is not None:
                breaker.release(token)  # cancelled from outside: free the probe slot
            raise
        if breaker is not None:
            (breaker.failure if outcome.failed else breaker.success)(token)
        return outcome

    def _attempt_once(
        self,
        stage: _CodeStage,
        idx: NDArray[np.intp],
        call: Call,
        prev: Decisions,
        limit: float | None,
    ) -> _Flow[_Outcome]:
        if limit is not None and limit <= 0:
            return _Outcome(
                _stage_withheld(stage, prev, Reason.TIMEOUT, "deadline passed before the stage"),
                False,
            )
        try:
            d = yield _Run(
                lambda: stage.compute(idx, call, prev),
                (lambda: stage.acompute(idx, call, prev)) if stage.awaits() else None,
                limit,
                needs_thread=stage.needs_thread,
            )
        except Shed:
            call.was_shed(stage.name)
            return _Outcome(_stage_withheld(stage, prev, Reason.TIMEOUT, self._no_worker()), False)
        except Abandoned:
            return _Outcome(
                _stage_withheld(stage, prev, Reason.TIMEOUT, f"timed out after {limit or 0:.3g} s"),
                True,
            )
        except Exception as exc:
            return _Outcome(
                _stage_withheld(stage, prev, Reason.MODEL_ERROR, _error_text(exc)), True
            )
        return _checked(stage, d, prev, idx.size)

    def _screen_skipped(self, X: Any, call: Call, d: Decisions) -> Decisions:
        """Validate the rows a skipped primary never validated (circuit open, timeout).

        The validating layer sits inside the primary stack; when that stack does not run,
        bare-model stages would otherwise receive rows nobody checked. Invalid rows become
        ``INVALID_INPUT`` non-answers with their errors, exactly as if the primary had run.
        """
        if call.valid is not None or not len(d) or not d.abstained.all():
            return d
        if not np.isin(d.reason, _SKIPPED).all():
            return d
        screened = self.inner.screen(X, call)
        note = call.validation  # left by the validating layer's screen()
        if screened is None or note is None:
            return d
        invalid = np.flatnonzero(note.invalid)
        return d.merge(invalid, screened.take(invalid)) if invalid.size else d

    def _withheld_primary(self, n: int, reason: Reason, detail: str) -> Decisions:
        classes = self.inner.classes_
        dtype: Any = object if classes is None else classes.dtype
        if self.inner.task == "regression":
            dtype = np.float64
        return Decisions.withheld(
            n, reason, stage=PRIMARY, detail=detail, classes=classes, dtype=dtype
        )

    def _no_worker(self) -> str:
        pool = self._workers
        when = "before the deadline" if pool.max_wait is None else f"within {pool.max_wait:g} s"
        return (
            f"no free worker thread {when}: shed ({pool.max_workers} calls still running, "
            "some possibly abandoned past their deadline)"
        )

    def _selected(self, stage: Stage, d: Decisions, call: Call) -> NDArray[np.intp]:
        if not d.abstained.any():
            return np.empty(0, dtype=np.intp)
        idx = np.flatnonzero(stage.when.select(d, call) & d.abstained)
        if isinstance(stage, _CodeStage) and idx.size:
            idx = stage.takes(idx, call)
        return idx

    def _finish(self, book: _Book) -> Decisions:
        d = book.result()
        if self.on_exhausted == "raise":
            left = d.abstained & (d.reason != int(Reason.REVIEW))
            if left.any():
                rows = np.flatnonzero(left).tolist()
                reasons = sorted({str(Reason(int(c))) for c in d.reason[left]})
                raise FallbackExhaustedError(
                    f"{len(rows)} row(s) got no answer from the primary or any fallback stage "
                    f"(last reasons: {', '.join(reasons)}).",
                    rows,
                )
        return d

    # -- persistence -----------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "stages": [enc.component(s) for s in self.stages],
            "primary_timeout": self.primary_timeout,
            "primary_breaker": None
            if self.primary_breaker is None
            else enc.component(self.primary_breaker),
            "on_exhausted": self.on_exhausted,
            "max_workers": self.max_workers,
            "max_wait": self.max_wait,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> WithFallback:
        stages = [dec.component(spec) for spec in state["stages"]]
        if not all(isinstance(s, Stage) for s in stages):
            raise ArtifactError("a fallback chain in the artifact holds something not a stage")
        breaker = state["primary_breaker"]
        return cls(
            inner,
            stages,
            primary_timeout=state["primary_timeout"],
            primary_breaker=None if breaker is None else dec.component(breaker),
            on_exhausted=state["on_exhausted"],
            max_workers=state["max_workers"],
            max_wait=state.get("max_wait"),
        )


def check_settings(
    primary_timeout: Any,
    primary_breaker: Any,
    on_exhausted: Any,
    max_workers: Any,
    max_wait: Any = None,
) -> None:
    """Validate the chain-wide settings of [`WithFallback`][] (and the builder step)."""
    _check_seconds("WithFallback", "primary_timeout", primary_timeout)
    if primary_breaker is not None and not isinstance(primary_breaker, CircuitBreaker):
        raise ConfigurationError(
            "The 'primary_breaker' parameter of WithFallback must be a CircuitBreaker or None. "
            f"Got {primary_breaker!r} instead."
        )
    if on_exhausted not in ("abstain", "raise"):
        raise ConfigurationError(
            "The 'on_exhausted' parameter of WithFallback must be 'abstain' or 'raise'. "
            f"Got {on_exhausted!r} instead."
        )
    if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
        raise ConfigurationError(
            "The 'max_workers' parameter of WithFallback must be an int >= 1. "
            f"Got {max_workers!r} instead."
        )
    ok = isinstance(max_wait, (int, float)) and not isinstance(max_wait, bool)
    if max_wait is not None and (not ok or not 0 <= max_wait < math.inf):
        raise ConfigurationError(
            "The 'max_wait' parameter of WithFallback must be a number of seconds >= 0 or "
            f"None. Got {max_wait!r} instead."
        )


def _instant(stage: Stage) -> _InstantStage:
    if not isinstance(stage, _InstantStage):
        raise ConfigurationError(
            f"{type(stage).__name__} is neither a code stage nor an instant one; subclass "
            "ModelStage, Rule, Default or SendToReview."
        )
    return stage


def _adopt(call: Call, sub: Call) -> None:
    """Keep what the primary's layers left on its copy of the call (it finished in time)."""
    call.adopt(sub)


def _stage_withheld(stage: Stage, prev: Decisions, reason: Reason, detail: str) -> Decisions:
    return Decisions.withheld(
        len(prev),
        reason,
        stage=stage.name,
        detail=f"{stage.name}: {detail}" if reason is not Reason.MODEL_ERROR else detail,
        dtype=prev.prediction.dtype,
    )


def _checked(stage: Stage, d: Decisions, prev: Decisions, n: int) -> _Outcome:
    if not isinstance(d, Decisions) or len(d) != n:
        got = len(d) if isinstance(d, Decisions) else type(d).__name__
        raise GuardrailsError(f"stage {stage.name!r} gave {got} decisions for {n} rows")
    return _Outcome(d, _all_failed(d))


class _Book:
    """Per-request bookkeeping of a chain: merged decisions, stages tried, reasons seen."""

    def __init__(self, d: Decisions) -> None:
        self.d = d
        n = len(d)
        self.tried = object_column(n)
        if d.tried is not None:
            self.tried[:] = list(d.tried)
        else:
            self.tried[:] = [(str(s),) for s in d.stage]
        self.history = object_column(n)
        # the verdict each row entered the chain with, kept for the rows a stage overrides
        self.verdict = np.where(d.abstained & verdict_mask(d.reason), d.reason, 0).astype(np.int8)
        self.verdict_detail = d.detail

    def record(self, stage: Stage, idx: NDArray[np.intp], sub: Decisions, seconds: float) -> None:
        m = idx.size
        prev_stage, prev_reason = self.d.stage[idx], self.d.reason[idx]
        sub = sub.replace(stage=object_column(m, stage.name), timings={stage.name: seconds})
        if sub.errors is None and self.d.errors is not None:  # why validation refused it
            sub = sub.replace(errors=self.d.errors[idx])
        detail = object_column(m) if sub.detail is None else sub.detail.copy()
        review = sub.abstained & (sub.reason == int(Reason.REVIEW))
        declined = f"rule {stage.name!r} declined" if isinstance(stage, Rule) else None
        over = self._overrides(idx, sub)
        for j in range(m):
            i = int(idx[j])
            seen = self.history[i]
            if seen is None:
                seen = f"{prev_stage[j]}: {Reason(int(prev_reason[j]))}"
            self.tried[i] = (*self.tried[i], stage.name)
            if not sub.abstained[j]:
                detail[j] = f"after {seen}"
            elif review[j]:
                detail[j] = f"sent to review after {seen}"
            else:
                what = "declined" if detail[j] == declined else str(Reason(int(sub.reason[j])))
                seen = f"{seen}; {stage.name}: {what}"
            if sub.abstained[j] and self.verdict[i] and self.verdict_detail is not None:
                # a row still withheld keeps why its verdict was given (field, bound, value)
                why = self.verdict_detail[i]
                if why and why != detail[j]:
                    detail[j] = why if detail[j] is None else f"{why}; {detail[j]}"
            self.history[i] = seen
        self.d = self.d.merge(idx, sub.replace(detail=detail, **over))

    def _overrides(self, idx: NDArray[np.intp], sub: Decisions) -> dict[str, Any]:
        """``overridden`` columns for ``sub``: the entry verdict of every row it answered."""
        verdict = self.verdict[idx]
        took = ~sub.abstained & (verdict != 0)
        if not took.any() and sub.overridden is None:
            return {}
        m = idx.size
        codes = np.zeros(m, dtype=np.int8) if sub.overridden is None else sub.overridden.copy()
        text = object_column(m) if sub.overridden_detail is None else sub.overridden_detail.copy()
        codes[took] = verdict[took]
        if self.verdict_detail is not None:
            text[took] = self.verdict_detail[idx][took]
        return {"overridden": codes, "overridden_detail": text}

    def result(self) -> Decisions:
        return self.d.replace(tried=self.tried)
