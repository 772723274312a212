"""Report: draw already-computed guard statistics into one self-contained HTML file.

A [`Report`][] takes aggregate numbers that other modules computed (reliability bins,
risk-coverage points, per-class coverage, rates and drift scores per time window) and
draws them; it computes no statistic itself. ``to_html`` writes a single file with every
image embedded as a base64 PNG and inline CSS: no script, no external reference, so it
opens offline and can be mailed or archived as is. ``save_png`` writes each plot as a PNG.

Plots need matplotlib (``pip install 'predict-guardrails[report]'``); tables and text do
not. Figures are drawn on `matplotlib.figure.Figure` objects with the Agg renderer,
never through ``pyplot``, so the user's backend and open windows are left alone.

The report holds only what it is given: pass aggregates, never raw inputs. Every string
that reaches the HTML is escaped, and table cells must be scalars (labels and numbers).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Report"]

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

HOW_TO_READ = {
    "reliability": (
        "Each dot is a bin of answers: its mean confidence (x) against the share that "
        "were right (y). On the dashed diagonal, confidence means what it says; below it "
        "the model is overconfident, above it underconfident. Bigger dots hold more "
        "answers; a lower ECE is better."
    ),
    "risk_coverage": (
        "Moving right, the guard answers more rows (coverage) and usually admits more "
        "errors among them (selective risk). Lower is better at every coverage; the star "
        "is the chosen operating point. A flat curve means confidence does not rank errors."
    ),
    "per_class": (
        "Left: for each true class, the share of rows whose prediction set contained it; "
        "the dashed line is the target, and a bar below it marks an under-served class. "
        "Right: how many classes the sets held on average; larger sets mean more doubt."
    ),
    "rates": (
        "The share of requests in each window that the guard withheld or handed down the "
        "fallback chain. A step marks a change in the traffic or the model: bad inputs, "
        "a failing model, drift."
    ),
    "drift": (
        "Each line is one feature's drift score per window; above the dashed threshold the "
        "feature has drifted. Vertical lines mark when the guard tightened (solid) and "
        "relaxed (dotted)."
    ),
}

Cell: TypeAlias = "str | int | float | bool | None"


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class _Plot:
    kind: str
    title: str
    how_to_read: str
    figure: Figure


@dataclass(frozen=True)
class _Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str | None


@dataclass(frozen=True)
class _Text:
    title: str | None
    paragraphs: tuple[str, ...]


_Section: TypeAlias = "_Plot | _Table | _Text"


class Report:
    """A titled sequence of plots, tables and text, written as one self-contained HTML file.

    Each ``add_*`` method validates its inputs (a [`ConfigurationError`][] names the
    parameter and what was wrong, never a traceback from deep inside matplotlib), draws one
    figure at once and returns the report, so calls chain. Every plot has axis labels and a
    one-line "how to read it" line, shown under it in the HTML.

    Args:
        title: the page heading.
        subtitle: a line under the heading (model, data set, date...).

    Raises:
        ConfigurationError: if ``title`` is not a non-empty string or ``subtitle`` not a
            string.

    Examples:
        >>> report = Report("Nightly audit", subtitle="model v3 on the June hold-out")
        >>> report = report.add_table("Outcome", ["answered", "abstained"], [[940, 60]])
        >>> ">940</td>" in report.html()
        True
    """

    def __init__(self, title: str = "guardrails report", *, subtitle: str | None = None) -> None:
        self.title = _check_text(title, "title", "Report")
        if subtitle is not None and not isinstance(subtitle, str):
            raise ConfigurationError(
                f"The 'subtitle' parameter of Report must be a str or None. "
                f"Got {_short_repr(subtitle)} instead."
            )
        self.subtitle = subtitle
        self._sections: list[_Section] = []

    def __repr__(self) -> str:
        return f"Report(title={self.title!r}, sections={len(self._sections)})"

    def __len__(self) -> int:
        return len(self._sections)

    # ------------------------------------------------------------------ plots

    def add_reliability(
        self,
        curves: Mapping[str, Sequence[Any]],
        *,
        ece: Mapping[str, float] | None = None,
        title: str = "Reliability diagram",
        how_to_read: str | None = None,
    ) -> Report:
        """Plot reliability curves (for instance before and after calibration) on one axes.

        Args:
            curves: label -> ``(bin_confidence, bin_accuracy, bin_count)``, three sequences
                of the same length ``(n_bins,)``: mean confidence per bin in [0, 1], share
                of correct answers per bin in [0, 1], rows per bin (>= 0). Bins that are
                empty (count 0) or NaN are not drawn.
            ece: label -> expected calibration error, shown in the legend; every key must
                be a label of ``curves``.
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on an empty mapping, sequences of different lengths, values
                out of range, or a curve with no drawable bin.
            ImportError: if matplotlib is not installed.
        """
        owner = "Report.add_reliability"
        if not isinstance(curves, Mapping) or not curves:
            raise ConfigurationError(
                f"The 'curves' parameter of {owner} must be a non-empty mapping of label -> "
                f"(bin_confidence, bin_accuracy, bin_count). Got {_short_repr(curves)} instead."
            )
        parsed: list[tuple[str, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]
        parsed = []
        for label, curve in curves.items():
            name = f"curves[{label!r}]"
            if (
                isinstance(curve, (str, bytes))
                or not isinstance(curve, Sequence)
                or len(curve) != 3
            ):
                raise ConfigurationError(
                    f"The {name!r} entry of {owner} must be a sequence of three sequences "
                    f"(bin_confidence, bin_accuracy, bin_count). Got {_short_repr(curve)} instead."
                )
            conf = _numbers(
                curve[0], name=f"{name}[0] (bin_confidence)", owner=owner, low=0, high=1
            )
            acc = _numbers(curve[1], name=f"{name}[1] (bin_accuracy)", owner=owner, low=0, high=1)
            count = _numbers(
                curve[2], name=f"{name}[2] (bin_count)", owner=owner, low=0, allow_nan=False
            )
            _same_length(owner, {f"{name}[0]": conf, f"{name}[1]": acc, f"{name}[2]": count})
            keep = ~np.isnan(conf) & ~np.isnan(acc) & (count > 0)
            if not keep.any():
                raise ConfigurationError(
                    f"The {name!r} entry of {owner} has no bin with rows and finite values "
                    "to draw. Pass the bins of a non-empty evaluation set."
                )
            parsed.append(
                (_check_text(label, "curves label", owner), conf[keep], acc[keep], count[keep])
            )
        ece_values: dict[str, float] = {}
        if ece is not None:
            if not isinstance(ece, Mapping):
                raise ConfigurationError(
                    f"The 'ece' parameter of {owner} must be a mapping of label -> float. "
                    f"Got {_short_repr(ece)} instead."
                )
            for label, value in ece.items():
                if label not in curves:
                    raise ConfigurationError(
                        f"The 'ece' parameter of {owner} names {label!r}, which is not a label "
                        f"of 'curves' ({', '.join(map(repr, curves))})."
                    )
                ece_values[label] = _scalar(
                    value, name=f"ece[{label!r}]", owner=owner, low=0, high=1
                )
        title = _check_text(title, "title", owner)
        largest = max(float(c.max()) for _, _, _, c in parsed)

        with _drawing():
            fig = _new_figure((7.0, 5.4))
            ax = fig.add_subplot()
            handles: list[Any] = []
            labels: list[str] = []
            (diag,) = ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1)
            handles.append(diag)
            labels.append("perfect calibration")
            for i, (label, conf, acc, count) in enumerate(parsed):
                colour = PALETTE[i % len(PALETTE)]
                order = np.argsort(conf)
                (line,) = ax.plot(conf[order], acc[order], color=colour, linewidth=1.6)
                ax.scatter(
                    conf, acc, s=18 + 220 * count / largest, color=colour, alpha=0.85, zorder=3
                )
                text = _plain(label)
                if label in ece_values:
                    text += f" (ECE {ece_values[label]:.3f})"
                handles.append(line)
                labels.append(text)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("Confidence (mean per bin)")
            ax.set_ylabel("Accuracy (share correct per bin)")
            ax.legend(handles, labels, loc="upper left")
            fig.suptitle(_plain(title))
        return self._add_plot("reliability", title, how_to_read, fig)

    def add_risk_coverage(
        self,
        coverage: Sequence[float] | NDArray[Any],
        risk: Sequence[float] | NDArray[Any],
        *,
        label: str = "guard",
        operating_point: tuple[float, float] | None = None,
        compare: Mapping[str, tuple[Any, Any]] | None = None,
        target_risk: float | None = None,
        title: str = "Risk-coverage curve",
        how_to_read: str | None = None,
    ) -> Report:
        """Plot selective risk against coverage, with the chosen operating point.

        Args:
            coverage: ``(n_points,)`` share of rows answered at each threshold, in [0, 1].
            risk: ``(n_points,)`` selective risk (error rate, or mean loss, among the
                answered rows) at each threshold, >= 0; NaN where nothing was answered.
            label: legend label of this curve.
            operating_point: ``(coverage, risk)`` of the chosen threshold, drawn as a star.
            compare: more curves on the same axes, label -> ``(coverage, risk)``; for
                instance the unguarded model as one point at coverage 1.
            target_risk: draws a horizontal line at the risk the user asked for.
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on empty or mismatched sequences, values out of range or a
                curve with only NaN risks.
            ImportError: if matplotlib is not installed.
        """
        owner = "Report.add_risk_coverage"
        curves = [_risk_curve(coverage, risk, owner=owner, prefix="")]
        names = [_check_text(label, "label", owner)]
        if compare is not None:
            if not isinstance(compare, Mapping):
                raise ConfigurationError(
                    f"The 'compare' parameter of {owner} must be a mapping of label -> "
                    f"(coverage, risk). Got {_short_repr(compare)} instead."
                )
            for other, pair in compare.items():
                if (
                    isinstance(pair, (str, bytes))
                    or not isinstance(pair, Sequence)
                    or len(pair) != 2
                ):
                    raise ConfigurationError(
                        f"The 'compare[{other!r}]' entry of {owner} must be a pair of sequences "
                        f"(coverage, risk). Got {_short_repr(pair)} instead."
                    )
                curves.append(
                    _risk_curve(pair[0], pair[1], owner=owner, prefix=f"compare[{other!r}]")
                )
                names.append(_check_text(other, "compare label", owner))
        point: tuple[float, float] | None = None
        if operating_point is not None:
            if (
                isinstance(operating_point, (str, bytes))
                or not isinstance(operating_point, Sequence)
                or len(operating_point) != 2
            ):
                raise ConfigurationError(
                    f"The 'operating_point' parameter of {owner} must be a pair (coverage, risk). "
                    f"Got {_short_repr(operating_point)} instead."
                )
            point = (
                _scalar(
                    operating_point[0],
                    name="operating_point[0] (coverage)",
                    owner=owner,
                    low=0,
                    high=1,
                ),
                _scalar(operating_point[1], name="operating_point[1] (risk)", owner=owner, low=0),
            )
        target = (
            None
            if target_risk is None
            else _scalar(target_risk, name="target_risk", owner=owner, low=0)
        )
        title = _check_text(title, "title", owner)

        with _drawing():
            fig = _new_figure((8.0, 4.8))
            ax = fig.add_subplot()
            handles: list[Any] = []
            labels: list[str] = []
            for i, ((cov, rsk), name) in enumerate(zip(curves, names)):
                colour = PALETTE[i % len(PALETTE)]
                order = np.argsort(cov, kind="stable")
                marker = "o" if cov.size <= 12 else None
                (line,) = ax.plot(
                    cov[order], rsk[order], color=colour, linewidth=1.8, marker=marker
                )
                handles.append(line)
                labels.append(_plain(name))
            if target is not None:
                line = ax.axhline(target, color="#888888", linestyle="--", linewidth=1)
                handles.append(line)
                labels.append(f"target risk {target:.3g}")
            if point is not None:
                star = ax.scatter(
                    [point[0]], [point[1]], marker="*", s=260, color="#000000", zorder=4
                )
                handles.append(star)
                labels.append(f"operating point (coverage {point[0]:.2f}, risk {point[1]:.3f})")
            ax.set_xlim(0, 1.02)
            ax.set_ylim(bottom=0)
            ax.set_xlabel("Coverage (share of rows answered)")
            ax.set_ylabel("Selective risk (errors among answered rows)")
            ax.legend(handles, labels, loc="upper left")
            fig.suptitle(_plain(title))
        return self._add_plot("risk_coverage", title, how_to_read, fig)

    def add_per_class(
        self,
        classes: Sequence[Any] | NDArray[Any],
        coverage: Sequence[float] | NDArray[Any],
        mean_set_size: Sequence[float] | NDArray[Any] | None = None,
        *,
        target: float | None = None,
        title: str = "Coverage and set size per class",
        how_to_read: str | None = None,
    ) -> Report:
        """Plot coverage per class (with its target) and, if given, mean set size per class.

        Args:
            classes: ``(n_classes,)`` class labels, drawn as text.
            coverage: ``(n_classes,)`` share of each class's rows whose prediction set held
                the true class, in [0, 1]; NaN for a class with no rows.
            mean_set_size: ``(n_classes,)`` mean size of those rows' prediction sets (>= 0),
                drawn in a second panel; ``None`` draws coverage only.
            target: the coverage promised (``1 - alpha``), drawn as a dashed line.
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on empty or mismatched sequences or values out of range.
            ImportError: if matplotlib is not installed.
        """
        owner = "Report.add_per_class"
        names = _labels(classes, name="classes", owner=owner)
        cov = _numbers(coverage, name="coverage", owner=owner, low=0, high=1)
        columns = {"classes": np.arange(len(names)), "coverage": cov}
        size = None
        if mean_set_size is not None:
            size = _numbers(mean_set_size, name="mean_set_size", owner=owner, low=0)
            columns["mean_set_size"] = size
        _same_length(owner, columns)
        goal = (
            None if target is None else _scalar(target, name="target", owner=owner, low=0, high=1)
        )
        title = _check_text(title, "title", owner)

        with _drawing():
            fig = _new_figure((9.0, 4.6) if size is not None else (7.0, 4.6))
            x = np.arange(len(names), dtype=np.float64)
            ax = fig.add_subplot(1, 2, 1) if size is not None else fig.add_subplot()
            ax.bar(x, np.nan_to_num(cov), color=PALETTE[0], width=0.7)
            if goal is not None:
                line = ax.axhline(goal, color="#000000", linestyle="--", linewidth=1)
                ax.legend([line], [f"target {goal:.2f}"], loc="upper right")
            ax.set_ylim(0, 1.18 if goal is not None else 1.05)
            ax.set_xlabel("Class")
            ax.set_ylabel("Coverage (true class in the set)")
            _category_ticks(ax, x, names)
            if size is not None:
                ax2 = fig.add_subplot(1, 2, 2)
                ax2.bar(x, np.nan_to_num(size), color=PALETTE[1], width=0.7)
                ax2.set_ylim(bottom=0)
                ax2.set_xlabel("Class")
                ax2.set_ylabel("Mean prediction-set size")
                _category_ticks(ax2, x, names)
            fig.suptitle(_plain(title))
        return self._add_plot("per_class", title, how_to_read, fig)

    def add_rates_over_time(
        self,
        t: Sequence[Any] | NDArray[Any],
        series: Mapping[str, Sequence[float] | NDArray[Any]],
        *,
        xlabel: str = "Time window",
        title: str = "Abstention and fallback rates over time",
        how_to_read: str | None = None,
    ) -> Report:
        """Plot rates (abstention, fallback, review...) per time window or phase.

        Args:
            t: ``(n_windows,)`` window positions: increasing numbers, datetimes, or unique
                labels (phase names), drawn in the order given.
            series: name -> ``(n_windows,)`` rates in [0, 1]; NaN for a window with no
                requests.
            xlabel: the x-axis label.
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on empty or mismatched sequences, rates outside [0, 1], or a
                series with only NaN.
            ImportError: if matplotlib is not installed.
        """
        owner = "Report.add_rates_over_time"
        axis = _time_axis(t, owner=owner)
        values = _series(series, owner=owner, n=axis.x.size, low=0, high=1, what="rates")
        xlabel = _check_text(xlabel, "xlabel", owner)
        title = _check_text(title, "title", owner)

        with _drawing():
            fig = _new_figure((8.0, 4.4))
            ax = fig.add_subplot()
            handles: list[Any] = []
            labels: list[str] = []
            marker = "o" if axis.x.size <= 30 else None
            for i, (name, y) in enumerate(values.items()):
                (line,) = ax.plot(
                    axis.x, y, color=PALETTE[i % len(PALETTE)], linewidth=1.8, marker=marker
                )
                handles.append(line)
                labels.append(_plain(name))
            ax.set_ylim(0, 1.02)
            ax.set_xlabel(_plain(xlabel))
            ax.set_ylabel("Rate (share of requests)")
            axis.format(ax)
            ax.legend(handles, labels, loc="upper left")
            fig.suptitle(_plain(title))
        return self._add_plot("rates", title, how_to_read, fig)

    def add_drift_over_time(
        self,
        t: Sequence[Any] | NDArray[Any],
        scores: Mapping[str, Sequence[float] | NDArray[Any]],
        *,
        threshold: float | None = None,
        tightened_at: Sequence[Any] = (),
        relaxed_at: Sequence[Any] = (),
        xlabel: str = "Time window",
        ylabel: str = "Drift score",
        title: str = "Drift scores over time",
        how_to_read: str | None = None,
    ) -> Report:
        """Plot drift scores per feature over time, the alarm threshold and when the guard
        tightened.

        With more than eight features, the eight with the highest peak score are drawn in
        colour and the rest in grey, as one legend entry.

        Args:
            t: ``(n_windows,)`` window positions: increasing numbers, datetimes, or unique
                labels, drawn in the order given.
            scores: feature -> ``(n_windows,)`` drift scores (PSI, KS statistic...), finite
                or NaN for a window without a score.
            threshold: score above which a feature counts as drifted (dashed line).
            tightened_at: positions (values of ``t``) where the guard tightened.
            relaxed_at: positions (values of ``t``) where it went back to normal.
            xlabel: the x-axis label.
            ylabel: the y-axis label (name the score: "PSI", "KS statistic").
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on empty or mismatched sequences, a feature with only NaN
                scores, or a tightening moment that is not a position of ``t``.
            ImportError: if matplotlib is not installed.
        """
        owner = "Report.add_drift_over_time"
        axis = _time_axis(t, owner=owner)
        values = _series(scores, owner=owner, n=axis.x.size, low=None, high=None, what="scores")
        limit = None if threshold is None else _scalar(threshold, name="threshold", owner=owner)
        tight = [
            axis.position(v, name="tightened_at", owner=owner)
            for v in _moments(tightened_at, "tightened_at", owner)
        ]
        relax = [
            axis.position(v, name="relaxed_at", owner=owner)
            for v in _moments(relaxed_at, "relaxed_at", owner)
        ]
        xlabel = _check_text(xlabel, "xlabel", owner)
        ylabel = _check_text(ylabel, "ylabel", owner)
        title = _check_text(title, "title", owner)
        ranked = sorted(values, key=lambda k: -float(np.nanmax(values[k])))
        shown, rest = ranked[:_MAX_LINES], ranked[_MAX_LINES:]

        with _drawing():
            fig = _new_figure((8.0, 4.6))
            ax = fig.add_subplot()
            handles: list[Any] = []
            labels: list[str] = []
            marker = "o" if axis.x.size <= 30 else None
            greys = [ax.plot(axis.x, values[name], color=_OTHER, linewidth=1)[0] for name in rest]
            if greys:
                handles.append(greys[0])
                labels.append(f"{len(rest)} other features")
            for i, name in enumerate(shown):
                (line,) = ax.plot(
                    axis.x,
                    values[name],
                    color=PALETTE[i % len(PALETTE)],
                    linewidth=1.8,
                    marker=marker,
                )
                handles.append(line)
                labels.append(_plain(name))
            if limit is not None:
                handles.append(ax.axhline(limit, color="#D00000", linestyle="--", linewidth=1.2))
                labels.append(f"threshold {limit:.3g}")
            for j, pos in enumerate(tight):
                line = ax.axvline(pos, color="#000000", linewidth=1.4)
                if j == 0:
                    handles.append(line)
                    labels.append("guard tightened")
            for j, pos in enumerate(relax):
                line = ax.axvline(pos, color="#000000", linewidth=1.2, linestyle=":")
                if j == 0:
                    handles.append(line)
                    labels.append("guard relaxed")
            ax.set_xlabel(_plain(xlabel))
            ax.set_ylabel(_plain(ylabel))
            axis.format(ax)
            ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0))
            fig.suptitle(_plain(title))
        return self._add_plot("drift", title, how_to_read, fig)

    def add_figure(self, figure: Figure, *, title: str, how_to_read: str) -> Report:
        """Add a matplotlib figure drawn elsewhere, with its title and explanation line.

        Args:
            figure: a `matplotlib.figure.Figure` (make it with ``Figure()``, not
                ``pyplot``, to leave the user's backend alone).
            title: the section title.
            how_to_read: one line on how to read the plot.

        Returns:
            The report.

        Raises:
            ConfigurationError: if ``figure`` is not a matplotlib Figure.
            ImportError: if matplotlib is not installed.
        """
        owner = "Report.add_figure"
        with _drawing():
            from matplotlib.figure import Figure as _Figure

            if not isinstance(figure, _Figure):
                raise ConfigurationError(
                    f"The 'figure' parameter of {owner} must be a matplotlib.figure.Figure. "
                    f"Got {_short_repr(figure)} instead."
                )
        return self._add_plot(
            "figure",
            _check_text(title, "title", owner),
            _check_text(how_to_read, "how_to_read", owner),
            figure,
        )

    # ------------------------------------------------------------------ tables and text

    def add_table(
        self,
        title: str,
        header: Sequence[str],
        rows: Sequence[Sequence[Cell]],
        *,
        note: str | None = None,
    ) -> Report:
        """Add a table of labels and aggregate numbers.

        Floats are shown with four significant digits (thousands separated above 1000),
        NaN and ``None`` as a dash.

        Args:
            title: the table title.
            header: ``(n_columns,)`` column names.
            rows: each row ``(n_columns,)`` of str, int, float, bool or None.
            note: a line shown under the table.

        Returns:
            The report.

        Raises:
            ConfigurationError: on an empty header, a row of the wrong length, or a cell
                that is not a scalar (a record or array would leak raw data).
        """
        owner = "Report.add_table"
        title = _check_text(title, "title", owner)
        if isinstance(header, (str, bytes)) or not isinstance(header, Sequence) or not header:
            raise ConfigurationError(
                f"The 'header' parameter of {owner} must be a non-empty sequence of str. "
                f"Got {_short_repr(header)} instead."
            )
        head = tuple(_check_text(h, "header", owner, allow_empty=True) for h in header)
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
            raise ConfigurationError(
                f"The 'rows' parameter of {owner} must be a sequence of rows. "
                f"Got {_short_repr(rows)} instead."
            )
        body = []
        for i, row in enumerate(rows):
            if (
                isinstance(row, (str, bytes))
                or not isinstance(row, Sequence)
                or len(row) != len(head)
            ):
                raise ConfigurationError(
                    f"Row {i} of the 'rows' parameter of {owner} must be a sequence of "
                    f"{len(head)} cells, one per header column. Got {_short_repr(row)} instead."
                )
            body.append(tuple(_cell(v, row=i, owner=owner) for v in row))
        if note is not None:
            note = _check_text(note, "note", owner)
        self._sections.append(_Table(title, head, tuple(body), note))
        return self

    def add_text(self, text: str, *, title: str | None = None) -> Report:
        """Add a block of plain text; blank lines separate paragraphs. No markup is kept.

        Args:
            text: the text.
            title: an optional heading.

        Returns:
            The report.

        Raises:
            ConfigurationError: if ``text`` is not a non-empty string.
        """
        owner = "Report.add_text"
        text = _check_text(text, "text", owner)
        if title is not None:
            title = _check_text(title, "title", owner)
        paragraphs = tuple(p.strip() for p in re.split(r"\n\s*\n", text) if p.strip())
        self._sections.append(_Text(title, paragraphs))
        return self

    # ------------------------------------------------------------------ output

    def figures(self) -> list[Figure]:
        """The matplotlib figures of the plots, in the order they were added."""
        return [s.figure for s in self._sections if isinstance(s, _Plot)]

    def html(self) -> str:
        """The whole report as one self-contained HTML document (a str)."""
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8" />',
            '<meta name="viewport" content="width=device-width, initial-scale=1" />',
            f"<title>{_esc(self.title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            "<header>",
            f"<h1>{_esc(self.title)}</h1>",
        ]
        if self.subtitle:
            parts.append(f'<p class="subtitle">{_esc(self.subtitle)}</p>')
        parts.append(
            '<p class="privacy">This report holds aggregate numbers only: no input rows.</p>'
        )
        parts.append("</header>")
        titled = [(i, s.title) for i, s in enumerate(self._sections) if s.title]
        if len(titled) > 1:
            parts.append("<nav><h2>Contents</h2><ol>")
            parts.extend(f'<li><a href="#section-{i}">{_esc(t)}</a></li>' for i, t in titled)
            parts.append("</ol></nav>")
        for i, section in enumerate(self._sections):
            parts.append(_render(i, section))
        parts.extend(
            [
                "<footer>Made with guardrails. Images are embedded; this file needs no network.",
                "</footer>",
                "</main>",
                "</body>",
                "</html>",
            ]
        )
        return "\n".join(parts) + "\n"

    def to_html(self, path: str | Path) -> Path:
        """Write the report to ``path`` as one self-contained HTML file (UTF-8).

        Args:
            path: the file to write; its folder must exist.

        Returns:
            The path written.
        """
        target = Path(path)
        target.write_text(self.html(), encoding="utf-8")
        return target

    def save_png(self, folder: str | Path) -> list[Path]:
        """Write every plot as a PNG file in ``folder`` (created if missing).

        Files are named by position and kind (``01-reliability.png``...), never from user
        text, so a title cannot steer where a file goes.

        Args:
            folder: the folder to write into.

        Returns:
            The paths written, in order.
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        plots = [s for s in self._sections if isinstance(s, _Plot)]
        for i, plot in enumerate(plots, start=1):
            path = out / f"{i:02d}-{plot.kind.replace('_', '-')}.png"
            path.write_bytes(_png(plot))
            written.append(path)
        return written

    # ------------------------------------------------------------------ internals

    def _add_plot(self, kind: str, title: str, how_to_read: str | None, fig: Figure) -> Report:
        explain = HOW_TO_READ[kind] if how_to_read is None else how_to_read
        explain = _check_text(explain, "how_to_read", f"Report.add_{kind}")
        self._sections.append(_Plot(kind, title, explain, fig))
        return self


# --------------------------------------------------------------------------- HTML

_CSS = (
    "body{margin:0;background:#f6f6f4;color:#222;"
    "font:15px/1.5 -apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif}"
    "main{max-width:940px;margin:0 auto;padding:24px 20px 40px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:0 0 8px}"
    ".subtitle{margin:0;color:#555}.privacy{margin:6px 0 0;color:#777;font-size:13px}"
    "header,nav,section{background:#fff;border:1px solid #ddd;border-radius:6px;"
    "padding:16px 20px;margin:0 0 18px}"
    "nav ol{margin:0;padding-left:22px}nav a{color:#333}"
    "figure{margin:0}figure img{display:block;width:100%;height:auto}"
    "figcaption{margin-top:8px;color:#333}.how{font-weight:600}"
    "table{border-collapse:collapse;width:100%;font-size:14px}"
    "th,td{border-bottom:1px solid #e2e2e2;padding:6px 10px;text-align:left}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f0f0ee}.note{color:#555;font-size:13px;margin:8px 0 0}"
    "footer{color:#888;font-size:12px;text-align:center}"
)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _render(i: int, section: _Section) -> str:
    anchor = f'id="section-{i}"'
    if isinstance(section, _Plot):
        data = base64.b64encode(_png(section)).decode("ascii")
        return (
            f'<section {anchor} class="plot"><figure>'
            f'<img src="data:image/png;base64,{data}" alt="{_esc(section.title)}" />'
            f'<figcaption><span class="how">How to read it: </span>'
            f"{_esc(section.how_to_read)}</figcaption></figure></section>"
        )
    if isinstance(section, _Table):
        numeric = [_is_numeric_column(section.rows, j) for j in range(len(section.header))]
        head = "".join(
            f'<th class="num">{_esc(h)}</th>' if numeric[j] else f"<th>{_esc(h)}</th>"
            for j, h in enumerate(section.header)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="num">{_esc(c)}</td>' if numeric[j] else f"<td>{_esc(c)}</td>"
                for j, c in enumerate(row)
            )
            + "</tr>"
            for row in section.rows
        )
        note = f'<p class="note">{_esc(section.note)}</p>' if section.note else ""
        return (
            f'<section {anchor} class="table"><h2>{_esc(section.title)}</h2>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</section>"
        )
    heading = f"<h2>{_esc(section.title)}</h2>" if section.title else ""
    paragraphs = "".join(f"<p>{_esc(p)}</p>" for p in section.paragraphs)
    return f'<section {anchor} class="text">{heading}{paragraphs}</section>'


