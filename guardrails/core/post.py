"""Post-processing layers: a [`PostLayer`][] acts only on the decisions of the layer inside it.

It sits above the model adapter (its ``inner`` may be any model, which
[`as_layer`][guardrails.core.adapter.as_layer] adapts once), so the adapter and the layer
protocol in [`guardrails.core.layer`][] import nothing from here.
"""

from __future__ import annotations

import time
from typing import Any

from numpy.typing import NDArray

from guardrails.core.adapter import as_layer
from guardrails.core.decisions import Decisions
from guardrails.core.layer import Call, Layer

__all__ = ["PostLayer"]


class PostLayer(Layer):
    """A layer that acts only on the decisions of the layer inside it.

    ``inner`` may be another layer or any model (adapted once by
    [`as_layer`][guardrails.core.adapter.as_layer]). Subclasses implement
    ``post(d, call)``, which returns the inner layer's decisions changed (withhold rows
    with ``d.withhold(mask, reason, detail=...)``, never answer a withheld row), and,
    if they learn from held-out data, ``learn(d, y)``. Time spent in ``post`` is added to
    ``d.timings[name]``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import PostLayer, Reason, as_layer
        >>> class NoNegatives(PostLayer):
        ...     name = "no_negatives"
        ...     def post(self, d, call):
        ...         negative = d.answered & (d.prediction.astype(float) < 0)
        ...         return d.withhold(negative, Reason.LOW_CONFIDENCE, detail="negative")
        >>> layer = NoNegatives(as_layer(lambda X: X[:, 0], output="values"))
        >>> layer.predict(np.array([[2.0], [-1.0]]), marker=None).tolist()
        [2.0, None]
    """

    inner: Layer

    def __init__(self, inner: Any) -> None:
        self.inner = as_layer(inner)

    def post(self, d: Decisions, call: Call) -> Decisions:
        """Transform the inner layer's decisions."""
        return d

    def learn(self, d: Decisions, y: NDArray[Any]) -> None:
        """Learn from the inner layer's decisions on held-out data and their labels."""

    def awaits_io(self) -> bool:
        """True when this class overrides ``adecide_call`` (see [`Layer.awaits_io`][])."""
        return type(self).adecide_call is not PostLayer.adecide_call

    def _timed_post(self, d: Decisions, call: Call) -> Decisions:
        t0 = time.perf_counter()
        out = self.post(d, call)
        out.timings[self.name] = out.timings.get(self.name, 0.0) + time.perf_counter() - t0
        return out

    def decide_call(self, X: Any, call: Call) -> Decisions:
        return self._timed_post(self.inner.decide_call(X, call), call)

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        return self._timed_post(await self.inner.adecide_call(X, call), call)

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner.fit_call(X, y, call)
        self.learn(d, y)
        return self.post(d, call)
