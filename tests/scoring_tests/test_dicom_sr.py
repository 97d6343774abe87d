"""The DICOM SR builder (``scoring.dicom_sr``, pure): geometry, values read back by highdicom, references, blinding
by omission, determinism, refusals — and validity under dciodvfy (dicom3tools)."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import LegacyConvertedEnhancedMRImageStorage, MRImageStorage

from scoring import dicom_sr as d
from studies.roi_geometry import roi_mask
from tests.conftest import skip_or_fail

STUDY_UID = "1.2.826.0.1.3680043.8.498.100"
SERIES_UID = "1.2.826.0.1.3680043.8.498.101"


def _header(sop: str, sop_class: str = MRImageStorage) -> Dataset:
    """A stored instance's header as the import leaves it: de-identified (subject code as name and ID)."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.SeriesInstanceUID = SERIES_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.PatientID = ds.PatientName = "VBQ-007"
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "PS3.15 basic profile"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240312", "101500", "", ""
    ds.ReferringPhysicianName = ""
    ds.InstitutionName = "St Elsewhere"  # not on the whitelist: must not reach the SR
    return ds


SOP = "1.2.826.0.1.3680043.8.498.102"
ROIS = (
    d.SrRoi("L1", "ellipse", [[15, 28], [15, 10], [10, 19], [20, 19]], SOP, n=137, area_mm2=65.76, mean=412.25,
            median=411.0, sd=17.125, snr=33.3),
    d.SrRoi("L2", excluded=True, exclusion_reason="Fracture"),
    d.SrRoi("L3", "polygon", [[30, 30], [40, 30], [35, 40]], SOP, n=51, area_mm2=24.48, mean=430.5, median=431.0,
            sd=12.0, snr=34.8),
    d.SrRoi("CSF", "rectangle", [[42, 20], [47, 20], [42, 40], [47, 40]], SOP, n=126, area_mm2=60.48,
            mean=170.0625, median=170.0, sd=8.5),
    d.SrRoi("NOISE", "rectangle", [[55, 10], [75, 10], [55, 50], [75, 50]], SOP, n=861, area_mm2=413.28,
            mean=6.1, median=6.0, sd=12.37),
)  # fmt: skip
SCORES = d.SrScores(vbq=2.4532, snr=34.05, m_score=-1.25)


def _read(**changes) -> d.SrRead:
    fields = dict(
        subject_code="VBQ-007",
        observer="reader1",
        read_number=2,
        submitted_at=dt.datetime(2026, 3, 4, 9, 30, 15, tzinfo=dt.UTC),
        uid_seed="7:3|42|abc",
        rois=ROIS,
        images={SOP: d.SrImage(d.sr_header(_header(SOP)))},
        scores=SCORES,
    )
    return d.SrRead(**(fields | changes))


def test_every_value_reads_back_equal_with_its_unit_and_tracking_identifier():
    values = d.sr_values(d.read_sr_bytes(_read()))
    assert set(values) == {"L1", "L3", "CSF", "NOISE", "SCORES"}
    for roi in ROIS:
        if roi.excluded:
            continue
        got = values[roi.label]
        assert got["sop_instance_uid"] == SOP
        for key in ("mean", "median", "sd", "area_mm2", "n", "snr"):
            assert got.get(key) == getattr(roi, key), (roi.label, key)
        assert got["units"]["mean"] == got["units"]["sd"] == "[arb'U]"
        assert (got["units"]["area_mm2"], got["units"]["n"]) == ("mm2", "{pixels}")
    assert values["SCORES"] | {"units": None} == {
        "vbq": SCORES.vbq,
        "snr": SCORES.snr,
        "m_score": SCORES.m_score,
        "excluded": {"L2": "Fracture"},
        "units": None,
    }
    assert len({v["tracking_uid"] for k, v in values.items() if k != "SCORES"}) == 4


