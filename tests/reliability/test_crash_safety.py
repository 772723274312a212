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
