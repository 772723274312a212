"""The fallback layer: rows the primary does not answer go down an ordered list of stages.

[`WithFallback`][] runs the layer inside it (the *primary*), then hands the rows that
are still withheld to each stage in turn: another model or a whole guard
([`ModelStage`][]), a function over the raw input rows ([`Rule`][]), a constant
([`Default`][]) or a person ([`SendToReview`][]). A stage takes only the rows its
trigger selects (``on_error() | on_timeout()``...); its answers are merged back by row, so
a batch keeps its order. Every row says which stage answered (``stage``), every stage that
saw it (``tried``) and, for a fallback answer, why the earlier stages did not answer
(``detail``). Triggers live in ``triggers``, stages in ``stages``, retries in ``retry``,
the chain's steps and drivers in ``flow``, the per-request bookkeeping in ``book``.

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
import dataclasses
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from guardrails.core.adapter import as_layer
from guardrails.core.decisions import PRIMARY, Decisions, Reason
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    FallbackExhaustedError,
    GuardrailsError,
    InvalidInputError,
)
from guardrails.core.layer import Call, Layer
from guardrails.core.persistence import persistable
from guardrails.core.redaction import scrub_details
from guardrails.core.workers import Abandoned, PoolStats, Shed, WorkerPool
from guardrails.fallback.book import _Book
from guardrails.fallback.breaker import CircuitBreaker
from guardrails.fallback.flow import _Flow, _limit, _Outcome, _Run, _Sleep, adrive, drive
from guardrails.fallback.retry import Retry as Retry
from guardrails.fallback.stages import Default as Default
from guardrails.fallback.stages import ModelStage as ModelStage
from guardrails.fallback.stages import Rule as Rule
from guardrails.fallback.stages import SendToReview as SendToReview
from guardrails.fallback.stages import Stage as Stage
from guardrails.fallback.stages import _check_seconds, _CodeStage, _error_text, _InstantStage
from guardrails.fallback.stages import as_stage as as_stage
from guardrails.fallback.stages import native_async as native_async
from guardrails.fallback.stages import normalise_stages as normalise_stages
from guardrails.fallback.triggers import _FAILED
from guardrails.fallback.triggers import Trigger as Trigger
from guardrails.fallback.triggers import on_abstain as on_abstain
from guardrails.fallback.triggers import on_circuit_open as on_circuit_open
from guardrails.fallback.triggers import on_error as on_error
from guardrails.fallback.triggers import on_failure as on_failure
from guardrails.fallback.triggers import on_invalid_input as on_invalid_input
from guardrails.fallback.triggers import on_timeout as on_timeout
from guardrails.fallback.triggers import on_withheld as on_withheld
from guardrails.fallback.triggers import verdict_mask as verdict_mask

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
    # wait (_Sleep) and receive the result (or have the exception thrown in). flow.drive runs
    # them for decide(), flow.adrive for adecide(): the only places where sync and async differ.

    def decide_call(self, X: Any, call: Call) -> Decisions:
        return drive(self._flow(X, call), self._workers)

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        return await adrive(self._flow(X, call), self._workers)

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner.fit_call(X, y, call)
        for s in self.stages:
            if isinstance(s, ModelStage) and s.is_guard and not s.is_fitted():
                s.layer.fit(X, y)
        return drive(self._chain(d, call, fitting=True), self._workers)

    def _flow(self, X: Any, call: Call) -> _Flow[Decisions]:
        d = yield from self._primary(X, call)
        d = yield from self._chain(d, call)
        return _scrubbed(d, call)

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
