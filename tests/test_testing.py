"""guardrails.testing: assertions fail with useful messages, fakes misbehave as promised,
and the strategies draw records that the schema accepts or rejects as claimed."""

from __future__ import annotations

import enum
import math
from typing import Any, Literal, Optional

import numpy as np
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression

import guardrails.testing as testing
from guardrails import (
    ConfigurationError,
    ConformalSets,
    Decisions,
    Reason,
    confidence_below,
    guard,
)
from guardrails.testing import (
    BrokenRule,
    DriftingInputs,
    FailingModel,
    OverconfidentModel,
    SlowModel,
    assert_abstains,
    assert_abstention_rate,
    assert_answers,
    assert_coverage,
    assertions,
    fakes,
    invalid_records,
    plugin,
    strategies,
    valid_records,
)


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    return LogisticRegression().fit(X, y), X, y


# -- assertions -----------------------------------------------------------------------------


def test_assert_abstains_passes_on_a_withheld_row_and_returns_the_decision(fitted: Any) -> None:
    model, _, _ = fitted
    g = guard(model).abstain(confidence_below(0.9))
    d = assert_abstains(g, np.array([0.0, 0.0]), reason=Reason.LOW_CONFIDENCE)
    assert d.reason is Reason.LOW_CONFIDENCE
    assert_abstains(g, np.array([0.0, 0.0]), reason="low_confidence")
    assert_abstains(g, np.array([0.0, 0.0]), reason=["model_error", "low_confidence"])


def test_assert_abstains_fails_when_the_guard_answers_and_says_what_it_answered(
    fitted: Any,
) -> None:
    model, _, _ = fitted
    g = guard(model).abstain(confidence_below(0.9))
    with pytest.raises(AssertionError, match=r"it answered: prediction 1.*confidence"):
        assert_abstains(g, np.array([5.0, 0.0]))


def test_assert_abstains_fails_on_the_wrong_reason(fitted: Any) -> None:
    model, _, _ = fitted
    g = guard(model).abstain(confidence_below(0.9))
    with pytest.raises(AssertionError, match=r"reason invalid_input.*'low_confidence'"):
        assert_abstains(g, np.array([0.0, 0.0]), reason=Reason.INVALID_INPUT)


def test_an_unknown_reason_name_is_a_configuration_error(fitted: Any) -> None:
    with pytest.raises(ConfigurationError, match="'reason' parameter"):
        assert_abstains(guard(fitted[0]), np.array([0.0, 0.0]), reason="sleepy")


def test_assert_answers_checks_the_answer_and_fails_on_abstention(fitted: Any) -> None:
    model, _, _ = fitted
    g = guard(model).abstain(confidence_below(0.9))
    assert assert_answers(g, np.array([5.0, 0.0]), prediction=1).prediction == 1
    with pytest.raises(AssertionError, match="expected the guard to answer 0"):
        assert_answers(g, np.array([5.0, 0.0]), prediction=0)
    with pytest.raises(AssertionError, match="it abstained: reason 'low_confidence'"):
        assert_answers(g, np.array([0.0, 0.0]))


def test_assertions_reject_something_that_is_not_a_guard() -> None:
    with pytest.raises(ConfigurationError, match="'guard' parameter"):
        assert_answers(object(), [1.0])


def test_assert_abstention_rate_bounds_are_inclusive_and_checked(fitted: Any) -> None:
    model, X, _ = fitted
    g = guard(model).abstain(confidence_below(0.9))
    rate = g.decide(X).abstention_rate
    assert 0.0 < rate < 1.0
    d = assert_abstention_rate(g, X, between=(rate, rate))
    assert d.abstention_rate == rate
    with pytest.raises(AssertionError, match=r"outside \[0, 0.01\]; reasons: \{'low_confidence'"):
        assert_abstention_rate(g, X, between=(0.0, 0.01))
    with pytest.raises(ConfigurationError, match="'between' parameter"):
        assert_abstention_rate(g, X, between=(0.5, 0.1))


