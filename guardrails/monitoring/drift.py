"""Drift profiles: the reference built once from training data, and windows compared with it.

A [`DriftProfile`][] is built once from training data, from every row: per numeric
feature the exact sorted column or a quantile summary with exact ranks (see
`guardrails.monitoring.reference`) and quantile bins with the training data's proportions
(PSI, Jensen-Shannon); per categorical feature the category frequencies plus an
"unseen" bucket. Optionally it profiles the model's outputs too: predictions, confidence
and the abstention rate.

Current data goes into a [`WindowState`][]: integer counts (and sums) on the profile's
grid. States add ([`WindowState.merge`][]), so workers or partitions can each fill one
and combine them; the merged state is exactly the state of the concatenated data.
[`DriftProfile.evaluate`][] turns a state into a [`DriftReport`][]; the batch path
[`DriftProfile.compare`][] does both in one call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core import persistence
from guardrails.core.checks import check_unit
from guardrails.core.errors import ArtifactError, ConfigurationError, InvalidInputError
from guardrails.monitoring.reference import (
    _PVALUE_TESTS,
    COARSE,
    CORRECTIONS,
    DEFAULT_THRESHOLDS,
    KS_METHODS,
    MIN_EFFECT,
    PSI_EPS,
    TESTS,
    WASSERSTEIN_FLOOR,
    _as_float,
    _Categorical,
    _categorical_reference,
    _check_int,
    _coarse_bins,
    _columns,
    _Feature,
    _is_numeric,
    _Numeric,
    _numeric_reference,
)
from guardrails.monitoring.results import DriftReport, FeatureDrift, TestResult
from guardrails.monitoring.statistics import (
    _chi2,
    _js,
    _ks,
    _ks_statistic,
    _psi,
    _tv,
    _wasserstein,
    adjust_pvalues,
)
from guardrails.monitoring.window import WindowState

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

# constants of the reference, importable from here as from the single module of old
_REEXPORTED = (COARSE, DEFAULT_THRESHOLDS, KS_METHODS, MIN_EFFECT, PSI_EPS, WASSERSTEIN_FLOOR)


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
        """The sorted reference of numeric ``feature`` as the profile keeps it.

        Returns:
            ``(n_ref,)`` sorted values, one per finite reference row: the exact column when
            it had at most ``sample_size`` distinct values, else each value replaced by the
            nearest kept point at or above it (the quantile summary).
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
        random_state: int | None = None,
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
            sample_size: points kept per numeric feature, with their exact ranks among
                *all* reference rows. A column with at most this many distinct values is
                kept exactly (KS and Wasserstein are then exact); a larger one is kept as
                a quantile summary of this many values at equal ranks (plus the bin
                edges), whose KS statistic is at most ``1 / sample_size`` (plus ties)
                below the exact one, so its p-values are never smaller than the exact
                ones (no added false alarms) and power comes from every reference row.
                Memory: about ``16 * sample_size`` bytes per feature in the profile and
                ``32 * sample_size`` in each window state.
            random_state: accepted for compatibility and ignored: the profile no longer
                samples, so it is the same for every seed.

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
                        _numeric_reference(name, col.astype(np.float64), n_bins, sample_size)
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
                    "prediction", _as_float(pred, "prediction"), n_bins, sample_size
                )
            else:
                out = _categorical_reference("prediction", pred)
            outputs.append(out)
        if confidence is not None:
            conf = _as_float(np.asarray(confidence), "confidence")
            outputs.append(_numeric_reference("confidence", conf, n_bins, sample_size))
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
                state._blocks_fresh = False
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
        min_effect: float = MIN_EFFECT,
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
            min_effect: see [`evaluate`][].

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
            min_effect=min_effect,
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
        min_effect: float = MIN_EFFECT,
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
                values, else asymptotic), "exact" or "asymp" (fastest). A reference kept
                as a quantile summary always gets asymptotic p-values.
            min_effect: the effect size (see [`TestResult`][]) a KS or chi-square test
                needs besides significance to flag a feature. With enough rows every
                tiny shift is significant; the default 0.02 (`MIN_EFFECT`) keeps a
                100,000-row window of an unshifted stream quiet while a shift that moves
                a model's accuracy (0.2 sd moves about 0.08 of the mass) is flagged.
                0 gives pure significance tests.

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
        min_effect = check_min_effect("DriftProfile", min_effect)
        if not isinstance(state, WindowState) or not self.same_as(state.profile):
            raise ConfigurationError("evaluate() needs a WindowState of this DriftProfile.")
        return self._report(state, tests, alpha, correction, limits, ks_method, None, min_effect)

    def _report(
        self,
        state: WindowState,
        tests: Sequence[str],
        alpha: float,
        correction: str,
        limits: Mapping[str, float | None],
        ks_method: str,
        only: Sequence[str] | None,
        min_effect: float = 0.0,
    ) -> DriftReport:
        """The report, or with ``only`` (Bonferroni or no correction) the entries of those
        features alone, as the full report has them; the others only count as tests."""
        keep = None if only is None or correction == "bh" else frozenset(only)
        raw: list[tuple[_Feature, str, int, dict[str, tuple[float, float | None]], float]] = []
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
                raw.append((f, group, -1, res, 0.0))
                continue
            current = counts.astype(np.float64)
            if isinstance(f, _Numeric):
                bins = f.bin_counts(counts) / n
                if "ks" in tests:
                    res["ks"] = _ks(f, counts, n, ks_method)
                    effect = res["ks"][0]
                else:
                    effect = _ks_statistic(f, counts, n)
                if "wasserstein" in tests:
                    sums = state.sums[i]
                    if sums is not None:
                        res["wasserstein"] = (_wasserstein(f, counts, sums, n), None)
            else:
                bins = current / n
                effect = _tv(f.ref_bins, bins)
                if "chi2" in tests:
                    res["chi2"] = _chi2(f.ref_counts, counts)
            if "psi" in tests:
                res["psi"] = (_psi(f.ref_bins, bins), None)
            if "js" in tests:
                res["js"] = (_js(f.ref_bins, bins), None)
            raw.append((f, group, n, res, effect))
        pvals = [r[name][1] for _, _, _, r, _ in raw for name in r if name in _PVALUE_TESTS]
        adjusted = iter(adjust_pvalues(np.array(pvals, dtype=np.float64), correction).tolist())
        out: list[FeatureDrift] = []
        for f, group, n, res, effect in raw:
            if n < 0:
                for _ in res:
                    next(adjusted)
                continue
            results: dict[str, TestResult] = {}
            for name, (statistic, p) in res.items():
                if name in _PVALUE_TESTS:
                    adj = next(adjusted)
                    flag = adj <= alpha and effect >= min_effect
                    results[name] = TestResult(statistic, p, adj, alpha, bool(flag), effect)
                else:
                    limit = limits.get(name)
                    flag = limit is not None and statistic > limit
                    results[name] = TestResult(statistic, None, None, limit, bool(flag), effect)
            out.append(
                FeatureDrift(
                    feature=f.name,
                    kind=f.kind,
                    group=group,
                    n=n,
                    tests=results,
                    drifted=any(t.drifted for t in results.values()),
                    effect=effect,
                )
            )
        return DriftReport(tuple(out), alpha, correction, state.rows, min_effect)

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
                    "lt": enc.array(f.lt),
                    "coarse": enc.array(f.coarse),
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
                grid = dec.required_array(s["grid"]).astype(np.float64)
                cum = dec.required_array(s["cum"]).astype(np.int64)
                edge_idx = dec.required_array(s["edge_idx"]).astype(np.intp)
                ref_bins = dec.required_array(s["ref_bins"]).astype(np.float64)
                if "lt" in s:
                    lt = dec.required_array(s["lt"]).astype(np.int64)
                    coarse = dec.required_array(s["coarse"]).astype(np.int64)
                else:  # saved before 0.x: an exact grid of a sample, bins without outer ones
                    lt = np.concatenate(([0], cum[:-1])).astype(np.int64)
                    ref_bins = np.concatenate(([0.0], ref_bins, [0.0]))
                    mass = np.diff(np.concatenate(([0], cum)))
                    lo, hi = (float(grid[0]), float(grid[-1])) if grid.size else (0.0, 0.0)
                    coarse = np.cumsum(
                        np.bincount(_coarse_bins(lo, hi, grid.copy()), mass, COARSE + 2)
                    ).astype(np.int64)
                num = _Numeric(
                    name=str(s["name"]),
                    grid=grid,
                    cum=cum,
                    edge_idx=edge_idx,
                    ref_bins=ref_bins,
                    std=float(s["std"]),
                    n_ref=int(s["n_ref"]),
                    lt=lt,
                    coarse=coarse,
                )
                ok = (
                    num.grid.ndim == 1
                    and num.grid.size > 0
                    and num.cum.shape == num.grid.shape
                    and num.lt.shape == num.grid.shape
                    and num.coarse.shape == (COARSE + 2,)
                    and bool(np.all(np.diff(num.grid) > 0))
                    and bool(np.all(np.diff(num.cum) > 0))
                    and bool(np.all(num.lt < num.cum))
                    and bool(np.all(num.lt[1:] >= num.cum[:-1]))
                    and num.ref_bins.size == num.edge_idx.size + 3
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
    alpha = check_unit(owner, "alpha", alpha, interval="(0, 1)")
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


def check_min_effect(owner: str, value: Any) -> float:
    """Validate ``min_effect``: a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigurationError(
            f"The 'min_effect' parameter of {owner} must be a float in [0, 1). "
            f"Got {value!r} instead."
        )
    return float(value)
