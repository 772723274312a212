"""Prometheus exporter: a custom collector that reads a [`Metrics`][] snapshot per scrape.

Register it on a ``prometheus_client`` registry, then serve that registry the standard way
(``prometheus_client.start_http_server(port, registry=registry)``, or your web framework's
``make_asgi_app``/``make_wsgi_app``) or push it (``push_to_gateway``). Nothing is served or
pushed from here. Needs ``pip install 'predict-guardrails[prometheus]'``.

Families (``namespace`` defaults to ``guardrails``):

========================================  =========  ======================================
name                                      type       labels
========================================  =========  ======================================
``guardrails_decisions_total``            counter    guard, version, outcome, reason, stage
``guardrails_calls_total``                counter    guard, version
``guardrails_latency_seconds``            histogram  guard, version, stage ("total" too)
``guardrails_confidence``                 histogram  guard, version
``guardrails_abstention_ratio``           gauge      guard, version
``guardrails_fallback_ratio``             gauge      guard, version
``guardrails_error_ratio``                gauge      guard, version
``guardrails_window_rows``                gauge      guard, version
``guardrails_drift_detected``             gauge      guard, version (guards with a monitor)
``guardrails_drift_score``                gauge      guard, version, feature
``guardrails_review_not_queued_total``    counter    guard, version
``guardrails_review_over_budget_total``   counter    guard, version
``guardrails_review_data_quality_cap``    gauge      guard, version
``guardrails_shed_calls_total``           counter    guard, version, stage
========================================  =========  ======================================
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from guardrails.core.errors import ConfigurationError
from guardrails.observability.telemetry import HistogramSnapshot, Metrics

try:
    from prometheus_client.core import (
        REGISTRY,
        CollectorRegistry,
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "guardrails.exporters.prometheus needs prometheus-client: "
        "pip install 'predict-guardrails[prometheus]'"
    ) from exc

__all__ = ["GuardrailsCollector", "register"]

_NAMESPACE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_GUARD = ["guard", "version"]


def _le(bound: float) -> str:
    return repr(float(bound))


def _buckets(h: HistogramSnapshot) -> list[tuple[str, float]]:
    cumulative = h.cumulative()
    out = [(_le(b), float(c)) for b, c in zip(h.bounds, cumulative)]
    out.append(("+Inf", float(cumulative[-1])))
    return out


class GuardrailsCollector(Collector):
    """Turns a [`Metrics`][guardrails.observability.telemetry.Metrics] snapshot into Prometheus
    families.

    Args:
        metrics: the registry the guards record into.
        namespace: prefix of every family name.

    Raises:
        ConfigurationError: ``metrics`` is not a Metrics or ``namespace`` is not a valid
            Prometheus name.

    Examples:
        >>> from prometheus_client import CollectorRegistry, generate_latest
        >>> from guardrails.observability.telemetry import Metrics
        >>> from guardrails.exporters.prometheus import register
        >>> registry = CollectorRegistry()
        >>> _ = register(Metrics(), registry)
        >>> b"guardrails_decisions_total" in generate_latest(registry)
        True
    """

    def __init__(self, metrics: Metrics, *, namespace: str = "guardrails") -> None:
        if not isinstance(metrics, Metrics):
            raise ConfigurationError(
                "The 'metrics' parameter of GuardrailsCollector must be a "
                f"guardrails.Metrics. Got {metrics!r} instead."
            )
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
            raise ConfigurationError(
                "The 'namespace' parameter of GuardrailsCollector must be a Prometheus name "
                f"([a-zA-Z_][a-zA-Z0-9_]*). Got {namespace!r} instead."
            )
        self.metrics = metrics
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"GuardrailsCollector({self.metrics!r}, namespace={self.namespace!r})"

    def collect(self) -> Iterator[Metric]:
        """Families for the current snapshot (called by the registry on every scrape)."""
        ns = self.namespace
        snap = self.metrics.snapshot()
        decisions = CounterMetricFamily(
            f"{ns}_decisions",
            "Rows decided, by outcome, reason and answering stage.",
            labels=[*_GUARD, "outcome", "reason", "stage"],
        )
        calls = CounterMetricFamily(f"{ns}_calls", "Calls (a batch is one call).", labels=_GUARD)
        latency = HistogramMetricFamily(
            f"{ns}_latency_seconds",
            "Seconds per call, per stage and in total.",
            labels=[*_GUARD, "stage"],
        )
        confidence = HistogramMetricFamily(
            f"{ns}_confidence", "Confidence of decided rows.", labels=_GUARD
        )
        gauges: dict[str, GaugeMetricFamily] = {
            key: GaugeMetricFamily(f"{ns}_{key}", doc, labels=_GUARD)
            for key, doc in (
                ("abstention_ratio", "Share of withheld rows over the rolling window."),
                ("fallback_ratio", "Share of rows answered by a fallback stage (rolling)."),
                ("error_ratio", "Share of rows lost to errors over the rolling window."),
                ("window_rows", "Rows in the rolling window behind the rates."),
                ("drift_detected", "1 while the monitor reports drift, else 0."),
            )
        }
        drift_score = GaugeMetricFamily(
            f"{ns}_drift_score",
            "Latest drift statistic per monitored feature and test.",
            labels=[*_GUARD, "feature"],
        )
        not_queued = CounterMetricFamily(
            f"{ns}_review_not_queued",
            "Withheld rows the review step did not queue (data-quality cap or budget).",
            labels=_GUARD,
        )
        over_budget = CounterMetricFamily(
            f"{ns}_review_over_budget",
            "Withheld rows the review step's budget kept out of the queue.",
            labels=_GUARD,
        )
        cap = GaugeMetricFamily(
            f"{ns}_review_data_quality_cap",
            "Most invalid-input rows the review step queues per window.",
            labels=_GUARD,
        )
        shed = CounterMetricFamily(
            f"{ns}_shed_calls",
            "Calls of a fallback step shed because no worker thread freed up in time.",
            labels=[*_GUARD, "stage"],
        )
        for g in snap.guards:
            who = [g.guard, g.version]
            for step, count in sorted(g.shed.items()):
                shed.add_metric([*who, step], float(count))
            not_queued.add_metric(who, float(g.review_not_queued))
            over_budget.add_metric(who, float(g.review_over_budget))
            if g.review_data_quality_cap is not None:
                cap.add_metric(who, float(g.review_data_quality_cap))
            for (outcome, reason, stage), count in sorted(g.decisions.items()):
                decisions.add_metric([*who, outcome, reason, stage], float(count))
            calls.add_metric(who, float(g.calls))
            for stage, hist in sorted(g.latency.items()):
                latency.add_metric([*who, stage], _buckets(hist), hist.sum)
            confidence.add_metric(who, _buckets(g.confidence), g.confidence.sum)
            values: dict[str, Any] = {
                "abstention_ratio": g.rates.abstention,
                "fallback_ratio": g.rates.fallback,
                "error_ratio": g.rates.error,
                "window_rows": g.rates.rows,
            }
            if g.drift_status is not None:  # only a guard with a drift monitor has one
                values["drift_detected"] = 1.0 if g.drift_status == "drift" else 0.0
            for key, value in values.items():
                gauges[key].add_metric(who, float(value))
            for feature, score in sorted(g.drift_scores.items()):
                drift_score.add_metric([*who, feature], score)
        yield decisions
        yield calls
        yield latency
        yield confidence
        yield from gauges.values()
        yield drift_score
        yield not_queued
        yield over_budget
        yield cap
        yield shed


def register(
    metrics: Metrics,
    registry: CollectorRegistry | None = None,
    *,
    namespace: str = "guardrails",
) -> GuardrailsCollector:
    """Register a [`GuardrailsCollector`][] for ``metrics`` on ``registry``.

    Args:
        metrics: the registry the guards record into.
        registry: a ``prometheus_client.CollectorRegistry``; the global default if None.
        namespace: prefix of every family name.

    Returns:
        The collector (pass it to ``registry.unregister`` to remove it).
    """
    collector = GuardrailsCollector(metrics, namespace=namespace)
    (REGISTRY if registry is None else registry).register(collector)
    return collector
