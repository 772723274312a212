"""Scaling calibrators: temperature, Platt (sigmoid) and vector scaling, fitted by NLL.

- [`TemperatureScaling`][]: ``softmax(z / T)``, one parameter, fitted by minimising the
  negative log-likelihood exactly (the loss is convex in ``1 / T``).
- [`PlattScaling`][]: a sigmoid ``1 / (1 + exp(-(a s + b)))`` of each class's
  one-vs-rest logit ``s``, with Platt's prior-corrected targets; renormalised.
- [`VectorScaling`][]: ``softmax(w * z + b)``, a scale and a bias per class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from guardrails.calibration.base import (
    LOG_EPS,
    Calibrator,
    _combine,
    _one_vs_rest_targets,
    _ovr_logits,
    expit,
    softmax,
)
from guardrails.core.errors import ConfigurationError, NotFittedError
from guardrails.core.persistence import persistable
from guardrails.core.rowwise import all_finite

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "PlattScaling",
    "TemperatureScaling",
    "VectorScaling",
]

_MAX_INVERSE_TEMPERATURE = 1e8

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

    def _binary_from_proba(
        self, P: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]] | None:
        """``transform(logits_from_proba(P))`` for two columns, its top value and whether
        the second column is the top one; None when a logit is not finite.

        The same numbers as the softmax, bit for bit, with one exponential per row: with
        ``s = beta * log(p + 1e-12)`` and ``d = s1 - s0``, the top column's shifted term
        is ``exp(0) = 1`` and the other's is ``exp(-|d|)`` (``s0 - s1`` is ``-(s1 - s0)``
        exactly), so each probability is that term over ``1 + exp(-|d|)``.
        """
        beta = self.inverse_temperature_
        s0 = np.add(P[:, 0], LOG_EPS)
        np.log(s0, out=s0)
        s0 *= beta
        s1 = np.add(P[:, 1], LOG_EPS)
        np.log(s1, out=s1)
        s1 *= beta
        d = np.subtract(s1, s0, out=s1)
        if not all_finite(d):  # (a finite difference means both logits are finite)
            return None
        first = d <= 0
        e = np.abs(d, out=s0)
        np.negative(e, out=e)
        np.exp(e, out=e)  # the term of the column that is not the top one
        # each column's term: 1 where it is the top column, exp(-|d|) elsewhere
        lead = first.astype(np.float64)
        e0 = np.maximum(e, lead)
        np.subtract(1.0, lead, out=lead)
        e1 = np.maximum(e, lead, out=lead)
        total = np.add(e, 1.0, out=e)
        np.divide(e0, total, out=e0)
        np.divide(e1, total, out=e1)
        second = np.greater(e1, e0)  # argmax's first-maximum rule
        top = np.divide(1.0, total, out=total)
        return np.stack((e0, e1), axis=1), top, second

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