def test_assert_abstains_on_a_batch_the_guard_answered_fails_and_lists_the_rows(
    fitted: Any,
) -> None:
    model, X, _ = fitted
    g = guard(model)  # no policy: every valid row is answered
    with pytest.raises(
        AssertionError,
        match=r"abstain on every row of the batch, but it answered 3 of 3 rows: row 0: "
        r"prediction \d.*; row 1: .*; row 2: ",
    ):
        assert_abstains(g, X[:3])
    with pytest.raises(AssertionError, match=r"3 of 3 rows did not \(3 answered\)"):
        assert_abstains(g, X[:3], reason="invalid_input")


def test_assert_abstains_checks_every_row_of_a_batch_and_returns_its_decisions(
    fitted: Any,
) -> None:
    model, _, _ = fitted
    g = guard(model).abstain(confidence_below(0.99))
    near = np.array([[0.0, 0.0], [0.05, 0.0], [-0.05, 0.1]])
    d = assert_abstains(g, near, reason=Reason.LOW_CONFIDENCE)
    assert isinstance(d, Decisions)
    assert len(d) == 3
    one_far = np.vstack([near, [[40.0, 0.0]]])
    with pytest.raises(AssertionError, match=r"answered 1 of 4 rows: row 3: prediction 1"):
        assert_abstains(g, one_far)


def test_a_batch_row_withheld_for_another_reason_is_named(fitted: Any) -> None:
    model, _, _ = fitted
    g = guard(model).abstain(confidence_below(0.99))
    X = np.array([[0.0, 0.0], [np.nan, 0.0]])
    with pytest.raises(
        AssertionError,
        match=r"with reason low_confidence on every row of the batch, but 1 of 2 rows did "
        r"not \(0 answered\): row 1: reason 'invalid_input'",
    ):
        assert_abstains(g, X, reason="low_confidence")


def test_frames_and_lists_of_records_are_batches_checked_row_by_row(fitted: Any) -> None:
    import pandas as pd
    from pydantic import BaseModel

    from guardrails import Schema

    class Point(BaseModel):
        x0: float
        x1: float

    model, _, _ = fitted
    g = guard(model).validate(Schema(Point)).abstain(confidence_below(0.99))
    records = [{"x0": 0.0, "x1": 0.0}, {"x0": 40.0, "x1": 0.0}]
    for batch in (records, pd.DataFrame(records)):
        with pytest.raises(AssertionError, match=r"answered 1 of 2 rows: row 1"):
            assert_abstains(g, batch)
        with pytest.raises(AssertionError, match=r"abstained on 1 of 2 rows: row 0"):
            assert_answers(g, batch)
    assert_abstains(g, records[0])  # one dict is one record
    assert_answers(g, pd.DataFrame(records).iloc[1])  # so is one row of a frame


def test_an_empty_batch_asserts_nothing_and_fails(fitted: Any) -> None:
    g = guard(fitted[0])
    empty = np.empty((0, 2))
    with pytest.raises(AssertionError, match="assert_abstains got an empty batch"):
        assert_abstains(g, empty)
    with pytest.raises(AssertionError, match="assert_answers got an empty batch"):
        assert_answers(g, [])
    with pytest.raises(AssertionError, match="assert_abstention_rate got an empty batch"):
        assert_abstention_rate(g, empty, between=(0.0, 1.0))


def test_a_list_mixing_records_and_values_is_refused(fitted: Any) -> None:
    with pytest.raises(ConfigurationError, match="mixes records and plain values"):
        assert_abstains(guard(fitted[0]), [[0.0, 0.0], 1.0])


def test_a_guard_that_drops_rows_fails_the_batch_assertions(fitted: Any) -> None:
    real = guard(fitted[0])

    class DropsLastRow:
        def decide(self, X: Any) -> Decisions:
            return real.decide(X[:-1])

    with pytest.raises(AssertionError, match="returned 2 decisions for a batch of 3 rows"):
        assert_answers(DropsLastRow(), fitted[1][:3])
    with pytest.raises(AssertionError, match="returned 2 decisions for a batch of 3 rows"):
        assert_abstention_rate(DropsLastRow(), fitted[1][:3], between=(0.0, 1.0))


