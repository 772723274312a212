"""The result types: a columnar [`Decisions`][] batch and a frozen [`Decision`][] row.

Every wrapper returns [`Decisions`][]. A row is either an *answer* (``abstained`` is
False) or a *non-answer* whose ``reason`` says why. Columns are numpy arrays with the
batch on axis 0; optional columns are ``None`` when no layer produced them.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from guardrails.core.coded import CodedText
from guardrails.core.decision import _REASON_OF, Decision, Reason
from guardrails.core.decision import PRIMARY as PRIMARY
from guardrails.core.errors import ConfigurationError

__all__ = ["PRIMARY", "Decision", "Decisions", "Reason"]


# Per-row columns besides the four that always exist (prediction, abstained, reason,
# stage), with the fill value used for rows a merge creates without data.
_OPTIONAL: dict[str, Any] = {
    "confidence": np.nan,
    "proba": np.nan,
    "scores": np.nan,
    "interval": np.nan,
    "pred_set": False,
    "review_id": None,
    "detail": None,
    "errors": None,
    "repaired": False,
    "tried": None,
    "overridden": 0,
    "overridden_detail": None,
}
# Reasons under which the model produced no usable output for the row.
_NO_CANDIDATE = frozenset(
    {Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN}
)
_ALWAYS = ("prediction", "abstained", "reason", "stage")
ROW_COLUMNS: tuple[str, ...] = _ALWAYS + tuple(_OPTIONAL)
_SLOTS: tuple[str, ...] = (*ROW_COLUMNS, "classes", "timings")
_FIELDS = frozenset(_SLOTS)
# the detail column is stored as given (an object column or a CodedText) in slot _detail
_STORED: tuple[str, ...] = tuple("_detail" if name == "detail" else name for name in _SLOTS)
_CHECKED = frozenset((*_OPTIONAL, "abstained", "reason", "stage"))  # per-row columns
_ALL_STORED = operator.attrgetter(*_STORED)  # every slot of a batch in one call


def object_column(n: int | tuple[int, ...], value: Any = None) -> NDArray[np.object_]:
    """An object array filled with ``value`` (much faster than ``np.full`` for objects)."""
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


def constant_column(n: int, value: Any) -> NDArray[np.object_]:
    """A read-only object column holding ``value`` in every one of ``n`` rows.

    Large batches get a broadcast view of one cell: no per-row fill (a ``(100000,)``
    fill costs about 0.2 ms, once per batch and per layer that names a stage). Columns are
    never written in place (every change copies), and the view makes that a rule.
    """
    if n < _BROADCAST_FROM:
        return object_column(n, value)
    cell = np.empty((), dtype=object)
    cell[()] = value
    out: NDArray[np.object_] = np.broadcast_to(cell, (n,))
    return out


_BROADCAST_FROM = 64


def _fill_like(column: NDArray[Any], n: int) -> NDArray[Any]:
    """A column of ``n`` rows shaped like ``column`` beyond axis 0, holding 'no data'."""
    shape = (n, *column.shape[1:])
    kind = column.dtype.kind
    if kind == "f":
        return np.full(shape, np.nan, dtype=column.dtype)
    if kind == "O":
        return object_column(shape)
    return np.zeros(shape, dtype=column.dtype)


def _common(a: NDArray[Any], b: NDArray[Any]) -> np.dtype[Any]:
    if a.dtype == b.dtype:
        return a.dtype
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        return np.result_type(a.dtype, b.dtype)
    return np.dtype(object)


def _as_label(value: Any) -> Any:
    """A numpy scalar as the plain Python value a user expects in a row."""
    return value.item() if isinstance(value, np.generic) else value


def _labels(classes: NDArray[Any]) -> tuple[Any, ...]:
    """Class labels as plain Python values (numbers and text come out of ``tolist``)."""
    if classes.dtype.kind in "biufcUS":
        return tuple(classes.tolist())
    return tuple(_as_label(c) for c in classes)


class Decisions:
    """A columnar batch of decisions, one row per input row.

    Columns (``n`` rows on axis 0; ``k`` classes):

    - ``prediction`` ``(n,)``: the model's candidate answer; read it only where ``answered``
      (use [`predictions`][] for a column with an abstention marker).
    - ``abstained`` ``(n,)`` bool; ``reason`` ``(n,)`` int8 codes of [`Reason`][];
      ``stage`` ``(n,)`` object: name of the stage that produced the row.
    - optional, ``None`` when no layer produced them: ``confidence`` ``(n,)``,
      ``proba`` ``(n, k)``, ``scores`` ``(n, k)`` raw model scores, ``interval`` ``(n, 2)``,
      ``pred_set`` ``(n, k)`` bool, ``review_id`` ``(n,)``, ``detail`` ``(n,)`` text,
      ``errors`` ``(n,)`` validation errors, ``repaired`` ``(n,)`` bool, ``tried`` ``(n,)``
      tuples of stage names, ``overridden`` ``(n,)`` int8 codes of the verdict a fallback
      stage overrode (0 where none), ``overridden_detail`` ``(n,)`` that verdict's detail.
    - ``classes`` ``(k,)`` and ``timings`` (seconds per stage for the batch) are not per row.

    Treat instances as immutable: every method returns a new batch. A column may be a
    read-only view (the ``stage`` column of a large batch answered by one stage is one
    name broadcast over the rows): copy it before changing it.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions, Reason
        >>> d = Decisions(prediction=np.array([1, 0]), abstained=np.array([False, True]),
        ...               reason=np.array([0, 1], dtype=np.int8))
        >>> d[1].reason, d[1].prediction
        (<Reason.LOW_CONFIDENCE: 1>, None)
        >>> d.predictions(marker=-1).tolist()
        [1, -1]
    """

    __slots__ = _STORED

    prediction: NDArray[Any]
    abstained: NDArray[np.bool_]
    reason: NDArray[np.int8]
    stage: NDArray[np.object_]
    confidence: NDArray[np.float64] | None
    proba: NDArray[np.float64] | None
    scores: NDArray[np.float64] | None
    interval: NDArray[np.float64] | None
    pred_set: NDArray[np.bool_] | None
    review_id: NDArray[np.object_] | None
    _detail: NDArray[np.object_] | CodedText | None
    errors: NDArray[np.object_] | None
    repaired: NDArray[np.bool_] | None
    tried: NDArray[np.object_] | None
    overridden: NDArray[np.int8] | None
    overridden_detail: NDArray[np.object_] | None
    classes: NDArray[Any] | None
    timings: dict[str, float]

    def __init__(
        self,
        *,
        prediction: NDArray[Any],
        abstained: NDArray[np.bool_] | None = None,
        reason: NDArray[np.int8] | None = None,
        stage: NDArray[np.object_] | str = PRIMARY,
        confidence: NDArray[np.float64] | None = None,
        proba: NDArray[np.float64] | None = None,
        scores: NDArray[np.float64] | None = None,
        interval: NDArray[np.float64] | None = None,
        pred_set: NDArray[np.bool_] | None = None,
        review_id: NDArray[np.object_] | None = None,
        detail: NDArray[np.object_] | CodedText | None = None,
        errors: NDArray[np.object_] | None = None,
        repaired: NDArray[np.bool_] | None = None,
        tried: NDArray[np.object_] | None = None,
        overridden: NDArray[np.int8] | None = None,
        overridden_detail: NDArray[np.object_] | None = None,
        classes: NDArray[Any] | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> None:
        prediction = np.asarray(prediction)
        if prediction.ndim != 1:
            raise ConfigurationError(
                f"Decisions.prediction must be 1-D (n_samples,). Got shape {prediction.shape}."
            )
        n = prediction.shape[0]
        self.prediction = prediction
        self.abstained = np.zeros(n, dtype=bool) if abstained is None else abstained
        if reason is None:
            reason = (
                np.zeros(n, dtype=np.int8)
                if abstained is None
                else np.where(self.abstained, Reason.LOW_CONFIDENCE, Reason.NONE).astype(np.int8)
            )
        self.reason = reason
        self.stage = constant_column(n, stage) if isinstance(stage, str) else stage
        self.confidence = confidence
        self.proba = proba
        self.scores = scores
        self.interval = interval
        self.pred_set = pred_set
        self.review_id = review_id
        self._detail = detail
        self.errors = errors
        self.repaired = repaired
        self.tried = tried
        self.overridden = overridden
        self.overridden_detail = overridden_detail
        self.classes = classes
        self.timings = dict(timings) if timings else {}
        # one test per column given (a loop over every column name costs more per row)
        if len(self.abstained) != n:
            _wrong_length("abstained", self.abstained, n)
        if len(self.reason) != n:
            _wrong_length("reason", self.reason, n)
        if len(self.stage) != n:
            _wrong_length("stage", self.stage, n)
        if confidence is not None and len(confidence) != n:
            _wrong_length("confidence", confidence, n)
        if proba is not None and len(proba) != n:
            _wrong_length("proba", proba, n)
        if scores is not None and len(scores) != n:
            _wrong_length("scores", scores, n)
        if interval is not None and len(interval) != n:
            _wrong_length("interval", interval, n)
        if pred_set is not None and len(pred_set) != n:
            _wrong_length("pred_set", pred_set, n)
        if review_id is not None and len(review_id) != n:
            _wrong_length("review_id", review_id, n)
        if detail is not None and len(detail) != n:
            _wrong_length("detail", detail, n)
        if errors is not None and len(errors) != n:
            _wrong_length("errors", errors, n)
        if repaired is not None and len(repaired) != n:
            _wrong_length("repaired", repaired, n)
        if tried is not None and len(tried) != n:
            _wrong_length("tried", tried, n)
        if overridden is not None and len(overridden) != n:
            _wrong_length("overridden", overridden, n)
        if overridden_detail is not None and len(overridden_detail) != n:
            _wrong_length("overridden_detail", overridden_detail, n)
        if self.abstained.dtype != np.bool_ or self.reason.dtype != np.int8:
            raise ConfigurationError("Decisions.abstained must be bool and reason int8.")

    @property
    def detail(self) -> NDArray[np.object_] | None:
        """``(n,)`` readable text per row, or None (built on first read when coded)."""
        raw = self._detail
        return raw.column() if isinstance(raw, CodedText) else raw

    @detail.setter
    def detail(self, value: NDArray[np.object_] | CodedText | None) -> None:
        self._detail = value

    def detail_of(self, i: int) -> Any:
        """Row ``i``'s detail (None without one), without building a coded column."""
        raw = self._detail
        return None if raw is None else raw[i]

    # -- construction helpers ------------------------------------------------------------

    @classmethod
    def withheld(
        cls,
        n: int,
        reason: Reason,
        *,
        stage: str = PRIMARY,
        detail: str | Sequence[str | None] | None = None,
        classes: NDArray[Any] | None = None,
        dtype: Any = object,
    ) -> Decisions:
        """A batch of ``n`` non-answers, all for ``reason``."""
        detail_col: NDArray[np.object_] | CodedText | None = None
        if isinstance(detail, str) and n >= _BROADCAST_FROM:
            detail_col = CodedText(np.ones(n, dtype=np.uint8), (detail,))
        elif detail is not None:
            detail_col = np.empty(n, dtype=object)
            detail_col[:] = [detail] * n if isinstance(detail, str) else list(detail)
        pred = object_column(n) if np.dtype(dtype) == object else None
        if pred is None:
            pred = _fill_like(np.empty(0, dtype=dtype), n)
        return cls(
            prediction=pred,
            abstained=np.ones(n, dtype=bool),
            reason=np.full(n, int(reason), dtype=np.int8),
            stage=stage,
            detail=detail_col,
            classes=classes,
        )

    def replace(self, **columns: Any) -> Decisions:
        """A copy with the given columns (or ``classes``/``timings``) replaced.

        The columns not given are shared with this batch (they are never written in place);
        only the given ones are checked, as the constructor would check them.
        """
        if not _FIELDS.issuperset(columns):
            unknown = sorted(columns.keys() - _FIELDS)
            raise ConfigurationError(f"Decisions has no column(s) {unknown}.")
        n = self.prediction.shape[0]
        prediction = columns.get("prediction", self.prediction)
        if (
            not isinstance(prediction, np.ndarray)
            or prediction.shape != (n,)  # the row count may change: check everything
            or isinstance(columns.get("stage"), str)
            or ("abstained" in columns and columns["abstained"] is None)
            or ("reason" in columns and columns["reason"] is None)
        ):
            values = {name: getattr(self, name) for name in _SLOTS}
            values.update(columns)
            return Decisions(**values)
        out = object.__new__(Decisions)
        # every slot from this batch at once, then the given columns over them
        for slot, value in zip(_STORED, _ALL_STORED(self)):
            setattr(out, slot, value)
        for name, value in columns.items():
            setattr(out, "_detail" if name == "detail" else name, value)
        timings = columns.get("timings", self.timings)
        out.timings = dict(timings) if timings else {}
        for name, column in columns.items():
            if name in _CHECKED and column is not None and len(column) != n:
                raise ConfigurationError(
                    f"Decisions column {name!r} has {len(column)} rows; prediction has {n}."
                )
        if ("abstained" in columns or "reason" in columns) and (
            out.abstained.dtype != np.bool_ or out.reason.dtype != np.int8
        ):
            raise ConfigurationError("Decisions.abstained must be bool and reason int8.")
        return out

    def withhold(
        self,
        mask: NDArray[np.bool_],
        reason: Reason | NDArray[np.int8],
        *,
        detail: str | NDArray[np.object_] | CodedText | None = None,
    ) -> Decisions:
        """A copy where rows in ``mask`` that were answered become non-answers for ``reason``.

        Rows already withheld keep their first reason: the innermost layer that withheld a
        row knows best why.
        """
        if self.prediction.shape[0] == 1:  # one record: no mask arithmetic
            if not mask[0] or self.abstained[0]:
                return self
            code = int(reason[0]) if isinstance(reason, np.ndarray) else int(reason)
            # np.ones and np.full are Python-level functions: for one row, literals are cheaper
            one: dict[str, Any] = {
                "abstained": np.array([True]),
                "reason": np.array([code], dtype=np.int8),
            }
            if detail is not None:
                # the only row is overwritten: a new column, not a copy of the old one
                col = object_column(1)
                col[0] = detail[0] if isinstance(detail, (np.ndarray, CodedText)) else detail
                one["detail"] = col
            return self.replace(**one)
        newly = mask & ~self.abstained
        if not newly.any():
            return self
        abstained = self.abstained | newly
        # the new code where newly withheld, the old one elsewhere: old + (new - old) * newly,
        # in int8 arithmetic, which wraps exactly (a masked copyto costs 20x more)
        codes = np.subtract(
            reason if isinstance(reason, np.ndarray) else np.int8(int(reason)),
            self.reason,
            dtype=np.int8,
        )
        codes *= newly.view(np.int8)
        codes += self.reason
        changes: dict[str, Any] = {"abstained": abstained, "reason": codes}
        if isinstance(detail, CodedText) and self._detail is None:
            changes["detail"] = detail.where(newly)  # codes: no object column is built
        elif detail is not None:
            col = object_column(len(self)) if self.detail is None else self.detail.copy()
            given = detail.column() if isinstance(detail, CodedText) else detail
            np.copyto(col, given, where=newly)
            changes["detail"] = col
        return self.replace(**changes)

    # -- sizes and views -----------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.prediction.shape[0])

    @property
    def answered(self) -> NDArray[np.bool_]:
        """``(n,)`` bool: rows that carry an answer."""
        return ~self.abstained

    @property
    def abstention_rate(self) -> float:
        """Share of rows withheld (0.0 for an empty batch)."""
        return float(self.abstained.mean()) if len(self) else 0.0

    def reasons(self) -> list[Reason]:
        """The reason of every row as [`Reason`][] members."""
        return [Reason(int(code)) for code in self.reason]

    def reason_counts(self) -> dict[str, int]:
        """How many rows were withheld for each reason, by stable name."""
        codes, counts = np.unique(self.reason[self.abstained], return_counts=True)
        return {str(Reason(int(c))): int(k) for c, k in zip(codes, counts)}

    def stage_counts(self) -> dict[str, int]:
        """How many answered rows each stage produced."""
        names, counts = np.unique(self.stage[~self.abstained].astype(str), return_counts=True)
        return {str(s): int(k) for s, k in zip(names, counts)}

    def predictions(self, marker: Any = None) -> NDArray[Any]:
        """The prediction column with ``marker`` in every withheld row.

        The dtype is kept when ``marker`` fits it (e.g. ``-1`` for integer labels, NaN for
        regression); otherwise the column becomes ``object``.
        """
        out: NDArray[Any] = self.prediction
        if not self.abstained.any():
            return np.array(out, copy=True)
        try:
            fits = np.can_cast(np.min_scalar_type(marker), out.dtype, "same_kind")
        except TypeError:
            fits = False
        if marker is None or not fits:
            out = out.astype(object)
        else:
            out = out.copy()
        out[self.abstained] = marker
        return out

    def __iter__(self) -> Iterator[Decision]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: int) -> Decision:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"Decisions[...] takes one row index; got {type(index).__name__}. "
                "Use Decisions.take(indices) for several rows."
            )
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"row {index} is out of range for {n} decisions")
        i = int(index) % n
        abstained = bool(self.abstained[i])
        code = int(self.reason[i])
        reason = _REASON_OF[code] if 0 <= code < len(_REASON_OF) else Reason(code)
        candidate = None if reason in _NO_CANDIDATE else _as_label(self.prediction[i])
        classes = None if self.classes is None else _labels(self.classes)
        confidence = None if self.confidence is None else float(self.confidence[i])
        proba = None if self.proba is None else tuple(map(float, self.proba[i].tolist()))
        interval = None if self.interval is None else tuple(self.interval[i].tolist())
        tried = None if self.tried is None else self.tried[i]
        overridden = None if self.overridden is None else int(self.overridden[i])
        errors = None if self.errors is None else self.errors[i]
        stage = str(self.stage[i])
        # a frozen dataclass sets its fields one object.__setattr__ at a time; a row is
        # built on every decide_one, so its fields go into the instance dict at once
        row = object.__new__(Decision)
        row.__dict__.update(
            prediction=None if abstained else candidate,
            abstained=abstained,
            reason=reason,
            stage=stage,
            confidence=None if confidence is None or confidence != confidence else confidence,
            proba=None if proba is None or all(p != p for p in proba) else proba,
            classes=classes,
            interval=None
            if interval is None or all(v != v for v in interval)
            else (float(interval[0]), float(interval[1])),
            prediction_set=None
            if self.pred_set is None or classes is None
            else tuple(c for c, inside in zip(classes, self.pred_set[i].tolist()) if inside),
            candidate=candidate,
            review_id=None if self.review_id is None else self.review_id[i],
            detail=None if self._detail is None else self._detail[i],
            errors=None if errors is None else tuple(errors),
            repaired=bool(self.repaired[i]) if self.repaired is not None else False,
            stages_tried=tuple(tried) if tried is not None else (stage,),
            overridden=(
                _REASON_OF[overridden] if 0 < overridden < len(_REASON_OF) else Reason(overridden)
            )
            if overridden
            else None,
            overridden_detail=None if self.overridden_detail is None else self.overridden_detail[i],
            timings=self.timings,
        )
        return row

    # -- row algebra: what a fallback needs ------------------------------------------------

    def take(self, indices: Sequence[int] | NDArray[Any]) -> Decisions:
        """The rows at ``indices`` (ints or a boolean mask), in that order."""
        idx = _as_index(indices, len(self))
        values: dict[str, Any] = {
            name: None if getattr(self, name) is None else getattr(self, name)[idx]
            for name in ROW_COLUMNS
        }
        return Decisions(**values, classes=self.classes, timings=self.timings)

    def merge(self, indices: Sequence[int] | NDArray[Any], other: Decisions) -> Decisions:
        """A copy where the rows at ``indices`` are replaced by the rows of ``other``.

        ``other`` has one row per index, in the same order. Columns that only one side has
        are created and filled with 'no data'; probability columns over different class
        sets are aligned by label. Timings add up.
        """
        idx = _as_index(indices, len(self))
        if len(idx) != len(other):
            raise ConfigurationError(
                f"merge needs one row of other per index; got {len(idx)} indices "
                f"and {len(other)} rows."
            )
        n = len(self)
        classes = self.classes if self.classes is not None else other.classes
        values: dict[str, Any] = {}
        for name in ROW_COLUMNS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name in ("proba", "scores", "pred_set") and theirs is not None:
                theirs = _align_classes(theirs, other.classes, classes, _OPTIONAL[name])
                if theirs is None:
                    values[name] = mine
                    continue
            if theirs is None:
                if mine is None or name in _ALWAYS:
                    values[name] = mine
                else:
                    out = mine.copy()
                    out[idx] = _fill_like(mine, len(idx))
                    values[name] = out
                continue
            if mine is None:
                mine = _fill_like(theirs, n)
                if name in _OPTIONAL:
                    mine[...] = _OPTIONAL[name]
            elif mine.shape[1:] != theirs.shape[1:]:
                values[name] = mine  # incompatible layouts (e.g. interval vs none): keep ours
                continue
            out = mine.astype(_common(mine, theirs), copy=True)
            out[idx] = theirs
            values[name] = out
        timings = dict(self.timings)
        for key, seconds in other.timings.items():
            timings[key] = timings.get(key, 0.0) + seconds
        return Decisions(**values, classes=classes, timings=timings)

    @classmethod
    def concat(cls, batches: Sequence[Decisions]) -> Decisions:
        """One batch holding the rows of ``batches`` one after another.

        Linear in the number of rows: each column is built by one concatenation of the
        batches' columns (probabilities aligned to the first class list, a column that
        some batches lack filled with 'no data' for their rows), as merging the batches
        one by one would, without copying the growing result once per batch.
        """
        if not batches:
            raise ConfigurationError("Decisions.concat needs at least one batch.")
        if len(batches) == 1:
            return batches[0]
        # the class list in force at each batch: the first one given so far
        classes: NDArray[Any] | None = None
        in_force: list[NDArray[Any] | None] = []
        for batch in batches:
            if classes is None:
                classes = batch.classes
            in_force.append(classes)
        base: dict[str, NDArray[Any]] = {
            "prediction": batches[0].prediction[:0],
            "abstained": np.zeros(0, dtype=bool),
            "reason": np.zeros(0, dtype=np.int8),
            "stage": object_column(0),
        }
        values: dict[str, Any] = {}
        for name in ROW_COLUMNS:
            reference = base.get(name)
            dtype = None if reference is None else reference.dtype
            parts: list[NDArray[Any] | None] = []
            for batch, to_classes in zip(batches, in_force):
                theirs = getattr(batch, name)
                if name in ("proba", "scores", "pred_set") and theirs is not None:
                    theirs = _align_classes(theirs, batch.classes, to_classes, _OPTIONAL[name])
                if theirs is not None:
                    if reference is None:
                        reference, dtype = theirs, theirs.dtype
                    elif theirs.shape[1:] != reference.shape[1:]:
                        theirs = None  # incompatible layouts (e.g. interval vs none)
                    else:
                        assert dtype is not None
                        dtype = _common(np.empty(0, dtype=dtype), theirs)
                parts.append(theirs)
            if reference is None:
                values[name] = None
                continue
            values[name] = np.concatenate(
                [
                    _fill_like(reference, len(batch)).astype(dtype, copy=False)
                    if part is None
                    else part.astype(dtype, copy=False)
                    for part, batch in zip(parts, batches)
                ]
            )
        timings: dict[str, float] = {}
        for batch in batches:
            for key, seconds in batch.timings.items():
                timings[key] = timings.get(key, 0.0) + seconds
        return cls(**values, classes=classes, timings=timings)

    # -- export --------------------------------------------------------------------------

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per row (see [`Decision.to_dict`][])."""
        return [row.to_dict() for row in self]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (needs the ``pandas`` extra)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Decisions.to_frame needs pandas: pip install 'predict-guardrails[pandas]'"
            ) from exc
        return pd.DataFrame.from_records(self.to_records())

    # -- comparison and display ------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decisions):
            return NotImplemented
        if len(self) != len(other):
            return False
        for name in (*ROW_COLUMNS, "classes"):
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is None:
                continue
            if a.shape != b.shape:
                return False
            if a.dtype.kind in "fc" and b.dtype.kind in "fc":
                if not np.array_equal(a, b, equal_nan=True):
                    return False
            elif not all(_same(x, y) for x, y in zip(a.ravel(), b.ravel())):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        n = len(self)
        answered = int((~self.abstained).sum())
        parts = [f"n={n}", f"answered={answered}"]
        if n - answered:
            reasons = ", ".join(f"{k}={v}" for k, v in self.reason_counts().items())
            parts.append(f"abstained={n - answered} ({reasons})")
        stages = self.stage_counts()
        if stages:
            parts.append("stages=(" + ", ".join(f"{k}={v}" for k, v in stages.items()) + ")")
        return f"Decisions({', '.join(parts)})"


def _wrong_length(name: str, column: Any, n: int) -> None:
    raise ConfigurationError(
        f"Decisions column {name!r} has {len(column)} rows; prediction has {n}."
    )


def _as_index(indices: Sequence[int] | NDArray[Any], n: int) -> NDArray[np.intp]:
    """Row indices as an integer array (a boolean mask becomes the rows it selects)."""
    idx = np.asarray(indices)
    if idx.dtype == np.bool_:
        if idx.shape != (n,):
            raise ConfigurationError(f"a row mask needs {n} entries; got shape {idx.shape}.")
        return np.flatnonzero(idx)
    if idx.size == 0:
        return np.empty(0, dtype=np.intp)
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise ConfigurationError(f"row indices must be 1-D integers; got {idx.dtype} {idx.shape}.")
    return idx.astype(np.intp, copy=False)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return a is b


def _align_classes(
    column: NDArray[Any],
    from_classes: NDArray[Any] | None,
    to_classes: NDArray[Any] | None,
    fill: Any,
) -> NDArray[Any] | None:
    """``column`` (rows x from_classes) reordered to ``to_classes``; None if impossible."""
    if from_classes is None or to_classes is None:
        return column if to_classes is None or column.shape[1] == len(to_classes) else None
    if len(from_classes) == len(to_classes) and np.array_equal(from_classes, to_classes):
        return column
    position = {_as_label(c): j for j, c in enumerate(from_classes)}
    out = np.full((column.shape[0], len(to_classes)), fill, dtype=column.dtype)
    for j, label in enumerate(to_classes):
        src = position.get(_as_label(label))
        if src is not None:
            out[:, j] = column[:, src]
    return cast(NDArray[Any], out)
