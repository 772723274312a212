"""The builder: ``guard(model)`` assembles wrappers in the canonical order of DESIGN.md.

Whatever order the steps are called in, the stack is, outermost first:

    Logged( Reviewed( WithFallback( Monitored( Abstaining( Calibrated(
        NoveltyGated( Validated( model ))))))))

Each step returns a new [`Guard`][]; the stack is built (and checked) on first use or
by [`Guard.build`][], then ``fit(X_cal, y_cal)`` fits it inside out. A step called after
``fit`` that needs no fitting keeps copies of the fitted layers; ``calibrate`` or
``abstain`` after ``fit`` gives a guard to fit again.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from numpy.typing import NDArray

from guardrails.abstention.policies import Abstaining, Policy
from guardrails.assembly import _REFITTING, _carried, _share_schema_secrets, _slot_of, _Step
from guardrails.assembly import CANONICAL_ORDER as CANONICAL_ORDER
from guardrails.calibration.calibrators import (
    Calibrated,
    Calibrator,
    RecalibrationReport,
    make_calibrator,
    recalibrate,
    row_fingerprints,
)
from guardrails.core import persistence
from guardrails.core.adapter import ModelAdapter, OutputKind
from guardrails.core.decisions import Decisions
from guardrails.core.errors import (
    ConfigurationError,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.layer import Call, Layer
from guardrails.core.redaction import Redactor
from guardrails.core.workers import WorkerPool
from guardrails.fallback.breaker import CircuitBreaker
from guardrails.fallback.chain import ExhaustedPolicy, WithFallback, normalise_stages
from guardrails.fallback.chain import check_settings as check_fallback_settings
from guardrails.monitoring.changepoint import PageHinkley
from guardrails.monitoring.drift import TESTS, DriftProfile
from guardrails.monitoring.monitor import DriftAction, Monitored
from guardrails.monitoring.novelty import NoveltyGate, NoveltyGated, Scorer
from guardrails.monitoring.performance import PerformanceRule
from guardrails.monitoring.reference import MIN_EFFECT
from guardrails.observability.observe import MAX_ROW_EVENTS
from guardrails.observability.telemetry import Metrics
from guardrails.review.budget import PriorityFn, ReviewBudget
from guardrails.review.labels import labelled_data
from guardrails.review.queue import ReviewQueue
from guardrails.steps import log_step, review_step
from guardrails.validation.layer import ExtraPolicy, OnInvalid, Repair, Validated

if TYPE_CHECKING:
    import os

    from guardrails.core.redaction import Redactor
    from guardrails.observability.alerts import Alerts
    from guardrails.observability.telemetry import Metrics

__all__ = ["CANONICAL_ORDER", "Guard", "guard"]

L = TypeVar("L", bound=Layer)


class Guard(Layer):
    """A model behind guard layers; what [`guard`][] returns.

    Use [`guard`][] to make one. A guard is itself a [`Layer`][guardrails.core.layer.Layer],
    so it can be a fallback stage of another guard.
    """

    name = "guard"

    def __init__(
        self,
        model: Any,
        *,
        output: OutputKind | None = None,
        classes: Sequence[Any] | NDArray[Any] | None = None,
        name: str = "guard",
        version: str = "0",
        steps: Sequence[_Step] = (),
        added: Sequence[tuple[str, _Step]] = (),
        allow_nan: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"The 'name' parameter of guard must be a non-empty str. Got {name!r}."
            )
        if not isinstance(version, str):
            raise ConfigurationError(
                f"The 'version' parameter of guard must be a str. Got {version!r}."
            )
        self.model = model
        self.output = output
        self.classes = None if classes is None else list(classes)
        self.guard_name = name
        self.version = version
        self._steps: dict[str, _Step] = {s.slot: s for s in steps}
        self._added: tuple[tuple[str, _Step], ...] = tuple(added)  # (after, step) by .add
        self._adapter = ModelAdapter(model, output=output, classes=classes, allow_nan=allow_nan)
        self.allow_nan = allow_nan
        self._lock = threading.Lock()
        self._stack: Layer | None = None
        self._fitted = False  # fit (or load) completed on this guard
        self._unfitted_by: str | None = None  # the step after fit that asks for a new fit

    # -- builder -------------------------------------------------------------------------

    def _with(self, step: _Step) -> Guard:
        if step.slot in self._steps:
            raise ConfigurationError(
                f".{step.slot}() was already called on this guard "
                f"({self._steps[step.slot].text}); a guard has one {step.slot} step. "
                + (
                    "Combine policies with | or & instead."
                    if step.slot == "abstain"
                    else "Build a new guard to change it."
                )
            )
        new = Guard(
            self.model,
            output=self.output,
            classes=self.classes,
            name=self.guard_name,
            version=self.version,
            steps=[*self._steps.values(), step],
            added=self._added,
            allow_nan=self.allow_nan,
        )
        if not self._fitted or self._stack is None:
            new._unfitted_by = self._unfitted_by
        elif step.slot in _REFITTING:
            new._unfitted_by = f".{step.slot}({step.text})"
        else:
            for layer in self._stack.layers():
                slot = _slot_of(layer)
                if slot is not None and slot in new._steps:
                    old = new._steps[slot]
                    new._steps[slot] = _Step(slot, _carried(old.build, layer), old.text)
            new._fitted = True
        return new

    def abstain(self, policy: Policy) -> Guard:
        """Withhold answers that ``policy`` does not trust (e.g. ``confidence_below(0.8)``)."""
        if not isinstance(policy, Policy):
            raise ConfigurationError(
                "The 'policy' parameter of abstain() must be a Policy such as "
                f"confidence_below(0.8). Got {policy!r} instead."
            )
        return self._with(
            _Step(
                "abstain",
                lambda inner: Abstaining(inner, policy=copy.deepcopy(policy)),
                repr(policy),
            )
        )

    def fallback(
        self,
        *stages: Any,
        primary_timeout: float | None = None,
        primary_breaker: CircuitBreaker | None = None,
        on_exhausted: ExhaustedPolicy = "abstain",
        max_workers: int = 32,
        max_wait: float | None = None,
        workers: WorkerPool | None = None,
    ) -> Guard:
        """Send rows the guard does not answer down ``stages`` (see [`WithFallback`][]).

        Stages are [`ModelStage`][guardrails.ModelStage], [`Rule`][guardrails.Rule],
        [`Default`][guardrails.Default], [`SendToReview`][guardrails.SendToReview] or shorthand (a
        model or guard, a rule function). Each built guard gets its own copies of the
        stages' breakers; models, guards and rule functions are shared. ``max_workers``
        and ``max_wait`` size each built guard's own worker pool; ``workers`` shares one
        [`WorkerPool`][guardrails.WorkerPool] between every guard given it.
        """
        chain = normalise_stages(stages)
        check_fallback_settings(
            primary_timeout, primary_breaker, on_exhausted, max_workers, max_wait
        )
        if workers is not None and not isinstance(workers, WorkerPool):
            raise ConfigurationError(
                "The 'workers' parameter of fallback() must be a WorkerPool or None. "
                f"Got {workers!r} instead."
            )
        return self._with(
            _Step(
                "fallback",
                lambda inner: WithFallback(
                    inner,
                    [s.copy() for s in chain],
                    primary_timeout=primary_timeout,
                    primary_breaker=copy.deepcopy(primary_breaker),
                    on_exhausted=on_exhausted,
                    max_workers=max_workers,
                    max_wait=max_wait,
                    workers=workers,
                ),
                ", ".join(repr(s) for s in chain),
            )
        )

    def review(
        self,
        queue: ReviewQueue,
        *,
        audit_rate: float = 0.0,
        priority: str | float | PriorityFn = "uncertainty",
        provisional: bool = False,
        redactor: Redactor | None = None,
        deadline: float | None = None,
        seed: int | None = None,
        data_quality_cap: int | None = 100,
        data_quality_window: float = 3600.0,
        audit_favour: float = 0.0,
        budget: ReviewBudget | int | None = None,
        on_budget: str | Callable[[Any], Any] = "withhold",
    ) -> Guard:
        """Queue rows still withheld (and an audit sample of answers) for human review.

        See [`Reviewed`][guardrails.review.layer.Reviewed] for the arguments. The queue is shared,
        not copied: it stands for an external store. Invalid-input rows go in as
        "data_quality" cases, after the model's cases, at most ``data_quality_cap`` per
        ``data_quality_window`` seconds. ``budget`` (a
        [`ReviewBudget`][guardrails.review.budget.ReviewBudget] or cases per hour) caps the
        withheld rows queued, chosen by expected value of review; ``on_budget`` says what
        the rows over it get ("withhold", "provisional" or a function). Each built guard
        counts its own budget.
        """
        settings: dict[str, Any] = {
            "queue": queue,
            "audit_rate": audit_rate,
            "priority": priority,
            "provisional": provisional,
            "redactor": redactor,
            "deadline": deadline,
            "seed": seed,
            "data_quality_cap": data_quality_cap,
            "data_quality_window": data_quality_window,
            "audit_favour": audit_favour,
            "budget": budget,
            "on_budget": on_budget,
        }
        return self._with(review_step(self._adapter, settings, self.guard_name, self.version))

    def monitor(
        self,
        profile: DriftProfile,
        *,
        window: int = 2000,
        mode: str = "sliding",
        step: int | None = None,
        tests: Sequence[str] = TESTS,
        alpha: float | None = None,
        correction: str = "bonferroni",
        thresholds: dict[str, float | None] | None = None,
        ks_method: str = "asymp",
        action: DriftAction | Sequence[DriftAction] | None = None,
        recovery: int = 1,
        detector: PageHinkley | None = None,
        logger: Any = None,
        false_alarms: float | None = None,
        per_rows: int = 1_000_000,
        min_effect: float = MIN_EFFECT,
        performance: PerformanceRule | None = None,
    ) -> Guard:
        """Watch inputs and outputs for drift against ``profile``; act while it lasts.

        See [`Monitored`][guardrails.monitoring.monitor.Monitored] for the settings. The profile is
        shared
        (it is never changed); actions and the detector are copied per built guard.
        """
        settings: dict[str, Any] = dict(
            profile=profile,
            window=window,
            mode=mode,
            step=step,
            tests=tests,
            alpha=alpha,
            correction=correction,
            thresholds=thresholds,
            ks_method=ks_method,
            recovery=recovery,
            logger=logger,
            false_alarms=false_alarms,
            per_rows=per_rows,
            min_effect=min_effect,
        )
        checked = Monitored._check(action=action, detector=detector, **settings)

        def build(inner: Layer) -> Layer:
            actions = [a.fresh() for a in checked["actions"]]
            return Monitored(
                inner,
                action=actions,
                detector=copy.deepcopy(detector),
                performance=performance,
                **settings,
            )

        return self._with(_Step("monitor", build, f"window={window}, mode={mode!r}"))

    def novelty(
        self,
        reference: Any,
        *,
        alpha: float = 0.01,
        score: str | Scorer = "knn",
        n_neighbors: int = 20,
        relative: bool = True,
        categorical: Sequence[int | str] = (),
        embed: Callable[[Any], Any] | None = None,
        max_reference: int | None = 50_000,
        n_estimators: int = 100,
        seed: int = 0,
    ) -> Guard:
        """Withhold rows unlike ``reference`` (``Reason.NOVEL``), whatever the confidence.

        The detector is fitted on ``reference`` (the training rows) now; ``fit(X_cal,
        y_cal)`` calibrates it on the held-out rows into conformal p-values, and a row
        whose p-value is at most ``alpha`` is withheld: at most ``alpha`` of in-distribution
        rows. See [`NoveltyGate`][guardrails.NoveltyGate] for the settings, or pass
        a fitted gate as ``reference``. The fitted detector is shared by built guards.
        """
        if isinstance(reference, NoveltyGate):
            gate = reference
            gate._check_reference()
        else:
            gate = NoveltyGate(
                alpha=alpha,
                score=score,
                n_neighbors=n_neighbors,
                relative=relative,
                categorical=categorical,
                embed=embed,
                max_reference=max_reference,
                n_estimators=n_estimators,
                seed=seed,
            ).fit(reference)
        return self._with(
            _Step("novelty", lambda inner: NoveltyGated(inner, gate=gate), repr(gate))
        )

    def calibrate(
        self, method: str | Calibrator = "temperature", *, training_data: Any = None
    ) -> Guard:
        """Calibrate the model's probabilities or scores on held-out data at ``fit``.

        Args:
            method: "temperature", "sigmoid", "isotonic", "histogram", "vector", or a
                [`Calibrator`][guardrails.calibration.base.Calibrator] (each built guard
                fits a copy).
            training_data: optionally the model's training data; ``fit`` then warns when
                the calibration rows are mostly training rows (only row fingerprints are
                kept).
        """
        calibrator = make_calibrator(method, owner="calibrate()")
        fingerprints = None if training_data is None else row_fingerprints(training_data)

        def build(inner: Layer) -> Layer:
            layer = Calibrated(inner, method=copy.deepcopy(calibrator))
            layer._training_rows = fingerprints
            return layer

        return self._with(_Step("calibrate", build, repr(calibrator)))

    def recalibrate_from(
        self,
        queue: ReviewQueue,
        *,
        since: float | None = None,
        until: float | None = None,
        kind: Literal["withheld", "audit"] | None = None,
        holdout: float = 0.3,
        weighted: bool = True,
        seed: int = 0,
    ) -> RecalibrationReport:
        """Refit the calibrator on cases people labelled in ``queue``; report before/after.

        Uses [`labelled_data`][guardrails.review.labels.labelled_data] and
        [`recalibrate`][guardrails.calibration.report.recalibrate]. Withheld cases are the
        hard ones, so a
        calibrator refitted on them alone learns the low-confidence region best; an audit
        sample of confident answers (``kind="audit"``, or both) keeps it honest elsewhere.
        Inputs the queue stored redacted cannot be replayed and are left out.

        With ``weighted=True`` (default) the cases are first resampled by their stored
        inclusion weights
        ([`LabelledData.resample`][guardrails.review.labels.LabelledData.resample]),
        so a sample that favoured uncertain rows, or a mix of withheld and audit cases,
        is fitted in the proportions of the served traffic; with equal weights nothing
        changes. ``seed`` fixes that draw.
        """
        if not isinstance(weighted, bool):
            raise ConfigurationError(
                f"The 'weighted' parameter of recalibrate_from must be a bool. Got {weighted!r}."
            )
        data = labelled_data(queue, since=since, until=until, kind=kind)
        if len(data) == 0:
            raise InvalidInputError("recalibrate_from: the queue holds no labelled case yet.")
        if weighted:
            data = data.resample(seed=seed)
        return recalibrate(self, data.X, data.y, holdout=holdout, seed=seed)

    def validate(
        self,
        schema: Any,
        *,
        on_invalid: OnInvalid = "abstain",
        extra: ExtraPolicy = "forbid",
        repair: Repair = (),
        redactor: Redactor | None = None,
        as_frame: bool = False,
    ) -> Guard:
        """Check inputs against ``schema`` (a pydantic model or a Schema) before the model.

        See [`Validated`][guardrails.validation.layer.Validated] for the settings.
        """
        settings = Validated.check_settings(
            schema=schema,
            on_invalid=on_invalid,
            extra=extra,
            repair=repair,
            redactor=redactor,
            as_frame=as_frame,
        )
        compiled = settings["schema"]
        text = f"{compiled.model.__name__}, on_invalid={on_invalid!r}"
        return self._with(
            _Step(
                "validate",
                lambda inner: Validated(
                    inner,
                    schema=compiled,
                    on_invalid=on_invalid,
                    extra=extra,
                    repair=copy.deepcopy(repair),
                    redactor=copy.deepcopy(redactor),
                    as_frame=as_frame,
                ),
                text,
            )
        )

    def log(
        self,
        logger: Any = None,
        *,
        redactor: Redactor | None = None,
        sample: float = 0.0,
        details: bool = False,
        metrics: Metrics | None = None,
        alerts: Alerts | None = None,
        max_row_events: int | None = MAX_ROW_EVENTS,
    ) -> Guard:
        """Emit one structlog event per decision, record metrics and evaluate alert rules.

        Events carry the guard's name and version and never the raw input (see
        [`Logged`][guardrails.observability.observe.Logged] and ``docs/observability.md``).

        Args:
            logger: a structlog logger; ``structlog.get_logger("guardrails")`` if None.
            redactor: sensitive fields, hidden from fingerprints and error details.
            sample: share of a batch's primary-answered rows that also get a row event.
            details: also emit error details, scrubbed by ``redactor`` (off: type only).
            metrics: a [`Metrics`][guardrails.observability.telemetry.Metrics] registry (shared,
                not copied).
            alerts: [`Alerts`][guardrails.observability.alerts.Alerts] rules and sinks (shared, not
                copied).
            max_row_events: at most this many row events per batch (default 20; None: no
                limit); the batch event names every withheld and fallback row anyway.
        """
        settings: dict[str, Any] = {
            "logger": logger,
            "redactor": redactor,
            "sample": sample,
            "details": details,
            "metrics": metrics,
            "alerts": alerts,
            "max_row_events": max_row_events,
        }
        return self._with(log_step(settings, self.guard_name, self.version))

    def add(self, factory: Callable[[Layer], Layer], *, after: str) -> Guard:
        """Put a layer of your own in the stack, right outside the slot ``after``.

        The stack keeps its canonical order whatever order the steps are called in; a
        user layer goes just outside the step it names (``after="model"``: next to the
        model, inside validation). Several layers added after one slot nest in the order
        they were added. See the guide *Writing a layer*.

        Args:
            factory: called with the layer below, returns your layer; a
                [`PostLayer`][guardrails.core.post.PostLayer] subclass whose ``__init__``
                takes the inner layer is such a callable.
            after: "model" or one of ``CANONICAL_ORDER`` ("validate", "calibrate",
                "abstain", "monitor", "fallback", "review", "log"), whether or not that
                step is in this guard.

        Raises:
            ConfigurationError: ``factory`` is not callable or ``after`` names no slot.

        Examples:
            >>> import numpy as np
            >>> from guardrails import PostLayer, guard
            >>> class Doubled(PostLayer):
            ...     name = "doubled"
            ...     def post(self, d, call):
            ...         return d.replace(prediction=d.prediction * 2)
            >>> g = guard(lambda X: X[:, 0], output="values").add(Doubled, after="model")
            >>> g.predict(np.array([[1.5]])).tolist()
            [3.0]
        """
        if not callable(factory):
            raise ConfigurationError(
                "The 'factory' parameter of Guard.add must be callable (a Layer class, or a "
                f"function of the inner layer returning a Layer). Got {factory!r} instead."
            )
        if after != "model" and after not in CANONICAL_ORDER:
            raise ConfigurationError(
                "The 'after' parameter of Guard.add must be 'model' or one of "
                f"{list(CANONICAL_ORDER)}. Got {after!r} instead."
            )
        label = getattr(factory, "__name__", None) or type(factory).__name__

        def build(inner: Layer) -> Layer:
            layer = factory(inner)
            if not isinstance(layer, Layer):
                raise ConfigurationError(
                    f"Guard.add: {label}(inner) must return a Layer. Got {layer!r} instead."
                )
            return layer

        new = Guard(
            self.model,
            output=self.output,
            classes=self.classes,
            name=self.guard_name,
            version=self.version,
            steps=list(self._steps.values()),
            added=[*self._added, (after, _Step("add", build, f"{label}, after={after!r}"))],
            allow_nan=self.allow_nan,
        )
        # a fitted guard's new stack is built afresh: fit it again (the error says why)
        new._unfitted_by = f".add({label}, after={after!r})" if self._fitted else self._unfitted_by
        return new

    def _added_after(self, slot: str) -> list[_Step]:
        return [step for where, step in self._added if where == slot]

    def build(self) -> Guard:
        """Assemble and check the stack now (it is otherwise built on first use).

        Raises:
            ConfigurationError: the steps do not fit together, e.g. a policy that needs
                probabilities on a model that only gives labels.
        """
        self.stack  # noqa: B018 - builds and checks
        return self

    @property
    def stack(self) -> Layer:
        """The outermost layer of the assembled stack."""
        if self._stack is None:
            with self._lock:
                if self._stack is None:
                    layer: Layer = self._adapter
                    for added in self._added_after("model"):
                        layer = added.build(layer)
                    for slot in CANONICAL_ORDER:
                        step = self._steps.get(slot)
                        if step is not None:
                            layer = step.build(layer)
                        for added in self._added_after(slot):
                            layer = added.build(layer)
                    _share_schema_secrets(layer)
                    for part in layer.layers():
                        if isinstance(part, Monitored):  # its events say whose monitor spoke
                            part.identity = (self.guard_name, self.version)
                    self._stack = layer
        return self._stack

    @property
    def inner(self) -> Layer:  # type: ignore[override]
        return self.stack

    # -- the Layer protocol --------------------------------------------------------------

    def decide_call(self, X: Any, call: Call) -> Decisions:
        return self.stack.decide_call(X, call)

    def awaits_io(self) -> bool:
        return False  # the layers of the stack answer for themselves

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        return await self.stack.adecide_call(X, call)

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.stack.fit_call(X, y, call)
        self._fitted = True
        self._unfitted_by = None
        return d

    def check_fitted(self) -> None:
        """Raise [`NotFittedError`][] naming the first unfitted layer (and, when a step
        called after ``fit`` unfitted the guard, that step)."""
        if self._unfitted_by is None:
            super().check_fitted()
            return
        for layer in self.layers():
            if not layer.is_fitted():
                raise NotFittedError(
                    f"This {type(layer).__name__} is not fitted: this guard was unfitted by "
                    f"{self._unfitted_by} after fit: call fit(X_cal, y_cal) again."
                )

    def layers(self) -> Any:
        """Every layer of the stack, outermost first (the guard itself excluded)."""
        return self.stack.layers()

    def is_fitted(self) -> bool:
        return True  # the layers of the stack answer for themselves

    def layer(self, cls: type[L]) -> L:
        """The first layer of type ``cls`` in the stack."""
        for layer in self.layers():
            if isinstance(layer, cls):
                return layer
        raise KeyError(f"this guard has no {cls.__name__} layer")

    def __repr__(self) -> str:
        model = type(self.model).__name__
        text = f"guard({model}, allow_nan=True)" if self.allow_nan else f"guard({model})"
        text += "".join(f".add({added.text})" for added in self._added_after("model"))
        for slot in CANONICAL_ORDER:
            step = self._steps.get(slot)
            if step is not None:
                text += f".{slot}({step.text})"
            text += "".join(f".add({added.text})" for added in self._added_after(slot))
        return text

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted guard to ``path`` (atomic; JSON plus arrays, never pickle).

        The model is not stored: pass it back to [`load`][guardrails.load].

        Raises:
            ConfigurationError: the guard has a layer added by [`add`][guardrails.builder.Guard.add]
                (a user's layer is code, which an artifact never stores).
        """
        if self._added:
            names = ", ".join(step.text for _, step in self._added)
            raise ConfigurationError(
                f"This guard has layers of your own ({names}); a saved guard stores no code, "
                "so it cannot be saved. Save the guard without them and add them again "
                "after load()."
            )
        self.check_fitted()
        enc = persistence.Encoder()
        adapter = self._adapter
        classes = adapter.classes_
        if classes is not None and classes.dtype == object:
            classes = classes.astype(str)
        stack = list(self.layers())[:-1][::-1]  # innermost wrapper first, adapter excluded
        slots = [s for s in CANONICAL_ORDER if s in self._steps]
        manifest = {
            "guard": {"name": self.guard_name, "version": self.version},
            "model": {
                "type": type(self.model).__name__,
                "output": adapter.output,
                "classes": enc.array(classes),
                "n_features": adapter._n_features,
                "allow_nan": adapter.allow_nan,
            },
            "steps": [
                {"slot": slot, "text": self._steps[slot].text, "layer": enc.component(layer)}
                for slot, layer in zip(slots, stack)
            ],
        }
        return persistence.write(path, manifest, enc)