def test_assert_answers_on_a_batch_compares_each_row_with_its_expected_answer(
    fitted: Any,
) -> None:
    model, _, _ = fitted
    g = guard(model)
    X = np.array([[-5.0, 0.0], [5.0, 0.0], [6.0, 0.0]])
    d = assert_answers(g, X, prediction=[0, 1, 1])
    assert isinstance(d, Decisions)
    assert_answers(g, X[1:], prediction=1)
    with pytest.raises(AssertionError, match=r"2 of 3 rows got another: row 1: expected 0, "):
        assert_answers(g, X, prediction=0)
    with pytest.raises(ConfigurationError, match="one answer or one per row of the batch"):
        assert_answers(g, X, prediction=[0, 1])


def test_assert_abstention_rate_refuses_one_record(fitted: Any) -> None:
    g = guard(fitted[0])
    with pytest.raises(ConfigurationError, match=r"Got one record \(ndarray of shape \(2,\)\)"):
        assert_abstention_rate(g, np.array([0.0, 0.0]), between=(0.0, 1.0))
    with pytest.raises(ConfigurationError, match="must be a batch of rows"):
        assert_abstention_rate(g, {"x0": 0.0}, between=(0.0, 1.0))


def _with_sets(proba: np.ndarray, threshold: float) -> Decisions:
    return Decisions(
        prediction=proba.argmax(axis=1),
        proba=proba,
        confidence=proba.max(axis=1),
        pred_set=proba >= threshold,
        classes=np.array([0, 1, 2]),
    )


def test_assert_coverage_checks_sets_and_says_by_how_much_it_missed() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    d = _with_sets(proba, 0.3)  # sets {0}, {0,1}, {2}, {0,1,2}
    assert assert_coverage(d, d, [0, 1, 2, 2], at_least=1.0) == 1.0
    assert assert_coverage(d, d, [1, 1, 0, 2], between=(0.5, 0.5)) == 0.5
    with pytest.raises(AssertionError, match=r"coverage 0.5000 of 4 decisions"):
        assert_coverage(d, d, [1, 1, 0, 2], at_least=0.9)


def test_assert_coverage_needs_sets_and_one_bound() -> None:
    d = Decisions(prediction=np.array([1.0]))
    with pytest.raises(ConfigurationError, match="prediction sets"):
        assert_coverage(d, d, [1.0], at_least=0.9)
    with pytest.raises(ConfigurationError, match="exactly one of"):
        assert_coverage(d, d, [1.0])


