"""Decisions and Decision: the columnar batch and its rows."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrails import PRIMARY, ConfigurationError, Decision, Decisions, Reason
from guardrails.core.decisions import ROW_COLUMNS, object_column

CLASSES = np.array(["a", "b", "c"])


def make(n: int, seed: int = 0, stage: str = PRIMARY) -> Decisions:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3), size=n)
    abstained = rng.random(n) < 0.3
    reason = np.where(abstained, Reason.LOW_CONFIDENCE, Reason.NONE).astype(np.int8)
    return Decisions(
        prediction=CLASSES[proba.argmax(axis=1)],
        abstained=abstained,
        reason=reason,
        stage=stage,
        proba=proba,
        confidence=proba.max(axis=1),
        classes=CLASSES,
    )


def test_a_row_is_a_frozen_decision_and_a_non_answer_says_why() -> None:
    d = Decisions(
        prediction=np.array([1, 0]),
        abstained=np.array([False, True]),
        reason=np.array([0, int(Reason.MODEL_ERROR)], dtype=np.int8),
        detail=np.array([None, "boom"], dtype=object),
    )
    row = d[1]
    assert isinstance(row, Decision)
    assert row.prediction is None and row.abstained and row.reason is Reason.MODEL_ERROR
    assert row.detail == "boom"
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.prediction = 3  # type: ignore[misc]
    assert d[0].answered and d[0].prediction == 1 and d[-1] == row


def test_abstained_without_reason_defaults_to_low_confidence() -> None:
    d = Decisions(prediction=np.array([1, 0]), abstained=np.array([False, True]))
    assert d.reasons() == [Reason.NONE, Reason.LOW_CONFIDENCE]


def test_reason_names_are_stable_snake_case() -> None:
    assert str(Reason.INVALID_INPUT) == "invalid_input"
    assert [int(r) for r in Reason] == list(range(len(Reason)))


def test_take_then_merge_back_restores_the_batch() -> None:
    d = make(20)
    idx = np.array([3, 7, 11])
    assert d.merge(idx, d.take(idx)) == d


def test_merge_replaces_only_the_given_rows_and_keeps_order() -> None:
    base = make(10, seed=1)
    idx = np.array([2, 5])
    answer = Decisions(prediction=np.array(["c", "a"], dtype=object), stage="backup")
    merged = base.merge(idx, answer)
    assert merged.prediction[2] == "c" and merged.prediction[5] == "a"
    assert merged.stage[2] == "backup" and merged.stage[5] == "backup"
    keep = np.setdiff1d(np.arange(10), idx)
    assert merged.take(keep) == base.take(keep)
    # the backup gave no probabilities: those rows must not keep the primary's
    assert merged.proba is not None and np.isnan(merged.proba[idx]).all()
    assert not merged.abstained[idx].any()


def test_merge_aligns_probabilities_by_class_label() -> None:
    base = make(4)
    other = Decisions(
        prediction=np.array(["c"]),
        proba=np.array([[0.1, 0.9]]),
        classes=np.array(["a", "c"]),
    )
    merged = base.merge([0], other)
    assert merged.proba is not None
    np.testing.assert_allclose(merged.proba[0], [0.1, np.nan, 0.9])


def test_merge_refuses_mismatched_lengths() -> None:
    with pytest.raises(ConfigurationError, match="one row of other per index"):
        make(5).merge([0, 1], make(1))


@given(
    n=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
    data=st.data(),
)
def test_take_merge_round_trip_property(n: int, seed: int, data: st.DataObject) -> None:
    d = make(n, seed)
    idx = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    part = d.take(idx)
    assert len(part) == len(idx)
    for j, i in enumerate(idx):
        assert part[j] == d[i]
    assert d.merge(idx, part) == d
    other = make(len(idx), seed + 1, stage="other")
    merged = d.merge(idx, other)
    for j, i in enumerate(idx):
        assert merged[i] == other[j]


def test_concat_puts_batches_one_after_another() -> None:
    a, b = make(3, 1), make(4, 2)
    both = Decisions.concat([a, b])
    assert len(both) == 7
    assert both.take(range(3)) == a and both.take(range(3, 7)) == b


def _merged_one_by_one(batches: list[Decisions]) -> Decisions:
    """What concat meant before it was linear: each batch merged into a growing base."""
    total = sum(len(b) for b in batches)
    base = Decisions(
        prediction=np.empty(total, dtype=batches[0].prediction.dtype),
        abstained=np.zeros(total, dtype=bool),
        reason=np.zeros(total, dtype=np.int8),
        stage=object_column(total, PRIMARY),
        classes=batches[0].classes,
    )
    start = 0
    for batch in batches:
        base = base.merge(np.arange(start, start + len(batch)), batch)
        start += len(batch)
    return base


def test_concat_equals_merging_the_batches_one_by_one() -> None:
    """Batches with and without probabilities, details and review ids, classes reordered."""
    a = make(3, 1)
    b = Decisions(
        prediction=np.array(["b", "a"]),
        abstained=np.array([True, False]),
        reason=np.array([int(Reason.MODEL_ERROR), 0], dtype=np.int8),
        stage="backup",
        detail=np.array(["boom", None], dtype=object),
        review_id=np.array([7, None], dtype=object),
    )
    c = make(4, 2)
    c = Decisions(
        prediction=c.prediction,
        abstained=c.abstained,
        reason=c.reason,
        stage=c.stage,
        proba=c.proba[:, ::-1].copy(),
        confidence=c.confidence,
        classes=CLASSES[::-1].copy(),
        timings={"primary": 0.5},
    )
    parts = [a, b, c, make(2, 3)]
    assert Decisions.concat(parts) == _merged_one_by_one(parts)
    assert Decisions.concat(parts).timings == _merged_one_by_one(parts).timings


def test_concat_of_thousands_of_parts_is_one_concatenation_per_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Merging part after part copied the whole result once per part (4,000 parts 0.34 s,
    32,000 parts over 3 minutes): concat must build each column in one go."""
    parts = [make(1, seed) for seed in range(4000)]
    calls: list[int] = []
    concatenate = np.concatenate

    def counting(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(arrays))
        return concatenate(arrays, *args, **kwargs)

    def no_merge(*args: Any, **kwargs: Any) -> Decisions:
        raise AssertionError("concat merged part by part")

    monkeypatch.setattr(np, "concatenate", counting)
    monkeypatch.setattr(Decisions, "merge", no_merge)
    out = Decisions.concat(parts)
    monkeypatch.undo()
    assert len(out) == 4000 and out[3999] == parts[3999][0]
    assert len(calls) <= len(ROW_COLUMNS) and set(calls) == {4000}


