"""De-identification (PS3.15 Basic Profile): a corpus that carries every attribute of the profile table.

No database: run with ``python -m pytest tests/studies_tests -q -p no:django``.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_has_tag, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, MRImageStorage

from studies.demo.phantom import demo_cohort, make_phantom_series
from studies.dicom.deid import (
    ADDITIONAL_REMOVALS,
    BASIC_PROFILE,
    MR_IOD_TYPE2,
    DeidReport,
    UidMapper,
    deidentify,
    resolve_action,
    subject_date_offset,
)

MARK = "SECRET"
ORIGINAL_DATE = "20200315"
ORIGINAL_DT = "20200315101010.5"
ORIGINAL_TIME = "101010"
UID_ROOT = "1.2.826.0.1.3680043.10.999."
OFFSET = -400
UNKNOWN_PUBLIC = 0x0018FFF0  # an even (public) group, but no such attribute in the dictionary
SHIFTED_DATE = (dt.date(2020, 3, 15) + dt.timedelta(days=OFFSET)).strftime("%Y%m%d")
VERSION_DATETIMES = {"ContextGroupVersion", "ContextGroupLocalVersion", "TemplateVersion", "TemplateLocalVersion"}
# The profile attributes the corpus carries: all of the table except the DIMSE command group (0000), which
# never occurs in a stored file, and the file meta group (0002), which goes into file_meta.
CORPUS_KEYWORDS = sorted(
    kw for kw in set(BASIC_PROFILE) | set(ADDITIONAL_REMOVALS) if tag_for_keyword(kw) >> 16 not in (0x0000, 0x0002)
)


def _value(keyword: str, index: int):
    """A marker value of the attribute's VR that a test can recognise if it survives."""
    vr = dictionary_VR(tag_for_keyword(keyword)).split(" or ")[0]
    if vr in ("AE", "CS"):
        return MARK
    if vr == "UR":
        return f"https://secret.example.org/{index}"
    if vr in ("LO", "LT", "SH", "ST", "UC", "UT"):
        return f"{MARK} text {index}"
    if vr == "PN":
        return f"{MARK}^Person{index}"
    if vr == "DA":
        return ORIGINAL_DATE
    if vr == "DT":
        return ORIGINAL_DT
    if vr == "TM":
        return ORIGINAL_TIME
    if vr == "AS":
        return "045Y"
    if vr in ("DS", "IS"):
        return "42"
    if vr in ("FL", "FD"):
        return 1.5
    if vr in ("SL", "SS", "UL", "US", "SV", "UV"):
        return 7
    if vr == "AT":
        return 0x00100010
    if vr == "UI":
        return f"{UID_ROOT}{index}"
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return b"SECRET!!"
    if vr == "SQ":
        item = Dataset()
        item.CodeValue = MARK
        item.CodeMeaning = f"{MARK} meaning"
        return Sequence([item])
    raise AssertionError(f"no test value for VR {vr} ({keyword})")


def _set(ds: Dataset, keyword: str, index: int) -> None:
    tag = tag_for_keyword(keyword)
    ds.add_new(tag, dictionary_VR(tag).split(" or ")[0], _value(keyword, index))


PIXELS = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 13) % 4096


