"""VBQ, SNR and M-score from ROI statistics (scoring.measures): formulas, reasons, invariants.

Expected values are worked out by hand from the definitions in DESIGN.md ("Measurements"):
VBQ = median(SI L1..L4, non-excluded) / SI CSF (Ehresman 2020); SNR_level = mean / noise SD, SNR = mean of
the per-level SNRs; M-score = (SNR - mean(controls)) / SD(controls, n - 1) (Bandirali 2015).
"""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.measures import (
    LEVELS,
    RAYLEIGH_SD_FACTOR,
    Excluded,
    MeasureResult,
    RoiValues,
    ScoringSettings,
    Unmeasurable,
    level_si,
    m_score,
    score_read,
    snr_levels,
    snr_overall,
    vbq,
)
from scoring.pixels import RoiStats

TOL = 1e-12


def roi(mean, median=None, sd=None, csf_level=None):
    return RoiValues(mean=mean, median=mean if median is None else median, sd=sd, csf_level=csf_level)


# ------------------------------------------------------------------------------------------------------------
# MeasureResult
# ------------------------------------------------------------------------------------------------------------


def test_measure_result_has_exactly_one_of_value_and_reason():
    assert MeasureResult(value=1.5).ok
    assert not MeasureResult(reason="why").ok
    with pytest.raises(ValueError, match="exactly one"):
        MeasureResult()
    with pytest.raises(ValueError, match="exactly one"):
        MeasureResult(value=1.0, reason="both")
    with pytest.raises(ValueError, match="finite"):
        MeasureResult(value=math.nan)


def test_measure_result_of_turns_overflow_into_a_reason():
    r = MeasureResult.of(math.inf)
    assert r.value is None and "not a finite number" in r.reason
    # a CSF SI that is positive but tiny overflows the ratio: a reason, not inf
    r = vbq({"L1": 400.0, "L2": 380.0, "L3": 420.0, "L4": 410.0}, 2.2e-309)
    assert r.value is None and "not a finite number" in r.reason


# ------------------------------------------------------------------------------------------------------------
# level_si
# ------------------------------------------------------------------------------------------------------------


def test_level_si_picks_the_study_statistic():
    s = roi(120.5, median=118.0)
    assert level_si(s) == 120.5
    assert level_si(s, "mean") == 120.5
    assert level_si(s, "median") == 118.0
    with pytest.raises(ValueError, match="statistic must be one of"):
        level_si(s, "mode")
    with pytest.raises(ValueError, match="not a finite number"):
        level_si(roi(math.nan), "mean")


# ------------------------------------------------------------------------------------------------------------
# VBQ
# ------------------------------------------------------------------------------------------------------------


def test_vbq_is_median_of_levels_over_csf():
    # median(400, 380, 420, 410) = (400 + 410) / 2 = 405; 405 / 150 = 2.7
    r = vbq({"L1": 400.0, "L2": 380.0, "L3": 420.0, "L4": 410.0}, 150.0)
    assert r.reason is None
    assert r.value == pytest.approx(2.7, abs=TOL)


def test_vbq_skips_excluded_levels():
    # L2 excluded: median(400, 420, 410) = 410; 410 / 150
    r = vbq({"L1": 400.0, "L2": None, "L3": 420.0, "L4": 410.0}, 150.0)
    assert r.value == pytest.approx(410 / 150, abs=TOL)
    # two levels left: the median is their mean
    r = vbq({"L1": 400.0, "L2": None, "L3": None, "L4": 410.0}, 100.0)
    assert r.value == pytest.approx(4.05, abs=TOL)


def test_vbq_too_few_levels_says_measured_and_required():
    r = vbq({"L1": 400.0, "L2": None, "L3": None, "L4": None}, 150.0)
    assert r.value is None
    assert "1 measured, at least 2 required" in r.reason and "3 levels excluded" in r.reason
    r = vbq({"L1": 400.0, "L2": 300.0, "L3": None, "L4": None}, 150.0, min_levels=3)
    assert "2 measured, at least 3 required" in r.reason
    # configurable down to 1
    assert vbq({"L1": 300.0, "L2": None, "L3": None, "L4": None}, 150.0, min_levels=1).value == pytest.approx(2.0)


def test_vbq_missing_level_roi_is_not_an_exclusion():
    r = vbq({"L1": 400.0, "L2": 380.0, "L4": 410.0}, 150.0)
    assert r.value is None and "No ROI for L3" in r.reason


