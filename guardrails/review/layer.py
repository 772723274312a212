"""The review layer: enqueue withheld rows (and an audit sample) within a budget, with context."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ConfigurationError
from guardrails.core.layer import Call, Layer, ReviewNote
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.core.redaction import REDACTED, Redactor
from guardrails.review.budget import (
    PriorityFn,
    ReviewBudget,
    inclusion_probabilities,
)
from guardrails.review.budget import uncertainty as _uncertainty
from guardrails.review.cases import (
    BUDGET_FALLBACK,
    DATA_QUALITY,
    PENDING_REVIEW,
    UNREVIEWED,
    NewCase,
    _check_positive,
    _jsonable,
)
from guardrails.review.queue import ReviewQueue

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder


__all__ = [
    "Reviewed",
    "pending_answers",
]


_NO_CANDIDATE = frozenset(
    {Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN}
)


"""Reasons under which the model gave no candidate for the row (as in ``Decision``)."""


def _column(column: NDArray[np.float64] | None, idx: NDArray[np.intp]) -> list[Any]:
    """Rows of a float column as lists (or floats); all-NaN rows and no column give None."""
    if column is None:
        return [None] * len(idx)
    values = column[idx]
    missing = np.isnan(values) if values.ndim == 1 else np.isnan(values).all(axis=1)
    out: list[Any] = _jsonable(values.tolist())
    for j in np.flatnonzero(missing):
        out[j] = None
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@persistable
class Reviewed(PostLayer):
    """Enqueue withheld rows (and an audit sample of answers) for a person to review.

    Every row that is still withheld when this layer sees it, whatever the reason
    (including ``Reason.REVIEW`` and ``Reason.DRIFT`` set on purpose by inner layers), is
    enqueued with its context; the decision's ``review_id`` column gets the case id. The
    enqueue is committed before the decision is returned; if it fails, the call raises
    rather than pretend the case was queued.

    Rows withheld as invalid input are a data problem, not a question for the model's
    reviewers: they are queued as ``kind="data_quality"`` cases, which every listing and
    claim puts after the model's cases, and at most ``data_quality_cap`` of them are queued
    per ``data_quality_window`` seconds (in this process), so a client sending garbage
    cannot fill the queue. A row the cap keeps out is still withheld, with no review id;
    it is counted (``not_queued``, the metrics of the ``.log`` step) and logged as a
    ``review_not_queued`` warning, never dropped silently.

    What the caller gets for a queued row:

    - ``provisional=False`` (default): the non-answer, unchanged apart from ``review_id``.
    - ``provisional=True``: rows with a model candidate stay withheld (``abstained`` is
      True, so no counting of answers is fooled) but get ``reason=Reason.REVIEW`` and
      ``stage="pending_review"``; the candidate stays in the prediction column, read it
      with ``Decision.candidate`` or `pending_answers`. The original reason is kept
      in the case and in ``detail``. Rows without a candidate (model error, invalid
      input) stay plain non-answers.

    Under a ``budget`` (a [`ReviewBudget`][guardrails.review.budget.ReviewBudget], or an
    int: cases per hour) at most that many withheld model rows are queued per window,
    chosen by their priority, the expected value of review (see the budget). A withheld
    row the budget leaves out is never dropped silently: it is counted (``over_budget``,
    ``not_queued``, the metrics of the ``.log`` step, a ``review_not_queued`` warning at
    most every 10 s with the running totals) and gets the outcome ``on_budget`` names:

    - ``"withhold"`` (default): it stays withheld, ``reason=Reason.REVIEW_BUDGET``, and
      its ``detail`` says the budget was spent and which verdict it kept.
    - ``"provisional"``: rows with a model candidate stay withheld (``abstained`` True)
      with ``reason=Reason.REVIEW_BUDGET`` and ``stage="unreviewed"``; the candidate stays
      in the prediction column (`pending_answers` reads it), marked as never reviewed.
    - a function ``rows -> answers`` (one per row, None to decline): the next stage. It
      gets the raw input rows over budget; rows it answers are answers of stage
      ``"budget_fallback"`` that keep the verdict they overrode in ``overridden``; rows
      it declines stay withheld as under ``"withhold"``.

    Args:
        inner: the model or guard layer to wrap.
        queue: a [`ReviewQueue`][] (e.g. ``open_queue("sqlite:///review.db")``). It is
            shared, not copied: it stands for an external store.
        audit_rate: share in [0, 1] of answered rows also enqueued, at random, as "audit"
            cases; their answer is still returned. Each answered row joins with a known
            probability, ``min(1, audit_rate * (1 + audit_favour * uncertainty))``,
            stored with its case, so weighted estimates stay unbiased.
        audit_favour: how much more often uncertain answers are audited (>= 0; 0: a
            uniform sample).
        budget: a `ReviewBudget`, an int (cases per hour) or None (no capacity limit).
        on_budget: "withhold", "provisional" or a function (see above).
        priority: "uncertainty" (1 - confidence; interval width for regression), "fifo"
            (all equal, oldest first), a number, or a function ``(decisions, rows) ->
            (n_rows,)`` such as `cost_priority`.
        provisional: return the candidate marked pending review (see above).
        redactor: hides sensitive fields of the stored input. Array columns are named by
            position ("0", "1", ...), data frame columns by name.
        deadline: seconds within which a case should be resolved, or None.
        seed: seed of the audit sampler (None: fresh randomness).
        data_quality_cap: most invalid-input rows queued per window (None: no cap; 0:
            none are queued).
        data_quality_window: seconds of the cap's window (windows start at multiples
            of it on the clock).
        logger: a structlog logger for ``review_not_queued`` warnings;
            ``structlog.get_logger("guardrails")`` if None.
        clock: unix-seconds clock of the cap's windows (tests pass a fake one).
        guard_name: recorded with each case (the builder passes the guard's).
        version: recorded with each case (the builder passes the guard's).

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import confidence_below, guard
        >>> from guardrails.review import MemoryQueue
        >>> X = np.r_[np.zeros((20, 1)), np.ones((20, 1))]; y = np.r_[np.zeros(20), np.ones(20)]
        >>> q = MemoryQueue()
        >>> g = guard(LogisticRegression().fit(X, y)).abstain(confidence_below(0.8)).review(q)
        >>> d = g.decide(np.array([[0.0], [0.5]]))
        >>> d.review_id[0] is None, q.get(d.review_id[1]).status
        (True, 'pending')
    """

    name = "review"

    def __init__(
        self,
        inner: Any,
        *,
        queue: ReviewQueue,
        audit_rate: float = 0.0,
        priority: str | float | PriorityFn = "uncertainty",
        provisional: bool = False,
        redactor: Redactor | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        data_quality_cap: int | None = 100,
        data_quality_window: float = 3600.0,
        audit_favour: float = 0.0,
        budget: ReviewBudget | int | None = None,
        on_budget: str | Callable[[Any], Any] = "withhold",
        logger: Any = None,
        clock: Callable[[], float] = time.time,
        guard_name: str = "guard",
        version: str = "0",
    ) -> None:
        super().__init__(inner)
        if not isinstance(queue, ReviewQueue):
            raise ConfigurationError(
                "The 'queue' parameter of Reviewed must be a review queue such as "
                f"open_queue('sqlite:///review.db'). Got {queue!r} instead."
            )
        if (
            isinstance(audit_rate, bool)
            or not isinstance(audit_rate, (int, float))
            or not 0.0 <= audit_rate <= 1.0
        ):
            raise ConfigurationError(
                "The 'audit_rate' parameter of Reviewed must be a float in [0, 1]. "
                f"Got {audit_rate!r} instead."
            )
        if not (
            priority in ("uncertainty", "fifo")
            or callable(priority)
            or (
                isinstance(priority, (int, float))
                and not isinstance(priority, bool)
                and math.isfinite(priority)
            )
        ):
            raise ConfigurationError(
                "The 'priority' parameter of Reviewed must be 'uncertainty', 'fifo', a finite "
                f"number or a function (decisions, rows) -> priorities. Got {priority!r}."
            )
        if not isinstance(provisional, bool):
            raise ConfigurationError(
                f"The 'provisional' parameter of Reviewed must be a bool. Got {provisional!r}."
            )
        if redactor is not None and not isinstance(redactor, Redactor):
            raise ConfigurationError(
                f"The 'redactor' parameter of Reviewed must be a Redactor or None. "
                f"Got {redactor!r} instead."
            )
        if deadline is not None:
            _check_positive("Reviewed", "deadline", deadline)
        if data_quality_cap is not None and (
            isinstance(data_quality_cap, bool)
            or not isinstance(data_quality_cap, int)
            or data_quality_cap < 0
        ):
            raise ConfigurationError(
                "The 'data_quality_cap' parameter of Reviewed must be an int >= 0 or None. "
                f"Got {data_quality_cap!r} instead."
            )
        _check_positive("Reviewed", "data_quality_window", data_quality_window)
        if (
            isinstance(audit_favour, bool)
            or not isinstance(audit_favour, (int, float))
            or not math.isfinite(audit_favour)
            or audit_favour < 0
        ):
            raise ConfigurationError(
                "The 'audit_favour' parameter of Reviewed must be a finite number >= 0. "
                f"Got {audit_favour!r} instead."
            )
        if isinstance(budget, int) and not isinstance(budget, bool):
            budget = ReviewBudget(budget, per="hour")
        if budget is not None and not isinstance(budget, ReviewBudget):
            raise ConfigurationError(
                "The 'budget' parameter of Reviewed must be a ReviewBudget, an int (cases "
                f"per hour) or None. Got {budget!r} instead."
            )
        if not (on_budget in ("withhold", "provisional") or callable(on_budget)):
            raise ConfigurationError(
                "The 'on_budget' parameter of Reviewed must be 'withhold', 'provisional' or "
                f"a function rows -> answers. Got {on_budget!r} instead."
            )
        if not callable(clock):
            raise ConfigurationError(
                "The 'clock' parameter of Reviewed must be callable returning unix seconds. "
                f"Got {clock!r} instead."
            )
        self.queue = queue
        self.audit_rate = float(audit_rate)
        self.priority = priority
        self.provisional = provisional
        self.redactor = redactor
        # set by the builder from the schema: the values of other record keys are withheld
        self.known_fields: frozenset[str] | None = None
        self.deadline = None if deadline is None else float(deadline)
        self.seed = seed
        self.data_quality_cap = data_quality_cap
        self.data_quality_window = float(data_quality_window)
        self.logger = logger
        self.clock = clock
        self.guard_name = str(guard_name)
        self.version = str(version)
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        self._cap_lock = threading.Lock()
        self._cap_slot = -1  # the window the count below belongs to
        self._cap_used = 0
        self._not_queued = 0
        self.audit_favour = float(audit_favour)
        self.budget = budget
        self.on_budget = on_budget
        self._over_budget = 0
        self._warned_at = -math.inf  # when the last over-budget warning went out

    @property
    def not_queued(self) -> int:
        """Withheld rows not queued so far: kept out by the data-quality cap or the budget."""
        with self._cap_lock:
            return self._not_queued + self._over_budget

    @property
    def over_budget(self) -> int:
        """Withheld rows the review budget kept out of the queue so far."""
        with self._cap_lock:
            return self._over_budget

    def _admit(self, n: int) -> int:
        """How many of ``n`` new data-quality cases the cap lets in now (and count them)."""
        if self.data_quality_cap is None:
            return n
        slot = math.floor(self.clock() / self.data_quality_window)
        with self._cap_lock:
            if slot != self._cap_slot:
                self._cap_slot, self._cap_used = slot, 0
            take = max(0, min(n, self.data_quality_cap - self._cap_used))
            self._cap_used += take
            self._not_queued += n - take
        return take

    # -- deciding ----------------------------------------------------------------------

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        # Calibration rows are labelled already: nothing to ask a person.
        return self.inner.fit_call(X, y, call)

    def awaits_io(self) -> bool:
        return False  # its async path does the sync path's work without a thread hop

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        d = await self.inner.adecide_call(X, call)
        return await asyncio.to_thread(self._timed_post, d, call)

    def post(self, d: Decisions, call: Call) -> Decisions:
        withheld = d.abstained.copy()
        audit = np.zeros(len(d), dtype=bool)
        chance: NDArray[np.float64] | None = None
        if self.audit_rate > 0.0:
            with self._rng_lock:
                draw = self._rng.random(len(d))
            answered = np.flatnonzero(~withheld)
            chance = np.ones(len(d), dtype=np.float64)
            if answered.size:
                u = (
                    _uncertainty(d, answered)
                    if self.audit_favour
                    else np.zeros(answered.size, dtype=np.float64)
                )
                chance[answered] = inclusion_probabilities(u, self.audit_rate, self.audit_favour)
            audit = ~withheld & (draw < chance)
        invalid = withheld & (d.reason == int(Reason.INVALID_INPUT))
        left_out = np.zeros(len(d), dtype=bool)
        if invalid.any():
            rows = np.flatnonzero(invalid)
            take = self._admit(len(rows))
            left_out[rows[take:]] = True
        over = left_out  # no row is over a budget unless there is one
        values: NDArray[np.float64] | None = None
        n_over = 0
        if self.budget is not None:
            over = np.zeros(len(d), dtype=bool)
            model_rows = np.flatnonzero(withheld & ~invalid)
            values = self._priorities(d, model_rows)
            admitted = self.budget.admit(values, audit=int(audit.sum()))
            over[model_rows[~admitted]] = True
            values = values[admitted]
            n_over = int(over.sum())
        if n_over:
            with self._cap_lock:
                self._over_budget += n_over
        note = ReviewNote(
            int(left_out.sum()) + n_over,
            self.data_quality_cap,
            self.data_quality_window,
            over_budget=n_over,
        )
        call.review = note
        if note.not_queued - n_over:
            self._log().warning(
                "review_not_queued",
                guard=self.guard_name,
                guard_version=self.version,
                request_id=call.request_id,
                kind=DATA_QUALITY,
                reason=str(Reason.INVALID_INPUT),
                not_queued=note.not_queued - n_over,
                not_queued_total=self.not_queued,
                data_quality_cap=self.data_quality_cap,
                data_quality_window=self.data_quality_window,
            )
        if n_over:
            self._warn_budget(n_over, call)
        idx = np.flatnonzero((withheld & ~left_out & ~over) | audit)
        changes: dict[str, Any] = {}
        if idx.size:
            if values is not None and values.size == idx.size:
                priorities = values.tolist()  # the budget computed them: same rows
            else:
                priorities = self._priorities(d, idx).tolist()
            contexts = self._contexts(d, idx, audit[idx], self._inputs(call, idx), call)
            if chance is not None:
                for j, i in enumerate(idx):
                    if audit[i]:
                        p = float(chance[i])
                        contexts[j]["inclusion_probability"] = p
                        contexts[j]["weight"] = 1.0 / p
            cases = [
                NewCase(
                    "audit" if audit[i] else (DATA_QUALITY if invalid[i] else "withheld"),
                    Reason(int(d.reason[i])),
                    priorities[j],
                    contexts[j],
                    deadline=self.deadline,
                )
                for j, i in enumerate(idx)
            ]
            ids = self.queue.enqueue(cases)
            review_id = object_column(len(d)) if d.review_id is None else d.review_id.copy()
            review_id[idx] = ids
            changes["review_id"] = review_id
            if self.provisional:
                changes.update(self._provisional(d, idx[withheld[idx]]))
        if changes:
            d = d.replace(**changes)
        if n_over:
            d = d.replace(**self._over_budget_outcome(d, np.flatnonzero(over), call))
        return d

    def _warn_budget(self, n_over: int, call: Call) -> None:
        """One warning at most every 10 s, with the running totals (never one per row)."""
        now = time.monotonic()
        with self._cap_lock:
            if now - self._warned_at < 10.0:
                return
            self._warned_at = now
            total = self._over_budget
        budget = self.budget
        self._log().warning(
            "review_not_queued",
            guard=self.guard_name,
            guard_version=self.version,
            request_id=call.request_id,
            kind="withheld",
            reason=str(Reason.REVIEW_BUDGET),
            not_queued=n_over,
            over_budget_total=total,
            budget=None if budget is None else budget.describe(),
            on_budget=self.on_budget if isinstance(self.on_budget, str) else "function",
        )

    def _over_budget_outcome(
        self, d: Decisions, rows: NDArray[np.intp], call: Call
    ) -> dict[str, Any]:
        """The columns ``on_budget`` gives the withheld rows the budget left out."""
        budget = self.budget
        spent = "review budget exhausted" + ("" if budget is None else f" ({budget.describe()})")
        reason = d.reason.copy()
        stage = d.stage.copy()
        detail = object_column(len(d)) if d.detail is None else d.detail.copy()
        was = [Reason(int(r)) for r in d.reason[rows]]
        changes: dict[str, Any] = {}
        answered = np.zeros(rows.size, dtype=bool)
        if callable(self.on_budget):
            answers = list(self.on_budget(call.rows(rows)))
            if len(answers) != rows.size:
                raise ConfigurationError(
                    f"the on_budget function of Reviewed must return {rows.size} answers "
                    f"(None to decline); got {len(answers)}."
                )
            answered = np.array([a is not None for a in answers], dtype=bool)
            if answered.any():
                pred = d.prediction.copy()
                if pred.dtype != object:
                    pred = pred.astype(object)
                abstained = d.abstained.copy()
                overridden = (
                    np.zeros(len(d), dtype=np.int8) if d.overridden is None else d.overridden.copy()
                )
                for j in np.flatnonzero(answered):
                    i = int(rows[j])
                    pred[i] = answers[j]
                    abstained[i] = False
                    overridden[i] = int(was[j])
                    reason[i] = int(Reason.NONE)
                    stage[i] = BUDGET_FALLBACK
                    detail[i] = f"{spent}; answered by the on_budget stage (verdict: {was[j]})"
                changes.update(prediction=pred, abstained=abstained, overridden=overridden)
        for j in np.flatnonzero(~answered):
            i = int(rows[j])
            reason[i] = int(Reason.REVIEW_BUDGET)
            if self.on_budget == "provisional" and was[j] not in _NO_CANDIDATE:
                stage[i] = UNREVIEWED
                detail[i] = f"provisional answer, not reviewed: {spent} (withheld for {was[j]})"
            else:
                detail[i] = f"{spent}; not queued (withheld for {was[j]})"
        changes.update(reason=reason, stage=stage, detail=detail)
        return changes

    def _log(self) -> Any:
        if self.logger is not None:
            return self.logger
        import structlog

        return structlog.get_logger("guardrails")

    def _priorities(self, d: Decisions, idx: NDArray[np.intp]) -> NDArray[np.float64]:
        if self.priority == "uncertainty":
            return _uncertainty(d, idx)
        if self.priority == "fifo":
            return np.zeros(len(idx))
        if callable(self.priority):
            out = np.asarray(self.priority(d, idx), dtype=np.float64)
            if out.shape != (len(idx),) or not np.isfinite(out).all():
                raise ConfigurationError(
                    f"the priority function of Reviewed must return {len(idx)} finite "
                    f"numbers; got shape {out.shape}."
                )
            return out
        return np.full(len(idx), float(self.priority))

    def _inputs(self, call: Call, idx: NDArray[np.intp]) -> list[Any]:
        """The raw input rows at ``idx``, JSON-safe and redacted."""
        rows = call.rows(idx)
        names: list[Any] | None = None
        if hasattr(rows, "iloc") and hasattr(rows, "columns"):
            names = [str(c) for c in rows.columns]
            rows = rows.to_numpy(dtype=object).tolist()
        out = []
        for row in rows:
            if hasattr(row, "model_dump"):
                row = row.model_dump()
            value = _jsonable(row)
            if self.redactor is not None and self.redactor.active:
                if isinstance(value, dict):
                    value = self.redactor.record(value)
                elif isinstance(value, list):
                    keys = names if names is not None else [str(k) for k in range(len(value))]
                    value = [self.redactor.value(k, v) for k, v in zip(keys, value)]
                else:
                    value = self.redactor.value("0", value)
            known = self.known_fields
            if known is not None and isinstance(value, dict):
                reveal = self.redactor is not None and self.redactor.reveal
                value = {k: v if reveal or k in known else REDACTED for k, v in value.items()}
            if names is not None and isinstance(value, list):
                value = dict(zip(names, value))
            out.append(value)
        return out

    def _contexts(
        self,
        d: Decisions,
        idx: NDArray[np.intp],
        audit: NDArray[np.bool_],
        inputs: list[Any],
        call: Call,
    ) -> list[dict[str, Any]]:
        """The JSON-safe context of every row at ``idx`` (columns read once, not per row)."""
        m = len(idx)
        candidates = _jsonable(d.prediction[idx].tolist())
        reasons = d.reason[idx].tolist()
        classes = None if d.classes is None else _jsonable(d.classes.tolist())
        proba = _column(d.proba, idx)
        confidence = _column(d.confidence, idx)
        interval = _column(d.interval, idx)
        pred_set: list[Any] = [None] * m
        if d.pred_set is not None and classes is not None:
            pred_set = [[c for c, inside in zip(classes, r) if inside] for r in d.pred_set[idx]]
        stages = d.stage[idx].tolist()
        tried = [[str(s)] for s in stages] if d.tried is None else _jsonable(d.tried[idx].tolist())
        detail = [None] * m if d.detail is None else _jsonable(d.detail[idx].tolist())
        weight = 1.0 / self.audit_rate if self.audit_rate else 1.0
        out = []
        for j in range(m):
            has_candidate = Reason(reasons[j]) not in _NO_CANDIDATE
            withheld = not audit[j]
            out.append(
                {
                    "input": inputs[j],
                    "candidate": candidates[j] if has_candidate else None,
                    "proba": proba[j],
                    "classes": classes,
                    "confidence": confidence[j],
                    "prediction_set": pred_set[j],
                    "interval": interval[j],
                    "stage": str(stages[j]),
                    "stages_tried": tried[j] if tried[j] is not None else [str(stages[j])],
                    "detail": detail[j],
                    "guard": self.guard_name,
                    "version": self.version,
                    "request_id": call.request_id,
                    "row": int(idx[j]),
                    "weight": 1.0 if withheld else weight,
                    # withheld rows are all queued without a budget; under one they are
                    # chosen by value, not drawn, so they have no inclusion probability
                    "inclusion_probability": (1.0 if self.budget is None else None)
                    if withheld
                    else self.audit_rate,
                    "provisional": bool(self.provisional and withheld and has_candidate),
                }
            )
        return out

    def _provisional(self, d: Decisions, idx: NDArray[np.intp]) -> dict[str, Any]:
        """Columns that mark withheld rows with a candidate as pending review."""
        rows = [int(i) for i in idx if Reason(int(d.reason[i])) not in _NO_CANDIDATE]
        if not rows:
            return {}
        reason = d.reason.copy()
        stage = d.stage.copy()
        detail = object_column(len(d)) if d.detail is None else d.detail.copy()
        for i in rows:
            was = Reason(int(reason[i]))
            detail[i] = f"provisional answer pending review (withheld for {was})"
            reason[i] = int(Reason.REVIEW)
            stage[i] = PENDING_REVIEW
        return {"reason": reason, "stage": stage, "detail": detail}

    # -- display and persistence -------------------------------------------------------

    def __repr__(self) -> str:
        parts = [f"queue={self.queue!r}"]
        if self.audit_rate:
            parts.append(f"audit_rate={self.audit_rate}")
        if self.priority != "uncertainty":
            parts.append(f"priority={getattr(self.priority, '__qualname__', self.priority)!r}")
        if self.provisional:
            parts.append("provisional=True")
        if self.redactor is not None:
            parts.append(f"redactor={self.redactor!r}")
        if self.deadline is not None:
            parts.append(f"deadline={self.deadline}")
        if self.data_quality_cap != 100:
            parts.append(f"data_quality_cap={self.data_quality_cap}")
        if self.data_quality_window != 3600.0:
            parts.append(f"data_quality_window={self.data_quality_window}")
        if self.audit_favour:
            parts.append(f"audit_favour={self.audit_favour}")
        if self.budget is not None:
            parts.append(f"budget={self.budget!r}")
        if self.on_budget != "withhold":
            parts.append(f"on_budget={getattr(self.on_budget, '__qualname__', self.on_budget)!r}")
        return f"Reviewed({', '.join(parts)})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        priority: Any = self.priority
        if callable(priority):
            priority = enc.ref("priority", "the review priority function")
        return {
            "queue": enc.ref("queue", f"the review queue (was {self.queue.url})", self.queue),
            "audit_rate": self.audit_rate,
            "priority": priority,
            "provisional": self.provisional,
            "redactor": None if self.redactor is None else enc.component(self.redactor),
            "deadline": self.deadline,
            "seed": self.seed,
            "data_quality_cap": self.data_quality_cap,
            "data_quality_window": self.data_quality_window,
            "audit_favour": self.audit_favour,
            "budget": None
            if self.budget is None
            else {
                "cases": self.budget.cases,
                "per": self.budget.per,
                "lookback": self.budget.lookback,
            },
            "on_budget": self.on_budget
            if isinstance(self.on_budget, str)
            else enc.ref("on_budget", "the function for rows over the review budget"),
            "guard_name": self.guard_name,
            "version": self.version,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Reviewed:
        priority = state["priority"]
        if isinstance(priority, dict):
            priority = dec.ref(priority)
        redactor = state["redactor"]
        budget = state.get("budget")
        on_budget = state.get("on_budget", "withhold")
        if isinstance(on_budget, dict):
            on_budget = dec.ref(on_budget)
        return cls(
            inner,
            queue=dec.ref(state["queue"]),
            audit_rate=state["audit_rate"],
            priority=priority,
            provisional=state["provisional"],
            redactor=None if redactor is None else dec.component(redactor),
            deadline=state["deadline"],
            seed=state["seed"],
            data_quality_cap=state.get("data_quality_cap", 100),
            data_quality_window=state.get("data_quality_window", 3600.0),
            audit_favour=state.get("audit_favour", 0.0),
            budget=None
            if budget is None
            else ReviewBudget(budget["cases"], per=budget["per"], lookback=budget["lookback"]),
            on_budget=on_budget,
            guard_name=state["guard_name"],
            version=state["version"],
        )


def pending_answers(d: Decisions, marker: Any = None) -> NDArray[Any]:
    """Predictions where provisional answers pending review count as answers.

    Rows answered normally, rows marked ``stage == "pending_review"`` (see
    ``Reviewed(provisional=True)``) and rows marked ``stage == "unreviewed"`` (over the
    review budget, ``on_budget="provisional"``) give their value; every other withheld
    row gives ``marker``.
    """
    show = d.answered | (d.stage == PENDING_REVIEW) | (d.stage == UNREVIEWED)
    return d.replace(abstained=~show).predictions(marker)
