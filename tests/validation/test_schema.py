"""Schemas: what a pydantic model compiles to, inference from training data, JSON Schema."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pydantic
import pytest

from guardrails import ConfigurationError, FieldSpec, Schema, guard, infer_schema


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


class Item(pydantic.BaseModel):
    weight: float = pydantic.Field(gt=0, lt=1000)
    count: Annotated[int, pydantic.Field(ge=1, le=12)] = 1
    size: Size
    fragile: bool = False
    label: str | None = pydantic.Field(default=None, max_length=10)
    token: pydantic.SecretStr | None = None


def test_fields_compile_to_their_constraints_in_declaration_order() -> None:
    schema = Schema(Item)
    assert schema.names == ("weight", "count", "size", "fragile", "label", "token")
    weight, count, size, fragile, label, token = schema.fields
    assert weight == FieldSpec(name="weight", kind="float", gt=0.0, lt=1000.0)
    assert count == FieldSpec(name="count", kind="int", required=False, default=1, ge=1, le=12)
    assert size.kind == "category" and size.categories == ("s", "l")
    assert size.codes == {"s": 0.0, "l": 1.0}
    assert fragile.kind == "bool" and fragile.default is False
    assert label.kind == "str" and label.nullable and label.max_length == 10
    assert token.sensitive and schema.sensitive == frozenset({"token"})


def test_a_field_marked_sensitive_is_sensitive() -> None:
    class Pay(pydantic.BaseModel):
        salary: float = pydantic.Field(json_schema_extra={"sensitive": True})

    assert Schema(Pay).sensitive == frozenset({"salary"})


@pytest.mark.parametrize(
    "annotation", [list[int], dict[str, float], tuple[int, int], int | str, bytes]
)
def test_a_field_that_is_not_flat_is_refused(annotation: Any) -> None:
    Nested = pydantic.create_model("Nested", x=(annotation, ...))
    with pytest.raises(ConfigurationError, match="flat fields"):
        Schema(Nested)


def test_encodings_must_cover_exactly_the_categories() -> None:
    with pytest.raises(ConfigurationError, match="exactly its categories"):
        Schema(Item, encodings={"size": {"s": 0}})
    with pytest.raises(ConfigurationError, match="finite numbers"):
        Schema(Item, encodings={"size": {"s": 0, "l": "big"}})
    with pytest.raises(ConfigurationError, match="not a category"):
        Schema(Item, encodings={"weight": [1, 2]})
    with pytest.raises(ConfigurationError, match="does not have"):
        Schema(Item, exclude=["height"])
    with pytest.raises(ConfigurationError, match="pydantic"):
        Schema(dict)  # type: ignore[arg-type]


def test_custom_validators_are_detected() -> None:
    class Checked(pydantic.BaseModel):
        x: float

        @pydantic.field_validator("x")
        @classmethod
        def _positive(cls, v: float) -> float:
            return v

    class Annotated_(pydantic.BaseModel):
        x: Annotated[float, pydantic.AfterValidator(lambda v: v)]

    assert Schema(Checked).has_custom_validators
    assert Schema(Annotated_).has_custom_validators
    assert not Schema(Item).has_custom_validators


def test_json_schema_export_marks_sensitive_fields_write_only() -> None:
    exported = Schema(Item).json_schema()
    assert exported["properties"]["weight"]["exclusiveMinimum"] == 0
    assert exported["properties"]["token"]["writeOnly"] is True
    assert exported["required"] == ["weight", "size"]


def test_infer_schema_from_an_array_widens_the_observed_ranges_by_their_spread() -> None:
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(10, 20, 500), rng.integers(0, 5, 500)]
    schema = infer_schema(X, names=["temp", "level"], margin=0.1)
    temp, level = schema.fields
    assert temp.kind == "float" and level.kind == "int"
    lo, hi = X[:, 0].min(), X[:, 0].max()
    assert temp.ge == pytest.approx(lo - 0.1 * (hi - lo))
    assert temp.le == pytest.approx(hi + 0.1 * (hi - lo))
    assert (level.ge, level.le) == (0, 5)  # 0..4 widened by 0.4, rounded outward, sign kept


def test_a_column_constant_in_training_gets_room_from_the_spread_floor() -> None:
    X = np.c_[np.zeros(50), np.full(50, 3.5)]
    zero, three = infer_schema(X, names=["pixel", "level"], margin=2.0, min_spread=0.5).fields
    assert (zero.ge, zero.le) == (0, 1)  # [0 - 1, 0 + 1], sign kept, whole
    assert (three.ge, three.le) == (pytest.approx(2.5), pytest.approx(4.5))
    default_zero, _ = infer_schema(X, names=["pixel", "level"]).fields
    assert (default_zero.ge, default_zero.le) == (0, 10)  # margin 10 x min_spread 1


def test_a_column_never_negative_in_training_refuses_negative_values_unless_told() -> None:
    from sklearn.dummy import DummyClassifier

    X = np.c_[np.linspace(0.0, 100.0, 40)]
    y = np.r_[np.zeros(20), np.ones(20)]
    model = DummyClassifier().fit(X, y)
    kept = guard(model).validate(infer_schema(X)).fit(X, y)
    assert kept.decide(np.array([[-1.0], [0.0]])).abstained.tolist() == [True, False]
    (free,) = infer_schema(X, keep_sign=False).fields
    assert free.ge == pytest.approx(-1000.0)
    negative = infer_schema(-X).fields[0]
    assert negative.le == 0 and negative.ge == pytest.approx(-1100.0)


@pytest.mark.parametrize("loader", ["load_digits", "load_breast_cancer", "load_wine"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_schema_inferred_from_a_training_split_refuses_no_clean_held_out_row(
    loader: str, seed: int
) -> None:
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    from guardrails import ModelAdapter, Validated

    X, _ = getattr(sklearn.datasets, loader)(return_X_y=True)
    X_train, X_test = train_test_split(X, test_size=0.5, random_state=seed)
    schema = infer_schema(X_train)
    layer = Validated(ModelAdapter(lambda Z: Z[:, 0], output="values"), schema=schema)
    result = layer.validate(X_test)
    assert int(result.invalid.sum()) == 0, list(result.errors.values())[:3]


def test_an_inferred_schema_still_refuses_values_that_cannot_be_right() -> None:
    import sklearn.datasets

    from guardrails import ModelAdapter, Validated

    X, _ = sklearn.datasets.load_breast_cancer(return_X_y=True)
    layer = Validated(ModelAdapter(lambda Z: Z[:, 0], output="values"), schema=infer_schema(X))
    bad = np.repeat(X[:1], 4, axis=0)
    for row, value in enumerate((np.nan, np.inf, -1.0, 1e9)):
        bad[row, row + 3] = value
    assert layer.validate(bad).invalid.tolist() == [True, True, True, True]


def test_infer_schema_from_a_frame_finds_categories_and_missing_values() -> None:
    df = pd.DataFrame(
        {
            "city": ["paris", "rome", "paris", None],
            "temp": [10.5, np.nan, 12.0, 11.0],
            "rain": [True, False, True, True],
        }
    )
    schema = infer_schema(df)
    city, temp, rain = schema.fields
    assert city.kind == "category" and set(city.categories or ()) == {"paris", "rome"}
    assert city.nullable and temp.nullable and not rain.nullable
    assert rain.kind == "bool"
    assert "temp" in schema.json_schema()["properties"]


def test_an_inferred_schema_guards_a_model_trained_on_the_same_data() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int)
    g = guard(LogisticRegression().fit(X, y)).validate(infer_schema(X))
    d = g.decide(np.r_[X[:5], [[100.0, 0.0, 0.0]]])
    assert d.abstained.tolist() == [False] * 5 + [True]


def test_infer_schema_refuses_bad_settings_and_free_text() -> None:
    with pytest.raises(ConfigurationError, match="margin"):
        infer_schema(np.zeros((3, 2)), margin=-1)
    with pytest.raises(ConfigurationError, match="'min_spread' parameter of infer_schema"):
        infer_schema(np.zeros((3, 2)), min_spread=0.0)
    with pytest.raises(ConfigurationError, match="'keep_sign' parameter of infer_schema"):
        infer_schema(np.zeros((3, 2)), keep_sign="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_categories"):
        infer_schema(np.zeros((3, 2)), max_categories=0)
    with pytest.raises(ConfigurationError, match="2-D"):
        infer_schema(np.zeros(3))
    with pytest.raises(ConfigurationError, match="names"):
        infer_schema(np.zeros((3, 2)), names=["a"])
    with pytest.raises(ConfigurationError, match="distinct"):
        infer_schema(pd.DataFrame({"id": [f"user{i}" for i in range(50)]}), max_categories=20)


def test_literal_none_makes_a_category_nullable() -> None:
    class Pick(pydantic.BaseModel):
        choice: Literal["a", "b", None]

    (choice,) = Schema(Pick).fields
    assert choice.nullable and choice.categories == ("a", "b")


def test_to_source_round_trips_to_the_same_fields() -> None:
    source = Schema(Item).to_source("ItemCopy")
    namespace: dict[str, Any] = {}
    exec(compile(source, "<schema>", "exec", dont_inherit=True), namespace)
    copy = Schema(namespace["ItemCopy"])
    assert copy.fields == Schema(Item).fields
    assert "class ItemCopy(pydantic.BaseModel):" in source


def test_an_inferred_schema_can_be_written_out_and_edited() -> None:
    X = np.c_[np.arange(10.0), np.arange(10.0) / 10]
    draft = infer_schema(X, names=["n", "share"], margin=0.0)
    source = draft.to_source()
    assert "n: int = pydantic.Field(ge=0, le=9)" in source
    assert "share: float = pydantic.Field(ge=0.0, le=0.9)" in source
