"""Streaming drift monitoring: the Monitored layer, which watches windows and acts on drift.

[`Monitored`][] observes every decided batch (model-ready inputs, predictions,
confidence, abstentions) into bounded-memory windows on a [`DriftProfile`][]'s grid,
tests each full window, and acts as the user chose while drift lasts: log only, alert
through plain-callable sinks ([`DriftAlert`][]), withhold low-confidence answers
([`Tighten`][]), send rows to review ([`RouteToReview`][]) or mark answers
([`MarkDrift`][]). Labels that arrive later feed a change detector on the error stream
([`Monitored.observe_labels`][]) for concept drift.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import ConfigurationError, GuardrailsWarning, InvalidInputError
from guardrails.core.layer import Call, DriftNote, Layer
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer
from guardrails.monitoring.actions import (  # the actions, importable from here as before
    _NO_OUTPUT,
    DriftAction,
    DriftAlert,
    MarkDrift,
    Reweight,
    RouteToReview,
    Tighten,
)
from guardrails.monitoring.changepoint import PageHinkley
from guardrails.monitoring.drift import DriftProfile
from guardrails.monitoring.monitor_settings import (
    check_settings,
    settings_from_state,
    settings_state,
)
from guardrails.monitoring.novelty import NoveltyGate, NoveltyGated
from guardrails.monitoring.novelty_rate import _NoveltyCounts, novelty_p_value
from guardrails.monitoring.performance import JoinedScores, PerformanceRule, PerformanceWatch
from guardrails.monitoring.reference import MIN_EFFECT, TESTS
from guardrails.monitoring.results import DriftReport, FeatureDrift, TestResult
from guardrails.monitoring.verdicts import _Coarse, drifted_features
from guardrails.monitoring.window import WindowState, _BlockSums, _Rows
from guardrails.monitoring.windows import (
    _LazyScores,
    _merged,
    _PendingReport,
    _Window,
    closes,
    observe_batch,
)

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "DriftAlert",
    "DriftAction",
    "MarkDrift",
    "Monitored",
    "Reweight",
    "RouteToReview",
    "Tighten",
]

STATUSES = ("warming_up", "ok", "drift")
_NOTIFY = (
    "drift_detected",
    "drift_recovered",
    "concept_drift_detected",
    "performance_degraded",
    "performance_recovered",
)


@persistable
class Monitored(PostLayer):
    """Watch inputs and outputs for drift, in windows, and act while drift lasts.

    The monitor observes the rows on which the model produced an output: the model-ready
    inputs (``call.model_input`` when a validating layer made them, else the raw batch),
    the predictions, the confidence and whether the policy abstained. Every ``window``
    observed rows (``mode="tumbling"``), or every ``step`` rows over the last ``window``
    rows (``mode="sliding"``), it tests the window against the profile. Drift is declared
    when the report's verdict is positive and ends after ``recovery`` clean windows in a
    row. While it lasts the ``action`` runs on every batch. It leaves
    ``call.drift``, a [`DriftNote`][guardrails.core.layer.DriftNote] (status and scores), for the
    layers outside.

    **The novelty rate.** When a [`NoveltyGated`][guardrails.NoveltyGated] step sits inside
    the monitor, each window also counts its rows withheld as ``Reason.NOVEL`` and tests
    the count, one-sided and exactly, against what the gate's guarantee allows an
    in-distribution stream (a Beta-binomial count with mean at most the gate's ``alpha``,
    see docs/drift.md), at the same per-window level ``alpha`` as the features. A
    significant excess is drift like any other: a "novelty_rate" row in the report, status
    "drift", the actions, and ``drift_detected`` events; ``drift_window`` events carry
    the window's ``novel`` count.

    **False alarms over time.** Each window controls its own family-wise error, so a
    stream tested every ``step`` rows at level ``alpha`` raises about ``alpha / step``
    false alarms per row. By default the level is derived from a rate instead:
    ``alpha = false_alarms * step / per_rows``, so that on a stationary stream the
    expected number of false drift declarations per ``per_rows`` rows served is at most
    ``false_alarms`` (a union bound over the windows tested; with Bonferroni or BH
    across the features). The default, one per million rows, still declares a 0.2 sd
    shift of one feature within two windows of its start (see docs/drift.md).

    Args:
        inner: the model or guard layer to wrap.
        profile: the reference, from [`DriftProfile.from_data`][].
        window: rows per tested window.
        mode: "sliding" or "tumbling".
        step: rows between tests of a sliding window (must divide ``window``; default
            ``window // 4`` when 4 divides ``window``, else ``window``).
        tests: the tests, as in [`DriftProfile.evaluate`][].
        alpha: a fixed level per window instead of ``false_alarms`` (no control over
            time: expect ``alpha * per_rows / step`` false declarations per ``per_rows``).
        correction: the tests, as in [`DriftProfile.evaluate`][].
        thresholds: the tests, as in [`DriftProfile.evaluate`][].
        ks_method: KS p-values, as in [`DriftProfile.evaluate`][]; default "asymp", which
            costs nothing on the request path that closes a window ("auto" adds a few
            milliseconds per numeric feature for windows of at most 10,000 rows).
        action: None (log only), a [`DriftAction`][] or a sequence of them.
        recovery: clean windows in a row that end a drift episode.
        detector: the change detector on the error stream (default [`PageHinkley`][]).
        logger: a structlog logger; default ``structlog.get_logger("guardrails")``.
            Routine ``drift_window`` events are debug-level; declarations
            (``drift_detected``) are warnings and recoveries info.
        false_alarms: expected false drift declarations per ``per_rows`` rows on a
            stationary stream (default 1.0 when ``alpha`` is not given).
        per_rows: the rows ``false_alarms`` is counted over (default 1,000,000).
        min_effect: the effect size a p-value test needs besides significance, as in
            [`DriftProfile.evaluate`][] (default 0.02).
        performance: a [`PerformanceRule`][]: the label-free performance estimate on the
            same windows; while the rule holds the actions run as during drift, and the
            estimate with its bounds joins ``call.drift.scores`` (key "performance").

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import DriftProfile, Monitored
        >>> rng = np.random.default_rng(0)
        >>> from structlog.testing import CapturingLogger
        >>> X = rng.normal(size=(2000, 2)); y = (X[:, 0] > 0).astype(int)
        >>> log = CapturingLogger()
        >>> monitored = Monitored(LogisticRegression().fit(X, y),
        ...                       profile=DriftProfile.from_data(X), window=500,
        ...                       mode="tumbling", logger=log)
        >>> _ = monitored.decide(rng.normal(size=(500, 2)) + [2.0, 0.0])
        >>> [call.args[0] for call in log.calls]
        ['drift_window', 'drift_detected']
        >>> monitored.status, monitored.report.drifted_features
        ('drift', ['x0'])
    """

    name = "monitor"
    identity: tuple[str, str] | None = None
    """The guard's (name, version), set by the guard that assembles this layer."""

    def __init__(
        self,
        inner: Any,
        *,
        profile: DriftProfile,
        window: int = 2000,
        mode: str = "sliding",
        step: int | None = None,
        tests: Sequence[str] = TESTS,
        alpha: float | None = None,
        correction: str = "bonferroni",
        thresholds: Mapping[str, float | None] | None = None,
        ks_method: str = "asymp",
        action: DriftAction | Sequence[DriftAction] | None = None,
        recovery: int = 1,
        detector: PageHinkley | None = None,
        logger: Any = None,
        false_alarms: float | None = None,
        per_rows: int = 1_000_000,
        min_effect: float = MIN_EFFECT,
        performance: PerformanceRule | None = None,
    ) -> None:
        super().__init__(inner)
        ok = self._check(
            profile=profile,
            window=window,
            mode=mode,
            step=step,
            tests=tests,
            alpha=alpha,
            correction=correction,
            thresholds=thresholds,
            ks_method=ks_method,
            action=action,
            recovery=recovery,
            detector=detector,
            logger=logger,
            false_alarms=false_alarms,
            per_rows=per_rows,
            min_effect=min_effect,
        )
        self.alpha, self.correction, self._limits = ok["alpha"], ok["correction"], ok["limits"]
        self.false_alarms: float | None = ok["false_alarms"]
        self.per_rows = per_rows
        self.min_effect = ok["min_effect"]
        self.thresholds = dict(thresholds) if thresholds else None
        self.ks_method = ks_method
        self.tests = tuple(tests)
        self.profile = profile
        self.window = window
        self.mode = mode
        self.step = ok["step"]
        self.actions = ok["actions"]
        if any(a.needs_confidence for a in self.actions) and "proba" not in self.inner.provides:
            raise ConfigurationError(
                "Tighten needs confidence, but the model gives "
                f"{sorted(self.inner.provides)}; use RouteToReview or MarkDrift instead."
            )
        self.recovery = recovery
        self.performance = performance
        self._perf = self._performance_watch(performance)
        self.detector = PageHinkley() if detector is None else detector
        self.logger = logger
        self._lock = threading.Lock()
        self._window = _Window(profile, window, self.step, mode)
        self._status = "warming_up"
        self._clean = 0
        self._report: DriftReport | None = None
        self._pending: _PendingReport | None = None
        self._drifted_now: list[str] = []
        self._coarse: dict[int, _Coarse] = {}
        self._concept: FeatureDrift | None = None
        self._concept_since = 0
        self._note = DriftNote(self._status)
        self._unreadable_logged = False
        self._novel = _NoveltyCounts(self._window.capacity, self._window.n_buckets)
        self._novel_closed: list[int] = []  # novel counts of the windows a batch closes
        self._novel_last = 0
        self._gate: NoveltyGate | bool | None = False  # False: not looked for yet
        self.windows_evaluated = 0
        self.rows_observed = 0

    _check = staticmethod(check_settings)

    def _performance_watch(self, rule: Any) -> PerformanceWatch | None:
        """The label-free performance estimate on this monitor's windows (issue 18)."""
        if rule is None:
            return None
        if not isinstance(rule, PerformanceRule):
            raise ConfigurationError(
                "The 'performance' parameter of Monitored must be a PerformanceRule, e.g. "
                f"PerformanceRule(below=0.9). Got {rule!r} instead."
            )
        if rule.needs_confidence and "proba" not in self.inner.provides:
            raise ConfigurationError(
                f"{rule!r} needs calibrated confidence, but the model gives "
                f"{sorted(self.inner.provides)}."
            )
        return PerformanceWatch(rule, self.window, self.step, self.mode)

    @property
    def performance_firing(self) -> bool:
        """True while the performance rule holds (the actions run as during drift)."""
        return self._perf is not None and self._perf.firing

    # -- what users read -----------------------------------------------------------------

    @property
    def log(self) -> Any:
        return self.logger if self.logger is not None else structlog.get_logger("guardrails")

    @property
    def status(self) -> str:
        """The drift status: "warming_up" before the first full window, then "ok" or "drift"."""
        return self._status

    @property
    def report(self) -> DriftReport | None:
        """The latest window's report (with the label stream's row once labels came).

        Serving computes only each window's verdict; the report's p-values and distances
        are computed here, on first access.
        """
        if self._report is None and self._pending is not None:
            self._report = self._pending.get()
        return self._report

    def scores(self) -> dict[str, dict[str, float]]:
        """Latest statistic per test per feature, for a metrics exporter."""
        report = self.report
        return {} if report is None else report.scores()

    @property
    def state_nbytes(self) -> int:
        """Bytes held by the window state: fixed by the profile and window, not by traffic."""
        return self._window.nbytes + (0 if self._perf is None else self._perf.nbytes)

    def reset(self) -> None:
        """Forget windows, status and the label stream (e.g. after retraining)."""
        with self._lock:
            self._window.reset()
            self._status = "warming_up"
            self._clean = 0
            self._report = None
            self._pending = None
            self._drifted_now = []
            self._concept = None
            self._novel.reset()
            self.detector.reset()
            if self._perf is not None:
                self._perf.reset()
            self._note = DriftNote(self._status)

    # -- observing -----------------------------------------------------------------------

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        return self.inner.fit_call(X, y, call)  # calibration data is not traffic: not observed

    def post(self, d: Decisions, call: Call) -> Decisions:
        rows = np.ones(len(d.reason), dtype=bool)  # rows with an output (np.isin is slow)
        for code in _NO_OUTPUT.tolist():
            rows &= d.reason != code
        if call.valid is not None and len(call.valid) == len(d):
            rows &= call.valid
        idx = np.flatnonzero(rows)
        events: list[dict[str, Any]] = []
        if idx.size:
            inputs = self._inputs(call, idx)
            with self._lock:
                events = self._observe(d, idx, inputs)
                if self._perf is not None:
                    conf = None if d.confidence is None else d.confidence[idx]
                    events += self._perf.observe(conf, d.abstained[idx], d.prediction[idx])
                status, note = self._status, self._note
        else:
            status, note = self._status, self._note
        for event in events:
            self._emit(event, call.request_id)
        if self._perf is not None and self._perf.latest is not None:
            note = DriftNote(status, JoinedScores(self._perf.scores(), note.scores))
        call.drift = note
        if (status == "drift" or self.performance_firing) and self.actions:
            if status == "drift":
                detail = "drift: " + ", ".join(self._drifted_names()[:5])
            else:
                detail = f"performance: estimated {self._perf.rule.metric} too low"  # type: ignore[union-attr]
            for action in self.actions:
                d, changed = action.apply(d, call, detail)
                if changed:
                    self.log.info(
                        "drift_action",
                        action=action.name,
                        rows=changed,
                        request_id=call.request_id,
                    )
        return d

    def _inputs(self, call: Call, idx: NDArray[np.intp]) -> Any:
        if not self.profile.features:
            return None
        source = call.raw if call.model_input is None else call.model_input
        try:
            rows: Any
            if isinstance(source, np.ndarray) and source.ndim and idx.size == len(source):
                rows = source  # every row observed: no copy
            else:
                rows = call.model_rows(idx) if call.model_input is not None else call.rows(idx)
            if isinstance(rows, np.ndarray) and rows.dtype.kind not in "iufbO":
                raise InvalidInputError("not numeric")
            if isinstance(rows, list) and rows and not isinstance(rows[0], Mapping):
                rows = np.asarray(rows)
            return rows
        except (InvalidInputError, TypeError, ValueError, IndexError):
            if not self._unreadable_logged:
                self._unreadable_logged = True
                self.log.warning("drift_inputs_unreadable", input_type=type(source).__name__)
            return None

    def _novelty_gate(self) -> NoveltyGate | None:
        """The gate of the NoveltyGated step inside this monitor, if any (looked up once)."""
        if self._gate is False:
            layer: Any = self.inner
            gate = None
            while isinstance(layer, Layer):
                if isinstance(layer, NoveltyGated):
                    gate = layer.gate
                    break
                layer = getattr(layer, "inner", None)
            self._gate = gate
        return self._gate if isinstance(self._gate, NoveltyGate) else None

    def _observe(self, d: Decisions, idx: NDArray[np.intp], inputs: Any) -> list[dict[str, Any]]:
        if self._novelty_gate() is not None:
            self._novel_closed = self._novel.feed(d.reason[idx] == Reason.NOVEL)
        outputs = self.profile.output_names
        pred = d.prediction[idx] if "prediction" in outputs else None
        conf = d.confidence[idx] if "confidence" in outputs and d.confidence is not None else None
        abst = d.abstained[idx] if "abstention" in outputs else None
        if closes(self._window, idx.size) >= self._window.n_buckets + 2:
            batch = observe_batch(self, inputs, pred, conf, abst, idx.size)
            if batch is not None:
                return batch
        try:  # every value located once, whichever buckets its rows go to
            rows = _Rows(self.profile, inputs, pred, conf, abst)
        except InvalidInputError as exc:
            if not self._unreadable_logged:
                self._unreadable_logged = True
                self.log.warning("drift_inputs_unreadable", error=str(exc)[:200])
            rows = _Rows(self.profile, None, pred, conf, abst)
        events: list[dict[str, Any]] = []
        start, total = 0, idx.size
        while start < total:
            take = min(self._window.room(), total - start)
            rows.add_to(self._window.current, start, start + take)
            self._window.current.rows += take  # rows seen, whatever was readable in them
            self.rows_observed += take
            start += take
            if self._window.room() <= 0:
                closed = self._window.close_bucket()
                if closed is not None:
                    live, buckets = closed
                    sliding = self._window.n_buckets > 1  # the running total: block sums
                    events += self._evaluate(
                        live,
                        functools.partial(_merged, buckets),
                        self._window.whole if sliding else None,
                    )
        return events

    # -- verdicts ------------------------------------------------------------------------

    def _evaluate(
        self,
        state: WindowState | _BlockSums,
        later: Callable[[], WindowState] | None = None,
        whole: Callable[[int | None], WindowState] | None = None,
    ) -> list[dict[str, Any]]:
        """Verdict of the window ``state`` (read now); ``later()`` rebuilds it for a report;
        ``whole(i)``, when given, brings feature ``i``'s counts (every feature's for
        ``None``) up to ``state``'s block sums."""
        names = drifted_features(
            self.profile,
            state,
            tests=self.tests,
            alpha=self.alpha,
            correction=self.correction,
            limits=self._limits,
            ks_method=self.ks_method,
            min_effect=self.min_effect,
            whole=whole,
        )
        if later is None:
            assert isinstance(state, WindowState)  # a view comes with the state's maker
            full = state
            later = lambda: full  # noqa: E731
        return self._conclude(names, state.rows, later)

    def _conclude(
        self, names: list[str], rows: int, state: Callable[[], WindowState]
    ) -> list[dict[str, Any]]:
        """Status, events and the (lazy) report of one window whose verdict is ``names``."""
        novelty = self._novelty(rows)
        if novelty is not None and novelty.drifted:
            names = [*names, novelty.feature]
        concept = self._concept
        if concept is not None:  # the report carries the label stream's row last
            names = [n for n in names if n != concept.feature]
            if concept.drifted:
                names.append(concept.feature)
        self._pending = _PendingReport(self, state, concept, novelty)
        self._report = None
        self._drifted_now = names
        self.windows_evaluated += 1
        events: list[dict[str, Any]] = [
            {
                "event": "drift_window",
                "level": "debug",
                "rows": rows,
                "drifted": bool(names),
                "drifted_features": list(names),
                **({} if novelty is None else {"novel": self._novel_last}),
            }
        ]
        before = self._status
        if names:
            self._clean = 0
            self._status = "drift"
        else:
            self._clean += 1
            if before != "drift" or self._clean >= self.recovery:
                self._status = "ok"
        if before != "drift" and self._status == "drift":
            report = self._pending.get(names)
            events.append(
                {
                    "event": "drift_detected",
                    "level": "warning",
                    "drifted_features": report.drifted_features,
                    "scores": {
                        f.feature: f.to_dict()["tests"] for f in report.features if f.drifted
                    },
                    "actions": [a.name for a in self.actions],
                }
            )
        elif before == "drift" and self._status == "ok":
            events.append({"event": "drift_recovered", "level": "info", "rows": rows})
        self._note = DriftNote(self._status, _LazyScores(self._pending))
        return events

    def _novelty(self, rows: int) -> FeatureDrift | None:
        """The novelty-rate row of the window just closed (None without a gate)."""
        gate = self._novelty_gate()
        if gate is None or not self._novel_closed or gate.calibration_scores_ is None:
            return None
        novel = self._novel_last = self._novel_closed.pop(0)
        p = novelty_p_value(novel, rows, gate.alpha, gate.calibration_scores_.size)
        drifted = p <= self.alpha
        rate = novel / rows if rows else 0.0
        test = TestResult(rate, p, None, self.alpha, drifted, effect=max(0.0, rate - gate.alpha))
        return FeatureDrift("novelty_rate", "stream", "output", rows, {"beta_binomial": test},
                            drifted, effect=test.effect)  # fmt: skip

    def _emit(self, event: dict[str, Any], request_id: str | None = None) -> None:
        """Log ``event`` and notify the actions; a broken logger must not break serving.

        Events carry the guard's name and version, and the id of the request whose rows
        closed the window, like decision events.
        """
        fields = {k: v for k, v in event.items() if k not in ("event", "level")}
        if self.identity is not None:
            fields["guard"], fields["guard_version"] = self.identity
        if request_id is not None:
            fields["request_id"] = request_id
        try:
            getattr(self.log, event["level"])(event["event"], **fields)
        except Exception as exc:
            _logger_failed(event["event"], exc)
        if event["event"] in _NOTIFY:
            for action in self.actions:
                try:
                    action.notify(event, self.log)
                except Exception as exc:  # the action's own logging failed
                    _logger_failed(event["event"], exc)

    def _drifted_names(self) -> list[str]:
        return list(self._drifted_now)

    # -- labels --------------------------------------------------------------------------

    def observe_labels(self, predictions: Any, labels: Any) -> bool:
        """Feed the error stream with answers whose true labels arrived; detect concept drift.

        The error is ``prediction != label`` for a classifier and ``|prediction - label|``
        for a regressor. A detected change is reported like input drift: an "errors" row
        in [`report`][] (test "page_hinkley"), status "drift", the actions' alerts, and
        events. It ends once as many labels as a window holds arrive without a new change.

        Args:
            predictions: ``(n,)`` the answers given.
            labels: ``(n,)`` their true labels.

        Returns:
            True when a change was detected in this batch.

        Raises:
            InvalidInputError: the two arrays differ in length or are not 1-D.
        """
        pred, true = np.asarray(predictions), np.asarray(labels)
        if pred.ndim != 1 or pred.shape != true.shape:
            raise InvalidInputError(
                "observe_labels() needs 1-D predictions and labels of the same length. Got "
                f"shapes {pred.shape} and {true.shape}."
            )
        if self.task == "regression":
            errors = np.abs(pred.astype(np.float64) - true.astype(np.float64))
        else:
            errors = (pred != true).astype(np.float64)
        with self._lock:
            found = self.detector.update(errors)
            before = self._status
            if found:
                self._concept_since = 0
            else:
                self._concept_since += errors.size
            drifted = found or (
                self._concept is not None
                and self._concept.drifted
                and self._concept_since < self.window
            )
            self._concept = FeatureDrift(
                feature="errors",
                kind="stream",
                group="labels",
                n=self.detector.seen_,
                tests={
                    "page_hinkley": TestResult(
                        self.detector.statistic, None, None, self.detector.threshold, drifted
                    )
                },
                drifted=drifted,
            )
            base = self.report
            self._pending = None
            self._report = (
                DriftReport((self._concept,), self.alpha, self.correction, 0)
                if base is None
                else base.with_feature(self._concept)
            )
            inputs_drift = base is not None and any(
                f.drifted for f in base.features if f.group != "labels"
            )
            if drifted or inputs_drift:
                self._status = "drift"
            elif before == "drift":
                self._status = "ok"
            self._note = DriftNote(self._status, self._report.scores())
            self._drifted_now = self._report.drifted_features
            events: list[dict[str, Any]] = []
            if found:
                events.append(
                    {
                        "event": "concept_drift_detected",
                        "level": "warning",
                        "labels_seen": self.detector.seen_,
                        "detections": self.detector.detections_,
                    }
                )
            elif before == "drift" and self._status == "ok":
                events.append({"event": "drift_recovered", "level": "info", "rows": 0})
        for event in events:
            self._emit(event)
        return found

    # -- the rest ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"Monitored(profile={self.profile!r}, window={self.window!r}, mode={self.mode!r}, "
            f"step={self.step!r}, tests={self.tests!r}, alpha={self.alpha!r}, "
            f"false_alarms={self.false_alarms!r}, per_rows={self.per_rows!r}, "
            f"min_effect={self.min_effect!r}, "
            f"correction={self.correction!r}, ks_method={self.ks_method!r}, "
            f"action={list(self.actions)!r}"
            + ("" if self.performance is None else f", performance={self.performance!r}")
            + ")"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return settings_state(self, enc)

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Monitored:
        return cls(inner, **settings_from_state(state, dec))


def _logger_failed(event: str, exc: Exception) -> None:
    warnings.warn(
        f"the drift monitor's logger failed on {event!r} ({type(exc).__name__}: "
        f"{str(exc)[:200]}); the decision is returned, the event is not logged.",
        GuardrailsWarning,
        stacklevel=3,
    )
