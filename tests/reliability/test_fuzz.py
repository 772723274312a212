"""Fuzzing the public entry points: the only outcomes are decisions or GuardrailsErrors.

Arbitrary arrays (every dtype and shape, NaN, inf, huge values, negative zero), JSON-like
records, unicode and bytes go through ``decide``, ``decide_one``, ``predict`` and
``adecide``. Anything other than a :class:`Decisions` with one row per input, or a
:class:`GuardrailsError` with a message, is a bug.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from guardrails import Decision, Decisions, GuardrailsError, Reason, confidence_below, guard

FUZZ = settings(
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
    | st.binary(max_size=20)
)
json_like = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
dtypes = (
    hnp.floating_dtypes()
    | hnp.integer_dtypes()
    | hnp.unsigned_integer_dtypes()
    | hnp.boolean_dtypes()
    | hnp.complex_number_dtypes()
    | hnp.unicode_string_dtypes(max_len=4)
    | hnp.byte_string_dtypes(max_len=4)
    | hnp.datetime64_dtypes()
)
arrays = hnp.arrays(
    dtype=dtypes,
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
)
special_floats = hnp.arrays(
    dtype=np.float64,
    shape=st.tuples(st.integers(0, 5), st.sampled_from([3, 4, 5])),
    elements=st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 1.0]),
)
inputs = arrays | special_floats | json_like | st.lists(json_like, max_size=4)


@pytest.fixture(scope="module")
def g(iris: dict[str, Any]) -> Any:
    return guard(iris["model"]).abstain(confidence_below(0.6))


def _check(d: Decisions, n: int) -> None:
    assert isinstance(d, Decisions)
    assert len(d) == n
    for row in d:
        assert row.answered or row.reason is not Reason.NONE
        if row.abstained:
            assert row.prediction is None


def _expected_rows(X: Any) -> int | None:
    if isinstance(X, np.ndarray):
        return int(X.shape[0]) if X.ndim >= 1 else None
    if isinstance(X, (list, tuple)):
        return len(X)
    return None


@FUZZ
@given(X=inputs)
def test_decide_gives_decisions_or_a_guardrails_error(g: Any, X: Any) -> None:
    try:
        d = g.decide(X)
    except GuardrailsError as exc:
        assert str(exc)
        return
    n = _expected_rows(X)
    assert n is not None, f"decide accepted a non-batch {type(X).__name__}"
    _check(d, n)


@FUZZ
@given(x=inputs)
def test_decide_one_gives_one_decision_or_a_guardrails_error(g: Any, x: Any) -> None:
    try:
        row = g.decide_one(x)
    except GuardrailsError as exc:
        assert str(exc)
        return
    assert isinstance(row, Decision)
    assert row.answered or row.reason is not Reason.NONE


@FUZZ
@given(X=inputs, marker=st.sampled_from([None, -1, "withheld", np.nan]))
def test_predict_marks_every_withheld_row(g: Any, X: Any, marker: Any) -> None:
    try:
        out = g.predict(X, marker=marker)
    except GuardrailsError as exc:
        assert str(exc)
        return
    assert len(out) == _expected_rows(X)


@settings(FUZZ, max_examples=500)
@given(X=inputs)
def test_adecide_gives_decisions_or_a_guardrails_error(g: Any, X: Any) -> None:
    try:
        d = asyncio.run(g.adecide(X))
    except GuardrailsError as exc:
        assert str(exc)
        return
    n = _expected_rows(X)
    assert n is not None
    _check(d, n)


# -- a full stack: validation-free arrays through monitor, fallback and a SQLite queue --------


@pytest.fixture(scope="module")
def stack(iris: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    from guardrails import CircuitBreaker, Default, DriftProfile, SQLiteQueue, on_error

    path = tmp_path_factory.mktemp("fuzz") / "q.db"
    queue = SQLiteQueue(path, synchronous="normal")
    g = (
        guard(iris["model"])
        .abstain(confidence_below(0.9))
        .monitor(DriftProfile.from_data(iris["X_train"]), window=32)
        .fallback(
            Default(0, when=on_error()),
            primary_breaker=CircuitBreaker(failure_threshold=10**6),
        )
        .review(queue)
    )
    yield g, queue, path, [0]
    queue.close()


def _cases_in(path: Any) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM review_cases").fetchone()[0])
    finally:
        conn.close()


_NOT_QUEUED_SEEN: dict[int, int] = {}  # the review layer's not_queued count at the last check


def _kept_out(g: Any, d: Any) -> int:
    """Withheld rows the data-quality cap kept out of the queue in this call (counted, not lost).

    Every one of them is an invalid-input row without a review id, and the review layer's
    ``not_queued`` counter grew by exactly that many since the last call.
    """
    from guardrails import Reviewed

    layer = g.layer(Reviewed)
    total = layer.not_queued
    new = total - _NOT_QUEUED_SEEN.get(id(layer), 0)
    _NOT_QUEUED_SEEN[id(layer)] = total
    if d.review_id is not None:
        unqueued = d.abstained & np.array([i is None for i in d.review_id], dtype=bool)
    else:
        unqueued = d.abstained.copy()
    assert int(unqueued.sum()) == new, "a withheld row was neither queued nor counted"
    assert all(r is Reason.INVALID_INPUT for r in map(Reason, d.reason[unqueued]))
    return new


@FUZZ
@given(X=inputs)
def test_a_full_stack_decides_and_queues_exactly_the_withheld_rows(stack: Any, X: Any) -> None:
    g, _, path, queued = stack
    try:
        d = g.decide(X)
    except GuardrailsError as exc:
        assert str(exc)
        assert _cases_in(path) == queued[0]  # a refused call wrote nothing
        return
    n = _expected_rows(X)
    assert n is not None
    _check(d, n)
    withheld = int(d.abstained.sum())
    kept_out = _kept_out(g, d)
    if withheld > kept_out:
        assert d.review_id is not None
        assert sum(i is not None for i in d.review_id[d.abstained]) == withheld - kept_out
    queued[0] += withheld - kept_out
    assert _cases_in(path) == queued[0]  # no partial write, nothing lost


@settings(FUZZ, max_examples=500)
@given(X=inputs)
def test_a_full_stack_adecide_gives_decisions_or_a_guardrails_error(stack: Any, X: Any) -> None:
    g, _, path, queued = stack
    try:
        d = asyncio.run(g.adecide(X))
    except GuardrailsError as exc:
        assert str(exc)
        return
    n = _expected_rows(X)
    assert n is not None
    _check(d, n)
    queued[0] += int(d.abstained.sum()) - _kept_out(g, d)
    assert _cases_in(path) == queued[0]


# -- the command line ------------------------------------------------------------------------

COMMANDS = ["list", "show", "claim", "resolve", "skip", "reopen", "stats"]
FLAGS = [
    "--json", "--status", "--kind", "--overdue", "--limit", "--reviewer", "-n", "--lease",
    "--label", "--note", "--fail-on-overdue", "--queue", "--help", "-h",
]  # fmt: skip
argv_words = (
    st.sampled_from(COMMANDS + FLAGS)
    | st.sampled_from(["pending", "claimed", "withheld", "audit", "0", "-1", "1e308", "nan"])
    | st.text(max_size=20)
)


@pytest.fixture(scope="module")
def cli_queue(tmp_path_factory: pytest.TempPathFactory) -> str:
    from guardrails import Reason, SQLiteQueue
    from guardrails.review.cases import NewCase

    path = tmp_path_factory.mktemp("cli") / "q.db"
    queue = SQLiteQueue(path)
    queue.enqueue(
        [NewCase("withheld", Reason.LOW_CONFIDENCE, 0.5, {"input": [1.0]}) for _ in range(3)]
    )
    queue.close()
    return f"sqlite:///{path}"


def _run_cli(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from guardrails.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


@settings(FUZZ, max_examples=2000)
@given(
    command=st.sampled_from(COMMANDS),
    words=st.lists(argv_words, max_size=6),
    with_queue=st.booleans(),
)
def test_the_review_cli_exits_cleanly_on_any_arguments(
    cli_queue: str, command: str, words: list[str], with_queue: bool
) -> None:
    argv = ["review", command, *words]
    if with_queue:
        argv += ["--queue", cli_queue]
    code, err = _run_cli(argv)
    assert code in (0, 2, 3), (argv, code, err)
    if code == 2:
        assert err.strip(), f"exit 2 without a message for {argv}"
    assert "Traceback" not in err


@settings(FUZZ, max_examples=2000)
@given(argv=st.lists(argv_words | st.sampled_from(["review", "demo", "--seed"]), max_size=5))
def test_the_top_level_cli_never_tracebacks(argv: list[str]) -> None:
    if argv[:1] == ["demo"] and "--help" not in argv and "-h" not in argv:
        argv = ["demo", "--seed", "x"]  # the demo itself is tested elsewhere; keep it fast
    code, err = _run_cli(argv)
    assert code in (0, 2, 3), (argv, code, err)
    assert "Traceback" not in err


@pytest.mark.timeout(120)
@settings(FUZZ, max_examples=8)  # ~2 s each: interpreter start; the in-process tests cover breadth
@given(
    # an operating system's argv cannot hold NUL bytes: exec refuses them before we run
    words=st.lists(argv_words.filter(lambda w: "\x00" not in w), max_size=5),
    command=st.sampled_from(COMMANDS),
)
def test_the_cli_as_a_process_never_prints_a_traceback(
    cli_queue: str, command: str, words: list[str]
) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-m", "guardrails", "review", command, *words, "--queue", cli_queue]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 2, 3), (argv, done.stderr)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("entry", ["decide_one", "adecide_one"])
def test_decide_one_of_an_empty_data_frame_says_it_needs_one_record(
    iris: dict[str, Any], entry: str
) -> None:
    pd = pytest.importorskip("pandas", reason="needs the 'pandas' extra")
    from guardrails import InvalidInputError

    g = guard(iris["model"]).abstain(confidence_below(0.7))
    empty = pd.DataFrame({f"x{i}": pd.Series([], dtype=float) for i in range(4)})
    run = (
        (lambda: g.decide_one(empty))
        if entry == "decide_one"
        else (lambda: asyncio.run(g.adecide_one(empty)))
    )
    with pytest.raises(InvalidInputError, match="needs one record; got a data frame with no"):
        run()
