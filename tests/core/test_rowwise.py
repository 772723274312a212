"""The column-by-column row reductions give numpy's values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from guardrails.core.rowwise import all_finite, row_argmax, row_max, row_pick, row_sum


@pytest.mark.parametrize("k", range(1, 12))
@pytest.mark.parametrize("n", [1, 3, 100, 2000])
def test_row_reductions_equal_numpy(k: int, n: int) -> None:
    rng = np.random.default_rng(k * 1000 + n)
    Z = rng.normal(size=(n, k)) * rng.uniform(0.1, 30)
    Z[rng.integers(0, n, 3), rng.integers(0, k, 3)] = Z[0, 0]  # some exact ties
    assert np.array_equal(row_sum(Z), Z.sum(axis=1))
    assert np.array_equal(row_max(Z), Z.max(axis=1))
    for M in (Z, np.round(Z)):  # np.round makes many ties: the first maximum wins
        top = row_argmax(M)
        assert np.array_equal(top, np.argmax(M, axis=1))
        assert np.array_equal(row_pick(M, top), M[np.arange(n), top])
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    assert np.array_equal(row_sum(P), P.sum(axis=1))


def test_nan_propagates_like_numpy() -> None:
    Z = np.arange(40.0).reshape(20, 2)
    Z[3, 0] = np.nan
    Z[5, 1] = np.inf
    assert np.array_equal(row_max(Z), Z.max(axis=1), equal_nan=True)
    assert np.array_equal(row_sum(Z), Z.sum(axis=1), equal_nan=True)


def test_all_finite_sees_nan_inf_and_survives_overflow() -> None:
    Z = np.ones((50, 3))
    assert all_finite(Z)
    Z[7, 2] = np.nan
    assert not all_finite(Z)
    Z[7, 2] = -np.inf
    assert not all_finite(Z)
    big = np.full((10, 2), 1e308)  # the total overflows; every value is finite
    assert all_finite(big)
