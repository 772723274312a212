"""Calibration: calibrators that turn scores into honest probabilities, and the Calibrated layer.

A calibrator is fitted on held-out data of an already-trained model. Every calibrator
takes *scores*: logits, log-probabilities or margins, ``(n_samples, n_classes)``, or
``(n_samples,)`` margins of the positive class of a binary problem (read as the two
logits ``[0, s]``). To calibrate probabilities ``p``, pass ``np.log(p)``; the
[`Calibrated`][] layer does this for you. ``transform`` always returns probabilities
``(n_samples, n_classes)``.

- [`TemperatureScaling`][]: ``softmax(z / T)``, one parameter, fitted by minimising the
  negative log-likelihood exactly (the loss is convex in ``1 / T``).
- [`PlattScaling`][]: a sigmoid ``1 / (1 + exp(-(a s + b)))`` of each class's
  one-vs-rest logit ``s``, with Platt's prior-corrected targets; renormalised.
- [`IsotonicCalibration`][]: a monotone step-and-ramp map of each class's probability,
  one-vs-rest, renormalised.
- [`HistogramBinning`][]: the observed frequency in equal-mass (or equal-width) bins
  of each class's probability, one-vs-rest, renormalised.
- [`VectorScaling`][]: ``softmax(w * z + b)``, a scale and a bias per class.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from guardrails.calibration.metrics import (
    Strategy,
    _check_bins,
    _prepare,
    bin_edges,
    brier_score,
    classwise_calibration_error,
    label_indices,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)
from guardrails.core.decisions import Decisions
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.layer import Call, Layer, _is_frame
from guardrails.core.parameters import HasParams
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.core.rowwise import all_finite, row_argmax, row_max, row_pick, row_sum

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "METHODS",
    "Calibrated",
    "CalibrationReport",
    "CalibrationScores",
    "Calibrator",
    "HistogramBinning",
    "IsotonicCalibration",
    "PlattScaling",
    "TemperatureScaling",
    "VectorScaling",
    "calibration_report",
    "logits_from_proba",
]


def softmax(Z: NDArray[np.float64], axis: int = 1) -> NDArray[np.float64]:
    """``exp(Z) / sum(exp(Z))`` along ``axis``, shifted by the maximum (scipy's formula,
    without importing scipy on the request path)."""
    if axis == 1 and Z.ndim == 2 and Z.shape[0] == 1 and 0 < Z.shape[1] < 8:
        row = Z[0].tolist()
        if all(math.isfinite(v) for v in row):  # one row: max and sum in Python, same values
            E1: NDArray[np.float64] = np.exp(Z - max(row))
            e = E1[0].tolist()
            total = e[0]
            for v in e[1:]:  # in order, as numpy adds fewer than eight values
                total += v
            E1 /= total
            return E1
    if axis == 1 and Z.ndim == 2 and Z.shape[1]:  # column by column: same values, faster
        E: NDArray[np.float64] = np.exp(Z - row_max(Z)[:, np.newaxis])
        E /= row_sum(E)[:, np.newaxis]
        return E
    E = np.exp(Z - Z.max(axis=axis, keepdims=True))
    E /= E.sum(axis=axis, keepdims=True)
    return E


def expit(x: Any) -> Any:
    """The logistic function, scipy's ``expit`` (scipy loads on first use, not on import)."""
    from scipy.special import expit as _expit

    return _expit(x)


Method = Literal["temperature", "sigmoid", "isotonic", "histogram", "vector"]
METHODS: tuple[str, ...] = ("temperature", "sigmoid", "isotonic", "histogram", "vector")
"""Calibration methods that [`Calibrated`][] and ``.calibrate()`` accept by name."""

LOG_EPS = 1e-12
"""Added to probabilities before the log, so that a probability of 0 becomes a finite logit
(the same constant scikit-learn's temperature scaling uses)."""
ISOTONIC_MIN_SAMPLES = 1000
"""Below this many calibration rows isotonic regression overfits; a warning says so."""
_TRAINING_OVERLAP = 0.5
_CERTAIN = 0.99
_MAX_INVERSE_TEMPERATURE = 1e8


def logits_from_proba(proba: NDArray[np.float64]) -> NDArray[np.float64]:
    """Log-probabilities ``log(p + 1e-12)`` to use as logits; shape is kept."""
    Z = np.asarray(proba, dtype=np.float64) + LOG_EPS
    np.log(Z, out=Z)
    return Z


# -- shared helpers ------------------------------------------------------------------------


