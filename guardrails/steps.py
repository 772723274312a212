"""The review and log steps: check a step's settings, say how to build its layer and its text.

[`Guard.review`][guardrails.Guard.review] and [`Guard.log`][guardrails.Guard.log] hand their
settings here; the builder adds the step this returns to a new guard.
"""

from __future__ import annotations

import copy
from typing import Any

from guardrails.assembly import _Step
from guardrails.core.adapter import ModelAdapter
from guardrails.core.layer import Layer
from guardrails.observability.observe import MAX_ROW_EVENTS, Logged
from guardrails.observability.observe import check_settings as check_log_settings
from guardrails.review.layer import Reviewed

__all__: list[str] = []

_REVIEW_DEFAULTS = {
    "audit_rate": 0.0,
    "priority": "uncertainty",
    "provisional": False,
    "data_quality_cap": 100,
    "data_quality_window": 3600.0,
    "audit_favour": 0.0,
    "on_budget": "withhold",
}


def review_step(adapter: ModelAdapter, settings: dict[str, Any], name: str, version: str) -> _Step:
    """The review step: ``settings`` are checked now (on ``adapter``), not at first use."""
    Reviewed(adapter, **settings)  # refuse bad settings now, not at first use
    redactor, budget = settings["redactor"], settings["budget"]

    def build(inner: Layer) -> Layer:
        return Reviewed(
            inner,
            **{
                **settings,
                "redactor": copy.deepcopy(redactor),
                "budget": copy.deepcopy(budget),
            },
            guard_name=name,
            version=version,
        )

    defaults = _REVIEW_DEFAULTS
    text = ", ".join(
        [repr(settings["queue"])]
        + [
            f"{k}={getattr(v, '__qualname__', v)!r}"
            for k, v in settings.items()
            if k != "queue"
            and v is not None
            and (type(v) is not type(defaults.get(k)) or v != defaults.get(k))
        ]
    )
    return _Step("review", build, text)


def log_step(settings: dict[str, Any], name: str, version: str) -> _Step:
    """The log step: ``settings`` (the arguments of ``Guard.log``) are checked now."""
    check_log_settings(**settings, owner="log()")
    logger, redactor = settings["logger"], settings["redactor"]
    text = ", ".join(
        f"{k}={v!r}"
        for k, v in settings.items()
        if k != "logger"
        and v is not False
        and not (k == "sample" and v == 0.0)
        and not (k == "max_row_events" and v == MAX_ROW_EVENTS)
        and (v is not None or k == "max_row_events")
    )
    return _Step(
        "log",
        lambda inner: Logged(
            inner,
            logger=logger,
            redactor=copy.deepcopy(redactor),
            guard_name=name,
            version=version,
            sample=settings["sample"],
            details=settings["details"],
            metrics=settings["metrics"],
            alerts=settings["alerts"],
            max_row_events=settings["max_row_events"],
        ),
        text,
    )
