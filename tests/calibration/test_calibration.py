"""Calibrators, the Calibrated layer, the .calibrate() step and the calibration report."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import guardrails
from guardrails import (
    Abstaining,
    Calibrated,
    ConfigurationError,
    GuardrailsWarning,
    HistogramBinning,
    InvalidInputError,
    IsotonicCalibration,
    ModelAdapter,
    NotFittedError,
    PlattScaling,
    Reason,
    TemperatureScaling,
    VectorScaling,
    calibration_report,
    confidence_below,
    expected_calibration_error,
    guard,
    logits_from_proba,
    negative_log_likelihood,
)
from guardrails.calibration.calibrators import METHODS, Calibrator

CALIBRATORS = [
    TemperatureScaling,
    PlattScaling,
    IsotonicCalibration,
    HistogramBinning,
    VectorScaling,
]


def _split(seed: int, k: int, n: int = 9000) -> dict[str, NDArray[Any]]:
    X, y = make_classification(
        n_samples=n,
        n_features=20,
        n_informative=3,
        n_redundant=15,
        n_classes=k,
        flip_y=0.05,
        random_state=seed,
    )
    third = n // 3
    return {
        "X_train": X[:third],
        "y_train": y[:third],
        "X_cal": X[third : 2 * third],
        "y_cal": y[third : 2 * third],
        "X_test": X[2 * third :],
        "y_test": y[2 * third :],
    }


@pytest.fixture(scope="module")
def tree_data() -> dict[str, Any]:
    data = _split(0, 3)
    data["model"] = DecisionTreeClassifier(random_state=0).fit(data["X_train"], data["y_train"])
    return data


# -- correctness bars ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_lowers_ece_of_an_overconfident_model_on_a_separate_split(
    method: str, k: int
) -> None:
    # A fully grown tree answers with probability 1 almost everywhere, so its ECE on
    # held-out rows is its error rate (0.1 to 0.3 here). For a calibrated model the ECE on
    # 3,000 test rows with 15 bins is only sampling noise, at most sqrt(15 / 3000) / 2 =
    # 0.035 in expectation, far below the raw ECE: the strict inequality is not a coin toss.
    for seed in range(5):
        data = _split(seed, k)
        model = DecisionTreeClassifier(random_state=seed).fit(data["X_train"], data["y_train"])
        before = expected_calibration_error(data["y_test"], model.predict_proba(data["X_test"]))
        g = guard(model).calibrate(method).fit(data["X_cal"], data["y_cal"])
        after = expected_calibration_error(data["y_test"], g.decide(data["X_test"]).proba)
        assert after < before, (seed, before, after)


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_nonparametric_methods_also_fix_naive_bayes(method: str) -> None:
    # Naive Bayes on redundant features is overconfident in a way that is not a single
    # temperature, so only the non-parametric maps are expected to fix it every time.
    for seed in range(3):
        data = _split(seed, 2)
        model = GaussianNB().fit(data["X_train"], data["y_train"])
        before = expected_calibration_error(data["y_test"], model.predict_proba(data["X_test"]))
        g = guard(model).calibrate(method).fit(data["X_cal"], data["y_cal"])
        after = expected_calibration_error(data["y_test"], g.decide(data["X_test"]).proba)
        assert after < before, (seed, before, after)


@pytest.mark.parametrize("k", [2, 4])
def test_isotonic_matches_scikit_learn_with_a_frozen_estimator(k: int) -> None:
    data = _split(1, k)
    model = GaussianNB().fit(data["X_train"], data["y_train"])
    ours = guard(model).calibrate("isotonic").fit(data["X_cal"], data["y_cal"])
    sk = CalibratedClassifierCV(FrozenEstimator(model), method="isotonic")
    sk.fit(data["X_cal"], data["y_cal"])
    got, want = ours.decide(data["X_test"]).proba, sk.predict_proba(data["X_test"])
    # Same fit. The layer reads probabilities as log(p + 1e-12) and softmaxes them back, which
    # moves each p by about 1e-12; where two isotonic thresholds lie that close together
    # (Naive Bayes gives probabilities of 1e-10 and below) the linear interpolation between
    # them moves by up to ~1e-5. Everywhere else the two agree to machine precision.
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.mean(np.abs(got - want) < 1e-10) > 0.99


class _LogitView(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A frozen model seen through its one-vs-rest logits ``log(p_j / (1 - p_j))``.

    scikit-learn's sigmoid fits on ``decision_function`` when there is one and on
    probabilities otherwise; ours always fits on logits. Giving scikit-learn the same
    logits compares like with like.
    """

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def fit(self, X: Any, y: Any) -> _LogitView:
        self.classes_ = self.model.classes_
        return self

    def predict(self, X: Any) -> NDArray[Any]:
        return np.asarray(self.model.predict(X))

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        z = logits_from_proba(self.model.predict_proba(X))
        if z.shape[1] == 2:
            return z[:, 1] - z[:, 0]
        others = np.stack(
            [np.logaddexp.reduce(np.delete(z, j, axis=1), axis=1) for j in range(z.shape[1])],
            axis=1,
        )
        return np.asarray(z - others)


