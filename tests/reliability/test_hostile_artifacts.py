"""Hostile artifacts: an edited guard or drift profile is refused before anything in it runs.

The guard here holds every persistable layer on main (abstention, drift monitor with its
profile, actions and detector, fallback chain with triggers, stages and breakers, review
step), so each edit is tried against every component type the loader can meet.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import guardrails
from guardrails import (
    ArtifactError,
    CircuitBreaker,
    ConformalSets,
    Default,
    DriftProfile,
    MarkDrift,
    MemoryQueue,
    ModelStage,
    Redactor,
    Rule,
    Tighten,
    confidence_below,
    guard,
    load,
    on_abstain,
    on_error,
)
from guardrails.core.persistence import FORMAT_VERSION


def _rule(rows: Any) -> list[Any]:
    return [None] * len(rows)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, iris: dict[str, Any]) -> dict[str, Any]:
    """A saved guard with every persistable layer, a saved profile, and what load needs."""
    folder = tmp_path_factory.mktemp("artifacts")
    profile = DriftProfile.from_data(iris["X_train"])
    g = (
        guard(iris["model"], name="iris", version="1")
        .calibrate("temperature")
        .abstain(ConformalSets(alpha=0.1) | confidence_below(0.7))
        .monitor(profile, window=50, action=[Tighten(threshold=0.9), MarkDrift()])
        .fallback(
            ModelStage(iris["model"], name="backup", when=on_abstain()),
            Rule(_rule, name="rule", when=on_error()),
            Default(0),
            primary_breaker=CircuitBreaker(failure_threshold=3),
        )
        .review(MemoryQueue(), audit_rate=0.1, seed=0)
        .log(redactor=Redactor(fields=["ssn"]))
        .fit(iris["X_cal"], iris["y_cal"])
    )
    path = g.save(folder / "full.guard")
    profile_path = profile.save(folder / "profile.drift")
    objects = {"queue": MemoryQueue(), "backup": iris["model"], "rule": _rule}
    manifest = json.loads(zipfile.ZipFile(path).read("guard.json"))
    return {
        "path": path,
        "profile": profile_path,
        "model": iris["model"],
        "objects": {k: v for k, v in objects.items() if k in manifest["refs"]},
        "X": iris["X_test"],
    }


def _load(path: Path, full: dict[str, Any]) -> Any:
    return load(path, model=full["model"], **full["objects"])


def _open(which: str, path: Path, full: dict[str, Any]) -> Any:
    """Load ``path`` as a guard (``which="path"``) or as a drift profile."""
    return _load(path, full) if which == "path" else DriftProfile.load(path)


def _copy(src: Path, tmp_path: Path, *, mkdir: bool = False) -> Path:
    if mkdir:
        tmp_path.mkdir(parents=True, exist_ok=True)
    dst = tmp_path / src.name
    dst.write_bytes(src.read_bytes())
    return dst


def _rewrite(path: Path, edit: Any) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    edit(members)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _edit_manifest(path: Path, change: Any) -> None:
    def edit(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["guard.json"])
        change(manifest)
        members["guard.json"] = json.dumps(manifest).encode()

    _rewrite(path, edit)


def _typed_paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every (path, type name) of a typed component in a manifest."""
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and "state" in node:
            yield at, node["type"]
        for k, v in node.items():
            yield from _typed_paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _typed_paths(v, (*at, i))


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


def test_the_full_artifact_loads_and_decides(full: dict[str, Any]) -> None:
    g = _load(full["path"], full)
    assert len(g.decide(full["X"][:5])) == 5
    assert isinstance(DriftProfile.load(full["profile"]), DriftProfile)


def test_the_artifact_names_every_layer_type(full: dict[str, Any]) -> None:
    manifest = json.loads(zipfile.ZipFile(full["path"]).read("guard.json"))
    names = {name for _, name in _typed_paths(manifest)}
    want = {"Abstaining", "Monitored", "DriftProfile", "WithFallback", "Reviewed"}
    want |= {"CircuitBreaker", "Default", "PageHinkley", "Tighten", "MarkDrift"}
    want |= {"Calibrated", "TemperatureScaling", "ConformalSets", "Logged", "Redactor"}
    assert want <= names


