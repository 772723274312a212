"""Hypothesis strategies of valid records and of records breaking one rule of a schema."""

from __future__ import annotations

import enum
import math
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from guardrails.core.errors import ConfigurationError
from guardrails.core.layer import Layer

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy
    from pydantic import BaseModel


__all__ = [
    "BrokenRule",
    "invalid_records",
    "valid_records",
]


@dataclass(frozen=True)
class BrokenRule:
    """Which rule an invalid record breaks: the field and a short rule name."""

    field: str
    rule: str


@dataclass
class _FieldSpec:
    name: str
    kind: str  # "int", "float", "bool", "str", "choice"
    required: bool
    optional: bool  # None allowed
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_len: int | None = None
    max_len: int | None = None
    choices: tuple[Any, ...] = ()
    allow_inf_nan: bool = True


def _schema_class(schema: Any) -> type[BaseModel]:
    """The pydantic model behind ``schema``: the class itself, or a guard's/schema's."""
    from pydantic import BaseModel

    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema
    candidates: list[Any] = [schema]
    if isinstance(schema, Layer):
        candidates.extend(schema.layers())
    for obj in candidates:
        for attr in ("schema", "model", "record_model"):
            value = getattr(obj, attr, None)
            if isinstance(value, type) and issubclass(value, BaseModel):
                return value
            inner = getattr(value, "model", None) if value is not None else None
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    raise ConfigurationError(
        "The 'schema' parameter must be a pydantic model class, or a guard with a validating "
        f"step built from one. Got {type(schema).__name__} instead."
    )


def _field_specs(model: type[BaseModel]) -> list[_FieldSpec]:
    import annotated_types as at
    from pydantic import SecretStr

    config_inf_nan = model.model_config.get("allow_inf_nan", True)
    specs = []
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        optional = False
        origin = get_origin(annotation)
        if origin is Union or origin is types.UnionType:
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = len(args) < len(get_args(annotation))
            if len(args) != 1:
                raise ConfigurationError(
                    f"field {name!r} of {model.__name__}: unions of several types are not "
                    "supported by the strategies; use one type per field."
                )
            annotation = args[0]
        metadata = list(info.metadata)
        if get_origin(annotation) is typing.Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        spec = _FieldSpec(name, "", info.is_required(), optional)
        spec.allow_inf_nan = bool(config_inf_nan)
        if get_origin(annotation) is Literal:
            spec.kind, spec.choices = "choice", get_args(annotation)
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            spec.kind, spec.choices = "choice", tuple(m.value for m in annotation)
        elif annotation is bool:
            spec.kind = "bool"
        elif annotation is int:
            spec.kind = "int"
        elif annotation is float:
            spec.kind = "float"
        elif annotation is str or annotation is SecretStr:
            spec.kind = "str"  # a SecretStr field takes a plain str
        else:
            raise ConfigurationError(
                f"field {name!r} of {model.__name__} has type {annotation!r}; the strategies "
                "support int, float, bool, str, SecretStr, Literal and Enum fields "
                "(optional or not)."
            )
        for m in metadata:
            if isinstance(m, at.Ge):
                spec.ge = float(m.ge)  # type: ignore[arg-type]
            elif isinstance(m, at.Gt):
                spec.gt = float(m.gt)  # type: ignore[arg-type]
            elif isinstance(m, at.Le):
                spec.le = float(m.le)  # type: ignore[arg-type]
            elif isinstance(m, at.Lt):
                spec.lt = float(m.lt)  # type: ignore[arg-type]
            elif isinstance(m, at.MinLen):
                spec.min_len = int(m.min_length)
            elif isinstance(m, at.MaxLen):
                spec.max_len = int(m.max_length)
            elif getattr(m, "allow_inf_nan", None) is not None:
                spec.allow_inf_nan = bool(m.allow_inf_nan)
            elif isinstance(m, at.MultipleOf) or getattr(m, "pattern", None) is not None:
                # drawn anyway, "valid" records would break it: refuse rather than mislead
                raise ConfigurationError(
                    f"field {name!r} of {model.__name__} has the constraint {m!r}, which the "
                    "strategies do not support (they support ge, gt, le, lt, min_length, "
                    "max_length and allow_inf_nan)."
                )
        specs.append(spec)
    return specs


def _int_bounds(spec: _FieldSpec) -> tuple[int | None, int | None]:
    low = None
    if spec.ge is not None:
        low = math.ceil(spec.ge)
    if spec.gt is not None:
        low = max(low if low is not None else -(2**62), math.floor(spec.gt) + 1)
    high = None
    if spec.le is not None:
        high = math.floor(spec.le)
    if spec.lt is not None:
        high = min(high if high is not None else 2**62, math.ceil(spec.lt) - 1)
    return low, high


def _valid_value(spec: _FieldSpec) -> SearchStrategy[Any]:
    from hypothesis import strategies as st

    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "int":
        low, high = _int_bounds(spec)
        return st.integers(min_value=low, max_value=high)
    if spec.kind == "float":
        low_f = spec.gt if spec.gt is not None else spec.ge
        high_f = spec.lt if spec.lt is not None else spec.le
        return st.floats(
            min_value=low_f,
            max_value=high_f,
            exclude_min=spec.gt is not None,
            exclude_max=spec.lt is not None,
            allow_nan=False,
            allow_infinity=False,
        )
    return st.text(min_size=spec.min_len or 0, max_size=spec.max_len)


