# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats.correlation against R 4.2.2 cor.test.

Reference session: tests/reference/correlation_reference.R -> correlation_reference.txt; data in mtcars.csv,
cars.csv, lifecyclesavings.csv, longley.csv (and sequences generated in the script and here). R printed
15 significant digits; tolerance 1e-9 relative.
"""

from __future__ import annotations

import csv
import itertools
from math import factorial
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import pearson, spearman, spearman_rho_pvalue

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}


def load(name: str) -> dict[str, list[float]]:
    with open(REF / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(r[key]) for r in rows] for key in rows[0] if key != "model"}


MTCARS = load("mtcars.csv")
CARS = load("cars.csv")
LONGLEY = load("longley.csv")
LCS = load("lifecyclesavings.csv")


def test_pearson_mtcars():
    # > cor.test(mtcars$wt, mtcars$mpg)
    # n = 32  estimate = -0.867659376517228  statistic = -9.55904414697211  p = 1.29395870135052e-10
    # CI = -0.933826413284994 -0.744087196460113
    r = pearson(MTCARS["wt"], MTCARS["mpg"])
    assert r.estimate == pytest.approx(-0.867659376517228, **TOL)
    assert r.statistic == pytest.approx(-9.55904414697211, **TOL)
    assert r.df == 30
    assert r.p_value == pytest.approx(1.29395870135052e-10, **TOL)
    assert (r.conf_low, r.conf_high) == pytest.approx((-0.933826413284994, -0.744087196460113), **TOL)


def test_pearson_cars():
    # > cor.test(cars$speed, cars$dist)
    # n = 50  estimate = 0.80689490068921  statistic = 9.46398999029837  p = 1.48983649629509e-12
    # CI = 0.681642222094305 0.886203628526015
    r = pearson(CARS["speed"], CARS["dist"])
    assert r.estimate == pytest.approx(0.80689490068921, **TOL)
    assert r.p_value == pytest.approx(1.48983649629509e-12, **TOL)
    assert (r.conf_low, r.conf_high) == pytest.approx((0.681642222094305, 0.886203628526015), **TOL)


SPEARMAN_CASES = {
    # > cor.test(longley$GNP, longley$Unemployed, method='spearman') (n=16, no ties)
    # n = 16  estimate = 0.638235294117647  statistic = 246  p = 0.00937492617574835
    "longley16": (LONGLEY["GNP"], LONGLEY["Unemployed"], 0.638235294117647, 246, 0.00937492617574835),
    # > cor.test(longley$Unemployed[1:8], longley$Armed.Forces[1:8], method='spearman') (n=8: exact enumeration)
    # n = 8  estimate = -0.476190476190476  statistic = 124  p = 0.243055555555556
    "longley8": (LONGLEY["Unemployed"][:8], LONGLEY["Armed.Forces"][:8], -0.476190476190476, 124, 0.243055555555556),
    # > cor.test(longley$Unemployed[1:5], longley$Armed.Forces[1:5], method='spearman') (n=5)
    # n = 5  estimate = -0.1  statistic = 22  p = 0.95
    "longley5": (LONGLEY["Unemployed"][:5], LONGLEY["Armed.Forces"][:5], -0.1, 22, 0.95),
    # > cor.test(LifeCycleSavings$pop15, LifeCycleSavings$dpi, method='spearman') (n=50, no ties: AS 89 Edgeworth)
    # n = 50  estimate = -0.77594237695078  statistic = 36984  p = 0
    "lifecycle": (LCS["pop15"], LCS["dpi"], -0.77594237695078, 36984, 0.0),
    # > cor.test(mtcars$wt, mtcars$mpg, method='spearman') (ties: t approximation)
    # n = 32  estimate = -0.886422033270298  statistic = 10292.3186135227  p = 1.48759485812743e-11
    "mtcars_ties": (MTCARS["wt"], MTCARS["mpg"], -0.886422033270298, 10292.3186135227, 1.48759485812743e-11),
    # > x = 1:30; y = c(30:16, 1:15); cor.test(x, y, method = "spearman")
    # n = 30  estimate = -0.75083426028921  statistic = 7870  p = 4.16919529336231e-06
    "seq30": (list(range(1, 31)), list(range(30, 15, -1)) + list(range(1, 16)), -0.75083426028921, 7870, 4.16919529336231e-06),
    # > cor.test(women$height, women$weight, method = "spearman")  (perfect: R's prho returns 0)
    # n = 15  estimate = 1  statistic = 1.24344978758018e-13  p = 0
    "women": (list(range(58, 73)), [115, 117, 120, 123, 126, 129, 132, 135, 139, 142, 146, 150, 154, 159, 164], 1.0, 0.0, 0.0),
}  # fmt: skip


@pytest.mark.parametrize("case", SPEARMAN_CASES)
def test_spearman_reference(case):
    x, y, estimate, statistic, p_value = SPEARMAN_CASES[case]
    r = spearman(x, y)
    assert r.estimate == pytest.approx(estimate, **TOL)
    assert r.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-9)
    assert r.p_value == pytest.approx(p_value, **TOL)
    assert r.conf_low is None and r.conf_high is None


@pytest.mark.parametrize(
    ("n", "multiplier", "modulus", "noise", "p_value", "estimate", "branch"),
    [
        # > x <- 1:1200; y <- (x * 7) %% 1201 + sin(x) / 10; cor.test(x, y, method = "spearman")
        # n = 1200  estimate = 0.14  statistic = 247679828  p = 1.15235794968857e-06
        (1200, 7, 1201, np.sin, 1.15235794968857e-06, 0.14, "Edgeworth"),
        # > x <- 1:1290; y <- (x * 7) %% 1291 + cos(x)  (n = 1290: still AS 89)
        # n = 1290  estimate = 0.141520747794284  statistic = 307147810  p = 3.42778067910062e-07
        (1290, 7, 1291, lambda v: np.cos(v) * 10, 3.42778067910062e-07, 0.141520747794284, "Edgeworth"),
        # > x <- 1:1500; y <- (x * 11) %% 1511 + sin(x) / 10  (n > 1290: t approximation)
        # n = 1500  estimate = 0.0711293329463702  statistic = 522489518  p = 0.00585090715852586
        (1500, 11, 1511, np.sin, 0.00585090715852586, 0.0711293329463702, "t approximation"),
    ],
)
def test_spearman_large_n_branches(n, multiplier, modulus, noise, p_value, estimate, branch):
    x = np.arange(1, n + 1, dtype=float)
    y = (x * multiplier) % modulus + noise(x) / 10
    r = spearman(x, y)
    assert r.estimate == pytest.approx(estimate, **TOL)
    assert r.p_value == pytest.approx(p_value, **TOL)
    assert branch in r.p_method


def test_exact_false_forces_t_approximation():
    r = spearman(LONGLEY["GNP"], LONGLEY["Unemployed"], exact=False)
    assert r.p_method == "t approximation"
    assert r.p_value != pytest.approx(0.00937492617574835, rel=1e-6)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_as89_enumeration_equals_brute_force(n):
    sums = [sum((i - p) ** 2 for i, p in enumerate(perm, 1)) for perm in itertools.permutations(range(1, n + 1))]
    top = n * (n * n - 1) // 3
    for s in range(0, top + 3):
        upper = sum(v >= s for v in sums) / factorial(n)
        if s <= 0:
            upper = 1.0
        if s > top:
            upper = 0.0
        assert spearman_rho_pvalue(n, s, lower_tail=False) == pytest.approx(upper, abs=1e-15)
        assert spearman_rho_pvalue(n, s, lower_tail=True) == pytest.approx(1 - upper, abs=1e-15)


def test_missing_pairs_are_dropped():
    r = pearson([1, 2, np.nan, 4, 5], [2, 1, 3, 5, np.nan])
    assert r.n == 3


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1, 2, 3], [1, 2], "same number of values"),
        ([1, 2], [1, 2], "at least 3 complete pairs"),
        ([1, 1, 1, 1], [1, 2, 3, 4], "all x values are identical"),
        ([1, 2, 3, 4], [5, 5, 5, 5], "all y values are identical"),
        ([1, "a", 3], [1, 2, 3], "x contain non-numeric values"),
    ],
)
@pytest.mark.parametrize("function", [pearson, spearman])
def test_bad_input(function, x, y, message):
    with pytest.raises(ValueError, match=message):
        function(x, y)