def guard(
    model: Any,
    *,
    output: OutputKind | None = None,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    name: str = "guard",
    version: str = "0",
    allow_nan: bool = False,
) -> Guard:
    """Start a guard around ``model``; chain steps to add layers.

    Args:
        model: a fitted scikit-learn estimator or Pipeline, an object with
            ``predict_proba``/``decision_function``/``predict``, or a callable.
        output: what a plain callable returns: "proba", "scores", "labels" or "values".
        classes: class labels in the order of the output's columns (callables only).
        name: the guard's name in logs and metrics.
        version: the guard's version in logs, metrics and saved artifacts.
        allow_nan: the model handles missing values (as scikit-learn's
            ``HistGradientBoostingClassifier`` does): rows with NaN reach it. Rows with an
            infinite number are withheld as invalid input either way, in arrays and in the
            numeric columns of data frames; by default NaN rows are withheld too.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import confidence_below, guard
        >>> X = np.r_[np.zeros((20, 1)), np.ones((20, 1))]; y = np.r_[np.zeros(20), np.ones(20)]
        >>> g = guard(LogisticRegression(C=100.0).fit(X, y)).abstain(confidence_below(0.9))
        >>> g.predict(np.array([[0.0], [0.5]]), marker=-1).tolist()
        [0.0, -1.0]
    """
    return Guard(
        model, output=output, classes=classes, name=name, version=version, allow_nan=allow_nan
    )
