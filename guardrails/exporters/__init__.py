"""Exporters of `Metrics` to monitoring systems (optional extras).

- [`guardrails.exporters.prometheus`][] needs ``pip install 'predict-guardrails[prometheus]'``.
- [`guardrails.exporters.otel`][] needs ``pip install 'predict-guardrails[otel]'``.
"""