def _as_scores(scores: Any, owner: str) -> tuple[NDArray[np.float64], bool]:
    """Scores as ``(n, k)`` logits (binary margins become ``[0, s]``), and whether they
    look like probabilities."""
    arr = np.asarray(scores)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{owner} needs numeric scores. Got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        looks = bool(arr.size) and bool(arr.min() >= 0 and arr.max() <= 1)
        arr = np.column_stack([np.zeros_like(arr), arr])
    elif arr.ndim == 2 and arr.shape[1] >= 2:
        looks = (
            bool(arr.size)
            and bool(arr.min() >= 0 and arr.max() <= 1)
            and bool(np.allclose(arr.sum(axis=1), 1.0, atol=1e-6))
        )
    else:
        raise InvalidInputError(
            f"{owner} needs scores of shape (n_samples, n_classes) with n_classes >= 2, or "
            f"(n_samples,) margins for a binary problem. Got shape {np.shape(scores)}."
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError(
            f"{owner} got NaN or infinite scores; drop those rows first (the Calibrated layer "
            "leaves them out)."
        )
    return arr, looks


def _ovr_logits(Z: NDArray[np.float64]) -> NDArray[np.float64]:
    """One-vs-rest logit of each class, ``log(p_j / (1 - p_j))`` with ``p = softmax(Z)``.

    Equals ``z_j - logsumexp(z without j)``. For two classes the single column
    ``z_1 - z_0`` is returned (the margin of the positive class).
    """
    n, k = Z.shape
    if k == 2:
        return Z[:, 1:] - Z[:, :1]
    rows = np.arange(n)
    first = np.argmax(Z, axis=1)
    m1 = Z[rows, first]
    masked = Z.copy()
    masked[rows, first] = -np.inf
    m2 = masked.max(axis=1)
    # without the top class: every term is at most 1 after shifting by the second largest
    lse_without_top = m2 + np.log(np.exp(masked - m2[:, None]).sum(axis=1))
    # without any other class j: the top class's term exp(0) = 1 keeps the sum >= 1, so
    # subtracting class j's own term loses no precision
    E = np.exp(Z - m1[:, None])
    with np.errstate(divide="ignore"):  # the top column may give log(0); replaced below
        others = m1[:, None] + np.log(E.sum(axis=1, keepdims=True) - E)
    others[rows, first] = lse_without_top
    return np.asarray(Z - others)


def _ovr_proba(Z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probability of each class (one column, the positive class, when binary)."""
    if Z.shape[1] == 2:
        return np.asarray(expit(Z[:, 1:] - Z[:, :1]))
    return np.asarray(softmax(Z, axis=1))


def _combine(q: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """One-vs-rest outputs ``(n, m)`` as probabilities ``(n, k)``: binary ``[1 - q, q]``,
    multiclass renormalised (uniform where every class got 0)."""
    q = np.clip(q, 0.0, 1.0)
    if k == 2:
        return np.column_stack([1.0 - q[:, 0], q[:, 0]])
    total = q.sum(axis=1, keepdims=True)
    uniform = np.full_like(q, 1.0 / k)
    return np.asarray(np.divide(q, total, out=uniform, where=total > 0))


def _one_vs_rest_targets(idx: NDArray[np.intp], k: int) -> list[NDArray[np.float64]]:
    if k == 2:
        return [(idx == 1).astype(np.float64)]
    return [(idx == j).astype(np.float64) for j in range(k)]


def _stack_ragged(parts: Sequence[NDArray[np.float64]]) -> tuple[NDArray[Any], NDArray[Any]]:
    offsets = np.cumsum([0, *(len(p) for p in parts)]).astype(np.int64)
    return np.concatenate(parts).astype(np.float64), offsets


def _split_ragged(flat: NDArray[Any], offsets: NDArray[Any]) -> list[NDArray[np.float64]]:
    return [
        np.asarray(flat[int(a) : int(b)], dtype=np.float64) for a, b in itertools.pairwise(offsets)
    ]


# -- calibrators ---------------------------------------------------------------------------


class Calibrator(HasParams, ABC):
    """Maps a trained model's scores to calibrated probabilities.

    Subclasses implement ``_fit(Z, idx)`` and ``_transform(Z)`` on ``(n, k)`` logits and
    integer targets. The ``__init__`` arguments are scikit-learn parameters
    (``get_params``/``set_params``), so ``calibration__bins`` can be grid-searched.
    """

    n_classes_: int

    def fit(self, scores: Any, y: Any) -> Self:
        """Fit on held-out scores and their true classes.

        Args:
            scores: ``(n_samples, n_classes)`` logits, log-probabilities or scores, or
                ``(n_samples,)`` margins of the positive class of a binary problem.
            y: ``(n_samples,)`` column index of the true class (0 .. n_classes - 1).

        Returns:
            self, fitted.

        Raises:
            InvalidInputError: malformed scores, NaN, labels that are not column indices,
                or no rows.

        Warns:
            GuardrailsWarning: the scores look like probabilities (pass ``np.log(p)``).
        """
        name = type(self).__name__
        Z, looks = _as_scores(scores, f"{name}.fit")
        if Z.shape[0] == 0:
            raise InvalidInputError(f"{name}.fit needs at least one row.")
        idx = label_indices(y, None, Z.shape[1])
        if idx.shape[0] != Z.shape[0]:
            raise InvalidInputError(
                f"{name}.fit got {Z.shape[0]} rows of scores but {idx.shape[0]} labels."
            )
        if looks:
            warnings.warn(
                f"{name}.fit got scores in [0, 1] that look like probabilities, but "
                "calibrators expect logits, log-probabilities or margins. Pass "
                "np.log(proba) (guardrails.logits_from_proba) instead; the Calibrated layer "
                "does this for you.",
                GuardrailsWarning,
                stacklevel=2,
            )
        self._fit(Z, idx)
        self.n_classes_ = Z.shape[1]
        return self

    def transform(self, scores: Any) -> NDArray[np.float64]:
        """Calibrated probabilities ``(n_samples, n_classes)`` for ``scores``.

        Raises:
            NotFittedError: before [`fit`][].
            InvalidInputError: malformed scores, NaN, or a different number of classes.
        """
        name = type(self).__name__
        if not self.is_fitted():
            raise NotFittedError(f"This {name} is not fitted yet. Call fit(scores, y) first.")
        Z, _ = _as_scores(scores, f"{name}.transform")
        if Z.shape[1] != self.n_classes_:
            raise InvalidInputError(
                f"{name} was fitted on {self.n_classes_} classes; got scores for {Z.shape[1]}."
            )
        if Z.shape[0] == 0:
            return np.empty((0, self.n_classes_))
        return self._transform(Z)

    def fit_transform(self, scores: Any, y: Any) -> NDArray[np.float64]:
        """[`fit`][] then [`transform`][] on the same scores."""
        return self.fit(scores, y).transform(scores)

    def is_fitted(self) -> bool:
        """True once [`fit`][] has run."""
        return hasattr(self, "n_classes_")

    @abstractmethod
    def _fit(self, Z: NDArray[np.float64], idx: NDArray[np.intp]) -> None: ...

    @abstractmethod
    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and repr(other) == repr(self)

    __hash__ = None  # type: ignore[assignment]


Derivatives = Callable[[float], tuple[float, float]]


def _temperature_derivatives(Z: NDArray[np.float64], idx: NDArray[np.intp]) -> Derivatives:
    """First and second derivative in ``beta`` of the NLL of ``softmax(beta * Z)``."""
    if Z.shape[1] == 2:  # binary: one margin per row towards the true class
        m = (Z[:, 1] - Z[:, 0]) * np.where(idx == 1, 1.0, -1.0)
        m2 = m * m

        def binary(beta: float) -> tuple[float, float]:
            q = expit(-beta * m)  # probability given to the wrong class
            return float(np.mean(-m * q)), float(np.mean(m2 * q * (1.0 - q)))

        return binary
    z_true = Z[np.arange(Z.shape[0]), idx]

    def multiclass(beta: float) -> tuple[float, float]:
        S = beta * Z
        E = np.exp(S - S.max(axis=1, keepdims=True))
        total = E.sum(axis=1)
        mean_z = np.einsum("ij,ij->i", E, Z) / total
        centred = Z - mean_z[:, None]
        var_z = np.einsum("ij,ij->i", E, centred * centred) / total
        return float(np.mean(mean_z - z_true)), float(np.mean(var_z))

    return multiclass


def _fit_inverse_temperature(derivatives: Derivatives) -> float:
    """The root of the NLL's slope in ``beta >= 0`` by safeguarded Newton steps.

    The NLL is convex in ``beta``, so its slope is increasing: a sign change brackets the
    minimum and Newton steps that leave the bracket are replaced by bisection.
    """
    slope, _ = derivatives(0.0)
    if slope >= 0:  # scores no better than uniform: the minimum is at beta <= 0
        return 0.0
    lo, hi, beta = 0.0, np.inf, 1.0
    for _ in range(200):
        slope, curvature = derivatives(beta)
        if slope == 0:
            break
        if slope > 0:
            hi = beta
        else:
            lo = beta
        candidate = beta - slope / curvature if curvature > 0 else np.inf
        if not (lo < candidate < hi):
            candidate = 0.5 * (lo + hi) if np.isfinite(hi) else 4.0 * beta
        if candidate > _MAX_INVERSE_TEMPERATURE:  # NLL falls forever: separable data
            return _MAX_INVERSE_TEMPERATURE
        done = abs(candidate - beta) <= 1e-10 * max(1.0, beta)
        beta = candidate
        if done:
            break
    return float(beta)


@persistable
class TemperatureScaling(Calibrator):
    """``softmax(z / T)`` with one temperature ``T`` fitted by minimising the NLL.

    The negative log-likelihood is convex in the inverse temperature ``1 / T``, so a
    safeguarded Newton search on it finds the exact minimum. Temperature scaling never
    changes which class ranks first; it only makes the model more (``T < 1``) or less
    (``T > 1``) confident. Binary margins ``s`` become ``sigmoid(s / T)``.

    Fitted attributes:
        temperature_: the fitted ``T`` (``inf`` when the scores carry no information about
            the labels: every row then gets the uniform distribution).
        inverse_temperature_: ``1 / T``.
        n_classes_: number of classes.

    Examples:
        >>> import numpy as np
        >>> from guardrails import TemperatureScaling
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 2000)
        >>> margin = 6.0 * (2 * y - 1) * rng.uniform(0, 1, 2000) + rng.normal(0, 3, 2000)
        >>> ts = TemperatureScaling().fit(margin, y)
        >>> bool(ts.temperature_ > 1)  # the margins were overconfident
        True
    """

    inverse_temperature_: float

    @property
    def temperature_(self) -> float:
        """The fitted temperature ``T``."""
        if not self.is_fitted():
            raise NotFittedError("This TemperatureScaling is not fitted yet.")
        beta = self.inverse_temperature_
        return float("inf") if beta == 0 else 1.0 / beta

    def _fit(self, Z: NDArray[np.float64], idx: NDArray[np.intp]) -> None:
        self.inverse_temperature_ = _fit_inverse_temperature(_temperature_derivatives(Z, idx))

    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(softmax(self.inverse_temperature_ * Z, axis=1))

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        if not self.is_fitted():
            return {}
        return {"inverse_temperature": self.inverse_temperature_, "n_classes": self.n_classes_}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> TemperatureScaling:
        out = cls()
        if "inverse_temperature" in state:
            out.inverse_temperature_ = float(state["inverse_temperature"])
            out.n_classes_ = int(state["n_classes"])
        return out


def _fit_sigmoid(
    s: NDArray[np.float64], t: NDArray[np.float64], max_iter: int = 100
) -> tuple[float, float]:
    """``(a, b)`` minimising the cross-entropy of ``sigmoid(a * s + b)`` against targets ``t``.

    Newton's method with a backtracking line search on the mean loss (convex in a, b).
    """
    scale = float(np.max(np.abs(s))) if s.size else 1.0
    scale = scale if scale > 0 else 1.0
    x = s / scale
    pos = float(t.sum())
    neg = t.size - pos
    a, b = 0.0, float(np.log((pos + 1.0) / (neg + 1.0)))

    def loss(a_: float, b_: float) -> float:
        u = a_ * x + b_
        return float(np.mean(np.logaddexp(0.0, u) - t * u))

    current = loss(a, b)
    for _ in range(max_iter):
        u = a * x + b
        q = expit(u)
        r = q - t
        w = q * (1.0 - q)
        g = np.array([np.mean(r * x), np.mean(r)])
        h = np.array(
            [[np.mean(w * x * x), np.mean(w * x)], [np.mean(w * x), np.mean(w)]]
        ) + 1e-12 * np.eye(2)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            step = g
        size = 1.0
        while True:
            na, nb = a - size * step[0], b - size * step[1]
            new = loss(na, nb)
            if new <= current - 1e-4 * size * float(g @ step) + 1e-15 or size < 1e-10:
                break
            size *= 0.5
        done = abs(current - new) <= 1e-15 * max(1.0, abs(current)) or (
            abs(na - a) + abs(nb - b) <= 1e-12
        )
        a, b, current = na, nb, new
        if done:
            break
    return a / scale, b


_Linear = TypeVar("_Linear", "PlattScaling", "VectorScaling")


def _linear_state(cal: Any, enc: Encoder, settings: dict[str, Any]) -> dict[str, Any]:
    """Settings plus the fitted ``coef_``/``intercept_``/``n_classes_`` of a linear map."""
    state = dict(settings)
    if cal.is_fitted():
        state.update(
            coef=enc.array(cal.coef_),
            intercept=enc.array(cal.intercept_),
            n_classes=cal.n_classes_,
        )
    return state


def _load_linear(out: _Linear, state: dict[str, Any], dec: Decoder) -> _Linear:
    """Give ``out`` back the fitted linear map stored by `_linear_state`."""
    if "coef" in state:
        out.coef_ = dec.required_array(state["coef"]).astype(np.float64)
        out.intercept_ = dec.required_array(state["intercept"]).astype(np.float64)
        out.n_classes_ = int(state["n_classes"])
    return out


@persistable
class PlattScaling(Calibrator):
    """Platt's sigmoid on each class's one-vs-rest logit, renormalised for multiclass.

    For a binary problem the logit is the margin ``s = z_1 - z_0`` and the calibrated
    probability of the positive class is ``1 / (1 + exp(-(a s + b)))``. For ``k > 2``
    classes each class gets its own ``(a, b)`` on ``log(p_j / (1 - p_j))`` and the outputs
    are divided by their sum. The sigmoid is fitted on logits, never on probabilities.

    Args:
        smoothing: use Platt's prior-corrected targets ``(N+ + 1) / (N+ + 2)`` and
            ``1 / (N- + 2)`` instead of 1 and 0 (a guard against certainty learned from
            calibration sets without errors). scikit-learn's "sigmoid" does the same.

    Fitted attributes:
        coef_: ``(1,)`` for binary or ``(n_classes,)`` slopes ``a``.
        intercept_: same shape, intercepts ``b``.
        n_classes_: number of classes.
    """

    coef_: NDArray[np.float64]
    intercept_: NDArray[np.float64]

    def __init__(self, *, smoothing: bool = True) -> None:
        if not isinstance(smoothing, bool):
            raise ConfigurationError(
                f"The 'smoothing' parameter of PlattScaling must be a bool. Got {smoothing!r}."
            )
        self.smoothing = smoothing

    def _fit(self, Z: NDArray[np.float64], idx: NDArray[np.intp]) -> None:
        S = _ovr_logits(Z)
        coef, intercept = [], []
        for j, y01 in enumerate(_one_vs_rest_targets(idx, Z.shape[1])):
            t = y01
            if self.smoothing:
                pos = float(y01.sum())
                neg = y01.size - pos
                t = np.where(y01 > 0, (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0))
            a, b = _fit_sigmoid(S[:, j], t)
            coef.append(a)
            intercept.append(b)
        self.coef_ = np.asarray(coef)
        self.intercept_ = np.asarray(intercept)

    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        S = _ovr_logits(Z)
        return _combine(np.asarray(expit(S * self.coef_ + self.intercept_)), Z.shape[1])

    def __repr__(self) -> str:
        return f"PlattScaling(smoothing={self.smoothing!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return _linear_state(self, enc, {"smoothing": self.smoothing})

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> PlattScaling:
        return _load_linear(cls(smoothing=bool(state["smoothing"])), state, dec)


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


@persistable
class VectorScaling(Calibrator):
    """``softmax(w * z + b)``: a scale and a bias per class, fitted by minimising the NLL.

    It contains temperature scaling (``w = 1 / T``, ``b = 0``) and can also correct a bias
    towards some classes, at the cost of ``2 * n_classes`` parameters; it may change the
    top class. The loss is convex; L-BFGS with the exact gradient minimises it, with a
    tiny ridge towards the identity (``l2``) that makes the minimum unique.

    Args:
        l2: weight of ``sum((w - 1) ** 2 + b ** 2)`` added to the mean NLL.

    Fitted attributes:
        coef_: ``(n_classes,)`` scales ``w``.
        intercept_: ``(n_classes,)`` biases ``b``.
        n_classes_: number of classes.
    """

    coef_: NDArray[np.float64]
    intercept_: NDArray[np.float64]

    def __init__(self, *, l2: float = 1e-6) -> None:
        if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
            raise ConfigurationError(
                f"The 'l2' parameter of VectorScaling must be a float >= 0. Got {l2!r} instead."
            )
        self.l2 = float(l2)

    def _fit(self, Z: NDArray[np.float64], idx: NDArray[np.intp]) -> None:
        from scipy.optimize import minimize

        n, k = Z.shape
        onehot = np.zeros_like(Z)
        onehot[np.arange(n), idx] = 1.0
        z_true = Z[np.arange(n), idx]

        def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            w, b = theta[:k], theta[k:]
            S = Z * w + b
            top = S.max(axis=1, keepdims=True)
            E = np.exp(S - top)
            total = E.sum(axis=1, keepdims=True)
            value = float(np.mean(top[:, 0] + np.log(total[:, 0]) - (z_true * w[idx] + b[idx])))
            R = E / total - onehot
            grad = np.concatenate([np.einsum("ij,ij->j", R, Z) / n, R.mean(axis=0)])
            value += self.l2 * float(np.sum((w - 1.0) ** 2) + np.sum(b**2))
            grad += 2.0 * self.l2 * np.concatenate([w - 1.0, b])
            return value, grad

        start = np.concatenate([np.ones(k), np.zeros(k)])
        result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        self.coef_ = np.asarray(result.x[:k], dtype=np.float64)
        self.intercept_ = np.asarray(result.x[k:], dtype=np.float64)

    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(softmax(Z * self.coef_ + self.intercept_, axis=1))

    def __repr__(self) -> str:
        return f"VectorScaling(l2={self.l2!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return _linear_state(self, enc, {"l2": self.l2})

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> VectorScaling:
        return _load_linear(cls(l2=float(state["l2"])), state, dec)


_BY_NAME: dict[str, type[Calibrator]] = {
    "temperature": TemperatureScaling,
    "sigmoid": PlattScaling,
    "isotonic": IsotonicCalibration,
    "histogram": HistogramBinning,
    "vector": VectorScaling,
}


def make_calibrator(method: Any, owner: str = "Calibrated") -> Calibrator:
    """A new calibrator for a method name, or ``method`` itself when it is a calibrator."""
    if isinstance(method, Calibrator):
        return method
    if isinstance(method, str) and method in _BY_NAME:
        return _BY_NAME[method]()
    raise ConfigurationError(
        f"The 'method' parameter of {owner} must be one of {list(METHODS)} or a Calibrator "
        f"such as TemperatureScaling(). Got {method!r} instead."
    )


# -- training-data detection ---------------------------------------------------------------


def row_fingerprints(X: Any) -> NDArray[np.uint64] | None:
    """A 64-bit hash per row of a numeric batch (None for batches it cannot hash cheaply)."""
    if _is_frame(X):
        try:
            X = X.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            return None
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "biuf" or X.ndim < 1:
        return None
    flat = np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float64) + 0.0
    words = flat.view(np.uint64)
    h = np.full(flat.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in words.T:
            h = (h ^ col) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
    return np.unique(h)


# -- the layer -----------------------------------------------------------------------------


@persistable
class Calibrated(PostLayer):
    """Calibrate the model's probabilities or scores before anything decides on them.

    Reads the inner decisions' ``proba`` (as log-probabilities) or ``scores`` (a binary
    ``decision_function`` arrives as the two columns ``[0, s]``) and writes calibrated
    ``proba``, ``confidence`` and ``prediction = classes[argmax(proba)]``. Rows the inner
    layer withheld without output (invalid input, model errors) pass through unchanged.

    Args:
        inner: the model or guard layer to wrap (a classifier giving proba or scores).
        method: ``"temperature"`` (default), ``"sigmoid"``, ``"isotonic"``,
            ``"histogram"``, ``"vector"``, or a [`Calibrator`][] object.
        training_data: optionally, the data the model was trained on. Only 64-bit row
            fingerprints are kept; ``fit`` warns when most calibration rows are among them.

    Raises:
        ConfigurationError: an unknown method, or a model that gives neither probabilities
            nor scores (a regressor or a label-only classifier).

    Examples:
        >>> import numpy as np
        >>> from sklearn.naive_bayes import GaussianNB
        >>> from guardrails import Calibrated
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(600, 2)); y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
        >>> layer = Calibrated(GaussianNB().fit(X[:300], y[:300]), method="sigmoid")
        >>> d = layer.fit(X[300:], y[300:]).decide(X[:3])
        >>> bool(np.allclose(d.proba.sum(axis=1), 1.0))
        True
    """

    name = "calibrate"

    def __init__(
        self,
        inner: Any,
        *,
        method: Method | Calibrator = "temperature",
        training_data: Any = None,
    ) -> None:
        super().__init__(inner)
        self.calibrator = make_calibrator(method)
        provides = self.inner.provides
        if self.inner.task != "classification" or not provides & {"proba", "scores"}:
            raise ConfigurationError(
                "Calibrated needs a classifier that gives probabilities or scores; the model "
                f"gives {sorted(provides)}. Label-only models and regressors cannot be "
                "calibrated this way."
            )
        self._training_rows = None if training_data is None else row_fingerprints(training_data)

    @property
    def provides(self) -> frozenset[str]:
        return self.inner.provides | {"proba"}

    def is_fitted(self) -> bool:
        return self.calibrator.is_fitted()

    def __repr__(self) -> str:
        return f"Calibrated(method={self.calibrator!r})"

    # -- learning ------------------------------------------------------------------------

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner.fit_call(X, y, call)
        self._warn_if_training_rows(X)
        self.learn(d, y)
        return self.post(d, call)

    def _warn_if_training_rows(self, X: Any) -> None:
        if self._training_rows is None:
            return
        rows = row_fingerprints(X)
        if rows is None or rows.size == 0:
            return
        share = float(np.isin(rows, self._training_rows).mean())
        if share > _TRAINING_OVERLAP:
            warnings.warn(
                f"{share:.0%} of the calibration rows are rows of the training data. "
                "Calibrating on data the model was trained on keeps it overconfident; fit "
                "on a held-out split.",
                GuardrailsWarning,
                stacklevel=4,
            )

    def learn(self, d: Decisions, y: NDArray[Any]) -> None:
        Z = _logits(d)
        if Z is None:
            raise InvalidInputError(
                "Calibrated cannot fit: the model answered none of the calibration rows "
                f"({d.reason_counts()})."
            )
        ok = np.isfinite(Z).all(axis=1)
        if not ok.any():
            raise InvalidInputError(
                "Calibrated cannot fit: the model gave finite output on none of the "
                f"calibration rows ({d.reason_counts()})."
            )
        idx = label_indices(y[ok], d.classes, Z.shape[1])
        Z = Z[ok]
        if Z.shape[0] >= 20 and (np.argmax(Z, axis=1) == idx).all():
            confidence = np.max(softmax(Z, axis=1), axis=1)
            if float(confidence.mean()) >= _CERTAIN:
                warnings.warn(
                    f"The model is right and near-certain on every one of the {Z.shape[0]} "
                    "calibration rows: there is no error to calibrate against. If these "
                    "rows were used to train the model, calibrate on a held-out split "
                    "instead; otherwise the task may simply be easy.",
                    GuardrailsWarning,
                    stacklevel=4,
                )
        self.calibrator.fit(Z, idx)

    # -- serving -------------------------------------------------------------------------

    def post(self, d: Decisions, call: Call) -> Decisions:
        """The decisions with calibrated ``proba``, ``confidence`` and ``prediction``."""
        Z = _logits(d)
        if Z is None:
            return d
        k = Z.shape[1]
        if len(d) == 0:
            return d.replace(proba=np.empty((0, k)), confidence=np.empty(0))
        classes = d.classes
        if classes is None or len(classes) != k:
            raise InvalidInputError("Calibrated needs class labels for the model's columns.")
        if Z.shape[0] == 1:
            row = Z[0].tolist()
            if all(math.isfinite(v) for v in row):
                # one record: the same steps without reductions over a batch
                P = self._transform(Z)
                p = P[0].tolist()
                j = max(range(k), key=p.__getitem__)  # argmax's first-maximum rule
                return d.replace(
                    proba=P, confidence=np.array([p[j]]), prediction=classes[j : j + 1]
                )
        if all_finite(Z):
            P = self._transform(Z)
            top = row_argmax(P) if all_finite(P) else np.argmax(P, axis=1)
            return d.replace(proba=P, confidence=row_pick(P, top), prediction=classes[top])
        ok = np.isfinite(Z).all(axis=1)
        P = np.full(Z.shape, np.nan)
        confidence = np.full(Z.shape[0], np.nan)
        prediction = d.prediction.copy()
        rows = np.flatnonzero(ok)
        if rows.size:
            Pok = self._transform(Z[rows])
            top = np.argmax(Pok, axis=1)
            P[rows] = Pok
            confidence[rows] = Pok[np.arange(rows.size), top]
            prediction[rows] = classes[top]
        return d.replace(proba=P, confidence=confidence, prediction=prediction)

    def _transform(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities for finite logits ``Z`` ``(n, k)``, ``n >= 1``.

        A built-in calibrator's own checks (numeric, 2-D) hold by construction here, so
        only the class count is checked before its transform runs; a calibrator that
        overrides ``transform`` gets the public call.
        """
        calibrator = self.calibrator
        if type(calibrator).transform is not Calibrator.transform:
            return calibrator.transform(Z)
        if not calibrator.is_fitted():
            raise NotFittedError(
                f"This {type(calibrator).__name__} is not fitted yet. Call fit(scores, y) first."
            )
        if Z.shape[1] != calibrator.n_classes_:
            raise InvalidInputError(
                f"{type(calibrator).__name__} was fitted on {calibrator.n_classes_} classes; "
                f"got scores for {Z.shape[1]}."
            )
        return calibrator._transform(Z)

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"calibrator": enc.component(self.calibrator)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Calibrated:
        calibrator = dec.component(state["calibrator"])
        if not isinstance(calibrator, Calibrator):
            raise ArtifactError("the saved calibrate step does not hold a calibrator")
        return cls(inner, method=calibrator)


