"""Per-row novelty gate: conformal p-values of "unlike the reference data", and its layer.

A [`NoveltyGate`][] is fitted on reference rows (the model's training data, or a sample of
it), then calibrated on held-out rows into conformal p-values: for a row ``x`` with
novelty score ``s(x)`` and calibration scores ``s_1..s_n``,

    p(x) = (1 + #{i : s_i >= s(x)}) / (n + 1)

A row is novel when ``p(x) <= alpha``. When in-distribution rows are exchangeable with
the calibration rows, the share of them flagged is at most ``alpha`` (exactly
``floor(alpha (n + 1)) / (n + 1)`` with continuous scores), whatever the score, the model
or its confidence. [`NoveltyGated`][] withholds such rows with ``Reason.NOVEL``;
``guard(model).novelty(X_train)`` puts it right outside validation.

Scores (higher is more novel): the mean distance to the ``n_neighbors`` nearest
reference rows after scaling, relative to those neighbours' own mean distance to theirs
("knn", exact, with scikit-learn's NearestNeighbors; ``relative=False`` for the plain one),
the Mahalanobis distance ("mahalanobis", Ledoit-Wolf covariance), the isolation depth of
an isolation forest ("isolation_forest"), or a plain function of rows to scores.
Numeric columns are standardised on the reference; categorical columns are one-hot
coded so that each differing category adds one to the squared distance, and a category
never seen in the reference makes the row's score infinite (always novel).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.layer import Call, Layer, take_rows
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.monitoring.novelty_scores import _Encoding, _Forest, _tree

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["SCORES", "NoveltyGate", "NoveltyGated", "conformal_p_values"]

SCORES: tuple[str, ...] = ("knn", "mahalanobis", "isolation_forest")
"""Names of the built-in novelty scores."""

Scorer = Callable[[Any], Any]
"""A plain function of rows ``(n_samples, ...)`` to scores ``(n_samples,)``, higher is
more novel."""


def conformal_p_values(
    calibration: NDArray[np.floating[Any]],
    scores: NDArray[np.floating[Any]],
    *,
    presorted: bool = False,
) -> NDArray[np.float64]:
    """Conformal p-values ``(1 + #{calibration >= score}) / (n + 1)``.

    Args:
        calibration: ``(n,)`` scores of held-out rows, or ``(m, n)``: ``m`` calibration
            sets at once (e.g. many random splits).
        scores: ``(t,)`` scores to turn into p-values, or ``(m, t)`` with one row per
            calibration set.
        presorted: ``calibration`` is already sorted ascending (1-D only).

    Returns:
        p-values shaped like ``scores``; NaN where the score is NaN.

    Examples:
        >>> import numpy as np
        >>> conformal_p_values(np.arange(9.0), np.array([-1.0, 4.0, 8.0, 99.0])).tolist()
        [1.0, 0.6, 0.2, 0.1]
    """
    cal = np.asarray(calibration, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if cal.ndim == 1 and s.ndim == 1:
        n = cal.shape[0]
        srt = cal if presorted else np.sort(cal)
        below = np.searchsorted(srt, s, side="left")
        p = (1.0 + n - below) / (n + 1.0)
    elif cal.ndim == 2 and s.ndim == 2 and cal.shape[0] == s.shape[0]:
        m, n = cal.shape
        t = s.shape[1]
        values = np.concatenate([cal, s], axis=1)
        is_cal = np.zeros((m, n + t), dtype=np.int8)
        is_cal[:, :n] = 1
        # at equal values a score sorts before the calibration entries, so the calibration
        # entries ahead of it are exactly those strictly below it
        order = np.lexsort((is_cal, values), axis=-1)
        cal_seen = np.cumsum(np.take_along_axis(is_cal, order, axis=1), axis=1)
        below_sorted = cal_seen.astype(np.float64)
        below = np.empty_like(below_sorted)
        np.put_along_axis(below, order, below_sorted, axis=1)
        p = (1.0 + n - below[:, n:]) / (n + 1.0)
    else:
        raise ConfigurationError(
            "conformal_p_values needs (n,) calibration and (t,) scores, or (m, n) and "
            f"(m, t). Got shapes {cal.shape} and {s.shape} instead."
        )
    return np.where(np.isnan(s), np.nan, p)


# -- the gate -----------------------------------------------------------------------------


def _check_alpha(owner: str, alpha: Any) -> float:
    ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if not ok or not (0.0 < float(alpha) < 1.0):
        raise ConfigurationError(
            f"The 'alpha' parameter of {owner} must be a float in (0, 1). Got {alpha!r} instead."
        )
    return float(alpha)


def _check_int(owner: str, name: str, value: Any, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be an int >= {low}. Got {value!r} instead."
        )
    return int(value)


@persistable
class NoveltyGate:
    """Conformal novelty p-values: fitted on reference rows, calibrated on held-out rows.

    Args:
        alpha: rows with a p-value at most ``alpha`` are novel; the share of
            in-distribution rows flagged is at most ``alpha``.
        score: "knn" (default), "mahalanobis", "isolation_forest", or a plain function of
            rows (or of embeddings, with ``embed``) to ``(n,)`` scores, higher is more novel,
            already fitted by you.
        n_neighbors: neighbours averaged by "knn" (20, as LocalOutlierFactor's default).
        relative: "knn" divides a row's mean neighbour distance by its neighbours' own
            (so a row in a sparse part of the reference is judged against that part, as
            LocalOutlierFactor does); False gives the plain mean distance.
        categorical: positions (or names, for a data frame) of categorical columns.
        embed: a function of rows to a 2-D numeric embedding (a model's penultimate
            layer, a text encoder); the gate then scores what the model sees.
        max_reference: reference rows kept (a uniform random sample beyond it; None keeps
            all). Any sample keeps the guarantee; fewer rows cost power (docs/novelty.md).
        n_estimators: trees of "isolation_forest".
        seed: seed of the reference sample and of the isolation forest.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> gate = NoveltyGate(alpha=0.05).fit(rng.normal(size=(500, 3)))
        >>> gate = gate.calibrate(rng.normal(size=(199, 3)))
        >>> gate.is_novel(np.array([[0.0, 0.0, 0.0], [9.0, 0.0, 0.0]])).tolist()
        [False, True]
    """

    def __init__(
        self,
        *,
        alpha: float = 0.01,
        score: str | Scorer = "knn",
        n_neighbors: int = 20,
        relative: bool = True,
        categorical: Sequence[int | str] = (),
        embed: Callable[[Any], Any] | None = None,
        max_reference: int | None = 50_000,
        n_estimators: int = 100,
        seed: int = 0,
    ) -> None:
        owner = "NoveltyGate"
        self.alpha = _check_alpha(owner, alpha)
        if not callable(score) and score not in SCORES:
            raise ConfigurationError(
                f"The 'score' parameter of {owner} must be one of {', '.join(SCORES)} or a "
                f"function of rows to scores. Got {score!r} instead."
            )
        self.score_name = score if isinstance(score, str) else "custom"
        self.scorer: Scorer | None = None if isinstance(score, str) else score
        self.n_neighbors = _check_int(owner, "n_neighbors", n_neighbors, 1)
        if not isinstance(relative, bool):
            raise ConfigurationError(
                f"The 'relative' parameter of {owner} must be a bool. Got {relative!r} instead."
            )
        self.relative = relative
        if isinstance(categorical, (str, bytes)) or not isinstance(categorical, Sequence):
            raise ConfigurationError(
                f"The 'categorical' parameter of {owner} must be a sequence of column "
                f"positions or names. Got {categorical!r} instead."
            )
        self.categorical = tuple(categorical)
        if embed is not None and not callable(embed):
            raise ConfigurationError(
                f"The 'embed' parameter of {owner} must be a function of rows to a 2-D "
                f"array, or None. Got {embed!r} instead."
            )
        if embed is not None and self.categorical:
            raise ConfigurationError(
                f"{owner} takes 'categorical' or 'embed', not both: an embedding is numeric."
            )
        self.embed = embed
        self.max_reference = (
            None if max_reference is None else _check_int(owner, "max_reference", max_reference, 2)
        )
        self.n_estimators = _check_int(owner, "n_estimators", n_estimators, 1)
        self.seed = _check_int(owner, "seed", seed, 0)
        self.encoding_: _Encoding | None = None
        self.reference_: NDArray[np.float64] | None = None
        self.reference_spread_: NDArray[np.float64] | None = None
        self.n_reference_seen_: int | None = None
        self.location_: NDArray[np.float64] | None = None
        self.precision_: NDArray[np.float64] | None = None
        self.forest_: _Forest | None = None
        self.calibration_scores_: NDArray[np.float64] | None = None
        self._tree: Any = None

    def __repr__(self) -> str:
        score = (
            self.score_name
            if self.scorer is None
            else getattr(self.scorer, "__qualname__", type(self.scorer).__name__)
        )
        parts = [f"alpha={self.alpha!r}", f"score={score!r}"]
        if self.score_name == "knn" and self.n_neighbors != 20:
            parts.append(f"n_neighbors={self.n_neighbors}")
        if self.score_name == "knn" and not self.relative:
            parts.append("relative=False")
        if self.categorical:
            parts.append(f"categorical={list(self.categorical)!r}")
        if self.embed is not None:
            parts.append(f"embed={getattr(self.embed, '__qualname__', 'function')}")
        if self.max_reference != 50_000:
            parts.append(f"max_reference={self.max_reference!r}")
        return f"NoveltyGate({', '.join(parts)})"

    # -- fitting -------------------------------------------------------------------------

    def fit(self, reference: Any) -> NoveltyGate:
        """Fit the scaling and the detector on ``reference`` rows ``(n_samples, n_features)``.

        Rows beyond ``max_reference`` are left out by a seeded uniform sample. Returns self.
        """
        rows = self._embedded(reference)
        n = len(rows)
        if n < 2:
            raise InvalidInputError(f"The novelty gate needs at least 2 reference rows; got {n}.")
        self.n_reference_seen_ = n
        if self.max_reference is not None and n > self.max_reference:
            keep = np.sort(
                np.random.default_rng(self.seed).choice(n, self.max_reference, replace=False)
            )
            rows = take_rows(rows, keep)
        if self.scorer is not None:
            self.encoding_ = None
            self.calibration_scores_ = None
            return self
        self.encoding_ = _Encoding.fit(rows, self.categorical)
        Z, _, _ = self.encoding_.transform(rows)
        self.reference_ = self.reference_spread_ = self.location_ = self.precision_ = None
        self.forest_ = None
        self._tree = None
        if self.score_name == "knn":
            if Z.shape[0] <= self.n_neighbors:
                raise InvalidInputError(
                    f"The novelty gate's knn score needs more than n_neighbors="
                    f"{self.n_neighbors} reference rows; got {Z.shape[0]}."
                )
            self.reference_ = Z
            self._tree = _tree(Z)
            if self.relative:
                # each reference row's own mean distance to its neighbours, itself left out
                dist, _ = self._tree.query(Z, k=self.n_neighbors + 1)
                self.reference_spread_ = np.asarray(dist[:, 1:].mean(axis=1), dtype=np.float64)
        elif self.score_name == "mahalanobis":
            from sklearn.covariance import LedoitWolf  # shrinks a singular covariance

            cov = LedoitWolf().fit(Z)
            self.location_ = np.asarray(cov.location_, dtype=np.float64)
            self.precision_ = np.asarray(cov.precision_, dtype=np.float64)
        else:
            self.forest_ = _Forest.fit(Z, self.n_estimators, self.seed)
        self.calibration_scores_ = None
        return self

    def calibrate(self, X_cal: Any) -> NoveltyGate:
        """Score held-out in-distribution rows (not reference rows); returns self.

        Raises:
            ConfigurationError: too few rows for any p-value to reach ``alpha``.
        """
        self._check_reference()
        s, nearest, _ = self._scores(X_cal)
        s = s[~np.isnan(s)]
        need = math.ceil(1.0 / self.alpha) - 1
        if s.shape[0] < need:
            raise ConfigurationError(
                f"The novelty gate needs at least {need} scorable calibration rows for "
                f"alpha={self.alpha} (no p-value can be <= alpha with fewer); got "
                f"{s.shape[0]}."
            )
        if nearest is not None and s.shape[0] >= 20 and float(np.mean(nearest == 0.0)) > 0.5:
            warnings.warn(
                "Most calibration rows of the novelty gate sit on top of reference rows: "
                "calibrate on held-out rows, not on the reference (training) rows, or "
                "nearly every new row will look novel.",
                GuardrailsWarning,
                stacklevel=2,
            )
        self.calibration_scores_ = np.sort(s)
        return self

    def _check_reference(self) -> None:
        if self.scorer is None and self.encoding_ is None:
            raise NotFittedError(
                "This NoveltyGate is not fitted yet: call fit(reference_rows) first."
            )

    def is_fitted(self) -> bool:
        """True once fitted on reference rows and calibrated."""
        return self.calibration_scores_ is not None

    def _embedded(self, X: Any) -> Any:
        if self.embed is None:
            return X
        Z = np.asarray(self.embed(X), dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] != len(X):
            raise InvalidInputError(
                f"The novelty gate's embed function must return (n_samples, n_dims) for "
                f"{len(X)} rows; got shape {Z.shape}."
            )
        return Z

    # -- scoring -------------------------------------------------------------------------

    def score(self, X: Any) -> NDArray[np.float64]:
        """Novelty scores ``(n,)``, higher is more novel: inf for a category never seen in
        the reference, NaN for a row with a missing or infinite number."""
        return self._scores(X)[0]

    def _scores(self, X: Any) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, Any]:
        """Scores, nearest reference distance (knn only) and the unseen-category positions."""
        self._check_reference()
        rows = self._embedded(X)
        if self.scorer is not None:
            s = np.asarray(self.scorer(rows), dtype=np.float64).reshape(-1)
            if s.shape[0] != len(rows):
                raise InvalidInputError(
                    f"The novelty gate's scorer returned {s.shape[0]} scores for {len(rows)} rows."
                )
            return s, None, None
        assert self.encoding_ is not None
        Z, bad, unseen = self.encoding_.transform(rows)
        nearest = None
        if Z.shape[0] == 0:
            s = np.zeros(0)
        elif self.score_name == "knn":
            dist, idx = self._tree.query(Z, k=self.n_neighbors)
            s = dist.mean(axis=1)
            nearest = dist[:, 0]
            if self.reference_spread_ is not None:
                spread = self.reference_spread_
                floor = max(float(np.median(spread)) * 1e-6, np.finfo(np.float64).tiny)
                s = s / np.maximum(spread[idx].mean(axis=1), floor)
        elif self.score_name == "mahalanobis":
            assert self.location_ is not None and self.precision_ is not None
            diff = Z - self.location_
            s = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", diff, self.precision_, diff), 0.0))
        else:
            assert self.forest_ is not None
            s = -self.forest_.depths(Z)
        s = np.where(unseen >= 0, np.inf, s)
        s = np.where(bad, np.nan, s)
        return s, nearest, unseen

    def p_values(self, X: Any) -> NDArray[np.float64]:
        """Conformal p-values ``(n,)`` (NaN for a row that cannot be scored)."""
        return self._p_values(self.score(X))

    def _p_values(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.calibration_scores_ is None:
            raise NotFittedError(
                "This NoveltyGate is not calibrated yet: call calibrate(X_cal) with held-out "
                "rows (a guard does it in fit)."
            )
        return conformal_p_values(self.calibration_scores_, s, presorted=True)

    def is_novel(self, X: Any, alpha: float | None = None) -> NDArray[np.bool_]:
        """``(n,)`` bool: p-value at most ``alpha`` (the gate's own by default), or a row
        that cannot be scored."""
        a = self.alpha if alpha is None else _check_alpha("is_novel", alpha)
        p = self.p_values(X)
        return np.asarray(np.isnan(p) | (p <= a))

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "alpha": self.alpha,
            "score": self.score_name,
            "n_neighbors": self.n_neighbors,
            "relative": self.relative,
            "categorical": list(self.categorical),
            "max_reference": self.max_reference,
            "n_estimators": self.n_estimators,
            "seed": self.seed,
            "n_reference_seen": self.n_reference_seen_,
            "encoding": None if self.encoding_ is None else self.encoding_.to_state(enc),
            "reference": enc.array(self.reference_),
            "reference_spread": enc.array(self.reference_spread_),
            "location": enc.array(self.location_),
            "precision": enc.array(self.precision_),
            "forest": None if self.forest_ is None else self.forest_.to_state(enc),
            "calibration": enc.array(self.calibration_scores_),
        }
        if self.scorer is not None:
            state["scorer"] = enc.ref(
                "novelty_scorer", "the novelty gate's score function", self.scorer, shown="type"
            )
        if self.embed is not None:
            state["embed"] = enc.ref(
                "novelty_embed", "the novelty gate's embed function", self.embed, shown="type"
            )
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> NoveltyGate:
        score: str | Scorer = state["score"]
        if score == "custom":
            score = dec.ref(state["scorer"])
        gate = cls(
            alpha=state["alpha"],
            score=score,
            n_neighbors=state["n_neighbors"],
            relative=state["relative"],
            categorical=list(state["categorical"]),
            embed=None if "embed" not in state else dec.ref(state["embed"]),
            max_reference=state["max_reference"],
            n_estimators=state["n_estimators"],
            seed=state["seed"],
        )
        seen = state["n_reference_seen"]
        gate.n_reference_seen_ = None if seen is None else int(seen)
        if state["encoding"] is not None:
            gate.encoding_ = _Encoding.from_state(state["encoding"], dec)
        ref = dec.array(state["reference"])
        if ref is not None:
            gate.reference_ = np.asarray(ref, dtype=np.float64)
            gate._tree = _tree(gate.reference_)
        spread = dec.array(state["reference_spread"])
        if spread is not None:
            gate.reference_spread_ = np.asarray(spread, dtype=np.float64)
            if gate.reference_ is None or spread.shape != (gate.reference_.shape[0],):
                raise ArtifactError("the saved novelty gate's reference arrays do not fit together")
        elif gate.relative and score == "knn":
            raise ArtifactError("the saved novelty gate lacks its reference spread")
        for name in ("location", "precision"):
            arr = dec.array(state[name])
            setattr(gate, f"{name}_", None if arr is None else np.asarray(arr, dtype=np.float64))
        if state["forest"] is not None:
            gate.forest_ = _Forest.from_state(state["forest"], dec)
        cal = dec.array(state["calibration"])
        gate.calibration_scores_ = None if cal is None else np.sort(np.asarray(cal, np.float64))
        needs = {"knn": gate.reference_, "mahalanobis": gate.precision_}
        if gate.scorer is None and (
            gate.encoding_ is None
            or (score in needs and needs[str(score)] is None)
            or (score == "isolation_forest" and gate.forest_ is None)
        ):
            raise ArtifactError(f"the saved novelty gate ({score!r}) lacks its fitted state")
        return gate


# -- the layer ----------------------------------------------------------------------------


@persistable
class NoveltyGated(PostLayer):
    """Withhold rows unlike the reference data with ``Reason.NOVEL``, whatever the model's
    confidence.

    ``fit(X_cal, y_cal)`` calibrates the gate on the held-out rows (the labels are not
    used) and withholds nothing; afterwards a row whose conformal p-value is at most
    ``alpha`` is withheld, its detail giving the p-value and, for "knn", the distance to
    the nearest reference row. Rows already withheld (invalid input, model errors) pass
    through unscored. The model still runs on a novel row: its answer stays the
    decision's ``candidate`` for review, never an answer.

    Args:
        inner: the layer or model inside.
        gate: a [`NoveltyGate`][] fitted on reference rows (its calibration is redone at
            ``fit``; the gate itself is shared, never changed).

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import Reason, guard
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(600, 2)); y = (X[:, 0] > 0).astype(int)
        >>> model = LogisticRegression().fit(X[:300], y[:300])
        >>> g = guard(model).novelty(X[:300], alpha=0.05).fit(X[300:], y[300:])
        >>> d = g.decide(np.array([[0.5, 0.0], [40.0, 0.0]]))
        >>> [str(r) for r in d.reasons()]
        ['none', 'novel']
    """

    name = "novelty"

    def __init__(self, inner: Any, *, gate: NoveltyGate) -> None:
        super().__init__(inner)
        if not isinstance(gate, NoveltyGate):
            raise ConfigurationError(
                f"The 'gate' parameter of NoveltyGated must be a NoveltyGate. Got {gate!r} instead."
            )
        gate._check_reference()
        self.gate = copy.copy(gate)  # shares the fitted detector; calibration is its own

    def __repr__(self) -> str:
        return f"NoveltyGated(gate={self.gate!r})"

    def is_fitted(self) -> bool:
        return self.gate.is_fitted()

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner.fit_call(X, y, call)
        rows = np.flatnonzero(~d.abstained)
        self.gate.calibrate(take_rows(_model_input(call, X), rows))
        return d

    def post(self, d: Decisions, call: Call) -> Decisions:
        rows = np.flatnonzero(~d.abstained)
        if rows.size == 0:
            return d
        s, nearest, unseen = self.gate._scores(take_rows(_model_input(call, call.raw), rows))
        p = self.gate._p_values(s)
        flag = np.isnan(p) | (p <= self.gate.alpha)
        if not flag.any():
            return d
        hit = rows[flag]
        mask = np.zeros(len(d), dtype=bool)
        mask[hit] = True
        detail = object_column(len(d))
        detail[hit] = self._details(p[flag], s[flag], nearest, unseen, flag)
        return d.withhold(mask, Reason.NOVEL, detail=detail)

    def _details(
        self,
        p: NDArray[np.float64],
        s: NDArray[np.float64],
        nearest: NDArray[np.float64] | None,
        unseen: Any,
        flag: NDArray[np.bool_],
    ) -> NDArray[Any]:
        """One detail text per flagged row, built column-wise."""
        g = self.gate
        head = np.char.add(
            np.char.add("novel: p=", np.char.mod("%.3g", np.nan_to_num(p))),
            f" <= alpha {g.alpha:g}",
        )
        if nearest is not None:
            tail = np.char.add(
                "; nearest reference row at scaled distance ", np.char.mod("%.3g", nearest[flag])
            )
        else:
            tail = np.char.add(f"; {g.score_name} score ", np.char.mod("%.3g", s))
        text = np.char.add(head, tail).astype(object)
        if unseen is not None and g.encoding_ is not None:
            u = unseen[flag]
            for k in np.unique(u[u >= 0]):  # per categorical column, never per row
                name = g.encoding_._name(int(g.encoding_.categorical[k]))
                text[u == k] = f"novel: column {name} holds a category never seen in the reference"
        nan = np.isnan(p)
        if nan.any():
            text[nan] = "novel: the row cannot be scored (a missing or infinite value)"
        return np.asarray(text, dtype=object)

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"gate": enc.component(self.gate)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> NoveltyGated:
        gate = dec.component(state["gate"])
        if not isinstance(gate, NoveltyGate):
            raise ArtifactError("the saved novelty step does not hold a NoveltyGate")
        return cls(inner, gate=gate)


def _model_input(call: Call, fallback: Any) -> Any:
    """The whole batch as the model saw it (validated rows when a validator made them)."""
    return fallback if call.model_input is None else call.model_input
