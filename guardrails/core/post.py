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

    Subclasses implement `_post` and, if they learn, `_learn`.
    """

    inner: Layer

    def __init__(self, inner: Any) -> None:
        self.inner = as_layer(inner)

    def _post(self, d: Decisions, call: Call) -> Decisions:
        """Transform the inner layer's decisions."""
        return d

    def _learn(self, d: Decisions, y: NDArray[Any]) -> None:
        """Learn from the inner layer's decisions on held-out data and their labels."""

    def awaits_io(self) -> bool:
        """True when this class overrides ``_adecide`` (see [`Layer.awaits_io`][])."""
        return type(self)._adecide is not PostLayer._adecide

    def _timed_post(self, d: Decisions, call: Call) -> Decisions:
        t0 = time.perf_counter()
        out = self._post(d, call)
        out.timings[self.name] = out.timings.get(self.name, 0.0) + time.perf_counter() - t0
        return out

    def _decide(self, X: Any, call: Call) -> Decisions:
        return self._timed_post(self.inner._decide(X, call), call)

    async def _adecide(self, X: Any, call: Call) -> Decisions:
        return self._timed_post(await self.inner._adecide(X, call), call)

    def _fit(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner._fit(X, y, call)
        self._learn(d, y)
        return self._post(d, call)
