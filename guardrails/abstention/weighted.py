"""Weighted conformal under covariate shift: likelihood ratios from a domain classifier.

When production inputs ``x`` shift (their distribution changes from ``P`` to ``Q``) but
the answer given the input does not (``P(y | x)`` stays), split conformal loses its
guarantee. Tibshirani, Barber, Candes and Ramdas (2019) restore it by weighting each
calibration row by the likelihood ratio ``w(x) = dQ/dP(x)``: the threshold for a test row
``x`` is the ``1 - alpha`` quantile of the distribution that puts mass
``w(x_i) / (sum_j w(x_j) + w(x))`` on each calibration score and the remaining mass
``w(x) / (sum_j w(x_j) + w(x))`` -- the test row's own weight -- on ``+inf``. With the
true ratio, the set holds the truth with probability at least ``1 - alpha`` on ``Q``.

The ratio is estimated here by a *domain classifier*: a logistic regression telling
calibration inputs (label 0) from recent production inputs (label 1); then
``w(x) = (n_cal / n_target) * p(x) / (1 - p(x))``. It is clipped to ``[1/clip, clip]``:
unclipped, one calibration row far out in the target's direction could take all the
mass, and one test row far out could push its threshold to infinity. Clipping trades a
little validity where the shift is extreme for stable sets; ``clipped_share_`` says how
often it bit. The guarantee holds for shifts the classifier can represent (a log-ratio
linear in the inputs, or quadratic with ``features="quadratic"``); it is no remedy for a
change in ``P(y | x)`` (concept drift), for which see
[`AdaptiveConformal`][guardrails.AdaptiveConformal].
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import TOLERANCE, ConformalSets, conformal_quantile
from guardrails.abstention.intervals import ConformalIntervals
from guardrails.abstention.policy import Verdict, _check_choice, _check_number, _not_fitted
from guardrails.core.decisions import Decisions
from guardrails.core.errors import ConfigurationError, InvalidInputError, NotFittedError
from guardrails.core.layer import take_rows
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "DomainClassifier",
    "WeightedConformalIntervals",
    "WeightedConformalSets",
    "weighted_conformal_quantile",
]


def weighted_conformal_quantile(
    scores: NDArray[np.float64],
    weights: NDArray[np.float64],
    test_weights: NDArray[np.float64],
    alpha: float,
) -> NDArray[np.float64]:
    """Per test row, the weighted conformal threshold (Tibshirani et al. 2019).

    Args:
        scores: ``(n,)`` calibration scores, sorted ascending.
        weights: ``(n,)`` their likelihood ratios (positive), in the same order.
        test_weights: ``(m,)`` the likelihood ratio of each test row.
        alpha: the miscoverage level.

    Returns:
        ``(m,)`` thresholds: the smallest score whose cumulative weight reaches
        ``(1 - alpha) * (sum(weights) + w_test)``, ``+inf`` when none does. With all
        weights 1 this is the ``ceil((n + 1)(1 - alpha))``-th smallest score, the split
        conformal threshold.
    """
    cum = np.cumsum(weights)
    need = (1.0 - alpha) * (cum[-1] + test_weights) if cum.size else test_weights
    idx = np.searchsorted(cum, need, side="left")
    out = np.full(test_weights.shape[0], np.inf)
    inside = idx < scores.shape[0]
    out[inside] = scores[idx[inside]]
    return out


def _as_matrix(owner: str, X: Any) -> NDArray[np.float64]:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{owner} weights rows by a domain classifier on the model inputs, which must "
            f"be numeric (an array or a numeric data frame). Got {type(X).__name__}."
        ) from None
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2:
        raise InvalidInputError(f"{owner} needs 2-d model inputs; got shape {arr.shape}.")
    return arr


def _logistic(
    X: NDArray[np.float64], y: NDArray[np.float64], C: float, iterations: int = 100
) -> tuple[NDArray[np.float64], float]:
    """L2-penalised logistic regression by Newton's method (scikit-learn's objective:
    ``C * sum(log loss) + |coef|^2 / 2``, intercept unpenalised). A few columns and a few
    thousand rows: a handful of small solves, cheaper than a general solver's setup."""
    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    k = Z.shape[1]
    ridge = np.eye(k)
    ridge[-1, -1] = 0.0
    beta = np.zeros(k)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(Z @ beta, -500.0, 500.0)))
        grad = C * (Z.T @ (p - y)) + ridge @ beta
        hess = C * (Z.T * (p * (1 - p))) @ Z + ridge + 1e-10 * np.eye(k)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta[:-1].copy(), float(beta[-1])


