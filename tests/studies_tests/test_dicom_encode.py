"""part10_bytes writes exactly what pydicom's save_as writes, while copying undecoded elements from the source.

No database: run with ``python -m pytest tests/studies_tests/test_dicom_encode.py -q -p no:django``.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from studies.demo.phantom import demo_cohort, make_phantom_series
from studies.dicom import encode as dicom_encode
from studies.dicom.deid import UidMapper, deidentify
from studies.dicom.encode import part10_bytes
from studies.dicom.validate import inspect_file

from .test_deid import _corpus


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return make_phantom_series(demo_cohort()[0], out_dir=tmp_path_factory.mktemp("series"), rng_seed=11)


def _save_as(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _both_ways(data: bytes, **deid_options) -> tuple[bytes, bytes]:
    """The same file de-identified twice: written by part10_bytes and by pydicom's save_as."""
    fast, slow = inspect_file(data), inspect_file(data)
    assert fast.accepted, fast.reason
    unchanged: set[int] = set()
    options = {"subject_code": "S007", "uid_map": UidMapper(b"k"), "date_offset_days": -400} | deid_options
    deidentify(fast.dataset, unchanged=unchanged, **options)
    deidentify(slow.dataset, **options)
    assert unchanged, "the kept attributes are reported"
    written = part10_bytes(fast.dataset, fast.source, originals=fast.originals, unchanged=unchanged)
    return written, _save_as(slow.dataset)


@pytest.mark.parametrize("clean", [False, True])
@pytest.mark.parametrize("keep_dates", [False, True])
def test_phantom_slices_are_written_byte_for_byte_as_save_as(series, clean, keep_dates):
    for path in series.files[:4]:
        written, expected = _both_ways(path.read_bytes(), clean_descriptors=clean, keep_dates=keep_dates)
        assert written == expected


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_ps315_corpus_with_private_overlay_and_nested_sequences(transfer_syntax):
    ds = _corpus()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    data = io.BytesIO()
    ds.save_as(data, enforce_file_format=True)
    written, expected = _both_ways(data.getvalue(), clean_descriptors=True)
    assert written == expected
    back = pydicom.dcmread(io.BytesIO(written))
    assert back.PatientName == "S007" and back.PatientIdentityRemoved == "YES"


@pytest.mark.parametrize("transfer_syntax", [RLELossless, JPEG2000Lossless])
def test_encapsulated_pixel_data_is_copied_intact(series, transfer_syntax):
    ds = pydicom.dcmread(series.mid_slice_path)
    pixels = ds.pixel_array.copy()
    ds.compress(transfer_syntax, encoding_plugin="pydicom" if transfer_syntax == RLELossless else "")
    written, expected = _both_ways(_save_as(ds))
    assert written == expected
    np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(written)).pixel_array, pixels)


def test_non_ascii_character_set_falls_back_to_pydicom_and_still_matches(series):
    ds = pydicom.dcmread(series.mid_slice_path)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Jürgen"
    ds.SeriesDescription = "T1 sag — Wirbelsäule"
    written, expected = _both_ways(_save_as(ds), clean_descriptors=True)
    assert written == expected
    assert "Müller" not in pydicom.dcmread(io.BytesIO(written)).get("SeriesDescription", "")


def test_untouched_dataset_round_trips_and_pixels_are_copied_not_encoded(series, monkeypatch):
    data = series.mid_slice_path.read_bytes()
    result = inspect_file(data)
    encoded = []
    original = dicom_encode._element_bytes
    monkeypatch.setattr(
        dicom_encode, "_element_bytes", lambda elem, **kw: encoded.append(elem.tag) or original(elem, **kw)
    )
    unchanged = set(result.originals)
    written = part10_bytes(result.dataset, result.source, originals=result.originals, unchanged=unchanged)
    # only the file meta, and the character set pydicom decodes while reading, are encoded anew
    assert [tag for tag in encoded if tag >> 16 != 0x0002] in ([], [0x00080005])
    assert written == _save_as(copy.deepcopy(pydicom.dcmread(io.BytesIO(data))))


def test_a_changed_element_is_encoded_even_when_claimed_unchanged_if_it_was_never_read(series):
    """Raw elements are copied; a value that was set is never taken from the source."""
    result = inspect_file(series.mid_slice_path.read_bytes())
    result.dataset.InstitutionName = "Changed"
    written = part10_bytes(result.dataset, result.source, originals=result.originals, unchanged=())
    assert pydicom.dcmread(io.BytesIO(written)).InstitutionName == "Changed"


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_empty_numeric_string_elements_are_written_as_save_as_writes_them(series, transfer_syntax):
    """An empty IS/DS element is read as a raw element whose value is None (not b""): GDCM writes Series Number
    and Instance Number empty. It was passed to pydicom's writer as it was and failed with "a bytes-like object
    is required, not 'NoneType'" (the import fuzz suite's GDCM JPEG files, #22)."""
    ds = pydicom.dcmread(series.mid_slice_path)
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SeriesNumber, ds.SliceLocation = None, None  # IS and DS, length 0
    data = _save_as(ds)
    result = inspect_file(data)
    assert result.dataset._dict[0x00200011].value is None  # what pydicom reads for an empty IS
    assert part10_bytes(result.dataset, result.source, originals=result.originals) == data
    written, expected = _both_ways(data)
    assert written == expected


@pytest.mark.parametrize("transfer_syntax", ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70"])
def test_gdcm_written_jpeg_files_are_written_as_save_as_writes_them(tmp_path, transfer_syntax):
    from tests.scoring_tests.test_transfer_syntaxes import RESCALED, Variant, phantom, via_gdcm

    lossy = transfer_syntax.endswith(".50")
    variant = Variant(bits=8) if lossy else RESCALED
    path = via_gdcm(transfer_syntax, lossy=lossy)(phantom(variant), variant, tmp_path)
    written, expected = _both_ways(path.read_bytes())
    assert written == expected
    np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(written)).pixel_array, pydicom.dcmread(path).pixel_array)
