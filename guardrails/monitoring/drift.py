"""Data drift: reference profiles, mergeable window state, and the tests that compare them.

A [`DriftProfile`][] is built once from training data. Per numeric feature it keeps a
sorted reference sample (the grid for exact KS and Wasserstein) and quantile bins with
the training data's proportions (PSI, Jensen-Shannon); per categorical feature it keeps
the category frequencies plus an "unseen" bucket. Optionally it profiles the model's
outputs too: predictions, confidence and the abstention rate.

Current data goes into a [`WindowState`][]: integer counts (and sums) on the profile's
grid. States add ([`WindowState.merge`][]), so workers or partitions can each fill one
and combine them; the merged state is exactly the state of the concatenated data.
[`DriftProfile.evaluate`][] turns a state into a [`DriftReport`][]; the batch path
[`DriftProfile.compare`][] does both in one call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core import persistence
from guardrails.core.errors import ArtifactError, ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    import os

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "CORRECTIONS",
    "TESTS",
    "DriftProfile",
    "DriftReport",
    "FeatureDrift",
    "TestResult",
    "WindowState",
    "adjust_pvalues",
]

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


def _check_unit(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a float in (0, 1). Got {value!r} instead."
        )
    return float(value)


def _check_int(owner: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be an int >= {low}. Got {value!r} instead."
        )
    return int(value)


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


# -- per-feature reference -------------------------------------------------------------------


@dataclass(frozen=True)
class _Numeric:
    """Reference of one numeric feature."""

    name: str
    grid: NDArray[np.float64]  # (q,) distinct values of the sorted reference sample
    cum: NDArray[np.int64]  # (q,) reference-sample count <= grid[k]
    edge_idx: NDArray[np.intp]  # (B-1,) grid positions of the quantile bin edges
    ref_bins: NDArray[np.float64]  # (B,) training-data proportions in the bins
    std: float
    n_ref: int

    kind = "numeric"

    def __post_init__(self) -> None:  # shared by every guard: never written to
        for arr in (self.grid, self.cum, self.edge_idx, self.ref_bins):
            arr.flags.writeable = False

    @property
    def m(self) -> int:
        return int(self.cum[-1]) if self.cum.size else 0

    @property
    def size(self) -> int:  # slots: (-inf,g0), {g0}, (g0,g1), {g1}, ..., (g_last, inf)
        return 2 * self.grid.size + 1

    def bin_counts(self, counts: NDArray[np.int64]) -> NDArray[np.float64]:
        """Window counts per quantile bin, from slot counts."""
        csum = np.concatenate(([0], np.cumsum(counts)))
        below = csum[2 * self.edge_idx + 1]  # values < each edge
        return np.diff(np.concatenate(([0], below, [csum[-1]]))).astype(np.float64)


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


def _numeric_reference(
    name: str, values: NDArray[np.float64], n_bins: int, sample_size: int, rng: np.random.Generator
) -> _Numeric:
    x = values[np.isfinite(values)]
    if x.size == 0:
        raise InvalidInputError(f"feature {name!r} has no finite values to build a profile from.")
    sample = x if x.size <= sample_size else rng.choice(x, size=sample_size, replace=False)
    sample = np.sort(sample)
    grid, counts = np.unique(sample, return_counts=True)
    cum = np.cumsum(counts).astype(np.int64)
    # quantile edges are values of the sample, so window bins can be read off slot counts
    levels = np.arange(1, n_bins) / n_bins
    edges = np.unique(sample[np.minimum((levels * sample.size).astype(np.intp), sample.size - 1)])
    edges = edges[edges > grid[0]]  # an edge at the minimum would leave an empty first bin
    edge_idx = np.searchsorted(grid, edges)
    ref = np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)
    return _Numeric(
        name=name,
        grid=grid,
        cum=cum,
        edge_idx=edge_idx.astype(np.intp),
        ref_bins=ref / x.size,
        std=float(np.std(x)),
        n_ref=int(x.size),
    )


def _categorical_reference(name: str, values: NDArray[Any]) -> _Categorical:
    text = np.asarray(values).astype(str)
    cats, counts = np.unique(text, return_counts=True)
    return _Categorical(
        name=name,
        categories=cats.astype(str),
        ref_counts=np.concatenate((counts, [0])).astype(np.int64),
    )


# -- window state ----------------------------------------------------------------------------


class WindowState:
    """Counts of current data on a profile's grid; adds across batches, workers, partitions.

    Per numeric feature: counts per grid slot and the sum of the values in each slot; per
    categorical feature: counts per category plus unseen. Memory is fixed by the profile
    (about ``16 * (2 * sample_size + 1)`` bytes per numeric feature), whatever the number
    of rows observed.

    Make one with [`DriftProfile.window_state`][]; fill it with [`update`][].
    """

    def __init__(self, profile: DriftProfile) -> None:
        self.profile = profile
        self.counts: list[NDArray[np.int64]] = [
            np.zeros(f.size, dtype=np.int64) for f in profile._all_features()
        ]
        self.sums: list[NDArray[np.float64] | None] = [
            np.zeros(f.size) if isinstance(f, _Numeric) else None for f in profile._all_features()
        ]
        self.rows = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the counts and sums (constant in the number of rows observed)."""
        total = sum(c.nbytes for c in self.counts)
        return total + sum(s.nbytes for s in self.sums if s is not None)

    def update(
        self,
        X: Any = None,
        *,
        predictions: Any = None,
        confidence: Any = None,
        abstained: Any = None,
    ) -> WindowState:
        """Add a batch (in place) and return ``self``.

        Args:
            X: ``(n_samples, n_features)`` inputs (array, data frame, dict records), or
                None to observe outputs only.
            predictions: ``(n_samples,)`` predictions, when the profile has them.
            confidence: ``(n_samples,)`` confidence, when the profile has it.
            abstained: ``(n_samples,)`` bool, when the profile has an abstention rate.

        Raises:
            InvalidInputError: ``X`` lacks a profiled feature or a numeric feature got
                non-numeric values.
        """
        p = self.profile
        n_rows = 0
        if X is not None and p.features:
            names, cols = _columns(X, p.feature_names)
            by_name = dict(zip(names, cols))
            missing = [f.name for f in p.features if f.name not in by_name]
            if missing:
                raise InvalidInputError(
                    f"the batch lacks profiled feature(s) {missing[:5]}; it has {names[:10]}."
                )
            for i, f in enumerate(p.features):
                self._add(i, f, by_name[f.name])
            n_rows = len(cols[0]) if cols else 0
        outputs = {"prediction": predictions, "confidence": confidence, "abstention": abstained}
        offset = len(p.features)
        for j, f in enumerate(p.outputs):
            value = outputs[f.name]
            if value is None:
                continue
            arr = np.asarray(value)
            if f.name == "abstention":
                arr = np.where(arr.astype(bool), "abstained", "answered")
            self._add(offset + j, f, arr)
            n_rows = max(n_rows, arr.shape[0])
        self.rows += n_rows
        return self

    def _add(self, i: int, f: _Feature, values: NDArray[Any]) -> None:
        if isinstance(f, _Numeric):
            x = _as_float(values, f.name)
            x = x[np.isfinite(x)]
            if 4 * x.size < f.grid.size:  # few values: search each one in the grid
                q = f.grid.size
                left = np.searchsorted(f.grid, x, side="left")
                slot = 2 * left + (f.grid[np.minimum(left, q - 1)] == x)
                self.counts[i] += np.bincount(slot, minlength=f.size)
                sums_few = self.sums[i]
                if sums_few is not None:
                    sums_few += np.bincount(slot, weights=x, minlength=f.size)
                return
            x = np.sort(x)  # many values: one fast sort beats a binary search per value
            n = x.size
            bounds = np.empty(f.size + 1, dtype=np.int64)  # rows below each slot's start
            bounds[0], bounds[-1] = 0, n
            bounds[1:-1:2] = np.searchsorted(x, f.grid, side="left")
            bounds[2:-1:2] = np.searchsorted(x, f.grid, side="right")
            self.counts[i] += np.diff(bounds)
            sums = self.sums[i]
            if sums is not None:
                prefix = np.concatenate(([0.0], np.cumsum(x)))
                sums += np.diff(prefix[bounds])
        else:
            self.counts[i] += np.bincount(f.slots(values), minlength=f.size)

    def merge(self, other: WindowState) -> WindowState:
        """A new state holding both states' data (as if their batches were concatenated)."""
        if not isinstance(other, WindowState) or not self.profile.same_as(other.profile):
            raise ConfigurationError(
                "WindowState.merge needs a state of the same DriftProfile. "
                f"Got {type(other).__name__}."
            )
        out = WindowState.__new__(WindowState)
        out.profile = self.profile
        out.counts = [a + b for a, b in zip(self.counts, other.counts)]
        out.sums = [
            None if a is None or b is None else a + b for a, b in zip(self.sums, other.sums)
        ]
        out.rows = self.rows + other.rows
        return out

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The state as plain arrays (e.g. for ``np.savez``), to ship from a worker.

        Rebuild it with [`DriftProfile.window_state`][] ``(arrays=...)`` on a profile
        loaded from the same file.
        """
        out: dict[str, NDArray[Any]] = {"rows": np.array([self.rows], dtype=np.int64)}
        for i, (c, s) in enumerate(zip(self.counts, self.sums)):
            out[f"counts_{i}"] = c.copy()
            if s is not None:
                out[f"sums_{i}"] = s.copy()
        return out

    def clear(self) -> None:
        """Forget everything observed (in place)."""
        for c in self.counts:
            c[:] = 0
        for s in self.sums:
            if s is not None:
                s[:] = 0.0
        self.rows = 0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WindowState)
            and self.rows == other.rows
            and all(np.array_equal(a, b) for a, b in zip(self.counts, other.counts))
            and all(
                (a is None and b is None)
                or (a is not None and b is not None and np.allclose(a, b, rtol=1e-12, atol=1e-9))
                for a, b in zip(self.sums, other.sums)
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WindowState(rows={self.rows}, nbytes={self.nbytes})"


# -- the statistics --------------------------------------------------------------------------


def _psi(p_ref: NDArray[np.float64], p_cur: NDArray[np.float64]) -> float:
    a = np.maximum(p_ref, PSI_EPS)
    b = np.maximum(p_cur, PSI_EPS)
    return float(np.sum((b - a) * np.log(b / a)))


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
    ref_before = np.concatenate(([0.0], ref_at[:-1]))
    before = np.abs(csum[1 : 2 * q : 2] - ref_before)  # just below each grid value
    at = np.abs(csum[2 : 2 * q + 1 : 2] - ref_at)  # at each grid value
    return float(max(before.max(), at.max()))


def _ks_asymptotic(method: str, n: int, m: int) -> bool:
    return method == "asymp" or (method == "auto" and max(n, m) > _KS_EXACT_MAX)


def _ks_sizes(n: int, m: int) -> float:
    big, small = max(n, m), min(n, m)
    return float(np.round(big * small / (big + small)))


def _ks(f: _Numeric, counts: NDArray[np.int64], n: int, method: str) -> tuple[float, float]:
    """Exact two-sample KS statistic of the window vs the reference sample, and its p-value.

    ``method`` chooses the p-value as `scipy.stats.ks_2samp` does: "asymp" (Smirnov's
    asymptotic distribution), "exact", or "auto" (exact when both samples have at most
    10,000 values).
    """
    from scipy import stats

    d = _ks_statistic(f, counts, n)
    if _ks_asymptotic(method, n, f.m):
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
    """W1 between the window and the reference sample, in reference standard deviations.

    Window values are known exactly when they equal a grid value; values inside one grid
    interval stand at their mean, so the result equals the exact distance whenever no
    interval holds two window values and is within ``width * count / n`` per interval.
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
    return w1 / f.std if f.std > 0 else w1


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


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """One test on one feature.

    Attributes:
        statistic: the test statistic or distance.
        p_value: raw p-value (KS, chi-square), else None.
        p_adjusted: p-value after the multiple-testing correction, else None.
        threshold: what the statistic (or the adjusted p-value) is compared with, or None
            for a distance reported without a verdict.
        drifted: the test's verdict.
    """

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float | None
    p_adjusted: float | None
    threshold: float | None
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class FeatureDrift:
    """The tests on one feature (or output) and its verdict.

    Attributes:
        feature: the feature's name ("prediction", "confidence", "abstention" for outputs,
            "errors" for the label stream).
        kind: "numeric", "categorical" or "stream".
        group: "input", "output" or "labels".
        n: number of current values tested.
        tests: results by test name.
        drifted: True when any test with a verdict flags the feature.
    """

    feature: str
    kind: str
    group: str
    n: int
    tests: Mapping[str, TestResult]
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "group": self.group,
            "n": self.n,
            "drifted": self.drifted,
            "tests": {name: t.to_dict() for name, t in self.tests.items()},
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-feature results and the dataset-level verdict.

    Attributes:
        features: one entry per tested feature or output, in profile order.
        alpha: the significance level of the p-value tests.
        correction: the multiple-testing correction applied across them.
        rows: number of rows in the window.
    """

    features: tuple[FeatureDrift, ...]
    alpha: float
    correction: str
    rows: int
    _by_name: dict[str, FeatureDrift] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.feature: f for f in self.features})

    @property
    def drifted(self) -> bool:
        """The dataset-level verdict: True when any feature or output drifted."""
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features and outputs, in profile order."""
        return [f.feature for f in self.features if f.drifted]

    def __getitem__(self, feature: str) -> FeatureDrift:
        return self._by_name[feature]

    def __contains__(self, feature: object) -> bool:
        return feature in self._by_name

    def with_feature(self, entry: FeatureDrift) -> DriftReport:
        """A copy with ``entry`` added (or replacing the entry of the same name)."""
        rest = tuple(f for f in self.features if f.feature != entry.feature)
        return DriftReport((*rest, entry), self.alpha, self.correction, self.rows)

    def scores(self) -> dict[str, dict[str, float]]:
        """Statistic per test per feature, e.g. for a metrics exporter."""
        return {
            f.feature: {name: t.statistic for name, t in f.tests.items()} for f in self.features
        }

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-friendly data."""
        return {
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "alpha": self.alpha,
            "correction": self.correction,
            "rows": self.rows,
            "features": {f.feature: f.to_dict() for f in self.features},
        }

    def table(self) -> str:
        """A readable table: one line per feature and test."""
        header = ("feature", "test", "statistic", "p_value", "p_adj", "threshold", "drift")
        lines: list[tuple[str, ...]] = []

        def num(v: float | None) -> str:
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"

        for f in self.features:
            for name, t in f.tests.items():
                lines.append(
                    (
                        f.feature,
                        name,
                        num(t.statistic),
                        num(t.p_value),
                        num(t.p_adjusted),
                        num(t.threshold),
                        "DRIFT" if t.drifted else "",
                    )
                )
        widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header))]
        out = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
        out.append("-" * len(out[0]))
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
        verdict = "DRIFT in " + ", ".join(self.drifted_features) if self.drifted else "no drift"
        out.append(f"{verdict} ({self.rows} rows, alpha={self.alpha:g}, {self.correction})")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


# -- the profile -----------------------------------------------------------------------------


@persistence.persistable
class DriftProfile:
    """The reference a window is compared with, built once from training data.

    Treat it as immutable: guards share it, and no comparison changes or recomputes it.

    Examples:
        >>> import numpy as np
        >>> from guardrails import DriftProfile
        >>> rng = np.random.default_rng(0)
        >>> profile = DriftProfile.from_data(rng.normal(size=(5000, 3)))
        >>> current = rng.normal(size=(2000, 3)); current[:, 1] += 0.5
        >>> profile.compare(current).drifted_features
        ['x1']
    """

    def __init__(
        self,
        features: Sequence[_Feature],
        outputs: Sequence[_Feature] = (),
        *,
        n_bins: int = 10,
        sample_size: int = 5000,
    ) -> None:
        self.features: tuple[_Feature, ...] = tuple(features)
        self.outputs: tuple[_Feature, ...] = tuple(outputs)
        self.n_bins = n_bins
        self.sample_size = sample_size
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"DriftProfile feature names must be unique. Got {names}.")

    @property
    def feature_names(self) -> list[str]:
        """Names of the profiled input features, in order."""
        return [f.name for f in self.features]

    @property
    def output_names(self) -> list[str]:
        """Profiled outputs: some of "prediction", "confidence", "abstention"."""
        return [f.name for f in self.outputs]

    def _feature(self, name: str) -> _Feature:
        for f in self._all_features():
            if f.name == name:
                return f
        raise KeyError(f"the profile has no feature {name!r}; it has {self.feature_names}")

    def reference_sample(self, feature: str) -> NDArray[np.float64]:
        """The sorted reference sample of numeric ``feature``: what KS compares with.

        Returns:
            ``(sample_size,)`` sorted values (all reference rows when there were fewer).
        """
        f = self._feature(feature)
        if not isinstance(f, _Numeric):
            raise KeyError(f"feature {feature!r} is categorical; it has no reference sample")
        return np.repeat(f.grid, np.diff(np.concatenate(([0], f.cum))))

    def bin_edges(self, feature: str) -> NDArray[np.float64]:
        """Inner edges of numeric ``feature``'s quantile bins (bins are ``[e_i, e_i+1)``)."""
        f = self._feature(feature)
        if not isinstance(f, _Numeric):
            raise KeyError(f"feature {feature!r} is categorical; it has categories, not bins")
        edges: NDArray[np.float64] = f.grid[f.edge_idx]
        return edges

    def reference_proportions(self, feature: str) -> NDArray[np.float64]:
        """Training-data proportions per bin (numeric) or per category plus unseen."""
        props: NDArray[np.float64] = self._feature(feature).ref_bins.copy()
        return props

    def categories(self, feature: str) -> list[str]:
        """The reference categories of categorical ``feature`` (unseen values go last)."""
        f = self._feature(feature)
        if not isinstance(f, _Categorical):
            raise KeyError(f"feature {feature!r} is numeric; it has no categories")
        return [str(c) for c in f.categories]

    def _all_features(self) -> tuple[_Feature, ...]:
        return self.features + self.outputs

    @classmethod
    def from_data(
        cls,
        X: Any = None,
        *,
        feature_names: Sequence[str] | None = None,
        categorical: Iterable[str | int] | None = None,
        predictions: Any = None,
        confidence: Any = None,
        abstained: Any = None,
        prediction_kind: str = "auto",
        n_bins: int = 10,
        sample_size: int = 5000,
        random_state: int | None = 0,
    ) -> DriftProfile:
        """Profile training data (and, optionally, the model's outputs on it).

        Args:
            X: ``(n_samples, n_features)`` array, data frame, or dict records; None to
                profile outputs only.
            feature_names: names for the columns of an array (default ``x0, x1, ...``).
            categorical: columns (names or positions) to treat as categories; columns of
                a data frame with a non-numeric dtype are categorical anyway.
            predictions: ``(n_samples,)`` model predictions on reference data.
            confidence: ``(n_samples,)`` calibrated confidence on reference data.
            abstained: ``(n_samples,)`` bool abstentions on reference data.
            prediction_kind: "categorical" (class labels), "numeric" (regression) or
                "auto" (numeric when float-valued with more than 20 distinct values).
            n_bins: quantile bins per numeric feature for PSI and Jensen-Shannon.
            sample_size: size of the sorted reference sample kept per numeric feature,
                the grid of the exact KS and Wasserstein tests (all rows when fewer).
            random_state: seed of the subsample.

        Returns:
            The profile.

        Raises:
            ConfigurationError: a bad setting.
            InvalidInputError: unreadable data, or a numeric feature without finite values.
        """
        owner = "DriftProfile.from_data"
        n_bins = _check_int(owner, "n_bins", n_bins, 2)
        sample_size = _check_int(owner, "sample_size", sample_size, 10)
        if prediction_kind not in ("auto", "categorical", "numeric"):
            raise ConfigurationError(
                f"The 'prediction_kind' parameter of {owner} must be 'auto', 'categorical' "
                f"or 'numeric'. Got {prediction_kind!r} instead."
            )
        if X is None and predictions is None and confidence is None and abstained is None:
            raise ConfigurationError(
                f"{owner} needs data: X, predictions, confidence or abstained."
            )
        rng = np.random.default_rng(random_state)
        features: list[_Feature] = []
        if X is not None:
            names, cols = _columns(X, None)
            if not cols or len(cols[0]) == 0:
                raise InvalidInputError(f"{owner} got an empty batch; it needs reference rows.")
            if feature_names is not None:
                named = (
                    isinstance(X, Mapping)
                    or hasattr(X, "columns")
                    or (isinstance(X, (list, tuple)) and isinstance(X[0], Mapping))
                )
                if named or len(feature_names) != len(cols):
                    raise ConfigurationError(
                        f"The 'feature_names' parameter of {owner} names the columns of an "
                        f"array: one str per column ({len(cols)}). Got {list(feature_names)!r} "
                        f"for a {type(X).__name__}."
                    )
                names = [str(n) for n in feature_names]
            cat = set() if categorical is None else set(categorical)
            unknown = {c for c in cat if c not in names and not isinstance(c, int)} | {
                c for c in cat if isinstance(c, int) and not 0 <= c < len(names)
            }
            if unknown:
                raise ConfigurationError(
                    f"The 'categorical' parameter of {owner} names unknown columns "
                    f"{sorted(map(str, unknown))}; the columns are {names[:10]}."
                )
            for j, (name, col) in enumerate(zip(names, cols)):
                if name in cat or j in cat or not _is_numeric(col):
                    features.append(_categorical_reference(name, col))
                else:
                    features.append(
                        _numeric_reference(name, col.astype(np.float64), n_bins, sample_size, rng)
                    )
        outputs: list[_Feature] = []
        if predictions is not None:
            pred = np.asarray(predictions)
            kind = prediction_kind
            out: _Feature
            if kind == "auto":
                numeric = pred.dtype.kind == "f" and np.unique(pred[:10_000]).size > 20
                kind = "numeric" if numeric else "categorical"
            if kind == "numeric":
                out = _numeric_reference(
                    "prediction", _as_float(pred, "prediction"), n_bins, sample_size, rng
                )
            else:
                out = _categorical_reference("prediction", pred)
            outputs.append(out)
        if confidence is not None:
            conf = _as_float(np.asarray(confidence), "confidence")
            outputs.append(_numeric_reference("confidence", conf, n_bins, sample_size, rng))
        if abstained is not None:
            flags = np.asarray(abstained).astype(bool)
            outputs.append(
                _Categorical(
                    name="abstention",
                    categories=np.array(["abstained", "answered"]),
                    ref_counts=np.array([flags.sum(), (~flags).sum(), 0], dtype=np.int64),
                )
            )
        return cls(features, outputs, n_bins=n_bins, sample_size=sample_size)

    # -- comparing -----------------------------------------------------------------------

    def window_state(self, arrays: Mapping[str, Any] | None = None) -> WindowState:
        """A [`WindowState`][] on this profile's grid: empty, or rebuilt from ``arrays``.

        Args:
            arrays: what [`WindowState.to_arrays`][] gave (on any copy of this profile).

        Raises:
            InvalidInputError: ``arrays`` do not fit this profile.
        """
        state = WindowState(self)
        if arrays is None:
            return state
        try:
            rows = np.asarray(arrays["rows"]).reshape(-1)
            state.rows = int(rows[0])
            for i, f in enumerate(self._all_features()):
                counts = np.asarray(arrays[f"counts_{i}"])
                if counts.shape != (f.size,) or counts.dtype.kind not in "iu" or counts.min() < 0:
                    raise ValueError(f"counts of {f.name!r} do not fit the profile")
                state.counts[i][:] = counts
                sums = state.sums[i]
                if sums is not None:
                    given = np.asarray(arrays[f"sums_{i}"], dtype=np.float64)
                    if given.shape != sums.shape:
                        raise ValueError(f"sums of {f.name!r} do not fit the profile")
                    sums[:] = given
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"these arrays are not a window state of this profile: {exc}"
            ) from None
        return state

    def compare(
        self,
        X: Any = None,
        *,
        predictions: Any = None,
        confidence: Any = None,
        abstained: Any = None,
        tests: Sequence[str] = TESTS,
        alpha: float = 0.05,
        correction: str = "bonferroni",
        thresholds: Mapping[str, float | None] | None = None,
        ks_method: str = "auto",
    ) -> DriftReport:
        """Test a current batch against the reference.

        Args:
            X: ``(n_samples, n_features)`` current inputs, or None.
            predictions: current outputs, ``(n_samples,)`` each.
            confidence: current outputs, ``(n_samples,)`` each.
            abstained: current outputs, ``(n_samples,)`` each.
            tests: see [`evaluate`][].
            alpha: see [`evaluate`][].
            correction: see [`evaluate`][].
            thresholds: see [`evaluate`][].
            ks_method: see [`evaluate`][].

        Returns:
            The [`DriftReport`][].
        """
        state = self.window_state().update(
            X, predictions=predictions, confidence=confidence, abstained=abstained
        )
        return self.evaluate(
            state,
            tests=tests,
            alpha=alpha,
            correction=correction,
            thresholds=thresholds,
            ks_method=ks_method,
        )

    def evaluate(
        self,
        state: WindowState,
        *,
        tests: Sequence[str] = TESTS,
        alpha: float = 0.05,
        correction: str = "bonferroni",
        thresholds: Mapping[str, float | None] | None = None,
        ks_method: str = "auto",
    ) -> DriftReport:
        """Test a filled [`WindowState`][] against the reference.

        Args:
            state: current data on this profile's grid.
            tests: which tests to run, among `TESTS`. KS and chi-square give
                p-values; PSI, Wasserstein and Jensen-Shannon give distances compared with
                ``thresholds``.
            alpha: level of the p-value tests after correction; with Bonferroni the chance
                of any false alarm in a report with no drift is at most ``alpha``.
            correction: "bonferroni", "bh" (Benjamini-Hochberg) or "none", across every
                p-value of the report.
            thresholds: distance thresholds by test; default ``{"psi": 0.2}`` (Wasserstein,
                in reference standard deviations, and Jensen-Shannon report without a
                verdict unless given a threshold).
            ks_method: how KS p-values are computed, as in `scipy.stats.ks_2samp`:
                "auto" (exact when window and reference sample both have at most 10,000
                values, else asymptotic), "exact" or "asymp" (fastest).

        Returns:
            The [`DriftReport`][]; features without current values are left out.
        """
        if ks_method not in KS_METHODS:
            raise ConfigurationError(
                f"The 'ks_method' parameter of DriftProfile.evaluate must be one of "
                f"{list(KS_METHODS)}. Got {ks_method!r} instead."
            )
        alpha, correction, limits = check_test_settings(
            "DriftProfile", tests, alpha, correction, thresholds
        )
        if not isinstance(state, WindowState) or not self.same_as(state.profile):
            raise ConfigurationError("evaluate() needs a WindowState of this DriftProfile.")
        return self._report(state, tests, alpha, correction, limits, ks_method, None)

    def _report(
        self,
        state: WindowState,
        tests: Sequence[str],
        alpha: float,
        correction: str,
        limits: Mapping[str, float | None],
        ks_method: str,
        only: Sequence[str] | None,
    ) -> DriftReport:
        """The report, or with ``only`` (Bonferroni or no correction) the entries of those
        features alone, as the full report has them; the others only count as tests."""
        keep = None if only is None or correction == "bh" else frozenset(only)
        raw: list[tuple[_Feature, str, int, dict[str, tuple[float, float | None]]]] = []
        for i, f in enumerate(self._all_features()):
            counts = state.counts[i]
            n = int(counts.sum())
            if n == 0:
                continue
            group = "output" if i >= len(self.features) else "input"
            res: dict[str, tuple[float, float | None]] = {}
            if keep is not None and f.name not in keep:  # counts towards the correction only
                if "ks" in tests if isinstance(f, _Numeric) else "chi2" in tests:
                    res["ks" if isinstance(f, _Numeric) else "chi2"] = (np.nan, 0.5)
                raw.append((f, group, -1, res))
                continue
            current = counts.astype(np.float64)
            if isinstance(f, _Numeric):
                bins = f.bin_counts(counts) / n
                if "ks" in tests:
                    res["ks"] = _ks(f, counts, n, ks_method)
                if "wasserstein" in tests:
                    sums = state.sums[i]
                    if sums is not None:
                        res["wasserstein"] = (_wasserstein(f, counts, sums, n), None)
            else:
                bins = current / n
                if "chi2" in tests:
                    res["chi2"] = _chi2(f.ref_counts, counts)
            if "psi" in tests:
                res["psi"] = (_psi(f.ref_bins, bins), None)
            if "js" in tests:
                res["js"] = (_js(f.ref_bins, bins), None)
            raw.append((f, group, n, res))
        pvals = [r[name][1] for _, _, _, r in raw for name in r if name in _PVALUE_TESTS]
        adjusted = iter(adjust_pvalues(np.array(pvals, dtype=np.float64), correction).tolist())
        out: list[FeatureDrift] = []
        for f, group, n, res in raw:
            if n < 0:
                for _ in res:
                    next(adjusted)
                continue
            results: dict[str, TestResult] = {}
            for name, (statistic, p) in res.items():
                if name in _PVALUE_TESTS:
                    adj = next(adjusted)
                    results[name] = TestResult(statistic, p, adj, alpha, bool(adj <= alpha))
                else:
                    limit = limits.get(name)
                    flag = limit is not None and statistic > limit
                    results[name] = TestResult(statistic, None, None, limit, bool(flag))
            out.append(
                FeatureDrift(
                    feature=f.name,
                    kind=f.kind,
                    group=group,
                    n=n,
                    tests=results,
                    drifted=any(t.drifted for t in results.values()),
                )
            )
        return DriftReport(tuple(out), alpha, correction, state.rows)

    def same_as(self, other: DriftProfile) -> bool:
        """True when ``other`` has the same features and grids (its states can merge)."""
        if other is self:
            return True
        mine, theirs = self._all_features(), other._all_features()
        return len(mine) == len(theirs) and all(
            a.name == b.name
            and type(a) is type(b)
            and (
                np.array_equal(a.grid, b.grid)
                if isinstance(a, _Numeric) and isinstance(b, _Numeric)
                else np.array_equal(getattr(a, "categories", 0), getattr(b, "categories", 0))
            )
            for a, b in zip(mine, theirs)
        )

    def __repr__(self) -> str:
        kinds = [f.kind for f in self.features]
        return (
            f"DriftProfile(numeric={kinds.count('numeric')}, "
            f"categorical={kinds.count('categorical')}, outputs={self.output_names}, "
            f"n_bins={self.n_bins}, sample_size={self.sample_size})"
        )

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        def one(f: _Feature) -> dict[str, Any]:
            if isinstance(f, _Numeric):
                return {
                    "kind": "numeric",
                    "name": f.name,
                    "grid": enc.array(f.grid),
                    "cum": enc.array(f.cum),
                    "edge_idx": enc.array(f.edge_idx.astype(np.int64)),
                    "ref_bins": enc.array(f.ref_bins),
                    "std": f.std,
                    "n_ref": f.n_ref,
                }
            return {
                "kind": "categorical",
                "name": f.name,
                "categories": enc.array(f.categories.astype(str)),
                "ref_counts": enc.array(f.ref_counts),
            }

        return {
            "n_bins": self.n_bins,
            "sample_size": self.sample_size,
            "features": [one(f) for f in self.features],
            "outputs": [one(f) for f in self.outputs],
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> DriftProfile:
        def one(s: dict[str, Any]) -> _Feature:
            f: _Feature
            if s["kind"] == "numeric":
                num = _Numeric(
                    name=str(s["name"]),
                    grid=dec.required_array(s["grid"]).astype(np.float64),
                    cum=dec.required_array(s["cum"]).astype(np.int64),
                    edge_idx=dec.required_array(s["edge_idx"]).astype(np.intp),
                    ref_bins=dec.required_array(s["ref_bins"]).astype(np.float64),
                    std=float(s["std"]),
                    n_ref=int(s["n_ref"]),
                )
                ok = (
                    num.grid.ndim == 1
                    and num.grid.size > 0
                    and num.cum.shape == num.grid.shape
                    and bool(np.all(np.diff(num.grid) > 0))
                    and bool(np.all(np.diff(num.cum) > 0))
                    and num.ref_bins.size == num.edge_idx.size + 1
                    and bool(np.all((num.edge_idx >= 0) & (num.edge_idx < num.grid.size)))
                )
                f = num
            elif s["kind"] == "categorical":
                f = _Categorical(
                    name=str(s["name"]),
                    categories=dec.required_array(s["categories"]).astype(str),
                    ref_counts=dec.required_array(s["ref_counts"]).astype(np.int64),
                )
                ok = f.ref_counts.shape == (f.categories.size + 1,)
            else:
                raise ArtifactError(f"unknown drift feature kind {s['kind']!r}")
            if not ok:
                raise ArtifactError(f"inconsistent saved drift reference for {s['name']!r}")
            return f

        return cls(
            [one(s) for s in state["features"]],
            [one(s) for s in state["outputs"]],
            n_bins=int(state["n_bins"]),
            sample_size=int(state["sample_size"]),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile to ``path`` (atomic; JSON plus arrays, never pickle)."""
        enc = persistence.Encoder()
        return persistence.write(path, {"profile": enc.component(self)}, enc)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DriftProfile:
        """Read a profile written by [`save`][].

        Raises:
            ArtifactError: the file is not a saved drift profile or was tampered with.
        """
        manifest, arrays = persistence.read(path)
        spec = manifest.get("profile")
        if not isinstance(spec, dict) or spec.get("type") != cls.__name__:
            raise ArtifactError(f"{str(path)!r} does not hold a DriftProfile")
        profile = persistence.Decoder(arrays, {}).component(spec)
        if not isinstance(profile, cls):  # pragma: no cover - the type was checked above
            raise ArtifactError("not a DriftProfile")
        return profile


def check_test_settings(
    owner: str,
    tests: Sequence[str],
    alpha: float,
    correction: str,
    thresholds: Mapping[str, float | None] | None,
) -> tuple[float, str, dict[str, float | None]]:
    """Validate the settings shared by [`DriftProfile.evaluate`][] and the monitor."""
    if isinstance(tests, str) or not all(t in TESTS for t in tests) or not tests:
        raise ConfigurationError(
            f"The 'tests' parameter of {owner} must be a non-empty sequence of {list(TESTS)}. "
            f"Got {tests!r} instead."
        )
    alpha = _check_unit(owner, "alpha", alpha)
    if correction not in CORRECTIONS:
        raise ConfigurationError(
            f"The 'correction' parameter of {owner} must be one of {list(CORRECTIONS)}. "
            f"Got {correction!r} instead."
        )
    limits = dict(DEFAULT_THRESHOLDS)
    for name, value in (thresholds or {}).items():
        if name not in DEFAULT_THRESHOLDS or (
            value is not None
            and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0)
        ):
            raise ConfigurationError(
                f"The 'thresholds' parameter of {owner} maps 'psi', 'wasserstein' or 'js' to a "
                f"positive float or None. Got {name!r}: {value!r}."
            )
        limits[name] = None if value is None else float(value)
    return alpha, correction, limits


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
) -> bool:
    """KS verdict from bounds ``low <= D <= high``; ``exact()`` gives the slot counts."""
    if _ks_asymptotic(method, n, f.m) and correction in ("bonferroni", "none"):
        level = alpha / m_tests if correction == "bonferroni" else alpha
        critical = _ks_critical(_ks_sizes(n, f.m), level)
        if high < critical * (1.0 - _BAND):
            return False
        if low > critical * (1.0 + _BAND):
            return True
    _, p = _ks(f, exact(), n, method)
    return _p_flag(p, m_tests, alpha, correction)


def _distance_flag(name: str, value: float, limits: Mapping[str, float | None]) -> bool:
    limit = limits.get(name)
    return limit is not None and value > limit


def drifted_features(
    profile: DriftProfile,
    state: WindowState,
    *,
    tests: Sequence[str],
    alpha: float,
    correction: str,
    limits: Mapping[str, float | None],
    ks_method: str,
) -> list[str]:
    """The ``drifted_features`` of ``profile.evaluate(state, ...)``, computed faster.

    P-values are computed only near the critical value; distances without a threshold
    are not computed at all. Benjamini-Hochberg needs every p-value: it evaluates.
    """
    if correction == "bh":
        report = profile.evaluate(
            state,
            tests=tests,
            alpha=alpha,
            correction=correction,
            thresholds=limits,
            ks_method=ks_method,
        )
        return report.drifted_features
    seen = [(i, f, int(state.counts[i].sum())) for i, f in enumerate(profile._all_features())]
    seen = [(i, f, n) for i, f, n in seen if n > 0]
    m_tests = sum(
        1 for _, f, _ in seen if ("ks" in tests if isinstance(f, _Numeric) else "chi2" in tests)
    )
    out: list[str] = []
    for i, f, n in seen:
        counts = state.counts[i]
        flag = False
        if isinstance(f, _Numeric):
            if "ks" in tests:
                d = _ks_statistic(f, counts, n)
                flag = _ks_drifted(
                    f, n, d, d, m_tests, alpha, correction, ks_method, lambda c=counts: c
                )
            sums = state.sums[i]
            if (
                not flag
                and "wasserstein" in tests
                and limits.get("wasserstein") is not None
                and sums is not None
            ):
                flag = _distance_flag("wasserstein", _wasserstein(f, counts, sums, n), limits)
            need_bins = any(t in tests and limits.get(t) is not None for t in ("psi", "js"))
            bins = f.bin_counts(counts) / n if need_bins and not flag else None
        else:
            if "chi2" in tests:
                _, p = _chi2(f.ref_counts, counts)
                flag = _p_flag(p, m_tests, alpha, correction)
            bins = counts.astype(np.float64) / n
        if not flag and bins is not None and "psi" in tests:
            flag = _distance_flag("psi", _psi(f.ref_bins, bins), limits)
        if not flag and bins is not None and "js" in tests:
            flag = _distance_flag("js", _js(f.ref_bins, bins), limits)
        if flag:
            out.append(f.name)
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
    edges: NDArray[np.float64]  # PSI bin edges
    base: NDArray[np.intp]  # (size,) edges in lower bins
    hit: NDArray[np.bool_]  # (size,) bins holding an edge: their values are searched

    @property
    def size(self) -> int:
        return self.k + 2

    def bins(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        t = (x - self.lo) * self.scale
        np.clip(t, -1.0, float(self.k), out=t)
        return t.astype(np.intp) + 1

    @classmethod
    def of(cls, f: _Numeric, k: int = 256) -> _Coarse:
        lo, hi = float(f.grid[0]), float(f.grid[-1])
        scale = k / (hi - lo) if hi > lo else 0.0
        part = cls(lo, scale, k, np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.intp),
                   np.zeros(0, bool))  # fmt: skip
        ref_mass = np.diff(np.concatenate(([0], f.cum)))
        ref = np.cumsum(np.bincount(part.bins(f.grid.copy()), ref_mass, part.size))
        edges = f.grid[f.edge_idx]
        edge_bins = part.bins(edges.copy())
        base = np.searchsorted(np.sort(edge_bins), np.arange(part.size), side="left")
        hit = np.zeros(part.size, dtype=bool)
        hit[edge_bins] = True
        return cls(lo, scale, k, np.rint(ref).astype(np.int64), edges, base, hit)


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
) -> list[list[str]] | None:
    """``drifted_features`` of many windows of one batch, without a state per window.

    Args:
        profile: the reference.
        columns: per profiled feature and output, its ``(n_rows,)`` values in row order
            (numbers for numeric features, slot codes for categorical ones), or None.
        starts: ``(n_buckets + 1,)`` first row of each bucket, then the number of rows.
        windows: ``(first, stop)`` bucket ranges, one per window.
        tests, alpha, correction, limits, ks_method: as in `DriftProfile.evaluate`.
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

    def per_window(codes: NDArray[np.intp], size: int) -> NDArray[np.int64]:
        """(n_windows, size) counts of codes ``< size`` (codes == size are left out)."""
        flat = np.bincount(bucket * (size + 1) + codes, minlength=n_buckets * (size + 1))
        table = flat.reshape(n_buckets, size + 1)[:, :size]
        acc = np.concatenate((np.zeros((1, size), np.int64), np.cumsum(table, axis=0)))
        out: NDArray[np.int64] = acc[stop] - acc[first]
        return out

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
            finite = np.isfinite(x)
            codes = np.full(x.size, part.size, dtype=np.intp)
            codes[finite] = part.bins(x[finite])
            hist = per_window(codes, part.size)
            n = hist.sum(axis=1)
            n_seen[i] = n
            ok = n > 0
            safe = np.where(ok, n, 1)[:, None]
            if "ks" in tests:
                fw = np.cumsum(hist, axis=1) / safe
                fr = part.ref / f.m
                fw_prev = np.concatenate((np.zeros((n_windows, 1)), fw[:, :-1]), axis=1)
                fr_prev = np.concatenate(([0.0], fr[:-1]))
                ks_low[i] = np.abs(fw - fr).max(axis=1)
                ks_high[i] = np.maximum((fw - fr_prev).max(axis=1), (fr - fw_prev).max(axis=1))
            if psi_limit is not None:
                psi_codes = np.full(x.size, part.edges.size + 1, dtype=np.intp)
                psi_codes[finite] = part.base[codes[finite]]
                near = finite & part.hit[np.minimum(codes, part.size - 1)]
                psi_codes[near] = np.searchsorted(part.edges, x[near], side="right")
                bins = per_window(psi_codes, part.edges.size + 1) / safe
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
                if "chi2" in tests:
                    ps.append(_chi2(f.ref_counts, counts[w])[1])
                bins_w = counts[w].astype(np.float64) / n[w]
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
            or (ks_method == "auto" and f.m > _KS_EXACT_MAX)
            or (ks_method == "auto" and bool((n_i > _KS_EXACT_MAX).all()))
        )
        if not asymp:  # exact p-values: decided one window at a time
            undecided[i] = (n_i > 0) & ~flags[i]
            continue
        levels = (
            alpha / np.maximum(m_tests, 1)
            if correction == "bonferroni"
            else np.full(n_windows, alpha)
        )
        keys = np.stack((n_i.astype(np.float64), levels))
        uniq, inverse = np.unique(keys, axis=1, return_inverse=True)
        table = np.array(
            [
                _ks_critical(_ks_sizes(int(n), f.m), float(level)) if n > 0 else np.inf
                for n, level in uniq.T.tolist()
            ]
        )
        critical = table[inverse.reshape(-1)]
        sure = low > critical * (1.0 + _BAND)
        maybe = ~sure & ~(ks_high[i] < critical * (1.0 - _BAND))
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
            lambda c=counts: c,
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
