"""Drift results: one test's result, one feature's verdict, and the report of a window."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DriftReport", "FeatureDrift", "TestResult"]


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """One test on one feature.

    Attributes:
        statistic: the test statistic or distance.
        p_value: raw p-value (KS, chi-square), else None.
        p_adjusted: p-value after the multiple-testing correction, else None.
        threshold: what the statistic (or the adjusted p-value) is compared with, or None
            for a distance reported without a verdict.
        drifted: the test's verdict (for a p-value test: significant *and* an effect of
            at least ``min_effect``).
        effect: the feature's effect size, on one scale for every test and feature: the
            largest difference in probability mass the window and the reference give one
            region (the KS statistic for a numeric feature, the total variation distance
            for a categorical one), in [0, 1].
    """

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float | None
    p_adjusted: float | None
    threshold: float | None
    drifted: bool
    effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "effect": self.effect,
        }


@dataclass(frozen=True)
class FeatureDrift:
    """The tests on one feature (or output) and its verdict.

    Attributes:
        feature: the feature's name ("prediction", "confidence", "abstention" for outputs,
            "errors" for the label stream).
        kind: "numeric", "categorical" or "stream".
        group: "input", "output" or "labels".
        n: number of current values tested.
        tests: results by test name.
        drifted: True when any test with a verdict flags the feature.
        effect: the effect size (see [`TestResult`][]), or None for the label stream.
    """

    feature: str
    kind: str
    group: str
    n: int
    tests: Mapping[str, TestResult]
    drifted: bool
    effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "group": self.group,
            "n": self.n,
            "drifted": self.drifted,
            "effect": self.effect,
            "tests": {name: t.to_dict() for name, t in self.tests.items()},
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-feature results and the dataset-level verdict.

    Attributes:
        features: one entry per tested feature or output, in profile order.
        alpha: the significance level of the p-value tests.
        correction: the multiple-testing correction applied across them.
        rows: number of rows in the window.
        min_effect: the effect size a p-value test needs besides significance.
    """

    features: tuple[FeatureDrift, ...]
    alpha: float
    correction: str
    rows: int
    min_effect: float = 0.0
    _by_name: dict[str, FeatureDrift] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.feature: f for f in self.features})

    @property
    def drifted(self) -> bool:
        """The dataset-level verdict: True when any feature or output drifted."""
        return any(f.drifted for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features and outputs, in profile order."""
        return [f.feature for f in self.features if f.drifted]

    def __getitem__(self, feature: str) -> FeatureDrift:
        return self._by_name[feature]

    def __contains__(self, feature: object) -> bool:
        return feature in self._by_name

    def with_feature(self, entry: FeatureDrift) -> DriftReport:
        """A copy with ``entry`` added (or replacing the entry of the same name)."""
        rest = tuple(f for f in self.features if f.feature != entry.feature)
        return DriftReport((*rest, entry), self.alpha, self.correction, self.rows, self.min_effect)

    def scores(self) -> dict[str, dict[str, float]]:
        """Statistic per test per feature, e.g. for a metrics exporter."""
        return {
            f.feature: {name: t.statistic for name, t in f.tests.items()} for f in self.features
        }

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-friendly data."""
        return {
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "alpha": self.alpha,
            "correction": self.correction,
            "rows": self.rows,
            "min_effect": self.min_effect,
            "features": {f.feature: f.to_dict() for f in self.features},
        }

    def table(self) -> str:
        """A readable table: one line per feature and test."""
        header = (
            "feature",
            "test",
            "statistic",
            "p_value",
            "p_adj",
            "threshold",
            "effect",
            "drift",
        )
        lines: list[tuple[str, ...]] = []

        def num(v: float | None) -> str:
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"

        for f in self.features:
            for name, t in f.tests.items():
                lines.append(
                    (
                        f.feature,
                        name,
                        num(t.statistic),
                        num(t.p_value),
                        num(t.p_adjusted),
                        num(t.threshold),
                        num(t.effect),
                        "DRIFT" if t.drifted else "",
                    )
                )
        widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header))]
        out = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
        out.append("-" * len(out[0]))
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
        verdict = "DRIFT in " + ", ".join(self.drifted_features) if self.drifted else "no drift"
        out.append(
            f"{verdict} ({self.rows} rows, alpha={self.alpha:g}, {self.correction}, "
            f"min_effect={self.min_effect:g})"
        )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()
