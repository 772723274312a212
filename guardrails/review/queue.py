"""Human review: a durable queue of withheld cases, reviewer operations, labels that flow back.

The [`Reviewed`][] layer (builder step ``.review(queue)``) enqueues every row that is
still withheld when it sees it, plus an optional random audit sample of confident answers,
with the context a person needs to judge it. Queues implement [`ReviewQueue`][]:

- [`SQLiteQueue`][guardrails.review.sqlite.SQLiteQueue] (``sqlite:///path``), the embedded default;
- [`PostgresQueue`][guardrails.review.postgres.PostgresQueue] (``postgresql://...``) for replicas;
- [`MemoryQueue`][] (``memory://``), for users' unit tests only: it is not durable.

A case moves ``pending -> claimed -> resolved`` (or ``skipped``); a claim is a lease that
expires, after which the case is pending again; ``release`` gives a reviewer's claims back
at once; ``expire`` closes pending cases nobody reached in time as ``expired`` (with the
reason in their note); ``reopen`` sends a resolved, skipped or expired case back to pending.

Under a [`ReviewBudget`][guardrails.review.budget.ReviewBudget] the layer queues at most
that many withheld rows per hour (or day), chosen by expected value of review; the rows it
leaves out get the outcome ``on_budget`` names, and are counted, never dropped silently.

Rows withheld as invalid input are data-quality cases (kind ``"data_quality"``): kept apart
from the model's cases, listed and claimed after every model case, and capped per time
window by the layer (what the cap kept out is counted in metrics and logged).

Resolved labels flow back through [`labelled_data`][] and [`realized_accuracy`][].

Errors raised by queues:

    GuardrailsError
    └── ReviewError
        ├── CaseNotFoundError(+KeyError)      no case has that id
        ├── CaseStateError(+ValueError)       the operation does not fit the case's state
        │   └── LeaseExpiredError             the reviewer's claim ran out; claim it again
        └── InvalidLabelError(+ValueError)    the label is not one of the case's classes
"""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ConfigurationError, GuardrailsError
from guardrails.core.layer import Call, Layer, ReviewNote
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.core.redaction import REDACTED, Redactor
from guardrails.review.budget import (
    PriorityFn,
    ReviewBudget,
    cost_priority,
    inclusion_probabilities,
)
from guardrails.review.budget import uncertainty as _uncertainty

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "BUDGET_FALLBACK",
    "PENDING_REVIEW",
    "PriorityFn",
    "STATUSES",
    "UNREVIEWED",
    "Accuracy",
    "BaseQueue",
    "CaseNotFoundError",
    "CaseStateError",
    "KINDS",
    "InvalidLabelError",
    "LabelledData",
    "LeaseExpiredError",
    "MemoryQueue",
    "NewCase",
    "QueueStats",
    "RealizedAccuracy",
    "ReviewBudget",
    "ReviewCase",
    "ReviewError",
    "ReviewQueue",
    "Reviewed",
    "check_label",
    "cost_priority",
    "labelled_data",
    "pending_answers",
    "realized_accuracy",
    "weighted_accuracy",
]

PENDING_REVIEW = "pending_review"
"""Stage name of a row whose provisional answer waits for a person (``provisional=True``)."""
BUDGET_FALLBACK = "budget_fallback"
"""Stage name of a row over the review budget answered by the ``on_budget`` function."""
UNREVIEWED = "unreviewed"
"""Stage name of a row whose provisional answer no person will see: the review budget was
spent (``on_budget="provisional"``); its reason is ``Reason.REVIEW_BUDGET``."""

Status = Literal["pending", "claimed", "resolved", "skipped", "expired"]
STATUSES: tuple[Status, ...] = ("pending", "claimed", "resolved", "skipped", "expired")
"""Every status a case can have."""

Kind = Literal["withheld", "audit", "data_quality"]
KINDS: tuple[Kind, ...] = ("withheld", "audit", "data_quality")
"""Every kind a case can have: model cases ("withheld", "audit") and "data_quality"."""
DATA_QUALITY: Kind = "data_quality"
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1h", 3600.0),
    ("1h-1d", 86400.0),
    ("1d-7d", 7 * 86400.0),
    (">7d", math.inf),
)


# -- errors ----------------------------------------------------------------------------------


class ReviewError(GuardrailsError):
    """Base class of errors raised by review queues."""


class CaseNotFoundError(ReviewError, KeyError):
    """No case in the queue has the given id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CaseStateError(ReviewError, ValueError):
    """The operation does not fit the case's state (e.g. resolving a resolved case)."""


class LeaseExpiredError(CaseStateError):
    """The reviewer's claim on the case has expired; claim it again before resolving."""


class InvalidLabelError(ReviewError, ValueError):
    """The label is not a valid answer for the case (not one of its classes)."""


# -- the case record -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCase:
    """What the review layer hands a queue for one row; the queue adds id and timestamps."""

    kind: Kind
    reason: Reason
    priority: float
    context: dict[str, Any]
    deadline: float | None = None


@dataclass(frozen=True)
class ReviewCase:
    """One case in a review queue; immutable (operations return the updated case).

    Attributes:
        id: the case id (also in the decision's ``review_id`` column).
        status: "pending", "claimed", "resolved", "skipped" or "expired" (nobody reached
            it in time, see `BaseQueue.expire`). A claim whose lease has expired reads as
            "pending".
        kind: "withheld" (the caller got no answer, or a provisional one), "audit"
            (a random sample of confident answers, returned to the caller as usual) or
            "data_quality" (the row was withheld as invalid input: a data problem, not a
            model question; listed and claimed after every model case).
        reason: why the row was withheld (``Reason.NONE`` for audit cases).
        priority: higher is reviewed first.
        created_at: unix time the case was enqueued.
        deadline: unix time by which it should be resolved, or None.
        claimed_by, lease_until: the current claim, if any.
        resolved_at, reviewer, label, note: the outcome, once resolved (or skipped).
        skips: how often reviewers skipped it.
        context: what the reviewer sees and what labels flow back with: ``input``
            (redacted), ``candidate``, ``proba``, ``classes``, ``confidence``,
            ``prediction_set``, ``interval``, ``stage``, ``stages_tried``, ``detail``,
            ``guard``, ``version``, ``request_id``, ``row``, ``provisional``,
            ``inclusion_probability`` (the known probability that this row was queued: the
            audit draw's for audit cases, 1 for withheld rows) and ``weight`` (its inverse).
    """

    id: str
    status: Status
    kind: Kind
    reason: Reason
    priority: float
    created_at: float
    context: Mapping[str, Any]
    deadline: float | None = None
    claimed_by: str | None = None
    lease_until: float | None = None
    resolved_at: float | None = None
    reviewer: str | None = None
    label: Any = None
    note: str | None = None
    skips: int = 0

    def overdue(self, now: float | None = None) -> bool:
        """True when the case has a deadline, is still open and the deadline has passed."""
        if self.deadline is None or self.status in ("resolved", "skipped", "expired"):
            return False
        return (time.time() if now is None else now) > self.deadline

    @property
    def classes(self) -> list[Any] | None:
        """The class labels a label must be one of (None for regression)."""
        classes = self.context.get("classes")
        return None if classes is None else list(classes)

    def to_dict(self) -> dict[str, Any]:
        """The case as a JSON-safe dict."""
        return {
            "id": self.id,
            "status": self.status,
            "kind": self.kind,
            "reason": str(self.reason),
            "priority": self.priority,
            "created_at": self.created_at,
            "deadline": self.deadline,
            "claimed_by": self.claimed_by,
            "lease_until": self.lease_until,
            "resolved_at": self.resolved_at,
            "reviewer": self.reviewer,
            "label": self.label,
            "note": self.note,
            "skips": self.skips,
            "context": dict(self.context),
        }


