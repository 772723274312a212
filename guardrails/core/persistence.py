"""Save and load fitted guards as plain data: JSON for structure, ``.npy`` for arrays.

An artifact is one zip file holding ``guard.json`` and ``arrays/<key>.npy`` members.
Nothing is pickled: arrays load with ``allow_pickle=False`` and only types registered
with [`persistable`][] can be named in ``guard.json``, so loading a file can't run code.
Objects that are code rather than data (the model, a schema class, rule functions, a
review queue) are not stored; the artifact names them and [`load`][] takes them back
by keyword. Writes are atomic: a crash leaves the old file or the new, never half.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ArtifactError
from guardrails.core.text import truncate as _short

if sys.platform != "win32":  # advisory locks tell a killed save's temp file from a live one
    import fcntl

__all__ = ["FORMAT", "FORMAT_VERSION", "Decoder", "Encoder", "Persistable", "persistable"]

FORMAT = "guardrails.guard"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 16 * 2**20
"""The largest ``guard.json`` a guard may hold, uncompressed."""
MAX_ARRAY_BYTES = 2 * 2**30
"""The largest array a guard may hold, uncompressed."""
MAX_ARTIFACT_BYTES = 4 * 2**30
"""The most array data one artifact may declare, all arrays together."""
MAX_RATIO = 100
"""How far a member larger than ``RATIO_FLOOR`` may deflate (uncompressed to
compressed); ``write`` stores uncompressed what would deflate further."""
RATIO_FLOOR = 4 * 2**20
_ARRAY_KEY = re.compile(r"^a[0-9]{1,6}$")
_TEMP_NAME = re.compile(r"^\.[A-Za-z0-9_]+\.tmp$")
_MAX_DIMS = 64
_MAX_NPY_HEADER = 65536 + 12
_CHUNK = 2**20

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
            f"the artifact names an unknown type {_short(name)}; refusing to load it. Known types: "
            f"{', '.join(sorted(_REGISTRY))}."
        ) from None


class Encoder:
    """Collects arrays and named references while components describe themselves."""

    def __init__(self) -> None:
        self.arrays: dict[str, NDArray[Any]] = {}
        self.refs: dict[str, str] = {}
        self.shown: dict[str, dict[str, str]] = {}

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

    def ref(
        self, name: str, description: str, obj: Any = None, *, shown: str = "repr"
    ) -> dict[str, str]:
        """A placeholder for an object that load() must be given as ``name=...``.

        ``obj`` is the object itself when the guard's repr shows it (``shown="repr"``: its
        repr, ``"type"``: its class name); load() puts the passed object's text in its place.
        """
        self.refs[name] = description
        if obj is not None:
            self.shown[name] = {"text": shown_text(obj, shown), "as": shown}
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
            raise ArtifactError(f"the artifact refers to a missing array {_short(key)}")
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
            raise ArtifactError(f"malformed state for {_short(spec['type'])}")
        try:
            return cls._from_state(state, self, **extra)
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(
                f"invalid saved state for {_short(spec['type'])}: {_short(str(exc), 300)}"
            ) from exc

    def ref(self, spec: Any) -> Any:
        """The object passed to load() under the name this placeholder gives."""
        if not isinstance(spec, dict) or not isinstance(spec.get("$ref"), str):
            raise ArtifactError(f"malformed reference in artifact: {str(spec)[:80]!r}")
        name = spec["$ref"]
        if name not in self._objects:
            shown = _short(name)
            raise ArtifactError(
                f"this artifact needs {shown}: pass it to load(..., {shown[1:-1]}=...). "
                "Code and models are never stored in the file."
            )
        return self._objects[name]


def write(path: str | os.PathLike[str], manifest: dict[str, Any], enc: Encoder) -> Path:
    """Write ``manifest`` and ``enc``'s arrays to ``path`` atomically.

    Temporary files that an earlier save of the same artifact left behind when it was
    killed are removed first (a temp file whose writer still runs is kept: it holds a lock).
    """
    target = Path(path)
    body = dict(manifest)
    body["format"] = FORMAT
    body["format_version"] = FORMAT_VERSION
    body["arrays"] = {
        key: {"dtype": arr.dtype.str, "shape": list(arr.shape)} for key, arr in enc.arrays.items()
    }
    body["refs"] = enc.refs
    body["shown"] = enc.shown
    text = json.dumps(body, indent=1, sort_keys=True, allow_nan=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temp_files(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        _lock(fd)
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("guard.json", text)
                for key, arr in enc.arrays.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                    data = buf.getvalue()
                    zf.writestr(f"arrays/{key}.npy", data, compress_type=_compression_for(data))
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def _compression_for(data: bytes) -> int:
    """Deflate, unless the member would deflate past ``MAX_RATIO`` (then stored).

    A legitimate but very regular array (a long run of zeros) would otherwise look like a
    deflate bomb to ``read``; small members are never checked, nor refused.
    """
    if len(data) <= RATIO_FLOOR:
        return zipfile.ZIP_DEFLATED
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    packed = len(packer.compress(data)) + len(packer.flush())
    return zipfile.ZIP_STORED if len(data) > MAX_RATIO * max(packed, 1) else zipfile.ZIP_DEFLATED


def _lock(fd: int) -> None:
    """Hold an exclusive lock on a temp file while it is written (released when closed)."""
    if sys.platform != "win32":
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def sweep_stale_temp_files(target: Path) -> list[Path]:
    """Remove the temp files a killed save of ``target`` left in its folder.

    A temp file is stale when no process holds its lock (a live writer always does) and it
    was last written over a second ago (a file created an instant ago may not be locked yet).
    Where file locks are not available, only temp files older than an hour are removed.
    Returns the paths removed. Temp files of other artifacts are never touched.
    """
    removed: list[Path] = []
    try:
        candidates = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        if not _TEMP_NAME.match(tmp.name[len(target.name) + 1 :]):
            continue
        try:
            age = now - tmp.stat().st_mtime
            if sys.platform == "win32":  # pragma: no cover - no advisory locks there
                if age > 3600:
                    tmp.unlink()
                    removed.append(tmp)
                continue
            if age < 1.0:
                continue
            fd = os.open(tmp, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its writer is alive
        else:
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
        finally:
            os.close(fd)
    return removed


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Read and check an artifact; nothing in it is executed.

    What may be inflated is bounded before anything is inflated: the manifest's array table
    declares every array's dtype and shape, so the artifact's uncompressed size is known
    (``MAX_ARTIFACT_BYTES`` at most); every member must declare in the zip directory
    the size the manifest gives it, and must not deflate past ``MAX_RATIO`` to one.
    Members are then read in chunks of at most 1 MiB into buffers of their declared size,
    never past it, so a forged archive costs at most the memory its manifest declares.

    Raises:
        ArtifactError: not a guard artifact, a newer format, a member that is not plain
            data, an array bigger or smaller than declared, over a size or ratio limit.
    """
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"no saved guard at {_short(str(p))}")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArtifactError(f"{_short(str(p))} is not a saved guard (not a zip archive)") from exc
    with zf:
        infos = {info.filename: info for info in zf.infolist()}
        if "guard.json" not in infos:
            raise ArtifactError(f"{_short(str(p))} is not a saved guard (no guard.json)")
        for info in infos.values():
            _check_member(info)
        if infos["guard.json"].file_size > MAX_MANIFEST_BYTES:
            raise ArtifactError("guard.json is larger than any guard writes; refusing it")
        raw = _read_member(zf, infos["guard.json"], infos["guard.json"].file_size)
        try:
            manifest = json.loads(raw)
        except RecursionError:
            raise ArtifactError("guard.json is nested deeper than any guard writes") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"guard.json is not valid JSON: {_short(str(exc))}") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArtifactError(f"{_short(str(p))} is not a guardrails artifact (wrong format tag)")
        version = manifest.get("format_version")
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or not 1 <= version <= FORMAT_VERSION
        ):
            raise ArtifactError(
                f"artifact format version {_short(version)} is not supported by this "
                f"guardrails (it reads versions 1 to {FORMAT_VERSION})"
            )
        declared = manifest.get("arrays", {})
        if not isinstance(declared, dict):
            raise ArtifactError("malformed array table in guard.json")
        allowed = {"guard.json"} | {f"arrays/{k}.npy" for k in declared if isinstance(k, str)}
        extra = set(infos) - allowed
        if extra:
            raise ArtifactError(
                f"unexpected members in artifact: {[_short(n) for n in sorted(extra)[:5]]}"
            )
        plans = {key: _declared(key, meta) for key, meta in declared.items()}
        budget = sum(need for need, _, _ in plans.values())
        if budget > MAX_ARTIFACT_BYTES:
            raise ArtifactError(
                f"the artifact declares {budget} bytes of arrays; the limit is "
                f"{MAX_ARTIFACT_BYTES}. Refusing it before inflating anything."
            )
        for key, (need, _, _) in plans.items():
            _check_member_size(key, need, infos)
        arrays: dict[str, NDArray[Any]] = {}
        for key, (need, dtype, shape) in plans.items():
            arrays[key] = _read_array(zf, infos[f"arrays/{key}.npy"], key, need, dtype, shape)
    return manifest, arrays


