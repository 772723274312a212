"""Non-parametric calibrators: isotonic regression and histogram binning, one-vs-rest.

- [`IsotonicCalibration`][]: a monotone step-and-ramp map of each class's probability,
  one-vs-rest, renormalised.
- [`HistogramBinning`][]: the observed frequency in equal-mass (or equal-width) bins
  of each class's probability, one-vs-rest, renormalised.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.calibration.base import (
    ISOTONIC_MIN_SAMPLES,
    Calibrator,
    _combine,
    _one_vs_rest_targets,
    _ovr_proba,
    _split_ragged,
    _stack_ragged,
)
from guardrails.calibration.metrics import Strategy, _check_bins, bin_edges
from guardrails.core.errors import GuardrailsWarning
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder


__all__ = [
    "HistogramBinning",
    "IsotonicCalibration",
]


@persistable
class IsotonicCalibration(Calibrator):
    """Isotonic regression of each class's probability, one-vs-rest, renormalised.

    Works on ``p = softmax(z)`` (so a model's own probabilities are used as they are);
    between calibration points the map is linear, outside them it is clipped. Flexible
    but data-hungry: with under 1,000 calibration rows it overfits, and fitting warns.

    Fitted attributes:
        thresholds_: per one-vs-rest problem, ``(m_j,)`` increasing input probabilities.
        values_: per one-vs-rest problem, ``(m_j,)`` calibrated probabilities there.
        n_classes_: number of classes.
    """

    thresholds_: list[NDArray[np.float64]]
    values_: list[NDArray[np.float64]]

    def _fit(self, Z: NDArray[np.float64], idx: NDArray[np.intp]) -> None:
        from sklearn.isotonic import IsotonicRegression

        if Z.shape[0] < ISOTONIC_MIN_SAMPLES:
            warnings.warn(
                f"IsotonicCalibration is fitted on {Z.shape[0]} rows; under "
                f"{ISOTONIC_MIN_SAMPLES} it tends to overfit. Prefer 'temperature' or "
                "'sigmoid', or collect more held-out data.",
                GuardrailsWarning,
                stacklevel=3,
            )
        P = _ovr_proba(Z)
        self.thresholds_, self.values_ = [], []
        for j, y01 in enumerate(_one_vs_rest_targets(idx, Z.shape[1])):
            iso = IsotonicRegression(out_of_bounds="clip").fit(P[:, j], y01)
            self.thresholds_.append(np.asarray(iso.X_thresholds_, dtype=np.float64))
            self.values_.append(np.asarray(iso.y_thresholds_, dtype=np.float64))

    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        P = _ovr_proba(Z)
        q = np.empty_like(P)
        for j in range(P.shape[1]):
            q[:, j] = np.interp(P[:, j], self.thresholds_[j], self.values_[j])
        return _combine(q, Z.shape[1])

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        if not self.is_fitted():
            return {}
        x, offsets = _stack_ragged(self.thresholds_)
        y, _ = _stack_ragged(self.values_)
        return {
            "thresholds": enc.array(x),
            "values": enc.array(y),
            "offsets": enc.array(offsets),
            "n_classes": self.n_classes_,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> IsotonicCalibration:
        out = cls()
        if "thresholds" in state:
            offsets = dec.required_array(state["offsets"])
            out.thresholds_ = _split_ragged(dec.required_array(state["thresholds"]), offsets)
            out.values_ = _split_ragged(dec.required_array(state["values"]), offsets)
            out.n_classes_ = int(state["n_classes"])
        return out


@persistable
class HistogramBinning(Calibrator):
    """Histogram binning: each class's probability maps to the observed frequency of its bin.

    One-vs-rest on ``p = softmax(z)``, renormalised for multiclass. Bins are equal-mass
    (``strategy="quantile"``, the default) or equal-width (``"uniform"``); an empty bin
    keeps its midpoint as its value. The output takes at most ``bins`` distinct values
    per class, which is coarse but hard to fool.

    Args:
        bins: number of bins per class.
        strategy: ``"quantile"`` (equal mass) or ``"uniform"`` (equal width).

    Fitted attributes:
        edges_: per one-vs-rest problem, ``(m_j + 1,)`` bin edges.
        values_: per one-vs-rest problem, ``(m_j,)`` calibrated probability of each bin.
        n_classes_: number of classes.
    """

    edges_: list[NDArray[np.float64]]
    values_: list[NDArray[np.float64]]

    def __init__(self, *, bins: int = 10, strategy: Strategy = "quantile") -> None:
        _check_bins(bins, strategy, "HistogramBinning")
        self.bins = int(bins)
        self.strategy: Strategy = strategy

    def _fit(self, Z: NDArray[np.float64], idx: NDArray[np.intp]) -> None:
        P = _ovr_proba(Z)
        self.edges_, self.values_ = [], []
        for j, y01 in enumerate(_one_vs_rest_targets(idx, Z.shape[1])):
            edges = bin_edges(P[:, j], self.bins, self.strategy)
            m = edges.size - 1
            which = np.searchsorted(edges[1:-1], P[:, j], side="left")
            counts = np.bincount(which, minlength=m)
            hits = np.bincount(which, weights=y01, minlength=m)
            middle = 0.5 * (edges[:-1] + edges[1:])
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(counts > 0, hits / np.maximum(counts, 1), middle)
            self.edges_.append(edges)
            self.values_.append(values.astype(np.float64))

    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        P = _ovr_proba(Z)
        q = np.empty_like(P)
        for j in range(P.shape[1]):
            which = np.searchsorted(self.edges_[j][1:-1], P[:, j], side="left")
            q[:, j] = self.values_[j][which]
        return _combine(q, Z.shape[1])

    def __repr__(self) -> str:
        return f"HistogramBinning(bins={self.bins!r}, strategy={self.strategy!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {"bins": self.bins, "strategy": self.strategy}
        if self.is_fitted():
            edges, edge_offsets = _stack_ragged(self.edges_)
            values, value_offsets = _stack_ragged(self.values_)
            state.update(
                edges=enc.array(edges),
                edge_offsets=enc.array(edge_offsets),
                values=enc.array(values),
                value_offsets=enc.array(value_offsets),
                n_classes=self.n_classes_,
            )
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> HistogramBinning:
        out = cls(bins=int(state["bins"]), strategy=state["strategy"])
        if "edges" in state:
            out.edges_ = _split_ragged(
                dec.required_array(state["edges"]), dec.required_array(state["edge_offsets"])
            )
            out.values_ = _split_ragged(
                dec.required_array(state["values"]), dec.required_array(state["value_offsets"])
            )
            out.n_classes_ = int(state["n_classes"])
        return out
