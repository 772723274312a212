"""Audit model loading: read a fitted model file with the loader the user chose, and the CSV.

Loading a model file is the user's explicit choice, because both formats can run code:
``joblib`` unpickles, which runs whatever code the file carries; ``skops`` loads only the
types it trusts by default plus those the user names with ``--trust``. This module is the
one place in guardrails that calls ``joblib.load`` (`_load_joblib_runs_code`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from guardrails.core.errors import GuardrailsError

LOADERS = ("skops", "joblib")

_SECURITY = (
    "Loading a model file can run code. --loader joblib unpickles the file: that runs "
    "whatever code it carries, so use it only for files you made or trust. --loader skops "
    "loads only the types skops trusts by default and those you name with --trust TYPE; "
    "when a file holds others, the audit lists them and loads nothing."
)


class AuditError(GuardrailsError):
    """A problem with the audit's arguments, files or model; the command exits 2."""


# --------------------------------------------------------------------------- loading


def load_model(path: str | Path, *, loader: str | None, trust: Sequence[str] = ()) -> Any:
    """Load a fitted model from ``path`` with the loader the user chose.

    Args:
        path: the model file.
        loader: ``"skops"`` or ``"joblib"``. There is no default: loading a joblib
            (pickle) file runs whatever code it carries, so the user must ask for it.
        trust: for skops, type names (``"module.Type"``) to trust beyond skops' defaults.

    Returns:
        The loaded object.

    Raises:
        AuditError: no or an unknown loader, a missing file, a file the loader cannot
            read, or (skops) a file holding types that are not trusted; the message then
            lists them.
    """
    if loader is None:
        raise AuditError(
            f"refusing to load {path}: choose a loader with --loader skops or --loader "
            f"joblib. {_SECURITY}"
        )
    if loader not in LOADERS:
        raise AuditError(f"--loader must be one of {list(LOADERS)}; got {loader!r}.")
    file = Path(path)
    if not file.is_file():
        raise AuditError(f"model file {str(path)!r} does not exist (or is not a file).")
    if loader == "joblib":
        if trust:
            raise AuditError("--trust applies to --loader skops only.")
        return _load_joblib_runs_code(file)
    return _load_skops(file, list(trust))


def _load_joblib_runs_code(path: Path) -> Any:
    """Unpickle ``path`` with joblib. This RUNS any code the file carries: the user asked."""
    try:
        import joblib
    except ImportError:  # pragma: no cover - joblib ships with scikit-learn
        raise AuditError("--loader joblib needs joblib (it comes with scikit-learn).") from None
    try:
        return joblib.load(path)
    except Exception as exc:
        raise AuditError(
            f"cannot load {str(path)!r} with joblib: {type(exc).__name__}: {exc}"
        ) from None


def _load_skops(path: Path, trust: list[str]) -> Any:
    """Load ``path`` with skops, trusting skops' default types and ``trust`` only."""
    try:
        import skops.io as sio
    except ImportError:
        raise AuditError(
            "--loader skops needs skops, an optional extra: "
            "pip install 'predict-guardrails[audit]' (or pip install 'skops>=0.10')."
        ) from None
    try:
        return sio.load(path, trusted=trust or None)
    except Exception as exc:
        try:
            untrusted = list(sio.get_untrusted_types(file=path))
        except Exception:
            untrusted = None
        if untrusted is None:
            raise AuditError(
                f"cannot read {str(path)!r} as a skops file: {type(exc).__name__}: {exc}"
            ) from None
        missing = [t for t in untrusted if t not in trust]
        if missing:
            listed = "\n".join(f"  {t}" for t in missing)
            flags = " ".join(f"--trust {t}" for t in missing)
            raise AuditError(
                f"skops refused to load {str(path)!r}: it holds types that are not trusted:\n"
                f"{listed}\nLoading them can run code. If you know where each comes from and "
                f"trust it, pass: {flags}"
            ) from None
        raise AuditError(
            f"cannot load {str(path)!r} with skops: {type(exc).__name__}: {exc}"
        ) from None


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LabelledCSV:
    """Features and labels read from a CSV, with the count of rows left out."""

    X: Any
    y: NDArray[Any]
    features: tuple[str, ...]
    n_read: int
    n_missing_target: int


def read_labelled_csv(
    path: str | Path,
    *,
    target: str,
    features: Sequence[str] | None = None,
    model: Any = None,
) -> LabelledCSV:
    """Read a labelled hold-out set from a CSV file with pandas.

    Rows whose target is missing are dropped and counted. Without ``features``, the
    model's ``feature_names_in_`` are used when it has them, else every other column.

    Args:
        path: the CSV file (header row first).
        target: the label column.
        features: the feature columns, in the order the model expects.
        model: the loaded model, to read its feature names and whether it wants a frame.

    Returns:
        The features (a data frame when the model was fitted on one, else an array
        ``(n_samples, n_features)``), the labels ``(n_samples,)`` and counts.

    Raises:
        AuditError: pandas missing, a missing or unreadable file, a column not in it.
    """
    try:
        import pandas as pd
    except ImportError:
        raise AuditError(
            "reading --data needs pandas, an optional extra: "
            "pip install 'predict-guardrails[audit]'."
        ) from None
    file = Path(path)
    if not file.is_file():
        raise AuditError(f"data file {str(path)!r} does not exist (or is not a file).")
    try:
        frame = pd.read_csv(file)
    except Exception as exc:
        raise AuditError(f"cannot read {str(path)!r} as CSV: {type(exc).__name__}: {exc}") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target not in columns:
        raise AuditError(
            f"target column {target!r} is not in {str(path)!r}; its columns are: "
            f"{_listing(columns)}."
        )
    model_names = getattr(model, "feature_names_in_", None)
    if features is not None:
        chosen = list(features)
    elif model_names is not None:
        chosen = [str(c) for c in model_names]
    else:
        chosen = [c for c in columns if c != target]
    if not chosen:
        raise AuditError(f"{str(path)!r} has no feature column besides the target {target!r}.")
    absent = [c for c in chosen if c not in columns]
    if absent:
        raise AuditError(
            f"feature column(s) {_listing(absent)} not in {str(path)!r}; its columns are: "
            f"{_listing(columns)}."
        )
    if target in chosen:
        raise AuditError(f"the target column {target!r} cannot also be a feature.")
    if len(set(chosen)) != len(chosen):
        raise AuditError(f"--features names a column twice: {_listing(chosen)}.")
    keep = frame[target].notna().to_numpy()
    part = frame.loc[keep, chosen].reset_index(drop=True)
    X: Any = part if model_names is not None else part.to_numpy()
    return LabelledCSV(
        X=X,
        y=frame.loc[keep, target].to_numpy(),
        features=tuple(chosen),
        n_read=len(frame),
        n_missing_target=int((~keep).sum()),
    )


def _listing(names: Sequence[Any], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