def _corpus() -> Dataset:
    ds = Dataset()
    for index, keyword in enumerate(CORPUS_KEYWORDS):
        _set(ds, keyword, index)
    # Keep the MR image attributes that must survive.
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.ImagePositionPatient = [0, -150, 150]
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.PixelSpacing = [0.9375, 0.9375]
    ds.RepetitionTime = 500
    ds.EchoTime = 10
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = PIXELS.tobytes()
    ds["PixelData"].VR = "OW"
    # Sequences the profile keeps, whose items carry profile attributes and private data (two levels deep).
    inner = Dataset()
    for index, keyword in enumerate(
        ("ReferencedSOPInstanceUID", "InstitutionName", "PatientName", "StudyDate", "AcquisitionTime")
    ):
        _set(inner, keyword, 1000 + index)
    inner.ReferencedSOPClassUID = MRImageStorage
    inner.private_block(0x0011, "SECRET VENDOR", create=True).add_new(0x01, "LO", f"{MARK} nested")
    outer = Dataset()
    for index, keyword in enumerate(
        ("SeriesInstanceUID", "StudyInstanceUID", "OperatorsName", "DeviceSerialNumber", "SeriesDate")
    ):
        _set(outer, keyword, 2000 + index)
    outer.ReferencedInstanceSequence = Sequence([inner])
    ds.ReferencedSeriesSequence = Sequence([outer])
    region = Dataset()
    region.CodeValue = "T-D2100"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Lumbar spine"
    _set(region, "PersonName", 3000)
    ds.AnatomicRegionSequence = Sequence([region])
    # Private data: a vendor block with PHI, and the Philips scale slope/intercept kept as safe.
    vendor = ds.private_block(0x0019, "SECRET VENDOR", create=True)
    vendor.add_new(0x01, "LO", f"{MARK}^Patient private")
    vendor.add_new(0x02, "OB", b"SECRET!!")
    philips = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
    philips.add_new(0x0D, "FL", 0.0)
    philips.add_new(0x0E, "FL", 2.5)
    philips.add_new(0x0F, "LO", f"{MARK} not on the safe list")
    # Overlay and curve groups.
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60003000, "OW", b"\x01\x00" * 16)
    ds.add_new(0x60004000, "LT", f"{MARK} overlay")
    ds.add_new(0x50003000, "OW", b"\x01\x00" * 4)
    # A public tag unknown to the dictionary.
    ds.add_new(UNKNOWN_PUBLIC, "LO", f"{MARK} unknown public")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for index, keyword in enumerate(sorted(k for k in ADDITIONAL_REMOVALS if tag_for_keyword(k) >> 16 == 2)):
        _set(meta, keyword, 4000 + index)
    ds.file_meta = meta
    return ds


def _walk(ds: Dataset, path: str = ""):
    """Yield (path, element) for every element, recursing into sequences."""
    for elem in ds:
        yield f"{path}{elem.keyword or elem.tag}", elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                yield from _walk(item, f"{path}{elem.keyword}[{i}].")


def _leaks(ds: Dataset) -> list[str]:
    """Paths of elements whose value still holds an original marker, UID or date."""
    found = []
    for where, elem in [*_walk(ds), *_walk(ds.file_meta, "file_meta.")]:
        if elem.VR == "SQ" or elem.tag == 0x7FE00010:
            continue
        value = elem.value
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if MARK in text.upper() or UID_ROOT in text or ORIGINAL_DATE in text:
            found.append(where)
    return found


@pytest.fixture
def corpus() -> Dataset:
    return _corpus()


def test_table_keywords_are_known_to_pydicom_and_codes_valid():
    assert len(BASIC_PROFILE) >= 550
    for keyword, code in BASIC_PROFILE.items():
        tag = tag_for_keyword(keyword)
        assert tag is not None and dictionary_has_tag(tag), keyword
        assert set(code.split("/")) <= {"X", "Z", "D", "U", "K", "C"}, (keyword, code)
    for keyword in ADDITIONAL_REMOVALS:
        assert tag_for_keyword(keyword) is not None, keyword


@pytest.mark.parametrize(
    ("keyword", "code"),
    [
        ("PatientName", "Z"),
        ("PatientID", "Z"),
        ("PatientBirthDate", "Z"),
        ("PatientAddress", "X"),
        ("AccessionNumber", "Z"),
        ("StudyID", "Z"),
        ("InstitutionName", "X/Z/D"),
        ("InstitutionAddress", "X"),
        ("ReferringPhysicianName", "Z"),
        ("PerformingPhysicianName", "X"),
        ("NameOfPhysiciansReadingStudy", "X"),
        ("OperatorsName", "X/Z/D"),
        ("StudyDate", "Z"),
        ("ContentDate", "Z/D"),
        ("AcquisitionDateTime", "X/Z/D"),
        ("DeviceSerialNumber", "X/Z/D"),
        ("StationName", "X/Z/D"),
        ("ImageComments", "X"),
        ("StudyInstanceUID", "U"),
        ("SeriesInstanceUID", "U"),
        ("SOPInstanceUID", "U"),
        ("FrameOfReferenceUID", "U"),
        ("ReferencedSOPInstanceUID", "U"),
        ("MediaStorageSOPInstanceUID", "U"),
        ("SeriesDescription", "X"),
        ("ProtocolName", "X/D"),
        ("OtherPatientIDs", "X"),
        ("RequestAttributesSequence", "X"),
    ],
)
def test_table_entries_match_ps3_15(keyword, code):
    assert BASIC_PROFILE[keyword] == code


