"""Settings of the Monitored layer: validating them, and saving and loading them.

``check_settings`` is used by ``Monitored`` and by the builder (before any layer
exists); ``settings_state`` and ``settings_from_state`` are what a saved ``Monitored``
stores and reads back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guardrails.core.errors import ConfigurationError
from guardrails.monitoring.actions import _actions
from guardrails.monitoring.changepoint import PageHinkley
from guardrails.monitoring.drift import DriftProfile, check_min_effect, check_test_settings
from guardrails.monitoring.reference import KS_METHODS, MIN_EFFECT

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["check_settings", "settings_from_state", "settings_state"]


def check_settings(
    *,
    profile: Any,
    window: Any,
    mode: Any,
    step: Any,
    tests: Any,
    alpha: Any,
    correction: Any,
    thresholds: Any,
    ks_method: Any,
    action: Any,
    recovery: Any,
    detector: Any,
    logger: Any,
    false_alarms: Any = None,
    per_rows: Any = 1_000_000,
    min_effect: Any = MIN_EFFECT,
) -> dict[str, Any]:
    """Validate the settings (also used by the builder, before any layer exists)."""
    owner = "Monitored"
    if not isinstance(profile, DriftProfile):
        raise ConfigurationError(
            f"The 'profile' parameter of {owner} must be a DriftProfile (see "
            f"DriftProfile.from_data). Got {type(profile).__name__} instead."
        )
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ConfigurationError(
            f"The 'window' parameter of {owner} must be an int >= 2. Got {window!r} instead."
        )
    if mode not in ("sliding", "tumbling"):
        raise ConfigurationError(
            f"The 'mode' parameter of {owner} must be 'sliding' or 'tumbling'. "
            f"Got {mode!r} instead."
        )
    if step is None:
        step = window // 4 if window % 4 == 0 else window
    if isinstance(step, bool) or not isinstance(step, int) or step < 1 or window % step:
        raise ConfigurationError(
            f"The 'step' parameter of {owner} must be an int >= 1 that divides window "
            f"({window}). Got {step!r} instead."
        )
    if isinstance(recovery, bool) or not isinstance(recovery, int) or recovery < 1:
        raise ConfigurationError(
            f"The 'recovery' parameter of {owner} must be an int >= 1. Got {recovery!r}."
        )
    if detector is not None and not isinstance(detector, PageHinkley):
        raise ConfigurationError(
            f"The 'detector' parameter of {owner} must be a PageHinkley. Got {detector!r}."
        )
    if logger is not None and not callable(getattr(logger, "info", None)):
        raise ConfigurationError(
            f"The 'logger' parameter of {owner} must be a structlog-style logger. Got {logger!r}."
        )
    if isinstance(per_rows, bool) or not isinstance(per_rows, int) or per_rows < 1:
        raise ConfigurationError(
            f"The 'per_rows' parameter of {owner} must be an int >= 1. Got {per_rows!r}."
        )
    if false_alarms is not None and (
        isinstance(false_alarms, bool)
        or not isinstance(false_alarms, (int, float))
        or not false_alarms > 0
    ):
        raise ConfigurationError(
            f"The 'false_alarms' parameter of {owner} must be a float > 0 (expected false "
            f"drift declarations per 'per_rows' rows). Got {false_alarms!r} instead."
        )
    if alpha is not None and false_alarms is not None:
        raise ConfigurationError(
            f"{owner} takes 'alpha' (a level per window) or 'false_alarms' (a rate over "
            f"time), not both. Got alpha={alpha!r}, false_alarms={false_alarms!r}."
        )
    checked_step = step if mode == "sliding" else window
    if alpha is None:
        rate = 1.0 if false_alarms is None else float(false_alarms)
        alpha = min(0.5, rate * checked_step / per_rows)  # union bound over the windows
        false_alarms = rate
    alpha, correction, limits = check_test_settings(owner, tests, alpha, correction, thresholds)
    min_effect = check_min_effect(owner, min_effect)
    if ks_method not in KS_METHODS:
        raise ConfigurationError(
            f"The 'ks_method' parameter of {owner} must be one of {list(KS_METHODS)}. "
            f"Got {ks_method!r} instead."
        )
    return {
        "alpha": alpha,
        "correction": correction,
        "limits": limits,
        "step": step if mode == "sliding" else window,
        "actions": _actions(owner, action),
        "false_alarms": false_alarms,
        "min_effect": min_effect,
    }


def settings_state(m: Any, enc: Encoder) -> dict[str, Any]:
    """The saved state of the Monitored layer ``m``: its settings."""
    return {
        "profile": enc.component(m.profile),
        "window": m.window,
        "mode": m.mode,
        "step": m.step,
        "tests": list(m.tests),
        "alpha": m.alpha,
        "correction": m.correction,
        "thresholds": m.thresholds,
        "ks_method": m.ks_method,
        "false_alarms": m.false_alarms,
        "per_rows": m.per_rows,
        "min_effect": m.min_effect,
        "actions": [enc.component(a) for a in m.actions],
        "recovery": m.recovery,
        "detector": enc.component(m.detector),
        "performance": None if m.performance is None else enc.component(m.performance),
    }


def settings_from_state(state: dict[str, Any], dec: Decoder) -> dict[str, Any]:
    """The keyword arguments that rebuild a saved Monitored layer from ``state``."""
    perf = state.get("performance")
    return dict(
        profile=dec.component(state["profile"]),
        window=state["window"],
        mode=state["mode"],
        step=state["step"],
        tests=tuple(state["tests"]),
        alpha=None if state.get("false_alarms") is not None else state["alpha"],
        correction=state["correction"],
        thresholds=state["thresholds"],
        ks_method=state.get("ks_method", "asymp"),
        false_alarms=state.get("false_alarms"),
        per_rows=state.get("per_rows", 1_000_000),
        min_effect=state.get("min_effect", 0.0),
        action=[dec.component(a) for a in state["actions"]],
        recovery=state["recovery"],
        detector=dec.component(state["detector"]),
        performance=None if perf is None else dec.component(perf),
    )
