"""The builder and the guarded stack: order, refusals, the public calls, fitting."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.svm import SVC

from guardrails import (
    CANONICAL_ORDER,
    Abstaining,
    Calibrated,
    Call,
    ConfidenceThreshold,
    ConfigurationError,
    Decisions,
    Guard,
    InvalidInputError,
    Logged,
    ModelAdapter,
    Monitored,
    NotFittedError,
    NoveltyGate,
    Policy,
    PostLayer,
    Reason,
    Reviewed,
    Validated,
    Verdict,
    WithFallback,
    confidence_below,
    guard,
)


class QuantileThreshold(Policy):
    """A test policy that learns its threshold: withhold the least confident share."""

    requires = frozenset({"proba"})

    def __init__(self, share: float) -> None:
        self.share = share

    def fit(self, d: Decisions, y: NDArray[Any]) -> QuantileThreshold:
        assert d.confidence is not None
        self.threshold_ = float(np.quantile(d.confidence, self.share))
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def evaluate(self, d: Decisions) -> Verdict:
        assert d.confidence is not None
        return Verdict(d.confidence < self.threshold_, Reason.LOW_CONFIDENCE)


def test_a_guard_with_no_layers_returns_what_the_model_returns(iris: dict[str, Any]) -> None:
    g = guard(iris["model"])
    X = iris["X_test"]
    d = g.decide(X)
    assert d == ModelAdapter(iris["model"]).decide(X)
    np.testing.assert_array_equal(g.predict(X), iris["model"].predict(X))


def test_abstain_withholds_low_confidence_rows_with_a_reason(iris: dict[str, Any]) -> None:
    g = guard(iris["model"]).abstain(confidence_below(0.9))
    d = g.decide(iris["X_test"])
    low = d.confidence < 0.9
    assert low.any() and (~low).any()
    np.testing.assert_array_equal(d.abstained, low)
    assert set(d.take(np.flatnonzero(low)).reasons()) == {Reason.LOW_CONFIDENCE}
    assert d[int(np.flatnonzero(low)[0])].detail == "confidence below 0.9"


def test_raising_the_threshold_never_shrinks_the_abstained_set(iris: dict[str, Any]) -> None:
    previous = np.zeros(len(iris["X_test"]), dtype=bool)
    for t in np.linspace(0.0, 1.0, 21):
        d = guard(iris["model"]).abstain(confidence_below(float(t))).decide(iris["X_test"])
        assert (d.abstained >= previous).all()
        previous = d.abstained


def test_decide_one_predict_and_async_agree(iris: dict[str, Any]) -> None:
    g = guard(iris["model"]).abstain(confidence_below(0.8))
    X = iris["X_test"][:10]
    d = g.decide(X)
    one = g.decide_one(X[3])
    # a batch of one may differ from the batch in the last bits of BLAS arithmetic
    assert (one.prediction, one.reason, one.stage) == (d[3].prediction, d[3].reason, d[3].stage)
    np.testing.assert_allclose(one.proba, d[3].proba, rtol=1e-9)
    assert asyncio.run(g.adecide(X)) == d
    assert asyncio.run(g.adecide_one(X[3])).prediction == one.prediction
    marked = g.predict(X, marker=-1)
    assert (marked[d.abstained] == -1).all()
    np.testing.assert_array_equal(marked[d.answered], d.prediction[d.answered])


def test_steps_are_assembled_in_canonical_order_whatever_the_call_order(
    iris: dict[str, Any],
) -> None:
    g = guard(iris["model"]).abstain(confidence_below(0.5))
    layers = list(g.layers())
    assert [type(x) for x in layers] == [Abstaining, ModelAdapter]
    assert CANONICAL_ORDER.index("abstain") < CANONICAL_ORDER.index("log")
    assert repr(g) == "guard(LogisticRegression).abstain(ConfidenceThreshold(threshold=0.5))"


def test_steps_return_new_guards_and_leave_the_original_alone(iris: dict[str, Any]) -> None:
    base = guard(iris["model"])
    withheld = base.abstain(confidence_below(0.99))
    assert base is not withheld
    assert not base.decide(iris["X_test"]).abstained.any()
    assert withheld.decide(iris["X_test"]).abstained.any()


def test_two_abstain_steps_are_refused(iris: dict[str, Any]) -> None:
    g = guard(iris["model"]).abstain(confidence_below(0.5))
    with pytest.raises(ConfigurationError, match=r"already called.*Combine policies with \|"):
        g.abstain(confidence_below(0.6))


def test_a_probability_policy_on_a_label_only_model_is_refused_at_build(
    binary: dict[str, Any],
) -> None:
    g = guard(lambda X: np.where(X[:, 0] > 0, "yes", "no"), output="labels")
    with pytest.raises(ConfigurationError, match=r"needs \['proba'\].*gives \['labels'\]"):
        g.abstain(confidence_below(0.8)).build()


def test_a_probability_policy_on_scores_asks_for_calibration(binary: dict[str, Any]) -> None:
    svc = SVC().fit(binary["X"], binary["y"])
    with pytest.raises(ConfigurationError, match="Calibrate scores"):
        guard(svc).abstain(confidence_below(0.8)).build()


def test_bad_step_arguments_name_the_parameter(iris: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="'policy' parameter of abstain"):
        guard(iris["model"]).abstain(0.8)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"'threshold'.*Got 1.5 instead"):
        confidence_below(1.5)
    with pytest.raises(ConfigurationError, match="'name' parameter of guard"):
        guard(iris["model"], name="")


def test_an_unfitted_policy_raises_not_fitted_with_what_to_call(iris: dict[str, Any]) -> None:
    g = guard(iris["model"]).abstain(QuantileThreshold(0.2))
    with pytest.raises(NotFittedError, match=r"Call fit\(X_cal, y_cal\)"):
        g.decide(iris["X_test"])
    g.fit(iris["X_cal"], iris["y_cal"])
    rate = g.decide(iris["X_cal"]).abstention_rate
    assert 0.1 <= rate <= 0.3


def test_fit_fits_each_built_guard_separately(iris: dict[str, Any]) -> None:
    policy = QuantileThreshold(0.2)
    a = guard(iris["model"]).abstain(policy).fit(iris["X_cal"], iris["y_cal"])
    b = guard(iris["model"]).abstain(policy)
    assert not policy.is_fitted()  # the guard fitted its own copy
    with pytest.raises(NotFittedError):
        b.decide(iris["X_test"])
    assert len(a.decide(iris["X_test"])) == len(iris["X_test"])


def test_fit_checks_labels_line_up(iris: dict[str, Any]) -> None:
    g = guard(iris["model"])
    with pytest.raises(InvalidInputError, match="one label per row"):
        g.fit(iris["X_cal"], iris["y_cal"][:-1])
    with pytest.raises(InvalidInputError, match="empty batch"):
        g.fit(np.empty((0, 4)), np.empty(0))


@pytest.mark.parametrize(
    "bad", [None, 3.0, "text", b"bytes", {"a": 1}, np.float64(2.0), np.array(5.0), object()]
)
def test_non_batches_are_refused_with_invalid_input(iris: dict[str, Any], bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="decide"):
        guard(iris["model"]).decide(bad)


def test_malformed_batches_abstain_instead_of_crashing(iris: dict[str, Any]) -> None:
    g = guard(iris["model"]).abstain(confidence_below(0.5))
    for X in (np.ones((2, 3)), np.ones((2, 4, 1)), np.array([["a"] * 4] * 2, dtype=object), [[1]]):
        d = g.decide(X)
        assert len(d) == 2 or len(d) == len(X)
        assert d.abstained.all()
        assert {r for r in d.reasons()} <= {Reason.INVALID_INPUT, Reason.MODEL_ERROR}
        assert all(row.detail for row in d)


def test_guard_layers_can_be_nested_by_hand(iris: dict[str, Any]) -> None:
    hand = Abstaining(iris["model"], policy=ConfidenceThreshold(0.9))
    built = guard(iris["model"]).abstain(confidence_below(0.9))
    assert hand.decide(iris["X_test"]) == built.decide(iris["X_test"])
    assert isinstance(built, Guard) and built.task == "classification"
    assert list(built.classes_) == [0, 1, 2]
    assert built.layer(Abstaining).policy == ConfidenceThreshold(0.9)
    with pytest.raises(KeyError):
        guard(iris["model"]).layer(Abstaining)


def test_policies_combine_with_or_and_and(iris: dict[str, Any]) -> None:
    d = guard(iris["model"]).decide(iris["X_test"])
    low, high = ConfidenceThreshold(0.6), ConfidenceThreshold(0.9)
    either = (low | high).evaluate(d).abstain
    both = (low & high).evaluate(d).abstain
    np.testing.assert_array_equal(either, high.evaluate(d).abstain)
    np.testing.assert_array_equal(both, low.evaluate(d).abstain)
    assert (
        repr(low | high)
        == "(ConfidenceThreshold(threshold=0.6) | ConfidenceThreshold(threshold=0.9))"
    )
    assert (low | high | low).policies == (low, high, low)


def test_timings_are_recorded_per_stage(iris: dict[str, Any]) -> None:
    d = guard(iris["model"]).abstain(confidence_below(0.5)).decide(iris["X_test"])
    assert set(d.timings) == {"primary", "abstain"}
    assert all(t >= 0 for t in d.timings.values())


def test_a_batch_the_model_failed_on_entirely_keeps_its_reasons_under_any_policy() -> None:
    from guardrails import ConformalSets

    def broken(X: Any) -> Any:
        raise ConnectionError("model server down")

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 2)), rng.integers(0, 2, size=200)
    model = guard(
        lambda X: np.c_[1 - 1 / (1 + np.exp(-X[:, 0])), 1 / (1 + np.exp(-X[:, 0]))],
        output="proba",
        classes=[0, 1],
    )
    g = model.abstain(ConformalSets(alpha=0.1)).fit(X, y)
    stack = g.stack
    assert isinstance(stack, Abstaining)
    failing = Abstaining(ModelAdapter(broken, output="proba", classes=[0, 1]), policy=stack.policy)
    d = failing.decide(X[:5])
    assert d.reasons() == [Reason.MODEL_ERROR] * 5


# -- builder steps after fit (issue 15 item 3) ---------------------------------------------


def test_a_step_that_needs_no_fitting_after_fit_keeps_the_fitted_layers(
    iris: dict[str, Any],
) -> None:
    from guardrails import ConformalSets, MemoryQueue

    fitted = guard(iris["model"]).abstain(ConformalSets(0.1)).fit(iris["X_cal"], iris["y_cal"])
    logged = fitted.log()
    got, want = logged.decide(iris["X_test"]), fitted.decide(iris["X_test"])
    assert got.abstained.tolist() == want.abstained.tolist()
    assert np.array_equal(got.prediction, want.prediction)
    queue = MemoryQueue()
    for later in (fitted.fallback(lambda rows: [0] * len(rows)), logged.review(queue)):
        assert later.decide(iris["X_test"]).abstained.tolist() == want.abstained.tolist()


def test_a_step_after_fit_copies_the_fitted_state_instead_of_sharing_it(
    iris: dict[str, Any],
) -> None:
    fitted = (
        guard(iris["model"])
        .calibrate("temperature")
        .abstain(QuantileThreshold(0.2))
        .fit(iris["X_cal"], iris["y_cal"])
    )
    logged = fitted.log()
    old_policy = fitted.layer(Abstaining).policy
    new_policy = logged.layer(Abstaining).policy
    assert new_policy is not old_policy and new_policy.is_fitted()
    assert new_policy.threshold_ == old_policy.threshold_
    old_cal = fitted.layer(Calibrated).calibrator
    assert logged.layer(Calibrated).calibrator is not old_cal
    # refitting one guard leaves the other's fitted state as it was
    threshold = old_policy.threshold_
    logged.fit(iris["X_test"], iris["y_test"])
    assert fitted.layer(Abstaining).policy.threshold_ == threshold


def test_calibrate_or_abstain_after_fit_gives_a_guard_whose_error_names_that_step(
    iris: dict[str, Any],
) -> None:
    fitted = guard(iris["model"]).abstain(QuantileThreshold(0.2)).fit(iris["X_cal"], iris["y_cal"])
    recalibrated = fitted.calibrate("temperature").log()
    with pytest.raises(NotFittedError, match=r"unfitted by \.calibrate\(.*\) after fit: call fit"):
        recalibrated.decide(iris["X_test"])
    calibrated = guard(iris["model"]).calibrate().fit(iris["X_cal"], iris["y_cal"])
    with pytest.raises(NotFittedError, match=r"unfitted by \.abstain\(.*\) after fit"):
        calibrated.abstain(QuantileThreshold(0.2)).decide(iris["X_test"])
    recalibrated.fit(iris["X_cal"], iris["y_cal"])
    assert len(recalibrated.decide(iris["X_test"])) == len(iris["X_test"])
    assert len(fitted.decide(iris["X_test"])) == len(iris["X_test"])  # the original stays fitted


def test_serving_state_after_fit_belongs_to_the_new_guard(iris: dict[str, Any]) -> None:
    from guardrails import CircuitBreaker, WithFallback

    breaker = CircuitBreaker(name="primary")
    fitted = (
        guard(iris["model"])
        .abstain(QuantileThreshold(0.2))
        .fallback(lambda rows: [0] * len(rows), primary_breaker=breaker)
        .fit(iris["X_cal"], iris["y_cal"])
    )
    logged = fitted.log()
    ours, theirs = logged.layer(WithFallback), fitted.layer(WithFallback)
    assert ours.primary_breaker is not theirs.primary_breaker
    assert len(logged.decide(iris["X_test"])) == len(iris["X_test"])


def test_a_loaded_guard_keeps_its_fitted_layers_through_a_later_step(
    iris: dict[str, Any], tmp_path: Any
) -> None:
    from guardrails import ConformalSets, load

    fitted = guard(iris["model"]).abstain(ConformalSets(0.1)).fit(iris["X_cal"], iris["y_cal"])
    loaded = load(fitted.save(tmp_path / "g"), model=iris["model"])
    want = fitted.decide(iris["X_test"]).abstained.tolist()
    assert loaded.log().decide(iris["X_test"]).abstained.tolist() == want
    with pytest.raises(NotFittedError, match=r"unfitted by \.calibrate"):
        loaded.calibrate().decide(iris["X_test"])


class _Tag(PostLayer):
    """Marks the rows it saw answered with confidence 1: shows where it sat in the stack."""

    name = "tag"

    def post(self, d: Decisions, call: Call) -> Decisions:
        return d.replace(confidence=np.where(d.abstained, 0.0, 1.0))


def test_add_puts_a_user_layer_just_outside_the_slot_it_names(iris: dict[str, Any]) -> None:
    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.6))
        .add(_Tag, after="calibrate")
        .calibrate("temperature")
        .fit(iris["X_cal"], iris["y_cal"])
    )
    kinds = [type(layer).__name__ for layer in g.layers()]
    assert kinds.index("Abstaining") < kinds.index("_Tag") < kinds.index("Calibrated")
    assert ".calibrate(TemperatureScaling()).add(_Tag, after='calibrate').abstain(" in repr(g)
    # the policy sees the tag's confidence (1.0), so nothing is withheld for low confidence
    assert not g.decide(iris["X_test"]).abstained.any()


def test_add_after_the_model_takes_a_factory_function_too() -> None:
    g = guard(lambda X: X[:, 0], output="values").add(lambda inner: _Tag(inner), after="model")
    assert g.predict(np.array([[2.0]])).tolist() == [2.0]
    assert type(next(iter(g.layers()))).__name__ == "_Tag"


def test_add_refuses_an_unknown_slot_and_a_guard_with_a_user_layer_refuses_to_save(
    tmp_path: Path,
) -> None:
    g = guard(lambda X: X[:, 0], output="values")
    with pytest.raises(ConfigurationError, match=r"'after' parameter of Guard\.add"):
        g.add(_Tag, after="calibration")
    with pytest.raises(ConfigurationError, match="'factory' parameter"):
        g.add("tag", after="model")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="layers of your own"):
        g.add(_Tag, after="model").save(tmp_path / "g")


_STEP_LAYERS = {
    "validate": Validated,
    "calibrate": Calibrated,
    "abstain": Abstaining,
    "monitor": Monitored,
    "fallback": WithFallback,
    "review": Reviewed,
    "log": Logged,
    "novelty": NoveltyGate,  # the step's settings are the gate's (NoveltyGated takes a gate)
}
# the data a step fits on, which its layer's constructor does not take
_FITTED_BY_THE_STEP = {"novelty": {"reference"}}
# settings of a layer that the guard fills in itself (its name and version, a seed per
# built guard) or that only a hand-built layer takes
_SET_BY_THE_GUARD = {
    "review": {"logger", "clock", "guard_name", "version"},
    "log": {"guard_name", "version", "seed"},
}


@pytest.mark.parametrize("step", CANONICAL_ORDER)
def test_every_builder_step_takes_its_layers_settings_with_the_same_defaults(step: str) -> None:
    builder = inspect.signature(getattr(Guard, step)).parameters
    layer = inspect.signature(_STEP_LAYERS[step].__init__).parameters
    settings = {n: p for n, p in layer.items() if n not in ("self", "inner")}
    ours = {n: p for n, p in builder.items() if n != "self"}
    missing = set(settings) - set(ours) - _SET_BY_THE_GUARD.get(step, set())
    assert not missing, f".{step}() lacks settings of {_STEP_LAYERS[step].__name__}: {missing}"
    extra = set(ours) - set(settings) - _FITTED_BY_THE_STEP.get(step, set())
    assert not extra, f".{step}() has settings {_STEP_LAYERS[step].__name__} lacks: {extra}"
    differ = {
        n: (p.default, settings[n].default)
        for n, p in ours.items()
        if n in settings
        and p.default != settings[n].default
        and settings[n].default is not inspect.Parameter.empty
    }
    assert not differ, f".{step}() defaults differ from its layer's: {differ}"
