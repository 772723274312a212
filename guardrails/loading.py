"""Saving and loading a guard: rebuild a saved artifact around its model, or ship it as bytes.

[`Guard.save`][guardrails.Guard.save] writes the artifact; this module reads it back. It sits
above the builder (it makes a [`Guard`][guardrails.Guard]) and below the applications.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from guardrails.artifacts import _loader, _needed_objects, _shown_as_passed
from guardrails.assembly import CANONICAL_ORDER, _Step
from guardrails.builder import Guard
from guardrails.core import persistence
from guardrails.core.errors import ArtifactError, ConfigurationError
from guardrails.core.layer import Layer
from guardrails.core.redaction import truncate

if TYPE_CHECKING:
    import os

__all__ = ["artifact_bytes", "load", "load_bytes"]


def load(path: str | os.PathLike[str], *, model: Any, **objects: Any) -> Guard:
    """Load a guard saved by [`Guard.save`][guardrails.Guard.save] around ``model``.

    Every object the artifact names but cannot store must be passed back by name, except
    a [`Metrics`][guardrails.observability.telemetry.Metrics] registry: omitted, it starts fresh.
    The
    loaded guard's repr shows the objects passed in.

    Args:
        path: the artifact file.
        model: the trained model the guard was fitted on (models are never stored).
        **objects: anything else the artifact names but cannot store (e.g. ``schema=``).

    Raises:
        ArtifactError: the file is not a guard artifact, was tampered with, names an
            unknown type, or does not match ``model``; or objects it needs were not
            passed (all of them are named in one error).
    """
    manifest, arrays = persistence.read(path)
    objects = _needed_objects(manifest, objects)
    dec = persistence.Decoder(arrays, objects)
    try:
        info = manifest["guard"]
        model_info = manifest["model"]
        steps = manifest["steps"]
        if not isinstance(steps, list):
            raise TypeError("steps is not a list")
        saved = dec.array(model_info.get("classes"))
        # a plain callable has no classes_ to check against: it gets the saved ones back
        given = saved if getattr(model, "classes_", None) is None else None
        g = Guard(
            model,
            output=model_info["output"],
            classes=given,
            name=str(info["name"]),
            version=str(info["version"]),
            allow_nan=bool(model_info.get("allow_nan", False)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"malformed guard artifact: {truncate(str(exc), 200)}") from exc
    except ConfigurationError as exc:
        raise ArtifactError(f"the model does not fit this artifact: {exc}") from exc
    have = g._adapter.classes_
    if (saved is None) != (have is None) or (
        saved is not None
        and have is not None
        and not np.array_equal(saved, have.astype(saved.dtype))
    ):
        raise ArtifactError(
            f"the model's classes {persistence.preview(have)} differ from the "
            f"saved guard's {persistence.preview(saved)}"
        )
    rebuilt: list[_Step] = []
    for entry in steps:
        if not isinstance(entry, dict) or entry.get("slot") not in CANONICAL_ORDER:
            raise ArtifactError(f"malformed step in artifact: {str(entry)[:80]!r}")
        spec = entry["layer"]
        if not isinstance(spec, dict) or not issubclass(
            persistence.registered(str(spec.get("type"))), Layer
        ):
            raise ArtifactError(f"step {entry['slot']!r} does not hold a guard layer")
        text = _shown_as_passed(str(entry.get("text", entry["slot"])), manifest, objects)
        rebuilt.append(_Step(entry["slot"], _loader(dec, spec), text))
    g._steps = {s.slot: s for s in rebuilt}
    g.build()
    g._fitted = True
    return g


def artifact_bytes(g: Guard) -> bytes:
    """The bytes of the artifact [`Guard.save`][guardrails.Guard.save] writes (to ship a guard)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "guard.zip"
        g.save(path)
        return path.read_bytes()


def load_bytes(blob: bytes, *, model: Any, **objects: Any) -> Guard:
    """[`load`][] from the bytes of an artifact, as [`artifact_bytes`][] gives them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "guard.zip"
        path.write_bytes(blob)
        return load(path, model=model, **objects)
