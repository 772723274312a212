"""Windows of one large call: the same windows, verdicts, events and state as row by row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from structlog.testing import CapturingLogger

from guardrails import DriftProfile, Monitored, confidence_below, guard
from tests.monitoring.support import assert_verdict_is_the_full_evaluations


def drifting_rows(seed: int, n: int) -> NDArray[np.float64]:
    """Rows whose first feature drifts in and out (small shifts sit near the verdict's edge),
    with a NaN now and then and a few values on the reference grid."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 2] = rng.poisson(3.0, n)  # ties on the grid
    t = np.arange(n)
    X[:, 0] += 0.25 * (np.sin(t / 700.0) > 0.6) + 0.12 * (np.sin(t / 300.0) > 0.9)
    X[rng.random(n) < 0.002, 1] = np.nan
    return X


@pytest.fixture(scope="module")
def model_and_profile() -> tuple[Any, DriftProfile]:
    X = drifting_rows(0, 6000)
    X[:, 0] -= 0.25 * (np.sin(np.arange(6000) / 700.0) > 0.6)  # undo the drift
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(np.nan_to_num(X), y)
    proba = model.predict_proba(np.nan_to_num(X))
    profile = DriftProfile.from_data(
        X,
        predictions=model.predict(np.nan_to_num(X)),
        confidence=proba.max(axis=1),
        abstained=proba.max(axis=1) < 0.7,
        sample_size=2000,
    )
    return model, profile


def nan_safe(model: Any) -> Any:
    return lambda X: model.predict_proba(np.nan_to_num(X))


def monitored(model: Any, profile: DriftProfile, **settings: Any) -> tuple[Any, Monitored, Any]:
    log = CapturingLogger()
    g = (
        guard(nan_safe(model), output="proba", classes=[0, 1])
        .abstain(confidence_below(0.7))
        .monitor(profile, logger=log, **settings)
    )
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    return g, mon, log


def rounded(data: Any) -> Any:
    """Wasserstein statistics to 9 decimals: the slot sums they use add in chunk order."""
    if isinstance(data, dict):
        out = {k: rounded(v) for k, v in data.items()}
        w = out.get("wasserstein")
        if isinstance(w, dict) and isinstance(w.get("statistic"), float):
            out["wasserstein"] = {**w, "statistic": round(w["statistic"], 9)}
        return out
    if isinstance(data, list):
        return [rounded(v) for v in data]
    return data


# Which guard and request spoke: the same in both runs but for the request ids (one large call
# against many small ones) and the guards' own ids, so the windows are compared without them.
WHO = ("guard", "guard_version", "request_id")


def events(log: Any) -> list[tuple[str, dict[str, Any]]]:
    for c in log.calls:
        assert all(key in c.kwargs for key in WHO), c.kwargs
    return [
        (c.args[0], rounded({k: v for k, v in c.kwargs.items() if k not in WHO})) for c in log.calls
    ]


SETTINGS = [
    {"window": 400},
    {"window": 400, "correction": "none"},
    {"window": 300, "mode": "tumbling"},
    {"window": 400, "correction": "bh"},
    {"window": 400, "tests": ("ks",)},
    {"window": 400, "thresholds": {"psi": 0.05}},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_one_large_call_gives_the_windows_of_many_small_ones(
    model_and_profile: tuple[Any, DriftProfile], settings: dict[str, Any]
) -> None:
    model, profile = model_and_profile
    X = drifting_rows(1, 9_130)
    big, big_mon, big_log = monitored(model, profile, **settings)
    small, small_mon, small_log = monitored(model, profile, **settings)
    big.decide(X[:170])  # earlier traffic: the large call starts mid-bucket
    small.decide(X[:170])
    d_big = big.decide(X[170:])
    d_small = [small.decide(X[i : i + 70]) for i in range(170, len(X), 70)]
    assert events(big_log) == events(small_log)
    assert big_mon.windows_evaluated == small_mon.windows_evaluated > 20
    assert any(e["drifted"] for k, e in events(big_log) if k == "drift_window")
    assert (big_mon.status, big_mon.rows_observed) == (small_mon.status, small_mon.rows_observed)
    assert big_mon.report is not None and small_mon.report is not None
    assert rounded(big_mon.report.to_dict()) == rounded(small_mon.report.to_dict())
    assert big_mon._window.current == small_mon._window.current
    assert list(big_mon._window.done) == list(small_mon._window.done)
    assert d_big.abstained.tolist() == np.concatenate([d.abstained for d in d_small]).tolist()
    # and the next call carries on from the same state
    big.decide(X[:900])
    small.decide(X[:900])
    assert events(big_log) == events(small_log)


def test_every_window_verdict_is_the_full_evaluation_verdict(
    model_and_profile: tuple[Any, DriftProfile],
) -> None:
    _, profile = model_and_profile
    rng = np.random.default_rng(5)
    for size, shift in [(50, 0.0), (400, 0.1), (400, 0.18), (2000, 0.05), (30_000, 0.02)]:
        for correction in ("bonferroni", "none", "bh"):
            X = drifting_rows(int(rng.integers(1 << 30)), size)
            X[:, 0] += shift
            state = profile.window_state().update(
                X,
                predictions=(X[:, 0] > 0).astype(int),
                confidence=np.clip(np.abs(X[:, 0]), 0.5, 1.0),
                abstained=np.abs(X[:, 0]) < 0.3,
            )
            for ks_method in ("asymp", "auto"):
                assert_verdict_is_the_full_evaluations(
                    profile, state, correction=correction, ks_method=ks_method
                )


def test_the_report_is_computed_when_read_and_matches_evaluate(
    model_and_profile: tuple[Any, DriftProfile],
) -> None:
    model, profile = model_and_profile
    g, mon, _ = monitored(model, profile, window=400, mode="tumbling")
    X = drifting_rows(2, 4000)
    g.decide(X)
    assert mon._report is None  # not computed on the request path
    report = mon.report
    assert report is not None
    call_rows = X[3600:]
    expected = profile.evaluate(
        profile.window_state().update(
            call_rows,
            predictions=(nan_safe(model)(call_rows)[:, 1] >= 0.5).astype(int),
            confidence=nan_safe(model)(call_rows).max(axis=1),
            abstained=nan_safe(model)(call_rows).max(axis=1) < 0.7,
        ),
        ks_method="asymp",
    )
    assert report.drifted_features == expected.drifted_features
    assert report.rows == 400
