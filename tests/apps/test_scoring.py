"""Scorers rate outcomes; a grid search with them chooses what a brute-force loop chooses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from guardrails import ConfigurationError, Decisions, GuardedClassifier, Reason, confidence_below
from guardrails.apps.scoring import AURC, AccuracyAtCoverage, ExpectedCost, SelectiveAccuracy

THRESHOLDS = np.round(np.linspace(0.5, 0.95, 16), 3)


def _fold_outcomes(X: Any, y: Any, cv: Any) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per fold, the raw model's confidence, prediction and labels: no guardrails code."""
    out = []
    for train, test in cv.split(X, y):
        model = LogisticRegression().fit(X[train], y[train])
        proba = model.predict_proba(X[test])
        out.append((proba.max(axis=1), model.classes_[proba.argmax(axis=1)], y[test]))
    return out


def _brute_cost(folds: Any, t: float, error_cost: float, review_cost: float) -> float:
    costs = []
    for conf, pred, y in folds:
        answer = conf >= t
        costs.append(np.mean(error_cost * (answer & (pred != y)) + review_cost * ~answer))
    return float(np.mean(costs))


def _brute_selective(folds: Any, t: float, min_coverage: float) -> float:
    scores = []
    for conf, pred, y in folds:
        answer = conf >= t
        cover = answer.mean()
        scores.append(
            cover - min_coverage if cover < min_coverage else np.mean(pred[answer] == y[answer])
        )
    return float(np.mean(scores))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("scorer", "brute"),
    [
        (ExpectedCost(error_cost=1.0, review_cost=0.15), lambda f, t: -_brute_cost(f, t, 1, 0.15)),
        (ExpectedCost(error_cost=4.0, review_cost=1.0), lambda f, t: -_brute_cost(f, t, 4, 1.0)),
        (SelectiveAccuracy(min_coverage=0.7), lambda f, t: _brute_selective(f, t, 0.7)),
    ],
    ids=["cost-0.15", "cost-4:1", "selective-0.7"],
)
def test_grid_search_over_thresholds_picks_the_brute_force_threshold(
    seed: int, scorer: Any, brute: Any
) -> None:
    X, y = make_classification(
        n_samples=1500, n_features=8, n_informative=4, flip_y=0.1, random_state=seed
    )
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    search = GridSearchCV(
        GuardedClassifier(LogisticRegression()),
        {"policy": [confidence_below(t) for t in THRESHOLDS]},
        scoring=scorer,
        cv=cv,
    ).fit(X, y)
    folds = _fold_outcomes(X, y, cv)
    brute_scores = np.array([brute(folds, t) for t in THRESHOLDS])
    assert np.allclose(search.cv_results_["mean_test_score"], brute_scores)
    best = int(np.argmax(brute_scores))
    assert 0 < best < len(THRESHOLDS) - 1  # an interior choice: the search had work to do
    assert search.best_params_["policy"].threshold == THRESHOLDS[best]


def _decisions(conf: np.ndarray, correct: np.ndarray) -> tuple[Decisions, np.ndarray]:
    """Decisions that answer every row with the given confidence; labels making
    ``correct`` true where it says so."""
    pred = np.ones(len(conf), dtype=int)
    d = Decisions(prediction=pred, confidence=conf, classes=np.array([0, 1]))
    return d, np.where(correct, 1, 0)


def test_the_aurc_scorer_matches_a_direct_loop_without_ties() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, size=200)
    correct = rng.uniform(size=200) < conf  # confident rows are more often right
    order = np.argsort(-conf)
    risks = [np.mean(~correct[order[:k]]) for k in range(1, 201)]
    d, y = _decisions(conf, correct)
    assert AURC().score(d, y) == pytest.approx(-np.mean(risks))


def test_a_perfect_ranking_scores_best_and_ties_do_not_depend_on_row_order() -> None:
    correct = np.r_[np.ones(80, bool), np.zeros(20, bool)]
    perfect = np.linspace(1, 0.5, 100)
    scores = [AURC().score(*_decisions(c, correct)) for c in (perfect, np.full(100, 0.7))]
    assert scores[0] > scores[1] == pytest.approx(-0.2)  # all tied: the overall error rate
    conf = np.repeat([0.9, 0.7, 0.6, 0.55], 25)
    perm = np.random.default_rng(1).permutation(100)
    assert AURC().score(*_decisions(conf, correct)) == pytest.approx(
        AURC().score(*_decisions(conf[perm], correct[perm]))
    )


