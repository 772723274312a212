"""Review queue: enqueue throughput (1 and 8 threads) and the latency a review adds to a decision.

Run: ``python benchmarks/review.py``. SQLite runs always (in a temp folder); PostgreSQL
runs when ``GUARDRAILS_TEST_POSTGRES_URL`` is set (``source .ci/postgres.sh`` starts a
throwaway server), else the script says it skipped it. Every enqueue is one committed
transaction, as in serving, unless the row says "batch of 50".
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import MemoryQueue, Reason, SQLiteQueue, confidence_below, guard
from guardrails.review.cases import NewCase
from guardrails.review.queue import BaseQueue

N_CASES = 400  # per measurement of single-case enqueues: small, the machine is shared
N_BATCHED = 4000  # per measurement of batches of 50


def _case(i: int) -> NewCase:
    context = {
        "input": [0.1 * i, 1.0, 2.0, 3.0] * 5,
        "candidate": 1,
        "proba": [0.45, 0.55],
        "classes": [0, 1],
        "confidence": 0.55,
        "request_id": uuid.uuid4().hex[:16],
        "row": i,
    }
    return NewCase("withheld", Reason.LOW_CONFIDENCE, 0.45, context)


def _throughput(q: BaseQueue, threads: int, batch: int) -> float:
    """Cases per second with ``threads`` writers, ``batch`` cases per enqueue call."""
    per_thread = (N_CASES if batch == 1 else N_BATCHED) // threads
    calls = max(1, per_thread // batch)

    def work() -> None:
        for k in range(calls):
            q.enqueue([_case(k * batch + j) for j in range(batch)])

    q.enqueue([_case(0)])  # open this thread's connection first
    workers = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * calls * batch / (time.perf_counter() - t0)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="guardrails-bench-"))
    queues: list[tuple[str, Callable[[], BaseQueue]]] = [
        ("sqlite (synchronous=full)", lambda: SQLiteQueue(folder / f"{uuid.uuid4().hex}.db")),
        (
            "sqlite (synchronous=normal)",
            lambda: SQLiteQueue(folder / f"{uuid.uuid4().hex}.db", synchronous="normal"),
        ),
    ]
    pg = os.environ.get("GUARDRAILS_TEST_POSTGRES_URL")
    if pg:
        from guardrails.review.postgres import PostgresQueue

        queues.append(
            ("postgresql", lambda: PostgresQueue(pg, table=f"bench_{uuid.uuid4().hex[:10]}"))
        )
    else:
        print(
            "PostgreSQL skipped: set GUARDRAILS_TEST_POSTGRES_URL (source .ci/postgres.sh) "
            "to include it.\n"
        )

    rows = []
    for name, make in queues:
        for threads, batch in ((1, 1), (8, 1), (1, 50), (8, 50)):
            q = make()
            rate = _throughput(q, threads, batch)
            drop = getattr(q, "drop", None)
            if drop is not None:
                drop()
            q.close()
            rows.append(
                [name, str(threads), "1" if batch == 1 else f"batch of {batch}", f"{rate:9,.0f}"]
            )
    print(
        table(
            f"Enqueue throughput ({N_CASES} single cases or {N_BATCHED} in batches; "
            "each enqueue call is one committed transaction)",
            ["queue", "threads", "cases per call", "cases / s"],
            rows,
        )
    )
    print()

    X, y = make_classification(n_samples=2000, n_features=20, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    one = X[0]
    base = guard(model).abstain(confidence_below(1.0))  # every row withheld
    latency = []
    t_base = median_seconds(lambda: base.decide_one(one), repeats=7, number=100)
    latency.append(["guard + abstain, no review", fmt_seconds(t_base), "-"])
    for name, make in [("memory (tests only)", MemoryQueue), *queues]:
        q = make()
        g = base.review(q)
        t = median_seconds(lambda g=g: g.decide_one(one), repeats=7, number=50)
        latency.append([f"+ review -> {name}", fmt_seconds(t), fmt_seconds(t - t_base)])
        drop = getattr(q, "drop", None)
        if drop is not None:
            drop()
        q.close()
    print(
        table(
            "Latency of one withheld decision (decide_one, LogisticRegression, 20 features)",
            ["stack", "per decision", "added by review"],
            latency,
        )
    )


if __name__ == "__main__":
    main()
