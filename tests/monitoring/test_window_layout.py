"""The vectorised window state: every value in the slot a per-feature binary search gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from guardrails import DriftProfile
from guardrails.monitoring.reference import _Numeric
from tests.monitoring.support import assert_verdict_is_the_full_evaluations


def awkward(seed: int, n: int) -> NDArray[np.float64]:
    """Columns that stress the cells: heavy tails, ties, a constant, huge values."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.normal(size=n),
            rng.lognormal(0.0, 3.0, size=n),  # most points in a few equal-width cells
            rng.poisson(2.0, size=n).astype(float),  # ties on the grid
            np.full(n, 7.0),  # a constant column
            rng.standard_cauchy(size=n) * 1e150,  # a range that overflows
        ]
    )


def expected(f: _Numeric, x: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Slot counts and sums by a per-feature binary search (what the state held before)."""
    x = x[np.isfinite(x)]
    q = f.grid.size
    left = np.searchsorted(f.grid, x, side="left")
    slot = 2 * left + (f.grid[np.minimum(left, q - 1)] == x)
    counts = np.bincount(slot, minlength=f.size).astype(np.int64)
    return counts, np.bincount(slot, weights=x, minlength=f.size)


def test_every_value_lands_in_the_slot_a_binary_search_gives() -> None:
    profile = DriftProfile.from_data(awkward(0, 3000), sample_size=500)
    X = awkward(1, 2000)
    X[:, 2] = np.concatenate((np.arange(-3.0, 12.0, 0.5), X[30:, 2]))  # off and on the grid
    X[::97, 0] = np.nan
    X[::89, 1] = np.inf
    X[5, 4] = -np.inf
    X[:10, 3] = [7.0, 6.0, 8.0, np.nextafter(7.0, 8.0), 7.0, 1e308, -1e308, 7.0, 0.0, 7.0]
    state = profile.window_state().update(X)
    for i, f in enumerate(profile.features):
        assert isinstance(f, _Numeric)
        counts, sums = expected(f, X[:, i])
        assert np.array_equal(state.counts[i], counts), f.name
        got = state.sums[i]
        assert got is not None
        assert np.allclose(got, sums, rtol=1e-12, atol=1e-9), f.name
    assert state.rows == 2000


def test_a_state_merged_with_a_loaded_copys_state_gets_the_full_evaluation_verdict(
    tmp_path: Path,
) -> None:
    profile = DriftProfile.from_data(awkward(2, 4000), sample_size=300)
    copy = DriftProfile.load(profile.save(tmp_path / "profile"))
    X = awkward(3, 3000)
    X[:, 0] += 0.3
    merged = profile.window_state().update(X[:1500]).merge(copy.window_state().update(X[1500:]))
    for correction in ("bonferroni", "none"):
        report = assert_verdict_is_the_full_evaluations(
            profile, merged, correction=correction, ks_method="asymp"
        )
    assert "x0" in report.drifted_features