def _auc(neg: NDArray[np.float64], pos: NDArray[np.float64]) -> float:
    """Area under the ROC curve of scores ``pos`` (label 1) against ``neg`` (ties halved)."""
    from scipy.stats import rankdata  # heavy: imported when used

    ranks = rankdata(np.r_[neg, pos])[neg.shape[0] :]
    n0, n1 = neg.shape[0], pos.shape[0]
    return float((ranks.sum() - n1 * (n1 + 1) / 2) / (n0 * n1))


@persistable
class DomainClassifier:
    """Likelihood ratio between a target sample and the calibration inputs.

    A logistic regression (L2-penalised, fitted by Newton's method) on standardized inputs tells
    calibration rows from target rows; the odds, times ``n_cal / n_target``, estimate
    ``dQ/dP``, clipped to ``[1/clip, clip]``. Rows with a non-finite input get the largest
    weight, ``clip`` (a test row's large weight only widens its own set).

    Args:
        clip: the largest ratio (and ``1/clip`` the smallest), > 1.
        features: "linear" (log-ratio linear in the inputs: mean shifts) or "quadratic"
            (also squares: changes of spread).
        C: inverse regularisation strength of the logistic regression.

    Attributes (after fit):
        coef_, intercept_, mean_, scale_: the fitted classifier on standardized inputs.
        clipped_share_: share of the target rows whose ratio was clipped.
        auc_: how well the classifier told the samples apart on its training rows (0.5:
            no detectable shift).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> cal, target = rng.normal(size=(500, 1)), rng.normal(1.0, 1.0, size=(500, 1))
        >>> ratio = DomainClassifier(clip=20).fit(cal, target)
        >>> bool(ratio.ratio(np.array([[2.0]]))[0] > ratio.ratio(np.array([[-2.0]]))[0])
        True
    """

    def __init__(self, *, clip: float = 20.0, features: str = "linear", C: float = 1.0) -> None:
        owner = "DomainClassifier"
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 1:
            raise ConfigurationError(
                f"The 'clip' parameter of {owner} must be a float > 1. Got {clip!r} instead."
            )
        self.clip = float(clip)
        self.features = _check_choice(owner, "features", features, ("linear", "quadratic"))
        self.C = _check_number(owner, "C", C)
        if self.C <= 0:
            raise ConfigurationError(f"The 'C' parameter of {owner} must be > 0. Got {C!r}.")

    def _design(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = (X - self.mean_) / self.scale_
        return np.hstack([Z, Z * Z]) if self.features == "quadratic" else Z

    def fit(self, X_cal: Any, X_target: Any) -> Self:
        """Fit on calibration inputs (the reference) and target inputs (recent traffic)."""
        A = _as_matrix("DomainClassifier", X_cal)
        B = _as_matrix("DomainClassifier", X_target)
        A, B = A[np.isfinite(A).all(axis=1)], B[np.isfinite(B).all(axis=1)]
        if A.shape[1] != B.shape[1] or A.shape[0] < 2 or B.shape[0] < 2:
            raise InvalidInputError(
                "DomainClassifier.fit needs at least 2 finite rows of each sample, with the "
                f"same columns; got {A.shape} and {B.shape}."
            )
        both = np.vstack([A, B])
        self.mean_ = both.mean(axis=0)
        scale = both.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        label = np.r_[np.zeros(A.shape[0]), np.ones(B.shape[0])]
        design = self._design(both)
        self.coef_, self.intercept_ = _logistic(design, label, self.C)
        self.log_prior_ = float(np.log(A.shape[0] / B.shape[0]))
        logit = design @ self.coef_ + self.intercept_
        self.auc_ = _auc(logit[: A.shape[0]], logit[A.shape[0] :])
        raw = logit[A.shape[0] :] + self.log_prior_
        self.clipped_share_ = float(np.mean(np.abs(raw) > np.log(self.clip)))
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "coef_")

    def ratio(self, X: Any) -> NDArray[np.float64]:
        """``(n_samples,)`` clipped likelihood ratio ``dQ/dP`` of each row."""
        if not self.is_fitted():
            raise NotFittedError("This DomainClassifier is not fitted yet; call fit first.")
        M = _as_matrix("DomainClassifier", X)
        if M.shape[1] != self.coef_.shape[0] // (2 if self.features == "quadratic" else 1):
            raise InvalidInputError(
                f"DomainClassifier was fitted on {self.mean_.shape[0]} columns; got {M.shape[1]}."
            )
        ok = np.isfinite(M).all(axis=1)
        log_w = np.full(M.shape[0], np.log(self.clip))
        log_w[ok] = self._design(M[ok]) @ self.coef_ + self.intercept_ + self.log_prior_
        bound = np.log(self.clip)
        return np.asarray(np.exp(np.clip(log_w, -bound, bound)), dtype=np.float64)

    def __repr__(self) -> str:
        return f"DomainClassifier(clip={self.clip!r}, features={self.features!r}, C={self.C!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {"clip": self.clip, "features": self.features, "C": self.C}
        if self.is_fitted():
            state["fitted"] = {
                "coef": enc.array(self.coef_),
                "mean": enc.array(self.mean_),
                "scale": enc.array(self.scale_),
                "intercept": self.intercept_,
                "log_prior": self.log_prior_,
                "auc": self.auc_,
                "clipped_share": self.clipped_share_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> DomainClassifier:
        out = cls(clip=state["clip"], features=state["features"], C=state["C"])
        fitted = state.get("fitted")
        if fitted is not None:
            out.coef_ = dec.required_array(fitted["coef"])
            out.mean_ = dec.required_array(fitted["mean"])
            out.scale_ = dec.required_array(fitted["scale"])
            out.intercept_ = float(fitted["intercept"])
            out.log_prior_ = float(fitted["log_prior"])
            out.auc_ = float(fitted["auc"])
            out.clipped_share_ = float(fitted["clipped_share"])
        return out


class _Weighted:
    """What the weighted set and interval policies share: the reference, the switch."""

    owner = "WeightedConformal"
    alpha: float

    def _init_weighted(self, ratio: DomainClassifier | None, max_reference: int) -> None:
        if ratio is not None and not isinstance(ratio, DomainClassifier):
            raise ConfigurationError(
                f"The 'ratio' parameter of {self.owner} must be a DomainClassifier or None. "
                f"Got {ratio!r} instead."
            )
        if (
            isinstance(max_reference, bool)
            or not isinstance(max_reference, (int, np.integer))
            or max_reference < 10
        ):
            raise ConfigurationError(
                f"The 'max_reference' parameter of {self.owner} must be an int >= 10. "
                f"Got {max_reference!r} instead."
            )
        self.ratio = DomainClassifier() if ratio is None else ratio
        self.max_reference = int(max_reference)
        self._switch = threading.Lock()
        self._shift: tuple[DomainClassifier, NDArray[np.float64]] | None = None

    def _keep_reference(
        self, X: Any, rows: NDArray[np.intp], scores: NDArray[np.float64], seed: int = 0
    ) -> None:
        """Keep (up to ``max_reference``) calibration inputs with their scores, sorted."""
        if X is None:
            raise ConfigurationError(
                f"{self.owner} keeps the calibration inputs to weigh them later: fit it in a "
                "guard, or call fit_with_inputs(d, X, y)."
            )
        if rows.shape[0] > self.max_reference:
            pick = np.sort(
                np.random.default_rng(seed).choice(rows.shape[0], self.max_reference, replace=False)
            )
            rows, scores = rows[pick], scores[pick]
        order = np.argsort(scores, kind="stable")
        self.reference_inputs_ = _as_matrix(self.owner, take_rows(X, rows[order]))
        self.reference_scores_ = np.asarray(scores[order], dtype=np.float64)
        with self._switch:
            self._shift = None

    @property
    def weighted(self) -> bool:
        """True while the policy weighs its calibration rows (after [`shift_to`][])."""
        return self._shift is not None

    def shift_to(self, X_target: Any) -> DomainClassifier:
        """Weigh calibration rows by the likelihood ratio of ``X_target`` to them.

        Fits a copy of ``ratio`` on the kept calibration inputs against ``X_target``
        (recent production inputs) and switches the policy to weighted sets; returns the
        fitted classifier (see its ``auc_`` and ``clipped_share_``). Thread-safe: a
        batch decided meanwhile uses the old or the new weights, never a mix.
        """
        if not hasattr(self, "reference_inputs_"):
            raise _not_fitted(self)  # type: ignore[arg-type]
        clf = DomainClassifier(clip=self.ratio.clip, features=self.ratio.features, C=self.ratio.C)
        clf.fit(self.reference_inputs_, X_target)
        self._activate(clf)
        return clf

    def _activate(self, clf: DomainClassifier) -> None:
        w = clf.ratio(self.reference_inputs_)
        with self._switch:
            self._shift = (clf, w)

    def unshift(self) -> None:
        """Back to unweighted split conformal (exchangeable sets, as before the shift)."""
        with self._switch:
            self._shift = None

    def _calibrated(self, rows: NDArray[np.intp], scores: NDArray[np.float64]) -> None:
        self._pending = (rows, scores)

    def _reference_from_fit(self, X: Any) -> None:
        rows, scores = self._pending
        del self._pending
        self._keep_reference(X, rows, scores)

    def adaptable(self) -> tuple[Any, ...]:
        return (self,)

    def _thresholds(self, X: Any, n: int) -> NDArray[np.float64] | None:
        """Per-row weighted thresholds, or None when not weighted."""
        shift = self._shift
        if shift is None:
            return None
        clf, w_cal = shift
        if X is None:
            raise ConfigurationError(
                f"{self.owner} in weighted mode reads the model inputs: use it in a guard, "
                "or call evaluate_with_inputs(d, X)."
            )
        try:
            w_test = clf.ratio(X)
        except InvalidInputError:
            w_test = np.full(n, clf.clip)  # unreadable rows: the widest weight
        if w_test.shape[0] != n:
            raise InvalidInputError(
                f"{self.owner}: the inputs have {w_test.shape[0]} rows, the decisions {n}."
            )
        return weighted_conformal_quantile(self.reference_scores_, w_cal, w_test, self.alpha)

    def _weighted_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "ratio": enc.component(self.ratio),
            "max_reference": self.max_reference,
        }
        if hasattr(self, "reference_inputs_"):
            shift = self._shift
            state["reference"] = {
                "inputs": enc.array(self.reference_inputs_),
                "scores": enc.array(self.reference_scores_),
                "shift": None if shift is None else enc.component(shift[0]),
            }
        return state

    def _load_weighted(self, state: dict[str, Any], dec: Decoder) -> None:
        ref = state.get("reference")
        if ref is not None:
            self.reference_inputs_ = dec.required_array(ref["inputs"])
            self.reference_scores_ = dec.required_array(ref["scores"])
            if ref["shift"] is not None:
                self._activate(dec.component(ref["shift"]))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_switch"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._switch = threading.Lock()


