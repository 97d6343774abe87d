# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats_cli (the engine of ``manage.py stats``) and the management command itself.

The CLI is run on the reference CSVs, so its numbers are the R references of the per-module tests (same
R sessions, tests/reference/*.txt); here the point is the exact JSON shapes and the one-line errors.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analytics.stats_cli import METHODS, CliError, analyse, format_result, read_csv, run

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT / "tests" / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}

ICC_KEYS = {"estimate", "F", "df1", "df2", "p_value", "conf_low", "conf_high"}


def test_icc_shape_and_values():
    out = run("icc", REF / "shrout_fleiss.csv", target="target", rater="judge", rating="rating")
    assert list(out) == ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
    assert all(set(v) == ICC_KEYS for v in out.values())
    # psych::ICC(sf, lmer = FALSE): Single_random_raters 0.289763779527559 11.02724795640327 5 15
    #   0.000134566516484337 0.0187865133747120 0.761084369648953
    assert out["ICC2"] == pytest.approx(
        {
            "estimate": 0.289763779527559,
            "F": 11.02724795640327,
            "df1": 5,
            "df2": 15,
            "p_value": 0.000134566516484337,
            "conf_low": 0.0187865133747120,
            "conf_high": 0.761084369648953,
        },
        **TOL,
    )


def test_anova_shape_and_values():
    out = run("anova", REF / "plantgrowth.csv", value="weight", group="group")
    assert set(out) == {"F", "df_between", "df_within", "p_value", "eta_squared", "tukey"}
    # F = 4.84608786238014  p = 0.0159099583256229; eta^2 = 0.26414829683212
    assert out["F"] == pytest.approx(4.84608786238014, **TOL)
    assert out["p_value"] == pytest.approx(0.0159099583256229, **TOL)
    assert out["eta_squared"] == pytest.approx(0.26414829683212, **TOL)
    assert (out["df_between"], out["df_within"]) == (2, 27)
    # TukeyHSD rows trt1-ctrl, trt2-ctrl, trt2-trt1 (later level minus earlier level)
    assert [(r["group1"], r["group2"]) for r in out["tukey"]] == [("ctrl", "trt1"), ("ctrl", "trt2"), ("trt1", "trt2")]
    assert all(set(r) == {"group1", "group2", "diff", "conf_low", "conf_high", "p_adj"} for r in out["tukey"])
    # trt2-trt1  0.865  0.173783948589542 1.556216051410459 0.0120064239794527
    assert out["tukey"][2]["diff"] == pytest.approx(0.865, **TOL)
    assert out["tukey"][2]["p_adj"] == pytest.approx(0.0120064239794527, **TOL)


@pytest.mark.parametrize(("correct", "statistic"), [(False, 0.906882591093117), (True, 0.347535505430242)])
def test_chisq_shape_and_values(correct, statistic):
    out = run("chisq", REF / "mtcars.csv", a="am", b="vs", correct=correct)
    assert set(out) == {"statistic", "df", "p_value", "expected"}
    assert out["statistic"] == pytest.approx(statistic, **TOL)
    assert out["expected"] == [[10.6875, 8.3125], [7.3125, 5.6875]]


def test_correlations_shape_and_values():
    keys = {"estimate", "p_value", "conf_low", "conf_high"}
    p = run("pearson", REF / "mtcars.csv", x="wt", y="mpg")
    s = run("spearman", REF / "mtcars.csv", x="wt", y="mpg")
    assert set(p) == keys and set(s) == keys
    # cor.test(mtcars$wt, mtcars$mpg): -0.867659376517228, p 1.29395870135052e-10, CI -0.933826413284994 -0.744087196460113
    assert (p["estimate"], p["p_value"], p["conf_low"], p["conf_high"]) == pytest.approx(
        (-0.867659376517228, 1.29395870135052e-10, -0.933826413284994, -0.744087196460113), **TOL
    )
    # cor.test(..., method = "spearman"): -0.886422033270298, p 1.48759485812743e-11; no CI
    assert (s["estimate"], s["p_value"]) == pytest.approx((-0.886422033270298, 1.48759485812743e-11), **TOL)
    assert s["conf_low"] is None and s["conf_high"] is None


def test_regression_shape_and_values():
    out = run("regression", REF / "cars.csv", x="speed", y="dist")
    assert set(out) == {"slope", "intercept", "slope_se", "intercept_se", "r_squared", "p_value"}
    # summary(lm(dist ~ speed, cars))
    assert out == pytest.approx(
        {
            "slope": 3.93240875912409,
            "intercept": -17.57909489051089,
            "slope_se": 0.415512776657122,
            "intercept_se": 6.758440169379234,
            "r_squared": 0.651079380758251,
            "p_value": 1.48983649629509e-12,
        },
        **TOL,
    )


def test_roc_shape_and_values():
    out = run("roc", REF / "asah.csv", score="s100b", truth="outcome", positive="Poor")
    assert set(out) == {
        "auc",
        "conf_low",
        "conf_high",
        "p_value",
        "threshold",
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "youden",
        "p_value_delong",
    }
    # pROC: auc 0.731368563685637; ci.auc delong 0.630118211761623 0.832618915609651;
    # best: 0.205 0.805555555555556 0.634146341463415 0.65 0.794520547945205 (youden col 1.43970189701897)
    # SPSS p = 4.53267304175988e-05; DeLong Wald p = 7.50847432493533e-06
    assert out == pytest.approx(
        {
            "auc": 0.731368563685637,
            "conf_low": 0.630118211761623,
            "conf_high": 0.832618915609651,
            "p_value": 4.53267304175988e-05,
            "threshold": 0.205,
            "sensitivity": 0.634146341463415,
            "specificity": 0.805555555555556,
            "ppv": 0.65,
            "npv": 0.794520547945205,
            "youden": 0.43970189701897,
            "p_value_delong": 7.50847432493533e-06,
        },
        **TOL,
    )
    lower = run("roc", REF / "asah.csv", score="s100b", truth="outcome", positive="Poor", direction="lower")
    assert lower["auc"] == pytest.approx(0.268631436314363, **TOL)


def test_roc_with_three_outcomes_needs_negative(tmp_path):
    path = tmp_path / "groups.csv"
    path.write_text("vbq,group\n3.1,op\n2.9,op\n2.0,normal\n2.2,normal\n2.5,osteopenia\n")
    with pytest.raises(CliError, match="say which are negative with --negative"):
        run("roc", path, score="vbq", truth="group", positive="op")
    out, notes = analyse("roc", path, score="vbq", truth="group", positive="op", negative=["normal"])
    assert out["auc"] == 1.0
    assert any("1 left out" in note for note in notes)


def test_bland_altman_shape_and_values():
    out = run("bland-altman", REF / "irr_anxiety.csv", a="rater1", b="rater2")
    assert set(out) == {"bias", "sd", "loa_low", "loa_high"}
    # n = 20  bias = 0  sd = 1.62221421130763; loa = -/+ 3.17953985416295
    assert out == pytest.approx(
        {"bias": 0.0, "sd": 1.62221421130763, "loa_low": -3.17953985416295, "loa_high": 3.17953985416295}, **TOL
    )


def test_results_are_json_serialisable_and_formatted():
    for method, kwargs in (
        ("icc", {"target": "target", "rater": "judge", "rating": "rating"}),
        ("anova", {"value": "weight", "group": "group"}),
    ):
        path = REF / ("shrout_fleiss.csv" if method == "icc" else "plantgrowth.csv")
        out, notes = analyse(method, path, **kwargs)
        json.dumps(out, allow_nan=False)
        text = format_result(method, out, notes)
        assert ("ICC(2,1)" in text) if method == "icc" else ("trt2-trt1" in text)


def test_empty_cells_are_left_out_with_a_note(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("x,y\n1,2\n2,\n3,5\n4,3\n5,6\n")
    out, notes = analyse("pearson", path, x="x", y="y")
    assert notes[0] == "1 rows with an empty cell were left out"
    assert out["estimate"] == pytest.approx(np.corrcoef([1, 3, 4, 5], [2, 5, 3, 6])[0, 1], rel=1e-12)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("method", "text", "kwargs", "message"),
    [
        ("pearson", "x,y\n1,2\n", {"x": "x", "y": "z"}, "column 'z' not found in .*data.csv \\(columns: x, y\\)"),
        (
            "pearson",
            "x,y\n1,2\n2,abc\n3,4\n",
            {"x": "x", "y": "y"},
            "column 'y' has a non-numeric value 'abc' on line 3",
        ),
        ("anova", "v,g\n1,a\n2,a\n3,a\n", {"value": "v", "group": "g"}, "only one group has data"),
        (
            "icc",
            "t,r,v\n1,a,4\n1,b,4\n2,a,4\n2,b,4\n",
            {"target": "t", "rater": "r", "rating": "v"},
            "all ratings are identical",
        ),
        ("pearson", "x,y\n1,2\n1,3\n1,4\n", {"x": "x", "y": "y"}, "all x values are identical"),
        ("icc", "t,r,v\n1,a,4\n", {"target": "t", "rater": "r"}, "icc needs --target, --rater and --rating"),
        ("roc", "s,o\n1,a\n2,b\n", {"score": "s", "truth": "o"}, "say which is positive with --positive"),
        ("roc", "s,o\n1,a\n2,b\n", {"score": "s", "truth": "o", "positive": "c"}, "--positive 'c' does not occur"),
        ("pearson", "x,y\n", {"x": "x", "y": "y"}, "has a header but no data rows"),
        ("pearson", "", {"x": "x", "y": "y"}, "is empty"),
        ("pearson", "x,y\n1,inf\n", {"x": "x", "y": "y"}, "non-finite value"),
        ("pearson", "x,y\n,1\n2,\n", {"x": "x", "y": "y"}, "no row of .* has all of the columns"),
        ("median", "x\n1\n", {}, "unknown method 'median'"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, method, text, kwargs, message):
    with pytest.raises(CliError, match=message) as info:
        run(method, write(tmp_path, text), **kwargs)
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(CliError, match=r"cannot read .*nope.csv: no such file"):
        read_csv("nope.csv")


def test_methods_table():
    assert list(METHODS) == [
        "icc",
        "anova",
        "chisq",
        "pearson",
        "spearman",
        "regression",
        "roc",
        "bland-altman",
        "icc-lmm",
        "roc-cutoff-ci",
        "drift",
        "icc-sample-size",
    ]


# ---------------------------------------------------------------------------------------------------------
# the management command


def _django_ready() -> bool:
    try:
        from django.apps import apps

        return apps.ready and apps.is_installed("analytics")
    except Exception:
        return False


needs_django = pytest.mark.skipif(not _django_ready(), reason="Django settings are not loaded (-p no:django)")


@needs_django
def test_call_command_json():
    from django.core.management import call_command

    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "stats", "roc", csv=str(REF / "asah.csv"), score="s100b", truth="outcome", positive="Poor",
        json=True, stdout=stdout, stderr=stderr,
    )  # fmt: skip
    out = json.loads(stdout.getvalue())
    assert out["auc"] == pytest.approx(0.731368563685637, **TOL)


@needs_django
def test_call_command_bad_input_exits_2():
    from django.core.management import call_command

    stderr = io.StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("stats", "pearson", csv=str(REF / "asah.csv"), x="outcome", y="age", stderr=stderr)
    assert info.value.code == 2
    assert stderr.getvalue().strip() == (
        "stats pearson: column 'outcome' has a non-numeric value 'Good' on line 2 of " + str(REF / "asah.csv")
    )


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "stats", *args],
        cwd=REF,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not (ROOT / "manage.py").exists(), reason="no manage.py")
def test_manage_py_stats_end_to_end():
    ok = manage(
        "icc", "--csv", "shrout_fleiss.csv", "--target", "target", "--rater", "judge", "--rating", "rating", "--json"
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ICC3k"]["estimate"] == pytest.approx(0.909315542377069, **TOL)
    table = manage("anova", "--csv", "plantgrowth.csv", "--value", "weight", "--group", "group")
    assert table.returncode == 0 and "trt2-trt1" in table.stdout
    bad = manage("chisq", "--csv", "mtcars.csv", "--a", "cyl", "--b", "nope")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["stats chisq: column 'nope' not found in mtcars.csv (columns: "
                                               "model, mpg, cyl, disp, hp, drat, wt, qsec, vs, am, gear, carb)"]  # fmt: skip
