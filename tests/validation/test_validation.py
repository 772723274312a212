"""Validation: invalid rows never reach the model, and every one says what was wrong."""

from __future__ import annotations

import asyncio
import enum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from guardrails import (
    REDACTED,
    ArtifactError,
    Call,
    ConfigurationError,
    Decisions,
    InvalidInputError,
    PostLayer,
    Reason,
    Redactor,
    Schema,
    Validated,
    guard,
    load,
)


class Applicant(pydantic.BaseModel):
    age: int = pydantic.Field(ge=18, le=120)
    income: float = pydantic.Field(ge=0, json_schema_extra={"sensitive": True})
    plan: Literal["basic", "pro"] = "basic"
    score: float = pydantic.Field(default=0.5, ge=0, le=1)


NAMES = ["age", "income", "plan", "score"]
GOOD = {"age": 40, "income": 52_000.0, "plan": "pro", "score": 0.25}
GOOD_ROW = [40.0, 52_000.0, 1.0, 0.25]  # "pro" is code 1: position in Literal["basic", "pro"]


class Recorder:
    """A classifier that records every batch it is given and fails on non-finite input."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        self.seen.append(X)
        arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float64)
        assert np.isfinite(arr).all(), "the model was given a non-finite value"
        p = 1.0 / (1.0 + np.exp(-(arr[:, 0] - 60.0) / 10.0))
        return np.column_stack([1.0 - p, p])

    def rows_seen(self) -> int:
        return sum(len(x) for x in self.seen)


def guarded(**options: Any) -> tuple[Any, Recorder]:
    model = Recorder()
    return guard(model).validate(Applicant, **options), model


def assert_withheld_for_invalid_input(d: Decisions, rows: list[int], field: str | None) -> None:
    for i in rows:
        row = d[i]
        assert row.abstained and row.reason is Reason.INVALID_INPUT
        assert row.errors, "an invalid row carries its errors"
        assert row.detail and row.detail.startswith("invalid input")
        if field is not None:
            assert any(e["loc"][:1] == (field,) for e in row.errors), row.errors


# -- the bad inputs of the issue, one by one -------------------------------------------------

BAD_RECORDS: dict[str, tuple[Any, str | None]] = {
    "wrong type": ({**GOOD, "age": "forty"}, "age"),
    "NaN": ({**GOOD, "score": float("nan")}, "score"),
    "+inf": ({**GOOD, "income": float("inf")}, "income"),
    "-inf": ({**GOOD, "score": float("-inf")}, "score"),
    "out of range": ({**GOOD, "age": 7}, "age"),
    "unseen category": ({**GOOD, "plan": "gold"}, "plan"),
    "missing field": ({k: v for k, v in GOOD.items() if k != "age"}, "age"),
    "extra field": ({**GOOD, "nickname": "al"}, "nickname"),
    "None": (None, None),
    "huge string": ({**GOOD, "age": "9" * 1_000_000}, "age"),
    "nested garbage": ({**GOOD, "score": {"a": [1, {"b": None}]}}, "score"),
    "bytes": ({**GOOD, "plan": b"pro"}, "plan"),
    "bytes record": (b"age=40", None),
    "a list too short": ([40, 1.0], None),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_each_bad_record_is_withheld_with_its_error_and_never_reaches_the_model(
    case: str,
) -> None:
    bad, field = BAD_RECORDS[case]
    g, model = guarded()
    d = g.decide([GOOD, bad, GOOD])
    assert_withheld_for_invalid_input(d, [1], field)
    assert not d.abstained[[0, 2]].any()
    assert model.rows_seen() == 2


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_each_bad_record_raises_invalid_input_error_under_raise(case: str) -> None:
    bad, field = BAD_RECORDS[case]
    g, model = guarded(on_invalid="raise")
    with pytest.raises(InvalidInputError) as info:
        g.decide([GOOD, bad])
    assert isinstance(info.value, ValueError)
    assert [e["row"] for e in info.value.errors] == [1]
    if field is not None:
        assert any(e["loc"][:1] == (field,) for e in info.value.errors[0]["errors"])
    assert model.seen == []


def test_a_huge_string_is_truncated_in_the_error() -> None:
    g, _ = guarded()
    d = g.decide([{**GOOD, "age": "9" * 1_000_000}])
    assert d.errors is not None
    assert all(len(e["input"]) <= 80 for e in d.errors[0])
    assert len(d.detail[0]) <= 300


def test_extra_fields_can_be_ignored() -> None:
    g, model = guarded(extra="ignore")
    d = g.decide([{**GOOD, "nickname": "al"}])
    assert not d.abstained[0]
    np.testing.assert_array_equal(model.seen[0], [GOOD_ROW])


BAD_ARRAYS: dict[str, tuple[list[float], str]] = {
    "NaN": ([40.0, np.nan, 1.0, 0.2], "income"),
    "+inf": ([40.0, np.inf, 1.0, 0.2], "income"),
    "-inf": ([-np.inf, 1.0, 1.0, 0.2], "age"),
    "out of range": ([40.0, 1.0, 1.0, 1.5], "score"),
    "not an integer": ([40.5, 1.0, 1.0, 0.2], "age"),
    "unseen category code": ([40.0, 1.0, 2.0, 0.2], "plan"),
}


@pytest.mark.parametrize("case", list(BAD_ARRAYS))
def test_each_bad_array_row_is_withheld_and_never_reaches_the_model(case: str) -> None:
    row, field = BAD_ARRAYS[case]
    g, model = guarded()
    X = np.array([GOOD_ROW, row, GOOD_ROW])
    d = g.decide(X)
    assert_withheld_for_invalid_input(d, [1], field)
    assert not d.abstained[[0, 2]].any()
    assert model.rows_seen() == 2


@pytest.mark.parametrize(
    "X",
    [
        pytest.param(np.zeros((3, 5)), id="too many columns"),
        pytest.param(np.zeros((3, 3)), id="too few columns"),
        pytest.param(np.zeros((3, 4, 2)), id="3-d array"),
    ],
)
def test_a_badly_shaped_array_withholds_every_row(X: NDArray[Any]) -> None:
    g, model = guarded()
    d = g.decide(X)
    assert len(d) == X.shape[0]
    assert_withheld_for_invalid_input(d, list(range(len(d))), None)
    assert model.seen == []
    with pytest.raises(InvalidInputError):
        guarded(on_invalid="raise")[0].decide(X)


@pytest.mark.parametrize("on_invalid", ["abstain", "raise", "fallback"])
def test_a_1d_array_is_refused_as_misuse_under_every_policy(on_invalid: str) -> None:
    g, model = guarded(on_invalid=on_invalid)
    with pytest.raises(InvalidInputError, match="got a 1-D array of 4 values"):
        g.decide(np.zeros(4))
    assert model.seen == []


def test_a_0d_array_or_none_is_not_a_batch() -> None:
    g, model = guarded()
    for X in (np.array(3.0), None, "age=40", b"age=40"):
        with pytest.raises(InvalidInputError):
            g.decide(X)
    assert model.seen == []


def test_a_0d_array_or_none_as_one_record_is_withheld() -> None:
    g, model = guarded()
    for x in (np.array(3.0), None, "age=40", b"bytes", 17):
        row = g.decide_one(x)
        assert row.abstained and row.reason is Reason.INVALID_INPUT and row.errors
    assert model.seen == []


def test_an_object_array_holding_strings_is_checked_element_by_element() -> None:
    g, model = guarded()
    X = np.array(
        [[40, 52_000.0, "pro", 0.25], ["forty", 1.0, "basic", 0.1], [50, 1.0, "gold", 0.1]],
        dtype=object,
    )
    d = g.decide(X)
    assert not d.abstained[0]
    assert_withheld_for_invalid_input(d, [1], "age")
    assert_withheld_for_invalid_input(d, [2], "plan")
    np.testing.assert_array_equal(model.seen[0], [GOOD_ROW])


def test_a_string_array_and_a_bytes_array_are_withheld_not_crashed() -> None:
    g, model = guarded()
    for X in (np.array([["40", "1", "pro", "0.1"]]), np.array([[b"40", b"1", b"pro", b"0.1"]])):
        d = g.decide(X)
        assert_withheld_for_invalid_input(d, [0], "age")
    assert model.seen == []


def test_an_empty_batch_gives_no_decisions_and_no_error() -> None:
    for X in ([], np.empty((0, 4)), pd.DataFrame(columns=NAMES)):
        g, _ = guarded()
        d = g.decide(X)
        assert len(d) == 0


# -- data frames -------------------------------------------------------------------------------


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(rows[0]))


def test_a_frame_with_columns_in_another_order_gives_the_model_training_order() -> None:
    g, model = guarded()
    shuffled = frame([{k: GOOD[k] for k in ["score", "plan", "income", "age"]}])
    d = g.decide(shuffled)
    assert not d.abstained[0]
    np.testing.assert_array_equal(model.seen[0], [GOOD_ROW])


def test_a_frame_missing_a_required_column_withholds_every_row() -> None:
    g, model = guarded()
    d = g.decide(frame([{k: v for k, v in GOOD.items() if k != "age"}] * 2))
    assert_withheld_for_invalid_input(d, [0, 1], "age")
    assert model.seen == []


def test_a_frame_missing_a_column_with_a_default_uses_the_default() -> None:
    g, model = guarded()
    d = g.decide(frame([{k: v for k, v in GOOD.items() if k != "score"}]))
    assert not d.abstained[0]
    np.testing.assert_array_equal(model.seen[0], [[40.0, 52_000.0, 1.0, 0.5]])


def test_a_frame_with_a_wrongly_named_column_is_withheld_or_ignored_as_configured() -> None:
    renamed = frame([{**GOOD, "Age": 40}])
    d = guarded()[0].decide(renamed)
    assert_withheld_for_invalid_input(d, [0], "Age")
    d = guarded(extra="ignore")[0].decide(renamed)
    assert not d.abstained[0]
    d = guarded()[0].decide(renamed.drop(columns=["age"]))
    assert_withheld_for_invalid_input(d, [0], "age")


def test_frame_cells_are_checked_per_row() -> None:
    g, model = guarded()
    df = frame([GOOD, {**GOOD, "plan": "gold"}, {**GOOD, "age": None}, {**GOOD, "score": 2.0}])
    d = g.decide(df)
    assert not d.abstained[0]
    assert_withheld_for_invalid_input(d, [1], "plan")
    assert_withheld_for_invalid_input(d, [2], "age")
    assert_withheld_for_invalid_input(d, [3], "score")
    assert model.rows_seen() == 1


def test_a_frame_with_nullable_pandas_dtypes_is_checked() -> None:
    g, _ = guarded()
    df = frame([GOOD, GOOD])
    df["age"] = pd.array([40, None], dtype="Int64")
    d = g.decide(df)
    assert not d.abstained[0]
    assert_withheld_for_invalid_input(d, [1], "age")


def test_as_frame_feeds_the_model_a_frame_with_raw_categories() -> None:
    model = Recorder()

    class Fed(Recorder):
        def predict_proba(self, X: Any) -> NDArray[np.float64]:
            model.seen.append(X)
            return super().predict_proba(X[["age"]].to_numpy(dtype=float))

    g = guard(Fed()).validate(Applicant, as_frame=True)
    d = g.decide([GOOD, {**GOOD, "plan": "gold"}])
    assert d.abstained.tolist() == [False, True]
    fed = model.seen[0]
    assert list(fed.columns) == NAMES
    assert fed["plan"].tolist() == ["pro"]


def test_free_text_needs_a_frame_or_exclusion() -> None:
    class Note(pydantic.BaseModel):
        x: float
        note: str = pydantic.Field(max_length=5)

    with pytest.raises(ConfigurationError, match="free text"):
        guard(Recorder()).validate(Note)
    g = guard(Recorder()).validate(Schema(Note, exclude=["note"]))
    d = g.decide([{"x": 1.0, "note": "hi"}, {"x": 1.0, "note": "too long"}])
    assert d.abstained.tolist() == [False, True]
    assert d.errors is not None and d.errors[1][0]["type"] == "string_too_long"


# -- conversion to the model's input ---------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Paint(pydantic.BaseModel):
    color: Color
    size: Literal["s", "m", "l"]
    coats: Literal[1, 2, 3]


def test_categories_are_encoded_as_declared() -> None:
    model = Recorder()
    schema = Schema(Paint, encodings={"size": {"s": 10, "m": 20, "l": 30}})
    g = guard(model).validate(schema)
    g.decide([{"color": "blue", "size": "m", "coats": 3}])
    # Enum by position, size as declared, numeric Literal as itself
    np.testing.assert_array_equal(model.seen[0], [[1.0, 20.0, 3.0]])


def test_records_json_arrays_and_numpy_arrays_give_the_same_model_input() -> None:
    inputs = [[GOOD], [[40, 52_000.0, "pro", 0.25]], np.array([GOOD_ROW]), frame([GOOD])]
    fed = []
    for X in inputs:
        g, model = guarded()
        g.decide(X)
        fed.append(np.asarray(model.seen[0], dtype=float))
    for arr in fed:
        np.testing.assert_array_equal(arr, [GOOD_ROW])


def test_a_clean_float_array_reaches_the_model_without_a_copy() -> None:
    g, model = guarded()
    X = np.array([GOOD_ROW] * 3)
    g.decide(X)
    assert model.seen[0] is X


def test_one_record_as_dict_1d_array_or_pydantic_instance() -> None:
    g, model = guarded()
    for x in (GOOD, np.array(GOOD_ROW), Applicant(**GOOD)):
        assert not g.decide_one(x).abstained
    for fed in model.seen:
        np.testing.assert_array_equal(fed, [GOOD_ROW])


# -- the contract with outer layers ------------------------------------------------------------


class Spy(PostLayer):
    """An outer layer that keeps what the call carried."""

    name = "spy"

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.calls: list[Call] = []
        self.labels: list[NDArray[Any]] = []

    def post(self, d: Decisions, call: Call) -> Decisions:
        self.calls.append(call)
        return d

    def learn(self, d: Decisions, y: NDArray[Any]) -> None:
        self.labels.append(y)


def test_the_call_carries_model_input_valid_mask_and_policy() -> None:
    spy = Spy(Validated(Recorder(), schema=Applicant, on_invalid="fallback"))
    d = spy.decide([GOOD, {**GOOD, "age": 3}])
    call = spy.calls[0]
    assert call.valid is not None and call.valid.tolist() == [True, False]
    assert call.validation is not None and call.validation.policy == "fallback"
    assert call.validation.invalid.tolist() == [False, True]
    assert call.model_input.shape == (2, 4)
    np.testing.assert_array_equal(call.model_input[0], GOOD_ROW)
    assert np.isnan(call.model_input[1]).all()
    assert d.stage[1] == "validate"


def test_fit_fits_inner_layers_on_valid_rows_with_aligned_labels() -> None:
    inner = Spy(Recorder())
    layer = Validated(inner, schema=Applicant)
    X = [GOOD, {**GOOD, "age": 3}, {**GOOD, "age": 90}]
    layer.fit(X, np.array([0, 5, 1]))
    np.testing.assert_array_equal(inner.labels[0], [0, 1])


def test_fit_with_no_valid_row_raises() -> None:
    layer = Validated(Recorder(), schema=Applicant)
    with pytest.raises(InvalidInputError, match="no valid rows"):
        layer.fit([{**GOOD, "age": 3}], np.array([0]))


def test_async_decide_matches_decide() -> None:
    g, _ = guarded()
    X = [GOOD, {**GOOD, "plan": "gold"}]
    d = asyncio.run(g.adecide(X))
    assert d == g.decide(X)


# -- repairs -------------------------------------------------------------------------------------


def test_clip_repairs_out_of_range_values_and_marks_the_row() -> None:
    g, model = guarded(repair=["clip"])
    d = g.decide(np.array([GOOD_ROW, [130.0, 1.0, 0.0, 1.7]]))
    assert d.abstained.tolist() == [False, False]
    assert d.repaired is not None and d.repaired.tolist() == [False, True]
    np.testing.assert_array_equal(model.seen[0][1], [120.0, 1.0, 0.0, 1.0])
    d = g.decide([{**GOOD, "age": 10}])
    assert d.repaired is not None and d.repaired.tolist() == [True]
    assert model.seen[1][0][0] == 18.0


def test_fill_uses_the_declared_default_only_for_fields_that_have_one() -> None:
    g, model = guarded(repair={"fill": ["score"]})
    d = g.decide(np.array([[40.0, 1.0, 1.0, np.nan], [np.nan, 1.0, 1.0, 0.2]]))
    assert d.abstained.tolist() == [False, True]
    assert d.repaired is not None and d.repaired.tolist() == [True, False]
    assert model.seen[0][0][3] == 0.5
    d = g.decide([{**GOOD, "score": None}])
    assert not d.abstained[0] and d.repaired is not None and d.repaired[0]


def test_without_repair_the_same_rows_are_withheld() -> None:
    g, _ = guarded()
    d = g.decide(np.array([[130.0, 1.0, 0.0, 0.5], [40.0, 1.0, 1.0, np.nan]]))
    assert d.abstained.all()
    assert d.repaired is None


def test_repair_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="repair"):
        guard(Recorder()).validate(Applicant, repair=["round"])
    with pytest.raises(ConfigurationError, match="unknown fields"):
        guard(Recorder()).validate(Applicant, repair={"clip": ["height"]})


# -- sensitive fields --------------------------------------------------------------------------


class Login(pydantic.BaseModel):
    user_id: int = pydantic.Field(ge=0)
    password: pydantic.SecretStr = pydantic.Field(min_length=8)
    salary: float = pydantic.Field(ge=0, json_schema_extra={"sensitive": True})
    tag: str = ""

    @pydantic.field_validator("salary")
    @classmethod
    def _round(cls, value: float) -> float:
        if value == 13.0:
            raise ValueError(f"unlucky salary {value}")
        return value

    @pydantic.model_validator(mode="after")
    def _not_the_id(self) -> Login:
        if self.password.get_secret_value() == str(self.user_id) * 8:
            raise ValueError(f"password {self.password.get_secret_value()} repeats the id")
        return self


def login_guard(**options: Any) -> Any:
    return guard(Recorder()).validate(
        Schema(Login, exclude=["password", "tag"]), redactor=Redactor(fields=["tag"]), **options
    )


SECRET_ROWS = [
    {"user_id": 1, "password": "pw123", "salary": -5.0, "tag": 7},
    {"user_id": 1, "password": "11111111", "salary": 1.0},
    {"user_id": 2, "password": "hunter2hunter2", "salary": 13.0},
]


def test_sensitive_values_never_appear_in_errors_or_details() -> None:
    d = login_guard().decide(SECRET_ROWS)
    assert d.abstained.all()
    text = repr(d.to_records())
    for secret in ("pw123", "11111111", "hunter2hunter2", "-5.0", "13.0", "'7'"):
        assert secret not in text, secret
    assert REDACTED in text


def test_sensitive_values_never_appear_in_the_exception() -> None:
    with pytest.raises(InvalidInputError) as info:
        login_guard(on_invalid="raise").decide(SECRET_ROWS)
    text = str(info.value) + repr(info.value.errors)
    for secret in ("pw123", "11111111", "hunter2hunter2", "-5.0", "13.0"):
        assert secret not in text, secret


def test_the_layer_exposes_its_redactor_for_logging_and_review() -> None:
    layer = login_guard().layer(Validated)
    assert isinstance(layer, Validated)
    assert {"password", "salary", "tag"} <= layer.redactor.fields


def test_custom_validators_also_apply_to_arrays() -> None:
    g = guard(Recorder()).validate(Schema(Login, exclude=["password", "tag"]), as_frame=False)
    X = np.array([[1, "longenough", 13.0, ""], [1, "longenough", 12.0, ""]], dtype=object)
    d = g.decide(X)
    assert d.abstained.tolist() == [True, False]
    assert d.errors is not None and d.errors[0][0]["loc"] == ("salary",)


# -- settings and persistence ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"on_invalid": "ignore"}, "on_invalid"),
        ({"extra": "allow"}, "extra"),
        ({"redactor": ["ssn"]}, "redactor"),
        ({"as_frame": "yes"}, "as_frame"),
    ],
)
def test_bad_settings_are_refused_when_the_step_is_added(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        guard(Recorder()).validate(Applicant, **options)


def test_the_schema_must_be_a_pydantic_model() -> None:
    with pytest.raises(ConfigurationError, match="schema"):
        guard(Recorder()).validate(dict)
    with pytest.raises(ConfigurationError, match="already called"):
        guard(Recorder()).validate(Applicant).validate(Applicant)


def test_repr_shows_the_settings() -> None:
    layer = Validated(Recorder(), schema=Applicant, on_invalid="raise", repair=["clip"])
    assert repr(layer) == (
        "Validated(schema=Schema(Applicant), on_invalid='raise', repair={'clip': None})"
    )
    assert repr(guard(Recorder()).validate(Applicant)).endswith(
        ".validate(Applicant, on_invalid='abstain')"
    )


def test_a_saved_guard_needs_its_schema_back(tmp_path: Path) -> None:
    schema = Schema(Paint, encodings={"size": ["l", "m", "s"]})
    g = guard(Recorder()).validate(schema, repair={"fill": None}, redactor=Redactor(fields=["x"]))
    path = g.save(tmp_path / "g.zip")
    rows = [{"color": "red", "size": "s", "coats": 2}, {"color": "red", "size": "xl", "coats": 2}]
    back = load(path, model=Recorder(), schema=Paint)
    assert back.decide(rows) == g.decide(rows)
    with pytest.raises(ArtifactError, match="schema"):
        load(path, model=Recorder())
    with pytest.raises(ArtifactError, match="fields"):
        load(path, model=Recorder(), schema=Applicant)


# -- the property the issue asks for -------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
records = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from([*NAMES, "other"]), json_values, max_size=6),
    st.fixed_dictionaries({k: st.one_of(st.just(v), json_values) for k, v in GOOD.items()}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(records, max_size=6))
def test_arbitrary_json_like_records_give_only_answers_or_invalid_input(batch: list[Any]) -> None:
    g, model = guarded()
    if batch and all(isinstance(v, (int, float)) for v in batch):  # a flat list: misuse
        with pytest.raises(InvalidInputError, match="2-D batch"):
            g.decide(batch)
        assert model.rows_seen() == 0
        return
    d = g.decide(batch)
    assert len(d) == len(batch)
    withheld = d.abstained
    assert set(d.reason[withheld].tolist()) <= {int(Reason.INVALID_INPUT)}
    for i in np.flatnonzero(withheld).tolist():
        assert d[i].errors and d[i].detail
    assert model.rows_seen() == int((~withheld).sum())
    g_raise, _ = guarded(on_invalid="raise")
    if withheld.any():
        with pytest.raises(InvalidInputError) as info:
            g_raise.decide(batch)
        assert [e["row"] for e in info.value.errors] == np.flatnonzero(withheld).tolist()
    else:
        assert g_raise.decide(batch) == d
    for x in batch:
        row = g.decide_one(x)
        assert not row.abstained or row.reason is Reason.INVALID_INPUT


shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)
any_arrays = st.one_of(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, object]),
        shapes,
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    ),
    hnp.arrays(np.int64, shapes, elements=st.integers(-5, 200)),
    hnp.arrays(np.bool_, shapes),
)


@settings(max_examples=100, deadline=None)
@given(X=any_arrays)
def test_arbitrary_arrays_give_only_answers_or_invalid_input(X: NDArray[Any]) -> None:
    g, model = guarded()
    if X.ndim == 1 and X.dtype.kind in "biuf":  # one row or one feature? misuse, refused
        with pytest.raises(InvalidInputError, match="2-D batch"):
            g.decide(X)
        assert model.rows_seen() == 0
        return
    d = g.decide(X)
    assert len(d) == X.shape[0]
    assert set(d.reason[d.abstained].tolist()) <= {int(Reason.INVALID_INPUT)}
    assert model.rows_seen() == int((~d.abstained).sum())
    if d.abstained.any():
        with pytest.raises(InvalidInputError):
            guarded(on_invalid="raise")[0].decide(X)


class Hostile:
    """A value whose every dunder raises: the error path must still not crash."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")