def _logits(d: Decisions) -> NDArray[np.float64] | None:
    """The decisions' output as logits: log-probabilities, or the scores as they are."""
    if d.proba is not None:
        return logits_from_proba(d.proba)
    if d.scores is not None:
        return np.asarray(d.scores, dtype=np.float64)
    return None


# -- reporting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationScores:
    """Calibration and accuracy of one set of probabilities on a labelled set.

    Attributes:
        ece: top-label expected calibration error.
        classwise_ece: classwise ECE.
        mce: top-label maximum calibration error.
        brier: Brier score (sum over classes, in [0, 2]).
        nll: mean negative log-likelihood in nats.
        accuracy: share of rows whose top class is the true one.
    """

    ece: float
    classwise_ece: float
    mce: float
    brier: float
    nll: float
    accuracy: float

    @classmethod
    def measure(
        cls, idx: NDArray[np.intp], proba: NDArray[np.float64], bins: int, strategy: Strategy
    ) -> CalibrationScores:
        """Every score of ``proba`` ``(n, k)`` against column indices ``idx`` ``(n,)``."""
        curve = reliability_curve(idx, proba, bins=bins, strategy=strategy)
        return cls(
            ece=curve.ece,
            classwise_ece=classwise_calibration_error(idx, proba, bins=bins, strategy=strategy),
            mce=maximum_calibration_error(idx, proba, bins=bins, strategy=strategy),
            brier=brier_score(idx, proba),
            nll=negative_log_likelihood(idx, proba),
            accuracy=float((np.argmax(proba, axis=1) == idx).mean()),
        )


