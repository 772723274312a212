"""Shared fixtures: small trained models on data that ships with scikit-learn."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from guardrails.apps.demo import DemoResult, run_demo


@pytest.fixture(scope="session")
def iris() -> dict[str, Any]:
    """Iris split into train / calibration / test, with a fitted LogisticRegression."""
    X, y = load_iris(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.6, random_state=0)
    X_cal, X_test, y_cal, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    return {
        "model": model,
        "X_train": X_train,
        "y_train": y_train,
        "X_cal": X_cal,
        "y_cal": y_cal,
        "X_test": X_test,
        "y_test": y_test,
    }


@pytest.fixture(scope="session")
def binary() -> dict[str, NDArray[Any]]:
    """A binary problem with string labels."""
    X, y = make_classification(n_samples=600, n_features=6, random_state=1)
    labels = np.array(["no", "yes"])[y]
    return {"X": X, "y": labels}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, str]:
    """One run of the demo with its report (seed 0) and what it printed."""
    out = io.StringIO()
    result = run_demo(out, out_dir=tmp_path_factory.mktemp("demo"))
    return result, out.getvalue()