@dataclass(frozen=True)
class QueueStats:
    """Counts of a queue at one moment.

    Attributes:
        counts: cases per status (every status present, zero included).
        pending_by_age: pending cases per age bucket ("<1h", "1h-1d", "1d-7d", ">7d").
        overdue: open (pending or claimed) cases past their deadline.
        oldest_pending_age: seconds since the oldest pending case was enqueued (0 if none).
        at: unix time of the snapshot.
        pending_by_kind: pending cases per lane (every kind of [`KINDS`][] present).
        oldest_by_kind: seconds since the oldest pending case of each lane was enqueued.
        throughput: cases each reviewer closed (resolved or skipped) per hour over the
            last ``throughput_window`` seconds.
        throughput_window: seconds over which ``throughput`` was measured.
    """

    counts: Mapping[str, int]
    pending_by_age: Mapping[str, int]
    overdue: int
    oldest_pending_age: float
    at: float
    pending_by_kind: Mapping[str, int] = field(default_factory=dict)
    oldest_by_kind: Mapping[str, float] = field(default_factory=dict)
    throughput: Mapping[str, float] = field(default_factory=dict)
    throughput_window: float = 3600.0

    @property
    def total(self) -> int:
        """Number of cases in the queue."""
        return sum(self.counts.values())

    def as_metrics(self, prefix: str = "guardrails_review") -> dict[str, float]:
        """Flat gauge values for a metrics exporter, e.g. ``guardrails_review_overdue``."""
        out = {f"{prefix}_cases_{status}": float(n) for status, n in self.counts.items()}
        out[f"{prefix}_overdue"] = float(self.overdue)
        out[f"{prefix}_oldest_pending_seconds"] = self.oldest_pending_age
        for kind, n in self.pending_by_kind.items():
            out[f"{prefix}_pending_{kind}"] = float(n)
        for kind, age in self.oldest_by_kind.items():
            out[f"{prefix}_oldest_pending_{kind}_seconds"] = age
        out[f"{prefix}_throughput_per_hour"] = float(sum(self.throughput.values()))
        out[f"{prefix}_reviewers_active"] = float(len(self.throughput))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as a JSON-safe dict."""
        return {
            "counts": dict(self.counts),
            "pending_by_age": dict(self.pending_by_age),
            "overdue": self.overdue,
            "oldest_pending_age": self.oldest_pending_age,
            "at": self.at,
            "pending_by_kind": dict(self.pending_by_kind),
            "oldest_by_kind": dict(self.oldest_by_kind),
            "throughput": dict(self.throughput),
            "throughput_window": self.throughput_window,
        }


# -- the protocol ----------------------------------------------------------------------------


@runtime_checkable
class ReviewQueue(Protocol):
    """What the review layer, reviewers and the feedback functions need from a queue."""

    url: str

    def enqueue(self, cases: Sequence[NewCase]) -> list[str]:
        """Store ``cases`` in one atomic, durable write; return their ids in order."""
        ...

    def get(self, case_id: str) -> ReviewCase:
        """The case with ``case_id``; `CaseNotFoundError` if none."""
        ...

    def list(
        self,
        *,
        status: Status | None = None,
        kind: Kind | None = None,
        reason: Reason | None = None,
        overdue: bool | None = None,
        limit: int = 100,
    ) -> list[ReviewCase]:
        """Cases matching every given filter: model cases first, then by priority and age."""
        ...

    def claim(
        self,
        reviewer: str,
        *,
        n: int = 1,
        lease: float = 600.0,
        kind: Kind | None = None,
        reason: Reason | None = None,
    ) -> builtins.list[ReviewCase]:
        """Lease up to ``n`` pending cases to ``reviewer`` for ``lease`` seconds."""
        ...

    def release(
        self, reviewer: str, *, case_ids: Sequence[str] | None = None
    ) -> builtins.list[ReviewCase]:
        """Give back ``reviewer``'s live claims (all, or those in ``case_ids``) as pending."""
        ...

    def resolve(
        self, case_id: str, label: Any, *, reviewer: str, note: str | None = None
    ) -> ReviewCase:
        """Record ``label`` for a case ``reviewer`` holds a live claim on."""
        ...

    def skip(self, case_id: str, *, reviewer: str, note: str | None = None) -> ReviewCase:
        """Give back a claimed case as 'skipped' (it waits for [`reopen`][])."""
        ...

    def reopen(self, case_id: str, *, note: str | None = None) -> ReviewCase:
        """Send a resolved or skipped case back to pending (its label is cleared)."""
        ...

    def stats(self) -> QueueStats:
        """Counts by status and age, and the overdue count."""
        ...

    def labelled(
        self, *, since: float | None = None, until: float | None = None
    ) -> Iterator[ReviewCase]:
        """Resolved cases, by resolution time, optionally within ``[since, until)``."""
        ...

    def close(self) -> None:
        """Release connections (the data stays)."""
        ...


# -- the shared state machine ------------------------------------------------------------------


def _check_text(owner: str, name: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty str. Got {value!r} instead."
        )


