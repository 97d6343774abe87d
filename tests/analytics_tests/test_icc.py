# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats.icc against psych::ICC (R 4.2.2, psych 2.2.9).

Reference session: tests/reference/icc_reference.R -> icc_reference.txt. psych is called with
``lmer = FALSE`` (the ANOVA mean squares of Shrout & Fleiss); R printed 15 significant digits, and the
tolerance is 1e-9 relative.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from analytics.stats import icc, icc_long, koo_li_interpretation

REF = Path(__file__).resolve().parents[1] / "reference"
TOL = {"rel": 1e-9, "abs": 1e-12}
FIELDS = ("estimate", "F", "df1", "df2", "p_value", "conf_low", "conf_high")
FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def read_csv(name: str) -> list[dict[str, str]]:
    with open(REF / name, newline="") as handle:
        return list(csv.DictReader(handle))


def assert_matches_psych(result, expected: dict[str, tuple[float, ...]]) -> None:
    for form in FORMS:
        got = result[form]
        for field, want in zip(FIELDS, expected[form], strict=True):
            assert getattr(got, field) == pytest.approx(want, **TOL), (form, field)


def test_shrout_fleiss_published_values():
    # Shrout & Fleiss (1979), Table 4: ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71,
    # ICC(1,4)=.44, ICC(2,4)=.62, ICC(3,4)=.91
    result = icc(SHROUT_FLEISS)
    published = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62, "ICC3k": 0.91}
    for form, value in published.items():
        assert round(result[form].estimate, 2) == value


def test_shrout_fleiss_matches_psych():
    # > psych::ICC(sf, lmer = FALSE)$results
    #                                       ICC                 F df1 df2                    p         lower bound       upper bound
    # Single_raters_absolute  0.165741768405476  1.79467849223947   5  18 0.164768808344639611 -0.1329323248747509 0.722560062328121
    # Single_random_raters    0.289763779527559 11.02724795640327   5  15 0.000134566516484337  0.0187865133747120 0.761084369648953
    # Single_fixed_raters     0.714840714840715 11.02724795640327   5  15 0.000134566516484337  0.3424647650339254 0.945858259955360
    # Average_raters_absolute 0.442797133679269  1.79467849223947   5  18 0.164768808344639611 -0.8844421552381190 0.912415420340776
    # Average_random_raters   0.620050547598989 11.02724795640327   5  15 0.000134566516484337  0.0711368153025035 0.927232040167722
    # Average_fixed_raters    0.909315542377069 11.02724795640327   5  15 0.000134566516484337  0.6756747138163047 0.985891678169062
    # MSW = 6.26388888888889
    expected = {
        "ICC1": (0.165741768405476, 1.79467849223947, 5, 18, 0.164768808344639611, -0.1329323248747509, 0.722560062328121),
        "ICC2": (0.289763779527559, 11.02724795640327, 5, 15, 0.000134566516484337, 0.0187865133747120, 0.761084369648953),
        "ICC3": (0.714840714840715, 11.02724795640327, 5, 15, 0.000134566516484337, 0.3424647650339254, 0.945858259955360),
        "ICC1k": (0.442797133679269, 1.79467849223947, 5, 18, 0.164768808344639611, -0.8844421552381190, 0.912415420340776),
        "ICC2k": (0.620050547598989, 11.02724795640327, 5, 15, 0.000134566516484337, 0.0711368153025035, 0.927232040167722),
        "ICC3k": (0.909315542377069, 11.02724795640327, 5, 15, 0.000134566516484337, 0.6756747138163047, 0.985891678169062),
    }  # fmt: skip
    result = icc(SHROUT_FLEISS)
    assert_matches_psych(result, expected)
    assert result.ms_within == pytest.approx(6.26388888888889, **TOL)
    assert (result.n_targets, result.n_raters, result.targets_dropped) == (6, 4, ())


def test_shrout_fleiss_long_format_from_reference_csv():
    rows = read_csv("shrout_fleiss.csv")
    result = icc_long([r["target"] for r in rows], [r["judge"] for r in rows], [r["rating"] for r in rows])
    wide = icc(SHROUT_FLEISS)
    for form in FORMS:
        for field in FIELDS:
            assert getattr(result[form], field) == pytest.approx(getattr(wide[form], field), rel=1e-12)