def test_compound_codes_resolve_for_the_mr_image_iod():
    assert resolve_action("ContentDate") == "Z"  # Type 2C in General Image
    assert resolve_action("ContrastBolusAgent") == "Z"
    assert resolve_action("InstitutionName") == "X"  # Type 3
    assert resolve_action("SeriesDate") == "X"
    assert resolve_action("ReferencedImageSequence") == "X"
    assert resolve_action("Rows") is None
    assert resolve_action("StationAETitle") == "X"
    assert MR_IOD_TYPE2 <= set(BASIC_PROFILE)


def test_corpus_carries_every_profile_attribute(corpus):
    present = {elem.keyword for _, elem in _walk(corpus)} | {e.keyword for e in corpus.file_meta}
    assert set(CORPUS_KEYWORDS) <= present
    assert _leaks(corpus)  # the detector sees the markers before de-identification


def _expected_check(ds: Dataset, keyword: str, original, *, shifted: bool) -> str | None:
    """None when ``keyword`` at top level was handled as the profile says, else a description."""
    vr = dictionary_VR(tag_for_keyword(keyword)).split(" or ")[0]
    present = keyword in ds
    value = ds[keyword].value if present else None
    if keyword in ("PatientName", "PatientID"):
        return None if str(value) == "VBQ-007" else f"{keyword} = {value!r}"
    is_dated = vr in ("DA", "DT", "TM") and keyword not in VERSION_DATETIMES
    if shifted and is_dated and keyword not in ("PatientBirthDate", "PatientBirthTime"):
        want = {"DA": SHIFTED_DATE, "DT": SHIFTED_DATE + ORIGINAL_DT[8:], "TM": ORIGINAL_TIME}[vr]
        return None if present and str(value) == want else f"{keyword}: {value!r} != shifted {want!r}"
    action = resolve_action(keyword)
    if action == "X":
        return None if not present else f"{keyword} should be removed"
    if action == "Z":
        if not present:
            return f"{keyword} should be present and empty"
        empty = len(value) == 0 if vr == "SQ" else ds[keyword].is_empty
        return None if empty else f"{keyword} should be empty, is {value!r}"
    if action == "D":
        if not present or ds[keyword].is_empty:
            return f"{keyword} should hold a dummy value"
        if vr == "SQ":
            return None if len(value) == 1 and len(value[0]) == 0 else f"{keyword}: dummy item expected"
        return None if value != original else f"{keyword} kept its value {value!r}"
    if action == "U":
        ok = present and str(value).startswith("2.25.") and str(value) != str(original)
        return None if ok else f"{keyword}: UID not replaced ({value!r})"
    return f"{keyword}: unexpected action {action!r}"


@pytest.mark.parametrize("shifted", [True, False], ids=["dates-shifted", "dates-removed"])
def test_every_profile_attribute_is_handled_as_the_profile_says(corpus, shifted):
    originals = {kw: copy.deepcopy(corpus[kw].value) for kw in CORPUS_KEYWORDS}
    report = deidentify(
        corpus,
        subject_code="VBQ-007",
        uid_map=UidMapper(b"study-secret"),
        date_offset_days=OFFSET if shifted else None,
    )
    problems = [
        p for kw in CORPUS_KEYWORDS if (p := _expected_check(corpus, kw, originals[kw], shifted=shifted)) is not None
    ]
    assert problems == []
    assert _leaks(corpus) == []
    for keyword in ADDITIONAL_REMOVALS:
        assert keyword not in corpus and keyword not in corpus.file_meta
    assert report.dates_retained is shifted
    if not shifted:
        assert ORIGINAL_TIME not in {str(e.value) for _, e in _walk(corpus) if e.VR == "TM"}


