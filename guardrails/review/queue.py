"""The review queue protocol, and the reviewer operations written once for every backend.

Queues implement [`ReviewQueue`][]; [`BaseQueue`][] gives every backend the same state
machine: a case moves ``pending -> claimed -> resolved`` (or ``skipped``); a claim is a
lease that expires, after which the case is pending again; ``release`` gives a reviewer's
claims back at once; ``expire`` closes pending cases nobody reached in time as ``expired``
(with the reason in their note); ``reopen`` sends a resolved, skipped or expired case back
to pending; ``stats`` counts the work per status, lane, age and reviewer. The backends are
[`MemoryQueue`][guardrails.review.memory.MemoryQueue] (tests only),
[`SQLiteQueue`][guardrails.review.sqlite.SQLiteQueue] and
[`PostgresQueue`][guardrails.review.postgres.PostgresQueue]; the errors they raise are drawn
in [`guardrails.review.cases`][].
"""

from __future__ import annotations

import builtins
import json
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from guardrails.core.decisions import Reason
from guardrails.core.errors import ConfigurationError
from guardrails.review.cases import (
    AGE_BUCKETS,
    KINDS,
    STATUSES,
    CaseNotFoundError,
    CaseStateError,
    Kind,
    LeaseExpiredError,
    NewCase,
    QueueStats,
    ReviewCase,
    Status,
    _check_kind,
    _check_positive,
    _check_reason,
    _check_text,
    _dumps,
    _jsonable,
    check_label,
)

__all__ = [
    "BaseQueue",
    "ReviewQueue",
]


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
