# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats.anova against R 4.2.2 (aov, TukeyHSD, oneway.test, kruskal.test, t.test) on PlantGrowth.

Reference session: tests/reference/anova_reference.R -> anova_reference.txt; data in plantgrowth.csv.
R printed 15 significant digits; tolerance 1e-9 relative, except the Tukey interval bounds: those use the
studentized-range quantile, which R's qtukey computes only until its secant step is below 1e-4. For 3 groups
and 19 df R's quantile is off by ptukey(q) - 0.95 = -8.2e-9 (printed in anova_reference.txt) while scipy's
is exact to 1e-16, so the bounds agree to 3e-8 there; they are compared at 1e-7 absolute.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import kruskal_wallis, one_way_anova, t_test, tukey_hsd, welch_anova

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}
TUKEY_TOL = {"rel": 0, "abs": 1e-7}

with open(REF / "plantgrowth.csv", newline="") as handle:
    ROWS = list(csv.DictReader(handle))
WEIGHT = [float(r["weight"]) for r in ROWS]
GROUP = [r["group"] for r in ROWS]


def test_one_way_anova_plantgrowth():
    # > summary(aov(weight ~ group, PlantGrowth))
    #             Df   Sum Sq           Mean Sq F value  Pr(>F)
    # group        2  3.76634 1.883169999999999 4.84609 0.01591 *
    # Residuals   27 10.49209 0.388595925925926
    # F = 4.84608786238014  p = 0.0159099583256229
    # eta^2 = SSB / SST = 0.26414829683212
    r = one_way_anova(WEIGHT, GROUP)
    assert (r.df_between, r.df_within) == (2, 27)
    assert r.statistic == pytest.approx(4.84608786238014, **TOL)
    assert r.p_value == pytest.approx(0.0159099583256229, **TOL)
    assert r.eta_squared == pytest.approx(0.26414829683212, **TOL)
    assert r.ms_between == pytest.approx(1.883169999999999, **TOL)
    assert r.ms_within == pytest.approx(0.388595925925926, **TOL)
    assert [g.level for g in r.groups] == ["ctrl", "trt1", "trt2"]


def test_tukey_hsd_plantgrowth():
    # > TukeyHSD(aov(weight ~ group, PlantGrowth))$group
    #             diff                lwr               upr              p adj
    # trt1-ctrl -0.371 -1.062216051410459 0.320216051410458 0.3908711442021247
    # trt2-ctrl  0.494 -0.197216051410459 1.185216051410458 0.1979959912997082
    # trt2-trt1  0.865  0.173783948589542 1.556216051410459 0.0120064239794527
    expected = [
        ("ctrl", "trt1", -0.371, -1.062216051410459, 0.320216051410458, 0.3908711442021247),
        ("ctrl", "trt2", 0.494, -0.197216051410459, 1.185216051410458, 0.1979959912997082),
        ("trt1", "trt2", 0.865, 0.173783948589542, 1.556216051410459, 0.0120064239794527),
    ]
    rows = tukey_hsd(WEIGHT, GROUP).comparisons
    assert [(c.group1, c.group2) for c in rows] == [e[:2] for e in expected]
    for c, (_, _, diff, low, high, p) in zip(rows, expected, strict=True):
        assert c.diff == pytest.approx(diff, **TOL)
        assert c.conf_low == pytest.approx(low, **TUKEY_TOL)
        assert c.conf_high == pytest.approx(high, **TUKEY_TOL)
        assert c.p_adj == pytest.approx(p, **TOL)


def test_tukey_kramer_unbalanced():
    # > ub <- rbind(PlantGrowth[1:7, ], PlantGrowth[11:20, ], PlantGrowth[21:25, ])
    # F = 2.8739812438603  p = 0.0811959641249341
    # > TukeyHSD(aov(weight ~ group, data = ub))$group
    #                         diff                lwr               upr              p adj
    # trt1-ctrl -0.384714285714286 -1.254526945430248 0.485098374001676 0.5117056077264743
    # trt2-ctrl  0.522285714285714 -0.511205727155605 1.555777155727033 0.4210497326104020
    # trt2-trt1  0.907000000000000 -0.059742721509140 1.873742721509140 0.0682271073581241
    keep = list(range(0, 7)) + list(range(10, 20)) + list(range(20, 25))
    w, g = [WEIGHT[i] for i in keep], [GROUP[i] for i in keep]
    r = one_way_anova(w, g)
    assert r.statistic == pytest.approx(2.8739812438603, **TOL)
    assert r.p_value == pytest.approx(0.0811959641249341, **TOL)
    expected = [
        (-0.384714285714286, -1.254526945430248, 0.485098374001676, 0.5117056077264743),
        (0.522285714285714, -0.511205727155605, 1.555777155727033, 0.4210497326104020),
        (0.907000000000000, -0.059742721509140, 1.873742721509140, 0.0682271073581241),
    ]
    for c, (diff, low, high, p) in zip(tukey_hsd(w, g).comparisons, expected, strict=True):
        assert c.diff == pytest.approx(diff, **TOL)
        assert (c.conf_low, c.conf_high) == pytest.approx((low, high), **TUKEY_TOL)
        assert c.p_adj == pytest.approx(p, **TOL)


