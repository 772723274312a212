"""Fast drift verdicts: which features drifted, in one window or many, without full reports.

The verdicts are exactly those of a full report, without every p-value and distance.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.monitoring.drift import DriftProfile
from guardrails.monitoring.reference import (
    _KS_EXACT_MAX,
    COARSE,
    PSI_EPS,
    _as_float,
    _Categorical,
    _coarse_bins,
    _Numeric,
)
from guardrails.monitoring.statistics import (
    _chi2,
    _js,
    _ks,
    _ks_asymptotic,
    _ks_sizes,
    _ks_statistic,
    _psi,
    _tv,
    _wasserstein,
)
from guardrails.monitoring.window import WindowState, _BlockSums, _layout

__all__ = ["drifted_features", "window_verdicts"]


# -- verdicts without reports ----------------------------------------------------------------
# The monitor needs, for every window it closes, only which features drifted; the full
# report (every p-value, every distance) is needed for the latest window and for the
# window that starts a drift episode. These helpers give exactly the verdicts
# `DriftProfile.evaluate` gives, computing a p-value only when the statistic is close to
# the critical value, and for many windows of one batch at once from per-row bins.

_BAND = 1e-3  # relative margin around a critical value inside which the p-value decides
_CRITICAL: dict[tuple[float, float], float] = {}


def _ks_critical(sizes: float, level: float) -> float:
    """The KS statistic whose asymptotic p-value is ``level`` for effective size ``sizes``."""
    key = (sizes, level)
    value = _CRITICAL.get(key)
    if value is None:
        if len(_CRITICAL) > 4096:
            _CRITICAL.clear()
        from scipy import stats

        value = _CRITICAL[key] = float(stats.kstwo.isf(level, sizes))
    return value


def _p_flag(p: float, m_tests: int, alpha: float, correction: str) -> bool:
    """The verdict `DriftProfile.evaluate` gives a p-value (Bonferroni or no correction)."""
    adjusted = min(p * m_tests, 1.0) if correction == "bonferroni" else p
    return bool(adjusted <= alpha)


def _ks_drifted(
    f: _Numeric,
    n: int,
    low: float,
    high: float,
    m_tests: int,
    alpha: float,
    correction: str,
    method: str,
    exact: Any,
    min_effect: float = 0.0,
) -> bool:
    """KS verdict from bounds ``low <= D <= high``; ``exact()`` gives the slot counts."""
    if high < min_effect:
        return False
    if low >= min_effect and _ks_asymptotic(method, n, f) and correction in ("bonferroni", "none"):
        level = alpha / m_tests if correction == "bonferroni" else alpha
        critical = _ks_critical(_ks_sizes(n, f.m), level)
        if high < critical * (1.0 - _BAND):
            return False
        if low > critical * (1.0 + _BAND):
            return True
    d, p = _ks(f, exact(), n, method)
    return _p_flag(p, m_tests, alpha, correction) and d >= min_effect


def _distance_flag(name: str, value: float, limits: Mapping[str, float | None]) -> bool:
    limit = limits.get(name)
    return limit is not None and value > limit


@dataclass(frozen=True)
class _Blocks:
    """A profile's numeric slots grouped in blocks, for bounds on many KS statistics at once.

    Every block edge is a slot edge, so a window's counts below each edge are exact;
    between two edges the window's and the reference's ECDFs only rise, which bounds the
    KS statistic read on the kept points: ``low <= D <= high`` (see `_ks_bounds`). The
    PSI bin edges are block edges too, so the PSI bins are read off the same sums.
    """

    rows: NDArray[np.intp]  # per numeric block: its feature's row (position among numerics)
    cols: NDArray[np.intp]  # per numeric block: its column, the edge after it
    take: NDArray[np.intp]  # per numeric block: its place among all the layout's blocks
    ref: NDArray[np.float64]  # (n_numeric, width) reference ECDF at each block edge
    m: NDArray[np.int64]  # (n_numeric,) reference rows
    asymp: NDArray[np.bool_]  # (n_numeric,) quantile-summary reference: asymptotic p-values
    psi_cols: NDArray[np.intp]  # (n_numeric, n_psi + 1) columns of the PSI bin edges
    psi_ref: NDArray[np.float64]  # (n_numeric, n_psi) reference PSI proportions (0-padded)


_BLOCKS: weakref.WeakKeyDictionary[DriftProfile, _Blocks] = weakref.WeakKeyDictionary()


def _blocks(profile: DriftProfile) -> _Blocks:
    found = _BLOCKS.get(profile)
    if found is not None:
        return found
    layout = _layout(profile)
    features = profile._all_features()
    owner = np.searchsorted(layout.start, layout.block_starts, side="right") - 1
    rows, cols, take, refs, psi_cols, psi_ref, m, asymp = [], [], [], [], [], [], [], []
    for r, i in enumerate(layout.numeric.tolist()):
        f = features[i]
        assert isinstance(f, _Numeric)
        mine = np.flatnonzero(owner == i)
        local = layout.block_starts[mine] - layout.start[i]  # block starts, 0 first
        edges = np.concatenate((local, [f.size]))  # every edge, the end last
        ref_at = np.empty(f.size + 1, dtype=np.int64)  # reference rows below each slot edge
        ref_at[0], ref_at[-1] = 0, f.m
        ref_at[1:-1:2] = f.lt
        ref_at[2:-1:2] = f.cum
        rows.append(np.full(mine.size, r, dtype=np.intp))
        cols.append(np.arange(1, mine.size + 1, dtype=np.intp))
        take.append(mine)
        refs.append(ref_at[edges] / f.m)
        psi_edges = np.concatenate(([0, 1], 2 * f.edge_idx + 1, [f.size - 1, f.size]))
        psi_cols.append(np.searchsorted(edges, psi_edges))
        psi_ref.append(f.ref_bins)
        m.append(f.m)
        asymp.append(not f.exact)
    width = max((c.size for c in refs), default=1)
    n_psi = max((c.size for c in psi_ref), default=1)
    ref = np.ones((len(refs), width))
    for r, c in enumerate(refs):
        ref[r, : c.size] = c
    psi_c = np.zeros((len(refs), n_psi + 1), dtype=np.intp)
    psi_r = np.zeros((len(refs), n_psi))
    for r, (at, b) in enumerate(zip(psi_cols, psi_ref)):
        psi_c[r, : at.size], psi_c[r, at.size :] = at, at[-1]
        psi_r[r, : b.size] = b
    empty = np.zeros(0, dtype=np.intp)
    out = _Blocks(
        rows=np.concatenate(rows) if rows else empty,
        cols=np.concatenate(cols) if cols else empty,
        take=np.concatenate(take) if take else empty,
        ref=ref,
        m=np.array(m, dtype=np.int64),
        asymp=np.array(asymp, dtype=bool),
        psi_cols=psi_c,
        psi_ref=psi_r,
    )
    _BLOCKS[profile] = out
    return out


def _critical_values(
    n: NDArray[np.int64], m: NDArray[np.int64], level: float
) -> NDArray[np.float64]:
    """`_ks_critical` of each (window size, reference size) pair, one look-up per pair."""
    if n.size and (n == n[0]).all() and (m == m[0]).all():  # the usual case: one pair
        return np.full(n.size, _ks_critical(_ks_sizes(int(n[0]), int(m[0])), level))
    found: dict[tuple[int, int], float] = {}
    out = np.empty(n.size)
    for r, pair in enumerate(zip(n.tolist(), m.tolist())):
        if pair not in found:
            found[pair] = _ks_critical(_ks_sizes(*pair), level)
        out[r] = found[pair]
    return out


def drifted_features(
    profile: DriftProfile,
    state: WindowState | _BlockSums,
    *,
    tests: Sequence[str],
    alpha: float,
    correction: str,
    limits: Mapping[str, float | None],
    ks_method: str,
    min_effect: float = 0.0,
    whole: Callable[[int | None], WindowState] | None = None,
) -> list[str]:
    """The ``drifted_features`` of ``profile.evaluate(state, ...)``, computed faster.

    Every numeric feature at once: block sums of the window's counts bound each KS
    statistic, which settles the verdict unless the bounds straddle the critical value
    (or the p-value must be exact); only those features get their exact statistic, and a
    p-value only when it is within 0.1% of the critical value. PSI is read off the same
    sums. Distances without a threshold are not computed at all. Benjamini-Hochberg
    needs every p-value: it evaluates.

    ``whole(i)`` gives the state with feature ``i``'s counts and sums up to date
    (every feature's for ``None``), when ``state``'s block sums are ahead of them (a
    sliding window's running total); it is called only for a statistic the block sums
    do not settle.
    """
    if correction == "bh":
        if whole is not None:
            state = whole(None)
        assert isinstance(state, WindowState)
        report = profile.evaluate(
            state,
            tests=tests,
            alpha=alpha,
            correction=correction,
            thresholds=limits,
            ks_method=ks_method,
            min_effect=min_effect,
        )
        return report.drifted_features
    features = profile._all_features()
    layout = _layout(profile)
    blocks = _blocks(profile)
    sums = state._block_sums()
    first = layout.block_first
    n_all = np.add.reduceat(sums, first[:-1]) if features else np.zeros(0, dtype=np.int64)
    seen = n_all > 0
    full = state if isinstance(state, WindowState) and whole is None else None

    def exact(i: int) -> WindowState:  # a state whose feature ``i`` is up to date
        if full is not None:
            return full
        assert whole is not None
        return whole(i)

    num = layout.numeric
    is_num = np.zeros(len(features), dtype=bool)
    is_num[num] = True
    has_p = np.where(is_num, "ks" in tests, "chi2" in tests)
    m_tests = int((seen & has_p).sum())
    flags = np.zeros(len(features), dtype=bool)
    if num.size:
        width = blocks.ref.shape[1]
        below = np.zeros((num.size, width), dtype=np.int64)  # window rows below each edge
        below[blocks.rows, blocks.cols] = sums[blocks.take]
        np.cumsum(below, axis=1, out=below)
        n = below[:, -1]
        ok = n > 0
        fw = below / np.where(ok, n, 1)[:, None]
        if "ks" in tests:
            flags[num] = _ks_verdicts(
                profile, exact, num, fw, n, ok, blocks, m_tests, alpha, correction, ks_method,
                min_effect,
            )  # fmt: skip
        psi_limit = limits.get("psi") if "psi" in tests else None
        if psi_limit is not None:
            rows = np.arange(num.size)[:, None]
            bins = np.diff(below[rows, blocks.psi_cols], axis=1) / np.where(ok, n, 1)[:, None]
            a = np.maximum(blocks.psi_ref, PSI_EPS)
            b = np.maximum(bins, PSI_EPS)
            values = np.sum((b - a) * np.log(b / a), axis=1)
            psi_flags = values > psi_limit
            close = np.abs(values - psi_limit) <= 1e-9 * max(1.0, psi_limit)
            for r in np.flatnonzero(close & ok).tolist():  # the sum's rounding may matter
                f = features[int(num[r])]
                assert isinstance(f, _Numeric)
                shares = f.bin_counts(exact(int(num[r])).counts[int(num[r])]) / int(n[r])
                psi_flags[r] = _psi(f.ref_bins, shares) > psi_limit
            flags[num] |= ok & psi_flags
        w_limit = limits.get("wasserstein") if "wasserstein" in tests else None
        js_limit = limits.get("js") if "js" in tests else None
        for r in np.flatnonzero(ok & ~flags[num]).tolist() if w_limit or js_limit else ():
            i = int(num[r])
            f = features[i]
            assert isinstance(f, _Numeric)
            counts, sums_i, n_i = exact(i).counts[i], exact(i).sums[i], int(n[r])
            if w_limit is not None and sums_i is not None:
                flags[i] = _distance_flag(
                    "wasserstein", _wasserstein(f, counts, sums_i, n_i), limits
                )
            if not flags[i] and js_limit is not None:
                flags[i] = _distance_flag("js", _js(f.ref_bins, f.bin_counts(counts) / n_i), limits)
    for i in np.flatnonzero(~is_num & seen).tolist():
        f = features[i]
        assert isinstance(f, _Categorical)
        counts = sums[first[i] : first[i + 1]]  # a block per category
        bins = counts.astype(np.float64) / int(n_all[i])
        flag = False
        if "chi2" in tests and _tv(f.ref_bins, bins) >= min_effect:
            _, p = _chi2(f.ref_counts, counts)
            flag = _p_flag(p, m_tests, alpha, correction)
        if not flag and "psi" in tests and limits.get("psi") is not None:
            flag = _distance_flag("psi", _psi(f.ref_bins, bins), limits)
        if not flag and "js" in tests and limits.get("js") is not None:
            flag = _distance_flag("js", _js(f.ref_bins, bins), limits)
        flags[i] = flag
    return [f.name for f, flag in zip(features, (flags & seen).tolist()) if flag]


def _ks_verdicts(
    profile: DriftProfile,
    exact: Callable[[int], WindowState],
    num: NDArray[np.intp],
    fw: NDArray[np.float64],
    n: NDArray[np.int64],
    ok: NDArray[np.bool_],
    blocks: _Blocks,
    m_tests: int,
    alpha: float,
    correction: str,
    ks_method: str,
    min_effect: float,
) -> NDArray[np.bool_]:
    """KS verdicts of every numeric feature, as `_ks_drifted` gives them one by one.

    ``fw``: the window's ECDF at each block edge. On the slot edges of a block both ECDFs
    rise, so ``|F_w - F_r|`` there is at most ``F_w(end) - F_r(start)`` or
    ``F_r(end) - F_w(start)``: the largest of these bounds D from above, the largest
    ``|F_w - F_r|`` at the edges (the same floats `_ks_statistic` compares) from below.
    """
    fr = blocks.ref
    low = np.abs(fw - fr).max(axis=1)
    high = np.maximum((fw[:, 1:] - fr[:, :-1]).max(axis=1), (fr[:, 1:] - fw[:, :-1]).max(axis=1))
    out = np.zeros(num.size, dtype=bool)
    live = ok & ~(high < min_effect)  # too small an effect to flag, whatever p says
    asymp = (
        blocks.asymp
        | (ks_method == "asymp")
        | ((ks_method == "auto") & (np.maximum(n, blocks.m) > _KS_EXACT_MAX))
    )
    if correction in ("bonferroni", "none"):
        level = alpha / max(m_tests, 1) if correction == "bonferroni" else alpha
        quick = live & asymp
        critical = np.full(num.size, np.inf)
        if quick.any():
            critical[quick] = _critical_values(n[quick], blocks.m[quick], level)
        sure = quick & (low >= min_effect) & (low > critical * (1.0 + _BAND))
        clear = quick & (high < critical * (1.0 - _BAND))
        out |= sure
        live &= ~sure & ~clear
    features = profile._all_features()
    for r in np.flatnonzero(live).tolist():
        i = int(num[r])
        f = features[i]
        assert isinstance(f, _Numeric)
        counts, n_i = exact(i).counts[i], int(n[r])
        d = _ks_statistic(f, counts, n_i)
        out[r] = _ks_drifted(
            f, n_i, d, d, m_tests, alpha, correction, ks_method, lambda c=counts: c, min_effect
        )
    return out


@dataclass(frozen=True)
class _Coarse:
    """A monotone partition of one numeric feature's values into ``size`` bins.

    ``bin(x) = trunc(clip((x - lo) * scale, -1, k)) + 1`` is nondecreasing in ``x``, so a
    window's count of values in bins ``<= j`` is its ECDF at some point, exactly; ``ref``
    holds the reference sample's counts there. ``base``/``hit`` give each value's PSI bin.
    """

    lo: float
    scale: float
    k: int
    ref: NDArray[np.int64]  # (size,) cumulative reference counts by bin
    edges: NDArray[np.float64]  # PSI bin bounds: minimum, inner edges, just above maximum
    base: NDArray[np.intp]  # (size,) bounds in lower bins: the PSI bin of their values
    hit: NDArray[np.bool_]  # (size,) bins holding a bound: their values are searched

    @property
    def size(self) -> int:
        return self.k + 2

    def bins(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        t = x - self.lo
        t *= self.scale
        np.clip(t, -1.0, float(self.k), out=t)
        out = t.astype(np.intp)
        out += 1
        return out

    @classmethod
    def of(cls, f: _Numeric) -> _Coarse:
        k = COARSE
        lo, hi = float(f.grid[0]), float(f.grid[-1])
        scale = k / (hi - lo) if hi > lo else 0.0
        # PSI bin of x = searchsorted(edges, x, side="right"): 0 below the minimum, then
        # the quantile bins from the minimum, the last bin above the maximum
        edges = np.concatenate(([lo], f.grid[f.edge_idx], [np.nextafter(hi, np.inf)]))
        edge_bins = _coarse_bins(lo, hi, edges.copy())
        base = np.searchsorted(np.sort(edge_bins), np.arange(k + 2), side="left")
        hit = np.zeros(k + 2, dtype=bool)
        hit[edge_bins] = True
        return cls(lo, scale, k, f.coarse, edges, base, hit)


def _slot_counts(f: _Numeric, x: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts of finite ``x`` per slot of ``f``'s grid (what `WindowState.update` adds)."""
    x = x[np.isfinite(x)]
    q = f.grid.size
    left = np.searchsorted(f.grid, x, side="left")
    equal = f.grid[np.minimum(left, q - 1)] == x
    return np.bincount(2 * left + equal, minlength=f.size).astype(np.int64)


def window_verdicts(
    profile: DriftProfile,
    columns: Sequence[NDArray[Any] | None],
    starts: NDArray[np.intp],
    windows: Sequence[tuple[int, int]],
    *,
    tests: Sequence[str],
    alpha: float,
    correction: str,
    limits: Mapping[str, float | None],
    ks_method: str,
    cache: dict[int, _Coarse],
    min_effect: float = 0.0,
) -> list[list[str]] | None:
    """``drifted_features`` of many windows of one batch, without a state per window.

    Args:
        profile: the reference.
        columns: per profiled feature and output, its ``(n_rows,)`` values in row order
            (numbers for numeric features, slot codes for categorical ones), or None.
        starts: ``(n_buckets + 1,)`` first row of each bucket, then the number of rows.
        windows: ``(first, stop)`` bucket ranges, one per window.
        tests, alpha, correction, limits, ks_method, min_effect: as in
            `DriftProfile.evaluate`.
        cache: per feature index, its coarse partition (filled on first use).

    Returns:
        One list of drifted feature names per window, or None when these settings need
        the full evaluation (Benjamini-Hochberg, a Wasserstein or Jensen-Shannon threshold).
    """
    if correction == "bh" or any(
        limits.get(t) is not None for t in ("wasserstein", "js") if t in tests
    ):
        return None
    n_buckets = starts.size - 1
    bucket = np.repeat(np.arange(n_buckets), np.diff(starts))
    first = np.array([w[0] for w in windows], dtype=np.intp)
    stop = np.array([w[1] for w in windows], dtype=np.intp)
    n_windows = len(windows)
    psi_limit = limits.get("psi") if "psi" in tests else None

    offsets: dict[int, NDArray[np.intp]] = {}

    def per_bucket(codes: NDArray[np.intp], size: int) -> NDArray[np.int64]:
        """(n_buckets, size) counts of codes ``< size`` (codes == size are left out);
        ``codes`` is consumed."""
        off = offsets.get(size)
        if off is None:
            off = offsets[size] = bucket * (size + 1)
        codes += off
        flat = np.bincount(codes, minlength=n_buckets * (size + 1))
        table: NDArray[np.int64] = flat.reshape(n_buckets, size + 1)[:, :size]
        return table

    def windowed(table: NDArray[np.int64]) -> NDArray[np.int64]:
        """(n_windows, size) counts of each window from its buckets' counts."""
        size = table.shape[1]
        acc = np.concatenate((np.zeros((1, size), np.int64), np.cumsum(table, axis=0)))
        out: NDArray[np.int64] = acc[stop] - acc[first]
        return out

    def per_window(codes: NDArray[np.intp], size: int) -> NDArray[np.int64]:
        return windowed(per_bucket(codes, size))

    features = profile._all_features()
    n_seen = np.zeros((len(features), n_windows), dtype=np.int64)
    ks_low: dict[int, NDArray[np.float64]] = {}
    ks_high: dict[int, NDArray[np.float64]] = {}
    flags = np.zeros((len(features), n_windows), dtype=bool)  # distance and chi2 verdicts
    chi2_p: dict[int, list[float]] = {}
    for i, f in enumerate(features):
        col = columns[i]
        if col is None:
            continue
        col = col[: int(starts[-1])]
        if isinstance(f, _Numeric):
            x = _as_float(col, f.name)
            part = cache.get(i)
            if part is None:
                part = cache[i] = _Coarse.of(f)
            with np.errstate(over="ignore", invalid="ignore"):
                every = bool(np.isfinite(x.sum()))  # a finite sum: every value finite
            if every:  # the common case: no masks, no copies
                codes = part.bins(x)
            else:
                finite = np.isfinite(x)
                codes = np.full(x.size, part.size, dtype=np.intp)
                codes[finite] = part.bins(x[finite])
            near = None
            if psi_limit is not None:  # values in a coarse bin holding a PSI edge
                near = np.flatnonzero(np.concatenate((part.hit, [False]))[codes])
            table = per_bucket(codes, part.size)
            below = windowed(np.cumsum(table, axis=1))  # each window's counts by bin, cumulated
            n = below[:, -1]
            n_seen[i] = n
            ok = n > 0
            safe = np.where(ok, n, 1)[:, None]
            if "ks" in tests:
                fw = below / safe
                fr = part.ref / f.m
                fr_prev = np.concatenate(([0.0], fr[:-1]))
                diff = fw - fr
                ks_low[i] = np.abs(diff, out=diff).max(axis=1) - f.gap  # D on the kept points
                up = (fw - fr_prev).max(axis=1)
                down = np.maximum((fr[1:] - fw[:, :-1]).max(axis=1), fr[0])  # F_w = 0 before
                ks_high[i] = np.maximum(up, down)
            if psi_limit is not None and near is not None:
                # PSI bins (below the minimum, B inner, above the maximum): every value of
                # a coarse bin without an edge has that bin's PSI bin; the others are searched
                n_psi = part.edges.size + 1
                whole = np.flatnonzero(~part.hit)
                onehot = np.zeros((part.size, n_psi))
                onehot[whole, part.base[whole]] = 1.0
                psi_table = np.rint(table.astype(np.float64) @ onehot).astype(np.int64)
                codes_near = np.searchsorted(part.edges, x[near], side="right")
                psi_table += np.bincount(
                    bucket[near] * n_psi + codes_near, minlength=n_buckets * n_psi
                ).reshape(n_buckets, n_psi)
                bins = windowed(psi_table) / safe
                flags[i] = ok & _psi_rows(f.ref_bins, bins, psi_limit)
        else:
            counts = per_window(np.asarray(col, dtype=np.intp), f.size)
            n = counts.sum(axis=1)
            n_seen[i] = n
            ps: list[float] = []
            for w in range(n_windows):
                if n[w] == 0:
                    ps.append(1.0)
                    continue
                bins_w = counts[w].astype(np.float64) / n[w]
                if "chi2" in tests:
                    big = _tv(f.ref_bins, bins_w) >= min_effect
                    ps.append(_chi2(f.ref_counts, counts[w])[1] if big else 1.0)
                if psi_limit is not None and _psi(f.ref_bins, bins_w) > psi_limit:
                    flags[i, w] = True
            if "chi2" in tests:
                chi2_p[i] = ps
    has_p = np.array(
        [("ks" in tests) if isinstance(f, _Numeric) else ("chi2" in tests) for f in features]
    )
    m_tests = ((n_seen > 0) & has_p[:, None]).sum(axis=0)
    undecided = np.zeros_like(flags)
    for i, low in ks_low.items():
        f = features[i]
        assert isinstance(f, _Numeric)
        n_i = n_seen[i]
        asymp = (
            ks_method == "asymp"
            or not f.exact
            or (ks_method == "auto" and f.m > _KS_EXACT_MAX)
            or (ks_method == "auto" and bool((n_i > _KS_EXACT_MAX).all()))
        )
        small = ks_high[i] < min_effect  # too small an effect to flag, whatever p says
        if not asymp:  # exact p-values: decided one window at a time
            undecided[i] = (n_i > 0) & ~flags[i] & ~small
            continue
        levels = (
            alpha / np.maximum(m_tests, 1)
            if correction == "bonferroni"
            else np.full(n_windows, alpha)
        )
        found: dict[tuple[int, float], float] = {}
        critical = np.empty(n_windows)
        for w, key in enumerate(zip(n_i.tolist(), levels.tolist())):
            value = found.get(key)
            if value is None:
                n_w, level = key
                value = found[key] = _ks_critical(_ks_sizes(n_w, f.m), level) if n_w > 0 else np.inf
            critical[w] = value
        sure = (low > critical * (1.0 + _BAND)) & (low >= min_effect)
        maybe = ~sure & ~(ks_high[i] < critical * (1.0 - _BAND)) & ~small
        flags[i] |= (n_i > 0) & sure
        undecided[i] = (n_i > 0) & maybe & ~flags[i]
    for i, w in zip(*np.nonzero(undecided)):
        f = features[i]
        assert isinstance(f, _Numeric)
        col = columns[i]
        assert col is not None
        a, b = int(starts[first[w]]), int(starts[stop[w]])
        counts = _slot_counts(f, _as_float(col[a:b], f.name))
        d = _ks_statistic(f, counts, int(n_seen[i, w]))
        flags[i, w] = _ks_drifted(
            f, int(n_seen[i, w]), d, d, int(m_tests[w]), alpha, correction, ks_method,
            lambda c=counts: c, min_effect,
        )  # fmt: skip
    for i, ps in chi2_p.items():
        for w in range(n_windows):
            if n_seen[i, w] > 0 and not flags[i, w]:
                flags[i, w] = _p_flag(ps[w], int(m_tests[w]), alpha, correction)
    names = [f.name for f in features]
    return [
        [names[i] for i in np.flatnonzero(flags[:, w] & (n_seen[:, w] > 0))]
        for w in range(n_windows)
    ]


def _psi_rows(
    ref: NDArray[np.float64], bins: NDArray[np.float64], limit: float
) -> NDArray[np.bool_]:
    """PSI > limit per row of ``bins``, exactly as `_psi` decides it row by row."""
    a = np.maximum(ref, PSI_EPS)
    b = np.maximum(bins, PSI_EPS)
    values = np.sum((b - a) * np.log(b / a), axis=1)
    flags: NDArray[np.bool_] = values > limit
    close = np.flatnonzero(np.abs(values - limit) <= 1e-9 * max(1.0, limit))
    for w in close.tolist():
        flags[w] = _psi(ref, bins[w]) > limit
    return flags