def test_assert_coverage_on_a_conformal_guard() -> None:
    # 3,000 calibration rows, alpha 0.1: split conformal coverage on 6,000 fresh rows has
    # mean >= 0.9 and sd about sqrt(0.09 / 6000) + sqrt(0.09 / 3000) ~ 0.01, so 0.87 is
    # three sd below the guarantee.
    X, y = make_classification(
        n_samples=12_000, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    model = LogisticRegression(max_iter=1000).fit(X[:3000], y[:3000])
    g = guard(model).abstain(ConformalSets(alpha=0.1)).fit(X[3000:6000], y[3000:6000])
    value = assert_coverage(g, X[6000:], y[6000:], at_least=0.87)
    assert value < 0.95  # sets are not trivially everything


def test_assert_coverage_fails_when_rows_without_sets_are_left_out() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    d = _with_sets(proba, 0.3)
    broken = Decisions.withheld(2, Reason.INVALID_INPUT, classes=np.array([0, 1, 2]))
    mixed = Decisions.concat([d, broken.replace(pred_set=np.zeros((2, 3), dtype=bool))])
    y = [0, 1, 2, 2, 0, 0]
    with pytest.raises(
        AssertionError,
        match=r"2 of 6 rows have no prediction set or interval \(reasons: \{'invalid_input': 2\}"
        r"\), more than max_unscored=0: coverage 1.0000 holds only for the other 4 rows",
    ):
        assert_coverage(mixed, mixed, y, at_least=0.9)
    assert assert_coverage(mixed, mixed, y, at_least=0.9, max_unscored=0.5) == 1.0
    with pytest.raises(ConfigurationError, match="'max_unscored' parameter"):
        assert_coverage(mixed, mixed, y, at_least=0.9, max_unscored=2)


# -- fakes ----------------------------------------------------------------------------------


def test_failing_model_in_nan_mode_breaks_only_the_chosen_rows(fitted: Any) -> None:
    model, X, _ = fitted
    flaky = FailingModel(model, when=lambda row: row[0] > 1.0, mode="nan")
    d = guard(flaky).decide(X)
    chosen = X[:, 0] > 1.0
    assert chosen.any()
    assert np.array_equal(d.abstained, chosen)
    assert set(d.reason[chosen]) == {int(Reason.MODEL_ERROR)}
    assert np.array_equal(d.prediction[~chosen], model.predict(X[~chosen]))


def test_failing_model_in_raise_mode_fails_the_whole_batch(fitted: Any) -> None:
    model, X, _ = fitted
    flaky = FailingModel(model, when=lambda row: row[0] > 1.0, error=TimeoutError("boom"))
    d = guard(flaky).decide(X[:50])
    assert d.reason_counts() == {"model_error": 50}
    assert "TimeoutError: boom" in d.detail[0]
    assert_answers(guard(flaky), X[X[:, 0] < 0][0])
    assert flaky.calls == 2


def test_fakes_keep_the_kind_of_model_they_wrap() -> None:
    X = np.arange(10.0).reshape(-1, 1)
    reg = LinearRegression().fit(X, 2 * X[:, 0])
    g = guard(FailingModel(reg, when=lambda row: row[0] > 8, mode="nan"))
    d = g.decide(X)
    assert g.task == "regression"
    assert d.reason_counts() == {"model_error": 1}
    assert not hasattr(FailingModel(reg, when=bool), "predict_proba")


def test_slow_model_sleeps_only_when_told(fitted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("guardrails.testing.fakes.time.sleep", slept.append)
    model, X, _ = fitted
    slow = SlowModel(model, delay=2.5, when=lambda row: row[1] > 2.0)
    guard(slow).decide(X[np.abs(X[:, 1]) < 1])
    guard(slow).decide(X)
    assert slept == [2.5]
    assert slow.calls == 2


def test_overconfident_model_keeps_the_argmax_and_raises_confidence(fitted: Any) -> None:
    model, X, _ = fitted
    sharp = OverconfidentModel(model, temperature=0.2)
    p, q = model.predict_proba(X), sharp.predict_proba(X)
    assert np.array_equal(p.argmax(axis=1), q.argmax(axis=1))
    assert np.allclose(q.sum(axis=1), 1.0)
    assert (q.max(axis=1) >= p.max(axis=1) - 1e-12).all()
    assert q.max(axis=1).mean() > p.max(axis=1).mean() + 0.05


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda m: FailingModel(m, when=1), "'when' parameter of FailingModel"),
        (lambda m: FailingModel(m, when=bool, mode="x"), "'mode' parameter"),
        (lambda m: SlowModel(m, delay=-1), "'delay' parameter of SlowModel"),
        (lambda m: OverconfidentModel(m, temperature=2.0), "'temperature' parameter"),
        (lambda m: FailingModel(object(), when=bool), "'model' parameter of FailingModel"),
        (lambda m: FailingModel(m, when=bool, error="boom"), "'error' parameter of FailingModel"),
        (lambda m: SlowModel(m, delay=1.0, when=3), "'when' parameter of SlowModel"),
        (lambda m: DriftingInputs(np.zeros((3, 1)), features=[0], step=math.inf), "'step'"),
    ],
)
def test_fakes_validate_their_settings(fitted: Any, factory: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        factory(fitted[0])


def test_drifting_inputs_start_at_the_reference_and_move_by_step() -> None:
    ref = np.random.default_rng(1).normal(size=(5000, 3))
    stream = DriftingInputs(ref, features=[2], step=1.0, batch_size=4000, seed=3)
    batches = stream.take(4)
    assert np.array_equal(batches[1], stream.batch(1))  # reproducible
    shift = [b.mean(axis=0) - ref.mean(axis=0) for b in batches]
    # 4000 resampled rows of unit-variance data: the mean is off by about 1/sqrt(4000)=0.016,
    # so 0.1 is more than 6 standard errors.
    for t, s in enumerate(shift):
        assert abs(s[2] - t * ref[:, 2].std()) < 0.1
        assert np.all(np.abs(s[:2]) < 0.1)
    with pytest.raises(ConfigurationError, match="'features' parameter"):
        DriftingInputs(ref, features=[3])


def test_a_predicate_that_raises_fails_the_test_instead_of_posing_as_a_model_error(
    fitted: Any,
) -> None:
    model, X, _ = fitted
    by_name = FailingModel(model, when=lambda row: row["age"] > 60)  # rows are arrays
    with pytest.raises(pytest.fail.Exception, match=r"'when' predicate of FailingModel failed"):
        assert_abstains(guard(by_name), X[0], reason="model_error")
    ambiguous = SlowModel(model, delay=0.0, when=lambda row: row > 0)  # an array, not a bool
    with pytest.raises(pytest.fail.Exception, match="passed for the wrong reason"):
        guard(ambiguous).decide(X[:2])


def test_nan_mode_on_a_model_of_labels_fails_the_test_instead_of_every_row() -> None:
    X = np.array([[0.0], [1.0], [0.1], [0.9]])

    class Labels:
        def predict(self, X: Any) -> np.ndarray:
            return np.where(np.asarray(X)[:, 0] > 0.5, "yes", "no")

    flaky = FailingModel(Labels(), when=lambda row: row[0] > 5, mode="nan")
    with pytest.raises(pytest.fail.Exception, match="cannot put NaN into the output of Labels"):
        guard(flaky, output="labels", classes=["no", "yes"]).decide(X)


def test_a_failing_model_that_never_fails_leaves_the_model_error_assertion_failing(
    fitted: Any,
) -> None:
    model, X, _ = fitted
    never = FailingModel(model, when=lambda row: row[0] > 1e9)
    with pytest.raises(AssertionError, match="it answered"):
        assert_abstains(guard(never), X[0], reason="model_error")
    assert_abstains(guard(FailingModel(model, when=lambda row: True)), X[0], reason="model_error")


def test_the_overconfident_fake_breaks_an_abstention_rate_the_real_model_keeps(
    fitted: Any,
) -> None:
    model, X, _ = fitted
    rate = guard(model).abstain(confidence_below(0.9)).decide(X).abstention_rate
    assert rate > 0.2
    band = (rate - 0.05, rate + 0.05)
    assert_abstention_rate(guard(model).abstain(confidence_below(0.9)), X, between=band)
    sharp = guard(OverconfidentModel(model, temperature=0.2)).abstain(confidence_below(0.9))
    with pytest.raises(AssertionError, match=r"abstention rate .* is outside"):
        assert_abstention_rate(sharp, X, between=band)


def test_drifting_inputs_drift_only_after_the_first_batch() -> None:
    from guardrails import DriftProfile

    ref = np.random.default_rng(2).normal(size=(3000, 2))
    profile = DriftProfile.from_data(ref)
    stream = DriftingInputs(ref, features=[0], step=0.5, batch_size=1000, seed=1)
    assert not profile.compare(stream.batch(0), tests=["ks"]).drifted
    assert profile.compare(stream.batch(2), tests=["ks"]).drifted_features == ["x0"]
    still = DriftingInputs(ref, features=[0], step=0.0, batch_size=1000, seed=1)
    assert not profile.compare(still.batch(2), tests=["ks"]).drifted


def test_captured_events_fixture_sees_structlog_events(captured_events: list[Any]) -> None:
    structlog.get_logger().info("guard.decision", outcome="abstained")
    assert captured_events == [
        {"event": "guard.decision", "outcome": "abstained", "log_level": "info"}
    ]


# -- strategies -----------------------------------------------------------------------------


class Plan(enum.Enum):
    BASIC = "basic"
    GOLD = "gold"


class Applicant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age: int = Field(ge=18, lt=121)
    income: float = Field(gt=0, le=1e7, allow_inf_nan=False)
    name: str = Field(min_length=1, max_length=20)
    region: Literal["north", "south"]
    plan: Plan
    student: bool
    score: Optional[float] = Field(default=None, ge=0, le=1)  # noqa: UP045
    password: SecretStr = Field(min_length=4)


@settings(max_examples=150, deadline=None)
@given(valid_records(Applicant))
def test_valid_records_validate(record: dict[str, Any]) -> None:
    Applicant.model_validate(record)
    assert 18 <= record["age"] <= 120
    assert math.isfinite(record["income"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(invalid_records(Applicant, explain=True))
def test_invalid_records_break_the_rule_they_name(pair: tuple[dict[str, Any], Any]) -> None:
    record, broken = pair
    assert isinstance(broken, BrokenRule)
    with pytest.raises(ValidationError) as info:
        Applicant.model_validate(record)
    fields = {str(e["loc"][0]) for e in info.value.errors()}
    assert fields == {broken.field}


def test_invalid_records_cover_every_kind_of_rule() -> None:
    from hypothesis import Phase, find

    # generation only: finding one example of each rule is the point, not shrinking it
    search = settings(phases=[Phase.generate], max_examples=5000, database=None)

    wanted = {
        ("age", "below minimum"),
        ("age", "above maximum"),
        ("income", "finite"),
        ("name", "max length"),
        ("password", "min length"),
        ("region", "category"),
        ("plan", "category"),
        ("student", "type"),
        ("age", "required"),
        ("unexpected_field", "extra field"),
    }
    strategy = invalid_records(Applicant, explain=True)
    for field, rule in sorted(wanted):
        pair = find(strategy, lambda p, f=field, r=rule: p[1] == BrokenRule(f, r), settings=search)
        assert pair[1] == BrokenRule(field, rule)


def test_strategies_explain_unsupported_schemas() -> None:
    class Odd(BaseModel):
        when: list[int]

    with pytest.raises(ConfigurationError, match="support int, float, bool, str"):
        valid_records(Odd)
    with pytest.raises(ConfigurationError, match="pydantic model class"):
        valid_records(dict)


def test_strategies_refuse_constraints_they_would_break() -> None:
    class Coded(BaseModel):
        code: str = Field(pattern="^[A-Z]+$")

    class Stepped(BaseModel):
        n: int = Field(multiple_of=3)

    for schema in (Coded, Stepped):
        with pytest.raises(ConfigurationError, match="strategies do not support"):
            valid_records(schema)


def test_captured_events_stay_empty_when_nothing_logs(
    fitted: Any, captured_events: list[Any]
) -> None:
    model, X, _ = fitted
    guard(model).decide(X[:3])  # no logging step
    assert captured_events == []
    guard(model).log().decide_one(X[0])
    assert [e["event"] for e in captured_events] == ["guardrails.decision"]


def test_strategies_read_the_schema_of_a_validating_guard(fitted: Any) -> None:
    from hypothesis import Phase, find

    from guardrails import Schema

    class Point(BaseModel):
        x0: float = Field(ge=-3, le=3)
        x1: float = Field(ge=-3, le=3)

    g = guard(fitted[0]).validate(Schema(Point))
    search = settings(phases=[Phase.generate], max_examples=500, database=None)
    record = find(valid_records(g), lambda r: r["x0"] > 1, settings=search)
    assert_answers(g, record)
    bad = find(invalid_records(g), lambda r: "x1" in r and r["x1"] is None, settings=search)
    assert_abstains(g, bad, reason=Reason.INVALID_INPUT)


def test_the_package_re_exports_every_public_name_of_the_former_module() -> None:
    before = {
        "BrokenRule", "DriftingInputs", "FailingModel", "OverconfidentModel", "ReasonLike",
        "SlowModel", "assert_abstains", "assert_abstention_rate", "assert_answers",
        "assert_coverage", "captured_events", "invalid_records", "valid_records",
    }  # fmt: skip
    assert before - {"ReasonLike"} == set(testing.__all__)
    assert before <= set(dir(testing))
    homes = (assertions, fakes, plugin, strategies)
    for name in before:
        assert any(getattr(m, name, None) is getattr(testing, name) for m in homes), name


def test_the_pytest_plugin_entry_point_provides_captured_events(
    pytestconfig: pytest.Config, captured_events: list[dict[str, object]]
) -> None:
    # The entry point (pyproject.toml, pytest11) names the package; pytest finds the
    # fixture through the name the package re-exports from guardrails.testing.plugin.
    assert pytestconfig.pluginmanager.get_plugin("guardrails") is testing
    structlog.get_logger().info("split_check")
    assert [e["event"] for e in captured_events] == ["split_check"]