@pytest.mark.parametrize(
    ("csf", "fragment"),
    [(None, "No CSF ROI"), (0.0, "≤ 0"), (-12.5, "≤ 0"), (math.nan, "not a finite"), (math.inf, "not a finite")],
)
def test_vbq_bad_csf_gives_reason_not_number(csf, fragment):
    r = vbq({"L1": 400.0, "L2": 380.0, "L3": 420.0, "L4": 410.0}, csf)
    assert r.value is None and fragment in r.reason


def test_vbq_non_finite_level_gives_reason():
    r = vbq({"L1": math.nan, "L2": 380.0, "L3": 420.0, "L4": 410.0}, 150.0)
    assert r.value is None and "L1" in r.reason


@pytest.mark.parametrize("bad", [0, 5, True, 2.0, "2"])
def test_vbq_rejects_invalid_min_levels(bad):
    with pytest.raises(ValueError, match="min_levels"):
        vbq({"L1": 1.0, "L2": 1.0, "L3": 1.0, "L4": 1.0}, 1.0, min_levels=bad)


def test_vbq_rejects_unknown_level_names():
    with pytest.raises(ValueError, match="unknown levels"):
        vbq({"L1": 1.0, "L2": 1.0, "L3": 1.0, "L4": 1.0, "L5": 2.0}, 1.0)


# ------------------------------------------------------------------------------------------------------------
# SNR
# ------------------------------------------------------------------------------------------------------------


def test_snr_levels_raw_and_rayleigh():
    means = {"L1": 200.0, "L2": 190.0, "L3": 210.0, "L4": 205.0}
    raw = snr_levels(means, 10.0)
    assert {lv: r.value for lv, r in raw.items()} == pytest.approx(
        {"L1": 20.0, "L2": 19.0, "L3": 21.0, "L4": 20.5}, abs=TOL
    )
    # Rayleigh: sigma = SD / 0.655, so SNR = mean * 0.655 / SD
    ray = snr_levels(means, 10.0, noise_correction="rayleigh")
    for lv in LEVELS:
        assert ray[lv].value == pytest.approx(means[lv] * RAYLEIGH_SD_FACTOR / 10.0, abs=TOL)
    assert RAYLEIGH_SD_FACTOR == 0.655


def test_snr_levels_reasons_per_level():
    r = snr_levels({"L1": 200.0, "L2": None, "L4": 205.0}, 10.0)
    assert r["L1"].ok and r["L4"].ok
    assert "L2 excluded" in r["L2"].reason
    assert "No ROI for L3" in r["L3"].reason


@pytest.mark.parametrize(
    ("sd", "fragment"), [(None, "No background-noise SD"), (0.0, "SD is 0"), (math.nan, "not a finite")]
)
def test_snr_levels_bad_noise(sd, fragment):
    r = snr_levels({"L1": 200.0, "L2": 190.0, "L3": 210.0, "L4": 205.0}, sd)
    assert all(not x.ok and fragment in x.reason for x in r.values())


def test_snr_levels_rejects_unknown_correction():
    with pytest.raises(ValueError, match="noise_correction"):
        snr_levels({"L1": 1.0}, 1.0, noise_correction="rician")


def test_snr_overall_is_mean_of_level_snrs_equal_to_mean_si_over_sd():
    means = {"L1": 200.0, "L2": 190.0, "L3": 210.0, "L4": 205.0}
    per = snr_levels(means, 8.0)
    overall = snr_overall(per)
    assert overall.value == pytest.approx((20 + 19 + 21 + 20.5) / 4 * 10 / 8, abs=TOL)
    assert overall.value == pytest.approx(statistics.fmean(means.values()) / 8.0, abs=TOL)


def test_snr_overall_uses_measured_levels_and_min_levels():
    per = snr_levels({"L1": 200.0, "L2": None, "L3": None, "L4": 100.0}, 10.0)
    assert snr_overall(per).value == pytest.approx(15.0, abs=TOL)
    r = snr_overall(per, min_levels=3)
    assert r.value is None and "2, at least 3 required" in r.reason and "L2 excluded" in r.reason


# ------------------------------------------------------------------------------------------------------------
# M-score
# ------------------------------------------------------------------------------------------------------------


