"""Cost of a report: drawing the five plots and writing the HTML, against bare matplotlib.

Run: ``python benchmarks/report.py``. Prints medians of repeats for a small report (the
demo's size) and for a large drift plot (50 features x 500 windows), and the same figures
drawn and saved with bare matplotlib (one ``Figure``, ``plot``, ``savefig``) as a floor.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import Report

RNG = np.random.default_rng(0)
BINS = np.linspace(0.05, 0.95, 15)


def small_report() -> Report:
    report = Report("benchmark")
    report.add_reliability(
        {"before": (BINS, BINS**1.5, np.arange(15) + 1), "after": (BINS, BINS, np.arange(15) + 1)},
        ece={"before": 0.08, "after": 0.01},
    )
    cov = np.linspace(0.01, 1, 200)
    report.add_risk_coverage(cov, 0.2 * cov**2, operating_point=(0.8, 0.128))
    report.add_per_class([f"c{i}" for i in range(10)], np.full(10, 0.9), np.full(10, 1.4))
    report.add_rates_over_time(np.arange(50), {"abstention": RNG.uniform(0, 0.3, 50)})
    report.add_drift_over_time(
        np.arange(50), {f"x{i}": RNG.uniform(0, 0.3, 50) for i in range(10)}, threshold=0.2
    )
    return report


def large_drift() -> Report:
    scores = {f"x{i}": RNG.uniform(0, 0.3, 500) for i in range(50)}
    return Report("benchmark").add_drift_over_time(
        np.arange(500), scores, threshold=0.2, tightened_at=[250]
    )


def bare(n_lines: int, n_points: int) -> bytes:
    fig = Figure(figsize=(8, 4.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(n_points)
    for _ in range(n_lines):
        ax.plot(x, RNG.uniform(0, 0.3, n_points))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def main() -> None:
    built = small_report()
    big = large_drift()
    rows = []
    for label, fn in (
        ("5 plots: build (validate + draw)", small_report),
        ("5 plots: html() (encode PNGs)", built.html),
        ("5 plots: bare matplotlib, 5 x savefig", lambda: [bare(2, 50) for _ in range(5)]),
        ("drift 50 x 500: build + html()", lambda: large_drift().html()),
        ("drift 50 x 500: html() only", big.html),
        ("drift 50 x 500: bare matplotlib", lambda: bare(50, 500)),
    ):
        rows.append([label, fmt_seconds(median_seconds(fn, repeats=3))])
    size = len(built.html().encode()) / 1024
    print(table("Report cost (median of 3)", ["case", "time"], rows))
    print(f"\nsmall report HTML: {size:.0f} KiB (5 embedded PNGs)")


if __name__ == "__main__":
    main()
