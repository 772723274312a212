"""Schemas: a pydantic model compiled into per-field constraints that numpy can check.

A [`Schema`][] reads a flat pydantic model once (field types, bounds, categories,
string lengths, defaults, sensitivity) and keeps the result as [`FieldSpec`][] rows.
[`guardrails.validation.layer`][] checks records with pydantic and arrays or data frames with
these specs, column by column. [`infer_schema`][] drafts a schema from training data.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pydantic
from annotated_types import Ge, Gt, Interval, Le, Lt, MaxLen, MinLen
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError

__all__ = ["FieldSpec", "Schema", "infer_schema"]

Kind = Literal["float", "int", "bool", "category", "str"]

_NUMERIC_KINDS = frozenset({"float", "int", "bool"})


@dataclass(frozen=True)
class FieldSpec:
    """The constraints of one field, as the vectorized checks read them.

    Attributes:
        name: the field name (a column name for data frames).
        kind: "float", "int", "bool", "category" (``Literal`` or ``Enum``) or "str".
        required: True when the field has no default.
        default: the default value (raw category value for categories), when not required.
        nullable: True when ``None`` (NaN in arrays) is a valid value.
        ge, gt, le, lt: numeric bounds, None when absent.
        categories: allowed raw values of a category field, in declared order.
        codes: numeric code of each category as fed to an array model.
        min_length, max_length: string length bounds.
        sensitive: True when the value must never appear in errors or logs.
    """

    name: str
    kind: Kind
    required: bool = True
    default: Any = None
    nullable: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    categories: tuple[Any, ...] | None = None
    codes: Mapping[Any, float] | None = field(default=None, compare=False)
    min_length: int | None = None
    max_length: int | None = None
    sensitive: bool = False

    @property
    def numeric(self) -> bool:
        """True for float, int and bool fields."""
        return self.kind in _NUMERIC_KINDS

    def bounds_text(self) -> str:
        parts = []
        for op, value in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)):
            if value is not None:
                parts.append(f"{op} {value:g}")
        return " and ".join(parts)


class Schema:
    """A flat pydantic model compiled for validation of records, arrays and data frames.

    Field order is column order: arrays must hold the fields in declaration order, and
    the model receives them in that order.

    Args:
        model: a pydantic ``BaseModel`` subclass with flat fields: ``float``, ``int``,
            ``bool``, ``str``, ``SecretStr``, ``Literal[...]`` or ``Enum`` categories, each
            optionally ``| None``, with ``ge``/``gt``/``le``/``lt`` bounds or string lengths.
            Custom validators are honoured (for arrays too, row by row).
        encodings: per category field, the number fed to the model for each category:
            a mapping ``{category: code}`` or a sequence of categories (code = position).
            Undeclared: numeric ``Literal`` values are fed as they are, others by position.
        exclude: fields that are validated but not fed to the model (ids, secrets).

    Raises:
        ConfigurationError: ``model`` is not a pydantic model, has a field type that is
            not flat, or an encoding does not cover exactly the field's categories.

    Examples:
        >>> from typing import Literal
        >>> import pydantic
        >>> from guardrails import Schema
        >>> class Applicant(pydantic.BaseModel):
        ...     age: int = pydantic.Field(ge=18, le=120)
        ...     plan: Literal["basic", "pro"] = "basic"
        >>> Schema(Applicant).names
        ('age', 'plan')
    """

    def __init__(
        self,
        model: type[pydantic.BaseModel],
        *,
        encodings: Mapping[str, Mapping[Any, float] | Sequence[Any]] | None = None,
        exclude: Iterable[str] = (),
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
            raise ConfigurationError(
                "The 'model' parameter of Schema must be a pydantic BaseModel subclass. "
                f"Got {model!r} instead."
            )
        if isinstance(exclude, str):
            raise ConfigurationError(
                "The 'exclude' parameter of Schema takes a list of field names, not a str."
            )
        if not model.__pydantic_complete__:
            raise ConfigurationError(
                f"{model.__name__} is not fully defined (pydantic could not resolve some "
                f"annotations); call {model.__name__}.model_rebuild() with the missing names "
                "in scope first."
            )
        self.model = model
        encodings = dict(encodings or {})
        self.exclude = tuple(str(e) for e in exclude)
        names = tuple(model.model_fields)
        if not names:
            raise ConfigurationError(
                f"Schema needs a model with fields; {model.__name__} has none."
            )
        unknown = (set(encodings) | set(self.exclude)) - set(names)
        if unknown:
            raise ConfigurationError(
                f"encodings/exclude name fields {sorted(unknown)} that {model.__name__} does "
                f"not have; its fields are {list(names)}."
            )
        self.encodings = {k: _encoding_map(k, v) for k, v in encodings.items()}
        self.fields: tuple[FieldSpec, ...] = tuple(
            _compile(name, info, self.encodings.get(name))
            for name, info in model.model_fields.items()
        )
        self.names: tuple[str, ...] = names
        self.features: tuple[str, ...] = tuple(n for n in names if n not in self.exclude)
        self.sensitive: frozenset[str] = frozenset(f.name for f in self.fields if f.sensitive)
        self.has_custom_validators = _has_custom_validators(model)

    @property
    def feature_specs(self) -> tuple[FieldSpec, ...]:
        """Specs of the fields fed to the model, in order."""
        return tuple(f for f in self.fields if f.name not in self.exclude)

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of a record (for API docs), from pydantic."""
        schema = self.model.model_json_schema()
        for name in self.sensitive:
            props = schema.get("properties", {})
            if name in props:
                props[name]["writeOnly"] = True
        return schema

    def to_source(self, name: str | None = None) -> str:
        """Python source of a pydantic model with this schema's fields, to review and edit.

        Enum categories are written as ``Literal`` of their values; custom validators are
        not reproduced.

        Args:
            name: the class name; the model's own name by default.

        Returns:
            Source text defining the class (imports included).
        """
        lines = [
            "from typing import Literal",
            "",
            "import pydantic",
            "",
            "",
            f"class {name or self.model.__name__}(pydantic.BaseModel):",
        ]
        for spec in self.fields:
            lines.append(f"    {spec.name}: {_annotation_source(spec)}{_field_source(spec)}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        extra = f", exclude={list(self.exclude)!r}" if self.exclude else ""
        if self.encodings:
            extra += f", encodings={sorted(self.encodings)!r}"
        return f"Schema({self.model.__name__}{extra})"


def _annotation_source(spec: FieldSpec) -> str:
    if spec.kind == "category":
        text = f"Literal[{', '.join(repr(c) for c in spec.categories or ())}]"
    elif spec.kind == "str" and spec.sensitive:
        text = "pydantic.SecretStr"
    else:
        text = spec.kind
    return f"{text} | None" if spec.nullable else text


def _field_source(spec: FieldSpec) -> str:
    args = [] if spec.required else [f"default={spec.default!r}"]
    for key in ("ge", "gt", "le", "lt", "min_length", "max_length"):
        value = getattr(spec, key)
        if value is not None:
            if spec.kind in ("int", "bool") and float(value).is_integer():
                value = int(value)
            args.append(f"{key}={value!r}")
    if spec.sensitive and spec.kind != "str":
        args.append('json_schema_extra={"sensitive": True}')
    return f" = pydantic.Field({', '.join(args)})" if args else ""


def _encoding_map(name: str, value: Any) -> dict[Any, float]:
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Sequence) and not isinstance(value, str):
        pairs = [(v, i) for i, v in enumerate(value)]
    else:
        raise ConfigurationError(
            f"The encoding of field {name!r} must be a mapping {{category: code}} or a list of "
            f"categories. Got {value!r} instead."
        )
    out: dict[Any, float] = {}
    for cat, code in pairs:
        key = cat.value if isinstance(cat, enum.Enum) else cat
        if isinstance(code, bool) or not isinstance(code, (int, float)) or not math.isfinite(code):
            raise ConfigurationError(
                f"The encoding of field {name!r} maps {key!r} to {code!r}; codes must be "
                "finite numbers."
            )
        out[key] = float(code)
    return out


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """The core type of an annotation, whether it admits None, and Annotated metadata."""
    metadata: list[Any] = []
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation = args[0]
            metadata.extend(args[1:])
            continue
        if origin is typing.Union or origin is types.UnionType:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) < len(typing.get_args(annotation)):
                nullable = True
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation, nullable, metadata


