"""Synthetic lumbar spine phantoms and the demo cohort: the stated regions give the intended VBQ and SNR.

No database: run with ``python -m pytest tests/studies_tests -q -p no:django``.
"""

from __future__ import annotations

import csv
import math
from collections import Counter

import numpy as np
import pydicom
import pytest

from studies.demo.phantom import (
    CSF_LEVELS,
    LEVELS,
    MID_SLICE,
    N_SLICES,
    QCT_YOUNG_MEAN,
    QCT_YOUNG_SD,
    REFERENCE_COLUMNS,
    VBQ_LEVELS,
    PhantomGeometry,
    Region,
    demo_cohort,
    make_phantom_series,
    write_reference_csv,
)


@pytest.fixture(scope="module")
def cohort():
    return demo_cohort()


def _by_code(cohort, code):
    return next(s for s in cohort if s.subject_code == code)


# Three subjects spanning the VBQ range and noise levels, and an SNR-design subject.
PHANTOM_CODES = ("VBQ-001", "VBQ-030", "VBQ-055", "SNR-002")


@pytest.fixture(scope="module")
def phantoms(cohort, tmp_path_factory) -> dict[str, tuple[object, PhantomGeometry, np.ndarray]]:
    out = {}
    for code in PHANTOM_CODES:
        subject = _by_code(cohort, code)
        geometry = make_phantom_series(subject, out_dir=tmp_path_factory.mktemp(code), rng_seed=2026)
        mid = pydicom.dcmread(geometry.mid_slice_path).pixel_array.astype(float)
        out[code] = (subject, geometry, mid)
    return out


def _mean(image: np.ndarray, region: Region) -> float:
    return float(region.pixels(image).mean())


@pytest.mark.parametrize("code", PHANTOM_CODES)
def test_marrow_and_csf_means_match_the_targets(phantoms, code):
    subject, geometry, mid = phantoms[code]
    for level in LEVELS:
        measured = _mean(mid, geometry.vertebrae[level])
        assert measured == pytest.approx(geometry.expected_marrow_mean[level], rel=0.01), level
        assert geometry.expected_marrow_mean[level] == pytest.approx(subject.marrow_signal(level), rel=0.005)
    for level in CSF_LEVELS:
        measured = _mean(mid, geometry.csf[level])
        assert measured == pytest.approx(geometry.expected_csf_mean[level], rel=0.02), level
        assert geometry.expected_csf_mean[level] == pytest.approx(subject.csf_signal, rel=0.005)
    # The median of the L1-L4 factors is exactly one, so the design VBQ is the target.
    assert np.median([subject.level_factors[LEVELS.index(lv)] for lv in VBQ_LEVELS]) == pytest.approx(1.0)


@pytest.mark.parametrize("code", PHANTOM_CODES)
def test_vbq_from_the_stated_regions_equals_the_target(phantoms, code):
    subject, geometry, mid = phantoms[code]
    marrow = [_mean(mid, geometry.vertebrae[level]) for level in VBQ_LEVELS]
    vbq = np.median(marrow) / _mean(mid, geometry.csf["L3"])
    assert vbq == pytest.approx(subject.target_vbq, rel=0.02)
    assert geometry.expected_vbq == pytest.approx(subject.target_vbq, rel=0.005)


@pytest.mark.parametrize("code", PHANTOM_CODES)
def test_noise_region_is_air_with_rayleigh_statistics(phantoms, code):
    subject, geometry, mid = phantoms[code]
    air = geometry.noise.pixels(mid)
    sigma = geometry.noise_sigma
    assert air.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.03)  # Rayleigh mean
    assert air.std(ddof=1) == pytest.approx(geometry.expected_noise_sd, rel=0.04)
    assert air.mean() < 0.1 * subject.csf_signal  # background, not tissue
    # The whole column band of the region is outside the body on every row of the image.
    band = mid[:, geometry.noise.slices()[1]]
    assert band.mean() < 3 * sigma


def test_snr_from_the_stated_regions_matches_the_snr_target(phantoms):
    subject, geometry, mid = phantoms["SNR-002"]
    marrow = np.mean([_mean(mid, geometry.vertebrae[level]) for level in VBQ_LEVELS])
    snr = marrow / geometry.noise.pixels(mid).std(ddof=1)
    assert subject.target_snr is not None
    assert geometry.expected_snr == pytest.approx(subject.target_snr, rel=0.01)
    assert snr == pytest.approx(subject.target_snr, rel=0.05)