def test_m_score_formula():
    # controls 4, 5, 6: mean 5, SD (n-1) 1 -> (3.2 - 5) / 1
    assert m_score(3.2, [4.0, 5.0, 6.0]).value == pytest.approx(-1.8, abs=TOL)
    controls = [10.5, 12.0, 9.75, 11.25, 13.0]
    expect = (8.0 - statistics.fmean(controls)) / statistics.stdev(controls)
    assert m_score(8.0, controls).value == pytest.approx(expect, abs=TOL)
    assert m_score(MeasureResult.of(8.0), controls).value == pytest.approx(expect, abs=TOL)


@pytest.mark.parametrize(
    ("snr", "controls", "fragment"),
    [
        (5.0, [], "0 control SNRs; the M-score needs at least 2"),
        (5.0, [4.0], "1 control SNR;"),
        (5.0, [4.0, 4.0, 4.0], "SD is 0"),
        (5.0, [4.0, math.nan], "control SNR is not a finite"),
        (None, [4.0, 5.0], "No SNR"),
        (math.nan, [4.0, 5.0], "SNR is not a finite"),
        (MeasureResult.fail("No background-noise ROI."), [4.0, 5.0], "No SNR: No background-noise ROI."),
    ],
)
def test_m_score_reasons(snr, controls, fragment):
    r = m_score(snr, controls)
    assert r.value is None and fragment in r.reason


# ------------------------------------------------------------------------------------------------------------
# score_read
# ------------------------------------------------------------------------------------------------------------

FULL = {
    "L1": roi(400.0, median=398.0),
    "L2": roi(380.0, median=381.0),
    "L3": roi(420.0, median=419.0),
    "L4": roi(410.0, median=412.0),
    "CSF": roi(150.0, median=160.0),
    "NOISE": roi(20.0, sd=8.0),
}
CONTROLS = (60.0, 55.0, 52.0, 58.0)


def test_score_read_full_read_mean_statistic():
    s = score_read(FULL, ScoringSettings(control_snrs=CONTROLS))
    assert s.vbq.value == pytest.approx(405 / 150, abs=TOL)
    assert {lv: r.value for lv, r in s.snr_levels.items()} == pytest.approx(
        {"L1": 50.0, "L2": 47.5, "L3": 52.5, "L4": 51.25}, abs=TOL
    )
    snr = (50.0 + 47.5 + 52.5 + 51.25) / 4
    assert s.snr.value == pytest.approx(snr, abs=TOL)
    m = (snr - statistics.fmean(CONTROLS)) / statistics.stdev(CONTROLS)
    assert s.m_score.value == pytest.approx(m, abs=TOL)
    assert s.level_si == {"L1": 400.0, "L2": 380.0, "L3": 420.0, "L4": 410.0}
    assert s.csf_si == 150.0 and s.csf_level == "L3" and s.noise_sd == 8.0 and s.excluded == {}


def test_score_read_median_statistic_applies_to_vbq_not_snr():
    s = score_read(FULL, ScoringSettings(statistic="median"))
    # median of (398, 381, 419, 412) = (398 + 412) / 2 = 405; CSF median 160
    assert s.vbq.value == pytest.approx(405 / 160, abs=TOL)
    assert s.snr_levels["L1"].value == pytest.approx(400 / 8, abs=TOL)  # SNR uses the ROI mean (Bandirali)


def test_score_read_keyword_options_equal_settings():
    a = score_read(FULL, statistic="median", min_levels=3, noise_correction="rayleigh")
    b = score_read(FULL, ScoringSettings(statistic="median", min_levels=3, noise_correction="rayleigh"))
    assert a == b
    assert a.snr.value == pytest.approx(b.snr.value) and a.settings.noise_correction == "rayleigh"
    with pytest.raises(TypeError):
        score_read(FULL, ScoringSettings(), statistic="mean")


def test_score_read_accepts_pixel_roistats():
    stats = {
        lb: RoiStats(n=10, area_mm2=4.8, mean=r.mean, median=r.median, sd=r.sd or 1.0, min=0.0, max=1.0)
        for lb, r in FULL.items()
    }
    s = score_read(stats)
    assert s.vbq.value == pytest.approx(405 / 150, abs=TOL)
    assert s.csf_level == "L3"


