"""Drawing plumbing for report plots: the fixed style, the palette, figures, labels, axes.

Figures are `matplotlib.figure.Figure` objects drawn with the Agg renderer, never through
``pyplot``, under a style applied only while a figure is built or saved, so the user's
backend, open windows and rcParams are left alone. matplotlib is imported here, inside the
functions, because it is an optional extra (``predict-guardrails[report]``).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from guardrails.apps.report_checks import _scalar
from guardrails.core.errors import ConfigurationError
from guardrails.core.text import truncate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_EXTRA_HINT = (
    "Plots in a guardrails report need matplotlib, an optional extra: "
    "pip install 'predict-guardrails[report]' (or pip install 'matplotlib>=3.8')."
)

# Colour-blind-safe palette (Okabe and Ito). The first colour is used nowhere in the CSS,
# so a test can find it in a screenshot and know the embedded images were drawn.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8C564B",
    "#666666",
)
_OTHER = "#BBBBBB"
_DASH = "\u2013"
_MAX_LINES = 8
_LABEL_CHARS = 60
_DPI = 100

# Fixed look for every figure, applied only while a figure is built or saved, so that a
# user's global style (or text.usetex) neither changes nor breaks the report.
_STYLE: dict[str, Any] = {
    "text.usetex": False,
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.titlesize": 11,
    "figure.titlesize": 12,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "text.color": "#222222",
    "axes.labelcolor": "#222222",
    "axes.edgecolor": "#444444",
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "axes.grid": True,
    "grid.color": "#E4E4E4",
    "grid.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 9,
}

# --------------------------------------------------------------------------- drawing


@contextmanager
def _drawing() -> Iterator[None]:
    """Import matplotlib (or say which extra to install) and apply the report's style."""
    try:
        import matplotlib
        import matplotlib.figure
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    with matplotlib.rc_context(cast(Any, _STYLE)):
        yield


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=_DPI, layout="constrained")


def _plain(text: str, limit: int = _LABEL_CHARS) -> str:
    """User text shortened for a label (the style turns math parsing off, so ``$`` is safe)."""
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def _ticker() -> Any:
    """``matplotlib.ticker`` (untyped), or the ImportError naming the extra."""
    try:
        from matplotlib import ticker
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    return ticker


def _category_ticks(ax: Axes, x: NDArray[np.float64], names: Sequence[str]) -> None:
    step = max(1, math.ceil(len(names) / 20))
    ax.set_xticks(x[::step], [_plain(n, 24) for n in names[::step]])
    if len(names) > 8 or any(len(n) > 8 for n in names):
        for tick in ax.get_xticklabels():
            tick.set_rotation(30)
            tick.set_horizontalalignment("right")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.grid(False, axis="x")


@dataclass(frozen=True)
class _TimeAxis:
    """Window positions as floats, with the labels (phases) or dates they stand for."""

    x: NDArray[np.float64]
    labels: tuple[str, ...] | None
    dates: bool

    def position(self, value: Any, *, name: str, owner: str) -> float:
        if self.labels is not None:
            if str(value) not in self.labels:
                raise ConfigurationError(
                    f"The {name!r} parameter of {owner} must hold labels of 't' "
                    f"({', '.join(map(repr, self.labels[:6]))}...). Got {truncate(value)} "
                    "instead."
                )
            return float(self.labels.index(str(value)))
        if self.dates:
            if not isinstance(value, (_dt.date, np.datetime64)):
                raise ConfigurationError(
                    f"The {name!r} parameter of {owner} must hold datetimes, like 't'. "
                    f"Got {truncate(value)} instead."
                )
            return float(_dates().date2num(value))
        return _scalar(value, name=name, owner=owner)

    def format(self, ax: Axes) -> None:
        if self.labels is not None:
            _category_ticks(ax, self.x, self.labels)
        elif not self.dates:
            if np.array_equal(self.x, np.round(self.x)):
                from matplotlib.ticker import MaxNLocator

                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            dates = _dates()
            locator = dates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(dates.AutoDateFormatter(locator))
            for tick in ax.get_xticklabels():
                tick.set_rotation(30)
                tick.set_horizontalalignment("right")


def _time_axis(t: Any, *, owner: str) -> _TimeAxis:
    bad = ConfigurationError(
        f"The 't' parameter of {owner} must be a non-empty 1-d sequence of increasing "
        f"numbers, of datetimes, or of unique labels. Got {truncate(t)} instead."
    )
    if isinstance(t, (str, bytes)):
        raise bad
    try:
        arr = np.asarray(t)
    except (TypeError, ValueError):
        raise bad from None
    if arr.ndim != 1 or arr.size == 0:
        raise bad
    if arr.dtype.kind in "iuf":
        x = arr.astype(np.float64)
        if not np.isfinite(x).all() or (x.size > 1 and not (np.diff(x) > 0).all()):
            raise bad
        return _TimeAxis(x, None, dates=False)
    items = arr.tolist()
    if arr.dtype.kind == "M" or all(isinstance(v, _dt.date) for v in items):
        x = np.asarray(_dates().date2num(arr if arr.dtype.kind == "M" else items), dtype=np.float64)
        if not np.isfinite(x).all() or (x.size > 1 and not (np.diff(x) > 0).all()):
            raise bad
        return _TimeAxis(x, None, dates=True)
    if arr.dtype.kind in "US" or all(isinstance(v, str) for v in items):
        labels = tuple(str(v) for v in items)
        if len(set(labels)) != len(labels):
            raise bad
        return _TimeAxis(np.arange(len(labels), dtype=np.float64), labels, dates=False)
    raise bad


def _dates() -> Any:
    """``matplotlib.dates`` (untyped), or the ImportError naming the extra."""
    try:
        from matplotlib import dates
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    return dates
