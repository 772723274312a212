"""The public layer protocol: hooks a user implements, what the base classes do for them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from guardrails import (
    Call,
    ConfigurationError,
    Decisions,
    Layer,
    NotFittedError,
    PostLayer,
    Reason,
    as_layer,
    guard,
)


def _values(X: Any) -> Any:
    return np.asarray(X, dtype=float)[:, 0]


class _Negatives(PostLayer):
    name = "negatives"

    def post(self, d: Decisions, call: Call) -> Decisions:
        neg = d.answered & (d.prediction.astype(float) < 0)
        return d.withhold(neg, Reason.LOW_CONFIDENCE, detail="negative")


class _Shift(PostLayer):
    """Learns the mean label at fit; an unfitted one refuses to decide."""

    name = "shift"

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.mean_: float | None = None
        self.seen: list[str] = []

    def learn(self, d: Decisions, y: Any) -> None:
        self.seen.append("learn")
        self.mean_ = float(np.mean(y))

    def is_fitted(self) -> bool:
        return self.mean_ is not None

    def post(self, d: Decisions, call: Call) -> Decisions:
        self.seen.append("post")
        assert self.mean_ is not None
        return d.replace(prediction=d.prediction.astype(float) + self.mean_)


def test_a_post_layer_adapts_any_model_and_withholds_with_a_reason() -> None:
    layer = _Negatives(as_layer(_values, output="values"))
    d = layer.decide(np.array([[2.0], [-1.0]]))
    assert d.abstained.tolist() == [False, True]
    assert d.reasons()[1] is Reason.LOW_CONFIDENCE
    assert "negatives" in d.timings  # time in post is recorded under the layer's name


def test_fit_learns_before_it_posts_and_an_unfitted_layer_says_so() -> None:
    layer = _Shift(as_layer(_values, output="values"))
    with pytest.raises(NotFittedError, match="_Shift"):
        layer.decide(np.zeros((1, 1)))
    layer.fit(np.zeros((4, 1)), np.array([1.0, 1.0, 3.0, 3.0]))
    assert layer.seen == ["learn", "post"]
    assert layer.predict(np.array([[1.0]])).tolist() == [3.0]


def test_a_layer_with_decide_call_alone_is_a_predictor() -> None:
    class Constant(Layer):
        name = "constant"
        task = "regression"

        def decide_call(self, X: Any, call: Call) -> Decisions:
            return Decisions(prediction=np.full(call.n, 7.0))

    assert Constant().predict(np.zeros((3, 2))).tolist() == [7.0, 7.0, 7.0]
    assert not Constant().awaits_io()  # no async path of its own


def test_a_layer_that_overrides_the_async_hook_awaits_io() -> None:
    class Remote(_Negatives):
        async def adecide_call(self, X: Any, call: Call) -> Decisions:
            return await self.inner.adecide_call(X, call)

    assert Remote(as_layer(_values, output="values")).awaits_io()
    assert not _Negatives(as_layer(_values, output="values")).awaits_io()


@pytest.mark.parametrize(
    ("old", "new"),
    [("_decide", "decide_call"), ("_post", "post"), ("_fit", "fit_call"), ("_learn", "learn")],
)
def test_a_layer_with_an_old_private_hook_name_is_refused_with_its_new_name(
    old: str, new: str
) -> None:
    with pytest.raises(TypeError, match=f"{old} -> {new}"):
        type("Old", (PostLayer,), {old: lambda self, *a: None})


def test_guard_of_a_layer_says_what_to_do_instead() -> None:
    layer = _Negatives(as_layer(_values, output="values"))
    with pytest.raises(ConfigurationError, match=r"\.add\(YourLayer, after=\"calibrate\"\)"):
        guard(layer)
