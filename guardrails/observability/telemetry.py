"""Metrics: a small thread-safe in-process registry of decision counts, histograms and rates.

[`Metrics`][] keeps, per guard (labelled by the guard's name and version):

- a counter of decided rows by ``outcome`` (``answered``, ``fallback``, ``abstained``,
  ``error``), ``reason`` (the stable [`Reason`][guardrails.Reason] name, or ``exception``)
  and answering ``stage``; a row a fallback answered after a verdict counts under that
  verdict (``("fallback", "low_confidence", "backup")``: answered by fallback after low
  confidence), so an abstention rate never hides behind a fallback;
- histograms of latency per stage and in total (seconds per call) and of confidence
  (per answered or withheld row that has one);
- gauges: abstention, fallback and error rates over the last ``window`` rows, and the
  latest drift status and scores the monitor reported;
- the review step's data-quality cap, and a counter of the invalid-input rows it kept out
  of the review queue.

Labels stay low-cardinality: no request ids, no inputs, only names the configuration fixes.
[`Metrics.snapshot`][] returns an immutable copy that exporters (Prometheus,
OpenTelemetry) and tests read; nothing here depends on an exporter.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from guardrails.core.decisions import PRIMARY, Decisions, Reason
from guardrails.core.errors import ConfigurationError

__all__ = [
    "CONFIDENCE_BUCKETS",
    "ERROR_REASONS",
    "LATENCY_BUCKETS",
    "OUTCOMES",
    "GuardSnapshot",
    "HistogramSnapshot",
    "Metrics",
    "Rates",
    "Snapshot",
    "row_outcomes",
]

OUTCOMES: tuple[str, ...] = ("answered", "fallback", "abstained", "error")
"""Outcome labels: answered by the primary model, answered by another stage, withheld
(for any reason), or the call raised so no row got a decision."""

ERROR_REASONS: frozenset[Reason] = frozenset(
    {Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN}
)
"""Withheld rows that count towards the error rate: a model failed to give an output."""

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the latency histogram buckets; +Inf is implied."""

CONFIDENCE_BUCKETS: tuple[float, ...] = (
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    1.0,
)
"""Upper bounds of the confidence histogram buckets; +Inf is implied."""

_ANSWERED, _FALLBACK, _ABSTAINED = 0, 1, 2
_REASON_NAMES: tuple[str, ...] = tuple(str(r) for r in Reason)
_ERROR_CODES = np.array(sorted(int(r) for r in ERROR_REASONS), dtype=np.int8)


def row_outcomes(d: Decisions) -> np.ndarray[Any, np.dtype[np.int8]]:
    """``(n_samples,)`` outcome codes: 0 answered by primary, 1 by a fallback, 2 withheld."""
    out = np.where(d.abstained, _ABSTAINED, _ANSWERED).astype(np.int8)
    answered = ~d.abstained
    if answered.any():
        out[answered & (d.stage != PRIMARY)] = _FALLBACK
    return out


