"""Labels that flow back: resolved cases as arrays, and accuracy weighted by inclusion odds.

Each labelled case counts the inverse of its known inclusion probability, so realized
accuracy of the automated answers stays unbiased when the audit favoured uncertain rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, object_column
from guardrails.core.errors import ConfigurationError
from guardrails.review.cases import Kind, ReviewCase, _check_positive
from guardrails.review.queue import ReviewQueue

__all__ = [
    "Accuracy",
    "LabelledData",
    "RealizedAccuracy",
    "labelled_data",
    "realized_accuracy",
    "weighted_accuracy",
]


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
