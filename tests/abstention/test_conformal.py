"""Conformal sets and intervals: coverage guarantees, MAPIE's rule, adaptation, refusals."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from sklearn.linear_model import LinearRegression, LogisticRegression

import guardrails
from guardrails import (
    AdaptiveConformal,
    ConfigurationError,
    ConformalIntervals,
    ConformalSets,
    Decisions,
    GuardrailsWarning,
    InvalidInputError,
    NotFittedError,
    Reason,
    guard,
    set_size_above,
)
from guardrails.abstention.conformal import conformal_quantile, min_calibration_size, set_scores
from guardrails.apps import outcomes

ALPHA = 0.1
N_CAL, N_TEST, SPLITS = 200, 1000, 200


def _mc_tolerance(alpha: float, n_cal: int, n_test: int, splits: int) -> float:
    """Four standard errors of the mean coverage over ``splits`` random splits.

    Given the calibration set, the coverage of a new row is Beta(k, n + 1 - k) distributed
    with k = ceil((n + 1)(1 - alpha)) (variance about alpha(1 - alpha)/(n + 2)); on top,
    ``n_test`` test rows add binomial noise alpha(1 - alpha)/n_test. The mean over
    independent splits has variance (sum) / splits; 4 SE leave a 6e-5 two-sided chance of
    a false alarm.
    """
    var = alpha * (1 - alpha) / (n_cal + 2) + alpha * (1 - alpha) / n_test
    return 4 * math.sqrt(var / splits)


def _class_pool(n: int, k: int = 4, seed: int = 0) -> tuple[Decisions, NDArray[np.int64]]:
    """Probabilities from a Dirichlet and labels drawn from a *different* distribution.

    The model is miscalibrated on purpose: conformal coverage must not depend on it.
    """
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.7), size=n)
    truth = 0.7 * p + 0.3 * rng.dirichlet(np.ones(k), size=n)
    y = (truth.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    d = Decisions(
        prediction=p.argmax(axis=1), proba=p, confidence=p.max(axis=1), classes=np.arange(k)
    )
    return d, y


def _split_coverage(policy_for_split: Any, d: Decisions, y: Any, seed: int) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    out = np.empty(SPLITS)
    for r in range(SPLITS):
        perm = rng.permutation(len(d))
        cal, test = perm[:N_CAL], perm[N_CAL : N_CAL + N_TEST]
        policy = policy_for_split().fit(d.take(cal), y[cal])
        dt = d.take(test)
        dt = dt.replace(**policy.evaluate(dt).columns)
        out[r] = outcomes.coverage(dt, y[test])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("score", ["lac", "aps", "raps"])
def test_split_conformal_sets_cover_between_the_two_bounds(score: str) -> None:
    d, y = _class_pool(N_CAL + N_TEST, seed=1)
    randomized = score != "lac"  # the upper bound needs continuous scores: APS breaks ties
    cov = _split_coverage(
        lambda: ConformalSets(ALPHA, score=score, randomized=randomized, random_state=0),
        d,
        y,
        seed=2,
    )
    tol = _mc_tolerance(ALPHA, N_CAL, N_TEST, SPLITS)
    upper = 1 - ALPHA + 1 / (N_CAL + 1)
    print(f"{score}: mean coverage {cov.mean():.4f} in [{1 - ALPHA - tol:.4f}, {upper + tol:.4f}]")
    assert 1 - ALPHA - tol <= cov.mean() <= upper + tol


@pytest.mark.slow
@pytest.mark.parametrize("score", ["aps", "raps"])
def test_non_randomized_aps_keeps_the_lower_bound_and_is_conservative(score: str) -> None:
    # without randomization the last-ranked label scores exactly 1: ties at the threshold
    # make sets larger, so only the lower bound holds
    d, y = _class_pool(N_CAL + N_TEST, seed=1)
    cov = _split_coverage(lambda: ConformalSets(ALPHA, score=score), d, y, seed=2)
    tol = _mc_tolerance(ALPHA, N_CAL, N_TEST, SPLITS)
    print(f"{score} (deterministic): mean coverage {cov.mean():.4f}")
    assert cov.mean() >= 1 - ALPHA - tol


def _regression_pool(n: int, seed: int) -> dict[str, Any]:
    """y = sin(3x) + (0.2 + |x|) * noise; the model is slightly off, the quantiles too."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    sd = 0.2 + np.abs(x)
    y = np.sin(3 * x) + sd * rng.standard_normal(n)
    pred = np.sin(3 * x) + 0.1
    z = 1.2816  # the 0.9 normal quantile: the 80% band, narrower than the 90% target
    return {
        "X": x[:, None],
        "y": y,
        "d": Decisions(prediction=pred),
        "scale": lambda X: 0.2 + np.abs(X[:, 0]),
        "quantiles": lambda X: np.column_stack(
            [
                np.sin(3 * X[:, 0]) - z * (0.2 + np.abs(X[:, 0])),
                np.sin(3 * X[:, 0]) + z * (0.2 + np.abs(X[:, 0])),
            ]
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize("score", ["absolute", "normalized", "cqr"])
def test_split_conformal_intervals_cover_between_the_two_bounds(score: str) -> None:
    pool = _regression_pool(N_CAL + N_TEST, seed=3)
    X, y, d = pool["X"], pool["y"], pool["d"]
    options = {"normalized": {"scale": pool["scale"]}, "cqr": {"quantiles": pool["quantiles"]}}
    rng = np.random.default_rng(4)
    cov = np.empty(SPLITS)
    width = np.empty(SPLITS)
    for r in range(SPLITS):
        perm = rng.permutation(len(d))
        cal, test = perm[:N_CAL], perm[N_CAL : N_CAL + N_TEST]
        policy = ConformalIntervals(ALPHA, score=score, **options.get(score, {}))
        policy.fit_with_inputs(d.take(cal), X[cal], y[cal])
        dt = d.take(test)
        dt = dt.replace(**policy.evaluate_with_inputs(dt, X[test]).columns)
        cov[r] = outcomes.coverage(dt, y[test])
        width[r] = outcomes.mean_interval_width(dt)
    tol = _mc_tolerance(ALPHA, N_CAL, N_TEST, SPLITS)
    upper = 1 - ALPHA + 1 / (N_CAL + 1)
    print(f"{score}: coverage {cov.mean():.4f}, mean width {width.mean():.3f}")
    assert 1 - ALPHA - tol <= cov.mean() <= upper + tol


@pytest.mark.slow
def test_mondrian_sets_cover_every_class_including_a_rare_one() -> None:
    rng = np.random.default_rng(5)
    n, k = 6000, 3
    p = rng.dirichlet([2.0, 2.0, 2.0], size=n)
    # the rare class 2 is hard: its rows get low probability for it
    y = rng.choice(k, size=n, p=[0.45, 0.45, 0.10])
    p[y == 2] = rng.dirichlet([3.0, 3.0, 1.0], size=int((y == 2).sum()))
    d = Decisions(prediction=p.argmax(1), proba=p, classes=np.arange(k))
    splits, n_cal = 100, 3000
    per_class = np.empty((splits, k))
    marginal_rare = np.empty(splits)
    for r in range(splits):
        perm = rng.permutation(n)
        cal, test = perm[:n_cal], perm[n_cal:]
        dt = d.take(test)
        for cc in (True, False):
            policy = ConformalSets(ALPHA, class_conditional=cc).fit(d.take(cal), y[cal])
            sets = policy.evaluate(dt).columns["pred_set"]
            by_class = outcomes.coverage(dt.replace(pred_set=sets), y[test], groups=y[test])
            assert isinstance(by_class, dict)
            if cc:
                per_class[r] = [by_class[c] for c in range(k)]
            else:
                marginal_rare[r] = by_class[2]
    # the rarest class has about 0.10 * 3000 = 300 calibration rows and 300 test rows
    tol = _mc_tolerance(ALPHA, 300, 300, splits)
    print(
        "Mondrian per-class coverage",
        per_class.mean(0).round(4),
        "marginal on the rare class",
        round(marginal_rare.mean(), 4),
    )
    assert (per_class.mean(axis=0) >= 1 - ALPHA - tol).all()
    assert marginal_rare.mean() < 1 - ALPHA - 0.1  # the reason Mondrian exists


def _brute_force_mapie_lac(
    cal_proba: NDArray[np.float64],
    cal_y: NDArray[np.int64],
    test_proba: NDArray[np.float64],
    alpha: float,
) -> NDArray[np.bool_]:
    """MAPIE 1.6's documented LAC rule, written out with Python lists.

    Conformity score 1 - p(true label); the quantile is the value at the level
    ceil((n + 1)(1 - alpha)) / n with numpy's "lower" method, i.e. that order
    statistic; a label enters the set when (1 - p) - quantile <= 1e-8 (MAPIE's EPSILON).
    """
    scores = sorted(1.0 - float(cal_proba[i][cal_y[i]]) for i in range(len(cal_y)))
    n = len(scores)
    level = math.ceil((n + 1) * (1 - alpha)) / n
    q = float(np.quantile(np.array(scores), level, method="lower"))
    return np.array([[(1.0 - float(v)) - q <= 1e-8 for v in row] for row in test_proba])


@pytest.mark.parametrize("seed", range(5))
def test_lac_sets_follow_mapies_rule_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    n_cal = int(rng.integers(20, 300))
    p = rng.dirichlet(np.ones(k), size=n_cal + 200)
    # repeat some calibration probabilities on test rows: ties with the threshold
    p[n_cal : n_cal + 20] = p[:20]
    y = rng.integers(0, k, size=n_cal + 200)
    d = Decisions(prediction=p.argmax(1), proba=p, classes=np.arange(k))
    alpha = float(rng.uniform(0.05, 0.3))
    policy = ConformalSets(alpha, max_set_size=None).fit(d.take(np.arange(n_cal)), y[:n_cal])
    ours = policy.evaluate(d.take(np.arange(n_cal, n_cal + 200))).columns["pred_set"]
    theirs = _brute_force_mapie_lac(p[:n_cal], y[:n_cal], p[n_cal:], alpha)
    np.testing.assert_array_equal(ours, theirs)


def test_the_threshold_is_the_ceil_n_plus_1_order_statistic() -> None:
    scores = np.arange(1.0, 20.0)  # n = 19
    assert conformal_quantile(scores, 0.1) == 18.0  # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(scores, 0.05) == 19.0
    assert conformal_quantile(scores, 0.01) == np.inf  # rank 20 > n
    assert conformal_quantile(scores, 1.5) == -np.inf
    assert min_calibration_size(0.1) == 9
    assert conformal_quantile(np.arange(9.0), 0.1) == 8.0


def test_too_few_calibration_rows_for_alpha_is_a_clear_error() -> None:
    d, y = _class_pool(8, seed=0)
    with pytest.raises(InvalidInputError, match=r"at least 9 calibration rows for alpha=0.1"):
        ConformalSets(0.1).fit(d, y)
    with pytest.raises(InvalidInputError, match="at least 19"):
        ConformalIntervals(0.05).fit(Decisions(prediction=np.zeros(10)), np.zeros(10))


def test_a_class_with_too_few_rows_gets_every_label_and_a_warning() -> None:
    d, y = _class_pool(400, k=3, seed=1)
    y[y == 2] = 0
    y[:3] = 2  # three rows of class 2: too few for alpha = 0.1
    with pytest.warns(GuardrailsWarning, match="too few calibration rows"):
        policy = ConformalSets(0.1, class_conditional=True, max_set_size=None).fit(d, y)
    assert policy.prediction_sets(d)[:, 2].all()


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    score=st.sampled_from(["lac", "aps", "raps"]),
    conditional=st.booleans(),
    alphas=st.tuples(st.floats(0.02, 0.5), st.floats(0.02, 0.5)),
)
def test_lowering_alpha_never_shrinks_a_set(
    seed: int, score: str, conditional: bool, alphas: tuple[float, float]
) -> None:
    low, high = sorted(alphas)
    d, y = _class_pool(300, k=3, seed=seed)
    cal, test = d.take(np.arange(200)), d.take(np.arange(200, 300))
    sets = [
        ConformalSets(a, score=score, class_conditional=conditional, max_set_size=None)
        .fit(cal, y[:200])
        .prediction_sets(test)
        for a in (low, high)
    ]
    assert (sets[0] >= sets[1]).all()


def test_aps_and_raps_scores_add_up_probability_by_rank() -> None:
    p = np.array([[0.5, 0.2, 0.3]])
    np.testing.assert_allclose(set_scores(p, "aps"), [[0.5, 1.0, 0.8]])
    np.testing.assert_allclose(set_scores(p, "raps", penalty=0.1, k_reg=1), [[0.5, 1.2, 0.9]])
    np.testing.assert_allclose(set_scores(p, "lac"), [[0.5, 0.8, 0.7]])


def test_sets_withhold_empty_and_ambiguous_rows_with_their_reasons() -> None:
    cal_p = np.tile([[0.9, 0.05, 0.05]], (50, 1))
    cal = Decisions(prediction=np.zeros(50, int), proba=cal_p, classes=np.arange(3))
    policy = ConformalSets(0.1, max_set_size=1).fit(cal, np.zeros(50, int))  # q = 0.1
    test_p = np.array([[0.95, 0.03, 0.02], [0.5, 0.45, 0.05], [0.4, 0.35, 0.25]])
    q_rows = np.array([[0.92, 0.91, 0.0]])
    test = Decisions(prediction=np.zeros(3, int), proba=test_p, classes=np.arange(3))
    v = policy.evaluate(test)
    assert v.abstain.tolist() == [False, True, True]
    assert v.reason_codes()[1:].tolist() == [Reason.LOW_CONFIDENCE, Reason.LOW_CONFIDENCE]
    two = Decisions(prediction=np.zeros(1, int), proba=q_rows, classes=np.arange(3))
    v2 = policy.evaluate(two)
    assert v2.abstain.tolist() == [True]
    assert v2.reason_codes().tolist() == [Reason.AMBIGUOUS]
    assert "more than 1 labels" in str(v2.detail_column()[0])


def test_a_guard_with_conformal_sets_fits_decides_saves_and_loads(
    iris: dict[str, Any], tmp_path: Path
) -> None:
    policy = ConformalSets(0.1, score="aps", max_set_size=2) | set_size_above(1)
    g = guard(iris["model"]).abstain(policy)
    with pytest.raises(NotFittedError, match="not fitted"):
        g.decide(iris["X_test"])
    g.fit(iris["X_cal"], iris["y_cal"])
    d = g.decide(iris["X_test"])
    assert d.pred_set is not None and d.pred_set.shape == (len(iris["X_test"]), 3)
    sizes = d.pred_set.sum(axis=1)
    np.testing.assert_array_equal(
        d.abstained, (sizes != 1) | ~d.pred_set[np.arange(len(d)), d.prediction]
    )
    loaded = guardrails.load(g.save(tmp_path / "g.zip"), model=iris["model"])
    assert loaded.decide(iris["X_test"]) == d
    assert repr(loaded) == repr(g)


def test_group_conditional_sets_need_the_groups_function_back_on_load(
    iris: dict[str, Any], tmp_path: Path
) -> None:
    def band(d: Decisions) -> NDArray[np.int64]:
        assert d.confidence is not None
        return (d.confidence > 0.8).astype(np.int64)

    g = guard(iris["model"]).abstain(ConformalSets(0.2, groups=band, max_set_size=None))
    g.fit(iris["X_cal"], iris["y_cal"])
    path = g.save(tmp_path / "g.zip")
    with pytest.raises(guardrails.ArtifactError, match="groups"):
        guardrails.load(path, model=iris["model"])
    loaded = guardrails.load(path, model=iris["model"], groups=band)
    assert loaded.decide(iris["X_test"]) == g.decide(iris["X_test"])


def test_conformal_sets_refuse_bad_settings_and_models_without_probabilities(
    iris: dict[str, Any],
) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"'alpha' parameter of ConformalSets must be a float in \(0, 1\)\. Got 1.5",
    ):
        ConformalSets(1.5)
    with pytest.raises(ConfigurationError, match="'score' parameter"):
        ConformalSets(score="top-k")
    with pytest.raises(ConfigurationError, match="not both"):
        ConformalSets(class_conditional=True, groups=lambda d: d.prediction)
    with pytest.raises(ConfigurationError, match="max_set_size"):
        ConformalSets(max_set_size=0)
    with pytest.raises(ConfigurationError, match="needs"):
        guard(iris["model"].predict, output="labels", classes=[0, 1, 2]).abstain(
            ConformalSets()
        ).build()
    d, _ = _class_pool(100, seed=0)
    with pytest.raises(InvalidInputError, match="not among the model's classes"):
        ConformalSets().fit(d, np.full(100, 7))
    with pytest.raises(NotFittedError):
        ConformalSets().evaluate(d)