def _compile(name: str, info: Any, encoding: dict[Any, float] | None) -> FieldSpec:
    annotation, nullable, metadata = _unwrap(info.annotation)
    metadata = [*info.metadata, *metadata]
    categories: tuple[Any, ...] | None = None
    kind: Kind
    sensitive = False
    if typing.get_origin(annotation) is Literal:
        kind = "category"
        categories = typing.get_args(annotation)
        if None in categories:
            nullable = True
            categories = tuple(c for c in categories if c is not None)
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = "category"
        categories = tuple(m.value for m in annotation)
    elif annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "int"
    elif annotation is float:
        kind = "float"
    elif annotation is str:
        kind = "str"
    elif annotation is pydantic.SecretStr:
        kind = "str"
        sensitive = True
    else:
        raise ConfigurationError(
            f"Field {name!r} has type {info.annotation!r}; a guardrails Schema takes flat "
            "fields: float, int, bool, str, SecretStr, Literal[...] or an Enum, each "
            "optionally | None."
        )
    bounds: dict[str, Any] = {"ge": None, "gt": None, "le": None, "lt": None}
    lengths: dict[str, Any] = {"min_length": None, "max_length": None}
    for meta in metadata:
        if isinstance(meta, Interval):
            for key in bounds:
                if getattr(meta, key, None) is not None:
                    bounds[key] = float(getattr(meta, key))
        for cls, key in ((Ge, "ge"), (Gt, "gt"), (Le, "le"), (Lt, "lt")):
            if isinstance(meta, cls):
                bounds[key] = float(getattr(meta, key))
        if isinstance(meta, MinLen):
            lengths["min_length"] = int(meta.min_length)
        if isinstance(meta, MaxLen):
            lengths["max_length"] = int(meta.max_length)
    extra = info.json_schema_extra
    if isinstance(extra, Mapping) and extra.get("sensitive"):
        sensitive = True
    codes: dict[Any, float] | None = None
    if kind == "category":
        assert categories is not None
        codes = _codes(name, categories, encoding)
    elif encoding is not None:
        raise ConfigurationError(
            f"Field {name!r} is not a category (Literal or Enum); it takes no encoding."
        )
    required = bool(info.is_required())
    default = None if required else info.get_default(call_default_factory=True)
    if isinstance(default, enum.Enum):
        default = default.value
    return FieldSpec(
        name=name,
        kind=kind,
        required=required,
        default=default,
        nullable=nullable,
        categories=categories,
        codes=codes,
        sensitive=sensitive,
        **bounds,
        **lengths,
    )


