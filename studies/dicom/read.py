"""Reading a DICOM file from bytes: ``pydicom.dcmread``'s result, sooner for the usual encoding (pure, no Django).

An import reads every uploaded file once, and the parse is most of what that costs. :func:`read_bytes` returns
exactly what ``pydicom.dcmread(io.BytesIO(data), force=force)`` returns — the same :class:`FileDataset`, file
meta, raw elements (tag, VR, length, value, value offset) and encodings — but reads the data set of an
Explicit VR Little Endian file (uncompressed, what scanners and PACS export most) in one tight loop over the
bytes instead of pydicom's general element generator, which handles every encoding through a file object.

The file meta information is read the same way. Every other file goes to pydicom unchanged: no preamble, other
transfer syntaxes, undefined lengths (encapsulated pixel data, sequences of undefined length), an unknown VR, a
header cut short, a command set, no data set.
``tests/studies_tests/test_dicom_read.py`` checks that both ways give the same result on every kind of file the
import tests use.
"""

from __future__ import annotations

import io
from struct import Struct
from typing import Final

import pydicom
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

__all__ = ["read_bytes", "read_bytes_to_end"]

_HEADER: Final = Struct("<HH2sH").unpack_from
_LONG_LENGTH: Final = Struct("<L").unpack_from
#: VR bytes → (VR, whether a 4-byte length follows two reserved bytes), for every VR pydicom knows.
_VRS: Final = {vr.value.encode("ascii"): (vr.value, vr.value in EXPLICIT_VR_LENGTH_32) for vr in VR}
_UNDEFINED: Final = 0xFFFFFFFF
_ITEM_DELIMITER: Final = 0xFFFEE00D
_SPECIFIC_CHARACTER_SET: Final = 0x00080005
_new_element: Final = tuple.__new__


def read_bytes(data: bytes, *, force: bool = False) -> FileDataset:
    """``pydicom.dcmread(io.BytesIO(data), force=force)``: the same dataset, read by :func:`_elements` when the
    file has a preamble and is encoded Explicit VR Little Endian throughout. Raises what ``dcmread`` raises."""
    return read_bytes_to_end(data, force=force)[0]


def read_bytes_to_end(data: bytes, *, force: bool = False) -> tuple[FileDataset, int | None]:
    """:func:`read_bytes`, and where its last element ends when it was read by :func:`_elements` (beyond
    ``len(data)`` when that element's value is cut short), else None."""
    found = _read_usual(data) if data[128:132] == b"DICM" else None
    return found if found is not None else (pydicom.dcmread(io.BytesIO(data), force=force), None)


def _read_usual(data: bytes) -> tuple[FileDataset, int] | None:
    """What ``pydicom.filereader.read_partial`` makes of a file with a preamble, Explicit VR Little Endian file
    meta information and data set, no command set and only defined lengths; None for any other file."""
    found = _elements(data, 132, meta=True)
    if found is None:
        return None
    meta_elements, pos = found
    # pydicom.filereader._read_file_meta_info
    file_meta = FileMetaDataset(meta_elements)
    file_meta.set_original_encoding(False, True, default_encoding)
    if not file_meta._dict or file_meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return None
    try:
        file_meta[min(file_meta._dict)]  # pydicom reads the first element (issue #503)
    except NotImplementedError:
        return None
    if "FileMetaInformationGroupLength" in file_meta:
        file_meta.FileMetaInformationGroupLength  # noqa: B018 - read (converted) to be checked, as pydicom does
    if pos + 8 > len(data) or data[pos : pos + 2] == b"\0\0":  # no data set, or a command set
        return None
    found = _elements(data, pos, meta=False)
    if found is None:
        return None
    elements, end = found
    # pydicom.filereader.read_dataset
    dataset = Dataset(elements)
    encoding = default_encoding
    if _SPECIFIC_CHARACTER_SET in elements:
        encoding = convert_encodings(convert_raw_data_element(elements[BaseTag(_SPECIFIC_CHARACTER_SET)]).value)
    dataset.set_original_encoding(False, True, encoding)
    # pydicom.filereader.read_partial
    fp = io.BytesIO(data)
    fp.seek(len(data))
    ds = FileDataset(fp, dataset, data[:128], file_meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds, end


def _elements(data: bytes, pos: int, *, meta: bool) -> tuple[dict[BaseTag, RawDataElement], int] | None:
    """The elements from ``pos`` on — of group 0002 when ``meta``, else to the end — as
    ``pydicom.filereader.data_element_generator`` yields them for Explicit VR Little Endian, and where they end;
    None where pydicom would do anything but read defined-length values (unknown VR, undefined length, item
    delimiter, a header cut short)."""
    elements: dict[BaseTag, RawDataElement] = {}
    end = len(data)
    vrs = _VRS
    while pos + 8 <= end:
        group, elem, vr_bytes, length = _HEADER(data, pos)
        if meta and group != 2:
            return elements, pos
        known = vrs.get(vr_bytes)
        if known is None:  # pydicom guesses the encoding from here on
            return None
        vr, long_length = known
        if long_length:
            if pos + 12 > end:
                return None
            length = _LONG_LENGTH(data, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        tag = group << 16 | elem
        if length == _UNDEFINED or tag == _ITEM_DELIMITER:
            return None
        value = data[pos : pos + length] if length else empty_value_for_VR(vr, raw=True)
        key = BaseTag(tag)
        # RawDataElement(key, vr, length, value, pos, False, True) without the namedtuple's Python-level __new__
        elements[key] = _new_element(RawDataElement, (key, vr, length, value, pos, False, True, True, False))
        pos += length
    return (elements, pos) if not meta else None
