"""The report draws given aggregates into labelled plots and one self-contained HTML file."""

from __future__ import annotations

import base64
import datetime as dt
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardrails import ConfigurationError, Report
from guardrails.monitoring.performance import PerformanceRule, PerformanceWatch

matplotlib = pytest.importorskip(
    "matplotlib", reason="the report's plots need the 'report' extra (matplotlib)"
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BINS = np.linspace(0.05, 0.95, 10)


def _reliability(r: Report) -> Report:
    return r.add_reliability(
        {
            "before": (BINS, BINS**1.5, np.arange(10) + 5),
            "after": (BINS, BINS - 0.01, np.arange(10) + 5),
        },
        ece={"before": 0.081, "after": 0.012},
    )


def _risk_coverage(r: Report) -> Report:
    cov = np.linspace(0.05, 1.0, 40)
    return r.add_risk_coverage(
        cov,
        0.2 * cov**2,
        operating_point=(0.8, 0.128),
        compare={"unguarded": ([1.0], [0.2])},
        target_risk=0.1,
    )


def _per_class(r: Report) -> Report:
    return r.add_per_class(
        ["setosa", "versicolor", "virginica"], [0.95, 0.88, 0.91], [1.0, 1.6, 1.4], target=0.9
    )


def _rates(r: Report) -> Report:
    return r.add_rates_over_time(
        ["normal", "malformed", "flaky", "drift"],
        {"abstention": [0.05, 0.3, 0.1, 0.2], "fallback": [0.01, 0.25, 0.5, 0.1]},
        xlabel="Phase",
    )


def _drift(r: Report) -> Report:
    t = np.arange(12)
    return r.add_drift_over_time(
        t,
        {"age": np.r_[np.full(6, 0.02), np.full(6, 0.3)], "income": np.full(12, 0.05)},
        threshold=0.2,
        tightened_at=[7],
        relaxed_at=[10],
        ylabel="PSI",
    )


# (builder, title, [(xlabel, ylabel) per axes])
PLOTS: list[tuple[Callable[[Report], Report], str, list[tuple[str, str]]]] = [
    (
        _reliability,
        "Reliability diagram",
        [
            ("Confidence (mean per bin)", "Accuracy (share correct per bin)"),
            ("Confidence (bin)", "Rows per bin"),
        ],
    ),
    (
        _risk_coverage,
        "Risk-coverage curve",
        [("Coverage (share of rows answered)", "Selective risk (errors among answered rows)")],
    ),
    (
        _per_class,
        "Coverage and set size per class",
        [("Class", "Coverage (true class in the set)"), ("Class", "Mean prediction-set size")],
    ),
    (_rates, "Abstention and fallback rates over time", [("Phase", "Rate (share of requests)")]),
    (_drift, "Drift scores over time", [("Time window", "PSI")]),
]


def full_report(title: str = "Nightly audit") -> Report:
    report = Report(title, subtitle="synthetic numbers")
    for build, _, _ in PLOTS:
        build(report)
    report.add_table("Summary", ["phase", "answered", "accuracy"], [["normal", 950, 0.9512]])
    report.add_text("Two phases.\n\nBoth synthetic.", title="Notes")
    return report


def _legend_texts(fig: Any) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]


# ------------------------------------------------------------------ every plot


@pytest.mark.parametrize(("build", "title", "axes"), PLOTS, ids=[p[1] for p in PLOTS])
def test_each_plot_has_its_title_and_axis_labels(
    build: Callable[[Report], Report], title: str, axes: list[tuple[str, str]]
) -> None:
    report = build(Report())
    (fig,) = report.figures()
    assert fig.get_suptitle() == title
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == axes


@pytest.mark.parametrize(("build", "title", "axes"), PLOTS, ids=[p[1] for p in PLOTS])
def test_each_plot_has_a_how_to_read_line_under_it_in_the_html(
    build: Callable[[Report], Report], title: str, axes: list[tuple[str, str]]
) -> None:
    page = build(Report()).html()
    caption = re.search(r"<figcaption>(.*?)</figcaption>", page, re.DOTALL)
    assert caption is not None
    assert "How to read it" in caption.group(1)
    assert len(caption.group(1)) > 80


