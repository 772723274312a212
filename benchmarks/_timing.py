"""Shared timing helpers for the benchmark scripts: medians of repeats, ratio tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def median_seconds(fn: Callable[[], Any], *, repeats: int = 7, number: int = 1) -> float:
    """Median over ``repeats`` of the mean time of ``number`` calls of ``fn``."""
    fn()  # warm up caches and lazy imports
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def per_call_cost(g: Any, model: Any, batches: Sequence[Any]) -> tuple[list[float], list[float]]:
    """The monitor's own time in each guarded call on ``batches``, and the model's
    ``predict_proba`` time on the same rows right after it (both see the same cache and
    load, and means of the two compare like with like)."""
    own, model_t = [], []
    for batch in batches:
        own.append(g.decide(batch).timings["monitor"])
        t = time.perf_counter()
        model.predict_proba(batch)
        model_t.append(time.perf_counter() - t)
    return own, model_t


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:9.2f} ms"
    return f"{seconds:9.3f} s "


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [title, line, "-" * len(line)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)
