"""The model adapter: every kind of model becomes a layer; bad outputs become clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from guardrails import ConfigurationError, ModelAdapter, ModelOutputError, Reason, as_layer


def test_classifier_with_predict_proba(iris: dict[str, Any]) -> None:
    adapter = ModelAdapter(iris["model"])
    assert adapter.output == "proba" and adapter.task == "classification"
    X = iris["X_test"]
    d = adapter.decide(X)
    np.testing.assert_allclose(d.proba, iris["model"].predict_proba(X))
    np.testing.assert_array_equal(d.prediction, iris["model"].predict(X))
    np.testing.assert_allclose(d.confidence, d.proba.max(axis=1))
    assert list(adapter.classes_) == [0, 1, 2]
    assert not d.abstained.any() and set(d.stage) == {"primary"}


def test_svc_without_probabilities_gives_scores(binary: dict[str, Any]) -> None:
    svc = SVC().fit(binary["X"], binary["y"])
    adapter = ModelAdapter(svc)
    assert adapter.output == "scores"
    d = adapter.decide(binary["X"][:50])
    assert d.scores is not None and d.scores.shape == (50, 2)
    assert d.proba is None
    np.testing.assert_array_equal(d.prediction, svc.predict(binary["X"][:50]))


def test_regressor_gives_values(iris: dict[str, Any]) -> None:
    reg = LinearRegression().fit(iris["X_train"][:, 1:], iris["X_train"][:, 0])
    adapter = ModelAdapter(reg)
    assert adapter.output == "values" and adapter.task == "regression"
    assert adapter.classes_ is None
    d = adapter.decide(iris["X_test"][:, 1:])
    np.testing.assert_allclose(d.prediction, reg.predict(iris["X_test"][:, 1:]))


def test_pipeline_is_adapted_like_its_last_step(binary: dict[str, Any]) -> None:
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(binary["X"], binary["y"])
    adapter = ModelAdapter(pipe)
    assert adapter.output == "proba"
    assert list(adapter.classes_) == ["no", "yes"]
    d = adapter.decide(binary["X"][:5])
    assert d[0].prediction in {"no", "yes"}


def test_lambda_declared_as_probabilities() -> None:
    adapter = ModelAdapter(lambda X: np.c_[1 - X[:, 0], X[:, 0]], output="proba", classes=[0, 1])
    d = adapter.decide(np.array([[0.2], [0.7]]))
    assert d.prediction.tolist() == [0, 1]
    np.testing.assert_allclose(d.confidence, [0.8, 0.7])


def test_lambda_returning_one_column_binary_probability() -> None:
    adapter = ModelAdapter(lambda X: X[:, 0], output="proba", classes=["n", "y"])
    assert adapter.decide(np.array([[0.9]])).prediction.tolist() == ["y"]


def test_lambda_returning_labels_and_values() -> None:
    labels = ModelAdapter(lambda X: np.where(X[:, 0] > 0, "pos", "neg"), output="labels")
    assert labels.decide(np.array([[1.0], [-1.0]])).prediction.tolist() == ["pos", "neg"]
    values = ModelAdapter(lambda X: X.sum(axis=1), output="values")
    assert values.decide(np.ones((3, 2))).prediction.tolist() == [2.0, 2.0, 2.0]


def test_logits_declared_as_probabilities_are_called_out() -> None:
    adapter = ModelAdapter(lambda X: X * 3.0, output="proba", classes=[0, 1])
    d = adapter.decide(np.array([[0.1, 0.2], [0.3, 0.1]]))
    assert d.reasons() == [Reason.MODEL_ERROR, Reason.MODEL_ERROR]
    assert "do not sum to 1" in d[0].detail and "output='scores'" in d[0].detail
    with pytest.raises(ModelOutputError, match="do not sum to 1"):
        adapter.to_decisions(np.array([[0.3, 0.6]]), 1)


@pytest.mark.parametrize(
    ("output", "fn", "message"),
    [
        ("proba", lambda X: np.ones((len(X), 3)) / 3, r"shape \(2, 3\); expected \(2, 2\)"),
        ("proba", lambda X: np.ones((len(X) + 1, 2)) / 2, r"expected \(2, 2\)"),
        ("proba", lambda X: np.array([["a", "b"]] * len(X)), "expected numbers"),
        ("proba", lambda X: np.full((len(X), 2), 1.5), r"outside \[0, 1\]"),
        ("values", lambda X: np.ones((len(X), 2)), r"expected \(2,\)"),
        ("labels", lambda X: np.zeros(len(X) + 3), r"expected \(2,\)"),
    ],
)
def test_wrong_shaped_outputs_become_model_errors_with_a_clear_detail(
    output: Any, fn: Any, message: str
) -> None:
    classes = None if output != "proba" else [0, 1]
    adapter = ModelAdapter(fn, output=output, classes=classes)
    d = adapter.decide(np.ones((2, 2)))
    assert d.abstained.all() and set(d.reasons()) == {Reason.MODEL_ERROR}
    assert d[0].detail is not None
    with pytest.raises(ModelOutputError, match=message):
        adapter.to_decisions(fn(np.ones((2, 2))), 2)


def test_a_model_that_raises_gives_model_error_rows() -> None:
    def broken(X: Any) -> Any:
        raise RuntimeError("backend down")

    d = ModelAdapter(broken, output="labels").decide(np.ones((3, 2)))
    assert d.reasons() == [Reason.MODEL_ERROR] * 3
    assert d[0].detail == "RuntimeError: backend down" and d[0].candidate is None


def test_non_finite_rows_in_the_output_are_withheld_alone() -> None:
    def half_nan(X: Any) -> Any:
        out = np.c_[1 - X[:, 0], X[:, 0]]
        out[1] = np.nan
        return out

    d = ModelAdapter(half_nan, output="proba", classes=[0, 1]).decide(np.full((3, 1), 0.9))
    assert d.reasons() == [Reason.NONE, Reason.MODEL_ERROR, Reason.NONE]


def test_non_finite_inputs_never_reach_an_estimator(iris: dict[str, Any]) -> None:
    X = iris["X_test"][:4].copy()
    X[1, 0] = np.nan
    X[3, 2] = -np.inf
    d = ModelAdapter(iris["model"]).decide(X)
    assert d.reasons() == [Reason.NONE, Reason.INVALID_INPUT, Reason.NONE, Reason.INVALID_INPUT]
    np.testing.assert_array_equal(d.prediction[[0, 2]], iris["model"].predict(X[[0, 2]]))


def test_wrong_number_of_features_is_invalid_input(iris: dict[str, Any]) -> None:
    d = ModelAdapter(iris["model"]).decide(np.ones((2, 3)))
    assert d.reasons() == [Reason.INVALID_INPUT] * 2
    assert "expected 4 features" in d[0].detail


def test_empty_batch_gives_empty_decisions(iris: dict[str, Any]) -> None:
    d = ModelAdapter(iris["model"]).decide(np.empty((0, 4)))
    assert len(d) == 0


def test_construction_refusals_name_the_problem() -> None:
    with pytest.raises(ConfigurationError, match="needs output= declared"):
        ModelAdapter(lambda X: X)
    with pytest.raises(ConfigurationError, match="needs classes="):
        ModelAdapter(lambda X: X, output="proba")
    with pytest.raises(ConfigurationError, match="'output' parameter"):
        ModelAdapter(lambda X: X, output="logits")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not callable"):
        ModelAdapter(42)
    with pytest.raises(ConfigurationError, match="not fitted"):
        ModelAdapter(LogisticRegression())
    with pytest.raises(ConfigurationError, match="at least two labels"):
        ModelAdapter(lambda X: X, output="proba", classes=["only"])
    with pytest.raises(ConfigurationError, match="duplicates"):
        ModelAdapter(lambda X: X, output="proba", classes=[1, 1])


def test_declared_classes_must_match_the_model(iris: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="differ from the model's classes_"):
        ModelAdapter(iris["model"], classes=[2, 1, 0])


def test_as_layer_passes_layers_through(iris: dict[str, Any]) -> None:
    layer = ModelAdapter(iris["model"])
    assert as_layer(layer) is layer
    assert isinstance(as_layer(iris["model"]), ModelAdapter)
    with pytest.raises(ConfigurationError):
        as_layer(layer, output="proba")


def test_sklearn_estimator_that_refuses_nan_gets_the_same_decisions_unscreened() -> None:
    """A linear model checks NaN and infinity itself: its batch goes in unscanned, and
    when it raises, the rows it cannot take are withheld exactly as a screen would."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    lazy = ModelAdapter(model)
    screened = ModelAdapter(model)
    screened._refuses_non_finite = False
    assert lazy._refuses_non_finite
    T = X[:40].copy()
    T[3, 1], T[17, 0], T[30, 3] = np.nan, np.inf, -np.inf
    for batch in (T, X[:40], np.full((5, 4), np.nan), T[3:4]):
        a, b = lazy.decide(batch), screened.decide(batch)
        assert a == b
        assert a.reason.tolist() == b.reason.tolist()
    assert lazy.decide(T).reason[[3, 17, 30]].tolist() == [int(Reason.INVALID_INPUT)] * 3
