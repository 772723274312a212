"""Coverage-guided fuzzing of a full guard and the review CLI with atheris (a long run).

The hypothesis tests in ``tests/reliability/test_fuzz.py`` run in CI; this harness is for
longer runs outside it. Each input becomes an array, a record batch or a command line; the
only allowed outcomes are decisions, a ``GuardrailsError``, or (for the CLI) exit codes
0, 2 and 3. Anything else is reported by atheris as a crash, with the input that caused it.

Run: ``python benchmarks/fuzz_atheris.py [--target guard|cli] [-max_total_time=600]``
(atheris is not a dependency: ``pip install atheris``). Without atheris it says so and
exits 0. By default it stops after 60 s so that ``make bench`` stays bounded.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from typing import Any

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the machine
    atheris = None


def _guard_target() -> Any:
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from guardrails import (
        CircuitBreaker,
        Decisions,
        Default,
        DriftProfile,
        GuardrailsError,
        SQLiteQueue,
        confidence_below,
        guard,
        on_error,
    )

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    queue = SQLiteQueue(f"{tempfile.mkdtemp()}/q.db", synchronous="normal")
    g = (
        guard(model)
        .abstain(confidence_below(0.9))
        .monitor(DriftProfile.from_data(X), window=32)
        .fallback(Default(0, when=on_error()), primary_breaker=CircuitBreaker())
        .review(queue)
    )

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        kind = fdp.ConsumeIntInRange(0, 3)
        if kind == 0:
            rows, cols = fdp.ConsumeIntInRange(0, 8), fdp.ConsumeIntInRange(0, 6)
            values = [fdp.ConsumeFloat() for _ in range(rows * cols)]
            batch: Any = np.array(values, dtype=float).reshape(rows, cols)
        elif kind == 1:
            batch = [
                {fdp.ConsumeUnicodeNoSurrogates(8): fdp.ConsumeFloat() for _ in range(4)}
                for _ in range(fdp.ConsumeIntInRange(0, 4))
            ]
        elif kind == 2:
            batch = [[fdp.ConsumeUnicodeNoSurrogates(6) for _ in range(4)]]
        else:
            batch = fdp.ConsumeBytes(32)
        try:
            d = g.decide(batch)
        except GuardrailsError as exc:
            if not str(exc):
                raise AssertionError("a GuardrailsError without a message") from exc
            return
        if not isinstance(d, Decisions) or len(d) != len(batch):
            raise AssertionError(f"decide gave {d!r} for {len(batch)} rows")

    return one


def _cli_target() -> Any:
    from guardrails import Reason, SQLiteQueue
    from guardrails.__main__ import main
    from guardrails.review.cases import NewCase

    path = f"{tempfile.mkdtemp()}/q.db"
    queue = SQLiteQueue(path)
    queue.enqueue([NewCase("withheld", Reason.DRIFT, 0.5, {"input": [1.0]})])
    queue.close()
    commands = ["list", "show", "claim", "resolve", "skip", "reopen", "stats"]

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        argv = ["review", commands[fdp.ConsumeIntInRange(0, len(commands) - 1)]]
        argv += [fdp.ConsumeUnicodeNoSurrogates(12) for _ in range(fdp.ConsumeIntInRange(0, 5))]
        argv += ["--queue", f"sqlite:///{path}"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
        if code not in (0, 2, 3):
            raise AssertionError(f"exit {code} for {argv}: {err.getvalue()}")

    return one


def main() -> None:
    if atheris is None:
        print("atheris is not installed (pip install atheris); nothing to fuzz")
        return
    target = "guard"
    args = [sys.argv[0]]
    for arg in sys.argv[1:]:
        if arg.startswith("--target="):
            target = arg.split("=", 1)[1]
        else:
            args.append(arg)
    if not any(a.startswith("-max_total_time") or a.startswith("-runs") for a in args):
        args.append("-max_total_time=60")
    with atheris.instrument_imports(include=["guardrails"]):
        import guardrails  # noqa: F401
    one = _guard_target() if target == "guard" else _cli_target()
    atheris.Setup(args, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