def _component_cases(path: Path) -> list[tuple[tuple[Any, ...], str]]:
    manifest = json.loads(zipfile.ZipFile(path).read("guard.json"))
    return sorted(_typed_paths(manifest), key=lambda p: [str(s) for s in p[0]])


@pytest.mark.parametrize(
    "evil", ["os.system", "subprocess.Popen", "builtins.eval", "Guard", "ArtifactError"]
)
def test_an_unknown_type_anywhere_is_refused(
    full: dict[str, Any], tmp_path: Path, evil: str
) -> None:
    cases = _component_cases(full["path"])
    assert len(cases) >= 10
    for where, _name in cases:
        path = _copy(full["path"], tmp_path)
        _edit_manifest(path, lambda m, where=where: _at(m, where).update(type=evil))
        with pytest.raises(ArtifactError, match=re.escape(evil)):
            _load(path, full)


def test_a_component_swapped_for_another_known_type_is_refused(
    full: dict[str, Any], tmp_path: Path
) -> None:
    """A registered type in the wrong place gets a clear error, never a crash inside it."""
    for where, name in _component_cases(full["path"]):
        swap = "CircuitBreaker" if name != "CircuitBreaker" else "Default"
        path = _copy(full["path"], tmp_path)
        _edit_manifest(path, lambda m, where=where, swap=swap: _at(m, where).update(type=swap))
        with pytest.raises(ArtifactError):
            _load(path, full)


def test_an_unknown_type_in_a_drift_profile_is_refused(
    full: dict[str, Any], tmp_path: Path
) -> None:
    path = _copy(full["profile"], tmp_path)
    _edit_manifest(path, lambda m: m["profile"].update(type="os.system"))
    with pytest.raises(ArtifactError, match="does not hold a DriftProfile"):
        DriftProfile.load(path)


ESCAPES = [
    "../x",
    "../../etc/cron.d/evil",
    "/etc/passwd",
    "arrays/../../x.npy",
    "arrays/a0.npy/../../../x",
    "..\\..\\windows.ini",
    "arrays/a999.npy",
]


@pytest.mark.parametrize("member", ESCAPES)
@pytest.mark.parametrize("which", ["path", "profile"])
def test_a_member_outside_the_artifact_is_refused(
    full: dict[str, Any], tmp_path: Path, member: str, which: str
) -> None:
    path = _copy(full[which], tmp_path)
    _rewrite(path, lambda members: members.update({member: b"\x93NUMPY"}))
    with pytest.raises(ArtifactError, match="unexpected members"):
        _open(which, path, full)
    assert not (tmp_path.parent / "x").exists()


@pytest.mark.parametrize("key", ["../a0", "a0/../../x", "/abs", "a" * 8, ""])
def test_an_array_key_that_is_a_path_is_refused(
    full: dict[str, Any], tmp_path: Path, key: str
) -> None:
    path = _copy(full["path"], tmp_path)

    def edit(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["guard.json"])
        manifest["arrays"][key] = manifest["arrays"]["a0"]
        members["guard.json"] = json.dumps(manifest).encode()
        members[f"arrays/{key}.npy"] = members["arrays/a0.npy"]

    _rewrite(path, edit)
    with pytest.raises(ArtifactError, match=r"malformed array entry|unexpected members"):
        _load(path, full)


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "guardrails-pwned-marker"


class _Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {MARKER}",))


@pytest.mark.parametrize("which", ["path", "profile"])
def test_a_pickle_payload_never_runs(full: dict[str, Any], tmp_path: Path, which: str) -> None:
    MARKER.unlink(missing_ok=True)
    payload = pickle.dumps(_Exploit())
    attempts = []
    for member in ("guard.json", "arrays/a0.npy", "arrays/a1.npy"):
        path = _copy(full[which], tmp_path / member.replace("/", "_"), mkdir=True)
        _rewrite(path, lambda members, member=member: members.update({member: payload}))
        attempts.append(path)
    whole = tmp_path / "whole.pickle"
    whole.write_bytes(payload)
    attempts.append(whole)
    for path in attempts:
        with pytest.raises(ArtifactError):
            _open(which, path, full)
    assert not MARKER.exists(), "a pickle inside an artifact was executed"


