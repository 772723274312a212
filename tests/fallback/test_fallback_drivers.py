"""One fallback chain, two drivers: ``decide`` and ``adecide`` give the same decisions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from guardrails import (
    CircuitBreaker,
    Decisions,
    Default,
    ModelStage,
    Retry,
    Rule,
    SendToReview,
    guard,
    on_error,
    on_invalid_input,
    on_timeout,
)


class Row(BaseModel):
    a: float = Field(ge=0)
    b: float


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _labels(value: int) -> Callable[[Any], NDArray[Any]]:
    def model(X: Any) -> NDArray[Any]:
        return np.full(len(X), value)

    return model


def _down(X: Any) -> NDArray[Any]:
    raise ConnectionError("primary down")


class _Flaky:
    """Fails its first call, then answers: a retry makes the difference."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, X: Any) -> NDArray[Any]:
        self.calls += 1
        if self.calls == 1:
            raise TimeoutError("first call fails")
        return np.full(len(X), 5)


def _odd_rule(rows: Any) -> list[Any]:
    return [1 if int(r[0]) % 2 else None for r in rows]


async def _async_rule(rows: Any) -> list[Any]:
    await asyncio.sleep(0)
    return [3] * len(rows)


def _chains(release: threading.Event) -> dict[str, Callable[[], Any]]:
    def hangs(X: Any) -> NDArray[Any]:
        release.wait(5.0)
        return np.zeros(len(X))

    open_breaker = CircuitBreaker(failure_threshold=1, cool_down=60.0)
    open_breaker.failure(open_breaker.acquire() or 0)
    return {
        "error into a rule then a default": lambda: guard(_down, output="labels").fallback(
            Rule(_odd_rule, when=on_error()), Default(9, when=on_error())
        ),
        "a retried backup": lambda: guard(_down, output="labels").fallback(
            ModelStage(
                _Flaky(), name="backup", output="labels", retry=Retry(retries=2, jitter=0.0)
            ),
        ),
        "a hung primary times out": lambda: guard(hangs, output="values").fallback(
            Default(7.0, when=on_timeout()), primary_timeout=0.02
        ),
        "an open breaker": lambda: guard(_labels(1), output="labels").fallback(
            SendToReview(), primary_breaker=open_breaker
        ),
        "an async rule": lambda: guard(_down, output="labels").fallback(
            Rule(_async_rule, when=on_error())
        ),
        "invalid rows to a default": lambda: (
            guard(_labels(4), output="labels")
            .validate(Row, on_invalid="fallback")
            .fallback(Default(0, when=on_invalid_input()))
        ),
    }


def _batch(name: str, n: int) -> Any:
    if name.startswith("invalid"):
        return [{"a": float(i - 1), "b": 0.0} for i in range(n)]  # the first row is invalid
    return np.arange(n * 2, dtype=float).reshape(n, 2)


def _same(a: Decisions, b: Decisions) -> None:
    assert a.prediction.tolist() == b.prediction.tolist()
    assert a.reason.tolist() == b.reason.tolist()
    assert a.stage.tolist() == b.stage.tolist()
    assert (None if a.tried is None else a.tried.tolist()) == (
        None if b.tried is None else b.tried.tolist()
    )
    assert (None if a.detail is None else a.detail.tolist()) == (
        None if b.detail is None else b.detail.tolist()
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "n"),
    [
        (name, n)
        for name in sorted(_chains(threading.Event()))
        for n in (0, 1, 4)
        if n or not name.startswith("invalid")  # an empty list of records is no batch shape
    ],
)
def test_decide_and_adecide_give_the_same_decisions(
    name: str, n: int, release: threading.Event
) -> None:
    make = _chains(release)[name]
    sync = make().decide(_batch(name, n))
    asynchronous = asyncio.run(make().adecide(_batch(name, n)))
    assert len(sync) == n
    _same(sync, asynchronous)
