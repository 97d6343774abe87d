"""Enhanced (multi-frame) MR files: per-frame geometry, validation, decoding and de-identification (pure functions).

The files are our phantoms converted by highdicom's legacy conversion (tests.factories.enhanced_mr); no file
ships with the tests. pydicom's offline test data holds no multi-frame MR file (its enhanced MR examples,
e.g. ``emri_small.dcm``, are in the separate pydicom-data download), so none is used.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import EnhancedMRImageStorage, LegacyConvertedEnhancedMRImageStorage, RLELossless

from studies.dicom import deid
from studies.dicom.frames import expand_facts, frame_dataset, frame_facts, frame_uid, is_enhanced_mr
from studies.dicom.pixels import PixelError, PixelSlice, decode_pixels
from studies.dicom.series import check_series_geometry, classify_series, slice_normal
from studies.dicom.validate import inspect_file
from tests import factories as f


@pytest.fixture(scope="module")
def converted():
    return f.enhanced_mr()


def _position(ds) -> float:
    return float(np.dot(np.asarray(ds.ImagePositionPatient, float), slice_normal(ds)))


def _frame_of(mf, single) -> int:
    """The frame of ``mf`` converted from the single-frame dataset ``single`` (by its SOP Instance UID; in the
    Enhanced MR variant, which has no conversion source, by its position)."""
    for number, item in enumerate(mf.PerFrameFunctionalGroupsSequence, 1):
        if "ConversionSourceAttributesSequence" not in item:
            if item.PlanePositionSequence[0].ImagePositionPatient == single.ImagePositionPatient:
                return number
        elif item.ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID == single.SOPInstanceUID:
            return number
    raise AssertionError("frame not found")


@pytest.mark.parametrize("enhanced", [False, True], ids=["legacy-converted", "enhanced-mr"])
def test_both_enhanced_mr_classes_are_accepted_with_every_frame_placed(enhanced):
    mf, singles, _ = f.enhanced_mr(enhanced=enhanced)
    assert is_enhanced_mr(mf)
    assert mf.SOPClassUID == (EnhancedMRImageStorage if enhanced else LegacyConvertedEnhancedMRImageStorage)
    result = inspect_file(f.part10(mf), name="enhanced.dcm")
    assert result.accepted, result.reason
    frames = result.facts["Frames"]
    assert [fr["FrameNumber"] for fr in frames] == list(range(1, len(singles) + 1))
    # each frame has the position, orientation and spacing of the single-frame file it was made from
    for single in singles:
        frame = frames[_frame_of(mf, single) - 1]
        assert frame["ImagePositionPatient"] == pytest.approx([float(v) for v in single.ImagePositionPatient])
        assert frame["ImageOrientationPatient"] == pytest.approx([float(v) for v in single.ImageOrientationPatient])
        assert frame["PixelSpacing"] == pytest.approx([float(v) for v in single.PixelSpacing])
        assert frame["SliceThickness"] == pytest.approx(float(single.SliceThickness))
    # the timing lives in the functional groups / converted attributes, not at the top level
    assert result.facts["RepetitionTime"] == 500.0 and result.facts["EchoTime"] == 10.0


def test_the_series_functions_see_one_image_per_frame_and_classify_it_like_the_single_frame_series(converted):
    mf, singles, _ = converted
    facts = inspect_file(f.part10(mf)).facts
    slices = expand_facts(facts)
    assert len(slices) == len(singles) and all("Frames" not in s for s in slices)
    assert check_series_geometry([facts]) == []
    multi, single = classify_series([facts]), classify_series(singles)
    assert multi.is_sagittal_t1 and single.is_sagittal_t1
    assert (multi.n_instances, multi.orientation, multi.weighting, multi.normal) == (
        single.n_instances,
        single.orientation,
        single.weighting,
        single.normal,
    )
    assert expand_facts({"PatientID": "x"}) == [{"PatientID": "x"}]


def test_each_frame_decodes_to_the_values_and_spacing_of_its_single_frame_file(converted):
    mf, singles, _ = converted
    for single in singles:
        frame = _frame_of(mf, single)
        a, b = PixelSlice.from_dataset(single), PixelSlice.from_dataset(copy.deepcopy(mf), frame)
        assert a.values.dtype == b.values.dtype == np.float64
        assert np.array_equal(a.values, b.values)
        assert (a.row_spacing, a.col_spacing) == (b.row_spacing, b.col_spacing)


def test_a_frame_uses_its_own_rescale_from_the_functional_groups(converted):
    mf = copy.deepcopy(converted[0])
    stored = mf.pixel_array[2].astype(np.float64)
    item = Dataset()
    item.RescaleSlope, item.RescaleIntercept, item.RescaleType = "2.5", "-7", "US"
    mf.PerFrameFunctionalGroupsSequence[2].PixelValueTransformationSequence = Sequence([item])
    assert np.array_equal(decode_pixels(mf, 3), stored * 2.5 - 7)
    assert np.array_equal(decode_pixels(mf, 2), mf.pixel_array[1].astype(np.float64))  # the shared identity
    assert frame_dataset(mf, 3).RescaleSlope == 2.5


def test_a_compressed_enhanced_file_decodes_frame_by_frame(converted):
    mf, singles, _ = converted
    rle = copy.deepcopy(mf)
    rle.compress(RLELossless)
    result = inspect_file(f.part10(rle))
    assert result.accepted, result.reason
    for single in singles[:3]:
        frame = _frame_of(mf, single)
        assert np.array_equal(decode_pixels(rle, frame), decode_pixels(single))


def test_decoding_a_multi_frame_file_needs_an_existing_frame(converted):
    mf = converted[0]
    with pytest.raises(PixelError, match="no frame was named"):
        decode_pixels(mf)
    with pytest.raises(PixelError, match="frame 14 does not exist"):
        decode_pixels(mf, 14)
    with pytest.raises(ValueError, match="frame 0 does not exist"):
        frame_dataset(mf, 0)


def _broken(converted, change) -> Dataset:
    ds = copy.deepcopy(converted[0])
    change(ds)
    return ds


def _no_position(ds):
    del ds.PerFrameFunctionalGroupsSequence[4].PlanePositionSequence


def _fewer_declared(ds):
    ds.NumberOfFrames = 12


def _more_declared(ds):
    ds.NumberOfFrames = 14


def _item_dropped(ds):
    del ds.PerFrameFunctionalGroupsSequence[-1]
    ds.NumberOfFrames = 12  # the pixel data still holds 13 frames


def _mixed_orientations(ds):
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = list(shared.PlaneOrientationSequence[0].ImageOrientationPatient)
    del shared.PlaneOrientationSequence
    for k, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        plane = Dataset()
        plane.ImageOrientationPatient = iop if k % 2 else [1, 0, 0, 0, 0, -1]  # every other frame coronal
        item.PlaneOrientationSequence = Sequence([plane])


def _no_spacing(ds):
    del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence


def _no_frame_groups(ds):
    del ds.PerFrameFunctionalGroupsSequence


def _half_rescale(ds):
    del ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleIntercept


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_no_position, r"frame 5 has no valid Image Position \(Patient\)"),
        (_fewer_declared, r"declares 12 frames \(Number of Frames\) but describes 13"),
        (_more_declared, r"declares 14 frames \(Number of Frames\) but describes 13"),
        (_item_dropped, r"holds image data for 13 frames but declares 12"),
        (_mixed_orientations, r"different orientations"),
        (_no_spacing, r"its frames have no valid Pixel Spacing"),
        (_no_frame_groups, r"Per-frame Functional Groups Sequence, which places each frame, is missing"),
        (_half_rescale, r"its frames have no valid rescale"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else "",
)
def test_an_inconsistent_multi_frame_file_is_rejected_with_its_reason(converted, change, expected):
    result = inspect_file(f.part10(_broken(converted, change)), name="broken.dcm")
    assert (result.status, result.code) == ("rejected", "inconsistent_frames")
    assert re.search(expected, result.reason), result.reason
    assert result.dataset is None and result.facts is None
    assert "Export the series again" in result.reason or "export the series again" in result.reason


def test_a_multi_frame_file_of_another_class_is_still_refused(converted):
    ds = copy.deepcopy(converted[1][0])
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    result = inspect_file(f.part10(ds))
    assert result.code == "multi_frame" and "Enhanced MR" in result.reason


def test_frame_facts_reports_nothing_for_a_consistent_file(converted):
    frames, problems = frame_facts(converted[0])
    assert problems == [] and len(frames) == 13


def test_frame_uids_are_stable_distinct_uids():
    sop = "2.25.123456789"
    keys = [frame_uid(sop, n) for n in range(1, 200)]
    assert len(set(keys)) == len(keys) and sop not in keys
    assert keys[0] == frame_uid(sop, 1) != frame_uid("2.25.987", 1)
    assert all(re.fullmatch(r"2\.25\.(0|[1-9]\d*)", k) and len(k) <= 64 for k in keys)


def test_deidentification_reaches_into_the_functional_groups(converted):
    mf = copy.deepcopy(converted[0])
    singles = converted[1]
    mapper = deid.UidMapper(b"k" * 32)
    shared = mf.SharedFunctionalGroupsSequence[0].UnassignedSharedConvertedAttributesSequence[0]
    assert "PatientAddress" in shared and "PatientTelephoneNumbers" in shared and "OtherPatientIDs" in shared
    original_time = mf.PerFrameFunctionalGroupsSequence[0].FrameContentSequence[0].FrameAcquisitionDateTime
    report = deid.deidentify(mf, subject_code="S-TEST", uid_map=mapper, date_offset_days=-10)
    shared = mf.SharedFunctionalGroupsSequence[0].UnassignedSharedConvertedAttributesSequence[0]
    for keyword in ("PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs", "RequestingPhysician"):
        assert keyword not in shared, keyword
    assert not any(tag.is_private for tag in shared.keys())  # the private block repeating the name is gone
    frame = mf.PerFrameFunctionalGroupsSequence[0]
    shifted = frame.FrameContentSequence[0].FrameAcquisitionDateTime
    assert shifted != original_time and shifted[8:] == original_time[8:]  # the date moved, the time of day kept
    source = frame.ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID
    # the reference to the single-frame source is remapped as the source's own UID would be
    original = _source(converted, 0)
    assert original in {s.SOPInstanceUID for s in singles} and source == mapper.map(original)
    assert "ReferencedSOPInstanceUID" in report.uids_remapped
    # Type 2 in the enhanced MR IODs: emptied, not removed
    assert "AcquisitionContextSequence" in mf and len(mf.AcquisitionContextSequence) == 0
    text = f.part10(mf)
    for single in singles:
        assert single.SOPInstanceUID.encode() not in text
    for identifying in (b"EXAMPLE", b"Sample Street", b"555-0100"):
        assert identifying not in text, identifying


def _source(converted, frame_index: int) -> str:
    item = converted[0].PerFrameFunctionalGroupsSequence[frame_index]
    return item.ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID


def test_a_malformed_value_in_the_functional_groups_is_reported_not_raised(converted):
    ds = copy.deepcopy(converted[0])
    data = f.part10(ds)
    position = ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0]
    text = "\\".join(str(v) for v in position.ImagePositionPatient).encode()
    # the same bytes with the third frame's position made unreadable as numbers (same length: offsets hold)
    broken = data.replace(text, b"x" * len(text), 1)
    assert broken != data
    result = inspect_file(broken, name="malformed.dcm")
    assert (result.status, result.code) == ("rejected", "inconsistent_frames")
    assert "frame 3 has no valid Image Position (Patient)" in result.reason
