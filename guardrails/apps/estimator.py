"""scikit-learn estimators that train a model and fit its guard in one ``fit``.

``fit(X, y)`` trains the wrapped estimator and fits the guard's learning layers (those
that choose thresholds or quantiles from data) on data the model did not train on: a
held-out share (``cal_size``) or out-of-fold predictions (``cv``, cross-fitting). The
guard is built with [`guardrails.builder`][], so the estimator gets every builder step.

scikit-learn conventions apply: ``__init__`` only stores settings (they are checked in
``fit``), fitted attributes end in ``_``, and the estimators clone, pickle, and work in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. One deliberate difference: rows
with NaN or infinite values are not an error at predict time; they come back withheld
with reason ``invalid_input`` (the marker in ``predict``), as in every guard.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import (
    ClassifierMixin,
    RegressorMixin,
)
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
)

from guardrails.abstention.policy import Policy
from guardrails.apps.estimator_base import _GuardedBase
from guardrails.apps.estimator_helpers import (
    _auto_marker,
    _is_auto,
    _marked,
    _n_splits,
    _no_model,
)
from guardrails.core.adapter import ModelAdapter
from guardrails.core.decisions import Reason
from guardrails.core.errors import (
    GuardrailsWarning,
)
from guardrails.core.layer import take_rows
from guardrails.validation.layer import Validated


class GuardedClassifier(ClassifierMixin, _GuardedBase):  # type: ignore[misc]
    """A classifier that trains a model and fits its guard in one ``fit``.

    Args:
        estimator: an unfitted scikit-learn classifier or Pipeline (fitted, with
            ``prefit=True``).
        schema: a pydantic model class or [`Schema`][guardrails.Schema] for the inputs:
            training rows must satisfy it (and are turned into the model's input by
            it), and at predict time invalid rows are withheld with reason
            ``invalid_input``. With a schema, ``X`` may be a list of records.
        validation: the settings of [`Guard.validate`][guardrails.Guard.validate] for
            the schema, as a dict: e.g. ``{"as_frame": True}`` hands the model a data
            frame with the schema's field names as columns (what a
            ``ColumnTransformer`` selecting columns by name needs), ``{"extra":
            "ignore"}`` lets rows carry other fields.
        calibration: None, a method name ("temperature", "sigmoid", "isotonic",
            "histogram", "vector") or a
            [`Calibrator`][guardrails.calibration.base.Calibrator],
            fitted on held-out outputs; the policy then decides on calibrated
            probabilities. A model with scores only (``decision_function``) gets
            ``predict_proba`` this way.
        policy: the abstention policy, e.g. ``confidence_below(0.8)``; None answers
            every valid row. Policies that learn thresholds are fitted on held-out data.
        cal_size: share of ``(X, y)`` held out to fit the learning layers when ``cv`` is
            None. Nothing is held out when no layer learns.
        cv: cross-fitting instead of a held-out share: an int (stratified folds) or a
            splitter. The learning layers are fitted on out-of-fold outputs, then the
            model is refitted on all the data.
        prefit: the estimator is already trained: ``fit`` only fits the guard, on all of
            ``(X, y)``.
        marker: what ``predict`` returns for a withheld row. ``"auto"`` (the default)
            picks one of the same kind as the labels that is not a label: -1 for
            integer labels (or one below the smallest, when -1 is a label), "withheld"
            for strings, NaN for float labels; it is stored as ``withheld_marker_``
            and ``predict`` warns when it returns withheld rows. Any other value is
            used as given (None makes the column ``object``).
        random_state: seed of the held-out split.

    Attributes:
        estimator_: the trained model.
        guard_: the fitted [`Guard`][guardrails.Guard].
        classes_: ``(n_classes,)`` the class labels.
        withheld_marker_: what ``predict`` puts in withheld rows.

    Examples:
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import GuardedClassifier, confidence_below
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = GuardedClassifier(LogisticRegression(max_iter=500),
        ...                         policy=confidence_below(0.9), marker=-1).fit(X, y)
        >>> sorted(set(clf.predict(X).tolist()))
        [-1, 0, 1, 2]
    """

    _owner = "GuardedClassifier"

    def __init__(
        self,
        estimator: Any,
        *,
        schema: Any = None,
        validation: Mapping[str, Any] | None = None,
        calibration: Any = None,
        policy: Policy | None = None,
        cal_size: float = 0.25,
        cv: Any = None,
        prefit: bool = False,
        marker: Any = "auto",
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.schema = schema
        self.validation = validation
        self.calibration = calibration
        self.policy = policy
        self.cal_size = cal_size
        self.cv = cv
        self.prefit = prefit
        self.marker = marker
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> GuardedClassifier:
        """Train the model and fit the guard.

        Args:
            X: ``(n_samples, n_features)`` training data (or a data frame).
            y: ``(n_samples,)`` class labels.

        Returns:
            self

        Raises:
            ConfigurationError: a setting is invalid.
            ValueError: ``X`` or ``y`` is not usable for training.
        """
        y_arr = self._target(y)
        check_classification_targets(y_arr)
        X = self._input(X, reset=True)
        check_consistent_length(X, y_arr)
        self.classes_ = np.unique(y_arr)
        self.withheld_marker_ = (
            _auto_marker(self.classes_) if _is_auto(self.marker) else self.marker
        )
        _, counts = np.unique(y_arr, return_counts=True)
        needed = 2 if self.cv is None else _n_splits(self.cv)
        stratify = y_arr if counts.min() >= needed else None
        self._fit_guarded(X, y_arr, stratify)
        return self

    def _check_model_classes(self, model: Any) -> None:
        seen = getattr(model, "classes_", None)
        if seen is not None and not np.array_equal(np.asarray(seen), self.classes_):
            raise ValueError(
                f"The model was trained on part of the data and saw only the classes "
                f"{list(seen)!r} of {list(self.classes_)!r}: each class needs enough rows "
                "in the training part. Use more data, a smaller cal_size, or fewer folds."
            )

    def predict(self, X: Any) -> NDArray[Any]:
        """Labels, with ``withheld_marker_`` in every withheld row. Shape ``(n_samples,)``.

        With the default ``marker="auto"`` the column keeps the kind of ``classes_``
        (integers stay integers, strings stay strings), so scikit-learn's metrics accept
        it, and a withheld row counts as a wrong answer there. When withheld rows are
        returned this way a [`GuardrailsWarning`][guardrails.GuardrailsWarning] says so
        (Python shows it once per calling line by default); ``decide(X)`` says which
        rows and why.
        """
        d = self.decide(X)
        marker = getattr(self, "withheld_marker_", self.marker)
        if not _is_auto(self.marker):
            return d.predictions(marker)
        out = _marked(d, marker)
        if d.abstained.any():
            warnings.warn(
                f"{self._owner}.predict() returned withheld rows marked {marker!r} "
                "(withheld_marker_); scikit-learn metrics count them as wrong answers. "
                "decide(X) says which rows and why; pass marker=... to choose the marker "
                "and silence this warning.",
                GuardrailsWarning,
                stacklevel=2,
            )
        return out

    def _has_proba(self) -> bool:
        if self.calibration is not None:
            return True
        model = getattr(self, "estimator_", self.estimator)
        return callable(getattr(model, "predict_proba", None))

    @available_if(_has_proba)  # type: ignore[untyped-decorator]
    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Class probabilities ``(n_samples, n_classes)`` as the guard sees them.

        Calibrated when the guard calibrates; rows the model never scored (invalid input,
        model error) are NaN.
        """
        d = self.decide(X)
        if d.proba is None:
            return np.full((len(d), len(self.classes_)), np.nan)
        return d.proba

    @available_if(_has_proba)  # type: ignore[untyped-decorator]
    def predict_log_proba(self, X: Any) -> NDArray[np.float64]:
        """``log(predict_proba(X))``: ``(n_samples, n_classes)``, NaN rows never scored."""
        with np.errstate(divide="ignore"):
            out: NDArray[np.float64] = np.log(self.predict_proba(X))
        return out

    def _has_decision_function(self) -> bool:
        if self.calibration is not None:  # the guard decides on calibrated probabilities
            return False
        model = getattr(self, "estimator_", self.estimator)
        return callable(getattr(model, "decision_function", None))

    @available_if(_has_decision_function)  # type: ignore[untyped-decorator]
    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """The trained model's raw scores, ``(n_samples,)`` binary or ``(n_samples, n_classes)``.

        As the model gives them; rows the guard withholds as invalid input are NaN and
        never reach the model. Not available when the guard calibrates (its answers then
        follow the calibrated probabilities: use ``predict_log_proba``).
        """

        check_is_fitted(self)
        X = self._input(X, reset=False)
        d = self.guard_.decide(X)
        rows = X
        if self.schema is not None:
            checker = Validated(
                ModelAdapter(_no_model, output="values"), schema=self.schema, **self._validation()
            )
            rows = checker.validate(X).model_input
        valid = np.flatnonzero(d.reason != int(Reason.INVALID_INPUT))
        scores = np.asarray(
            self.estimator_.decision_function(take_rows(rows, valid)), dtype=np.float64
        )
        out = np.full((len(d), *scores.shape[1:]), np.nan)
        out[valid] = scores
        return out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy where a withheld answer counts as wrong (see guardrails.apps.scoring for
        selective accuracy, AURC and expected cost)."""
        d = self.decide(X)
        y_arr = np.asarray(y)
        correct = d.answered & (d.prediction == y_arr)
        return float(np.average(correct, weights=sample_weight))


class GuardedRegressor(RegressorMixin, _GuardedBase):  # type: ignore[misc]
    """A regressor that trains a model and fits its guard in one ``fit``.

    Args:
        estimator: an unfitted scikit-learn regressor or Pipeline (fitted, with
            ``prefit=True``).
        schema: a pydantic model class or [`Schema`][guardrails.Schema] for the inputs:
            training rows must satisfy it (and are turned into the model's input by
            it), and at predict time invalid rows are withheld with reason
            ``invalid_input``. With a schema, ``X`` may be a list of records.
        validation: the settings of [`Guard.validate`][guardrails.Guard.validate] for
            the schema, as a dict (e.g. ``{"as_frame": True}``).
        policy: the abstention policy (e.g. one that withholds wide conformal
            intervals); None answers every valid row.
        cal_size: share held out to fit the learning layers when ``cv`` is None.
        cv: cross-fitting instead of a held-out share (an int or a splitter).
        prefit: the estimator is already trained; ``fit`` only fits the guard.
        marker: what ``predict`` returns for a withheld row (NaN by default).
        random_state: seed of the held-out split.

    Interval policies that read the inputs (``ConformalIntervals`` with
    ``score="normalized"`` and a ``scale`` model, or ``score="cqr"`` with ``quantiles``)
    have their models trained like the estimator: an unfitted scale model on the
    absolute residuals of the model on its own training rows, unfitted quantile models
    on the training targets (per fold with ``cv``); the conformal quantile is then
    fitted on held-out (or out-of-fold) outputs of both. A fitted model (wrapped in
    ``FrozenEstimator`` to survive ``clone``) or a function is used as given.

    Attributes:
        estimator_: the trained model.
        guard_: the fitted [`Guard`][guardrails.Guard].
        interval_models_: the trained ``scale`` / ``quantiles`` models, by name.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from guardrails import GuardedRegressor
        >>> X = np.arange(20.0).reshape(-1, 1)
        >>> reg = GuardedRegressor(LinearRegression()).fit(X, 3 * X[:, 0])
        >>> reg.predict(np.array([[1.0], [np.nan]])).round(6).tolist()
        [3.0, nan]
    """

    _owner = "GuardedRegressor"

    def __init__(
        self,
        estimator: Any,
        *,
        schema: Any = None,
        validation: Mapping[str, Any] | None = None,
        policy: Policy | None = None,
        cal_size: float = 0.25,
        cv: Any = None,
        prefit: bool = False,
        marker: Any = np.nan,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.schema = schema
        self.validation = validation
        self.policy = policy
        self.cal_size = cal_size
        self.cv = cv
        self.prefit = prefit
        self.marker = marker
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> GuardedRegressor:
        """Train the model and fit the guard.

        Args:
            X: ``(n_samples, n_features)`` training data (or a data frame).
            y: ``(n_samples,)`` numeric targets.

        Returns:
            self
        """
        y_arr = self._target(y)
        X = self._input(X, reset=True)
        check_consistent_length(X, y_arr)
        self._fit_guarded(X, y_arr, None)
        return self

    def _makes_intervals(self) -> bool:
        return self.policy is not None and "interval" in self.policy.makes()

    @available_if(_makes_intervals)  # type: ignore[untyped-decorator]
    def predict_interval(self, X: Any) -> NDArray[np.float64]:
        """``(n_samples, 2)`` lower and upper bounds of the guard's prediction intervals.

        Available when the policy makes intervals (``ConformalIntervals``). Rows the
        guard could make no interval for (invalid input, a failed model) are NaN; a
        withheld row keeps its interval, which says why it was too wide to answer.
        """
        d = self.decide(X)
        if d.interval is None:
            return np.full((len(d), 2), np.nan)
        return np.array(d.interval, dtype=np.float64, copy=True)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² on the rows the guard answered (NaN when it answered none)."""
        d = self.decide(X)
        keep = d.answered
        if not keep.any():
            return float("nan")
        weights = None if sample_weight is None else np.asarray(sample_weight)[keep]
        return float(
            r2_score(np.asarray(y)[keep], d.prediction[keep].astype(float), sample_weight=weights)
        )
