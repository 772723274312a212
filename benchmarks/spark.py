"""Spark batch scoring: decide_frame against in-process decide and a bare mapInPandas.

Run: ``python benchmarks/spark.py`` (needs the spark extra; starts a local[2] session,
about 10 s). On 200,000 x 10 rows: ``guard.decide`` in process, ``decide_frame`` (the
guard in mapInPandas, written to a no-op sink), and the plain Spark way of scoring a
model (mapInPandas calling predict_proba) as the baseline a user would write by hand.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table


def main() -> None:
    try:
        import pandas as pd
        from pyspark.sql import SparkSession
    except ImportError:
        print("pyspark is not installed (pip install '.[spark]'); skipping the Spark benchmark")
        return
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from guardrails import confidence_below, guard
    from guardrails.spark import decide_frame

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    n, k = 200_000, 10
    X, y = make_classification(n_samples=n, n_features=k, random_state=0)
    cols = [f"x{i}" for i in range(k)]
    model = LogisticRegression(max_iter=1000).fit(X[:20_000], y[:20_000])
    g = guard(model).abstain(confidence_below(0.8))
    df = spark.createDataFrame(pd.DataFrame(X, columns=cols)).repartition(4).cache()
    df.count()

    def bare(batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            p = model.predict_proba(batch[cols].to_numpy())
            yield pd.DataFrame({"prediction": p.argmax(axis=1), "confidence": p.max(axis=1)})

    def run_bare() -> None:
        df.mapInPandas(bare, "prediction long, confidence double").write.format("noop").mode(
            "overwrite"
        ).save()

    def run_guard() -> None:
        decide_frame(df, g, features=cols).write.format("noop").mode("overwrite").save()

    local = median_seconds(lambda: g.decide(X), repeats=5)
    t_bare = median_seconds(run_bare, repeats=3)
    t_guard = median_seconds(run_guard, repeats=3)
    rows = [
        ["guard.decide in process", fmt_seconds(local), "-"],
        ["mapInPandas + predict_proba (bare)", fmt_seconds(t_bare), "1.00x"],
        ["decide_frame (guard)", fmt_seconds(t_guard), f"{t_guard / t_bare:5.2f}x"],
    ]
    print(table(f"Scoring {n:,} x {k} rows, Spark local[2]", ["how", "time", "vs bare"], rows))
    spark.stop()


if __name__ == "__main__":
    main()
