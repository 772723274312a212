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

import copy
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    clone,
)
from sklearn.metrics import r2_score
from sklearn.model_selection import check_cv, train_test_split
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from guardrails.abstention.intervals import ConformalIntervals, _as_function
from guardrails.abstention.online import AdaptiveConformal
from guardrails.abstention.policies import Abstaining
from guardrails.abstention.policy import Policy, _Combined
from guardrails.builder import Guard, artifact_bytes, guard, load_bytes
from guardrails.calibration.calibrators import METHODS, Calibrated, Calibrator
from guardrails.core.adapter import ModelAdapter
from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.layer import take_rows
from guardrails.validation.layer import Validated

__all__ = ["GuardedClassifier", "GuardedRegressor"]


def _is_records(X: Any) -> bool:
    """A list of dicts (or pydantic models): records that a schema validates."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and not _is_sequence(X[0])


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) or hasattr(value, "__array__")


def _is_frame(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns")


class _OutOfFold:
    """A 'model' that returns precomputed out-of-fold outputs for row indices.

    Cross-fitting feeds it ``(n, 1)`` integer arrays of row numbers, so a guard can be
    fitted on the outputs of models that never saw those rows.
    """

    def __init__(self, outputs: NDArray[Any]) -> None:
        self.outputs = outputs

    def __call__(self, index: NDArray[Any]) -> NDArray[Any]:
        out: NDArray[Any] = self.outputs[np.asarray(index)[:, 0]]
        return out


def _no_model(X: Any) -> NDArray[np.float64]:
    """A stand-in model for checking training rows against a schema (never scores)."""
    return np.zeros(len(X))


class _GuardedBase(MetaEstimatorMixin, BaseEstimator):  # type: ignore[misc]
    """What the classifier and the regressor share: fitting the model, then the guard."""

    _owner = "GuardedEstimator"

    estimator: Any
    schema: Any
    validation: Mapping[str, Any] | None
    calibration: Any = None  # the regressor has no calibration
    policy: Policy | None
    cal_size: float
    cv: Any
    prefit: bool
    marker: Any
    random_state: Any

    # -- settings, checked in fit as scikit-learn requires -------------------------------

    def _check_settings(self) -> None:
        owner = self._owner
        if self.estimator is None or not callable(getattr(self.estimator, "predict", None)):
            raise ConfigurationError(
                f"The 'estimator' parameter of {owner} must be a scikit-learn estimator with "
                f"predict(). Got {self.estimator!r} instead."
            )
        if self.policy is not None and not isinstance(self.policy, Policy):
            raise ConfigurationError(
                f"The 'policy' parameter of {owner} must be a Policy such as "
                f"confidence_below(0.8), or None. Got {self.policy!r} instead."
            )
        if self.calibration is not None and not (
            isinstance(self.calibration, Calibrator)
            or (isinstance(self.calibration, str) and self.calibration in METHODS)
        ):
            raise ConfigurationError(
                f"The 'calibration' parameter of {owner} must be None, one of "
                f"{list(METHODS)} or a Calibrator such as TemperatureScaling(). "
                f"Got {self.calibration!r} instead."
            )
        if self.validation is not None:
            if not isinstance(self.validation, Mapping) or self.schema is None:
                raise ConfigurationError(
                    f"The 'validation' parameter of {owner} must be None or a dict of "
                    "Guard.validate() settings (on_invalid, extra, repair, redactor, "
                    f"as_frame), used with schema=... Got {self.validation!r} with "
                    f"schema={self.schema!r} instead."
                )
            defaults = {
                "on_invalid": "abstain",
                "extra": "forbid",
                "repair": (),
                "redactor": None,
                "as_frame": False,
            }
            unknown = sorted(set(self.validation) - set(defaults))
            if unknown:
                raise ConfigurationError(
                    f"The 'validation' parameter of {owner} takes the settings of "
                    f"Guard.validate(): {sorted(defaults)}. Got unknown {unknown!r}."
                )
            Validated.check_settings(schema=self.schema, **{**defaults, **self.validation})
        size = self.cal_size
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 1:
            raise ConfigurationError(
                f"The 'cal_size' parameter of {owner} must be a float in (0, 1). "
                f"Got {size!r} instead."
            )
        if not isinstance(self.prefit, bool):
            raise ConfigurationError(
                f"The 'prefit' parameter of {owner} must be a bool. Got {self.prefit!r}."
            )
        if self.prefit and self.cv is not None:
            raise ConfigurationError(
                f"{owner}(prefit=True) uses the fitted estimator as is; cross-fitting "
                f"(cv={self.cv!r}) would refit it. Pass one of them."
            )
        cv = self.cv
        if cv is not None and not (
            (isinstance(cv, int) and not isinstance(cv, bool) and cv >= 2)
            or callable(getattr(cv, "split", None))
            or hasattr(cv, "__iter__")
        ):
            raise ConfigurationError(
                f"The 'cv' parameter of {owner} must be None (hold out cal_size), an int >= 2 "
                f"or a cross-validation splitter. Got {cv!r} instead."
            )

    # -- the guard -----------------------------------------------------------------------

    def _build(
        self,
        model: Any,
        *,
        output: Any = None,
        classes: Any = None,
        validate: bool = True,
        policy: Policy | None = None,
    ) -> Guard:
        """The configured guard around ``model`` (unfitted).

        ``validate=False`` leaves out the schema: a guard fitted on held-out model outputs
        sees row numbers, not records; validation learns nothing and is added afterwards.
        """
        g = guard(model, output=output, classes=classes)
        if validate and self.schema is not None:
            g = g.validate(self.schema, **self._validation())
        return self._steps(g, self.policy if policy is None else policy)

    def _steps(self, g: Guard, policy: Policy | None) -> Guard:
        if self.calibration is not None:
            g = g.calibrate(self.calibration)
        if policy is not None:
            g = g.abstain(policy)
        return g

    def _validation(self) -> dict[str, Any]:
        """The ``validation`` settings as keywords of ``Guard.validate`` / ``Validated``."""
        return dict(self.validation or {})

    def _load_objects(self) -> dict[str, Any]:
        """Objects that a saved guard of this estimator needs back (code, never stored)."""
        objects = dict(getattr(self, "interval_models_", {}))
        if self.schema is not None:
            objects["schema"] = self.schema
        return objects

    # -- models of the interval (scale, quantiles), trained like the model itself --------

    def _interval_nodes(self) -> list[tuple[str, Any]]:
        """``(parameter path, ConformalIntervals)`` of every policy that reads the inputs."""
        return _interval_nodes(self.policy, "")

    def _fit_interval_models(self, X: Any, y: NDArray[Any], model: Any) -> dict[str, Any]:
        """The fitted scale/quantile models, by parameter name, trained on ``(X, y)``.

        An unfitted estimator is cloned and trained: a scale model on the model's absolute
        residuals ``|y - f(x)|`` on these rows, quantile models on ``y``. A fitted one (in
        ``FrozenEstimator`` to survive ``clone``) or a function is used as given.
        """
        out: dict[str, Any] = {}
        for _, node in self._interval_nodes():
            name = "scale" if node.score == "normalized" else "quantiles"
            given = node.scale if name == "scale" else node.quantiles
            members = given if isinstance(given, tuple) else (given,)
            if not any(_unfitted(m) for m in members):
                out[name] = given
            elif name == "scale":
                residual = np.abs(y - np.asarray(model.predict(X), dtype=np.float64))
                out[name] = clone(given).fit(X, residual)
            else:
                out[name] = tuple(clone(m).fit(X, y) for m in members)
        return out

    def _interval_outputs(self, models: Mapping[str, Any], X: Any) -> dict[str, NDArray[Any]]:
        """What each interval model gives on rows ``X`` (held out, or one test fold)."""

        out: dict[str, NDArray[Any]] = {}
        for name, given in models.items():
            fn = _as_function(self._owner, name, given, 1 if name == "scale" else 2)
            assert fn is not None
            out[name] = np.asarray(fn(X), dtype=np.float64)
        return out

    def _held_out_policy(self, outputs: Mapping[str, NDArray[Any]]) -> Policy | None:
        """The policy with its interval models replaced by their held-out outputs."""
        if not outputs or self.policy is None:
            return self.policy
        policy: Policy = clone(self.policy)
        for path, node in _interval_nodes(policy, ""):
            name = "scale" if node.score == "normalized" else "quantiles"
            policy.set_params(**{path + name: _OutOfFold(outputs[name])})
        return policy

    def _check_interval_models(self) -> None:
        nodes = self._interval_nodes()
        names = ["scale" if n.score == "normalized" else "quantiles" for _, n in nodes]
        if len(names) != len(set(names)):
            raise ConfigurationError(
                f"The 'policy' parameter of {self._owner} may hold one normalized and one "
                f"cqr ConformalIntervals at most (their models are saved by name). Got "
                f"{self.policy!r} instead."
            )
        if self.prefit:
            for _, node in nodes:
                given = node.scale if node.score == "normalized" else node.quantiles
                members = given if isinstance(given, tuple) else (given,)
                if any(_unfitted(m) for m in members):
                    raise NotFittedError(
                        f"{self._owner}(prefit=True) trains nothing, so the models of "
                        f"{node!r} must be fitted already (or functions); "
                        f"{type(members[0]).__name__} is not fitted."
                    )

    def _schema_rows(self, X: Any) -> Any:
        """Training rows as the model will see them through the schema; all must be valid."""

        checker = Validated(
            ModelAdapter(_no_model, output="values"), schema=self.schema, **self._validation()
        )
        result = checker.validate(X)
        if not result.valid.all():
            bad = np.flatnonzero(~result.valid)
            first = result.errors.get(int(bad[0]), ())
            raise InvalidInputError(
                f"{self._owner}.fit() needs training rows that satisfy the schema; "
                f"{bad.size} do not. Row {int(bad[0])}: "
                + "; ".join(f"{e.get('loc')}: {e.get('msg')}" for e in first),
                errors=[
                    {"row": int(i), "errors": list(result.errors.get(int(i), ()))} for i in bad
                ],
            )
        return result.model_input

    @staticmethod
    def _learns(g: Guard) -> bool:
        return any(not layer.is_fitted() for layer in g.layers())

    def _fit_guarded(self, X: Any, y: NDArray[Any], stratify: NDArray[Any] | None) -> None:
        self._check_settings()
        if self.prefit:
            model = self.estimator
            try:
                check_is_fitted(model)
            except Exception as exc:
                raise NotFittedError(
                    f"{self._owner}(prefit=True) needs a fitted estimator; "
                    f"{type(model).__name__} is not fitted. (GridSearchCV and clone() refit "
                    "copies: wrap the model in sklearn.frozen.FrozenEstimator instead.)"
                ) from exc
            self._check_interval_models()
            g = self._build(model)
            if self._learns(g):
                g.fit(X, y)
            self.estimator_ = model
            self.interval_models_ = self._fit_interval_models(X, y, model)
            self.guard_ = g
            return
        self._check_interval_models()
        if self.schema is not None:
            X = self._schema_rows(X)
        if not self._configured_learns():
            self.estimator_ = clone(self.estimator).fit(X, y)
            self.interval_models_ = {}
            self.guard_ = self._build(self.estimator_)
        elif self.cv is None:
            self._fit_held_out(X, y, stratify)
        else:
            self._fit_cross(X, y, stratify)

    def _configured_learns(self) -> bool:
        """Whether the configured guard has layers that learn from held-out data.

        The model is not trained yet, so this is read off the settings themselves.
        """
        if self.calibration is not None:
            return True
        return self.policy is not None and not copy.deepcopy(self.policy).is_fitted()

    def _fit_held_out(self, X: Any, y: NDArray[Any], stratify: NDArray[Any] | None) -> None:
        index = np.arange(len(y))
        fit_rows, cal_rows = train_test_split(
            index, test_size=self.cal_size, random_state=self.random_state, stratify=stratify
        )
        X_fit, X_cal = _safe_indexing(X, fit_rows), _safe_indexing(X, cal_rows)
        model = clone(self.estimator).fit(X_fit, y[fit_rows])
        self._check_model_classes(model)
        kind, outputs = _outputs(model, X_cal)
        models = self._fit_interval_models(X_fit, y[fit_rows], model)
        extra = self._interval_outputs(models, X_cal)
        self._fit_layers(kind, outputs, y[cal_rows], model, extra, models)

    def _fit_cross(self, X: Any, y: NDArray[Any], stratify: NDArray[Any] | None) -> None:
        splitter = check_cv(self.cv, y, classifier=stratify is not None)
        outputs: NDArray[Any] | None = None
        covered = np.zeros(len(y), dtype=bool)
        kind: Any = None
        extra: dict[str, NDArray[Any]] = {}
        for train, test in splitter.split(X, y):
            X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
            model = clone(self.estimator).fit(X_train, y[train])
            self._check_model_classes(model)
            kind, raw = _outputs(model, X_test)
            if outputs is None:
                outputs = np.full((len(y), *raw.shape[1:]), np.nan, dtype=raw.dtype)
            outputs[test] = raw
            fold_models = self._fit_interval_models(X_train, y[train], model)
            for name, values in self._interval_outputs(fold_models, X_test).items():
                if name not in extra:
                    extra[name] = np.full((len(y), *values.shape[1:]), np.nan)
                extra[name][test] = values
            covered[test] = True
        if outputs is None or not covered.all():
            raise ConfigurationError(
                f"The 'cv' parameter of {self._owner} must give every row one test fold; "
                f"{self.cv!r} left rows without an out-of-fold prediction."
            )
        final = clone(self.estimator).fit(X, y)
        self._check_model_classes(final)
        models = self._fit_interval_models(X, y, final)
        self._fit_layers(kind, outputs, y, final, extra, models)

    def _fit_layers(
        self,
        kind: Any,
        outputs: NDArray[Any],
        y: NDArray[Any],
        model: Any,
        extra: Mapping[str, NDArray[Any]],
        models: Mapping[str, Any],
    ) -> None:
        """Fit the guard on held-out model outputs, then put its layers around ``model``.

        The model's errors on held-out rows propagate (as scikit-learn's own fitting
        does): a guard fitted on rows the model could not score would be fitted on nothing.
        """
        classes = getattr(self, "classes_", None)
        held_out = self._build(
            _OutOfFold(outputs),
            output=kind,
            classes=classes,
            validate=False,
            policy=self._held_out_policy(extra),
        )
        held_out.fit(np.arange(len(y))[:, None], y)
        self.estimator_ = model
        self.interval_models_ = dict(models)
        fitted = _transplant(held_out, model, self._load_objects())
        self.guard_ = (
            fitted if self.schema is None else fitted.validate(self.schema, **self._validation())
        )

    def _check_model_classes(self, model: Any) -> None:
        """The trained model must know every class (only classifiers check)."""

    # -- input ---------------------------------------------------------------------------

    def _input(self, X: Any, *, reset: bool) -> Any:
        """``X`` checked for shape and feature names; values are left to the guard.

        With a schema, the guard's validation checks everything (records, frames, arrays).
        """
        if self.schema is not None:
            return X
        if not (_is_frame(X) or _is_records(X)):
            X = check_array(
                X, dtype=None, ensure_all_finite=False, accept_sparse=("csr", "csc"), ensure_2d=True
            )
        validate_data(self, X, reset=reset, skip_check_array=True)
        return X

    def _target(self, y: Any) -> NDArray[Any]:
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        return np.asarray(column_or_1d(y, warn=True))

    # -- what a fitted estimator gives ---------------------------------------------------

    def decide(self, X: Any) -> Decisions:
        """The guard's [`Decisions`][guardrails.Decisions] for every row of ``X``.

        Args:
            X: ``(n_samples, n_features)`` array or data frame (or records, when the guard
                validates a schema).

        Returns:
            One decision per row: prediction, whether and why it was withheld, confidence...
        """
        check_is_fitted(self)
        return self.guard_.decide(self._input(X, reset=False))

    def predict(self, X: Any) -> NDArray[Any]:
        """Predictions with ``marker`` in every withheld row. Shape ``(n_samples,)``."""
        return self.decide(X).predictions(self.marker)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator) if self.estimator is not None else None
        if inner is not None:
            tags.input_tags.sparse = inner.input_tags.sparse
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    # -- saving: one pickle-free file, the model saved by the caller --------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted estimator to ``path``: its settings and its guard, never pickle.

        One zip file holding ``estimator.json`` (the settings, classes and feature names)
        and the guard's own artifact (as [`Guard.save`][guardrails.Guard.save] writes it).
        The trained model is not stored, nor are code objects (a schema, interval
        models): save the model with skops (``skops.io.dump(est.estimator_, ...)``) and
        pass it, and them, back to [`load`][guardrails.GuardedClassifier.load].

        Raises:
            sklearn.exceptions.NotFittedError: the estimator is not fitted.
        """
        import json
        import zipfile

        check_is_fitted(self)
        settings: dict[str, Any] = {
            "format": "guardrails-estimator",
            "format_version": 1,
            "type": type(self).__name__,
            "cal_size": self.cal_size,
            "cv": self.cv if self.cv is None or isinstance(self.cv, int) else None,
            "prefit": self.prefit,
            "random_state": self.random_state if isinstance(self.random_state, int) else None,
            "marker": _to_json(self.marker),
            "calibration": self.calibration if isinstance(self.calibration, str) else None,
            "validation": _json_or_none(self.validation),
            "n_features_in": getattr(self, "n_features_in_", None),
            "feature_names_in": (
                None
                if getattr(self, "feature_names_in_", None) is None
                else [str(c) for c in self.feature_names_in_]
            ),
        }
        if hasattr(self, "classes_"):
            settings["classes"] = _to_json(self.classes_.tolist())
            settings["classes_dtype"] = self.classes_.dtype.str
            settings["withheld_marker"] = _to_json(self.withheld_marker_)
        target = Path(path)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("estimator.json", json.dumps(settings, indent=1, sort_keys=True))
            zf.writestr("guard.zip", artifact_bytes(self.guard_))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, model: Any, **objects: Any) -> Any:
        """A fitted estimator from a file [`save`][guardrails.GuardedClassifier.save] wrote.

        Args:
            path: the file.
            model: the trained model the estimator was fitted with (e.g. from
                ``skops.io.load``); it becomes ``estimator_`` and ``estimator``.
            **objects: what the file names but never stores: ``schema=``, the interval
                models ``scale=`` / ``quantiles=``; settings that were objects
                (``cv=`` a splitter, ``random_state=`` a generator) may be given too.

        Raises:
            ArtifactError: not a saved estimator of this class, or the guard in it does
                not match ``model`` or the objects given.
        """
        import json
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                settings = json.loads(zf.read("estimator.json"))
                blob = zf.read("guard.zip")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"{path!s} is not a saved guarded estimator: {exc}") from exc
        if settings.get("format") != "guardrails-estimator" or settings.get("type") != cls.__name__:
            raise ArtifactError(
                f"{path!s} holds a {settings.get('type')!r}, not a {cls.__name__}; load it "
                "with that class (or guardrails.load for a bare guard artifact)."
            )
        settings_only = ("cv", "random_state", "validation")
        guard_objects = {k: v for k, v in objects.items() if k not in settings_only}
        g = load_bytes(blob, model=model, **guard_objects)
        layers = list(g.layers())
        policy = next((x.policy for x in layers if isinstance(x, Abstaining)), None)
        calibrator = next((x.calibrator for x in layers if isinstance(x, Calibrated)), None)
        params: dict[str, Any] = {
            "schema": objects.get("schema"),
            "validation": objects.get("validation", settings.get("validation")),
            "policy": None if policy is None else clone(policy),
            "cal_size": settings["cal_size"],
            "cv": objects.get("cv", settings["cv"]),
            "prefit": settings["prefit"],
            "marker": _from_json(settings["marker"]),
            "random_state": objects.get("random_state", settings["random_state"]),
        }
        import inspect

        if "calibration" in inspect.signature(cls).parameters:
            params["calibration"] = settings["calibration"] or (
                None if calibrator is None else clone(calibrator)
            )
        est = cls(model, **params)
        est.estimator_ = model
        est.guard_ = g
        est.interval_models_ = {k: objects[k] for k in ("scale", "quantiles") if k in objects}
        if settings["n_features_in"] is not None:
            est.n_features_in_ = int(settings["n_features_in"])
        if settings["feature_names_in"] is not None:
            est.feature_names_in_ = np.asarray(settings["feature_names_in"], dtype=object)
        if "classes" in settings:
            est.classes_ = np.asarray(
                _from_json(settings["classes"]), dtype=np.dtype(settings["classes_dtype"])
            )
            est.withheld_marker_ = _from_json(settings["withheld_marker"])
        return est

    # -- pickling: the guard travels as its saved artifact, never as live objects --------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        g = state.pop("guard_", None)
        if g is not None:
            state["_guard_artifact"] = artifact_bytes(g)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_guard_artifact", None)
        super().__setstate__(state)
        if blob is not None:
            self.guard_ = load_bytes(blob, model=self.estimator_, **self._load_objects())