def _codes(
    name: str, categories: tuple[Any, ...], encoding: dict[Any, float] | None
) -> dict[Any, float]:
    if encoding is None:
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in categories):
            return {c: float(c) for c in categories}
        return {c: float(i) for i, c in enumerate(categories)}
    if set(encoding) != set(categories):
        raise ConfigurationError(
            f"The encoding of field {name!r} must give a code to exactly its categories "
            f"{list(categories)!r}. Got codes for {list(encoding)!r}."
        )
    return {c: encoding[c] for c in categories}


def _has_custom_validators(model: type[pydantic.BaseModel]) -> bool:
    decorators = model.__pydantic_decorators__
    if (
        decorators.field_validators
        or decorators.model_validators
        or decorators.validators
        or decorators.root_validators
    ):
        return True
    validator_types = (
        pydantic.AfterValidator,
        pydantic.BeforeValidator,
        pydantic.PlainValidator,
        pydantic.WrapValidator,
    )
    for info in model.model_fields.values():
        _, _, metadata = _unwrap(info.annotation)
        if any(isinstance(m, validator_types) for m in [*info.metadata, *metadata]):
            return True
    return False


# -- inference -----------------------------------------------------------------------------


def infer_schema(
    X: Any,
    *,
    names: Sequence[str] | None = None,
    margin: float = 10.0,
    min_spread: float = 1.0,
    keep_sign: bool = True,
    max_categories: int = 20,
    model_name: str = "InferredSchema",
) -> Schema:
    """Draft a schema from training data, to review and edit before serving.

    Numeric columns become ``float`` (``int`` when every value is whole; ``bool`` for
    boolean columns). Each is bounded by its observed range ``[lo, hi]`` widened on each
    side by ``margin`` times the column's *spread*: ``max(hi - lo, min_spread)``, so a
    column constant in training (spread 0) still gets room. With ``keep_sign`` a column
    never negative in training stays ``>= 0`` (one negative and never positive stays
    ``<= 0``), which is what catches ``-1`` sentinels. Whole-number bounds are rounded outward.

    The default margin is wide on purpose: an inferred schema should refuse values that
    cannot be right (a negative count, ``1e9``, NaN, a unit slip), not values that are merely
    rarer than anything in the training split. Held-out rows of scikit-learn's digits,
    breast-cancer and wine data pass a schema inferred from the other half of the rows.
    Rows that are unusual rather than impossible are the job of drift and novelty checks.
    Tighten the bounds by hand in the draft (``to_source()``) where you know the domain.

    Text or categorical columns with at most ``max_categories`` distinct values become
    ``Literal`` of the observed values; columns with missing values become optional.

    Args:
        X: training data, array ``(n_samples, n_features)`` or data frame.
        names: column names for an array; ``x0, x1, ...`` by default. Ignored for frames.
        margin: widening of each numeric range on each side, in units of the column's
            spread (>= 0; 0 keeps the observed range).
        min_spread: the smallest spread a column is given (> 0), in the column's units: the
            room a constant column gets is ``margin * min_spread`` on each side.
        keep_sign: keep the sign of columns that are never negative (or never positive)
            in training.
        max_categories: most distinct values a text column may have to become a category.
        model_name: the name of the generated pydantic model.

    Returns:
        A [`Schema`][] over a generated pydantic model; ``schema.to_source()`` gives its
        Python source to edit and keep, ``schema.json_schema()`` its JSON Schema.

    Raises:
        ConfigurationError: bad settings, or a column that is neither numeric nor a
            category (too many distinct text values).

    Examples:
        >>> import numpy as np
        >>> X = np.array([[0.0, 5.0], [0.0, 7.0], [0.0, 6.0]])
        >>> constant, level = infer_schema(X, names=["flag", "level"], margin=1.0).fields
        >>> (constant.ge, constant.le), (level.ge, level.le)
        ((0.0, 1.0), (3.0, 9.0))
    """
    owner = "infer_schema"
    for pname, value, low, closed in (
        ("margin", margin, 0.0, True),
        ("min_spread", min_spread, 0.0, False),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not (value >= low if closed else value > low)
        ):
            what = "a finite number >= 0" if closed else "a finite number > 0"
            raise ConfigurationError(
                f"The {pname!r} parameter of {owner} must be {what}. Got {value!r} instead."
            )
    if not isinstance(keep_sign, bool):
        raise ConfigurationError(
            f"The 'keep_sign' parameter of {owner} must be a bool. Got {keep_sign!r} instead."
        )
    if (
        isinstance(max_categories, bool)
        or not isinstance(max_categories, int)
        or max_categories < 1
    ):
        raise ConfigurationError(
            "The 'max_categories' parameter of infer_schema must be an int >= 1. "
            f"Got {max_categories!r}."
        )
    columns = _columns_of(X, names)
    widen = _Widening(float(margin), float(min_spread), keep_sign)
    definitions: dict[str, Any] = {}
    for name, col in columns:
        definitions[name] = _infer_field(name, col, widen, max_categories)
    model = pydantic.create_model(model_name, **definitions)
    return Schema(model)


