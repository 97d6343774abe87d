"""analytics.stats._validation: the shared input checks and their messages."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.stats._validation import (
    as_numeric,
    check_direction,
    missing_label_mask,
    sorted_levels,
)


def test_as_numeric_messages():
    assert as_numeric(["1", 2, 3.5], "ratings").tolist() == [1.0, 2.0, 3.5]
    with pytest.raises(ValueError, match=r"^ratings contain non-numeric values \(for example 'abc'\)$"):
        as_numeric([1, "abc"], "ratings")
    with pytest.raises(ValueError, match="ratings contain missing values"):
        as_numeric([1, None], "ratings")
    assert np.isnan(as_numeric([1, None], "ratings", allow_missing=True)[1])
    with pytest.raises(ValueError, match="ratings contain infinite values"):
        as_numeric([1, np.inf], "ratings")
    with pytest.raises(ValueError, match="single column"):
        as_numeric([[1, 2], [3, 4]], "ratings")
    with pytest.raises(ValueError, match="true/false"):
        as_numeric([True, "x"], "ratings")


def test_sorted_levels_follow_r_factor_order():
    assert sorted_levels(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sorted_levels(["trt2", "ctrl", "trt1"]) == ["ctrl", "trt1", "trt2"]
    assert sorted_levels([3, 1.5, 2]) == [1.5, 2, 3]


def test_missing_label_mask():
    assert missing_label_mask(np.array(["a", " ", ""])).tolist() == [False, True, True]
    assert missing_label_mask(np.array([1.0, np.nan])).tolist() == [False, True]
    assert missing_label_mask(np.array([1, 2])).tolist() == [False, False]
    assert missing_label_mask(np.array(["a", None, float("nan")], dtype=object)).tolist() == [False, True, True]


def test_check_direction():
    assert check_direction("lower") == "lower"
    with pytest.raises(ValueError, match="higher scores mean positive"):
        check_direction("<")
