"""The end-to-end demo behind ``python -m guardrails demo``: a model meets real traffic."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from guardrails.builder import Guard
from guardrails.core.decisions import PRIMARY, Decisions

__all__ = ["DemoResult", "FlakyModel", "PhaseSummary", "build_demo_guard", "run_demo"]

BATCH = 10  # rows per request in the demo's traffic


@dataclass(frozen=True)
class PhaseSummary:
    """What the guard did with one phase of traffic.

    Attributes:
        phase: the phase's name.
        requests: rows sent.
        answered: rows the guard answered (by the primary or a fallback stage).
        abstained_by_reason: withheld rows per reason.
        answered_by_stage: answered rows per stage ("primary", "backup", ...).
        queued: rows queued for human review.
        guarded_accuracy: accuracy of the guard's answers.
        unguarded_accuracy: accuracy of the bare model on the rows it could score.
        unguarded_failures: rows the bare model could not score at all (it raised).
        ece_before, ece_after: calibration error of the model's probabilities before and
            after the guard's calibrator, on the rows of this phase the model could read.
    """

    phase: str
    requests: int
    answered: int
    abstained_by_reason: dict[str, int]
    answered_by_stage: dict[str, int]
    queued: int
    guarded_accuracy: float
    unguarded_accuracy: float
    unguarded_failures: int
    ece_before: float
    ece_after: float

    def row(self) -> list[str]:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.abstained_by_reason.items()))
        stages = ", ".join(
            f"{k}={v}" for k, v in sorted(self.answered_by_stage.items()) if k != PRIMARY
        )
        return [
            self.phase,
            str(self.requests),
            str(self.answered),
            reasons or "-",
            stages or "-",
            str(self.queued),
            _pct(self.guarded_accuracy),
            _pct(self.unguarded_accuracy)
            + (f" ({self.unguarded_failures} crashed)" if self.unguarded_failures else ""),
            f"{self.ece_before:.3f} -> {self.ece_after:.3f}",
        ]


HEADER = [
    "phase",
    "requests",
    "answered",
    "withheld by reason",
    "fallback answers",
    "to review",
    "guarded acc.",
    "unguarded acc.",
    "ECE before -> after",
]


@dataclass
class DemoResult:
    """Everything the demo produced, for tests and for the curious."""

    summaries: list[PhaseSummary]
    report_path: Path | None
    log_path: Path
    queue_path: Path
    queued_ids: int
    cases_in_queue: int
    extras: dict[str, Any] = field(default_factory=dict)


def _pct(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{100 * x:.1f}%"


class FlakyModel:
    """A trained classifier behind an unreliable network hop, for the demo's bad phase.

    While ``failure_rate``/``hang_rate`` are zero it is the model itself. Otherwise each call
    raises ``ConnectionError`` with probability ``failure_rate`` or sleeps ``hang`` seconds
    with probability ``hang_rate``.
    """

    def __init__(self, model: Any, *, seed: int = 0) -> None:
        self.model = model
        self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_
        self.failure_rate = 0.0
        self.hang_rate = 0.0
        self.hang = 0.3
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def predict_proba(self, X: Any) -> Any:
        with self._lock:
            draw = self._rng.random()
        if draw < self.failure_rate:
            raise ConnectionError("model server reset the connection")
        if draw < self.failure_rate + self.hang_rate:
            time.sleep(self.hang)
        return self.model.predict_proba(X)


def build_demo_guard(
    seed: int = 0, out: Path | None = None, log_file: TextIO | None = None
) -> tuple[Guard, dict[str, Any]]:
    """Train a classifier on scikit-learn's breast-cancer data and build the full guard.

    Returns the fitted guard and the pieces the demo uses (data, models, queue, metrics).
    """
    import structlog
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from guardrails.abstention.conformal import ConformalSets
    from guardrails.builder import guard
    from guardrails.calibration.calibrators import TemperatureScaling, logits_from_proba
    from guardrails.fallback.breaker import CircuitBreaker
    from guardrails.fallback.chain import (
        ModelStage,
        Rule,
        on_circuit_open,
        on_error,
        on_invalid_input,
        on_timeout,
    )
    from guardrails.monitoring.drift import DriftProfile
    from guardrails.monitoring.monitor import Tighten
    from guardrails.observability.telemetry import Metrics
    from guardrails.review.backends import open_queue
    from guardrails.review.memory import MemoryQueue
    from guardrails.review.queue import ReviewQueue
    from guardrails.validation.schema import infer_schema

    data = load_breast_cancer()
    X, y, names = data.data, data.target, list(data.feature_names)
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.6, random_state=seed, stratify=y
    )
    X_cal, X_pool, y_cal, y_pool = train_test_split(
        X_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=5000))
    model.fit(X_train, y_train)
    backup = make_pipeline(StandardScaler(), GaussianNB()).fit(X_train, y_train)
    primary = FlakyModel(model, seed=seed)

    worst_radius = names.index("worst radius")

    def size_rule(rows: Any) -> list[Any]:
        """A clinician's rule that copes with partial rows: very large tumours are malignant."""
        out: list[Any] = []
        for row in rows:
            value = row[worst_radius] if len(row) > worst_radius else None
            big = isinstance(value, (int, float)) and np.isfinite(value) and 25.0 < value < 40.0
            out.append(0 if big else None)
        return out

    schema = infer_schema(X_train, names=names)
    # The monitor sees calibrated confidence, so its reference is calibrated too (the same
    # temperature the guard fits below): raw training confidence would read as drift.
    temperature = TemperatureScaling().fit(logits_from_proba(model.predict_proba(X_cal)), y_cal)
    proba_train = temperature.transform(logits_from_proba(model.predict_proba(X_train)))
    profile = DriftProfile.from_data(
        X_train,
        feature_names=names,
        predictions=model.predict(X_train),
        confidence=proba_train.max(axis=1),
    )
    queue: ReviewQueue = MemoryQueue() if out is None else open_queue(f"sqlite:///{out}")
    metrics = Metrics(window=500)
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=log_file if log_file is not None else sys.stderr),
        processors=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.add_log_level,
            structlog.processors.JSONRenderer(),
        ],
    )
    g = (
        guard(primary, name="tumour-triage", version="1")
        .validate(schema, on_invalid="fallback")
        .calibrate("temperature")
        .abstain(ConformalSets(alpha=0.02, max_set_size=1))  # the model is right 96% of the time
        .monitor(
            profile,
            window=200,
            mode="tumbling",
            tests=("ks",),
            alpha=0.01,
            correction="bonferroni",
            action=Tighten(threshold=0.9, delta=0.09),
            logger=logger,
        )
        .fallback(
            ModelStage(backup, name="backup", when=on_error() | on_timeout() | on_circuit_open()),
            Rule(size_rule, name="size_rule", when=on_invalid_input()),
            primary_timeout=0.1,
            primary_breaker=CircuitBreaker(
                name="primary",
                failure_rate=0.25,
                window=20,
                min_calls=10,
                cool_down=0.05,
                logger=logger,
            ),
        )
        .review(queue, audit_rate=0.02, seed=seed)
        .log(logger, metrics=metrics, max_row_events=BATCH)
    )
    g.fit(X_cal, y_cal)
    return g, {
        "model": model,
        "primary": primary,
        "backup": backup,
        "names": names,
        "X_train": X_train,
        "X_cal": X_cal,
        "y_cal": y_cal,
        "X_pool": X_pool,
        "y_pool": y_pool,
        "queue": queue,
        "metrics": metrics,
    }


