"""Online conformal: adaptive conformal (one step size) and DtACI (adaptive step sizes).

[`AdaptiveConformal`][guardrails.AdaptiveConformal] (Gibbs and Candes 2021) moves its
level with one step size
``gamma``: large adapts fast but makes sets jumpy, small is stable but slow after a
shift. DtACI runs one such learner ("expert") per step size in a grid and follows the
ones that would have done best lately (exponential weights on the pinball loss, with a
fixed share so a forgotten expert can come back). On top, one slow integrator on the
misses of the sets actually given makes the long-run miss rate provably ``alpha``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import TOLERANCE, ConformalSets, conformal_quantile
from guardrails.abstention.intervals import ConformalIntervals
from guardrails.abstention.policy import Policy, Verdict, _check_labels, _no_candidate, _not_fitted
from guardrails.abstention.scores import label_index
from guardrails.core.checks import check_unit
from guardrails.core.decisions import PRIMARY, Decisions
from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["AdaptiveConformal", "DtACI"]


def _given_coverage(
    owner: str, base: Any, d: Decisions, y: NDArray[Any]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which rows the sets or intervals ``d`` gave covered, and which rows count.

    Rows count when the model ran and the primary answered them with this policy's set or
    interval (a fallback stage's columns are that stage's, not this policy's).
    """
    if isinstance(base, ConformalSets):
        if d.pred_set is None or d.classes is None:
            raise InvalidInputError(
                f"{owner} needs the decisions that carry the prediction sets it gave (pred_set)."
            )
        j = label_index(y, d.classes)
        if (j < 0).any():
            raise InvalidInputError(
                f"{owner} got labels that are not among the classes {d.classes.tolist()!r}."
            )
        seen = ~_no_candidate(d) & (d.stage == PRIMARY)
        return d.pred_set[np.arange(len(d)), j], seen
    if d.interval is None:
        raise InvalidInputError(
            f"{owner} needs the decisions that carry the intervals it gave (interval)."
        )
    yv = y.astype(np.float64)
    lo, hi = d.interval[:, 0], d.interval[:, 1]
    seen = ~_no_candidate(d) & ~np.isnan(lo) & (d.stage == PRIMARY)
    return (lo <= yv) & (yv <= hi), seen


