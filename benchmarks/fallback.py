"""Cost of a fallback chain whose primary answers everything, and of our circuit breaker.

Run: ``python benchmarks/fallback.py``. Prints medians of repeats:

1. a guard with a fallback chain (backup model + default) against the bare guard and the
   raw ``predict_proba``, for one record and a 100,000 x 20 batch; also with a primary
   timeout, which moves the primary's call to a worker thread;
2. ``CircuitBreaker.call`` against pybreaker's ``CircuitBreaker.call`` on the same trivial
   function (pybreaker is a benchmark-only peer: ``pip install pybreaker``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, table

from guardrails import CircuitBreaker, Default, ModelStage, guard


def interleaved(fns: Sequence[Callable[[], object]], *, repeats: int, number: int) -> list[float]:
    """Median seconds per call of each of ``fns``, timed in alternation.

    Alternating the candidates within each repeat keeps a noisy shared machine from
    favouring whichever ran during a quiet moment.
    """
    for fn in fns:
        fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, samples):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - t0) / number)
    return [statistics.median(s) for s in samples]


def chain_overhead() -> None:
    X, y = make_classification(n_samples=100_000, n_features=20, n_informative=10, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X[:20_000], y[:20_000])
    backup = LogisticRegression(C=0.01, max_iter=1000).fit(X[:20_000], y[:20_000])
    stacks = {
        "guard, no layers": guard(model),
        "guard + fallback chain": guard(model).fallback(
            ModelStage(backup, name="backup"), Default(0)
        ),
        "guard + chain, primary_timeout": guard(model).fallback(
            ModelStage(backup, name="backup"), Default(0), primary_timeout=1.0
        ),
    }
    for g in stacks.values():
        assert g.decide(X).stage_counts() == {"primary": len(X)}  # the primary answers all
    one = X[0]
    one_2d = X[:1]
    rows = []
    for label, size, raw_fn, calls, repeats, number in (
        ("1 record", 1, lambda: model.predict_proba(one_2d),
         [lambda g=g: g.decide_one(one) for g in stacks.values()], 9, 300),
        ("100,000 x 20", len(X), lambda: model.predict_proba(X),
         [lambda g=g: g.decide(X) for g in stacks.values()], 9, 1),
    ):  # fmt: skip
        raw, *times = interleaved([raw_fn, *calls], repeats=repeats, number=number)
        base = times[0]
        for name, t in zip(stacks, times):
            added = t - base
            rows.append(
                [
                    name,
                    label,
                    fmt_seconds(raw),
                    fmt_seconds(t),
                    f"{t / raw:5.2f}x",
                    ""
                    if t is base
                    else f"{added * 1e6:+8.1f} us"
                    if size == 1
                    else f"{added * 1e3:+7.2f} ms",
                ]
            )
    print(
        table(
            "Fallback chain, primary answers everything (medians, timed in alternation)",
            ["stack", "input", "raw model", "guarded", "vs raw", "vs bare guard"],
            rows,
        )
    )


def breaker_overhead() -> None:
    def work(x: int) -> int:
        return x + 1

    async def awork(x: int) -> int:
        return x + 1

    ours = CircuitBreaker(name="bench", failure_threshold=5)
    number = 20_000
    try:
        import pybreaker
    except ImportError:
        pybreaker = None
    theirs = None if pybreaker is None else pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
    fns: list[Callable[[], object]] = [lambda: work(1), lambda: ours.call(work, 1)]
    if theirs is not None:
        fns.append(lambda: theirs.call(work, 1))
    raw, t_ours, *rest = interleaved(fns, repeats=9, number=number)
    rows = [
        ["plain call", fmt_seconds(raw), "", ""],
        ["guardrails CircuitBreaker.call", fmt_seconds(t_ours), fmt_seconds(t_ours - raw), ""],
    ]
    if pybreaker is None:
        rows.append(["pybreaker", "not installed (pip install pybreaker)", "", ""])
    else:
        t_theirs = rest[0]
        rows.append(
            [
                f"pybreaker {version('pybreaker')} CircuitBreaker.call",
                fmt_seconds(t_theirs),
                fmt_seconds(t_theirs - raw),
                f"ours/theirs {t_ours / t_theirs:4.2f}x",
            ]
        )

    async def loop_ours() -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            await ours.acall(awork, 1)
        return (time.perf_counter() - t0) / number

    async def loop_raw() -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            await awork(1)
        return (time.perf_counter() - t0) / number

    a_raw = min(asyncio.run(loop_raw()) for _ in range(5))
    a_ours = min(asyncio.run(loop_ours()) for _ in range(5))
    rows.append(["plain await", fmt_seconds(a_raw), "", ""])
    rows.append(
        ["guardrails CircuitBreaker.acall", fmt_seconds(a_ours), fmt_seconds(a_ours - a_raw), ""]
    )
    rows.append(["pybreaker", "no asyncio support", "", ""])
    print()
    print(
        table(
            "Circuit breaker overhead per call (closed breaker, function returns at once)",
            ["breaker", "per call", "added", "ratio"],
            rows,
        )
    )


def main() -> None:
    chain_overhead()
    breaker_overhead()


if __name__ == "__main__":
    main()
