"""A real FastAPI service around a guard, with async and sync endpoints.

Run it:  python examples/fastapi_service.py --port 8000
Then:    curl -s localhost:8000/decide -H 'content-type: application/json' \
              -d '{"rows": [[14.1, 19.3, 92.0, 654.9, 0.096, 0.104, 0.088, 0.048, 0.181,
                            0.062, 0.405, 1.216, 2.866, 40.3, 0.007, 0.025, 0.031, 0.011,
                            0.020, 0.003, 16.3, 25.7, 107.3, 880.6, 0.132, 0.254, 0.272,
                            0.114, 0.290, 0.083]]}'

`/decide` awaits ``guard.adecide`` (asyncio servers); `/decide-sync` calls ``guard.decide``
(FastAPI runs it in its thread pool); `/bare` calls the unguarded model, for comparison.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from guardrails import Decisions, Guard, InvalidInputError


class Rows(BaseModel):
    """A batch of feature rows; ``null`` marks a missing value."""

    rows: list[list[float | None]] = Field(min_length=1, max_length=10_000)
    request_id: str | None = Field(default=None, max_length=128)


def _as_array(rows: list[list[float | None]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    width = {len(r) for r in rows}
    if len(width) != 1:
        raise HTTPException(422, f"rows have different lengths: {sorted(width)}")
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)


def _response(d: Decisions) -> dict[str, Any]:
    return {
        "decisions": [
            {
                "prediction": row.prediction,
                "abstained": row.abstained,
                "reason": str(row.reason),
                "stage": row.stage,
                "confidence": row.confidence,
                "detail": row.detail,
                "review_id": row.review_id,
            }
            for row in d
        ]
    }


def create_app(g: Guard, model: Any | None = None) -> FastAPI:
    """The service around guard ``g`` (and the bare ``model``, for comparison)."""
    app = FastAPI(title=f"guarded {g.guard_name}", version=g.version)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "guard": g.guard_name, "version": g.version}

    @app.post("/decide")
    async def decide(body: Rows) -> dict[str, Any]:
        X = _as_array(body.rows)
        try:
            d = await g.adecide(X, request_id=body.request_id)
        except InvalidInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return _response(d)

    @app.post("/decide-sync")
    def decide_sync(body: Rows) -> dict[str, Any]:
        X = _as_array(body.rows)
        try:
            d = g.decide(X, request_id=body.request_id)
        except InvalidInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return _response(d)

    if model is not None:

        @app.post("/bare")
        def bare(body: Rows) -> dict[str, Any]:
            X = _as_array(body.rows)
            try:
                proba = model.predict_proba(X)
            except ValueError as exc:  # what an unguarded service does with bad input
                raise HTTPException(500, f"model failed: {exc}") from exc
            return {"predictions": proba.argmax(axis=1).tolist()}

    return app


def build_app(review_queue: str | None = None) -> FastAPI:
    """The demo guard (breast-cancer classifier) behind the service.

    Args:
        review_queue: path of a SQLite file for the review queue (created if missing);
            None keeps the cases in memory. A case is committed (flushed to disk, at
            the queue's default ``synchronous="full"``) before the response that reports
            its ``review_id``; concurrent requests share one commit (group commit).
    """
    from pathlib import Path

    from guardrails.apps.demo import build_demo_guard

    g, data = build_demo_guard(out=None if review_queue is None else Path(review_queue))
    return create_app(g, data["model"])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--review-queue", help="SQLite file for the review queue (else memory)")
    args = parser.parse_args()
    app = build_app(review_queue=args.review_queue)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
