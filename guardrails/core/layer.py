"""The wrapper protocol: every layer is a predictor that returns [`Decisions`][].

A [`Layer`][] wraps an inner layer (the bottom one wraps the model through
[`ModelAdapter`][guardrails.core.adapter.ModelAdapter]). Public calls (``decide``, ``decide_one``,
``predict``, ``adecide``, ``fit``) start a [`Call`][] and hand it down; each layer
implements ``decide_call`` (and ``fit_call`` when it learns). Most layers only post-process the
inner layer's decisions: they subclass [`PostLayer`][guardrails.core.post.PostLayer] (in
[`guardrails.core.post`][], above the adapter) and implement ``post``.
"""

from __future__ import annotations

import asyncio
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decision, Decisions
from guardrails.core.errors import ArtifactError, InvalidInputError, NotFittedError

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "Call",
    "DriftNote",
    "Layer",
    "ReviewNote",
    "ValidationNote",
    "as_batch",
    "one_row_batch",
    "take_rows",
]


def _new_request_id() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True, slots=True)
class ValidationNote:
    """What a validating layer tells the layers outside it about one call.

    Attributes:
        policy: the layer's ``on_invalid`` policy ("abstain", "fallback" or "raise"); a
            fallback chain sends ``INVALID_INPUT`` rows on only under "fallback".
        invalid: ``(n_samples,)`` bool mask of the rows that failed validation.
        secrets: the raw values of sensitive fields per invalid row, for layers that write
            messages validation never saw (a stage whose exception quotes its input) to
            scrub them.

    Examples:
        >>> import numpy as np
        >>> note = ValidationNote("fallback", np.array([False, True]), {1: ("4111-1111",)})
        >>> note.policy, note.invalid.tolist()
        ('fallback', [False, True])
    """

    policy: str
    invalid: NDArray[np.bool_]
    secrets: Mapping[int, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DriftNote:
    """What a drift monitor tells the layers outside it: its status after this call.

    Attributes:
        status: "warming_up", "ok" or "drift".
        scores: the latest report's scores per feature (or "prediction", "confidence")
            and test, e.g. ``{"x0": {"psi": 0.42}}``; empty before the first window.

    Examples:
        >>> DriftNote("drift", {"x0": {"psi": 0.42}}).status
        'drift'
    """

    status: str
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReviewNote:
    """What a review step tells the layers outside it about one call.

    Attributes:
        not_queued: withheld rows it did not queue: those its data-quality cap kept out
            plus those its review budget kept out (``over_budget``).
        data_quality_cap: that cap (rows per window), or None without one.
        data_quality_window: seconds of the cap's window.
        over_budget: withheld rows its review budget kept out of the queue.

    Examples:
        >>> ReviewNote(2, 100, 3600.0).not_queued
        2
    """

    not_queued: int
    data_quality_cap: int | None
    data_quality_window: float
    over_budget: int = 0


@dataclass(slots=True)
class Call:
    """What one request carries through the stack besides its inputs.

    Layers leave each other what they know in the typed fields below, never by finding
    one another: a validating layer fills ``model_input``, ``valid`` and ``validation``;
    a drift monitor fills ``drift``; a review step fills ``review``; a fallback chain
    records the breakers it found open in ``open_circuits``.

    Attributes:
        raw: the batch as the outermost layer received it.
        n: number of rows in the batch.
        request_id: the caller's id, or a random one.
        started: ``time.monotonic()`` when the call began.
        deadline: ``time.monotonic()`` by which the call must return, or None.
        model_input: model-ready rows for the whole batch, once a validating layer made
            them (so no outer layer parses the raw input a second time).
        valid: ``(n,)`` bool mask of rows that passed validation, once checked.
        finite_rows: the model-ready rows a validating layer handed to the layers inside
            it, when it found every number in them finite; the model adapter does not scan
            the very same object again (the one check of the call).
        validation: the validating layer's [`ValidationNote`][], once it ran.
        drift: the drift monitor's [`DriftNote`][], once it ran.
        review: the review step's [`ReviewNote`][], once it ran.
        shed: names of the steps ("primary" or a fallback stage's name) whose call was
            shed during this call: no worker thread freed up in time, so it never ran.
        open_circuits: names of the circuit breakers found open during this call
            ("primary" or a fallback stage's name), in the order found.

    Examples:
        >>> import numpy as np
        >>> call = Call(raw=np.zeros((2, 3)), n=2)
        >>> call.circuit_opened("primary")
        >>> call.open_circuits, call.drift is None
        (('primary',), True)
    """

    raw: Any
    n: int
    request_id: str = field(default_factory=_new_request_id)
    started: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    model_input: Any = None
    valid: NDArray[np.bool_] | None = None
    finite_rows: Any = None
    validation: ValidationNote | None = None
    drift: DriftNote | None = None
    review: ReviewNote | None = None
    open_circuits: tuple[str, ...] = ()
    shed: tuple[str, ...] = ()
    reweightable: tuple[Any, ...] = ()
    """Policies that can weigh their calibration rows by a likelihood ratio (weighted
    conformal), left by the abstention layer for a drift action outside."""

    def circuit_opened(self, name: str) -> None:
        """Record that breaker ``name`` was found open (once per name)."""
        if name not in self.open_circuits:
            self.open_circuits = (*self.open_circuits, name)

    def was_shed(self, name: str) -> None:
        """Record that step ``name`` was shed for want of a worker thread."""
        self.shed = (*self.shed, name)

    def adopt(self, other: Call) -> None:
        """Take over what the layers left on ``other``, a copy of this call that a worker
        thread ran (its layers finished in time)."""
        self.model_input = other.model_input
        self.valid = other.valid
        self.finite_rows = other.finite_rows
        self.validation = other.validation
        self.drift = other.drift
        self.review = other.review
        self.reweightable = other.reweightable
        for name in other.open_circuits:
            self.circuit_opened(name)
        self.shed = (*self.shed, *other.shed)

    def rows(self, indices: NDArray[np.intp]) -> Any:
        """The raw input rows at ``indices`` (what a rule or a fallback guard receives)."""
        return take_rows(self.raw, indices)

    def model_rows(self, indices: NDArray[np.intp]) -> Any:
        """Model-ready rows at ``indices`` when a validating layer made them, else raw rows."""
        source = self.raw if self.model_input is None else self.model_input
        return take_rows(source, indices)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


def _is_frame(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, complex, np.number, np.bool_))


