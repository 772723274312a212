"""Safe defaults (issue 15): no default may quietly turn a verdict into an answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pydantic import BaseModel, Field
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from structlog.testing import capture_logs

import guardrails
from guardrails import (
    ConformalSets,
    Decisions,
    Default,
    Metrics,
    ModelAdapter,
    ModelStage,
    Reason,
    Rule,
    SendToReview,
    WithFallback,
    confidence_below,
    guard,
    on_abstain,
    on_circuit_open,
    on_error,
    on_failure,
    on_invalid_input,
    on_timeout,
    on_withheld,
)
from guardrails.core.layer import Call
from guardrails.core.post import PostLayer

ROOT = Path(__file__).resolve().parent.parent
ALL = list(Reason)
FAILURES = {Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN}
VERDICTS = {Reason.LOW_CONFIDENCE, Reason.AMBIGUOUS, Reason.INVALID_INPUT, Reason.DRIFT}


@pytest.fixture(scope="module")
def digits() -> dict[str, Any]:
    X, y = load_digits(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.5, random_state=0)
    X_cal, X_test, y_cal, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    backup = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    return {
        "model": model,
        "backup": backup,
        "X_cal": X_cal,
        "y_cal": y_cal,
        "X_test": X_test,
        "y_test": y_test,
    }


def _withheld(reasons: list[Reason]) -> Decisions:
    n = len(reasons)
    codes = np.array([int(r) for r in reasons], dtype=np.int8)
    return Decisions(
        prediction=np.zeros(n, dtype=int), abstained=codes != 0, reason=codes, stage="primary"
    )


class WithholdByCode(PostLayer):
    """Withholds row i with the reason code in column 0 of the input (0: answer)."""

    name = "test_withhold"

    def post(self, d: Decisions, call: Call) -> Decisions:
        codes = np.asarray(call.raw)[:, 0].astype(np.int8)
        return d.withhold(codes != 0, codes, detail="verdict of the test layer")


def _answers(X: NDArray[Any]) -> NDArray[Any]:
    return np.full(len(X), 1)


# -- triggers ------------------------------------------------------------------------------


def test_a_stage_built_without_when_takes_only_failures() -> None:
    d = _withheld(ALL)
    for stage in (Default(0), ModelStage(_answers, output="labels"), Rule(_answers)):
        mask = stage.when.select(d, Call(raw=None, n=len(ALL)))
        assert {r for r, m in zip(ALL, mask) if m} == FAILURES
        assert stage.when == on_failure()


def test_on_failure_is_error_timeout_and_circuit_open_and_prints_its_name() -> None:
    d = _withheld(ALL)
    call = Call(raw=None, n=len(ALL))
    combined = on_error() | on_timeout() | on_circuit_open()
    assert on_failure().select(d, call).tolist() == combined.select(d, call).tolist()
    assert repr(on_failure()) == "on_failure()"
    assert repr(Default(0)) == "Default(0)"
    assert repr(Default(0, when=on_abstain())) == "Default(0, when=on_abstain())"


def test_a_verdict_row_is_answered_only_by_a_stage_that_names_it() -> None:
    X = np.array([[int(r)] for r in ALL if r is not Reason.REVIEW], dtype=float)
    primary = WithholdByCode(ModelAdapter(_answers, output="labels"))
    kept = WithFallback(primary, [Default(9)]).decide(X)
    for i, code in enumerate(X[:, 0].astype(int)):
        reason = Reason(int(code))
        if reason in FAILURES or reason is Reason.NONE:
            assert kept[i].answered
        else:
            assert kept[i].reason is reason and kept[i].stages_tried == ("primary",)
    named = WithFallback(primary, [Default(9, when=on_abstain([Reason.DRIFT]))]).decide(X)
    drift = int(np.flatnonzero(X[:, 0] == int(Reason.DRIFT))[0])
    assert named[drift].answered and named[drift].overridden is Reason.DRIFT
    assert named.abstained.sum() == len(X) - 2  # the answered row and the drift row


def test_the_readme_fallback_chain_answers_no_row_the_policy_withheld(
    digits: dict[str, Any],
) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"`(\.fallback\([^`]*\))`", text)
    assert found, "the README shows a fallback step"
    # the README's own stages and triggers; its primary_timeout is raised so that a slow
    # shared machine cannot turn the primary into a (legitimate) timeout failure
    steps = re.sub(r"primary_timeout=[0-9.]+", "primary_timeout=60", found.group(1))
    base = guard(digits["model"]).abstain(ConformalSets(0.05)).fit(digits["X_cal"], digits["y_cal"])
    env = {**vars(guardrails), "backup": digits["backup"], "model": digits["model"]}
    chained = eval(f"guard(model).abstain(ConformalSets(0.05)){steps}", env).fit(
        digits["X_cal"], digits["y_cal"]
    )
    alone = base.decide(digits["X_test"])
    d = chained.decide(digits["X_test"])
    assert alone.abstained.sum() > 0
    np.testing.assert_array_equal(d.abstained, alone.abstained)
    np.testing.assert_array_equal(d.reason, alone.reason)
    assert set(d.stage[d.abstained]) == {"primary"}
    assert d.overridden is None or not d.overridden.any()


_TRIGGERS = st.sampled_from(
    [None, on_failure(), on_error(), on_timeout(), on_circuit_open(), on_timeout() | on_error()]
)


@st.composite
def _chains(draw: st.DrawFn) -> list[Any]:
    stages: list[Any] = []
    for k in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["default", "model", "rule", "review"]))
        when = draw(_TRIGGERS)
        if kind == "default":
            stages.append(Default(k, name=f"d{k}", when=when))
        elif kind == "model":
            stages.append(ModelStage(_answers, name=f"m{k}", output="labels", when=when))
        elif kind == "rule":
            stages.append(Rule(_answers, name=f"r{k}", when=when))
        else:
            stages.append(SendToReview(name=f"s{k}", when=when))
    return stages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stages=_chains(),
    codes=st.lists(st.sampled_from([int(r) for r in ALL if r is not Reason.REVIEW]), max_size=12),
)
def test_a_chain_without_an_abstention_trigger_never_answers_a_withheld_row(
    stages: list[Any], codes: list[int]
) -> None:
    X = np.array(codes, dtype=float).reshape(-1, 1)
    primary = WithholdByCode(ModelAdapter(_answers, output="labels"))
    d = WithFallback(primary, stages).decide(X)
    for i, code in enumerate(codes):
        if Reason(code) in VERDICTS:
            assert d[i].abstained and d[i].reason is Reason(code)
            assert d[i].stages_tried == ("primary",)
        assert d[i].overridden is None


# -- what a stage that overrides a verdict leaves behind -----------------------------------


def test_an_answered_verdict_keeps_the_verdict_it_overrode_in_decision_log_and_metrics(
    digits: dict[str, Any],
) -> None:
    metrics = Metrics()
    g = (
        guard(digits["model"], name="digits")
        .abstain(ConformalSets(0.05))
        .fallback(ModelStage(digits["backup"], name="backup", when=on_abstain()))
        .log(metrics=metrics, max_row_events=None)
        .fit(digits["X_cal"], digits["y_cal"])
    )
    with capture_logs() as events:
        d = g.decide(digits["X_test"])
    verdicts = (
        guard(digits["model"]).abstain(ConformalSets(0.05)).fit(digits["X_cal"], digits["y_cal"])
    )
    alone = verdicts.decide(digits["X_test"])
    took = d.stage == "backup"
    np.testing.assert_array_equal(took, alone.abstained)
    assert took.any() and not d.abstained.any()
    np.testing.assert_array_equal(d.overridden, np.where(took, alone.reason, 0))
    row = d[int(np.flatnonzero(took & (alone.reason == Reason.LOW_CONFIDENCE))[0])]
    assert row.overridden is Reason.LOW_CONFIDENCE
    assert row.overridden_detail and "prediction set" in row.overridden_detail
    assert row.to_dict()["overridden"] == "low_confidence"
    assert d[int(np.flatnonzero(~took)[0])].overridden is None
    rows = {e["row"]: e for e in events if e["event"] == "guardrails.decision"}
    assert {i: e["overridden"] for i, e in rows.items() if e["stage"] == "backup"} == {
        int(i): str(Reason(int(alone.reason[i]))) for i in np.flatnonzero(took)
    }
    batch = next(e for e in events if e["event"] == "guardrails.batch")
    assert {k: len(v) for k, v in batch["overridden"].items()} == alone.reason_counts()
    assert (
        sorted(i for v in batch["overridden"].values() for i in v) == np.flatnonzero(took).tolist()
    )
    snap = metrics.snapshot().guard("digits")
    for reason, k in alone.reason_counts().items():
        assert snap.count(outcome="fallback", reason=reason) == k
    assert snap.count(outcome="fallback", reason="none") == 0


def test_a_failure_answered_by_a_fallback_records_no_override() -> None:
    def down(X: Any) -> Any:
        raise ConnectionError("down")

    d = guard(down, output="labels").fallback(Default(0)).decide(np.zeros((2, 1)))
    assert d[0].answered and d[0].overridden is None and d[0].stage == "default"


# -- invalid input ---------------------------------------------------------------------------


class Point(BaseModel):
    x: float = Field(ge=0, le=10)
    y: float


def _rule(rows: Any) -> list[Any]:
    return ["partial"] * len(rows)


@pytest.mark.parametrize(
    ("on_invalid", "when", "answered"),
    [
        ("abstain", None, False),
        ("fallback", None, False),
        ("abstain", on_invalid_input(), False),
        ("fallback", on_invalid_input(), True),
        ("fallback", on_withheld(), True),
        ("fallback", on_abstain(), False),
    ],
    ids=str,
)
def test_invalid_rows_reach_only_a_stage_naming_them_under_on_invalid_fallback(
    on_invalid: str, when: Any, answered: bool
) -> None:
    g = (
        guard(lambda X: np.zeros(len(X), dtype=int), output="labels")
        .validate(Point, on_invalid=on_invalid)
        .fallback(Rule(_rule, name="partial_data", when=when))
    )
    d = g.decide([{"x": 20.0, "y": 1.0}, {"x": 1.0, "y": 1.0}])
    assert d[1].answered and d[1].stage == "primary"
    assert d[0].answered is answered
    if answered:
        assert d[0].overridden is Reason.INVALID_INPUT and d[0].stage == "partial_data"
    else:
        assert d[0].reason is Reason.INVALID_INPUT


# -- names -------------------------------------------------------------------------------


def test_an_unnamed_model_stage_is_named_after_its_model_not_a_reserved_word(
    digits: dict[str, Any],
) -> None:
    assert ModelStage(digits["backup"]).name == "logistic_regression"
    assert ModelStage(digits["model"]).name == "random_forest_classifier"
    assert ModelStage(guard(digits["backup"], name="second_opinion")).name == "second_opinion"
    assert ModelStage(_answers, output="labels").name == "_answers"
    assert ModelStage(lambda X: X, output="labels").name == "backup_model"


def test_an_unnamed_model_stage_saves_and_loads_under_its_name(
    digits: dict[str, Any], tmp_path: Path
) -> None:
    g = (
        guard(digits["model"])
        .abstain(confidence_below(0.9))
        .fallback(ModelStage(digits["backup"]), Default(0))
        .fit(digits["X_cal"], digits["y_cal"])
    )
    path = g.save(tmp_path / "g.guard")
    loaded = guardrails.load(path, model=digits["model"], logistic_regression=digits["backup"])
    assert loaded.decide(digits["X_test"]) == g.decide(digits["X_test"])


# -- input shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "what"),
    [
        (np.arange(64.0), "a 1-D array of 64 values"),
        (list(range(64)), "a flat list of 64 numbers"),
        (tuple(np.arange(3.0)), "a flat tuple of 3 numbers"),
    ],
    ids=["array", "list", "tuple"],
)
def test_a_one_dimensional_batch_is_misuse_and_nothing_is_queued(
    digits: dict[str, Any], batch: Any, what: str
) -> None:
    from guardrails import InvalidInputError, MemoryQueue

    queue = MemoryQueue()
    g = (
        guard(digits["model"])
        .abstain(ConformalSets(0.05))
        .review(queue)
        .fit(digits["X_cal"], digits["y_cal"])
    )
    for call in (g.decide, g.predict):
        with pytest.raises(InvalidInputError, match=re.escape(what)) as info:
            call(batch)
        assert "(n_rows, n_features)" in str(info.value) and "decide_one(x)" in str(info.value)
        assert "reshape(1, -1)" in str(info.value)
    assert sum(queue.stats().counts.values()) == 0
    assert g.decide_one(digits["X_test"][0]).stage == "primary"


def test_a_one_dimensional_array_of_text_is_still_a_batch_for_a_text_model() -> None:
    d = guard(lambda X: np.array([len(t) for t in X]), output="labels").decide(
        np.array(["ab", "abc"])
    )
    assert d.prediction.tolist() == [2, 3]


def test_ragged_rows_get_a_clear_error_not_a_numpy_traceback(digits: dict[str, Any]) -> None:
    from guardrails import InvalidInputError

    g = guard(digits["model"])
    rows = [list(digits["X_test"][0]), list(digits["X_test"][1][:10])]
    with pytest.raises(InvalidInputError, match="row 0 has 64 values and row 1 has 10"):
        g.decide(rows)


def test_ragged_rows_under_a_schema_are_withheld_row_by_row() -> None:
    g = guard(lambda X: np.zeros(len(X), dtype=int), output="labels").validate(Point)
    d = g.decide([[1.0, 2.0], [3.0], [1.0, 2.0, 3.0]])
    assert d[0].answered
    assert d[1].reason is Reason.INVALID_INPUT and d[2].reason is Reason.INVALID_INPUT


def test_decide_one_of_a_number_is_one_row_of_one_feature() -> None:
    assert (
        guard(lambda X: np.asarray(X)[:, 0] * 2, output="values").decide_one(3.0).prediction == 6.0
    )


# -- whose monitor spoke -------------------------------------------------------------------


def test_drift_window_events_carry_the_guard_name_version_and_request_id(
    digits: dict[str, Any],
) -> None:
    from guardrails import DriftProfile

    g = guard(digits["model"], name="digits", version="7").monitor(
        DriftProfile.from_data(digits["X_cal"]), window=20, mode="tumbling"
    )
    with capture_logs() as events:
        g.decide(digits["X_test"][:20], request_id="req-42")
    windows = [e for e in events if e["event"] == "drift_window"]
    assert windows, "a full window was evaluated"
    for e in windows:
        assert (e["guard"], e["guard_version"], e["request_id"]) == ("digits", "7", "req-42")


def test_a_row_a_rule_declined_still_shows_why_validation_refused_it() -> None:
    g = (
        guard(lambda X: np.zeros(len(X), dtype=int), output="labels")
        .validate(Point, on_invalid="fallback")
        .fallback(Rule(lambda rows: [None] * len(rows), name="nope", when=on_invalid_input()))
    )
    d = g.decide([{"x": 20.0, "y": 1.0}])
    assert d[0].reason is Reason.INVALID_INPUT and d[0].stages_tried[-1] == "nope"
    assert d[0].errors and d[0].errors[0]["loc"] == ("x",)


def test_a_nan_reads_is_nan_not_field_required() -> None:
    g = guard(lambda X: np.zeros(len(X), dtype=int), output="labels").validate(Point)
    d = g.decide(np.array([[np.nan, 1.0], [1.0, 1.0]]))
    assert d[0].reason is Reason.INVALID_INPUT and d[1].answered
    assert d[0].errors is not None
    assert [e["msg"] for e in d[0].errors] == ["Input is NaN; the field is required"]


def test_a_frame_with_wrong_column_names_says_which_columns_were_expected() -> None:
    import pandas as pd

    g = guard(lambda X: np.zeros(len(X), dtype=int), output="labels").validate(Point)
    d = g.decide(pd.DataFrame({"x": [1.0], "Y": [2.0]}))
    assert d[0].reason is Reason.INVALID_INPUT
    assert d[0].detail is not None and d[0].errors is not None
    summary = "expected ['x', 'y']; missing ['y']; unexpected ['Y']"
    assert summary in d[0].detail
    assert d[0].errors[0]["type"] == "column_mismatch" and summary in d[0].errors[0]["msg"]
    assert [e["loc"] for e in d[0].errors[1:]] == [("Y",), ("y",)]


def test_the_validation_error_survives_the_chain_into_decision_review_case_and_log() -> None:
    from guardrails import MemoryQueue

    queue = MemoryQueue()
    g = (
        guard(lambda X: np.zeros(len(X), dtype=int), output="labels", name="pts")
        .validate(Point, on_invalid="fallback")
        .fallback(Rule(lambda rows: [None] * len(rows), name="nope", when=on_invalid_input()))
        .review(queue)
        .log(details=True)
    )
    with capture_logs() as logs:
        d = g.decide([{"x": 20.0, "y": 1.0}, {"x": 1.0, "y": 1.0}])
    assert d[0].abstained and d[1].answered and d[0].stages_tried[-1] == "nope"
    why = "x: Input should be less than or equal to 10 (got 20.0)"
    assert d[0].detail is not None and why in d[0].detail
    assert d[0].errors and d[0].errors[0]["loc"] == ("x",)
    (case,) = queue.list()
    assert why in str(case.context.get("detail"))
    row_events = [e for e in logs if e.get("row") == 0]
    assert row_events and why in str(row_events[0].get("detail"))
    logged = row_events[0].get("errors")
    assert [(e["loc"], e["type"], e["msg"]) for e in logged] == [
        (("x",), "less_than_equal", "Input should be less than or equal to 10")
    ]