@dataclass(frozen=True)
class CalibrationReport:
    """How well a guard's probabilities match frequencies on a labelled set.

    Attributes:
        n_rows: rows in the labelled set.
        n_used: rows with finite model output, on which everything is measured.
        bins: number of bins of the ECE and MCE.
        strategy: ``"uniform"`` or ``"quantile"`` bins.
        method: the calibrator's repr, or None when the guard has no calibrate step.
        before: scores of the model's own probabilities (scores through a softmax).
        after: scores of the calibrated probabilities; None without a calibrate step.
    """

    n_rows: int
    n_used: int
    bins: int
    strategy: str
    method: str | None
    before: CalibrationScores
    after: CalibrationScores | None

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "n_rows": self.n_rows,
            "n_used": self.n_used,
            "bins": self.bins,
            "strategy": self.strategy,
            "method": self.method,
            "before": vars(self.before).copy(),
            "after": None if self.after is None else vars(self.after).copy(),
        }

    def __str__(self) -> str:
        head = (
            f"calibration on {self.n_used} of {self.n_rows} rows "
            f"({self.bins} {self.strategy} bins, method={self.method})"
        )
        lines = [head, f"{'metric':<14}{'before':>10}{'after':>10}"]
        for key in ("ece", "classwise_ece", "mce", "brier", "nll", "accuracy"):
            before = getattr(self.before, key)
            after = "-" if self.after is None else f"{getattr(self.after, key):.4f}"
            lines.append(f"{key:<14}{before:>10.4f}{after:>10}")
        return "\n".join(lines)


