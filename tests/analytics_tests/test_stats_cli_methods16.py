"""``manage.py stats`` methods of issue #16: icc-lmm, roc-cutoff-ci, drift, icc-sample-size (exact JSON keys).

Numbers are the R references of the per-module tests (icc_lmm_reference.txt, drift_reference.txt,
sample_size_reference.txt); the bootstrap one is checked for its shape, seed and reproducibility here and for
its values in test_roc_cutoff_ci.py.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from analytics.stats_cli import CliError, run
from tests.analytics_tests.test_stats_cli import REF

TOL = {"rel": 1e-5, "abs": 1e-9}


def test_icc_lmm_keys_and_values():
    out = run("icc-lmm", REF / "icc_lmm_partial_reader.csv", subject="subject", rater="rater", score="score")
    assert list(out) == [
        "icc_agreement",
        "icc_consistency",
        "var_subject",
        "var_rater",
        "var_residual",
        "n_subjects",
        "n_raters",
        "n_ratings",
    ]
    # icc_agreement = 0.717801869353114 / icc_consistency = 0.833211351568553 (lme4, icc_lmm_reference.txt)
    assert out["icc_agreement"] == pytest.approx(0.717801869353114, **TOL)
    assert out["icc_consistency"] == pytest.approx(0.833211351568553, **TOL)
    assert (out["n_subjects"], out["n_raters"], out["n_ratings"]) == (61, 3, 126)


def test_drift_keys_and_values():
    # drift_reference.txt, upward drift: slope = 0.00618319936541513; conf_low = 0.00226587664636594
    # conf_high = 0.0101005220844643; p_value = 0.00250085500141026; n = 61
    out = run("drift", REF / "drift_upward.csv", score="score", position="position")
    assert list(out) == ["slope", "conf_low", "conf_high", "p_value", "n"]
    assert out == pytest.approx(
        {
            "slope": 0.00618319936541513,
            "conf_low": 0.00226587664636594,
            "conf_high": 0.0101005220844643,
            "p_value": 0.00250085500141026,
            "n": 61,
        },
        rel=1e-9,
    )


def test_roc_cutoff_ci_keys_seed_and_resamples():
    kwargs = {"score": "s100b", "truth": "outcome", "positive": "Poor", "direction": "higher"}
    out = run("roc-cutoff-ci", REF / "asah.csv", resamples=500, seed=3, **kwargs)
    assert list(out) == ["threshold", "conf_low", "conf_high", "sensitivity", "specificity", "resamples", "seed"]
    assert (out["resamples"], out["seed"]) == (500, 3)
    assert out["threshold"] == pytest.approx(0.205)
    assert out["conf_low"] <= out["threshold"] <= out["conf_high"]
    assert run("roc-cutoff-ci", REF / "asah.csv", resamples=500, seed=3, **kwargs) == out
    with pytest.raises(CliError, match="say which value of column 'outcome' is positive"):
        run("roc-cutoff-ci", REF / "asah.csv", score="s100b", truth="outcome")


def test_icc_sample_size_keys_and_values():
    # sample_size_reference.txt: rho1 = 0.8 rho0 = 0.6 k = 2: approx n = 38.60634886394 (ceiling 39);
    # power at ceiling = 0.800914059643137
    out = run("icc-sample-size", None, icc=0.8, null=0.6, raters=2)
    assert list(out) == ["n", "power_at_n"]
    assert out["n"] == 39 and out["power_at_n"] == pytest.approx(0.800914059643137, rel=1e-9)
    with pytest.raises(CliError, match="must be larger than the null value"):
        run("icc-sample-size", None, icc=0.6, null=0.8, raters=2)
    with pytest.raises(CliError, match="needs --icc"):
        run("icc-sample-size", None, icc=0.8)


def test_command_json_and_bad_input_exit_status(capsys):
    out = io.StringIO()
    call_command("stats", "icc-sample-size", "--icc", "0.9", "--null", "0.7", "--raters", "3", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"n": 13, "power_at_n": pytest.approx(0.811259549074117, rel=1e-9)}
    out = io.StringIO()
    call_command(
        "stats", "drift", "--csv", str(REF / "drift_none.csv"), "--score", "score", "--position", "position",
        "--json", stdout=out,
    )  # fmt: skip
    # no drift: p_value = 0.888763337967633
    assert json.loads(out.getvalue())["p_value"] == pytest.approx(0.888763337967633, rel=1e-9)
    with pytest.raises(SystemExit) as exit_info:
        call_command("stats", "icc-sample-size", "--icc", "1.5", "--null", "0.7", "--raters", "3", stderr=io.StringIO())
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        call_command("stats", "drift", "--score", "score", "--position", "position", stderr=io.StringIO())
