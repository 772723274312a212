"""Review under a budget: a simulated week of traffic, a fixed reviewer capacity.

Run: ``python benchmarks/review_budget.py`` (about a minute; ``--quick`` for a day).

Part 1: wrong automated outcomes caught per review hour when the capacity is spent by
value of review (``cost_priority`` with a cost matrix), by uncertainty only, or first come
first served. The model's probabilities are calibrated by construction (the row carries its
true fraud probability), a missed fraud costs 20 and a false alarm 1, rows below 0.9
confidence are withheld, and rows over the budget get a provisional answer
(``on_budget="provisional"``): that is the automated outcome a person did not check. A
reviewer closes 20 cases an hour.

Part 2: the audit sample's estimate of the automated answers' accuracy, weighted by the
stored inclusion probabilities against the naive share over reviewed cases: bias and 95%
interval coverage over repeated seeded draws, for audit samples that favour uncertain rows
more and more.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import table

from guardrails import MemoryQueue, ReviewBudget, confidence_below, guard
from guardrails.review.budget import cost_priority, inclusion_probabilities
from guardrails.review.labels import weighted_accuracy

CLASSES = ["ok", "fraud"]
COST = {"ok": {"fraud": 20.0}, "fraud": {"ok": 1.0}}  # missed fraud 20, false alarm 1
CASES_PER_REVIEWER_HOUR = 20.0
BATCH = 5


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _model(X: Any) -> np.ndarray:
    p = np.asarray(X, dtype=np.float64)[:, 0]
    return np.c_[1.0 - p, p]


def _traffic(hours: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times, rows ``[p_fraud, row id]`` and true labels for ``hours`` of traffic."""
    rng = np.random.default_rng(seed)
    times, ps = [], []
    for h in range(hours):
        rate = 300.0 * (1.0 + 0.6 * math.sin(2 * math.pi * h / 24.0))  # busy days, calm nights
        n = rng.poisson(rate)
        times.append(h * 3600.0 + np.sort(rng.uniform(0, 3600.0, n)))
        ps.append(rng.beta(0.6, 3.0, n))
    t = np.concatenate(times)
    p = np.concatenate(ps)
    y = (rng.random(p.size) < p).astype(int)
    return t, np.c_[p, np.arange(p.size)], y


def _run(
    priority: Any, capacity: int, t: np.ndarray, X: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    clock = Clock()
    q = MemoryQueue(clock=clock)
    g = (
        guard(_model, output="proba", classes=CLASSES)
        .abstain(confidence_below(0.9))
        .review(
            q,
            priority=priority,
            budget=ReviewBudget(capacity, per="hour", clock=clock),
            on_budget="provisional",
        )
    )
    wrong_cost_total = 0.0
    for start in range(0, len(t), BATCH):
        clock.now = float(t[min(start + BATCH, len(t)) - 1])
        rows = X[start : start + BATCH]
        d = g.decide(rows)
        withheld = d.abstained
        if withheld.any():
            cand = d.prediction[withheld]
            truth = np.asarray(CLASSES, dtype=object)[y[start : start + BATCH][withheld]]
            for c, tr in zip(cand, truth):
                if c != tr:
                    wrong_cost_total += COST[c][tr]
    caught = 0
    caught_cost = 0.0
    cases = q.list(limit=10_000_000)
    for case in cases:
        row = int(case.context["input"][1])
        truth = CLASSES[y[row]]
        cand = case.context["candidate"]
        if cand != truth:
            caught += 1
            caught_cost += COST[cand][truth]
    hours = len(cases) / CASES_PER_REVIEWER_HOUR
    return {
        "reviewed": float(len(cases)),
        "caught": float(caught),
        "per_hour": caught / hours if hours else math.nan,
        "cost_per_hour": caught_cost / hours if hours else math.nan,
        "share": caught_cost / wrong_cost_total if wrong_cost_total else math.nan,
    }


def part1(hours: int) -> str:
    t, X, y = _traffic(hours, seed=1)
    policies = [
        ("value (cost matrix)", cost_priority(COST)),
        ("uncertainty only", "uncertainty"),
        ("first come first served", "fifo"),
    ]
    rows = []
    for capacity in (10, 20, 40):
        for name, priority in policies:
            r = _run(priority, capacity, t, X, y)
            rows.append(
                [
                    str(capacity),
                    name,
                    f"{r['reviewed']:.0f}",
                    f"{r['caught']:.0f}",
                    f"{r['per_hour']:.1f}",
                    f"{r['cost_per_hour']:.1f}",
                    f"{r['share']:.1%}",
                ]
            )
    return table(
        f"Part 1: {hours} h of traffic ({len(t)} rows), capacity in cases/hour, "
        f"{CASES_PER_REVIEWER_HOUR:.0f} cases per review hour",
        [
            "capacity",
            "routing",
            "reviewed",
            "errors caught",
            "caught/review h",
            "error cost caught/review h",
            "share of error cost caught",
        ],
        rows,
    )


def part2(reps: int) -> str:
    rng = np.random.default_rng(19)
    rows = []
    for favour in (0.0, 4.0, 16.0, 64.0):
        w_err, n_err, w_cov, n_cov, sizes = [], [], 0, 0, []
        for _ in range(reps):
            p = rng.beta(0.6, 3.0, 20_000)
            conf = np.maximum(p, 1.0 - p)
            answered = conf >= 0.9
            conf = conf[answered]
            correct = rng.random(conf.size) < conf
            chance = inclusion_probabilities(1.0 - conf, 0.01, favour)
            drawn = rng.random(conf.size) < chance
            truth = float(correct.mean())
            est = weighted_accuracy(correct[drawn], 1.0 / chance[drawn])
            naive = weighted_accuracy(correct[drawn])
            w_err.append(est.accuracy - truth)
            n_err.append(naive.accuracy - truth)
            w_cov += est.low <= truth <= est.high
            n_cov += naive.low <= truth <= naive.high
            sizes.append(int(drawn.sum()))
        for name, err, cov in (("weighted", w_err, w_cov), ("naive", n_err, n_cov)):
            e = np.asarray(err)
            rows.append(
                [
                    f"{favour:g}",
                    name,
                    f"{np.mean(sizes):.0f}",
                    f"{e.mean():+.4f}",
                    f"{e.std(ddof=1) / math.sqrt(reps):.4f}",
                    f"{cov / reps:.3f}",
                ]
            )
    return table(
        f"Part 2: accuracy of the answered rows from the audit sample, {reps} seeded draws "
        "(audit_rate 0.01, 95% intervals)",
        ["audit_favour", "estimate", "audit cases", "bias", "s.e. of bias", "coverage"],
        rows,
    )


def main() -> None:
    # the over-budget warnings (one per 10 s) would interleave with the tables
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one day, fewer draws")
    args = parser.parse_args()
    print(part1(24 if args.quick else 24 * 7))
    print()
    print(part2(100 if args.quick else 400))


if __name__ == "__main__":
    main()