@dataclass(frozen=True)
class HistogramSnapshot:
    """A histogram at one moment.

    Attributes:
        bounds: upper bounds of the finite buckets, increasing.
        counts: observations per bucket, non-cumulative; ``len(bounds) + 1`` entries, the
            last one for values above every bound.
        sum: sum of all observed values.
        count: number of observations.
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float
    count: int

    def cumulative(self) -> list[int]:
        """Counts of observations ``<= bound`` for each bound, then the total (``+Inf``)."""
        total = 0
        out = []
        for c in self.counts:
            total += c
            out.append(total)
        return out


class Rates(NamedTuple):
    """Rolling rates over the last ``rows`` rows a guard decided."""

    rows: int
    abstention: float
    fallback: float
    error: float


@dataclass(frozen=True)
class GuardSnapshot:
    """Everything recorded for one guard (one name and version).

    Attributes:
        guard: the guard's name; version: its version.
        decisions: rows by ``(outcome, reason, stage)``.
        calls: number of calls recorded (a batch is one call).
        latency: histogram of seconds per call, per stage name and ``"total"``.
        confidence: histogram of row confidences.
        rates: rolling abstention, fallback and error rates.
        drift_status: the monitor's latest status ("ok", "drift", ...) or None.
        drift_scores: the monitor's latest scores, flattened to ``"name.test"`` keys.
        review_not_queued: withheld rows the review step did not queue (kept out by its
            data-quality cap or its review budget).
        review_over_budget: of those, the rows its review budget kept out.
        review_data_quality_cap: that cap (rows per window), or None without a cap or
            without a review step.
        shed: calls of each fallback step ("primary" or a stage's name) shed because no
            worker thread freed up within the chain's ``max_wait`` or deadline.
    """

    guard: str
    version: str
    decisions: Mapping[tuple[str, str, str], int]
    calls: int
    latency: Mapping[str, HistogramSnapshot]
    confidence: HistogramSnapshot
    rates: Rates
    drift_status: str | None
    drift_scores: Mapping[str, float]
    review_not_queued: int = 0
    review_over_budget: int = 0
    review_data_quality_cap: int | None = None
    shed: Mapping[str, int] = field(default_factory=dict)

    def count(
        self, *, outcome: str | None = None, reason: str | None = None, stage: str | None = None
    ) -> int:
        """Rows recorded with the given labels (None matches any)."""
        return sum(
            v
            for (o, r, s), v in self.decisions.items()
            if (outcome is None or o == outcome)
            and (reason is None or r == reason)
            and (stage is None or s == stage)
        )


@dataclass(frozen=True)
class Snapshot:
    """The registry at one moment: one [`GuardSnapshot`][] per guard."""

    guards: tuple[GuardSnapshot, ...] = field(default_factory=tuple)

    def guard(self, name: str, version: str | None = None) -> GuardSnapshot:
        """The snapshot of guard ``name`` (and ``version`` when several are recorded).

        Raises:
            KeyError: no such guard was recorded, or the name is ambiguous without version.
        """
        found = [g for g in self.guards if g.guard == name and version in (None, g.version)]
        if len(found) != 1:
            what = "no" if not found else "several"
            raise KeyError(f"{what} guard(s) named {name!r} version {version!r} in this snapshot")
        return found[0]


class _Histogram:
    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def add_many(self, values: np.ndarray[Any, np.dtype[np.float64]]) -> None:
        if values.size == 1:
            self.add(float(values[0]))
            return
        idx = np.searchsorted(np.asarray(self.bounds), values, side="left")
        for i, c in enumerate(np.bincount(idx, minlength=len(self.counts)).tolist()):
            self.counts[i] += c
        self.sum += float(values.sum())
        self.count += int(values.size)

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(self.bounds, tuple(self.counts), self.sum, self.count)


class _Series:
    """The state of one guard; guarded by its own lock."""

    def __init__(self, metrics: Metrics) -> None:
        self.lock = threading.Lock()
        self.metrics = metrics
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.calls = 0
        self.latency: dict[str, _Histogram] = {}
        self.confidence = _Histogram(metrics.confidence_buckets)
        self.window: deque[tuple[int, int, int, int]] = deque()
        self.sums = [0, 0, 0, 0]  # rows, abstained, fallback, errors in the window
        self.drift_status: str | None = None
        self.drift_scores: dict[str, float] = {}
        self.review_not_queued = 0
        self.review_over_budget = 0
        self.review_cap: int | None = None
        self.shed: dict[str, int] = {}

    def _roll(self, rows: int, abstained: int, fallback: int, errors: int) -> Rates:
        window, sums = self.window, self.sums
        window.append((rows, abstained, fallback, errors))
        sums[0] += rows
        sums[1] += abstained
        sums[2] += fallback
        sums[3] += errors
        limit = self.metrics.window
        while len(window) > 1 and sums[0] - window[0][0] >= limit:
            r, a, f, e = window.popleft()
            sums[0] -= r
            sums[1] -= a
            sums[2] -= f
            sums[3] -= e
        return self.rates()

    def rates(self) -> Rates:
        rows = self.sums[0]
        if rows == 0:
            return Rates(0, 0.0, 0.0, 0.0)
        return Rates(rows, self.sums[1] / rows, self.sums[2] / rows, self.sums[3] / rows)

    def snapshot(self, guard: str, version: str) -> GuardSnapshot:
        with self.lock:
            return GuardSnapshot(
                guard=guard,
                version=version,
                decisions=dict(self.decisions),
                calls=self.calls,
                latency={k: h.snapshot() for k, h in self.latency.items()},
                confidence=self.confidence.snapshot(),
                rates=self.rates(),
                drift_status=self.drift_status,
                drift_scores=dict(self.drift_scores),
                review_not_queued=self.review_not_queued,
                review_over_budget=self.review_over_budget,
                review_data_quality_cap=self.review_cap,
                shed=dict(self.shed),
            )


Hook = Callable[[str, str, Mapping[str, float], Sequence[float]], None]
"""A callable told of each call: ``(guard, version, seconds_by_stage, confidences)``."""


class Metrics:
    """A thread-safe in-process registry of decision metrics; the guard's ``.log`` step
    records into one, exporters read its [`snapshot`][].

    Args:
        window: number of most recent rows the rolling rates are computed over.
        latency_buckets: increasing upper bounds (seconds) of the latency histogram.
        confidence_buckets: increasing upper bounds of the confidence histogram.

    Raises:
        ConfigurationError: a setting is out of range.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> from guardrails.observability.telemetry import Metrics
        >>> m = Metrics(window=100)
        >>> d = Decisions(prediction=np.array([1, 0]), abstained=np.array([False, True]))
        >>> m.observe("churn", "3", d, seconds=0.002).abstention
        0.5
        >>> m.snapshot().guard("churn").count(outcome="abstained", reason="low_confidence")
        1
    """

    def __init__(
        self,
        *,
        window: int = 1000,
        latency_buckets: Iterable[float] = LATENCY_BUCKETS,
        confidence_buckets: Iterable[float] = CONFIDENCE_BUCKETS,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigurationError(
                f"The 'window' parameter of Metrics must be an int >= 1. Got {window!r} instead."
            )
        self.window = window
        self.latency_buckets = _bounds("latency_buckets", latency_buckets)
        self.confidence_buckets = _bounds("confidence_buckets", confidence_buckets)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        self._hooks: tuple[Hook, ...] = ()

    def __repr__(self) -> str:
        return f"Metrics(window={self.window})"

    def _get(self, guard: str, version: str) -> _Series:
        series = self._series.get((guard, version))
        if series is None:
            with self._lock:
                series = self._series.get((guard, version))
                if series is None:
                    series = self._series[(guard, version)] = _Series(self)
        return series

    def add_hook(self, hook: Hook) -> None:
        """Also tell ``hook`` of every recorded call (exporters that need raw values)."""
        with self._lock:
            self._hooks = (*self._hooks, hook)

    def observe(
        self,
        guard: str,
        version: str,
        d: Decisions,
        *,
        seconds: float,
        drift: Mapping[str, Any] | None = None,
        review: Mapping[str, Any] | None = None,
        shed: Sequence[str] = (),
    ) -> Rates:
        """Record one call that returned decisions ``d`` after ``seconds``.

        Args:
            guard: the guard's name; version: its version (the metric labels).
            d: the final decisions of the call.
            seconds: wall time of the whole call; ``d.timings`` gives the stages.
            drift: the monitor's note (``{"status": ..., "scores": ...}``), if any.
            review: the review step's note (``{"not_queued": ..., "data_quality_cap":
                ...}``), if any.
            shed: the fallback steps shed on this call for want of a worker thread.

        Returns:
            The guard's rolling rates after this call.
        """
        n = len(d)
        if n == 1:  # the single-record path: plain Python, no numpy reductions
            abstained = bool(d.abstained[0])
            stage = str(d.stage[0])
            code = int(d.reason[0])
            if d.overridden is not None and not abstained:
                code = int(d.overridden[0])  # answered by fallback after this verdict
            outcome = "abstained" if abstained else ("answered" if stage == PRIMARY else "fallback")
            counts = {(outcome, _reason_name(code), stage): 1}
            n_abst = int(abstained)
            n_fb = int(outcome == "fallback")
            n_err = int(abstained and code in _ERROR_INTS)
            conf_v = None if d.confidence is None else float(d.confidence[0])
            confidences = () if conf_v is None or math.isnan(conf_v) else (conf_v,)
            conf_arr = None
        else:
            codes = row_outcomes(d)
            reasons = d.reason
            if d.overridden is not None:  # answered by fallback after a verdict: that verdict
                reasons = np.where(d.abstained, d.reason, d.overridden).astype(np.int8)
            counts = _count(codes, reasons, d.stage)
            n_abst = int(d.abstained.sum())
            n_fb = int((codes == _FALLBACK).sum())
            n_err = int((d.abstained & np.isin(d.reason, _ERROR_CODES)).sum())
            conf_arr = None
            confidences = ()
            if d.confidence is not None:
                conf_arr = d.confidence[~np.isnan(d.confidence)]
        series = self._series.get((guard, version)) or self._get(guard, version)
        with series.lock:
            series.calls += 1
            decisions = series.decisions
            for key, k in counts.items():
                decisions[key] = decisions.get(key, 0) + k
            latency = series.latency
            bounds = self.latency_buckets
            for stage_name, secs in (("total", seconds), *d.timings.items()):
                hist = latency.get(stage_name)
                if hist is None:
                    hist = latency[stage_name] = _Histogram(bounds)
                # _Histogram.add inlined: one call per stage per call adds up on one record
                hist.counts[bisect.bisect_left(bounds, secs)] += 1
                hist.sum += secs
                hist.count += 1
            if conf_arr is not None:
                if conf_arr.size:
                    series.confidence.add_many(conf_arr)
            elif confidences:
                series.confidence.add(confidences[0])
            if drift is not None:
                _drift(series, drift)
            if review is not None:
                series.review_not_queued += int(review.get("not_queued", 0))
                series.review_over_budget += int(review.get("over_budget", 0))
                cap = review.get("data_quality_cap")
                series.review_cap = None if cap is None else int(cap)
            for step in shed:
                series.shed[step] = series.shed.get(step, 0) + 1
            rates = series._roll(n, n_abst, n_fb, n_err) if n else series.rates()
        if self._hooks:
            values: Sequence[float] = confidences if conf_arr is None else conf_arr.tolist()
            stages = {"total": seconds, **d.timings}
            for hook in self._hooks:
                hook(guard, version, stages, values)
        return rates

    def observe_error(self, guard: str, version: str, n: int, *, seconds: float) -> Rates:
        """Record a call of ``n`` rows that raised instead of returning decisions.

        Returns:
            The guard's rolling rates after this call.
        """
        series = self._get(guard, version)
        with series.lock:
            series.calls += 1
            key = ("error", "exception", "none")
            series.decisions[key] = series.decisions.get(key, 0) + n
            hist = series.latency.get("total")
            if hist is None:
                hist = series.latency["total"] = _Histogram(self.latency_buckets)
            hist.add(seconds)
            rates = series._roll(n, 0, 0, n)
        if self._hooks:
            for hook in self._hooks:
                hook(guard, version, {"total": seconds}, ())
        return rates

    def rates(self, guard: str, version: str) -> Rates:
        """The rolling rates of one guard (zeros before its first call)."""
        series = self._get(guard, version)
        with series.lock:
            return series.rates()

    def snapshot(self) -> Snapshot:
        """An immutable copy of everything recorded so far, one entry per guard."""
        with self._lock:
            items = sorted(self._series.items())
        return Snapshot(tuple(series.snapshot(g, v) for (g, v), series in items))

    def reset(self) -> None:
        """Forget everything recorded (hooks stay)."""
        with self._lock:
            self._series = {}


_ERROR_INTS = frozenset(int(r) for r in ERROR_REASONS)
_OUTCOME_NAMES = ("answered", "fallback", "abstained")


def _reason_name(code: int) -> str:
    return _REASON_NAMES[code] if 0 <= code < len(_REASON_NAMES) else f"code_{code}"


def _count(
    outcomes: np.ndarray[Any, Any], reasons: np.ndarray[Any, Any], stages: np.ndarray[Any, Any]
) -> dict[tuple[str, str, str], int]:
    """Rows per (outcome, reason, stage), vectorized over the stages present."""
    out: dict[tuple[str, str, str], int] = {}
    if len(outcomes) == 0:
        return out
    key = outcomes.astype(np.int32) * 256 + (reasons.astype(np.int32) & 0xFF)
    first = stages[0]
    groups: Iterable[tuple[str, np.ndarray[Any, Any]]]
    if stages[-1] == first and bool((stages == first).all()):
        groups = ((str(first), key),)
    else:
        names = stages.astype(str)
        groups = ((str(s), key[names == s]) for s in np.unique(names))
    for stage, keys in groups:
        values, counts = np.unique(keys, return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist()):
            code = v & 0xFF
            out[(_OUTCOME_NAMES[v >> 8], _reason_name(code), stage)] = int(c)
    return out


def _drift(series: _Series, note: Mapping[str, Any]) -> None:
    status = note.get("status")
    if status is not None:
        series.drift_status = str(status)
    scores = note.get("scores")
    if isinstance(scores, Mapping) and scores:
        flat: dict[str, float] = {}
        for name, value in scores.items():
            if isinstance(value, Mapping):
                for test, v in value.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        flat[f"{name}.{test}"] = float(v)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[str(name)] = float(value)
        series.drift_scores = flat


def _bounds(name: str, values: Iterable[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    increasing = all(a < b for a, b in itertools.pairwise(out))
    if not out or not increasing or not all(map(math.isfinite, out)):
        raise ConfigurationError(
            f"The '{name}' parameter of Metrics must be a non-empty increasing sequence of "
            f"finite floats. Got {values!r} instead."
        )
    return out