@pytest.mark.parametrize(
    "X",
    [
        pytest.param([{**GOOD, "income": Hostile()}], id="record, sensitive field"),
        pytest.param([{**GOOD, "plan": Hostile()}], id="record, category"),
        pytest.param(np.array([[40, 1.0, Hostile(), 0.2]], dtype=object), id="object array"),
        pytest.param(frame([{**GOOD, "plan": Hostile()}]), id="data frame"),
    ],
)
def test_a_hostile_value_is_withheld_not_crashed(X: Any) -> None:
    g, model = guarded()
    d = g.decide(X)
    assert_withheld_for_invalid_input(d, [0], None)
    assert model.seen == []


class Strict(pydantic.BaseModel):
    share: float = pydantic.Field(gt=0, lt=1)
    flag: bool
    level: int = pydantic.Field(gt=0, lt=10)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ([0.0, 1, 5], "share"),  # equal to an exclusive bound
        ([1.0, 1, 5], "share"),
        ([0.5, 2, 5], "flag"),
        ([0.5, 0.5, 5], "flag"),
        ([0.5, 1, 10], "level"),
        ([0.5, 1, 0], "level"),
    ],
)
def test_exclusive_bounds_and_bools_are_exact_in_arrays(row: list[float], field: str) -> None:
    g = guard(Recorder()).validate(Strict)
    d = g.decide(np.array([[0.5, 1, 5], row], dtype=float))
    assert not d.abstained[0]
    assert_withheld_for_invalid_input(d, [1], field)


def test_clip_respects_exclusive_bounds_and_integers() -> None:
    model = Recorder()
    g = guard(model).validate(Strict, repair=["clip"])
    d = g.decide(np.array([[-3.0, 1, 50], [7.0, 0, -4]]))
    assert d.repaired is not None and d.repaired.all()
    fed = model.seen[0]
    assert (fed[:, 0] > 0).all() and (fed[:, 0] < 1).all()
    assert fed[:, 2].tolist() == [9.0, 1.0]


def test_invalid_rows_keep_their_reason_through_an_abstaining_layer() -> None:
    from guardrails import confidence_below

    g = guard(Recorder()).validate(Applicant).abstain(confidence_below(0.99))
    d = g.decide([GOOD, {**GOOD, "plan": "gold"}])
    assert d[0].reason is Reason.LOW_CONFIDENCE
    assert d[1].reason is Reason.INVALID_INPUT and d[1].errors
