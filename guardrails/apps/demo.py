"""The end-to-end demo behind ``python -m guardrails demo``: a model meets real traffic."""

from __future__ import annotations

import math
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from guardrails.apps.demo_guard import BATCH as BATCH
from guardrails.apps.demo_guard import CallClock as CallClock
from guardrails.apps.demo_guard import FlakyModel as FlakyModel
from guardrails.apps.demo_guard import build_demo_guard as build_demo_guard
from guardrails.apps.demo_report import Calibration, DemoRun, DriftTrace, build_report
from guardrails.apps.report import Report
from guardrails.builder import Guard
from guardrails.calibration.calibrators import Calibrated, logits_from_proba
from guardrails.calibration.metrics import reliability_curve
from guardrails.core.decisions import PRIMARY, Decisions, Reason
from guardrails.core.workers import WorkerPool
from guardrails.monitoring.drift import DriftReport
from guardrails.monitoring.monitor import Monitored

__all__ = [
    "CallClock",
    "DemoResult",
    "FlakyModel",
    "PhaseSummary",
    "build_demo_guard",
    "explain",
    "run_demo",
]

ECE_BINS = 10  # equal-width bins for every ECE the demo prints and draws


@dataclass(frozen=True)
class PhaseSummary:
    """What the guard did with one phase of traffic, and what the bare model did.

    Attributes:
        phase: the phase's name.
        rows: rows sent.
        calls: calls (requests) they were sent in, ``BATCH`` rows each.
        answered: rows the guard answered (by the primary or a fallback stage).
        abstained_by_reason: withheld rows per reason.
        answered_by_stage: answered rows per stage ("primary", "backup", ...).
        stage_accuracy: stage -> (answered rows, accuracy among them).
        queued: rows queued for human review.
        guarded_accuracy: accuracy among the guard's answered rows.
        unguarded_accuracy: accuracy of the bare model, served the same calls, among the
            rows of the calls it could score.
        unguarded_scored: rows of the calls the bare model scored.
        unguarded_failures: rows of the calls where the bare model raised.
        ece_rows: rows the ECE is measured on (those the schema accepts).
        ece_before, ece_after: top-label calibration error (``ECE_BINS`` equal-width bins)
            of the model's probabilities before and after the guard's calibrator.
        ece_change_interval: 90% bootstrap interval of ``ece_after - ece_before`` over the
            phase's rows (NaN where not computed).
    """

    phase: str
    rows: int
    calls: int
    answered: int
    abstained_by_reason: dict[str, int]
    answered_by_stage: dict[str, int]
    stage_accuracy: dict[str, tuple[int, float]]
    queued: int
    guarded_accuracy: float
    unguarded_accuracy: float
    unguarded_scored: int
    unguarded_failures: int
    ece_rows: int
    ece_before: float
    ece_after: float
    ece_change_interval: tuple[float, float] = (float("nan"), float("nan"))

    def row(self) -> list[str]:
        """The phase as the cells of the demo's table (``HEADER``)."""
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.abstained_by_reason.items()))
        stages = ", ".join(
            f"{k}={v}" for k, v in sorted(self.answered_by_stage.items()) if k != PRIMARY
        )
        return [
            self.phase,
            str(self.rows),
            str(self.answered),
            reasons or "-",
            stages or "-",
            str(self.queued),
            _pct(self.guarded_accuracy),
            _pct(self.unguarded_accuracy),
            str(self.unguarded_scored),
            str(self.unguarded_failures),
            _num(self.ece_before),
            _num(self.ece_after),
        ]


HEADER = [
    "phase",
    "rows",
    "answered",
    "withheld (reason=rows)",
    "fallback answers",
    "to review",
    "guard acc.",
    "bare acc.",
    "bare scored",
    "bare failed",
    "ECE raw",
    "ECE cal.",
]

COLUMNS = (
    f"rows: rows sent in the phase, {BATCH} a call. answered: rows the guard answered, by the "
    "primary or a fallback stage; withheld: the others, by reason. fallback answers: answered "
    "rows per stage other than the primary. to review: rows queued for a person (withheld "
    "rows, and a 2% audit sample of answers). guard acc.: share right among the guard's "
    "answered rows. bare acc.: the model alone, sent the same calls, share right among the "
    "rows of the calls it could score (bare scored); bare failed: rows of the calls where "
    "it raised, which a service would answer with an error. ECE raw, ECE cal.: top-label "
    f"calibration error ({ECE_BINS} equal-width bins) of the model's probabilities, raw and "
    "after the guard's temperature, on the rows the schema accepts."
)