def test_a_custom_explanation_and_title_replace_the_defaults() -> None:
    report = Report().add_per_class(
        [0, 1], [0.9, 0.8], title="Per label", how_to_read="Bars near 1 are good."
    )
    assert report.figures()[0].get_suptitle() == "Per label"
    assert "Bars near 1 are good." in report.html()
    assert len(report.figures()[0].axes) == 1  # no set sizes: coverage panel only


def test_reliability_legend_shows_ece_and_empty_bins_are_not_drawn() -> None:
    conf = [0.1, 0.5, np.nan, 0.9]
    acc = [0.2, 0.4, np.nan, 0.7]
    count = [10, 0, 0, 30]
    report = Report().add_reliability({"raw": (conf, acc, count)}, ece={"raw": 0.1234})
    fig = report.figures()[0]
    assert "raw (ECE 0.123)" in _legend_texts(fig)
    curve = [ln for ln in fig.axes[0].get_lines() if ln.get_label() != "_child0"][-1]
    assert list(zip(curve.get_xdata(), curve.get_ydata())) == [(0.1, 0.2), (0.9, 0.7)]
    assert report.plot_data("Reliability diagram")["curves"]["raw"]["count"] == (10.0, 30.0)


def test_reliability_counts_each_bin_beneath_and_marks_bins_too_small_to_read() -> None:
    edges = np.linspace(0, 1, 6)
    conf = [0.1, 0.3, 0.5, 0.7, 0.95]
    acc = [0.0, 0.5, 0.45, 0.72, 1.0]
    count = [3, 40, 60, 5, 200]
    fig = (
        Report()
        .add_reliability({"raw": (conf, acc, count)}, edges=edges, min_count=20)
        .figures()[0]
    )
    top, hist = fig.axes
    bars = [p.get_height() for p in hist.patches]
    assert bars == count  # one bar per bin, as tall as its rows
    labels = [t.get_text() for t in hist.texts]
    assert labels == ["3", "40", "60", "5", "200"]
    (line,) = [ln for ln in top.get_lines() if ln.get_marker() == "o"]
    assert list(line.get_xdata()) == [0.3, 0.5, 0.95]  # the sparse bins are not joined
    (hollow,) = [c for c in top.collections if len(c.get_offsets())]
    assert sorted(map(tuple, hollow.get_offsets())) == [(0.1, 0.0), (0.7, 0.72)]
    assert any("fewer than 20 rows" in t for t in _legend_texts(fig))
    # The point at (1, 1) is not cut by the frame: the axes reach past 1 and do not clip.
    assert top.get_xlim()[1] > 1 and top.get_ylim()[1] > 1
    assert not line.get_clip_on()
    caption = Report().add_reliability({"raw": (conf, acc, count)}, min_count=20).html()
    assert "Hollow dots are bins with fewer than 20 rows" in caption


def test_reliability_axis_starts_at_one_half_for_two_classes() -> None:
    fig = Report().add_reliability({"raw": ([0.55, 0.8], [0.5, 0.9], [10, 30])}).figures()[0]
    assert fig.axes[0].get_xlim()[0] == 0.5


def test_risk_coverage_marks_the_operating_point_and_compares_curves() -> None:
    fig = _risk_coverage(Report()).figures()[0]
    texts = _legend_texts(fig)
    assert texts[:2] == ["guard", "unguarded"]
    assert "operating point (coverage 0.80, risk 0.128)" in texts
    (star,) = fig.axes[0].collections
    assert tuple(star.get_offsets()[0]) == (0.8, 0.128)


def test_rates_over_phases_label_the_ticks_with_the_phase_names() -> None:
    fig = _rates(Report()).figures()[0]
    fig.canvas.draw()  # tick labels are filled in at draw time
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["normal", "malformed", "flaky", "drift"]