def test_welch_anova():
    # > oneway.test(weight ~ group, PlantGrowth, var.equal = FALSE)
    # F = 5.18097240811319  df =  2.0000000000000 17.1284186166441  p = 0.01739282149017
    r = welch_anova(WEIGHT, GROUP)
    assert r.statistic == pytest.approx(5.18097240811319, **TOL)
    assert (r.df_between, r.df_within) == pytest.approx((2.0, 17.1284186166441), **TOL)
    assert r.p_value == pytest.approx(0.01739282149017, **TOL)


def test_kruskal_wallis():
    # > kruskal.test(weight ~ group, PlantGrowth)
    # H = 7.98822874944372  df = 2  p = 0.018423755731472
    r = kruskal_wallis(WEIGHT, GROUP)
    assert r.statistic == pytest.approx(7.98822874944372, **TOL)
    assert r.df == 2
    assert r.p_value == pytest.approx(0.018423755731472, **TOL)


@pytest.mark.parametrize(
    ("equal_var", "expected"),
    [
        # > t.test(trt2, ctrl, var.equal = TRUE)
        # t = 2.13402045312406  df = 18  p = 0.0468513849115739  CI = 0.00766188343709511 0.98033811656290448
        (True, (2.13402045312406, 18, 0.0468513849115739, 0.00766188343709511, 0.98033811656290448)),
        # > t.test(trt2, ctrl, var.equal = FALSE)
        # t = 2.13402045312406  df = 16.7857644826057  p = 0.0478992556019693  CI = 0.00512786996464084 0.98287213003535867
        (False, (2.13402045312406, 16.7857644826057, 0.0478992556019693, 0.00512786996464084, 0.98287213003535867)),
    ],
)
def test_t_test(equal_var, expected):
    trt2 = [w for w, g in zip(WEIGHT, GROUP, strict=True) if g == "trt2"]
    ctrl = [w for w, g in zip(WEIGHT, GROUP, strict=True) if g == "ctrl"]
    r = t_test(trt2, ctrl, equal_var=equal_var)
    got = (r.statistic, r.df, r.p_value, r.conf_low, r.conf_high)
    assert got == pytest.approx(expected, **TOL)
    assert r.estimate == pytest.approx(0.494, **TOL)
    assert r.method == ("Two Sample t-test" if equal_var else "Welch Two Sample t-test")


def test_numeric_levels_sort_numerically_and_levels_can_be_given():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.5, 7.0, 8.0, 9.0]
    groups = ["10", "10", "10", "2", "2", "2", "1", "1", "1"]
    rows = tukey_hsd(values, groups).comparisons
    assert [(c.group1, c.group2) for c in rows] == [("1", "2"), ("1", "10"), ("2", "10")]
    assert rows[0].diff == pytest.approx(np.mean([4, 5, 6.5]) - 8.0)
    custom = tukey_hsd(values, groups, levels=["10", "2", "1"]).comparisons
    assert [(c.group1, c.group2) for c in custom] == [("10", "2"), ("10", "1"), ("2", "1")]


def test_missing_values_and_groups_are_dropped():
    r = one_way_anova([1, 2, np.nan, 4, 5, 6, 9], ["a", "a", "a", "b", "b", "", "b"])
    assert [g.n for g in r.groups] == [2, 3]


@pytest.mark.parametrize(
    ("function", "values", "groups", "message"),
    [
        (one_way_anova, [1, 2, 3], ["a", "a", "a"], "only one group has data"),
        (tukey_hsd, [1, 2, 3], ["a", "a", "a"], "only one group has data"),
        (one_way_anova, [1, 2], ["a", "b"], "every group has a single subject"),
        (one_way_anova, [1, 1, 1, 1], ["a", "a", "b", "b"], "all values are identical"),
        (one_way_anova, [1, "x", 2, 3], ["a", "a", "b", "b"], "values contain non-numeric values"),
        (one_way_anova, [1, 2, 3], ["a", "b"], "same number of values"),
        (welch_anova, [1, 2, 3], ["a", "a", "b"], "at least 2 subjects in every group"),
        (welch_anova, [1, 1, 2, 3], ["a", "a", "b", "b"], "identical values in every subject"),
        (kruskal_wallis, [2, 2, 2, 2], ["a", "a", "b", "b"], "all values are identical"),
    ],
)
def test_bad_input(function, values, groups, message):
    with pytest.raises(ValueError, match=message):
        function(values, groups)


def test_t_test_bad_input():
    with pytest.raises(ValueError, match="only one group has data"):
        t_test([1, 2, 3], [np.nan])
    with pytest.raises(ValueError, match="both groups have no variation"):
        t_test([1, 1, 1], [2, 2, 2])
