# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats.youden_cutoff_ci against pROC 1.18.0 ``ci.coords`` (R 4.2.2), aSAH s100b, Poor positive.

Reference session: tests/reference/roc_cutoff_ci_reference.R -> roc_cutoff_ci_reference.txt. A bootstrap's
numbers depend on the random numbers, which numpy and R draw differently, so the validation has two parts:

1. The procedure, exactly: R drew 500 stratified resamples (``roc_cutoff_resamples.csv``) and found each one's
   best Youden point with pROC's ``coords``; the Python replicates on the same resamples must be identical and
   their type-7 percentiles equal R's to 1e-12.
2. The distribution: pROC's own ``ci.coords(..., boot.n = 2000, boot.stratified = TRUE)`` run with 8 seeds
   gives bounds that move from seed to seed by one or two steps of the score (the Monte Carlo error of 2,000
   resamples); the Python interval (seed 16, 2,000 resamples) must lie within the range of R's 8 bounds. That
   range is the tolerance: tighter would test the random numbers, not the method.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import roc_analysis, youden_bootstrap_replicates, youden_cutoff_ci

REF = Path(__file__).resolve().parents[1] / "reference"


def asah() -> tuple[list[float], list[str]]:
    with open(REF / "asah.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [float(r["s100b"]) for r in rows], [r["outcome"] for r in rows]


def test_fixed_resamples_reproduce_r_exactly():
    # ==== fixed resamples (roc_cutoff_resamples.csv) ====
    # first 5 resamples' best points:
    #      threshold       sensitivity       specificity
    # [1,]     0.210 0.682926829268293 0.819444444444444
    # [2,]     0.205 0.634146341463415 0.847222222222222
    # [3,]     0.210 0.682926829268293 0.888888888888889
    # [4,]     0.290 0.463414634146341 0.847222222222222
    # [5,]     0.155 0.658536585365854 0.791666666666667
    # threshold quantiles = 0.155 0.205 0.510
    # sensitivity quantiles = 0.414634146341463 0.634146341463415 0.804878048780488
    # specificity quantiles = 0.694444444444444 0.819444444444444 1.000000000000000
    # sum of thresholds = 112.72
    scores, outcome = asah()
    cases = [s for s, o in zip(scores, outcome, strict=True) if o == "Poor"]
    controls = [s for s, o in zip(scores, outcome, strict=True) if o == "Good"]
    with open(REF / "roc_cutoff_resamples.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    case_idx = [[int(i) for i in r["case_positions"].split()] for r in rows]
    control_idx = [[int(i) for i in r["control_positions"].split()] for r in rows]
    reps = youden_bootstrap_replicates(
        cases, controls, direction="higher", case_indices=case_idx, control_indices=control_idx
    )
    first = [
        (0.210, 0.682926829268293, 0.819444444444444),
        (0.205, 0.634146341463415, 0.847222222222222),
        (0.210, 0.682926829268293, 0.888888888888889),
        (0.290, 0.463414634146341, 0.847222222222222),
        (0.155, 0.658536585365854, 0.791666666666667),
    ]
    np.testing.assert_allclose(reps[:5], first, rtol=1e-12)
    assert reps[:, 0].sum() == pytest.approx(112.72, rel=1e-12)
    expected = {
        0: (0.155, 0.205, 0.510),
        1: (0.414634146341463, 0.634146341463415, 0.804878048780488),
        2: (0.694444444444444, 0.819444444444444, 1.0),
    }
    for column, want in expected.items():
        got = np.quantile(reps[:, column], [0.025, 0.5, 0.975], method="linear")
        np.testing.assert_allclose(got, want, rtol=1e-12)


# seed s: threshold low median high | sensitivity low median high | specificity low median high   (pROC ci.coords)
PROC_SEEDS = [
    (0.115, 0.205, 0.51, 0.341463414634146, 0.634146341463415, 0.804878048780488, 0.638888888888889, 0.819444444444444, 1),
    (0.12, 0.205, 0.485, 0.390243902439024, 0.634146341463415, 0.804878048780488, 0.652777777777778, 0.819444444444444, 1),
    (0.119875, 0.205, 0.485, 0.390243902439024, 0.634146341463415, 0.804878048780488, 0.652430555555556, 0.819444444444444, 1),
    (0.119875, 0.205, 0.51, 0.365853658536585, 0.634146341463415, 0.804878048780488, 0.666666666666667, 0.819444444444444, 1),
    (0.12, 0.205, 0.475, 0.390243902439024, 0.634146341463415, 0.804878048780488, 0.666319444444445, 0.819444444444444, 0.986111111111111),
    (0.155, 0.205, 0.51, 0.365853658536585, 0.634146341463415, 0.804878048780488, 0.680555555555556, 0.819444444444444, 1),
    (0.155, 0.205, 0.485, 0.390243902439024, 0.634146341463415, 0.804878048780488, 0.680555555555556, 0.819444444444444, 0.986111111111111),
    (0.115, 0.205, 0.500249999999999, 0.365853658536585, 0.634146341463415, 0.804878048780488, 0.625, 0.819444444444444, 1),
]  # fmt: skip


def test_interval_lies_within_procs_seed_to_seed_range():
    scores, outcome = asah()
    result = youden_cutoff_ci(scores, outcome, direction="higher", positive="Poor")
    assert (result.resamples, result.seed) == (2000, 16)
    # coords(r, "best"): threshold 0.205, sensitivity 0.634146341463415, specificity 0.805555555555556
    assert result.threshold == pytest.approx(0.205, rel=1e-12)
    assert result.sensitivity == pytest.approx(0.634146341463415, rel=1e-12)
    assert result.specificity == pytest.approx(0.805555555555556, rel=1e-12)
    columns = np.array(PROC_SEEDS).T
    got = [
        result.conf_low,
        result.threshold_median,
        result.conf_high,
        result.sensitivity_conf_low,
        None,
        result.sensitivity_conf_high,
        result.specificity_conf_low,
        None,
        result.specificity_conf_high,
    ]
    for value, column in zip(got, columns, strict=True):
        if value is not None:
            assert column.min() - 1e-12 <= value <= column.max() + 1e-12, (value, column)


def test_seeded_and_reproducible_and_point_matches_roc_analysis():
    scores, outcome = asah()
    a = youden_cutoff_ci(scores, outcome, direction="higher", positive="Poor", resamples=300, seed=7)
    b = youden_cutoff_ci(scores, outcome, direction="higher", positive="Poor", resamples=300, seed=7)
    assert a == b
    point = roc_analysis(scores, outcome, direction="higher", positive="Poor").cutoff
    assert a.threshold == point.threshold
    assert a.sensitivity == point.sensitivity.estimate and a.specificity == point.specificity.estimate
    lower = youden_cutoff_ci(scores, outcome, direction="lower", positive="Poor", resamples=300)
    # The wrong direction for s100b: some resamples' best threshold is +inf (everyone positive), kept as inf.
    assert not np.isnan([lower.conf_low, lower.threshold_median, lower.conf_high]).any()
    assert lower.conf_low <= lower.threshold_median <= lower.conf_high


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resamples": 10}, "whole number from 100 to 100,000"),
        ({"resamples": 2000.5}, "whole number from 100 to 100,000"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"direction": "up"}, "direction must be"),
    ],
)
def test_bad_settings(kwargs, message):
    scores, outcome = asah()
    options = {"direction": "higher", "positive": "Poor"} | kwargs
    with pytest.raises(ValueError, match=message):
        youden_cutoff_ci(scores, outcome, **options)


def test_too_few_positives():
    with pytest.raises(ValueError, match="at least 5 positive and 5 negative subjects, got 3 positive and 6 negative"):
        youden_cutoff_ci([1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 0, 0, 0, 0, 0, 1, 1, 1], direction="higher")
