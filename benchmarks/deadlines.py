"""Deadlines, worker threads and load shedding of the fallback chain, in one short run.

Prints, each measured in this run:

- the cost of handing one record's primary call to a worker so its deadline holds
  (a chain with ``primary_timeout`` against the same chain without one);
- the worst wait over repeated and 50 concurrent calls, sync and async, when the primary
  hangs 3 s, ``primary_timeout=0.05`` and ``max_workers=2`` (every worker hung);
- the threads ten guards around a hanging model hold, each with its own pool and sharing
  one ``WorkerPool``;
- a 500-task burst with ``primary_timeout=1.0`` and ``max_wait=0.1``: rows whose primary
  timed out, calls shed (never run) and abandoned.

Run: ``python benchmarks/deadlines.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails import Default, Rule, WithFallback, WorkerPool, guard

RNG = np.random.default_rng(0)
W = RNG.normal(size=(20, 3))


def softmax_model(X: Any) -> NDArray[Any]:
    z = np.asarray(X) @ W
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: NDArray[Any] = e / e.sum(axis=1, keepdims=True)
    return out


def hand_off(rounds: int = 15, calls: int = 1000) -> tuple[float, float]:
    x = np.zeros((1, 20))
    plain = guard(softmax_model, output="proba", classes=[0, 1, 2]).fallback(Default(0))
    timed = guard(softmax_model, output="proba", classes=[0, 1, 2]).fallback(
        Default(0), primary_timeout=1.0
    )

    def per_call(g: Any) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            g.decide(x)
        return (time.perf_counter() - t0) / calls

    per_call(plain), per_call(timed)
    pairs = [(per_call(plain), per_call(timed)) for _ in range(rounds)]
    return min(p for p, _ in pairs), min(t for _, t in pairs)


def hung(release: threading.Event) -> Any:
    def hangs(X: Any) -> NDArray[Any]:
        release.wait(3.0)
        return np.zeros(len(X))

    return hangs


def worst_waits(release: threading.Event) -> dict[str, float]:
    g = guard(hung(release), output="values").fallback(
        Rule(lambda rows: [7.0] * len(rows)), primary_timeout=0.05, max_workers=2
    )
    x = np.zeros((2, 3))
    sync = []
    for _ in range(5):
        t0 = time.monotonic()
        g.decide(x)
        sync.append(time.monotonic() - t0)

    async def one() -> float:
        t0 = time.monotonic()
        await g.adecide(x)
        return time.monotonic() - t0

    async def repeated() -> list[float]:
        return [await one() for _ in range(5)]

    async def concurrent() -> list[float]:
        return list(await asyncio.gather(*(one() for _ in range(50))))

    rep = asyncio.run(repeated())
    many = asyncio.run(concurrent())
    return {
        "sync decide, 5 calls, worst": max(sync),
        "await adecide, 5 calls, worst": max(rep),
        "50 concurrent adecide, worst": max(many),
        "50 concurrent adecide, median": statistics.median(many),
    }


def threads_held(release: threading.Event, shared: bool) -> int:
    pool = WorkerPool(max_workers=10) if shared else None
    guards = [
        guard(hung(release), output="values").fallback(
            Default(0.0), primary_timeout=0.02, max_workers=10, workers=pool
        )
        for _ in range(10)
    ]
    for _ in range(12):
        for g in guards:
            g.decide(np.zeros((1, 2)))
    if pool is not None:
        return pool.stats().threads
    return sum(g.layer(WithFallback).worker_stats().threads for g in guards)


class _Silent:
    """A structlog-style logger that drops every event (the figure is the guard's)."""

    def _drop(self, event: str, **kw: Any) -> None:
        return None

    debug = info = warning = error = critical = _drop


def burst(max_wait: float | None) -> dict[str, int]:
    """The concurrency test's full stack (abstain, drift monitor, a rule, a SQLite review
    queue, logging with metrics) with primary_timeout=1.0, hit by 500 tasks at once."""
    import tempfile
    from pathlib import Path

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from guardrails import DriftProfile, Metrics, SQLiteQueue, confidence_below, on_abstain

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X[::2], y[::2])
    with tempfile.TemporaryDirectory() as tmp:
        queue = SQLiteQueue(Path(tmp) / "burst.db", synchronous="normal")
        g = (
            guard(model, name="burst")
            .abstain(confidence_below(0.9))
            .monitor(DriftProfile.from_data(X[::2]), window=64)
            .fallback(
                Rule(lambda rows: [2 if r[3] > 1.7 else None for r in rows], when=on_abstain()),
                Default(0),
                primary_timeout=1.0,
                max_wait=max_wait,
            )
            .review(queue)
            .log(_Silent(), metrics=Metrics())
            .fit(X[1::2], y[1::2])
        )
        batches = [X[RNG.integers(0, len(X), 4)] for _ in range(500)]

        async def main() -> list[Any]:
            return list(await asyncio.gather(*(g.adecide(b) for b in batches)))

        results = asyncio.run(main())
        queue.close()
    rows = sum(len(d) for d in results)
    details = [t for d in results for t in (d.detail if d.detail is not None else ())]
    timed_out = sum(1 for t in details if t and "primary: timeout" in t)
    stats = g.layer(WithFallback).worker_stats()
    return {
        "rows": rows,
        "primary timed out": timed_out,
        "shed": stats.shed,
        "abandoned": stats.abandoned,
    }


def main() -> None:
    plain, timed = hand_off()
    print("one record through a fallback chain (plain numpy model, best of 15 x 1000 calls)")
    print(f"  without a timeout      {plain * 1e6:7.1f} us")
    print(f"  with primary_timeout   {timed * 1e6:7.1f} us")
    print(f"  added by the hand-off  {(timed - plain) * 1e6:+7.1f} us   (goal <= +40 us)")
    release = threading.Event()
    try:
        print("primary hangs 3 s, primary_timeout=0.05, max_workers=2 (every worker hung)")
        for what, seconds in worst_waits(release).items():
            print(f"  {what:30s} {seconds * 1e3:7.1f} ms")
        private, shared = threads_held(release, False), threads_held(release, True)
        print("ten guards around a hanging model, 120 calls, max_workers=10")
        print(f"  a pool each            {private:3d} threads held")
        print(f"  one shared WorkerPool  {shared:3d} threads held")
    finally:
        release.set()
    print("500 tasks at once, 4 rows each, full stack, primary_timeout=1.0, 32 workers")
    for max_wait in (None, 0.1):
        r = burst(max_wait)
        share = r["primary timed out"] / r["rows"]
        print(
            f"  max_wait={max_wait!s:4s}  {r['primary timed out']:4d} of {r['rows']} rows "
            f"timed out ({share:.0%}): {r['shed']} calls shed, {r['abandoned']} abandoned"
        )


if __name__ == "__main__":
    main()
