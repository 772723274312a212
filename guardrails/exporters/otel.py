"""OpenTelemetry exporter: observable instruments over a [`Metrics`][] registry.

Counts and rates are read from the registry's snapshot when the SDK collects
(observable counters and gauges); latency and confidence go to synchronous histograms
fed by a hook on the registry, since OpenTelemetry has no observable histogram. Give it
your ``MeterProvider`` (the global one by default) and export with any reader the SDK
offers (OTLP, Prometheus, console). Needs ``pip install 'predict-guardrails[otel]'``.

Instruments (``prefix`` defaults to ``guardrails``), attributes in brackets:

- ``guardrails.core.decisions`` counter [guard, version, outcome, reason, stage]
- ``guardrails.calls`` counter [guard, version]
- ``guardrails.latency`` histogram, seconds [guard, version, stage]
- ``guardrails.confidence`` histogram [guard, version]
- ``guardrails.abstention_ratio``, ``guardrails.fallback_ratio``, ``guardrails.error_ratio``,
  ``guardrails.drift_detected`` (guards with a drift monitor) gauges [guard, version]
- ``guardrails.drift_score`` gauge [guard, version, feature]
- ``guardrails.review_not_queued`` and ``guardrails.review_over_budget`` counters,
  ``guardrails.review_data_quality_cap`` gauge [guard, version]
- ``guardrails.shed_calls`` counter [guard, version, stage]: calls shed for want of a
  worker thread
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from guardrails.core.errors import ConfigurationError
from guardrails.observability.telemetry import Metrics

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "guardrails.exporters.otel needs opentelemetry-sdk: pip install 'predict-guardrails[otel]'"
    ) from exc

__all__ = ["OtelExporter", "instrument"]


class OtelExporter:
    """The instruments that report one [`Metrics`][] registry to OpenTelemetry.

    Args:
        metrics: the registry the guards record into.
        meter_provider: where instruments are created; the global provider if None.
        prefix: prefix of every instrument name.

    Raises:
        ConfigurationError: ``metrics`` is not a Metrics or ``prefix`` is empty.
    """

    def __init__(
        self,
        metrics: Metrics,
        meter_provider: MeterProvider | None = None,
        *,
        prefix: str = "guardrails",
    ) -> None:
        if not isinstance(metrics, Metrics):
            raise ConfigurationError(
                "The 'metrics' parameter of OtelExporter must be a guardrails.Metrics."
                f" Got {metrics!r} instead."
            )
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(
                f"The 'prefix' parameter of OtelExporter must be a non-empty str. Got {prefix!r}."
            )
        self.metrics = metrics
        self.prefix = prefix
        provider = meter_provider or otel_metrics.get_meter_provider()
        meter: Meter = provider.get_meter("guardrails")
        p = prefix
        meter.create_observable_counter(
            f"{p}.decisions",
            callbacks=[self._decisions],
            unit="1",
            description="Rows decided, by outcome, reason and answering stage.",
        )
        meter.create_observable_counter(
            f"{p}.calls", callbacks=[self._calls], unit="1", description="Calls (a batch is one)."
        )
        meter.create_observable_counter(
            f"{p}.review_not_queued",
            callbacks=[self._not_queued],
            unit="1",
            description="Withheld rows the review step did not queue (data-quality cap or budget).",
        )
        meter.create_observable_counter(
            f"{p}.review_over_budget",
            callbacks=[self._over_budget],
            unit="1",
            description="Withheld rows the review step's budget kept out of the queue.",
        )
        meter.create_observable_counter(
            f"{p}.shed_calls",
            callbacks=[self._shed],
            unit="1",
            description="Calls of a fallback step shed because no worker thread freed up.",
        )
        meter.create_observable_gauge(
            f"{p}.review_data_quality_cap",
            callbacks=[self._cap],
            unit="1",
            description="Most invalid-input rows the review step queues per window.",
        )
        for key, doc in (
            ("abstention_ratio", "Share of withheld rows over the rolling window."),
            ("fallback_ratio", "Share of rows answered by a fallback stage (rolling)."),
            ("error_ratio", "Share of rows lost to errors over the rolling window."),
            ("drift_detected", "1 while the monitor reports drift, else 0."),
        ):
            meter.create_observable_gauge(
                f"{p}.{key}", callbacks=[self._gauge(key)], unit="1", description=doc
            )
        meter.create_observable_gauge(
            f"{p}.drift_score",
            callbacks=[self._drift_scores],
            description="Latest drift statistic per monitored feature and test.",
        )
        self._latency = meter.create_histogram(
            f"{p}.latency", unit="s", description="Seconds per call, per stage and in total."
        )
        self._confidence = meter.create_histogram(
            f"{p}.confidence", unit="1", description="Confidence of decided rows."
        )
        metrics.add_hook(self._record)

    def __repr__(self) -> str:
        return f"OtelExporter({self.metrics!r}, prefix={self.prefix!r})"

    def _record(
        self,
        guard: str,
        version: str,
        seconds: Mapping[str, float],
        confidences: Sequence[float],
    ) -> None:
        for stage, secs in seconds.items():
            self._latency.record(secs, {"guard": guard, "version": version, "stage": stage})
        attrs = {"guard": guard, "version": version}
        for c in confidences:
            self._confidence.record(c, attrs)

    def _decisions(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            for (outcome, reason, stage), count in g.decisions.items():
                yield Observation(
                    count,
                    {
                        "guard": g.guard,
                        "version": g.version,
                        "outcome": outcome,
                        "reason": reason,
                        "stage": stage,
                    },
                )

    def _calls(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            yield Observation(g.calls, {"guard": g.guard, "version": g.version})

    def _not_queued(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            yield Observation(g.review_not_queued, {"guard": g.guard, "version": g.version})

    def _over_budget(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            yield Observation(g.review_over_budget, {"guard": g.guard, "version": g.version})

    def _shed(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            for step, count in g.shed.items():
                yield Observation(count, {"guard": g.guard, "version": g.version, "stage": step})

    def _cap(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            if g.review_data_quality_cap is not None:
                yield Observation(
                    g.review_data_quality_cap, {"guard": g.guard, "version": g.version}
                )

    def _gauge(self, key: str) -> Any:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            for g in self.metrics.snapshot().guards:
                if key == "drift_detected" and g.drift_status is None:
                    continue  # a guard without a drift monitor has no drift gauge
                value = {
                    "abstention_ratio": g.rates.abstention,
                    "fallback_ratio": g.rates.fallback,
                    "error_ratio": g.rates.error,
                    "drift_detected": 1.0 if g.drift_status == "drift" else 0.0,
                }[key]
                yield Observation(value, {"guard": g.guard, "version": g.version})

        return callback

    def _drift_scores(self, options: CallbackOptions) -> Iterable[Observation]:
        for g in self.metrics.snapshot().guards:
            for feature, score in g.drift_scores.items():
                yield Observation(
                    score, {"guard": g.guard, "version": g.version, "feature": feature}
                )


def instrument(
    metrics: Metrics, meter_provider: MeterProvider | None = None, *, prefix: str = "guardrails"
) -> OtelExporter:
    """Create OpenTelemetry instruments that report ``metrics`` (see [`OtelExporter`][]).

    Examples:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        >>> from guardrails.observability.telemetry import Metrics
        >>> from guardrails.exporters.otel import instrument
        >>> reader = InMemoryMetricReader()
        >>> exporter = instrument(Metrics(), MeterProvider(metric_readers=[reader]))
        >>> exporter.prefix
        'guardrails'
    """
    return OtelExporter(metrics, meter_provider, prefix=prefix)
