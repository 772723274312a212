"""Split conformal prediction intervals for regressors (absolute, normalized, CQR scores)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import (
    _check_alpha,
    _too_few,
    conformal_quantile,
    conformal_rank,
)
from guardrails.abstention.policy import (
    Policy,
    Verdict,
    _check_choice,
    _check_labels,
    _check_number,
    _no_candidate,
    _not_fitted,
)
from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ConfigurationError, InvalidInputError, ModelOutputError
from guardrails.core.layer import take_rows
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["ConformalIntervals"]


_INTERVAL_SCORES = ("absolute", "normalized", "cqr")


class _QuantilePair:
    """``(n_samples, 2)`` lower and upper predictions of two models (picklable)."""

    def __init__(self, lower: Any, upper: Any) -> None:
        self.lower, self.upper = lower, upper

    def __call__(self, X: Any) -> NDArray[np.float64]:
        return np.column_stack([self.lower.predict(X), self.upper.predict(X)])


def _as_function(owner: str, name: str, value: Any, columns: int) -> Callable[[Any], Any] | None:
    """A callable, a fitted model with ``predict``, or (for two columns) a pair of models."""
    if value is None:
        return None
    if columns == 2 and isinstance(value, tuple) and len(value) == 2:
        lower, upper = value
        if hasattr(lower, "predict") and hasattr(upper, "predict"):
            return _QuantilePair(lower, upper)
    if hasattr(value, "predict") and columns == 1:
        return value.predict  # type: ignore[no-any-return]
    if callable(value):
        return value  # type: ignore[no-any-return]
    what = (
        "a function X -> (n_samples, 2) lower and upper quantiles, or a pair "
        "(lower_model, upper_model) of fitted quantile regressors"
        if columns == 2
        else "a function X -> (n_samples,) positive spread, or a fitted model with predict"
    )
    raise ConfigurationError(
        f"The {name!r} parameter of {owner} must be {what}. Got {value!r} instead."
    )


@persistable
class ConformalIntervals(Policy):
    """Split conformal prediction intervals for a regressor; withhold too-wide intervals.

    Scores (``y`` the truth, ``f(x)`` the model's prediction):

    - ``"absolute"``: ``|y - f(x)|``; interval ``f(x) -+ q``, the same width everywhere.
    - ``"normalized"``: ``|y - f(x)| / s(x)`` with ``scale`` giving ``s(x) > 0`` (e.g. a
      model of the absolute residual); interval ``f(x) -+ q s(x)``, wider where harder.
    - ``"cqr"``: conformalized quantile regression (Romano et al. 2019) with ``quantiles``
      giving lower and upper quantile predictions ``(lo, hi)``; score
      ``max(lo - y, y - hi)``; interval ``[lo - q, hi + q]``.

    The model's own prediction stays the answer; the interval is put on the decision
    (``interval`` ``(n_samples, 2)``) and holds the truth with probability at least
    ``1 - alpha`` on exchangeable data.

    The answer is withheld when the interval is wider than ``max_width`` (``AMBIGUOUS``),
    when it is empty (CQR bounds crossing, ``LOW_CONFIDENCE``), or when ``scale`` or
    ``quantiles`` fail or give unusable values for the row (``MODEL_ERROR``).

    Args:
        alpha: the miscoverage level in (0, 1).
        score: "absolute", "normalized" or "cqr".
        scale: for "normalized": a function of the model inputs returning ``(n_samples,)``
            positive spreads, or a fitted model with ``predict``.
        quantiles: for "cqr": a function of the model inputs returning
            ``(n_samples, 2)`` lower and upper quantiles, or a pair
            ``(lower_model, upper_model)`` of fitted quantile regressors (e.g.
            ``GradientBoostingRegressor(loss="quantile", alpha=0.05)`` and ``alpha=0.95``).
        max_width: withhold answers whose interval is wider than this; None never does.

    Functions and models are not saved with a guard: pass them back to
    [`guardrails.load`][] as ``scale=`` or ``quantiles=``.
    """

    requires = frozenset({"values"})
    produces = frozenset({"interval"})

    def __init__(
        self,
        alpha: float = 0.1,
        *,
        score: str = "absolute",
        scale: Any = None,
        quantiles: Any = None,
        max_width: float | None = None,
    ) -> None:
        owner = "ConformalIntervals"
        self.alpha = _check_alpha(owner, alpha)
        self.score = _check_choice(owner, "score", score, _INTERVAL_SCORES)
        self.scale = scale
        self.quantiles = quantiles
        self._scale = _as_function(owner, "scale", scale, 1)
        self._quantiles = _as_function(owner, "quantiles", quantiles, 2)
        if (self.score == "normalized") != (scale is not None):
            raise ConfigurationError(
                f"{owner}: score='normalized' needs scale=..., and scale is used only by it. "
                f"Got score={score!r}, scale={scale!r}."
            )
        if (self.score == "cqr") != (quantiles is not None):
            raise ConfigurationError(
                f"{owner}: score='cqr' needs quantiles=..., and quantiles is used only by it. "
                f"Got score={score!r}, quantiles={quantiles!r}."
            )
        self.max_width = None if max_width is None else _check_number(owner, "max_width", max_width)

    @property
    def uses_inputs(self) -> bool:
        """True when the policy reads the model inputs (normalized and CQR scores)."""
        return self.score != "absolute"

    def _need_inputs(self, X: Any, what: str) -> None:
        if self.uses_inputs and X is None:
            raise ConfigurationError(
                f"ConformalIntervals(score={self.score!r}) reads the model inputs: use it in "
                f"a guard, or call {what}_with_inputs(d, X, ...)."
            )

    def _parts(
        self, d: Decisions, X: Any, *, strict: bool = False
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """Per row: centre, lower base, upper base, and which rows are usable.

        The interval is ``[lower - q * spread, upper + q * spread]`` where spread is the
        scale for "normalized" and 1 otherwise; returned as (lower, upper, spread, ok).
        """
        n = len(d)
        pred = np.asarray(d.prediction, dtype=np.float64)
        ok = ~_no_candidate(d) & np.isfinite(pred)
        lower, upper, spread = pred.copy(), pred.copy(), np.ones(n)
        if not self.uses_inputs or not ok.any():
            return lower, upper, spread, ok
        idx = np.flatnonzero(ok)
        fn = self._scale if self.score == "normalized" else self._quantiles
        assert fn is not None
        cols = 1 if self.score == "normalized" else 2
        what = "scale" if cols == 1 else "quantiles"
        want = (idx.shape[0],) if cols == 1 else (idx.shape[0], 2)
        try:
            out = np.asarray(fn(take_rows(X, idx)), dtype=np.float64)
            if out.shape != want:
                raise ModelOutputError(f"returned shape {out.shape}; expected {want}")
        except Exception as exc:  # a user's model failed: these rows get no interval
            if strict:
                raise ModelOutputError(
                    f"the {what} function of ConformalIntervals failed: {type(exc).__name__}: {exc}"
                ) from exc
            ok[idx] = False
            return lower, upper, spread, ok
        if cols == 1:
            good: NDArray[np.bool_] = np.isfinite(out) & (out > 0)
            spread[idx] = out
        else:
            good = np.asarray(np.isfinite(out).all(axis=1))
            lower[idx], upper[idx] = out[:, 0], out[:, 1]
        ok[idx[~good]] = False
        return lower, upper, spread, ok

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        return self.fit_with_inputs(d, None, y)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        self._need_inputs(X, "fit")
        y = _check_labels("ConformalIntervals", d, y)
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"ConformalIntervals.fit needs numeric targets y; got dtype {y.dtype}."
            ) from None
        lower, upper, spread, ok = self._parts(d, X, strict=True)
        ok &= np.isfinite(y)
        if self.score == "cqr":
            cal = np.maximum(lower - y, y - upper)[ok]
        else:
            cal = np.abs(y - lower)[ok] / spread[ok]
        n = cal.shape[0]
        if conformal_rank(n, self.alpha) > n:
            raise _too_few("ConformalIntervals", n, self.alpha)
        self._calibrated(np.flatnonzero(ok), cal)
        self.calibration_scores_ = np.sort(cal)
        self.n_calibration_ = n
        self.threshold_ = conformal_quantile(cal, self.alpha)
        return self

    def _calibrated(self, rows: NDArray[np.intp], scores: NDArray[np.float64]) -> None:
        """Hook: the calibration rows used and their scores, unsorted (weighted conformal)."""

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def intervals(
        self, d: Decisions, X: Any = None, *, threshold: float | None = None
    ) -> NDArray[np.float64]:
        """``(n_samples, 2)`` prediction intervals; NaN rows where none can be made."""
        return self._intervals(d, X, threshold)[0]

    def _intervals(
        self, d: Decisions, X: Any, threshold: float | None
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        if not self.is_fitted():
            raise _not_fitted(self)
        self._need_inputs(X, "evaluate")
        q = self.threshold_ if threshold is None else threshold
        lower, upper, spread, ok = self._parts(d, X)
        with np.errstate(invalid="ignore"):
            if np.isinf(q):  # an infinite threshold: the whole line, or nothing
                lo = np.full(len(d), -q)
                hi = np.full(len(d), q)
            else:
                lo, hi = lower - q * spread, upper + q * spread
        out = np.column_stack([lo, hi])
        out[~ok] = np.nan
        return out, ok

    def evaluate(self, d: Decisions) -> Verdict:
        return self.evaluate_with_inputs(d, None)

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        return self._verdict(d, *self._intervals(d, X, None))

    def _verdict(
        self, d: Decisions, interval: NDArray[np.float64], ok: NDArray[np.bool_]
    ) -> Verdict:
        n = len(d)
        width = interval[:, 1] - interval[:, 0]
        failed = ~ok & ~_no_candidate(d)
        empty = ok & (width < 0)
        reason = np.full(n, int(Reason.AMBIGUOUS), dtype=np.int8)
        detail = object_column(n)
        abstain = failed | empty
        if self.max_width is not None:
            wide = ok & ~(width <= self.max_width)
            detail[wide] = f"interval wider than {self.max_width:g} at alpha={self.alpha:g}"
            abstain |= wide
        reason[empty] = Reason.LOW_CONFIDENCE
        detail[empty] = "empty interval: the quantile bounds cross"
        reason[failed] = Reason.MODEL_ERROR
        detail[failed] = f"no usable {self.score} interval for this row"
        return Verdict(abstain, reason, detail, {"interval": interval})

    def __repr__(self) -> str:
        parts = [f"alpha={self.alpha!r}", f"score={self.score!r}"]
        if self.max_width is not None:
            parts.append(f"max_width={self.max_width!r}")
        return f"ConformalIntervals({', '.join(parts)})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "alpha": self.alpha,
            "score": self.score,
            "scale": None
            if self.scale is None
            else enc.ref("scale", "the spread model of ConformalIntervals"),
            "quantiles": None
            if self.quantiles is None
            else enc.ref("quantiles", "the quantile models of ConformalIntervals"),
            "max_width": self.max_width,
        }
        if self.is_fitted():
            state["fitted"] = {"scores": enc.array(self.calibration_scores_)}
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ConformalIntervals:
        out = cls(
            state["alpha"],
            score=state["score"],
            scale=None if state["scale"] is None else dec.ref(state["scale"]),
            quantiles=None if state["quantiles"] is None else dec.ref(state["quantiles"]),
            max_width=state["max_width"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            scores = dec.required_array(fitted["scores"])
            out.calibration_scores_ = scores
            out.n_calibration_ = int(scores.shape[0])
            out.threshold_ = conformal_quantile(scores, out.alpha)
        return out
