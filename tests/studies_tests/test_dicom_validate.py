"""Validation and classification of uploaded DICOM files: every bad-file kind gets its code.

No database: run with ``python -m pytest tests/studies_tests -q -p no:django``.
"""

from __future__ import annotations

import copy
import io
import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from studies.demo.phantom import MID_SLICE, N_SLICES, demo_cohort, make_bad_files, make_phantom_series
from studies.dicom.series import SeriesInfo, check_series_geometry, classify_series, sort_instances
from studies.dicom.validate import ACCEPTED, REJECTION_CODES, InspectResult, inspect_file, mark_duplicates


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad")
    return folder, make_bad_files(folder)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    subject = demo_cohort()[0]
    geometry = make_phantom_series(subject, out_dir=tmp_path_factory.mktemp("series"), rng_seed=11)
    return geometry


@pytest.fixture
def datasets(series) -> list[Dataset]:
    return [pydicom.dcmread(p) for p in series.files]


def _inspect_folder(folder: Path) -> dict[str, InspectResult]:
    results = mark_duplicates([inspect_file(p) for p in sorted(folder.iterdir())])
    return {r.name: r for r in results}


def test_bad_files_cover_at_least_ten_kinds(bad_files):
    _, expected = bad_files
    kinds = set(expected.values()) - {ACCEPTED}
    assert len(kinds) >= 10
    assert kinds <= set(REJECTION_CODES)


def test_every_bad_file_gets_its_code(bad_files):
    folder, expected = bad_files
    results = _inspect_folder(folder)
    assert {name: r.code for name, r in results.items()} == expected
    for name, result in results.items():
        if expected[name] == ACCEPTED:
            assert result.accepted and result.dataset is not None and result.reason == ""
        else:
            assert not result.accepted and result.dataset is None
            assert result.status == ("skipped" if expected[name] == "dicomdir" else "rejected")
            assert len(result.reason) > 20 and result.reason[0].isupper()


def test_reasons_say_what_to_do(bad_files):
    folder, _ = bad_files
    results = _inspect_folder(folder)
    enhanced = results["enhanced_multiframe.dcm"].reason  # an enhanced MR file without functional groups
    assert "Per-frame Functional Groups Sequence, which places each frame, is missing" in enhanced
    assert enhanced.endswith("Export the series again from the scanner or PACS.")
    codec = results["mpeg4_encoded.dcm"].reason
    assert "MPEG-4" in codec and "1.2.840.10008.1.2.4.102" in codec and "no decoder" in codec
    assert "1.3.46.670589.33.1.4.1" in results["jpeg_private_transfer_syntax.dcm"].reason
    assert "CT" in results["ct_slice.dcm"].reason
    assert "Pixel Spacing" in results["no_geometry.dcm"].reason
    assert "Image Position" in results["no_geometry.dcm"].reason
    assert "RGB" in results["rgb_screen_capture.dcm"].reason
    assert "good_mr.dcm" in results["good_mr_copy.dcm"].reason


def test_good_files_are_accepted_from_path_bytes_and_file_objects(series):
    path = series.mid_slice_path
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        result = inspect_file(source)
        assert result.code == ACCEPTED, result.reason
        assert result.sop_instance_uid == series.sop_instance_uids[MID_SLICE]
        assert result.series_instance_uid == series.series_instance_uid
        assert result.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert inspect_file(path).name == path.name
    assert inspect_file(path.read_bytes(), name="upload/IM7").name == "upload/IM7"
    assert all(inspect_file(p).accepted for p in series.files)


def test_unreadable_path_is_reported_not_raised(tmp_path):
    result = inspect_file(tmp_path / "does-not-exist.dcm")
    assert result.code == "unreadable" and not result.accepted


def test_dicom_without_preamble_is_accepted(series):
    ds = pydicom.dcmread(series.mid_slice_path)
    pixels = ds.pixel_array.copy()
    del ds.file_meta  # an old-style (ACR-NEMA like) file: implicit VR, no preamble, no file meta
    ds.preamble = None
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    data = buffer.getvalue()
    assert data[128:132] != b"DICM"
    result = inspect_file(data)
    assert result.code == ACCEPTED, result.reason
    assert result.transfer_syntax_uid == ImplicitVRLittleEndian
    np.testing.assert_array_equal(result.dataset.pixel_array, pixels)