@dataclass(frozen=True)
class _Widening:
    """How ``infer_schema`` widens an observed numeric range into bounds."""

    margin: float
    min_spread: float
    keep_sign: bool

    def bounds(self, lo: float, hi: float) -> tuple[float, float]:
        """``[lo, hi]`` widened by ``margin * max(hi - lo, min_spread)``, sign kept."""
        pad = self.margin * max(hi - lo, self.min_spread)
        low, high = lo - pad, hi + pad
        if self.keep_sign:
            if lo >= 0.0:
                low = max(low, 0.0)
            elif hi <= 0.0:
                high = min(high, 0.0)
        return low, high


def _columns_of(X: Any, names: Sequence[str] | None) -> list[tuple[str, NDArray[Any]]]:
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        out = []
        for name in X.columns:
            s = X[name]
            if str(s.dtype) == "bool":
                out.append((str(name), s.to_numpy(dtype=bool)))
            elif _is_numeric_series(s):
                out.append((str(name), s.to_numpy(dtype=np.float64, na_value=np.nan)))
            else:
                out.append((str(name), s.to_numpy(dtype=object)))
        return out
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ConfigurationError(
            f"infer_schema needs a non-empty 2-D array or data frame. Got shape {arr.shape}."
        )
    if names is None:
        names = [f"x{j}" for j in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise ConfigurationError(
            f"The 'names' parameter of infer_schema has {len(names)} names for "
            f"{arr.shape[1]} columns."
        )
    return [(str(n), arr[:, j]) for j, n in enumerate(names)]


def _is_numeric_series(s: Any) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(s.dtype) and not is_bool_dtype(s.dtype))


def _infer_field(name: str, col: NDArray[Any], widen: _Widening, max_categories: int) -> Any:
    if col.dtype == np.bool_:
        return (bool, ...)
    if col.dtype.kind in "iuf":
        values = col.astype(np.float64)
        missing = np.isnan(values)
        present = values[~missing]
        if present.size == 0:
            raise ConfigurationError(f"Column {name!r} has no values to infer a range from.")
        lo, hi = float(present.min()), float(present.max())
        whole = bool(np.all(present == np.round(present)))
        kind: Any = int if whole else float
        lo_b, hi_b = widen.bounds(lo, hi)
        if whole:
            lo_b, hi_b = math.floor(lo_b), math.ceil(hi_b)
        annotation: Any = typing.Optional[kind] if missing.any() else kind  # noqa: UP045
        default = None if missing.any() else ...
        return (annotation, pydantic.Field(default, ge=lo_b, le=hi_b))
    present_obj = [v for v in col.tolist() if v is not None and v == v]
    distinct = list(dict.fromkeys(present_obj))
    if not distinct or len(distinct) > max_categories:
        raise ConfigurationError(
            f"Column {name!r} has {len(distinct)} distinct non-numeric values; infer_schema "
            f"makes a category of at most max_categories={max_categories}. Declare this "
            "field by hand."
        )
    literal = Literal.__getitem__(tuple(sorted(distinct, key=str)))
    if len(present_obj) < len(col):
        return (typing.Optional[literal], None)  # noqa: UP045
    return (literal, ...)