def test_accuracy_at_coverage_answers_the_most_confident_share(binary: Any) -> None:
    X, y = binary["X"], binary["y"]
    model = LogisticRegression().fit(X[:300], y[:300])
    proba = model.predict_proba(X[300:])
    top = np.argsort(-proba.max(axis=1))[:240]  # 80% of 300
    expected = np.mean(model.classes_[proba.argmax(axis=1)][top] == y[300:][top])
    scorer = AccuracyAtCoverage(coverage=0.8)
    assert scorer(model, X[300:], y[300:]) == pytest.approx(expected)
    assert AURC()(model, X[300:], y[300:]) < 0


def test_rows_the_model_never_scored_rank_last_as_errors() -> None:
    d = Decisions(
        prediction=np.array([1, 0, 1]),
        confidence=np.array([0.9, 0.8, np.nan]),
        classes=np.array([0, 1]),
    ).withhold(np.array([False, False, True]), Reason.INVALID_INPUT)
    y = np.array([1, 0, 1])
    assert AccuracyAtCoverage(coverage=2 / 3).score(d, y) == 1.0
    assert AURC().score(d, y) == pytest.approx(-(0 + 0 + 1 / 3) / 3)


def test_expected_cost_prices_errors_and_reviews() -> None:
    d = Decisions(prediction=np.array([1, 0, 1, 1]), abstained=np.array([False, False, True, True]))
    y = np.array([1, 1, 0, 1])
    scorer = ExpectedCost(error_cost=2.0, review_cost=0.5)
    assert scorer.score(d, y) == pytest.approx(-(2 + 0.5 + 0.5) / 4)