def test_nested_sequences_are_cleaned_and_uids_remapped(corpus):
    mapper = UidMapper("s3cret")
    ref_uid = corpus.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    series_uid = corpus.ReferencedSeriesSequence[0].SeriesInstanceUID
    # a reference the profile keeps, so that its index (Common Instance Reference) is still needed and kept
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = MRImageStorage, ref_uid
    corpus.ReferencedInstanceSequence = [reference]
    deidentify(corpus, subject_code="VBQ-007", uid_map=mapper, date_offset_days=OFFSET)
    outer = corpus.ReferencedSeriesSequence[0]
    inner = outer.ReferencedInstanceSequence[0]
    assert outer.SeriesInstanceUID == mapper.map(series_uid)
    assert inner.ReferencedSOPInstanceUID == mapper.map(ref_uid)
    assert inner.ReferencedSOPClassUID == MRImageStorage  # class UIDs are kept
    assert "InstitutionName" not in inner and "OperatorsName" not in outer and "DeviceSerialNumber" not in outer
    assert inner["PatientName"].is_empty  # Z inside an item; only the top-level name holds the subject code
    assert inner.StudyDate == SHIFTED_DATE and outer.SeriesDate == SHIFTED_DATE
    assert not any(t.is_private for t in inner.keys())
    assert corpus.AnatomicRegionSequence[0].CodeMeaning == "Lumbar spine"
    assert corpus.AnatomicRegionSequence[0].PersonName == "ANONYMIZED"


def test_private_overlay_and_unknown_attributes(corpus):
    report = deidentify(corpus, subject_code="VBQ-007", uid_map=UidMapper(b"k"), date_offset_days=None)
    private = [t for t in corpus.keys() if t.is_private]
    assert {str(corpus[t].value) for t in private if t.element < 0x100} == {"Philips MR Imaging DD 001"}
    block = corpus.private_block(0x2005, "Philips MR Imaging DD 001")
    assert block[0x0E].value == pytest.approx(2.5) and block[0x0D].value == 0.0
    assert 0x0F not in block
    assert "(0019,1001)" in report.private_removed and "(2005,100E)" in report.private_kept
    assert "113111" in report.method_codes
    assert not any(t.group in (0x5000, 0x6000) for t in corpus.keys())
    assert "OverlayData" in report.removed
    assert UNKNOWN_PUBLIC not in corpus and "(0018,FFF0)" in report.removed
    assert not dictionary_has_tag(UNKNOWN_PUBLIC)


