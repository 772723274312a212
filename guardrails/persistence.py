"""Save and load fitted guards as plain data: JSON for structure, ``.npy`` for arrays.

An artifact is one zip file holding ``guard.json`` and ``arrays/<key>.npy`` members.
Nothing is pickled: arrays load with ``allow_pickle=False`` and only types registered
with [`persistable`][] can be named in ``guard.json``, so loading a file can't run code.
Objects that are code rather than data (the model, a schema class, rule functions, a
review queue) are not stored; the artifact names them and [`load`][] takes them back
by keyword. Writes are atomic: a crash leaves the old file or the new, never half.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from guardrails.errors import ArtifactError

__all__ = ["FORMAT", "FORMAT_VERSION", "Decoder", "Encoder", "Persistable", "persistable"]

FORMAT = "guardrails.guard"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_ARRAY_BYTES = 2 * 2**30
_ARRAY_KEY = re.compile(r"^a[0-9]{1,6}$")

_REGISTRY: dict[str, type[Any]] = {}

T = TypeVar("T", bound=type[Any])


@runtime_checkable
class Persistable(Protocol):
    """A component that can write its settings and fitted state as data."""

    def _to_state(self, enc: Encoder) -> dict[str, Any]: ...


def persistable(cls: T) -> T:
    """Class decorator: allow ``cls`` to be named in a saved guard.

    The class must implement ``_to_state(enc) -> dict`` and a classmethod
    ``_from_state(state, dec, ...)`` that rebuilds it.
    """
    key = cls.__name__
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise TypeError(f"two persistable classes are named {key!r}")
    _REGISTRY[key] = cls
    return cls


def registered(name: str) -> type[Any]:
    """The class registered under ``name``; [`ArtifactError`][] if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ArtifactError(
            f"the artifact names an unknown type {name!r}; refusing to load it. Known types: "
            f"{', '.join(sorted(_REGISTRY))}."
        ) from None


class Encoder:
    """Collects arrays and named references while components describe themselves."""

    def __init__(self) -> None:
        self.arrays: dict[str, NDArray[Any]] = {}
        self.refs: dict[str, str] = {}

    def array(self, value: NDArray[Any] | None) -> str | None:
        """Store ``value`` and return the key to put in the JSON state."""
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ArtifactError(
                "object arrays cannot be saved without pickle; store labels as str or numbers"
            )
        key = f"a{len(self.arrays)}"
        self.arrays[key] = arr
        return key

    def component(self, obj: Any) -> dict[str, Any]:
        """The typed state of a nested persistable component."""
        name = type(obj).__name__
        if _REGISTRY.get(name) is not type(obj):
            raise ArtifactError(
                f"{name} cannot be saved: it is not a persistable guardrails type. Pass it "
                "back to load() by name instead (see guardrails.load)."
            )
        return {"type": name, "state": obj._to_state(self)}

    def ref(self, name: str, description: str) -> dict[str, str]:
        """A placeholder for an object that load() must be given as ``name=...``."""
        self.refs[name] = description
        return {"$ref": name}


class Decoder:
    """Gives components their arrays, nested components and references back."""

    def __init__(self, arrays: Mapping[str, NDArray[Any]], objects: Mapping[str, Any]) -> None:
        self._arrays = arrays
        self._objects = objects

    def array(self, key: Any) -> NDArray[Any] | None:
        """The array stored under ``key`` (None stays None)."""
        if key is None:
            return None
        if not isinstance(key, str) or key not in self._arrays:
            raise ArtifactError(f"the artifact refers to a missing array {key!r}")
        return self._arrays[key]

    def required_array(self, key: Any) -> NDArray[Any]:
        """Like [`array`][] but the array must exist."""
        arr = self.array(key)
        if arr is None:
            raise ArtifactError("the artifact is missing a required array")
        return arr

    def component(self, spec: Any, **extra: Any) -> Any:
        """Rebuild a nested component from its typed state."""
        if not isinstance(spec, dict) or "type" not in spec or "state" not in spec:
            raise ArtifactError(f"malformed component in artifact: {str(spec)[:80]!r}")
        cls = registered(spec["type"])
        state = spec["state"]
        if not isinstance(state, dict):
            raise ArtifactError(f"malformed state for {spec['type']}")
        try:
            return cls._from_state(state, self, **extra)
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"invalid saved state for {spec['type']}: {exc}") from exc

    def ref(self, spec: Any) -> Any:
        """The object passed to load() under the name this placeholder gives."""
        if not isinstance(spec, dict) or not isinstance(spec.get("$ref"), str):
            raise ArtifactError(f"malformed reference in artifact: {str(spec)[:80]!r}")
        name = spec["$ref"]
        if name not in self._objects:
            raise ArtifactError(
                f"this artifact needs {name!r}: pass it to load(..., {name}=...). "
                "Code and models are never stored in the file."
            )
        return self._objects[name]


