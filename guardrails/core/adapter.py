"""The model adapter: the one place where any model becomes a `Layer`.

It accepts a fitted scikit-learn classifier (``predict_proba``, else ``decision_function``,
else ``predict``), a regressor, a ``Pipeline``, any object with those methods (a remote
client), or a plain callable declared as returning ``"proba"``, ``"scores"``, ``"labels"``
or ``"values"``. It checks every output's shape and type and turns a model that raises
or misbehaves into non-answers with reason ``MODEL_ERROR``, never a crash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast, get_args

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import PRIMARY, Decisions, Reason
from guardrails.core.errors import ConfigurationError, ModelOutputError
from guardrails.core.layer import Call, Layer, _is_frame, take_rows
from guardrails.core.persistence import preview
from guardrails.core.rowwise import binary_labels, row_argmax, row_pick, row_sum
from guardrails.core.text import shorten

__all__ = ["ModelAdapter", "OutputKind", "as_layer"]

OutputKind = Literal["proba", "scores", "labels", "values"]
_KINDS: tuple[str, ...] = get_args(OutputKind)
_SUM_TOLERANCE = 1e-4
_TRUST_FROM = 64  # rows from which a checked batch is handed to sklearn as finite
_DETAIL_LIMIT = 300


def _is_fitted_sklearn(model: Any) -> bool:
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except Exception:
        return False
    return True


class ModelAdapter(Layer):
    """The bottom layer: calls the model once per batch and checks what it returns.

    Args:
        model: a fitted estimator, an object with ``predict_proba``/``decision_function``/
            ``predict``, or a callable taking a batch.
        output: what the model returns. Inferred for estimators; required for a plain
            callable. One of ``"proba"`` ``(n, k)`` rows summing to 1, ``"scores"`` ``(n, k)``
            or ``(n,)`` logits/margins, ``"labels"`` ``(n,)``, ``"values"`` ``(n,)``.
        classes: class labels in the order of the output's columns. Taken from the model's
            ``classes_`` when it has one; required for a callable returning proba or scores.
        name: the stage name written on the decisions this model answers.
        allow_nan: the model handles missing values: rows with NaN reach it. Rows with NaN
            (unless allowed) or an infinite number are withheld as ``INVALID_INPUT``,
            in numeric arrays and in the numeric columns of data frames, and the other rows
            of the batch still reach the model.

    Examples:
        >>> import numpy as np
        >>> from guardrails import ModelAdapter
        >>> adapter = ModelAdapter(lambda X: np.c_[1 - X[:, 0], X[:, 0]],
        ...                        output="proba", classes=["no", "yes"])
        >>> adapter.decide(np.array([[0.9], [0.2]])).prediction.tolist()
        ['yes', 'no']
    """

    name = PRIMARY

    def __init__(
        self,
        model: Any,
        *,
        output: OutputKind | None = None,
        classes: Sequence[Any] | NDArray[Any] | None = None,
        name: str = PRIMARY,
        allow_nan: bool = False,
    ) -> None:
        if isinstance(model, Layer):
            raise ConfigurationError(
                f"ModelAdapter wraps a model, not a layer ({type(model).__name__}). A layer is "
                "itself a predictor: use it directly, or as a fallback stage; to put a layer "
                'of your own in a guard, write guard(model).add(YourLayer, after="calibrate").'
            )
        if output is not None and output not in _KINDS:
            raise ConfigurationError(
                f"The 'output' parameter of ModelAdapter must be one of {list(_KINDS)}. "
                f"Got {output!r} instead."
            )
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"The 'name' parameter of ModelAdapter must be a non-empty str. Got {name!r}."
            )
        if not isinstance(allow_nan, bool):
            raise ConfigurationError(
                "The 'allow_nan' parameter of ModelAdapter must be a bool. "
                f"Got {allow_nan!r} instead."
            )
        self.model = model
        self.stage_name = name
        self.allow_nan = allow_nan
        self.output, self._method = self._resolve(model, output)
        self._classes = self._resolve_classes(model, classes)
        self._n_features = getattr(model, "n_features_in_", None)
        self._feature_names = getattr(model, "feature_names_in_", None)
        self._refuses_non_finite = not allow_nan and _refuses_non_finite(model)

    # -- resolution of shorthand: happens here and nowhere else ---------------------------

    @staticmethod
    def _resolve(model: Any, output: OutputKind | None) -> tuple[OutputKind, Callable[..., Any]]:
        has = {m: callable(getattr(model, m, None)) for m in _METHODS}
        if not any(has.values()):
            if not callable(model):
                raise ConfigurationError(
                    f"Cannot guard a {type(model).__name__}: it has no predict_proba, "
                    "decision_function or predict method and is not callable."
                )
            if output is None:
                raise ConfigurationError(
                    "A plain callable needs output= declared: 'proba' (class probabilities), "
                    "'scores' (logits or margins), 'labels' or 'values' (regression)."
                )
            return output, cast(Callable[..., Any], model)
        if output is not None:
            method = _OUTPUT_METHOD[output]
            if has.get(method):
                return output, getattr(model, method)
            if callable(model) and not has["predict"]:
                return output, cast(Callable[..., Any], model)
            if has["predict"] and output in ("labels", "values"):
                return output, model.predict
            raise ConfigurationError(
                f"output={output!r} needs the model to have {method}(); "
                f"{type(model).__name__} does not."
            )
        if _is_regressor(model):
            return "values", model.predict
        if has["predict_proba"]:
            return "proba", model.predict_proba
        if has["decision_function"]:
            return "scores", model.decision_function
        if _is_classifier(model) or hasattr(model, "classes_"):
            return "labels", model.predict
        raise ConfigurationError(
            f"Cannot tell whether {type(model).__name__}.predict returns labels or values; "
            "pass output='labels' or output='values'."
        )

    def _resolve_classes(
        self, model: Any, classes: Sequence[Any] | NDArray[Any] | None
    ) -> NDArray[Any] | None:
        if self.output == "values":
            if classes is not None:
                raise ConfigurationError(
                    "classes= makes no sense for a regressor (output='values')."
                )
            return None
        model_classes = getattr(model, "classes_", None)
        if classes is None:
            classes = model_classes
        elif model_classes is not None and not np.array_equal(
            np.asarray(classes), np.asarray(model_classes)
        ):
            raise ConfigurationError(
                f"classes={preview(np.asarray(classes))} differ from the model's classes_ "
                f"{preview(np.asarray(model_classes))}."
            )
        if classes is None:
            if self.output in ("proba", "scores"):
                if _is_classifier(model) and not _is_fitted_sklearn(model):
                    raise ConfigurationError(
                        f"{type(model).__name__} is not fitted: guardrails wraps trained "
                        "models. Fit it first (or use GuardedClassifier to fit both)."
                    )
                raise ConfigurationError(
                    f"A model returning {self.output} needs classes=[...] naming the column "
                    "order of its output."
                )
            return None
        arr = np.asarray(classes)
        if arr.ndim != 1 or arr.size < 2:
            raise ConfigurationError(
                f"The 'classes' parameter must list at least two labels. Got {preview(arr)}."
            )
        if len(np.unique(arr)) != arr.size:
            raise ConfigurationError(f"The 'classes' parameter has duplicates: {preview(arr)}.")
        return arr

    # -- what it exposes -----------------------------------------------------------------

    @property
    def provides(self) -> frozenset[str]:
        return frozenset({self.output})

    @property
    def classes_(self) -> NDArray[Any] | None:
        return self._classes

    @property
    def task(self) -> str:
        return "regression" if self.output == "values" else "classification"

    def __repr__(self) -> str:
        nan = ", allow_nan=True" if self.allow_nan else ""
        return f"ModelAdapter({type(self.model).__name__}, output={self.output!r}{nan})"

    # -- the call ------------------------------------------------------------------------

    def _screen(
        self, X: Any, call: Call, *, finite: bool = True
    ) -> tuple[NDArray[np.bool_] | None, str | None]:
        """Cheap checks on numeric input before an estimator sees it.

        Returns a mask of rows safe to send (None: all) and a reason for the whole batch
        when nothing can be sent. Rows with NaN or infinite numbers are not sent (NaN is
        sent when ``allow_nan``); in a data frame, the numeric columns are checked unless a
        validating layer made the frame (its schema decided what may be missing).
        """
        if not isinstance(X, np.ndarray):
            if _is_frame(X):
                if call.validation is not None:
                    return None, None
                return self._finite_rows(_frame_numbers(X)), None
            return None, None
        if X.dtype.kind not in "biuf":
            return None, None
        if X.ndim != 2:
            return None, f"expected a 2-D array (n_samples, n_features); got {X.ndim}-D"
        if self._n_features is not None and X.shape[1] != self._n_features:
            return None, (
                f"expected {self._n_features} features, as the model was trained on; "
                f"got {X.shape[1]}"
            )
        if finite and X.dtype.kind == "f" and X is not call.finite_rows:
            return self._finite_rows(X), None  # (validation scanned call.finite_rows already)
        return None, None

    def _finite_rows(self, X: NDArray[np.float64] | None) -> NDArray[np.bool_] | None:
        """Mask of the rows of ``X`` fit to send, or None when every row is."""
        if X is None or X.size == 0:
            return None
        if X.shape[0] == 1 and X.size <= 256:  # one record: no reduction, no errstate
            row = X.ravel().tolist()
            if all(map(math.isfinite, row)):
                return None
        with np.errstate(over="ignore", invalid="ignore"):
            total = X.sum()  # fast path: one reduction; huge values may overflow it
        if np.isfinite(total):
            return None
        if self.allow_nan:
            ok: NDArray[np.bool_] = ~np.asarray(np.isinf(X).any(axis=1))
        else:
            ok = np.asarray(np.isfinite(X).all(axis=1))
        return None if ok.all() else ok

    def decide_call(self, X: Any, call: Call) -> Decisions:
        t0 = time.perf_counter()
        n = call.n if X is call.raw else _len(X)
        # a scikit-learn estimator that refuses NaN and infinity checks them itself, before
        # any work: its float batch goes straight in, and only when it raises are the rows
        # screened (so the rows it cannot take are withheld as INVALID_INPUT, as always)
        refuses = (
            getattr(self, "_refuses_non_finite", False)
            and isinstance(X, np.ndarray)
            and X.dtype.kind == "f"
        )
        # rows a validating layer found finite are handed over as such: the estimator's
        # own scan of them (one sum over the batch, 0.2x of a LogisticRegression call)
        # would be the second of the call
        trusted = refuses and X is call.finite_rows and n >= _TRUST_FROM
        lazy = refuses and X is not call.finite_rows
        send, whole = self._screen(X, call, finite=not lazy)
        if trusted and whole is None and send is None:
            out = self._invoke_finite(X, n)
            out.timings[self.stage_name] = out.timings.get(self.stage_name, 0.0) + (
                time.perf_counter() - t0
            )
            return out
        if lazy and whole is None:
            out, raised = self._invoke(X, n)
            if raised:
                send = self._finite_rows(X)
            if send is None:
                out.timings[self.stage_name] = out.timings.get(self.stage_name, 0.0) + (
                    time.perf_counter() - t0
                )
                return out
        if whole is not None:
            out = self._withheld(n, Reason.INVALID_INPUT, whole)
        elif send is not None:
            idx = np.flatnonzero(send)
            detail = (
                "input has infinite values"
                if self.allow_nan
                else "input has NaN or infinite values"
            )
            out = self._withheld(n, Reason.INVALID_INPUT, detail)
            if idx.size:
                out = out.merge(idx, self._call(take_rows(X, idx), idx.size))
        else:
            out = self._call(X, n)
        out.timings[self.stage_name] = out.timings.get(self.stage_name, 0.0) + (
            time.perf_counter() - t0
        )
        return out

    def _withheld(self, n: int, reason: Reason, detail: str) -> Decisions:
        dtype = object if self._classes is None else self._classes.dtype
        if self.output == "values":
            dtype = np.float64
        return Decisions.withheld(
            n, reason, stage=self.stage_name, detail=detail, classes=self._classes, dtype=dtype
        )

    def _call(self, X: Any, n: int) -> Decisions:
        return self._invoke(X, n)[0]

    def _invoke_finite(self, X: Any, n: int) -> Decisions:
        """The decisions of a scikit-learn estimator on rows known to be finite, with its
        own finiteness check (``check_array``'s) switched off for the call: the rows were
        scanned already (sklearn's scan of 100,000 x 20 costs about 0.45 ms here)."""
        from sklearn import config_context

        with config_context(assume_finite=True):
            return self._invoke(X, n)[0]

    def _invoke(self, X: Any, n: int) -> tuple[Decisions, bool]:
        """The model's decisions on ``X``, and whether the model raised."""
        if n == 0:
            return self._empty(), False
        try:
            raw = self._method(X)
        except Exception as exc:
            detail = shorten(f"{type(exc).__name__}: {exc}", _DETAIL_LIMIT)
            return self._withheld(n, Reason.MODEL_ERROR, detail), True
        try:
            return self.to_decisions(raw, n), False
        except ModelOutputError as exc:
            return self._withheld(
                n, Reason.MODEL_ERROR, shorten(f"ModelOutputError: {exc}", _DETAIL_LIMIT)
            ), False

    def _empty(self) -> Decisions:
        d = self._withheld(0, Reason.NONE, "")
        k = 0 if self._classes is None else len(self._classes)
        if self.output == "proba":
            return d.replace(proba=np.empty((0, k)), confidence=np.empty(0))
        if self.output == "scores":
            return d.replace(scores=np.empty((0, k)))
        return d

    def to_decisions(self, raw: Any, n: int) -> Decisions:
        """Check a raw model output for ``n`` rows and turn it into decisions.

        Raises:
            ModelOutputError: the output has the wrong shape or type, or probabilities
                are outside [0, 1] or do not sum to 1.
        """
        arr = _as_array(raw, self.output)
        if self.output == "values":
            return self._values(arr, n)
        if self.output == "labels":
            return self._labels(arr, n)
        classes = self._classes
        assert classes is not None  # proba and scores always have classes
        k = len(classes)
        arr = _as_float(arr, self.output)
        if arr.ndim == 1 and k == 2:
            arr = np.column_stack([1.0 - arr, arr]) if self.output == "proba" else _margin(arr)
        if arr.ndim != 2 or arr.shape != (n, k):
            raise ModelOutputError(
                f"model returned {self.output} of shape {arr.shape}; expected ({n}, {k}) "
                f"for {n} rows and classes {list(classes)!r}."
            )
        if n == 1:
            fast = self._one_row(arr, classes)
            if fast is not None:
                return fast
        elif k == 2 and self.output == "proba" and n >= 8:
            fast = self._binary_proba(arr, classes)
            if fast is not None:
                return fast
        # one reduction finds rows with NaN/inf (they make the row sum non-finite) and, for
        # probabilities, checks that rows sum to 1
        sums = row_sum(arr)
        bad: NDArray[np.bool_] = ~np.isfinite(sums)
        any_bad = bool(bad.any())
        clean = np.where(bad[:, None], 0.0, arr) if any_bad else arr
        top = row_argmax(clean)  # argmax's first-maximum rule, column by column
        if self.output == "proba":
            _check_proba(clean, sums, bad, any_bad)
            d = Decisions(
                prediction=classes[top],
                stage=self.stage_name,
                proba=arr,
                # the top class's probability; for two finite columns, their maximum
                confidence=np.maximum(arr[:, 0], arr[:, 1])
                if k == 2 and not any_bad
                else row_pick(arr, top),
                classes=classes,
            )
        else:
            d = Decisions(
                prediction=classes[top], stage=self.stage_name, scores=arr, classes=classes
            )
        if any_bad:
            d = d.withhold(
                bad, Reason.MODEL_ERROR, detail=f"model returned non-finite {self.output}"
            )
        return d

    def _one_row(self, arr: NDArray[np.float64], classes: NDArray[Any]) -> Decisions | None:
        """The cheap path for a single clean row: plain Python floats instead of reductions.

        Returns None when the row needs the general path (non-finite or out-of-range values,
        which the general path reports).
        """
        row = arr[0].tolist()
        if not all(math.isfinite(v) for v in row):
            return None
        j = max(range(len(row)), key=row.__getitem__)
        if self.output == "scores":
            return Decisions(
                prediction=classes[j : j + 1], stage=self.stage_name, scores=arr, classes=classes
            )
        if min(row) < -1e-9 or max(row) > 1 + 1e-9 or abs(math.fsum(row) - 1.0) > _SUM_TOLERANCE:
            return None
        return Decisions(
            prediction=classes[j : j + 1],
            stage=self.stage_name,
            proba=arr,
            confidence=np.array([row[j]]),
            classes=classes,
        )

    def _binary_proba(self, arr: NDArray[np.float64], classes: NDArray[Any]) -> Decisions | None:
        """Two probability columns checked by whole-batch reductions, no per-row masks.

        The row sums' extremes are within tolerance of 1 only when every row is finite and
        sums to 1 (NaN and infinity make a sum NaN or infinite), and the columns' minimum
        and maximum bound every value; the decisions are those of the general
        path. Returns None when a check fails: the general path then finds the rows.
        """
        p0, p1 = arr[:, 0], arr[:, 1]
        sums = np.add(p0, p1)
        # max |s - 1| <= tol, from the extreme sums (s - 1 is monotonic in s, 1 - s = -(s - 1)
        # exactly); a NaN sum makes both extremes NaN and the test False
        if not (sums.max() - 1.0 <= _SUM_TOLERANCE and 1.0 - sums.min() <= _SUM_TOLERANCE):
            return None
        if arr.min() < -1e-9 or arr.max() > 1 + 1e-9:
            return None
        second = np.greater(p1, p0)  # argmax's first-maximum rule for two columns
        return Decisions(
            prediction=binary_labels(classes, second),
            stage=self.stage_name,
            proba=arr,
            confidence=np.maximum(p0, p1),
            classes=classes,
        )

    def _values(self, arr: NDArray[Any], n: int) -> Decisions:
        arr = _as_float(arr, "values")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise ModelOutputError(
                f"model returned values of shape {arr.shape}; expected ({n},) for {n} rows."
            )
        d = Decisions(prediction=arr, stage=self.stage_name)
        bad = ~np.isfinite(arr)
        if bad.any():
            d = d.withhold(bad, Reason.MODEL_ERROR, detail="model returned a non-finite value")
        return d

    def _labels(self, arr: NDArray[Any], n: int) -> Decisions:
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise ModelOutputError(
                f"model returned labels of shape {arr.shape}; expected ({n},) for {n} rows."
            )
        d = Decisions(prediction=arr, stage=self.stage_name, classes=self._classes)
        if self._classes is not None:
            unknown = ~np.isin(arr, self._classes)
            if unknown.any():
                d = d.withhold(
                    unknown, Reason.MODEL_ERROR, detail="model returned an unknown label"
                )
        return d


_METHODS = ("predict_proba", "decision_function", "predict")
_OUTPUT_METHOD = {
    "proba": "predict_proba",
    "scores": "decision_function",
    "labels": "predict",
    "values": "predict",
}


def _is_classifier(model: Any) -> bool:
    from sklearn.base import is_classifier

    try:
        return bool(is_classifier(model))
    except Exception:
        return False


def _is_regressor(model: Any) -> bool:
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(model))
    except Exception:
        return False


# scikit-learn packages whose estimators validate every input with check_array (NaN and
# infinity refused unless the estimator's allow_nan tag says otherwise); meta-estimators
# (pipelines, column transformers) are not listed: their steps may let NaN through
_SELF_CHECKING = (
    "sklearn.linear_model.",
    "sklearn.svm.",
    "sklearn.neighbors.",
    "sklearn.naive_bayes.",
    "sklearn.neural_network.",
    "sklearn.discriminant_analysis.",
)


def _refuses_non_finite(model: Any) -> bool:
    """True for a scikit-learn estimator that raises on NaN or infinity before any work."""
    if not type(model).__module__.startswith(_SELF_CHECKING):
        return False
    try:
        return model.__sklearn_tags__().input_tags.allow_nan is False
    except Exception:
        return False


def _len(X: Any) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def _as_array(raw: Any, kind: str) -> NDArray[Any]:
    if type(raw) is np.ndarray:
        return raw
    if _is_frame(raw):
        raw = raw.to_numpy()
    try:
        arr = np.asarray(raw)
    except Exception as exc:
        raise ModelOutputError(
            f"model returned {type(raw).__name__}, which is not array-like {kind}."
        ) from exc
    return arr


def _as_float(arr: NDArray[Any], kind: str) -> NDArray[np.float64]:
    if arr.dtype.kind not in "biuf":
        raise ModelOutputError(f"model returned {kind} of dtype {arr.dtype}; expected numbers.")
    return arr.astype(np.float64, copy=False)


def _margin(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Binary margins ``(n,)`` as two-column logits ``[0, s]`` (softmax gives sigmoid(s))."""
    return np.column_stack([np.zeros_like(scores), scores])


def _check_proba(
    clean: NDArray[np.float64],
    sums: NDArray[np.float64],
    bad: NDArray[np.bool_],
    any_bad: bool,
) -> None:
    """Raise unless every finite row lies in [0, 1] and sums to 1."""
    if clean.size == 0:
        return
    low, high = clean.min(), clean.max()
    if low < -1e-9 or high > 1 + 1e-9:
        raise ModelOutputError(
            f"model returned probabilities outside [0, 1] (min {low:.4g}, max "
            f"{high:.4g}). If these are logits or margins, declare output='scores'."
        )
    off = np.abs(np.where(bad, 1.0, sums) - 1.0) if any_bad else np.abs(sums - 1.0)
    worst = int(np.argmax(off))
    if off[worst] > _SUM_TOLERANCE:
        raise ModelOutputError(
            f"model returned probabilities whose rows do not sum to 1 (row {worst} sums to "
            f"{sums[worst]:.6g}). If these are logits or scores, declare output='scores'."
        )


def as_layer(model: Any, **adapter_options: Any) -> Layer:
    """The model as a [`Layer`][]: layers pass through, anything else gets an adapter."""
    if isinstance(model, Layer):
        if adapter_options:
            raise ConfigurationError(
                f"{sorted(adapter_options)} apply to a raw model, not to a guard layer."
            )
        return model
    return ModelAdapter(model, **adapter_options)


def _frame_numbers(X: Any) -> NDArray[np.float64] | None:
    """The float and nullable numeric columns of data frame ``X`` as floats (missing as
    NaN), or None when it has none; integer and boolean numpy columns cannot hold NaN."""
    cols = [
        j
        for j, dt in enumerate(X.dtypes)
        if (dt.kind == "f" if isinstance(dt, np.dtype) else dt.kind in "biuf")
    ]
    if not cols:
        return None
    part = X if len(cols) == X.shape[1] else X.iloc[:, cols]
    return np.asarray(part.to_numpy(dtype=np.float64, na_value=np.nan))