def test_regions_are_inside_the_image_ordered_and_anatomically_placed(phantoms):
    _, geometry, mid = phantoms["VBQ-001"]
    regions = [*geometry.vertebrae.values(), *geometry.csf.values(), geometry.noise]
    for region in regions:
        rows, cols = region.slices()
        assert 0 <= rows.start and rows.stop <= geometry.rows and 0 <= cols.start and cols.stop <= geometry.columns
        assert region.pixels(mid).size == region.n_pixels
    rows = [geometry.vertebrae[level].row for level in LEVELS]
    assert rows == sorted(rows)  # T12 at the top, L5 at the bottom (rows run superior -> inferior)
    for level in CSF_LEVELS:
        body, csf = geometry.vertebrae[level], geometry.csf[level]
        assert csf.col - csf.half_width > body.col + body.half_width  # CSF is posterior (to the right)
        assert abs(csf.row - body.row) <= 1
    assert geometry.noise.col + geometry.noise.half_width < min(r.col for r in geometry.vertebrae.values())
    assert geometry.vertebrae["L3"].area_mm2() > 300  # room for a reader's ROI
    assert 40 <= geometry.csf["L3"].area_mm2() <= 150
    assert geometry.noise.area_mm2() >= 40  # the SNR method's 0.40 cm2 noise ROI fits


def test_series_headers_are_realistic_raw_scanner_output(phantoms):
    subject, geometry, _ = phantoms["VBQ-030"]
    assert len(geometry.files) == N_SLICES and geometry.mid_slice_index == MID_SLICE
    datasets = [pydicom.dcmread(p) for p in geometry.files]
    first = datasets[0]
    assert first.Modality == "MR" and first.SeriesDescription == "T1 TSE SAG"
    assert first.RepetitionTime == 500 and first.EchoTime == 10
    assert list(first.ImageOrientationPatient) == [0, 1, 0, 0, 0, -1]
    assert list(first.PixelSpacing) == [0.9375, 0.9375] and first.SliceThickness == 4
    assert (first.Rows, first.Columns, first.BitsAllocated, first.BitsStored, first.HighBit) == (
        320,
        320,
        16,
        12,
        11,
    )
    assert first.PhotometricInterpretation == "MONOCHROME2" and first.PixelRepresentation == 0
    # Identifying attributes the import must remove.
    assert first.PatientName == subject.patient_name and first.PatientID == subject.patient_id
    assert first.PatientBirthDate == subject.birth_date and first.StudyDate == subject.study_date
    for keyword in ("InstitutionName", "ReferringPhysicianName", "AccessionNumber", "OperatorsName"):
        assert str(first.get(keyword, "")).strip(), keyword
    assert any(t.is_private for t in first.keys())
    assert len({d.SeriesInstanceUID for d in datasets}) == 1
    assert len({d.FrameOfReferenceUID for d in datasets}) == 1
    assert len({d.SOPInstanceUID for d in datasets}) == N_SLICES
    xs = [float(d.ImagePositionPatient[0]) for d in datasets]
    assert xs == sorted(xs, reverse=True) and xs[MID_SLICE] == 0.0  # left (+x) to right
    assert [int(d.InstanceNumber) for d in datasets] == list(range(1, N_SLICES + 1))
    for d in datasets:
        pixels = d.pixel_array
        assert pixels.dtype == np.uint16 and pixels.max() <= 4095 and pixels.shape == (320, 320)


def test_series_is_reproducible(cohort, tmp_path):
    subject = _by_code(cohort, "VBQ-010")
    a = make_phantom_series(subject, out_dir=tmp_path / "a", rng_seed=5)
    b = make_phantom_series(subject, out_dir=tmp_path / "b", rng_seed=5)
    assert [p.read_bytes() for p in a.files] == [p.read_bytes() for p in b.files]
    assert a.vertebrae == b.vertebrae and a.expected_marrow_mean == b.expected_marrow_mean
    c = make_phantom_series(subject, out_dir=tmp_path / "c", rng_seed=6)
    assert a.files[MID_SLICE].read_bytes() != c.files[MID_SLICE].read_bytes()


# --------------------------------------------------------------------------------------------- cohort


def test_cohort_sizes_and_codes(cohort):
    assert len(cohort) == 71
    vbq = [s for s in cohort if s.cohort == "VBQ"]
    snr = [s for s in cohort if s.cohort == "SNR"]
    assert [s.subject_code for s in vbq] == [f"VBQ-{i:03d}" for i in range(1, 62)]
    assert [s.subject_code for s in snr] == [f"SNR-{i:03d}" for i in range(1, 11)]
    assert Counter(s.group for s in vbq) == {"normal": 21, "osteopenia": 21, "osteoporosis": 19}
    assert len({s.patient_id for s in cohort}) == 71 and all(s.patient_id != s.subject_code for s in cohort)
    assert demo_cohort() == cohort  # deterministic for the default seed
    assert demo_cohort(seed=1) != cohort


