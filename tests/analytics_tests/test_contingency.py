"""analytics.stats.contingency against R 4.2.2 chisq.test / fisher.test on mtcars.

Reference session: tests/reference/contingency_reference.R -> contingency_reference.txt; data in mtcars.csv.
R printed 15 significant digits; tolerance 1e-9 relative (Fisher's conditional-MLE odds ratio: 1e-4, since
R finds it with uniroot at tolerance ~1e-4).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import chi_square_test, crosstab, fisher_exact_test

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}

with open(REF / "mtcars.csv", newline="") as handle:
    MTCARS = list(csv.DictReader(handle))


def column(name: str) -> list[str]:
    return [r[name] for r in MTCARS]


def test_cyl_by_gear():
    # > chisq.test(table(mtcars$cyl, mtcars$gear))
    #      3 4 5
    #   4  1 8 2
    #   6  2 4 1
    #   8 12 0 2
    # X-squared = 18.0363636363636  df = 4  p = 0.00121406603378516
    # expected:
    #           3     4       5
    #   4 5.15625 4.125 1.71875
    #   6 3.28125 2.625 1.09375
    #   8 6.56250 5.250 2.18750
    table = crosstab(column("cyl"), column("gear"))
    assert table.row_levels == ("4", "6", "8") and table.col_levels == ("3", "4", "5")
    assert table.counts.tolist() == [[1, 8, 2], [2, 4, 1], [12, 0, 2]]
    r = chi_square_test(table)
    assert r.statistic == pytest.approx(18.0363636363636, **TOL)
    assert r.df == 4
    assert r.p_value == pytest.approx(0.00121406603378516, **TOL)
    expected = [[5.15625, 4.125, 1.71875], [3.28125, 2.625, 1.09375], [6.5625, 5.25, 2.1875]]
    np.testing.assert_allclose(r.expected, expected, rtol=1e-12)
    assert r.warning is not None and "may be incorrect" in r.warning
    assert not r.correct


@pytest.mark.parametrize(
    ("correct", "statistic", "p_value"),
    [
        # > chisq.test(table(mtcars$am, mtcars$vs), correct = TRUE)
        # X-squared = 0.347535505430242  df = 1  p = 0.55551154701315
        (True, 0.347535505430242, 0.55551154701315),
        # > chisq.test(table(mtcars$am, mtcars$vs), correct = FALSE)
        # X-squared = 0.906882591093117  df = 1  p = 0.340942914274381
        (False, 0.906882591093117, 0.340942914274381),
    ],
)
def test_two_by_two_with_and_without_yates(correct, statistic, p_value):
    # expected:
    #           0      1
    #   0 10.6875 8.3125
    #   1  7.3125 5.6875
    r = chi_square_test(crosstab(column("am"), column("vs")), correct=correct)
    assert r.statistic == pytest.approx(statistic, **TOL)
    assert r.p_value == pytest.approx(p_value, **TOL)
    assert r.df == 1
    np.testing.assert_allclose(r.expected, [[10.6875, 8.3125], [7.3125, 5.6875]], rtol=1e-12)
    assert r.correct is correct
    assert ("Yates" in r.method) is correct
    assert r.warning is None


def test_yates_is_never_applied_to_larger_tables():
    plain = chi_square_test([[1, 8, 2], [2, 4, 1], [12, 0, 2]])
    asked = chi_square_test([[1, 8, 2], [2, 4, 1], [12, 0, 2]], correct=True)
    assert asked.statistic == plain.statistic and asked.correct is False


def test_default_is_uncorrected_unlike_r():
    assert chi_square_test([[12, 7], [6, 7]]).statistic == pytest.approx(0.906882591093117, **TOL)


def test_fisher_exact():
    # > fisher.test(table(mtcars$am, mtcars$vs))
    # p = 0.47269744160178  odds ratio (conditional MLE) = 1.95605539937289  CI =  0.38253417984464 10.59160867298825
    r = fisher_exact_test(crosstab(column("am"), column("vs")))
    assert r.p_value == pytest.approx(0.47269744160178, **TOL)
    assert r.estimate == pytest.approx(1.95605539937289, rel=1e-4)
    assert (r.conf_low, r.conf_high) == pytest.approx((0.38253417984464, 10.59160867298825), rel=1e-4)


def test_missing_labels_are_left_out():
    table = crosstab(["a", "a", "", "b", None, "b"], ["x", "y", "x", "y", "x", "x"])
    assert table.counts.tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([[1, 2, 3]], "only one category of a has data"),
        ([[1], [2]], "only one category of b has data"),
        ([[1, 0], [2, 0]], "a row or column of the table has no observations"),
        ([[1.5, 2], [3, 4]], "whole numbers"),
        ([[1, -2], [3, 4]], "whole numbers"),
        ([[1, "x"], [3, 4]], "non-numeric counts"),
    ],
)
def test_bad_tables(table, message):
    with pytest.raises(ValueError, match=message):
        chi_square_test(table)


def test_fisher_needs_two_by_two():
    with pytest.raises(ValueError, match="needs a 2 x 2 table"):
        fisher_exact_test([[1, 2, 3], [4, 5, 6]])


def test_to_dict():
    d = chi_square_test([[12, 7], [6, 7]]).to_dict()
    assert d["expected"] == [[10.6875, 8.3125], [7.3125, 5.6875]]
    assert d["observed"] == [[12, 7], [6, 7]]
