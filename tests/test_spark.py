"""Spark batch scoring: mapInPandas gives exactly the decisions of guard.decide, and
per-partition states merge into the state of the whole table. Runs pyspark for real in
local mode (one shared session: it takes about 10 s to start)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression

from guardrails import ConfigurationError, Default, Reason, confidence_below, guard, on_error
from guardrails.testing import FailingModel

pyspark = pytest.importorskip(
    "pyspark", reason="the spark extra is not installed (pip install '.[spark]')"
)
pd = pytest.importorskip("pandas", reason="the spark extra brings pandas")

pytestmark = pytest.mark.slow

N_ROWS = 200_000
FEATURES = [f"x{i}" for i in range(5)]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("guardrails-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def table(spark: Any) -> dict[str, Any]:
    X, y = make_classification(
        n_samples=N_ROWS, n_features=5, n_informative=3, n_redundant=0, random_state=7
    )
    labels = np.array(["cat", "dog"])[y]
    X[::997, 2] = np.nan  # some invalid rows: withheld as invalid_input
    frame = pd.DataFrame(X, columns=FEATURES)
    frame.insert(0, "id", np.arange(N_ROWS, dtype=np.int64))
    df = spark.createDataFrame(frame).repartition(6)
    clean = ~np.isnan(X[:5000]).any(axis=1)
    model = LogisticRegression().fit(X[:5000][clean], labels[:5000][clean])
    return {"X": X, "frame": frame, "df": df, "model": model}


def _collect(out: Any) -> Any:
    return out.toPandas().sort_values("id").reset_index(drop=True)


def test_spark_decisions_equal_guard_decide_on_200k_rows(table: dict[str, Any]) -> None:
    from guardrails.spark import decide_frame

    # a model that also fails on some rows, which a fallback default answers: three
    # outcomes (answered by the model, by the default, withheld) and two reasons
    flaky = FailingModel(table["model"], when=lambda row: row[0] > 3.5, mode="nan")
    g = guard(flaky).abstain(confidence_below(0.8)).fallback(Default("dog", when=on_error()))
    out = _collect(decide_frame(table["df"], g, features=FEATURES, keep=["id"], proba=True))
    d = g.decide(table["X"])

    assert len(out) == N_ROWS
    assert np.array_equal(out["id"].to_numpy(), np.arange(N_ROWS))
    assert np.array_equal(out["abstained"].to_numpy(), d.abstained)
    assert np.array_equal(out["reason_code"].to_numpy(), d.reason)
    assert out["reason"].tolist() == [str(r) for r in d.reasons()]
    assert set(d.reason_counts()) == {"low_confidence", "invalid_input"}
    assert out["stage"].tolist() == d.stage.tolist()
    assert set(d.stage_counts()) == {"primary", "default"}
    expected = d.predictions(None)
    assert out["prediction"].where(out["prediction"].notna(), None).tolist() == expected.tolist()
    conf = out["confidence"].to_numpy(dtype=float, na_value=np.nan)
    assert np.array_equal(conf, d.confidence, equal_nan=True)
    proba = out[["proba_cat", "proba_dog"]].to_numpy(dtype=float, na_value=np.nan)
    assert np.array_equal(proba, d.proba, equal_nan=True)
    detail = out["detail"].where(out["detail"].notna(), None).tolist()
    assert detail == d.detail.tolist()


def test_spark_regression_gives_nulls_for_withheld_rows(spark: Any) -> None:
    from guardrails.spark import decide_frame

    X = np.random.default_rng(0).normal(size=(1000, 2))
    X[5, 1] = np.inf
    model = LinearRegression().fit(X[X[:, 1] < 10], X[X[:, 1] < 10] @ [1.0, 2.0])
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(id=np.arange(1000))
    g = guard(model)
    out = _collect(decide_frame(spark.createDataFrame(frame), g, features=["a", "b"], keep=["id"]))
    d = g.decide(X)
    assert out["prediction"].isna().tolist() == d.abstained.tolist()
    assert np.allclose(
        out["prediction"].to_numpy(dtype=float, na_value=np.nan),
        d.predictions(np.nan),
        equal_nan=True,
    )
    assert out.loc[5, "reason"] == str(Reason.INVALID_INPUT)


def test_partition_states_merge_into_the_whole_tables_state(table: dict[str, Any]) -> None:
    from guardrails.spark import partition_state

    edges = np.linspace(-5, 5, 21)

    def state(X: np.ndarray) -> dict[str, Any]:  # a mergeable drift-style summary
        ok = ~np.isnan(X).any(axis=1)
        return {
            "n": len(X),
            "invalid": int((~ok).sum()),
            "hist": np.stack([np.histogram(X[ok, j], edges)[0] for j in range(X.shape[1])]),
        }

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {
            "n": a["n"] + b["n"],
            "invalid": a["invalid"] + b["invalid"],
            "hist": a["hist"] + b["hist"],
        }

    merged = partition_state(table["df"], features=FEATURES, state=state, merge=merge)
    whole = state(table["X"])
    assert merged["n"] == whole["n"] == N_ROWS
    assert merged["invalid"] == whole["invalid"]
    assert np.array_equal(merged["hist"], whole["hist"])


def test_spark_settings_are_checked(table: dict[str, Any]) -> None:
    from guardrails.spark import decide_frame, partition_state

    g = guard(table["model"])
    with pytest.raises(ConfigurationError, match=r"does not have: \['nope'\]"):
        decide_frame(table["df"], g, features=["nope"])
    with pytest.raises(ConfigurationError, match="'input' parameter"):
        decide_frame(table["df"], g, features=FEATURES, input="json")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"made with guardrails\.guard"):
        decide_frame(table["df"], table["model"], features=FEATURES)
    with pytest.raises(ConfigurationError, match="empty table"):
        partition_state(table["df"].limit(0), features=FEATURES, state=len, merge=max)


def _assert_same_report(got: Any, want: Any) -> None:
    """Equal reports: counts and verdicts exactly; statistics up to float summation order
    (partitions add the per-bin sums of values in another order than one pass does)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys()
        for key in want:
            _assert_same_report(got[key], want[key])
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for a, b in zip(got, want):
            _assert_same_report(a, b)
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True)
    else:
        assert got == want


