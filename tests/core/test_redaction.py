"""Redaction: sensitive values are replaced by a marker wherever they would leave."""

from __future__ import annotations

import numpy as np
import pytest

from guardrails import REDACTED, ConfigurationError, Redactor, fingerprint
from guardrails.core.layer import Call, take_rows
from guardrails.core.redaction import truncate


def test_fields_by_name_and_pattern_are_hidden_nested_too() -> None:
    r = Redactor(fields=["ssn"], patterns=["pass|token"])
    out = r.record({"ssn": "1", "Password": "p", "meta": {"api_token": "t", "n": 1}, "age": 3})
    assert out == {
        "ssn": REDACTED,
        "Password": REDACTED,
        "meta": {"api_token": REDACTED, "n": 1},
        "age": 3,
    }


def test_error_entries_lose_their_input_when_the_location_is_sensitive() -> None:
    r = Redactor(fields=["card"])
    entry = {"loc": ("card",), "input": "4111", "msg": "bad", "type": "x"}
    assert r.error(entry)["input"] == REDACTED
    assert r.error({"loc": ("age",), "input": -1})["input"] == -1


def test_reveal_opts_in_and_inactive_redactor_hides_nothing() -> None:
    assert Redactor(fields=["a"], reveal=True).record({"a": 1}) == {"a": 1}
    assert not Redactor().active
    assert Redactor(fields=["a"]).active


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="lists of str"):
        Redactor(fields="ssn")
    with pytest.raises(ConfigurationError, match="invalid regex"):
        Redactor(patterns=["("])


def test_truncate_and_fingerprint_survive_anything() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert truncate(Hostile()) == "<unprintable Hostile>"
    assert len(truncate("x" * 1000)) == 80
    assert fingerprint(np.arange(3)) == fingerprint(np.arange(3))
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_take_rows_keeps_the_container_kind() -> None:
    import pandas as pd

    idx = np.array([2, 0])
    assert take_rows(np.arange(6).reshape(3, 2), idx).tolist() == [[4, 5], [0, 1]]
    assert take_rows([{"a": 1}, {"a": 2}, {"a": 3}], idx) == [{"a": 3}, {"a": 1}]
    frame = pd.DataFrame({"a": [1, 2, 3]}, index=[10, 11, 12])
    assert take_rows(frame, idx)["a"].tolist() == [3, 1]
    call = Call(raw=[{"a": 1}, {"a": 2}, {"a": 3}], n=3)
    assert call.rows(np.array([1])) == [{"a": 2}]
    assert call.model_rows(np.array([1])) == [{"a": 2}]
    call.model_input = np.array([[1.0], [2.0], [3.0]])
    assert call.model_rows(np.array([1])).tolist() == [[2.0]]
