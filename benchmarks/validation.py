"""Cost of input validation: vectorized checks against a pydantic loop and the model call.

Run: ``python benchmarks/validation.py``. A 100,000 x 20 batch is validated as a float
array and as a data frame with the checks compiled from a pydantic schema, then row by
row with ``model_validate`` (what a per-record API would do), and compared with the raw
LogisticRegression ``predict_proba`` on the same rows. One record is timed in
microseconds. Prints medians of repeats.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import fmt_seconds, median_seconds, table

from guardrails import Validated, guard, infer_schema

N_ROWS, N_FEATURES = 100_000, 20


def main() -> None:
    X, y = make_classification(
        n_samples=N_ROWS, n_features=N_FEATURES, n_informative=10, random_state=0
    )
    model = LogisticRegression(max_iter=1000).fit(X[:20_000], y[:20_000])
    schema = infer_schema(X, margin=0.5)  # 20 float fields with bounds, as a user would start
    Row = schema.model
    names = list(schema.names)
    frame = pd.DataFrame(X, columns=names)
    layer = Validated(model, schema=schema)
    guarded = guard(model).validate(schema)
    records = [dict(zip(names, row)) for row in X.tolist()]

    def pydantic_loop() -> None:
        for record in records:
            Row.model_validate(record)

    # many short repeats: the median shrugs off other processes on a shared machine
    t_model = median_seconds(lambda: model.predict_proba(X), repeats=21, number=3)
    t_array = median_seconds(lambda: layer.validate(X), repeats=21, number=3)
    t_frame = median_seconds(lambda: layer.validate(frame), repeats=21, number=3)
    t_pyd = median_seconds(pydantic_loop, repeats=3)
    t_guard = median_seconds(lambda: guarded.decide(X), repeats=21, number=3)
    bare = guard(model)
    t_bare = median_seconds(lambda: bare.decide(X), repeats=21, number=3)
    rows = [
        ["model predict_proba (raw)", fmt_seconds(t_model), "1.00x", ""],
        [
            "vectorized validation, array",
            fmt_seconds(t_array),
            f"{t_array / t_model:.2f}x",
            f"{t_pyd / t_array:.0f}x",
        ],
        [
            "vectorized validation, frame",
            fmt_seconds(t_frame),
            f"{t_frame / t_model:.2f}x",
            f"{t_pyd / t_frame:.0f}x",
        ],
        ["pydantic model_validate loop", fmt_seconds(t_pyd), f"{t_pyd / t_model:.2f}x", "1x"],
        ["guard(model).decide, no layers", fmt_seconds(t_bare), f"{t_bare / t_model:.2f}x", ""],
        ["guard(model).validate().decide", fmt_seconds(t_guard), f"{t_guard / t_model:.2f}x", ""],
    ]
    print(
        table(
            f"Validation of {N_ROWS:,} x {N_FEATURES} (median)",
            ["what", "time", "vs model", "pydantic loop / this"],
            rows,
        )
    )

    one = records[0]
    one_2d = X[:1]
    t_raw_one = median_seconds(lambda: model.predict_proba(one_2d), repeats=7, number=300)
    t_pyd_one = median_seconds(lambda: Row.model_validate(one), repeats=7, number=3000)
    t_val_one = median_seconds(lambda: layer.validate([one]), repeats=7, number=1000)
    t_arr_one = median_seconds(lambda: layer.validate(one_2d), repeats=7, number=1000)
    t_dec_one = median_seconds(lambda: guarded.decide_one(one), repeats=7, number=300)
    print()
    print(
        table(
            "One record (median)",
            ["what", "time"],
            [
                ["pydantic model_validate", fmt_seconds(t_pyd_one)],
                ["Validated.validate([record]) (pydantic + model input)", fmt_seconds(t_val_one)],
                ["Validated.validate(1 x 20 array)", fmt_seconds(t_arr_one)],
                ["model predict_proba, 1 row (raw)", fmt_seconds(t_raw_one)],
                ["guard(model).validate().decide_one(record)", fmt_seconds(t_dec_one)],
            ],
        )
    )
    assert isinstance(pydantic.VERSION, str)
    np.testing.assert_array_equal(layer.validate(X).valid, np.ones(N_ROWS, dtype=bool))


if __name__ == "__main__":
    main()
