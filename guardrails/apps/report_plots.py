"""Report plots, one function per kind: check the numbers, draw the figure, say what it drew.

Each function takes the arguments of its ``Report.add_*`` method (documented there), checks
them with ``report_checks`` and returns a ``Drawn``: the figure, the numbers it drew (for
``Report.plot_data``), the data line and the caption that fits what was drawn (no threshold
sentence without a threshold, no marker sentence without markers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.apps.report_checks import (
    DASH,
    _check_text,
    _data,
    _labels,
    _moments,
    _numbers,
    _risk_curve,
    _same_length,
    _scalar,
    _series,
)
from guardrails.apps.report_draw import (
    _MAX_LINES,
    _OTHER,
    PALETTE,
    _category_ticks,
    _drawing,
    _new_figure,
    _plain,
    _ticker,
    _time_axis,
)
from guardrails.core.errors import ConfigurationError
from guardrails.core.text import truncate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    "performance": (
        "The line is the label-free estimate of the model's accuracy per window (from its "
        "calibrated confidence), the band its interval. Where labels came back, the dots "
        "are the realized accuracy of that window: dots leaving the band mean the estimate "
        "no longer holds (concept drift), and only labels can say so."
    ),
}


@dataclass(frozen=True)
class Drawn:
    """One drawn plot: its kind, title, figure, data line, the numbers it drew, and the
    caption that fits them (None: the kind's ``HOW_TO_READ``)."""

    kind: str
    title: str
    figure: Figure
    data: str | None
    values: Mapping[str, Any]
    how_to_read: str | None


def reliability(
    curves: Mapping[str, Sequence[Any]],
    *,
    ece: Mapping[str, float] | None = None,
    edges: Sequence[float] | NDArray[Any] | None = None,
    min_count: int = 0,
    data: str | None = None,
    title: str = "Reliability diagram",
) -> Drawn:
    """Check the arguments of ``Report.add_reliability`` and draw its figure."""
    owner = "Report.add_reliability"
    if not isinstance(curves, Mapping) or not curves:
        raise ConfigurationError(
            f"The 'curves' parameter of {owner} must be a non-empty mapping of label -> "
            f"(bin_confidence, bin_accuracy, bin_count). Got {truncate(curves)} instead."
        )
    parsed: list[tuple[str, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]
    parsed = []
    for label, curve in curves.items():
        name = f"curves[{label!r}]"
        if isinstance(curve, (str, bytes)) or not isinstance(curve, Sequence) or len(curve) != 3:
            raise ConfigurationError(
                f"The {name!r} entry of {owner} must be a sequence of three sequences "
                f"(bin_confidence, bin_accuracy, bin_count). Got {truncate(curve)} instead."
            )
        conf = _numbers(curve[0], name=f"{name}[0] (bin_confidence)", owner=owner, low=0, high=1)
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
                f"Got {truncate(ece)} instead."
            )
        for label, value in ece.items():
            if label not in curves:
                raise ConfigurationError(
                    f"The 'ece' parameter of {owner} names {label!r}, which is not a label "
                    f"of 'curves' ({', '.join(map(repr, curves))})."
                )
            ece_values[label] = _scalar(value, name=f"ece[{label!r}]", owner=owner, low=0, high=1)
    title = _check_text(title, "title", owner)
    n_bins = len(curves[next(iter(curves))][0])
    bin_edges = None
    if edges is not None:
        bin_edges = _numbers(edges, name="edges", owner=owner, low=0, high=1, allow_nan=False)
        if bin_edges.size != n_bins + 1 or (np.diff(bin_edges) <= 0).any():
            raise ConfigurationError(
                f"The 'edges' parameter of {owner} must be {n_bins + 1} increasing numbers "
                f"in [0, 1], one more than the bins. Got {truncate(edges)} instead."
            )
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)):
        raise ConfigurationError(
            f"The 'min_count' parameter of {owner} must be an int >= 0. "
            f"Got {truncate(min_count)} instead."
        )
    if min_count < 0:
        raise ConfigurationError(
            f"The 'min_count' parameter of {owner} must be an int >= 0. Got {min_count} instead."
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
    return Drawn("reliability", title, fig, note, values, default)


def risk_coverage(
    coverage: Sequence[float] | NDArray[Any],
    risk: Sequence[float] | NDArray[Any],
    *,
    label: str = "guard",
    operating_point: tuple[float, float] | None = None,
    compare: Mapping[str, tuple[Any, Any]] | None = None,
    target_risk: float | None = None,
    data: str | None = None,
    title: str = "Risk-coverage curve",
) -> Drawn:
    """Check the arguments of ``Report.add_risk_coverage`` and draw its figure."""
    owner = "Report.add_risk_coverage"
    curves = [_risk_curve(coverage, risk, owner=owner, prefix="")]
    names = [_check_text(label, "label", owner)]
    if compare is not None:
        if not isinstance(compare, Mapping):
            raise ConfigurationError(
                f"The 'compare' parameter of {owner} must be a mapping of label -> "
                f"(coverage, risk). Got {truncate(compare)} instead."
            )
        for other, pair in compare.items():
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise ConfigurationError(
                    f"The 'compare[{other!r}]' entry of {owner} must be a pair of sequences "
                    f"(coverage, risk). Got {truncate(pair)} instead."
                )
            curves.append(_risk_curve(pair[0], pair[1], owner=owner, prefix=f"compare[{other!r}]"))
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
                f"Got {truncate(operating_point)} instead."
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
            (line,) = ax.plot(cov[order], rsk[order], color=colour, linewidth=1.8, marker=marker)
            handles.append(line)
            labels.append(_plain(name))
        if target is not None:
            line = ax.axhline(target, color="#888888", linestyle="--", linewidth=1)
            handles.append(line)
            labels.append(f"target risk {target:.3g}")
        if point is not None:
            star = ax.scatter([point[0]], [point[1]], marker="*", s=260, color="#000000", zorder=4)
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
    return Drawn("risk_coverage", title, fig, note, values, None)


def per_class(
    classes: Sequence[Any] | NDArray[Any],
    coverage: Sequence[float] | NDArray[Any],
    mean_set_size: Sequence[float] | NDArray[Any] | None = None,
    *,
    target: float | None = None,
    interval: tuple[Any, Any] | None = None,
    counts: Sequence[int] | NDArray[Any] | None = None,
    data: str | None = None,
    title: str = "Coverage and set size per class",
) -> Drawn:
    """Check the arguments of ``Report.add_per_class`` and draw its figure."""
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
                f"sequences. Got {truncate(interval)} instead."
            )
        low = _numbers(interval[0], name="interval[0] (low)", owner=owner, low=0, high=1)
        high = _numbers(interval[1], name="interval[1] (high)", owner=owner, low=0, high=1)
        columns["interval[0]"], columns["interval[1]"] = low, high
        ok = np.isnan(cov) | ((low <= cov + 1e-12) & (cov <= high + 1e-12))
        if not ok.all():
            raise ConfigurationError(
                f"The 'interval' parameter of {owner} must hold each coverage: "
                f"low <= coverage <= high. Got low={truncate(low.tolist())}, "
                f"high={truncate(high.tolist())} for coverage "
                f"{truncate(cov.tolist())}."
            )
    n_rows = None
    if counts is not None:
        n_rows = _numbers(counts, name="counts", owner=owner, low=0, allow_nan=False)
        columns["counts"] = n_rows
    _same_length(owner, columns)
    goal = None if target is None else _scalar(target, name="target", owner=owner, low=0, high=1)
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
            labels=[DASH if np.isnan(c) else f"{c:.3f}" for c in cov],
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
    return Drawn("per_class", title, fig, note, values, default)


