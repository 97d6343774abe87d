"""analytics.stats.regression against R 4.2.2 summary(lm(...)) and confint.

Reference session: tests/reference/correlation_reference.R -> correlation_reference.txt (the lm section);
data in cars.csv and mtcars.csv. Tolerance 1e-9 relative.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import linear_regression

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}


def load(name: str) -> dict[str, list[float]]:
    with open(REF / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(r[key]) for r in rows] for key in rows[0] if key != "model"}


def test_cars_dist_on_speed():
    # > summary(lm(dist ~ speed, data = cars))
    #                       Estimate        Std. Error           t value             Pr(>|t|)
    # (Intercept) -17.57909489051089 6.758440169379234 -2.60105800302225 1.23188161538090e-02
    # speed         3.93240875912409 0.415512776657122  9.46398999029837 1.48983649629509e-12
    # r.squared = 0.651079380758251  adj = 0.643810201190715  sigma = 15.3795867488199
    # F = 89.5671065364677  on 1 and 48  p = 1.48983649629509e-12
    # > confint(fit)
    #                          2.5 %            97.5 %
    # (Intercept) -31.16784960238858 -3.99034017863321
    # speed         3.09696432814032  4.76785319010785
    cars = load("cars.csv")
    r = linear_regression(cars["speed"], cars["dist"])
    assert r.intercept == pytest.approx(-17.57909489051089, **TOL)
    assert r.slope == pytest.approx(3.93240875912409, **TOL)
    assert r.intercept_se == pytest.approx(6.758440169379234, **TOL)
    assert r.slope_se == pytest.approx(0.415512776657122, **TOL)
    assert r.intercept_t == pytest.approx(-2.60105800302225, **TOL)
    assert r.slope_t == pytest.approx(9.46398999029837, **TOL)
    assert r.intercept_p_value == pytest.approx(1.23188161538090e-02, **TOL)
    assert r.slope_p_value == pytest.approx(1.48983649629509e-12, **TOL)
    assert r.r_squared == pytest.approx(0.651079380758251, **TOL)
    assert r.adj_r_squared == pytest.approx(0.643810201190715, **TOL)
    assert r.sigma == pytest.approx(15.3795867488199, **TOL)
    assert r.statistic == pytest.approx(89.5671065364677, **TOL)
    assert (r.df_model, r.df_residual) == (1, 48)
    assert r.p_value == pytest.approx(1.48983649629509e-12, **TOL)
    assert (r.intercept_conf_low, r.intercept_conf_high) == pytest.approx(
        (-31.16784960238858, -3.99034017863321), **TOL
    )
    assert (r.slope_conf_low, r.slope_conf_high) == pytest.approx((3.09696432814032, 4.76785319010785), **TOL)


def test_mtcars_mpg_on_wt():
    # > summary(lm(mpg ~ wt, data = mtcars))
    #                      Estimate        Std. Error           t value             Pr(>|t|)
    # (Intercept) 37.28512616734203 1.877627337255895 19.85757526402087 8.24179884532659e-19
    # wt          -5.34447157272268 0.559101045099323 -9.55904414697211 1.29395870135052e-10
    # r.squared = 0.752832793658264
    # > confint(fit)
    # (Intercept) 33.45049957326608 41.11975276141798
    # wt          -6.48630823741826 -4.20263490802709
    mtcars = load("mtcars.csv")
    r = linear_regression(mtcars["wt"], mtcars["mpg"])
    assert (r.intercept, r.slope) == pytest.approx((37.28512616734203, -5.34447157272268), **TOL)
    assert (r.intercept_se, r.slope_se) == pytest.approx((1.877627337255895, 0.559101045099323), **TOL)
    assert r.intercept_p_value == pytest.approx(8.24179884532659e-19, **TOL)
    assert r.p_value == pytest.approx(1.29395870135052e-10, **TOL)
    assert r.r_squared == pytest.approx(0.752832793658264, **TOL)
    assert (r.slope_conf_low, r.slope_conf_high) == pytest.approx((-6.48630823741826, -4.20263490802709), **TOL)


def test_exact_line():
    r = linear_regression([1, 2, 3, 4], [3, 5, 7, 9])
    assert (r.slope, r.intercept, r.r_squared) == pytest.approx((2.0, 1.0, 1.0))
    assert r.slope_se == pytest.approx(0.0, abs=1e-12)


def test_missing_pairs_dropped_and_to_dict():
    r = linear_regression([1, 2, np.nan, 4, 5], [1.1, 2.3, 3, 3.9, 5.2])
    assert r.n == 4
    assert r.to_dict()["slope"] == r.slope


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([2, 2, 2, 2], [1, 2, 3, 4], "all x values are identical"),
        ([1, 2], [1, 2], "at least 3 complete pairs"),
        ([1, 2, 3], [1, "b", 3], "y contain non-numeric values"),
        ([1, 2, 3], [1, 2], "same number of values"),
    ],
)
def test_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        linear_regression(x, y)
