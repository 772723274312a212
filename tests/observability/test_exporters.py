"""The exporters: Prometheus and OpenTelemetry read the same exact counts as Metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from guardrails import ConfigurationError, Metrics, guard
from guardrails.observability.telemetry import CONFIDENCE_BUCKETS
from tests.observability.test_telemetry import (
    _mixed_traffic,
    batch,
    key,
    proba_model,
    quiet,
    scrape,
)


def test_prometheus_exposition_has_exact_counts() -> None:
    from guardrails.exporters.prometheus import register

    metrics = Metrics()
    registry = CollectorRegistry()
    register(metrics, registry)
    _mixed_traffic(metrics)
    samples = scrape(registry)
    who = {"guard": "churn", "version": "3"}
    decisions = {
        (dict(labels)["outcome"], dict(labels)["reason"], dict(labels)["stage"]): value
        for (name, labels), value in samples.items()
        if name == "guardrails_decisions_total"
    }
    assert decisions == {
        ("answered", "none", "primary"): 7.0,
        ("abstained", "low_confidence", "primary"): 2.0,
        ("abstained", "invalid_input", "primary"): 1.0,
    }
    assert samples[key("guardrails_calls_total", **who)] == 5.0
    assert samples[key("guardrails_latency_seconds_count", **who, stage="total")] == 5.0
    assert samples[key("guardrails_latency_seconds_count", **who, stage="primary")] == 5.0
    assert samples[key("guardrails_abstention_ratio", **who)] == pytest.approx(0.3)
    assert samples[key("guardrails_fallback_ratio", **who)] == 0.0
    assert samples[key("guardrails_error_ratio", **who)] == 0.0
    assert samples[key("guardrails_window_rows", **who)] == 10.0
    # ratios follow Prometheus naming (_ratio, a share in [0, 1]), and this guard has no
    # drift monitor, so it has no drift gauge (a constant 0 would claim "no drift")
    assert not any(name.endswith("_rate") for name, _ in samples)
    assert not any(name == "guardrails_drift_detected" for name, _ in samples)
    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in samples.items()
        if name == "guardrails_confidence_bucket"
    }
    # Confidences: batch 0.95, 0.9, 0.99, 0.6, 0.5 (the NaN row has none), then 4 x 0.97.
    assert buckets["0.5"] == 1.0
    assert buckets["0.6"] == 2.0
    assert buckets["0.9"] == 3.0
    assert buckets["0.95"] == 4.0
    assert buckets["0.99"] == 9.0
    assert buckets["+Inf"] == 9.0
    assert len(buckets) == len(CONFIDENCE_BUCKETS) + 1
    assert samples[key("guardrails_confidence_count", **who)] == 9.0


def test_two_guards_in_one_process_get_distinct_prometheus_labels() -> None:
    from guardrails.exporters.prometheus import register

    metrics = Metrics()
    registry = CollectorRegistry()
    register(metrics, registry, namespace="svc")
    for name, rows in (("fraud", 2), ("churn", 5)):
        g = guard(proba_model, output="proba", classes=[0, 1], name=name).log(
            logger=quiet(), metrics=metrics
        )
        g.decide(np.full((rows, 1), 0.9))
    samples = scrape(registry)
    answered = {"outcome": "answered", "reason": "none", "stage": "primary", "version": "0"}
    assert samples[key("svc_decisions_total", guard="churn", **answered)] == 5.0
    assert samples[key("svc_decisions_total", guard="fraud", **answered)] == 2.0


def test_drift_scores_reach_prometheus() -> None:
    from guardrails.exporters.prometheus import register

    metrics = Metrics()
    registry = CollectorRegistry()
    register(metrics, registry)
    note = {"status": "drift", "scores": {"age": {"psi": 0.25}}}
    metrics.observe("g", "1", batch([False], [0], ["primary"]), seconds=0, drift=note)
    samples = scrape(registry)
    assert samples[key("guardrails_drift_score", guard="g", version="1", feature="age.psi")] == 0.25
    assert samples[key("guardrails_drift_detected", guard="g", version="1")] == 1.0


def test_rows_the_review_cap_kept_out_reach_prometheus() -> None:
    from guardrails.exporters.prometheus import register

    metrics = Metrics()
    registry = CollectorRegistry()
    register(metrics, registry)
    note = {"not_queued": 4, "data_quality_cap": 100, "data_quality_window": 3600.0}
    for _ in range(2):
        metrics.observe("g", "1", batch([True], [3], ["primary"]), seconds=0, review=note)
    samples = scrape(registry)
    assert samples[key("guardrails_review_not_queued_total", guard="g", version="1")] == 8.0
    assert samples[key("guardrails_review_data_quality_cap", guard="g", version="1")] == 100.0


def test_the_prometheus_collector_checks_its_arguments() -> None:
    from guardrails.exporters.prometheus import GuardrailsCollector

    with pytest.raises(ConfigurationError, match="'metrics'"):
        GuardrailsCollector({})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'namespace'"):
        GuardrailsCollector(Metrics(), namespace="bad-name")


def test_opentelemetry_reads_the_same_counts() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from guardrails.exporters.otel import instrument

    metrics = Metrics()
    reader = InMemoryMetricReader()
    instrument(metrics, MeterProvider(metric_readers=[reader]))
    _mixed_traffic(metrics)
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, Any] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                found[metric.name] = metric.data
    decisions = {
        (p.attributes["outcome"], p.attributes["reason"]): p.value
        for p in found["guardrails.decisions"].data_points
    }
    assert decisions == {
        ("answered", "none"): 7,
        ("abstained", "low_confidence"): 2,
        ("abstained", "invalid_input"): 1,
    }
    (rate,) = found["guardrails.abstention_ratio"].data_points
    assert rate.value == pytest.approx(0.3)
    assert "guardrails.drift_detected" not in found  # no monitor, no drift gauge
    latency = {p.attributes["stage"]: p.count for p in found["guardrails.latency"].data_points}
    assert latency["total"] == 5
    (conf,) = found["guardrails.confidence"].data_points
    assert conf.count == 9


def test_metrics_served_from_a_fastapi_route_answer_get_metrics_without_a_redirect() -> None:
    from fastapi import FastAPI, Response
    from fastapi.testclient import TestClient
    from prometheus_client import CONTENT_TYPE_LATEST, make_asgi_app

    from guardrails.exporters.prometheus import register

    metrics = Metrics()
    registry = CollectorRegistry()
    register(metrics, registry)
    g = guard(proba_model, output="proba", classes=[0, 1]).log(logger=quiet(), metrics=metrics)
    g.decide(np.full((3, 1), 0.9))
    app = FastAPI()

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    scrape = TestClient(app).get("/metrics", follow_redirects=False)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    assert "guardrails_decisions_total" in scrape.text
    # what docs/serving.md warns about: the naive mount redirects
    mounted = FastAPI()
    mounted.mount("/metrics", make_asgi_app(registry=registry))
    assert TestClient(mounted).get("/metrics", follow_redirects=False).status_code == 307
