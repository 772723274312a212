"""Helpers for testing your own guard: assertions, fake models, log capture, strategies.

Installed as a pytest plugin (the ``captured_events`` fixture is available in every test
once ``predict-guardrails`` is installed); everything else is imported from here:

    from guardrails.testing import assert_abstains, FailingModel, valid_records

Assertions raise ``AssertionError`` with a message that says what the guard did instead,
so a failing test reads like a bug report. Hypothesis is imported only when a strategy is
built, so the plugin costs nothing to projects that do not use it.

The pieces live in submodules by job (``assertions``, ``fakes``, ``plugin``,
``strategies``); this package re-exports them and is the pytest plugin entry point, so
pytest finds the fixtures through the names imported here.
"""

from guardrails.testing.assertions import ReasonLike as ReasonLike
from guardrails.testing.assertions import assert_abstains as assert_abstains
from guardrails.testing.assertions import assert_abstention_rate as assert_abstention_rate
from guardrails.testing.assertions import assert_answers as assert_answers
from guardrails.testing.assertions import assert_coverage as assert_coverage
from guardrails.testing.fakes import DriftingInputs as DriftingInputs
from guardrails.testing.fakes import FailingModel as FailingModel
from guardrails.testing.fakes import OverconfidentModel as OverconfidentModel
from guardrails.testing.fakes import SlowModel as SlowModel
from guardrails.testing.plugin import captured_events as captured_events
from guardrails.testing.strategies import BrokenRule as BrokenRule
from guardrails.testing.strategies import invalid_records as invalid_records
from guardrails.testing.strategies import valid_records as valid_records

__all__ = [
    "BrokenRule",
    "DriftingInputs",
    "FailingModel",
    "OverconfidentModel",
    "SlowModel",
    "assert_abstains",
    "assert_abstention_rate",
    "assert_answers",
    "assert_coverage",
    "captured_events",
    "invalid_records",
    "valid_records",
]
