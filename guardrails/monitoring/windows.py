"""The drift monitor's windows: buckets, running totals, many windows of one call, reports.

A window's full report is built only when someone reads it.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.layer import take_rows
from guardrails.monitoring.drift import DriftProfile
from guardrails.monitoring.reference import _Numeric
from guardrails.monitoring.results import DriftReport, FeatureDrift
from guardrails.monitoring.verdicts import window_verdicts
from guardrails.monitoring.window import WindowState, _BlockSums, _layout

if TYPE_CHECKING:
    from guardrails.monitoring.monitor import Monitored

__all__: list[str] = []


class _Window:
    """Tumbling or sliding window of [`WindowState`][] buckets; fixed memory.

    A sliding window keeps a running total of its buckets' block sums (one addition and
    one subtraction per closed bucket), which is all its verdict reads; the total's
    counts and sums are brought up to date from the buckets only when something needs
    them ([`whole`][]). Closed buckets are never written again, so a report asked for
    later merges exactly the window's buckets.
    """

    def __init__(self, profile: DriftProfile, window: int, step: int, mode: str) -> None:
        self.profile = profile
        self.capacity = window if mode == "tumbling" else step
        self.n_buckets = 1 if mode == "tumbling" else window // step
        self.done: deque[WindowState] = deque()
        self.current = profile.window_state()
        self.total = profile.window_state()
        self._stale = False  # the total's counts and sums lag its block sums
        self._fresh: set[int] = set()  # features whose counts and sums do not lag

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in (*self.done, self.current, self.total))

    def room(self) -> int:
        return self.capacity - self.current.rows

    def close_bucket(self) -> tuple[WindowState, tuple[WindowState, ...]] | None:
        """Close the full current bucket; when a window ends, its state (valid until the
        next close; a sliding window's counts only through [`whole`][]) and its buckets
        (to merge for a report)."""
        if self.n_buckets == 1:  # tumbling: hand the bucket over, start a new one
            bucket, self.current = self.current, self.profile.window_state()
            return bucket, (bucket,)
        if len(self.done) == self.n_buckets:  # the oldest bucket leaves the window
            self.total._accumulate(self.done.popleft(), -1, blocks_only=True)
        self.done.append(self.current)
        self.total._accumulate(self.current, +1, blocks_only=True)
        self._stale = True
        self._fresh.clear()
        self.current = self.profile.window_state()
        if len(self.done) < self.n_buckets:
            return None
        return self.total, tuple(self.done)

    def whole(self, feature: int | None = None) -> WindowState:
        """The running total with its counts and sums up to date (the window's state):
        every feature's, or only ``feature``'s (a verdict that needs one feature's counts
        reads no other)."""
        if not self._stale:
            return self.total
        total, done = self.total, list(self.done)
        if feature is None:
            np.copyto(total._counts, done[0]._counts)
            np.copyto(total._sums, done[0]._sums)
            for state in done[1:]:
                total._counts += state._counts
                total._sums += state._sums
            self._stale = False
        elif feature not in self._fresh:
            a, b, c = _layout(self.profile).views[feature]
            counts = total._counts[a:b]
            np.copyto(counts, done[0]._counts[a:b])
            for state in done[1:]:
                counts += state._counts[a:b]
            if c >= 0:
                sums = total._sums[c : c + b - a]
                np.copyto(sums, done[0]._sums[c : c + b - a])
                for state in done[1:]:
                    sums += state._sums[c : c + b - a]
            self._fresh.add(feature)
        return self.total

    def rebuild_total(self) -> None:
        """Recompute the running total's block sums from the buckets (after the batch path
        set them); its counts follow when [`whole`][] is asked."""
        self.total = self.profile.window_state()
        for state in self.done:
            self.total._accumulate(state, +1, blocks_only=True)
        self._stale = bool(self.done)
        self._fresh.clear()

    def reset(self) -> None:
        self.done.clear()
        self.current = self.profile.window_state()
        self.total = self.profile.window_state()
        self._stale = False
        self._fresh.clear()


def _merged(buckets: tuple[WindowState, ...]) -> WindowState:
    if len(buckets) == 1:
        return buckets[0]
    total = buckets[0].merge(buckets[1])  # a new state: the buckets stay as they are
    for state in buckets[2:]:  # added in place: the same sums, one state allocated
        total._accumulate(state, +1)
    return total


def _codes(f: Any, values: NDArray[Any]) -> NDArray[np.intp]:
    """Slot codes of a categorical feature's values (what `WindowState.update` counts)."""
    uniq, inverse = np.unique(values, return_inverse=True)
    codes: NDArray[np.intp] = np.asarray(f.slots(uniq), dtype=np.intp)[inverse.reshape(-1)]
    return codes


class _PendingReport:
    """The full report of one window, computed on first use (serving needs the verdict)."""

    def __init__(
        self,
        owner: Monitored,
        state: Callable[[], WindowState],
        concept: FeatureDrift | None,
        novelty: FeatureDrift | None = None,
    ) -> None:
        self._owner = owner
        self._state: Callable[[], WindowState] | None = state
        self._concept = concept
        self._novelty = novelty
        self._report: DriftReport | None = None
        self._built: WindowState | None = None
        self._lock = threading.Lock()

    def get(self, only: Sequence[str] | None = None) -> DriftReport:
        """The report; with ``only``, the entries of those features (as the report has
        them) and the label stream's, for an event that names the drifted features."""
        with self._lock:
            if self._report is not None:
                return self._report
            o = self._owner
            if self._built is None:
                assert self._state is not None
                self._built, self._state = self._state(), None
            report = o.profile._report(
                self._built, o.tests, o.alpha, o.correction, o._limits, o.ks_method, only,
                o.min_effect,
            )  # fmt: skip
            if self._novelty is not None:  # the window's novelty rate, before the labels' row
                report = report.with_feature(self._novelty)
            if self._concept is not None:
                report = report.with_feature(self._concept)
            if only is None:
                self._report, self._built = report, None
            return report


class _LazyScores(Mapping[str, dict[str, float]]):
    """``report.scores()`` of a pending report, computed when first read."""

    def __init__(self, pending: _PendingReport) -> None:
        self._pending = pending
        self._scores: dict[str, dict[str, float]] | None = None

    def _get(self) -> dict[str, dict[str, float]]:
        if self._scores is None:
            self._scores = self._pending.get().scores()
        return self._scores

    def __getitem__(self, key: str) -> dict[str, float]:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


def closes(w: _Window, total: int) -> int:
    """How many windows a call of ``total`` observed rows closes."""
    room = w.room()
    if total < room:
        return 0
    buckets = 1 + (total - room) // w.capacity
    return max(0, buckets - max(0, w.n_buckets - len(w.done) - 1))


def batch_columns(
    profile: DriftProfile, inputs: Any, pred: Any, conf: Any, abst: Any
) -> list[NDArray[Any] | None] | None:
    """Per profiled feature and output, its values (numeric) or slot codes; None when
    the batch is not a plain numeric array the windows can be read from directly."""
    p = profile
    cols: list[NDArray[Any] | None] = []
    if p.features:
        if (
            not isinstance(inputs, np.ndarray)
            or inputs.ndim != 2
            or inputs.dtype.kind not in "iufb"
            or inputs.shape[1] != len(p.features)
        ):
            return None
        for j, f in enumerate(p.features):
            col = inputs[:, j]
            cols.append(col if isinstance(f, _Numeric) else _codes(f, col))
    given = {"prediction": pred, "confidence": conf, "abstention": abst}
    for f in p.outputs:
        value = given[f.name]
        if value is None:
            cols.append(None)
        elif isinstance(f, _Numeric):
            cols.append(np.asarray(value))
        elif f.name == "abstention":
            yes, no = f.slots(np.array(["abstained", "answered"])).tolist()
            cols.append(np.where(np.asarray(value).astype(bool), yes, no))
        else:
            try:
                cols.append(_codes(f, np.asarray(value)))
            except TypeError:  # labels numpy cannot sort
                return None
    return cols


def observe_batch(
    mon: Monitored, inputs: Any, pred: Any, conf: Any, abst: Any, total: int
) -> list[dict[str, Any]] | None:
    """Observe a call that closes many windows: verdicts for all windows at once.

    The windows, their verdicts and the events are exactly those of observing the
    rows bucket by bucket; only the windows a full report may be asked of (those that
    hold rows of earlier calls, the last one, and any that starts a drift episode)
    get a window state, built the way the bucket-by-bucket path builds it.
    """

    cols = batch_columns(mon.profile, inputs, pred, conf, abst)
    if cols is None:
        return None
    w = mon._window
    cap, nb, carried = w.capacity, w.n_buckets, list(w.done)
    room = w.room()
    n_closed = 1 + (total - room) // cap
    starts = np.concatenate(([0], room + cap * np.arange(n_closed))).astype(np.intp)
    # window at the close of new bucket j: sequence [len(carried) + j + 1 - nb, ... + 1)
    closes = [j for j in range(n_closed) if len(carried) + j + 1 >= nb]
    clean = [j for j in closes if nb <= j < n_closed - 1]
    verdicts = window_verdicts(
        mon.profile,
        cols,
        starts,
        [(j - nb + 1, j + 1) for j in clean],
        tests=mon.tests,
        alpha=mon.alpha,
        correction=mon.correction,
        limits=mon._limits,
        ks_method=mon.ks_method,
        cache=mon._coarse,
        min_effect=mon.min_effect,
    )
    if verdicts is None:
        return None
    built: dict[int, WindowState] = {}

    def rows_state(a: int, b: int, state: WindowState | None = None) -> WindowState:
        state = mon.profile.window_state() if state is None else state
        before = state.rows
        part = slice(a, b)
        state.update(
            None
            if inputs is None
            else inputs[part]
            if isinstance(inputs, np.ndarray)
            else take_rows(inputs, np.arange(a, b)),
            predictions=None if pred is None else pred[part],
            confidence=None if conf is None else conf[part],
            abstained=None if abst is None else abst[part],
        )
        state.rows = before + (b - a)
        return state

    def bucket(j: int) -> WindowState:  # new bucket j as the bucket-by-bucket path fills it
        if j not in built:
            first = w.current if j == 0 else None
            built[j] = rows_state(int(starts[j]), int(starts[j + 1]), first)
        return built[j]

    def window(j: int) -> WindowState:
        d0 = len(carried)
        seq = [carried[k] if k < d0 else bucket(k - d0) for k in range(d0 + j + 1 - nb, d0 + j + 1)]
        total_state = mon.profile.window_state()
        for state in seq:  # one new state, not one per merge
            total_state._accumulate(state, +1)
        return total_state

    by_close = dict(zip(clean, verdicts))
    events: list[dict[str, Any]] = []
    for j in closes:
        if j in by_close:
            names = by_close[j]
            events += mon._conclude(names, nb * cap, functools.partial(window, j))
        else:  # verdict from the buckets' block sums; the state only if asked for
            d0 = len(carried)
            parts = [
                carried[k] if k < d0 else bucket(k - d0) for k in range(d0 + j + 1 - nb, d0 + j + 1)
            ]
            view = _BlockSums(
                np.sum([s._block_sums() for s in parts], axis=0), sum(s.rows for s in parts)
            )
            later = functools.partial(window, j)
            once = functools.lru_cache(maxsize=1)(later)  # one state, whichever features

            def whole(feature: int | None, once: Callable[[], WindowState] = once) -> WindowState:
                return once()

            events += mon._evaluate(view, later, whole)
    kept = [bucket(j) for j in range(max(0, n_closed - nb), n_closed)] if nb > 1 else []
    w.done = deque(kept)
    w.rebuild_total()
    end = int(starts[-1])
    w.current = rows_state(end, total) if end < total else mon.profile.window_state()
    mon.rows_observed += total
    return events