def _check_positive(owner: str, name: str, value: Any, *, integer: bool = False) -> None:
    ok = isinstance(value, int) or (not integer and isinstance(value, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value <= 0:
        what = "a positive int" if integer else "a positive number of seconds"
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be {what}. Got {value!r} instead."
        )


def check_label(case: ReviewCase, label: Any) -> Any:
    """``label`` as the class value it names; [`InvalidLabelError`][] if it names none.

    A label given as text (e.g. from the command line) matches the class whose ``str`` is
    equal, so ``"1"`` resolves to class ``1``. Regression cases take a finite number.
    """
    classes = case.classes
    if classes is None:
        try:
            value = float(label)
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(label, bool) or not math.isfinite(value):
            raise InvalidLabelError(
                f"case {case.id} is a regression case: its label must be a finite number. "
                f"Got {label!r}."
            )
        return value
    for c in classes:
        if type(c) is type(label) and c == label:
            return c
    for c in classes:
        if str(c) == str(label):
            return c
    raise InvalidLabelError(
        f"label {label!r} is not one of the classes of case {case.id}: {classes!r}."
    )


class BaseQueue(ABC):
    """Reviewer operations written once over a few storage primitives.

    A backend implements `_insert`, `_update`, `_claim`, `_select`
    and `_open_rows`. Every check happens inside the backend's transaction, so a
    refused operation changes nothing.
    """

    url: str = ""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        if not callable(clock):
            raise ConfigurationError(
                f"The 'clock' parameter of {type(self).__name__} must be callable returning "
                f"unix seconds. Got {clock!r} instead."
            )
        self.clock = clock

    # -- storage primitives ------------------------------------------------------------

    @abstractmethod
    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert full rows in one transaction, committed durably before returning."""

    @abstractmethod
    def _update(
        self, case_id: str, change: Callable[[ReviewCase, float], dict[str, Any]]
    ) -> ReviewCase:
        """Lock the row, call ``change(case, now)`` and apply its fields, atomically."""

    @abstractmethod
    def _claim(
        self,
        reviewer: str,
        n: int,
        lease: float,
        kind: Kind | None,
        reason: Reason | None,
        now: float,
    ) -> list[ReviewCase]:
        """Atomically lease up to ``n`` claimable cases to ``reviewer``, model cases first."""

    @abstractmethod
    def _select(
        self,
        *,
        where: Mapping[str, Any],
        now: float,
        limit: int | None,
        order: str,
    ) -> list[ReviewCase]:
        """Cases matching ``where`` (status, kind, reason, overdue, id, since, until,
        claimed_by); ``order`` "priority" puts model cases before data-quality cases."""

    @abstractmethod
    def _open_rows(self, now: float) -> tuple[dict[str, int], list[tuple[str, float, float, str]]]:
        """Counts by stored status (closed ones), and (effective status, created_at,
        deadline, kind) of open rows."""

    # -- the protocol ------------------------------------------------------------------

    def enqueue(self, cases: Sequence[NewCase]) -> list[str]:
        """Store ``cases`` in one atomic, durable write; return their ids in order."""
        if not cases:
            return []
        now = self.clock()
        rows = []
        for case in cases:
            rows.append(
                {
                    "id": uuid.uuid4().hex,
                    "status": "pending",
                    "kind": case.kind,
                    "reason": int(case.reason),
                    "priority": float(case.priority),
                    "created_at": now,
                    "deadline": None if case.deadline is None else now + case.deadline,
                    "claimed_by": None,
                    "lease_until": None,
                    "resolved_at": None,
                    "reviewer": None,
                    "label": None,
                    "note": None,
                    "skips": 0,
                    "context": _dumps(case.context),
                }
            )
        self._insert(rows)
        return [str(r["id"]) for r in rows]

    def get(self, case_id: str) -> ReviewCase:
        """The case with ``case_id``; `CaseNotFoundError` if none."""
        found = self._select(where={"id": str(case_id)}, now=self.clock(), limit=1, order="id")
        if not found:
            raise CaseNotFoundError(f"no review case has id {case_id!r} in {self.url}")
        return found[0]

    def list(
        self,
        *,
        status: Status | None = None,
        kind: Kind | None = None,
        reason: Reason | None = None,
        overdue: bool | None = None,
        limit: int = 100,
    ) -> list[ReviewCase]:
        """Cases matching every given filter: model cases before data-quality cases, then
        highest priority and oldest first.

        Args:
            status: one of [`STATUSES`][] (an expired claim counts as "pending").
            kind: one of [`KINDS`][]: "withheld", "audit" or "data_quality".
            reason: the [`Reason`][guardrails.Reason] the row was withheld for.
            overdue: True for open cases past their deadline only.
            limit: at most this many cases.
        """
        owner = f"{type(self).__name__}.list"
        if status is not None and status not in STATUSES:
            raise ConfigurationError(
                f"The 'status' parameter of {owner} must be one of {STATUSES}. Got {status!r}."
            )
        _check_kind(owner, kind)
        _check_positive(owner, "limit", limit, integer=True)
        where: dict[str, Any] = {"status": status, "kind": kind, "overdue": overdue}
        if reason is not None:
            where["reason"] = int(_check_reason(owner, reason))
        return self._select(where=where, now=self.clock(), limit=limit, order="priority")

    def claim(
        self,
        reviewer: str,
        *,
        n: int = 1,
        lease: float = 600.0,
        kind: Kind | None = None,
        reason: Reason | None = None,
    ) -> builtins.list[ReviewCase]:
        """Lease up to ``n`` pending cases to ``reviewer``: model cases first (data-quality
        cases only once none is left), then highest priority, then oldest.

        Two reviewers never hold the same case: the claim is one atomic step. When the
        lease runs out before the case is resolved, the case is pending again; a reviewer
        who stops early gives the cases back with
        [`release`][guardrails.review.queue.BaseQueue.release].

        Args:
            reviewer: who claims.
            n: at most this many cases.
            lease: seconds the claim lasts.
            kind: only cases of this kind (one of [`KINDS`][]).
            reason: only cases withheld for this [`Reason`][guardrails.Reason].

        Returns:
            The claimed cases (fewer than ``n``, possibly none, when the queue runs dry).
        """
        owner = f"{type(self).__name__}.claim"
        _check_text(owner, "reviewer", reviewer)
        _check_positive(owner, "n", n, integer=True)
        _check_positive(owner, "lease", lease)
        _check_kind(owner, kind)
        why = None if reason is None else _check_reason(owner, reason)
        return self._claim(reviewer, n, float(lease), kind, why, self.clock())

    def release(
        self, reviewer: str, *, case_ids: Sequence[str] | None = None
    ) -> builtins.list[ReviewCase]:
        """Give back the cases ``reviewer`` holds a live claim on: they are pending again at
        once, for anyone to claim (a reviewer's script that stops early calls this rather
        than leave its cases leased until the lease runs out).

        Args:
            reviewer: whose claims to release.
            case_ids: only these cases (each must be claimed by ``reviewer``); None: all.

        Returns:
            The released cases, now pending.

        Raises:
            CaseNotFoundError: a case in ``case_ids`` does not exist (nothing is released).
            CaseStateError: a case in ``case_ids`` is not claimed by ``reviewer`` (nothing
                is released). A case whose claim by ``reviewer`` already ran out is pending
                already: it is left out, without error.
        """
        owner = f"{type(self).__name__}.release"
        _check_text(owner, "reviewer", reviewer)
        now = self.clock()
        if case_ids is None:
            held = self._select(
                where={"status": "claimed", "claimed_by": reviewer},
                now=now,
                limit=None,
                order="priority",
            )
            ids = [c.id for c in held]
        else:
            if isinstance(case_ids, str) or not all(isinstance(i, str) for i in case_ids):
                raise ConfigurationError(
                    f"The 'case_ids' parameter of {owner} must be a list of case ids or None. "
                    f"Got {case_ids!r} instead."
                )
            ids = []
            for case in [self.get(i) for i in dict.fromkeys(case_ids)]:
                if case.status == "pending" and case.claimed_by == reviewer:
                    continue  # the claim ran out: the case is free already
                _check_holder(case, reviewer, now, "release")
                ids.append(case.id)

        def change(case: ReviewCase, at: float) -> dict[str, Any]:
            _check_holder(case, reviewer, at, "release")
            return {"status": "pending", "claimed_by": None, "lease_until": None}

        released = []
        for case_id in ids:
            try:
                released.append(self._update(case_id, change))
            except CaseStateError:  # the lease ran out (or was taken over) since the check
                continue
        return released

    def resolve(
        self, case_id: str, label: Any, *, reviewer: str, note: str | None = None
    ) -> ReviewCase:
        """Record ``label`` for a case that ``reviewer`` holds a live claim on.

        Raises:
            CaseNotFoundError: no case has ``case_id``.
            CaseStateError: the case is not claimed by ``reviewer`` (e.g. already resolved).
            LeaseExpiredError: the claim ran out; claim the case again.
            InvalidLabelError: ``label`` is not one of the case's classes.
        """
        owner = f"{type(self).__name__}.resolve"
        _check_text(owner, "reviewer", reviewer)
        _check_text(owner, "note", note, optional=True)

        def change(case: ReviewCase, now: float) -> dict[str, Any]:
            _check_holder(case, reviewer, now, "resolve")
            value = check_label(case, label)
            return {
                "status": "resolved",
                "label": json.dumps(_jsonable(value)),
                "note": note,
                "reviewer": reviewer,
                "resolved_at": now,
                "claimed_by": None,
                "lease_until": None,
            }

        return self._update(str(case_id), change)

    def skip(self, case_id: str, *, reviewer: str, note: str | None = None) -> ReviewCase:
        """Give back a case ``reviewer`` holds as 'skipped': it waits for [`reopen`][]."""
        owner = f"{type(self).__name__}.skip"
        _check_text(owner, "reviewer", reviewer)
        _check_text(owner, "note", note, optional=True)

        def change(case: ReviewCase, now: float) -> dict[str, Any]:
            _check_holder(case, reviewer, now, "skip")
            return {
                "status": "skipped",
                "note": note,
                "reviewer": reviewer,
                "resolved_at": now,
                "claimed_by": None,
                "lease_until": None,
                "skips": case.skips + 1,
            }

        return self._update(str(case_id), change)

    def reopen(self, case_id: str, *, note: str | None = None) -> ReviewCase:
        """Send a resolved, skipped or expired case back to pending; its label is cleared."""
        _check_text(f"{type(self).__name__}.reopen", "note", note, optional=True)

        def change(case: ReviewCase, now: float) -> dict[str, Any]:
            if case.status not in ("resolved", "skipped", "expired"):
                raise CaseStateError(
                    f"case {case.id} is {case.status}; only resolved or skipped cases (or "
                    "expired ones) reopen."
                )
            return {
                "status": "pending",
                "label": None,
                "note": note,
                "reviewer": None,
                "resolved_at": None,
            }

        return self._update(str(case_id), change)

    def stats(self, *, throughput_window: float = 3600.0) -> QueueStats:
        """Counts by status, lane and age of pending cases, the overdue count, and each
        reviewer's throughput (cases closed per hour over the last ``throughput_window``
        seconds)."""
        _check_positive(f"{type(self).__name__}.stats", "throughput_window", throughput_window)
        now = self.clock()
        stored, open_rows = self._open_rows(now)
        counts: dict[str, int] = {s: 0 for s in STATUSES}
        for closed in ("resolved", "skipped", "expired"):
            counts[closed] = stored.get(closed, 0)
        by_age = {name: 0 for name, _ in AGE_BUCKETS}
        by_kind: dict[str, int] = {str(k): 0 for k in KINDS}
        oldest_by_kind: dict[str, float] = {str(k): 0.0 for k in KINDS}
        overdue = 0
        oldest = 0.0
        for status, created, deadline, kind in open_rows:
            counts[status] += 1
            if deadline is not None and not math.isnan(deadline) and now > deadline:
                overdue += 1
            if status == "pending":
                age = max(0.0, now - created)
                oldest = max(oldest, age)
                by_kind[kind] = by_kind.get(kind, 0) + 1
                oldest_by_kind[kind] = max(oldest_by_kind.get(kind, 0.0), age)
                for name, bound in AGE_BUCKETS:
                    if age < bound:
                        by_age[name] += 1
                        break
        window = float(throughput_window)
        done: dict[str, int] = {}
        for case in self._select(
            where={"since": now - window}, now=now, limit=None, order="resolved"
        ):
            if case.status in ("resolved", "skipped") and case.reviewer is not None:
                done[case.reviewer] = done.get(case.reviewer, 0) + 1
        throughput = {r: k * 3600.0 / window for r, k in sorted(done.items())}
        return QueueStats(
            counts, by_age, overdue, oldest, now, by_kind, oldest_by_kind, throughput, window
        )

    def expire(
        self,
        *,
        older_than: float,
        kind: Kind | None = None,
        note: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[ReviewCase]:
        """Close the pending cases enqueued more than ``older_than`` seconds ago as
        "expired": nobody reached them in time.

        What happens to their rows: nothing new. The caller got its decision when the row
        was queued (withheld, or a provisional answer marked as such); an expired case
        only stops waiting, records why in its note, and stays in the queue (``reopen``
        brings it back). Expired audit cases are labels that never came: estimates from
        the rest stay unbiased only if expiry does not depend on the label.

        Args:
            older_than: age in seconds above which a pending case expires.
            kind: only cases of this kind (one of [`KINDS`][]).
            note: the reason stored in each case's note (default: says the age).
            limit: at most this many cases (oldest first); None: all.

        Returns:
            The expired cases. Cases claimed under a live lease are left alone.
        """
        owner = f"{type(self).__name__}.expire"
        _check_positive(owner, "older_than", older_than)
        _check_kind(owner, kind)
        _check_text(owner, "note", note, optional=True)
        if limit is not None:
            _check_positive(owner, "limit", limit, integer=True)
        now = self.clock()
        cutoff = now - float(older_than)
        text = note or f"expired: pending for more than {float(older_than):g} s"
        stale = [
            c
            for c in self._select(
                where={"status": "pending", "kind": kind}, now=now, limit=None, order="priority"
            )
            if c.created_at < cutoff
        ]
        stale.sort(key=lambda c: (c.created_at, c.id))
        if limit is not None:
            stale = stale[:limit]

        def change(case: ReviewCase, at: float) -> dict[str, Any]:
            if case.status != "pending":
                raise CaseStateError(f"case {case.id} is {case.status} now; it stays.")
            return {
                "status": "expired",
                "note": text,
                "resolved_at": at,
                "claimed_by": None,
                "lease_until": None,
            }

        out = []
        for case in stale:
            try:
                out.append(self._update(case.id, change))
            except CaseStateError:  # claimed meanwhile: a person reached it after all
                continue
        return out

    def labelled(
        self, *, since: float | None = None, until: float | None = None
    ) -> Iterator[ReviewCase]:
        """Resolved cases in order of resolution, optionally within ``[since, until)``."""
        where = {"status": "resolved", "since": since, "until": until}
        yield from self._select(where=where, now=self.clock(), limit=None, order="resolved")

    def close(self) -> None:  # noqa: B027 - queues without connections need no closing
        """Release connections (the data stays)."""

    def __enter__(self) -> BaseQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_kind(owner: str, kind: Any) -> None:
    if kind is not None and kind not in KINDS:
        raise ConfigurationError(
            f"The 'kind' parameter of {owner} must be one of {KINDS}. Got {kind!r} instead."
        )


def _check_reason(owner: str, reason: Any) -> Reason:
    """``reason`` as a [`Reason`][guardrails.Reason]: a member, its code or its name."""
    if isinstance(reason, Reason):
        return reason
    try:
        if isinstance(reason, str):
            return Reason[reason.upper()]
        if isinstance(reason, int) and not isinstance(reason, bool):
            return Reason(reason)
    except (KeyError, ValueError):
        pass
    names = ", ".join(str(r) for r in Reason)
    raise ConfigurationError(
        f"The 'reason' parameter of {owner} must be a Reason (one of {names}). "
        f"Got {reason!r} instead."
    )


def _lane(kind: Any) -> int:
    """0 for model cases, 1 for data-quality cases: the first key of every ordering."""
    return 1 if kind == DATA_QUALITY else 0


def _check_holder(case: ReviewCase, reviewer: str, now: float, what: str) -> None:
    """Raise unless ``reviewer`` holds a live claim on ``case``."""
    if case.status == "resolved":
        raise CaseStateError(
            f"case {case.id} was already resolved by {case.reviewer} with label "
            f"{case.label!r}; reopen it to change the label."
        )
    if case.status == "skipped":
        raise CaseStateError(f"case {case.id} was skipped; reopen and claim it to {what} it.")
    if case.claimed_by is None:
        raise CaseStateError(f"case {case.id} is pending; claim it before you {what} it.")
    if case.claimed_by != reviewer:
        if case.lease_until is not None and case.lease_until <= now:
            raise LeaseExpiredError(
                f"the claim of {case.claimed_by} on case {case.id} expired; claim it again."
            )
        raise CaseStateError(
            f"case {case.id} is claimed by {case.claimed_by}, not {reviewer}; it cannot be "
            f"{what}d by someone else while the lease lasts."
        )
    if case.lease_until is not None and case.lease_until <= now:
        raise LeaseExpiredError(
            f"the claim of {reviewer} on case {case.id} expired "
            f"{now - case.lease_until:.0f} s ago; claim it again before you {what} it."
        )


def case_from_row(row: Mapping[str, Any], now: float) -> ReviewCase:
    """A [`ReviewCase`][] from a stored row (``context`` and ``label`` as JSON text)."""
    status = str(row["status"])
    lease = row["lease_until"]
    claimed_by = row["claimed_by"]
    if status == "claimed" and lease is not None and lease <= now:
        status = "pending"  # an expired claim is pending again
    label = row["label"]
    return ReviewCase(
        id=str(row["id"]),
        status=status,  # type: ignore[arg-type]
        kind=str(row["kind"]),  # type: ignore[arg-type]
        reason=Reason(int(row["reason"])),
        priority=float(row["priority"]),
        created_at=float(row["created_at"]),
        context=json.loads(row["context"]),
        deadline=None if row["deadline"] is None else float(row["deadline"]),
        claimed_by=None if claimed_by is None else str(claimed_by),
        lease_until=None if lease is None else float(lease),
        resolved_at=None if row["resolved_at"] is None else float(row["resolved_at"]),
        reviewer=row["reviewer"],
        label=None if label is None else json.loads(label),
        note=row["note"],
        skips=int(row["skips"]),
    )


def _jsonable(value: Any) -> Any:
    """``value`` made JSON-safe: numpy to Python, NaN/inf as strings numpy can parse back."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind is list or kind is tuple:
        return [_jsonable(v) for v in value]
    if kind is dict:
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if hasattr(value, "model_dump"):  # a pydantic record
        return _jsonable(value.model_dump())
    return str(value)


