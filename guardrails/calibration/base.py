"""Calibrator base: the Calibrator protocol, score conversions and one-vs-rest helpers.

Every calibrator takes *scores*: logits, log-probabilities or margins, ``(n_samples, n_classes)``,
or ``(n_samples,)`` margins of the positive class of a binary problem (read as the two logits
``[0, s]``). ``transform`` always returns probabilities ``(n_samples, n_classes)``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from guardrails.calibration.metrics import label_indices
from guardrails.core.errors import GuardrailsWarning, InvalidInputError, NotFittedError
from guardrails.core.parameters import HasParams
from guardrails.core.rowwise import row_max, row_sum

if TYPE_CHECKING:
    from typing_extensions import Self


__all__ = [
    "METHODS",
    "Calibrator",
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