@pytest.mark.parametrize("k", [2, 4])
def test_sigmoid_matches_scikit_learn_on_the_same_logits(k: int) -> None:
    data = _split(2, k)
    model = GaussianNB().fit(data["X_train"], data["y_train"])
    ours = guard(model).calibrate("sigmoid").fit(data["X_cal"], data["y_cal"])
    view = _LogitView(model).fit(data["X_cal"], data["y_cal"])
    sk = CalibratedClassifierCV(FrozenEstimator(view), method="sigmoid")
    sk.fit(data["X_cal"], data["y_cal"])
    # scikit-learn stops L-BFGS at a gradient of 1e-6 on the summed loss; ours runs Newton
    # to convergence, so probabilities agree to about 1e-6, not to machine precision.
    np.testing.assert_allclose(
        ours.decide(data["X_test"]).proba, sk.predict_proba(data["X_test"]), atol=1e-5
    )


def test_sigmoid_matches_scikit_learn_on_a_binary_logistic_regression() -> None:
    data = _split(3, 2)
    model = LogisticRegression(C=100.0, max_iter=2000).fit(data["X_train"], data["y_train"])
    ours = guard(model).calibrate("sigmoid").fit(data["X_cal"], data["y_cal"])
    sk = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
    sk.fit(data["X_cal"], data["y_cal"])  # uses decision_function, the same logit as ours
    np.testing.assert_allclose(
        ours.decide(data["X_test"]).proba, sk.predict_proba(data["X_test"]), atol=1e-5
    )


@pytest.mark.parametrize("k", [2, 3])
def test_temperature_is_the_minimum_of_a_brute_force_grid(k: int) -> None:
    data = _split(4, k)
    model = GaussianNB().fit(data["X_train"], data["y_train"])
    z = logits_from_proba(model.predict_proba(data["X_cal"]))
    ts = TemperatureScaling().fit(z, data["y_cal"])

    def nll(t: float) -> float:
        return negative_log_likelihood(data["y_cal"], softmax(z / t, axis=1))

    grid = np.exp(np.linspace(np.log(0.05), np.log(50), 4001))  # ratio 1.0017 per step
    losses = np.array([nll(t) for t in grid])
    best = int(np.argmin(losses))
    assert nll(ts.temperature_) <= losses[best] + 1e-12
    assert grid[best - 1] <= ts.temperature_ <= grid[best + 1]