def test_predictions_puts_the_marker_in_withheld_rows() -> None:
    d = Decisions(prediction=np.array([1, 2, 3]), abstained=np.array([False, True, False]))
    assert d.predictions(-1).tolist() == [1, -1, 3]
    assert d.predictions(-1).dtype.kind == "i"
    assert d.predictions().tolist() == [1, None, 3]
    assert d.predictions("withheld").tolist() == [1, "withheld", 3]


def test_records_and_frame_have_one_row_per_decision() -> None:
    d = make(5)
    records = d.to_records()
    assert len(records) == 5
    assert set(records[0]) >= {"prediction", "abstained", "reason", "stage", "proba"}
    assert records[0]["proba"].keys() == {"a", "b", "c"}
    frame = d.to_frame()
    assert list(frame["reason"]) == [r["reason"] for r in records]


def test_equality_compares_every_column_and_repr_summarizes() -> None:
    d = make(6)
    assert d == make(6) and d != make(6, seed=3)
    assert d != "not decisions"
    text = repr(d)
    assert text.startswith("Decisions(n=6") and "answered=" in text


def test_columns_must_have_one_row_each() -> None:
    with pytest.raises(ConfigurationError, match="has 2 rows"):
        Decisions(prediction=np.array([1, 2, 3]), abstained=np.array([False, True]))
    with pytest.raises(ConfigurationError, match="1-D"):
        Decisions(prediction=np.zeros((2, 2)))


def test_index_out_of_range_and_slices_are_clear_errors() -> None:
    d = make(3)
    with pytest.raises(IndexError, match="out of range"):
        d[3]
    with pytest.raises(TypeError, match="take"):
        d[0:2]  # type: ignore[call-overload]


def test_withhold_keeps_the_first_reason() -> None:
    d = Decisions(
        prediction=np.array([1, 2]),
        abstained=np.array([True, False]),
        reason=np.array([int(Reason.INVALID_INPUT), 0], dtype=np.int8),
    )
    out = d.withhold(np.array([True, True]), Reason.LOW_CONFIDENCE, detail="low")
    assert out.reasons() == [Reason.INVALID_INPUT, Reason.LOW_CONFIDENCE]
    assert out[1].detail == "low" and out[0].detail is None
