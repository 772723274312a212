"""Drift that matters: full power from the reference, sane statistics, effect sizes,
false alarms controlled over time, impact on the model (issue 20)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from structlog.testing import CapturingLogger

from guardrails import ConfigurationError, DriftProfile, Monitored, guard, rank_impact
from guardrails.monitoring.reference import MIN_EFFECT, WASSERSTEIN_FLOOR
from tests.monitoring.support import benchmark_data

# -- every statistic sees a constant column move ---------------------------------------------


@pytest.mark.parametrize(
    ("test", "thresholds"),
    [
        ("ks", None),
        ("psi", None),
        ("js", {"js": 0.1}),
        ("wasserstein", {"wasserstein": 0.1}),
    ],
)
def test_a_constant_reference_column_that_moves_is_flagged_by_each_statistic(
    test: str, thresholds: dict[str, float] | None
) -> None:
    rng = np.random.default_rng(0)
    ref = np.column_stack((np.zeros(5000), rng.normal(size=5000)))
    cur = np.column_stack((np.full(800, 4.0), rng.normal(size=800)))
    report = DriftProfile.from_data(ref).compare(cur, tests=(test,), thresholds=thresholds)
    assert report.drifted_features == ["x0"]
    result = report["x0"].tests[test]
    assert result.effect == 1.0  # all the window's mass sits where the reference has none
    if test == "psi":
        assert result.statistic > 10  # was 0: the value fell outside every reference bin
    if test == "js":
        assert result.statistic == pytest.approx(1.0)  # disjoint supports
    if test == "wasserstein":  # 4 units in the floor's units, not raw units
        assert result.statistic == pytest.approx(4.0 / WASSERSTEIN_FLOOR)


def test_a_constant_categorical_column_that_moves_is_flagged_by_each_statistic() -> None:
    ref = {"c": np.array(["a"] * 3000)}
    cur = {"c": np.array(["b"] * 500)}
    profile = DriftProfile.from_data(ref)
    for test, thresholds in (("chi2", None), ("psi", None), ("js", {"js": 0.1})):
        report = profile.compare(cur, tests=(test,), thresholds=thresholds)
        assert report.drifted_features == ["c"], test
        assert report["c"].effect == 1.0


def test_values_beyond_the_reference_range_count_in_psi() -> None:
    # half of the window above the reference's maximum: PSI sees it (two outer bins)
    rng = np.random.default_rng(1)
    ref = rng.uniform(size=(5000, 1))
    cur = np.concatenate((rng.uniform(size=400), rng.uniform(2.0, 3.0, size=400)))[:, None]
    psi = DriftProfile.from_data(ref).compare(cur)["x0"].tests["psi"]
    assert psi.drifted and psi.statistic > 2.0


# -- effect size next to significance --------------------------------------------------------


def test_every_test_reports_the_effect_size_on_one_scale() -> None:
    rng = np.random.default_rng(2)
    ref = {"x": rng.normal(size=4000), "c": rng.choice(list("abc"), size=4000)}
    cur = {"x": rng.normal(0.5, 1.0, size=1000), "c": rng.choice(list("abcd"), size=1000)}
    report = DriftProfile.from_data(ref).compare(cur)
    x, c = report["x"], report["c"]
    assert x.effect == x.tests["ks"].statistic
    assert all(t.effect == x.effect for t in x.tests.values())
    props = DriftProfile.from_data(ref).reference_proportions("c")
    seen = np.array([np.mean(cur["c"] == k) for k in "abc"] + [np.mean(cur["c"] == "d")])
    assert c.effect == pytest.approx(0.5 * np.abs(props - seen).sum())
    assert "effect" in report.table() and "min_effect=0.02" in report.table()


def test_a_large_window_flags_a_significant_but_immaterial_shift_only_without_min_effect() -> None:
    # 100,000 rows against 100,000: a 0.03 sd shift moves 0.012 of the mass; the Bonferroni
    # critical KS value is about 0.0071, so it is significant, but it is below min_effect
    # (0.02). Without a shift, D >= 0.02 has probability below 2 exp(-2 * 50,000 * 0.02^2)
    # = 4e-18 per feature, so the default raises no alarm; a 0.2 sd shift (D about 0.08)
    # is flagged either way.
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(100_000, 4))
    cur = rng.normal(size=(100_000, 4))
    profile = DriftProfile.from_data(ref)
    assert profile.compare(cur, tests=("ks",)).drifted_features == []
    cur[:, 1] += 0.03
    assert profile.compare(cur, tests=("ks",), min_effect=0.0).drifted_features == ["x1"]
    assert profile.compare(cur, tests=("ks",)).drifted_features == []
    cur[:, 2] += 0.2
    assert profile.compare(cur, tests=("ks",)).drifted_features == ["x2"]
    with pytest.raises(ConfigurationError, match="'min_effect'"):
        profile.compare(cur, min_effect=1.5)


# -- full power from every reference row ------------------------------------------------------


@pytest.mark.slow
def test_the_five_shifted_features_and_no_other_are_flagged_for_twenty_seeds() -> None:
    # The profile no longer samples, so its seed changes nothing; the data's seed varies.
    # At 40,000 rows each, every shifted feature's KS statistic (>= 0.05) is over twice
    # the Bonferroni critical value (about 0.0138); an unshifted feature flags only with
    # D >= min_effect = 0.02, of probability below 2 exp(-2 * 20,000 * 0.02^2) = 2e-7
    # (2e-4 over the 900 unshifted features of 20 seeds).
    for seed in range(20):
        ref, cur, shifted = benchmark_data(seed, 40_000, 40_000)
        report = DriftProfile.from_data(ref, random_state=seed).compare(cur, tests=("ks", "psi"))
        assert report.drifted_features == [f"x{j}" for j in shifted], seed


# -- false alarms over time -------------------------------------------------------------------


def stream_guard(
    seed: int, n_features: int = 20, **settings: Any
) -> tuple[Any, NDArray[np.float64], CapturingLogger]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20_000, n_features))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    log = CapturingLogger()
    g = guard(LogisticRegression().fit(X, y)).monitor(
        DriftProfile.from_data(X), logger=log, **settings
    )
    return g.build(), X, log


def declarations(log: CapturingLogger) -> int:
    return sum(1 for c in log.calls if c.args and c.args[0] == "drift_detected")


def test_the_level_per_window_follows_from_the_false_alarm_rate() -> None:
    g, _, _ = stream_guard(0)
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    assert (mon.window, mon.step, mon.false_alarms, mon.per_rows) == (2000, 500, 1.0, 1_000_000)
    assert mon.alpha == pytest.approx(1.0 * 500 / 1_000_000)
    assert mon.min_effect == MIN_EFFECT
    with pytest.raises(ConfigurationError, match="not both"):
        stream_guard(0, alpha=0.05, false_alarms=2.0)


@pytest.mark.slow
def test_a_stationary_stream_declares_drift_at_most_at_the_stated_rate() -> None:
    # The rate scaled to the stream: one expected false declaration per 40,000 rows, with
    # windows of 400 tested every 100 rows (level 0.0025 per window). A declaration needs
    # a flagged window, so by the union bound a stream's expected count is at most 1. Over
    # S streams we allow S + 3 sqrt(S) (three Poisson standard deviations).
    seeds, total = 12, 0
    for seed in range(seeds):
        g, _, log = stream_guard(seed, 5, window=400, false_alarms=1.0, per_rows=40_000)
        rng = np.random.default_rng(100 + seed)
        for _ in range(20):
            g.decide(rng.normal(size=(2000, 5)))
        total += declarations(log)
    print(f"\nfalse declarations: {total} in {seeds} streams (bound {seeds} expected)")
    assert total <= seeds + 3 * math.sqrt(seeds)


@pytest.mark.slow
def test_a_fifth_of_a_standard_deviation_is_declared_within_two_windows_at_the_defaults() -> None:
    # Defaults: windows of 2,000 rows every 500, level 5e-4 per window, Bonferroni over 20
    # features: the critical KS value against 20,000 reference rows is about 0.056; a 0.2
    # sd shift moves the mass by about 0.08 (standard error about 0.011), so each fully
    # shifted window flags with probability about 0.98 and there are five of them within
    # two windows of the shift's start.
    for seed in range(6):
        g, _, log = stream_guard(seed)
        rng = np.random.default_rng(200 + seed)
        for _ in range(40):  # 4,000 stationary rows in calls of 100
            g.decide(rng.normal(size=(100, 20)))
        assert declarations(log) == 0
        served = 0
        while declarations(log) == 0 and served < 10_000:
            X = rng.normal(size=(100, 20))
            X[:, 5] += 0.2
            g.decide(X)
            served += 100
        assert served <= 2 * 2000, (seed, served)


def test_routine_windows_are_debug_events_and_declarations_warnings() -> None:
    g, _, log = stream_guard(0, window=400)
    rng = np.random.default_rng(5)
    g.decide(rng.normal(size=(800, 20)))
    g.decide(rng.normal(size=(800, 20)) + 3.0)
    levels = {c.args[0]: c.method_name for c in log.calls}
    assert levels["drift_window"] == "debug"
    assert levels["drift_detected"] == "warning"


# -- impact -----------------------------------------------------------------------------------


def test_features_are_ranked_by_how_much_their_drift_moves_the_model() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5000, 3))
    y = (2 * X[:, 0] + 0.1 * X[:, 2] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    profile = DriftProfile.from_data(X)
    cur = rng.normal(size=(3000, 3))
    cur[:, 0] += 0.6  # matters
    cur[:, 1] *= 3.0  # drifts far more, the model ignores it
    report = profile.compare(cur)
    assert set(report.drifted_features) == {"x0", "x1"}
    impact = rank_impact(model, cur, profile, features=report.drifted_features)
    assert impact.ranking == ["x0", "x1"]
    assert impact.features[0].prediction_shift > 0.1
    assert impact.features[1].prediction_shift < 0.01
    assert "prediction_shift" in impact.table()
    with pytest.raises(ConfigurationError, match="unknown features"):
        rank_impact(model, cur, profile, features=["nope"])