def _npy(shape: tuple[int, ...], data: bytes, descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(_npy((10**11,), b"\0" * 24), id="header-declares-745GiB"),
        pytest.param(_npy((2**31, 2**31), b"\0" * 24), id="header-overflows"),
        pytest.param(_npy((3,), b"\0" * 8000), id="more-data-than-header"),
        pytest.param(_npy((3,), b"\0" * 8), id="less-data-than-header"),
        pytest.param(_npy((2,), b"\0" * 16, descr="|O"), id="object-dtype"),
    ],
)
@pytest.mark.parametrize("which", ["path", "profile"])
def test_an_array_whose_size_lies_is_refused_without_allocating_it(
    full: dict[str, Any], tmp_path: Path, forged: bytes, which: str
) -> None:
    path = _copy(full[which], tmp_path)
    _rewrite(path, lambda members: members.update({"arrays/a1.npy": forged}))
    with pytest.raises(ArtifactError, match="a1"):
        _open(which, path, full)


@pytest.mark.parametrize("shape", [[10**9], [7], [1, 1]])
@pytest.mark.parametrize("which", ["path", "profile"])
def test_a_declared_shape_that_differs_from_the_array_is_refused(
    full: dict[str, Any], tmp_path: Path, which: str, shape: list[int]
) -> None:
    path = _copy(full[which], tmp_path)
    _edit_manifest(path, lambda m: m["arrays"]["a1"].update(shape=shape))
    with pytest.raises(ArtifactError, match=r"a1' (declares|does not match its declared)"):
        _open(which, path, full)


@pytest.mark.parametrize("version", [0, -1, FORMAT_VERSION + 1, "1", 1.0, None, [1], True])
@pytest.mark.parametrize("which", ["path", "profile"])
def test_a_mismatched_format_version_is_refused(
    full: dict[str, Any], tmp_path: Path, version: Any, which: str
) -> None:
    path = _copy(full[which], tmp_path)
    _edit_manifest(path, lambda m: m.update(format_version=version))
    with pytest.raises(ArtifactError, match="format version"):
        _open(which, path, full)


def test_a_guard_is_not_a_profile_and_a_profile_is_not_a_guard(
    full: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match="does not hold a DriftProfile"):
        DriftProfile.load(full["path"])
    with pytest.raises(ArtifactError):
        _load(full["profile"], full)


def test_a_reference_to_an_object_not_given_is_refused(full: dict[str, Any]) -> None:
    with pytest.raises(ArtifactError, match="this artifact needs"):
        load(full["path"], model=full["model"])


# -- nothing in the package unpickles -----------------------------------------------------------

FORBIDDEN = re.compile(
    r"\bpickle\.loads?\s*\(|\bcPickle\.|\bjoblib\.load\s*\(|\bdill\.|\bcloudpickle\."
    r"|\bmarshal\.loads?\s*\(|allow_pickle\s*=\s*True|\bshelve\.open\s*\(|\btorch\.load\s*\("
    r"|from\s+pickle\s+import|import\s+pickle\b|\beval\s*\(|\bexec\s*\("
)
# The one exception: the audit CLI loads a model with joblib (which runs code) only when
# the user passes --loader joblib by name. Spark's partition states travel as .npz bytes
# read with allow_pickle=False, so spark.py holds no unpickling.
ALLOWED: dict[str, set[str]] = {
    "apps/audit_loading.py": {"return joblib.load(path)"},
}


def test_nothing_in_the_package_unpickles_or_evaluates_code() -> None:
    root = Path(guardrails.__file__).parent
    hits = []
    for source in sorted(root.rglob("*.py")):
        rel = source.relative_to(root).as_posix()
        for n, line in enumerate(source.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if FORBIDDEN.search(code) and code.strip() not in ALLOWED.get(rel, set()):
                hits.append(f"{rel}:{n}: {line.strip()}")
    assert hits == [], "\n".join(hits)


def test_the_one_joblib_load_runs_only_when_asked_by_name() -> None:
    from guardrails.apps import audit_loading

    source = Path(audit_loading.__file__).read_text()
    assert source.count("joblib.load(") == 1
    assert "def _load_joblib_runs_code(" in source
    calls = [line for line in source.splitlines() if "_load_joblib_runs_code(" in line]
    assert len(calls) == 2  # its definition and the one call under `loader == "joblib"`