def test_drift_report_over_partitions_equals_compare_on_all_rows(
    spark: Any, table: dict[str, Any]
) -> None:
    from guardrails import DriftProfile
    from guardrails.spark import drift_report

    rng = np.random.default_rng(3)
    X_ref = rng.normal(size=(20_000, 5))
    profile = DriftProfile.from_data(X_ref, feature_names=FEATURES, sample_size=2000)
    X = rng.normal(size=(30_000, 5))
    X[:, 1] += 0.3  # one shifted feature
    frame = pd.DataFrame(X, columns=FEATURES)
    df = spark.createDataFrame(frame).repartition(5)

    report = drift_report(df, profile)
    _assert_same_report(report.to_dict(), profile.compare(frame).to_dict())
    assert report.drifted_features == ["x1"]


def test_drift_report_with_a_guard_observes_its_outputs_like_the_monitor(
    table: dict[str, Any],
) -> None:
    from guardrails import DriftProfile
    from guardrails.spark import drift_report

    g = guard(table["model"]).abstain(confidence_below(0.8))
    X = table["X"]
    reference = g.decide(X[:20_000])
    profile = DriftProfile.from_data(
        X[:20_000],
        feature_names=FEATURES,
        predictions=reference.prediction,
        confidence=reference.confidence,
        abstained=reference.abstained,
        sample_size=2000,
    )
    report = drift_report(table["df"], profile, guard=g)
    d = g.decide(X)
    rows = np.flatnonzero(d.reason != int(Reason.INVALID_INPUT))  # the model never saw these
    expected = profile.compare(
        pd.DataFrame(X[rows], columns=FEATURES),
        predictions=d.prediction[rows],
        confidence=d.confidence[rows],
        abstained=d.abstained[rows],
    )
    _assert_same_report(report.to_dict(), expected.to_dict())
    assert {"prediction", "confidence", "abstention"} <= set(report.to_dict()["features"])


def _row_schema() -> Any:
    """A schema class made in a function with no other locals: pydantic keeps the defining
    frame's namespace on the class, and Spark must not find the session in it."""
    import pydantic

    class Row(pydantic.BaseModel):
        a: float = pydantic.Field(ge=-10, le=10)
        b: float = pydantic.Field(ge=-10, le=10)

    return Row


def test_spark_records_through_a_validating_guard(spark: Any) -> None:
    from guardrails.spark import decide_frame

    Row = _row_schema()
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 2)) * 4
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    g = guard(LogisticRegression().fit(X, y)).validate(Row)
    frame = pd.DataFrame(X, columns=["a", "b"]).assign(id=np.arange(2000))
    out = _collect(
        decide_frame(
            spark.createDataFrame(frame),
            g,
            features=["a", "b"],
            keep=["id"],
            input="records",
            objects={"schema": Row},
        )
    )
    d = g.decide(frame[["a", "b"]].to_dict(orient="records"))
    assert d.reason_counts().get("invalid_input", 0) > 0  # |x| > 10 happens at 4 sd * 2.5
    assert out["reason"].tolist() == [str(r) for r in d.reasons()]
    assert out["prediction"].isna().tolist() == d.abstained.tolist()


def test_a_partition_state_travels_as_plain_arrays_and_anything_else_is_refused(
    table: dict[str, Any],
) -> None:
    from guardrails.spark import decode_state, encode_state, partition_state

    state = {"rows": 3, "mean": 0.5, "counts": np.array([[1, 2], [3, 4]]), "empty": np.zeros(0)}
    back = decode_state(encode_state(state))
    assert back.keys() == state.keys() and back["rows"] == 3 and back["mean"] == 0.5
    assert np.array_equal(back["counts"], state["counts"]) and back["empty"].shape == (0,)
    assert decode_state(encode_state(7)) == 7 and decode_state(encode_state({})) == {}
    for bad in ({"labels": ["a", "b"]}, {1: np.zeros(2)}, np.array([None], dtype=object)):
        with pytest.raises(ConfigurationError, match="partition_state state"):
            encode_state(bad)
    with pytest.raises(Exception, match="partition_state state"):
        partition_state(
            table["df"], features=FEATURES, state=lambda X: {"x": [1]}, merge=lambda a, b: a
        )
