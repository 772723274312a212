"""Per-feature references: what a drift profile keeps of each training column.

A numeric column is kept from every reference row: the exact sorted column (distinct
values and their counts) when it has at most ``sample_size`` distinct values, else a
quantile summary of ``sample_size`` values at equal ranks with their exact ranks among all
rows; plus quantile bins with the training proportions and bins below and above the
reference's range. A categorical column keeps its category counts and an unseen bucket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError, InvalidInputError

__all__ = ["COARSE", "MIN_EFFECT", "PSI_EPS", "TESTS", "WASSERSTEIN_FLOOR"]

TESTS: tuple[str, ...] = ("ks", "chi2", "psi", "wasserstein", "js")
"""Every test a profile can run: KS and Wasserstein (numeric), chi-square (categorical),
PSI and Jensen-Shannon (both kinds)."""
CORRECTIONS: tuple[str, ...] = ("bonferroni", "bh", "none")
"""Multiple-testing corrections across the p-value tests of a report."""
_PVALUE_TESTS = frozenset({"ks", "chi2"})
KS_METHODS: tuple[str, ...] = ("auto", "exact", "asymp")
_KS_EXACT_MAX = 10_000  # scipy's switch from exact to asymptotic p-values under "auto"
_NUMERIC_TESTS = ("ks", "psi", "wasserstein", "js")
_CATEGORICAL_TESTS = ("chi2", "psi", "js")
DEFAULT_THRESHOLDS: dict[str, float | None] = {"psi": 0.2, "wasserstein": None, "js": None}
PSI_EPS = 1e-4
"""Proportions are clipped to at least this value in PSI, so empty bins stay finite."""
MIN_EFFECT = 0.02
"""Default ``min_effect``: a p-value test flags a feature only when its effect size (the
largest difference in probability mass the window and the reference give one region:
the KS statistic for a numeric feature, the total variation distance for a categorical
one) is at least this. A 0.05 sd shift of a normal feature moves about 0.02 of its mass."""
WASSERSTEIN_FLOOR = 1e-3
"""For a constant reference column Wasserstein is in units of ``1e-3 * max(1, |value|)``."""
COARSE = 256
"""Coarse bins per numeric feature on the fast verdict path (equal width, min to max)."""
UNSEEN = "<unseen>"
_OUTPUTS = ("prediction", "confidence", "abstention")


# -- small helpers ---------------------------------------------------------------------------


def _columns(X: Any, names: Sequence[str] | None) -> tuple[list[str], list[NDArray[Any]]]:
    """Split batch ``X`` into named 1-D columns (arrays, data frames, dict records)."""
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        cols = [str(c) for c in X.columns]
        return cols, [np.asarray(X[c]) for c in X.columns]
    if isinstance(X, Mapping):
        return [str(k) for k in X], [np.asarray(v) for v in X.values()]
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], Mapping):
        keys = list(names) if names is not None else [str(k) for k in X[0]]
        try:
            return keys, [np.asarray([row[k] for row in X]) for k in keys]
        except KeyError as exc:
            raise InvalidInputError(f"a record has no field {exc.args[0]!r}") from None
    arr = np.asarray(X)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 0 if names is None else len(names))
    if arr.ndim != 2:
        raise InvalidInputError(
            f"drift monitoring needs a 2-D batch (n_samples, n_features). Got shape {arr.shape}."
        )
    if names is not None and len(names) != arr.shape[1]:
        raise InvalidInputError(
            f"the batch has {arr.shape[1]} columns; the drift profile has {len(names)} "
            f"features ({list(names)[:5]}...)."
        )
    cols_out = [arr[:, j] for j in range(arr.shape[1])]
    given = [f"x{j}" for j in range(arr.shape[1])] if names is None else list(names)
    return given, cols_out


def _as_float(values: NDArray[Any], feature: str) -> NDArray[np.float64]:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"feature {feature!r} is numeric in the drift profile but got non-numeric "
            f"values such as {values[:1].tolist()!r}."
        ) from None


def _is_numeric(values: NDArray[Any]) -> bool:
    return values.dtype.kind in "iuf"


def _check_int(owner: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be an int >= {low}. Got {value!r} instead."
        )
    return int(value)


# -- per-feature reference -------------------------------------------------------------------


@dataclass(frozen=True)
class _Numeric:
    """Reference of one numeric feature, from every reference row.

    ``grid`` holds the points where the reference's distribution is kept exactly: every
    distinct value when there are at most ``sample_size`` of them (the exact sorted
    column), else a quantile summary of ``sample_size`` values at equal ranks plus the
    bin edges, each with its exact rank among all reference rows (``cum``: rows ``<=``
    the point, ``lt``: rows ``<`` it).
    """

    name: str
    grid: NDArray[np.float64]  # (q,) kept points, increasing
    cum: NDArray[np.int64]  # (q,) reference rows <= grid[k] (all rows, not a sample)
    edge_idx: NDArray[np.intp]  # (B-1,) grid positions of the inner quantile bin edges
    ref_bins: NDArray[np.float64]  # (B+2,) proportions: below min, B bins, above max
    std: float
    n_ref: int
    lt: NDArray[np.int64]  # (q,) reference rows < grid[k]
    coarse: NDArray[np.int64]  # (COARSE + 2,) reference rows by coarse bin, cumulative

    kind = "numeric"

    def __post_init__(self) -> None:  # shared by every guard: never written to
        for arr in (self.grid, self.cum, self.edge_idx, self.ref_bins, self.lt, self.coarse):
            arr.flags.writeable = False

    @property
    def m(self) -> int:
        return int(self.cum[-1]) if self.cum.size else 0

    @property
    def exact(self) -> bool:
        """True when every reference value is a kept point (no mass between points)."""
        return bool(np.array_equal(self.lt[1:], self.cum[:-1])) and int(self.lt[0]) == 0

    @property
    def gap(self) -> float:
        """Largest share of reference rows strictly between two kept points (0 if exact).

        The KS statistic read on the kept points is at most this much below the one over
        the whole line: ``D_kept <= D <= D_kept + gap``.
        """
        if self.grid.size < 2:
            return 0.0
        return float(np.max(self.lt[1:] - self.cum[:-1])) / max(self.m, 1)

    @property
    def scale(self) -> float:
        """The unit of Wasserstein: the reference's standard deviation, floored for a
        constant column at ``WASSERSTEIN_FLOOR * max(1, |value|)``."""
        if self.std > 0:
            return self.std
        return WASSERSTEIN_FLOOR * max(1.0, abs(float(self.grid[0])))

    @property
    def size(self) -> int:  # slots: (-inf,g0), {g0}, (g0,g1), {g1}, ..., (g_last, inf)
        return 2 * self.grid.size + 1

    def bin_counts(self, counts: NDArray[np.int64]) -> NDArray[np.float64]:
        """Window counts per bin (below the reference's minimum, the quantile bins, above
        its maximum), from slot counts."""
        csum = np.concatenate(([0], np.cumsum(counts)))
        inner = np.concatenate(([csum[1]], csum[2 * self.edge_idx + 1], [csum[-2]]))
        return np.concatenate(([csum[1]], np.diff(inner), [csum[-1] - csum[-2]])).astype(np.float64)


@dataclass(frozen=True)
class _Categorical:
    """Reference of one categorical feature; the last bucket counts unseen values."""

    name: str
    categories: NDArray[np.str_]  # (K,)
    ref_counts: NDArray[np.int64]  # (K + 1,), unseen last (0 in the reference)

    kind = "categorical"

    def __post_init__(self) -> None:  # shared by every guard: never written to
        for arr in (self.categories, self.ref_counts):
            arr.flags.writeable = False

    @property
    def size(self) -> int:
        return self.categories.size + 1

    @property
    def ref_bins(self) -> NDArray[np.float64]:
        total = self.ref_counts.sum()
        return self.ref_counts / total if total else self.ref_counts.astype(np.float64)

    def slots(self, x: NDArray[Any]) -> NDArray[np.intp]:
        uniq, inverse = np.unique(np.asarray(x).astype(str), return_inverse=True)
        pos = np.searchsorted(self.categories, uniq)
        pos = np.minimum(pos, self.categories.size - 1) if self.categories.size else pos * 0
        known = (self.categories.size > 0) & (self.categories[pos] == uniq)
        code = np.where(known, pos, self.categories.size)
        return code[inverse.reshape(-1)]


_Feature = _Numeric | _Categorical


def _coarse_bins(lo: float, hi: float, x: NDArray[np.float64]) -> NDArray[np.intp]:
    """Coarse bin of each value: ``trunc(clip((x - lo) * scale, -1, COARSE)) + 1``."""
    scale = COARSE / (hi - lo) if hi > lo else 0.0
    t = (x - lo) * scale
    np.clip(t, -1.0, float(COARSE), out=t)
    out: NDArray[np.intp] = t.astype(np.intp) + 1
    return out


def _numeric_reference(name: str, values: NDArray[np.float64], n_bins: int, size: int) -> _Numeric:
    x = values[np.isfinite(values)]
    if x.size == 0:
        raise InvalidInputError(f"feature {name!r} has no finite values to build a profile from.")
    x = np.sort(x)
    n = x.size
    values_all, first = np.unique(x, return_index=True)
    lt_all = first.astype(np.int64)  # rows below each distinct value
    cum_all = np.concatenate((lt_all[1:], [n])).astype(np.int64)
    # quantile edges are kept points, so window bins can be read off slot counts
    levels = np.arange(1, n_bins) / n_bins
    edges = np.unique(x[np.minimum((levels * n).astype(np.intp), n - 1)])
    edges = edges[edges > x[0]]  # an edge at the minimum would leave an empty first bin
    if values_all.size <= size:
        keep = np.arange(values_all.size)
    else:  # a quantile summary: values at equal ranks, the extremes and the edges
        ranks = np.ceil(np.arange(1, size + 1) * (n / size)).astype(np.intp) - 1
        points = np.concatenate(([x[0]], x[np.minimum(ranks, n - 1)], edges, [x[-1]]))
        keep = np.unique(np.searchsorted(values_all, points))
    grid = values_all[keep]
    edge_idx = np.searchsorted(grid, edges)
    inner = np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)
    coarse = np.cumsum(np.bincount(_coarse_bins(x[0], x[-1], x), minlength=COARSE + 2))
    return _Numeric(
        name=name,
        grid=grid,
        cum=cum_all[keep],
        edge_idx=edge_idx.astype(np.intp),
        ref_bins=np.concatenate(([0.0], inner / n, [0.0])),
        std=float(np.std(x)),
        n_ref=int(n),
        lt=lt_all[keep],
        coarse=coarse.astype(np.int64),
    )


def _categorical_reference(name: str, values: NDArray[Any]) -> _Categorical:
    text = np.asarray(values).astype(str)
    cats, counts = np.unique(text, return_counts=True)
    return _Categorical(
        name=name,
        categories=cats.astype(str),
        ref_counts=np.concatenate((counts, [0])).astype(np.int64),
    )