def rates_over_time(
    t: Sequence[Any] | NDArray[Any],
    series: Mapping[str, Sequence[float] | NDArray[Any]],
    *,
    xlabel: str = "Time window",
    data: str | None = None,
    title: str = "Abstention and fallback rates over time",
) -> Drawn:
    """Check the arguments of ``Report.add_rates_over_time`` and draw its figure."""
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
    return Drawn("rates", title, fig, note, drawn, None)


def drift_over_time(
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
) -> Drawn:
    """Check the arguments of ``Report.add_drift_over_time`` and draw its figure."""
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
            f" The {len(shown)} with the highest peak are in colour, the other {len(rest)} in grey."
        )
    if limit is not None:
        default += " Above the dashed line the feature counts as drifted."
    else:
        default += " No threshold was given, so none is drawn."
    if tight:
        default += " Solid vertical lines mark when the guard tightened"
        default += "; dotted ones when it relaxed." if relax else "."
    return Drawn("drift", title, fig, note, values_out, default)


def performance_over_time(
    t: Sequence[Any] | NDArray[Any],
    estimate: Sequence[float] | NDArray[Any],
    lower: Sequence[float] | NDArray[Any],
    upper: Sequence[float] | NDArray[Any],
    *,
    realized: Sequence[float] | NDArray[Any] | None = None,
    threshold: float | None = None,
    xlabel: str = "Time window",
    ylabel: str = "Accuracy",
    data: str | None = None,
    title: str = "Estimated and realized accuracy over time",
) -> Drawn:
    """Check the arguments of ``Report.add_performance_over_time`` and draw its figure."""
    owner = "Report.add_performance_over_time"
    axis = _time_axis(t, owner=owner)
    cols = {
        name: _numbers(v, name=name, owner=owner, low=0, high=1)
        for name, v in (("estimate", estimate), ("lower", lower), ("upper", upper))
    }
    if realized is not None:
        cols["realized"] = _numbers(realized, name="realized", owner=owner, low=0, high=1)
    _same_length(owner, {"t": axis.x, **cols})
    est, lo, hi = cols["estimate"], cols["lower"], cols["upper"]
    ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
    if np.any((lo[ok] > est[ok]) | (est[ok] > hi[ok])):
        raise ConfigurationError(
            f"{owner} needs lower <= estimate <= upper in every window with all three."
        )
    limit = None if threshold is None else _scalar(threshold, name="threshold", owner=owner)
    xlabel = _check_text(xlabel, "xlabel", owner)
    ylabel = _check_text(ylabel, "ylabel", owner)
    title = _check_text(title, "title", owner)
    note = _data(data, owner)

    with _drawing():
        fig = _new_figure((8.0, 4.4))
        ax = fig.add_subplot()
        band = ax.fill_between(axis.x, lo, hi, color=PALETTE[0], alpha=0.2, linewidth=0)
        (line,) = ax.plot(axis.x, est, color=PALETTE[0], linewidth=1.8)
        handles: list[Any] = [line, band]
        labels = ["estimated (label-free)", "estimate's interval"]
        if "realized" in cols:
            (dots,) = ax.plot(
                axis.x, cols["realized"], color=PALETTE[1], marker="o", linestyle="none"
            )
            handles.append(dots)
            labels.append("realized (labels)")
        if limit is not None:
            handles.append(ax.axhline(limit, color="#D00000", linestyle="--", linewidth=1.2))
            labels.append(f"rule threshold {limit:.3g}")
        ax.set_xlabel(_plain(xlabel))
        ax.set_ylabel(_plain(ylabel))
        axis.format(ax)
        ax.legend(handles, labels, loc="lower left")
        fig.suptitle(_plain(title))
    values = {"t": axis.labels or axis.x, **cols, "threshold": limit}
    caption = HOW_TO_READ["performance"]
    if "realized" not in cols:
        caption = caption.split(" Where labels")[0] + " No labels were given, so no dots."
    if limit is not None:
        caption += " Below the dashed line the performance rule fires."
    return Drawn("performance", title, fig, note, values, caption)