def test_scorers_work_in_cross_val_score_on_plain_and_guarded_models(binary: Any) -> None:
    X, y = binary["X"], binary["y"]
    plain = cross_val_score(LogisticRegression(), X, y, scoring=ExpectedCost(review_cost=0.2))
    guarded = cross_val_score(
        GuardedClassifier(LogisticRegression(), policy=confidence_below(0.99)),
        X,
        y,
        scoring=ExpectedCost(review_cost=0.2),
    )
    # answering everything costs the error rate; withholding nearly everything costs ~0.2
    assert plain.mean() > -0.2
    assert guarded.mean() < plain.mean()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: SelectiveAccuracy(min_coverage=1.5), "'min_coverage' parameter"),
        (lambda: AccuracyAtCoverage(coverage=0.0), r"'coverage' parameter .* \(0, 1\]"),
        (lambda: ExpectedCost(review_cost=-1), "'review_cost' parameter of ExpectedCost"),
        (lambda: ExpectedCost(error_cost="high", review_cost=1), "'error_cost' parameter"),
    ],
)
def test_scorers_validate_their_settings(factory: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        factory()


def test_ranking_scores_need_confidence_and_matching_labels() -> None:
    d = Decisions(prediction=np.array([1, 0]))
    with pytest.raises(ConfigurationError, match="carry none"):
        AURC().score(d, np.array([1, 0]))
    with pytest.raises(ConfigurationError, match="one label per decision"):
        ExpectedCost(review_cost=0.1)(LogisticRegression().fit([[0], [1]], [0, 1]), [[0]], [1, 0])
    assert repr(ExpectedCost(review_cost=0.2)) == "ExpectedCost(error_cost=1.0, review_cost=0.2)"


# -- regression scorers ---------------------------------------------------------------


def _interval_decisions() -> tuple[Decisions, np.ndarray]:
    interval = np.array([[-1.0, 1.0], [-4.0, 4.0], [0.0, 2.0], [np.nan, np.nan]])
    d = Decisions(
        prediction=np.array([0.0, 0.0, 1.0, np.nan]),
        interval=interval,
        abstained=np.array([False, True, False, True]),
        reason=np.array([0, int(Reason.AMBIGUOUS), 0, int(Reason.INVALID_INPUT)], dtype=np.int8),
    )
    return d, np.array([0.5, 3.0, 2.5, 0.0])


def test_coverage_at_width_counts_only_answered_narrow_intervals_that_hold_the_truth() -> None:
    from guardrails.apps.scoring import CoverageAtWidth

    d, y = _interval_decisions()
    # row 0: answered, width 2, holds 0.5; row 1 withheld; row 2 misses 2.5; row 3 none
    assert CoverageAtWidth(max_width=2.0).score(d, y) == pytest.approx(1 / 4)


def test_interval_score_is_width_plus_the_scaled_misses() -> None:
    from guardrails.apps.scoring import IntervalScore

    d, y = _interval_decisions()
    by_hand = np.mean([2.0, 8.0, 2.0 + 2 / 0.1 * 0.5])  # the row without an interval left out
    assert IntervalScore(alpha=0.1).score(d, y) == pytest.approx(-by_hand)


def test_width_at_coverage_stretches_every_interval_by_one_factor() -> None:
    from guardrails.apps.scoring import WidthAtCoverage

    d, y = _interval_decisions()
    # factors needed: 0.5, 0.75, 1.5, inf; two of four rows need a factor of 0.75,
    # so the mean width of the three intervals becomes 0.75 * (2 + 8 + 2) / 3
    assert WidthAtCoverage(coverage=0.5).score(d, y) == pytest.approx(-0.75 * 4.0)
    assert WidthAtCoverage(coverage=1.0).score(d, y) == float("-inf")


def test_mae_at_coverage_answers_the_narrowest_intervals_first() -> None:
    from guardrails.apps.scoring import MAEAtCoverage

    d, y = _interval_decisions()
    # narrowest first: rows 0 and 2 (width 2, stable order), then row 1 (width 8)
    assert MAEAtCoverage(coverage=0.5).score(d, y) == pytest.approx(-(0.5 + 1.5) / 2)
    assert MAEAtCoverage(coverage=0.75).score(d, y) == pytest.approx(-(0.5 + 1.5 + 3.0) / 3)
    assert MAEAtCoverage(coverage=1.0).score(d, y) == float("-inf")


def test_a_classification_scorer_refuses_a_regressor_and_the_other_way_round() -> None:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    from guardrails import ConformalIntervals, GuardedRegressor
    from guardrails.apps.scoring import IntervalScore

    X, y = make_regression(n_samples=200, n_features=3, noise=5.0, random_state=0)
    reg = GuardedRegressor(Ridge(), policy=ConformalIntervals(0.1), random_state=0).fit(X, y)
    for scorer in (SelectiveAccuracy(), ExpectedCost(review_cost=0.1), AURC()):
        with pytest.raises(ConfigurationError, match="scores classifiers, and GuardedRegr"):
            scorer(reg, X, y)
    Xc, yc = make_classification(n_samples=200, random_state=0)
    clf = GuardedClassifier(LogisticRegression()).fit(Xc, yc)
    with pytest.raises(ConfigurationError, match="IntervalScore scores regressors"):
        IntervalScore()(clf, Xc, yc)
    with pytest.raises(ConfigurationError, match="carry none"):
        IntervalScore()(GuardedRegressor(Ridge()).fit(X, y), X, y)


def test_grid_search_of_a_regressor_by_interval_score_prefers_the_nominal_alpha() -> None:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import LinearRegression

    from guardrails import ConformalIntervals, GuardedRegressor
    from guardrails.apps.scoring import IntervalScore

    # Gaussian noise: the interval score at alpha 0.1 is best for the 5% and 95%
    # quantiles, which the conformal interval at alpha 0.1 estimates; alpha 0.01 and
    # 0.5 give intervals about 1.57 and 0.41 times as wide, which score clearly worse.
    X, y = make_regression(n_samples=1500, n_features=4, noise=10.0, random_state=1)
    search = GridSearchCV(
        GuardedRegressor(LinearRegression(), policy=ConformalIntervals(0.1), random_state=0),
        {"policy__alpha": [0.01, 0.1, 0.5]},
        scoring=IntervalScore(alpha=0.1),
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"policy__alpha": 0.1}


def test_a_search_ranks_a_guard_that_answers_nothing_last() -> None:
    from guardrails import GuardrailsWarning, RiskControlledThreshold

    # 300 rows, 50 held out per fit: no threshold can prove a risk of 1% with 90%
    # confidence, so that setting withholds every row (and says so when fitted)
    X, y = make_classification(n_samples=300, flip_y=0.05, random_state=0)
    with pytest.warns(GuardrailsWarning, match="every row will be withheld"):
        search = GridSearchCV(
            GuardedClassifier(LogisticRegression(), random_state=0),
            {"policy": [RiskControlledThreshold(0.01), RiskControlledThreshold(0.3)]},
            scoring=SelectiveAccuracy(),
            cv=3,
        ).fit(X, y)
    ranks = dict(
        zip(map(repr, search.cv_results_["param_policy"]), search.cv_results_["rank_test_score"])
    )
    assert search.cv_results_["mean_test_score"][0] == -1.0
    assert search.best_params_["policy"].target_risk == 0.3, ranks
