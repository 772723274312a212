"""Drift detection on 100,000 x 50 reference vs 100,000 current rows, 5 features shifted.

Times and flagged features for: ours (KS + PSI; all tests), a scipy ``ks_2samp`` loop,
Evidently's DataDriftPreset and alibi-detect's KSDrift. The two peers need pandas < 3 /
numpy < 2, so they run as subprocesses of their own virtualenvs, which ``make bench``
creates: ``.venv-peers/evidently`` and ``.venv-peers/alibi`` (see the Makefile).

Run: ``.venv/bin/python benchmarks/drift.py`` (a minute or two, most of it Evidently).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import DriftProfile

SHIFTED = (3, 11, 22, 34, 47)
PEERS = Path(__file__).resolve().parent.parent / ".venv-peers"
EVIDENTLY = PEERS / "evidently" / "bin" / "python"
ALIBI = PEERS / "alibi" / "bin" / "python"


def benchmark_data(
    seed: int, n_ref: int = 100_000, n_cur: int = 100_000
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """50 features of mixed shapes; features 3, 11, 22, 34, 47 shifted in the current data.

    Same generator as tests/monitoring/test_drift.py (kept in step by hand). Shifts: normal mean
    +0.2 sd, normal scale x1.25, exponential mean x1.2, uniform range +0.1, Poisson mean
    3 -> 3.3: small enough that PSI (threshold 0.2) sees none of them.
    """
    rng = np.random.default_rng(seed)

    def draw(n: int, shifted: bool) -> NDArray[np.float64]:
        cols = []
        for j in range(50):
            kind = j % 5
            s = shifted and j in SHIFTED
            if kind == 0:
                cols.append(rng.normal(0.2 if s else 0.0, 1.0, n))
            elif kind == 1:
                cols.append(rng.normal(0.0, 1.25 if s else 1.0, n))
            elif kind == 2:
                cols.append(rng.exponential(1.2 if s else 1.0, n))
            elif kind == 3:
                cols.append(rng.uniform(0.1 if s else 0.0, 1.1 if s else 1.0, n))
            else:
                cols.append(rng.poisson(3.3 if s else 3.0, n).astype(np.float64))
        return np.column_stack(cols)

    return draw(n_ref, False), draw(n_cur, True)


_EVIDENTLY_SCRIPT = """
import json, sys, time
import numpy as np, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = np.load(sys.argv[1]); cur = np.load(sys.argv[2])
cols = [f"x{j}" for j in range(ref.shape[1])]
ref, cur = pd.DataFrame(ref, columns=cols), pd.DataFrame(cur, columns=cols)
t0 = time.perf_counter()
snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
seconds = time.perf_counter() - t0
flagged, method = [], ""
for m in snap.dict()["metrics"]:
    cfg = m["config"]
    if cfg.get("type", "").endswith("ValueDrift"):
        method = cfg["method"]
        pval = "p_value" in method.lower()
        drift = m["value"] < cfg["threshold"] if pval else m["value"] >= cfg["threshold"]
        if drift:
            flagged.append(int(cfg["column"][1:]))
print(json.dumps({"seconds": seconds, "flagged": sorted(flagged), "method": method}))
"""

_ALIBI_SCRIPT = """
import json, sys, time
import numpy as np
from alibi_detect.cd import KSDrift
ref = np.load(sys.argv[1]).astype(np.float32); cur = np.load(sys.argv[2]).astype(np.float32)
t0 = time.perf_counter()
cd = KSDrift(ref, p_val=0.05, correction="bonferroni")
out = cd.predict(cur, drift_type="feature")
seconds = time.perf_counter() - t0
# per-feature is_drift uses the uncorrected p_val; apply Bonferroni like the others
flagged = [int(j) for j in np.flatnonzero(out["data"]["p_val"] < 0.05 / ref.shape[1])]
print(json.dumps({"seconds": seconds, "flagged": flagged, "method": "KS, bonferroni"}))
"""


def _peer(python: Path, script: str, ref_path: str, cur_path: str) -> dict[str, Any] | str:
    if not python.exists():
        return f"not available (no {python.parent.parent})"
    try:
        done = subprocess.run(
            [str(python), "-c", script, ref_path, cur_path],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"not available ({type(exc).__name__})"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _flags(found: list[int]) -> str:
    hits = sorted(set(found) & set(SHIFTED))
    false = sorted(set(found) - set(SHIFTED))
    return f"{len(hits)}/5 shifted, {len(false)} false {false[:6] if false else ''}".rstrip()


def main() -> None:
    ref, cur = benchmark_data(seed=0)
    print(f"reference {ref.shape}, current {cur.shape}, shifted features {list(SHIFTED)}\n")
    t0 = time.perf_counter()
    profile = DriftProfile.from_data(ref)
    build = time.perf_counter() - t0
    rows: list[list[str]] = []

    def ours(tests: tuple[str, ...]) -> list[int]:
        report = profile.compare(cur, tests=tests)
        return [int(name[1:]) for name in report.drifted_features]

    for label, tests in (
        ("ours: KS + PSI", ("ks", "psi")),
        ("ours: all tests", ("ks", "psi", "wasserstein", "js", "chi2")),
    ):
        seconds = median_seconds(lambda t=tests: ours(t), repeats=5)
        rows.append([label, fmt_seconds(seconds), _flags(ours(tests))])
    rows.append(["ours: profile build (once)", fmt_seconds(build), "-"])

    def scipy_loop() -> list[int]:
        p = [stats.ks_2samp(ref[:, j], cur[:, j]).pvalue for j in range(ref.shape[1])]
        return [j for j, v in enumerate(p) if v < 0.05 / ref.shape[1]]

    seconds = median_seconds(scipy_loop, repeats=3)
    rows.append(["scipy ks_2samp loop (Bonferroni)", fmt_seconds(seconds), _flags(scipy_loop())])

    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path = f"{tmp}/ref.npy", f"{tmp}/cur.npy"
        np.save(ref_path, ref)
        np.save(cur_path, cur)
        for label, python, script in (
            ("Evidently DataDriftPreset", EVIDENTLY, _EVIDENTLY_SCRIPT),
            ("alibi-detect KSDrift", ALIBI, _ALIBI_SCRIPT),
        ):
            result = _peer(python, script, ref_path, cur_path)
            if isinstance(result, str):
                rows.append([label, "-", result])
            else:
                flags = _flags(result["flagged"]) + f" ({result['method']})"
                rows.append([label, fmt_seconds(result["seconds"]), flags])

    print(table("Drift on 100,000 x 50 (5 shifted)", ["method", "time", "flagged"], rows))
    print(f"\nwindow state: {profile.window_state().nbytes / 2**20:.1f} MiB for 50 features")

    print(
        "\npower of ours on smaller shifts of the standard normal x0 "
        "(10,000-row windows, 20 seeds):"
    )
    small_ref = ref[:20_000]
    small = DriftProfile.from_data(small_ref)
    for delta in (0.02, 0.05, 0.1):
        hits = 0
        false = 0
        for seed in range(20):
            window = np.random.default_rng(100 + seed).permutation(ref[20_000:])[:10_000]
            window[:, 0] += delta
            found = small.compare(window, tests=("ks", "psi")).drifted_features
            hits += "x0" in found
            false += len(set(found) - {"x0"})
        print(f"  shift {delta:.2f} sd: power {hits / 20:.2f}, false flags {false} in 20 reports")


if __name__ == "__main__":
    main()
