"""NaN and inf in a data frame are screened as in an array: one bad row never takes the batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from guardrails import (
    ConfigurationError,
    GuardedClassifier,
    GuardedRegressor,
    ModelAdapter,
    Reason,
    guard,
    load,
)


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.normal(size=200), "n": rng.integers(0, 3, 200)}
    )
    y = (X["a"] + X["b"] > 0).astype(int).to_numpy()
    return X, y


def dirty(X: pd.DataFrame) -> pd.DataFrame:
    bad = X.iloc[:5].copy()
    bad.loc[bad.index[1], "a"] = np.nan
    bad.loc[bad.index[3], "b"] = np.inf
    return bad


def test_a_model_that_rejects_nan_answers_the_clean_rows_of_a_frame(frame: Any) -> None:
    X, y = frame
    g = guard(LogisticRegression().fit(X, y))  # LogisticRegression raises on NaN
    d = g.decide(dirty(X))
    assert d.abstained.tolist() == [False, True, False, True, False]
    assert {d[1].reason, d[3].reason} == {Reason.INVALID_INPUT}
    assert d[1].detail == "input has NaN or infinite values"
    np.testing.assert_array_equal(d.prediction[[0, 2, 4]], g.model.predict(X.iloc[[0, 2, 4]]))


def test_a_nan_tolerant_model_does_not_answer_non_finite_rows_by_default(frame: Any) -> None:
    X, y = frame
    d = guard(HistGradientBoostingClassifier(max_iter=5).fit(X, y)).decide(dirty(X))
    assert d.abstained.tolist() == [False, True, False, True, False]
    assert d[1].reason is Reason.INVALID_INPUT


def test_allow_nan_lets_nan_reach_the_model_but_never_inf(frame: Any) -> None:
    X, y = frame
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    g = guard(hgb, allow_nan=True)
    for batch in (dirty(X), dirty(X).to_numpy()):
        d = g.decide(batch)
        assert d.abstained.tolist() == [False, False, False, True, False]
        assert d[3].detail == "input has infinite values"
        assert d[1].prediction == hgb.predict(dirty(X).iloc[[1]])[0]
    assert repr(g) == "guard(HistGradientBoostingClassifier, allow_nan=True)"


def test_allow_nan_survives_the_builder_and_a_save(frame: Any, tmp_path: Any) -> None:
    X, y = frame
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    g = guard(hgb, allow_nan=True).calibrate("temperature").fit(X, y)
    path = g.save(tmp_path / "g.zip")
    again = load(path, model=hgb)
    assert again.allow_nan and again.decide(dirty(X)).abstained.tolist() == [
        False,
        False,
        False,
        True,
        False,
    ]


def test_nullable_columns_count_pd_na_as_missing(frame: Any) -> None:
    X, y = frame
    g = guard(LogisticRegression().fit(X, y))
    rows = X.iloc[:3].copy()
    rows["n"] = pd.array([1, None, 2], dtype="Int64")
    assert g.decide(rows).abstained.tolist() == [False, True, False]


def test_a_frame_from_a_schema_is_left_to_the_schema() -> None:
    class Row(pydantic.BaseModel):
        a: float | None = None
        b: float
        n: int

    seen: list[pd.DataFrame] = []

    def model(rows: pd.DataFrame) -> Any:
        seen.append(rows)
        return np.c_[np.full(len(rows), 0.4), np.full(len(rows), 0.6)]

    g = guard(model, output="proba", classes=[0, 1]).validate(Row, as_frame=True)
    d = g.decide([{"a": None, "b": 1.0, "n": 1}, {"a": 0.5, "b": 1.0, "n": 2}])
    assert not d.abstained.any()  # the schema says a may be missing
    assert seen[0]["a"].isna().tolist() == [True, False]


def test_the_scikit_learn_estimators_withhold_non_finite_frame_rows(frame: Any) -> None:
    X, y = frame
    clf = GuardedClassifier(LogisticRegression(), random_state=0).fit(X, y)
    d = clf.decide(dirty(X))
    assert d.abstained.tolist() == [False, True, False, True, False]
    reg = GuardedRegressor(LinearRegression(), random_state=0).fit(X, X["a"].to_numpy())
    assert reg.decide(dirty(X)).abstained.tolist() == [False, True, False, True, False]


def test_allow_nan_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="'allow_nan' parameter of ModelAdapter"):
        ModelAdapter(LogisticRegression(), allow_nan="yes")  # type: ignore[arg-type]
