"""Calibration metrics: ECE, classwise ECE, MCE, Brier, NLL and reliability curves."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import brier_score_loss, log_loss

from guardrails import (
    ConfigurationError,
    InvalidInputError,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)
from guardrails.calibration.metrics import bin_edges


def _random(seed: int, n: int = 2000, k: int = 4) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(k, 0.7), size=n)
    y = np.array([rng.choice(k, p=p**2 / (p**2).sum()) for p in proba])
    return y, proba


def _loop_ece(
    scores: NDArray[np.float64], hits: NDArray[np.float64], edges: NDArray[np.float64]
) -> tuple[float, float]:
    """ECE and MCE written as plainly as possible: bins (lo, hi], the first holds lo."""
    n = len(scores)
    ece, mce = 0.0, 0.0
    for b in range(len(edges) - 1):
        lo, hi = edges[b], edges[b + 1]
        members = [i for i in range(n) if (lo < scores[i] <= hi) or (b == 0 and scores[i] == lo)]
        if not members:
            continue
        conf = sum(scores[i] for i in members) / len(members)
        acc = sum(hits[i] for i in members) / len(members)
        ece += len(members) / n * abs(acc - conf)
        mce = max(mce, abs(acc - conf))
    return ece, mce


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_top_label_ece_and_mce_match_an_independent_loop(seed: int, strategy: str) -> None:
    y, proba = _random(seed)
    conf = proba.max(axis=1)
    hits = (proba.argmax(axis=1) == y).astype(float)
    edges = bin_edges(conf, 15, strategy)  # type: ignore[arg-type]
    ece, mce = _loop_ece(conf, hits, edges)
    kwargs = {"bins": 15, "strategy": strategy}
    assert expected_calibration_error(y, proba, **kwargs) == pytest.approx(ece, abs=1e-12)
    assert maximum_calibration_error(y, proba, **kwargs) == pytest.approx(mce, abs=1e-12)
    assert mce >= ece


def test_classwise_ece_is_the_mean_of_per_class_loops() -> None:
    y, proba = _random(3, k=3)
    per_class = []
    for j in range(3):
        edges = np.linspace(0, 1, 11)
        per_class.append(_loop_ece(proba[:, j], (y == j).astype(float), edges)[0])
    got = classwise_calibration_error(y, proba, bins=10)
    assert got == pytest.approx(np.mean(per_class), abs=1e-12)


def test_a_calibrated_forecaster_has_ece_within_the_sampling_bound() -> None:
    # y ~ Bernoulli(p) is calibrated, so each bin's expected gap is only sampling noise:
    # E|acc_b - conf_b| <= sqrt(1 / (4 n_b)), and summing with weights n_b / n gives
    # E[ECE] <= sum_b sqrt(n_b) / (2 n) <= sqrt(B / n) / 2 by Cauchy-Schwarz.
    n, bins = 20_000, 15
    bound = np.sqrt(bins / n) / 2
    values = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        p = rng.uniform(0, 1, n)
        y = (rng.uniform(0, 1, n) < p).astype(int)
        values.append(expected_calibration_error(y, p, bins=bins))
    assert np.mean(values) <= bound


def test_quantile_bins_hold_equal_mass_and_ties_get_their_own_bin() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 1500)
    y = (rng.uniform(0, 1, 1500) < scores).astype(int)
    curve = reliability_curve(y, scores, bins=10, strategy="quantile", label=1)
    assert curve.counts.sum() == 1500
    assert curve.counts.max() - curve.counts.min() <= 2
    tied = np.r_[np.zeros(600), np.ones(600), rng.uniform(0, 1, 300)]
    y_tied = (rng.uniform(0, 1, 1500) < tied).astype(int)
    edges = bin_edges(tied, 10, "quantile")
    curve = reliability_curve(y_tied, tied, bins=10, strategy="quantile", label=1)
    assert len(edges) - 1 == len(curve.counts)
    # the 600 exact 0s and the 600 exact 1s each fill a bin of their own
    assert curve.counts[0] == 600 and curve.counts[-1] == 600
    assert curve.confidence[0] == 0.0 and curve.confidence[-1] == 1.0


def test_reliability_curve_data_is_consistent() -> None:
    y, proba = _random(4)
    curve = reliability_curve(y, proba, bins=10)
    filled = curve.counts > 0
    assert curve.counts.sum() == len(y)
    assert np.all(curve.confidence[filled] >= curve.edges[:-1][filled] - 1e-12)
    assert np.all(curve.confidence[filled] <= curve.edges[1:][filled] + 1e-12)
    assert np.isnan(curve.accuracy[~filled]).all()
    assert curve.ece == pytest.approx(expected_calibration_error(y, proba, bins=10))
    one = reliability_curve(y, proba, bins=10, label=2)
    assert one.counts.sum() == len(y)
    assert np.nansum(one.accuracy * one.counts) == pytest.approx((y == 2).sum())


def test_brier_and_nll_agree_with_scikit_learn() -> None:
    y, proba = _random(5)
    assert brier_score(y, proba) == pytest.approx(
        brier_score_loss(y, proba, labels=[0, 1, 2, 3], scale_by_half=False)
    )
    assert negative_log_likelihood(y, proba) == pytest.approx(log_loss(y, proba))
    yb = (proba[:, 0] > 0.3).astype(int)
    pb = proba[:, 0] / proba[:, :2].sum(axis=1)
    # Brier's original definition sums over both classes: twice the positive-class score
    assert brier_score(yb, pb) == pytest.approx(2 * brier_score_loss(yb, pb))


def test_labels_can_be_named_by_classes() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    named = expected_calibration_error(["no", "yes", "yes"], proba, classes=["no", "yes"])
    assert named == expected_calibration_error([0, 1, 1], proba)
    with pytest.raises(InvalidInputError, match=r"\['maybe'\] are not among the classes"):
        brier_score(["no", "maybe", "yes"], proba, classes=["no", "yes"])
    with pytest.raises(InvalidInputError, match="need classes"):
        brier_score(["no", "yes", "yes"], proba)
    with pytest.raises(InvalidInputError, match="not a column index"):
        brier_score([0, 2, 1], proba)


@pytest.mark.parametrize(
    ("proba", "match"),
    [
        (np.array([[0.5, 0.7], [0.2, 0.8]]) * 2, "lie in"),
        (np.array([[np.nan, 1.0], [0.2, 0.8]]), "NaN"),
        (np.ones((2, 1, 1)), "shape"),
        (np.array([["a", "b"], ["c", "d"]]), "numbers"),
    ],
)
def test_malformed_probabilities_are_refused_clearly(
    proba: NDArray[np.float64], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        expected_calibration_error([0, 1], proba)


def test_mismatched_lengths_and_bad_settings_are_refused() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7]])
    with pytest.raises(InvalidInputError, match="3 labels but proba has 2 rows"):
        negative_log_likelihood([0, 1, 1], proba)
    with pytest.raises(ConfigurationError, match=r"'bins' parameter.*positive int"):
        expected_calibration_error([0, 1], proba, bins=0)
    with pytest.raises(ConfigurationError, match="'strategy' parameter"):
        expected_calibration_error([0, 1], proba, strategy="equal")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at least one row"):
        brier_score([], np.empty((0, 2)))
