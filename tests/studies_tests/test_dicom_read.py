"""``read_bytes`` gives exactly what ``pydicom.dcmread`` gives, for every kind of file an import meets."""

from __future__ import annotations

import io
import struct

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from studies.demo import phantom
from studies.dicom.read import read_bytes, read_bytes_to_end

from .test_deid import _corpus as deid_corpus


def _outcome(data: bytes, read, force: bool):
    try:
        return read(data, force=force)
    except Exception as exc:  # the same failure is as good as the same dataset
        return type(exc)


def _pydicom(data: bytes, force: bool):
    return pydicom.dcmread(io.BytesIO(data), force=force)


def _elements(ds: Dataset) -> list[tuple]:
    """Every element as stored (raw tuples as read; converted elements by tag, VR, value and kind)."""
    out = []
    for tag, elem in ds._dict.items():
        if isinstance(elem, RawDataElement):
            out.append((type(tag), tag, tuple(elem), type(elem.tag)))
        else:
            out.append((type(tag), tag, elem.VR, elem.value, elem.is_undefined_length, type(elem)))
    return out


def assert_same(data: bytes, *, force: bool = False, fast: bool | None = None) -> None:
    """Same dataset (or the same exception); ``fast``: whether read_bytes must (not) have left it to pydicom."""
    expected = _outcome(data, _pydicom, force)
    original, calls = pydicom.dcmread, []

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    pydicom.dcmread = counted
    try:
        got = _outcome(data, read_bytes, force)
    finally:
        pydicom.dcmread = original
    if fast is not None:
        assert (not calls) is fast
    if isinstance(expected, type):
        assert got is expected
        return
    assert type(got) is type(expected)
    assert got.preamble == expected.preamble
    assert _elements(got) == _elements(expected)
    assert _elements(got.file_meta) == _elements(expected.file_meta)
    assert got.original_encoding == expected.original_encoding
    assert got.original_character_set == expected.original_character_set
    assert got._character_set == expected._character_set
    assert got.file_meta.original_encoding == expected.file_meta.original_encoding
    assert type(got.buffer) is type(expected.buffer) and got.filename == expected.filename
    assert got == expected  # and every value decodes the same
    _, end = read_bytes_to_end(data, force=force)
    assert (end is not None) is (fast is not False and not calls)
    if end is not None:  # past the last element as its header has it (beyond the data when its value is cut)
        raw = [e for e in _pydicom(data, force)._dict.values() if isinstance(e, RawDataElement)]
        last = max(raw, key=lambda e: e.value_tell)
        assert end == last.value_tell + last.length


def _file(ds: Dataset, ts: str = ExplicitVRLittleEndian, **save) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.4")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "1.2.3.4")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True, **save)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good() -> bytes:
    datasets, _ = phantom.series.build_series(phantom.bad_files.example_subject(), rng_seed=7)
    return phantom.dicom.to_bytes(datasets[phantom.MID_SLICE])


def test_a_phantom_image_reads_the_same_and_takes_the_fast_path(good):
    assert_same(good, fast=True)


def test_every_file_an_import_must_turn_away_reads_or_fails_the_same(tmp_path):
    phantom.make_bad_files(tmp_path)
    files = sorted(tmp_path.iterdir())
    assert len(files) >= 15
    for path in files:
        for force in (False, True):
            assert_same(path.read_bytes(), force=force)


@pytest.mark.parametrize("cut", [0, 100, 128, 131, 132, 140, 150, 200, 260, 300, 333, 500, 700, 1000, 1500, 3000])
def test_files_cut_short_anywhere_read_or_fail_the_same(good, cut):
    assert_same(good[:cut])
    assert_same(good[:cut], force=True)


def test_files_cut_inside_the_pixel_data_read_the_same(good):
    for fraction in (0.2, 0.6, 0.999):
        assert_same(good[: int(len(good) * fraction)])


def test_the_deidentification_corpus_reads_the_same():
    """Every attribute of the PS3.15 basic profile, nested sequences, private tags, overlays."""
    assert_same(_file(deid_corpus()), fast=True)


@pytest.mark.parametrize(
    ("ts", "charset"),
    [
        (ExplicitVRLittleEndian, "ISO_IR 100"),
        (ExplicitVRLittleEndian, "ISO_IR 192"),
        (ExplicitVRLittleEndian, "ISO 2022 IR 6\\ISO 2022 IR 100"),
        (ImplicitVRLittleEndian, "ISO_IR 100"),
        (ExplicitVRBigEndian, None),
    ],
)
def test_encodings_and_character_sets_read_the_same(ts, charset):
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientName = "Müller^Jürgen" if charset else "Mueller^Juergen"
    ds.Modality = "MR"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel = 2, 2, 16, 1
    ds.PixelData = b"\x00\x01" * 4
    data = _file(ds, ts, implicit_vr=ts == ImplicitVRLittleEndian, little_endian=ts != ExplicitVRBigEndian)
    assert_same(data, fast=ts == ExplicitVRLittleEndian)


def test_empty_values_sequences_and_undefined_lengths_read_the_same():
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "Rows", "PixelSpacing", "ImageType", "ReferencedImageSequence"):
        ds.add(DataElement(pydicom.datadict.tag_for_keyword(keyword), pydicom.datadict.dictionary_VR(keyword), None))
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.SourceImageSequence = Sequence([item])
    ds.add_new(0x00091010, "LO", "VENDOR")
    ds.add_new(0x00091011, "UN", b"\x01\x02\x03\x04")
    ds.BitsAllocated = 8
    ds.PixelData = b"\x00" * 8
    assert_same(_file(ds), fast=True)
    ds["SourceImageSequence"].is_undefined_length = True  # the fast path leaves this to pydicom
    assert_same(_file(ds), fast=False)


def test_files_without_preamble_or_with_a_command_set_read_the_same(good):
    assert_same(good[128:], force=True, fast=False)  # "DICM" and the meta, no preamble
    assert_same(good[132:], force=True, fast=False)  # no file meta at all
    meta_end = 144 + struct.unpack_from("<L", good, 140)[0]  # after (0002,0000) and the group it counts
    uid = b"1.2.840.10008.5.1.4.1.1.4\0"
    command = struct.pack("<HHL", 0x0000, 0x0002, len(uid)) + uid  # Affected SOP Class UID, implicit VR
    assert_same(good[:meta_end] + command + good[meta_end:], fast=False)