def test_pixel_data_is_bit_identical_and_the_file_is_valid_dicom(corpus):
    before = bytes(corpus.PixelData)
    deidentify(corpus, subject_code="VBQ-007", uid_map=UidMapper(b"k"), date_offset_days=OFFSET)
    assert bytes(corpus.PixelData) == before
    buffer = io.BytesIO()
    corpus.save_as(buffer, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert back.SOPInstanceUID.startswith("2.25.")
    assert back.PatientName == "VBQ-007" and back.PatientID == "VBQ-007"
    assert back.PatientIdentityRemoved == "YES"
    np.testing.assert_array_equal(back.pixel_array, PIXELS)


def test_method_and_code_sequence(corpus):
    shifted = deidentify(copy.deepcopy(corpus), subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=-3)
    assert shifted.method_codes == ("113100", "113107", "113111")
    assert shifted.method[0] == "VBQ Reader PS3.15 Basic Profile; dates shifted"

    report = deidentify(corpus, subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=None)
    assert report.method[0] == "VBQ Reader PS3.15 Basic Profile; dates removed"
    codes = [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in corpus.DeidentificationMethodCodeSequence]
    assert codes[0] == ("113100", "DCM", "Basic Application Confidentiality Profile")
    assert "113107" not in {c[0] for c in codes}
    assert corpus.LongitudinalTemporalInformationModified == "REMOVED"
    assert corpus.DeidentificationMethod[0].startswith("VBQ Reader PS3.15 Basic Profile")


def test_keep_dates_false_removes_dates_even_with_an_offset(corpus):
    report = deidentify(corpus, subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=-30, keep_dates=False)
    assert report.date_offset_days is None and report.dates_shifted == ()
    assert corpus.StudyDate == "" and "SeriesDate" not in corpus
    assert "113107" not in report.method_codes


def test_report_names_keywords_never_values(corpus):
    report = deidentify(corpus, subject_code="VBQ-007", uid_map=UidMapper(b"k"), date_offset_days=OFFSET)
    assert isinstance(report, DeidReport)
    words = [
        *report.removed,
        *report.emptied,
        *report.replaced,
        *report.uids_remapped,
        *report.dates_shifted,
        *report.private_removed,
        *report.private_kept,
    ]
    assert not any(MARK in w.upper() or UID_ROOT in w or ORIGINAL_DATE in w for w in words)
    assert {"PatientName", "PatientID"} <= set(report.replaced)
    assert {"InstitutionAddress", "PatientAddress", "OtherPatientIDs"} <= set(report.removed)
    assert {"SOPInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"} <= set(report.uids_remapped)
    assert "StudyDate" in report.dates_shifted and "StudyDate" in report.changed
    assert report.burned_in_annotation is False
    as_json = json.loads(json.dumps(report.as_dict()))
    assert as_json["subject_code"] == "VBQ-007" and "StudyDate" in as_json["dates_shifted"]


def test_burned_in_annotation_is_reported(corpus):
    corpus.BurnedInAnnotation = "YES"
    report = deidentify(corpus, subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=None)
    assert report.burned_in_annotation is True


def test_clean_descriptors_option_keeps_meaning_without_identifiers():
    ds = Dataset()
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "MRN12345678"
    ds.SeriesDescription = "T1 TSE SAG Doe MRN12345678"
    ds.ProtocolName = "t1_tse_sag 20240108"
    ds.StudyDescription = "MRI L-SPINE john"
    report = deidentify(ds, subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=None, clean_descriptors=True)
    assert ds.SeriesDescription == "T1 TSE SAG"
    assert ds.ProtocolName == "t1_tse_sag"
    assert ds.StudyDescription == "MRI L-SPINE"
    assert "113105" in report.method_codes and "SeriesDescription" in report.cleaned
    plain = Dataset()
    plain.SeriesDescription = "T1 TSE SAG"
    deidentify(plain, subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=None)
    assert "SeriesDescription" not in plain  # X in the basic profile


def test_descriptors_read_from_files_are_cleaned_of_their_own_patients_identifiers_only():
    """The same description in two patients' files loses each file's own patient name (values read as bytes)."""

    def read(patient: str) -> Dataset:
        ds = Dataset()
        ds.PatientName = f"{patient}^ANNA"
        ds.PatientID = f"ID-{patient}"
        ds.SeriesDescription = "T1 SAG DOE SMITH"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return pydicom.dcmread(io.BytesIO(buffer.getvalue()))

    cleaned = {}
    for patient in ("DOE", "SMITH", "DOE"):
        ds = read(patient)
        deidentify(ds, subject_code="S", uid_map=UidMapper(b"k"), date_offset_days=None, clean_descriptors=True)
        cleaned.setdefault(patient, set()).add(ds.SeriesDescription)
    assert cleaned == {"DOE": {"T1 SAG SMITH"}, "SMITH": {"T1 SAG DOE"}}


@pytest.mark.parametrize("code", ["", "   ", "x" * 65, "A\\B"])
def test_invalid_subject_code_is_refused(code):
    with pytest.raises(ValueError, match="Subject code"):
        deidentify(Dataset(), subject_code=code, uid_map=UidMapper(b"k"), date_offset_days=None)


def test_uid_mapper_is_deterministic_keyed_and_valid():
    a, b, other = UidMapper(b"secret"), UidMapper("secret"), UidMapper(b"another")
    uid = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    assert a.map(uid) == b(uid) != other.map(uid)
    assert a.map(uid) == a.map(uid + "\x00") and len(a) == 1 and uid in a
    assert a.mapping == {uid: a.map(uid)}
    new = a.map(uid)
    assert new.startswith("2.25.") and len(new) <= 64
    n = int(new.split(".")[2])
    assert n < 2**128 and (n >> 76) & 0xF == 8 and (n >> 62) & 0x3 == 2  # UUID version 8, RFC variant
    assert a.map("") == ""
    with pytest.raises(ValueError):
        UidMapper(b"")


def test_subject_date_offset_is_reproducible_and_in_range():
    offsets = {subject_date_offset(f"VBQ-{i:03d}", secret="s") for i in range(1, 62)}
    assert all(-3650 <= o <= -365 for o in offsets) and len(offsets) > 50
    assert subject_date_offset("VBQ-001", secret="s") == subject_date_offset("VBQ-001", secret=b"s")
    assert subject_date_offset("VBQ-001", secret="s") != subject_date_offset("VBQ-001", secret="t")


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory) -> tuple[list[Path], object]:
    subject = demo_cohort()[6]
    geometry = make_phantom_series(subject, out_dir=tmp_path_factory.mktemp("raw"), rng_seed=3)
    return list(geometry.files), subject


