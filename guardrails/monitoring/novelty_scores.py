"""Novelty scores: rows encoded on the reference (scaling, one-hot) and the detectors.

[`NoveltyGate`][guardrails.NoveltyGate] turns these scores into conformal p-values. Numeric
columns are standardised on the reference; each categorical column is one-hot coded so that
a differing category adds one to the squared distance. The detectors are exact nearest
neighbours (scikit-learn's ``NearestNeighbors``) and an isolation forest grown by
scikit-learn and flattened into arrays, so every tree is walked for every row at once and
a saved gate needs no pickle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ArtifactError, ConfigurationError, InvalidInputError

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__: list[str] = []

_ONE_HOT = 1.0 / math.sqrt(2.0)  # two differing one-hot cells add 2 * 0.5 = 1 to d^2
_EULER = 0.5772156649015329


# -- inputs: columns, scaling, categories -------------------------------------------------


def _is_frame(X: Any) -> bool:
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _table(X: Any) -> Any:
    """A data frame or an array as it is; a list of rows as one array (converted once)."""
    if _is_frame(X) or isinstance(X, np.ndarray):
        return X
    try:
        return np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray(X, dtype=object)


def _width(X: Any) -> int:
    if _is_frame(X):
        return len(X.columns)
    shape = np.shape(X)
    if len(shape) != 2:
        raise InvalidInputError(
            f"The novelty gate needs 2-D rows (n_samples, n_features); got shape {shape}."
        )
    return int(shape[1])


class _Encoding:
    """Numeric columns standardised, categorical columns one-hot, both from the reference."""

    def __init__(
        self,
        columns: list[str] | None,
        numeric: NDArray[np.intp],
        categorical: NDArray[np.intp],
        mean: NDArray[np.float64],
        scale: NDArray[np.float64],
        categories: list[NDArray[np.str_]],
    ) -> None:
        self.columns = columns
        self.numeric = numeric
        self.categorical = categorical
        self.mean = mean
        self.scale = scale
        self.categories = categories
        self.width = len(numeric) + len(categorical)

    @classmethod
    def fit(cls, X: Any, categorical: Sequence[int | str]) -> _Encoding:
        X = _table(X)
        columns = [str(c) for c in X.columns] if _is_frame(X) else None
        width = _width(X)
        cats = sorted({_position(c, columns, width) for c in categorical})
        cat_idx = np.asarray(cats, dtype=np.intp)
        num_idx = np.setdiff1d(np.arange(width), cat_idx).astype(np.intp)
        enc = cls(columns, num_idx, cat_idx, np.zeros(0), np.ones(0), [])
        num = enc._numeric(X)
        if num.size and not np.isfinite(num).all():
            bad = int(np.flatnonzero(~np.isfinite(num).all(axis=0))[0])
            raise InvalidInputError(
                "The reference rows of the novelty gate hold a missing or infinite value "
                f"in numeric column {enc._name(int(num_idx[bad]))}; impute them, or drop "
                "those rows, before fitting."
            )
        enc.mean = num.mean(axis=0) if num.shape[0] else np.zeros(num.shape[1])
        scale = num.std(axis=0) if num.shape[0] else np.ones(num.shape[1])
        enc.scale = np.where(scale > 0, scale, 1.0)
        enc.categories = [np.unique(col) for col in enc._categorical(X)]
        return enc

    def _name(self, j: int) -> str:
        return repr(self.columns[j]) if self.columns is not None else str(j)

    def _check(self, X: Any) -> None:
        width = _width(X)
        if width != self.width:
            raise InvalidInputError(
                f"The novelty gate was fitted on rows of {self.width} features; got rows of "
                f"{width}."
            )
        if self.columns is not None and _is_frame(X):
            got = [str(c) for c in X.columns]
            if got != self.columns:
                raise InvalidInputError(
                    f"The novelty gate was fitted on columns {self.columns}; got {got}."
                )

    def _column(self, X: Any, j: int) -> NDArray[Any]:
        if _is_frame(X):
            return np.asarray(X.iloc[:, j].to_numpy())
        return np.asarray(X[:, j])

    def _numeric(self, X: Any) -> NDArray[np.float64]:
        if not len(self.categorical) and not _is_frame(X):
            try:
                return np.asarray(X, dtype=np.float64).reshape(-1, self.width)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"The novelty gate needs numbers: {exc}") from exc
        n = len(X)
        out = np.empty((n, len(self.numeric)), dtype=np.float64)
        for k, j in enumerate(self.numeric):  # per column, never per row
            try:
                out[:, k] = self._column(X, int(j)).astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"The novelty gate needs numbers in column {self._name(int(j))} (not "
                    f"declared categorical): {exc}"
                ) from exc
        return out

    def _categorical(self, X: Any) -> list[NDArray[np.str_]]:
        return [self._column(X, int(j)).astype(str) for j in self.categorical]

    def transform(self, X: Any) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.intp]]:
        """Encoded rows, a mask of rows with a non-finite number, and for each row the
        first categorical column (position in ``categorical``) with an unseen value, or -1."""
        X = _table(X)
        self._check(X)
        num = (self._numeric(X) - self.mean) / self.scale
        bad: NDArray[np.bool_] = np.asarray(~np.isfinite(num).all(axis=1))
        unseen = np.full(num.shape[0], -1, dtype=np.intp)
        parts = [np.where(bad[:, None], 0.0, num)]
        for k, (col, cats) in enumerate(zip(self._categorical(X), self.categories)):
            pos = np.searchsorted(cats, col).clip(0, max(len(cats) - 1, 0))
            known: NDArray[np.bool_] = (
                np.asarray(cats[pos] == col) if len(cats) else np.zeros(col.shape[0], dtype=bool)
            )
            unseen[(~known) & (unseen < 0)] = k
            onehot = np.zeros((col.shape[0], len(cats)))
            onehot[np.flatnonzero(known), pos[known]] = _ONE_HOT
            parts.append(onehot)
        return np.concatenate(parts, axis=1), bad, unseen

    def to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "numeric": self.numeric.tolist(),
            "categorical": self.categorical.tolist(),
            "mean": enc.array(self.mean),
            "scale": enc.array(self.scale),
            "categories": [enc.array(c) for c in self.categories],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], dec: Decoder) -> _Encoding:
        columns = state["columns"]
        return cls(
            None if columns is None else [str(c) for c in columns],
            np.asarray(state["numeric"], dtype=np.intp),
            np.asarray(state["categorical"], dtype=np.intp),
            np.asarray(dec.required_array(state["mean"]), dtype=np.float64),
            np.asarray(dec.required_array(state["scale"]), dtype=np.float64),
            [np.asarray(dec.required_array(k)).astype(str) for k in state["categories"]],
        )


def _position(c: int | str, columns: list[str] | None, width: int) -> int:
    if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= int(c) < width:
        return int(c)
    if isinstance(c, str) and columns is not None and c in columns:
        return columns.index(c)
    raise ConfigurationError(
        "The 'categorical' parameter of NoveltyGate must list column positions in "
        f"[0, {width}) or column names of the reference frame. Got {c!r} instead."
    )


# -- detectors ----------------------------------------------------------------------------


def _tree(reference: NDArray[np.float64]) -> Any:
    """Exact neighbours over ``reference``: scikit-learn picks a KD or ball tree for few
    columns and brute force (chunked, in BLAS) for many, where trees lose."""
    from sklearn.neighbors import NearestNeighbors  # imported only for the knn score

    return _Neighbours(NearestNeighbors(algorithm="auto").fit(reference), reference)


class _Neighbours:
    """``query(Z, k) -> (distances, indices)`` over the reference rows.

    Where scikit-learn chose brute force, a small batch (a single record) is answered by
    one matrix product here instead: scikit-learn's brute path costs milliseconds of set-up
    per call, which is the whole budget of one record. Both give the same neighbours.
    """

    SMALL = 64

    def __init__(self, index: Any, reference: NDArray[np.float64]) -> None:
        self.index = index
        self.reference = reference
        self.brute = getattr(index, "_fit_method", None) == "brute"
        self.norms = np.einsum("ij,ij->i", reference, reference) if self.brute else None

    def query(self, Z: NDArray[np.float64], k: int) -> tuple[NDArray[Any], NDArray[Any]]:
        if self.norms is not None and Z.shape[0] <= self.SMALL:
            d2 = self.norms[None, :] - 2.0 * (Z @ self.reference.T)
            d2 += np.einsum("ij,ij->i", Z, Z)[:, None]
            idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
            near = np.take_along_axis(d2, idx, axis=1)
            order = np.argsort(near, axis=1, kind="stable")
            dist = np.sqrt(np.maximum(np.take_along_axis(near, order, axis=1), 0.0))
            return dist, np.take_along_axis(idx, order, axis=1).astype(np.intp)
        dist, idx = self.index.kneighbors(Z, n_neighbors=k)
        return np.asarray(dist, dtype=np.float64), np.asarray(idx, dtype=np.intp)


def _path_length(n: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average path length of an unsuccessful search in a binary tree of ``n`` points."""
    out = np.zeros_like(n, dtype=np.float64)
    two = n == 2
    big = n > 2
    out[two] = 1.0
    nb = n[big]
    out[big] = 2.0 * (np.log(nb - 1.0) + _EULER) - 2.0 * (nb - 1.0) / nb
    return out


