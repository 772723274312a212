"""Redaction: keep sensitive values out of events, error messages and review records.

A [`Redactor`][] knows which fields are sensitive (by exact name or by pattern) and
replaces their values with a marker wherever a record, an error entry or a value is about
to leave the process. Validation, logging and the review queue all take one, so a field
declared sensitive once is hidden everywhere unless the user opts in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from guardrails.core.errors import ConfigurationError
from guardrails.core.persistence import Decoder, Encoder, persistable
from guardrails.core.text import truncate

__all__ = ["REDACTED", "Redactor", "fingerprint", "scrub_details", "truncate"]

REDACTED = "[REDACTED]"
"""The marker that replaces a sensitive value."""


def fingerprint(value: Any) -> str:
    """A short stable hash of ``value`` for logs: says 'same input' without showing it."""
    if hasattr(value, "tobytes"):
        data = value.tobytes()
    else:
        data = truncate(value, 100_000).encode("utf-8", "replace")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@persistable
class Redactor:
    """Replaces the values of sensitive fields with [`REDACTED`][].

    Args:
        fields: exact field names (for arrays, column names) whose values are sensitive.
        patterns: regular expressions; a field whose name matches any is sensitive
            (case-insensitive search, e.g. ``"ssn|password|email"``).
        reveal: opt in to showing the values anyway (for local debugging only).

    Examples:
        >>> from guardrails import Redactor
        >>> r = Redactor(fields=["ssn"], patterns=["pass"])
        >>> r.record({"ssn": "123-45-6789", "password1": "x", "age": 41})
        {'ssn': '[REDACTED]', 'password1': '[REDACTED]', 'age': 41}
    """

    def __init__(
        self,
        *,
        fields: Iterable[str] = (),
        patterns: Iterable[str] = (),
        reveal: bool = False,
    ) -> None:
        if isinstance(fields, str) or isinstance(patterns, str):
            raise ConfigurationError(
                "The 'fields' and 'patterns' parameters of Redactor take lists of str, "
                "not a single str."
            )
        self.fields = frozenset(str(f) for f in fields)
        self.patterns = tuple(str(p) for p in patterns)
        try:
            self._regex = (
                re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE)
                if self.patterns
                else None
            )
        except re.error as exc:
            raise ConfigurationError(
                f"The 'patterns' parameter of Redactor holds an invalid regex: {exc}"
            ) from exc
        self.reveal = bool(reveal)

    def is_sensitive(self, name: Any) -> bool:
        """True when values of field ``name`` must be hidden."""
        if self.reveal:
            return False
        key = str(name)
        return key in self.fields or (self._regex is not None and bool(self._regex.search(key)))

    @property
    def active(self) -> bool:
        """True when anything would be hidden."""
        return not self.reveal and bool(self.fields or self.patterns)

    def value(self, name: Any, value: Any) -> Any:
        """``value``, or the marker if field ``name`` is sensitive."""
        return REDACTED if self.is_sensitive(name) else value

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a mapping with sensitive values replaced (nested mappings too)."""
        out: dict[str, Any] = {}
        for key, val in record.items():
            if self.is_sensitive(key):
                out[key] = REDACTED
            elif isinstance(val, Mapping):
                out[key] = self.record(val)
            else:
                out[key] = val
        return out

    def row(self, names: Iterable[Any], values: Iterable[Any]) -> dict[str, Any]:
        """A record built from parallel column names and values, redacted."""
        return {str(n): self.value(n, v) for n, v in zip(names, values)}

    def error(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A validation error entry (``loc``, ``input``, ``msg``...) with its input hidden
        when any part of its location names a sensitive field."""
        out = dict(entry)
        loc = entry.get("loc", ())
        parts = loc if isinstance(loc, (list, tuple)) else (loc,)
        if any(self.is_sensitive(p) for p in parts):
            if "input" in out:
                out["input"] = REDACTED
            if "ctx" in out:
                out["ctx"] = REDACTED
        return out

    def __repr__(self) -> str:
        return f"Redactor(fields={sorted(self.fields)!r}, patterns={list(self.patterns)!r}" + (
            ", reveal=True)" if self.reveal else ")"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Redactor)
            and other.fields == self.fields
            and other.patterns == self.patterns
            and other.reveal == self.reveal
        )

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "fields": sorted(self.fields),
            "patterns": list(self.patterns),
            "reveal": self.reveal,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Redactor:
        return cls(fields=state["fields"], patterns=state["patterns"], reveal=state["reveal"])


def scrub_details(detail: Any, secrets: Mapping[int, Iterable[str]]) -> Any:
    """``detail`` (an ``(n_samples,)`` object array of str or None) with each row's
    sensitive raw values replaced by [`REDACTED`][]; the same array when nothing changed.

    The validating layer collects the raw values of sensitive fields per row (it leaves
    them in ``call.validation.secrets``); layers that write messages validation
    never saw (a model or fallback stage whose exception quotes its input) scrub with them.
    """
    out = detail
    for i, values in secrets.items():
        text = detail[i] if 0 <= i < len(detail) else None
        if not isinstance(text, str):
            continue
        clean = text
        for value in values:
            if value:
                clean = clean.replace(value, REDACTED)
        if clean != text:
            if out is detail:
                out = detail.copy()
            out[i] = clean
    return out