def test_score_read_excluded_level_is_skipped_with_its_reason():
    rois = {**FULL, "L2": Excluded("fracture")}
    s = score_read(rois)
    assert s.vbq.value == pytest.approx(410 / 150, abs=TOL)  # median(400, 420, 410)
    assert s.excluded == {"L2": "L2 excluded (fracture)"}
    assert s.snr_levels["L2"] == MeasureResult.fail("L2 excluded (fracture).")
    assert s.snr.value == pytest.approx((50.0 + 52.5 + 51.25) / 3, abs=TOL)
    assert s.level_si["L2"] is None


def test_score_read_too_few_levels():
    rois = {**FULL, **{lv: Excluded("hardware") for lv in ("L1", "L2", "L3")}}
    s = score_read(rois)
    assert "1 measured, at least 2 required" in s.vbq.reason
    assert "1, at least 2 required" in s.snr.reason and "L1 excluded (hardware)" in s.snr.reason
    assert "No SNR" in s.m_score.reason


def test_score_read_unmeasurable_roi_blocks_scores_with_its_error():
    rois = {**FULL, "L3": Unmeasurable("The ellipse ROI contains no pixel centres — draw it larger.")}
    s = score_read(rois, ScoringSettings(control_snrs=CONTROLS))
    assert s.vbq.value is None and "The L3 ROI could not be measured" in s.vbq.reason
    assert ".." not in s.vbq.reason + s.snr.reason + s.snr_levels["L3"].reason
    assert s.snr.value is None and "contains no pixel centres" in s.snr.reason
    assert s.snr_levels["L1"].value == pytest.approx(50.0)  # other levels still shown
    assert "could not be measured" in s.snr_levels["L3"].reason
    assert s.m_score.value is None


def test_score_read_non_finite_level_is_not_silently_dropped():
    s = score_read({**FULL, "L2": roi(math.nan)})
    assert "The L2 ROI statistics are not finite numbers." in s.vbq.reason
    assert s.snr.value is None and "L2" in s.snr.reason


def test_score_read_missing_level_and_missing_csf_reports_both():
    rois = {k: v for k, v in FULL.items() if k not in ("L4", "CSF")}
    s = score_read(rois)
    assert "No ROI for L4" in s.vbq.reason and "No CSF ROI" in s.vbq.reason
    assert "No ROI for L4" in s.snr_levels["L4"].reason
    assert s.snr.ok  # 3 levels and the noise are there


@pytest.mark.parametrize(
    ("csf", "fragment"),
    [
        (Excluded("artefact"), "The CSF ROI is marked excluded (artefact); VBQ needs it."),
        (roi(math.nan), "The CSF ROI statistics are not finite numbers."),
        (Unmeasurable("off image"), "The CSF ROI could not be measured: off image"),
        (roi(0.0), "≤ 0"),
        (roi(150.0, csf_level="S1"), "'S1' is not one of L3, L2, L1"),
    ],
)
def test_score_read_csf_problems(csf, fragment):
    s = score_read({**FULL, "CSF": csf})
    assert s.vbq.value is None and fragment in s.vbq.reason
    assert s.snr.ok  # SNR does not need the CSF


def test_score_read_csf_fallback_level_is_recorded():
    s = score_read({**FULL, "CSF": roi(150.0, csf_level="L2")})
    assert s.vbq.value == pytest.approx(2.7, abs=TOL) and s.csf_level == "L2"


@pytest.mark.parametrize(
    ("noise", "fragment"),
    [
        (None, "No background-noise ROI"),
        (Excluded(), "noise ROI is marked excluded"),
        (Unmeasurable("no pixels"), "The NOISE ROI could not be measured: no pixels"),
        (roi(20.0, sd=None), "single pixel"),
        (roi(20.0, sd=0.0), "SD is 0"),
    ],
)
def test_score_read_noise_problems(noise, fragment):
    rois = dict(FULL)
    if noise is None:
        del rois["NOISE"]
    else:
        rois["NOISE"] = noise
    s = score_read(rois, ScoringSettings(control_snrs=CONTROLS))
    assert s.snr.value is None and fragment in s.snr.reason
    assert all(not r.ok and fragment in r.reason for r in s.snr_levels.values())
    assert s.m_score.value is None and s.m_score.reason.startswith("No SNR")
    assert s.vbq.ok  # VBQ does not need the noise


def test_score_read_protocol_switches():
    s = score_read(FULL, ScoringSettings(compute_vbq=False))
    assert s.vbq is None and s.snr.ok
    s = score_read(FULL, ScoringSettings(compute_snr=False))
    assert s.snr is None and s.snr_levels is None and s.m_score is None and s.vbq.ok


