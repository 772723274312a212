"""Guarantees beyond exchangeability and 0/1 loss: weighted conformal, risk control, DtACI."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LinearRegression, LogisticRegression

import guardrails
from guardrails import (
    AdaptiveConformal,
    ConfigurationError,
    ConformalIntervals,
    ConformalRiskControl,
    ConformalSets,
    CostControlledThreshold,
    Decisions,
    DomainClassifier,
    DriftProfile,
    DtACI,
    InvalidInputError,
    LearnThenTest,
    Reweight,
    WeightedConformalIntervals,
    WeightedConformalSets,
    guard,
)
from guardrails.abstention.conformal import conformal_quantile
from guardrails.abstention.weighted import weighted_conformal_quantile

ALPHA = 0.1
SPLITS = 100


def _se4(var: float, splits: int) -> float:
    """Four standard errors of a mean over ``splits`` independent splits."""
    return 4 * math.sqrt(var / splits)


# -- weighted conformal ----------------------------------------------------------------


def test_the_weighted_quantile_with_unit_weights_is_the_split_conformal_threshold() -> None:
    rng = np.random.default_rng(0)
    for n in (9, 10, 57, 200):
        s = np.sort(rng.random(n))
        for alpha in (0.05, 0.1, 0.2, 0.5):
            q = weighted_conformal_quantile(s, np.ones(n), np.ones(3), alpha)
            assert (q == conformal_quantile(s, alpha)).all()


def test_a_heavy_test_row_gets_a_larger_threshold_and_a_dominant_one_gets_infinity() -> None:
    s = np.arange(1.0, 101.0)
    q = weighted_conformal_quantile(s, np.ones(100), np.array([0.1, 1.0, 5.0, 1e6]), 0.1)
    assert q[0] <= q[1] <= q[2] and np.isinf(q[3])


def _shifted_regression(
    rng: np.random.Generator, n: int, mu: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """y = x + noise whose spread grows with |x|: moving x moves where errors are large."""
    X = rng.normal(mu, 1.0, size=(n, 1))
    return X, X[:, 0] + rng.normal(size=n) * (0.5 + np.abs(X[:, 0]))


@pytest.mark.slow
def test_weighted_intervals_cover_the_shifted_inputs_where_unweighted_ones_under_cover() -> None:
    """Tibshirani et al. (2019) with an estimated ratio: coverage on Q is at least
    1 - alpha - (1/2) E_P|w_hat / E_P[w_hat] - w| (Lei and Candes 2021, Theorem 3); the
    gap is measured per split against the true ratio exp(mu x - mu^2 / 2)."""
    rng = np.random.default_rng(21)
    mu, n_cal, n_test = 1.0, 500, 2000
    X_p = rng.normal(size=(5000, 1))
    w_true = np.exp(mu * X_p[:, 0] - mu * mu / 2)
    weighted, plain, gaps = [], [], []
    for _ in range(SPLITS):
        X_cal, y_cal = _shifted_regression(rng, n_cal, 0.0)
        X_new, _ = _shifted_regression(rng, 1000, mu)  # recent traffic, no labels
        X_test, y_test = _shifted_regression(rng, n_test, mu)
        policy = WeightedConformalIntervals(ALPHA).fit_with_inputs(
            Decisions(prediction=X_cal[:, 0]), X_cal, y_cal
        )
        d = Decisions(prediction=X_test[:, 0])
        iv = policy.intervals(d, X_test)
        plain.append(np.mean((iv[:, 0] <= y_test) & (y_test <= iv[:, 1])))
        ratio = policy.shift_to(X_new)
        iv = policy.intervals(d, X_test)
        weighted.append(np.mean((iv[:, 0] <= y_test) & (y_test <= iv[:, 1])))
        w_hat = ratio.ratio(X_p)
        gaps.append(0.5 * np.mean(np.abs(w_hat / w_hat.mean() - w_true)))
    # a weighted threshold uses about n_eff = (sum w)^2 / sum w^2 rows, about n e^-mu^2
    n_eff = n_cal * math.exp(-mu * mu)
    tol = _se4(ALPHA * (1 - ALPHA) * (1 / (n_eff + 2) + 1 / n_test), SPLITS)
    print(f"weighted {np.mean(weighted):.4f}, unweighted {np.mean(plain):.4f}")
    assert np.mean(weighted) >= 1 - ALPHA - np.mean(gaps) - tol
    assert np.mean(plain) < 1 - ALPHA - 0.05  # the same data, unweighted: under-covered


def _shifted_classes(
    rng: np.random.Generator, n: int, mu: float
) -> tuple[NDArray[np.float64], Decisions, NDArray[np.int64]]:
    """Three classes whose noise depends on x; the model is the true P(y | x)."""
    X = rng.normal(mu, 1.0, size=(n, 2))
    logits = (
        np.column_stack([X[:, 0], -X[:, 0], 0.5 * X[:, 1]]) / (1.0 + np.abs(X[:, 0]))[:, np.newaxis]
    )
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    d = Decisions(prediction=p.argmax(axis=1), proba=p, classes=np.arange(3))
    return X, d, y


@pytest.mark.slow
def test_weighted_sets_cover_the_shifted_inputs_with_the_true_ratio() -> None:
    """With the true likelihood ratio the weighted sets are exactly valid on Q."""
    rng = np.random.default_rng(7)
    mu, n_cal, n_test = 1.0, 400, 2000
    shift = np.array([mu, 0.0])
    covered, plain = [], []
    for _ in range(SPLITS):
        X_cal, d_cal, y_cal = _shifted_classes(rng, n_cal, 0.0)
        X_test, d_test, y_test = _shifted_classes(rng, n_test, 0.0)
        X_test[:, 0] += mu
        _, d_test, y_test = _relabel(rng, X_test)
        policy = WeightedConformalSets(ALPHA, max_set_size=None).fit_with_inputs(
            d_cal, X_cal, y_cal
        )
        plain.append(
            policy.evaluate_with_inputs(d_test, X_test)
            .columns["pred_set"][np.arange(n_test), y_test]
            .mean()
        )
        s = policy.reference_scores_
        w_cal = np.exp(policy.reference_inputs_ @ shift - mu * mu / 2)
        w_test = np.exp(X_test @ shift - mu * mu / 2)
        q = weighted_conformal_quantile(s, w_cal, w_test, ALPHA)
        scores = policy.scores(d_test)
        covered.append(np.mean(scores[np.arange(n_test), y_test] <= q + 1e-8))
    n_eff = n_cal * math.exp(-mu * mu)
    tol = _se4(ALPHA * (1 - ALPHA) * (1 / (n_eff + 2) + 1 / n_test), SPLITS)
    assert np.mean(covered) >= 1 - ALPHA - tol
    assert np.mean(plain) < np.mean(covered)


def _relabel(
    rng: np.random.Generator, X: NDArray[np.float64]
) -> tuple[NDArray[np.float64], Decisions, NDArray[np.int64]]:
    logits = (
        np.column_stack([X[:, 0], -X[:, 0], 0.5 * X[:, 1]]) / (1.0 + np.abs(X[:, 0]))[:, np.newaxis]
    )
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((X.shape[0], 1))).argmax(axis=1)
    return X, Decisions(prediction=p.argmax(axis=1), proba=p, classes=np.arange(3)), y


def test_unweighted_the_weighted_policies_give_exactly_the_split_conformal_answers() -> None:
    rng = np.random.default_rng(3)
    X, d, y = _shifted_classes(rng, 600, 0.0)
    plain = ConformalSets(ALPHA, max_set_size=None).fit(d, y)
    weighted = WeightedConformalSets(ALPHA, max_set_size=None).fit_with_inputs(d, X, y)
    assert not weighted.weighted
    assert (
        plain.evaluate(d).columns["pred_set"]
        == weighted.evaluate_with_inputs(d, X).columns["pred_set"]
    ).all()
    Xr, yr = _shifted_regression(rng, 600, 0.0)
    dr = Decisions(prediction=Xr[:, 0])
    a = ConformalIntervals(ALPHA).fit(dr, yr).intervals(dr)
    b = WeightedConformalIntervals(ALPHA).fit_with_inputs(dr, Xr, yr).intervals(dr, Xr)
    assert (a == b).all()


def test_a_shift_widens_sets_where_traffic_moved_and_unshift_restores_them() -> None:
    rng = np.random.default_rng(4)
    X, d, y = _shifted_classes(rng, 800, 0.0)
    policy = WeightedConformalSets(ALPHA, max_set_size=None).fit_with_inputs(d, X, y)
    before = policy.evaluate_with_inputs(d, X).columns["pred_set"]
    ratio = policy.shift_to(X + np.array([1.5, 0.0]))
    assert policy.weighted and ratio.auc_ > 0.7 and 0 <= ratio.clipped_share_ <= 1
    shifted = policy.evaluate_with_inputs(d, X).columns["pred_set"]
    assert not (shifted == before).all()
    policy.unshift()
    assert (policy.evaluate_with_inputs(d, X).columns["pred_set"] == before).all()
    policy.shift_to(X + 1.0)
    with pytest.raises(ConfigurationError, match="reads the model inputs"):
        policy.evaluate(d)


def test_the_domain_classifier_clips_its_ratio_and_refuses_bad_settings() -> None:
    rng = np.random.default_rng(5)
    ratio = DomainClassifier(clip=5.0).fit(rng.normal(size=(300, 1)), rng.normal(3, 1, (300, 1)))
    w = ratio.ratio(np.array([[-10.0], [0.0], [10.0], [np.nan]]))
    assert w.min() >= 1 / 5 - 1e-12 and w.max() <= 5 + 1e-12
    assert w[3] == pytest.approx(5.0)  # an unreadable row gets the widest weight
    assert ratio.clipped_share_ > 0
    quad = DomainClassifier(features="quadratic").fit(
        rng.normal(size=(500, 1)), rng.normal(0, 2, (500, 1))
    )
    assert quad.ratio(np.array([[3.0]]))[0] > quad.ratio(np.array([[0.0]]))[0]
    with pytest.raises(ConfigurationError, match="'clip' parameter of DomainClassifier"):
        DomainClassifier(clip=1.0)
    with pytest.raises(ConfigurationError, match="'features'"):
        DomainClassifier(features="cubic")
    with pytest.raises(InvalidInputError, match="numeric"):
        DomainClassifier().fit(np.array([["a"], ["b"]]), np.array([["c"], ["d"]]))
    with pytest.raises(guardrails.NotFittedError):
        DomainClassifier().ratio(np.zeros((1, 1)))


def test_weighted_policies_need_the_calibration_inputs() -> None:
    rng = np.random.default_rng(6)
    X, d, y = _shifted_classes(rng, 200, 0.0)
    with pytest.raises(ConfigurationError, match="fit_with_inputs"):
        WeightedConformalSets(ALPHA).fit(d, y)
    with pytest.raises(ConfigurationError, match="'ratio' parameter"):
        WeightedConformalSets(ALPHA, ratio="logistic")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'max_reference'"):
        WeightedConformalSets(ALPHA, max_reference=3)
    with pytest.raises(guardrails.NotFittedError):
        WeightedConformalSets(ALPHA).shift_to(X)
    small = WeightedConformalSets(ALPHA, max_reference=50).fit_with_inputs(d, X, y)
    assert small.reference_inputs_.shape == (50, 2)


def test_the_monitor_switches_weighted_sets_on_while_drift_lasts_and_off_after(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(3000, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=3000) > 0).astype(int)
    model = LogisticRegression().fit(X[:1000], y[:1000])
    g = (
        guard(model)
        .abstain(WeightedConformalSets(ALPHA, max_set_size=None))
        .monitor(
            DriftProfile.from_data(X[:1000]),
            window=400,
            mode="tumbling",
            action=Reweight(rows=400, min_rows=200),
        )
        .fit(X[1000:2000], y[1000:2000])
    )
    policy = g.layer(guardrails.Abstaining).policy  # type: ignore[attr-defined]
    assert isinstance(policy, WeightedConformalSets) and not policy.weighted
    g.decide(X[2000:2400])  # same distribution: no drift
    assert not policy.weighted
    shifted = rng.normal(size=(1200, 2)) + np.array([2.0, 0.0])
    g.decide(shifted[:400])  # drift declared on this window; rows collected
    g.decide(shifted[400:800])
    assert policy.weighted
    loaded = guardrails.load(g.save(tmp_path / "w.zip"), model=model)
    assert loaded.decide(shifted[800:]) == g.decide(shifted[800:])
    for start in (0, 400):  # two clean windows: recovered, back to unweighted
        g.decide(X[2000 + start : 2400 + start])
    assert not policy.weighted


def test_a_weighted_interval_guard_saves_and_loads_its_shift(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    X, y = _shifted_regression(rng, 1500, 0.0)
    model = LinearRegression().fit(X[:500], y[:500])
    g = guard(model).abstain(WeightedConformalIntervals(ALPHA)).fit(X[500:], y[500:])
    policy = g.layer(guardrails.Abstaining).policy  # type: ignore[attr-defined]
    policy.shift_to(X[:500] + 1.0)
    X_new = X[:300] + 1.0
    d = g.decide(X_new)
    loaded = guardrails.load(g.save(tmp_path / "wi.zip"), model=model)
    assert loaded.layer(guardrails.Abstaining).policy.weighted  # type: ignore[attr-defined]
    assert loaded.decide(X_new) == d


# -- conformal risk control ------------------------------------------------------------


def _pool(rng: np.random.Generator, n: int, k: int = 4) -> tuple[Decisions, NDArray[np.int64]]:
    p = rng.dirichlet(np.full(k, 0.7), size=n)
    truth = 0.7 * p + 0.3 * rng.dirichlet(np.ones(k), size=n)
    y = (truth.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    d = Decisions(
        prediction=p.argmax(axis=1), proba=p, confidence=p.max(axis=1), classes=np.arange(k)
    )
    return d, y


def _sharp_pool(rng: np.random.Generator, n: int) -> tuple[Decisions, NDArray[np.int64]]:
    """Calibrated probabilities, confident on most rows: labels drawn from them."""
    p = rng.dirichlet(np.full(3, 0.3), size=n)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    d = Decisions(
        prediction=p.argmax(axis=1), proba=p, confidence=p.max(axis=1), classes=np.arange(3)
    )
    return d, y


COSTS = np.array([1.0, 0.4, 0.4, 0.1])


@pytest.mark.slow
def test_class_weighted_miss_cost_sits_at_its_target_over_many_splits() -> None:
    """CRC: alpha - 2B/(n+1) <= E[loss] <= alpha (Angelopoulos et al. 2024, Thm 1-2)."""
    rng = np.random.default_rng(10)
    n_cal, n_test, alpha = 400, 2000, 0.05
    losses, dangerous = [], []
    for _ in range(2 * SPLITS):
        d, y = _pool(rng, n_cal)
        dt, yt = _pool(rng, n_test)
        crc = ConformalRiskControl(alpha, class_costs=COSTS, max_set_size=None).fit(d, y)
        sets = crc.prediction_sets(dt)
        miss = ~sets[np.arange(n_test), yt]
        losses.append(np.mean(COSTS[yt] * miss))
        dangerous.append(np.mean(miss[yt == 0]))
    bound = COSTS.max()
    # per-row loss in [0, B] with mean <= alpha has variance <= B alpha
    tol = _se4(bound * alpha * (1 / (n_cal + 2) + 1 / n_test), 2 * SPLITS)
    assert alpha - 2 * bound / (n_cal + 1) - tol <= np.mean(losses) <= alpha + tol
    assert np.mean(dangerous) <= alpha / 0.25 + tol  # class 0 (cost 1) is rarely missed


def test_a_user_loss_equal_to_the_class_cost_picks_the_same_threshold() -> None:
    rng = np.random.default_rng(11)
    d, y = _pool(rng, 800)

    def cost(sets: NDArray[np.bool_], yi: NDArray[np.intp]) -> NDArray[np.float64]:
        return np.asarray(COSTS[yi] * ~sets[np.arange(len(yi)), yi], dtype=np.float64)

    exact = ConformalRiskControl(0.05, class_costs=COSTS.tolist()).fit(d, y)
    grid = ConformalRiskControl(0.05, loss=cost, n_grid=2000).fit(d, y)
    assert grid.threshold_ >= exact.threshold_ - 1e-12  # a grid can only be more careful
    assert grid.threshold_ - exact.threshold_ <= 1 / 1999 + 1e-12
    assert grid.risk_ <= 0.05 and exact.risk_ <= 0.05
    by_label = ConformalRiskControl(0.05, class_costs={0: 1.0, 1: 0.4, 2: 0.4, 3: 0.1}).fit(d, y)
    assert by_label.threshold_ == exact.threshold_


def test_risk_control_refuses_losses_that_grow_with_the_set_and_bad_settings() -> None:
    rng = np.random.default_rng(12)
    d, y = _pool(rng, 500)

    def size(sets: NDArray[np.bool_], yi: NDArray[np.intp]) -> NDArray[np.float64]:
        return np.asarray(sets.sum(axis=1) / sets.shape[1], dtype=np.float64)

    with pytest.raises(ConfigurationError, match="must not grow"):
        ConformalRiskControl(0.1, loss=size).fit(d, y)
    with pytest.raises(ConfigurationError, match=r"in \[0, 1\]"):
        ConformalRiskControl(0.1, class_costs=[2.0, 1.0, 1.0, 1.0])
    with pytest.raises(ConfigurationError, match="not both"):
        ConformalRiskControl(0.1, class_costs=COSTS, loss=size)
    with pytest.raises(ConfigurationError, match="not one of the classes"):
        ConformalRiskControl(0.1, class_costs={"cat": 1.0}).fit(d, y)
    with pytest.raises(InvalidInputError, match="cannot keep the expected loss"):
        ConformalRiskControl(0.01).fit(d.take(np.arange(50)), y[:50])


@pytest.mark.slow
def test_the_cost_of_wrong_answers_per_row_sits_at_its_target_over_many_splits() -> None:
    rng = np.random.default_rng(13)
    n_cal, n_test, alpha = 400, 2000, 0.05
    losses, coverage = [], []
    for _ in range(2 * SPLITS):
        d, y = _pool(rng, n_cal)
        dt, yt = _pool(rng, n_test)
        rule = CostControlledThreshold(alpha, class_costs=COSTS).fit(d, y)
        answered = ~rule.evaluate(dt).abstain
        losses.append(np.mean(COSTS[yt] * (answered & (dt.prediction != yt))))
        coverage.append(answered.mean())
    tol = _se4(alpha * (1 / (n_cal + 2) + 1 / n_test), 2 * SPLITS)
    assert alpha - 2 / (n_cal + 1) - tol <= np.mean(losses) <= alpha + tol
    assert 0 < np.mean(coverage) < 1


@pytest.mark.slow
def test_learn_then_test_certified_constraints_hold_with_probability_one_minus_delta() -> None:
    rng = np.random.default_rng(14)
    pool_d, pool_y = _sharp_pool(rng, 200_000)
    conf, wrong = pool_d.confidence, pool_d.prediction != pool_y
    assert conf is not None
    delta, targets = 0.1, {"selective_error": 0.14, "abstention_rate": 0.45}
    violated, certified_all = 0, 0
    for _ in range(2 * SPLITS):
        idx = rng.choice(pool_y.shape[0], 5000, replace=False)
        ltt = LearnThenTest(targets, delta=delta).fit(pool_d.take(idx), pool_y[idx])
        answered = conf >= ltt.threshold_
        truth = {
            "selective_error": wrong[answered].mean() if answered.any() else 0.0,
            "abstention_rate": 1 - answered.mean(),
        }
        bad = any(ltt.certified_[k] and truth[k] > targets[k] for k in targets)
        violated += bad
        certified_all += all(ltt.certified_.values())
    assert violated / (2 * SPLITS) <= delta + 4 * math.sqrt(delta * (1 - delta) / (2 * SPLITS))
    assert certified_all > 0


def test_learn_then_test_reports_which_constraints_it_could_not_certify() -> None:
    rng = np.random.default_rng(15)
    d, y = _sharp_pool(rng, 2000)
    # an error rate no threshold reaches while answering most rows
    ltt = LearnThenTest({"selective_error": 0.1, "abstention_rate": 0.01}).fit(d, y)
    assert ltt.certified_ == {"selective_error": True, "abstention_rate": False}
    assert "certified: selective_error" in str(ltt.evaluate(d).detail)
    with pytest.warns(guardrails.GuardrailsWarning, match="every row will be withheld"):
        none = LearnThenTest({"error": 0.0001}).fit(d, y)
    assert none.evaluate(d).abstain.all() and none.certified_ == {"error": False}
    costly = LearnThenTest({"cost": 0.3}, class_costs=[1.0, 0.5, 0.5]).fit(d, y)
    assert costly.certified_["cost"]
    with pytest.raises(ConfigurationError, match="'constraints'"):
        LearnThenTest({"accuracy": 0.9})


def test_risk_control_policies_save_and_load_in_a_guard(
    iris: dict[str, Any], tmp_path: Path
) -> None:
    for policy in (
        ConformalRiskControl(0.1, class_costs={0: 1.0, 1: 0.5, 2: 0.5}, max_set_size=2),
        CostControlledThreshold(0.1, class_costs=[1.0, 0.5, 0.5]),
        LearnThenTest({"selective_error": 0.2, "abstention_rate": 0.5}),
    ):
        g = guard(iris["model"]).abstain(policy).fit(iris["X_cal"], iris["y_cal"])
        d = g.decide(iris["X_test"])
        loaded = guardrails.load(g.save(tmp_path / "r.zip"), model=iris["model"])
        assert loaded.decide(iris["X_test"]) == d
        assert repr(loaded) == repr(g)


# -- DtACI -----------------------------------------------------------------------------


def _stream(
    rng: np.random.Generator, n: int, noise: float, k: int = 5
) -> tuple[Decisions, NDArray[np.int64]]:
    p = rng.dirichlet(np.full(k, 0.5), size=n)
    truth = (1 - noise) * p + noise / k
    y = (truth.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return Decisions(prediction=p.argmax(axis=1), proba=p, classes=np.arange(k)), y


def _run(
    policy: AdaptiveConformal, d: Decisions, y: NDArray[np.int64], batch: int, adversary: bool
) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    covered, sizes = [], []
    for start in range(0, len(d), batch):
        idx = np.arange(start, min(start + batch, len(d)))
        db = d.take(idx)
        sets = policy.evaluate(db).columns["pred_set"]
        yb = y[idx].copy()
        if adversary:  # a label outside the set whenever there is one
            outside = ~sets
            yb = np.where(outside.any(axis=1), outside.argmax(axis=1), yb)
        covered.append(sets[np.arange(len(idx)), yb])
        sizes.append(sets.sum(axis=1))
        policy.update(db.replace(pred_set=sets), yb)
    return np.concatenate(covered), np.concatenate(sizes)


@pytest.mark.parametrize("adversary", [False, True])
def test_dtaci_long_run_miss_rate_is_within_its_bound_whatever_the_labels(adversary: bool) -> None:
    rng = np.random.default_rng(16)
    d_cal, y_cal = _stream(rng, 500, 0.0)
    a, b = _stream(rng, 3000, 0.0), _stream(rng, 3000, 0.6)
    d = Decisions.concat([a[0], b[0]])
    y = np.r_[a[1], b[1]]
    batch, gamma = 5, 0.02
    dt = DtACI(ConformalSets(ALPHA, max_set_size=None), gamma=gamma).fit(d_cal, y_cal)
    covered, _ = _run(dt, d, y, batch, adversary)
    T = covered.shape[0]
    bound = (1 + batch * max(dt.gammas) + batch * gamma) / (gamma * T)
    assert abs((1 - covered.mean()) - ALPHA) <= bound + 1e-12
    assert dt.n_updates_ == T and dt.n_misses_ == int((~covered).sum())
    if not adversary:
        assert bound < 0.05


@pytest.mark.slow
def test_dtaci_gives_steadier_smaller_sets_than_a_fast_fixed_step_after_the_shift() -> None:
    sizes: dict[str, list[float]] = {"aci": [], "dtaci": []}
    covers: dict[str, list[float]] = {"aci": [], "dtaci": []}
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        d_cal, y_cal = _stream(rng, 1000, 0.0)
        a, b = _stream(rng, 4000, 0.0), _stream(rng, 8000, 0.5)
        d, y = Decisions.concat([a[0], b[0]]), np.r_[a[1], b[1]]
        for name, policy in (
            ("aci", AdaptiveConformal(ConformalSets(ALPHA, max_set_size=None), gamma=0.05)),
            ("dtaci", DtACI(ConformalSets(ALPHA, max_set_size=None))),
        ):
            policy.fit(d_cal, y_cal)
            covered, size = _run(policy, d, y, 10, False)
            settled = slice(4000 + 2000, None)
            sizes[name].append(float(size[settled].mean()))
            covers[name].append(float(covered[settled].mean()))
    assert np.mean(sizes["dtaci"]) < np.mean(sizes["aci"])
    assert abs(np.mean(covers["dtaci"]) - (1 - ALPHA)) < 0.02


def test_dtaci_saves_loads_and_refuses_bad_settings(iris: dict[str, Any], tmp_path: Path) -> None:
    g = (
        guard(iris["model"])
        .abstain(DtACI(ConformalSets(0.1, max_set_size=None)))
        .fit(iris["X_cal"], iris["y_cal"])
    )
    policy = g.layer(guardrails.Abstaining).policy  # type: ignore[attr-defined]
    d = g.decide(iris["X_test"])
    after = policy.update(d, (iris["y_test"] + 1) % 3)
    loaded = guardrails.load(g.save(tmp_path / "dt.zip"), model=iris["model"])
    lp = loaded.layer(guardrails.Abstaining).policy  # type: ignore[attr-defined]
    assert lp.alpha_t_ == after and (lp.expert_weights_ == policy.expert_weights_).all()
    assert loaded.decide(iris["X_test"]) == g.decide(iris["X_test"])
    with pytest.raises(ConfigurationError, match="not a risk control"):
        DtACI(ConformalRiskControl(0.1))
    with pytest.raises(ConfigurationError, match="'gammas'"):
        DtACI(ConformalSets(0.1), gammas=[0.0, 0.1])
    with pytest.raises(ConfigurationError, match="not be randomized"):
        DtACI(ConformalSets(0.1, score="aps", randomized=True))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 1))
    dr = Decisions(prediction=X[:, 0])
    yr = X[:, 0] + rng.normal(size=300)
    scaled = DtACI(ConformalIntervals(0.1, score="normalized", scale=lambda x: np.ones(len(x))))
    scaled.fit_with_inputs(dr, X, yr)
    given = dr.replace(interval=scaled.base.intervals(dr, X))
    with pytest.raises(ConfigurationError, match="needs the inputs"):
        scaled.update(given, yr)
    assert scaled.update(given, yr, X) == scaled.alpha_t_


def test_dtaci_over_intervals_learns_from_late_values() -> None:
    rng = np.random.default_rng(17)
    X = rng.normal(size=(2000, 1))
    y = X[:, 0] + rng.normal(size=2000)
    d = Decisions(prediction=X[:, 0])
    dt = DtACI(ConformalIntervals(0.1)).fit(d.take(np.arange(500)), y[:500])
    served = d.take(np.arange(500, 2000))
    verdict = dt.evaluate(served)
    dt.update(served.replace(**verdict.columns), y[500:] * 3)  # values far more spread
    assert dt.alpha_t_ < 0.1  # misses make intervals wider


def test_reweight_leaves_policies_unweighted_when_inputs_are_not_numeric() -> None:
    action = Reweight(rows=10, min_rows=2)
    rng = np.random.default_rng(18)
    X, d, y = _shifted_classes(rng, 300, 0.0)
    policy = WeightedConformalSets(ALPHA).fit_with_inputs(d, X, y)
    call = guardrails.Call(raw=[{"a": "x"}] * 3, n=3)
    call.reweightable = (policy,)
    out, changed = action.apply(d.take(np.arange(3)), call, "drift: a")
    assert changed == 0 and not policy.weighted and out == d.take(np.arange(3))
    with pytest.raises(ConfigurationError, match="'rows' parameter of Reweight"):
        Reweight(rows=1)
