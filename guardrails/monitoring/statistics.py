"""The drift statistics, read off a window's counts on a reference, and their corrections.

KS, chi-square, PSI, Jensen-Shannon, Wasserstein and total variation; Bonferroni and
Benjamini-Hochberg across the p-values of a report.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError
from guardrails.monitoring.reference import (
    _KS_EXACT_MAX,
    CORRECTIONS,
    PSI_EPS,
    _Numeric,
)

__all__ = ["adjust_pvalues"]


def adjust_pvalues(pvalues: NDArray[np.float64], method: str) -> NDArray[np.float64]:
    """Adjusted p-values: reject where the adjusted value is at most ``alpha``.

    Args:
        pvalues: ``(n_tests,)`` raw p-values (NaN entries are left out and stay NaN).
        method: "bonferroni" (family-wise error), "bh" (Benjamini-Hochberg false
            discovery rate) or "none".

    Returns:
        ``(n_tests,)`` adjusted p-values in [0, 1].
    """
    if method not in CORRECTIONS:
        raise ConfigurationError(
            f"The 'correction' parameter must be one of {list(CORRECTIONS)}. Got {method!r}."
        )
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    q = p[ok]
    if method == "none":
        adj = q
    elif method == "bonferroni":
        adj = np.minimum(q * m, 1.0)
    else:  # step-up: adj_(i) = min over j >= i of m p_(j) / j
        order = np.argsort(q)
        scaled = q[order] * m / np.arange(1, m + 1)
        mono = np.minimum.accumulate(scaled[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.minimum(mono, 1.0)
    out[ok] = adj
    return out


# -- the statistics --------------------------------------------------------------------------


def _psi(p_ref: NDArray[np.float64], p_cur: NDArray[np.float64]) -> float:
    a = np.maximum(p_ref, PSI_EPS)
    b = np.maximum(p_cur, PSI_EPS)
    return float(np.sum((b - a) * np.log(b / a)))


def _tv(p_ref: NDArray[np.float64], p_cur: NDArray[np.float64]) -> float:
    """Total variation distance: the largest difference in mass two distributions give a
    set of categories (the categorical analogue of the KS statistic)."""
    return float(0.5 * np.abs(p_ref - p_cur).sum())


def _js(p_ref: NDArray[np.float64], p_cur: NDArray[np.float64]) -> float:
    mid = 0.5 * (p_ref + p_cur)

    def kl(p: NDArray[np.float64]) -> float:
        nz = p > 0
        return float(np.sum(p[nz] * np.log2(p[nz] / mid[nz])))

    return math.sqrt(max(0.0, 0.5 * kl(p_ref) + 0.5 * kl(p_cur)))


def _ks_statistic(f: _Numeric, counts: NDArray[np.int64], n: int) -> float:
    """Exact two-sample KS statistic of the window (slot ``counts``) vs the reference."""
    csum = np.concatenate(([0], np.cumsum(counts))) / n
    q = f.grid.size
    ref_at = f.cum / f.m
    ref_before = f.lt / f.m
    before = np.abs(csum[1 : 2 * q : 2] - ref_before)  # just below each grid value
    at = np.abs(csum[2 : 2 * q + 1 : 2] - ref_at)  # at each grid value
    return float(max(before.max(), at.max()))


def _ks_asymptotic(method: str, n: int, f: _Numeric) -> bool:
    """Asymptotic p-values: asked for, either sample over 10,000 rows under "auto", or a
    reference kept as a quantile summary (exact p-values need every reference value)."""
    return method == "asymp" or (method == "auto" and max(n, f.m) > _KS_EXACT_MAX) or not f.exact


def _ks_sizes(n: int, m: int) -> float:
    big, small = max(n, m), min(n, m)
    return float(np.round(big * small / (big + small)))


def _ks(f: _Numeric, counts: NDArray[np.int64], n: int, method: str) -> tuple[float, float]:
    """Exact two-sample KS statistic of the window vs the reference sample, and its p-value.

    ``method`` chooses the p-value as `scipy.stats.ks_2samp` does: "asymp" (Smirnov's
    asymptotic distribution), "exact", or "auto" (exact when both samples have at most
    10,000 values); a reference kept as a quantile summary always gets the asymptotic one.
    """
    from scipy import stats  # scipy loads on first use, not at import

    d = _ks_statistic(f, counts, n)
    if _ks_asymptotic(method, n, f):
        return d, float(np.clip(stats.kstwo.sf(d, _ks_sizes(n, f.m)), 0.0, 1.0))
    q = f.grid.size
    # The exact null distribution depends only on the sizes and on D; scipy computes it
    # from samples, so hand it a window with the same ranks against the reference: grid
    # values where the window had them, interval midpoints elsewhere.
    pos = np.empty(2 * q + 1)
    pos[1::2] = f.grid
    pos[2 : 2 * q : 2] = 0.5 * (f.grid[:-1] + f.grid[1:])
    pos[0], pos[-1] = f.grid[0] - 1.0, f.grid[-1] + 1.0
    sample = np.repeat(f.grid, np.diff(np.concatenate(([0], f.cum))))
    res = stats.ks_2samp(np.repeat(pos, counts), sample, method="exact")
    return d, float(res.pvalue)


def _wasserstein(
    f: _Numeric, counts: NDArray[np.int64], sums: NDArray[np.float64], n: int
) -> float:
    """W1 between the window and the reference, in reference standard deviations.

    Window values are known exactly when they equal a grid value; values inside one grid
    interval stand at their mean, so the result equals the exact distance whenever no
    interval holds two window values and is within ``width * count / n`` per interval.
    A constant reference column has no spread: the unit is then its floor (see
    `WASSERSTEIN_FLOOR`). With a quantile-summary reference, reference rows between two
    kept points stand at the upper point (a further ``width * share`` per interval).
    """
    q = f.grid.size
    pos = np.empty(2 * q + 1)
    pos[1::2] = f.grid
    inner = np.concatenate((f.grid[:1], f.grid))  # any position in the slot, for empty slots
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[0::2] / counts[0::2]
    pos[0::2] = np.where(counts[0::2] > 0, means, inner)
    ref_mass = np.diff(np.concatenate(([0], f.cum))) / f.m
    points = np.concatenate((pos, f.grid))
    order = np.argsort(points, kind="stable")
    w_mass = np.concatenate((counts / n, np.zeros(q)))[order]
    r_mass = np.concatenate((np.zeros(2 * q + 1), ref_mass))[order]
    pts = points[order]
    diff = np.abs(np.cumsum(w_mass) - np.cumsum(r_mass))[:-1]
    w1 = float(np.sum(diff * np.diff(pts)))
    return w1 / f.scale


def _chi2(ref_counts: NDArray[np.int64], counts: NDArray[np.int64]) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x K table (empty columns dropped)."""
    table = np.vstack((ref_counts, counts)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    rows = table.sum(axis=1, keepdims=True)
    expected = rows * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    from scipy import stats

    return stat, float(stats.chi2.sf(stat, table.shape[1] - 1))