@dataclass
class DemoResult:
    """Everything the demo produced, for tests and for the curious.

    Attributes:
        summaries: one per phase.
        explanations: one sentence per place where the guard scores below the bare model.
        report: the report object (None with ``report=False``), whose plots and table
            hold the numbers the HTML file shows.
        report_path: where the report was written.
    """

    summaries: list[PhaseSummary]
    report_path: Path | None
    log_path: Path
    queue_path: Path
    queued_ids: int
    cases_in_queue: int
    explanations: list[str] = field(default_factory=list)
    report: Report | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _pct(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{100 * x:.1f}%"


def _num(x: float) -> str:
    return "n/a" if np.isnan(x) else f"{x:.3f}"


def _traffic(
    X_pool: NDArray[Any], y_pool: NDArray[Any], n: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """``n`` rows drawn with replacement from held-out patients, with 2% measurement noise."""
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


def _calibration(
    model: Any, g: Guard, X: NDArray[Any], y: NDArray[Any], d: Decisions, rng: np.random.Generator
) -> Calibration | None:
    """Reliability of the bare model and of the guard's calibrator on the rows the schema
    accepts, with a 90% bootstrap interval of the change in ECE (200 resamples of rows)."""
    ok = np.isfinite(X).all(axis=1) & (d.reason != Reason.INVALID_INPUT)
    if ok.sum() < 10:
        return None
    proba = model.predict_proba(X[ok])
    after = g.layer(Calibrated).calibrator.transform(logits_from_proba(proba))
    yk, classes = y[ok], model.classes_
    before_c = reliability_curve(yk, proba, classes=classes, bins=ECE_BINS)
    after_c = reliability_curve(yk, after, classes=classes, bins=ECE_BINS)
    changes = []
    for _ in range(200):
        pick = rng.integers(0, len(yk), size=len(yk))
        changes.append(
            reliability_curve(yk[pick], after[pick], classes=classes, bins=ECE_BINS).ece
            - reliability_curve(yk[pick], proba[pick], classes=classes, bins=ECE_BINS).ece
        )
    low, high = np.quantile(changes, [0.05, 0.95])
    return Calibration(int(ok.sum()), before_c, after_c, (float(low), float(high)))


def _unguarded(model: FlakyModel, X: NDArray[Any], y: NDArray[Any]) -> tuple[float, int, int]:
    """The bare model sent the same calls: accuracy on the rows of the calls it scored,
    those rows, and the rows of the calls where it raised."""
    correct = total = crashed = 0
    model.sleep = False  # a hung call answers in the end; nobody needs to wait for it here
    try:
        for start in range(0, len(X), BATCH):
            Xb, yb = X[start : start + BATCH], y[start : start + BATCH]
            try:
                pred = model.classes_[np.argmax(model.predict_proba(Xb), axis=1)]
            except (ValueError, ConnectionError):  # what the service would have answered: a 500
                crashed += len(Xb)
                continue
            correct += int((pred == yb).sum())
            total += len(Xb)
    finally:
        model.sleep = True
    return (correct / total if total else float("nan")), total, crashed


def _progress(say: Callable[[str], None], label: str, done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total)
    say(f"      {label:<18} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")


def _record_window(drift: DriftTrace, report: DriftReport, served: int) -> None:
    drift.rows.append(served)
    drift.alpha, drift.correction = report.alpha, report.correction
    drift.window_rows.append(report.rows)
    for f in report.features:
        ps = [t.p_adjusted for t in f.tests.values() if t.p_adjusted is not None]
        if not ps:
            continue
        name = f.feature if f.group == "input" else f"{f.feature} (model output)"
        value = -math.log10(max(min(ps), drift.floor))
        drift.evidence.setdefault(name, [math.nan] * (len(drift.rows) - 1)).append(value)
    for values in drift.evidence.values():
        if len(values) < len(drift.rows):
            values.append(math.nan)


def _summary(
    name: str,
    d: Decisions,
    y: NDArray[Any],
    unguarded: tuple[float, int, int],
    calibration: Calibration | None,
) -> PhaseSummary:
    queued = int(sum(1 for r in (d.review_id if d.review_id is not None else []) if r))
    answered = d.answered
    right = np.zeros(len(d), dtype=bool)
    right[answered] = d.prediction[answered] == y[answered]
    stage_accuracy = {}
    for stage in sorted({str(s) for s in d.stage[answered]}):
        rows = answered & (d.stage == stage)
        stage_accuracy[stage] = (int(rows.sum()), float(right[rows].mean()))
    acc, scored, crashed = unguarded
    nan = float("nan")
    return PhaseSummary(
        phase=name,
        rows=len(d),
        calls=-(-len(d) // BATCH),
        answered=int(answered.sum()),
        abstained_by_reason=d.reason_counts(),
        answered_by_stage=d.stage_counts(),
        stage_accuracy=stage_accuracy,
        queued=queued,
        guarded_accuracy=float(right[answered].mean()) if answered.any() else nan,
        unguarded_accuracy=acc,
        unguarded_scored=scored,
        unguarded_failures=crashed,
        ece_rows=0 if calibration is None else calibration.rows,
        ece_before=nan if calibration is None else calibration.before.ece,
        ece_after=nan if calibration is None else calibration.after.ece,
        ece_change_interval=(nan, nan) if calibration is None else calibration.change_interval,
    )


def explain(summaries: Sequence[PhaseSummary], n_cal: int) -> list[str]:
    """One sentence for every place where the guard scores below the bare model.

    Args:
        summaries: the phases.
        n_cal: rows the calibrator was fitted on.

    Returns:
        The sentences, in table order (empty when the guard is never worse).
    """
    out = []
    for s in summaries:
        if s.guarded_accuracy < s.unguarded_accuracy:
            others = [
                f"{stage} answered {n} rows at {_pct(acc)}"
                for stage, (n, acc) in s.stage_accuracy.items()
                if stage != PRIMARY
            ]
            primary = s.stage_accuracy.get(PRIMARY)
            mine = f"the primary answered {primary[0]} at {_pct(primary[1])}" if primary else ""
            if not others:  # no weaker stage: few rows were answered at all
                withheld = ", ".join(f"{k}={n}" for k, n in s.abstained_by_reason.items())
                out.append(
                    f"{s.phase}: guard acc. {_pct(s.guarded_accuracy)} is below the bare "
                    f"model's {_pct(s.unguarded_accuracy)} on only the {s.answered} rows the "
                    f"guard answered; it withheld the other {s.rows - s.answered} "
                    f"({withheld}), which the bare model answered too."
                )
            else:
                out.append(
                    f"{s.phase}: guard acc. {_pct(s.guarded_accuracy)} is below the bare model's "
                    f"{_pct(s.unguarded_accuracy)} because {', '.join(others) or 'no fallback'} "
                    f"({mine}), a weaker model answering where the primary failed or its breaker "
                    f"was open; the bare model's figure leaves out the {s.unguarded_failures} rows "
                    f"of the calls it failed, which got no answer at all."
                )
        if s.ece_after > s.ece_before:
            low, high = s.ece_change_interval
            verdict = (
                "within the noise of an ECE on this many rows"
                if low <= 0 <= high
                else "a real loss here: the temperature fitted on the calibration rows does "
                "not suit this phase's rows"
            )
            out.append(
                f"{s.phase}: ECE rises from {s.ece_before:.3f} to {s.ece_after:.3f} after "
                f"calibration; the temperature was fitted on {n_cal} held-out rows, and a "
                f"bootstrap over this phase's {s.ece_rows} rows puts the change in "
                f"[{low:+.3f}, {high:+.3f}] (90%): {verdict}."
            )
    return out


def run_demo(
    out: TextIO | None = None,
    seed: int = 0,
    *,
    out_dir: str | Path | None = "guardrails-demo",
    report: bool = True,
    rows_per_phase: int = 400,
) -> DemoResult:
    """Run the demo, print a summary per phase to ``out`` and write the report and logs.

    The same seed gives the same tables: traffic, faults and the breaker's clock all come
    from it (see ``build_demo_guard``); only the JSON log's timestamps and the time taken
    differ between runs.

    Args:
        out: where to print (stdout by default).
        seed: seed of the data split, the traffic and the faults.
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
        clock = CallClock()
        g, data = build_demo_guard(seed, out=queue_path, log_file=log_file, clock=clock)
        say("[3/5] The guard, outermost layer last:")
        for layer in reversed(list(g.layers())):
            for line in textwrap.wrap(
                repr(layer),
                width=96,
                initial_indent="        ",
                subsequent_indent="            ",
                break_on_hyphens=False,
            ):
                say(line)
        model, primary, names = data["model"], data["primary"], data["names"]
        workers: WorkerPool = data["workers"]

        total = 5 * rows_per_phase
        say(
            f"[4/5] Serving {total:,} rows in {-(-total // BATCH):,} calls of {BATCH} rows: "
            f"five phases of {rows_per_phase} rows (seed {seed})"
        )
        X_norm, y_norm = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        X_flaky, y_flaky = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        X_drift, y_drift = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        steps = np.linspace(1.0, 1.6, rows_per_phase)[:, None]
        texture = np.array([("texture" in n or "smoothness" in n) for n in names])
        X_drift = np.where(texture, X_drift * steps, X_drift)
        X_bad, y_bad = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        X_new, y_new = _traffic(data["X_pool"], data["y_pool"], rows_per_phase, rng)
        # A new scanner records lengths five times larger (and areas with them): every value
        # passes the schema's wide ranges, but the rows lie far outside the training data, and
        # the bare model calls most benign tumours malignant with near-certain confidence.
        sizes = np.array([any(k in n for k in ("radius", "perimeter", "area")) for n in names])
        X_new = np.where(sizes, X_new * 5.0, X_new)
        phases = [
            ("normal traffic", X_norm, y_norm, 0.0),
            ("malformed inputs", _malformed(X_bad, rng), y_bad, 0.0),
            ("flaky primary", X_flaky, y_flaky, 0.035),
            ("gradual drift", X_drift, y_drift, 0.0),
            ("novel scanner", X_new, y_new, 0.0),
        ]
        monitor = g.layer(Monitored)
        summaries: list[PhaseSummary] = []
        timeline: dict[str, list[Any]] = {"t": [], "abstention": [], "fallback": [], "novel": []}
        drift = DriftTrace()
        queued_ids = 0
        runs: list[tuple[str, Decisions, NDArray[Any]]] = []
        calibrations: list[Calibration | None] = []
        boot = np.random.default_rng([seed, 1])
        served = 0
        last_report: DriftReport | None = None
        for name, X, y, failure in phases:
            primary.failure_rate = failure
            primary.hang_rate = 0.005 if failure else 0.0  # per row: ~5% of the calls hang
            parts: list[Decisions] = []
            for start in range(0, len(X), BATCH):
                before = monitor.status
                clock.calls += 1
                d = g.decide(X[start : start + BATCH], request_id=f"{name[:6]}-{start}")
                parts.append(d)
                served += len(d)
                # A call abandoned at its timeout still runs to its end in its thread, and the
                # monitor sees its rows then. Waiting for it keeps those rows next to their
                # call in the monitor's windows, so the windows are the same in every run.
                if workers.stats().busy:
                    primary.release()  # the guard has given up on it: no need to sleep on
                    while workers.stats().busy:
                        time.sleep(0.005)
                    primary.rearm()
                now = monitor.status
                window = monitor.report
                if window is not None and window is not last_report:
                    last_report = window
                    _record_window(drift, window, served)
                if now == "drift" and before != "drift":
                    drift.tightened.append(served)
                elif before == "drift" and now != "drift":
                    drift.relaxed.append(served)
                if (start // BATCH) % 10 == 9 or start + BATCH >= len(X):
                    _progress(say, name, min(start + BATCH, len(X)), len(X))
            d = Decisions.concat(parts)
            unguarded = _unguarded(primary, X, y)
            primary.failure_rate = primary.hang_rate = 0.0
            runs.append((name, d, y))
            calibration = _calibration(model, g, X, y, d, boot)
            calibrations.append(calibration)
            summary = _summary(name, d, y, unguarded, calibration)
            summaries.append(summary)
            queued_ids += summary.queued
            fallback = d.answered & (d.stage != PRIMARY)
            for k in range(0, len(d), 100):
                part = d.take(np.arange(k, min(k + 100, len(d))))
                timeline["t"].append(f"{name.split()[0]} {k // 100 + 1}")
                timeline["abstention"].append(part.abstention_rate)
                timeline["fallback"].append(
                    float(fallback[k : k + 100].mean()) if len(part) else 0.0
                )
                timeline["novel"].append(float(np.mean(part.reason == Reason.NOVEL)))

    queue = data["queue"]
    cases = queue.stats().total
    explanations = explain(summaries, len(data["y_cal"]))
    say("[5/5] What happened")
    _print_table(say, [s.row() for s in summaries])
    for line in textwrap.wrap("Columns. " + COLUMNS, width=96):
        say(line)
    if explanations:
        say("Where the guard scores below the bare model:")
        for text in explanations:
            for k, line in enumerate(textwrap.wrap(text, width=94)):
                say(("- " if k == 0 else "  ") + line)
    say(
        f"Every one of the {sum(s.rows for s in summaries):,} rows got a decision; "
        "every withheld one says why."
    )
    say(f"Queued for review: {queued_ids} cases; in the queue: {cases} (nothing lost).")
    garbage = len(queue.list(kind="data_quality", limit=max(cases, 1)))
    say(
        f"                 {cases - garbage} model cases first, then {garbage} data-quality "
        "cases (invalid inputs, in their own lane)."
    )
    say(
        f"Repeatable: the same --seed prints the same tables (this run: --seed {seed}); "
        "only the log's timestamps and timings differ."
    )
    report_path = None
    built = None
    if report:
        built = build_report(
            DemoRun(
                guard=g,
                data=data,
                rows=[s.row() for s in summaries],
                runs=runs,
                calibrations=calibrations,
                timeline=timeline,
                drift=drift,
                explanations=explanations,
                columns=COLUMNS,
                header=HEADER,
            )
        )
        report_path = built.to_html(folder / "guardrails-report.html")
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
        explanations=explanations,
        report=built,
    )


def _print_table(say: Callable[[str], None], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    say("  ".join(h.ljust(w) for h, w in zip(HEADER, widths)).rstrip())
    say("  ".join("-" * w for w in widths))
    for r in rows:
        say("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