@pytest.mark.parametrize("k", [2, 4])
def test_vector_scaling_fits_at_least_as_well_as_temperature_it_contains(k: int) -> None:
    # softmax(w * z + b) with w = 1 / T and b = 0 is temperature scaling, so the fitted
    # vector scaling must reach an NLL no higher on the same rows (up to its 1e-6 ridge).
    data = _split(5, k)
    model = GaussianNB().fit(data["X_train"], data["y_train"])
    z = logits_from_proba(model.predict_proba(data["X_cal"]))
    y = data["y_cal"]
    vs = VectorScaling().fit(z, y)
    ts = TemperatureScaling().fit(z, y)
    nll_vs = negative_log_likelihood(y, vs.transform(z))
    nll_ts = negative_log_likelihood(y, ts.transform(z))
    assert nll_vs <= nll_ts + 1e-5
    assert vs.coef_.shape == vs.intercept_.shape == (k,)


def test_temperature_matches_scikit_learn(tree_data: dict[str, Any]) -> None:
    model = GaussianNB().fit(tree_data["X_train"], tree_data["y_train"])
    ours = guard(model).calibrate("temperature").fit(tree_data["X_cal"], tree_data["y_cal"])
    sk = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    sk.fit(tree_data["X_cal"], tree_data["y_cal"])
    np.testing.assert_allclose(
        ours.decide(tree_data["X_test"]).proba, sk.predict_proba(tree_data["X_test"]), atol=1e-7
    )


# -- properties ----------------------------------------------------------------------------


def _fitted(cls: type[Calibrator], k: int) -> Calibrator:
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 3000)
    z = rng.normal(0, 1, (3000, k)) + 3.0 * np.eye(k)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cls().fit(z, y)


FITTED = {(cls, k): _fitted(cls, k) for cls in CALIBRATORS for k in (2, 3, 5)}


