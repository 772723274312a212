"""Overhead of the guard against the raw model call: one record and a 100,000 x 20 batch.

Run: ``python benchmarks/overhead.py``. Prints medians of repeats and the ratio
guarded / raw for LogisticRegression, then the cost of the log step (JSON events to a
null sink) and of metrics per single record, against structlog's own cost for one JSON
event with the same keys.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from structlog.testing import capture_logs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import (
    Alerts,
    Metrics,
    abstention_rate_above,
    confidence_below,
    drift_detected,
    error_rate_above,
    guard,
)
from guardrails.observe import DECISION_KEYS


def json_logger(sink: Any) -> Any:
    """A production-like structlog logger (level, ISO time, JSON) writing to ``sink``."""
    return structlog.wrap_logger(
        structlog.PrintLogger(file=sink),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
    )


def interleaved_min(
    fns: dict[str, Callable[[], Any]], rounds: int, number: int
) -> dict[str, float]:
    """Per-call seconds of each function: the best of ``rounds`` interleaved rounds.

    Rounds alternate between the functions so that load from other processes hits them
    alike; time is this thread's CPU time (``time.thread_time``), so waiting for the CPU
    is not counted, and the minimum drops rounds disturbed anyway. On a shared machine
    the difference of two wall-clock medians is mostly noise at the microsecond scale.
    """
    best = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for label, fn in fns.items():
            t0 = time.thread_time()
            for _ in range(number):
                fn()
            best[label] = min(best[label], (time.thread_time() - t0) / number)
    return best


def logging_rows(model: Any, X: Any, y: Any, one: Any) -> list[list[str]]:
    """Single-record cost of the log step and metrics, vs one structlog JSON event."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives for the whole run
    alerts = Alerts([abstention_rate_above(0.5), error_rate_above(0.1), drift_detected()])
    logger = json_logger(sink)
    with capture_logs() as captured:  # the very event the guard emits, replayed by hand
        guard(model).abstain(confidence_below(0.8)).log().fit(X, y).decide_one(one)
    event = {k: v for k, v in captured[0].items() if k not in ("event", "log_level")}
    assert set(DECISION_KEYS) <= set(event)
    stacks = {
        "guard + abstain": guard(model).abstain(confidence_below(0.8)),
        "+ log (JSON, null sink)": guard(model)
        .abstain(confidence_below(0.8))
        .log(json_logger(sink)),
        "+ log + metrics": guard(model)
        .abstain(confidence_below(0.8))
        .log(json_logger(sink), metrics=Metrics()),
        "+ log + metrics + 3 alert rules": guard(model)
        .abstain(confidence_below(0.8))
        .log(json_logger(sink), metrics=Metrics(), alerts=alerts),
    }
    one_2d = np.asarray(one)[None, :]
    for g in stacks.values():
        g.fit(X, y)
    plain = stacks["guard + abstain"]
    alone = "structlog alone: the same JSON event, tight loop"
    by_hand = "guard + abstain, then that event by hand"
    fns: dict[str, Callable[[], Any]] = {
        "raw predict_proba": lambda: model.predict_proba(one_2d),
        alone: lambda: logger.info("guardrails.decision", **event),
        by_hand: lambda: (plain.decide_one(one), logger.info("guardrails.decision", **event)),
    }
    for label, g in stacks.items():
        fns[label] = lambda g=g: g.decide_one(one)
    times = interleaved_min(fns, rounds=15, number=200)
    raw = times.pop("raw predict_proba")
    base, hand = times["guard + abstain"], times[by_hand]
    rows = [["raw predict_proba (1 row)", fmt_seconds(raw), "", ""]]
    for label in (alone, "guard + abstain", by_hand, *list(stacks)[1:]):
        t = times[label]
        rows.append(
            [
                label,
                fmt_seconds(t),
                "" if label in (alone, "guard + abstain") else f"{(t - base) * 1e6:7.1f} us",
                f"{(t - hand) * 1e6:7.1f} us" if label in list(stacks)[1:] else "",
            ]
        )
    whole = times["+ log + metrics"] - raw
    rows.append(["whole guard with log + metrics minus raw", "", f"{whole * 1e6:7.1f} us", ""])
    sink.close()
    return rows


def main() -> None:
    X, y = make_classification(n_samples=100_000, n_features=20, n_informative=10, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X[:20_000], y[:20_000])
    bare = guard(model)
    guarded = guard(model).abstain(confidence_below(0.8)).fit(X[:5_000], y[:5_000])
    one = X[0]
    one_2d = X[:1]

    rows = []
    raw_one = median_seconds(lambda: model.predict_proba(one_2d), repeats=7, number=300)
    for label, g in (("guard, no layers", bare), ("guard + abstain", guarded)):
        t = median_seconds(lambda g=g: g.decide_one(one), repeats=7, number=300)
        rows.append(
            [
                label,
                "1 record",
                fmt_seconds(raw_one),
                fmt_seconds(t),
                f"{t / raw_one:5.2f}x",
                f"{(t - raw_one) * 1e6:7.1f} us",
            ]
        )
    raw_batch = median_seconds(lambda: model.predict_proba(X), repeats=5)
    for label, g in (("guard, no layers", bare), ("guard + abstain", guarded)):
        t = median_seconds(lambda g=g: g.decide(X), repeats=5)
        rows.append(
            [
                label,
                "100,000 x 20",
                fmt_seconds(raw_batch),
                fmt_seconds(t),
                f"{t / raw_batch:5.2f}x",
                f"{(t - raw_batch) * 1e3:7.2f} ms",
            ]
        )
    print(
        table(
            "Guard overhead vs LogisticRegression.predict_proba (median of repeats)",
            ["stack", "input", "raw model", "guarded", "ratio", "added"],
            rows,
        )
    )
    print()
    print(
        table(
            "Observability cost per single record (decide_one, CPU time, best of 15 interleaved "
            "rounds; added vs guard + abstain)",
            ["stack", "per record", "added vs guard + abstain", "added vs event by hand"],
            logging_rows(model, X[:5_000], y[:5_000], one),
        )
    )


if __name__ == "__main__":
    main()