def test_per_class_flags_a_bar_only_when_its_whole_interval_is_below_target() -> None:
    report = Report().add_per_class(
        ["a", "b", "c"],
        [0.97, 0.90, 0.99],
        [1.0, 1.2, 0.9],
        target=0.95,
        interval=([0.93, 0.86, 0.97], [0.99, 0.93, 1.0]),
        counts=[150, 300, 80],
    )
    values = report.plot_data("Coverage and set size per class")
    assert values["below_target"] == (False, True, False)
    fig = report.figures()[0]
    fig.canvas.draw()
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in fig.axes[0].patches[:3]]
    assert colours[1] != colours[0] == colours[2]
    assert "below target (whole interval)" in _legend_texts(fig)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["a\n150 rows", "b\n300 rows", "c\n80 rows"]
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.970", "0.900", "0.990"]
    page = report.html()
    assert "only when its whole interval lies under the line" in page
    assert "an empty set (no class trusted) counts 0" in page
    unflagged = Report().add_per_class(["a"], [0.5], target=0.9).html()
    assert "No interval was given, so no bar is flagged" in unflagged


def test_drift_marks_tightening_and_greys_out_features_beyond_eight() -> None:
    scores = {f"f{i}": np.linspace(0, 0.01 * (i + 1), 5) for i in range(11)}
    fig = (
        Report()
        .add_drift_over_time(["w1", "w2", "w3", "w4", "w5"], scores, tightened_at=["w4"])
        .figures()[0]
    )
    texts = _legend_texts(fig)
    assert texts[0] == "3 other features"
    assert texts[1] == "f10"  # the highest peak comes first in colour
    assert "guard tightened" in texts
    ax = fig.axes[0]
    vertical = [ln for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
    assert [ln.get_xdata()[0] for ln in vertical] == [3.0]  # "w4" is the fourth window
    assert ax.get_ylim()[0] == 0  # scores >= 0: the axis starts at 0


def test_drift_draws_its_threshold_and_says_only_what_it_draws() -> None:
    t = np.arange(6)
    with_line = Report().add_drift_over_time(
        t,
        {"x": [0.1, 0.2, 0.4, 3.0, 5.0, 0.3]},
        threshold=2.0,
        threshold_label="alpha 0.01: above it, drift",
        tightened_at=[3],
        relaxed_at=[5],
    )
    fig = with_line.figures()[0]
    assert "alpha 0.01: above it, drift" in _legend_texts(fig)
    flat = [ln for ln in fig.axes[0].get_lines() if set(ln.get_ydata()) == {2.0}]
    assert len(flat) == 1  # the threshold is drawn
    page = with_line.html()
    assert "Above the dashed line" in page and "dotted ones when it relaxed" in page
    bare = Report().add_drift_over_time(t, {"x": [0.1, 0.2, 0.4, 3.0, 5.0, 0.3]}).html()
    assert "dashed" not in bare and "relaxed" not in bare and "tightened" not in bare
    assert "No threshold was given, so none is drawn" in bare


def test_drift_over_datetimes_places_tightening_on_the_date_axis() -> None:
    from matplotlib.dates import date2num

    start = dt.datetime(2026, 1, 1)
    t = [start + dt.timedelta(hours=h) for h in range(6)]
    moment = start + dt.timedelta(hours=4)
    fig = (
        Report()
        .add_drift_over_time(t, {"x": [0.1, 0.1, 0.1, 0.1, 0.4, 0.5]}, tightened_at=[moment])
        .figures()[0]
    )
    vertical = [ln for ln in fig.axes[0].get_lines() if len(set(ln.get_xdata())) == 1]
    assert vertical[0].get_xdata()[0] == pytest.approx(date2num(moment))


def test_rates_over_numpy_datetimes_use_a_date_axis() -> None:
    from matplotlib.dates import num2date

    t = np.arange("2026-03-01", "2026-03-08", dtype="datetime64[D]")
    fig = Report().add_rates_over_time(t, {"review": np.linspace(0, 0.2, 7)}).figures()[0]
    (line,) = fig.axes[0].get_lines()
    first = num2date(line.get_xdata()[0])
    assert (first.year, first.month, first.day) == (2026, 3, 1)


def test_add_figure_takes_a_figure_drawn_elsewhere() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    report = Report().add_figure(fig, title="Custom", how_to_read="Down is good.")
    assert report.figures() == [fig]
    with pytest.raises(ConfigurationError, match="'figure' parameter"):
        Report().add_figure("not a figure", title="x", how_to_read="y")  # type: ignore[arg-type]


def test_figures_come_back_in_the_order_added_and_the_repr_counts_sections() -> None:
    report = full_report()
    titles = [f.get_suptitle() for f in report.figures()]
    assert titles == [title for _, title, _ in PLOTS]
    assert repr(report) == "Report(title='Nightly audit', sections=7)"
    assert len(report) == 7


# ------------------------------------------------------------------ HTML


def test_the_html_file_is_self_contained_and_well_formed(tmp_path: Path) -> None:
    report = full_report()
    path = report.to_html(tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == len(report.figures()) == 5
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE)
        assert b"matplotlib.org" not in data  # no software URL in the PNG metadata either
    # Well-formed: the document parses as XML once the doctype is removed.
    root = ET.fromstring(page.replace("<!DOCTYPE html>", "", 1))
    assert root.tag == "html"
    assert root.find("head/title").text == "Nightly audit"  # type: ignore[union-attr]
    assert len(root.findall(".//figure/figcaption")) == 5
    assert len(root.findall(".//table/tbody/tr")) == 1
    anchors = {a.get("href") for a in root.iter("a")}
    ids = {f"#{s.get('id')}" for s in root.iter("section")}
    assert anchors <= ids and anchors  # the contents only link inside the page


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&'


def test_every_string_put_into_the_html_is_escaped() -> None:
    report = Report(HOSTILE, subtitle=HOSTILE)
    report.add_table(HOSTILE, [HOSTILE, "n"], [[HOSTILE, 3]], note=HOSTILE)
    report.add_text(HOSTILE, title=HOSTILE)
    report.add_per_class([HOSTILE, "b"], [0.9, 0.8], title=HOSTILE, how_to_read=HOSTILE)
    page = report.html()
    assert "<script" not in page
    assert "onerror=alert(1)>" not in page
    assert "<img src=x" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert page.count(escaped) >= 8
    assert f"<td>{escaped}&lt;img src=x onerror=alert(1)&gt;&amp;</td>" in page
    ET.fromstring(page.replace("<!DOCTYPE html>", "", 1))  # still well-formed


def test_a_table_cell_that_is_a_record_or_array_is_refused() -> None:
    for cell in ({"ssn": "123-45-6789"}, ["a", "b"], np.arange(3), object()):
        with pytest.raises(ConfigurationError, match="never records or arrays"):
            Report().add_table("t", ["value"], [[cell]])


def test_table_numbers_are_formatted_and_missing_values_dashed() -> None:
    page = (
        Report()
        .add_table("t", ["a", "b", "c", "d", "e"], [[0.123456, 12345.6, float("nan"), None, True]])
        .html()
    )
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page)
    assert cells == ["0.1235", "12,346", "\u2013", "\u2013", "yes"]


