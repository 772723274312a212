"""Hostile files and the memory they cost to refuse, and Decisions.concat over many parts.

Prints, each measured in this run (every load in a child process of its own, so its peak
RSS is the refusal's alone; ``extra`` is the child's ``ru_maxrss`` after the load minus
before it):

- a 1 GiB deflate bomb (about 1 MB on disk) whose manifest declares it, one it does not
  declare, and a 100,000-deep ``guard.json``:
  outcome, extra peak RSS, the length of the error message;
- ``Decisions.concat`` of 4,000 and 32,000 one-row parts (the probe: 0.34 s, and more
  than 3 minutes).

Run: ``python benchmarks/hostile_files.py`` (Linux: reads ``ru_maxrss`` and ``/proc``).
"""

from __future__ import annotations

import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guardrails import Decisions, confidence_below, guard
from guardrails.core.persistence import FORMAT
from tests.reliability.test_bombs import GIB, _load_in_child, make_bomb


def _proba(X: np.ndarray) -> np.ndarray:
    return np.tile([0.3, 0.7], (len(X), 1))


def _deep(folder: Path) -> Path:
    path = folder / "deep.guard"
    deep = "[" * 100_000 + "]" * 100_000
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("guard.json", f'{{"format": "{FORMAT}", "format_version": 1, "x": {deep}}}')
    return path


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    small = guard(_proba, output="proba", classes=[0, 1]).abstain(confidence_below(0.6))
    base = small.save(folder / "small.guard")
    files = {
        "1 GiB deflate bomb, declared in the manifest": make_bomb(
            base, folder / "bomb.guard", n_bytes=GIB
        ),
        "1 GiB deflate bomb, not declared": make_bomb(
            base, folder / "bomb2.guard", n_bytes=GIB, declare=False
        ),
        "guard.json nested 100,000 deep": _deep(folder),
    }
    print(f"{'hostile file':<46} {'on disk':>10} {'outcome':<9} {'extra RSS':>10} {'message':>8}")
    for name, path in files.items():
        result = _load_in_child(path)
        print(
            f"{name:<46} {path.stat().st_size / 2**20:>8.2f}MB {result['outcome']:<9} "
            f"{result['extra_kib'] / 1024:>8.1f}MB {result['message_len']:>8}"
        )
    print()
    print(f"{'Decisions.concat of one-row parts':<46} {'seconds':>10}")
    row = Decisions(
        prediction=np.array([1]),
        abstained=np.array([False]),
        proba=np.array([[0.2, 0.8]]),
        confidence=np.array([0.8]),
        classes=np.array([0, 1]),
    )
    for n in (4_000, 32_000):
        parts = [row] * n
        t0 = time.perf_counter()
        out = Decisions.concat(parts)
        assert len(out) == n
        print(f"{f'{n:,} parts':<46} {time.perf_counter() - t0:>10.3f}")


if __name__ == "__main__":
    main()
