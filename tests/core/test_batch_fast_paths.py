"""The batch path's fast lanes give the decisions of the general code, bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

import guardrails.core.adapter as adapter_module
from guardrails import ConformalSets, Decisions, ModelAdapter, Reason, guard, infer_schema
from guardrails.calibration.base import logits_from_proba, softmax
from guardrails.calibration.scaling import TemperatureScaling
from guardrails.core.coded import CodedText
from guardrails.core.rowwise import binary_labels


def _proba(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    p[:6] = [0.5, 0.0, 1.0, 1e-12, 1 - 1e-12, 0.5 + 1e-17]
    return np.column_stack([1.0 - p, p])


@pytest.mark.parametrize("classes", [[0, 1], ["no", "yes"], [3, 7], [False, True]])
def test_two_column_probabilities_take_the_general_paths_answers(classes: list) -> None:
    P = _proba(500)
    adapter = ModelAdapter(lambda X: X, output="proba", classes=classes)
    d = adapter.to_decisions(P, 500)
    labels = np.asarray(classes)
    assert d.prediction.dtype == labels.dtype
    assert np.array_equal(d.prediction, labels[np.argmax(P, axis=1)])
    assert np.array_equal(d.confidence, P.max(axis=1))
    assert not d.abstained.any()
    # rows of one the general path answers row by row
    assert [adapter.to_decisions(P[i : i + 1], 1).prediction[0] for i in range(20)] == list(
        d.prediction[:20]
    )


def test_a_bad_row_among_two_columns_is_withheld_as_before() -> None:
    P = _proba(100)
    P[7] = [np.nan, 0.5]
    adapter = ModelAdapter(lambda X: X, output="proba", classes=[0, 1])
    d = adapter.to_decisions(P, 100)
    assert d.abstained.tolist() == [i == 7 for i in range(100)]
    assert d.reason[7] == Reason.MODEL_ERROR
    P[7] = [0.2, 0.5]  # a row that does not sum to 1: the model's output is refused
    out = adapter._invoke(P, 100)[0]
    assert out.abstained.all() and "sum to 1" in out.detail[0]


def test_binary_temperature_scaling_is_the_softmax_bit_for_bit() -> None:
    P = _proba(2000, seed=3)
    for beta in (0.37, 1.0, 2.9, 1e8, 0.0):
        ts = TemperatureScaling()
        ts.inverse_temperature_, ts.n_classes_ = beta, 2
        out = ts._binary_from_proba(P)
        assert out is not None
        Q, top, second = out
        expected = softmax(beta * logits_from_proba(P), axis=1)
        assert np.array_equal(Q, expected)
        first_max = np.argmax(expected, axis=1)
        assert np.array_equal(second, first_max == 1)
        assert np.array_equal(top, expected[np.arange(2000), first_max])
    P[5] = [np.nan, np.nan]
    assert ts._binary_from_proba(P) is None  # non-finite logits: the general path


def test_binary_labels_is_indexing_by_the_mask() -> None:
    mask = np.array([True, False, True])
    for classes in ([0, 1], ["a", "b"], [2, 5], [False, True]):
        labels = np.asarray(classes)
        got = binary_labels(labels, mask)
        assert got.dtype == labels.dtype
        assert got.tolist() == labels[mask.astype(int)].tolist()


def test_conformal_verdicts_on_two_columns_match_the_counting_path() -> None:
    rng = np.random.default_rng(1)
    P = _proba(3000, seed=1)
    y = (rng.uniform(size=3000) < P[:, 1]).astype(int)
    for max_set_size in (1, None):
        policy = ConformalSets(alpha=0.2, max_set_size=max_set_size)
        d = Decisions(prediction=np.argmax(P, axis=1), proba=P, classes=np.arange(2))
        policy.fit(d, y)
        # some answers the sets do not hold, so that every reason shows up
        flipped = d.replace(prediction=np.where(np.arange(3000) % 5 == 0, 1, d.prediction))
        for q in (None, 0.05, 0.6, 0.99):
            sets = policy.prediction_sets(flipped, threshold=q)
            whole = policy._verdict(flipped, sets)
            parts = [
                policy._verdict(flipped.take(np.arange(i, min(i + 7, 3000))), sets[i : i + 7])
                for i in range(0, 3000, 7)
            ]  # fewer than eight rows: the counting path
            assert np.array_equal(whole.abstain, np.concatenate([v.abstain for v in parts]))
            assert np.array_equal(whole.reason, np.concatenate([v.reason for v in parts]))
            joined = np.concatenate([v.detail_column() for v in parts])
            assert whole.detail_column().tolist() == joined.tolist()


def test_coded_detail_reads_like_its_object_column() -> None:
    codes = np.array([0, 1, 2, 0] * 30, dtype=np.uint8)
    coded = CodedText(codes, ("one", "two"))
    column = coded.column()
    assert column.tolist() == [None, "one", "two", None] * 30
    assert coded[1] == "one" and coded[0] is None and len(coded) == 120
    assert np.asarray(coded).tolist() == column.tolist()
    assert coded.where(np.arange(120) % 4 == 1).column().tolist() == [None, "one", None, None] * 30
    n = 120
    base = Decisions(prediction=np.zeros(n, dtype=int))
    mask = codes > 0
    lazy = base.withhold(mask, Reason.AMBIGUOUS, detail=coded)
    eager = base.withhold(mask, Reason.AMBIGUOUS, detail=column)
    assert lazy == eager
    assert lazy[2].detail == "two" and lazy[3].detail is None
    assert pickle.loads(pickle.dumps(lazy)) == eager
    # a row already withheld keeps its reason and its detail
    again = lazy.withhold(np.ones(n, dtype=bool), Reason.LOW_CONFIDENCE, detail=coded)
    assert again.reason[1] == Reason.AMBIGUOUS and again.reason[0] == Reason.LOW_CONFIDENCE
    assert again.detail[2] == "two"
    with pytest.raises(ValueError, match="uint8"):
        CodedText(codes.astype(np.int64), ("x",))  # type: ignore[arg-type]


def test_a_large_batch_stage_column_is_read_only_and_copies_freely() -> None:
    d = Decisions(prediction=np.zeros(1000))
    assert d.stage.tolist() == ["primary"] * 1000
    with pytest.raises(ValueError, match="read-only"):
        d.stage[0] = "fallback"
    stage = d.stage.copy()
    stage[0] = "fallback"
    assert d.replace(stage=stage).stage[0] == "fallback" and d.stage[0] == "primary"
    assert Decisions.withheld(1000, Reason.MODEL_ERROR, detail="boom")[999].detail == "boom"


def test_validated_rows_reach_sklearn_as_finite_with_the_same_decisions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
    model = LogisticRegression().fit(X[:300], y[:300])
    g = guard(model).validate(infer_schema(X[:300], margin=0.5)).fit(X[300:], y[300:])
    seen: list[bool] = []
    predict = model.predict_proba

    def spy(Z: np.ndarray) -> np.ndarray:
        seen.append(bool(sklearn.get_config()["assume_finite"]))
        return predict(Z)

    adapter = g.layer(ModelAdapter)
    assert adapter is not None
    monkeypatch.setattr(adapter, "_method", spy)  # (resolved when the guard was built)
    bad = X[300:].copy()
    bad[3, 1] = np.nan  # validation withholds the row: the batch is not vouched for whole
    trusted = [g.decide(X[300:]), g.decide(bad)]
    monkeypatch.setattr(adapter_module, "_TRUST_FROM", 10**9)
    assert [g.decide(X[300:]), g.decide(bad)] == trusted
    assert seen == [True, False, False, False]
    assert sklearn.get_config()["assume_finite"] is False