def test_the_document_is_a_tid_1500_report_with_standard_and_declared_private_codes():
    ds = pydicom.dcmread(io.BytesIO(d.read_sr_bytes(_read())))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert (ds.CompletionFlag, ds.VerificationFlag) == ("COMPLETE", "UNVERIFIED")
    assert [s.CodingSchemeDesignator for s in ds.CodingSchemeIdentificationSequence] == [d.PRIVATE_SCHEME]
    codes_used = set()

    def walk(items):
        for item in items:
            for seq in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
                for code in item.get(seq, []):
                    codes_used.add((code.CodeValue, code.CodingSchemeDesignator))
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    assert {("110852", "DCM"), ("373098007", "SCT"), ("386136009", "SCT"), ("42798000", "SCT")} <= codes_used
    assert {("113060", "DCM"), ("NPIX", "99VBQR"), ("VBQ", "99VBQR"), ("MSCORE", "99VBQR")} <= codes_used
    assert ds.PatientID == ds.PatientName == "VBQ-007" and "InstitutionName" not in ds
    assert ds.StudyInstanceUID == STUDY_UID
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert [e.ReferencedSOPInstanceUID for e in evidence] == [SOP]


def test_the_same_read_gives_the_same_bytes_and_a_change_a_new_document():
    first = d.read_sr_bytes(_read())
    assert d.read_sr_bytes(_read()) == first
    other = pydicom.dcmread(io.BytesIO(d.read_sr_bytes(_read(uid_seed="7:3|42|def"))))
    assert other.SOPInstanceUID != pydicom.dcmread(io.BytesIO(first)).SOPInstanceUID
    assert other.SeriesInstanceUID == pydicom.dcmread(io.BytesIO(first)).SeriesInstanceUID  # same reader and read


def test_a_read_given_without_scores_or_statistics_writes_none():
    bare = tuple(
        d.SrRoi(r.label, r.shape, r.points_px, r.sop_instance_uid, excluded=r.excluded, n=r.n, area_mm2=r.area_mm2)
        for r in ROIS
    )
    values = d.sr_values(d.read_sr_bytes(_read(rois=bare, scores=None)))
    assert set(values["L1"]) >= {"n", "area_mm2"} and not {"mean", "median", "sd", "snr"} & set(values["L1"])
    assert set(values["SCORES"]) == {"units", "excluded"}


def test_rectangle_and_polygon_are_closed_polylines_shifted_to_the_corner_origin():
    kind, pts = d.scoord("rectangle", [[42, 20], [47, 20], [42, 40], [47, 40]])
    assert kind.value == "POLYLINE"
    assert pts.tolist() == [[42.5, 20.5], [47.5, 20.5], [47.5, 40.5], [42.5, 40.5], [42.5, 20.5]]
    kind, pts = d.scoord("polygon", [[30, 30], [40, 30], [35, 40]])
    assert pts.tolist() == [[30.5, 30.5], [40.5, 30.5], [35.5, 40.5], [30.5, 30.5]]
    _, pts = d.scoord("polygon", [[30, 30], [40, 30], [35, 40], [30, 30]])  # already closed: not doubled
    assert len(pts) == 4


@pytest.mark.parametrize("angle", [0.0, 0.3, 1.1])
@pytest.mark.parametrize("spacing", [(0.8, 0.6), (1.0, 1.0)])
def test_an_ellipse_becomes_its_major_then_minor_axis_and_covers_the_same_pixels(angle, spacing):
    """Handles perpendicular in mm (the viewer's ellipse, possibly rotated, anisotropic pixels) → the ELLIPSE's
    pixel-space axes; the pixel centres inside the SCOORD ellipse are exactly the ROI's pixels."""
    row_sp, col_sp = spacing
    centre, a, b = np.array([40.0, 30.0]), 12.0, 7.0  # mm semi-axes
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-u[1], u[0]])
    scale = np.array([col_sp, row_sp])
    c_mm = centre * scale
    handles = [(c_mm + b * v) / scale, (c_mm - b * v) / scale, (c_mm - a * u) / scale, (c_mm + a * u) / scale]
    kind, pts = d.scoord("ellipse", [p.tolist() for p in handles])
    assert kind.value == "ELLIPSE"
    pts = pts - 0.5
    major, minor = (pts[1] - pts[0]) / 2, (pts[3] - pts[2]) / 2
    assert np.linalg.norm(major) >= np.linalg.norm(minor)
    assert abs(major @ minor) < 1e-9  # perpendicular in the SCOORD (pixel) space
    ctr = (pts[0] + pts[1]) / 2
    rows, cols = np.mgrid[0:80, 0:100]
    rel = np.stack([cols - ctr[0], rows - ctr[1]], axis=-1)
    inside = (rel @ major / (major @ major)) ** 2 + (rel @ minor / (minor @ minor)) ** 2 <= 1 + 1e-9
    expected = roi_mask("ellipse", [p.tolist() for p in handles], 80, 100, row_sp, col_sp)
    assert (inside != expected).sum() == 0


