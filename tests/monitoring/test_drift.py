"""Drift profiles and reports: exact statistics, multiple testing, merging, saving."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats
from scipy.spatial.distance import jensenshannon

from guardrails import ArtifactError, ConfigurationError, DriftProfile, InvalidInputError
from guardrails.monitoring.drift import PSI_EPS, adjust_pvalues
from tests.monitoring.support import benchmark_data


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
def mixed() -> dict[str, Any]:
    """Reference and current data with ties, a shift in x1 and a categorical column."""
    rng = np.random.default_rng(7)
    ref = {
        "x0": rng.normal(size=8000),
        "x1": rng.normal(size=8000),
        "age": rng.integers(18, 80, size=8000).astype(np.float64),
        "city": rng.choice(["paris", "rome", "oslo"], p=[0.5, 0.3, 0.2], size=8000),
    }
    cur = {
        "x0": rng.normal(size=1500),
        "x1": rng.normal(0.4, 1.0, size=1500),
        "age": rng.integers(18, 80, size=1500).astype(np.float64),
        "city": rng.choice(["paris", "rome", "oslo", "lima"], p=[0.4, 0.3, 0.2, 0.1], size=1500),
    }
    profile = DriftProfile.from_data(ref, sample_size=10_000)  # every value kept exactly
    return {"ref": ref, "cur": cur, "profile": profile}


# -- statistics equal independent computations -----------------------------------------------


@pytest.mark.parametrize("method", ["auto", "exact", "asymp"])
@pytest.mark.parametrize("feature", ["x0", "x1", "age"])
def test_ks_statistic_and_pvalue_equal_scipy_on_the_stored_sample(
    mixed: dict[str, Any], feature: str, method: str
) -> None:
    profile = mixed["profile"]
    window = mixed["cur"][feature]
    report = profile.compare(mixed["cur"], correction="none", ks_method=method)
    ours = report[feature].tests["ks"]
    theirs = stats.ks_2samp(window, profile.reference_sample(feature), method=method)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)


def test_ks_matches_scipys_default_when_either_sample_exceeds_ten_thousand() -> None:
    # above 10,000 rows both switch to the asymptotic p-value
    rng = np.random.default_rng(3)
    profile = DriftProfile.from_data(rng.normal(size=(20_000, 1)), sample_size=20_000)
    window = rng.normal(0.03, 1.0, size=(12_000, 1))
    ours = profile.compare(window).features[0].tests["ks"]
    theirs = stats.ks_2samp(window[:, 0], profile.reference_sample("x0"))
    assert (ours.statistic, ours.p_value) == pytest.approx((theirs.statistic, theirs.pvalue))


def test_the_exact_reference_is_the_whole_training_column(mixed: dict[str, Any]) -> None:
    sample = mixed["profile"].reference_sample("x0")
    assert np.array_equal(sample, np.sort(mixed["ref"]["x0"]))


@pytest.mark.parametrize("size", [200, 1000])
def test_a_quantile_summary_keeps_exact_ranks_and_bounds_ks_by_its_gap(size: int) -> None:
    # Above sample_size distinct values the profile keeps `size` points at equal ranks with
    # their exact ranks among all rows; the KS statistic read on them is at most the
    # largest reference share between two points below scipy's on the full column, and
    # that share is at most 1/size.
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(20_000, 1))
    profile = DriftProfile.from_data(ref, sample_size=size)
    f = profile.features[0]
    assert f.m == 20_000 and not f.exact
    assert f.gap <= 1 / size + 1e-12
    assert np.array_equal(f.cum, np.searchsorted(np.sort(ref[:, 0]), f.grid, side="right"))
    for delta in (0.0, 0.05, 0.3):
        cur = rng.normal(delta, 1.0, size=(3000, 1))
        ours = profile.compare(cur, correction="none").features[0].tests["ks"]
        full = stats.ks_2samp(cur[:, 0], ref[:, 0], method="asymp")
        assert ours.statistic <= full.statistic + 1e-12
        assert full.statistic <= ours.statistic + f.gap + 1e-12
        assert ours.p_value >= full.pvalue * (1 - 1e-9)  # never more significant than exact


def test_the_profile_is_the_same_for_every_seed() -> None:
    ref, _, _ = benchmark_data(seed=0, n_ref=20_000, n_cur=10)
    a = DriftProfile.from_data(ref, random_state=1)
    b = DriftProfile.from_data(ref, random_state=2)
    assert all(np.array_equal(x.grid, y.grid) for x, y in zip(a.features, b.features))


def test_psi_equals_an_independent_computation(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    for feature in ("x0", "x1", "age"):
        edges = profile.bin_edges(feature)
        ref, cur = mixed["ref"][feature], mixed["cur"][feature]

        lo, hi = float(np.min(mixed["ref"][feature])), float(np.max(mixed["ref"][feature]))

        # below the reference's minimum, bins [e_i, e_{i+1}) from min to max, above the
        # maximum: counted one value at a time
        def props(
            values: NDArray[np.float64],
            e: NDArray[np.float64] = edges,
            lo: float = lo,
            hi: float = hi,
        ) -> list[float]:
            counts = [0] * (len(e) + 3)
            for v in values:
                k = 0 if v < lo else len(e) + 2 if v > hi else 1 + sum(1 for x in e if x <= v)
                counts[k] += 1
            return [c / len(values) for c in counts]

        p, q = props(ref), props(cur)
        expected = sum(
            (max(b, PSI_EPS) - max(a, PSI_EPS)) * math.log(max(b, PSI_EPS) / max(a, PSI_EPS))
            for a, b in zip(p, q)
        )
        got = profile.compare(mixed["cur"])[feature].tests["psi"].statistic
        assert got == pytest.approx(expected, rel=1e-9)


def test_categorical_psi_puts_unseen_values_in_their_own_bucket(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    cats = profile.categories("city")
    ref = list(mixed["ref"]["city"])
    cur = list(mixed["cur"]["city"])
    p = [ref.count(c) / len(ref) for c in cats] + [0.0]
    q = [cur.count(c) / len(cur) for c in cats] + [sum(c not in cats for c in cur) / len(cur)]
    expected = sum(
        (max(b, PSI_EPS) - max(a, PSI_EPS)) * math.log(max(b, PSI_EPS) / max(a, PSI_EPS))
        for a, b in zip(p, q)
    )
    result = profile.compare(mixed["cur"])["city"]
    assert result.tests["psi"].statistic == pytest.approx(expected, rel=1e-9)
    assert result.tests["js"].statistic == pytest.approx(jensenshannon(p, q, base=2), rel=1e-9)


def test_chi_square_equals_scipys_contingency_test(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    cats = profile.categories("city")
    ref, cur = list(mixed["ref"]["city"]), list(mixed["cur"]["city"])
    table = np.array(
        [
            [ref.count(c) for c in cats] + [0],
            [cur.count(c) for c in cats] + [sum(c not in cats for c in cur)],
        ]
    )
    expected = stats.chi2_contingency(table, correction=False)
    got = profile.compare(mixed["cur"], correction="none")["city"].tests["chi2"]
    assert got.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_jensen_shannon_equals_scipy_on_the_bins(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    edges = profile.bin_edges("x1")
    cur = mixed["cur"]["x1"]
    inner = 1 + np.searchsorted(edges, cur, side="right")
    code = np.where(cur < mixed["ref"]["x1"].min(), 0, inner)
    code = np.where(cur > mixed["ref"]["x1"].max(), edges.size + 2, code)
    q = np.bincount(code, minlength=edges.size + 3)
    expected = jensenshannon(profile.reference_proportions("x1"), q / q.sum(), base=2)
    got = profile.compare(mixed["cur"])["x1"].tests["js"].statistic
    assert got == pytest.approx(expected, rel=1e-9)


def test_wasserstein_is_within_its_stated_bound_of_scipys(mixed: dict[str, Any]) -> None:
    # values inside one reference interval stand at their mean: the error is at most
    # sum over intervals of width * count / n, in units of the reference's std
    profile = mixed["profile"]
    for feature in ("x0", "x1", "age"):
        sample = profile.reference_sample(feature)
        cur = mixed["cur"][feature]
        std = float(np.std(mixed["ref"][feature]))
        exact = stats.wasserstein_distance(cur, sample) / std
        grid = np.unique(sample)
        k = np.searchsorted(grid, cur, side="left")
        inside = ~np.isin(cur, grid) & (k > 0) & (k < grid.size)
        width = np.where(inside, grid[np.minimum(k, grid.size - 1)] - grid[np.maximum(k - 1, 0)], 0)
        bound = float(width.sum()) / cur.size / std
        got = profile.compare(mixed["cur"])[feature].tests["wasserstein"].statistic
        assert abs(got - exact) <= bound + 1e-12


def test_bonferroni_and_benjamini_hochberg_equal_reference_implementations() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate((rng.uniform(size=40), rng.uniform(0, 1e-3, size=10)))
    assert np.allclose(adjust_pvalues(p, "bonferroni"), np.minimum(p * 50, 1))
    assert np.allclose(adjust_pvalues(p, "bh"), stats.false_discovery_control(p))
    assert np.array_equal(adjust_pvalues(p, "none"), p)
    with pytest.raises(ConfigurationError, match="'correction'"):
        adjust_pvalues(p, "holm")


# -- the verdicts --------------------------------------------------------------------------


def test_five_shifted_of_fifty_are_exactly_the_flagged_features_on_the_benchmark_data() -> None:
    ref, cur, shifted = benchmark_data(seed=0)
    profile = DriftProfile.from_data(ref)
    report = profile.compare(cur)
    assert report.drifted
    assert report.drifted_features == [f"x{j}" for j in shifted]
    fast = profile.compare(cur, tests=("ks", "psi"))
    assert fast.drifted_features == [f"x{j}" for j in shifted]


@pytest.mark.slow
@pytest.mark.parametrize("correction", ["bonferroni", "bh"])
def test_no_shift_false_alarm_rate_is_at_most_alpha_over_many_seeds(correction: str) -> None:
    # Under no shift each report is a Bernoulli trial with P(alarm) <= alpha: Bonferroni
    # bounds the family-wise error; BH controls FDR, which equals the chance of any
    # rejection when nothing drifted. With S seeds the observed rate has standard error
    # sqrt(alpha (1 - alpha) / S); we allow alpha + 3 standard errors.
    alpha, seeds = 0.05, 300
    alarms = 0
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        ref = {f"x{j}": rng.normal(size=1500) for j in range(8)}
        ref["c"] = rng.choice(list("abcd"), size=1500)
        cur = {f"x{j}": rng.normal(size=400) for j in range(8)}
        cur["c"] = rng.choice(list("abcd"), size=400)
        profile = DriftProfile.from_data(ref, random_state=seed)
        alarms += profile.compare(cur, alpha=alpha, correction=correction).drifted
    se = math.sqrt(alpha * (1 - alpha) / seeds)
    print(f"\nfalse-alarm rate with {correction}: {alarms / seeds:.3f} (alpha {alpha})")
    assert alarms / seeds <= alpha + 3 * se


@pytest.mark.slow
def test_power_against_smaller_shifts_is_reported() -> None:
    # Power to flag the shifted feature (20 features, one shifted by delta standard
    # deviations, 2,000-row windows against a 5,000-row reference). Printed for the record;
    # the assertions are the monotone direction and near-certain detection at the largest
    # shift, where the KS statistic's mean (about 0.4 * delta = 0.08) is over two
    # standard errors (~0.013) above the Bonferroni critical value (~0.048), so power is
    # about 0.99; we require 0.9 to leave room for the Monte Carlo error of 40 seeds.
    deltas = (0.02, 0.05, 0.1, 0.2)
    seeds = 40
    power = []
    for delta in deltas:
        hits = 0
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            ref = rng.normal(size=(5000, 20))
            cur = rng.normal(size=(2000, 20))
            cur[:, 0] += delta
            report = DriftProfile.from_data(ref, random_state=seed).compare(cur)
            hits += "x0" in report.drifted_features
        power.append(hits / seeds)
    print("\npower (the shifted feature flagged):")
    for delta, p in zip(deltas, power):
        print(f"  shift {delta:.2f} sd: {p:.2f}")
    assert power == sorted(power)
    assert power[-1] >= 0.9


def test_drift_in_outputs_is_reported_next_to_inputs() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 2))
    conf = rng.beta(8, 2, size=4000)
    profile = DriftProfile.from_data(
        X, predictions=(X[:, 0] > 0).astype(int), confidence=conf, abstained=conf < 0.6
    )
    assert profile.output_names == ["prediction", "confidence", "abstention"]
    X2 = rng.normal(size=(1000, 2))
    conf2 = rng.beta(4, 2, size=1000)  # inputs stable, confidence falls
    report = profile.compare(
        X2, predictions=(X2[:, 0] > 0).astype(int), confidence=conf2, abstained=conf2 < 0.6
    )
    assert "confidence" in report.drifted_features
    assert "abstention" in report.drifted_features
    assert not {"x0", "x1"} & set(report.drifted_features)
    assert report["confidence"].group == "output"


def test_regression_predictions_are_profiled_as_numeric() -> None:
    rng = np.random.default_rng(2)
    profile = DriftProfile.from_data(predictions=rng.normal(size=3000))
    assert profile.compare(predictions=rng.normal(size=500))["prediction"].kind == "numeric"
    labels = DriftProfile.from_data(predictions=rng.integers(0, 3, size=3000))
    assert labels.compare(predictions=rng.integers(0, 3, 500))["prediction"].kind == "categorical"


def test_report_has_a_dict_and_a_readable_table(mixed: dict[str, Any]) -> None:
    report = mixed["profile"].compare(mixed["cur"])
    data = report.to_dict()
    assert data["drifted_features"] == report.drifted_features
    assert set(data["features"]) == {"x0", "x1", "age", "city"}
    ks = data["features"]["x1"]["tests"]["ks"]
    assert set(ks) == {"statistic", "p_value", "p_adjusted", "threshold", "drifted", "effect"}
    assert ks["drifted"] is True
    text = report.table()
    assert "x1" in text.splitlines()[2] or any(
        line.startswith("x1") and "DRIFT" in line for line in text.splitlines()
    )
    assert text.splitlines()[-1].startswith("DRIFT in")
    assert report.scores()["x1"]["ks"] == ks["statistic"]


def test_thresholds_give_distances_a_verdict(mixed: dict[str, Any]) -> None:
    report = mixed["profile"].compare(mixed["cur"], thresholds={"wasserstein": 0.2, "psi": None})
    assert report["x1"].tests["wasserstein"].drifted
    assert report["x1"].tests["psi"].threshold is None
    assert not report["x0"].tests["wasserstein"].drifted


# -- merging ---------------------------------------------------------------------------------


def test_merged_state_equals_the_state_of_the_concatenated_data(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    cur = mixed["cur"]
    parts = [slice(0, 100), slice(100, 1100), slice(1100, 1500)]
    states = [profile.window_state().update({k: v[s] for k, v in cur.items()}) for s in parts]
    merged = states[0].merge(states[1]).merge(states[2])
    whole = profile.window_state().update(cur)
    assert merged == whole
    assert_same_report(profile.evaluate(merged), profile.evaluate(whole))
    assert states[0].rows == 100  # merging made new states


def test_states_of_a_loaded_copy_merge_with_the_original(
    tmp_path: Path, mixed: dict[str, Any]
) -> None:
    profile = mixed["profile"]
    copy = DriftProfile.load(profile.save(tmp_path / "p.guard"))
    a = profile.window_state().update(mixed["cur"])
    b = copy.window_state().update(mixed["cur"])
    assert a.merge(b).rows == 3000
    other = DriftProfile.from_data(np.zeros((10, 1)) + np.arange(10)[:, None])
    with pytest.raises(ConfigurationError, match="same DriftProfile"):
        a.merge(other.window_state())


# -- saving and bad input --------------------------------------------------------------------


def test_a_saved_profile_loads_and_compares_identically(
    tmp_path: Path, mixed: dict[str, Any]
) -> None:
    profile = mixed["profile"]
    path = profile.save(tmp_path / "profile.guard")
    loaded = DriftProfile.load(path)
    assert loaded.compare(mixed["cur"]).to_dict() == profile.compare(mixed["cur"]).to_dict()
    assert repr(loaded) == repr(profile)


def test_loading_a_file_that_is_not_a_profile_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "x.guard"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError):
        DriftProfile.load(bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_bins": 1}, "'n_bins'"),
        ({"sample_size": 0}, "'sample_size'"),
        ({"prediction_kind": "text"}, "'prediction_kind'"),
        ({"categorical": ["nope"]}, "'categorical'"),
        ({"feature_names": ["a"]}, "'feature_names'"),
    ],
)
def test_bad_profile_settings_name_the_parameter(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        DriftProfile.from_data(np.zeros((20, 2)), **kwargs)


def test_bad_test_settings_name_the_parameter(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    with pytest.raises(ConfigurationError, match="'alpha'"):
        profile.compare(mixed["cur"], alpha=1.5)
    with pytest.raises(ConfigurationError, match="'tests'"):
        profile.compare(mixed["cur"], tests=("anderson",))
    with pytest.raises(ConfigurationError, match="'thresholds'"):
        profile.compare(mixed["cur"], thresholds={"psi": -1})
    with pytest.raises(ConfigurationError, match="'ks_method'"):
        profile.compare(mixed["cur"], ks_method="approx")


def test_bad_current_data_is_an_input_error_not_a_numpy_crash(mixed: dict[str, Any]) -> None:
    profile = mixed["profile"]
    with pytest.raises(InvalidInputError, match="lacks profiled feature"):
        profile.compare({"x0": np.zeros(3)})
    bad = dict(mixed["cur"])
    bad["x0"] = np.array(["a"] * 1500)
    with pytest.raises(InvalidInputError, match="non-numeric"):
        profile.compare(bad)
    with pytest.raises(InvalidInputError, match="2-D"):
        DriftProfile.from_data(np.zeros((5, 2))).compare(np.zeros(3))
    with pytest.raises(InvalidInputError, match="finite"):
        DriftProfile.from_data(np.full((5, 1), np.nan))


def test_missing_values_are_skipped_per_feature() -> None:
    rng = np.random.default_rng(4)
    profile = DriftProfile.from_data(rng.normal(size=(2000, 2)))
    cur = rng.normal(size=(300, 2))
    cur[:100, 0] = np.nan
    report = profile.compare(cur)
    assert report["x0"].n == 200
    assert report["x1"].n == 300
    assert not report.drifted


def test_data_frames_are_read_by_column_name() -> None:
    pd = pytest.importorskip("pandas", reason="data frames need the pandas extra")
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.choice(["u", "v"], size=2000)})
    profile = DriftProfile.from_data(ref)
    assert [f.kind for f in profile.compare(ref[["b", "a"]]).features] == [
        "numeric",
        "categorical",
    ]


def test_a_state_shipped_as_arrays_from_a_worker_merges_on_a_loaded_profile(
    tmp_path: Path, mixed: dict[str, Any]
) -> None:
    import io

    profile = mixed["profile"]
    central = DriftProfile.load(profile.save(tmp_path / "p.guard"))
    cur = mixed["cur"]
    worker = profile.window_state().update({k: v[:700] for k, v in cur.items()})
    buf = io.BytesIO()
    np.savez(buf, **worker.to_arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as shipped:
        received = central.window_state(arrays=dict(shipped))
    local = central.window_state().update({k: v[700:] for k, v in cur.items()})
    whole = central.window_state().update(cur)
    assert received.merge(local) == whole
    with pytest.raises(InvalidInputError, match="not a window state"):
        central.window_state(arrays={"rows": np.array([1])})
