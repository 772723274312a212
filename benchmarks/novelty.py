"""The novelty gate against IsolationForest, LocalOutlierFactor and pyod, same calibration.

Run: ``python benchmarks/novelty.py`` (pyod rows need pyod: ``make peers`` puts it in
``.venv-peers/bench``; a missing pyod is reported, not fatal). 20,000 reference rows x 20
features from a mixture of five correlated Gaussian clusters; 2,000 held-out rows
calibrate every detector into conformal p-values the same way (``NoveltyGate`` with the
peer's scores as a plain scorer), at ``alpha`` 0.01. Measured on 5,000 fresh
in-distribution rows (false alarms) and three kinds of novel rows (2,000 each): a sixth
cluster never seen in the reference, rows shifted 3 standard deviations in 3 features, and
rows with one feature 10 times too large. Prints fit time (detector and calibration),
flagging time per row (one row alone, and per row of a 10,000-row batch), false alarms and
power, then each goal with "met" or "not met".
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import NoveltyGate

ALPHA = 0.01
N_REF, N_CAL, N_IN, N_NOVEL, D = 20_000, 2_000, 5_000, 2_000, 20
SCENARIOS = ("unseen cluster", "3 sd in 3 features", "one feature x10")


def _data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(6, D))
    mixing = [rng.normal(scale=0.6, size=(D, D)) + np.eye(D) for _ in range(6)]

    def draw(n: int, clusters: tuple[int, ...]) -> np.ndarray:
        which = rng.choice(clusters, size=n)
        out = np.empty((n, D))
        for c in clusters:
            rows = which == c
            out[rows] = centres[c] + rng.normal(size=(int(rows.sum()), D)) @ mixing[c]
        return out

    seen = (0, 1, 2, 3, 4)
    ref = draw(N_REF, seen)
    sd = ref.std(axis=0)
    shifted = draw(N_NOVEL, seen)
    cols = rng.choice(D, size=3, replace=False)
    shifted[:, cols] += 3.0 * sd[cols] * rng.choice([-1.0, 1.0], size=(N_NOVEL, 3))
    scaled = draw(N_NOVEL, seen)
    col = rng.integers(D)
    scaled[:, col] *= 10.0
    return {
        "ref": ref,
        "cal": draw(N_CAL, seen),
        "in": draw(N_IN, seen),
        "unseen cluster": draw(N_NOVEL, (5,)),
        "3 sd in 3 features": shifted,
        "one feature x10": scaled,
        "batch": draw(10_000, seen),
    }


def _peer(name: str, ref: np.ndarray) -> Callable[[Any], Any] | None:
    """A fitted peer detector as a scorer (higher is more novel), or None if absent."""
    scaler = StandardScaler().fit(ref)
    Z = scaler.transform(ref)
    if name == "sklearn IsolationForest":
        forest = IsolationForest(random_state=0).fit(Z)
        return lambda X: -forest.score_samples(scaler.transform(X))
    if name == "sklearn LOF(novelty=True)":
        lof = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(Z)
        return lambda X: -lof.score_samples(scaler.transform(X))
    try:
        if name == "pyod KNN":
            from pyod.models.knn import KNN

            knn = KNN(n_neighbors=5, method="mean").fit(Z)
            return lambda X: knn.decision_function(scaler.transform(X))
        if name == "pyod ECOD":
            from pyod.models.ecod import ECOD

            ecod = ECOD().fit(Z)
            return lambda X: ecod.decision_function(scaler.transform(X))
    except ImportError:
        return None
    raise ValueError(name)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    data = _data()
    ref, cal = data["ref"], data["cal"]
    methods: list[tuple[str, Callable[[], NoveltyGate] | None]] = []
    for score in ("knn", "mahalanobis", "isolation_forest"):
        methods.append(
            (f"guardrails {score}", lambda s=score: NoveltyGate(alpha=ALPHA, score=s).fit(ref))
        )
    for size in (2_000, 5_000):
        methods.append(
            (
                f"guardrails knn, max_reference={size:,}",
                lambda m=size: NoveltyGate(alpha=ALPHA, max_reference=m).fit(ref),
            )
        )
    for peer in ("sklearn IsolationForest", "sklearn LOF(novelty=True)", "pyod KNN", "pyod ECOD"):

        def make(p: str = peer) -> NoveltyGate | None:
            scorer = _peer(p, ref)
            return None if scorer is None else NoveltyGate(alpha=ALPHA, score=scorer).fit(ref)

        methods.append((peer, make))  # type: ignore[arg-type]

    rows, results = [], {}
    one = data["in"][:1]
    for name, make in methods:
        assert make is not None
        t_fit, gate = _timed(make)
        if gate is None:
            rows.append([name, "not installed", "", "", "", "", "", ""])
            continue
        t_cal, _ = _timed(lambda g=gate: g.calibrate(cal))
        t_one = median_seconds(lambda g=gate: g.is_novel(one), repeats=5, number=5)
        t_batch = median_seconds(lambda g=gate: g.is_novel(data["batch"]), repeats=3) / 10_000
        false = float(gate.is_novel(data["in"]).mean())
        power = {s: float(gate.is_novel(data[s]).mean()) for s in SCENARIOS}
        results[name] = {"false": false, **power, "fit": t_fit + t_cal, "one": t_one}
        rows.append(
            [
                name,
                fmt_seconds(t_fit + t_cal),
                fmt_seconds(t_one),
                fmt_seconds(t_batch),
                f"{false:.4f}",
                *(f"{power[s]:.3f}" for s in SCENARIOS),
            ]
        )
    header = ["detector (conformal, alpha 0.01)", "fit+calibrate", "1 row", "per row of 10k"]
    header += ["false alarms", *SCENARIOS]
    title = (
        f"Novelty: {N_REF:,} reference rows x {D} features, {N_CAL:,} calibration rows, "
        f"{N_IN:,} in-distribution and {N_NOVEL:,} novel rows per scenario"
    )
    print(table(title, header, rows))

    ours = results["guardrails knn"]
    peers = [results[p] for p in ("sklearn IsolationForest", "sklearn LOF(novelty=True)")]
    # one run's false-alarm share: Beta-binomial spread around floor(alpha (n+1)) / (n+1)
    ell = math.floor(ALPHA * (N_CAL + 1))
    mu = ell / (N_CAL + 1)
    var = ell * (N_CAL + 1 - ell) / ((N_CAL + 1) ** 2 * (N_CAL + 2))
    tol = 3.0 * math.sqrt(var + (mu - var - mu * mu) / N_IN)
    goals = [
        (
            f"false alarms of every detector <= alpha + 3 sd ({ALPHA + tol:.4f})",
            max(r["false"] for r in results.values()) <= ALPHA + tol,
        )
    ]
    for s in SCENARIOS:
        best = max(p[s] for p in peers)
        goals.append(
            (
                f"knn power on '{s}' >= IsolationForest's and LOF's ({ours[s]:.3f} vs {best:.3f})",
                ours[s] >= best,
            )
        )
    ratio_rows = [
        [name, f"{r['fit'] / ours['fit']:.2f}x", f"{r['one'] / ours['one']:.2f}x"]
        for name, r in results.items()
    ]
    print()
    print(table("Times as ratios of guardrails knn", ["detector", "fit", "1 row"], ratio_rows))
    print()
    print(table("Goals", ["goal", "result"], [[g, "met" if ok else "not met"] for g, ok in goals]))


if __name__ == "__main__":
    main()
