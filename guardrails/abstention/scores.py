"""Per-row scores that policies read: confidence, margin, entropy, and each label's column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions

if TYPE_CHECKING:
    pass

__all__ = [
    "confidence_score",
    "entropy_score",
    "label_index",
    "margin_score",
]


def label_index(labels: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.intp]:
    """Column of each label in ``classes`` (``(n,)`` ints), -1 for labels not in it."""
    labels = np.asarray(labels)
    classes = np.asarray(classes)
    out = np.full(labels.shape[0], -1, dtype=np.intp)
    if labels.shape[0] == 0 or classes.shape[0] == 0:
        return out
    k = classes.shape[0]
    if (
        labels.dtype.kind in "iu"
        and classes.dtype.kind in "iu"
        and classes[0] == 0
        and classes[-1] == k - 1
        and np.array_equal(classes, np.arange(k))
    ):  # the common case: classes 0..k-1, labels are their own columns
        if labels.min() >= 0 and labels.max() < k:
            return labels.astype(np.intp)
        inside = (labels >= 0) & (labels < k)
        out[inside] = labels[inside]
        return out
    try:
        sorter = np.argsort(classes, kind="stable")
        pos = np.searchsorted(classes, labels, sorter=sorter)
    except TypeError:  # labels that do not order against the classes: compare one by one
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        return np.array([lookup.get(v, -1) for v in labels.tolist()], dtype=np.intp)
    pos = np.clip(pos, 0, classes.shape[0] - 1)
    cols = sorter[pos]
    found = classes[cols] == labels
    out[found] = cols[found]
    return out


def _top_two(proba: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if proba.shape[1] < 2:
        top = proba[:, 0]
        return top, np.zeros_like(top)
    part = np.partition(proba, proba.shape[1] - 2, axis=1)
    return part[:, -1], part[:, -2]


def confidence_score(d: Decisions) -> NDArray[np.float64]:
    """``(n,)`` top-class probability; NaN where unknown."""
    if d.confidence is not None:
        return d.confidence
    if d.proba is not None:
        return _top_two(d.proba)[0]
    return np.full(len(d), np.nan)


def margin_score(d: Decisions) -> NDArray[np.float64]:
    """``(n,)`` difference between the two largest class probabilities; NaN where unknown."""
    if d.proba is None:
        return np.full(len(d), np.nan)
    first, second = _top_two(d.proba)
    return first - second


def entropy_score(d: Decisions) -> NDArray[np.float64]:
    """``(n,)`` Shannon entropy (nats) of the class probabilities; NaN where unknown."""
    if d.proba is None:
        return np.full(len(d), np.nan)
    p = d.proba
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out: NDArray[np.float64] = terms.sum(axis=1)
    out[np.isnan(p).any(axis=1)] = np.nan
    return out


_SCORES = {"confidence": confidence_score, "margin": margin_score}
