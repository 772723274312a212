"""How a guard is assembled: the slot order, the steps that unfit it, what a refit carries over.

Also the schema's secrets shared with the sinks outside a validating layer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from guardrails.abstention.policies import Abstaining
from guardrails.calibration.calibrators import (
    Calibrated,
)
from guardrails.core.layer import Layer
from guardrails.core.redaction import Redactor
from guardrails.monitoring.novelty import NoveltyGated
from guardrails.observability.observe import Logged
from guardrails.review.layer import Reviewed
from guardrails.validation.layer import Validated

__all__ = ["CANONICAL_ORDER"]

CANONICAL_ORDER: tuple[str, ...] = (
    "validate",
    "novelty",
    "calibrate",
    "abstain",
    "monitor",
    "fallback",
    "review",
    "log",
)
"""Slots of a guard, innermost first."""

_REFITTING: frozenset[str] = frozenset({"novelty", "calibrate", "abstain"})
"""Slots whose step, called after ``fit``, changes what was fitted."""


@dataclass(frozen=True)
class _Step:
    """One builder step: how to wrap the layer below, and how to show it."""

    slot: str
    build: Callable[[Layer], Layer]
    text: str


def _slot_of(layer: Layer) -> str | None:
    """The slot of a layer that learns at ``fit`` (None for the others)."""
    if isinstance(layer, Calibrated):
        return "calibrate"
    if isinstance(layer, Abstaining):
        return "abstain"
    if isinstance(layer, NoveltyGated):
        return "novelty"
    return None


def _carried(build: Callable[[Layer], Layer], fitted: Layer) -> Callable[[Layer], Layer]:
    """``build``, with what ``fitted`` learned copied in (never shared) after each build."""

    def carry(inner: Layer) -> Layer:
        layer = build(inner)
        if isinstance(layer, Calibrated) and isinstance(fitted, Calibrated):
            layer.calibrator = copy.deepcopy(fitted.calibrator)
        elif isinstance(layer, Abstaining) and isinstance(fitted, Abstaining):
            layer.policy = copy.deepcopy(fitted.policy)
        elif isinstance(layer, NoveltyGated) and isinstance(fitted, NoveltyGated):
            layer.gate = copy.copy(fitted.gate)
        return layer

    return carry


def _share_schema_secrets(top: Layer) -> None:
    """Sinks outside a validating layer hide what its schema declares sensitive.

    The review queue and the log get the validator's sensitive fields (its own redactor's
    plus the schema's ``SecretStr`` and ``sensitive`` fields) added to theirs, whatever
    order the builder steps were called in and whether or not a redactor was passed
    again; a stored record also has the values of keys the schema does not know (an extra
    or misspelled key such as ``api_keyy``) withheld. A sink's own ``reveal=True`` stays
    its opt-in.
    """
    layers = list(top.layers())
    validator = next((x for x in layers if isinstance(x, Validated)), None)
    if validator is None:
        return
    secret = validator.redactor
    for layer in layers:
        if isinstance(layer, (Reviewed, Logged)):
            own = layer.redactor
            layer.redactor = Redactor(
                fields=secret.fields | (own.fields if own is not None else frozenset()),
                patterns=dict.fromkeys(
                    (*secret.patterns, *(own.patterns if own is not None else ()))
                ),
                reveal=own is not None and own.reveal,
            )
        if isinstance(layer, Reviewed):
            layer.known_fields = frozenset(validator.schema.names)
