"""Batch scoring on Apache Spark: run a fitted guard over a large table with ``mapInPandas``.

The guard travels to the executors as its saved artifact (JSON plus arrays, the same
file [`save`][guardrails.Guard.save] writes) and the model travels the way Spark ships any
Python object; each partition loads the guard once and decides its Arrow batches with
the same code as an in-process ``guard.decide``, so the decisions are the same.

Needs the ``spark`` extra (``pip install 'predict-guardrails[spark]'``: pyspark, pyarrow,
pandas < 3). Set ``PYSPARK_PYTHON`` to the Python that has guardrails installed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from guardrails.builder import Guard
from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import ConfigurationError
from guardrails.loading import artifact_bytes, load_bytes
from guardrails.monitoring.drift import DriftProfile

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

    from guardrails.monitoring.drift import DriftProfile, DriftReport, WindowState

__all__ = [
    "decide_frame",
    "decisions_schema",
    "decode_state",
    "drift_report",
    "encode_state",
    "partition_state",
]

InputKind = Literal["array", "frame", "records"]
S = TypeVar("S")

# reason code -> stable name, for the flat "reason" column
_REASON_NAMES = {int(r): str(r) for r in Reason}
# rows the model produced no output for: not observed by drift statistics (as Monitored)
_NO_OUTPUT = [
    int(r) for r in (Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN)
]


def _spark_types() -> Any:
    try:
        from pyspark.sql import types
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "guardrails.spark needs pyspark: pip install 'predict-guardrails[spark]'"
        ) from exc
    return types


def _label_type(classes: NDArray[Any] | None, task: str) -> DataType:
    T = _spark_types()
    if task == "regression":
        return cast("DataType", T.DoubleType())
    if classes is None:
        return cast("DataType", T.StringType())
    kind = classes.dtype.kind
    if kind == "b":
        return cast("DataType", T.BooleanType())
    if kind in "iu":
        return cast("DataType", T.LongType())
    if kind == "f":
        return cast("DataType", T.DoubleType())
    return cast("DataType", T.StringType())


def _proba_columns(classes: NDArray[Any]) -> list[str]:
    return [f"proba_{c}" for c in classes.tolist()]


def decisions_schema(
    g: Guard,
    *,
    keep: StructType | None = None,
    proba: bool = False,
    interval: bool = False,
) -> StructType:
    """The Spark schema of [`decide_frame`][]'s output for guard ``g``.

    Columns: the ``keep`` columns first, then ``prediction`` (null when withheld; the
    label type: long, double, boolean or string), ``abstained`` (boolean), ``reason``
    (stable name such as ``"low_confidence"``; ``"none"`` for an answer), ``reason_code``
    (int), ``stage`` (string), ``confidence`` (double, null when unknown), ``detail``
    (string, null when none), then ``proba_<class>`` per class and ``interval_low`` /
    ``interval_high`` when asked for.
    """
    T = _spark_types()
    fields = list(keep.fields) if keep is not None else []
    fields += [
        T.StructField("prediction", _label_type(g.classes_, g.task), True),
        T.StructField("abstained", T.BooleanType(), False),
        T.StructField("reason", T.StringType(), False),
        T.StructField("reason_code", T.IntegerType(), False),
        T.StructField("stage", T.StringType(), False),
        T.StructField("confidence", T.DoubleType(), True),
        T.StructField("detail", T.StringType(), True),
    ]
    if proba:
        if g.classes_ is None:
            raise ConfigurationError("proba=True needs a classifier; this guard is a regressor.")
        fields += [T.StructField(name, T.DoubleType(), True) for name in _proba_columns(g.classes_)]
    if interval:
        fields += [
            T.StructField("interval_low", T.DoubleType(), True),
            T.StructField("interval_high", T.DoubleType(), True),
        ]
    return cast("StructType", T.StructType(fields))


def _nullable(values: NDArray[Any], missing: NDArray[np.bool_], dtype: str) -> Any:
    """A pandas masked array of ``values`` with nulls where ``missing`` (Arrow: null)."""
    import pandas as pd

    if dtype == "Int64":
        filled = np.where(missing, 0, values).astype(np.int64)
        return pd.arrays.IntegerArray(filled, missing.copy())
    if dtype == "Float64":
        filled = np.where(missing, 0.0, values).astype(np.float64)
        return pd.arrays.FloatingArray(filled, missing.copy())
    if dtype == "boolean":
        filled = np.where(missing, False, values).astype(bool)
        return pd.arrays.BooleanArray(filled, missing.copy())
    text = values.astype(str).astype(object)
    text[missing] = None
    return pd.array(text, dtype="string")


def _flat(
    d: Decisions,
    classes: NDArray[Any] | None,
    label: DataType,
    *,
    proba: bool,
    interval: bool,
) -> dict[str, Any]:
    """The decisions as flat, Arrow-friendly pandas columns."""
    T = _spark_types()
    withheld = d.abstained
    pred = d.prediction
    if isinstance(label, T.LongType):
        prediction = _nullable(pred, withheld, "Int64")
    elif isinstance(label, T.DoubleType):
        prediction = _nullable(pred.astype(np.float64), withheld, "Float64")
    elif isinstance(label, T.BooleanType):
        prediction = _nullable(pred, withheld, "boolean")
    else:
        prediction = _nullable(pred, withheld, "string")
    n = len(d)
    nan = np.full(n, np.nan)
    conf = nan if d.confidence is None else d.confidence
    detail = d.detail if d.detail is not None else np.full(n, None, dtype=object)
    columns: dict[str, Any] = {
        "prediction": prediction,
        "abstained": withheld,
        "reason": [_REASON_NAMES[int(c)] for c in d.reason],
        "reason_code": d.reason.astype(np.int32),
        "stage": d.stage.astype(str),
        "confidence": _nullable(conf, np.isnan(conf), "Float64"),
        "detail": [None if v is None else str(v) for v in detail],
    }
    if proba and classes is not None:
        p = d.proba if d.proba is not None else np.full((n, len(classes)), np.nan)
        for j, name in enumerate(_proba_columns(classes)):
            columns[name] = _nullable(p[:, j], np.isnan(p[:, j]), "Float64")
    if interval:
        iv = d.interval if d.interval is not None else np.full((n, 2), np.nan)
        columns["interval_low"] = _nullable(iv[:, 0], np.isnan(iv[:, 0]), "Float64")
        columns["interval_high"] = _nullable(iv[:, 1], np.isnan(iv[:, 1]), "Float64")
    return columns


def _input(batch: pd.DataFrame, features: list[str], kind: InputKind) -> Any:
    rows = batch[features]
    if kind == "array":
        return rows.to_numpy()
    if kind == "frame":
        return rows.reset_index(drop=True)
    return rows.to_dict(orient="records")


def _check_columns(df: DataFrame, names: Sequence[str], what: str) -> list[str]:
    if isinstance(names, str) or not all(isinstance(c, str) for c in names):
        raise ConfigurationError(
            f"The {what!r} parameter must be a list of column names. Got {names!r} instead."
        )
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ConfigurationError(
            f"The {what!r} parameter names columns the table does not have: {missing}. "
            f"The table has {df.columns}."
        )
    return list(names)


def decide_frame(
    df: DataFrame,
    g: Guard,
    *,
    features: Sequence[str],
    keep: Sequence[str] = (),
    input: InputKind = "array",
    proba: bool = False,
    interval: bool = False,
    objects: Mapping[str, Any] | None = None,
) -> DataFrame:
    """Decide every row of a Spark table with guard ``g``; one output row per input row.

    Args:
        df: the table.
        g: a fitted guard (it must save: every layer persistable).
        features: the columns the model reads, in the model's order.
        keep: columns copied to the output unchanged (an id, to join the decisions back).
        input: what each batch becomes before ``g.decide``: ``"array"`` (a 2-D numpy
            array of ``features``), ``"frame"`` (a pandas data frame, for models trained
            on named columns) or ``"records"`` (a list of dicts, for a validating schema).
        proba: add one ``proba_<class>`` column per class.
        interval: add ``interval_low`` and ``interval_high`` (conformal regression).
        objects: what [`guardrails.load`][] needs besides the model (e.g. ``schema=``).

    Returns:
        A lazy Spark DataFrame with the schema of [`decisions_schema`][].

    Raises:
        ConfigurationError: a column is missing or a setting is invalid.
        NotFittedError: the guard is not fitted.
    """
    if not isinstance(g, Guard):
        raise ConfigurationError(
            f"decide_frame needs a guard made with guardrails.guard(...). Got {type(g).__name__}."
        )
    if input not in ("array", "frame", "records"):
        raise ConfigurationError(
            f"The 'input' parameter of decide_frame must be 'array', 'frame' or 'records'. "
            f"Got {input!r} instead."
        )
    feats = _check_columns(df, features, "features")
    kept = _check_columns(df, keep, "keep")
    if not feats:
        raise ConfigurationError("The 'features' parameter of decide_frame is empty.")
    T = _spark_types()
    schema = decisions_schema(
        g, keep=T.StructType([df.schema[c] for c in kept]), proba=proba, interval=interval
    )
    blob = artifact_bytes(g)  # also checks that the guard is fitted and saves
    model = g.model
    extra = dict(objects or {})
    classes = g.classes_
    label = schema["prediction"].dataType
    kind: InputKind = input

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        local = load_bytes(blob, model=model, **extra)
        for batch in batches:
            d = local.decide(_input(batch, feats, kind))
            columns = {c: batch[c].to_numpy() for c in kept}
            columns.update(_flat(d, classes, label, proba=proba, interval=interval))
            yield pd.DataFrame(columns, index=None)

    return df.select(*dict.fromkeys([*kept, *feats])).mapInPandas(run, schema)


def partition_state(
    df: DataFrame,
    *,
    features: Sequence[str],
    state: Callable[[Any], S],
    merge: Callable[[S, S], S],
    input: InputKind = "array",
) -> S:
    """Compute a mergeable summary per partition and merge the partitions' into one.

    This is the hook for statistics that must see the whole table, such as drift: each
    Arrow batch becomes ``state(X)`` on the executor, batches and then partitions are
    combined with ``merge``, and the driver gets one value. ``merge`` must be associative
    (counts, sums, histograms and sketches are) so that the result equals ``state`` of
    the whole table.

    A state is a numpy array, a number, or a mapping of names to arrays and numbers
    (what [`WindowState.to_arrays`][guardrails.WindowState.to_arrays] gives). It
    travels back to the driver as ``.npz`` bytes read with ``allow_pickle=False``, never
    pickled, so nothing here unpickles.

    Args:
        df: the table.
        features: the columns ``state`` reads, in order.
        state: ``X -> state`` for one batch (``X`` as chosen by ``input``).
        merge: ``(a, b) -> state`` combining two states.
        input: ``"array"``, ``"frame"`` or ``"records"``, as in [`decide_frame`][].

    Returns:
        The merged state.

    Raises:
        ConfigurationError: a column is missing, the table is empty, or a state is not
            an array, a number or a mapping of names to those.
    """
    if not callable(state) or not callable(merge):
        raise ConfigurationError(
            "The 'state' and 'merge' parameters of partition_state must be callables. "
            f"Got {state!r} and {merge!r}."
        )
    feats = _check_columns(df, features, "features")
    T = _spark_types()
    schema = T.StructType([T.StructField("state", T.BinaryType(), False)])
    kind: InputKind = input

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        acc: Any = None
        seen = False
        for batch in batches:
            if len(batch) == 0:
                continue
            s = state(_input(batch, feats, kind))
            acc = s if not seen else merge(acc, s)
            seen = True
        if seen:
            yield pd.DataFrame({"state": [encode_state(acc)]})

    rows = df.select(*feats).mapInPandas(run, schema).collect()
    if not rows:
        raise ConfigurationError("partition_state got an empty table: there is nothing to merge.")
    states = [decode_state(r["state"]) for r in rows]
    out = states[0]
    for s in states[1:]:
        out = merge(out, s)
    return out  # type: ignore[no-any-return]


_ARRAY, _SCALAR, _EMPTY = "__array__", "__scalar__", "__empty_mapping__"


def _plain(name: str, value: Any) -> tuple[str, NDArray[Any]]:
    if isinstance(value, (bool, int, float, np.generic)) and not isinstance(value, np.object_):
        return f"s.{name}", np.asarray(value)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return f"a.{name}", value
    raise ConfigurationError(
        "A partition_state state must be a numpy array, a number, or a mapping of str "
        f"names to arrays and numbers (it travels as .npz, never pickled). Got "
        f"{type(value).__name__} for {name!r}."
    )


def encode_state(state: Any) -> bytes:
    """``state`` (an array, a number, or a mapping of str to those) as ``.npz`` bytes.

    Examples:
        >>> import numpy as np
        >>> from guardrails.spark import decode_state, encode_state
        >>> back = decode_state(encode_state({"rows": 3, "counts": np.array([1, 2])}))
        >>> back["rows"], back["counts"].tolist()
        (3, [1, 2])
    """
    if isinstance(state, Mapping):
        members: dict[str, NDArray[Any]] = {}
        for name, value in state.items():
            if not isinstance(name, str):
                raise ConfigurationError(
                    "A partition_state state mapping must have str keys. "
                    f"Got {type(name).__name__}."
                )
            key, arr = _plain(name, value)
            members[key] = arr
        if not members:
            members[_EMPTY] = np.zeros(0)
    else:
        key, arr = _plain("state", state)
        members = {_SCALAR if key.startswith("s.") else _ARRAY: arr}
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **members)
    return buf.getvalue()


def decode_state(data: bytes) -> Any:
    """The state [`encode_state`][guardrails.spark.encode_state] wrote.

    Arrays are read with ``allow_pickle=False``: nothing in the bytes can run code.
    """
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    if _ARRAY in members:
        return members[_ARRAY]
    if _SCALAR in members:
        return members[_SCALAR].item()
    out: dict[str, Any] = {}
    for key, arr in members.items():
        if key == _EMPTY:
            continue
        out[key[2:]] = arr.item() if key.startswith("s.") else arr
    return out


def drift_report(
    df: DataFrame,
    profile: DriftProfile,
    *,
    features: Sequence[str] | None = None,
    guard: Guard | None = None,
    input: InputKind = "array",
    objects: Mapping[str, Any] | None = None,
    **evaluate: Any,
) -> DriftReport:
    """Compare a whole Spark table with a drift profile: one report, merged from partitions.

    Each Arrow batch fills a [`WindowState`][guardrails.WindowState] of ``profile`` on the
    executor; its counts and sums ([`to_arrays`][guardrails.WindowState.to_arrays]) add up
    across batches and partitions to the state of the whole table, and the driver
    evaluates it once. The report equals
    ``profile.compare`` on all the rows collected in one place.

    With ``guard``, each batch is also decided and the profile's outputs (predictions,
    confidence, abstention) are observed the way the ``Monitored`` layer observes them:
    only rows the model produced an output for. This is a second pass over the table
    (``decide_frame`` is the first); cache the table if it is expensive to read.

    Args:
        df: the table.
        profile: the reference profile (e.g. ``DriftProfile.from_data(X_train)``).
        features: the table's columns in the profile's feature order; by default the
            profile's feature names.
        guard: a fitted guard whose outputs to profile too, or None for inputs only.
        input: what the guard receives per batch, as in [`decide_frame`][].
        objects: what [`guardrails.load`][] needs besides the model.
        **evaluate: ``tests``, ``alpha``, ``correction``, ``thresholds`` of
            [`evaluate`][guardrails.DriftProfile.evaluate].

    Returns:
        The [`DriftReport`][guardrails.DriftReport] of the whole table.
    """

    if not isinstance(profile, DriftProfile):
        raise ConfigurationError(
            "The 'profile' parameter of drift_report must be a DriftProfile. "
            f"Got {type(profile).__name__} instead."
        )
    if not profile.feature_names:
        raise ConfigurationError(
            "drift_report needs a profile of input features; this one profiles outputs only."
        )
    feats = list(profile.feature_names if features is None else features)
    if len(feats) != len(profile.feature_names):
        raise ConfigurationError(
            f"The 'features' parameter of drift_report must name {len(profile.feature_names)} "
            f"columns, one per profiled feature {profile.feature_names}. Got {feats!r}."
        )
    names = list(profile.feature_names)
    blob = None if guard is None else artifact_bytes(guard)
    model = None if guard is None else guard.model
    extra = dict(objects or {})
    kind: InputKind = input
    loaded: dict[str, Guard] = {}  # one guard per task: the closure is unpickled per task

    def observe(batch: pd.DataFrame) -> WindowState:
        frame = batch[feats].set_axis(names, axis=1).reset_index(drop=True)
        window = profile.window_state()
        if blob is None:
            return window.update(frame)
        g = loaded.get("guard")
        if g is None:
            g = loaded.setdefault("guard", load_bytes(blob, model=model, **extra))
        d = g.decide(_input(batch, feats, kind))
        rows = np.flatnonzero(~np.isin(d.reason, _NO_OUTPUT))
        outputs = profile.output_names
        return window.update(
            frame.iloc[rows],
            predictions=d.prediction[rows] if "prediction" in outputs else None,
            confidence=(
                d.confidence[rows] if "confidence" in outputs and d.confidence is not None else None
            ),
            abstained=d.abstained[rows] if "abstention" in outputs else None,
        )

    # States travel as their plain arrays (counts and sums, which add), not with the profile.
    merged: dict[str, NDArray[Any]] = partition_state(
        df,
        features=feats,
        state=lambda batch: observe(batch).to_arrays(),
        merge=lambda a, b: {key: a[key] + b[key] for key in a},
        input="frame",
    )
    return profile.evaluate(profile.window_state(arrays=merged), **evaluate)
