"""Values read from the raw bytes are the ones pydicom decodes, in every encoding the import meets."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from studies.dicom import values


def _written(ts: str, charset: str | None, **attributes) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    if charset:
        ds.SpecificCharacterSet = charset
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


ATTRIBUTES = {
    "PatientName": "Müller^Jürgen",
    "PatientID": "ID 0042 ",
    "StudyDescription": "LWS nativ",
    "ImageType": ["ORIGINAL", "PRIMARY", "M"],
    "PixelSpacing": [0.9375, 0.9375],
    "ImagePositionPatient": [-12.5, 100.0, 3e-1],
    "InstanceNumber": 7,
    "Rows": 320,
    "SOPInstanceUID": "1.2.826.0.1.3680043.8.498.1",
    "RepetitionTime": 500.0,
    "AdditionalPatientHistory": "back pain\\ no trauma",
}
TAGS = {k: pydicom.datadict.tag_for_keyword(k) for k in ATTRIBUTES}


@pytest.mark.parametrize(
    ("ts", "charset"),
    [
        (ExplicitVRLittleEndian, None),
        (ExplicitVRLittleEndian, "ISO_IR 100"),
        (ExplicitVRLittleEndian, "ISO_IR 192"),
        (ImplicitVRLittleEndian, "ISO_IR 100"),
        (ExplicitVRBigEndian, "ISO_IR 100"),  # pydicom decodes (raw reads are little endian only)
        (ExplicitVRLittleEndian, "ISO 2022 IR 6\\ISO 2022 IR 100"),  # code extensions: pydicom decodes
    ],
)
def test_raw_reads_equal_pydicoms_values(ts, charset):
    attributes = dict(ATTRIBUTES)
    if charset is None:
        attributes["PatientName"] = "Mueller^Juergen"  # the default repertoire is ASCII
    ds = pydicom.dcmread(io.BytesIO(_written(ts, charset, **attributes)))
    reference = pydicom.dcmread(io.BytesIO(_written(ts, charset, **attributes)))
    for keyword, tag in TAGS.items():
        expected = reference[tag].value
        if keyword in ("PixelSpacing", "ImagePositionPatient", "RepetitionTime", "InstanceNumber", "Rows"):
            numbers = expected if isinstance(expected, pydicom.multival.MultiValue) else [expected]
            assert values.floats(ds, tag) == [float(v) for v in numbers], keyword
        else:
            items = expected if isinstance(expected, pydicom.multival.MultiValue) else [expected]
            assert values.strings(ds, tag) == [str(v) for v in items], keyword
    assert values.integer(ds, TAGS["Rows"]) == 320 and values.integer(ds, TAGS["InstanceNumber"]) == 7
    assert values.text(ds, TAGS["ImageType"]) == "ORIGINAL\\PRIMARY\\M"


def test_absent_empty_and_unreadable_values():
    data = _written(ExplicitVRLittleEndian, None, PatientID="", SliceThickness="1.25")
    ds = pydicom.dcmread(io.BytesIO(data.replace(b"1.25", b"abcd")))
    assert values.strings(ds, 0x00100010) is None and values.text(ds, 0x00100010) == ""  # absent
    assert values.strings(ds, 0x00100020) == [] and values.text(ds, 0x00100020) == ""  # empty
    assert values.floats(ds, 0x00180050) is None and values.integer(ds, 0x00180050) is None  # not a number


def test_a_decoded_or_replaced_element_is_read_as_it_is_now():
    ds = pydicom.dcmread(io.BytesIO(_written(ExplicitVRLittleEndian, "ISO_IR 100", **ATTRIBUTES)))
    ds.PatientID = "S001"
    assert values.text(ds, TAGS["PatientID"]) == "S001"
    assert values.text_codec(ds) == "latin_1"