def _one_dimensional(what: str) -> InvalidInputError:
    """Misuse, not bad data: a 1-D batch of numbers is one row or one feature, never both."""
    return InvalidInputError(
        f"Expected a 2-D batch (n_rows, n_features); got {what}: use decide_one(x) for one "
        "row, or X.reshape(1, -1) (one row) / X.reshape(-1, 1) (one feature)."
    )


def _check_ragged(X: list[Any] | tuple[Any, ...]) -> None:
    """Refuse nested rows of different lengths before numpy sees them.

    Only for a stack without a schema: a validating layer withholds each malformed row
    as invalid input instead.
    """
    width: int | None = None
    for i, row in enumerate(X):
        if not isinstance(row, (list, tuple, np.ndarray)):
            return  # records (dicts, models...): the schema checks them row by row
        k = len(row)
        if width is None:
            width = k
        elif k != width:
            raise InvalidInputError(
                f"Expected rows of one length (n_features); row 0 has {width} values and "
                f"row {i} has {k}. Every row of a batch needs the same features."
            )


def as_batch(X: Any) -> int:
    """Number of rows in batch ``X``; raises [`InvalidInputError`][] if it is not one.

    A batch is a 2-D (or deeper) array, a data frame, or a list/tuple of records. A 1-D
    array of numbers or a flat list of numbers is refused: it could be one row or one
    feature, and guessing would queue one review case per value. (A 1-D array of text, for
    a text model, is a batch.)
    """
    if type(X) is np.ndarray and X.ndim == 2:  # the common case first: a 2-D array
        return int(X.shape[0])
    if X is None:
        raise InvalidInputError("decide() got None; expected a batch of rows.")
    if isinstance(X, (str, bytes, dict)):
        raise InvalidInputError(
            f"decide() got a single {type(X).__name__}; expected a batch of rows. "
            "Use decide_one() for one record."
        )
    if isinstance(X, np.ndarray):
        if X.ndim == 0:
            raise InvalidInputError(
                "decide() got a 0-d array; expected a batch (n_samples, n_features)."
            )
        if X.ndim == 1 and X.dtype.kind in "biufc":
            raise _one_dimensional(f"a 1-D array of {X.shape[0]} values")
        return int(X.shape[0])
    if _is_frame(X):
        return len(X)
    if isinstance(X, (list, tuple)):
        if X and all(_is_number(v) for v in X):
            raise _one_dimensional(f"a flat {type(X).__name__} of {len(X)} numbers")
        return len(X)
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:  # array-likes: sparse matrices, tensors
        return int(shape[0])
    raise InvalidInputError(
        f"decide() got {type(X).__name__}; expected an array, a data frame or a list of records."
    )