def shown_text(obj: Any, shown: str) -> str:
    """How the guard's repr shows ``obj``: its repr, or its class name in ``Stage(Name, ...``."""
    return f"({type(obj).__name__}," if shown == "type" else repr(obj)


def preview(arr: NDArray[Any] | None, items: int = 5) -> str:
    """A short description of an array: its first few elements, its length and dtype.

    Error messages that quote an array read from a file use this, so a forged array of a
    billion elements costs a few bytes of message, not gigabytes.
    """
    if arr is None:
        return "None"
    flat = np.asarray(arr).ravel()
    head = ", ".join(_short(v.item() if hasattr(v, "item") else v, 40) for v in flat[:items])
    more = f", ... ({flat.size} in all)" if flat.size > items else ""
    return f"[{head}{more}]"


def _check_member(info: zipfile.ZipInfo) -> None:
    """Refuse a member stored in a way guardrails never writes, or that deflates too far."""
    name = _short(info.filename)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArtifactError(
            f"member {name} uses compression method {info.compress_type}; guardrails writes "
            "only stored or deflated members. Refusing it."
        )
    if info.flag_bits & 0x1:
        raise ArtifactError(f"member {name} is encrypted; refusing it")
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ArtifactError(
            f"member {name} would inflate {info.compress_size} bytes to {info.file_size}, past "
            f"the {MAX_RATIO}:1 compression-ratio limit; refusing it before inflating (a "
            "deflate bomb?)"
        )