@pytest.mark.parametrize("transfer_syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_files_decode_and_are_accepted(series, transfer_syntax):
    ds = pydicom.dcmread(series.mid_slice_path)
    original = ds.pixel_array.copy()
    ds.compress(transfer_syntax, encoding_plugin="pydicom" if transfer_syntax == RLELossless else "")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    result = inspect_file(buffer.getvalue())
    assert result.code == ACCEPTED, result.reason
    np.testing.assert_array_equal(result.dataset.pixel_array, original)


def test_missing_codec_names_the_transfer_syntax(series, monkeypatch):
    ds = pydicom.dcmread(series.mid_slice_path)
    ds.compress(JPEG2000Lossless)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})  # as on a server without codecs
    result = inspect_file(buffer.getvalue())
    assert result.code == "codec_missing"
    assert "JPEG 2000" in result.reason and str(JPEG2000Lossless) in result.reason


def test_every_truncation_is_rejected_and_nothing_raises(series):
    data = series.mid_slice_path.read_bytes()
    cuts = sorted({*range(1, 3000, 7), *range(3000, len(data), 4099), len(data) - 1})
    codes = {cut: inspect_file(data[:cut]).code for cut in cuts}
    assert all(codes[c] == "not_dicom" for c in cuts if c < 132)
    # Past the DICM marker a cut file is "truncated", except a cut exactly between two elements before the
    # pixel data, which leaves a complete, image-less data set ("no_pixel_data", with a hint in the reason).
    later = [codes[c] for c in cuts if c >= 132]
    assert set(later) <= {"truncated", "no_pixel_data"}
    assert later.count("truncated") > 0.9 * len(later)
    assert all(codes[c] == "truncated" for c in cuts if c > 3000)


def test_garbage_and_corrupted_files_never_raise(series):
    rng = random.Random(5)
    data = series.mid_slice_path.read_bytes()
    for i in range(60):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        if i % 2:
            blob = bytes(128) + b"DICM" + blob
        assert inspect_file(blob).code in {"not_dicom", "truncated"}
    for _ in range(40):
        damaged = bytearray(data)
        for _ in range(6):
            damaged[rng.randrange(132, 2400)] = rng.randrange(256)
        result = inspect_file(bytes(damaged))
        assert result.code in REJECTION_CODES or result.code == ACCEPTED


def test_pixel_data_shorter_than_the_header_says_is_truncated(series):
    ds = pydicom.dcmread(series.mid_slice_path)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]  # consistent element, short image
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    result = inspect_file(buffer.getvalue())
    assert result.code == "truncated" and "102400 of 204800 bytes" in result.reason


def test_monochrome1_is_accepted_palette_is_not(series):
    ds = pydicom.dcmread(series.mid_slice_path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert inspect_file(buffer.getvalue()).code == ACCEPTED
    ds.PhotometricInterpretation = "PALETTE COLOR"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert inspect_file(buffer.getvalue()).code == "unsupported_photometric"


def test_mark_duplicates_keeps_the_first():
    a = InspectResult(status="accepted", code=ACCEPTED, name="a.dcm", sop_instance_uid="1.2.3")
    b = InspectResult(status="accepted", code=ACCEPTED, name="b.dcm", sop_instance_uid="1.2.3")
    c = InspectResult(status="rejected", code="not_dicom", name="c.txt")
    out = mark_duplicates([a, b, c])
    assert [r.code for r in out] == [ACCEPTED, "duplicate_sop_instance", "not_dicom"]
    assert "a.dcm" in out[1].reason
    assert out[1].as_dict()["code"] == "duplicate_sop_instance" and "dataset" not in out[1].as_dict()


# --------------------------------------------------------------------------------------------- series


def test_consistent_series_has_no_geometry_problem(datasets):
    assert check_series_geometry(datasets) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: (setattr(d, "Rows", 384), setattr(d, "Columns", 384)), "matrix sizes (320×320, 384×384)"),
        (lambda d: setattr(d, "PixelSpacing", [0.8, 0.8]), "pixel spacings"),
        (lambda d: setattr(d, "ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), "orientations"),
        (lambda d: delattr(d, "PixelSpacing"), "no Pixel Spacing"),
    ],
)
def test_inconsistent_geometry_is_reported(datasets, change, fragment):
    change(datasets[4])
    problems = check_series_geometry(datasets)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_repeated_slice_positions_are_reported(datasets):
    datasets[3].ImagePositionPatient = list(datasets[2].ImagePositionPatient)
    problems = check_series_geometry(datasets)
    assert len(problems) == 1 and "same slice position" in problems[0]
    assert check_series_geometry([]) == ["The series has no images."]


