"""Drift detection on 100,000 x 50 reference vs 100,000 current rows, 5 features shifted.

Times and flagged features for: ours (KS + PSI; all tests), a scipy ``ks_2samp`` loop,
Evidently's DataDriftPreset and alibi-detect's KSDrift. The two peers need pandas < 3 /
numpy < 2, so they run as subprocesses of their own virtualenvs, which ``make bench``
creates: ``.venv-peers/evidently`` and ``.venv-peers/alibi`` (see the Makefile).

Then the figures of issue 20, at the defaults: flags over 20 profile seeds, the constant
column per statistic, an unshifted 100,000-row window with and without ``min_effect``,
false drift declarations per million stationary rows, the detection delay of a 0.2 sd
shift, and the monitor's per-call cost against the model's.

Run: ``.venv/bin/python benchmarks/drift.py`` (a few minutes, much of it Evidently).
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

from _timing import fmt_seconds, median_seconds, per_call_cost, table

from guardrails import DriftProfile, guard

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


def seeds_row(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> None:
    exact = 0
    for seed in range(20):
        found = DriftProfile.from_data(ref, random_state=seed).compare(cur, tests=("ks", "psi"))
        exact += sorted(int(n[1:]) for n in found.drifted_features) == list(SHIFTED)
    print(f"\nflagged exactly the 5 shifted features (and no other): {exact} of 20 profile seeds")


def constant_rows() -> None:
    rng = np.random.default_rng(0)
    ref = np.column_stack((np.zeros(5000), rng.normal(size=5000)))
    cur = np.column_stack((np.full(800, 4.0), rng.normal(size=800)))
    profile = DriftProfile.from_data(ref)
    rows = []
    for test, thresholds in (
        ("ks", None),
        ("psi", None),
        ("js", {"js": 0.1}),
        ("wasserstein", {"wasserstein": 0.1}),
    ):
        r = profile.compare(cur, tests=(test,), thresholds=thresholds)["x0"].tests[test]
        rows.append([test, f"{r.statistic:.4g}", f"{r.effect:.3g}", "yes" if r.drifted else "NO"])
    cat = DriftProfile.from_data({"c": np.array(["a"] * 3000)})
    r = cat.compare({"c": np.array(["b"] * 500)}, tests=("chi2",))["c"].tests["chi2"]
    rows.append(
        [
            "chi2 (categorical)",
            f"{r.statistic:.4g}",
            f"{r.effect:.3g}",
            "yes" if r.drifted else "NO",
        ]
    )
    print()
    print(
        table(
            "A constant column (always 0, then always 4)",
            ["test", "statistic", "effect", "flagged"],
            rows,
        )
    )


def min_effect_rows() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(100_000, 20))
    profile = DriftProfile.from_data(ref)
    rows = []
    for label, shift in (("unshifted", 0.0), ("0.03 sd in x1 (immaterial)", 0.03)):
        flags = {0.0: 0, 0.02: 0}
        for seed in range(5):
            cur = np.random.default_rng(10 + seed).normal(size=(100_000, 20))
            cur[:, 1] += shift
            for me in flags:
                flags[me] += len(
                    profile.compare(cur, tests=("ks", "psi"), min_effect=me).drifted_features
                )
        rows.append([label, str(flags[0.0]), str(flags[0.02])])
    print()
    print(
        table(
            "100,000-row windows vs 100,000 reference rows, 20 features, 5 seeds: features flagged",
            ["window", "min_effect=0", "min_effect=0.02 (default)"],
            rows,
        )
    )


def stream_rows() -> None:
    from sklearn.linear_model import LogisticRegression
    from structlog.testing import CapturingLogger

    rng = np.random.default_rng(2)
    X = rng.normal(size=(20_000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    profile = DriftProfile.from_data(X)

    def declared(log: CapturingLogger) -> int:
        return sum(1 for c in log.calls if c.args and c.args[0] == "drift_detected")

    log = CapturingLogger()
    g = guard(model).monitor(profile, logger=log).build()
    t0 = time.perf_counter()
    for seed in range(10):  # 1,000,000 stationary rows in calls of 1,000
        s = np.random.default_rng(100 + seed).normal(size=(100_000, 20))
        for i in range(0, 100_000, 1000):
            g.decide(s[i : i + 1000])
    seconds = time.perf_counter() - t0
    print(
        f"\nstationary stream, defaults (window 2000, step 500, 1 false alarm per 1e6 rows): "
        f"{declared(log)} drift declarations in 1,000,000 rows ({seconds:.1f} s)"
    )
    delays = []
    for seed in range(10):
        log = CapturingLogger()
        g = guard(model).monitor(profile, logger=log).build()
        r = np.random.default_rng(300 + seed)
        for _ in range(40):
            g.decide(r.normal(size=(100, 20)))
        served = 0
        while declared(log) == 0 and served < 20_000:
            batch = r.normal(size=(100, 20))
            batch[:, 7] += 0.2
            g.decide(batch)
            served += 100
        delays.append(served)
    print(
        f"0.2 sd shift in one of 20 features, calls of 100: declared after {min(delays)} to "
        f"{max(delays)} rows (median {int(np.median(delays))}), i.e. within "
        f"{max(delays) / 2000:.2f} windows of its start (10 seeds)"
    )

    # per-call cost: the monitor's own time against the model's, 100-row calls
    g = guard(model).monitor(profile, logger=CapturingLogger()).build()
    s = rng.normal(size=(60_000, 20))
    own, model_t = per_call_cost(g, model, [s[i : i + 100] for i in range(0, 60_000, 100)])
    print(
        f"monitor's own time per 100-row call (mean over {len(own)} calls, windows closing "
        f"included): {np.mean(own) * 1e6:.0f} us; LogisticRegression.predict_proba on the same "
        f"rows: {np.mean(model_t) * 1e6:.0f} us ({np.mean(own) / np.mean(model_t):.2f}x)"
    )
    forest_row()


def forest_row() -> None:
    """Issue 20's cost goal: the monitor's own time on a 450-row, 64-feature call (closes
    included) against a 200-tree forest's predict_proba on the same rows (goal <= 0.2x)."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from structlog.testing import CapturingLogger

    X, y = make_classification(n_samples=12_000, n_features=64, n_informative=12, random_state=1)
    forest = RandomForestClassifier(200, random_state=0).fit(X[:4000], y[:4000])
    g = guard(forest).monitor(DriftProfile.from_data(X[:4000]), logger=CapturingLogger()).build()
    starts = list(range(4000, 12_000 - 450, 450))
    for s in starts[:5]:  # the first window (2,000 rows) fills: windows close from here on
        g.decide(X[s : s + 450])
    own, model_t = per_call_cost(g, forest, [X[s : s + 450] for s in starts[5:]] * 3)
    print(
        f"monitor's own time per 450-row call, 64 features (mean over {len(own)} calls, "
        f"windows closing included): {np.mean(own) * 1e3:.1f} ms; "
        f"RandomForest(200).predict_proba on the same rows: {np.mean(model_t) * 1e3:.1f} ms "
        f"({np.mean(own) / np.mean(model_t):.2f}x, goal <= 0.2x)"
    )


if __name__ == "__main__":
    main()
    ref, cur = benchmark_data(seed=0)
    seeds_row(ref, cur)
    constant_rows()
    min_effect_rows()
    stream_rows()