def test_series_uids_stay_consistent_across_files(phantom_files):
    paths, subject = phantom_files
    mapper = UidMapper(b"per-study secret")
    originals = [pydicom.dcmread(p) for p in paths]
    outputs = []
    for path in paths:
        ds = pydicom.dcmread(path)
        report = deidentify(ds, subject_code=subject.subject_code, uid_map=mapper, date_offset_days=-500)
        assert report.burned_in_annotation is False
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        outputs.append(pydicom.dcmread(io.BytesIO(buffer.getvalue())))
    for attr in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        values = {str(d.get(attr)) for d in outputs}
        assert len(values) == 1 and values != {str(originals[0].get(attr))}
        assert values == {mapper.map(originals[0].get(attr))}
    sops = [d.SOPInstanceUID for d in outputs]
    assert len(set(sops)) == len(paths)
    assert all(d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID for d in outputs)
    for before, after in zip(originals, outputs, strict=True):
        assert bytes(after.PixelData) == bytes(before.PixelData)
        assert after.PatientName == subject.subject_code and after.PatientID == subject.subject_code
        assert "PatientBirthDate" not in after or after.PatientBirthDate == ""
        assert "InstitutionName" not in after and "ReferringPhysicianName" in after
        assert after.ReferringPhysicianName == "" and after.AccessionNumber == ""
        assert not any(t.is_private for t in after.keys())
        assert "SourceApplicationEntityTitle" not in after.file_meta
        assert after.StudyDate == (dt.datetime.strptime(before.StudyDate, "%Y%m%d") + dt.timedelta(days=-500)).strftime(
            "%Y%m%d"
        )
        assert after.ImagePositionPatient == before.ImagePositionPatient  # geometry untouched
        text = str(after)
        for secret in (str(before.PatientName).split("^")[0], before.PatientID, before.InstitutionName):
            assert secret not in text
    # The same secret in a later run maps the series identically (re-import is idempotent).
    again = UidMapper(b"per-study secret")
    assert again.map(originals[0].SeriesInstanceUID) == outputs[0].SeriesInstanceUID


def test_a_memo_gives_the_same_files_and_reports_as_none(corpus, phantom_files):
    """Values remembered across files (``memo``) are rewritten exactly as without it: per subject, date offset,
    descriptor cleaning and encoding (Implicit VR too), in nested sequences and in the file meta."""
    paths, _ = phantom_files
    sources = [p.read_bytes() for p in paths[:4]]
    for encoding in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds = copy.deepcopy(corpus)
        ds.file_meta.TransferSyntaxUID = encoding
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        sources.append(buffer.getvalue())
    contexts = [
        {"subject_code": "S001", "date_offset_days": -400, "clean_descriptors": True},
        {"subject_code": "S002", "date_offset_days": -400, "clean_descriptors": True},
        {"subject_code": "S001", "date_offset_days": -401, "clean_descriptors": False},
        {"subject_code": "S001", "date_offset_days": None, "clean_descriptors": True},
    ]
    memo: dict = {}
    with_memo, without = UidMapper(b"k"), UidMapper(b"k")
    for _ in range(2):  # the second round is served from the memo
        for context in contexts:
            for source in sources:
                results = []
                for mapper, kwargs in ((with_memo, {"memo": memo}), (without, {})):
                    ds = pydicom.dcmread(io.BytesIO(source))
                    report = deidentify(ds, uid_map=mapper, **context, **kwargs)
                    buffer = io.BytesIO()
                    ds.save_as(buffer, enforce_file_format=True)
                    results.append((buffer.getvalue(), report))
                assert results[0] == results[1]
    assert memo and with_memo.mapping == without.mapping


def test_module_imports_no_django():
    code = (
        "import sys, studies.dicom.deid, studies.dicom.validate, studies.dicom.series, studies.demo.phantom; "
        "print('django' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"