def calibration_report(
    layer: Layer, X: Any, y: Any, *, bins: int = 15, strategy: Strategy = "uniform"
) -> CalibrationReport:
    """Measure a guard's calibration on a labelled set, before and after its calibrate step.

    Use data that neither the model nor the calibrator has seen. Rows that the model did
    not answer with finite output (invalid input, model errors) are left out and counted.

    Args:
        layer: a guard (or any layer) with or without a [`Calibrated`][] layer.
        X: a batch of inputs.
        y: ``(n_samples,)`` true labels.
        bins: number of bins for ECE and MCE.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).

    Returns:
        A [`CalibrationReport`][]. Without a calibrate step, ``before`` measures the
        guard's output probabilities and ``after`` is None.

    Raises:
        ConfigurationError: bad ``bins`` or ``strategy``, or a guard without probabilities.
        InvalidInputError: labels that are not the model's classes, or no usable row.
        NotFittedError: the guard is not fitted.
    """
    _check_bins(bins, strategy, "calibration_report")
    y_arr = np.asarray(y)
    calibrated = next((x for x in layer.layers() if isinstance(x, Calibrated)), None)
    source = layer if calibrated is None else calibrated.inner
    d_in = source.decide(X)
    if y_arr.ndim != 1 or y_arr.shape[0] != len(d_in):
        raise InvalidInputError(
            f"calibration_report needs one label per row: {len(d_in)} rows, labels of shape "
            f"{y_arr.shape}."
        )
    Z = _logits(d_in)
    if Z is None:
        raise ConfigurationError(
            "calibration_report needs probabilities or scores; this guard gives "
            f"{sorted(layer.provides)} (or answered no row)."
        )
    ok = np.isfinite(Z).all(axis=1)
    if not ok.any():
        raise InvalidInputError("calibration_report: the model answered no row with output.")
    idx = label_indices(y_arr[ok], d_in.classes, Z.shape[1])
    before_p = np.asarray(d_in.proba)[ok] if d_in.proba is not None else softmax(Z[ok], axis=1)
    _prepare(idx, before_p, None)
    before = CalibrationScores.measure(idx, before_p, bins, strategy)
    after = None
    method = None
    if calibrated is not None:
        after_p = calibrated.calibrator.transform(Z[ok])
        after = CalibrationScores.measure(idx, after_p, bins, strategy)
        method = repr(calibrated.calibrator)
    return CalibrationReport(
        n_rows=len(d_in),
        n_used=int(ok.sum()),
        bins=bins,
        strategy=strategy,
        method=method,
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class RecalibrationReport:
    """What refitting a guard's calibrator on fresh labelled data did.

    ``before`` and ``after`` are measured on the same held-out share of the fresh rows:
    the old calibrator against one fitted on the other rows. The layer then keeps a
    calibrator refitted on all usable rows.

    Attributes:
        n_cases: labelled rows offered.
        n_used: rows the model answered with finite output (redacted or invalid inputs
            cannot be replayed and are left out).
        n_evaluated: held-out rows ``before`` and ``after`` are measured on.
        before: scores of the calibrator in use before the refit.
        after: scores of the refitted calibrator.
    """

    n_cases: int
    n_used: int
    n_evaluated: int
    before: CalibrationScores
    after: CalibrationScores

    def __str__(self) -> str:
        lines = [
            f"recalibration on {self.n_used} of {self.n_cases} labelled rows "
            f"(measured on {self.n_evaluated} held out)",
            f"{'metric':<14}{'before':>10}{'after':>10}",
        ]
        for key in ("ece", "brier", "nll", "accuracy"):
            before, after = getattr(self.before, key), getattr(self.after, key)
            lines.append(f"{key:<14}{before:>10.4f}{after:>10.4f}")
        return "\n".join(lines)


def recalibrate(
    layer: Layer,
    X: Any,
    y: Any,
    *,
    holdout: float = 0.3,
    bins: int = 15,
    seed: int = 0,
) -> RecalibrationReport:
    """Refit the calibrator of ``layer`` on fresh labelled data; report ECE before/after.

    The model is replayed on ``X`` (the layers below the calibrator), a new calibrator of
    the same kind is fitted on ``1 - holdout`` of the usable rows and compared with the
    current one on the rest, then refitted on every usable row and swapped in atomically
    (decisions in flight keep the calibrator they started with).

    Args:
        layer: a guard (or layer) with a [`Calibrated`][] layer, already fitted.
        X: ``(n_samples, n_features)`` inputs with known labels.
        y: ``(n_samples,)`` true labels.
        holdout: share of rows kept aside to measure before and after, in (0, 1).
        bins: bins for ECE.
        seed: seed of the held-out split.

    Raises:
        ConfigurationError: no calibrate step, or a bad ``holdout``.
        InvalidInputError: fewer than 20 usable rows, or labels outside the classes.
    """
    if not isinstance(holdout, float) or not 0.0 < holdout < 1.0:
        raise ConfigurationError(
            f"The 'holdout' parameter of recalibrate must be a float in (0, 1). Got {holdout!r}."
        )
    calibrated = next((x for x in layer.layers() if isinstance(x, Calibrated)), None)
    if calibrated is None:
        raise ConfigurationError(
            "recalibrate needs a guard with a calibrate step (.calibrate(...))."
        )
    calibrated.check_fitted()
    y_arr = np.asarray(y)
    d_in = calibrated.inner.decide(X)
    if y_arr.ndim != 1 or y_arr.shape[0] != len(d_in):
        raise InvalidInputError(
            f"recalibrate needs one label per row: {len(d_in)} rows, labels of shape {y_arr.shape}."
        )
    Z = _logits(d_in)
    ok = np.zeros(len(d_in), dtype=bool) if Z is None else np.isfinite(Z).all(axis=1)
    if Z is None or ok.sum() < 20:
        raise InvalidInputError(
            f"recalibrate needs at least 20 rows the model can answer; got {int(ok.sum())} "
            f"of {len(d_in)} ({d_in.reason_counts()})."
        )
    idx = label_indices(y_arr[ok], d_in.classes, Z.shape[1])
    Z = Z[ok]
    rng = np.random.default_rng(seed)
    order = rng.permutation(Z.shape[0])
    n_eval = max(1, round(holdout * Z.shape[0]))
    evaluate, train = order[:n_eval], order[n_eval:]
    candidate = copy.deepcopy(calibrated.calibrator)
    candidate.fit(Z[train], idx[train])
    before = CalibrationScores.measure(
        idx[evaluate], calibrated.calibrator.transform(Z[evaluate]), bins, "uniform"
    )
    after = CalibrationScores.measure(
        idx[evaluate], candidate.transform(Z[evaluate]), bins, "uniform"
    )
    final = copy.deepcopy(calibrated.calibrator)
    final.fit(Z, idx)
    calibrated.calibrator = final  # one reference swap: readers see old or new, never half
    return RecalibrationReport(
        n_cases=len(d_in),
        n_used=int(Z.shape[0]),
        n_evaluated=int(n_eval),
        before=before,
        after=after,
    )
