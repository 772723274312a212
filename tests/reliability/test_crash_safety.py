"""Crash safety: a guard killed while saving leaves the old artifact or the new, never half."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from guardrails import confidence_below, guard, load

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from guardrails import confidence_below, guard

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    path = sys.argv[1]
    print("ready", flush=True)
    i = 0
    while True:
        t = 0.5 + (i % 40) / 100
        guard(model, version=str(i)).abstain(confidence_below(t)).fit(X, y).save(path)
        i += 1
    """
)


@pytest.mark.parametrize("kill_after", [0.05, 0.2, 0.45])
def test_sigkill_during_save_leaves_a_loadable_artifact(
    tmp_path: Path, iris: dict[str, Any], kill_after: float
) -> None:
    path = tmp_path / "g.guard"
    guard(iris["model"], version="seed").abstain(confidence_below(0.5)).fit(
        iris["X_cal"], iris["y_cal"]
    ).save(path)
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(kill_after)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    g = load(path, model=model)  # the last complete save, whichever it was
    assert len(g.decide(X[:5])) == 5
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "g.guard"]
    # a killed writer may leave its temporary file; it never replaces the artifact
    assert all(name.startswith(".g.guard.") and name.endswith(".tmp") for name in leftovers)


# -- the drift monitor -------------------------------------------------------------------------
#
# What a drift monitor holds is its reference profile (saved with DriftProfile.save or inside
# a saved guard) and its current window, which lives in memory only: the monitor has no
# window persistence, so "flushing a window" has no file to tear. A process killed mid-window
# loses that window's statistics (at most `window` rows) and nothing else; what must survive
# is the profile file being rewritten at the moment of the kill.

PROFILE_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from guardrails import DriftProfile

    path = sys.argv[1]
    print("ready", flush=True)
    i = 0
    while True:
        rng = np.random.default_rng(i % 7)
        n = 200 + 100 * (i % 7)  # each seed has its own size: the loaded file names its writer
        DriftProfile.from_data(rng.normal(size=(n, 3))).save(path)
        i += 1
    """
)


@pytest.mark.parametrize("kill_after", [0.05, 0.3])
def test_sigkill_while_a_drift_profile_is_rewritten_leaves_a_whole_one(
    tmp_path: Path, kill_after: float
) -> None:
    import numpy as np

    from guardrails import DriftProfile

    path = tmp_path / "ref.drift"
    DriftProfile.from_data(np.zeros((50, 3)) + np.arange(50)[:, None]).save(path)
    proc = subprocess.Popen(
        [sys.executable, "-c", PROFILE_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(kill_after)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    profile = DriftProfile.load(path)  # the seed profile or one complete rewrite
    n_ref = profile.features[0].n_ref
    assert n_ref in {50} | {200 + 100 * k for k in range(7)}
    report = profile.compare(np.random.default_rng(0).normal(size=(100, 3)))
    assert report.rows == 100
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "ref.drift"]
    assert all(name.startswith(".ref.drift.") and name.endswith(".tmp") for name in leftovers)


MONITOR_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from guardrails import DriftProfile, guard

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    g = guard(model).monitor(DriftProfile.from_data(X), window=40, mode="tumbling").fit(X, y)
    print("ready", flush=True)
    rng = np.random.default_rng(0)
    i = 0
    while True:  # serve, and save the guard (with its monitor) every few batches
        g.decide(X[rng.integers(0, len(X), 10)] + 3.0)
        if i % 3 == 0:
            g.save(sys.argv[1])
        i += 1
    """
)


def test_sigkill_of_a_serving_monitor_keeps_the_saved_guard(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "m.guard"
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    proc = subprocess.Popen(
        [sys.executable, "-c", MONITOR_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    g = load(path, model=model)
    from guardrails import Monitored

    monitor = g.layer(Monitored)
    assert monitor.status == "warming_up"  # the window was memory: it starts afresh
    assert len(g.decide(X[:40])) == 40


KILLED_BEFORE_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from guardrails import DriftProfile

    os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # killed mid-save
    DriftProfile.from_data(np.zeros((20, 2))).save(sys.argv[1])
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="live temp files are told by POSIX locks")
def test_the_next_save_sweeps_the_temp_files_a_killed_save_left(tmp_path: Path) -> None:
    import fcntl

    import numpy as np

    from guardrails import DriftProfile

    path = tmp_path / "ref.drift"
    proc = subprocess.run([sys.executable, "-c", KILLED_BEFORE_RENAME, str(path)], check=False)
    assert proc.returncode == -signal.SIGKILL
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".ref.drift.")]
    assert len(stale) == 1 and not path.exists()
    other = tmp_path / ".ref.drift2.abcd1234.tmp"  # another artifact's temp file
    live = tmp_path / ".ref.drift.live0000.tmp"  # a save still running in another process
    for p in (other, live):
        p.write_bytes(b"partial")
    for p in (*stale, other, live):
        os.utime(p, (time.time() - 60, time.time() - 60))  # a minute has passed
    with open(live, "rb+") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        DriftProfile.from_data(np.ones((20, 2))).save(path)
        left = {p.name for p in tmp_path.iterdir()}
    assert left == {"ref.drift", other.name, live.name}
    assert DriftProfile.load(path).features[0].n_ref == 20
