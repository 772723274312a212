"""The logging layer: one structlog event per decision, metrics and alerts, never raw inputs.

[`Logged`][] is the outermost layer of a guard. It sees the final decision of every
row and emits structured events with stable keys (see ``docs/observability.md``):

- a single record gives one ``guardrails.decision`` event;
- a batch gives one ``guardrails.batch`` summary event that names every withheld row by
  reason and every fallback-answered row by stage (``withheld_rows``, ``fallback_rows``:
  row indices as arrays), plus a ``guardrails.decision`` event for each of the first
  `MAX_ROW_EVENTS` notable rows (failed first, then fallback, withheld and a random
  ``sample`` share of the rows the primary model answered); ``max_row_events`` sets the
  cap, None lifts it;
- a call that raises gives one ``guardrails.error`` event, then the exception propagates.

Inputs never appear in events: each row is identified by a fingerprint (a short hash; for
records, of the record with its sensitive fields redacted). Error details, which can echo
inputs (a model's exception message, a validation error's input), are reduced to the
exception type unless ``details=True``, and then pass through the redactor.

The library never configures logging: events go to the logger given, or to
``structlog.get_logger("guardrails")``. A logger that raises never costs the caller its
decision: the layer warns with [`GuardrailsWarning`][guardrails.core.errors.GuardrailsWarning]
instead.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from guardrails.core.adapter import as_layer
from guardrails.core.decisions import PRIMARY, Decisions, Reason
from guardrails.core.errors import ConfigurationError, GuardrailsWarning
from guardrails.core.layer import Call, Layer, _is_frame
from guardrails.core.persistence import persistable
from guardrails.core.redaction import REDACTED, Redactor, fingerprint, truncate
from guardrails.observability.alerts import Alerts, Health
from guardrails.observability.telemetry import ERROR_REASONS, Metrics, Rates

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["DECISION_KEYS", "MAX_ROW_EVENTS", "Logged", "scrub"]

DECISION_EVENT = "guardrails.decision"
BATCH_EVENT = "guardrails.batch"
ERROR_EVENT = "guardrails.error"

DECISION_KEYS: tuple[str, ...] = (
    "request_id",
    "guard",
    "guard_version",
    "row",
    "outcome",
    "reason",
    "overridden",
    "stage",
    "stages_tried",
    "confidence",
    "set_size",
    "interval_width",
    "latency_ms",
    "stage_latency_ms",
    "drift",
    "review_id",
    "input_fingerprint",
    "error_type",
)
"""Keys every ``guardrails.decision`` event carries (values may be None), in this order."""

MAX_ROW_EVENTS = 20
"""Default cap on the row events of one batch. Every withheld and fallback row stays
traceable past it: the batch event lists them by reason and by stage."""

_REASONS = tuple(str(r) for r in Reason)
_ERROR_INTS = frozenset(int(r) for r in ERROR_REASONS)
_IS_ERROR = np.zeros(256, dtype=bool)  # by reason code: a model failed to answer
_IS_ERROR[sorted(_ERROR_INTS)] = True
# A batch event writes one character per row: "." for an answer, else the reason's code.
_ANSWERED_CHAR = ord(".")
_CODE_CHARS = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
# the character of every code byte 0..127 (codes past the table share its last character)
_CHAR_OF = _CODE_CHARS[np.minimum(np.arange(256), _CODE_CHARS.size - 1)].copy()
_CIRCUIT_OPEN = int(Reason.CIRCUIT_OPEN)
_DETAIL_LIMIT = 200
# An exception type at the start of a detail, as the model adapter writes it ("Type: msg").
_ERROR_TYPE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")
# "name=value", "name: value", "'name': 'value'" pairs inside free text.
_PAIR = re.compile(
    r"""(?P<key>['"]?(?P<name>[A-Za-z_][\w.-]*)['"]?\s*[:=]\s*)"""
    r"""(?P<val>'[^']*'|"[^"]*"|[^\s,;}\])]+)"""
)


def scrub(text: str, redactor: Redactor | None) -> str:
    """``text`` with the value after every sensitive field name replaced by the marker.

    Catches the forms exception messages use: ``ssn=123``, ``ssn: 123`` and
    ``{'ssn': '123'}``; the text is also cut to 200 characters.

    Examples:
        >>> from guardrails import Redactor
        >>> scrub("bad row {'ssn': '123-45-6789', 'age': 41}", Redactor(fields=["ssn"]))
        "bad row {'ssn': [REDACTED], 'age': 41}"
    """
    if redactor is not None and redactor.active:

        def hide(m: re.Match[str]) -> str:
            if redactor.is_sensitive(m.group("name")):
                return m.group("key") + REDACTED
            return m.group(0)

        text = _PAIR.sub(hide, text)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _bound_request_id() -> str | None:
    """The request id the application bound with ``structlog.contextvars``, if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return None if value is None else str(value)


@persistable
class Logged(Layer):
    """Emits structured events for every call, records metrics and evaluates alert rules.

    Usually added with ``guard(model).log(...)``, which passes the guard's name and version.

    Args:
        inner: the layer (or model) to observe.
        logger: a structlog logger; ``structlog.get_logger("guardrails")`` if None.
        redactor: which fields are sensitive; used for record fingerprints and, with
            ``details=True``, to scrub error details.
        guard_name: the guard's name in events and metric labels.
        version: the guard's version in events and metric labels.
        sample: share in [0, 1] of the rows answered by the primary model of a batch that
            also get a per-row event (withheld, fallback and failed rows always do).
        details: also emit error details (validation errors with redacted inputs, and the
            exception message scrubbed by the redactor). Off by default: details can echo
            inputs.
        metrics: a [`Metrics`][guardrails.observability.telemetry.Metrics] registry to record into.
        alerts: [`Alerts`][guardrails.observability.alerts.Alerts] to evaluate after every call (a
            private
            registry computes the rates when ``metrics`` is None).
        max_row_events: at most this many row events per batch (default
            `MAX_ROW_EVENTS`; None: no limit); failed rows come first, then fallback,
            withheld and sampled rows, each in row order. The summary's
            ``row_events_dropped`` says how many were left out; its ``withheld_rows`` and
            ``fallback_rows`` name every such row whatever the cap.
        seed: seed of the sampling generator (for reproducible tests).

    Raises:
        ConfigurationError: a setting is invalid.

    Examples:
        >>> import numpy as np
        >>> from structlog.testing import capture_logs
        >>> from guardrails import guard
        >>> g = guard(lambda X: X[:, 0] * 2, output="values", name="doubler").log()
        >>> with capture_logs() as events:
        ...     _ = g.decide_one(np.array([3.0]))
        >>> events[0]["event"], events[0]["guard"], events[0]["outcome"]
        ('guardrails.decision', 'doubler', 'answered')
    """

    name = "log"
    inner: Layer

    def __init__(
        self,
        inner: Any,
        *,
        logger: Any = None,
        redactor: Redactor | None = None,
        guard_name: str = "guard",
        version: str = "0",
        sample: float = 0.0,
        details: bool = False,
        metrics: Metrics | None = None,
        alerts: Alerts | None = None,
        max_row_events: int | None = MAX_ROW_EVENTS,
        seed: int | None = None,
    ) -> None:

        check_settings(
            logger=logger,
            redactor=redactor,
            sample=sample,
            details=details,
            metrics=metrics,
            alerts=alerts,
            max_row_events=max_row_events,
            owner="Logged",
        )
        if not isinstance(guard_name, str) or not guard_name:
            raise ConfigurationError(
                f"The 'guard_name' parameter of Logged must be a non-empty str. Got {guard_name!r}."
            )
        if not isinstance(version, str):
            raise ConfigurationError(
                f"The 'version' parameter of Logged must be a str. Got {version!r}."
            )
        self.inner = as_layer(inner)
        self.logger = logger
        self.redactor = redactor
        self.guard_name = guard_name
        self.version = version
        self.sample = float(sample)
        self.details = bool(details)
        self.metrics = metrics
        self.alerts = alerts
        self.max_row_events = max_row_events
        self._rates_registry = (
            metrics if metrics is not None else (Metrics() if alerts is not None else None)
        )
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"Logged(guard_name={self.guard_name!r}, version={self.version!r}, "
            f"sample={self.sample!r}, details={self.details!r}, "
            f"metrics={'on' if self.metrics is not None else 'off'}, "
            f"alerts={'on' if self.alerts is not None else 'off'})"
        )

    # -- the call ------------------------------------------------------------------------

    def _log(self) -> Any:
        return self.logger if self.logger is not None else structlog.get_logger("guardrails")

    def _begin(self, call: Call) -> None:
        bound = _bound_request_id()
        if bound is not None:  # the application's id ties our events and review cases to its own
            call.request_id = bound

    def decide_call(self, X: Any, call: Call) -> Decisions:
        self._begin(call)
        t0 = time.perf_counter()
        try:
            d = self.inner.decide_call(X, call)
        except Exception as exc:
            self._safely(self._failed, exc, call, time.perf_counter() - t0)
            raise
        self._safely(self._record, d, call, time.perf_counter() - t0)
        return d

    def awaits_io(self) -> bool:
        return False  # its async path does the sync path's work without a thread hop

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        self._begin(call)
        t0 = time.perf_counter()
        try:
            d = await self.inner.adecide_call(X, call)
        except Exception as exc:
            self._safely(self._failed, exc, call, time.perf_counter() - t0)
            raise
        self._safely(self._record, d, call, time.perf_counter() - t0)
        return d

    def _safely(self, record: Any, *args: Any) -> None:
        """Run ``record``; a broken logger or sink must never cost the caller its decision."""
        try:
            record(*args)
        except Exception as exc:
            warnings.warn(
                f"guardrails: the log step of guard {self.guard_name!r} failed with "
                f"{type(exc).__name__}; the decision is returned without its events.",
                GuardrailsWarning,
                stacklevel=2,
            )

    def fit_call(self, X: Any, y: Any, call: Call) -> Decisions:
        return self.inner.fit_call(X, y, call)  # calibration data is not traffic: not logged

    # -- events --------------------------------------------------------------------------

    def _record(self, d: Decisions, call: Call, seconds: float) -> None:
        log = self._log()
        n = len(d)
        drift = None if call.drift is None else call.drift.status
        total_ms = seconds * 1e3
        stage_ms = {k: v * 1e3 for k, v in d.timings.items()}
        try:
            if n == 1:
                self._row_event(log, d, 0, call, drift, total_ms, stage_ms)
            elif n > 1:
                self._batch_events(log, d, call, drift, total_ms, stage_ms)
        finally:  # a logger that raises must not cost the metrics their count
            self._observe(d, call, seconds, log, drift)

    def _observe(self, d: Decisions, call: Call, seconds: float, log: Any, drift: Any) -> None:
        """Record ``d`` in the metrics registry and evaluate the alert rules."""
        n = len(d)
        note, review = call.drift, call.review
        registry = self._rates_registry
        if registry is not None:
            rates = registry.observe(
                self.guard_name,
                self.version,
                d,
                seconds=seconds,
                drift=None if note is None else {"status": note.status, "scores": note.scores},
                review=None
                if review is None
                else {
                    "not_queued": review.not_queued,
                    "over_budget": review.over_budget,
                    "data_quality_cap": review.data_quality_cap,
                },
                shed=call.shed,
            )
            if self.alerts is not None:
                circuits = call.open_circuits
                if not circuits and (
                    int(d.reason[0]) == _CIRCUIT_OPEN
                    if n == 1
                    else bool((d.reason == _CIRCUIT_OPEN).any())
                ):
                    circuits = (PRIMARY,)
                self._alert(log, rates, drift, circuits)

    def _alert(self, log: Any, rates: Rates, drift: str | None, circuits: tuple[str, ...]) -> None:
        if self.alerts is None:  # pragma: no cover - callers check
            return
        self.alerts.evaluate(
            Health(self.guard_name, self.version, rates, drift, circuits), logger=log
        )

    def _row_event(
        self,
        log: Any,
        d: Decisions,
        i: int,
        call: Call,
        drift: str | None,
        total_ms: float,
        stage_ms: dict[str, float],
        *,
        sampled: bool = False,
    ) -> None:
        abstained = bool(d.abstained[i])
        stage = str(d.stage[i])
        code = int(d.reason[i])
        outcome = "abstained" if abstained else ("answered" if stage == PRIMARY else "fallback")
        confidence = None
        if d.confidence is not None:
            c = float(d.confidence[i])
            confidence = None if c != c else c
        # (a Python sum over one row's flags: ndarray.sum is a reduction with its own setup)
        set_size = None if d.pred_set is None else sum(d.pred_set[i].tolist())
        width = None
        if d.interval is not None:
            w = float(d.interval[i, 1] - d.interval[i, 0])
            width = None if w != w else w
        tried = d.tried[i] if d.tried is not None else None
        detail = d.detail_of(i)
        error_type = None
        if code in _ERROR_INTS and isinstance(detail, str):
            m = _ERROR_TYPE.match(detail)
            error_type = m.group(1) if m else None
        event: dict[str, Any] = {
            "request_id": call.request_id,
            "guard": self.guard_name,
            "guard_version": self.version,
            "row": i,
            "outcome": outcome,
            "reason": _REASONS[code] if 0 <= code < len(_REASONS) else str(code),
            "overridden": _overridden(d, i),
            "stage": stage,
            "stages_tried": list(tried) if tried is not None else [stage],
            "confidence": confidence,
            "set_size": set_size,
            "interval_width": width,
            "latency_ms": total_ms,
            "stage_latency_ms": stage_ms,
            "drift": drift,
            "review_id": None if d.review_id is None else d.review_id[i],
            "input_fingerprint": self._fingerprint(call.raw, i),
            "error_type": error_type,
        }
        errors = d.errors[i] if d.errors is not None else None
        if errors:
            event["invalid_fields"] = _fields(errors)
        if self.details:
            if isinstance(detail, str):
                event["detail"] = scrub(detail, self.redactor)
            if errors:
                event["errors"] = [self._error_entry(e) for e in errors]
        if sampled:
            event["sampled"] = True
        if code in _ERROR_INTS:
            log.warning(DECISION_EVENT, **event)
        else:
            log.info(DECISION_EVENT, **event)

    def _batch_events(
        self,
        log: Any,
        d: Decisions,
        call: Call,
        drift: str | None,
        total_ms: float,
        stage_ms: dict[str, float],
    ) -> None:
        n = len(d)
        answered = ~d.abstained
        fallback_mask = answered & _not_primary(d.stage)
        notable = ~answered | fallback_mask
        sampled = np.zeros(n, dtype=bool)
        if self.sample > 0.0:
            with self._rng_lock:
                draw = self._rng.random(n)
            sampled = ~notable & (draw < self.sample)
        failed_rows = d.abstained & _IS_ERROR[d.reason.astype(np.uint8, copy=False)]
        cap = self.max_row_events
        total = int(notable.sum()) + (int(sampled.sum()) if self.sample > 0.0 else 0)
        if cap is None or total <= cap:
            rows = np.flatnonzero(notable | sampled)
        else:  # failed first, then fallback, then withheld, then sampled; row order within each
            picked: list[np.ndarray[Any, Any]] = []
            left = cap
            for group in (failed_rows, fallback_mask, notable & ~failed_rows & ~fallback_mask):
                if left > 0:
                    picked.append(np.flatnonzero(group)[:left])
                    left -= picked[-1].size
            if left > 0 and self.sample > 0.0:
                picked.append(np.flatnonzero(sampled)[:left])
            rows = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.intp)
        dropped = total - int(rows.size)
        row_reasons, counts, legend = _row_reasons(d)
        fallback = _rows_by_stage(d.stage, fallback_mask)
        n_fallback = int(fallback_mask.sum())
        n_answered = n - int(d.abstained.sum())
        stages = {PRIMARY: n_answered - n_fallback} if n_answered > n_fallback else {}
        stages.update({name: len(idx) for name, idx in fallback.items()})
        log.info(
            BATCH_EVENT,
            request_id=call.request_id,
            guard=self.guard_name,
            guard_version=self.version,
            n_rows=n,
            answered=n_answered - n_fallback,
            fallback=n_fallback,
            abstained=n - n_answered,
            failed=int(failed_rows.sum()),
            reasons=counts,
            overridden=overridden_rows(d),
            stages=dict(sorted(stages.items())),
            latency_ms=total_ms,
            stage_latency_ms=stage_ms,
            drift=drift,
            row_events=int(rows.size),
            row_events_dropped=dropped,
            row_reasons=row_reasons,
            reason_codes=legend,
            fallback_rows=fallback,
        )
        for i in rows.tolist():
            self._row_event(log, d, i, call, drift, total_ms, stage_ms, sampled=bool(sampled[i]))

    # -- never the raw input -------------------------------------------------------------

    def _fingerprint(self, raw: Any, i: int) -> str | None:
        """Hash of row ``i`` of the raw batch; records are redacted before hashing."""
        try:
            if isinstance(raw, np.ndarray):
                row = raw[i]
                return fingerprint(row if row.dtype.kind != "O" else row.tolist())
            if _is_frame(raw):
                record = {str(k): v for k, v in zip(raw.columns, raw.iloc[i].tolist())}
                return fingerprint(self._hide(record))
            if isinstance(raw, (list, tuple)):
                row = raw[i]
                if isinstance(row, Mapping):
                    return fingerprint(self._hide(row))
                dump = getattr(row, "model_dump", None)
                if callable(dump):  # a pydantic model
                    return fingerprint(self._hide(dump()))
                return fingerprint(row)
            return fingerprint(raw[i])
        except Exception:  # an exotic container must not break the decision path
            return None

    def _hide(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        return self.redactor.record(record) if self.redactor is not None else record

    def _error_entry(self, entry: Any) -> Any:
        if not isinstance(entry, Mapping):
            return scrub(truncate(entry), self.redactor)
        out = self.redactor.error(entry) if self.redactor is not None else dict(entry)
        if "input" in out and out["input"] != REDACTED:
            out["input"] = truncate(out["input"])
        if "msg" in out:
            out["msg"] = scrub(str(out["msg"]), self.redactor)
        return out

    def _failed(self, exc: Exception, call: Call, seconds: float) -> None:
        log = self._log()
        event: dict[str, Any] = {
            "request_id": call.request_id,
            "guard": self.guard_name,
            "guard_version": self.version,
            "n_rows": call.n,
            "outcome": "error",
            "reason": "exception",
            "latency_ms": seconds * 1e3,
            "error_type": type(exc).__name__,
        }
        errors = getattr(exc, "errors", None)
        if isinstance(errors, (list, tuple)) and errors:
            flat = [
                e
                for row in errors
                for e in (
                    row["errors"]
                    if isinstance(row, Mapping) and isinstance(row.get("errors"), (list, tuple))
                    else [row]
                )
            ]
            event["invalid_fields"] = _fields(flat)
            if self.details:
                event["errors"] = [self._error_entry(e) for e in flat]
        if self.details:
            event["detail"] = scrub(str(exc), self.redactor)
        log.error(ERROR_EVENT, **event)
        registry = self._rates_registry
        if registry is not None:
            rates = registry.observe_error(self.guard_name, self.version, call.n, seconds=seconds)
            if self.alerts is not None:
                self._alert(log, rates, None if call.drift is None else call.drift.status, ())

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "guard_name": self.guard_name,
            "version": self.version,
            "sample": self.sample,
            "details": self.details,
            "max_row_events": self.max_row_events,
            "redactor": None if self.redactor is None else enc.component(self.redactor),
            "logger": None
            if self.logger is None
            else enc.ref("logger", "the structlog logger the log step wrote to"),
            "metrics": None
            if self.metrics is None
            else enc.ref("metrics", "the guardrails.Metrics registry", self.metrics),
            "alerts": None
            if self.alerts is None
            else enc.ref("alerts", "the guardrails.Alerts rules and sinks", self.alerts),
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Logged:
        def maybe_ref(key: str) -> Any:
            return None if state.get(key) is None else dec.ref(state[key])

        redactor = None if state["redactor"] is None else dec.component(state["redactor"])
        return cls(
            inner,
            logger=maybe_ref("logger"),
            redactor=redactor,
            guard_name=str(state["guard_name"]),
            version=str(state["version"]),
            sample=float(state["sample"]),
            details=bool(state["details"]),
            metrics=maybe_ref("metrics"),
            alerts=maybe_ref("alerts"),
            max_row_events=state.get("max_row_events"),
        )


def check_settings(
    *,
    logger: Any,
    redactor: Any,
    sample: Any,
    details: Any,
    metrics: Any,
    alerts: Any,
    max_row_events: Any = None,
    owner: str,
) -> None:
    """Validate the settings of the log step (shared by [`Logged`][] and the builder).

    Raises:
        ConfigurationError: naming the parameter, the owner, what was expected and the value.
    """

    def bad(name: str, expected: str, value: Any) -> ConfigurationError:
        return ConfigurationError(
            f"The '{name}' parameter of {owner} must be {expected}. Got {value!r} instead."
        )

    if logger is not None and not all(
        callable(getattr(logger, m, None)) for m in ("info", "warning", "error")
    ):
        raise bad("logger", "a structlog logger (info, warning, error methods) or None", logger)
    if redactor is not None and not isinstance(redactor, Redactor):
        raise bad("redactor", "a guardrails.Redactor or None", redactor)
    if (
        isinstance(sample, bool)
        or not isinstance(sample, (int, float))
        or not 0.0 <= float(sample) <= 1.0
    ):
        raise bad("sample", "a float in [0, 1]", sample)
    if not isinstance(details, bool):
        raise bad("details", "a bool", details)
    if metrics is not None and not isinstance(metrics, Metrics):
        raise bad("metrics", "a guardrails.observability.telemetry.Metrics or None", metrics)
    if alerts is not None and not isinstance(alerts, Alerts):
        raise bad("alerts", "a guardrails.observability.alerts.Alerts or None", alerts)
    if max_row_events is not None and (
        isinstance(max_row_events, bool)
        or not isinstance(max_row_events, int)
        or max_row_events < 0
    ):
        raise bad("max_row_events", "an int >= 0 or None", max_row_events)


def _overridden(d: Decisions, i: int) -> str | None:
    """The verdict a fallback overrode to answer row ``i``, by name, or None."""
    if d.overridden is None:
        return None
    code = int(d.overridden[i])
    if code == 0:
        return None
    return _REASONS[code] if code < len(_REASONS) else str(code)


def overridden_rows(d: Decisions) -> dict[str, list[int]]:
    """Rows answered by a fallback after a verdict, grouped by that verdict (row order)."""
    if d.overridden is None:
        return {}
    idx = np.flatnonzero(d.overridden != 0)
    codes = d.overridden[idx]
    return {_REASONS[int(c)]: idx[codes == c].tolist() for c in np.unique(codes)}


def _row_reasons(d: Decisions) -> tuple[str, dict[str, int], dict[str, str]]:
    """One character per row (``.`` answered, else the withheld row's reason code), the
    withheld rows per reason name, and the legend of the codes that occur.

    Whole-column arithmetic, no masked gathers: each row's character comes from a table
    by its code's byte, answered rows are set to ``.`` by ``(char - '.') * withheld +
    '.'`` in wrapping uint8 arithmetic, and the counts come from one ``bincount``.
    """
    n = len(d)
    withheld = d.abstained
    if not withheld.any():
        return "." * n, {}, {}
    keys = d.reason.view(np.uint8)  # int8 codes as bytes (a negative code lands >= 128)
    counts = np.bincount(keys * withheld.view(np.uint8), minlength=256)
    counts[0] -= n - int(np.count_nonzero(withheld))  # answered rows counted under 0
    if counts[128:].any():
        raise ValueError("reason codes must not be negative")
    chars = _CHAR_OF.take(keys)
    chars -= _ANSWERED_CHAR
    chars *= withheld.view(np.uint8)
    chars += _ANSWERED_CHAR
    present = np.flatnonzero(counts).tolist()
    names = {c: _REASONS[c] if c < len(_REASONS) else str(c) for c in present}
    return (
        chars.tobytes().decode("ascii"),
        {names[c]: int(counts[c]) for c in present},
        {chr(_CODE_CHARS[min(c, _CODE_CHARS.size - 1)]): names[c] for c in present},
    )


def _not_primary(stages: np.ndarray[Any, Any]) -> Any:
    """``stages != PRIMARY``; one comparison when the column holds one name throughout
    (a broadcast view, as a batch answered by one stage has), not one per row."""
    if stages.ndim == 1 and stages.shape[0] and stages.strides[0] == 0:
        return bool(stages[0] != PRIMARY)
    return stages != PRIMARY


def _rows_by_stage(
    stages: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]
) -> dict[str, list[int]]:
    """Indices of the rows in ``mask`` grouped by their stage name (row order)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return {}
    names = stages[idx].astype(str)
    return {str(s): idx[names == s].tolist() for s in np.unique(names)}


def _fields(errors: Any) -> list[str]:
    """Field paths of validation error entries (``loc`` joined by dots), without values."""
    out: list[str] = []
    for e in errors:
        loc = e.get("loc", ()) if isinstance(e, Mapping) else ()
        parts = loc if isinstance(loc, (list, tuple)) else (loc,)
        path = ".".join(str(p) for p in parts)
        if path and path not in out:
            out.append(path)
    return out
