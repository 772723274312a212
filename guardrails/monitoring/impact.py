"""Drift impact: rank drifted features by how much their drift moves the model's outputs.

A feature can drift without mattering (the model ignores it) and a small drift can
matter a lot. [`rank_impact`][] estimates, per feature, what the drift does to the
model: it swaps that feature's current values back to the reference's quantiles
(rank-preserving: the window's k-th smallest value becomes the reference's value at the
same rank), keeps every other feature as it is, and measures how far the model's
answers move: the share of rows whose predicted class changes (or, for a regressor, the
mean absolute change in units of the predictions' spread) and the mean change in
confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.monitoring.drift import DriftProfile
from guardrails.monitoring.reference import _Categorical, _columns, _Numeric

__all__ = ["FeatureImpact", "ImpactReport", "rank_impact"]


@dataclass(frozen=True)
class FeatureImpact:
    """What one feature's drift does to the model's outputs.

    Attributes:
        feature: the feature's name.
        prediction_shift: share of rows whose predicted class changes when the feature is
            swapped back to the reference (classifier), or the mean absolute change of the
            prediction in units of its standard deviation on the window (regressor).
        confidence_shift: mean change in confidence (top-class probability), swapped
            minus current: positive when the drift makes the model less sure; 0 for a
            regressor.
    """

    feature: str
    prediction_shift: float
    confidence_shift: float


@dataclass(frozen=True)
class ImpactReport:
    """Features ranked by the impact of their drift, largest first.

    Attributes:
        features: one entry per feature examined, sorted by ``prediction_shift`` then
            by the size of ``confidence_shift``.
        rows: rows of the window examined.
    """

    features: tuple[FeatureImpact, ...]
    rows: int

    @property
    def ranking(self) -> list[str]:
        """Feature names, the one whose drift moves the outputs most first."""
        return [f.feature for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": [
                {
                    "feature": f.feature,
                    "prediction_shift": f.prediction_shift,
                    "confidence_shift": f.confidence_shift,
                }
                for f in self.features
            ],
        }

    def table(self) -> str:
        """One line per feature: the impact of its drift."""
        width = max([len("feature")] + [len(f.feature) for f in self.features])
        out = [f"{'feature'.ljust(width)}  prediction_shift  confidence_shift"]
        out.append("-" * len(out[0]))
        for f in self.features:
            out.append(
                f"{f.feature.ljust(width)}  {f.prediction_shift:16.4f}  {f.confidence_shift:+16.4f}"
            )
        out.append(f"({self.rows} rows; each feature swapped back to the reference's quantiles)")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def _outputs(model: Any, X: Any) -> tuple[NDArray[Any], NDArray[np.float64] | None]:
    """Predicted class and confidence (classifier), or the prediction and None."""
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    elif callable(model):
        proba = np.asarray(model(X))
    else:
        raise ConfigurationError(
            "The 'model' parameter of rank_impact must have predict_proba or be a callable "
            f"returning (n_samples, n_classes) probabilities or (n_samples,) predictions. "
            f"Got {type(model).__name__}."
        )
    if proba.ndim == 2 and proba.shape[1] > 1:
        return proba.argmax(axis=1), proba.max(axis=1)
    return proba.reshape(-1).astype(np.float64), None


def _to_reference(f: _Numeric | _Categorical, values: NDArray[Any]) -> NDArray[Any]:
    """``values`` mapped, rank for rank, onto the reference's quantiles."""
    n = values.shape[0]
    order = np.argsort(values, kind="stable")
    levels = (np.arange(n) + 0.5) / n
    out = np.empty(n, dtype=np.float64 if isinstance(f, _Numeric) else object)
    if isinstance(f, _Numeric):
        pos = np.searchsorted(f.cum / f.m, levels, side="left")
        out[order] = f.grid[np.minimum(pos, f.grid.size - 1)]
    else:
        share = np.cumsum(f.ref_bins[:-1])
        pos = np.searchsorted(share / share[-1], levels, side="left")
        out[order] = f.categories[np.minimum(pos, f.categories.size - 1)]
    return out


def rank_impact(
    model: Any,
    X: Any,
    profile: DriftProfile,
    *,
    features: Sequence[str] | None = None,
) -> ImpactReport:
    """Rank features by how much their drift moves the model's outputs on window ``X``.

    Args:
        model: an estimator with ``predict_proba``, or a callable returning
            ``(n_samples, n_classes)`` probabilities or ``(n_samples,)`` predictions.
        X: ``(n_samples, n_features)`` current rows (array, data frame or dict records, in
            the profile's column order for an array).
        profile: the reference, from [`DriftProfile.from_data`][].
        features: the features to examine, e.g. ``report.drifted_features`` (default:
            every profiled input feature). Each costs one model call on ``X``.

    Returns:
        The [`ImpactReport`][], largest impact first.

    Raises:
        InvalidInputError: ``X`` is empty or lacks a feature.
        ConfigurationError: an unknown feature name or an unusable model.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import DriftProfile, rank_impact
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(3000, 3)); y = (X[:, 0] > 0).astype(int)
        >>> model = LogisticRegression().fit(X, y)
        >>> profile = DriftProfile.from_data(X)
        >>> current = rng.normal(size=(2000, 3)) + [0.5, 0.5, 0.0]  # x0 matters, x1 not
        >>> rank_impact(model, current, profile, features=["x0", "x1"]).ranking
        ['x0', 'x1']
    """
    names = profile.feature_names
    wanted = list(names) if features is None else [str(f) for f in features]
    unknown = [f for f in wanted if f not in names]
    if unknown:
        raise ConfigurationError(
            f"The 'features' parameter of rank_impact names unknown features {unknown[:5]}; "
            f"the profile has {names[:10]}."
        )
    given, cols = _columns(X, names)
    if not cols or len(cols[0]) == 0:
        raise InvalidInputError("rank_impact needs current rows; got an empty batch.")
    by_name = dict(zip(given, cols))
    missing = [f for f in wanted if f not in by_name]
    if missing:
        raise InvalidInputError(f"the batch lacks feature(s) {missing[:5]}.")
    is_frame = hasattr(X, "columns") and hasattr(X, "iloc")
    base_pred, base_conf = _outputs(model, X)
    spread = float(np.std(base_pred)) if base_conf is None else 1.0
    rows = len(cols[0])
    out: list[FeatureImpact] = []
    for name in wanted:
        f = profile.features[names.index(name)]
        column = by_name[name]
        if isinstance(f, _Numeric):
            column = np.asarray(column, dtype=np.float64)
        swapped_col = _to_reference(f, column)
        swapped: Any
        if is_frame:
            swapped = X.copy()
            swapped[name] = swapped_col
        elif isinstance(X, dict):
            swapped = dict(X)
            swapped[name] = swapped_col
        elif isinstance(X, (list, tuple)):
            swapped = [{**row, name: v} for row, v in zip(X, swapped_col.tolist())]
        else:
            swapped = np.array(X, copy=True)
            swapped[:, names.index(name)] = swapped_col
        pred, conf = _outputs(model, swapped)
        if base_conf is None or conf is None:
            change = float(np.mean(np.abs(pred - base_pred))) / (spread if spread > 0 else 1.0)
            out.append(FeatureImpact(name, change, 0.0))
        else:
            moved = float(np.mean(pred != base_pred))
            out.append(FeatureImpact(name, moved, float(np.mean(conf - base_conf))))
    out.sort(key=lambda f: (-f.prediction_shift, -abs(f.confidence_shift)))
    return ImpactReport(tuple(out), rows)