@persistable
class WeightedConformalSets(_Weighted, ConformalSets):
    """Conformal prediction sets that keep their coverage under covariate shift.

    Unweighted, it is exactly [`ConformalSets`][guardrails.ConformalSets] (marginal, same
    sets as MAPIE). After [`shift_to`][] (called by hand with recent inputs, or by the
    monitor's [`Reweight`][guardrails.Reweight] action while drift lasts), each row's
    threshold is the weighted conformal quantile with the likelihood ratio of the new
    inputs to the calibration inputs (see the module notes): the set holds the truth with
    probability at least ``1 - alpha`` on the shifted inputs, when the shift is one the
    [`DomainClassifier`][guardrails.DomainClassifier] can represent and ``P(y | x)``
    did not change. The price: sets grow where the new traffic is dense and calibration
    data were sparse; fewer effective calibration rows, so thresholds are noisier.

    Args:
        alpha: the miscoverage level in (0, 1).
        score: "lac", "aps" or "raps" (see [`ConformalSets`][guardrails.ConformalSets]).
        max_set_size: answer only when the set holds at most this many labels.
        penalty: the RAPS regularisation.
        k_reg: the RAPS regularisation.
        ratio: the [`DomainClassifier`][guardrails.DomainClassifier] settings (clip,
            features); a copy is fitted at each shift.
        max_reference: the most calibration rows (inputs and scores) kept for weighting; a
            random subset of this size when there are more (the guarantee holds with
            ``n = max_reference``). Kept inputs are saved with the guard.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(400, 2)); p = np.full((400, 2), 0.5); y = rng.integers(0, 2, 400)
        >>> d = Decisions(prediction=np.zeros(400, int), proba=p, classes=np.arange(2))
        >>> policy = WeightedConformalSets(alpha=0.1).fit_with_inputs(d, X, y)
        >>> _ = policy.shift_to(X + 1.0)
        >>> policy.weighted
        True
    """

    owner = "WeightedConformalSets"

    def __init__(
        self,
        alpha: float = 0.1,
        *,
        score: str = "lac",
        max_set_size: int | None = 1,
        penalty: float = 0.01,
        k_reg: int = 1,
        ratio: DomainClassifier | None = None,
        max_reference: int = 10_000,
    ) -> None:
        ConformalSets.__init__(
            self, alpha, score=score, max_set_size=max_set_size, penalty=penalty, k_reg=k_reg
        )
        self._init_weighted(ratio, max_reference)

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        return self.fit_with_inputs(d, None, y)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        if X is None:
            self._keep_reference(None, np.zeros(0, np.intp), np.zeros(0))
        ConformalSets.fit(self, d, y)
        self._reference_from_fit(X)
        return self

    def is_fitted(self) -> bool:
        return ConformalSets.is_fitted(self) and hasattr(self, "reference_scores_")

    def evaluate(self, d: Decisions) -> Verdict:
        return self.evaluate_with_inputs(d, None)

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        if not self.is_fitted():
            raise _not_fitted(self)
        q = self._thresholds(X, len(d))
        if q is None:
            return ConformalSets.evaluate(self, d)
        s = self.scores(d)
        with np.errstate(invalid="ignore"):
            sets: NDArray[np.bool_] = (s - q[:, np.newaxis]) <= TOLERANCE
        return self._verdict(d, sets)

    def __repr__(self) -> str:
        parts = [
            f"alpha={self.alpha!r}",
            f"score={self.score!r}",
            f"max_set_size={self.max_set_size!r}",
        ]
        if self.score == "raps":
            parts += [f"penalty={self.penalty!r}", f"k_reg={self.k_reg!r}"]
        parts += [f"ratio={self.ratio!r}", f"max_reference={self.max_reference!r}"]
        return f"WeightedConformalSets({', '.join(parts)})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state = ConformalSets._to_state(self, enc)
        for key in ("class_conditional", "groups", "randomized", "random_state"):
            del state[key]
        return {**state, **self._weighted_state(enc)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> WeightedConformalSets:
        out = cls(
            state["alpha"],
            score=state["score"],
            max_set_size=state["max_set_size"],
            penalty=state["penalty"],
            k_reg=state["k_reg"],
            ratio=dec.component(state["ratio"]),
            max_reference=state["max_reference"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            out.classes_ = dec.required_array(fitted["classes"])
            out.calibration_scores_ = dec.required_array(fitted["scores"])
            out.n_calibration_ = int(out.calibration_scores_.shape[0])
            out.thresholds_ = dec.required_array(fitted["thresholds"])
            out.group_labels_ = None
        out._load_weighted(state, dec)
        return out


@persistable
class WeightedConformalIntervals(_Weighted, ConformalIntervals):
    """Conformal prediction intervals that keep their coverage under covariate shift.

    Unweighted, it is exactly [`ConformalIntervals`][guardrails.ConformalIntervals]. After
    [`shift_to`][], each row's interval uses the weighted conformal quantile of the
    calibration scores (see [`WeightedConformalSets`][guardrails.WeightedConformalSets]
    for the guarantee, its conditions and its price). A row whose own weight leaves too
    little mass below the largest score gets the whole line.

    Args:
        alpha: the miscoverage level in (0, 1).
        score: "absolute", "normalized" or "cqr" (as in
            [`ConformalIntervals`][guardrails.ConformalIntervals]).
        scale: for "normalized".
        quantiles: for "cqr".
        max_width: withhold answers whose interval is wider than this.
        ratio: the [`DomainClassifier`][guardrails.DomainClassifier] settings.
        max_reference: the most calibration rows kept for weighting.
    """

    owner = "WeightedConformalIntervals"

    def __init__(
        self,
        alpha: float = 0.1,
        *,
        score: str = "absolute",
        scale: Any = None,
        quantiles: Any = None,
        max_width: float | None = None,
        ratio: DomainClassifier | None = None,
        max_reference: int = 10_000,
    ) -> None:
        ConformalIntervals.__init__(
            self, alpha, score=score, scale=scale, quantiles=quantiles, max_width=max_width
        )
        self._init_weighted(ratio, max_reference)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        if X is None:
            self._keep_reference(None, np.zeros(0, np.intp), np.zeros(0))
        ConformalIntervals.fit_with_inputs(self, d, X, y)
        self._reference_from_fit(X)
        return self

    def is_fitted(self) -> bool:
        return ConformalIntervals.is_fitted(self) and hasattr(self, "reference_scores_")

    def _intervals(
        self, d: Decisions, X: Any, threshold: float | None
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        if threshold is not None or not self.is_fitted():
            return ConformalIntervals._intervals(self, d, X, threshold)
        q = self._thresholds(X, len(d))
        if q is None:
            return ConformalIntervals._intervals(self, d, X, None)
        lower, upper, spread, ok = self._parts(d, X)
        with np.errstate(invalid="ignore"):
            lo = np.where(np.isinf(q), -np.inf, lower - q * spread)
            hi = np.where(np.isinf(q), np.inf, upper + q * spread)
        out = np.column_stack([lo, hi])
        out[~ok] = np.nan
        return out, ok

    def __repr__(self) -> str:
        inner = ConformalIntervals.__repr__(self)[len("ConformalIntervals(") : -1]
        return (
            f"WeightedConformalIntervals({inner}, ratio={self.ratio!r}, "
            f"max_reference={self.max_reference!r})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {**ConformalIntervals._to_state(self, enc), **self._weighted_state(enc)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> WeightedConformalIntervals:
        out = cls(
            state["alpha"],
            score=state["score"],
            scale=None if state["scale"] is None else dec.ref(state["scale"]),
            quantiles=None if state["quantiles"] is None else dec.ref(state["quantiles"]),
            max_width=state["max_width"],
            ratio=dec.component(state["ratio"]),
            max_reference=state["max_reference"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            scores = dec.required_array(fitted["scores"])
            out.calibration_scores_ = scores
            out.n_calibration_ = int(scores.shape[0])
            out.threshold_ = conformal_quantile(scores, out.alpha)
        out._load_weighted(state, dec)
        return out
