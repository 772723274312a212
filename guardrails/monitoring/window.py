"""Window state: counts of current data on a drift profile's grid, mergeable across workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.monitoring.reference import _as_float, _columns, _Feature, _Numeric

if TYPE_CHECKING:
    from guardrails.monitoring.drift import DriftProfile

__all__ = ["WindowState"]


# -- window state ----------------------------------------------------------------------------


class WindowState:
    """Counts of current data on a profile's grid; adds across batches, workers, partitions.

    Per numeric feature: counts per grid slot and the sum of the values in each slot; per
    categorical feature: counts per category plus unseen. Memory is fixed by the profile
    (about ``16 * (2 * sample_size + 1)`` bytes per numeric feature), whatever the number
    of rows observed.

    Make one with [`DriftProfile.window_state`][]; fill it with [`update`][].
    """

    def __init__(self, profile: DriftProfile) -> None:
        self.profile = profile
        self.counts: list[NDArray[np.int64]] = [
            np.zeros(f.size, dtype=np.int64) for f in profile._all_features()
        ]
        self.sums: list[NDArray[np.float64] | None] = [
            np.zeros(f.size) if isinstance(f, _Numeric) else None for f in profile._all_features()
        ]
        self.rows = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the counts and sums (constant in the number of rows observed)."""
        total = sum(c.nbytes for c in self.counts)
        return total + sum(s.nbytes for s in self.sums if s is not None)

    def update(
        self,
        X: Any = None,
        *,
        predictions: Any = None,
        confidence: Any = None,
        abstained: Any = None,
    ) -> WindowState:
        """Add a batch (in place) and return ``self``.

        Args:
            X: ``(n_samples, n_features)`` inputs (array, data frame, dict records), or
                None to observe outputs only.
            predictions: ``(n_samples,)`` predictions, when the profile has them.
            confidence: ``(n_samples,)`` confidence, when the profile has it.
            abstained: ``(n_samples,)`` bool, when the profile has an abstention rate.

        Raises:
            InvalidInputError: ``X`` lacks a profiled feature or a numeric feature got
                non-numeric values.
        """
        p = self.profile
        n_rows = 0
        if X is not None and p.features:
            names, cols = _columns(X, p.feature_names)
            by_name = dict(zip(names, cols))
            missing = [f.name for f in p.features if f.name not in by_name]
            if missing:
                raise InvalidInputError(
                    f"the batch lacks profiled feature(s) {missing[:5]}; it has {names[:10]}."
                )
            for i, f in enumerate(p.features):
                self._add(i, f, by_name[f.name])
            n_rows = len(cols[0]) if cols else 0
        outputs = {"prediction": predictions, "confidence": confidence, "abstention": abstained}
        offset = len(p.features)
        for j, f in enumerate(p.outputs):
            value = outputs[f.name]
            if value is None:
                continue
            arr = np.asarray(value)
            if f.name == "abstention":
                arr = np.where(arr.astype(bool), "abstained", "answered")
            self._add(offset + j, f, arr)
            n_rows = max(n_rows, arr.shape[0])
        self.rows += n_rows
        return self

    def _add(self, i: int, f: _Feature, values: NDArray[Any]) -> None:
        if isinstance(f, _Numeric):
            x = _as_float(values, f.name)
            finite = np.isfinite(x)
            if not finite.all():
                x = x[finite]
            if 4 * x.size < f.grid.size:  # few values: search each one, touch only their slots
                q = f.grid.size
                left = np.searchsorted(f.grid, x, side="left")
                slot = 2 * left + (f.grid[np.minimum(left, q - 1)] == x)
                np.add.at(self.counts[i], slot, 1)
                sums_few = self.sums[i]
                if sums_few is not None:
                    np.add.at(sums_few, slot, x)
                return
            x = np.sort(x)  # many values: one fast sort beats a binary search per value
            n = x.size
            bounds = np.empty(f.size + 1, dtype=np.int64)  # rows below each slot's start
            bounds[0], bounds[-1] = 0, n
            bounds[1:-1:2] = np.searchsorted(x, f.grid, side="left")
            bounds[2:-1:2] = np.searchsorted(x, f.grid, side="right")
            self.counts[i] += np.diff(bounds)
            sums = self.sums[i]
            if sums is not None:
                prefix = np.concatenate(([0.0], np.cumsum(x)))
                sums += np.diff(prefix[bounds])
        else:
            self.counts[i] += np.bincount(f.slots(values), minlength=f.size)

    def merge(self, other: WindowState) -> WindowState:
        """A new state holding both states' data (as if their batches were concatenated)."""
        if not isinstance(other, WindowState) or not self.profile.same_as(other.profile):
            raise ConfigurationError(
                "WindowState.merge needs a state of the same DriftProfile. "
                f"Got {type(other).__name__}."
            )
        out = WindowState.__new__(WindowState)
        out.profile = self.profile
        out.counts = [a + b for a, b in zip(self.counts, other.counts)]
        out.sums = [
            None if a is None or b is None else a + b for a, b in zip(self.sums, other.sums)
        ]
        out.rows = self.rows + other.rows
        return out

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The state as plain arrays (e.g. for ``np.savez``), to ship from a worker.

        Rebuild it with [`DriftProfile.window_state`][] ``(arrays=...)`` on a profile
        loaded from the same file.
        """
        out: dict[str, NDArray[Any]] = {"rows": np.array([self.rows], dtype=np.int64)}
        for i, (c, s) in enumerate(zip(self.counts, self.sums)):
            out[f"counts_{i}"] = c.copy()
            if s is not None:
                out[f"sums_{i}"] = s.copy()
        return out

    def clear(self) -> None:
        """Forget everything observed (in place)."""
        for c in self.counts:
            c[:] = 0
        for s in self.sums:
            if s is not None:
                s[:] = 0.0
        self.rows = 0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WindowState)
            and self.rows == other.rows
            and all(np.array_equal(a, b) for a, b in zip(self.counts, other.counts))
            and all(
                (a is None and b is None)
                or (a is not None and b is not None and np.allclose(a, b, rtol=1e-12, atol=1e-9))
                for a, b in zip(self.sums, other.sums)
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WindowState(rows={self.rows}, nbytes={self.nbytes})"