@persistable
class AdaptiveConformal(Policy):
    """Adaptive conformal inference (Gibbs and Candes 2021): coverage that survives drift.

    Wraps a split conformal policy (marginal [`ConformalSets`][] or
    [`ConformalIntervals`][]) and moves its miscoverage level as labels arrive:
    after each labelled row, ``alpha_t <- alpha_t + gamma * (alpha - err_t)`` where
    ``err_t`` is 1 when the set or interval given for that row missed the truth. Sets
    are made at level ``alpha_t`` from the calibration scores; ``alpha_t <= 0`` gives
    every label (or the whole line), ``alpha_t >= 1`` the empty set. Whatever the data
    do, the long-run miss rate over ``T`` labelled rows is within
    ``(max(alpha, 1 - alpha) + gamma) / (gamma * T)`` of ``alpha`` when rows are updated
    one at a time (``B`` times that bound's ``gamma`` term for batches of ``B``).

    Labels may arrive later (from the review queue, say): keep the decisions, and call
    [`update`][] with them and the true answers. The state is thread-safe.

    Args:
        base: the split conformal policy to adapt (unfitted or fitted).
        gamma: the step size; larger adapts faster but makes sets jumpier.

    Attributes (after fit):
        alpha_t_: the current miscoverage level.
        n_updates_, n_misses_: labelled rows seen by [`update`][], and how many missed.
    """

    def __init__(self, base: ConformalSets | ConformalIntervals, *, gamma: float = 0.005) -> None:
        if not isinstance(base, (ConformalSets, ConformalIntervals)) or (
            isinstance(base, ConformalSets)
            and (base.class_conditional or base.groups is not None or not base.online)
        ):
            raise ConfigurationError(
                "The 'base' parameter of AdaptiveConformal must be a ConformalSets without "
                "class_conditional or groups (and not a risk control), or a "
                f"ConformalIntervals. Got {base!r} instead."
            )
        self.base = base
        self.gamma = check_unit("AdaptiveConformal", "gamma", gamma, interval="(0, 1)")
        self._lock = threading.Lock()

    def needs(self) -> frozenset[str]:
        return self.base.needs()

    def makes(self) -> frozenset[str]:
        return self.base.makes()

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        return self.fit_with_inputs(d, None, y)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        self.base.fit_with_inputs(d, X, y)
        with self._lock:
            self.alpha_t_ = self.base.alpha
            self.n_updates_ = 0
            self.n_misses_ = 0
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "alpha_t_") and self.base.is_fitted()

    def threshold(self) -> float:
        """The current threshold on the base policy's scores (at level ``alpha_t_``)."""
        if not self.is_fitted():
            raise _not_fitted(self)
        return conformal_quantile(self.base.calibration_scores_, self.alpha_t_)

    def evaluate(self, d: Decisions) -> Verdict:
        return self.evaluate_with_inputs(d, None)

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        q = self.threshold()
        if isinstance(self.base, ConformalSets):
            return self.base._verdict(d, self.base.prediction_sets(d, threshold=q))
        return self.base._verdict(d, *self.base._intervals(d, X, q))

    def update(self, d: Decisions, y_true: Any) -> float:
        """Learn from true answers that arrived for decisions made earlier.

        Args:
            d: the decisions as returned (they carry the sets or intervals that were
                given). Rows without one are skipped: where the model never ran, and rows
                answered by a fallback stage (their columns are that stage's, not this
                policy's; their stage is not "primary").
            y_true: ``(n_samples,)`` the true labels or values of those rows, in order.

        Returns:
            The new miscoverage level ``alpha_t_``.

        Raises:
            InvalidInputError: ``y_true`` does not match ``d``, or holds unknown labels.
        """
        if not self.is_fitted():
            raise _not_fitted(self)
        y = _check_labels("AdaptiveConformal.update", d, np.asarray(y_true))
        covered, seen = _given_coverage("AdaptiveConformal.update", self.base, d, y)
        misses = int((~covered & seen).sum())
        count = int(seen.sum())
        with self._lock:
            # the sequential updates add up: alpha_T = alpha_1 + gamma * sum(alpha - err_t)
            self.alpha_t_ += self.gamma * (count * self.base.alpha - misses)
            self.n_updates_ += count
            self.n_misses_ += misses
            return self.alpha_t_

    def __repr__(self) -> str:
        return f"AdaptiveConformal({self.base!r}, gamma={self.gamma!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {"base": enc.component(self.base), "gamma": self.gamma}
        if self.is_fitted():
            state["fitted"] = {
                "alpha_t": self.alpha_t_,
                "n_updates": self.n_updates_,
                "n_misses": self.n_misses_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> AdaptiveConformal:
        out = cls(dec.component(state["base"]), gamma=state["gamma"])
        fitted = state.get("fitted")
        if fitted is not None:
            out.alpha_t_ = float(fitted["alpha_t"])
            out.n_updates_ = int(fitted["n_updates"])
            out.n_misses_ = int(fitted["n_misses"])
        return out


GAMMAS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128)