def _breaks(spec: _FieldSpec) -> list[tuple[str, SearchStrategy[Any]]]:
    """Strategies for values that break one rule of the field, with the rule's name."""
    from hypothesis import strategies as st

    out: list[tuple[str, SearchStrategy[Any]]] = []
    if spec.kind in ("int", "float"):
        out.append(("type", st.sampled_from(["not a number", "", "1,5"])))
        if spec.kind == "int":
            low_i, high_i = _int_bounds(spec)
            if low_i is not None:
                out.append(("below minimum", st.integers(max_value=low_i - 1)))
            if high_i is not None:
                out.append(("above maximum", st.integers(min_value=high_i + 1)))
        else:
            low = spec.ge if spec.ge is not None else spec.gt
            high = spec.le if spec.le is not None else spec.lt
            if low is not None:
                below = st.floats(
                    max_value=low, exclude_max=spec.ge is not None, allow_infinity=False
                )
                out.append(("below minimum", below.filter(lambda v: v < low)))
            if high is not None:
                above = st.floats(
                    min_value=high, exclude_min=spec.le is not None, allow_infinity=False
                )
                out.append(("above maximum", above.filter(lambda v: v > high)))
        if spec.kind == "float" and not spec.allow_inf_nan:
            out.append(("finite", st.sampled_from([math.nan, math.inf, -math.inf])))
    elif spec.kind == "str":
        out.append(("type", st.sampled_from([[1], {"a": 1}])))
        if spec.min_len is not None and spec.min_len > 0:
            out.append(("min length", st.text(max_size=spec.min_len - 1)))
        if spec.max_len is not None:
            out.append(("max length", st.text(min_size=spec.max_len + 1)))
    elif spec.kind == "choice":
        unseen = st.text(min_size=1).filter(lambda v: v not in spec.choices)
        out.append(("category", unseen))
    elif spec.kind == "bool":
        out.append(("type", st.sampled_from(["maybe", 7, [True]])))
    if not spec.optional:
        out.append(("not null", st.none()))
    return out


def valid_records(schema: Any) -> SearchStrategy[dict[str, Any]]:
    """Hypothesis strategy of records (dicts) that satisfy every rule of ``schema``.

    Built from the pydantic model's fields: ``int``/``float`` with ``ge``/``gt``/``le``/
    ``lt`` (floats always finite), ``str`` with ``min_length``/``max_length``, ``bool``,
    ``Literal`` and ``Enum`` categories, optional fields (sometimes None, sometimes
    left out when they have a default).

    Args:
        schema: a pydantic model class, or a guard (or schema object) built from one.

    Examples:
        >>> from pydantic import BaseModel, Field
        >>> from hypothesis import find
        >>> from guardrails.testing import valid_records
        >>> class Applicant(BaseModel):
        ...     age: int = Field(ge=18, le=120)
        >>> find(valid_records(Applicant), lambda record: record["age"] > 60)
        {'age': 61}
    """
    from hypothesis import strategies as st

    specs = _field_specs(_schema_class(schema))
    required: dict[str, SearchStrategy[Any]] = {}
    optional: dict[str, SearchStrategy[Any]] = {}
    for spec in specs:
        value = _valid_value(spec)
        if spec.optional:
            value = st.none() | value
        (required if spec.required else optional)[spec.name] = value
    return st.fixed_dictionaries(required, optional=optional)


def invalid_records(
    schema: Any, *, explain: bool = False
) -> SearchStrategy[dict[str, Any]] | SearchStrategy[tuple[dict[str, Any], BrokenRule]]:
    """Hypothesis strategy of records that break exactly one rule of ``schema``.

    Each record is valid except for one field, which has the wrong type, lies outside
    its bounds, is NaN or infinite where the schema forbids it, is an unseen category, is
    too short or too long, is None where the field is not optional, or is missing. When
    the model forbids extra fields, records with an unknown field are drawn too.

    Args:
        schema: a pydantic model class, or a guard (or schema object) built from one.
        explain: draw ``(record, BrokenRule(field, rule))`` pairs instead of records.

    Raises:
        ConfigurationError: the schema has no rule that a record could break.
    """
    from hypothesis import strategies as st

    model = _schema_class(schema)
    specs = _field_specs(model)
    base = valid_records(model)
    options: list[SearchStrategy[tuple[dict[str, Any], BrokenRule]]] = []

    def replace(name: str, rule: str, bad: SearchStrategy[Any]) -> None:
        def build(pair: tuple[dict[str, Any], Any]) -> tuple[dict[str, Any], BrokenRule]:
            record, value = pair
            return {**record, name: value}, BrokenRule(name, rule)

        options.append(st.tuples(base, bad).map(build))

    for spec in specs:
        for rule, bad in _breaks(spec):
            replace(spec.name, rule, bad)
        if spec.required:
            name = spec.name

            def drop(record: dict[str, Any], name: str = name) -> tuple[dict[str, Any], BrokenRule]:
                return {k: v for k, v in record.items() if k != name}, BrokenRule(name, "required")

            options.append(base.map(drop))
    if model.model_config.get("extra") == "forbid":
        names = {s.name for s in specs}

        def extra(record: dict[str, Any]) -> tuple[dict[str, Any], BrokenRule]:
            key = "unexpected_field"
            while key in names:
                key += "_"
            return {**record, key: 1}, BrokenRule(key, "extra field")

        options.append(base.map(extra))
    if not options:
        raise ConfigurationError(f"{model.__name__} has no rule a record could break (no fields?).")

    def rejected(pair: tuple[dict[str, Any], BrokenRule]) -> bool:
        from pydantic import ValidationError

        try:
            model.model_validate(pair[0])
        except ValidationError:
            return True
        return False

    pairs = st.one_of(options).filter(rejected)
    if explain:
        return pairs
    return pairs.map(lambda pair: pair[0])
