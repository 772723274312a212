"""The audit command: a saved model and a labelled CSV in, a recommendation and a report out."""

from __future__ import annotations

import json
import operator
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from guardrails.__main__ import main
from guardrails.apps.audit import audit

ROOT = Path(__file__).resolve().parents[2]
FEATURES = [f"x{i}" for i in range(8)]


def _classification(n: int, seed: int) -> tuple[Any, Any]:
    return make_classification(
        n_samples=n,
        n_features=8,
        n_informative=4,
        n_redundant=3,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=seed,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An overconfident GaussianNB (redundant features break its independence assumption)
    saved with skops and joblib, a regressor, and labelled CSV hold-out sets."""
    folder = tmp_path_factory.mktemp("audit")
    X, y = _classification(6000, 0)
    nb = GaussianNB().fit(X[:2000], y[:2000])
    sio.dump(nb, folder / "nb.skops")
    joblib.dump(nb, folder / "nb.joblib")
    frame = pd.DataFrame(X[2000:], columns=FEATURES)
    frame["label"] = y[2000:]
    frame.loc[[3, 50, 77], "label"] = np.nan  # three rows without a label
    frame.to_csv(folder / "holdout.csv", index=False)
    frame.iloc[:400].to_csv(folder / "small.csv", index=False)

    Xr, yr = make_regression(n_samples=5000, n_features=5, noise=10.0, random_state=0)
    sio.dump(Ridge().fit(Xr[:1000], yr[:1000]), folder / "ridge.skops")
    reg = pd.DataFrame(Xr[1000:], columns=[f"r{i}" for i in range(5)])
    reg["y"] = yr[1000:]
    reg.to_csv(folder / "regression.csv", index=False)

    risky = make_pipeline(FunctionTransformer(operator.neg), GaussianNB()).fit(X[:500], y[:500])
    sio.dump(risky, folder / "custom.skops")
    joblib.dump({"not": "a model"}, folder / "dict.joblib")
    (folder / "garbage.bin").write_bytes(b"\x00not a model file\xff" * 10)
    (folder / "empty.csv").write_text("", encoding="utf-8")
    return {p.stem + p.suffix.replace(".", "_"): p for p in folder.iterdir()} | {"dir": folder}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in-process; argparse's own errors exit through SystemExit."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _audit_args(files: dict[str, Path], *extra: str, loader: str = "skops") -> list[str]:
    model = files["nb_skops"] if loader == "skops" else files["nb_joblib"]
    return [
        "audit",
        "--model",
        str(model),
        "--loader",
        loader,
        "--data",
        str(files["holdout_csv"]),
        "--target",
        "label",
        "--out",
        str(files["dir"] / f"report-{loader}.html"),
        *extra,
    ]


def test_a_skops_model_is_audited_end_to_end_with_a_report(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        _audit_args(files, "--risk", "0.1", "--cost-review", "0.3", "--cost-error", "1"), capsys
    )
    assert code == 0, err
    assert "lowest nll wins" in out
    assert "risk <= 0.1" in out and "cost error 1, review 0.3" in out
    assert "3 of 4000 rows had no target and were dropped" in out
    report = files["dir"] / "report-skops.html"
    assert f"report: {report.resolve()}" in out
    html = report.read_text(encoding="utf-8")
    for section in (
        "Recommendation",
        "Calibration methods on the evaluation part",
        'alt="Reliability before and after calibration"',
        'alt="Risk-coverage on the evaluation part"',
        'alt="Coverage and set size per class"',
        "Abstention thresholds",
        "Conformal prediction sets",
    ):
        assert section in html, section
    assert html.count("<img") == 3


def test_the_recommended_calibration_lowers_ece_of_an_overconfident_model(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(_audit_args(files, "--json", loader="joblib"), capsys)
    assert code == 0, err
    result = json.loads(out)
    scores = {m["method"]: m for m in result["calibration"]}
    best = result["recommended_calibration"]
    assert best not in (None, "none")
    assert scores[best]["nll"] == min(m["nll"] for m in scores.values() if m["nll"] is not None)
    # GaussianNB with redundant features is overconfident: ECE well above the ~0.01 that
    # binning noise gives a calibrated model on 2,000 rows; calibration must cut it
    assert scores["none"]["ece"] > 0.03
    assert scores[best]["ece"] < 0.6 * scores["none"]["ece"]
    assert result["rows"] == {"used": 3997, "unscored": 0, "calibration": 1998, "evaluation": 1999}
    assert Path(result["report"]).is_file()
    assert "runs any code the file carries" in err


def test_risk_thresholds_keep_their_promise_on_a_large_evaluation_set() -> None:
    """Realized selective risk on the evaluation part stays at or under the target.

    RiskControlledThreshold promises true risk <= target with probability >= 1 - delta
    over the calibration draw. On the evaluation part the realized risk of m answered rows
    adds sampling noise of sd sqrt(r (1 - r) / m); a 3 sd allowance fails with
    probability 0.0013. With delta = 0.01, each seed fails with probability <= 0.0113, and
    all 5 pass with probability >= 0.94 by the union bound; the seeds are fixed.
    """
    X, y = _classification(24000, 1)
    model = GaussianNB().fit(X[:4000], y[:4000])
    target = 0.08
    for seed in range(5):
        result = audit(model, X[4000:], y[4000:], risks=[target], delta=0.01, seed=seed)
        (point,) = result.operating_points
        assert point.n_answered > 0.3 * result.n_evaluation  # a useful threshold, not "none"
        sd = np.sqrt(target * (1 - target) / point.n_answered)
        assert point.selective_risk is not None
        assert point.selective_risk <= target + 3 * sd, (seed, point)


def test_the_cost_rule_is_cheaper_than_answering_all_or_reviewing_all() -> None:
    X, y = _classification(8000, 2)
    model = GaussianNB().fit(X[:2000], y[:2000])
    result = audit(model, X[2000:], y[2000:], cost_error=1.0, cost_review=0.25)
    (point,) = result.operating_points
    assert point.kind == "cost" and point.expected_cost is not None
    error_rate = 1.0 - result.baseline["accuracy"]
    assert point.expected_cost <= min(error_rate, 0.25)
    assert 0.0 < point.coverage < 1.0
    assert point.threshold == pytest.approx(0.75)


def test_isotonic_is_skipped_under_1000_calibration_rows_with_a_note(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _audit_args(files, "--json")
    argv[argv.index(str(files["holdout_csv"]))] = str(files["small_csv"])
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    iso = next(m for m in json.loads(out)["calibration"] if m["method"] == "isotonic")
    assert iso["nll"] is None and "overfits under 1000" in iso["note"]


def test_a_regressor_gets_conformal_interval_widths(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "audit",
        "--model",
        str(files["ridge_skops"]),
        "--loader",
        "skops",
        "--data",
        str(files["regression_csv"]),
        "--target",
        "y",
        "--alpha",
        "0.1",
        "--alpha",
        "0.3",
        "--out",
        str(files["dir"] / "regression.html"),
        "--json",
    ]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["task"] == "regression" and result["recommended_calibration"] is None
    wide, narrow = result["conformal"]
    # coverage on 2,000 evaluation rows after 2,000 calibration rows: sd of the realized
    # share is about sqrt(a (1 - a) (1/2000 + 1/2000)) <= 0.015; allow 3 sd
    assert abs(wide["coverage"] - 0.9) < 0.045
    assert abs(narrow["coverage"] - 0.7) < 0.045
    assert wide["mean_width"] > narrow["mean_width"] > 0
    assert "Conformal prediction intervals" in Path(result["report"]).read_text("utf-8")


def test_skops_lists_untrusted_types_and_loads_them_only_when_trusted(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _audit_args(files)
    argv[argv.index(str(files["nb_skops"]))] = str(files["custom_skops"])
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert "_operator.neg" in err and "--trust _operator.neg" in err
    code, out, err = _run([*argv, "--trust", "_operator.neg"], capsys)
    assert code == 0, err
    assert "Pipeline" in out


class _Tripwire:
    """Unpickling this runs code: it creates a file. The audit must not do it unasked."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def test_without_a_loader_nothing_is_loaded(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "code-ran"
    trap = tmp_path / "trap.pkl"
    trap.write_bytes(pickle.dumps(_Tripwire(marker)))
    base = ["audit", "--model", str(trap), "--data", str(files["holdout_csv"])]
    base += ["--target", "label", "--out", str(tmp_path / "r.html")]
    code, _, err = _run(base, capsys)
    assert code == 2
    assert "refusing to load" in err and "--loader" in err and "run" in err
    assert not marker.exists()
    code, _, err = _run([*base, "--loader", "skops"], capsys)  # not a skops file: refused
    assert code == 2 and "skops" in err
    assert not marker.exists()
    # asked for explicitly, joblib unpickles, and the file's code runs: what the help says
    code, _, err = _run([*base, "--loader", "joblib"], capsys)
    assert marker.exists()
    assert code == 2 and "cannot use the loaded object as a model" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--data": "missing.csv"}, "does not exist"),
        ({"--model": "missing.skops"}, "does not exist"),
        ({"--target": "nope"}, "target column 'nope' is not in"),
        ({"--features": "x0,zz"}, "feature column(s) 'zz' not in"),
        ({"--features": "x0,label"}, "cannot also be a feature"),
        ({"--features": "x0,x1"}, "could not score the features: expected 8 features"),
        ({"--features": " , "}, "--features is empty"),
        ({"--target": "x0", "--features": ",".join([*FEATURES[1:], "label"])}, "not among"),
        ({"--risk": "1.5"}, "--risk must be a number in (0, 1)"),
        ({"--alpha": "0"}, "--alpha must be a number in (0, 1)"),
        ({"--delta": "1"}, "--delta must be a number in (0, 1)"),
        ({"--cal-size": "0.999"}, "too few scored rows"),
        ({"--cost-error": "2"}, "--cost-error needs --cost-review"),
        ({"--cost-review": "-1"}, "--cost-review must be a positive number"),
        ({"--out": "no/such/folder/r.html"}, "does not exist"),
        ({"--model": "garbage.bin"}, "cannot read"),
        ({"--model": "nb.joblib"}, "as a skops file"),
        ({"--data": "empty.csv"}, "cannot read"),
        ({"--loader": "pickle"}, "invalid choice"),
        ({"--risk": "abc"}, "invalid float value"),
        ({"--trust": "x.Y", "--loader": "joblib", "--model": "nb.joblib"}, "--trust applies"),
    ],
)
def test_every_bad_argument_exits_2_with_a_message(
    files: dict[str, Path],
    change: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = _audit_args(files)
    for flag, value in change.items():
        if flag in ("--data", "--model", "--out"):
            value = str(files["dir"] / value)
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    code, out, err = _run(argv, capsys)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err


def test_labels_outside_the_model_classes_are_named(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(files["holdout_csv"]).dropna()
    frame["label"] = frame["label"].map({0: "a", 1: "b", 2: "zebra"})
    frame.to_csv(tmp_path / "wrong.csv", index=False)
    argv = _audit_args(files)
    argv[argv.index(str(files["holdout_csv"]))] = str(tmp_path / "wrong.csv")
    code, _, err = _run(argv, capsys)
    assert code == 2 and "not among the model's classes" in err and "'zebra'" in err


def test_risk_targets_are_refused_for_a_regressor(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", "--model", str(files["ridge_skops"]), "--loader", "skops"]
    argv += ["--data", str(files["regression_csv"]), "--target", "y", "--risk", "0.1"]
    argv += ["--out", str(files["dir"] / "x.html")]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "is a regressor" in err


def test_a_non_model_object_is_refused(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _audit_args(files, loader="joblib")
    argv[argv.index(str(files["nb_joblib"]))] = str(files["dict_joblib"])
    code, _, err = _run(argv, capsys)
    assert code == 2 and "cannot use the loaded object as a model" in err


def test_the_command_runs_as_a_subprocess(files: dict[str, Path], tmp_path: Path) -> None:
    argv = _audit_args(files, "--risk", "0.1", "--json")
    argv[argv.index("--out") + 1] = str(tmp_path / "sub.html")
    done = subprocess.run(
        [sys.executable, "-m", "guardrails", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report"] == str((tmp_path / "sub.html").resolve())


def test_the_help_says_loading_can_run_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["audit", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    assert "CAN RUN ARBITRARY CODE" in text and "--trust TYPE" in text
    assert "runs whatever code it carries" in text