def _declared(key: Any, meta: Any) -> tuple[int, Any, list[int]]:
    """The (bytes, dtype, shape) the manifest declares for one array, checked for sense."""
    if not isinstance(key, str) or not _ARRAY_KEY.match(key) or not isinstance(meta, dict):
        raise ArtifactError(f"malformed array entry {_short(key)}")
    shape = meta.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMS
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
    ):
        raise ArtifactError(f"array {key!r} declares a malformed shape {_short(shape)}")
    descr = meta.get("dtype")
    if not isinstance(descr, str) or len(descr) > 16:
        raise ArtifactError(f"array {key!r} declares a malformed dtype {_short(descr)}")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise ArtifactError(f"array {key!r} declares an unknown dtype {_short(descr)}") from None
    if dtype.hasobject or dtype.str != descr:
        raise ArtifactError(f"array {key!r} is not plain data: dtype {_short(descr)}")
    count = 1
    for side in shape:
        count *= side
    need = count * dtype.itemsize
    if need > MAX_ARRAY_BYTES:
        raise ArtifactError(f"array {key!r} declares {need} bytes; the limit is {MAX_ARRAY_BYTES}")
    return need, dtype, shape


def _check_member_size(key: str, need: int, infos: Mapping[str, zipfile.ZipInfo]) -> None:
    """The zip directory must give the member the size its manifest entry declares."""
    member = f"arrays/{key}.npy"
    if member not in infos:
        raise ArtifactError(f"array {key!r} is declared but missing")
    size = infos[member].file_size
    if not need < size <= need + _MAX_NPY_HEADER:
        raise ArtifactError(
            f"array {key!r} declares {need} bytes of data but its member holds {size}; "
            "refusing it before inflating"
        )


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int) -> bytes:
    """All ``size`` bytes of a member, read in bounded chunks; never more."""
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while len(out) < size:
                chunk = fh.read(min(_CHUNK, size - len(out)))
                if not chunk:
                    break
                out += chunk
            if fh.read(1):
                raise ArtifactError(f"member {_short(info.filename)} holds more than it declares")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ArtifactError(
            f"member {_short(info.filename)} is damaged: {_short(str(exc))}"
        ) from exc
    if len(out) != size:
        raise ArtifactError(f"member {_short(info.filename)} holds less than it declares")
    return bytes(out)


