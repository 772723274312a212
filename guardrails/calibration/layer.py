"""The Calibrated layer: calibrates a model's output before anything decides on it.

Also the method names it accepts (``make_calibrator``) and the row fingerprints that
detect a calibrator being fitted on the model's own training rows.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.calibration.base import METHODS, Calibrator, Method, logits_from_proba, softmax
from guardrails.calibration.binning import HistogramBinning, IsotonicCalibration
from guardrails.calibration.metrics import label_indices
from guardrails.calibration.scaling import PlattScaling, TemperatureScaling, VectorScaling
from guardrails.core.decisions import Decisions
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.layer import Call, Layer, _is_frame
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.core.rowwise import all_finite, binary_labels, row_argmax, row_pick

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "Calibrated",
]

_TRAINING_OVERLAP = 0.5
_CERTAIN = 0.99


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
        if d.proba is not None and d.proba.shape[1] == 2 and len(d) >= 8:
            fast = self._binary_temperature(d)
            if fast is not None:
                return fast
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

    def _binary_temperature(self, d: Decisions) -> Decisions | None:
        """Temperature scaling of two probability columns without a general softmax (the
        same numbers), or None for any other case (the general path handles it)."""
        calibrator = self.calibrator
        if (
            type(calibrator).transform is not Calibrator.transform
            or type(calibrator)._transform is not TemperatureScaling._transform
            or not isinstance(calibrator, TemperatureScaling)
            or not calibrator.is_fitted()
            or calibrator.n_classes_ != 2
            or d.classes is None
            or len(d.classes) != 2
        ):
            return None
        assert d.proba is not None
        out = calibrator._binary_from_proba(d.proba)
        if out is None:
            return None
        P, top, second = out
        return d.replace(proba=P, confidence=top, prediction=binary_labels(d.classes, second))

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