def test_irr_anxiety_matches_psych():
    # > anx <- read.csv("irr_anxiety.csv"); psych::ICC(anx, lmer = FALSE)$results
    #                                       ICC                F df1 df2                  p         lower bound       upper bound
    # Single_raters_absolute  0.175022381378693 1.63646228974498  19  40 0.0939307271289242 -0.0774465748654547 0.484336093818820
    # Single_random_raters    0.197998259355962 1.82677165354331  19  38 0.0562012735474978 -0.0389106260931603 0.493573945972123
    # Single_fixed_raters     0.216049382716049 1.82677165354331  19  38 0.0562012735474978 -0.0462578853236332 0.522259078395644
    # Average_raters_absolute 0.388925729442971 1.63646228974498  19  40 0.0939307271289242 -0.2749234898786879 0.738065123579582
    # Average_random_raters   0.425498753117207 1.82677165354331  19  38 0.0562012735474978 -0.1265827027094597 0.745149288545210
    # Average_fixed_raters    0.452586206896551 1.82677165354331  19  38 0.0562012735474978 -0.1529212866540728 0.766330800234059
    expected = {
        "ICC1": (0.175022381378693, 1.63646228974498, 19, 40, 0.0939307271289242, -0.0774465748654547, 0.484336093818820),
        "ICC2": (0.197998259355962, 1.82677165354331, 19, 38, 0.0562012735474978, -0.0389106260931603, 0.493573945972123),
        "ICC3": (0.216049382716049, 1.82677165354331, 19, 38, 0.0562012735474978, -0.0462578853236332, 0.522259078395644),
        "ICC1k": (0.388925729442971, 1.63646228974498, 19, 40, 0.0939307271289242, -0.2749234898786879, 0.738065123579582),
        "ICC2k": (0.425498753117207, 1.82677165354331, 19, 38, 0.0562012735474978, -0.1265827027094597, 0.745149288545210),
        "ICC3k": (0.452586206896551, 1.82677165354331, 19, 38, 0.0562012735474978, -0.1529212866540728, 0.766330800234059),
    }  # fmt: skip
    rows = read_csv("irr_anxiety.csv")
    matrix = [[float(r["rater1"]), float(r["rater2"]), float(r["rater3"])] for r in rows]
    assert_matches_psych(icc(matrix), expected)


def test_irr_anxiety_two_raters_where_rater_variance_is_negative():
    # MS_raters < MS_error here: psych's default lmer = TRUE truncates the rater variance at 0 and differs
    # (by 0.11, see icc_reference.txt); the ANOVA route (lmer = FALSE) is matched.
    # > psych::ICC(anx[, 1:2], lmer = FALSE)$results
    # Single_raters_absolute  0.319971367215462 1.94105263157895  19  20 0.0748847369288100 -0.122316665704100 0.659283898268174
    # Single_random_raters    0.307580174927114 1.84400000000000  19  19 0.0957188242340969 -0.165731693056848 0.658198106283592
    # Single_fixed_raters     0.296765119549930 1.84400000000000  19  19 0.0957188242340969 -0.156151148691733 0.646566648138973
    # Average_raters_absolute 0.484815618221258 1.94105263157895  19  20 0.0748847369288100 -0.278726189559532 0.794660755710678
    # Average_random_raters   0.470457079152731 1.84400000000000  19  19 0.0957188242340969 -0.397310293768937 0.793871496764361
    # Average_fixed_raters    0.457700650759219 1.84400000000000  19  19 0.0957188242340969 -0.370092697168796 0.785351323458122
    expected = {
        "ICC1": (0.319971367215462, 1.94105263157895, 19, 20, 0.0748847369288100, -0.122316665704100, 0.659283898268174),
        "ICC2": (0.307580174927114, 1.84400000000000, 19, 19, 0.0957188242340969, -0.165731693056848, 0.658198106283592),
        "ICC3": (0.296765119549930, 1.84400000000000, 19, 19, 0.0957188242340969, -0.156151148691733, 0.646566648138973),
        "ICC1k": (0.484815618221258, 1.94105263157895, 19, 20, 0.0748847369288100, -0.278726189559532, 0.794660755710678),
        "ICC2k": (0.470457079152731, 1.84400000000000, 19, 19, 0.0957188242340969, -0.397310293768937, 0.793871496764361),
        "ICC3k": (0.457700650759219, 1.84400000000000, 19, 19, 0.0957188242340969, -0.370092697168796, 0.785351323458122),
    }  # fmt: skip
    rows = read_csv("irr_anxiety.csv")
    assert_matches_psych(icc([[float(r["rater1"]), float(r["rater2"])] for r in rows]), expected)


