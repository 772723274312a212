"""Testing my own guard, the way an application team would.

The application scores loan applications sent as JSON records. These tests pin down how
its guard behaves: what it answers, what it withholds and why, how often, and what it
logs, using the helpers in ``guardrails.testing`` (the ``captured_events`` fixture comes
from the pytest plugin that installing guardrails registers).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest
import structlog
from hypothesis import given, settings
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from guardrails import Default, Guard, Reason, Schema, confidence_below, guard
from guardrails.testing import (
    FailingModel,
    OverconfidentModel,
    SlowModel,
    assert_abstains,
    assert_abstention_rate,
    assert_answers,
    invalid_records,
    valid_records,
)


class Application(BaseModel):
    """What the loan service accepts."""

    income: float = Field(ge=0, le=500_000, allow_inf_nan=False)
    debt: float = Field(ge=0, le=500_000, allow_inf_nan=False)
    years_employed: int = Field(ge=0, le=60)
    housing: Literal["rent", "own", "mortgage"]


# -- the application code under test --------------------------------------------------------

HOUSING = ["rent", "own", "mortgage"]  # the model sees housing as 0, 1, 2
SCHEMA = Schema(Application, encodings={"housing": HOUSING})


def train_model(seed: int = 0) -> Any:
    """The model is trained on arrays in the schema's column order."""
    rng = np.random.default_rng(seed)
    n = 3000
    X = np.column_stack(
        [
            rng.uniform(10_000, 200_000, n),  # income
            rng.uniform(0, 150_000, n),  # debt
            rng.integers(0, 40, n),  # years_employed
            rng.integers(0, 3, n),  # housing code
        ]
    )
    ratio = X[:, 1] / X[:, 0]
    approve = np.where(ratio + rng.normal(0, 0.3, n) < 0.8, "approve", "decline")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    records = [
        {
            "income": float(row[0]),
            "debt": float(row[1]),
            "years_employed": int(row[2]),
            "housing": HOUSING[int(row[3])],
        }
        for row in X
    ]
    return model.fit(X, approve), records


def build_guard(model: Any) -> Guard:
    """JSON records in, validated into arrays, withheld below 75% confidence."""
    return guard(model, name="loans").validate(SCHEMA).abstain(confidence_below(0.75))


log = structlog.get_logger("loans")


def score(g: Guard, application: dict[str, Any]) -> str:
    """What the service does per request: decide, log, and answer or hand over."""
    d = g.decide_one(application)
    log.info("loan.scored", outcome="answered" if d.answered else str(d.reason))
    return str(d.prediction) if d.answered else "sent to an underwriter"


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> tuple[Any, list[dict[str, Any]]]:
    return train_model()


@pytest.fixture(scope="module")
def loan_guard(trained: Any) -> Guard:
    return build_guard(trained[0])


CLEAR_CASE = {"income": 150_000.0, "debt": 1_000.0, "years_employed": 10, "housing": "own"}
BORDERLINE = {"income": 50_000.0, "debt": 32_000.0, "years_employed": 3, "housing": "rent"}


def test_a_clear_case_is_answered(loan_guard: Guard) -> None:
    assert_answers(loan_guard, CLEAR_CASE, prediction="approve")


def test_a_borderline_case_goes_to_a_person(loan_guard: Guard) -> None:
    assert_abstains(loan_guard, BORDERLINE, reason=Reason.LOW_CONFIDENCE)


def test_we_withhold_a_modest_share_of_normal_traffic(loan_guard: Guard, trained: Any) -> None:
    assert_abstention_rate(loan_guard, trained[1][:1000], between=(0.02, 0.35))


def test_a_crashing_model_never_crashes_the_service(trained: Any) -> None:
    broken = FailingModel(trained[0], when=lambda row: row[3] == HOUSING.index("own"))
    g = build_guard(broken)
    assert_abstains(g, CLEAR_CASE, reason="model_error")
    assert score(g, CLEAR_CASE) == "sent to an underwriter"


def test_a_slow_model_times_out_and_the_request_is_referred(trained: Any) -> None:
    slow = SlowModel(trained[0], delay=1.0)  # 20x the timeout: no race on a busy machine
    g = guard(slow).fallback(Default("refer"), primary_timeout=0.05)
    d = assert_answers(g, CLEAR_CASE, prediction="refer")
    assert d.stages_tried == ("primary", "default")
    assert "timeout" in (d.detail or "")


def test_an_overconfident_model_slips_past_a_confidence_threshold(trained: Any) -> None:
    # why we plan to calibrate: sharpened probabilities answer the borderline case
    g = build_guard(OverconfidentModel(trained[0], temperature=0.1))
    assert_answers(g, BORDERLINE)


def test_every_request_is_logged_with_its_outcome(
    loan_guard: Guard, captured_events: list[Any]
) -> None:
    score(loan_guard, CLEAR_CASE)
    score(loan_guard, BORDERLINE)
    assert [e["outcome"] for e in captured_events] == ["answered", "low_confidence"]


@settings(max_examples=60, deadline=None)
@given(valid_records(Application))
def test_no_valid_application_ever_raises(loan_guard: Guard, application: dict[str, Any]) -> None:
    d = loan_guard.decide_one(application)
    assert d.answered or d.reason is Reason.LOW_CONFIDENCE


@settings(max_examples=60, deadline=None)
@given(invalid_records(Application))
def test_every_invalid_application_is_withheld_as_invalid_input(
    loan_guard: Guard, application: dict[str, Any]
) -> None:
    assert_abstains(loan_guard, application, reason=Reason.INVALID_INPUT)
