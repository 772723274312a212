"""The HTML report opens in headless Chromium and the page it shows is not blank.

Each plot section of the demo's report is also shot on its own and saved in
``build/report-screenshots/`` (or ``$GUARDRAILS_SCREENSHOTS``), for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from guardrails.apps.report import PALETTE

matplotlib = pytest.importorskip(
    "matplotlib", reason="the report's plots need the 'report' extra (matplotlib)"
)
from matplotlib.image import imread  # noqa: E402

from guardrails.apps.demo import DemoResult  # noqa: E402
from tests.apps.test_report import full_report  # noqa: E402

INSTALL_HINT = "install Debian's chromium or run .ci/chromium.sh"


def _chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"headless Chromium is missing in CI: {INSTALL_HINT}")
        pytest.skip(f"headless Chromium is not installed here: {INSTALL_HINT}")
    return found


SHOTS = Path(
    os.environ.get(
        "GUARDRAILS_SCREENSHOTS",
        Path(__file__).resolve().parent.parent / "build" / "report-screenshots",
    )
)
DEMO_PLOTS = [
    "Reliability diagram",
    "Risk-coverage curve",
    "Coverage and set size per class",
    "Abstention and fallback rates over time",
    "Drift scores over time",
]


def _screenshot(html: Path, out: Path, tmp: Path, size: tuple[int, int] = (1200, 2000)) -> None:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        f"--screenshot={out}",
        f"--window-size={size[0]},{size[1]}",
        f"file://{html}",
    ]
    env = {**os.environ, "HOME": str(tmp)}
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("headless Chromium took more than 120 s to take a screenshot")
    assert out.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"


def test_the_report_renders_in_headless_chromium_with_its_plots(tmp_path: Path) -> None:
    html = full_report().to_html(tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    _screenshot(html.resolve(), shot, tmp_path)

    image = imread(shot)  # float RGB(A) in [0, 1]
    assert image.shape[:2] == (2000, 1200)
    rgb = np.round(image[..., :3] * 255).astype(np.int16)
    pixels = rgb.reshape(-1, 3)
    distinct = np.unique(pixels, axis=0).shape[0]
    # Anti-aliased text and lines give hundreds of colours; a blank or error page a handful.
    assert distinct > 100, f"only {distinct} distinct colours"
    # The page background (#f6f6f4) and white cards count as white; text, axes and curves
    # do not. This page is about 5% ink (2% is the bar); a blank one is nearly zero.
    ink = (pixels < 235).any(axis=1).mean()
    assert ink > 0.02, f"only {ink:.1%} of the screenshot is not white"
    # The first palette colour appears only inside the embedded PNGs (the CSS never uses
    # it), so finding it proves the images were decoded and drawn.
    first = np.array([int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)])
    matches = (np.abs(pixels - first) <= 16).all(axis=1).sum()
    assert matches > 500, f"only {matches} pixels of the plots' first colour"


def _rgb(shot: Path) -> np.ndarray:
    image = imread(shot)
    return np.round(image[..., :3] * 255).astype(np.int16)


@pytest.mark.parametrize("title", DEMO_PLOTS)
def test_each_plot_section_of_the_demo_report_renders_whole_and_is_saved(
    title: str, demo_run: tuple[DemoResult, str], tmp_path: Path
) -> None:
    report = demo_run[0].report
    assert report is not None
    page = report.only(title).to_html(tmp_path / "section.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / (title.lower().replace(" ", "-").replace(",", "") + ".png")
    shot.unlink(missing_ok=True)
    _screenshot(page.resolve(), shot, tmp_path, size=(1000, 1500))
    rgb = _rgb(shot)
    assert rgb.shape[:2] == (1500, 1000)
    pixels = rgb.reshape(-1, 3)
    assert np.unique(pixels, axis=0).shape[0] > 100, "a blank or error page"
    # Some series are drawn in the palette's colours: a plot whose first series lies under
    # others (the drift plot's quiet features sit on 0) still shows the rest.
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in PALETTE])
    near = (np.abs(pixels[:, None, :] - colours[None, :, :]) <= 16).all(axis=2).any(axis=1)
    assert near.sum() > 300, "the plot was not drawn"
    # The section ends inside the window: the last rows are the page's background, so
    # nothing (the caption with the data line, the how-to-read line) was cut off.
    background = np.array([0xF6, 0xF6, 0xF4])
    assert (np.abs(rgb[-40:].reshape(-1, 3) - background) <= 3).all(axis=1).mean() > 0.99