def test_score_read_m_score_without_controls_says_so():
    s = score_read(FULL)
    assert "0 control SNRs" in s.m_score.reason


def test_score_read_rejects_unknown_label_and_bad_settings():
    with pytest.raises(ValueError, match="unknown ROI labels"):
        score_read({**FULL, "L5": roi(1.0)})
    with pytest.raises(ValueError, match="statistic"):
        ScoringSettings(statistic="mode")
    with pytest.raises(ValueError, match="noise_correction"):
        ScoringSettings(noise_correction="x")
    with pytest.raises(ValueError, match="min_levels"):
        ScoringSettings(min_levels=0)
    with pytest.raises(TypeError, match="mean, median and sd"):
        score_read({"L1": 3.0})


def test_input_types():
    s = RoiStats(n=3, area_mm2=1.0, mean=2.0, median=2.0, sd=1.0, min=1.0, max=3.0)
    a = score_read({"L1": s, "L2": RoiValues(mean=2.0, median=2.0, sd=1.0), "CSF": RoiValues(1.0, 1.0)})
    assert a.vbq.value is None and "No ROI for L3, L4" in a.vbq.reason
    assert a.level_si == {"L1": 2.0, "L2": 2.0, "L3": None, "L4": None}
    assert Excluded().reason == "" and Unmeasurable("x").error == "x"
    s = score_read({**FULL, "L1": Excluded()})
    assert s.excluded == {"L1": "L1 excluded"}


# ------------------------------------------------------------------------------------------------------------
# Invariants over arbitrary reads
# ------------------------------------------------------------------------------------------------------------

si = st.floats(min_value=1.0, max_value=5000.0, allow_nan=False)
level_entry = st.one_of(
    si.map(lambda m: roi(m)),
    st.just(Excluded("fracture")),
    st.just(Unmeasurable("no pixels")),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(
    levels=st.fixed_dictionaries({lv: level_entry for lv in LEVELS}),
    csf=st.one_of(
        st.none(),
        st.sampled_from([0.0, -12.5]).map(roi),
        st.floats(min_value=0.01, max_value=800.0).map(lambda m: roi(m)),
    ),
    noise_sd=st.one_of(st.none(), st.just(0.0), st.floats(min_value=0.5, max_value=50.0)),
    min_levels=st.integers(1, 4),
    controls=st.lists(st.floats(min_value=1.0, max_value=100.0), max_size=5),
)
def test_every_score_has_value_xor_reason_and_values_match_formulas(levels, csf, noise_sd, min_levels, controls):
    rois = {lv: e for lv, e in levels.items() if e is not None}
    if csf is not None:
        rois["CSF"] = csf
    if noise_sd is not None:
        rois["NOISE"] = roi(10.0, sd=noise_sd)
    s = score_read(rois, ScoringSettings(min_levels=min_levels, control_snrs=tuple(controls)))
    for r in (s.vbq, s.snr, s.m_score):
        assert (r.value is None) != (r.reason is None)
    for r in s.snr_levels.values():
        assert (r.value is None) != (r.reason is None)

    measured = {lv: e.mean for lv, e in rois.items() if lv in LEVELS and isinstance(e, RoiValues)}
    complete = all(lv in rois and not isinstance(rois[lv], Unmeasurable) for lv in LEVELS)
    expect_vbq = complete and len(measured) >= min_levels and csf is not None and csf.mean > 0
    assert s.vbq.ok == expect_vbq
    if expect_vbq:
        assert s.vbq.value == pytest.approx(statistics.median(measured.values()) / csf.mean, rel=1e-12)
    no_error = not any(isinstance(e, Unmeasurable) for lv, e in rois.items() if lv in LEVELS)
    expect_snr = no_error and len(measured) >= min_levels and bool(noise_sd)
    assert s.snr.ok == expect_snr
    if expect_snr:
        assert s.snr.value == pytest.approx(statistics.fmean(measured.values()) / noise_sd, rel=1e-12)
        if len(controls) >= 2 and statistics.stdev(controls) > 0:
            expect_m = (s.snr.value - statistics.fmean(controls)) / statistics.stdev(controls)
            assert s.m_score.value == pytest.approx(expect_m, rel=1e-9, abs=1e-9)
