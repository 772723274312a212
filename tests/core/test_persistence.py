"""Saving and loading fitted guards: plain data only, tampering refused."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from guardrails import ArtifactError, NotFittedError, confidence_below, guard, load
from guardrails.core.persistence import FORMAT_VERSION


@pytest.fixture
def saved(tmp_path: Path, iris: dict[str, Any]) -> Path:
    g = guard(iris["model"], name="iris", version="3").abstain(
        confidence_below(0.7) | confidence_below(0.9)
    )
    return g.fit(iris["X_cal"], iris["y_cal"]).save(tmp_path / "iris.guard")


def _rewrite(path: Path, edit: Any) -> None:
    """Rewrite the artifact's members through ``edit(dict name -> bytes)``."""
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


def test_save_then_load_gives_identical_decisions(saved: Path, iris: dict[str, Any]) -> None:
    g = load(saved, model=iris["model"])
    original = guard(iris["model"]).abstain(confidence_below(0.7) | confidence_below(0.9))
    assert g.decide(iris["X_test"]) == original.decide(iris["X_test"])
    assert (g.guard_name, g.version) == ("iris", "3")
    assert repr(g) == repr(original)


def test_the_artifact_holds_no_pickle(saved: Path) -> None:
    with zipfile.ZipFile(saved) as zf:
        assert set(zf.namelist()) == {"guard.json"} | {
            n for n in zf.namelist() if n.startswith("arrays/")
        }
        manifest = json.loads(zf.read("guard.json"))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["steps"][0]["layer"]["type"] == "Abstaining"


def test_saving_is_atomic_and_overwrites(saved: Path, iris: dict[str, Any]) -> None:
    g = load(saved, model=iris["model"])
    g.save(saved)
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_an_unfitted_guard_cannot_be_saved(tmp_path: Path, iris: dict[str, Any]) -> None:
    from tests.test_builder import QuantileThreshold

    with pytest.raises(NotFittedError):
        guard(iris["model"]).abstain(QuantileThreshold(0.1)).save(tmp_path / "x.guard")


def test_an_unknown_type_is_refused(saved: Path, iris: dict[str, Any]) -> None:
    _edit_manifest(saved, lambda m: m["steps"][0]["layer"].update(type="os.system"))
    with pytest.raises(ArtifactError, match=r"unknown type 'os\.system'"):
        load(saved, model=iris["model"])


def test_a_pickled_array_is_refused(saved: Path, iris: dict[str, Any]) -> None:
    def edit(members: dict[str, bytes]) -> None:
        buf = io.BytesIO()
        np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
        members["arrays/a0.npy"] = buf.getvalue()
        manifest = json.loads(members["guard.json"])
        manifest["arrays"]["a0"] = {"dtype": "|O", "shape": [1]}
        members["guard.json"] = json.dumps(manifest).encode()

    _rewrite(saved, edit)
    with pytest.raises(ArtifactError, match="not plain data"):
        load(saved, model=iris["model"])


def test_a_pickle_file_is_not_an_artifact(tmp_path: Path, iris: dict[str, Any]) -> None:
    path = tmp_path / "evil.guard"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ArtifactError, match="not a zip"):
        load(path, model=iris["model"])


def test_foreign_and_future_artifacts_are_refused(saved: Path, iris: dict[str, Any]) -> None:
    _edit_manifest(saved, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ArtifactError, match="format version"):
        load(saved, model=iris["model"])
    _edit_manifest(saved, lambda m: m.update(format="something.else", format_version=1))
    with pytest.raises(ArtifactError, match="wrong format tag"):
        load(saved, model=iris["model"])


def test_extra_members_and_bad_shapes_are_refused(saved: Path, iris: dict[str, Any]) -> None:
    _rewrite(saved, lambda members: members.update({"../../etc/passwd": b"x"}))
    with pytest.raises(ArtifactError, match="unexpected members"):
        load(saved, model=iris["model"])


def test_tampered_settings_are_refused(saved: Path, iris: dict[str, Any]) -> None:
    def change(m: dict[str, Any]) -> None:
        m["steps"][0]["layer"]["state"]["policy"]["state"]["policies"][0]["state"]["threshold"] = 7

    _edit_manifest(saved, change)
    with pytest.raises(ArtifactError, match="threshold"):
        load(saved, model=iris["model"])