def _dumps(context: Mapping[str, Any]) -> str:
    """``context`` as JSON text; made JSON-safe first only when it is not already."""
    try:
        return json.dumps(context, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(_jsonable(context), allow_nan=False)


# -- the in-memory queue ---------------------------------------------------------------------


class MemoryQueue(BaseQueue):
    """A review queue held in this process's memory: **for unit tests only**.

    Nothing survives the process, so never serve with it; it exists so that users can test
    their review wiring without a database. It is thread-safe and behaves like the durable
    queues in every other respect.

    Args:
        clock: unix-seconds clock (tests pass a fake one to expire leases).

    Examples:
        >>> from guardrails.review.queue import MemoryQueue, NewCase
        >>> from guardrails import Reason
        >>> q = MemoryQueue()
        >>> [case_id] = q.enqueue([NewCase("withheld", Reason.LOW_CONFIDENCE, 0.5,
        ...                                {"classes": ["cat", "dog"]})])
        >>> q.claim("ana")[0].id == case_id
        True
        >>> q.resolve(case_id, "dog", reviewer="ana").label
        'dog'
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self.url = "memory://"
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._rows[row["id"]] = dict(row)

    def _update(
        self, case_id: str, change: Callable[[ReviewCase, float], dict[str, Any]]
    ) -> ReviewCase:
        with self._lock:
            row = self._rows.get(case_id)
            now = self.clock()
            if row is None:
                raise CaseNotFoundError(f"no review case has id {case_id!r} in {self.url}")
            fields = change(case_from_row(row, now), now)
            row.update(fields)
            return case_from_row(row, now)

    def _claimable(self, row: Mapping[str, Any], now: float) -> bool:
        return bool(
            row["status"] == "pending" or (row["status"] == "claimed" and row["lease_until"] <= now)
        )

    def _claim(
        self,
        reviewer: str,
        n: int,
        lease: float,
        kind: Kind | None,
        reason: Reason | None,
        now: float,
    ) -> list[ReviewCase]:
        with self._lock:
            free = [
                r
                for r in self._rows.values()
                if self._claimable(r, now)
                and (kind is None or r["kind"] == kind)
                and (reason is None or r["reason"] == int(reason))
            ]
            free.sort(key=lambda r: (_lane(r["kind"]), -r["priority"], r["created_at"], r["id"]))
            out = []
            for row in free[:n]:
                row.update(status="claimed", claimed_by=reviewer, lease_until=now + lease)
                out.append(case_from_row(row, now))
            return out

    def _select(
        self, *, where: Mapping[str, Any], now: float, limit: int | None, order: str
    ) -> list[ReviewCase]:
        with self._lock:
            if where.get("id") is not None:
                row = self._rows.get(where["id"])
                return [] if row is None else [case_from_row(row, now)]
            cases = [case_from_row(r, now) for r in self._rows.values()]
        cases = [c for c in cases if _matches(c, where, now)]
        if order == "resolved":
            cases.sort(key=lambda c: (c.resolved_at or 0.0, c.id))
        else:
            cases.sort(key=lambda c: (_lane(c.kind), -c.priority, c.created_at, c.id))
        return cases if limit is None else cases[:limit]

    def _open_rows(self, now: float) -> tuple[dict[str, int], list[tuple[str, float, float, str]]]:
        with self._lock:
            cases = [case_from_row(r, now) for r in self._rows.values()]
        closed = ("resolved", "skipped", "expired")
        stored = {s: sum(c.status == s for c in cases) for s in closed}
        open_rows: list[tuple[str, float, float, str]] = [
            (
                str(c.status),
                c.created_at,
                math.nan if c.deadline is None else c.deadline,
                str(c.kind),
            )
            for c in cases
            if c.status in ("pending", "claimed")
        ]
        return stored, open_rows

    def __repr__(self) -> str:
        return "MemoryQueue()"


def _matches(case: ReviewCase, where: Mapping[str, Any], now: float) -> bool:
    if where.get("status") is not None and case.status != where["status"]:
        return False
    if where.get("kind") is not None and case.kind != where["kind"]:
        return False
    if where.get("reason") is not None and int(case.reason) != where["reason"]:
        return False
    if where.get("claimed_by") is not None and case.claimed_by != where["claimed_by"]:
        return False
    if where.get("overdue") is not None and case.overdue(now) != bool(where["overdue"]):
        return False
    resolved = case.resolved_at if case.resolved_at is not None else -math.inf
    if where.get("since") is not None and resolved < where["since"]:
        return False
    return not (where.get("until") is not None and resolved >= where["until"])


# -- opening a queue by URL ------------------------------------------------------------------


# -- context columns ---------------------------------------------------------------------------


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


# -- the layer -------------------------------------------------------------------------------


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
        >>> from guardrails.review.queue import MemoryQueue
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


# -- labels that flow back -------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledData:
    """Resolved review cases as arrays, in order of resolution.

    Attributes:
        ids: ``(n,)`` case ids.
        X: ``(n_samples, n_features)`` float array when every stored input is a list of
            numbers (redacted entries make it ``object``), else a list of records.
        y: ``(n,)`` the reviewers' labels.
        proba: ``(n, n_classes)`` the calibrated probabilities the guard saw (NaN rows
            where the model gave none), or None for regression.
        classes: ``(n_classes,)`` labels in the order of ``proba``'s columns, or None.
        candidate: ``(n,)`` object: what the model proposed (None where it gave nothing).
        answered: ``(n,)`` bool: the caller got the answer (audit cases).
        reason: ``(n,)`` object: the [`Reason`][guardrails.Reason] each case was
            withheld for (``Reason.NONE`` for audit cases).
        weight: ``(n,)`` inverse inclusion probability (1 for withheld cases).
        created_at, resolved_at: ``(n,)`` unix times.
        inclusion_probability: ``(n,)`` the known probability that each case was queued
            (the audit draw's for audit cases, 1 for withheld rows without a budget); NaN
            where none is known (withheld rows a budget chose by value).
    """

    ids: NDArray[np.object_]
    X: Any
    y: NDArray[Any]
    proba: NDArray[np.float64] | None
    classes: NDArray[Any] | None
    candidate: NDArray[np.object_]
    answered: NDArray[np.bool_]
    reason: NDArray[np.object_]
    weight: NDArray[np.float64]
    created_at: NDArray[np.float64]
    resolved_at: NDArray[np.float64]
    inclusion_probability: NDArray[np.float64] = field(
        default_factory=lambda: np.empty(0, dtype=np.float64)
    )

    def __len__(self) -> int:
        return len(self.ids)

    def as_decisions(self) -> Decisions:
        """The guard's original outputs on these cases as a [`Decisions`][guardrails.Decisions]
        batch (candidate, probabilities, confidence, classes), so that a layer's
        ``learn(d, y)`` can take ``(data.as_decisions(), data.y)`` directly.

        ``abstained`` is True for withheld cases and ``reason`` is the original reason.
        """
        confidence = None
        if self.proba is not None:
            with np.errstate(invalid="ignore"):
                confidence = np.where(
                    np.isnan(self.proba).all(axis=1),
                    np.nan,
                    np.nanmax(np.where(np.isnan(self.proba), -np.inf, self.proba), axis=1),
                )
        return Decisions(
            prediction=self.candidate.copy(),
            abstained=~self.answered,
            reason=np.array([int(r) for r in self.reason], dtype=np.int8),
            proba=None if self.proba is None else self.proba.copy(),
            confidence=confidence,
            review_id=self.ids.copy(),
            classes=self.classes,
        )

    def take(self, rows: NDArray[np.intp]) -> LabelledData:
        """These rows only (by position), as a new `LabelledData`."""
        rows = np.asarray(rows, dtype=np.intp)
        X = self.X[rows] if isinstance(self.X, np.ndarray) else [self.X[int(i)] for i in rows]
        chance = self.inclusion_probability
        return LabelledData(
            ids=self.ids[rows],
            X=X,
            y=self.y[rows],
            proba=None if self.proba is None else self.proba[rows],
            classes=self.classes,
            candidate=self.candidate[rows],
            answered=self.answered[rows],
            reason=self.reason[rows],
            weight=self.weight[rows],
            created_at=self.created_at[rows],
            resolved_at=self.resolved_at[rows],
            inclusion_probability=chance[rows] if chance.size == len(self) else chance,
        )

    def resample(self, *, seed: int = 0) -> LabelledData:
        """A subsample distributed as the traffic the cases were drawn from.

        Each case is kept with probability ``weight / max(weight)`` (rejection
        sampling), so an audit sample that favoured uncertain rows, or a mix of withheld
        and audit cases, comes back in the proportions of the served rows, each case at
        most once (a calibrator fitted on it learns the traffic, not the sample). With
        equal weights every case is kept.
        """
        if len(self) == 0:
            return self
        w = self.weight
        top = float(w.max())
        if float(w.min()) == top:
            return self
        keep = np.random.default_rng(seed).random(len(self)) < w / top
        return self.take(np.flatnonzero(keep))

    @property
    def correct(self) -> NDArray[np.bool_]:
        """``(n,)`` True where the model's candidate equals the reviewer's label."""
        return np.array(
            [c is not None and _same_label(c, label) for c, label in zip(self.candidate, self.y)],
            dtype=bool,
        )


def _same_label(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)


def labelled_data(
    queue: ReviewQueue,
    *,
    since: float | None = None,
    until: float | None = None,
    kind: Kind | None = None,
) -> LabelledData:
    """The resolved cases of ``queue`` as arrays, ready to refit or evaluate on.

    Args:
        queue: the review queue.
        since: resolution time window ``[since, until)`` in unix seconds.
        until: resolution time window ``[since, until)`` in unix seconds.
        kind: only cases of this kind ("withheld", "audit" or "data_quality").

    Returns:
        A `LabelledData` (possibly empty); ``(X, y)`` plus the original outputs.
    """
    cases = [c for c in queue.labelled(since=since, until=until) if kind in (None, c.kind)]
    return _to_arrays(cases)


def _to_arrays(cases: Sequence[ReviewCase]) -> LabelledData:
    n = len(cases)
    ids = object_column(n)
    candidate = object_column(n)
    reason = object_column(n)
    for i, c in enumerate(cases):
        ids[i] = c.id
        candidate[i] = c.context.get("candidate")
        reason[i] = c.reason
    inputs: list[Any] = [c.context.get("input") for c in cases]
    X: Any = inputs
    if n and all(isinstance(v, list) for v in inputs) and len({len(v) for v in inputs}) == 1:
        try:
            X = np.asarray(inputs, dtype=np.float64)
        except (TypeError, ValueError):
            X = np.asarray(inputs, dtype=object)
    labels = [c.label for c in cases]
    y = np.asarray(labels) if n else np.empty(0)
    classes_list = next((c.classes for c in cases if c.classes is not None), None)
    classes = None if classes_list is None else np.asarray(classes_list)
    proba = None
    if classes is not None:
        proba = np.full((n, len(classes)), np.nan)
        for i, c in enumerate(cases):
            p = c.context.get("proba")
            if p is not None and len(p) == len(classes):
                proba[i] = np.asarray(p, dtype=np.float64)
    return LabelledData(
        ids=ids,
        X=X,
        y=y,
        proba=proba,
        classes=classes,
        candidate=candidate,
        answered=np.array([c.kind == "audit" for c in cases], dtype=bool),
        reason=reason,
        weight=np.array([float(c.context.get("weight", 1.0)) for c in cases]),
        created_at=np.array([c.created_at for c in cases], dtype=np.float64),
        resolved_at=np.array([c.resolved_at or math.nan for c in cases], dtype=np.float64),
        inclusion_probability=np.array([_chance(c) for c in cases], dtype=np.float64),
    )


def _chance(case: ReviewCase) -> float:
    """The stored inclusion probability; for cases queued before it was stored, the
    inverse of their weight."""
    if "inclusion_probability" in case.context:
        p = case.context["inclusion_probability"]
        return math.nan if p is None else float(p)
    return 1.0 / float(case.context.get("weight", 1.0))


@dataclass(frozen=True)
class Accuracy:
    """Realized accuracy of one group of reviewed cases, weighted by inclusion.

    Each case counts ``1 / inclusion probability`` times (inverse-probability weighting,
    the Hajek ratio), so a sample that favoured uncertain rows still estimates the
    accuracy of the whole group without bias (to order ``1/n``). With equal weights it is
    the plain share correct and the interval is Wilson's.

    Attributes:
        n: labelled cases in the group (with a model candidate).
        correct: how many the model got right (unweighted count).
        accuracy: the weighted share correct (NaN when ``n`` is 0).
        low, high: 95% interval: Wilson's score interval at the design's effective
            sample size ``accuracy * (1 - accuracy) / variance``, with the linearized
            (sandwich) variance of the weighted share.
        naive: the unweighted share correct ``correct / n``: biased when the sample
            favoured some rows; reported so the difference shows.
        n_effective: the effective sample size the interval used.
    """

    n: int
    correct: int
    accuracy: float
    low: float
    high: float
    naive: float = math.nan
    n_effective: float = math.nan

    @property
    def error_rate(self) -> float:
        """``1 - accuracy``: the weighted share the model got wrong."""
        return 1.0 - self.accuracy

    @property
    def error_interval(self) -> tuple[float, float]:
        """95% interval of the error rate: ``(1 - high, 1 - low)``."""
        return (1.0 - self.high, 1.0 - self.low)


_Z95 = 1.959963984540054


def _wilson(p: float, n: float) -> tuple[float, float]:
    z = _Z95
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def weighted_accuracy(
    correct: NDArray[np.bool_], weight: NDArray[np.float64] | None = None
) -> Accuracy:
    """The inverse-probability-weighted share of ``correct``, with a 95% interval.

    Args:
        correct: ``(n,)`` bool, one per labelled case.
        weight: ``(n,)`` positive weights, ``1 / inclusion probability`` (None: equal).

    Returns:
        An [`Accuracy`][]; NaN fields when ``n`` is 0.

    Examples:
        >>> import numpy as np
        >>> a = weighted_accuracy(np.array([True, False, True, True]),
        ...                       np.array([1.0, 4.0, 1.0, 2.0]))
        >>> round(a.accuracy, 3), a.naive
        (0.5, 0.75)
    """
    correct = np.asarray(correct, dtype=bool)
    n = int(correct.size)
    k = int(correct.sum())
    if n == 0:
        return Accuracy(0, 0, math.nan, math.nan, math.nan, math.nan, 0.0)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w <= 0).any():
        raise ConfigurationError(f"weighted_accuracy needs {n} finite positive weights; got {w!r}.")
    total = float(w.sum())
    p = float(np.dot(w, correct)) / total
    var = float(np.sum((w * (correct - p)) ** 2)) / (total * total)
    kish = total * total / float(np.dot(w, w))
    n_eff = p * (1.0 - p) / var if var > 0 else kish
    n_eff = max(1.0, n_eff)
    low, high = _wilson(p, n_eff)
    return Accuracy(n, k, p, low, high, k / n, n_eff)


def _accuracy(correct: NDArray[np.bool_]) -> Accuracy:
    return weighted_accuracy(correct)


@dataclass(frozen=True)
class RealizedAccuracy:
    """How often the model was right, by what the caller got, from human labels.

    Attributes:
        answered: accuracy of answers the caller got, from audit cases, each weighted by
            the inverse of its stored inclusion probability (unbiased whatever rows the
            audit favoured; ``answered.naive`` is the unweighted share).
        withheld: accuracy the model's candidate would have had on withheld rows.
        model: the model's accuracy had it answered everything, weighting each case by
            its inverse inclusion probability (NaN without audit cases; withheld cases a
            budget chose by value count once each, so it covers the queued rows only).
        windows: one row per time window of ``created_at``: ``(start, answered,
            withheld)``, when a window width was given.
        by_class: ``(class, accuracy)`` of the answered rows per predicted class.
    """

    answered: Accuracy
    withheld: Accuracy
    model: float
    windows: tuple[tuple[float, Accuracy, Accuracy], ...] = field(default=())
    by_class: tuple[tuple[Any, Accuracy], ...] = field(default=())


def realized_accuracy(
    queue: ReviewQueue | LabelledData,
    *,
    since: float | None = None,
    until: float | None = None,
    window: float | None = None,
) -> RealizedAccuracy:
    """Realized accuracy of answered vs withheld cases, overall and per time window.

    Args:
        queue: a review queue, or `LabelledData` already read from one.
        since: resolution time window ``[since, until)`` (queues only).
        until: resolution time window ``[since, until)`` (queues only).
        window: width in seconds of the windows of ``created_at`` to report, or None.

    Returns:
        A `RealizedAccuracy`. Cases without a model candidate are left out.

    Raises:
        ConfigurationError: the cases are regression cases (no accuracy to compute).
    """
    if window is not None:
        _check_positive("realized_accuracy", "window", window)
    data = (
        queue if isinstance(queue, LabelledData) else labelled_data(queue, since=since, until=until)
    )
    if len(data) and data.classes is None:
        raise ConfigurationError(
            "realized_accuracy needs classification cases; these are regression cases. "
            "Use labelled_data(queue) and your own error measure."
        )
    has = np.array([c is not None for c in data.candidate], dtype=bool)
    correct = data.correct
    answered = data.answered & has
    withheld = ~data.answered & has
    w = data.weight
    if len(data) and data.inclusion_probability.size == len(data):
        chance = data.inclusion_probability
        known = np.isfinite(chance) & (chance > 0)
        w = np.where(known, 1.0 / np.where(known, chance, 1.0), w)
    model = math.nan
    if answered.any():
        total = float(w[answered].sum() + w[withheld].sum())
        right = float(w[answered & correct].sum() + w[withheld & correct].sum())
        model = right / total
    windows: list[tuple[float, Accuracy, Accuracy]] = []
    if window is not None and len(data):
        start = math.floor(float(data.created_at.min()) / window) * window
        slot = np.floor((data.created_at - start) / window).astype(np.int64)
        for s in np.unique(slot):
            inside = slot == s
            windows.append(
                (
                    start + float(s) * window,
                    weighted_accuracy(correct[answered & inside], w[answered & inside]),
                    _accuracy(correct[withheld & inside]),
                )
            )
    by_class = []
    if answered.any():
        labels = np.array([str(c) for c in data.candidate], dtype=object)
        for name in sorted(set(labels[answered].tolist())):
            rows = answered & (labels == name)
            by_class.append((name, weighted_accuracy(correct[rows], w[rows])))
    return RealizedAccuracy(
        answered=weighted_accuracy(correct[answered], w[answered]),
        withheld=_accuracy(correct[withheld]),
        model=model,
        windows=tuple(windows),
        by_class=tuple(by_class),
    )
