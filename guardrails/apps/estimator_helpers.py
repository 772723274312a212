"""Shared helpers of the scikit-learn estimators: input kinds, JSON settings, auto markers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.utils.validation import (
    check_is_fitted,
)

from guardrails.abstention.intervals import ConformalIntervals
from guardrails.abstention.online import AdaptiveConformal
from guardrails.abstention.policy import _Combined
from guardrails.builder import Guard
from guardrails.core.adapter import ModelAdapter
from guardrails.core.decisions import Decisions
from guardrails.core.errors import (
    ConfigurationError,
)
from guardrails.loading import artifact_bytes, load_bytes


def _is_records(X: Any) -> bool:
    """A list of dicts (or pydantic models): records that a schema validates."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and not _is_sequence(X[0])


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) or hasattr(value, "__array__")


def _is_frame(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns")


class _OutOfFold:
    """A 'model' that returns precomputed out-of-fold outputs for row indices.

    Cross-fitting feeds it ``(n, 1)`` integer arrays of row numbers, so a guard can be
    fitted on the outputs of models that never saw those rows.
    """

    def __init__(self, outputs: NDArray[Any]) -> None:
        self.outputs = outputs

    def __call__(self, index: NDArray[Any]) -> NDArray[Any]:
        out: NDArray[Any] = self.outputs[np.asarray(index)[:, 0]]
        return out


def _no_model(X: Any) -> NDArray[np.float64]:
    """A stand-in model for checking training rows against a schema (never scores)."""
    return np.zeros(len(X))


def _json_or_none(value: Any) -> Any:
    """``value`` when JSON can hold it as it is (settings without objects), else None."""
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value


def _to_json(value: Any) -> Any:
    """``value`` as JSON, with NaN and numpy scalars tagged so they come back as they were."""
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return {"$float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigurationError(
        f"save() stores markers and labels as JSON; {value!r} ({type(value).__name__}) is not "
        "one of None, a bool, a number or a string."
    )


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict) and "$float" in value:
        return float(value["$float"])
    return value


def _interval_nodes(policy: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every ``ConformalIntervals`` inside ``policy`` that reads the model inputs."""

    if isinstance(policy, ConformalIntervals):
        return [(prefix, policy)] if policy.uses_inputs else []
    if isinstance(policy, AdaptiveConformal):
        return _interval_nodes(policy.base, prefix + "base__")
    if isinstance(policy, _Combined):
        found: list[tuple[str, Any]] = []
        for i, p in enumerate(policy.policies):
            found += _interval_nodes(p, f"{prefix}{i}__")
        return found
    return []


def _unfitted(model: Any) -> bool:
    """An estimator (it has ``fit``) that has not been fitted."""
    if not (callable(getattr(model, "fit", None)) and hasattr(model, "get_params")):
        return False
    try:
        check_is_fitted(model)
    except Exception:  # sklearn's NotFittedError, or a model check_is_fitted cannot read
        return True
    return False


def _outputs(model: Any, X: Any) -> tuple[Any, NDArray[np.float64]]:
    """What the guard's adapter would read from ``model`` on ``X``, and its kind."""
    adapter = ModelAdapter(model)
    raw = np.asarray(adapter._method(X))
    if adapter.output == "labels":  # labels keep their type (strings, ints...)
        return adapter.output, raw.astype(object)
    return adapter.output, raw.astype(np.float64)


def _transplant(fitted: Guard, model: Any, objects: Mapping[str, Any]) -> Guard:
    """The fitted layers of ``fitted`` around another model with the same outputs."""
    return load_bytes(artifact_bytes(fitted), model=model, **objects)


_AUTO = "auto"


def _is_auto(marker: Any) -> bool:
    return isinstance(marker, str) and marker == _AUTO


def _auto_marker(classes: NDArray[Any]) -> Any:
    """A marker of the same kind as the class labels that is not one of them.

    Integers (and booleans): -1, or one below the smallest class when -1 is a class
    (one above the largest for unsigned labels); strings: "withheld" (with "_" added
    until it is not a class); floats: NaN; anything else: None.
    """
    kind = classes.dtype.kind
    values = classes.tolist()
    if kind == "O" and values and all(isinstance(v, str) for v in values):
        kind = "U"
    elif (
        kind == "O"
        and values
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    ):
        kind = "i"
    if kind == "u":
        return int(max(values)) + 1
    if kind in "ib":
        return -1 if -1 not in values else int(min(values)) - 1
    if kind in "US":
        marker = "withheld"
        while marker in values:
            marker += "_"
        return marker
    if kind == "f":
        return float("nan")
    return None


def _marked(d: Decisions, marker: Any) -> NDArray[Any]:
    """The prediction column with ``marker`` in withheld rows, in a dtype that holds both."""
    pred = np.asarray(d.prediction)
    if not d.abstained.any():
        return np.array(pred, copy=True)
    if marker is None or pred.dtype.kind == "O":
        out = pred.astype(object)
    else:
        out = pred.astype(np.result_type(pred.dtype, np.asarray(marker).dtype))
    out[d.abstained] = marker
    return out


def _n_splits(cv: Any) -> int:
    if isinstance(cv, int):
        return cv
    get: Callable[[], int] | None = getattr(cv, "get_n_splits", None)
    try:
        return int(get()) if get is not None else 2
    except TypeError:
        return 2