@pytest.mark.parametrize(
    ("group", "vbq_mean", "vbq_sd", "age_mean", "age_sd"),
    [("normal", 2.2, 0.5, 57, 14), ("osteopenia", 2.45, 0.55, 65, 7), ("osteoporosis", 2.7, 0.6, 71, 9)],
)
def test_group_means_follow_the_vbq_qct_study(cohort, group, vbq_mean, vbq_sd, age_mean, age_sd):
    members = [s for s in cohort if s.cohort == "VBQ" and s.group == group]
    vbq = np.array([s.target_vbq for s in members])
    ages = np.array([s.age for s in members])
    assert vbq.mean() == pytest.approx(vbq_mean, abs=1e-9) and vbq.std(ddof=1) == pytest.approx(vbq_sd, abs=1e-9)
    assert ages.mean() == pytest.approx(age_mean, abs=0.5) and ages.std(ddof=1) == pytest.approx(age_sd, abs=0.5)
    assert vbq.min() > 1.2
    assert all(s.reference_modality == "QCT" and not s.control for s in members)


def test_qct_t_scores_and_bmd_agree_with_who_and_acr_cut_offs(cohort):
    for s in (s for s in cohort if s.cohort == "VBQ"):
        assert s.bmd == pytest.approx(QCT_YOUNG_MEAN + QCT_YOUNG_SD * s.t_score, abs=0.051)
        if s.group == "normal":
            assert s.t_score >= -1 and s.bmd > 120
        elif s.group == "osteopenia":
            assert -2.5 < s.t_score < -1 and 80 < s.bmd < 120
        else:
            assert s.t_score <= -2.5 and s.bmd < 80


def test_vbq_correlates_negatively_with_bmd_like_the_seed_study(cohort):
    vbq = [s for s in cohort if s.cohort == "VBQ"]
    r = np.corrcoef([s.target_vbq for s in vbq], [s.bmd for s in vbq])[0, 1]
    assert r == pytest.approx(-0.27, abs=0.03)
    # ROC: osteoporosis vs normal, as the seed study's AUC 0.754.
    pos = np.array([s.target_vbq for s in vbq if s.group == "osteoporosis"])
    neg = np.array([s.target_vbq for s in vbq if s.group == "normal"])
    auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / pos.size / neg.size
    assert auc == pytest.approx(0.754, abs=0.03)


def test_snr_design_subjects(cohort):
    snr = [s for s in cohort if s.cohort == "SNR"]
    patients = [s for s in snr if not s.control]
    controls = [s for s in snr if s.control]
    assert len(patients) == 5 and len(controls) == 5
    assert all(s.sex == "F" and s.reference_modality == "DEXA" for s in snr)
    assert all(s.t_score <= -2.5 and s.group == "osteoporosis" and s.age >= 50 for s in patients)
    assert all(s.t_score > -1 and s.age < 40 for s in controls)
    assert all(0.4 < s.bmd < 1.4 and 1.0 < s.tbs < 1.6 and s.z_score is not None for s in snr)
    assert max(s.tbs for s in patients) < min(s.tbs for s in controls)
    assert len({s.noise_sigma for s in snr}) == 1  # one scanner
    ref = np.array([s.target_snr for s in controls])
    m_scores = [(s.target_snr - ref.mean()) / ref.std(ddof=1) for s in patients]
    assert all(m > 1 for m in m_scores)  # fatty marrow: higher SNR than young controls


def test_reference_csv(cohort, tmp_path):
    path = tmp_path / "reference.csv"
    write_reference_csv(cohort, path)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert (
        tuple(rows[0].keys())
        == REFERENCE_COLUMNS
        == (
            "subject_code",
            "reference_modality",
            "t_score",
            "bmd",
            "z_score",
            "tbs",
            "age",
            "sex",
            "bmi",
            "diabetes",
            "hyperlipidemia",
            "control",
        )
    )
    assert len(rows) == 71
    by_code = {r["subject_code"]: r for r in rows}
    for s in cohort:
        row = by_code[s.subject_code]
        assert row["reference_modality"] == s.reference_modality
        assert float(row["t_score"]) == pytest.approx(s.t_score) and float(row["bmd"]) == pytest.approx(s.bmd)
        assert int(row["age"]) == s.age and row["sex"] == s.sex and float(row["bmi"]) == pytest.approx(s.bmi)
        assert row["diabetes"] == ("yes" if s.diabetes else "no")
        assert row["hyperlipidemia"] == ("yes" if s.hyperlipidemia else "no")
        assert row["control"] == ("yes" if s.control else "no")
        assert (row["tbs"] == "") is (s.tbs is None) and (row["z_score"] == "") is (s.z_score is None)
    assert {r["sex"] for r in rows} == {"F", "M"} and {r["reference_modality"] for r in rows} == {"QCT", "DEXA"}
    assert {r["diabetes"] for r in rows} == {"yes", "no"}


def test_region_helpers():
    region = Region(col=10, row=20, half_width=2, half_height=3)
    image = np.arange(40 * 40).reshape(40, 40)
    assert region.n_pixels == 35 and region.pixels(image).size == 35
    assert region.pixels(image)[0] == image[17, 8] and region.pixels(image)[-1] == image[23, 12]
    assert region.area_mm2() == pytest.approx(35 * 0.9375**2)