def _regressor() -> tuple[LinearRegression, NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(900, 2))
    y = X @ np.array([1.0, -2.0]) + (0.1 + np.abs(X[:, 0])) * rng.standard_normal(900)
    return LinearRegression().fit(X[:300], y[:300]), X, y


def test_a_regression_guard_gives_intervals_and_withholds_wide_ones(tmp_path: Path) -> None:
    model, X, y = _regressor()
    lower = LinearRegression().fit(X[:300], y[:300] - 0.5)
    upper = LinearRegression().fit(X[:300], y[:300] + 0.5)
    policy = ConformalIntervals(0.1, score="cqr", quantiles=(lower, upper), max_width=1.4)
    g = guard(model).abstain(policy).fit(X[300:600], y[300:600])
    d = g.decide(X[600:])
    assert d.interval is not None
    width = d.interval[:, 1] - d.interval[:, 0]
    np.testing.assert_array_equal(d.abstained, width > 1.4)
    assert set(d.reasons()) <= {Reason.NONE, Reason.AMBIGUOUS}
    loaded = guardrails.load(g.save(tmp_path / "r.zip"), model=model, quantiles=(lower, upper))
    assert loaded.decide(X[600:]) == d


def test_normalized_intervals_withhold_rows_whose_scale_fails() -> None:
    model, X, y = _regressor()

    def scale(X: NDArray[np.float64]) -> NDArray[np.float64]:
        out = 0.1 + np.abs(X[:, 0])
        out[X[:, 1] > 0.9] = -1.0  # unusable spread for some rows
        return out

    g = guard(model).abstain(ConformalIntervals(0.1, score="normalized", scale=scale))
    g.fit(X[300:600][X[300:600, 1] <= 0.9], y[300:600][X[300:600, 1] <= 0.9])
    d = g.decide(X[600:])
    bad = X[600:, 1] > 0.9
    assert bad.any()
    np.testing.assert_array_equal(d.abstained, bad)
    assert set(d.take(np.flatnonzero(bad)).reasons()) == {Reason.MODEL_ERROR}

    def broken(X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise RuntimeError("spread model is down")

    policy = ConformalIntervals(0.1, score="normalized", scale=broken)
    with pytest.raises(guardrails.ModelOutputError, match="spread model is down"):
        guard(model).abstain(policy).fit(X[300:600], y[300:600])


def test_interval_policies_refuse_inconsistent_settings() -> None:
    with pytest.raises(ConfigurationError, match="needs scale"):
        ConformalIntervals(score="normalized")
    with pytest.raises(ConfigurationError, match="needs quantiles"):
        ConformalIntervals(score="cqr")
    with pytest.raises(ConfigurationError, match="'quantiles' parameter"):
        ConformalIntervals(score="cqr", quantiles=3)
    with pytest.raises(ConfigurationError, match="reads the model inputs"):
        ConformalIntervals(score="normalized", scale=lambda X: X).fit(
            Decisions(prediction=np.zeros(20)), np.zeros(20)
        )


@pytest.mark.slow
def test_adaptive_conformal_keeps_long_run_coverage_under_a_shift_where_static_fails() -> None:
    # a regression stream whose noise doubles halfway; calibrated before the shift;
    # labels come back in batches of B = 10 rows
    rng = np.random.default_rng(7)
    T, B, gamma = 20_000, 10, 0.005
    x = rng.standard_normal(1000 + T)
    sd = np.r_[np.ones(1000 + T // 2), 2.0 * np.ones(T // 2)]
    y = 2 * x + sd * rng.standard_normal(1000 + T)
    d_all = Decisions(prediction=2 * x)
    cal = d_all.take(np.arange(1000))
    static = ConformalIntervals(ALPHA).fit(cal, y[:1000])
    aci = AdaptiveConformal(ConformalIntervals(ALPHA), gamma=gamma).fit(cal, y[:1000])
    lo_hi = np.empty((T, 2))
    for start in range(0, T, B):
        rows = np.arange(1000 + start, 1000 + start + B)
        batch = d_all.take(rows)
        batch = batch.replace(**aci.evaluate(batch).columns)
        assert batch.interval is not None
        lo_hi[start : start + B] = batch.interval
        aci.update(batch, y[rows])
    stream = d_all.take(np.arange(1000, 1000 + T))
    static_cov = outcomes.coverage(stream.replace(**static.evaluate(stream).columns), y[1000:])
    aci_cov = outcomes.coverage(stream.replace(interval=lo_hi), y[1000:])
    print(f"long-run coverage: adaptive {aci_cov:.4f}, static split conformal {static_cov:.4f}")
    # Gibbs and Candes: alpha_t stays within [-gamma B, 1 + gamma B] (a full set cannot
    # miss, an empty one always does), and alpha_end - alpha_1 = gamma * sum(alpha - err_t),
    # so |miss rate - alpha| <= (max(alpha, 1 - alpha) + gamma B) / (gamma T): a
    # deterministic bound, whatever the stream does
    bound = (max(ALPHA, 1 - ALPHA) + gamma * B) / (gamma * T)
    assert bound < 0.02
    assert abs(aci_cov - (1 - ALPHA)) <= bound + 1e-12
    assert aci.n_updates_ == T
    assert aci.n_misses_ == round((1 - aci_cov) * T)
    assert static_cov < 1 - ALPHA - 0.1


def test_adaptive_conformal_sets_update_from_late_labels_through_a_guard(
    iris: dict[str, Any], tmp_path: Path
) -> None:
    aci = AdaptiveConformal(ConformalSets(0.1, max_set_size=None), gamma=0.05)
    g = guard(iris["model"]).abstain(aci).fit(iris["X_cal"], iris["y_cal"])
    policy = g.layer(guardrails.Abstaining).policy  # type: ignore[attr-defined]
    assert isinstance(policy, AdaptiveConformal)
    d = g.decide(iris["X_test"])
    assert d.pred_set is not None
    wrong = (iris["y_test"] + 1) % 3
    missed = ~d.pred_set[np.arange(len(d)), wrong]
    before = policy.alpha_t_
    after = policy.update(d, wrong)
    assert after == pytest.approx(before + 0.05 * (len(d) * 0.1 - missed.sum()))
    assert policy.n_misses_ == missed.sum()
    # misses lower alpha: the next sets can only grow
    grown = g.decide(iris["X_test"]).pred_set
    assert grown is not None and (grown >= d.pred_set).all()
    loaded = guardrails.load(g.save(tmp_path / "aci.zip"), model=iris["model"])
    assert loaded.layer(guardrails.Abstaining).policy.alpha_t_ == after  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="not among the classes"):
        policy.update(d, np.full(len(d), 9))
    # rows a fallback answered carry its columns, not this policy's sets: not counted
    fell_back = d.replace(stage=guardrails.core.decisions.object_column(len(d), "fallback"))
    assert policy.update(fell_back, wrong) == after
    assert policy.n_updates_ == len(d)
    with pytest.raises(ConfigurationError, match="without class_conditional"):
        AdaptiveConformal(ConformalSets(class_conditional=True))


def test_string_labels_work_end_to_end(binary: dict[str, Any]) -> None:
    X, y = binary["X"], binary["y"]
    model = LogisticRegression().fit(X[:200], y[:200])
    g = guard(model).abstain(ConformalSets(0.1, class_conditional=True, max_set_size=None))
    d = g.fit(X[200:400], y[200:400]).decide(X[400:])
    by_class = outcomes.coverage(d, y[400:], groups=y[400:])
    assert isinstance(by_class, dict) and set(by_class) == {"no", "yes"}
    assert d[0].prediction_set is not None and set(d[0].prediction_set) <= {"no", "yes"}


def test_interval_width_policy_reads_the_interval_made_before_it(tmp_path: Path) -> None:
    model, X, y = _regressor()
    policy = ConformalIntervals(0.1) | guardrails.interval_wider_than(0.5)
    g = guard(model).abstain(policy).fit(X[300:600], y[300:600])
    d = g.decide(X[600:])
    assert d.interval is not None and d.abstained.all()  # absolute intervals here are wider
    assert set(d.reasons()) == {Reason.AMBIGUOUS}
    loaded = guardrails.load(g.save(tmp_path / "w.zip"), model=model)
    assert loaded.decide(X[600:]) == d
    with pytest.raises(ConfigurationError, match="interval"):
        guard(model).abstain(guardrails.interval_wider_than(0.5)).build()
