"""The FastAPI example answers good requests and refuses or withholds bad ones."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi_service import build_app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(build_app()) as c:
        yield c


@pytest.fixture(scope="module")
def good_row() -> list[float]:
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True)
    return [float(v) for v in X[0]]


@pytest.mark.parametrize("path", ["/decide", "/decide-sync"])
def test_good_rows_get_decisions(client: Any, good_row: list[float], path: str) -> None:
    r = client.post(path, json={"rows": [good_row, good_row], "request_id": "req-1"})
    assert r.status_code == 200
    rows = r.json()["decisions"]
    assert len(rows) == 2
    assert rows[0]["stage"] == "primary"
    assert rows[0]["abstained"] or rows[0]["prediction"] in (0, 1)


def test_a_missing_value_never_reaches_the_model(client: Any, good_row: list[float]) -> None:
    bad = list(good_row)
    bad[3] = None
    r = client.post("/decide", json={"rows": [good_row, bad]})
    assert r.status_code == 200
    second = r.json()["decisions"][1]
    assert second["stage"] != "primary"
    if second["abstained"]:
        assert second["reason"] == "invalid_input"
        assert second["prediction"] is None
    else:  # the demo guard's clinical rule copes with partial rows
        assert second["stage"] == "size_rule"


def test_the_bare_model_fails_where_the_guard_withholds(client: Any, good_row: list[float]) -> None:
    bad = list(good_row)
    bad[0] = None
    assert client.post("/bare", json={"rows": [bad]}).status_code == 500
    assert client.post("/decide", json={"rows": [bad]}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"rows": [[1.0, 2.0], [1.0]]},
        {"rows": [["abc"]]},
        {"rows": []},
        {"nothing": 1},
    ],
)
def test_malformed_requests_are_refused_with_422(client: Any, body: dict[str, Any]) -> None:
    assert client.post("/decide", json=body).status_code == 422


def test_wrong_width_rows_are_withheld_not_crashed(client: Any) -> None:
    r = client.post("/decide", json={"rows": [list(np.ones(5))]})
    assert r.status_code == 200
    assert r.json()["decisions"][0]["reason"] == "invalid_input"


def test_with_a_review_queue_withheld_rows_are_queued(
    tmp_path: Path, good_row: list[float]
) -> None:
    from guardrails import SQLiteQueue
    from guardrails.apps.demo import build_demo_guard

    g, data = build_demo_guard()
    unsure = data["X_pool"][int(g.decide(data["X_pool"]).confidence.argmin())].tolist()
    with TestClient(build_app(review_queue=str(tmp_path / "r.db"))) as c:
        r = c.post("/decide", json={"rows": [good_row, unsure] * 5})
    assert r.status_code == 200
    rows = r.json()["decisions"]
    assert any(row["abstained"] for row in rows)
    assert all(row["review_id"] is not None for row in rows if row["abstained"])
    ids = {row["review_id"] for row in rows if row["review_id"] is not None}
    queue = SQLiteQueue(tmp_path / "r.db")
    assert {case.id for case in queue.list(limit=100)} == ids  # withheld and audit cases
    queue.close()