@settings(max_examples=60, deadline=None)
@given(
    which=st.sampled_from(sorted(FITTED, key=lambda key: (key[0].__name__, key[1]))),
    data=st.data(),
)
def test_calibrated_rows_lie_in_0_1_and_sum_to_1(
    which: tuple[type[Calibrator], int], data: st.DataObject
) -> None:
    _, k = which
    z = data.draw(
        arrays(np.float64, (data.draw(st.integers(1, 30)), k), elements=st.floats(-1e3, 1e3))
    )
    p = FITTED[which].transform(z)
    assert p.shape == z.shape
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    z=arrays(
        np.float64, st.tuples(st.integers(1, 30), st.integers(2, 6)), elements=st.floats(-50, 50)
    ),
    seed=st.integers(0, 2**16),
)
def test_temperature_never_changes_the_top_class(z: NDArray[np.float64], seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = z.shape[1]
    y = rng.integers(0, k, 200)
    fit_z = rng.normal(0, 2, (200, k)) + rng.uniform(0, 4) * np.eye(k)[y]
    ts = TemperatureScaling().fit(fit_z, y)
    p = ts.transform(z)
    # compare where the top logit is unique by a margin that survives rounding
    top2 = np.sort(z, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-6 * max(1.0, ts.temperature_)
    assert (np.argmax(p, axis=1)[clear] == np.argmax(z, axis=1)[clear]).all()


# -- the layer and the builder -------------------------------------------------------------


def test_calibrated_writes_proba_confidence_and_prediction(tree_data: dict[str, Any]) -> None:
    g = guard(tree_data["model"]).calibrate("sigmoid").fit(tree_data["X_cal"], tree_data["y_cal"])
    d = g.decide(tree_data["X_test"])
    assert d.proba is not None and d.confidence is not None
    np.testing.assert_allclose(d.proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(d.confidence, d.proba.max(axis=1))
    np.testing.assert_array_equal(d.prediction, g.classes_[d.proba.argmax(axis=1)])
    assert d.confidence.max() < 1.0  # no more certainty the tree did not earn
    assert "calibrate" in d.timings
    assert g.layer(Calibrated).provides == {"proba"}


def test_a_scores_model_becomes_usable_by_a_probability_policy(binary: dict[str, Any]) -> None:
    X, y = binary["X"], binary["y"]
    svm = LinearSVC().fit(X[:300], y[:300])
    with pytest.raises(ConfigurationError, match="Calibrate scores"):
        guard(svm).abstain(confidence_below(0.8)).build()
    g = guard(svm).calibrate("temperature").abstain(confidence_below(0.8)).fit(X[300:], y[300:])
    d = g.decide(X[:50])
    assert d.proba is not None and set(d.prediction) <= {"no", "yes"}
    assert g.layer(Calibrated).provides == {"scores", "proba"}
    assert [type(x) for x in g.layers()] == [Abstaining, Calibrated, ModelAdapter]


def test_invalid_rows_pass_through_and_are_left_out_of_fitting(iris: dict[str, Any]) -> None:
    X_cal, y_cal = iris["X_cal"].copy(), iris["y_cal"]
    X_bad = X_cal.copy()
    X_bad[:5, 0] = np.nan
    clean = guard(iris["model"]).calibrate("temperature").fit(X_cal[5:], y_cal[5:])
    dirty = guard(iris["model"]).calibrate("temperature").fit(X_bad, y_cal)
    t_clean = clean.layer(Calibrated).calibrator.temperature_  # type: ignore[attr-defined]
    t_dirty = dirty.layer(Calibrated).calibrator.temperature_  # type: ignore[attr-defined]
    assert t_dirty == pytest.approx(t_clean, rel=1e-9)
    d = dirty.decide(X_bad)
    assert (d.reason[:5] == Reason.INVALID_INPUT).all() and d.abstained[:5].all()
    assert d.proba is not None and np.isnan(d.proba[:5]).all() and np.isnan(d.confidence[:5]).all()
    assert not d.abstained[5:].any()


def test_a_label_outside_the_classes_is_a_clear_error(binary: dict[str, Any]) -> None:
    model = LogisticRegression().fit(binary["X"], binary["y"])
    y = binary["y"].copy().astype(object)
    y[3] = "maybe"
    with pytest.raises(InvalidInputError, match=r"\['maybe'\] are not among the classes"):
        guard(model).calibrate().fit(binary["X"], y)


def test_unfitted_calibration_raises_not_fitted(iris: dict[str, Any]) -> None:
    g = guard(iris["model"]).calibrate("isotonic")
    with pytest.raises(NotFittedError, match="Calibrated is not fitted"):
        g.decide(iris["X_test"])
    with pytest.raises(NotFittedError, match="Call fit"):
        TemperatureScaling().transform(np.zeros((2, 3)))


def test_builder_steps_copy_the_calibrator_and_show_it(iris: dict[str, Any]) -> None:
    calibrator = HistogramBinning(bins=5)
    a = guard(iris["model"]).calibrate(calibrator).abstain(confidence_below(0.5))
    a.fit(iris["X_cal"], iris["y_cal"])
    assert not calibrator.is_fitted()
    assert repr(a) == (
        "guard(LogisticRegression).calibrate(HistogramBinning(bins=5, strategy='quantile'))"
        ".abstain(ConfidenceThreshold(threshold=0.5))"
    )
    with pytest.raises(ConfigurationError, match="already called"):
        a.calibrate("sigmoid")


def test_bad_methods_and_models_are_refused_with_the_parameter_named(
    iris: dict[str, Any],
) -> None:
    with pytest.raises(ConfigurationError, match="'method' parameter of calibrate"):
        guard(iris["model"]).calibrate("platt")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'method' parameter of Calibrated"):
        Calibrated(iris["model"], method=3)  # type: ignore[arg-type]
    regressor = LinearRegression().fit(iris["X_train"], iris["y_train"])
    with pytest.raises(ConfigurationError, match="Calibrated needs a classifier"):
        guard(regressor).calibrate().build()
    labels_only = guard(lambda X: np.zeros(len(X), dtype=int), output="labels", classes=[0, 1])
    with pytest.raises(ConfigurationError, match="Calibrated needs a classifier"):
        labels_only.calibrate().build()
    with pytest.raises(ConfigurationError, match="'bins' parameter of HistogramBinning"):
        HistogramBinning(bins=0)
    with pytest.raises(ConfigurationError, match="'smoothing' parameter of PlattScaling"):
        PlattScaling(smoothing="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'l2' parameter of VectorScaling"):
        VectorScaling(l2=-1.0)


def test_model_errors_pass_through_calibration(iris: dict[str, Any]) -> None:
    model = iris["model"]

    def flaky(X: NDArray[np.float64]) -> NDArray[np.float64]:
        if len(X) == 3:
            raise RuntimeError("backend down")
        return np.asarray(model.predict_proba(X))

    g = (
        guard(flaky, output="proba", classes=[0, 1, 2])
        .calibrate()
        .fit(iris["X_cal"], iris["y_cal"])
    )
    d = g.decide(iris["X_test"][:3])
    assert d.abstained.all() and set(d.reasons()) == {Reason.MODEL_ERROR}
    assert len(g.decide(iris["X_test"][:0])) == 0
    one = g.decide_one(iris["X_test"][0])
    assert one.answered and one.proba is not None and abs(sum(one.proba) - 1) < 1e-9


@pytest.mark.parametrize("method", METHODS)
def test_a_saved_guard_calibrates_identically_after_loading(
    method: str, tree_data: dict[str, Any], tmp_path: Path
) -> None:
    model = GaussianNB().fit(tree_data["X_train"], tree_data["y_train"])
    g = guard(model).calibrate(method).fit(tree_data["X_cal"], tree_data["y_cal"])
    path = g.save(tmp_path / "g.zip")
    back = guardrails.load(path, model=model)
    assert back.decide(tree_data["X_test"]) == g.decide(tree_data["X_test"])
    assert repr(back.layer(Calibrated).calibrator) == repr(g.layer(Calibrated).calibrator)


# -- calibrators used directly, and their errors ---------------------------------------------


@pytest.mark.parametrize("cls", CALIBRATORS)
def test_calibrators_refuse_malformed_scores_and_labels(cls: type[Calibrator]) -> None:
    c = cls()
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        c.fit(np.array([[0.0, np.inf], [1.0, 0.0]]), [0, 1])
    with pytest.raises(InvalidInputError, match="not a column index"):
        c.fit(np.zeros((2, 3)), [0, 3])
    with pytest.raises(InvalidInputError, match="2 labels"):
        c.fit(np.zeros((3, 3)), [0, 1])
    with pytest.raises(InvalidInputError, match="shape"):
        c.fit(np.zeros((3, 3, 3)), [0, 1, 2])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 1500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GuardrailsWarning)
        c.fit(rng.normal(size=(1500, 3)) + np.eye(3)[y], y)
    with pytest.raises(InvalidInputError, match="fitted on 3 classes; got scores for 4"):
        c.transform(np.zeros((2, 4)))
    assert c.transform(np.empty((0, 3))).shape == (0, 3)


def test_binary_margins_work_as_a_single_column() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    s = 4.0 * (2 * y - 1) + rng.normal(0, 3, 2000)
    for cls in CALIBRATORS:
        one = cls().fit(s, y).transform(s)
        two = cls().fit(np.c_[np.zeros_like(s), s], y).transform(np.c_[np.zeros_like(s), s])
        np.testing.assert_allclose(one, two)


def test_uninformative_scores_give_the_uniform_distribution() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 600)
    z = -3.0 * np.eye(3)[y]  # the scores point away from the true class
    ts = TemperatureScaling().fit(z, y)
    assert ts.temperature_ == float("inf")
    np.testing.assert_allclose(ts.transform(z), 1 / 3)


# -- warnings for the known traps -------------------------------------------------------------


def test_probabilities_passed_as_logits_warn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    p = softmax(rng.normal(size=(300, 3)) + 2 * np.eye(3)[y], axis=1)
    with pytest.warns(GuardrailsWarning, match=r"look like probabilities.*np\.log"):
        TemperatureScaling().fit(p, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TemperatureScaling().fit(logits_from_proba(p), y)


def test_a_callable_declaring_scores_but_returning_probabilities_warns_at_fit(
    iris: dict[str, Any],
) -> None:
    model = iris["model"]
    g = guard(model.predict_proba, output="scores", classes=[0, 1, 2]).calibrate()
    with pytest.warns(GuardrailsWarning, match="look like probabilities"):
        g.fit(iris["X_cal"], iris["y_cal"])


def test_multiclass_scores_are_calibrated_as_logits(iris: dict[str, Any]) -> None:
    svm = LinearSVC().fit(iris["X_train"], iris["y_train"])
    g = guard(svm).calibrate("vector").fit(iris["X_cal"], iris["y_cal"])
    d = g.decide(iris["X_test"])
    assert d.scores is not None and d.scores.shape == (len(iris["X_test"]), 3)
    assert d.proba is not None
    np.testing.assert_allclose(d.proba.sum(axis=1), 1.0)
    assert (d.prediction == iris["y_test"]).mean() > 0.8


def test_isotonic_warns_under_1000_samples() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 1000)
    s = 2 * y - 1 + rng.normal(size=1000)
    with pytest.warns(GuardrailsWarning, match="999 rows; under 1000"):
        IsotonicCalibration().fit(s[:999], y[:999])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IsotonicCalibration().fit(s, y)


def test_calibrating_on_training_data_warns(tree_data: dict[str, Any]) -> None:
    X_train, y_train = tree_data["X_train"], tree_data["y_train"]
    model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    hinted = guard(model).calibrate("temperature", training_data=X_train)
    with pytest.warns(GuardrailsWarning, match="100% of the calibration rows are rows of the"):
        hinted.fit(X_train.copy(), y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guard(model).calibrate("temperature", training_data=X_train).fit(
            tree_data["X_cal"], tree_data["y_cal"]
        )
    by_hand = Calibrated(model, method="sigmoid", training_data=X_train)
    with pytest.warns(GuardrailsWarning, match="rows of the training data"):
        by_hand.fit(X_train, y_train)
    # without a hint: a memorising model is right and certain on its own training rows
    with pytest.warns(GuardrailsWarning, match="right and near-certain on every one"):
        guard(tree_data["model"]).calibrate("sigmoid").fit(X_train, y_train)


# -- the report --------------------------------------------------------------------------------


def test_calibration_report_shows_before_and_after(tree_data: dict[str, Any]) -> None:
    g = guard(tree_data["model"]).calibrate("temperature").abstain(confidence_below(0.6))
    g.fit(tree_data["X_cal"], tree_data["y_cal"])
    report = calibration_report(g, tree_data["X_test"], tree_data["y_test"])
    assert report.after is not None and report.method == "TemperatureScaling()"
    assert report.after.ece < report.before.ece and report.after.nll < report.before.nll
    assert report.after.accuracy == report.before.accuracy  # temperature keeps the argmax
    assert report.n_used == report.n_rows == len(tree_data["y_test"])
    assert "ece" in str(report) and report.to_dict()["after"]["ece"] == report.after.ece
    plain = calibration_report(guard(tree_data["model"]), tree_data["X_test"], tree_data["y_test"])
    assert plain.after is None and plain.before == report.before
    with pytest.raises(InvalidInputError, match="one label per row"):
        calibration_report(g, tree_data["X_test"], tree_data["y_test"][:-1])
    with pytest.raises(InvalidInputError, match="not among the classes"):
        calibration_report(g, tree_data["X_test"][:2], np.array([0, 7]))