def take_rows(X: Any, indices: NDArray[np.intp]) -> Any:
    """The rows of batch ``X`` at ``indices``, in the same container kind.

    Works for arrays, data frames (by position), lists and tuples of records, and any
    array-like that supports integer-array indexing.
    """
    if isinstance(X, np.ndarray):
        return X[indices]
    if _is_frame(X):
        return X.iloc[indices]
    if isinstance(X, (list, tuple)):
        return [X[int(i)] for i in indices]
    return X[indices]


def one_row_batch(x: Any) -> Any:
    """A batch of one holding record ``x`` (dict, 1-D array, sequence, pydantic model...)."""
    if isinstance(x, np.ndarray):
        return x[np.newaxis, ...] if x.ndim >= 1 else np.asarray([[x.item()]])
    if _is_frame(x):
        if len(x) == 0:
            raise InvalidInputError(
                "decide_one needs one record; got a data frame with no rows. Use decide() "
                "for a batch (an empty batch gets an empty Decisions)."
            )
        return x.iloc[:1]
    if hasattr(x, "to_frame") and hasattr(x, "index"):  # a pandas Series: one row
        return x.to_frame().T
    if _is_number(x):  # one row of one feature
        return [[x]]
    return [x]


_OLD_HOOKS = {
    "_decide": "decide_call",
    "_adecide": "adecide_call",
    "_fit": "fit_call",
    "_post": "post",
    "_learn": "learn",
}
"""The private hook names of earlier versions and their public names."""


