"""The Page-Hinkley change detector on error streams."""

from __future__ import annotations

import numpy as np
import pytest

from guardrails import ConfigurationError, InvalidInputError, PageHinkley


def test_feeding_one_value_at_a_time_equals_feeding_the_batch() -> None:
    rng = np.random.default_rng(0)
    stream = np.r_[rng.uniform(size=800) < 0.1, rng.uniform(size=800) < 0.5].astype(float)
    batch, single = PageHinkley(threshold=10), PageHinkley(threshold=10)
    batch.update(stream)
    flags = [single.update(x) for x in stream]
    assert batch.detections_ == single.detections_ == sum(flags) >= 1
    assert batch.statistic == pytest.approx(single.statistic)
    assert batch.seen_ == single.seen_ == stream.size


def test_a_rise_in_the_error_rate_is_detected_soon_and_a_stable_one_is_not() -> None:
    # Stable 10% errors: m_t drifts down by delta per label and its fluctuation over
    # 2,000 labels has sd sqrt(0.09 * 2000) ~ 13.4, so exceeding threshold 50 (3.7 sd)
    # has probability ~2e-4 per seed. A rise to 40% adds ~0.3 per label once the running
    # mean lags, so about 170 labels reach 50; we allow 400.
    for seed in range(20):
        rng = np.random.default_rng(seed)
        ph = PageHinkley(threshold=50)
        assert not ph.update(rng.uniform(size=2000) < 0.1)
        delays = [i for i in range(400) if ph.update(float(rng.uniform() < 0.4))]
        assert delays, f"seed {seed}: no detection within 400 labels"


def test_it_starts_afresh_after_a_signal() -> None:
    ph = PageHinkley(threshold=5, min_samples=1)
    assert ph.update(np.r_[np.zeros(100), np.ones(20)])
    assert ph.detections_ == 1
    assert ph.statistic < 5
    assert not ph.update(np.ones(3))


def test_bad_settings_and_values_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="'threshold'"):
        PageHinkley(threshold=0)
    with pytest.raises(ConfigurationError, match="'delta'"):
        PageHinkley(delta=-1)
    with pytest.raises(ConfigurationError, match="'min_samples'"):
        PageHinkley(min_samples=0)
    with pytest.raises(InvalidInputError, match="NaN"):
        PageHinkley().update([0.0, np.nan])
    with pytest.raises(InvalidInputError, match="numbers"):
        PageHinkley().update(["x"])
    assert repr(PageHinkley()) == "PageHinkley(delta=0.005, threshold=25.0, min_samples=30)"
