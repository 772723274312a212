"""Metrics: exact counts by outcome, reason and stage; rolling rates; threads."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import structlog
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from guardrails import ConfigurationError, Decisions, Metrics, Reason, confidence_below, guard
from guardrails.observability.telemetry import HistogramSnapshot, row_outcomes


def proba_model(X: NDArray[Any]) -> NDArray[Any]:
    p = np.clip(X[:, 0], 0.0, 1.0)
    return np.c_[1 - p, p]


def quiet() -> Any:
    """A structlog logger that renders nothing anywhere."""
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[])


def batch(
    abstained: list[bool], reasons: list[int], stages: list[str], conf: list[float] | None = None
) -> Decisions:
    n = len(abstained)
    st = np.empty(n, dtype=object)
    st[:] = stages
    return Decisions(
        prediction=np.zeros(n),
        abstained=np.array(abstained, dtype=bool),
        reason=np.array(reasons, dtype=np.int8),
        stage=st,
        confidence=None if conf is None else np.array(conf, dtype=float),
        timings={"primary": 0.001},
    )


# -- the registry --------------------------------------------------------------------------


def test_rows_are_counted_by_outcome_reason_and_stage() -> None:
    m = Metrics()
    d = batch(
        [False, False, True, True, True, False],
        [0, 0, Reason.LOW_CONFIDENCE, Reason.MODEL_ERROR, Reason.LOW_CONFIDENCE, 0],
        ["primary", "rules", "primary", "primary", "primary", "primary"],
    )
    m.observe("g", "1", d, seconds=0.01)
    snap = m.snapshot().guard("g")
    assert dict(snap.decisions) == {
        ("answered", "none", "primary"): 2,
        ("fallback", "none", "rules"): 1,
        ("abstained", "low_confidence", "primary"): 2,
        ("abstained", "model_error", "primary"): 1,
    }
    assert snap.calls == 1
    assert snap.rates.rows == 6
    assert snap.rates.abstention == pytest.approx(3 / 6)
    assert snap.rates.fallback == pytest.approx(1 / 6)
    assert snap.rates.error == pytest.approx(1 / 6)


def test_the_single_record_path_counts_like_the_batch_path() -> None:
    one, many = Metrics(), Metrics()
    rows = [(False, 0, "primary"), (True, 1, "primary"), (False, 0, "rules"), (True, 4, "x")]
    for a, r, s in rows:
        one.observe("g", "1", batch([a], [r], [s], [0.7]), seconds=0.001)
    many.observe(
        "g",
        "1",
        batch(*map(list, zip(*rows)), [0.7] * 4),
        seconds=0.001,  # type: ignore[arg-type]
    )
    a, b = one.snapshot().guard("g"), many.snapshot().guard("g")
    assert a.decisions == b.decisions
    assert a.confidence.counts == b.confidence.counts
    assert (a.rates.abstention, a.rates.fallback, a.rates.error) == (
        b.rates.abstention,
        b.rates.fallback,
        b.rates.error,
    )


def test_row_outcomes_codes() -> None:
    d = batch([False, False, True], [0, 0, 1], ["primary", "rules", "primary"])
    assert row_outcomes(d).tolist() == [0, 1, 2]


def test_rates_cover_only_the_last_window_rows() -> None:
    m = Metrics(window=10)
    for _ in range(10):
        m.observe("g", "1", batch([True], [1], ["primary"]), seconds=0.0)
    assert m.rates("g", "1").abstention == 1.0
    for _ in range(10):
        m.observe("g", "1", batch([False], [0], ["primary"]), seconds=0.0)
    rates = m.rates("g", "1")
    assert (rates.rows, rates.abstention) == (10, 0.0)


def test_a_batch_larger_than_the_window_is_the_window() -> None:
    m = Metrics(window=10)
    m.observe("g", "1", batch([True] * 5, [1] * 5, ["primary"] * 5), seconds=0.0)
    m.observe("g", "1", batch([False] * 50, [0] * 50, ["primary"] * 50), seconds=0.0)
    rates = m.rates("g", "1")
    assert (rates.rows, rates.abstention) == (50, 0.0)


def test_histograms_put_values_in_le_buckets() -> None:
    m = Metrics(confidence_buckets=[0.5, 0.9])
    m.observe(
        "g", "1", batch([False] * 4, [0] * 4, ["primary"] * 4, [0.5, 0.6, 0.9, 0.95]), seconds=0.3
    )
    snap = m.snapshot().guard("g")
    assert snap.confidence == HistogramSnapshot((0.5, 0.9), (1, 2, 1), pytest.approx(2.95), 4)
    assert snap.confidence.cumulative() == [1, 3, 4]
    assert snap.latency["total"].count == 1 and snap.latency["primary"].count == 1
    assert snap.latency["total"].sum == pytest.approx(0.3)


def test_nan_confidence_is_not_observed() -> None:
    m = Metrics()
    m.observe("g", "1", batch([True, False], [3, 0], ["primary"] * 2, [np.nan, 0.8]), seconds=0)
    m.observe("g", "1", batch([True], [3], ["primary"], [np.nan]), seconds=0)
    assert m.snapshot().guard("g").confidence.count == 1


def test_drift_notes_are_kept_as_status_and_flat_scores() -> None:
    m = Metrics()
    note = {"status": "drift", "scores": {"age": {"psi": 0.3, "ks": 0.1}, "income": 0.2}}
    m.observe("g", "1", batch([False], [0], ["primary"]), seconds=0, drift=note)
    snap = m.snapshot().guard("g")
    assert snap.drift_status == "drift"
    assert dict(snap.drift_scores) == {"age.psi": 0.3, "age.ks": 0.1, "income": 0.2}


def test_guards_are_kept_apart_by_name_and_version() -> None:
    m = Metrics()
    for name, version in (("a", "1"), ("a", "2"), ("b", "1")):
        m.observe(name, version, batch([False], [0], ["primary"]), seconds=0)
    snap = m.snapshot()
    assert [(g.guard, g.version) for g in snap.guards] == [("a", "1"), ("a", "2"), ("b", "1")]
    assert snap.guard("b").calls == 1
    with pytest.raises(KeyError, match="several"):
        snap.guard("a")
    with pytest.raises(KeyError, match="no"):
        snap.guard("c")


def test_reset_forgets_everything() -> None:
    m = Metrics()
    m.observe("g", "1", batch([False], [0], ["primary"]), seconds=0)
    m.reset()
    assert m.snapshot().guards == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, "'window' parameter of Metrics"),
        ({"window": 1.5}, "'window'"),
        ({"latency_buckets": [0.1, 0.1]}, "'latency_buckets'"),
        ({"confidence_buckets": []}, "'confidence_buckets'"),
        ({"confidence_buckets": [0.1, float("inf")]}, "'confidence_buckets'"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Metrics(**kwargs)


# -- concurrency ----------------------------------------------------------------------------


def test_sixteen_threads_of_two_thousand_decisions_give_exact_totals() -> None:
    metrics = Metrics()
    seen = [0]
    lock = threading.Lock()

    def count(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        with lock:
            seen[0] += 1
        raise structlog.DropEvent

    logger = structlog.wrap_logger(structlog.ReturnLogger(), processors=[count])
    g = (
        guard(proba_model, output="proba", classes=[0, 1], name="hot")
        .abstain(confidence_below(0.8))
        .log(logger=logger, metrics=metrics)
    )
    confident, unsure = np.array([0.95]), np.array([0.6])
    start = threading.Barrier(16)

    def worker(k: int) -> None:
        start.wait()
        for i in range(2_000):
            g.decide_one(unsure if (i + k) % 4 == 0 else confident)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = metrics.snapshot().guard("hot")
    assert snap.calls == 32_000
    assert snap.count() == 32_000
    assert snap.count(outcome="abstained", reason="low_confidence") == 8_000
    assert snap.count(outcome="answered") == 24_000
    assert snap.latency["total"].count == 32_000
    assert snap.confidence.count == 32_000
    assert seen[0] == 32_000


# -- Prometheus -----------------------------------------------------------------------------


def _mixed_traffic(metrics: Metrics) -> None:
    """3 answered, 2 low confidence, 1 invalid (batch of 6), then 4 single answered records."""
    g = (
        guard(proba_model, output="proba", classes=[0, 1], name="churn", version="3")
        .abstain(confidence_below(0.8))
        .log(logger=quiet(), metrics=metrics)
    )
    g.decide(np.array([[0.95], [0.9], [0.99], [0.6], [0.5], [np.nan]]))
    for _ in range(4):
        g.decide_one(np.array([0.97]))


def scrape(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition text, by name and label set."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


# -- OpenTelemetry --------------------------------------------------------------------------


def test_an_empty_batch_counts_a_call_and_leaves_the_rates_alone() -> None:
    m = Metrics(window=5)
    m.observe("g", "1", batch([True], [1], ["primary"]), seconds=0)
    for _ in range(100):
        m.observe("g", "1", batch([], [], []), seconds=0)
    snap = m.snapshot().guard("g")
    assert snap.calls == 101
    assert (snap.rates.rows, snap.rates.abstention) == (1, 1.0)
