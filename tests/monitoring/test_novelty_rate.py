"""The novelty rate per window as a drift signal of the monitor."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from structlog.testing import CapturingLogger

from guardrails import DriftProfile, MarkDrift, Monitored, Reason, guard
from guardrails.monitoring.novelty import conformal_p_values
from guardrails.monitoring.novelty_rate import _NoveltyCounts, novelty_p_value


@pytest.mark.parametrize(("capacity", "n_buckets"), [(5, 4), (7, 1), (3, 2), (10, 10)])
def test_novel_counts_per_window_are_those_of_the_rows_the_windows_hold(
    capacity: int, n_buckets: int
) -> None:
    rng = np.random.default_rng(capacity * 10 + n_buckets)
    counts, seen, got = _NoveltyCounts(capacity, n_buckets), [], []
    for _ in range(80):
        batch = rng.random(int(rng.integers(0, 60))) < 0.3
        seen += batch.tolist()
        got += counts.feed(batch)
    a = np.asarray(seen, dtype=int)
    closes = range(n_buckets - 1, a.size // capacity)
    assert got == [
        int(a[(j + 1 - n_buckets) * capacity : (j + 1) * capacity].sum()) for j in closes
    ]
    counts.reset()
    assert counts.feed(np.ones(capacity * n_buckets, dtype=bool)) == [capacity * n_buckets]


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_the_window_test_declares_at_most_its_level_over_2000_random_calibrations(
    alpha: float,
) -> None:
    """A gate calibrated on 999 rows, a window of 500 exchangeable rows: the share of
    (calibration, window) draws declared at level 0.05 is at most 0.05, within three
    standard deviations of a binomial share over the draws (and not far below it: the
    test is exact, only discreteness keeps it under the level)."""
    rng = np.random.default_rng(int(alpha * 1000))
    draws, n_cal, rows, level = 2000, 999, 500, 0.05
    cal = np.sort(rng.random((draws, n_cal)), axis=1)
    novel = (conformal_p_values(cal, rng.random((draws, rows))) <= alpha).sum(axis=1)
    declared = np.mean([novelty_p_value(int(k), rows, alpha, n_cal) <= level for k in novel])
    sd = math.sqrt(level * (1 - level) / draws)
    assert declared <= level + 3 * sd
    assert declared >= level / 3
    # a plain Binomial(rows, alpha) test ignores the shared calibration set and over-declares
    from scipy import stats

    naive = np.mean(stats.binom.sf(novel - 1, rows, alpha) <= level)
    assert naive > declared


def _setup(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X[:1000], y[:1000])
    return {
        "rng": rng,
        "model": model,
        "X_ref": X[:1000],
        "X_cal": X[1000:2000],
        "y_cal": y[1000:2000],
    }


def _guard(s: dict[str, Any], log: CapturingLogger) -> Any:
    return (
        guard(s["model"])
        .novelty(s["X_ref"], alpha=0.01)
        .monitor(
            DriftProfile.from_data(s["X_ref"]),
            window=1000,
            mode="tumbling",
            action=MarkDrift(),
            logger=log,
        )
        .fit(s["X_cal"], s["y_cal"])
    )


def _novelty_rows(g: Any) -> Any:
    report = g.layer(Monitored).report
    return None if report is None or "novelty_rate" not in report else report["novelty_rate"]


def test_a_stream_without_novel_rows_never_declares_a_novelty_rate() -> None:
    """30 windows of in-distribution rows at the monitor's default level (expected false
    declarations 1 per million rows: 0.03 over these 30,000 rows); none declares."""
    s = _setup(1)
    log = CapturingLogger()
    g = _guard(s, log)
    novel = 0
    for _ in range(30):
        d = g.decide(s["rng"].normal(size=(1000, 4)))
        novel += int((d.reason == Reason.NOVEL).sum())
        row = _novelty_rows(g)
        assert row is not None and not row.drifted
        assert row.n == 1000
    assert 0 < novel < 30 * 1000 * 0.02  # the gate flags about 1% of rows
    windows = [c.kwargs for c in log.calls if c.args[0] == "drift_window"]
    assert len(windows) == 30 and sum(w["novel"] for w in windows) == novel
    assert all("novelty_rate" not in w["drifted_features"] for w in windows)


@pytest.mark.parametrize("mode", ["tumbling", "sliding"])
def test_a_stream_with_a_tenth_of_rows_novel_declares_within_two_windows(mode: str) -> None:
    s = _setup(2)
    log = CapturingLogger()
    g = (
        guard(s["model"])
        .novelty(s["X_ref"], alpha=0.01)
        .monitor(
            DriftProfile.from_data(predictions=s["model"].predict(s["X_ref"])),
            window=1000,
            mode=mode,
            action=MarkDrift(),
            logger=log,
        )
        .fit(s["X_cal"], s["y_cal"])
    )
    g.decide(s["rng"].normal(size=(1000, 4)))
    assert not _novelty_rows(g).drifted and g.layer(Monitored).status == "ok"
    declared_at = None
    for k in range(1, 3):
        X = s["rng"].normal(size=(1000, 4))
        X[:100, 2] += 12.0  # a tenth of the rows far outside the reference in one feature
        d = g.decide(X)
        if _novelty_rows(g).drifted:
            declared_at = k
            break
    assert declared_at is not None
    assert g.layer(Monitored).status == "drift"
    detected = [c.kwargs for c in log.calls if c.args[0] == "drift_detected"]
    assert "novelty_rate" in detected[-1]["drifted_features"]
    assert detected[-1]["scores"]["novelty_rate"]["beta_binomial"]["p_value"] < 1e-3
    # the action runs while it lasts: the next batch's answers carry the drift mark
    d = g.decide(s["rng"].normal(size=(10, 4)))
    marked = [t for t in d.detail[d.answered] if t is not None]
    assert marked and all("novelty_rate" in t for t in marked)
    assert (d.reason == Reason.NOVEL).sum() <= 1


def test_a_monitor_without_a_novelty_gate_has_no_novelty_row() -> None:
    s = _setup(3)
    g = (
        guard(s["model"])
        .monitor(DriftProfile.from_data(s["X_ref"]), window=500, mode="tumbling")
        .fit(s["X_cal"], s["y_cal"])
    )
    g.decide(s["rng"].normal(size=(1000, 4)))
    assert _novelty_rows(g) is None