def test_pingouin_wine_long_format_matches_psych():
    # > wine <- read.csv("pingouin_icc_wine.csv"); reshape to 8 wines x 4 judges; psych::ICC(ww, lmer = FALSE)
    # Single_raters_absolute  0.727520915896081 11.6800258564965   7  24 2.18135095486183e-06 0.433772833270989 0.926696029256644
    # Single_random_raters    0.727688787185355 11.7866927592955   7  21 5.02571546406035e-06 0.434489657891130 0.926708606315916
    # Single_fixed_raters     0.729486500794071 11.7866927592955   7  21 5.02571546406035e-06 0.426146030129233 0.927895261472731
    # Average_raters_absolute 0.914383751176047 11.6800258564965   7  24 2.18135095486183e-06 0.753955323100636 0.980607867054600
    # Average_random_raters   0.914450035945363 11.7866927592955   7  21 5.02571546406035e-06 0.754496219149400 0.980611387770028
    # Average_fixed_raters    0.915158558857712 11.7866927592955   7  21 5.02571546406035e-06 0.748137124158980 0.980943254108413
    expected = {
        "ICC1": (0.727520915896081, 11.6800258564965, 7, 24, 2.18135095486183e-06, 0.433772833270989, 0.926696029256644),
        "ICC2": (0.727688787185355, 11.7866927592955, 7, 21, 5.02571546406035e-06, 0.434489657891130, 0.926708606315916),
        "ICC3": (0.729486500794071, 11.7866927592955, 7, 21, 5.02571546406035e-06, 0.426146030129233, 0.927895261472731),
        "ICC1k": (0.914383751176047, 11.6800258564965, 7, 24, 2.18135095486183e-06, 0.753955323100636, 0.980607867054600),
        "ICC2k": (0.914450035945363, 11.7866927592955, 7, 21, 5.02571546406035e-06, 0.754496219149400, 0.980611387770028),
        "ICC3k": (0.915158558857712, 11.7866927592955, 7, 21, 5.02571546406035e-06, 0.748137124158980, 0.980943254108413),
    }  # fmt: skip
    rows = read_csv("pingouin_icc_wine.csv")
    result = icc_long([r["Wine"] for r in rows], [r["Judge"] for r in rows], [r["Scores"] for r in rows])
    assert_matches_psych(result, expected)


def test_icc2k_interval_is_spearman_brown_of_icc2_interval():
    result = icc(SHROUT_FLEISS)
    k = 4
    for single, average in (("conf_low", "conf_low"), ("conf_high", "conf_high")):
        bound = getattr(result["ICC2"], single)
        assert getattr(result["ICC2k"], average) == pytest.approx(bound * k / (1 + (k - 1) * bound), rel=1e-12)


def test_names_and_recommendation():
    result = icc(SHROUT_FLEISS)
    assert [f.type for f in result.forms] == list(FORMS)
    assert result["ICC(2,1)"] is result["ICC2"] is result["ICC(A,1)"]
    assert result["ICC(C,k)"].type == "ICC3k"
    assert result.recommended == "ICC2"
    assert "absolute agreement" in result.recommendation
    intra = icc(SHROUT_FLEISS, purpose="intra")
    assert intra.recommended == "ICC2" and "mixed" in intra.recommendation
    with pytest.raises(KeyError):
        result["ICC4"]
    as_dict = result.to_dict()
    assert set(as_dict["forms"]) == set(FORMS)
    assert as_dict["forms"]["ICC3"]["estimate"] == result["ICC3"].estimate