def _traffic(
    X_pool: NDArray[Any], y_pool: NDArray[Any], n: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """``n`` requests drawn from held-out patients, with 2% measurement noise."""
    idx = rng.integers(0, len(X_pool), size=n)
    noise = rng.normal(1.0, 0.02, size=(n, X_pool.shape[1]))
    return np.asarray(X_pool[idx] * noise, dtype=np.float64), y_pool[idx]


def _malformed(X: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    """A copy of ``X`` where a quarter of the rows are broken the ways production breaks."""
    bad: NDArray[np.float64] = np.array(X, dtype=np.float64, copy=True)
    rows = rng.choice(len(bad), size=len(bad) // 4, replace=False)
    for k, r in enumerate(rows):
        col = int(rng.integers(0, bad.shape[1] - 10))  # keep "worst radius" for the rule
        bad[r, col] = (np.nan, np.inf, -1.0, 1e9)[k % 4]
    return bad


def _ece(
    model: Any, g: Guard, X: NDArray[Any], y: NDArray[Any], d: Decisions
) -> tuple[float, float]:
    """ECE of the bare model and of the guard's calibrator on the rows the schema accepts."""
    from guardrails.calibration.calibrators import Calibrated, logits_from_proba
    from guardrails.calibration.metrics import expected_calibration_error
    from guardrails.core.decisions import Reason

    ok = np.isfinite(X).all(axis=1) & (d.reason != Reason.INVALID_INPUT)
    if ok.sum() < 10:
        return float("nan"), float("nan")
    proba = model.predict_proba(X[ok])
    calibrator = g.layer(Calibrated).calibrator
    after = calibrator.transform(logits_from_proba(proba))
    return (
        expected_calibration_error(y[ok], proba, classes=model.classes_),
        expected_calibration_error(y[ok], after, classes=model.classes_),
    )


def _unguarded(model: Any, X: NDArray[Any], y: NDArray[Any]) -> tuple[float, int]:
    """Accuracy of the bare model served one request at a time, and rows it crashed on."""
    correct = total = crashed = 0
    for start in range(0, len(X), BATCH):
        Xb, yb = X[start : start + BATCH], y[start : start + BATCH]
        try:
            pred = model.classes_[np.argmax(model.predict_proba(Xb), axis=1)]
        except (ValueError, ConnectionError):  # what the service would have answered: a 500
            crashed += len(Xb)
            continue
        correct += int((pred == yb).sum())
        total += len(Xb)
    return (correct / total if total else float("nan")), crashed


def _progress(say: Callable[[str], None], label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total)
    say(f"      {label:<18} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")


def run_demo(
    out: TextIO | None = None,
    seed: int = 0,
    *,
    out_dir: str | Path | None = "guardrails-demo",
    report: bool = True,
    rows_per_phase: int = 400,
) -> DemoResult:
    """Run the demo, print a summary per phase to ``out`` and write the report and logs.

    Args:
        out: where to print (stdout by default).
        seed: seed of the traffic.
        out_dir: folder for ``guardrails-report.html``, the JSON log and the review queue.
        report: write the HTML report (needs the ``report`` extra: matplotlib).
        rows_per_phase: rows of traffic per phase.
    """
    stream = out or sys.stdout
    say: Callable[[str], None] = lambda text: print(text, file=stream, flush=True)  # noqa: E731
    rng = np.random.default_rng(seed)
    folder = Path(out_dir if out_dir is not None else ".").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "guardrails-decisions.jsonl"
    queue_path = folder / "guardrails-review.db"
    for stale in (log_path, queue_path, queue_path.with_name(queue_path.name + "-wal")):
        stale.unlink(missing_ok=True)

    with log_path.open("w", encoding="utf-8") as log_file:
        say("[1/5] Training a classifier on scikit-learn's breast-cancer data")
        say("[2/5] Fitting calibration (temperature) and conformal abstention on held-out data")
        g, data = build_demo_guard(seed, out=queue_path, log_file=log_file)
        say("[3/5] The guard, outermost layer last:")
        for layer in reversed(list(g.layers())):
            say(f"        {layer!r}"[:110])
        model, primary, names = data["model"], data["primary"], data["names"]

        say(f"[4/5] Serving {4 * rows_per_phase} requests in four phases, {BATCH} rows a call")
        X_norm, y_norm = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        X_flaky, y_flaky = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        X_drift, y_drift = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        steps = np.linspace(1.0, 1.6, rows_per_phase)[:, None]
        texture = np.array([("texture" in n or "smoothness" in n) for n in names])
        X_drift = np.where(texture, X_drift * steps, X_drift)
        X_bad, y_bad = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        phases = [
            ("normal traffic", X_norm, y_norm, 0.0),
            ("malformed inputs", _malformed(X_bad, rng), y_bad, 0.0),
            ("flaky primary", X_flaky, y_flaky, 0.3),
            ("gradual drift", X_drift, y_drift, 0.0),
        ]
        from guardrails.monitoring.monitor import Monitored

        monitor = g.layer(Monitored)
        summaries: list[PhaseSummary] = []
        timeline: dict[str, list[Any]] = {"t": [], "abstention": [], "fallback": []}
        drift_t: list[int] = []
        drift_scores: dict[str, list[float]] = {}
        tightened: list[int] = []
        relaxed: list[int] = []
        queued_ids = 0
        decisions_by_phase: list[tuple[str, Decisions, NDArray[Any]]] = []
        call_no = 0
        for name, X, y, failure in phases:
            primary.failure_rate = failure
            primary.hang_rate = 0.05 if failure else 0.0
            parts: list[Decisions] = []
            for start in range(0, len(X), BATCH):
                status_before = monitor.status
                d = g.decide(X[start : start + BATCH], request_id=f"{name[:6]}-{start}")
                parts.append(d)
                call_no += 1
                if monitor.status != status_before:
                    (tightened if monitor.status == "drift" else relaxed).append(call_no)
                scores = monitor.scores()
                if scores:
                    drift_t.append(call_no)
                    for feature, stats in scores.items():
                        drift_scores.setdefault(feature, []).append(float(stats.get("ks", np.nan)))
                if (start // BATCH) % 10 == 9 or start + BATCH >= len(X):
                    _progress(say, name, min(start + BATCH, len(X)), len(X))
            d = Decisions.concat(parts)
            primary.hang_rate = 0.0  # the unguarded service below waits for no one either
            unguarded, crashed = _unguarded(primary, X, y)
            primary.failure_rate = 0.0
            decisions_by_phase.append((name, d, y))
            queued = int(sum(1 for r in (d.review_id if d.review_id is not None else []) if r))
            queued_ids += queued
            fallback = d.answered & (d.stage != PRIMARY)
            guarded = (
                float(np.mean(d.prediction[d.answered] == y[d.answered]))
                if d.answered.any()
                else float("nan")
            )
            before, after = _ece(model, g, X, y, d)
            summaries.append(
                PhaseSummary(
                    phase=name,
                    requests=len(d),
                    answered=int(d.answered.sum()),
                    abstained_by_reason=d.reason_counts(),
                    answered_by_stage=d.stage_counts(),
                    queued=queued,
                    guarded_accuracy=guarded,
                    unguarded_accuracy=unguarded,
                    unguarded_failures=crashed,
                    ece_before=before,
                    ece_after=after,
                )
            )
            for k in range(0, len(d), 100):
                part = d.take(np.arange(k, min(k + 100, len(d))))
                timeline["t"].append(f"{name.split()[0]} {k // 100 + 1}")
                timeline["abstention"].append(part.abstention_rate)
                timeline["fallback"].append(
                    float(fallback[k : k + 100].mean()) if len(part) else 0.0
                )

    queue = data["queue"]
    cases = queue.stats().total
    say("[5/5] What happened")
    _print_table(say, [s.row() for s in summaries])
    say(
        f"Every one of the {sum(s.requests for s in summaries)} requests got a decision; "
        "every withheld one says why."
    )
    say(f"Queued for review: {queued_ids} cases; in the queue: {cases} (nothing lost).")
    garbage = len(queue.list(kind="data_quality", limit=max(cases, 1)))
    say(
        f"                 {cases - garbage} model cases first, then {garbage} data-quality "
        "cases (invalid inputs, in their own lane)."
    )
    report_path = None
    if report:
        report_path = _write_report(
            folder / "guardrails-report.html",
            g,
            data,
            summaries,
            decisions_by_phase,
            timeline,
            (drift_t, drift_scores, tightened, relaxed),
        )
        say(f"Report:          {report_path}")
    say(f"JSON log:        {log_path}")
    say(
        f"Review queue:    {queue_path}  (try: python -m guardrails review stats "
        f"--queue sqlite:///{queue_path})"
    )
    queue.close()
    return DemoResult(
        summaries=summaries,
        report_path=report_path,
        log_path=log_path,
        queue_path=queue_path,
        queued_ids=queued_ids,
        cases_in_queue=cases,
    )


def _print_table(say: Callable[[str], None], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    say("  ".join(h.ljust(w) for h, w in zip(HEADER, widths)))
    say("  ".join("-" * w for w in widths))
    for r in rows:
        say("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def _write_report(
    path: Path,
    g: Guard,
    data: dict[str, Any],
    summaries: list[PhaseSummary],
    decisions_by_phase: list[tuple[str, Decisions, NDArray[Any]]],
    timeline: dict[str, list[Any]],
    drift: tuple[list[int], dict[str, list[float]], list[int], list[int]],
) -> Path:
    from guardrails.apps.outcomes import coverage, mean_set_size, risk_coverage_curve
    from guardrails.apps.report import Report
    from guardrails.calibration.calibrators import Calibrated, logits_from_proba
    from guardrails.calibration.metrics import reliability_curve

    model = data["model"]
    classes = model.classes_
    X_pool, y_pool = data["X_pool"], data["y_pool"]
    raw = model.predict_proba(X_pool)
    calibrated = g.layer(Calibrated).calibrator.transform(logits_from_proba(raw))
    report = Report(
        "guardrails demo: a tumour-triage model meets production",
        subtitle="scikit-learn's breast-cancer data; four phases of traffic",
    )
    report.add_table("What happened, phase by phase", HEADER, [s.row() for s in summaries])
    curves = {}
    eces = {}
    for label, proba in (("before calibration", raw), ("after calibration", calibrated)):
        c = reliability_curve(y_pool, proba, classes=classes, bins=10)
        curves[label] = (c.confidence, c.accuracy, c.counts)
        eces[label] = c.ece
    report.add_reliability(curves, ece=eces)
    normal_name, normal, y_normal = decisions_by_phase[0]
    raw_conf = normal.confidence if normal.confidence is not None else np.zeros(len(normal))
    conf = np.where(np.isnan(raw_conf), 0.0, raw_conf)
    correct = normal.prediction == y_normal
    cov, risk, _ = risk_coverage_curve(conf, correct)
    answered = normal.answered
    op = (float(answered.mean()), float(np.mean(~correct[answered])) if answered.any() else 0.0)
    report.add_risk_coverage(
        cov,
        risk,
        label=f"guard ({normal_name})",
        operating_point=op,
        compare={"unguarded model": ([1.0], [float(np.mean(~correct))])},
    )
    per_class = coverage(normal, y_normal, groups=y_normal)
    sizes = mean_set_size(normal, groups=y_normal)
    assert isinstance(per_class, dict) and isinstance(sizes, dict)
    labels = [int(c) for c in classes]
    report.add_per_class(
        [data_name(c) for c in labels],
        [per_class.get(c, np.nan) for c in labels],
        [sizes.get(c, np.nan) for c in labels],
        target=0.98,
    )
    report.add_rates_over_time(
        timeline["t"],
        {"abstention rate": timeline["abstention"], "fallback rate": timeline["fallback"]},
        xlabel="Phase, per 100 requests",
    )
    drift_t, all_scores, tightened, relaxed = drift
    scores = {k: v for k, v in all_scores.items() if np.isfinite(v).any()}
    if drift_t and scores:
        report.add_drift_over_time(
            drift_t,
            scores,
            tightened_at=[t for t in tightened if t in drift_t],
            relaxed_at=[t for t in relaxed if t in drift_t],
            xlabel="Request number",
            ylabel="KS statistic of the latest window",
        )
    return report.to_html(path)


def data_name(label: int) -> str:
    """Breast-cancer class names: 0 is malignant, 1 benign."""
    return {0: "malignant", 1: "benign"}.get(label, str(label))
