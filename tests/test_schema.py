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


def test_infer_schema_from_an_array_widens_the_observed_ranges() -> None:
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(10, 20, 500), rng.integers(0, 5, 500)]
    schema = infer_schema(X, names=["temp", "level"], margin=0.1)
    temp, level = schema.fields
    assert temp.kind == "float" and level.kind == "int"
    lo, hi = X[:, 0].min(), X[:, 0].max()
    assert temp.ge == pytest.approx(lo - 0.1 * (hi - lo))
    assert temp.le == pytest.approx(hi + 0.1 * (hi - lo))
    assert (level.ge, level.le) == (-1, 5)  # 0..4 widened by 0.4, rounded outward


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
