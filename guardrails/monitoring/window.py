"""Window state: counts of current data on a drift profile's grid, mergeable across workers."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.monitoring.reference import _as_float, _Categorical, _columns, _Numeric

if TYPE_CHECKING:
    from guardrails.monitoring.drift import DriftProfile

__all__ = ["WindowState"]


# -- where a profile's slots live, and where a value falls -----------------------------------

_BLOCK = 32  # slots per block of the verdicts' KS bounds (plus every PSI bin edge)


@dataclass(frozen=True)
class _Layout:
    """A profile's features laid end to end, so one array operation serves them all.

    Slot counts of every feature sit in one flat array (``start[i]`` is feature ``i``'s
    first slot), the slot sums of the numeric ones in another. To find a value's slot
    without a branchy binary search per value, each numeric feature's range is cut into
    ``2 * q`` equal cells: every grid point whose cell is below a value's cell is below
    the value, every one whose cell is above is above it (the cell of ``x`` is a
    nondecreasing function of ``x``), so only the grid points of the value's own cell
    are searched, by a branch-free bisection run on all values at once. Most cells hold
    at most one point: its value is kept next to its position (``head``), so that such
    a value's slot costs one table read.
    """

    start: NDArray[np.intp]  # (n_features + 1,) first slot of each feature, then the total
    sum_start: NDArray[np.intp]  # (n_features,) first slot sum of each numeric feature, else -1
    n_sums: int
    numeric: NDArray[np.intp]  # (n_numeric,) feature indices of the numeric features
    # per numeric feature (by position in ``numeric``)
    lo: NDArray[np.float64]
    scale: NDArray[np.float64]
    top: NDArray[np.float64]  # the last cell: 2 * q
    cells: NDArray[np.intp]  # first entry of the feature in ``first``
    grid_start: NDArray[np.intp]  # first point of the feature in ``grid``
    slot_shift: NDArray[np.intp]  # start - 2 * grid_start: global slot = shift + 2 * point + eq
    sum_shift: NDArray[np.intp]  # sum_start - start: a slot's sum sits at slot + shift
    # flat tables
    grid: NDArray[np.float64]  # every grid, each followed by +inf
    first: NDArray[np.intp]  # per cell, the first point (in ``grid``) not in a lower cell
    # per cell, in one 16-byte entry (one memory read): the value of that first point
    # (real part) and ``2 * first + (the cell holds more than one point)`` (imaginary)
    head: NDArray[np.complex128]
    # blocks of slots for the verdicts: KS bounds and PSI bins of numeric features, every
    # slot of a categorical one
    block_starts: NDArray[np.intp]  # increasing global slots, each feature's first included
    block_first: NDArray[np.intp]  # (n_features + 1,) each feature's first block, then all
    # the same as Python values, for the per-call code
    position: dict[int, int]  # feature index -> position among the numeric features
    views: tuple[tuple[int, int, int], ...]  # per feature: first slot, end, first sum or -1
    inputs_numeric: bool  # every input feature is numeric (a numeric matrix is read whole)


_LAYOUTS: weakref.WeakKeyDictionary[DriftProfile, _Layout] = weakref.WeakKeyDictionary()


def _cell(lo: Any, scale: Any, top: Any, x: NDArray[np.float64]) -> NDArray[np.intp]:
    """The cell of each value: ``trunc(clip((x - lo) * scale, -1, top)) + 1``."""
    t = (x - lo) * scale
    np.clip(t, -1.0, top, out=t)
    out: NDArray[np.intp] = t.astype(np.intp) + 1
    return out


def _layout(profile: DriftProfile) -> _Layout:
    """The layout of ``profile`` (built once per profile, shared by its states)."""
    found = _LAYOUTS.get(profile)
    if found is not None:
        return found
    features = profile._all_features()
    sizes = np.array([f.size for f in features], dtype=np.intp)
    start = np.concatenate(([0], np.cumsum(sizes))).astype(np.intp)
    sum_start = np.full(len(features), -1, dtype=np.intp)
    numeric = [i for i, f in enumerate(features) if isinstance(f, _Numeric)]
    n_sums = 0
    lo, scale, top, cells, grid_start, grids, firsts = [], [], [], [], [], [], []
    blocks: list[NDArray[np.intp]] = []
    at_cell = at_grid = 0
    for i, f in enumerate(features):
        if not isinstance(f, _Numeric):  # a block per category: the verdicts read them all
            blocks.append(start[i] + np.arange(f.size, dtype=np.intp))
            continue
        sum_start[i] = n_sums
        n_sums += f.size
        q = f.grid.size
        g_lo, g_hi = float(f.grid[0]), float(f.grid[-1])
        k = 2 * q  # cells
        with np.errstate(over="ignore", divide="ignore"):
            s = k / (g_hi - g_lo) if g_hi > g_lo else 0.0
        s = s if np.isfinite(s) else 0.0
        cell_of_point = _cell(g_lo, s, float(k), f.grid.astype(np.float64))
        first = np.searchsorted(cell_of_point, np.arange(k + 3), side="left")
        lo.append(g_lo)
        scale.append(s)
        top.append(float(k))
        cells.append(at_cell)
        grid_start.append(at_grid)
        grids.append(np.concatenate((f.grid, [np.inf])))
        firsts.append(at_grid + first)
        at_cell += k + 3
        at_grid += q + 1
        local = np.concatenate((np.arange(0, f.size, _BLOCK), [1, f.size - 1], 2 * f.edge_idx + 1))
        blocks.append(start[i] + np.unique(local[local < f.size]))
    grid_start_a = np.array(grid_start, dtype=np.intp)
    numeric_a = np.array(numeric, dtype=np.intp)
    grid_a = np.concatenate(grids) if grids else np.zeros(0)
    first_a = np.concatenate(firsts).astype(np.intp) if firsts else np.zeros(0, np.intp)
    head = grid_a[first_a] + 1j * (2 * first_a + (np.diff(first_a, append=0) > 1))
    out = _Layout(
        start=start,
        sum_start=sum_start,
        n_sums=n_sums,
        numeric=numeric_a,
        lo=np.array(lo, dtype=np.float64),
        scale=np.array(scale, dtype=np.float64),
        top=np.array(top, dtype=np.float64),
        cells=np.array(cells, dtype=np.intp),
        grid_start=grid_start_a,
        slot_shift=start[numeric_a] - 2 * grid_start_a,
        sum_shift=sum_start[numeric_a] - start[numeric_a],
        grid=grid_a,
        first=first_a,
        head=head.astype(np.complex128),
        block_starts=np.concatenate(blocks) if blocks else np.zeros(0, np.intp),
        block_first=np.concatenate(([0], np.cumsum([b.size for b in blocks]))).astype(np.intp),
        position={i: j for j, i in enumerate(numeric)},
        views=tuple(
            (int(a), int(b), int(c))
            for a, b, c in zip(start[:-1].tolist(), start[1:].tolist(), sum_start.tolist())
        ),
        inputs_numeric=all(isinstance(f, _Numeric) for f in profile.features),
    )
    _LAYOUTS[profile] = out
    return out


def _locate(layout: _Layout, x: NDArray[np.float64], k: NDArray[np.intp]) -> NDArray[np.intp]:
    """Global slot of each finite value of ``x`` (the slot `WindowState` counts it in);
    ``k`` (broadcast against ``x``) gives each value's numeric feature, by position in
    ``layout.numeric``."""
    L = layout
    t = x - L.lo[k]  # _cell, in place
    t *= L.scale[k]
    np.clip(t, -1.0, L.top[k], out=t)
    cell = t.astype(np.intp)
    cell += L.cells[k] + 1
    head = L.head[cell]  # the cell's first point: its value and where it is
    meta = head.imag.astype(np.intp)
    base = meta >> 1  # the first point >= x, unless the cell holds more than one point
    value = head.real
    lt = value < x  # a cell of one point: x is above it (the next point is above x) ...
    eq = value == x  # ... or at it, or below it
    live = np.flatnonzero((meta & 1).reshape(-1))  # cells of several points: search
    if live.size:
        flat_base, flat_x, cell = base.reshape(-1), x.reshape(-1), cell.reshape(-1)
        b = flat_base[live]
        n = L.first[cell[live] + 1] - b  # the answer is in [b, b + n]
        searching = np.arange(live.size)
        while searching.size:  # branch-free lower bound on the values still searching
            bs, m = b[searching], n[searching]
            half = m >> 1
            bs += half * (L.grid[bs + half] < flat_x[live[searching]])
            m -= half
            b[searching], n[searching] = bs, m
            searching = searching[m > 1]
        xs = flat_x[live]
        b += L.grid[b] < xs  # the first point >= x (the +inf after each grid stops it)
        flat_base[live] = b
        flat_eq, flat_lt = eq.reshape(-1), lt.reshape(-1)
        flat_eq[live] = L.grid[b] == xs
        flat_lt[live] = False
    base += lt
    base *= 2
    base += eq
    base += L.slot_shift[k]
    slot: NDArray[np.intp] = base
    return slot


class _Rows:
    """One batch located on a profile's grid once, so that any run of its rows adds to a
    state without looking at the values again (a call that fills several buckets).

    Numeric features: a ``(features, rows)`` matrix of global slots (``-1`` for values
    that are not finite) and the values; categorical ones: slot codes per feature.
    """

    def __init__(
        self, profile: DriftProfile, X: Any, predictions: Any, confidence: Any, abstained: Any
    ) -> None:
        p = self.profile = profile
        layout = _layout(p)
        features = p._all_features()
        n_rows = 0
        values: list[tuple[int, NDArray[Any]]] = []  # (feature index, its values)
        matrix = None  # a numeric array of every (numeric) input: read whole
        if X is not None and p.features:
            if (
                layout.inputs_numeric
                and isinstance(X, np.ndarray)
                and X.ndim == 2
                and X.dtype.kind in "iufb"
                and X.shape[1] == len(p.features)
            ):
                matrix = np.ascontiguousarray(X.T, dtype=np.float64)  # a feature per row
                n_rows = X.shape[0]
            else:
                names, cols = _columns(X, p.feature_names)
                by_name = dict(zip(names, cols))
                missing = [f.name for f in p.features if f.name not in by_name]
                if missing:
                    raise InvalidInputError(
                        f"the batch lacks profiled feature(s) {missing[:5]}; it has {names[:10]}."
                    )
                values += [(i, by_name[f.name]) for i, f in enumerate(p.features)]
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
            values.append((offset + j, arr))
            n_rows = max(n_rows, arr.shape[0])
        self.n = n_rows
        position = layout.position
        numeric = [
            (position[i], _as_float(v, features[i].name).reshape(-1))
            for i, v in values
            if i in position
        ]  # every conversion first: a bad column leaves any state untouched
        self.codes = [
            (i, f.slots(v)) for i, v in values if isinstance(f := features[i], _Categorical)
        ]
        lengths = {v.shape[0] for _, v in values} | (set() if matrix is None else {n_rows})
        self.ragged = len(lengths) > 1
        if self.ragged and matrix is not None:  # outputs of another length: feature by feature
            numeric = [(j, row) for j, row in enumerate(matrix)] + numeric
            matrix = None
        k: NDArray[np.intp]
        if matrix is not None and not numeric:
            x = matrix
            k = np.arange(matrix.shape[0], dtype=np.intp)[:, None]
        elif matrix is not None:
            x = np.concatenate((matrix, np.stack([v for _, v in numeric])))
            k = np.concatenate((np.arange(matrix.shape[0]), [j for j, _ in numeric])).astype(
                np.intp
            )[:, None]
        elif not numeric:
            x = np.zeros((0, n_rows))
            k = np.zeros((0, 1), dtype=np.intp)
        elif self.ragged:  # columns of different lengths: one flat row, added whole
            x = np.concatenate([v for _, v in numeric])[None, :]
            k = np.repeat([j for j, _ in numeric], [v.size for _, v in numeric])[None, :]
        else:
            x = np.stack([v for _, v in numeric])
            k = np.array([j for j, _ in numeric], dtype=np.intp)[:, None]
        finite = np.isfinite(x)
        self.every = bool(finite.all())
        self.x = x if self.every else np.where(finite, x, 0.0)
        self.slot = _locate(layout, self.x, k) if x.size else np.zeros(x.shape, dtype=np.intp)
        if not self.every:
            self.slot[~finite] = -1
        self.sum_shift = layout.sum_shift[k]

    def add_to(self, state: WindowState, a: int = 0, b: int | None = None) -> None:
        """Count rows ``a:b`` of the batch into ``state`` (its ``rows`` are left alone)."""
        b = self.n if b is None else b
        if self.ragged and (a, b) != (0, self.n):
            raise InvalidInputError("columns of different lengths are added whole")
        part = slice(None) if self.ragged else slice(a, b)
        slot, x = self.slot[:, part], self.x[:, part]
        sums_at = slot + self.sum_shift
        if not self.every:
            keep = slot >= 0
            slot, x, sums_at = slot[keep], x[keep], sums_at[keep]
        np.add.at(state._counts, slot.reshape(-1), 1)
        state._blocks_fresh = False
        np.add.at(state._sums, sums_at.reshape(-1), x.reshape(-1))
        features = self.profile._all_features()
        for i, c in self.codes:
            state.counts[i] += np.bincount(c[part], minlength=features[i].size)
        state._blocks_fresh = False


class _BlockSums:
    """A window known only by its rows and block sums: all a verdict reads, unless a
    statistic is close to its critical value (then the verdict asks for the state)."""

    def __init__(self, blocks: NDArray[np.int64], rows: int) -> None:
        self._blocks, self.rows = blocks, rows

    def _block_sums(self) -> NDArray[np.int64]:
        return self._blocks


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
        layout = _layout(profile)
        self._set(
            profile,
            np.zeros(int(layout.start[-1]), dtype=np.int64),
            np.zeros(layout.n_sums),
            0,
            np.zeros(layout.block_starts.size, dtype=np.int64),
        )

    def _set(
        self,
        profile: DriftProfile,
        counts: NDArray[np.int64],
        sums: NDArray[np.float64],
        rows: int,
        blocks: NDArray[np.int64] | None = None,
    ) -> None:
        """Hold ``counts`` and ``sums`` (flat, in the profile's layout) and their views;
        ``blocks``: the counts' block sums, when known."""
        layout = _layout(profile)
        self.profile = profile
        self._counts, self._sums, self.rows = counts, sums, rows
        self._blocks_fresh = blocks is not None
        self._blocks = (
            np.zeros(layout.block_starts.size, dtype=np.int64) if blocks is None else blocks
        )
        self.counts: list[NDArray[np.int64]] = [counts[a:b] for a, b, _ in layout.views]
        self.sums: list[NDArray[np.float64] | None] = [
            None if c < 0 else sums[c : c + b - a] for a, b, c in layout.views
        ]

    @property
    def nbytes(self) -> int:
        """Bytes held by the counts, sums and block sums (constant in the rows observed)."""
        return int(self._counts.nbytes + self._sums.nbytes + self._blocks.nbytes)

    def _block_sums(self) -> NDArray[np.int64]:
        """The counts summed by block of the profile's layout (what the verdicts read)."""
        if not self._blocks_fresh:
            starts = _layout(self.profile).block_starts
            if starts.size:
                np.add.reduceat(self._counts, starts, out=self._blocks)
            self._blocks_fresh = True
        return self._blocks

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
                non-numeric values (the state is then left as it was).
        """
        rows = _Rows(self.profile, X, predictions, confidence, abstained)
        rows.add_to(self)
        self.rows += rows.n
        return self

    def merge(self, other: WindowState) -> WindowState:
        """A new state holding both states' data (as if their batches were concatenated)."""
        if not isinstance(other, WindowState) or not self.profile.same_as(other.profile):
            raise ConfigurationError(
                "WindowState.merge needs a state of the same DriftProfile. "
                f"Got {type(other).__name__}."
            )
        out = WindowState.__new__(WindowState)
        out._set(
            self.profile,
            self._counts + other._counts,
            self._sums + other._sums,
            self.rows + other.rows,
            self._blocks + other._blocks  # a copy's blocks may differ (its PSI edges)
            if self._blocks_fresh and other._blocks_fresh and other.profile is self.profile
            else None,
        )
        return out

    def _accumulate(self, part: WindowState, sign: int, *, blocks_only: bool = False) -> None:
        """``self += sign * part``, in place (rows, block sums and, unless
        ``blocks_only``, counts and sums)."""
        if sign > 0:
            self._blocks += part._block_sums()
        else:
            self._blocks -= part._block_sums()
        self.rows += sign * part.rows
        if blocks_only:
            return
        if sign > 0:
            self._counts += part._counts
            self._sums += part._sums
        else:
            self._counts -= part._counts
            self._sums -= part._sums

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
        self._counts[:] = 0
        self._sums[:] = 0.0
        self._blocks[:] = 0
        self._blocks_fresh = True
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
