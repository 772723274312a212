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
import copy
import datetime as _dt
import html
import io
import math
import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
from numpy.typing import NDArray

from guardrails.errors import ConfigurationError

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
        "the model is overconfident, above it underconfident. The bars beneath count the "
        "rows in each bin (log scale, the number on each bar): a dot far from the diagonal "
        "that holds a handful of rows says little. ECE is the mean gap over all bins, "
        "weighted by their rows; lower is better."
    ),
    "risk_coverage": (
        "Moving right, the guard answers more rows (coverage) and usually admits more "
        "errors among them (selective risk). Lower is better at every coverage; the star "
        "is the chosen operating point. A flat curve means confidence does not rank errors."
    ),
    "per_class": (
        "Left: for each true class, the share of rows whose prediction set contained it. "
        "Right: how many classes the sets held on average; an empty set (no class "
        "trusted) counts 0, so a mean below 1 tells how often sets were empty, and larger "
        "sets mean more doubt."
    ),
    "rates": (
        "The share of requests in each window that the guard withheld or handed down the "
        "fallback chain. A step marks a change in the traffic or the model: bad inputs, "
        "a failing model, drift."
    ),
    "drift": "Each line is one feature's drift score per window.",
}

Cell: TypeAlias = "str | int | float | bool | None"


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class _Plot:
    kind: str
    title: str
    how_to_read: str
    figure: Figure
    data: str | None
    values: Mapping[str, Any]


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
        edges: Sequence[float] | NDArray[Any] | None = None,
        min_count: int = 0,
        data: str | None = None,
        title: str = "Reliability diagram",
        how_to_read: str | None = None,
    ) -> Report:
        """Plot reliability curves (for instance before and after calibration) on one axes,
        with the rows per bin in a histogram beneath.

        Args:
            curves: label -> ``(bin_confidence, bin_accuracy, bin_count)``, three sequences
                of the same length ``(n_bins,)``: mean confidence per bin in [0, 1], share
                of correct answers per bin in [0, 1], rows per bin (>= 0). Bins that are
                empty (count 0) or NaN are not drawn.
            ece: label -> expected calibration error, shown in the legend; every key must
                be a label of ``curves``.
            edges: ``(n_bins + 1,)`` bin edges shared by the curves; the histogram's bars
                then span their bins (without, each bar sits at its bin's mean confidence).
            min_count: bins with fewer rows are drawn as hollow dots and left out of the
                line, so that a bin too small to read does not make the curve zigzag.
            data: which rows the curves come from, shown under the plot.
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
        n_bins = len(curves[next(iter(curves))][0])
        bin_edges = None
        if edges is not None:
            bin_edges = _numbers(edges, name="edges", owner=owner, low=0, high=1, allow_nan=False)
            if bin_edges.size != n_bins + 1 or (np.diff(bin_edges) <= 0).any():
                raise ConfigurationError(
                    f"The 'edges' parameter of {owner} must be {n_bins + 1} increasing numbers "
                    f"in [0, 1], one more than the bins. Got {_short_repr(edges)} instead."
                )
        if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)):
            raise ConfigurationError(
                f"The 'min_count' parameter of {owner} must be an int >= 0. "
                f"Got {_short_repr(min_count)} instead."
            )
        if min_count < 0:
            raise ConfigurationError(
                f"The 'min_count' parameter of {owner} must be an int >= 0. Got {min_count} "
                "instead."
            )
        note = _data(data, owner)
        sparse_any = any(bool((c < min_count).any()) for _, _, _, c in parsed)

        with _drawing():
            fig = _new_figure((7.0, 7.0))
            grid = fig.add_gridspec(2, 1, height_ratios=(3.2, 1.3))
            ax = fig.add_subplot(grid[0])
            hist = fig.add_subplot(grid[1], sharex=ax)
            handles: list[Any] = []
            labels: list[str] = []
            (diag,) = ax.plot([0, 1], [0, 1], linestyle="--", color="#888888", linewidth=1)
            handles.append(diag)
            labels.append("perfect calibration")
            width = 0.8 / len(parsed)
            for i, (label, conf, acc, count) in enumerate(parsed):
                colour = PALETTE[i % len(PALETTE)]
                order = np.argsort(conf)
                solid = count >= min_count
                (line,) = ax.plot(
                    conf[order][solid[order]],
                    acc[order][solid[order]],
                    color=colour,
                    linewidth=1.6,
                    marker="o",
                    markersize=6,
                    clip_on=False,
                    zorder=3,
                )
                if (~solid).any():
                    ax.scatter(
                        conf[~solid],
                        acc[~solid],
                        s=36,
                        facecolors="white",
                        edgecolors=colour,
                        linewidths=1.4,
                        clip_on=False,
                        zorder=3,
                    )
                text = _plain(label)
                if label in ece_values:
                    text += f" (ECE {ece_values[label]:.3f})"
                handles.append(line)
                labels.append(text)
                if bin_edges is not None:
                    lefts = np.searchsorted(bin_edges, conf, side="right") - 1
                    lefts = np.clip(lefts, 0, n_bins - 1)
                    span = np.diff(bin_edges)[lefts]
                    x = bin_edges[lefts] + span * (0.1 + width * (i + 0.5))
                    bar_width = span * width
                else:
                    x = conf + 0.012 * (i - (len(parsed) - 1) / 2)
                    bar_width = np.full(conf.shape, 0.012)
                bars = hist.bar(x, count, width=bar_width, color=colour)
                hist.bar_label(bars, labels=[str(int(c)) for c in count], fontsize=7, padding=1)
            if sparse_any:
                hollow = ax.scatter(
                    [], [], s=36, facecolors="white", edgecolors="#444444", linewidths=1.4
                )
                handles.append(hollow)
                labels.append(f"bin with fewer than {min_count} rows (not joined)")
            # Top-label confidence of k classes is at least 1/k: start the axis where the
            # data can be (0.5 for two classes), so half the plot is not empty.
            lowest = min(float(c.min()) for _, c, _, _ in parsed)
            start = 0.5 if lowest >= 0.5 and (bin_edges is None or n_bins % 2 == 0) else 0.0
            ax.set_xlim(start, 1.02)
            ax.set_ylim(0, 1.04)
            ax.set_xlabel("Confidence (mean per bin)")
            ax.set_ylabel("Accuracy (share correct per bin)")
            ax.legend(handles, labels, loc="best")
            hist.set_yscale("log")
            hist.yaxis.set_major_formatter(_ticker().FuncFormatter(lambda v, _: f"{v:g}"))
            hist.set_ylim(0.8, max(float(c.max()) for _, _, _, c in parsed) * 4)
            hist.set_xlabel("Confidence (bin)")
            hist.set_ylabel("Rows per bin")
            hist.grid(False, axis="x")
            fig.suptitle(_plain(title))
        values = {
            "curves": {
                label: {"confidence": conf, "accuracy": acc, "count": count}
                for label, conf, acc, count in parsed
            },
            "ece": ece_values,
            "edges": bin_edges,
            "min_count": int(min_count),
        }
        default = HOW_TO_READ["reliability"]
        if sparse_any:
            default += (
                f" Hollow dots are bins with fewer than {min_count} rows: too few to read, "
                "so the line does not join them."
            )
        return self._add_plot("reliability", title, how_to_read, fig, note, values, default)

    def add_risk_coverage(
        self,
        coverage: Sequence[float] | NDArray[Any],
        risk: Sequence[float] | NDArray[Any],
        *,
        label: str = "guard",
        operating_point: tuple[float, float] | None = None,
        compare: Mapping[str, tuple[Any, Any]] | None = None,
        target_risk: float | None = None,
        data: str | None = None,
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
            data: which rows the curves come from, shown under the plot.
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
        note = _data(data, owner)

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
        values = {
            "curves": {n: {"coverage": c, "risk": r} for n, (c, r) in zip(names, curves)},
            "operating_point": point,
            "target_risk": target,
        }
        return self._add_plot("risk_coverage", title, how_to_read, fig, note, values)

    def add_per_class(
        self,
        classes: Sequence[Any] | NDArray[Any],
        coverage: Sequence[float] | NDArray[Any],
        mean_set_size: Sequence[float] | NDArray[Any] | None = None,
        *,
        target: float | None = None,
        interval: tuple[Any, Any] | None = None,
        counts: Sequence[int] | NDArray[Any] | None = None,
        data: str | None = None,
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
            interval: ``(low, high)``, two ``(n_classes,)`` sequences: a confidence interval
                of each class's coverage, drawn as an error bar. With a target, a bar is
                flagged "below target" only when its whole interval lies below it; without
                an interval no bar is flagged.
            counts: ``(n_classes,)`` rows behind each bar, written under its label.
            data: which rows the bars come from, shown under the plot.
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
        low = high = None
        if interval is not None:
            if (
                isinstance(interval, (str, bytes))
                or not isinstance(interval, Sequence)
                or len(interval) != 2
            ):
                raise ConfigurationError(
                    f"The 'interval' parameter of {owner} must be a pair (low, high) of "
                    f"sequences. Got {_short_repr(interval)} instead."
                )
            low = _numbers(interval[0], name="interval[0] (low)", owner=owner, low=0, high=1)
            high = _numbers(interval[1], name="interval[1] (high)", owner=owner, low=0, high=1)
            columns["interval[0]"], columns["interval[1]"] = low, high
            ok = np.isnan(cov) | ((low <= cov + 1e-12) & (cov <= high + 1e-12))
            if not ok.all():
                raise ConfigurationError(
                    f"The 'interval' parameter of {owner} must hold each coverage: "
                    f"low <= coverage <= high. Got low={_short_repr(low.tolist())}, "
                    f"high={_short_repr(high.tolist())} for coverage "
                    f"{_short_repr(cov.tolist())}."
                )
        n_rows = None
        if counts is not None:
            n_rows = _numbers(counts, name="counts", owner=owner, low=0, allow_nan=False)
            columns["counts"] = n_rows
        _same_length(owner, columns)
        goal = (
            None if target is None else _scalar(target, name="target", owner=owner, low=0, high=1)
        )
        title = _check_text(title, "title", owner)
        note = _data(data, owner)
        below = np.zeros(len(names), dtype=bool)
        if goal is not None and high is not None:
            below = ~np.isnan(high) & (high < goal)

        with _drawing():
            fig = _new_figure((9.0, 4.8) if size is not None else (7.0, 4.8))
            x = np.arange(len(names), dtype=np.float64)
            ax = fig.add_subplot(1, 2, 1) if size is not None else fig.add_subplot()
            colours = [PALETTE[1] if b else PALETTE[0] for b in below]
            bar_set = ax.bar(x, np.nan_to_num(cov), color=colours, width=0.7)
            ax.bar_label(
                bar_set,
                labels=[_DASH if np.isnan(c) else f"{c:.3f}" for c in cov],
                label_type="center",
                color="white",
                fontsize=10,
            )
            handles: list[Any] = []
            labels: list[str] = []
            if low is not None and high is not None:
                centre = np.nan_to_num(cov)
                bars = ax.errorbar(
                    x,
                    centre,
                    yerr=np.vstack([centre - np.nan_to_num(low), np.nan_to_num(high) - centre]),
                    fmt="none",
                    ecolor="#222222",
                    elinewidth=1.4,
                    capsize=6,
                    zorder=3,
                )
                handles.append(bars)
                labels.append("confidence interval")
            if goal is not None:
                line = ax.axhline(goal, color="#000000", linestyle="--", linewidth=1)
                handles.append(line)
                labels.append(f"target {goal:.2f}")
            if below.any():
                handles.append(ax.bar([np.nan], [np.nan], color=PALETTE[1])[0])
                labels.append("below target (whole interval)")
            if handles:
                ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("Class")
            ax.set_ylabel("Coverage (true class in the set)")
            shown = (
                names
                if n_rows is None
                else [f"{_plain(n, 24)}\n{int(c):,} rows" for n, c in zip(names, n_rows)]
            )
            _category_ticks(ax, x, shown)
            if size is not None:
                ax2 = fig.add_subplot(1, 2, 2)
                ax2.bar(x, np.nan_to_num(size), color=PALETTE[1], width=0.7)
                ax2.set_ylim(bottom=0)
                ax2.set_xlabel("Class")
                ax2.set_ylabel("Mean prediction-set size")
                _category_ticks(ax2, x, shown)
            fig.suptitle(_plain(title))
        values = {
            "classes": tuple(names),
            "coverage": cov,
            "interval": None if low is None else (low, high),
            "counts": n_rows,
            "mean_set_size": size,
            "target": goal,
            "below_target": tuple(bool(b) for b in below),
        }
        default = HOW_TO_READ["per_class"]
        if goal is not None:
            default = (
                "The dashed line is the coverage promised. "
                + (
                    "Each bar carries a confidence interval; a bar is flagged below target "
                    "(another colour) only when its whole interval lies under the line, and "
                    "a bar under the line whose interval reaches it is within noise. "
                    if low is not None
                    else "No interval was given, so no bar is flagged: a bar a little under "
                    "the line may be noise. "
                )
                + default
            )
        return self._add_plot("per_class", title, how_to_read, fig, note, values, default)

    def add_rates_over_time(
        self,
        t: Sequence[Any] | NDArray[Any],
        series: Mapping[str, Sequence[float] | NDArray[Any]],
        *,
        xlabel: str = "Time window",
        data: str | None = None,
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
            data: which rows the rates come from, shown under the plot.
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
        note = _data(data, owner)

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
        drawn = {"t": axis.labels or axis.x, "series": values}
        return self._add_plot("rates", title, how_to_read, fig, note, drawn)

    def add_drift_over_time(
        self,
        t: Sequence[Any] | NDArray[Any],
        scores: Mapping[str, Sequence[float] | NDArray[Any]],
        *,
        threshold: float | None = None,
        threshold_label: str | None = None,
        tightened_at: Sequence[Any] = (),
        relaxed_at: Sequence[Any] = (),
        xlabel: str = "Time window",
        ylabel: str = "Drift score",
        data: str | None = None,
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
            threshold: score above which a feature counts as drifted (dashed line). Draw
                scores on the scale the verdict uses: a p-value's verdict has no single
                line on a statistic's axis, so pass ``-log10`` of the adjusted p-values and
                ``-log10(alpha)``.
            threshold_label: the legend entry of the threshold line.
            tightened_at: positions (values of ``t``) where the guard tightened.
            relaxed_at: positions (values of ``t``) where it went back to normal; each must
                come after a tightening (a guard relaxes only what it tightened).
            xlabel: the x-axis label.
            ylabel: the y-axis label (name the score: "PSI", "KS statistic").
            data: which windows and features the scores come from, shown under the plot.
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on empty or mismatched sequences, a feature with only NaN
                scores, a tightening moment that is not a position of ``t``, or a relaxing
                moment with no tightening before it.
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
        early = [p for p in relax if not any(q < p for q in tight)]
        if early:
            raise ConfigurationError(
                f"The 'relaxed_at' parameter of {owner} must hold moments after a tightening "
                f"(a guard relaxes only what it tightened). {len(early)} of them come before "
                "any value of 'tightened_at'."
            )
        mark = None
        if threshold_label is not None:
            mark = _check_text(threshold_label, "threshold_label", owner)
        xlabel = _check_text(xlabel, "xlabel", owner)
        ylabel = _check_text(ylabel, "ylabel", owner)
        title = _check_text(title, "title", owner)
        note = _data(data, owner)
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
                labels.append(_plain(mark) if mark else f"threshold {limit:.3g}")
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
            lowest = min(float(np.nanmin(v)) for v in values.values())
            if lowest >= 0:
                top = max(float(np.nanmax(v)) for v in values.values())
                ax.set_ylim(0, max(top, limit or 0.0) * 1.08 or 1.0)
            axis.format(ax)
            ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0))
            fig.suptitle(_plain(title))
        values_out = {
            "t": axis.labels or axis.x,
            "scores": values,
            "threshold": limit,
            "tightened_at": tuple(tight),
            "relaxed_at": tuple(relax),
            "grey": tuple(rest),
        }
        default = HOW_TO_READ["drift"]
        if rest:
            default += (
                f" The {len(shown)} with the highest peak are in colour, the other "
                f"{len(rest)} in grey."
            )
        if limit is not None:
            default += " Above the dashed line the feature counts as drifted."
        else:
            default += " No threshold was given, so none is drawn."
        if tight:
            default += " Solid vertical lines mark when the guard tightened"
            default += "; dotted ones when it relaxed." if relax else "."
        return self._add_plot("drift", title, how_to_read, fig, note, values_out, default)

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

    def titles(self) -> list[str]:
        """The titles of the sections, in order (an untitled text block gives "")."""
        return [s.title or "" for s in self._sections]

    def plot_data(self, title: str) -> dict[str, Any]:
        """The numbers a plot draws, as it drew them, and the data line it states.

        The keys depend on the kind of plot (``"kind"``, ``"data"`` and, for a reliability
        diagram, ``"curves"`` and ``"ece"``...); arrays come back as tuples of floats. A
        test reads these beside [`table`][guardrails.Report.table] to check that a plot
        and the table next to it say the same thing.

        Raises:
            ConfigurationError: if no plot has that title.
        """
        for s in self._sections:
            if isinstance(s, _Plot) and s.title == title:
                return {"kind": s.kind, "data": s.data, **_thawed(s.values)}
        raise ConfigurationError(
            f"The report has no plot titled {title!r}; its plots are "
            f"{[s.title for s in self._sections if isinstance(s, _Plot)]}."
        )

    def table(self, title: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
        """The header and rows of a table, as the HTML shows them (cells formatted).

        Raises:
            ConfigurationError: if no table has that title.
        """
        for s in self._sections:
            if isinstance(s, _Table) and s.title == title:
                return s.header, s.rows
        raise ConfigurationError(
            f"The report has no table titled {title!r}; its tables are "
            f"{[s.title for s in self._sections if isinstance(s, _Table)]}."
        )

    def only(self, title: str) -> Report:
        """A report with the same heading and only the section of that title (to mail one
        plot, or to look at one section at a time).

        Raises:
            ConfigurationError: if no section has that title.
        """
        picked = [s for s in self._sections if s.title == title]
        if not picked:
            raise ConfigurationError(
                f"The report has no section titled {title!r}; its sections are {self.titles()}."
            )
        new = Report(self.title, subtitle=self.subtitle)
        new._sections = picked
        return new

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
            path.write_bytes(_png(plot, footnote=True))
            written.append(path)
        return written

    # ------------------------------------------------------------------ internals

    def _add_plot(
        self,
        kind: str,
        title: str,
        how_to_read: str | None,
        fig: Figure,
        data: str | None = None,
        values: Mapping[str, Any] | None = None,
        default: str | None = None,
    ) -> Report:
        explain = (default or HOW_TO_READ[kind]) if how_to_read is None else how_to_read
        explain = _check_text(explain, "how_to_read", f"Report.add_{kind}")
        self._sections.append(_Plot(kind, title, explain, fig, data, _frozen(values or {})))
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
    "figcaption .data{display:block;margin-bottom:4px}"
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
        data_line = (
            f'<span class="data"><span class="how">Data: </span>{_esc(section.data)}</span>'
            if section.data
            else ""
        )
        return (
            f'<section {anchor} class="plot"><figure>'
            f'<img src="data:image/png;base64,{data}" alt="{_esc(section.title)}" />'
            f"<figcaption>{data_line}"
            f'<span class="how">How to read it: </span>'
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


def _png(plot: _Plot, *, footnote: bool = False) -> bytes:
    """The plot as PNG bytes; ``footnote`` writes its data line under it (a PNG on its own
    has no caption to say which rows it draws; in the HTML the caption does)."""
    buffer = io.BytesIO()
    describe = plot.how_to_read if not plot.data else f"Data: {plot.data} {plot.how_to_read}"
    with _drawing():
        note = None
        if footnote and plot.data:
            width = int(plot.figure.get_figwidth() * 14)
            note = plot.figure.text(
                0.01,
                -0.01,
                textwrap.fill(f"Data: {plot.data}", width=width),
                ha="left",
                va="top",
                fontsize=8,
                color="#555555",
            )
        try:
            plot.figure.savefig(
                buffer,
                format="png",
                dpi=_DPI,
                bbox_inches="tight" if note is not None else None,
                metadata={"Software": None, "Title": plot.title, "Description": describe},
            )
        finally:
            if note is not None:
                note.remove()
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


def _data(value: Any, owner: str) -> str | None:
    """The ``data`` line of a plot: which rows it draws (None when not given)."""
    if value is None:
        return None
    return _check_text(value, "data", owner)


def _ticker() -> Any:
    """``matplotlib.ticker`` (untyped), or the ImportError naming the extra."""
    try:
        from matplotlib import ticker
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    return ticker


def _frozen(values: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a plot's numbers: arrays become tuples of floats, so none can change."""

    def freeze(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return tuple(v.tolist())
        if isinstance(v, Mapping):
            return {k: freeze(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return tuple(freeze(x) for x in v)
        return v

    return {k: freeze(v) for k, v in values.items()}


def _thawed(values: Mapping[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(dict(values))


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
