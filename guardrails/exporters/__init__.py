"""Exporters of :class:`~guardrails.telemetry.Metrics` to monitoring systems (optional extras).

- :mod:`guardrails.exporters.prometheus` needs ``pip install 'predict-guardrails[prometheus]'``.
- :mod:`guardrails.exporters.otel` needs ``pip install 'predict-guardrails[otel]'``.
"""
