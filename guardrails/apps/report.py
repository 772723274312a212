"""Report: a titled list of plots, tables and text, written as one self-contained HTML file.

This module holds the sections and writes them out; ``report_html`` renders each section,
``report_plots`` checks and draws each kind of plot, ``report_draw`` holds the style and
figure plumbing, ``report_checks`` the argument checks.

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

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from numpy.typing import NDArray

from guardrails.apps import report_plots as _plots
from guardrails.apps.report_checks import _cell, _check_text
from guardrails.apps.report_draw import PALETTE, _drawing
from guardrails.apps.report_html import (
    _CSS,
    _esc,
    _frozen,
    _Plot,
    _png,
    _render,
    _Section,
    _Table,
    _Text,
    _thawed,
)
from guardrails.apps.report_plots import HOW_TO_READ, Drawn
from guardrails.core.errors import ConfigurationError
from guardrails.core.text import truncate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["HOW_TO_READ", "PALETTE", "Report"]
Cell: TypeAlias = "str | int | float | bool | None"


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
                f"Got {truncate(subtitle)} instead."
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
        return self._add(
            _plots.reliability(
                curves, ece=ece, edges=edges, min_count=min_count, data=data, title=title
            ),
            how_to_read,
        )

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
        return self._add(
            _plots.risk_coverage(
                coverage,
                risk,
                label=label,
                operating_point=operating_point,
                compare=compare,
                target_risk=target_risk,
                data=data,
                title=title,
            ),
            how_to_read,
        )

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
        return self._add(
            _plots.per_class(
                classes,
                coverage,
                mean_set_size,
                target=target,
                interval=interval,
                counts=counts,
                data=data,
                title=title,
            ),
            how_to_read,
        )

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
        return self._add(
            _plots.rates_over_time(t, series, xlabel=xlabel, data=data, title=title), how_to_read
        )

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
        return self._add(
            _plots.drift_over_time(
                t,
                scores,
                threshold=threshold,
                threshold_label=threshold_label,
                tightened_at=tightened_at,
                relaxed_at=relaxed_at,
                xlabel=xlabel,
                ylabel=ylabel,
                data=data,
                title=title,
            ),
            how_to_read,
        )

    def add_performance_over_time(
        self,
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
        how_to_read: str | None = None,
    ) -> Report:
        """Plot the label-free performance estimate per window with its interval band,
        against the realized accuracy where labels exist.

        Feed it the monitor's ``performance_window`` events (``estimate``, ``lower``,
        ``upper`` per window) and, for ``realized``, the accuracy of each window's
        labelled rows (or its ``ppi_accuracy`` estimate); NaN where a window has none.

        Args:
            t: ``(n_windows,)`` window positions (numbers, datetimes or unique labels).
            estimate, lower, upper: ``(n_windows,)`` the estimate and its interval, in [0, 1].
            realized: ``(n_windows,)`` realized accuracy, NaN where no labels came back.
            threshold: the performance rule's threshold (dashed line).
            xlabel: the x-axis label.
            ylabel: the y-axis label.
            data: which windows and rows the numbers come from, shown under the plot.
            title: the plot title.
            how_to_read: replaces the default explanation line.

        Returns:
            The report.

        Raises:
            ConfigurationError: on empty or mismatched sequences, values outside [0, 1], or
                a window whose estimate is outside its interval.
            ImportError: if matplotlib is not installed.
        """
        return self._add(
            _plots.performance_over_time(
                t,
                estimate,
                lower,
                upper,
                realized=realized,
                threshold=threshold,
                xlabel=xlabel,
                ylabel=ylabel,
                data=data,
                title=title,
            ),
            how_to_read,
        )

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
                    f"Got {truncate(figure)} instead."
                )
        title = _check_text(title, "title", owner)
        how_to_read = _check_text(how_to_read, "how_to_read", owner)
        return self._add(Drawn("figure", title, figure, None, {}, how_to_read), how_to_read)

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
                f"Got {truncate(header)} instead."
            )
        head = tuple(_check_text(h, "header", owner, allow_empty=True) for h in header)
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
            raise ConfigurationError(
                f"The 'rows' parameter of {owner} must be a sequence of rows. "
                f"Got {truncate(rows)} instead."
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
                    f"{len(head)} cells, one per header column. Got {truncate(row)} instead."
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

    def _add(self, drawn: Drawn, how_to_read: str | None) -> Report:
        if how_to_read is None:
            explain = drawn.how_to_read or HOW_TO_READ[drawn.kind]
        else:
            explain = _check_text(how_to_read, "how_to_read", f"Report.add_{drawn.kind}")
        plot = _Plot(
            drawn.kind, drawn.title, explain, drawn.figure, drawn.data, _frozen(drawn.values)
        )
        self._sections.append(plot)
        return self


# --------------------------------------------------------------------------- HTML
