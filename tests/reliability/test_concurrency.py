"""One guard shared by many threads and asyncio tasks: no exception, no deadlock, exact counts."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

from guardrails import Decisions, confidence_below, guard


@pytest.fixture(scope="module")
def shared(iris: dict[str, Any]) -> Any:
    g = guard(iris["model"]).abstain(confidence_below(0.8)).fit(iris["X_cal"], iris["y_cal"])
    expected = g.decide(iris["X_test"])
    return g, iris["X_test"], expected


@pytest.mark.timeout(120)
def test_sixteen_threads_get_the_same_decisions_as_one(shared: Any) -> None:
    g, X, expected = shared
    errors: list[BaseException] = []
    answered = [0] * 16

    def work(k: int) -> None:
        try:
            for i in range(200):
                row = i % len(X)
                d = g.decide(X[row : row + 1])
                assert d[0].abstained == expected[row].abstained
                answered[k] += int(d.answered.sum())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    per_thread = sum(int(expected.answered[i % len(X)]) for i in range(200))
    assert answered == [per_thread] * 16


@pytest.mark.timeout(120)
def test_five_hundred_asyncio_tasks_get_every_decision(shared: Any) -> None:
    g, X, expected = shared

    async def main() -> list[Decisions]:
        return await asyncio.gather(*(g.adecide(X[i % len(X)][None, :]) for i in range(500)))

    results = asyncio.run(main())
    assert len(results) == 500
    got = np.array([d.abstained[0] for d in results])
    want = np.array([expected.abstained[i % len(X)] for i in range(500)])
    np.testing.assert_array_equal(got, want)