@persistable
class DtACI(AdaptiveConformal):
    """Dynamically-tuned adaptive conformal inference, with a coverage guard.

    Each expert ``i`` keeps a level ``a_i`` updated like adaptive conformal with its own
    step ``gammas[i]``, on whether the set it *would* have given covered the truth. The
    experts' weights follow ``exp(-eta * pinball loss)`` with a fixed share ``sigma``
    (Gibbs and Candes 2024, Algorithm 1; defaults from their paper for a local interval
    of ``interval`` rows). The level in force is the weighted mean of the experts plus a
    guard ``c`` that moves like adaptive conformal with step ``gamma`` on the misses of
    the sets actually given. Whatever the data do (adversarial labels included), after
    ``T`` labelled rows given in batches of at most ``B`` rows,

        ``|misses / T - alpha| <= (1 + B * max(gammas) + B * gamma) / (gamma * T)``,

    because the experts' levels stay in ``[-B max(gammas), 1 + B max(gammas)]`` and the
    guard cannot wander further than that before forcing full or empty sets. Once a
    shift settles, the small-step experts take over and sets are steadier (and, on
    average, smaller) than those of a fixed step large enough to follow the shift.

    Args:
        base: a fitted or unfitted marginal [`ConformalSets`][guardrails.ConformalSets]
            (not randomized) or [`ConformalIntervals`][guardrails.ConformalIntervals].
        gammas: the experts' step sizes (positive, increasing).
        gamma: the guard's step size, in (0, 1).
        interval: the local interval the default ``eta`` and ``sigma`` are tuned for.
        eta: the learning rate of the weights; default from ``interval``.
        sigma: the fixed share; default ``1 / (2 interval)``.

    Attributes (after fit):
        alpha_t_: the level in force; expert_alphas_, expert_weights_: the experts.
        guard_: the guard ``c``; n_updates_, n_misses_: labelled rows seen and missed.
    """

    def __init__(
        self,
        base: ConformalSets | ConformalIntervals,
        *,
        gammas: Sequence[float] = GAMMAS,
        gamma: float = 0.005,
        interval: int = 500,
        eta: float | None = None,
        sigma: float | None = None,
    ) -> None:
        super().__init__(base, gamma=gamma)
        owner = "DtACI"
        if isinstance(base, ConformalSets) and base.randomized:
            raise ConfigurationError(f"The 'base' of {owner} must not be randomized. Got {base!r}.")
        g = np.asarray(gammas, dtype=np.float64)
        if (
            g.ndim != 1
            or g.size < 1
            or not (np.isfinite(g).all() and (g > 0).all() and (g < 1).all())
        ):
            raise ConfigurationError(
                f"The 'gammas' parameter of {owner} must be a non-empty sequence of floats in "
                f"(0, 1). Got {gammas!r} instead."
            )
        self.gammas = tuple(float(v) for v in np.sort(g))
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, np.integer))
            or interval < 2
        ):
            raise ConfigurationError(
                f"The 'interval' parameter of {owner} must be an int >= 2. Got {interval!r}."
            )
        self.interval = int(interval)
        a = base.alpha
        k = len(self.gammas)
        default_eta = np.sqrt(3.0 / self.interval) * np.sqrt(
            (np.log(self.interval * k) + 2.0) / ((1 - a) ** 2 * a**3 + a**2 * (1 - a) ** 3)
        )
        self.eta = float(default_eta) if eta is None else _positive(owner, "eta", eta)
        self.sigma = (
            1.0 / (2 * self.interval) if sigma is None else check_unit(owner, "sigma", sigma)
        )

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        super().fit_with_inputs(d, X, y)
        k = len(self.gammas)
        self._cal = np.sort(self.base.calibration_scores_)
        with self._lock:
            self.expert_alphas_ = np.full(k, self.base.alpha)
            self.expert_weights_ = np.full(k, 1.0 / k)
            self.guard_ = 0.0
            self.alpha_t_ = self.base.alpha
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "expert_alphas_") and super().is_fitted()

    def _true_scores(self, d: Decisions, y: NDArray[Any], X: Any) -> NDArray[np.float64]:
        base = self.base
        if isinstance(base, ConformalSets):
            assert d.classes is not None
            j = label_index(y, d.classes)
            s = base.scores(d)
            return np.where(j >= 0, s[np.arange(len(d)), np.maximum(j, 0)] - TOLERANCE, np.inf)
        lower, upper, spread, ok = base._parts(d, X)
        yv = y.astype(np.float64)
        with np.errstate(invalid="ignore"):
            s = (
                np.maximum(lower - yv, yv - upper)
                if base.score == "cqr"
                else np.abs(yv - lower) / spread
            )
        return np.where(ok, s, np.nan)

    def update(self, d: Decisions, y_true: Any, X: Any = None) -> float:
        """Learn from true answers that arrived for decisions made earlier.

        Args:
            d: the decisions as returned (with the sets or intervals that were given).
            y_true: ``(n_samples,)`` the true labels or values, in order.
            X: the model inputs of those rows; needed only for "normalized" and "cqr"
                intervals (the experts re-score the truth).

        Returns:
            The new level ``alpha_t_``.
        """
        if not self.is_fitted():
            raise _not_fitted(self)
        if isinstance(self.base, ConformalIntervals) and self.base.uses_inputs and X is None:
            raise ConfigurationError(
                f"DtACI over ConformalIntervals(score={self.base.score!r}) needs the "
                "inputs to learn: call update(d, y_true, X)."
            )
        y = _check_labels("DtACI.update", d, np.asarray(y_true))
        covered, seen = _given_coverage("DtACI.update", self.base, d, y)
        s = self._true_scores(d, y, X)
        seen &= ~np.isnan(s)
        cal = self._cal
        n = cal.shape[0]
        # beta: the largest level at which the row's truth is still in the set
        rank = np.searchsorted(cal, s[seen], side="left") + 1
        beta = 1.0 - (rank - 1) / (n + 1)
        misses = int((~covered & seen).sum())
        count = int(seen.sum())
        g = np.asarray(self.gammas)
        a = self.base.alpha
        with self._lock:
            alphas = self.expert_alphas_
            diff = beta[np.newaxis, :] - alphas[:, np.newaxis]
            loss = (a * diff - np.minimum(0.0, diff)).sum(axis=1)
            err = (alphas[:, np.newaxis] >= beta[np.newaxis, :]).sum(axis=1)
            log_w = np.log(self.expert_weights_) - self.eta * loss
            w = np.exp(log_w - log_w.max())
            w /= w.sum()
            self.expert_weights_ = (1 - self.sigma) * w + self.sigma / g.shape[0]
            self.expert_alphas_ = alphas + g * (count * a - err)
            self.guard_ += self.gamma * (count * a - misses)
            self.alpha_t_ = float(self.expert_weights_ @ self.expert_alphas_) + self.guard_
            self.n_updates_ += count
            self.n_misses_ += misses
            return self.alpha_t_

    def __repr__(self) -> str:
        return (
            f"DtACI({self.base!r}, gammas={self.gammas!r}, gamma={self.gamma!r}, "
            f"interval={self.interval!r})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "base": enc.component(self.base),
            "gammas": list(self.gammas),
            "gamma": self.gamma,
            "interval": self.interval,
            "eta": self.eta,
            "sigma": self.sigma,
        }
        if self.is_fitted():
            state["fitted"] = {
                "alpha_t": self.alpha_t_,
                "expert_alphas": self.expert_alphas_.tolist(),
                "expert_weights": self.expert_weights_.tolist(),
                "guard": self.guard_,
                "n_updates": self.n_updates_,
                "n_misses": self.n_misses_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> DtACI:
        out = cls(
            dec.component(state["base"]),
            gammas=state["gammas"],
            gamma=state["gamma"],
            interval=state["interval"],
            eta=state["eta"],
            sigma=state["sigma"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            out.alpha_t_ = float(fitted["alpha_t"])
            out.expert_alphas_ = np.asarray(fitted["expert_alphas"], dtype=np.float64)
            out.expert_weights_ = np.asarray(fitted["expert_weights"], dtype=np.float64)
            out.guard_ = float(fitted["guard"])
            out.n_updates_ = int(fitted["n_updates"])
            out.n_misses_ = int(fitted["n_misses"])
            out._cal = np.sort(out.base.calibration_scores_)
        return out


def _positive(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a float > 0. Got {value!r} instead."
        )
    return float(value)