def test_tables_and_text_need_no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    report = Report().add_table("t", ["a"], [[1]]).add_text("fine")
    assert "<td" in report.html()
    with pytest.raises(ImportError, match=r"predict-guardrails\[report\]"):
        report.add_per_class(["a"], [0.9])


# ------------------------------------------------------------------ PNG export


def test_save_png_writes_one_png_per_plot_named_by_kind(tmp_path: Path) -> None:
    report = full_report(title="../../escape")
    paths = report.save_png(tmp_path / "plots")
    assert [p.name for p in paths] == [
        "01-reliability.png",
        "02-risk-coverage.png",
        "03-per-class.png",
        "04-rates.png",
        "05-drift.png",
    ]
    for path in paths:
        assert path.parent == tmp_path / "plots"
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 300
        assert image.shape[1] > 500


# ------------------------------------------------------------------ bad input


BAD_INPUTS: list[tuple[str, Callable[[Report], object], str]] = [
    (
        "mismatched risk-coverage lengths",
        lambda r: r.add_risk_coverage([0.1, 0.5, 1.0], [0.0, 0.1]),
        "same length",
    ),
    ("NaN-only risk", lambda r: r.add_risk_coverage([0.5, 1.0], [np.nan, np.nan]), "not NaN"),
    ("empty coverage", lambda r: r.add_risk_coverage([], []), "non-empty"),
    ("coverage above 1", lambda r: r.add_risk_coverage([0.5, 1.5], [0.1, 0.2]), r"\[0, 1\]"),
    ("infinite risk", lambda r: r.add_risk_coverage([0.5, 1.0], [0.1, np.inf]), "finite"),
    ("text as numbers", lambda r: r.add_risk_coverage("0.5", [0.1]), "sequence of numbers"),
    (
        "operating point out of range",
        lambda r: r.add_risk_coverage([0.5, 1.0], [0.1, 0.2], operating_point=(2.0, 0.1)),
        "operating_point",
    ),
    ("empty curves", lambda r: r.add_reliability({}), "non-empty mapping"),
    (
        "reliability curve not a triple",
        lambda r: r.add_reliability({"a": ([0.5], [0.5])}),
        "three sequences",
    ),
    (
        "reliability lengths differ",
        lambda r: r.add_reliability({"a": ([0.5, 0.6], [0.5], [3, 4])}),
        "same length",
    ),
    (
        "reliability with no rows",
        lambda r: r.add_reliability({"a": ([0.5, 0.6], [0.5, 0.6], [0, 0])}),
        "no bin with rows",
    ),
    (
        "ECE for an unknown curve",
        lambda r: r.add_reliability({"a": ([0.5], [0.5], [3])}, ece={"b": 0.1}),
        "not a label",
    ),
    (
        "per-class lengths differ",
        lambda r: r.add_per_class(["a", "b", "c"], [0.9, 0.8]),
        "same length",
    ),
    ("no classes", lambda r: r.add_per_class([], []), "non-empty"),
    ("target above 1", lambda r: r.add_per_class(["a"], [0.9], target=1.2), "target"),
    ("negative set size", lambda r: r.add_per_class(["a"], [0.9], [-1.0]), ">= 0"),
    (
        "rates longer than t",
        lambda r: r.add_rates_over_time([1, 2], {"abstention": [0.1, 0.2, 0.3]}),
        "same length",
    ),
    (
        "NaN-only rate series",
        lambda r: r.add_rates_over_time([1, 2], {"fallback": [np.nan, np.nan]}),
        "not NaN",
    ),
    (
        "counts passed as rates",
        lambda r: r.add_rates_over_time([1, 2], {"abstention": [12, 30]}),
        r"\[0, 1\]",
    ),
    ("no series", lambda r: r.add_rates_over_time([1, 2], {}), "non-empty mapping"),
    ("empty t", lambda r: r.add_rates_over_time([], {"a": []}), "'t' parameter"),
    ("decreasing t", lambda r: r.add_rates_over_time([2, 1], {"a": [0.1, 0.2]}), "increasing"),
    (
        "duplicate phase labels",
        lambda r: r.add_rates_over_time(["a", "a"], {"x": [0.1, 0.2]}),
        "unique labels",
    ),
    (
        "tightened at an unknown phase",
        lambda r: r.add_drift_over_time(["a", "b"], {"x": [0.1, 0.2]}, tightened_at=["c"]),
        "tightened_at",
    ),
    (
        "tightened at a number on a date axis",
        lambda r: r.add_drift_over_time(
            [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)], {"x": [0.1, 0.2]}, tightened_at=[3]
        ),
        "datetimes",
    ),
    (
        "NaN-only drift scores",
        lambda r: r.add_drift_over_time([1, 2], {"x": [np.nan, np.nan]}),
        "not NaN",
    ),
    (
        "relaxed before any tightening",
        lambda r: r.add_drift_over_time(
            [1, 2, 3], {"x": [0.1, 0.2, 0.3]}, tightened_at=[3], relaxed_at=[2]
        ),
        "after a tightening",
    ),
    (
        "interval that misses its coverage",
        lambda r: r.add_per_class(["a"], [0.9], interval=([0.92], [0.95])),
        "low <= coverage <= high",
    ),
    (
        "reliability edges of the wrong length",
        lambda r: r.add_reliability({"a": ([0.5], [0.5], [3])}, edges=[0, 0.5, 1]),
        "increasing numbers",
    ),
    (
        "negative min_count",
        lambda r: r.add_reliability({"a": ([0.5], [0.5], [3])}, min_count=-1),
        "min_count",
    ),
    ("empty data line", lambda r: r.add_per_class(["a"], [0.9], data=" "), "'data' parameter"),
    (
        "threshold not a number",
        lambda r: r.add_drift_over_time([1, 2], {"x": [0.1, 0.2]}, threshold="high"),
        "threshold",
    ),
    ("table row too short", lambda r: r.add_table("t", ["a", "b"], [[1]]), "2 cells"),
    ("empty header", lambda r: r.add_table("t", [], []), "header"),
    ("empty text", lambda r: r.add_text("  "), "'text' parameter"),
    ("empty title", lambda r: r.add_per_class(["a"], [0.9], title=""), "'title' parameter"),
]


