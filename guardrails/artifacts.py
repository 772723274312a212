"""Reading a saved guard: the objects it needs passed back, its steps' texts, its layers rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guardrails.core import persistence
from guardrails.core.errors import (
    ArtifactError,
)
from guardrails.core.layer import Layer
from guardrails.core.redaction import truncate
from guardrails.observability.telemetry import Metrics

__all__: list[str] = []


def _fresh_metrics() -> Any:
    return Metrics()


#: objects an artifact may name that load() makes afresh when they are not passed
_FRESH: dict[str, Callable[[], Any]] = {"metrics": _fresh_metrics}


def _needed_objects(manifest: dict[str, Any], objects: dict[str, Any]) -> dict[str, Any]:
    """``objects`` plus fresh registries; every other missing object named in one error."""
    refs = manifest.get("refs", {})
    if not isinstance(refs, dict):
        raise ArtifactError("malformed reference table in guard.json")
    given = dict(objects)
    missing: list[str] = []
    for name in refs:
        if name in given:
            continue
        if name in _FRESH:
            given[name] = _FRESH[name]()
        else:
            missing.append(str(name))
    if missing:
        names = [n if n.isidentifier() and len(n) <= 60 else truncate(n, 60) for n in missing]
        lines = "".join(
            f"\n  {shown}=...: {str(refs[name])[:120]}" for shown, name in zip(names, missing)
        )
        asked = ", ".join(f"{shown}=..." for shown in names)
        count = "an object" if len(missing) == 1 else f"{len(missing)} objects"
        raise ArtifactError(
            f"this artifact needs {count} that the file never stores (code and models): "
            f"pass load(path, model=..., {asked}).{lines}"
        )
    return given


def _shown_as_passed(text: str, manifest: dict[str, Any], objects: dict[str, Any]) -> str:
    """A saved step's text with each saved object's text replaced by the passed object's."""
    shown = manifest.get("shown", {})
    if not isinstance(shown, dict):
        return text
    for name, entry in shown.items():
        if not isinstance(entry, dict) or name not in objects:
            continue
        old, how = entry.get("text"), entry.get("as")
        if isinstance(old, str) and old and how in ("repr", "type"):
            text = text.replace(old, persistence.shown_text(objects[name], str(how)))
    return text


def _loader(dec: persistence.Decoder, spec: dict[str, Any]) -> Callable[[Layer], Layer]:
    def build(inner: Layer) -> Layer:
        layer = dec.component(spec, inner=inner)
        if not isinstance(layer, Layer):  # pragma: no cover - registered() checked the type
            raise ArtifactError("artifact step is not a layer")
        return layer

    return build
