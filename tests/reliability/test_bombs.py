"""Deflate bombs and other files that would cost memory: refused within a stated budget.

The bombs are built in a streamed way (one deflated block of zeros written again and again),
so making a 1 GiB bomb costs the test a few megabytes and well under a second of CPU.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardrails import ArtifactError, DriftProfile, confidence_below, guard, load
from guardrails.core import persistence

GIB = 2**30
BLOCK = bytes(2**20)


class _RepeatingDeflate:
    """Deflates as zipfile does, but packs the repeated zero block only once.

    After a full flush a deflate stream refers to nothing before it, so the packed bytes
    of one block of zeros are the same wherever the block falls in the stream.
    """

    def __init__(self) -> None:
        self._z = zlib.compressobj(9, zlib.DEFLATED, -15)
        self._packed: bytes | None = None

    def compress(self, data: Any) -> bytes:
        if len(data) == len(BLOCK) and data == BLOCK:
            if self._packed is None:
                self._packed = self._z.compress(data) + self._z.flush(zlib.Z_FULL_FLUSH)
            return self._packed
        return self._z.compress(data) + self._z.flush(zlib.Z_FULL_FLUSH)

    def flush(self) -> bytes:
        return self._z.flush()


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _zeros(n_bytes: int) -> Iterator[bytes]:
    for _ in range(n_bytes // len(BLOCK)):
        yield BLOCK


def make_bomb(src: Path, dst: Path, *, n_bytes: int, key: str = "a0", declare: bool = True) -> Path:
    """``src`` with array ``key`` replaced by ``n_bytes`` of zeros, deflated to ~1/1000.

    With ``declare`` the manifest declares the bomb's true dtype and shape (the hardest
    case: every size agrees and only the ratio and the budget stand in its way).
    """
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    shape = (n_bytes // 8,)
    if declare:
        manifest = json.loads(members["guard.json"])
        manifest["arrays"][key] = {"dtype": "<f8", "shape": list(shape)}
        members["guard.json"] = json.dumps(manifest).encode()
    original = zipfile._get_compressor  # type: ignore[attr-defined]
    zipfile._get_compressor = lambda *a, **k: _RepeatingDeflate()  # type: ignore[attr-defined]
    try:
        with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                if name != f"arrays/{key}.npy":
                    zf.writestr(name, data)
                    continue
                with zf.open(name, "w") as fh:
                    fh.write(_npy_header(shape))
                    for block in _zeros(n_bytes):
                        fh.write(block)
    finally:
        zipfile._get_compressor = original  # type: ignore[attr-defined]
    return dst


def _proba(X: Any) -> Any:
    return np.tile([0.3, 0.7], (len(X), 1))


@pytest.fixture(scope="module")
def small_guard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bombs")
    g = guard(_proba, output="proba", classes=[0, 1]).abstain(confidence_below(0.6))
    return g.save(folder / "small.guard")


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from guardrails import ArtifactError, load

    def model(X):
        return np.tile([0.3, 0.7], (len(X), 1))

    # a safety net: a regression dies of MemoryError instead of taking the machine's memory
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) for line in fh if line.startswith("VmSize:"))
    limit = (vm + 1024 * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load(sys.argv[1], model=model)
        outcome, message = "loaded", ""
    except ArtifactError as exc:
        outcome, message = "refused", str(exc)
    except MemoryError:
        outcome, message = "MemoryError", ""
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "message": message[:2000],
                      "message_len": len(message), "extra_kib": after - before}))
    """
)


