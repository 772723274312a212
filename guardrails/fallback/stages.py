"""Fallback stages: what answers the rows a trigger selects (a model, a rule, a default, review).

A code stage ([`ModelStage`][], [`Rule`][]) runs user code, under a timeout, a breaker and
a [`Retry`][guardrails.Retry] if given; an instant stage ([`Default`][], [`SendToReview`][])
answers at once. [`as_stage`][] turns shorthand (a model, a function, a constant) into one.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.core.adapter import ModelAdapter, OutputKind
from guardrails.core.decisions import PRIMARY, Decisions, Reason, object_column
from guardrails.core.errors import (
    ConfigurationError,
)
from guardrails.core.layer import Call, Layer, _is_frame
from guardrails.core.persistence import persistable
from guardrails.core.text import shorten
from guardrails.fallback.breaker import CircuitBreaker
from guardrails.fallback.retry import Retry
from guardrails.fallback.triggers import OnFailure, Trigger

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["Default", "ModelStage", "Rule", "SendToReview", "Stage", "as_stage"]

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
