"""Validation: check every input row against a schema so invalid rows never reach the model.

[`Validated`][] is the innermost wrapper. It checks records through pydantic and arrays
or data frames column by column with numpy (the constraints come from a
[`Schema`][guardrails.validation.schema.Schema]), optionally repairs rows the user allowed it to
(clip to bounds, fill a declared default), turns valid rows into the model's input
(columns in training order, categories encoded), and sends only valid rows to the model.
Invalid rows come back withheld with reason ``INVALID_INPUT`` and their errors, or raise
[`InvalidInputError`][guardrails.core.errors.InvalidInputError] under policy ``"raise"``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pydantic
from numpy.typing import NDArray

from guardrails.core.adapter import as_layer
from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ArtifactError, ConfigurationError, InvalidInputError
from guardrails.core.layer import Call, Layer, ValidationNote, _is_frame, take_rows
from guardrails.core.persistence import persistable
from guardrails.core.redaction import REDACTED, Redactor, scrub_details, truncate
from guardrails.validation.compiler import _Checker
from guardrails.validation.convert import (
    _loc_part,
)
from guardrails.validation.result import ValidationResult as ValidationResult
from guardrails.validation.result import _Errors
from guardrails.validation.schema import Schema

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["OnInvalid", "Validated", "ValidationResult"]

OnInvalid = Literal["abstain", "raise", "fallback"]
ExtraPolicy = Literal["forbid", "ignore"]
RepairStep = Literal["clip", "fill"]
_POLICIES: tuple[str, ...] = get_args(OnInvalid)
_EXTRA: tuple[str, ...] = get_args(ExtraPolicy)
_REPAIRS: tuple[str, ...] = get_args(RepairStep)
_DETAIL_LIMIT = 300
_STAGE = "validate"
_SCALARS = (float, int, str, bytes, type(None))
# pydantic error types whose message is written by user code and may quote the value
_USER_MESSAGES = frozenset({"value_error", "assertion_error"})

Repair = Iterable[RepairStep] | Mapping[RepairStep, Iterable[str] | None]


# -- settings ------------------------------------------------------------------------------


def _normalize_repair(repair: Any, schema: Schema) -> dict[str, frozenset[str] | None]:
    if isinstance(repair, str):
        repair = (repair,)
    if isinstance(repair, Mapping):
        items = list(repair.items())
    else:
        try:
            items = [(step, None) for step in repair]
        except TypeError:
            raise ConfigurationError(
                "The 'repair' parameter of Validated must be a list of steps "
                f"{list(_REPAIRS)} or a mapping step -> field names. Got {repair!r} instead."
            ) from None
    out: dict[str, frozenset[str] | None] = {}
    for step, fields in items:
        if step not in _REPAIRS:
            raise ConfigurationError(
                f"The 'repair' parameter of Validated takes steps {list(_REPAIRS)}. "
                f"Got {step!r} instead."
            )
        if fields is None or fields is True:
            out[step] = None
            continue
        if isinstance(fields, str):
            fields = (fields,)
        names = frozenset(str(f) for f in fields)
        unknown = names - set(schema.names)
        if unknown:
            raise ConfigurationError(
                f"The 'repair' step {step!r} names unknown fields {sorted(unknown)}; the "
                f"schema's fields are {list(schema.names)}."
            )
        out[step] = names
    return out


def _as_schema(schema: Any) -> Schema:
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
        return Schema(schema)
    raise ConfigurationError(
        "The 'schema' parameter of Validated must be a pydantic BaseModel subclass or a "
        f"guardrails.Schema. Got {schema!r} instead."
    )


# -- the layer -----------------------------------------------------------------------------


@persistable
class Validated(Layer):
    """Check inputs against a schema; only valid rows reach the model.

    Args:
        inner: the model or guard layer to wrap (the model, usually).
        schema: a pydantic ``BaseModel`` subclass or a [`Schema`][guardrails.Schema].
        on_invalid: ``"abstain"`` (default: invalid rows come back withheld with reason
            ``INVALID_INPUT`` and their errors), ``"raise"`` ([`InvalidInputError`][]
            carrying every row's errors) or ``"fallback"`` (withheld like abstain, and
            marked for the fallback chain to answer).
        extra: ``"forbid"`` (default: a field or column the schema does not declare makes
            the row invalid) or ``"ignore"`` (it is dropped).
        repair: opt-in repair steps: ``"clip"`` (numbers outside their bounds are clipped
            to them) and ``"fill"`` (a missing value of a field with a default takes the
            default); a list of steps for every field, or a mapping step -> field names.
            Repaired rows have ``repaired=True`` on their decision.
        redactor: hides more fields in errors (fields the schema declares sensitive,
            ``SecretStr`` or ``json_schema_extra={"sensitive": True}``, are always hidden).
        as_frame: feed the model a pandas data frame with the schema's field names
            (categories raw unless encoded) instead of a float array.

    Examples:
        >>> import numpy as np, pydantic
        >>> from guardrails import Validated
        >>> class Row(pydantic.BaseModel):
        ...     x: float = pydantic.Field(ge=0, le=1)
        >>> model = lambda X: np.column_stack([1 - X[:, 0], X[:, 0]])
        >>> from guardrails import ModelAdapter
        >>> layer = Validated(ModelAdapter(model, output="proba", classes=[0, 1]), schema=Row)
        >>> d = layer.decide([{"x": 0.9}, {"x": 7.0}])
        >>> d.abstained.tolist(), d[1].errors[0]["type"]
        ([False, True], 'less_than_equal')
    """

    name = _STAGE
    inner: Layer

    def __init__(
        self,
        inner: Any,
        *,
        schema: type[pydantic.BaseModel] | Schema,
        on_invalid: OnInvalid = "abstain",
        extra: ExtraPolicy = "forbid",
        repair: Repair = (),
        redactor: Redactor | None = None,
        as_frame: bool = False,
    ) -> None:

        settings = Validated.check_settings(
            schema=schema,
            on_invalid=on_invalid,
            extra=extra,
            repair=repair,
            redactor=redactor,
            as_frame=as_frame,
        )
        self.inner = as_layer(inner)
        self.schema: Schema = settings["schema"]
        self.on_invalid: str = on_invalid
        self.extra: str = extra
        self.repair: dict[str, frozenset[str] | None] = settings["repair"]
        self.as_frame = bool(as_frame)
        self._user_redactor = redactor
        base = redactor or Redactor()
        self.redactor = Redactor(
            fields=base.fields | self.schema.sensitive,
            patterns=base.patterns,
            reveal=base.reveal,
        )
        self._checker = _Checker(
            self.schema, extra=extra, repair=self.repair, as_frame=self.as_frame
        )

    @staticmethod
    def check_settings(
        *,
        schema: Any,
        on_invalid: Any,
        extra: Any,
        repair: Any,
        redactor: Any,
        as_frame: Any,
    ) -> dict[str, Any]:
        """Validate the settings of a Validated layer; raise ConfigurationError if wrong."""
        compiled = _as_schema(schema)
        if on_invalid not in _POLICIES:
            raise ConfigurationError(
                f"The 'on_invalid' parameter of Validated must be one of {list(_POLICIES)}. "
                f"Got {on_invalid!r} instead."
            )
        if extra not in _EXTRA:
            raise ConfigurationError(
                f"The 'extra' parameter of Validated must be one of {list(_EXTRA)}. "
                f"Got {extra!r} instead."
            )
        if redactor is not None and not isinstance(redactor, Redactor):
            raise ConfigurationError(
                "The 'redactor' parameter of Validated must be a guardrails.Redactor or None. "
                f"Got {redactor!r} instead."
            )
        if not isinstance(as_frame, bool):
            raise ConfigurationError(
                f"The 'as_frame' parameter of Validated must be a bool. Got {as_frame!r} instead."
            )
        if as_frame:
            try:
                import pandas  # noqa: F401
            except ImportError as exc:
                raise ConfigurationError(
                    "as_frame=True needs pandas: pip install 'predict-guardrails[pandas]'."
                ) from exc
        else:
            text = [s.name for s in compiled.feature_specs if s.kind == "str"]
            if text:
                raise ConfigurationError(
                    f"Fields {text} hold free text, which an array model cannot take. Feed "
                    "the model a data frame (as_frame=True) or leave them out of the model "
                    "input (Schema(..., exclude=[...]))."
                )
        return {"schema": compiled, "repair": _normalize_repair(repair, compiled)}

    def __repr__(self) -> str:
        text = f"Validated(schema={self.schema!r}, on_invalid={self.on_invalid!r}"
        if self.extra != "forbid":
            text += f", extra={self.extra!r}"
        if self.repair:
            steps = {k: None if v is None else sorted(v) for k, v in self.repair.items()}
            text += f", repair={steps!r}"
        if self.as_frame:
            text += ", as_frame=True"
        return text + ")"

    # -- checking ------------------------------------------------------------------------

    def validate(self, X: Any) -> ValidationResult:
        """Check batch ``X`` without calling the model.

        Args:
            X: a list of records (dicts or pydantic instances), an array
                ``(n_samples, n_fields)`` or a data frame.

        Returns:
            The model-ready rows, the valid and repaired masks, and each invalid row's
            errors (truncated and redacted).
        """
        n = _rows(X)
        checked, valid, repaired, errs = self._checker.check(X, n)
        return ValidationResult(
            model_input=self._checker.model_input(checked, valid, n),
            valid=valid,
            repaired=repaired,
            errors=self._entries(errs, valid),
            _secrets=errs.secrets,
            _finite=checked is not None and checked.finite and not self.as_frame,
        )

    def _entries(
        self, errs: _Errors, valid: NDArray[np.bool_]
    ) -> dict[int, tuple[dict[str, Any], ...]]:
        if errs.batch:
            shared = tuple(self._clean(e, ()) for e in errs.batch)
            return {i: shared for i in range(valid.shape[0])}
        # many rows often share an error (a bad column): clean each rule once, then fill in
        # the value; a sensitive field's entry is the same object for every row
        templates: dict[tuple[Any, ...], tuple[dict[str, Any], bool]] = {}
        out: dict[int, tuple[dict[str, Any], ...]] = {}
        for i, entries in errs.rows.items():
            secrets = errs.secrets.get(i, ())
            cleaned = []
            for e in entries:
                value = e["input"]
                if secrets or not isinstance(value, _SCALARS):
                    cleaned.append(self._clean(e, secrets))
                    continue
                key = (e["loc"], e["type"], e["msg"], value is None)
                found = templates.get(key)
                if found is None:
                    template = self._clean(e, ())
                    hidden = template["input"] == REDACTED or value is None
                    found = templates[key] = (template, hidden)
                template, hidden = found
                cleaned.append(template if hidden else {**template, "input": truncate(value)})
            out[i] = tuple(cleaned)
        return out

    def _clean(self, entry: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
        loc = tuple(_loc_part(p) for p in entry["loc"])
        value = entry["input"]
        reveal = self.redactor.reveal
        known = self.schema.names
        if isinstance(value, Mapping):
            try:
                value = self.redactor.record({str(k): v for k, v in value.items()})
                if not reveal:  # a key the schema does not know (api_keyy) may be a secret
                    value = {k: v if k in known else REDACTED for k, v in value.items()}
            except Exception:
                value = f"<{type(value).__name__}>"
        msg = str(entry["msg"])
        unknown = bool(loc) and isinstance(loc[0], str) and loc[0] not in known and not reveal
        sensitive = unknown or any(self.redactor.is_sensitive(p) for p in loc)
        if sensitive and entry["type"] in _USER_MESSAGES:
            msg = "Value error (message hidden: the field is sensitive)"
        for secret in secrets:
            if secret and not self.redactor.reveal:
                msg = msg.replace(secret, REDACTED)
        out = {
            "loc": loc,
            "type": str(entry["type"]),
            "msg": _cut(msg),
            "input": None if value is None else truncate(value),
        }
        if out["input"] is not None:
            out = self.redactor.error(out)
            if unknown:  # named, never shown
                out["input"] = REDACTED
                out.pop("ctx", None)
        text = out["input"]
        if isinstance(text, str) and not self.redactor.reveal:
            for secret in secrets:
                if secret:
                    text = text.replace(secret, REDACTED)
            out["input"] = text
        return out

    # -- the Layer protocol --------------------------------------------------------------

    def _prepare(self, X: Any, call: Call) -> tuple[ValidationResult, float]:
        t0 = time.perf_counter()
        result = self.validate(X)
        if X is call.raw or call.model_input is None:
            call.model_input = result.model_input
            call.valid = result.valid
        # raw sensitive values per row travel too, for outer layers to scrub their messages
        call.validation = ValidationNote(self.on_invalid, result.invalid, result._secrets)
        if self.on_invalid == "raise" and result.errors:
            raise _error(result, self.schema)
        return result, time.perf_counter() - t0

    def _assemble(
        self, result: ValidationResult, inner: Decisions | None, seconds: float, n: int
    ) -> Decisions:
        valid = result.valid
        if inner is not None and (valid[0] if n == 1 else valid.all()):
            out = inner
        else:
            details = object_column(n)
            errors = object_column(n)
            texts: dict[tuple[int, ...], str] = {}  # rows sharing cleaned errors share a text
            for i, entries in result.errors.items():
                errors[i] = entries
                key = tuple(id(e) for e in entries)
                if key not in texts:
                    texts[key] = _detail(entries)
                details[i] = texts[key]
            out = Decisions.withheld(
                n,
                Reason.INVALID_INPUT,
                stage=_STAGE,
                classes=self.classes_,
                dtype=self._dtype(),
            ).replace(detail=details, errors=errors)
            if inner is not None:
                out = out.merge(np.flatnonzero(valid), inner)
        if result._secrets and out.detail is not None and not self.redactor.reveal:
            out = out.replace(detail=scrub_details(out.detail, result._secrets))
        if self.repair:
            out = out.replace(repaired=result.repaired.copy())
        out.timings[_STAGE] = out.timings.get(_STAGE, 0.0) + seconds
        return out

    def _dtype(self) -> Any:
        if self.inner.task == "regression":
            return np.float64
        classes = self.classes_
        return object if classes is None else classes.dtype

    def screen(self, X: Any, call: Call) -> Decisions:
        """Validate ``X`` for ``call`` without calling the layers inside.

        For a fallback chain whose primary was skipped (circuit open, deadline passed):
        ``call.model_input`` and ``call.valid`` are set as in a normal call, invalid rows
        come back withheld with ``INVALID_INPUT`` and their errors (raised under policy
        "raise"), and the valid rows come back withheld too, with no detail, for the
        caller to mark with its own reason.
        """
        result, seconds = self._prepare(X, call)
        return self._assemble(result, None, seconds, result.valid.shape[0])

    def decide_call(self, X: Any, call: Call) -> Decisions:
        result, seconds = self._prepare(X, call)
        rows = self._inner_rows(result, call)
        inner = None if rows is None else self.inner.decide_call(rows, call)
        return self._assemble(result, inner, seconds, result.valid.shape[0])

    def awaits_io(self) -> bool:
        return False  # its async path does the sync path's work without a thread hop

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        result, seconds = self._prepare(X, call)
        rows = self._inner_rows(result, call)
        inner = None if rows is None else await self.inner.adecide_call(rows, call)
        return self._assemble(result, inner, seconds, result.valid.shape[0])

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        result, seconds = self._prepare(X, call)
        idx = np.flatnonzero(result.valid)
        if idx.size == 0:
            raise InvalidInputError(
                "fit() got no valid rows: every row failed validation against "
                f"{self.schema!r}. First errors: {_detail(next(iter(result.errors.values())))}",
                errors=_error_list(result),
            )
        inner = self.inner.fit_call(self._inner_rows(result, call), y[idx], call)
        return self._assemble(result, inner, seconds, result.valid.shape[0])

    def _inner_rows(self, result: ValidationResult, call: Call) -> Any:
        """The valid model-ready rows the layers inside get (sync and async alike), or None
        when a non-empty batch has none. Rows found finite are named on the call, so that
        the model adapter does not scan them a second time."""
        n = result.valid.shape[0]
        if n == 1 or result.valid.all():
            if n == 1 and not result.valid[0]:
                return None
            rows = result.model_input
        else:
            idx = np.flatnonzero(result.valid)
            if idx.size == 0:
                return None
            rows = take_rows(result.model_input, idx)
        if result._finite:
            call.finite_rows = rows
        return rows

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        model = self.schema.model
        return {
            "schema": enc.ref(
                "schema", f"the pydantic model {model.__module__}.{model.__qualname__}"
            ),
            "fields": list(self.schema.names),
            "encodings": {
                name: [[_json_key(k), v] for k, v in codes.items()]
                for name, codes in self.schema.encodings.items()
            },
            "exclude": list(self.schema.exclude),
            "on_invalid": self.on_invalid,
            "extra": self.extra,
            "repair": {k: None if v is None else sorted(v) for k, v in self.repair.items()},
            "redactor": None if self._user_redactor is None else enc.component(self._user_redactor),
            "as_frame": self.as_frame,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Validated:
        given = dec.ref(state["schema"])
        if isinstance(given, Schema):
            schema = given
        elif isinstance(given, type) and issubclass(given, pydantic.BaseModel):
            encodings = {
                name: dict(map(tuple, pairs)) for name, pairs in state["encodings"].items()
            }
            schema = Schema(given, encodings=encodings, exclude=state["exclude"])
        else:
            raise ArtifactError(
                f"load(schema=...) must be a pydantic model class or a Schema; got {given!r}"
            )
        if list(schema.names) != list(state["fields"]):
            raise ArtifactError(
                f"the schema given to load() has fields {list(schema.names)}; the guard was "
                f"saved with {state['fields']}"
            )
        redactor = None if state["redactor"] is None else dec.component(state["redactor"])
        return cls(
            inner,
            schema=schema,
            on_invalid=state["on_invalid"],
            extra=state["extra"],
            repair=state["repair"],
            redactor=redactor,
            as_frame=bool(state["as_frame"]),
        )


def _json_key(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _rows(X: Any) -> int:
    if isinstance(X, np.ndarray):
        return int(X.shape[0]) if X.ndim >= 1 else 1
    if _is_frame(X) or isinstance(X, (list, tuple)):
        return len(X)
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return 1


def _cut(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _detail(entries: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for e in entries:
        where = ".".join(str(p) for p in e["loc"]) or "row"
        got = "" if e["input"] is None else f" (got {e['input']})"
        parts.append(f"{where}: {e['msg']}{got}")
    return _cut("invalid input: " + "; ".join(parts))


def _error_list(result: ValidationResult) -> list[dict[str, Any]]:
    return [{"row": i, "errors": list(e)} for i, e in sorted(result.errors.items())]


def _error(result: ValidationResult, schema: Schema) -> InvalidInputError:
    rows = sorted(result.errors)
    shown = "; ".join(f"row {i}: {_detail(result.errors[i])}" for i in rows[:3])
    more = f" (and {len(rows) - 3} more rows)" if len(rows) > 3 else ""
    return InvalidInputError(
        f"{len(rows)} of {result.valid.shape[0]} rows failed validation against "
        f"{schema!r}: {shown}{more}",
        errors=_error_list(result),
    )