_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?$|^\u2013$")


def _is_numeric_column(rows: tuple[tuple[str, ...], ...], j: int) -> bool:
    return bool(rows) and all(_NUMBER.match(row[j]) for row in rows)


def _png(plot: _Plot) -> bytes:
    buffer = io.BytesIO()
    with _drawing():
        plot.figure.savefig(
            buffer,
            format="png",
            dpi=_DPI,
            metadata={"Software": None, "Title": plot.title, "Description": plot.how_to_read},
        )
    return buffer.getvalue()


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
                    f"({', '.join(map(repr, self.labels[:6]))}...). Got {_short_repr(value)} "
                    "instead."
                )
            return float(self.labels.index(str(value)))
        if self.dates:
            if not isinstance(value, (_dt.date, np.datetime64)):
                raise ConfigurationError(
                    f"The {name!r} parameter of {owner} must hold datetimes, like 't'. "
                    f"Got {_short_repr(value)} instead."
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
        f"numbers, of datetimes, or of unique labels. Got {_short_repr(t)} instead."
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


# --------------------------------------------------------------------------- validation


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_text(value: Any, name: str, owner: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty str. "
            f"Got {_short_repr(value)} instead."
        )
    return value


def _numbers(
    value: Any,
    *,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    allow_nan: bool = True,
) -> NDArray[np.float64]:
    """A non-empty 1-d float array; NaN marks a missing point, but not every point."""

    def bad(what: str) -> ConfigurationError:
        return ConfigurationError(
            f"The {name!r} parameter of {owner} must be {what}. Got {_short_repr(value)} instead."
        )

    if isinstance(value, (str, bytes)):
        raise bad("a 1-d sequence of numbers")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind in "US":
            raise ValueError
        arr = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise bad("a 1-d sequence of numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise bad("a non-empty 1-d sequence of numbers")
    if np.isinf(arr).any():
        raise bad("finite numbers (NaN marks a missing point)")
    missing = np.isnan(arr)
    if missing.any() and not allow_nan:
        raise bad("numbers without NaN")
    if missing.all():
        raise bad("a sequence with at least one number that is not NaN")
    finite = arr[~missing]
    if (low is not None and (finite < low).any()) or (high is not None and (finite > high).any()):
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise bad(f"numbers in {span}" if high is not None else f"numbers {span}")
    return arr


def _scalar(
    value: Any, *, name: str, owner: str, low: float | None = None, high: float | None = None
) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    number = float(value) if ok else math.nan
    if ok and math.isfinite(number):
        ok = (low is None or number >= low) and (high is None or number <= high)
    else:
        ok = False
    if not ok:
        if low is not None and high is not None:
            what = f"a finite number in [{low}, {high}]"
        elif low is not None:
            what = f"a finite number >= {low}"
        else:
            what = "a finite number"
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be {what}. Got {_short_repr(value)} instead."
        )
    return number


def _same_length(owner: str, columns: Mapping[str, NDArray[Any]]) -> None:
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k!r} has {n}" for k, n in lengths.items())
        raise ConfigurationError(
            f"The sequences given to {owner} must have the same length: {listed}."
        )


