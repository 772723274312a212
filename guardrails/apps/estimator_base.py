"""The shared fitting, prediction and saving of the scikit-learn estimators (their base class)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    clone,
)
from sklearn.model_selection import check_cv, train_test_split
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from guardrails.abstention.intervals import _as_function
from guardrails.abstention.policies import Abstaining
from guardrails.abstention.policy import Policy
from guardrails.apps.estimator_helpers import (
    _from_json,
    _interval_nodes,
    _is_frame,
    _is_records,
    _json_or_none,
    _no_model,
    _OutOfFold,
    _outputs,
    _to_json,
    _transplant,
    _unfitted,
)
from guardrails.builder import Guard, guard
from guardrails.calibration.calibrators import METHODS, Calibrated, Calibrator
from guardrails.core.adapter import ModelAdapter
from guardrails.core.decisions import Decisions
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    InvalidInputError,
    NotFittedError,
)
from guardrails.loading import artifact_bytes, load_bytes
from guardrails.validation.layer import Validated


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
        model, kind, outputs, models, extra = self._fit_part(X_fit, y[fit_rows], X_cal)
        self._fit_layers(kind, outputs, y[cal_rows], model, extra, models)

    def _fit_part(
        self, X_train: Any, y_train: NDArray[Any], X_test: Any
    ) -> tuple[Any, Any, NDArray[Any], dict[str, Any], dict[str, NDArray[Any]]]:
        """Train a fresh clone on one part and score the other: the held-out split and each fold.

        Returns the model, its output kind and outputs on ``X_test``, its interval models
        and their outputs on ``X_test``.
        """
        model = clone(self.estimator).fit(X_train, y_train)
        self._check_model_classes(model)
        kind, outputs = _outputs(model, X_test)
        models = self._fit_interval_models(X_train, y_train, model)
        return model, kind, outputs, models, self._interval_outputs(models, X_test)

    def _fit_cross(self, X: Any, y: NDArray[Any], stratify: NDArray[Any] | None) -> None:
        splitter = check_cv(self.cv, y, classifier=stratify is not None)
        outputs: NDArray[Any] | None = None
        covered = np.zeros(len(y), dtype=bool)
        kind: Any = None
        extra: dict[str, NDArray[Any]] = {}
        for train, test in splitter.split(X, y):
            X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
            _, kind, raw, _, fold_extra = self._fit_part(X_train, y[train], X_test)
            if outputs is None:
                outputs = np.full((len(y), *raw.shape[1:]), np.nan, dtype=raw.dtype)
            outputs[test] = raw
            for name, values in fold_extra.items():
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