class Layer(ABC):
    """A predictor that returns [`Decisions`][]; wrappers nest like middleware.

    Writing a layer is a supported extension point (see the guide *Writing a layer*).
    The public calls (``decide``, ``decide_one``, ``predict``, ``adecide``, ``fit``) check
    the batch, start a [`Call`][] and hand it to the hooks a subclass implements:

    - ``decide_call(X, call)``: the decisions for batch ``X``; a layer with an ``inner``
      layer calls ``self.inner.decide_call(X, call)`` and acts on the result;
    - ``fit_call(X, y, call)``, when the layer learns from held-out data (the default fits
      the layers inside and learns nothing);
    - ``adecide_call(X, call)``, only when the layer awaits work of its own (the default
      runs ``decide_call`` in a worker thread).

    Most layers only act on the inner layer's decisions: subclass
    [`PostLayer`][guardrails.core.post.PostLayer] instead. Fitted attributes end in ``_``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions, Layer
        >>> class Constant(Layer):
        ...     name = "constant"
        ...     task = "regression"
        ...     def decide_call(self, X, call):
        ...         return Decisions(prediction=np.full(call.n, 1.5))
        >>> Constant().predict(np.zeros((2, 3))).tolist()
        [1.5, 1.5]
    """

    name: ClassVar[str] = "layer"
    inner: Layer | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        old = sorted(h for h in _OLD_HOOKS if h in cls.__dict__)
        if old:
            renames = ", ".join(f"{h} -> {_OLD_HOOKS[h]}" for h in old)
            raise TypeError(
                f"{cls.__name__} defines the old private layer hooks {old}; the layer "
                f"protocol names them publicly now: rename {renames}."
            )

    # -- what a subclass implements ------------------------------------------------------

    @abstractmethod
    def decide_call(self, X: Any, call: Call) -> Decisions:
        """Decisions for batch ``X`` (the rows this layer receives)."""

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        """Fit this layer and the ones inside it; return decisions on ``X``.

        The default fits the inner layers and learns nothing itself.
        """
        return self.decide_call(X, call)

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        """Async decisions; the default runs the synchronous path in a worker thread."""
        return await asyncio.to_thread(self.decide_call, X, call)

    def awaits_io(self) -> bool:
        """True when this layer's ``adecide_call`` awaits work of its own (network I/O, a
        coroutine the user gave), not only the work of ``decide_call`` done differently.

        A fallback chain asks its primary: when no layer awaits anything, it runs the
        synchronous path in its own bounded workers under a deadline. The default is True
        for a layer class that overrides ``adecide_call``; a layer whose async path only saves a
        thread hop (validation, logging, review) overrides this to return False.
        """
        return type(self).adecide_call is not Layer.adecide_call

    # -- what the stack exposes ----------------------------------------------------------

    @property
    def provides(self) -> frozenset[str]:
        """Kinds of output available from this layer ("proba", "scores", "labels", ...)."""
        return frozenset() if self.inner is None else self.inner.provides

    @property
    def classes_(self) -> NDArray[Any] | None:
        """Class labels of the wrapped classifier, or None for a regressor."""
        return None if self.inner is None else self.inner.classes_

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        if self.inner is None:  # pragma: no cover - every leaf overrides it
            raise TypeError(f"{type(self).__name__} must define its task")
        return self.inner.task

    def layers(self) -> Iterator[Layer]:
        """This layer and every layer inside it, outermost first."""
        layer: Layer | None = self
        while layer is not None:
            yield layer
            layer = layer.inner

    def screen(self, X: Any, call: Call) -> Decisions | None:
        """Validate ``X`` for ``call`` without running the model, or None without a validator.

        For a fallback chain whose primary stack was skipped (circuit open, deadline
        passed): its bare-model stages must not receive rows nobody checked. The
        validating layer answers (see
        [`Validated.screen`][guardrails.validation.layer.Validated.screen]); every other layer
        hands the question to the layer inside it.
        """
        return None if self.inner is None else self.inner.screen(X, call)

    def is_fitted(self) -> bool:
        """True when this layer needs no fitting or has been fitted."""
        return True

    def check_fitted(self) -> None:
        """Raise [`NotFittedError`][] naming the first unfitted layer of the stack."""
        for layer in self.layers():
            if not layer.is_fitted():
                raise NotFittedError(
                    f"This {type(layer).__name__} is not fitted yet. Call fit(X_cal, y_cal) on "
                    "the guard with held-out labelled data before deciding."
                )

    # -- public calls --------------------------------------------------------------------

    def _start(self, X: Any, request_id: str | None, timeout: float | None) -> Call:
        n = as_batch(X)
        if isinstance(X, (list, tuple)) and not any(hasattr(x, "schema") for x in self.layers()):
            _check_ragged(X)
        # the caller's id, when given, spares drawing a random one
        call = Call(raw=X, n=n) if request_id is None else Call(raw=X, n=n, request_id=request_id)
        if timeout is not None:
            call.deadline = call.started + timeout
        return call

    def decide(
        self, X: Any, *, request_id: str | None = None, timeout: float | None = None
    ) -> Decisions:
        """Decisions for a batch of rows.

        Args:
            X: a batch: array ``(n_samples, n_features)``, data frame, or list of records.
            request_id: an id to carry through events and review cases; random if None.
            timeout: overall seconds the call may take; stages with timeouts share it.

        Returns:
            One decision per row, in input order.

        Raises:
            InvalidInputError: ``X`` is not a batch, or a row is invalid under policy "raise".
            NotFittedError: a layer that learns from data was not fitted.
        """
        self.check_fitted()
        call = self._start(X, request_id, timeout)
        return self.decide_call(X, call)

    def decide_one(
        self, x: Any, *, request_id: str | None = None, timeout: float | None = None
    ) -> Decision:
        """The decision for one record (a batch of one under the hood)."""
        return self.decide(one_row_batch(x), request_id=request_id, timeout=timeout)[0]

    def predict(self, X: Any, *, marker: Any = None) -> NDArray[Any]:
        """Plain predictions with ``marker`` in place of every withheld answer."""
        return self.decide(X).predictions(marker)

    async def adecide(
        self, X: Any, *, request_id: str | None = None, timeout: float | None = None
    ) -> Decisions:
        """Async [`decide`][] for asyncio servers."""
        self.check_fitted()
        call = self._start(X, request_id, timeout)
        return await self.adecide_call(X, call)

    async def adecide_one(
        self, x: Any, *, request_id: str | None = None, timeout: float | None = None
    ) -> Decision:
        """Async [`decide_one`][]."""
        d = await self.adecide(one_row_batch(x), request_id=request_id, timeout=timeout)
        return d[0]

    def fit(self, X: Any, y: Any) -> Self:
        """Fit every layer that learns, inside out, on held-out data ``(X, y)``.

        The model itself is already trained and is not refitted.
        """
        n = as_batch(X)
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or y_arr.shape[0] != n:
            raise InvalidInputError(
                f"fit() needs y with one label per row of X: X has {n} rows, "
                f"y has shape {y_arr.shape}."
            )
        if n == 0:
            raise InvalidInputError("fit() got an empty batch; calibration needs labelled rows.")
        self.fit_call(X, y_arr, Call(raw=X, n=n))
        return self

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        """Settings and fitted state as JSON (arrays through ``enc``)."""
        return {}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Layer:
        """Rebuild a layer saved by `_to_state` around ``inner``."""
        raise ArtifactError(f"{cls.__name__} cannot be loaded from a saved guard.")
