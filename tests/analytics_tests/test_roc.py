# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats.roc against pROC 1.18.0 (R 4.2.2) on pROC's aSAH data.

Reference session: tests/reference/roc_reference.R -> roc_reference.txt; the data are exported to
tests/reference/asah.csv (wfns as its numeric score 1..5). R printed 15 significant digits; tolerance
1e-9 relative unless stated.
"""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import roc_analysis, roc_auc_delong, roc_auc_null_test, roc_test_delong, wilson_ci

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}


def load_asah() -> dict[str, list]:
    with open(REF / "asah.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "outcome": [r["outcome"] for r in rows],
        "s100b": [float(r["s100b"]) for r in rows],
        "ndka": [float(r["ndka"]) for r in rows],
        "wfns": [float(r["wfns"]) for r in rows],
    }


ASAH = load_asah()


def s100b(direction: str = "higher"):
    return roc_analysis(ASAH["s100b"], ASAH["outcome"], positive="Poor", direction=direction)


def test_asah_s100b_auc_and_delong_ci():
    # > r <- roc(aSAH$outcome, aSAH$s100b, levels = c("Good", "Poor"), direction = "<")
    # auc = 0.731368563685637
    # var (delong) = 0.00266868245717244
    # ci.auc delong = 0.630118211761623 0.731368563685637 0.832618915609651
    r = s100b()
    assert (r.n_positive, r.n_negative) == (41, 72)
    assert r.auc == pytest.approx(0.731368563685637, **TOL)
    assert r.variance == pytest.approx(0.00266868245717244, **TOL)
    assert r.conf_low == pytest.approx(0.630118211761623, **TOL)
    assert r.conf_high == pytest.approx(0.832618915609651, **TOL)
    assert roc_auc_delong(ASAH["s100b"], ASAH["outcome"], positive="Poor", direction="higher") == pytest.approx(
        (0.731368563685637, 0.630118211761623, 0.832618915609651), **TOL
    )


def test_asah_s100b_p_values():
    # > n1 <- 41; n0 <- 72; se0 <- sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    # aSAH s100b: SE0 = 0.0567288038087515  p = 4.53267304175988e-05
    # aSAH s100b DeLong Wald p = 7.50847432493533e-06
    r = s100b()
    assert r.se_null == pytest.approx(0.0567288038087515, **TOL)
    assert r.p_value == pytest.approx(4.53267304175988e-05, **TOL)
    assert r.p_value_delong == pytest.approx(7.50847432493533e-06, **TOL)


def test_asah_s100b_youden_best():
    # > coords(r, "best", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv", "youden", "tp", "fp", "tn", "fn"))
    #           threshold       specificity       sensitivity  ppv               npv           youden tp fp tn fn
    # threshold     0.205 0.805555555555556 0.634146341463415 0.65 0.794520547945205 1.43970189701897 26 14 58 15
    # (pROC's "youden" column is sens + spec; J = that - 1)
    cut = s100b().cutoff
    assert cut.threshold == pytest.approx(0.205, **TOL)
    assert cut.specificity.estimate == pytest.approx(0.805555555555556, **TOL)
    assert cut.sensitivity.estimate == pytest.approx(0.634146341463415, **TOL)
    assert cut.ppv.estimate == pytest.approx(0.65, **TOL)
    assert cut.npv.estimate == pytest.approx(0.794520547945205, **TOL)
    assert cut.youden == pytest.approx(1.43970189701897 - 1, **TOL)
    assert (cut.tp, cut.fp, cut.tn, cut.fn) == (26, 14, 58, 15)
    assert cut.tied_thresholds == pytest.approx((0.205,))


def test_asah_s100b_wilson_intervals():
    # > prop.test(x, n, correct = FALSE)$conf.int
    # sensitivity: 26/41 = 0.634146341463415  Wilson [0.48120701087912, 0.764101689803105]
    # specificity: 58/72 = 0.805555555555556  Wilson [0.699672410541115, 0.880485206205494]
    # ppv: 26/40 = 0.65  Wilson [0.495058808372577, 0.778654711268237]
    # npv: 58/73 = 0.794520547945205  Wilson [0.688263469848586, 0.871330278889819]
    cut = s100b().cutoff
    expected = {
        "sensitivity": (26, 41, 0.48120701087912, 0.764101689803105),
        "specificity": (58, 72, 0.699672410541115, 0.880485206205494),
        "ppv": (26, 40, 0.495058808372577, 0.778654711268237),
        "npv": (58, 73, 0.688263469848586, 0.871330278889819),
    }
    for name, (count, total, low, high) in expected.items():
        ci = getattr(cut, name)
        assert (ci.count, ci.total) == (count, total)
        assert ci.conf_low == pytest.approx(low, **TOL)
        assert ci.conf_high == pytest.approx(high, **TOL)


def parse_all_coords() -> list[tuple[float, ...]]:
    """The 51-row table printed by coords(r, "all", ...) in roc_reference.txt."""
    text = (REF / "roc_reference.txt").read_text()
    block = text.split("-- all thresholds --")[1].split("====")[0]
    rows = []
    for line in block.splitlines():
        parts = line.split()
        if parts and re.fullmatch(r"\d+", parts[0]):
            rows.append(tuple(float(p) for p in parts[1:]))  # "-Inf", "Inf", "NaN" parse as floats
    return rows


def test_asah_s100b_all_thresholds_match_coords_all():
    # > coords(r, "all", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv"))  (51 rows, see .txt)
    expected = parse_all_coords()
    assert len(expected) == 51
    curve = s100b().curve
    assert curve.threshold.size == 51
    for i, (threshold, spec, sens, ppv, npv) in enumerate(expected):
        assert curve.threshold[i] == pytest.approx(threshold, **TOL)
        assert curve.specificity[i] == pytest.approx(spec, **TOL)
        assert curve.sensitivity[i] == pytest.approx(sens, **TOL)
        for got, want in ((curve.ppv[i], ppv), (curve.npv[i], npv)):
            if np.isnan(want):
                assert np.isnan(got)
            else:
                assert got == pytest.approx(want, **TOL)


def test_asah_s100b_lower_direction():
    # > rl <- roc(aSAH$outcome, aSAH$s100b, levels = c("Good", "Poor"), direction = ">")
    # auc = 0.268631436314363
    # ci.auc delong = 0.167381084390349 0.268631436314363 0.369881788238377
    # > coords(rl, "best", ret = c("threshold", "specificity", "sensitivity", "ppv", "npv"))
    #           threshold specificity       sensitivity ppv               npv
    # threshold     0.035           1 0.024390243902439   1 0.642857142857143
    r = s100b("lower")
    assert r.auc == pytest.approx(0.268631436314363, **TOL)
    assert (r.conf_low, r.conf_high) == pytest.approx((0.167381084390349, 0.369881788238377), **TOL)
    cut = r.cutoff
    assert cut.threshold == pytest.approx(0.035, **TOL)
    assert cut.specificity.estimate == 1.0
    assert cut.sensitivity.estimate == pytest.approx(0.024390243902439, **TOL)
    assert cut.ppv.estimate == 1.0
    assert cut.npv.estimate == pytest.approx(0.642857142857143, **TOL)


@pytest.mark.parametrize(
    ("marker", "auc", "ci", "best"),
    [
        # > rn <- roc(aSAH$outcome, aSAH$ndka, levels = c("Good", "Poor"), direction = "<")
        # auc = 0.611957994579946
        # ci.auc delong = 0.501244999271703 0.611957994579946 0.722670989888189
        #           threshold       specificity       sensitivity      ppv               npv
        # threshold     11.08 0.513888888888889 0.707317073170732 0.453125 0.755102040816326
        (
            "ndka",
            0.611957994579946,
            (0.501244999271703, 0.722670989888189),
            (11.08, 0.513888888888889, 0.707317073170732, 0.453125, 0.755102040816326),
        ),
        # > rw <- roc(aSAH$outcome, as.numeric(as.character(aSAH$wfns)), levels = c("Good", "Poor"), direction = "<")
        # auc = 0.823678861788618
        # ci.auc delong = 0.748534887819453 0.823678861788618 0.898822835757783
        #           threshold       specificity       sensitivity               ppv npv
        # threshold       3.5 0.833333333333333 0.634146341463415 0.684210526315789 0.8
        (
            "wfns",
            0.823678861788618,
            (0.748534887819453, 0.898822835757783),
            (3.5, 0.833333333333333, 0.634146341463415, 0.684210526315789, 0.8),
        ),
    ],
)
def test_asah_other_markers(marker, auc, ci, best):
    r = roc_analysis(ASAH[marker], ASAH["outcome"], positive="Poor", direction="higher")
    assert r.auc == pytest.approx(auc, **TOL)
    assert (r.conf_low, r.conf_high) == pytest.approx(ci, **TOL)
    cut = r.cutoff
    got = (cut.threshold, cut.specificity.estimate, cut.sensitivity.estimate, cut.ppv.estimate, cut.npv.estimate)
    assert got == pytest.approx(best, **TOL)


def test_paired_delong_s100b_vs_wfns():
    # > roc.test(r, rw, method = "delong", paired = TRUE)
    # DeLong's test for two correlated ROC curves
    # Z = -2.208983591441, p-value = 0.0271757822292
    # 95 percent confidence interval:
    #  -0.1742144192494776 -0.0104061769564846
    # sample estimates:
    #       AUC of roc1       AUC of roc2
    # 0.731368563685637 0.823678861788618
    # Z = -2.20898359144091  p = 0.0271757822291882
    t = roc_test_delong(ASAH["s100b"], ASAH["wfns"], ASAH["outcome"], positive="Poor", direction="higher")
    assert t.statistic == pytest.approx(-2.20898359144091, **TOL)
    assert t.p_value == pytest.approx(0.0271757822291882, **TOL)
    assert (t.conf_low, t.conf_high) == pytest.approx((-0.1742144192494776, -0.0104061769564846), **TOL)
    assert (t.auc1, t.auc2) == pytest.approx((0.731368563685637, 0.823678861788618), **TOL)


def test_paired_delong_s100b_vs_ndka():
    # > roc.test(r, rn, method = "delong", paired = TRUE)
    # Z = 1.390770025736, p-value = 0.164295175223
    # 95 percent confidence interval:
    #  -0.0488706064228094  0.2876917446341914
    # Z = 1.39077002573558  p = 0.164295175223054
    t = roc_test_delong(ASAH["s100b"], ASAH["ndka"], ASAH["outcome"], positive="Poor", direction="higher")
    assert t.statistic == pytest.approx(1.39077002573558, **TOL)
    assert t.p_value == pytest.approx(0.164295175223054, **TOL)
    assert (t.conf_low, t.conf_high) == pytest.approx((-0.0488706064228094, 0.2876917446341914), **TOL)


def test_paired_delong_of_a_score_with_itself_is_zero():
    t = roc_test_delong(ASAH["s100b"], ASAH["s100b"], ASAH["outcome"], positive="Poor", direction="higher")
    assert t.statistic == 0.0 and t.p_value == 1.0


def test_design_spss_p_value():
    # DESIGN.md: VBQ seed "AUC 0.754, P = 0.006" for 19 osteoporosis vs 21 normal.
    # > se0 <- sqrt((19 + 21 + 1) / (12 * 19 * 21)); 2 * pnorm(-abs(0.754 - 0.5) / se0)
    # SE0 = 0.0925368810396592  z = 2.74485153536936  p = 0.00605382782188621
    z, p, se0 = roc_auc_null_test(0.754, 19, 21)
    assert se0 == pytest.approx(0.0925368810396592, **TOL)
    assert z == pytest.approx(2.74485153536936, **TOL)
    assert p == pytest.approx(0.00605382782188621, **TOL)
    assert round(p, 3) == 0.006
    # and through roc_analysis: 19 positives that beat 301 of the 399 (positive, negative) pairs, AUC
    # 301/399 = 0.7544 (the attainable value nearest 0.754). Negatives 0..20; 8 positives at 20.5 beat
    # all 21, 10 at 11.5 beat 12 each, 1 at 12.5 beats 13: 168 + 120 + 13 = 301.
    controls = np.arange(21, dtype=float)
    cases = np.array([20.5] * 8 + [11.5] * 10 + [12.5])
    r = roc_analysis(np.concatenate([cases, controls]), [1] * 19 + [0] * 21, direction="higher")
    assert r.auc == pytest.approx(301 / 399, rel=1e-12)
    assert r.p_value == pytest.approx(roc_auc_null_test(301 / 399, 19, 21)[1], rel=1e-12)
    assert round(r.p_value, 3) == 0.006


def brute_force(cases: np.ndarray, controls: np.ndarray) -> tuple[float, float]:
    """DeLong by its O(m n) definition."""
    psi = (cases[:, None] > controls[None, :]) + 0.5 * (cases[:, None] == controls[None, :])
    auc = psi.mean()
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return auc, v10.var(ddof=1) / cases.size + v01.var(ddof=1) / controls.size


@pytest.mark.parametrize("seed", range(6))
def test_fast_delong_equals_definition(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(2, 60, size=2)
    cases = rng.integers(0, 12, size=m).astype(float)  # many ties
    controls = rng.integers(-2, 9, size=n).astype(float)
    scores = np.concatenate([cases, controls])
    truth = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    r = roc_analysis(scores, truth, direction="higher")
    auc, var = brute_force(cases, controls)
    assert r.auc == pytest.approx(auc, rel=1e-12)
    assert r.variance == pytest.approx(var, rel=1e-10, abs=1e-15)
    lower = roc_analysis(scores, truth, direction="lower")
    auc_l, var_l = brute_force(-cases, -controls)
    assert lower.auc == pytest.approx(auc_l, rel=1e-12)
    assert lower.variance == pytest.approx(var_l, rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_curve_counts_by_definition(seed):
    rng = np.random.default_rng(100 + seed)
    scores = rng.integers(0, 8, size=40).astype(float)
    truth = rng.random(40) < 0.5
    truth[:2], truth[2:4] = True, False
    for direction in ("higher", "lower"):
        curve = roc_analysis(scores, truth, direction=direction).curve
        for t, tp, fp in zip(curve.threshold, curve.tp, curve.fp, strict=True):
            called = scores >= t if direction == "higher" else scores <= t
            assert tp == np.sum(called & truth) and fp == np.sum(called & ~truth)


def test_youden_ties_are_listed_and_highest_sensitivity_wins():
    # cases 2, 4; controls 1, 3: thresholds 1.5 (sens 1, spec 0.5) and 3.5 (sens 0.5, spec 1) both give J = 0.5
    r = roc_analysis([2, 4, 1, 3], [1, 1, 0, 0], direction="higher")
    assert r.cutoff.tied_thresholds == (1.5, 3.5)
    assert r.cutoff.threshold == 1.5
    assert r.cutoff.sensitivity.estimate == 1.0
    assert r.cutoff.youden == 0.5


def test_threshold_near_ties_follow_proc():
    # adjacent floating-point values: their midpoint rounds onto one of them, and pROC moves it so that
    # "score >= t" (direction "<") or "score <= t" (direction ">") still separates the two
    a = 1.0
    b = np.nextafter(a, 2.0)
    higher = roc_analysis([b, b, a, a], [1, 1, 0, 0], direction="higher")
    assert higher.curve.threshold[1] == b
    assert higher.auc == 1.0 and higher.cutoff.threshold == b
    lower = roc_analysis([a, a, b, b], [1, 1, 0, 0], direction="lower")
    assert lower.curve.threshold[1] == a
    assert lower.auc == 1.0 and lower.cutoff.threshold == a


def test_wilson_ci_edges():
    # prop.test(0, 10, correct = FALSE)$conf.int = 0.000000000000000 0.277532799862889
    # prop.test(10, 10, correct = FALSE)$conf.int = 0.722467200137111 1.000000000000000
    zero = wilson_ci(0, 10)
    assert zero.conf_low == 0.0 and zero.conf_high == pytest.approx(0.277532799862889, **TOL)
    full = wilson_ci(10, 10)
    assert full.conf_high == 1.0 and full.conf_low == pytest.approx(0.722467200137111, **TOL)
    assert np.isnan(wilson_ci(0, 0).estimate)


def test_outcome_selection_leaves_others_out():
    scores = [3.0, 2.9, 1.0, 1.2, 2.0, 2.1]
    groups = ["osteoporosis", "osteoporosis", "normal", "normal", "osteopenia", "osteopenia"]
    with pytest.raises(ValueError, match="more than two values"):
        roc_analysis(scores, groups, positive="osteoporosis", direction="higher")
    r = roc_analysis(scores, groups, positive="osteoporosis", negative="normal", direction="higher")
    assert (r.n_positive, r.n_negative, r.n_excluded) == (2, 2, 2)
    assert r.auc == 1.0


def test_missing_scores_are_left_out_and_bool_outcomes_work():
    r = roc_analysis([1.0, np.nan, 3.0, 4.0, 0.5, 2.0], [False, True, True, True, False, False], direction="higher")
    assert (r.n_positive, r.n_negative, r.n_excluded) == (2, 3, 1)
    assert r.auc == 1.0
    assert r.to_dict()["cutoff"]["threshold"] == r.cutoff.threshold
    assert "curve" not in r.to_dict() and len(r.to_dict(curve=True)["curve"]["threshold"]) == 6


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([1, 2, 3], [1, 1, 1]), {"direction": "higher"}, "only one outcome group has data"),
        (([1, 2, 3], [1, 0, 0]), {"direction": "higher"}, "at least 2 positive and 2 negative"),
        (([1, 2, 3, 4], [1, 1, 0, 0]), {"direction": "up"}, "direction must be 'higher'"),
        (([1, 2, "x", 4], [1, 1, 0, 0]), {"direction": "higher"}, "scores contain non-numeric values"),
        (([1, 2, 3, 4], ["a", "a", "b", "b"]), {"direction": "higher"}, "say which outcome value is positive"),
        (([1, 2, 3, 4], ["a", "a", "b", "b"]), {"direction": "higher", "positive": "c"}, "does not occur"),
        (([1, 2, 3], [1, 1, 0, 0]), {"direction": "higher"}, "same number of values"),
    ],
)
def test_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        roc_analysis(*args, **kwargs)


def test_direction_is_required():
    with pytest.raises(TypeError):
        roc_analysis([1, 2, 3, 4], [1, 1, 0, 0])  # type: ignore[call-arg]


def test_all_orderings_of_small_case_agree_with_definition():
    # every assignment of 2 positives among 5 distinct scores
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.7])
    for chosen in itertools.combinations(range(5), 2):
        truth = np.isin(np.arange(5), chosen)
        auc, var = brute_force(scores[truth], scores[~truth])
        r = roc_analysis(scores, truth, direction="higher")
        assert r.auc == pytest.approx(auc) and r.variance == pytest.approx(var)