def _load_in_child(path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(persistence.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(sys.platform != "linux", reason="reads ru_maxrss and /proc as Linux has them")
@pytest.mark.timeout(120)
def test_a_1_gib_deflate_bomb_is_refused_with_under_300_mb_of_extra_memory(
    small_guard: Path, tmp_path: Path
) -> None:
    bomb = make_bomb(small_guard, tmp_path / "bomb.guard", n_bytes=GIB)
    assert bomb.stat().st_size < 2 * 2**20  # about a megabyte on disk
    result = _load_in_child(bomb)
    assert result["outcome"] == "refused", result
    assert "compression-ratio" in result["message"]
    assert result["extra_kib"] < 300 * 1024, result
    assert result["message_len"] < 1000


def test_a_bomb_the_manifest_does_not_declare_is_refused_before_inflating(
    small_guard: Path, tmp_path: Path
) -> None:
    bomb = make_bomb(small_guard, tmp_path / "b.guard", n_bytes=64 * 2**20, declare=False)
    with pytest.raises(ArtifactError, match="refusing it before inflating"):
        load(bomb, model=_proba)


def test_a_bomb_under_the_ratio_floor_is_refused_by_its_declared_size(
    small_guard: Path, tmp_path: Path
) -> None:
    bomb = make_bomb(small_guard, tmp_path / "b.guard", n_bytes=2 * 2**20, declare=False)
    with pytest.raises(ArtifactError, match="declares 16 bytes of data but its member holds"):
        load(bomb, model=_proba)


def test_arrays_declared_past_the_artifact_budget_are_refused_before_reading(
    small_guard: Path, tmp_path: Path
) -> None:
    """Three 1.5 GiB arrays, each under the per-array limit, add up past the budget."""
    with zipfile.ZipFile(small_guard) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["guard.json"])
    for key in ("a7", "a8", "a9"):
        manifest["arrays"][key] = {"dtype": "<f8", "shape": [3 * GIB // 16]}
        members[f"arrays/{key}.npy"] = b"\x93NUMPY"
    members["guard.json"] = json.dumps(manifest).encode()
    path = tmp_path / "budget.guard"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ArtifactError, match="of arrays; the limit is"):
        load(path, model=_proba)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_member_compressed_with_another_method_is_refused(
    small_guard: Path, tmp_path: Path, method: int
) -> None:
    with zipfile.ZipFile(small_guard) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    path = tmp_path / "other.guard"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=method if name != "guard.json" else None)
    with pytest.raises(ArtifactError, match="compression method"):
        load(path, model=_proba)


def test_a_regular_array_past_the_ratio_floor_is_saved_stored_and_loads_back(
    tmp_path: Path,
) -> None:
    """A legitimate run of zeros would deflate like a bomb: the writer stores it instead."""
    enc = persistence.Encoder()
    zeros = np.zeros(2 * persistence.RATIO_FLOOR // 8)
    key = enc.array(zeros)
    path = persistence.write(tmp_path / "zeros.guard", {"x": key}, enc)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo(f"arrays/{key}.npy").compress_type == zipfile.ZIP_STORED
    manifest, arrays = persistence.read(path)
    np.testing.assert_array_equal(arrays[manifest["x"]], zeros)


def test_a_forged_array_of_a_million_classes_is_quoted_in_a_few_elements(
    tmp_path: Path, iris: dict[str, Any]
) -> None:
    saved = guard(iris["model"]).abstain(confidence_below(0.6)).save(tmp_path / "iris.guard")
    forged = np.arange(10**6, dtype=np.float64)
    with zipfile.ZipFile(saved) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["guard.json"])
    key = manifest["model"]["classes"]
    manifest["arrays"][key] = {"dtype": forged.dtype.str, "shape": [forged.size]}
    members["guard.json"] = json.dumps(manifest).encode()
    buf = io.BytesIO()
    np.lib.format.write_array(buf, forged, allow_pickle=False)
    members[f"arrays/{key}.npy"] = buf.getvalue()
    with zipfile.ZipFile(saved, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ArtifactError, match="differ from the saved guard's") as info:
        load(saved, model=iris["model"])
    assert len(str(info.value)) < 500
    assert "1000000 in all" in str(info.value)


def test_a_guard_around_a_plain_callable_loads_back_with_its_classes(small_guard: Path) -> None:
    g = load(small_guard, model=_proba)
    assert g.decide(np.zeros((3, 2))).prediction.tolist() == [1, 1, 1]


@pytest.mark.parametrize("which", ["guard", "profile"])
def test_a_manifest_nested_100000_deep_is_refused_as_an_artifact_error(
    small_guard: Path, tmp_path: Path, which: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    text = f'{{"format": "{persistence.FORMAT}", "format_version": 1, "x": {deep}}}'
    path = tmp_path / "deep.guard"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("guard.json", text)
    opener = (
        (lambda: load(path, model=_proba))
        if which == "guard"
        else (lambda: DriftProfile.load(path))
    )
    with pytest.raises(ArtifactError, match="nested deeper"):
        opener()