def _read_array(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, need: int, dtype: Any, shape: Any
) -> NDArray[Any]:
    """The array of member ``info``, checked against its declared dtype and shape first.

    The ``.npy`` header is parsed from the member's first bytes; only when it agrees with
    the manifest is a buffer of the declared size allocated and filled chunk by chunk.
    """
    try:
        with zf.open(info) as fh:
            head = fh.read(min(info.file_size, _MAX_NPY_HEADER))
            buf = io.BytesIO(head)
            offset, fortran = _check_array_header(key, buf, dtype, shape)
            if info.file_size != offset + need:
                raise ArtifactError(
                    f"array {key!r} declares {need} bytes of data after a {offset}-byte header "
                    f"but its member holds {info.file_size} bytes; refusing it"
                )
            data = bytearray(need)
            view = memoryview(data)
            pos = len(head) - offset
            view[:pos] = head[offset:]
            while pos < need:
                chunk = fh.read(min(_CHUNK, need - pos))
                if not chunk:
                    raise ArtifactError(
                        f"array {key!r} holds {pos} bytes of data, fewer than the {need} declared"
                    )
                view[pos : pos + len(chunk)] = chunk
                pos += len(chunk)
            if fh.read(1):
                raise ArtifactError(f"array {key!r} holds more data than it declares")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ArtifactError(f"array {key!r} is damaged: {_short(str(exc))}") from exc
    flat = np.frombuffer(data, dtype=dtype)
    return flat.reshape(tuple(shape), order="F" if fortran else "C")


def _check_array_header(key: str, buf: io.BytesIO, dtype: Any, shape: Any) -> tuple[int, bool]:
    """Parse an ``.npy`` header; it must promise exactly the manifest's dtype and shape.

    Checked before anything is allocated: a forged header declaring a huge shape would
    otherwise make the reader allocate that much memory before it noticed the data is short.
    Returns the header's length and whether the data is in Fortran order.
    """
    try:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(buf)
        elif version == (2, 0):
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(buf)
        else:
            raise ArtifactError(f"array {key!r} has an unsupported .npy version {version}")
    except ArtifactError:
        raise
    except (ValueError, TypeError, SyntaxError, OverflowError) as exc:
        raise ArtifactError(f"array {key!r} is not plain data: {_short(str(exc))}") from exc
    if got_dtype.hasobject:
        raise ArtifactError(f"array {key!r} is not plain data: it holds Python objects")
    if got_dtype != dtype or got_dtype.str != dtype.str or list(got_shape) != list(shape):
        raise ArtifactError(
            f"array {key!r} does not match its declared dtype and shape (header: "
            f"{_short(tuple(got_shape))} of {got_dtype.str}; manifest: {_short(tuple(shape))} "
            f"of {dtype.str}); refusing it"
        )
    return buf.tell(), bool(fortran)


Rebuild = Callable[[dict[str, Any], Decoder], Any]