def test_phantom_is_a_sagittal_t1_series(datasets):
    info = classify_series(datasets)
    assert isinstance(info, SeriesInfo)
    assert info.orientation == "sagittal" and info.obliquity_deg == pytest.approx(0.0)
    assert info.weighting == "T1" and info.weighting_basis == "description"
    assert info.is_sagittal_t1 and not info.contrast_enhanced
    assert info.n_instances == N_SLICES and (info.rows, info.columns) == (320, 320)
    assert info.pixel_spacing == (0.9375, 0.9375) and info.slice_thickness == 4.0
    assert info.repetition_time == 500.0 and info.echo_time == 10.0
    assert info.normal == pytest.approx((-1.0, 0.0, 0.0))
    assert info.description == "T1 TSE SAG"


def _strip_descriptions(items: list[Dataset]) -> list[Dataset]:
    for d in items:
        for keyword in ("SeriesDescription", "ProtocolName", "SequenceName"):
            if keyword in d:
                delattr(d, keyword)
    return items


@pytest.mark.parametrize(
    ("tr", "te", "weighting"),
    [(500, 10, "T1"), (650, 12, "T1"), (4000, 100, "T2"), (3000, 20, "other"), (1200, 15, "other")],
)
def test_weighting_from_timing_when_descriptions_are_gone(datasets, tr, te, weighting):
    items = _strip_descriptions(datasets[:3])
    for d in items:
        d.RepetitionTime, d.EchoTime = tr, te
    info = classify_series(items)
    assert info.weighting == weighting and info.weighting_basis == "timing"


@pytest.mark.parametrize(
    ("description", "weighting", "contrast"),
    [
        ("t1_tse_sag", "T1", False),
        ("SAG T1W FSE", "T1", False),
        ("T2 TSE SAG", "T2", False),
        ("sag_t2_tse_fs", "T2", False),
        ("STIR SAG", "other", False),
        ("T1 SAG +C", "T1", True),
        ("T1_SAG_POST_GAD", "T1", True),
        ("T10 localizer", "other", False),
    ],
)
def test_weighting_and_contrast_from_description(datasets, description, weighting, contrast):
    items = _strip_descriptions(datasets[:2])
    for d in items:
        d.SeriesDescription = description
        d.RepetitionTime, d.EchoTime = 4000, 100  # descriptions win over timing
    info = classify_series(items)
    assert (info.weighting, info.contrast_enhanced) == (weighting, contrast)
    assert info.is_sagittal_t1 is (weighting == "T1" and not contrast)


def test_contrast_agent_attribute_marks_contrast(datasets):
    datasets[0].ContrastBolusAgent = "Gadobutrol"
    assert classify_series(datasets).contrast_enhanced


@pytest.mark.parametrize(
    ("iop", "orientation"),
    [
        ([1, 0, 0, 0, 1, 0], "axial"),
        ([1, 0, 0, 0, 0, -1], "coronal"),
        ([0, 1, 0, 0, 0, -1], "sagittal"),
        ([0, 0.9659258, -0.2588190, 0, 0.2588190, 0.9659258], "sagittal"),  # 15° oblique
    ],
)
def test_orientation_from_the_slice_normal(datasets, iop, orientation):
    for d in datasets:
        d.ImageOrientationPatient = iop
    info = classify_series(datasets)
    assert info.orientation == orientation
    if orientation == "sagittal" and iop[2] != 0:
        assert info.obliquity_deg == pytest.approx(0.0, abs=1e-6)  # tilt within the plane keeps the normal
    with pytest.raises(ValueError):
        classify_series([])


def test_sort_instances_along_the_slice_normal(datasets):
    shuffled = copy.copy(datasets)
    random.Random(3).shuffle(shuffled)
    ordered = sort_instances(shuffled)
    assert [int(d.InstanceNumber) for d in ordered] == list(range(1, N_SLICES + 1))
    normal = np.array([-1.0, 0.0, 0.0])
    positions = [float(np.dot(np.asarray(d.ImagePositionPatient, dtype=float), normal)) for d in ordered]
    assert positions == sorted(positions)
    # Reversing the stacking direction (normal flips with the row vector) reverses the order.
    for d in shuffled:
        d.ImageOrientationPatient = [0, -1, 0, 0, 0, -1]
    assert [int(d.InstanceNumber) for d in sort_instances(shuffled)] == list(range(N_SLICES, 0, -1))
    del shuffled[0].ImagePositionPatient
    with pytest.raises(ValueError, match="Image Position"):
        sort_instances(shuffled)


def test_inspect_returns_parsed_pixels_for_the_scoring_code(series):
    result = inspect_file(series.mid_slice_path)
    pixels = result.dataset.pixel_array
    assert pixels.shape == (320, 320) and pixels.dtype == np.uint16 and pixels.max() <= 4095
    assert result.dataset.file_meta.TransferSyntaxUID != ImplicitVRLittleEndian
