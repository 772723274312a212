"""The Monitored layer: windows in fixed memory, drift that acts, recovery, labels."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LinearRegression, LogisticRegression
from structlog.testing import capture_logs

from guardrails import (
    ArtifactError,
    Call,
    ConfigurationError,
    Decisions,
    DriftAlert,
    DriftNote,
    DriftProfile,
    Layer,
    MarkDrift,
    Monitored,
    PageHinkley,
    PostLayer,
    Reason,
    RouteToReview,
    Tighten,
    confidence_below,
    guard,
    load,
)

SHIFT = np.array([2.0, 0.0, 0.0])


def assert_same_report(a: Any, b: Any) -> None:
    """Reports equal, except Wasserstein sums may differ in the last bits (float addition
    order differs between merged buckets and one pass)."""
    da, db = a.to_dict(), b.to_dict()
    for data in (da, db):
        for feature in data["features"].values():
            w = feature["tests"].pop("wasserstein", None)
            if w is not None:
                feature["w"] = round(w["statistic"], 9)
    assert da == db


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    proba = model.predict_proba(X)
    profile = DriftProfile.from_data(X, predictions=model.predict(X), confidence=proba.max(axis=1))
    with_abstention = DriftProfile.from_data(
        X,
        predictions=model.predict(X),
        confidence=proba.max(axis=1),
        abstained=proba.max(axis=1) < 0.8,  # the rate under confidence_below(0.8)
    )
    return {"model": model, "profile": profile, "X": X, "with_abstention": with_abstention}


def batches(seed: int, n: int, size: int = 100, shift: NDArray[Any] | None = None) -> Any:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        X = rng.normal(size=(size, 3))
        yield X if shift is None else X + shift


class Spy(PostLayer):
    """Records the notes the monitor leaves for the layers outside it."""

    name = "spy"

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.notes: list[DriftNote | None] = []

    def post(self, d: Decisions, call: Call) -> Decisions:
        self.notes.append(call.drift)
        return d


def test_the_builder_puts_the_monitor_outside_abstention(setup: dict[str, Any]) -> None:
    g = guard(setup["model"]).monitor(setup["profile"], window=400).abstain(confidence_below(0.8))
    kinds = [type(layer).__name__ for layer in g.layers()]
    assert kinds[:2] == ["Monitored", "Abstaining"]
    assert "monitor(window=400, mode='sliding')" in repr(g)
    with pytest.raises(ConfigurationError, match="already called"):
        g.monitor(setup["profile"])


def test_no_drift_stays_ok_and_shifted_inputs_are_detected(setup: dict[str, Any]) -> None:
    profile = setup["with_abstention"]
    g = guard(setup["model"]).abstain(confidence_below(0.8)).monitor(profile, window=400)
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    assert mon.status == "warming_up"
    for X in batches(1, 8):
        g.decide(X)
    assert mon.status == "ok"
    assert mon.windows_evaluated == 5  # at 400, 500, ..., 800 rows
    for X in batches(2, 4, shift=SHIFT):
        g.decide(X)
    assert mon.status == "drift"
    assert mon.report is not None
    assert "x0" in mon.report.drifted_features
    assert mon.scores()["x0"]["ks"] == mon.report["x0"].tests["ks"].statistic


def test_a_sliding_window_report_equals_a_batch_compare_of_its_rows(
    setup: dict[str, Any],
) -> None:
    model, profile = setup["model"], setup["profile"]
    g = guard(model).monitor(profile, window=300, step=100)
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    seen = [X for X in batches(3, 7, size=70)]  # windows end inside batches
    for X in seen:
        g.decide(X)
    rows = np.vstack(seen)[:-90][-300:]  # 490 rows observed: the last window ended at 400
    proba = model.predict_proba(rows)
    expected = profile.compare(
        rows,
        predictions=model.predict(rows),
        confidence=proba.max(axis=1),
        ks_method="asymp",
        alpha=mon.alpha,  # the level per window that keeps one false alarm per million rows
    )
    assert mon.alpha == pytest.approx(1.0 * 100 / 1_000_000)
    assert mon.report is not None
    assert_same_report(mon.report, expected)


def test_tumbling_windows_are_tested_once_per_window(setup: dict[str, Any]) -> None:
    g = guard(setup["model"]).monitor(setup["profile"], window=250, mode="tumbling")
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    for X in batches(4, 10):
        g.decide(X)
    assert mon.windows_evaluated == 4
    assert mon.rows_observed == 1000


def test_memory_of_the_window_does_not_grow_with_rows_observed(setup: dict[str, Any]) -> None:
    g = guard(setup["model"]).monitor(setup["profile"], window=400)
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    g.decide(next(batches(5, 1, size=50)))
    sizes = []
    for X in batches(6, 40, size=500):
        g.decide(X)
        sizes.append(mon.state_nbytes)
    assert mon.rows_observed == 20_050
    assert len(set(sizes)) == 1
    # four closed buckets, the one filling and their running total: nothing per row
    one_state = setup["profile"].window_state().nbytes
    assert sizes[0] == 6 * one_state


def test_the_monitor_leaves_status_and_scores_for_outer_layers(setup: dict[str, Any]) -> None:
    mon = Monitored(setup["model"], profile=setup["profile"], window=200, mode="tumbling")
    spy = Spy(mon)
    spy.decide(next(batches(7, 1)))
    assert spy.notes[-1] == DriftNote("warming_up", {})
    spy.decide(next(batches(8, 1, shift=SHIFT)))
    note = spy.notes[-1]
    assert note is not None and note.status == "drift"
    assert set(note.scores) >= {"x0", "x1", "x2", "prediction", "confidence"}


def test_tighten_withholds_low_confidence_answers_only_while_drift_lasts(
    setup: dict[str, Any],
) -> None:
    g = (
        guard(setup["model"])
        .abstain(confidence_below(0.6))
        .monitor(
            setup["profile"],
            window=200,
            mode="tumbling",
            action=Tighten(threshold=0.6, delta=0.3),
        )
    )
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    for X in batches(9, 2):
        d = g.decide(X)
    assert Reason.DRIFT not in d.reasons()
    for X in batches(10, 2, shift=SHIFT):
        g.decide(X)
    assert mon.status == "drift"
    X = next(batches(11, 1, size=199))  # ends no window: drift still lasts
    d = g.decide(X)
    conf = setup["model"].predict_proba(X).max(axis=1)
    drift = d.reason == Reason.DRIFT
    assert drift.any()
    assert np.array_equal(drift, (conf >= 0.6) & (conf < 0.9))
    assert d.answered[conf >= 0.9].all()
    assert "confidence below 0.9" in d[int(np.flatnonzero(drift)[0])].detail
    g.decide(next(batches(12, 1, size=201)))  # ends a window of clean rows: recovered
    assert mon.status == "ok"
    d = g.decide(next(batches(13, 1)))
    assert Reason.DRIFT not in d.reasons()


def test_route_to_review_withholds_all_answers_or_a_share(setup: dict[str, Any]) -> None:
    mon = Monitored(
        setup["model"],
        profile=setup["profile"],
        window=200,
        mode="tumbling",
        action=RouteToReview(),
    )
    for X in batches(14, 2, shift=SHIFT):
        mon.decide(X)
    d = mon.decide(next(batches(15, 1, size=150)))
    assert (d.reason == Reason.REVIEW).all()
    half = Monitored(
        setup["model"],
        profile=setup["profile"],
        window=5000,
        mode="tumbling",
        action=RouteToReview(share=0.5, reason=Reason.DRIFT),
    )
    half.decide(next(batches(14, 1, size=5000, shift=SHIFT)))
    d = half.decide(next(batches(16, 1, size=2000)))
    # Binomial(2000, 0.5): standard deviation ~22 rows; allow 5 of them
    assert abs(int((d.reason == Reason.DRIFT).sum()) - 1000) <= 5 * 23


def test_mark_drift_keeps_answers_and_explains_them(setup: dict[str, Any]) -> None:
    mon = Monitored(
        setup["model"], profile=setup["profile"], window=200, mode="tumbling", action=MarkDrift()
    )
    for X in batches(17, 2, shift=SHIFT):
        mon.decide(X)
    d = mon.decide(next(batches(18, 1)))
    assert d.answered.all()
    assert all(text.startswith("drift: x0") for text in d.detail)


def test_every_action_and_transition_is_an_event(setup: dict[str, Any]) -> None:
    sent: list[dict[str, Any]] = []
    g = guard(setup["model"]).monitor(
        setup["profile"],
        window=200,
        mode="tumbling",
        action=[DriftAlert(sent.append, cooldown=0), RouteToReview()],
    )
    with capture_logs() as logs:
        for X in batches(19, 2):
            g.decide(X)
        for X in batches(20, 3, shift=SHIFT):
            g.decide(X, request_id="r-1")
        for X in batches(21, 3):
            g.decide(X)
    # windows of 200 rows: [200, 400) is shifted (detected), [400, 600) half shifted, and
    # [600, 800) clean (recovered); the four batches in between are acted on
    events = [e["event"] for e in logs if e["event"] != "drift_window"]
    assert events == [
        "drift_detected",
        "drift_alert_sent",
        *["drift_action"] * 4,
        "drift_recovered",
        "drift_alert_sent",
    ]
    detected = next(e for e in logs if e["event"] == "drift_detected")
    assert detected["log_level"] == "warning"
    assert "x0" in detected["drifted_features"]
    action = next(e for e in logs if e["event"] == "drift_action")
    assert action["action"] == "route_to_review"
    assert action["request_id"] == "r-1"
    assert [s["event"] for s in sent] == ["drift_detected", "drift_recovered"]


def test_alerts_respect_the_cool_down_and_a_failing_sink_never_breaks_serving(
    setup: dict[str, Any],
) -> None:
    now = [0.0]
    sent: list[dict[str, Any]] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("pager down")

    alert = DriftAlert(sent.append, broken, cooldown=60, clock=lambda: now[0])
    mon = Monitored(
        setup["model"], profile=setup["profile"], window=100, mode="tumbling", action=alert
    )
    with capture_logs() as logs:
        for shift in (SHIFT, None, SHIFT, None):  # drift, recover, drift again in 10 s
            now[0] += 10
            mon.decide(next(batches(22, 1, shift=shift)))
    detected = [s for s in sent if s["event"] == "drift_detected"]
    assert len(detected) == 1
    names = [e["event"] for e in logs]
    assert "drift_alert_suppressed" in names
    assert "drift_alert_failed" in names


def test_the_logger_given_is_used_and_logging_is_never_configured(
    setup: dict[str, Any],
) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        def __getattr__(self, level: str) -> Any:
            return lambda event, **kw: self.calls.append((level, event))

    rec = Recorder()
    mon = Monitored(
        setup["model"], profile=setup["profile"], window=100, mode="tumbling", logger=rec
    )
    mon.decide(next(batches(23, 1, shift=SHIFT)))
    assert ("warning", "drift_detected") in rec.calls


def test_the_monitor_reads_model_ready_inputs_when_a_validator_made_them(
    setup: dict[str, Any],
) -> None:
    class Parse(Layer):
        """A stand-in validating layer: records in, arrays out."""

        def __init__(self, inner: Layer) -> None:
            self.inner = inner

        def decide_call(self, X: Any, call: Call) -> Decisions:
            arr = np.array([[r["a"], r["b"], r["c"]] for r in X])
            call.model_input = arr
            return self.inner.decide_call(arr, call)

    from guardrails import as_layer

    mon = Monitored(
        Parse(as_layer(setup["model"])), profile=setup["profile"], window=100, mode="tumbling"
    )
    X = next(batches(24, 1, shift=SHIFT))
    mon.decide([{"a": r[0], "b": r[1], "c": r[2]} for r in X])
    assert mon.report is not None
    assert "x0" in mon.report.drifted_features


def test_rows_without_model_output_are_not_observed(setup: dict[str, Any]) -> None:
    mon = Monitored(setup["model"], profile=setup["profile"], window=100)
    X = next(batches(25, 1))
    X[:10, 0] = np.nan  # the adapter withholds these as invalid input
    d = mon.decide(X)
    assert (d.reason == Reason.INVALID_INPUT).sum() == 10
    assert mon.rows_observed == 90


def test_unreadable_inputs_are_logged_once_and_outputs_still_watched(
    setup: dict[str, Any],
) -> None:
    model = setup["model"]
    wide = np.column_stack([setup["X"], setup["X"][:, 0]])
    profile = DriftProfile.from_data(wide, predictions=model.predict(setup["X"]))
    mon = Monitored(model, profile=profile, window=100, mode="tumbling")
    with capture_logs() as logs:
        for X in batches(26, 2):
            mon.decide(X)  # three columns where the profile has four
    assert [e["event"] for e in logs].count("drift_inputs_unreadable") == 1
    assert mon.report is not None
    assert [f.feature for f in mon.report.features] == ["prediction"]


def test_fitting_does_not_feed_the_windows(setup: dict[str, Any]) -> None:
    g = guard(setup["model"]).abstain(confidence_below(0.7)).monitor(setup["profile"])
    g.fit(setup["X"][:300], (setup["X"][:300, 0] > 0).astype(int))
    mon = g.layer(Monitored)
    assert isinstance(mon, Monitored)
    assert mon.rows_observed == 0


def test_the_async_path_observes_too(setup: dict[str, Any]) -> None:
    mon = Monitored(setup["model"], profile=setup["profile"], window=100, mode="tumbling")
    asyncio.run(mon.adecide(next(batches(27, 1, shift=SHIFT))))
    assert mon.status == "drift"


# -- labels and concept drift ----------------------------------------------------------------


def test_concept_drift_is_detected_on_the_error_stream_and_reported(
    setup: dict[str, Any],
) -> None:
    sent: list[dict[str, Any]] = []
    mon = Monitored(
        setup["model"],
        profile=setup["profile"],
        window=200,
        mode="tumbling",
        action=DriftAlert(sent.append),
        detector=PageHinkley(threshold=20),
    )
    rng = np.random.default_rng(28)
    labels = rng.integers(0, 2, size=3000)
    good = np.where(rng.uniform(size=3000) < 0.05, 1 - labels, labels)
    bad = np.where(rng.uniform(size=3000) < 0.4, 1 - labels, labels)
    assert not mon.observe_labels(good[:1000], labels[:1000])
    assert mon.status == "warming_up"
    with capture_logs() as logs:
        assert mon.observe_labels(bad[:500], labels[:500])
    assert mon.status == "drift"
    assert mon.report is not None
    errors = mon.report["errors"]
    assert errors.drifted and errors.group == "labels"
    assert errors.tests["page_hinkley"].threshold == 20
    assert "concept_drift_detected" in [e["event"] for e in logs]
    assert sent and sent[0]["event"] == "concept_drift_detected"
    mon.observe_labels(good[1000:1300], labels[1000:1300])  # a window's worth, no change
    assert mon.status == "ok"


def test_regression_errors_are_absolute_and_bad_labels_are_refused() -> None:
    rng = np.random.default_rng(29)
    X = rng.normal(size=(1000, 2))
    reg = LinearRegression().fit(X, X[:, 0])
    mon = Monitored(reg, profile=DriftProfile.from_data(X), detector=PageHinkley(threshold=5))
    assert not mon.observe_labels(np.zeros(200), rng.normal(0, 0.01, 200))
    assert mon.observe_labels(np.zeros(200), np.full(200, 3.0))
    with pytest.raises(Exception, match="same length"):
        mon.observe_labels(np.zeros(3), np.zeros(4))


# -- settings and saving ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 1}, "'window'"),
        ({"mode": "hopping"}, "'mode'"),
        ({"window": 100, "step": 30}, "'step'"),
        ({"recovery": 0}, "'recovery'"),
        ({"alpha": 0}, "'alpha'"),
        ({"ks_method": "fast"}, "'ks_method'"),
        ({"action": "alert"}, "'action'"),
        ({"detector": "adwin"}, "'detector'"),
    ],
)
def test_bad_monitor_settings_name_the_parameter(
    setup: dict[str, Any], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        guard(setup["model"]).monitor(setup["profile"], **kwargs)
    with pytest.raises(ConfigurationError, match=match):
        Monitored(setup["model"], profile=setup["profile"], **kwargs)


def test_bad_actions_and_profiles_are_refused(setup: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="'profile'"):
        guard(setup["model"]).monitor(setup["X"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'share'"):
        RouteToReview(share=0)
    with pytest.raises(ConfigurationError, match="'reason'"):
        RouteToReview(reason=Reason.TIMEOUT)
    with pytest.raises(ConfigurationError, match="'delta'"):
        Tighten(threshold=0.8, delta=2)
    with pytest.raises(ConfigurationError, match="callables"):
        DriftAlert()
    reg = LinearRegression().fit(setup["X"], setup["X"][:, 0])
    with pytest.raises(ConfigurationError, match="Tighten needs confidence"):
        guard(reg).monitor(setup["profile"], action=Tighten(threshold=0.5)).build()


def test_each_built_guard_owns_its_windows_and_alert_state(setup: dict[str, Any]) -> None:
    base = guard(setup["model"]).monitor(setup["profile"], window=100, mode="tumbling")
    a, b = base.build(), guard(setup["model"]).monitor(setup["profile"], window=100)
    a.decide(next(batches(30, 1, shift=SHIFT)))
    mon_b = b.layer(Monitored)
    assert isinstance(mon_b, Monitored)
    assert mon_b.rows_observed == 0


def test_a_saved_guard_keeps_its_monitor_settings(tmp_path: Path, setup: dict[str, Any]) -> None:
    sent: list[dict[str, Any]] = []
    g = guard(setup["model"]).monitor(
        setup["profile"],
        window=200,
        mode="tumbling",
        correction="bh",
        thresholds={"wasserstein": 0.3},
        action=[Tighten(threshold=0.7, delta=0.05), DriftAlert(sent.append), MarkDrift()],
        detector=PageHinkley(threshold=12),
    )
    path = g.save(tmp_path / "monitored.guard")
    with pytest.raises(ArtifactError, match="alert_sinks"):
        load(path, model=setup["model"])
    loaded = load(path, model=setup["model"], alert_sinks=[sent.append])
    mon = loaded.layer(Monitored)
    assert isinstance(mon, Monitored)
    assert repr(mon) == repr(g.layer(Monitored))
    assert mon.detector.threshold == 12
    for X in batches(31, 2, shift=SHIFT):
        loaded.decide(X)
    assert mon.status == "drift"
    assert sent


def test_concurrent_batches_are_all_counted(setup: dict[str, Any]) -> None:
    import threading

    mon = Monitored(setup["model"], profile=setup["profile"], window=300, step=100)
    data = list(batches(32, 40, size=37))

    def work(part: list[NDArray[Any]]) -> None:
        for X in part:
            mon.decide(X)

    threads = [threading.Thread(target=work, args=(data[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mon.rows_observed == 40 * 37
    assert mon.windows_evaluated == (40 * 37 - 300) // 100 + 1