class _Forest:
    """An isolation forest flattened into arrays: every tree walked for every row at once."""

    def __init__(
        self,
        feature: NDArray[np.intp],
        threshold: NDArray[np.float64],
        left: NDArray[np.intp],
        right: NDArray[np.intp],
        value: NDArray[np.float64],
        roots: NDArray[np.intp],
        depth: int,
    ) -> None:
        self.feature, self.threshold, self.left, self.right = feature, threshold, left, right
        self.value, self.roots, self.depth = value, roots, depth

    @classmethod
    def fit(cls, X: NDArray[np.float64], n_estimators: int, seed: int) -> _Forest:
        from sklearn.ensemble import IsolationForest  # scikit-learn grows the trees

        forest = IsolationForest(n_estimators=n_estimators, random_state=seed).fit(X)
        feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
        offset, deepest = 0, 0
        for est in forest.estimators_:
            t = est.tree_
            k = t.node_count
            left, right = t.children_left.astype(np.intp), t.children_right.astype(np.intp)
            depth = np.zeros(k)
            for node in range(k):  # fitting only: a few hundred nodes per tree
                if left[node] >= 0:
                    depth[left[node]] = depth[right[node]] = depth[node] + 1
            leaf = left < 0
            own = np.arange(k)
            feats.append(np.where(leaf, 0, t.feature).astype(np.intp))
            thrs.append(np.where(leaf, np.inf, t.threshold))
            lefts.append(np.where(leaf, own, left) + offset)
            rights.append(np.where(leaf, own, right) + offset)
            values.append(depth + _path_length(t.n_node_samples.astype(np.float64)))
            roots.append(offset)
            deepest = max(deepest, int(depth.max()))
            offset += k
        return cls(
            np.concatenate(feats),
            np.concatenate(thrs),
            np.concatenate(lefts),
            np.concatenate(rights),
            np.concatenate(values),
            np.asarray(roots, dtype=np.intp),
            deepest,
        )

    def depths(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Mean isolation depth per row ``(n,)`` (lower is more isolated)."""
        Xf = X.astype(np.float32).astype(np.float64)  # as scikit-learn's trees compare
        rows = np.arange(X.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (X.shape[0], self.roots.shape[0])).copy()
        for _ in range(self.depth):
            go_left = Xf[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return np.asarray(self.value[node].mean(axis=1), dtype=np.float64)

    def to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "feature": enc.array(self.feature.astype(np.int64)),
            "threshold": enc.array(self.threshold),
            "left": enc.array(self.left.astype(np.int64)),
            "right": enc.array(self.right.astype(np.int64)),
            "value": enc.array(self.value),
            "roots": enc.array(self.roots.astype(np.int64)),
            "depth": self.depth,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], dec: Decoder) -> _Forest:
        def ints(key: str) -> NDArray[np.intp]:
            return np.asarray(dec.required_array(state[key]), dtype=np.intp)

        forest = cls(
            ints("feature"),
            np.asarray(dec.required_array(state["threshold"]), dtype=np.float64),
            ints("left"),
            ints("right"),
            np.asarray(dec.required_array(state["value"]), dtype=np.float64),
            ints("roots"),
            int(state["depth"]),
        )
        k = forest.value.shape[0]
        parts = (forest.feature, forest.threshold, forest.left, forest.right)
        if any(a.shape != (k,) for a in parts) or (
            k and (forest.left.min() < 0 or forest.left.max() >= k or forest.right.max() >= k)
        ):
            raise ArtifactError("the saved isolation forest's node arrays do not fit together")
        return forest
