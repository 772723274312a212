"""Policies and calibrators are scikit-learn parameters: get_params, set_params, clone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from guardrails import (
    AdaptiveConformal,
    ConfigurationError,
    ConformalSets,
    GuardedClassifier,
    HistogramBinning,
    Policy,
    Reason,
    Verdict,
    confidence_below,
    margin_below,
)
from guardrails.abstention.policies import CostRule, MarginThreshold, RiskControlledThreshold
from guardrails.core.decisions import Decisions


def test_a_policy_lists_its_init_arguments_and_clone_copies_them_unfitted() -> None:
    sets = ConformalSets(0.1, score="aps")
    assert sets.get_params()["alpha"] == 0.1
    assert sets.get_params()["score"] == "aps"
    proba = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.2, 0.8]] * 10)
    d = Decisions(prediction=proba.argmax(1), proba=proba, classes=np.array([0, 1]))
    sets.fit(d, np.array([0, 1, 0, 1] * 10))
    copy = clone(sets)
    assert copy is not sets and copy.get_params() == sets.get_params()
    assert sets.is_fitted() and not copy.is_fitted()


def test_set_params_checks_values_like_init_and_drops_what_was_fitted() -> None:
    policy = RiskControlledThreshold(0.1)
    policy.threshold_ = 0.5
    assert policy.set_params(target_risk=0.2) is policy
    assert policy.target_risk == 0.2 and not policy.is_fitted()
    with pytest.raises(ConfigurationError, match="'target_risk' parameter of Risk"):
        policy.set_params(target_risk=1.5)
    with pytest.raises(ConfigurationError, match="Invalid parameter 'alpha' for RiskControlled"):
        policy.set_params(alpha=0.1)


def test_single_threshold_policies_name_their_parameter() -> None:
    assert MarginThreshold(0.2).get_params() == {"margin": 0.2}
    assert margin_below(0.2).set_params(margin=0.3) == margin_below(0.3)
    assert CostRule(cost_review=0.2).set_params(cost_error=2.0).cost_error == 2.0


def test_combined_policies_address_their_members_by_position() -> None:
    both = confidence_below(0.5) | margin_below(0.1)
    params = both.get_params()
    assert params["0__threshold"] == 0.5 and params["1__margin"] == 0.1
    both.set_params(**{"0__threshold": 0.7})
    assert both == (confidence_below(0.7) | margin_below(0.1))
    assert clone(both) == both and clone(both).policies[0] is not both.policies[0]
    with pytest.raises(ConfigurationError, match=r"member positions 0\.\.1"):
        both.set_params(**{"2__threshold": 0.1})


def test_a_wrapped_policy_is_a_nested_parameter() -> None:
    adaptive = AdaptiveConformal(ConformalSets(0.1), gamma=0.01)
    adaptive.set_params(base__alpha=0.2)
    assert adaptive.base.alpha == 0.2 and adaptive.gamma == 0.01


def test_calibrators_are_parameters_too() -> None:
    binning = HistogramBinning(bins=5)
    assert binning.get_params() == {"bins": 5, "strategy": "quantile"}
    assert clone(binning.set_params(bins=8)).bins == 8


class Opaque(Policy):
    """A user's policy that keeps its setting under another name."""

    def __init__(self, level: float) -> None:
        self._level = level

    def evaluate(self, d: Decisions) -> Verdict:
        return Verdict(np.zeros(len(d), dtype=bool), Reason.LOW_CONFIDENCE)


def test_a_policy_that_hides_its_settings_has_no_parameters_and_is_copied_whole() -> None:
    policy = Opaque(0.3)
    assert policy.get_params() == {}
    copy = clone(policy)
    assert copy is not policy and copy._level == 0.3
    with pytest.raises(ConfigurationError, match="Opaque has no settable parameters"):
        policy.set_params(level=0.1)


@pytest.fixture(scope="module")
def data() -> Any:
    return make_classification(n_samples=900, n_features=5, n_informative=3, random_state=0)


def test_grid_search_tunes_the_alpha_of_a_conformal_policy(data: Any) -> None:
    X, y = data
    base = GuardedClassifier(
        LogisticRegression(), policy=ConformalSets(0.1), marker=-1, random_state=0
    )
    search = GridSearchCV(base, {"policy__alpha": [0.05, 0.2]}, cv=3).fit(X, y)
    alphas = [p["policy__alpha"] for p in search.cv_results_["params"]]
    assert alphas == [0.05, 0.2]
    # alpha 0.05 needs two-label sets for most rows (about 3/4 withheld as ambiguous on
    # this overlap), alpha 0.2 for about 1/3: the accuracy that counts a withheld row as
    # wrong is ~0.2 against ~0.45, far beyond the fold-to-fold noise of 300-row folds
    assert search.best_params_ == {"policy__alpha": 0.2}
    assert search.best_estimator_.guard_.layers().__next__().policy.alpha == 0.2
    assert base.policy.alpha == 0.1  # the search worked on clones


def test_grid_search_tunes_a_calibrator_parameter(data: Any) -> None:
    X, y = data
    base = GuardedClassifier(
        LogisticRegression(), calibration=HistogramBinning(bins=5), random_state=0
    )
    search = GridSearchCV(base, {"calibration__bins": [3, 6]}, cv=2).fit(X, y)
    assert sorted(p["calibration__bins"] for p in search.cv_results_["params"]) == [3, 6]
