"""analytics.stats.agreement: Bland–Altman, checked by hand and against base-R arithmetic (R 4.2.2).

Reference session: tests/reference/agreement_reference.R -> agreement_reference.txt.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import bland_altman

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}


def test_hand_checkable_case():
    # a = 10, 12, 14, 16, 18 and b = 9, 12, 15, 15, 17: d = 1, 0, -1, 1, 1
    # bias = 2/5 = 0.4; deviations 0.6, -0.4, -1.4, 0.6, 0.6; sum of squares 3.2; SD = sqrt(3.2/4) = sqrt(0.8)
    # limits 0.4 -/+ 1.96 sqrt(0.8) = -1.353077..., 2.153077...
    # R (agreement_reference.txt):
    # n = 5  bias = 0.4  sd = 0.894427190999916
    # loa_low = -1.35307729435984  loa_high = 2.15307729435983
    # bias CI = -0.710578042079117  1.510578042079117
    # loa_low CI = -3.401183146422106  0.695028557702436
    # loa_high CI = 0.104971442297564 4.201183146422105
    # t = 2.77644510519779  se_loa = 0.737672013838128
    r = bland_altman([10, 12, 14, 16, 18], [9, 12, 15, 15, 17])
    assert r.bias == pytest.approx(0.4, **TOL)
    assert r.sd == pytest.approx(np.sqrt(0.8), **TOL)
    assert r.loa_low == pytest.approx(0.4 - 1.96 * np.sqrt(0.8), **TOL)
    assert r.loa_high == pytest.approx(0.4 + 1.96 * np.sqrt(0.8), **TOL)
    assert (r.bias_conf_low, r.bias_conf_high) == pytest.approx((-0.710578042079117, 1.510578042079117), **TOL)
    assert (r.loa_low_conf_low, r.loa_low_conf_high) == pytest.approx((-3.401183146422106, 0.695028557702436), **TOL)
    assert (r.loa_high_conf_low, r.loa_high_conf_high) == pytest.approx((0.104971442297564, 4.201183146422105), **TOL)
    assert r.loa_se == pytest.approx(0.737672013838128, **TOL)
    assert r.loa_se == pytest.approx(np.sqrt(0.8) * np.sqrt(1 / 5 + 1.96**2 / 8), **TOL)
    np.testing.assert_allclose(r.differences, [1, 0, -1, 1, 1])
    np.testing.assert_allclose(r.means, [9.5, 12, 14.5, 15.5, 17.5])


def test_anxiety_raters():
    # ==== irr anxiety rater1 vs rater2 ====
    # n = 20  bias = 0  sd = 1.62221421130763
    # loa_low = -3.17953985416295  loa_high = 3.17953985416295
    # bias CI = -0.759219621191097  0.759219621191097
    # loa_low CI = -4.49933671047516 -1.85974299785073
    # loa_high CI = 1.85974299785073 4.49933671047516
    with open(REF / "irr_anxiety.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    r = bland_altman([float(x["rater1"]) for x in rows], [float(x["rater2"]) for x in rows])
    assert r.bias == pytest.approx(0.0, abs=1e-12)
    assert r.sd == pytest.approx(1.62221421130763, **TOL)
    assert (r.loa_low, r.loa_high) == pytest.approx((-3.17953985416295, 3.17953985416295), **TOL)
    assert (r.bias_conf_low, r.bias_conf_high) == pytest.approx((-0.759219621191097, 0.759219621191097), **TOL)
    assert (r.loa_low_conf_low, r.loa_low_conf_high) == pytest.approx((-4.49933671047516, -1.85974299785073), **TOL)
    assert (r.loa_high_conf_low, r.loa_high_conf_high) == pytest.approx((1.85974299785073, 4.49933671047516), **TOL)


def test_missing_pairs_dropped_and_to_dict():
    r = bland_altman([1, 2, np.nan, 4], [1.5, 2.5, 3, np.nan])
    assert r.n == 2
    d = r.to_dict()
    assert d["differences"] == [-0.5, -0.5] and d["bias"] == -0.5


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1], [2], "at least 2 subjects measured twice"),
        ([1, 2, 3], [1, 2], "same number of values"),
        ([1, "x"], [1, 2], "first measurements contain non-numeric values"),
    ],
)
def test_bad_input(a, b, message):
    with pytest.raises(ValueError, match=message):
        bland_altman(a, b)
