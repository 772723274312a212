"""The novelty gate: its false-alarm guarantee, its power, bad input, and how it composes."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from structlog.testing import capture_logs

from guardrails import (
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    MemoryQueue,
    Metrics,
    ModelStage,
    NotFittedError,
    NoveltyGate,
    NoveltyGated,
    Reason,
    confidence_below,
    guard,
    load,
    on_abstain,
)
from guardrails.core.errors import ArtifactError
from guardrails.monitoring.novelty import SCORES, conformal_p_values
from guardrails.monitoring.novelty_scores import _Forest

SPLITS = 200
N_CAL = 999  # n + 1 = 1000: floor(alpha (n + 1)) / (n + 1) is alpha itself at 0.05 and 0.01


def _mixture(rng: np.random.Generator, n: int, d: int = 6) -> np.ndarray:
    """Two Gaussian blobs with correlated features: in-distribution rows."""
    centre = np.where(rng.random(n) < 0.3, 2.0, -1.0)[:, None]
    base = rng.normal(size=(n, d))
    return np.asarray(base + centre + 0.5 * base[:, :1])


def _share_sigma(alpha: float, n: int, t: int) -> float:
    """Standard deviation of one split's withheld share: the rate given the calibration
    set is Beta(l, n + 1 - l) with l = floor(alpha (n + 1)); the test rows are binomial."""
    ell = math.floor(alpha * (n + 1))
    mu = ell / (n + 1)
    var_rate = ell * (n + 1 - ell) / ((n + 1) ** 2 * (n + 2))
    return math.sqrt(var_rate + (mu - var_rate - mu * mu) / t)


@pytest.mark.parametrize("alpha", [0.05, 0.01])
@pytest.mark.parametrize("score", SCORES)
def test_the_share_of_in_distribution_rows_withheld_is_alpha_over_200_random_splits(
    score: str, alpha: float
) -> None:
    rng = np.random.default_rng(17)
    gate = NoveltyGate(alpha=alpha, score=score, n_estimators=50).fit(_mixture(rng, 3000))
    pool = gate.score(_mixture(rng, 3000))
    # every split at once: row i of `order` is a random permutation of the pool
    order = np.argsort(np.random.default_rng(1).random((SPLITS, pool.shape[0])), axis=1)
    cal, test = pool[order[:, :N_CAL]], pool[order[:, N_CAL:]]
    share = (conformal_p_values(cal, test) <= alpha).mean(axis=1)
    expected = math.floor(alpha * (N_CAL + 1)) / (N_CAL + 1)
    assert expected == pytest.approx(alpha)
    # given the pool the splits are independent and each one's mean share is exactly
    # `expected`; 4.5 standard errors leave a false failure below 1 in 100,000
    tol = 4.5 * _share_sigma(alpha, N_CAL, test.shape[1]) / math.sqrt(SPLITS)
    assert share.mean() <= alpha + tol  # at most alpha ...
    assert share.mean() >= expected - tol  # ... and not needlessly below it


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_a_guard_withholds_at_most_alpha_of_fresh_in_distribution_rows_end_to_end(
    alpha: float,
) -> None:
    rng = np.random.default_rng(5)
    X_ref = _mixture(rng, 1500, d=3)
    model = LogisticRegression().fit(X_ref, (X_ref[:, 0] > 0).astype(int))
    g = guard(model).novelty(X_ref, alpha=alpha)
    repeats, t = 20, 2000
    shares = []
    for _ in range(repeats):
        X_cal, X_test = _mixture(rng, N_CAL, d=3), _mixture(rng, t, d=3)
        fitted = g.fit(X_cal, (X_cal[:, 0] > 0).astype(int))
        d = fitted.decide(X_test)
        assert set(d.reason[d.abstained].tolist()) <= {int(Reason.NOVEL)}
        shares.append(d.abstained.mean())
    tol = 4.5 * _share_sigma(alpha, N_CAL, t) / math.sqrt(repeats)
    assert alpha - tol <= float(np.mean(shares)) <= alpha + tol


def test_with_ties_the_p_values_stay_conservative() -> None:
    rng = np.random.default_rng(3)
    cats = rng.integers(0, 3, size=(6000, 2))  # categorical only: scores tie heavily
    gate = NoveltyGate(alpha=0.05, categorical=[0, 1]).fit(cats[:2000])
    pool = gate.score(cats[2000:])
    order = np.argsort(np.random.default_rng(2).random((SPLITS, pool.shape[0])), axis=1)
    share = (conformal_p_values(pool[order[:, :N_CAL]], pool[order[:, N_CAL:]]) <= 0.05).mean(1)
    assert share.mean() <= 0.05 + 4.5 * _share_sigma(0.05, N_CAL, 3001) / math.sqrt(SPLITS)


def test_p_values_of_many_calibration_sets_at_once_equal_those_of_each_alone() -> None:
    rng = np.random.default_rng(0)
    cal = rng.integers(0, 6, size=(9, 40)).astype(float)
    scores = rng.integers(-1, 8, size=(9, 25)).astype(float)
    scores[0, :3] = [np.inf, np.nan, -np.inf]
    cal[1, :2] = np.inf
    many = conformal_p_values(cal, scores)
    for i in range(cal.shape[0]):
        np.testing.assert_array_equal(many[i], conformal_p_values(cal[i], scores[i]))
    brute = (1 + (cal[2][None, :] >= scores[2][:, None]).sum(1)) / 41
    np.testing.assert_array_equal(many[2], brute)
    with pytest.raises(ConfigurationError, match="shapes"):
        conformal_p_values(cal, scores[0])


def test_a_gate_s_p_values_are_the_conformal_p_values_of_its_scores() -> None:
    rng = np.random.default_rng(1)
    gate = NoveltyGate(alpha=0.05).fit(rng.normal(size=(300, 4)))
    X_cal, X = rng.normal(size=(199, 4)), rng.normal(size=(50, 4)) * 2
    gate.calibrate(X_cal)
    np.testing.assert_array_equal(
        gate.p_values(X), conformal_p_values(gate.score(X_cal), gate.score(X))
    )


def test_the_withheld_rows_are_nested_in_alpha() -> None:
    rng = np.random.default_rng(2)
    gate = NoveltyGate().fit(_mixture(rng, 1000)).calibrate(_mixture(rng, 999))
    X = _mixture(rng, 3000) * 1.3
    masks = [gate.is_novel(X, alpha=a) for a in (0.001, 0.01, 0.05, 0.1, 0.3)]
    for small, large in itertools.pairwise(masks):
        assert not (small & ~large).any()
        assert large.sum() >= small.sum()


def test_the_flattened_isolation_forest_scores_as_scikit_learn_s() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(800, 5))
    ours = _Forest.fit(X, 40, 7)
    theirs = IsolationForest(n_estimators=40, random_state=7).fit(X)
    T = rng.normal(size=(400, 5)) * 3
    c = 2.0 * (math.log(255) + 0.5772156649015329) - 2.0 * 255 / 256
    np.testing.assert_allclose(2.0 ** (-ours.depths(T) / c), -theirs.score_samples(T), rtol=1e-12)


# -- power --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blobs() -> dict[str, Any]:
    X, y = make_blobs(
        n_samples=4000,
        n_features=10,
        centers=5,
        cluster_std=2.0,
        center_box=(-5, 5),
        random_state=0,
    )
    seen, novel = np.flatnonzero(y != 4), np.flatnonzero(y == 4)
    train, cal = seen[:1500], seen[1500:]
    model = LogisticRegression(max_iter=2000).fit(X[train], y[train])
    return {
        "model": model,
        "X_train": X[train],
        "X_cal": X[cal],
        "y_cal": y[cal],
        "X_novel": X[novel],
    }


@pytest.mark.parametrize("score", SCORES)
def test_rows_of_a_class_never_seen_in_training_are_withheld(
    blobs: dict[str, Any], score: str
) -> None:
    g = guard(blobs["model"]).novelty(blobs["X_train"], alpha=0.05, score=score)
    g = g.fit(blobs["X_cal"], blobs["y_cal"])
    d = g.decide(blobs["X_novel"])
    # the bare model answers every one of these rows, and always wrongly
    assert (blobs["model"].predict(blobs["X_novel"]) != 4).all()
    assert (d.reason == Reason.NOVEL).mean() >= 0.9


def test_a_row_off_by_an_order_of_magnitude_in_one_feature_is_withheld_at_any_confidence() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3000, 8))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X[:1000], y[:1000])
    g = (
        guard(model)
        .novelty(X[:1000], alpha=0.01)
        .calibrate()
        .abstain(confidence_below(0.6))
        .fit(X[1000:2000], y[1000:2000])
    )
    far = X[2000:2100].copy()
    far[:, 0] = np.where(far[:, 0] > 0, 1.0, -1.0) * 30.0  # the model is near-certain here
    d = g.decide(far)
    assert (d.confidence > 0.99).all()
    assert (d.reason == Reason.NOVEL).all()
    assert d[0].detail is not None and "p=0.00" in d[0].detail
    assert "nearest reference row at scaled distance" in d[0].detail


# -- features and embeddings --------------------------------------------------------------


def _mixed(rng: np.random.Generator, n: int) -> np.ndarray:
    colour = rng.choice(["red", "green", "blue"], size=n)
    out = np.empty((n, 3), dtype=object)
    out[:, 0] = rng.normal(size=n) + (colour == "red")
    out[:, 1] = colour
    out[:, 2] = rng.normal(size=n) * 10.0
    return out


def test_mixed_numeric_and_categorical_rows_are_scored_and_unseen_categories_are_novel() -> None:
    rng = np.random.default_rng(8)
    gate = NoveltyGate(alpha=0.05, categorical=[1]).fit(_mixed(rng, 1000))
    gate.calibrate(_mixed(rng, 999))
    X = _mixed(rng, 2000)
    assert gate.is_novel(X).mean() < 0.08
    X[:5, 1] = "purple"
    assert np.isinf(gate.score(X[:5])).all()
    assert gate.is_novel(X[:5]).all()
    assert (gate.p_values(X[:5]) == 1 / 1000).all()


def test_a_data_frame_with_named_categorical_columns_is_gated_in_a_guard() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(9)

    def frame(n: int) -> Any:
        m = _mixed(rng, n)
        return pd.DataFrame({"x": m[:, 0].astype(float), "colour": m[:, 1], "z": m[:, 2]})

    ref = frame(800)

    def predict_proba(df: Any) -> np.ndarray:
        p = 1 / (1 + np.exp(-np.asarray(df["x"], dtype=float)))
        return np.c_[1 - p, p]

    g = guard(predict_proba, output="proba", classes=[0, 1]).novelty(
        ref, alpha=0.05, categorical=["colour"]
    )
    cal = frame(999)
    g = g.fit(cal, np.zeros(999, dtype=int))
    test = frame(10)
    test.loc[3, "colour"] = "purple"
    d = g.decide(test)
    assert d.reason[3] == Reason.NOVEL
    assert d[3].detail == "novel: column 'colour' holds a category never seen in the reference"
    with pytest.raises(InvalidInputError, match="columns"):
        g.decide(test.rename(columns={"z": "w"}))


def test_the_gate_scores_what_an_embedding_function_returns() -> None:
    rng = np.random.default_rng(10)
    seen: list[int] = []

    def embed(X: Any) -> np.ndarray:
        seen.append(len(X))
        return np.asarray(X)[:, :2] * 3.0  # only the first two features matter

    gate = NoveltyGate(alpha=0.05, embed=embed).fit(rng.normal(size=(500, 5)))
    gate.calibrate(rng.normal(size=(199, 5)))
    X = rng.normal(size=(20, 5))
    X[:10, 4] = 1e6  # far out, but in a feature the embedding drops
    assert not gate.is_novel(X[:10]).all()
    X[10:, 0] = 50.0
    assert gate.is_novel(X[10:]).all()
    assert seen[:2] == [500, 199]


def test_a_user_scorer_is_calibrated_like_the_built_in_scores(tmp_path: Any) -> None:
    rng = np.random.default_rng(11)
    X_ref = rng.normal(size=(1000, 3))
    forest = IsolationForest(random_state=0).fit(X_ref)

    def scorer(X: Any) -> Any:
        return -forest.score_samples(X)

    model = LogisticRegression().fit(X_ref, (X_ref[:, 0] > 0).astype(int))
    X_cal = rng.normal(size=(999, 3))
    g = guard(model).novelty(X_ref, alpha=0.05, score=scorer).fit(X_cal, X_cal[:, 0] > 0)
    X = rng.normal(size=(4000, 3))
    assert abs(g.decide(X).abstained.mean() - 0.05) < 0.02
    path = g.save(tmp_path / "g")
    with pytest.raises(ArtifactError, match="novelty_scorer"):
        load(path, model=model)
    again = load(path, model=model, novelty_scorer=scorer)
    np.testing.assert_array_equal(again.decide(X).abstained, g.decide(X).abstained)


# -- large references ---------------------------------------------------------------------


def test_a_single_record_gets_the_neighbours_a_batch_gets_on_many_columns() -> None:
    rng = np.random.default_rng(20)
    gate = NoveltyGate(alpha=0.05).fit(rng.normal(size=(3000, 24)))  # brute force
    X = rng.normal(size=(200, 24)) * 1.5
    whole = gate.score(X)  # past 64 rows: scikit-learn's brute force
    alone = np.concatenate([gate.score(X[i : i + 1]) for i in range(0, 200, 40)])
    np.testing.assert_allclose(alone, whole[::40], rtol=1e-12)
    np.testing.assert_allclose(
        np.concatenate([gate.score(X[i : i + 50]) for i in range(0, 200, 50)]), whole, rtol=1e-12
    )


def test_a_large_reference_is_subsampled_by_seed_and_keeps_the_guarantee() -> None:
    rng = np.random.default_rng(12)
    big = _mixture(rng, 8000)
    gate = NoveltyGate(alpha=0.05, max_reference=1000, seed=3).fit(big)
    assert gate.reference_ is not None and gate.reference_.shape[0] == 1000
    assert gate.n_reference_seen_ == 8000
    twin = NoveltyGate(alpha=0.05, max_reference=1000, seed=3).fit(big)
    np.testing.assert_array_equal(gate.reference_, twin.reference_)
    pool = gate.score(_mixture(rng, 3000))
    order = np.argsort(np.random.default_rng(4).random((SPLITS, 3000)), axis=1)
    share = (conformal_p_values(pool[order[:, :N_CAL]], pool[order[:, N_CAL:]]) <= 0.05).mean(1)
    tol = 4.5 * _share_sigma(0.05, N_CAL, 3000 - N_CAL) / math.sqrt(SPLITS)
    assert abs(share.mean() - 0.05) <= tol


# -- bad input and misuse -----------------------------------------------------------------


def test_bad_input_gets_a_non_answer_with_a_reason_or_a_clear_error() -> None:
    rng = np.random.default_rng(13)
    X_ref = rng.normal(size=(500, 3))
    model = LogisticRegression().fit(X_ref, (X_ref[:, 0] > 0).astype(int))
    X_cal = rng.normal(size=(199, 3))
    g = guard(model, allow_nan=False).novelty(X_ref, alpha=0.05).fit(X_cal, X_cal[:, 0] > 0)
    X = rng.normal(size=(3, 3))
    X[1, 2] = np.nan
    d = g.decide(X)
    assert d.reason[1] == Reason.INVALID_INPUT  # the adapter withholds it; the gate never sees it
    gate = NoveltyGate(alpha=0.05).fit(X_ref).calibrate(X_cal)
    assert np.isnan(gate.p_values(X)[1]) and gate.is_novel(X)[1]
    with pytest.raises(InvalidInputError, match="3 features"):
        gate.score(rng.normal(size=(2, 4)))
    bad_ref = X_ref.copy()
    bad_ref[7, 1] = np.inf
    with pytest.raises(InvalidInputError, match="numeric column 1"):
        NoveltyGate().fit(bad_ref)
    with pytest.raises(InvalidInputError, match="numbers"):
        gate.score(np.array([["a", "b", "c"]], dtype=object))


def test_a_row_the_gate_cannot_score_is_withheld_as_novel_when_the_model_takes_nan() -> None:
    rng = np.random.default_rng(14)
    X_ref = rng.normal(size=(500, 3))

    def proba(X: Any) -> np.ndarray:
        p = 1 / (1 + np.exp(-np.nan_to_num(np.asarray(X)[:, 0])))
        return np.c_[1 - p, p]

    g = guard(proba, output="proba", classes=[0, 1], allow_nan=True).novelty(X_ref, alpha=0.05)
    g = g.fit(rng.normal(size=(199, 3)), np.zeros(199, dtype=int))
    X = np.zeros((2, 3))
    X[1, 0] = np.nan
    d = g.decide(X)
    assert d.reason.tolist() == [int(Reason.NONE), int(Reason.NOVEL)]
    assert d[1].detail == "novel: the row cannot be scored (a missing or infinite value)"


def test_misuse_is_refused_with_a_message_that_names_the_parameter() -> None:
    with pytest.raises(ConfigurationError, match="'alpha' parameter of NoveltyGate"):
        NoveltyGate(alpha=1.5)
    with pytest.raises(ConfigurationError, match="'score' parameter"):
        NoveltyGate(score="lof")
    with pytest.raises(ConfigurationError, match="'n_neighbors'"):
        NoveltyGate(n_neighbors=0)
    with pytest.raises(ConfigurationError, match="'categorical'"):
        NoveltyGate(categorical=[5]).fit(np.zeros((10, 2)))
    with pytest.raises(ConfigurationError, match="not both"):
        NoveltyGate(categorical=[0], embed=lambda X: X)
    rng = np.random.default_rng(15)
    with pytest.raises(NotFittedError, match="fit"):
        NoveltyGate().score(np.zeros((1, 2)))
    gate = NoveltyGate(alpha=0.01).fit(rng.normal(size=(200, 2)))
    with pytest.raises(NotFittedError, match="calibrate"):
        gate.p_values(np.zeros((1, 2)))
    with pytest.raises(ConfigurationError, match="at least 99 scorable calibration rows"):
        gate.calibrate(rng.normal(size=(50, 2)))
    ref = rng.normal(size=(200, 2))
    with pytest.warns(GuardrailsWarning, match="held-out rows"):
        NoveltyGate(alpha=0.05).fit(ref).calibrate(ref)
    model = LogisticRegression().fit(ref, ref[:, 0] > 0)
    with pytest.raises(NotFittedError):
        guard(model).novelty(ref).decide(ref)


# -- composition and persistence ----------------------------------------------------------


def test_novel_rows_go_to_review_not_to_a_fallback_and_are_counted_and_logged() -> None:
    rng = np.random.default_rng(16)
    X = rng.normal(size=(2000, 4))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X[:800], y[:800])
    backup = LogisticRegression(C=0.1).fit(X[:800], y[:800])
    queue, metrics = MemoryQueue(), Metrics()
    g = (
        guard(model, name="g")
        .log(metrics=metrics)
        .review(queue)
        .fallback(ModelStage(backup, name="backup", when=on_abstain()))
        .novelty(X[:800], alpha=0.05)
        .calibrate()
        .fit(X[800:1799], y[800:1799])
    )
    assert ".novelty(NoveltyGate(alpha=0.05, score='knn'))" in repr(g)
    far = np.full((3, 4), 25.0)
    with capture_logs() as events:
        d = g.decide(far)
    assert d.abstained.all() and (d.reason == Reason.NOVEL).all()
    assert d.review_id is not None and all(d.review_id)
    assert [c.reason for c in queue.list(reason=Reason.NOVEL)] == [Reason.NOVEL] * 3
    assert d[0].candidate is not None  # the model ran: its proposal is kept for review
    snap = metrics.snapshot().guard("g")
    assert snap.count(reason="novel") == 3
    rows = [e for e in events if e["event"] == "guardrails.decision"]
    assert {e["reason"] for e in rows} == {"novel"}
    # a stage answers novelty only when named
    h = (
        guard(model)
        .fallback(ModelStage(backup, name="backup", when=on_abstain([Reason.NOVEL])))
        .novelty(X[:800], alpha=0.05)
        .fit(X[800:1799], y[800:1799])
    )
    e = h.decide(far)
    assert (e.stage == "backup").all() and (e.overridden == Reason.NOVEL).all()


@pytest.mark.parametrize("score", SCORES)
def test_a_saved_and_loaded_gate_gives_identical_p_values(score: str, tmp_path: Any) -> None:
    rng = np.random.default_rng(18)
    X = _mixed(rng, 2000)
    X_num = X[:, [0, 2]].astype(float)

    def proba(rows: Any) -> np.ndarray:
        p = 1 / (1 + np.exp(-np.asarray(rows[:, 0], dtype=float)))
        return np.c_[1 - p, p]

    g = (
        guard(proba, output="proba", classes=[0, 1])
        .novelty(X[:1000], alpha=0.05, score=score, categorical=[1])
        .calibrate("sigmoid")
        .fit(X[1000:1999], (X_num[1000:1999, 0] > 0).astype(int))
    )
    again = load(g.save(tmp_path / "g"), model=proba)
    test = _mixed(rng, 500)
    test[:3, 1] = "purple"
    test[3:40, 0] = 9.0
    a, b = g.decide(test), again.decide(test)
    np.testing.assert_array_equal(a.abstained, b.abstained)
    np.testing.assert_array_equal(a.reason, b.reason)
    assert a.detail is not None and b.detail is not None
    assert a.detail.tolist() == b.detail.tolist()
    ga, gb = g.layer(NoveltyGated).gate, again.layer(NoveltyGated).gate
    np.testing.assert_array_equal(ga.p_values(test), gb.p_values(test))
    assert repr(again) == repr(g)


def test_a_step_after_fit_keeps_the_calibrated_gate_and_novelty_after_fit_asks_for_fit() -> None:
    rng = np.random.default_rng(19)
    X = rng.normal(size=(1500, 3))
    model = LogisticRegression().fit(X[:500], X[:500, 0] > 0)
    fitted = guard(model).novelty(X[:500], alpha=0.05).fit(X[500:1000], X[500:1000, 0] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logged = fitted.log()
    np.testing.assert_array_equal(
        logged.decide(X[1000:]).abstained, fitted.decide(X[1000:]).abstained
    )
    late = guard(model).calibrate().fit(X[500:1000], X[500:1000, 0] > 0).novelty(X[:500])
    with pytest.raises(NotFittedError, match=r"unfitted by \.novelty"):
        late.decide(X[1000:])
