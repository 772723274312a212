"""Score a table on Spark with a guard: decisions identical to the in-process call.

Run: python examples/spark_batch.py   (needs the spark extra; starts Spark in local mode)
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from guardrails import DriftProfile, confidence_below, guard
from guardrails.spark import decide_frame, drift_report


def main() -> None:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        X, y = make_classification(n_samples=20_000, n_features=4, random_state=0)
        model = LogisticRegression().fit(X[:5000], y[:5000])
        g = guard(model, name="spark-example").abstain(confidence_below(0.8))
        names = ["a", "b", "c", "d"]
        frame = pd.DataFrame(X, columns=names).assign(id=np.arange(len(X)))
        table = spark.createDataFrame(frame).repartition(4)

        out = decide_frame(table, g, features=names, keep=["id"]).toPandas().sort_values("id")
        local = g.decide(X)
        assert (out["abstained"].to_numpy() == local.abstained).all()
        print(
            f"{len(out)} rows scored on Spark; withheld {out['abstained'].mean():.1%}; "
            "identical to guard.decide"
        )

        profile = DriftProfile.from_data(X[:5000], feature_names=names)
        shifted = spark.createDataFrame(
            pd.DataFrame(X + np.array([0.0, 0.6, 0.0, 0.0]), columns=names)
        )
        report = drift_report(shifted, profile)  # partitions' states merged into one report
        print("drifted features:", report.drifted_features)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