def write(path: str | os.PathLike[str], manifest: dict[str, Any], enc: Encoder) -> Path:
    """Write ``manifest`` and ``enc``'s arrays to ``path`` atomically."""
    target = Path(path)
    body = dict(manifest)
    body["format"] = FORMAT
    body["format_version"] = FORMAT_VERSION
    body["arrays"] = {
        key: {"dtype": arr.dtype.str, "shape": list(arr.shape)} for key, arr in enc.arrays.items()
    }
    body["refs"] = enc.refs
    text = json.dumps(body, indent=1, sort_keys=True, allow_nan=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("guard.json", text)
                for key, arr in enc.arrays.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                    zf.writestr(f"arrays/{key}.npy", buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Read and check an artifact; nothing in it is executed.

    Raises:
        ArtifactError: not a guard artifact, a newer format, a member that is not plain
            data, an array bigger than declared or over the size limit.
    """
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"no saved guard at {str(p)!r}")
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"{str(p)!r} is not a saved guard (not a zip archive)") from exc
    with zf:
        names = set(zf.namelist())
        if "guard.json" not in names:
            raise ArtifactError(f"{str(p)!r} is not a saved guard (no guard.json)")
        if zf.getinfo("guard.json").file_size > MAX_MANIFEST_BYTES:
            raise ArtifactError("guard.json is larger than any guard writes; refusing it")
        try:
            manifest = json.loads(zf.read("guard.json"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"guard.json is not valid JSON: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArtifactError(f"{str(p)!r} is not a guardrails artifact (wrong format tag)")
        version = manifest.get("format_version")
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or not 1 <= version <= FORMAT_VERSION
        ):
            raise ArtifactError(
                f"artifact format version {version!r} is not supported by this guardrails "
                f"(it reads versions 1 to {FORMAT_VERSION})"
            )
        declared = manifest.get("arrays", {})
        if not isinstance(declared, dict):
            raise ArtifactError("malformed array table in guard.json")
        allowed = {"guard.json"} | {f"arrays/{k}.npy" for k in declared}
        extra = names - allowed
        if extra:
            raise ArtifactError(f"unexpected members in artifact: {sorted(extra)[:5]}")
        arrays: dict[str, NDArray[Any]] = {}
        for key, meta in declared.items():
            arrays[key] = _read_array(zf, key, meta)
    return manifest, arrays


def _read_array(zf: zipfile.ZipFile, key: str, meta: Any) -> NDArray[Any]:
    if not _ARRAY_KEY.match(key) or not isinstance(meta, dict):
        raise ArtifactError(f"malformed array entry {key!r}")
    member = f"arrays/{key}.npy"
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise ArtifactError(f"array {key!r} is declared but missing") from None
    if info.file_size > MAX_ARRAY_BYTES:
        raise ArtifactError(
            f"array {key!r} is {info.file_size} bytes; the limit is {MAX_ARRAY_BYTES}"
        )
    with zf.open(member) as fh:
        data = fh.read(MAX_ARRAY_BYTES + 1)
    buf = io.BytesIO(data)
    try:
        _check_array_header(key, buf, len(data))
        buf.seek(0)
        arr = np.lib.format.read_array(buf, allow_pickle=False)
    except ValueError as exc:
        raise ArtifactError(f"array {key!r} is not plain data: {exc}") from exc
    if arr.dtype.str != meta.get("dtype") or list(arr.shape) != meta.get("shape"):
        raise ArtifactError(f"array {key!r} does not match its declared dtype and shape")
    return arr


def _check_array_header(key: str, buf: io.BytesIO, size: int) -> None:
    """Refuse an array whose header promises more data than the member holds.

    Checked before numpy allocates anything: a forged header declaring a huge shape would
    otherwise make the reader allocate that much memory before it noticed the data is short.
    """
    version = np.lib.format.read_magic(buf)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(buf)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(buf)
    else:
        raise ArtifactError(f"array {key!r} has an unsupported .npy version {version}")
    if dtype.hasobject:
        raise ArtifactError(f"array {key!r} is not plain data: it holds Python objects")
    count = 1
    for side in shape:
        count *= int(side)
    need = count * dtype.itemsize
    have = size - buf.tell()
    if need != have:
        raise ArtifactError(
            f"array {key!r} declares shape {tuple(shape)} of {dtype} ({need} bytes) but holds "
            f"{have} bytes; refusing it"
        )


Rebuild = Callable[[dict[str, Any], Decoder], Any]