def _labels(value: Any, *, name: str, owner: str) -> list[str]:
    if isinstance(value, (str, bytes)):
        items = None
    else:
        try:
            items = [str(v) for v in np.asarray(value, dtype=object).tolist()]
        except (TypeError, ValueError):
            items = None
        if items is not None and np.asarray(value, dtype=object).ndim != 1:
            items = None
    if not items:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty 1-d sequence of labels. "
            f"Got {_short_repr(value)} instead."
        )
    return items


def _risk_curve(
    coverage: Any, risk: Any, *, owner: str, prefix: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    cname = f"{prefix}[0] (coverage)" if prefix else "coverage"
    rname = f"{prefix}[1] (risk)" if prefix else "risk"
    cov = _numbers(coverage, name=cname, owner=owner, low=0, high=1, allow_nan=False)
    rsk = _numbers(risk, name=rname, owner=owner, low=0)
    _same_length(owner, {cname: cov, rname: rsk})
    keep = ~np.isnan(rsk)
    return cov[keep], rsk[keep]


def _series(
    series: Any,
    *,
    owner: str,
    n: int,
    low: float | None,
    high: float | None,
    what: str,
) -> dict[str, NDArray[np.float64]]:
    name = "series" if what == "rates" else "scores"
    if not isinstance(series, Mapping) or not series:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty mapping of name -> "
            f"{what} per window. Got {_short_repr(series)} instead."
        )
    out: dict[str, NDArray[np.float64]] = {}
    for key, values in series.items():
        label = _check_text(key, f"{name} key", owner)
        arr = _numbers(values, name=f"{name}[{key!r}]", owner=owner, low=low, high=high)
        _same_length(owner, {"t": np.empty(n), f"{name}[{key!r}]": arr})
        out[label] = arr
    return out


def _moments(value: Any, name: str, owner: str) -> list[Any]:
    if isinstance(value, (str, bytes, _dt.date, np.datetime64, int, float)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a sequence of positions of 't'. "
            f"Got {_short_repr(value)} instead."
        ) from None


def _cell(value: Any, *, row: int, owner: str) -> str:
    if value is None:
        return _DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return _DASH
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        if abs(number) >= 1000:
            return f"{number:,.0f}"
        return f"{number:.4g}"
    raise ConfigurationError(
        f"Cells in the 'rows' parameter of {owner} must be str, int, float, bool or None "
        f"(labels and aggregate numbers, never records or arrays). Row {row} has "
        f"{type(value).__name__} {_short_repr(value, 40)}."
    )