def _json_or_none(value: Any) -> Any:
    """``value`` when JSON can hold it as it is (settings without objects), else None."""
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value


def _to_json(value: Any) -> Any:
    """``value`` as JSON, with NaN and numpy scalars tagged so they come back as they were."""
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return {"$float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigurationError(
        f"save() stores markers and labels as JSON; {value!r} ({type(value).__name__}) is not "
        "one of None, a bool, a number or a string."
    )


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict) and "$float" in value:
        return float(value["$float"])
    return value


def _interval_nodes(policy: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every ``ConformalIntervals`` inside ``policy`` that reads the model inputs."""

    if isinstance(policy, ConformalIntervals):
        return [(prefix, policy)] if policy.uses_inputs else []
    if isinstance(policy, AdaptiveConformal):
        return _interval_nodes(policy.base, prefix + "base__")
    if isinstance(policy, _Combined):
        found: list[tuple[str, Any]] = []
        for i, p in enumerate(policy.policies):
            found += _interval_nodes(p, f"{prefix}{i}__")
        return found
    return []


def _unfitted(model: Any) -> bool:
    """An estimator (it has ``fit``) that has not been fitted."""
    if not (callable(getattr(model, "fit", None)) and hasattr(model, "get_params")):
        return False
    try:
        check_is_fitted(model)
    except Exception:  # sklearn's NotFittedError, or a model check_is_fitted cannot read
        return True
    return False


def _outputs(model: Any, X: Any) -> tuple[Any, NDArray[np.float64]]:
    """What the guard's adapter would read from ``model`` on ``X``, and its kind."""
    adapter = ModelAdapter(model)
    raw = np.asarray(adapter._method(X))
    if adapter.output == "labels":  # labels keep their type (strings, ints...)
        return adapter.output, raw.astype(object)
    return adapter.output, raw.astype(np.float64)


def _transplant(fitted: Guard, model: Any, objects: Mapping[str, Any]) -> Guard:
    """The fitted layers of ``fitted`` around another model with the same outputs."""
    return load_bytes(artifact_bytes(fitted), model=model, **objects)


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


_AUTO = "auto"


def _is_auto(marker: Any) -> bool:
    return isinstance(marker, str) and marker == _AUTO


def _auto_marker(classes: NDArray[Any]) -> Any:
    """A marker of the same kind as the class labels that is not one of them.

    Integers (and booleans): -1, or one below the smallest class when -1 is a class
    (one above the largest for unsigned labels); strings: "withheld" (with "_" added
    until it is not a class); floats: NaN; anything else: None.
    """
    kind = classes.dtype.kind
    values = classes.tolist()
    if kind == "O" and values and all(isinstance(v, str) for v in values):
        kind = "U"
    elif (
        kind == "O"
        and values
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    ):
        kind = "i"
    if kind == "u":
        return int(max(values)) + 1
    if kind in "ib":
        return -1 if -1 not in values else int(min(values)) - 1
    if kind in "US":
        marker = "withheld"
        while marker in values:
            marker += "_"
        return marker
    if kind == "f":
        return float("nan")
    return None


def _marked(d: Decisions, marker: Any) -> NDArray[Any]:
    """The prediction column with ``marker`` in withheld rows, in a dtype that holds both."""
    pred = np.asarray(d.prediction)
    if not d.abstained.any():
        return np.array(pred, copy=True)
    if marker is None or pred.dtype.kind == "O":
        out = pred.astype(object)
    else:
        out = pred.astype(np.result_type(pred.dtype, np.asarray(marker).dtype))
    out[d.abstained] = marker
    return out


def _n_splits(cv: Any) -> int:
    if isinstance(cv, int):
        return cv
    get: Callable[[], int] | None = getattr(cv, "get_n_splits", None)
    try:
        return int(get()) if get is not None else 2
    except TypeError:
        return 2