def test_a_model_with_other_classes_is_refused(saved: Path, iris: dict[str, Any]) -> None:
    other = LogisticRegression().fit(iris["X_train"], iris["y_train"] % 2)
    with pytest.raises(ArtifactError, match="classes"):
        load(saved, model=other)


def test_missing_files_are_clear(tmp_path: Path, iris: dict[str, Any]) -> None:
    with pytest.raises(ArtifactError, match="no saved guard"):
        load(tmp_path / "nope.guard", model=iris["model"])


@pytest.fixture
def wired(tmp_path: Path, iris: dict[str, Any]) -> dict[str, Any]:
    """A guard that names a schema, a queue, a fallback model, metrics and alerts."""
    from guardrails import (
        Alerts,
        Metrics,
        ModelStage,
        SQLiteQueue,
        abstention_rate_above,
        infer_schema,
    )

    schema = infer_schema(iris["X_cal"])
    backup = LogisticRegression(max_iter=200).fit(iris["X_cal"], iris["y_cal"])
    g = (
        guard(iris["model"])
        .validate(schema)
        .abstain(confidence_below(0.9))
        .fallback(ModelStage(backup, name="backup"))
        .review(SQLiteQueue(tmp_path / "saved.db"))
        .log(metrics=Metrics(window=50), alerts=Alerts([abstention_rate_above(0.5)]))
        .fit(iris["X_cal"], iris["y_cal"])
    )
    return {"path": g.save(tmp_path / "wired.guard"), "schema": schema, "backup": backup}


def test_load_names_every_missing_object_in_one_error(
    wired: dict[str, Any], iris: dict[str, Any]
) -> None:
    with pytest.raises(ArtifactError) as info:
        load(wired["path"], model=iris["model"])
    text = str(info.value)
    assert "needs 4 objects" in text
    for name in ("schema", "queue", "backup", "alerts"):
        assert f"{name}=..." in text
    assert "metrics=" not in text


def test_load_names_only_what_is_still_missing(
    wired: dict[str, Any], iris: dict[str, Any], tmp_path: Path
) -> None:
    from guardrails import SQLiteQueue

    with pytest.raises(ArtifactError, match=r"needs an object .*alerts=\.\.\.") as info:
        load(
            wired["path"],
            model=iris["model"],
            schema=wired["schema"],
            queue=SQLiteQueue(tmp_path / "new.db"),
            backup=wired["backup"],
        )
    assert "schema=" not in str(info.value)


def test_an_omitted_metrics_registry_starts_fresh(
    wired: dict[str, Any], iris: dict[str, Any], tmp_path: Path
) -> None:
    from guardrails import Alerts, SQLiteQueue, abstention_rate_above

    g = load(
        wired["path"],
        model=iris["model"],
        schema=wired["schema"],
        queue=SQLiteQueue(tmp_path / "new.db"),
        backup=wired["backup"],
        alerts=Alerts([abstention_rate_above(0.5)]),
    )
    assert len(g.decide(iris["X_test"])) == len(iris["X_test"])
    assert "Metrics(window=1000)" in repr(g)


def test_a_loaded_guard_shows_the_objects_passed_in_not_the_saved_ones(
    wired: dict[str, Any], iris: dict[str, Any], tmp_path: Path
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from guardrails import Alerts, Metrics, SQLiteQueue, abstention_rate_above

    other = DecisionTreeClassifier().fit(iris["X_cal"], iris["y_cal"])
    g = load(
        wired["path"],
        model=iris["model"],
        schema=wired["schema"],
        queue=SQLiteQueue(tmp_path / "new.db"),
        backup=other,
        metrics=Metrics(window=7),
        alerts=Alerts([abstention_rate_above(0.25)], cooldown=5),
    )
    shown = repr(g)
    assert "new.db" in shown and "saved.db" not in shown
    assert "ModelStage(DecisionTreeClassifier," in shown
    assert "ModelStage(LogisticRegression," not in shown
    assert "Metrics(window=7)" in shown and "Metrics(window=50)" not in shown
    assert "abstention_rate_above(0.25" in shown and "cooldown=5.0" in shown
