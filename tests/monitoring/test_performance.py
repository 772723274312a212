"""Performance estimation: label-free (CBPE), corrected by labels (PPI++), and acting."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from structlog.testing import CapturingLogger

from guardrails import (
    ConfigurationError,
    DriftAlert,
    DriftProfile,
    InvalidInputError,
    LossModel,
    Metrics,
    Monitored,
    PerformanceRule,
    Tighten,
    confidence_below,
    estimate_performance,
    estimate_performance_chunks,
    guard,
    load,
    ppi_accuracy,
)
from guardrails.monitoring.performance import PerformanceState, PerformanceWatch
from guardrails.review.budget import inclusion_probabilities


# Binomial tolerance of a coverage rate measured over `m` windows or draws: 4 standard errors.
def _tol(level: float, m: int) -> float:
    return 4 * math.sqrt(level * (1 - level) / m)


def _stream(
    rng: np.random.Generator, n: int, shift: float, flip: float = 0.0, slope: float = 3.0
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.int_], NDArray[np.float64]]:
    """Calibrated binary model under covariate shift ``shift``; concept drift flips the
    label of a share ``flip`` of rows with x > 0.3. Returns confidence, correct, pred, x."""
    x = rng.normal(shift, 1.0, n)
    p1 = 1.0 / (1.0 + np.exp(-slope * x))
    y = (rng.random(n) < p1).astype(int)
    y = np.where((x > 0.3) & (rng.random(n) < flip), 1 - y, y)
    pred = (p1 > 0.5).astype(int)
    conf = np.maximum(p1, 1 - p1)
    return conf, pred == y, pred, x


def test_under_covariate_shift_the_label_free_estimate_tracks_and_covers_realized_accuracy() -> (
    None
):
    rng = np.random.default_rng(18)
    level, m = 0.9, 600
    hits_ans = hits_all = 0
    errors = []
    for _ in range(m):
        conf, correct, _, _ = _stream(rng, 500, shift=rng.uniform(-1.5, 1.5))
        abst = conf < 0.7
        est = estimate_performance(conf, abstained=abst, level=level)
        realized_ans = correct[~abst].mean()
        lo, hi = est.accuracy_answered_interval
        hits_ans += lo <= realized_ans <= hi
        lo, hi = est.accuracy_all_interval
        hits_all += lo <= correct.mean() <= hi
        errors.append(est.accuracy_answered - realized_ans)
    assert abs(hits_ans / m - level) < _tol(level, m)
    assert abs(hits_all / m - level) < _tol(level, m)
    assert abs(float(np.mean(errors))) < 0.005  # unbiased: mean error well under its s.e.


def test_under_concept_drift_ppi_keeps_coverage_where_the_label_free_estimate_is_off() -> None:
    rng = np.random.default_rng(1801)
    level, m, n = 0.9, 400, 4000
    bias, hits_ppi, hits_lab, widths, lab_widths = [], 0, 0, [], []
    for _ in range(m):
        conf, correct, _, _ = _stream(rng, n, shift=0.5, flip=0.1, slope=6.0)
        realized = correct.mean()
        pi = inclusion_probabilities(1.0 - conf, rate=0.04, favour=2.0)
        drawn = rng.random(n) < pi
        est = ppi_accuracy(conf, correct[drawn], conf[drawn], pi[drawn], level=level)
        bias.append(est.label_free - realized)
        hits_ppi += est.interval[0] <= realized <= est.interval[1]
        hits_lab += est.labelled_only_interval[0] <= realized <= est.labelled_only_interval[1]
        widths.append(est.interval[1] - est.interval[0])
        lab_widths.append(est.labelled_only_interval[1] - est.labelled_only_interval[0])
    assert np.mean(bias) > 0.04  # the confidence-based estimate is far too optimistic
    assert abs(hits_ppi / m - level) < _tol(level, m)
    assert abs(hits_lab / m - level) < _tol(level, m)
    assert np.mean(widths) < 0.98 * np.mean(lab_widths)  # confidence still informs


def test_ppi_without_drift_is_much_narrower_than_labels_alone() -> None:
    rng = np.random.default_rng(7)
    conf, correct, _, _ = _stream(rng, 20000, shift=0.0, slope=6.0)
    pi = np.full(conf.size, 0.02)
    drawn = rng.random(conf.size) < pi
    est = ppi_accuracy(conf, correct[drawn], conf[drawn], pi[drawn])
    width = est.interval[1] - est.interval[0]
    assert width < 0.92 * (est.labelled_only_interval[1] - est.labelled_only_interval[0])
    assert 0 < est.lam <= 1
    assert est.interval[0] <= correct.mean() <= est.interval[1]


def test_plain_ppi_and_no_labels_are_handled() -> None:
    f = np.array([0.9, 0.8, 0.7])
    plain = ppi_accuracy(f, np.array([True]), f[:1], np.array([0.5]), tune=False)
    assert plain.lam == 1.0
    empty = ppi_accuracy(f, np.array([], bool), np.array([]), np.array([]))
    assert math.isnan(empty.estimate) and empty.labelled == 0
    assert empty.label_free == pytest.approx(0.8)


def test_ppi_refuses_unknown_inclusion_probabilities_and_mismatched_shapes() -> None:
    f = np.array([0.9, 0.8])
    with pytest.raises(InvalidInputError, match=r"\(0, 1\]"):
        ppi_accuracy(f, np.array([True]), f[:1], np.array([np.nan]))
    with pytest.raises(InvalidInputError, match="one length"):
        ppi_accuracy(f, np.array([True, False]), f[:1], np.array([0.5]))


def test_the_expected_confusion_matrix_gives_the_mean_realized_precision_and_recall() -> None:
    rng = np.random.default_rng(3)
    n, draws = 3000, 300
    x = rng.normal(0.3, 1.0, n)
    p1 = 1.0 / (1.0 + np.exp(-2.0 * x))
    pred = (p1 > 0.5).astype(int)
    conf = np.maximum(p1, 1 - p1)
    est = estimate_performance(conf, predictions=pred, positive=1)
    y = rng.random((draws, n)) < p1  # labels drawn from the calibrated probabilities
    tp = (y & (pred == 1)).sum(axis=1)
    precision = tp / (pred == 1).sum()
    recall = tp / y.sum(axis=1)
    assert est.precision == pytest.approx(precision.mean(), abs=4 * precision.std() / 10)
    assert est.recall == pytest.approx(recall.mean(), abs=4 * recall.std() / 10)
    assert est.f1 == pytest.approx(2 * est.precision * est.recall / (est.precision + est.recall))


def test_a_decisions_batch_is_estimated_from_its_own_columns() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    from sklearn.linear_model import LogisticRegression

    g = guard(LogisticRegression().fit(X, y)).abstain(confidence_below(0.7)).build()
    d = g.decide(X)
    est = estimate_performance(d)
    assert est.rows == 600 and est.answered == int((~d.abstained).sum())
    assert est.accuracy_answered == pytest.approx(float(d.confidence[~d.abstained].mean()))


@pytest.mark.parametrize("positive", [None, 1])
def test_chunked_estimates_equal_one_estimate_per_chunk(positive: Any) -> None:
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.5, 1.0, size=10_250)
    conf[::97] = np.nan  # rows without a confidence are left out, as in one batch
    abst = rng.random(conf.size) < 0.2
    pred = rng.integers(0, 2, size=conf.size)
    chunks = estimate_performance_chunks(
        conf, chunk_size=1000, abstained=abst, predictions=pred, positive=positive
    )
    assert len(chunks) == 11 and chunks[-1].rows == 250
    for c, got in enumerate(chunks):
        r = slice(c * 1000, (c + 1) * 1000)
        want = estimate_performance(
            conf[r], abstained=abst[r], predictions=pred[r], positive=positive
        )
        for key, value in want.to_dict().items():
            assert got.to_dict()[key] == pytest.approx(value, rel=1e-12, abs=1e-12, nan_ok=True)
    assert estimate_performance_chunks(np.array([]), chunk_size=3) == []
    with pytest.raises(ConfigurationError, match="'chunk_size' parameter"):
        estimate_performance_chunks(conf, chunk_size=0)


def test_the_loss_model_estimates_a_regressor_s_error_within_its_reference_support() -> None:
    rng = np.random.default_rng(11)

    def batch(n: int, shift: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        pred = rng.normal(shift, 1.0, n)
        return pred, pred + rng.normal(0, 0.3 + 0.5 * np.abs(pred), n)

    model = LossModel(bins=20).fit(*batch(20000, 0.0))
    level, m, hits, errors = 0.9, 300, 0, []
    for _ in range(m):
        pred, true = batch(500, rng.uniform(-0.5, 0.5))
        est = estimate_performance(None, predictions=pred, loss_model=model, level=level)
        realized = float(np.abs(pred - true).mean())
        hits += est.mae_interval[0] <= realized <= est.mae_interval[1]
        errors.append(est.mae - realized)
        assert math.isnan(est.accuracy_all)
    assert hits / m > level - _tol(level, m) - 0.05  # weaker: bins blur the error curve
    assert abs(float(np.mean(errors))) < 0.02


def test_states_merge_like_one_window_and_bytes_do_not_grow() -> None:
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.5, 1, 1000)
    abst = conf < 0.6
    pred = rng.integers(0, 2, 1000)
    whole, a, b = (PerformanceState(positive=1) for _ in range(3))
    whole.update(conf, abst, pred)
    a.update(conf[:300], abst[:300], pred[:300])
    b.update(conf[300:], abst[300:], pred[300:])
    assert np.allclose(a.merge(b).sums, whole.sums)
    merged, one = a.merge(b).estimate(), whole.estimate()
    assert merged.accuracy_answered_interval == pytest.approx(one.accuracy_answered_interval)
    assert merged.f1 == pytest.approx(one.f1)
    assert whole.nbytes == PerformanceState().nbytes


@pytest.mark.parametrize("mode", ["sliding", "tumbling"])
def test_one_big_call_closes_the_same_windows_as_many_small_ones(mode: str) -> None:
    rng = np.random.default_rng(9)
    conf = rng.uniform(0.5, 1, 5000)
    abst = conf < 0.65
    rule = PerformanceRule(below=0.8)
    one, many = (PerformanceWatch(rule, 400, 100, mode) for _ in range(2))
    big = one.observe(conf, abst, None)
    small: list[dict[str, Any]] = []
    for s in range(0, 5000, 37):
        small += many.observe(conf[s : s + 37], abst[s : s + 37], None)
    assert len(big) == len(small) > 0
    for e1, e2 in zip(big, small):
        assert e1.keys() == e2.keys()
        assert e1["event"] == e2["event"]
        if "estimate" in e1:
            assert e1["estimate"] == pytest.approx(e2["estimate"])


def _setup() -> tuple[Any, DriftProfile, np.random.Generator]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    y = (X[:, 0] > 0).astype(int)
    return LogisticRegression().fit(X, y), DriftProfile.from_data(X), rng


def test_a_performance_rule_fires_the_monitor_s_actions_and_recovers() -> None:
    model, profile, rng = _setup()
    log, sent = CapturingLogger(), []
    mon = Monitored(
        model,
        profile=profile,
        window=400,
        mode="tumbling",
        tests=("psi",),
        thresholds={"psi": 100.0},  # input drift never declared: only the rule acts
        logger=log,
        action=[DriftAlert(sent.append), Tighten(threshold=0.99, delta=0.0)],
        performance=PerformanceRule(below=0.9, confidence=0.95),
    )
    healthy = rng.normal(size=(800, 2))
    d = mon.decide(healthy)
    assert not mon.performance_firing and not d.abstained.any()
    degraded = rng.normal(size=(800, 2)) * [0.02, 1.0]  # every row near the boundary
    mon.decide(degraded)
    assert mon.performance_firing and mon.status != "drift"
    d = mon.decide(degraded[:50])
    assert d.abstained.all()  # Tighten withholds while the rule holds
    mon.decide(healthy)
    assert not mon.performance_firing
    names = [c.args[0] for c in log.calls]
    assert names.count("performance_degraded") == 1 and names.count("performance_recovered") == 1
    assert [e["event"] for e in sent] == ["performance_degraded", "performance_recovered"]
    degraded_event = next(c.kwargs for c in log.calls if c.args[0] == "performance_degraded")
    assert degraded_event["upper"] < 0.9 and degraded_event["threshold"] == 0.9


def test_the_estimate_and_its_bounds_reach_the_metrics_gauges() -> None:
    model, profile, rng = _setup()
    metrics = Metrics()
    g = (
        guard(model)
        .monitor(profile, window=200, mode="tumbling", performance=PerformanceRule(below=0.5))
        .log(metrics=metrics)
        .build()
    )
    g.decide(rng.normal(size=(450, 2)))
    scores = metrics.snapshot().guard("guard").drift_scores
    assert (
        scores["performance.lower"] <= scores["performance.estimate"] <= scores["performance.upper"]
    )
    assert scores["performance.firing"] == 0.0


def test_a_saved_guard_keeps_its_performance_rule(tmp_path: Path) -> None:
    model, profile, _ = _setup()
    rule = PerformanceRule(below=0.85, confidence=0.9, recovery=2)
    g = guard(model).monitor(profile, window=200, performance=rule)
    loaded = load(g.save(tmp_path / "perf.guard"), model=model)
    mon = loaded.layer(Monitored)
    assert isinstance(mon, Monitored)
    assert repr(mon.performance) == repr(rule)


def test_misuse_gets_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="needs 'below='"):
        PerformanceRule("accuracy_answered", above=0.1)
    with pytest.raises(ConfigurationError, match="loss_model"):
        PerformanceRule("mae", above=0.5)
    with pytest.raises(ConfigurationError, match="'metric' parameter"):
        PerformanceRule("auc", below=0.5)
    with pytest.raises(ConfigurationError, match="'confidence' parameter"):
        PerformanceRule(below=0.9, confidence=1.0)
    with pytest.raises(ConfigurationError, match="needs calibrated confidence"):
        estimate_performance(None)
    with pytest.raises(ConfigurationError, match="not fitted"):
        LossModel().expected_error(np.zeros(3))
    model, profile, _ = _setup()
    with pytest.raises(ConfigurationError, match="must be a PerformanceRule"):
        Monitored(model, profile=profile, performance=0.9)  # type: ignore[arg-type]
