"""The novelty rate as a drift signal: novel rows counted per monitor window, and their test.

The monitor's windows hold the rows it observed; [`NoveltyGated`][guardrails.NoveltyGated]
inside it marked some of them ``Reason.NOVEL``. [`_NoveltyCounts`][] counts those per
window on the monitor's own bucket grid (the same rows, the same window closes), and
[`novelty_p_value`][] tests a window's count against what the gate's guarantee allows.

**The null.** A calibrated gate with ``n`` calibration scores flags an exchangeable row
when its conformal p-value ``(1 + c) / (n + 1)`` is at most ``alpha``: when ``c < l``
with ``l`` the number of ``j = 1 .. n + 1`` with ``j / (n + 1) <= alpha``. For one
fixed calibration set the flagging rate ``q`` of in-distribution rows is the mass above
the ``l``-th largest calibration score, distributed ``Beta(l, n + 1 - l)`` over the
calibration draw (mean ``l / (n + 1) <= alpha``). The count of flagged rows among ``m``
rows of a window is then Beta-binomial ``(m, l, n + 1 - l)`` -- wider than
``Binomial(m, alpha)``, which would ignore that the whole stream shares one calibration
set, and exact (conservative with tied scores). The one-sided p-value of ``k`` novel rows
is ``P(K >= k)``; rows the gate did not score (withheld before it) count in ``m`` as
never novel, which only makes the test more conservative.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numpy.typing import NDArray

__all__ = ["novelty_p_value"]

_L_CACHE: dict[tuple[float, int], int] = {}


def _flagged_ranks(alpha: float, n_cal: int) -> int:
    """``l``: how many of the ``n_cal + 1`` conformal p-values are at most ``alpha``,
    compared in floating point as the gate compares them."""
    key = (alpha, n_cal)
    l_ = _L_CACHE.get(key)
    if l_ is None:
        if len(_L_CACHE) > 256:
            _L_CACHE.clear()
        j = np.arange(1, n_cal + 2, dtype=np.float64)
        l_ = _L_CACHE[key] = int(np.count_nonzero(j / (n_cal + 1) <= alpha))
    return l_


def novelty_p_value(novel: int, rows: int, alpha: float, n_calibration: int) -> float:
    """One-sided p-value of ``novel`` novel rows among ``rows`` in-distribution rows.

    ``P(K >= novel)`` for ``K`` Beta-binomial ``(rows, l, n_calibration + 1 - l)``, the
    count a gate at ``alpha`` calibrated on ``n_calibration`` rows flags among ``rows``
    exchangeable rows (see the module text).

    Examples:
        >>> round(novelty_p_value(20, 2000, 0.01, 999), 2)  # the expected count
        0.48
        >>> novelty_p_value(200, 2000, 0.01, 999) < 1e-12  # a tenth of the rows novel
        True
    """
    if novel <= 0:
        return 1.0
    l_ = _flagged_ranks(alpha, n_calibration)
    if l_ == 0:  # no exchangeable row can be flagged: any novel row is evidence
        return 0.0
    from scipy import stats  # scipy is heavy to import; only a closed window needs it

    p = float(stats.betabinom.sf(novel - 1, rows, l_, n_calibration + 1 - l_))
    return min(1.0, max(0.0, p)) if math.isfinite(p) else 0.0


class _NoveltyCounts:
    """Novel rows per window on the monitor's bucket grid (``capacity`` rows a bucket,
    ``n_buckets`` buckets a window); a few integers of state, no per-row Python."""

    def __init__(self, capacity: int, n_buckets: int) -> None:
        self.capacity = capacity
        self.n_buckets = n_buckets
        self.done: deque[int] = deque(maxlen=n_buckets - 1)  # the window's earlier buckets
        self.novel = 0  # in the current bucket
        self.rows = 0

    def feed(self, novel: NDArray[np.bool_]) -> list[int]:
        """Add a batch's rows (True where novel); the novel count of every window the
        batch closes, in order."""
        total = int(novel.size)
        room = self.capacity - self.rows
        if total < room:
            self.novel += int(np.count_nonzero(novel))
            self.rows += total
            return []
        n_closed = 1 + (total - room) // self.capacity
        ends = room + self.capacity * np.arange(n_closed)
        cum = np.concatenate(([0], np.cumsum(novel, dtype=np.int64)))
        at = cum[ends]
        buckets = np.diff(np.concatenate(([0], at)))
        buckets[0] += self.novel
        seq = np.concatenate((np.asarray(self.done, dtype=np.int64), buckets))
        d0 = len(self.done)
        run = np.concatenate(([0], np.cumsum(seq)))
        closes = np.arange(n_closed)
        closes = closes[d0 + closes + 1 >= self.n_buckets]
        hi = d0 + closes + 1
        counts = (run[hi] - run[hi - self.n_buckets]).tolist()
        if self.n_buckets > 1:
            self.done.extend(int(b) for b in buckets[-(self.n_buckets - 1) :])
        self.novel = int(cum[total] - at[-1])
        self.rows = total - int(ends[-1])
        return [int(c) for c in counts]

    def reset(self) -> None:
        self.done.clear()
        self.novel = self.rows = 0
