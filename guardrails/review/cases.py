"""The review case and its rules: statuses, kinds, errors, the case records, label checks.

Errors raised by queues:

    GuardrailsError
    └── ReviewError
        ├── CaseNotFoundError(+KeyError)      no case has that id
        ├── CaseStateError(+ValueError)       the operation does not fit the case's state
        │   └── LeaseExpiredError             the reviewer's claim ran out; claim it again
        └── InvalidLabelError(+ValueError)    the label is not one of the case's classes
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from guardrails.core.decisions import Reason
from guardrails.core.errors import ConfigurationError, GuardrailsError

__all__ = [
    "BUDGET_FALLBACK",
    "DATA_QUALITY",
    "KINDS",
    "PENDING_REVIEW",
    "STATUSES",
    "UNREVIEWED",
    "CaseNotFoundError",
    "CaseStateError",
    "InvalidLabelError",
    "Kind",
    "LeaseExpiredError",
    "NewCase",
    "QueueStats",
    "ReviewCase",
    "ReviewError",
    "Status",
    "case_from_row",
    "check_label",
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