@pytest.mark.parametrize(("case", "call", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gives_a_clear_configuration_error(
    case: str, call: Callable[[Report], object], message: str
) -> None:
    report = Report()
    with pytest.raises(ConfigurationError, match=message) as info:
        call(report)
    assert "Report" in str(info.value)  # the message names its owner
    assert len(report) == 0  # nothing half-added
    assert report.figures() == []


def test_a_bad_report_title_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'title' parameter of Report"):
        Report(title=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'subtitle' parameter of Report"):
        Report(subtitle=["x"])  # type: ignore[arg-type]


# ------------------------------------------------------------------ user's matplotlib


def test_labels_that_look_like_math_or_latex_are_drawn_as_text() -> None:
    odd = r"cost $\frac{$ 5"  # unbalanced mathtext would make matplotlib raise while drawing
    with matplotlib.rc_context({"text.usetex": True}):  # and usetex needs a LaTeX install
        report = Report(odd).add_rates_over_time([odd, "b"], {odd: [0.1, 0.2]}, title=odd)
        page = report.html()
        assert matplotlib.rcParams["text.usetex"] is True  # the user's setting came back
    assert page.count("data:image/png;base64,") == 1


def test_the_report_leaves_pyplot_and_the_users_backend_alone() -> None:
    code = textwrap.dedent(
        """
        import sys
        import matplotlib
        matplotlib.use("svg")
        from tests.apps.test_report import full_report
        full_report().html()
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        """
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


# ------------------------------------------------------------------ what a plot states


def test_a_plots_data_line_is_in_its_caption_and_under_its_saved_png(tmp_path: Path) -> None:
    report = Report().add_per_class(["a", "b"], [0.9, 0.8], data="June hold-out: 1,200 rows")
    caption = re.search(r"<figcaption>(.*?)</figcaption>", report.html(), re.DOTALL)
    assert caption is not None and "Data: </span>June hold-out: 1,200 rows" in caption.group(1)
    assert report.plot_data("Coverage and set size per class")["data"] == (
        "June hold-out: 1,200 rows"
    )
    (with_note,) = report.save_png(tmp_path / "with")
    (without,) = Report().add_per_class(["a", "b"], [0.9, 0.8]).save_png(tmp_path / "without")
    tall = matplotlib.image.imread(with_note).shape[0]
    assert tall > matplotlib.image.imread(without).shape[0]  # the footnote adds a line


def test_plot_data_and_tables_read_back_what_was_drawn_and_shown() -> None:
    report = full_report()
    rel = report.plot_data("Reliability diagram")
    assert rel["kind"] == "reliability"
    assert rel["ece"] == {"before": 0.081, "after": 0.012}
    assert rel["curves"]["after"]["accuracy"] == pytest.approx(tuple(BINS - 0.01))
    rel["ece"]["before"] = 1.0  # a copy: the report keeps what it drew
    assert report.plot_data("Reliability diagram")["ece"]["before"] == 0.081
    assert report.plot_data("Drift scores over time")["threshold"] == 0.2
    header, rows = report.table("Summary")
    assert header == ("phase", "answered", "accuracy")
    assert rows == (("normal", "950", "0.9512"),)
    with pytest.raises(ConfigurationError, match="no plot titled 'Summary'"):
        report.plot_data("Summary")
    with pytest.raises(ConfigurationError, match="no table titled"):
        report.table("Reliability diagram")


def test_only_keeps_one_section_under_the_same_heading() -> None:
    report = full_report()
    one = report.only("Risk-coverage curve")
    assert one.titles() == ["Risk-coverage curve"]
    assert one.title == report.title and len(report) == 7
    assert one.html().count("data:image/png;base64,") == 1
    with pytest.raises(ConfigurationError, match="no section titled"):
        report.only("nope")


def test_the_performance_plot_draws_the_monitor_s_windows_and_matches_its_table() -> None:
    rng = np.random.default_rng(18)
    conf = rng.uniform(0.6, 1.0, size=4000)
    correct = rng.random(conf.size) < conf
    correct[3000:] &= rng.random(1000) < 0.8  # concept drift: the estimate misses it
    watch = PerformanceWatch(PerformanceRule(below=0.7), 500, 500, "tumbling")
    events = watch.observe(conf, np.zeros(conf.size, bool), None)
    windows = [e for e in events if e["event"] == "performance_window"]
    realized = [float(correct[i * 500 : (i + 1) * 500].mean()) for i in range(len(windows))]
    rows = [
        [i, round(e["estimate"], 4), round(e["lower"], 4), round(e["upper"], 4), round(r, 4)]
        for i, (e, r) in enumerate(zip(windows, realized, strict=True))
    ]
    report = Report().add_table(
        "Performance windows", ["window", "estimate", "lower", "upper", "realized"], rows
    )
    cols = list(zip(*rows, strict=True))
    report.add_performance_over_time(
        cols[0],
        cols[1],
        cols[2],
        cols[3],
        realized=cols[4],
        threshold=0.7,
        data="8 monitor windows of 500 rows; realized from every row's label",
    )
    drawn = report.plot_data("Estimated and realized accuracy over time")
    _, table = report.table("Performance windows")
    for j, key in enumerate(("estimate", "lower", "upper", "realized"), start=1):
        assert [f"{v:g}" for v in drawn[key]] == [f"{float(r[j]):g}" for r in table]
    assert drawn["kind"] == "performance" and drawn["threshold"] == 0.7
    assert drawn["data"].startswith("8 monitor windows")
    assert drawn["realized"][-1] < drawn["lower"][-1]  # the drifted window leaves the band
    (fig,) = report.figures()
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("Time window", "Accuracy")
    assert "realized (labels)" in _legend_texts(fig)
    page = report.html()
    assert "dots leaving the band" in page and "the performance rule fires" in page
    bare = Report().add_performance_over_time([0, 1], [0.9, 0.8], [0.85, 0.7], [0.95, 0.9])
    assert "No labels were given" in bare.html() and "dashed" not in bare.html()
    with pytest.raises(ConfigurationError, match="lower <= estimate <= upper"):
        Report().add_performance_over_time([0], [0.9], [0.95], [0.99])