def test_a_frame_of_a_multi_frame_image_is_referenced_by_its_file_and_frame_number():
    key = "2.25.1234"  # the slice key of frame 7 (studies.dicom.frames.frame_uid)
    header = d.sr_header(_header(SOP, LegacyConvertedEnhancedMRImageStorage))
    rois = [d.SrRoi(r.label, r.shape, r.points_px, key if r.sop_instance_uid else "", excluded=r.excluded)
            for r in ROIS]  # fmt: skip
    data = d.read_sr_bytes(_read(rois=rois, images={key: d.SrImage(header, frame_number=7)}, scores=None))
    ds = pydicom.dcmread(io.BytesIO(data))
    refs = []

    def walk(items):
        for item in items:
            for ref in item.get("ReferencedSOPSequence", []):
                frames = ref.get("ReferencedFrameNumber")  # one value (IS) or several (MultiValue)
                frames = [frames] if isinstance(frames, int) else list(frames or [])
                refs.append((ref.ReferencedSOPInstanceUID, tuple(int(x) for x in frames)))
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    assert len(refs) == 5 and set(refs) == {(SOP, (7,))}  # 4 regions and the scores group's source image


def test_refusals_say_what_is_wrong():
    with pytest.raises(d.SrError, match="no longer stored"):
        d.read_sr(_read(images={}))
    with pytest.raises(d.SrError, match="no drawn ROI"):
        d.read_sr(_read(rois=[d.SrRoi("L1", excluded=True, exclusion_reason="Hardware")]))
    with pytest.raises(d.SrError, match="SOPClassUID"):
        d.sr_header(Dataset())


def dciodvfy(data: bytes, tmp_path) -> tuple[list[str], list[str]]:
    """dicom3tools' IOD check of a file: (errors, warnings). Fails when it does not recognise a Comprehensive SR
    (an aborted run prints no "Error" line)."""
    binary = shutil.which("dciodvfy") or ("/usr/bin/dciodvfy" if os.path.exists("/usr/bin/dciodvfy") else None)
    if binary is None:
        skip_or_fail("dciodvfy (Debian dicom3tools) is not installed")
    path = tmp_path / "sr.dcm"
    path.write_bytes(data)
    proc = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert "ComprehensiveSR" in lines, lines
    return [x for x in lines if x.startswith(("Error", "Abort"))], [x for x in lines if x.startswith("Warning")]


def test_the_dciodvfy_check_sees_an_error_when_there_is_one(tmp_path):
    ds = d.read_sr(_read())
    del ds.CompletionFlag  # type 1 in the SR Document General module
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    errors, _ = dciodvfy(buffer.getvalue(), tmp_path)
    assert any("CompletionFlag" in e for e in errors), errors


@pytest.mark.parametrize("variant", ["pi", "reader", "multi-frame"])
def test_dciodvfy_finds_no_error(variant, tmp_path):
    if variant == "pi":
        read = _read()
    elif variant == "reader":
        read = _read(scores=None)
    else:
        header = d.sr_header(_header(SOP, LegacyConvertedEnhancedMRImageStorage))
        read = _read(images={SOP: d.SrImage(header, frame_number=3)})
    errors, warnings = dciodvfy(d.read_sr_bytes(read), tmp_path)
    assert errors == []
    # What it still warns about (reported in the README): the private scheme's designator, and the one-component
    # Patient Name (the subject code, as the de-identification writes it in the stored images).
    assert all("99VBQR" in w or "Person Name" in w or "DICOMDIR" in w for w in warnings), warnings