def test_incomplete_design_is_complete_case_with_report():
    rows = read_csv("shrout_fleiss.csv")
    target = [r["target"] for r in rows] + ["7", "7", "8"]
    judge = [r["judge"] for r in rows] + ["1", "2", "1"]
    rating = [r["rating"] for r in rows] + ["5", "6", "4"]
    result = icc_long(target, judge, rating)
    assert result.targets_dropped == ("7", "8")
    assert result.n_targets == 6
    assert result["ICC2"].estimate == pytest.approx(0.289763779527559, **TOL)
    # a missing rating (NaN) in the wide table drops that target too
    matrix = np.array([*SHROUT_FLEISS, [1, np.nan, 3, 4]], dtype=float)
    wide = icc(matrix, targets=list("abcdefg"))
    assert wide.targets_dropped == ("g",)
    assert wide["ICC1"].estimate == pytest.approx(0.165741768405476, **TOL)


def test_invariance_to_rater_order_and_location():
    rng = np.random.default_rng(7)
    truth = rng.normal(size=40)
    ratings = truth[:, None] + rng.normal(scale=0.6, size=(40, 3)) + [0.0, 0.3, -0.2]
    base = icc(ratings)
    shuffled = icc(ratings[:, [2, 0, 1]] + 100.0)
    for form in FORMS:
        for field in FIELDS:
            assert getattr(shuffled[form], field) == pytest.approx(getattr(base[form], field), rel=1e-9, abs=1e-12)


def test_perfect_agreement_gives_one():
    result = icc([[1, 1], [2, 2], [3, 3]])
    assert result["ICC1"].estimate == 1.0
    assert result["ICC3"].estimate == 1.0
    assert result["ICC2"].p_value == 0.0


@pytest.mark.parametrize(
    ("value", "label"),
    [(0.49, "poor"), (0.5, "moderate"), (0.74, "moderate"), (0.75, "good"), (0.9, "good"), (0.91, "excellent")],
)
def test_koo_li(value, label):
    assert koo_li_interpretation(value) == label


def test_ci_interpretation():
    result = icc(SHROUT_FLEISS)
    assert result["ICC3k"].ci_interpretation == "moderate to excellent"
    assert result["ICC3k"].interpretation == "excellent"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratings": [[1, "a"], [2, 3]]}, "ratings contain non-numeric values"),
        ({"ratings": [[1], [2], [3]]}, "at least 2 raters"),
        ({"ratings": [[1, 2], [np.nan, 3]]}, "at least 2 targets rated by every rater are needed, got 1"),
        ({"ratings": [[4, 4], [4, 4], [4, 4]]}, "all ratings are identical"),
        ({"ratings": [1, 2, 3]}, "one row per target"),
        ({"ratings": [[1, 2], [3, 4]], "conf_level": 95}, "confidence level must be between 0 and 1"),
    ],
)
def test_bad_wide_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        icc(**kwargs)


def test_bad_long_input():
    with pytest.raises(ValueError, match=r"^target 1 has more than one rating from rater 'a'; average repeated"):
        icc_long([1, 1, 2, 2, 1], ["a", "b", "a", "b", "a"], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"^target '2' has more than one rating from rater 'b'"):
        icc_long(np.array(["1", "1", "2", "2", "2"]), np.array(["a", "b", "a", "b", "b"]), [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="ratings contain non-numeric values"):
        icc_long([1, 1, 2, 2], ["a", "b", "a", "b"], [1, 2, "x", 4])
    with pytest.raises(ValueError, match="row 2 has no target"):
        icc_long(["1", "", "2", "2"], ["a", "b", "a", "b"], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="same number of rows"):
        icc_long([1, 1, 2], ["a", "b", "a", "b"], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="at least 2 raters"):
        icc_long([1, 2, 3], ["a", "a", "a"], [1, 2, 3])
