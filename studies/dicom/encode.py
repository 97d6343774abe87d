"""Encode a dataset read from a file back into a DICOM Part 10 file, copying what was never decoded.

Pure module (pydicom and the standard library, no Django). :func:`part10_bytes` gives the same bytes as
``Dataset.save_as(fp, enforce_file_format=True)`` (tested byte for byte), but every element that pydicom
still holds as it was read — a ``RawDataElement`` nobody decoded or changed — is copied from the source
bytes instead of being encoded again, and neighbouring ones are copied as one slice. After
de-identification (:mod:`studies.dicom.deid` leaves the attributes it keeps undecoded) that is most of
the file, Pixel Data included, which is why the import writes files this way.

Files whose encoding would change on writing (deflated, or a transfer syntax that disagrees with how the
data set was actually encoded) are written by pydicom itself.

References
----------
.. [1] DICOM PS3.10, 7.1 "DICOM File Meta Information"; PS3.5, 7.1 "Data Elements" (explicit and implicit VR
       element headers) and A.4 (encapsulated Pixel Data has undefined length).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Collection, Mapping
from typing import Final

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, PersonName

from . import values as dicom_values

__all__ = ["element_header", "padded", "part10_bytes", "part10_parts"]

_UNDEFINED: Final = 0xFFFFFFFF
_SEQUENCE_DELIMITER: Final = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PIXEL_DATA: Final = 0x7FE00010
_SPECIFIC_CHARACTER_SET: Final = 0x00080005
_ITEM: Final = b"\xfe\xff\x00\xe0"
_ITEM_DELIMITER: Final = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"


def part10_bytes(
    ds: Dataset,
    source: bytes,
    *,
    originals: Mapping[int, object] | None = None,
    unchanged: Collection[int] = (),
) -> bytes:
    """Return ``ds`` as a Part 10 file (preamble, ``DICM``, File Meta Information, data set).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset read by ``pydicom.dcmread`` from ``source`` (then possibly changed), with ``file_meta``.
    source : bytes
        The exact bytes ``ds`` was read from; undecoded elements are copied from here.
    originals : mapping of tag to element, optional
        The top-level elements as read (``dict(ds._dict)`` right after reading).
    unchanged : collection of int
        Tags whose value is known not to have changed since reading although it may have been decoded
        (e.g. :func:`studies.dicom.deid.deidentify`'s ``unchanged``): copied using ``originals``.

    Returns
    -------
    bytes
        Identical to what ``ds.save_as(buffer, enforce_file_format=True)`` writes.
    """
    return b"".join(part10_parts(ds, source, originals=originals, unchanged=unchanged))


def part10_parts(
    ds: Dataset,
    source: bytes,
    *,
    originals: Mapping[int, object] | None = None,
    unchanged: Collection[int] = (),
) -> list[bytes | memoryview]:
    """:func:`part10_bytes` as the pieces to write one after another (slices of ``source`` are not copied)."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    ts = UID(ts) if ts is not None else None
    if ts is None or not ts.is_transfer_syntax or ts == DeflatedExplicitVRLittleEndian or not ts.is_little_endian:
        return [_pydicom_bytes(ds)]
    implicit = ts.is_implicit_VR
    if ds.original_encoding != (implicit, True) or ds.original_character_set != ds._character_set:
        return [_pydicom_bytes(ds)]  # pydicom would re-encode every element: let it

    preamble = getattr(ds, "preamble", None) or b"\x00" * 128
    if len(preamble) != 128:
        return [_pydicom_bytes(ds)]
    _sync_meta(ds, meta)
    parts: list[bytes | memoryview] = [preamble, b"DICM", _meta_bytes(meta)]

    view = memoryview(source)
    charset = ds.get("SpecificCharacterSet", "iso8859") if _SPECIFIC_CHARACTER_SET in ds._dict else "iso8859"
    ascii_safe = _ascii_compatible(charset)
    compressed = ts.is_compressed
    unchanged = {int(t) for t in unchanged}
    run_start = run_end = -1
    # plain int tags: a BaseTag compares through Python code, which dominates a loop over every element
    for tag, current in sorted((int(t), e) for t, e in ds._dict.items()):
        if not _written(tag):
            continue
        elem = current
        if type(elem) is not RawDataElement and originals is not None and tag in unchanged:
            elem = originals.get(tag)
        if type(elem) is RawDataElement and elem.value_tell:
            if run_start >= 0:  # the next element in the file, read from the bytes that follow the run?
                end = _follows(elem, tag, run_end, implicit, compressed)
                if end is not None:
                    run_end = end
                    continue
            span = _source_span(elem, source, implicit, compressed)
            if span is not None:
                if run_start >= 0:
                    parts.append(view[run_start:run_end])
                run_start, run_end = span
                continue
        if run_start >= 0:
            parts.append(view[run_start:run_end])
            run_start = -1
        if tag == _PIXEL_DATA:
            current = ds[tag]
            current.is_undefined_length = compressed  # as pydicom's dcmwrite does (PS3.5 A.4)
        parts.append(_element_bytes(current, implicit=implicit, charset=charset, ascii_safe=ascii_safe))
    if run_start >= 0:
        parts.append(view[run_start:run_end])
    return parts


def _follows(elem: RawDataElement, tag: int, offset: int, implicit: bool, compressed: bool) -> int | None:
    """End of ``elem`` (tag ``tag``) in the source if it was read from the bytes starting at ``offset``, else None.

    pydicom read the element's header from those bytes (tag, VR and length as they are written there), so
    copying them gives what pydicom would write — except the two reserved bytes of a long explicit-VR
    header, which it writes as zero and a rare writer leaves non-zero; they are copied as they were read.
    """
    value, tell = elem.value, elem.value_tell
    if value is None or not tell or elem.is_implicit_VR != implicit or not elem.is_little_endian:
        return None
    header = 8 if implicit or elem.VR not in EXPLICIT_VR_LENGTH_32 else 12
    if tell - header != offset:
        return None
    if elem.length != len(value):
        return None  # undefined length (checked in full by _source_span), or a value cut short
    if tag == _PIXEL_DATA and compressed:
        return None  # pydicom would give the Pixel Data an undefined length
    return tell + len(value)


#: Character sets in which a pure-ASCII value is encoded as its ASCII bytes (PS3.5 6.1, Table C.12-2/3/4).
_ASCII_COMPATIBLE: Final = frozenset(
    {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 144", "ISO_IR 127",
     "ISO_IR 126", "ISO_IR 138", "ISO_IR 148", "ISO_IR 203", "ISO_IR 192", "ISO_IR 166", "GB18030", "GBK"}
)  # fmt: skip
_TEXT_VRS: Final = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)  # fmt: skip


def _ascii_compatible(charset: object) -> bool:
    values = [charset] if isinstance(charset, str) else list(charset or [""])
    return all(str(v).strip() in _ASCII_COMPATIBLE for v in values) and len(values) <= 1


def _element_bytes(elem: object, *, implicit: bool, charset: object, ascii_safe: bool) -> bytes:
    """One element encoded: plain-text values and undecoded values directly, the rest by pydicom's writer."""
    encoded = _raw_bytes(elem, implicit) if isinstance(elem, RawDataElement) else None
    if encoded is None and ascii_safe:
        encoded = _sequence_bytes(elem, implicit) if getattr(elem, "VR", None) == "SQ" else _text_bytes(elem, implicit)
    if encoded is not None:
        return encoded
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_data_element(fp, elem, charset)
    return fp.getvalue()


def _raw_bytes(elem: RawDataElement, implicit: bool) -> bytes | None:
    """A raw element's header and value as pydicom writes them (its value as it is), for a defined length."""
    value = elem.value
    if value is None and elem.length == 0:
        value = b""  # an empty IS/DS/... value, which pydicom reads as None (e.g. GDCM's empty Series Number)
    if value is None or elem.length == _UNDEFINED or elem.is_implicit_VR != implicit or not elem.is_little_endian:
        return None
    vr = elem.VR if not implicit else None
    if not implicit and vr is None:
        return None
    header = element_header(elem.tag, vr, len(value), implicit)
    return None if header is None else header + value


def _text_bytes(elem: object, implicit: bool) -> bytes | None:
    """Header and value of a text element whose values are plain ASCII ``str`` (None for anything else)."""
    vr = getattr(elem, "VR", None)
    if vr not in _TEXT_VRS or getattr(elem, "is_raw", True):
        return None
    value = elem.value
    if value is None or value == "":
        values: list = []
    elif isinstance(value, list | MultiValue):
        values = [_text(v) for v in value]
    else:
        values = [_text(value)]
    if None in values:
        return None
    try:
        data = padded("\\".join(values).encode("ascii"), vr)
    except UnicodeEncodeError:
        return None
    header = element_header(elem.tag, vr, len(data), implicit)
    return None if header is None else header + data


def padded(data: bytes, vr: str) -> bytes:
    """A text value padded to even length (PS3.5 6.2: NUL for UI, a space for the other text VRs)."""
    return data + (b"\x00" if vr == "UI" else b" ") if len(data) % 2 else data


def element_header(tag: int, vr: str | None, length: int, implicit: bool) -> bytes | None:
    """Tag, VR and length of an element, little endian (PS3.5 7.1.2/7.1.3); None if ``length`` cannot be encoded."""
    if implicit:
        return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, length)
    if vr is None or len(vr) != 2:
        return None
    if vr in EXPLICIT_VR_LENGTH_32:
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    if length > 0xFFFF:  # includes an undefined length, which only 32-bit-length VRs may have
        return None
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _written(tag: int) -> bool:
    """False for retired group lengths, which pydicom does not write (PS3.5 7.2)."""
    return not (tag & 0xFFFF == 0 and tag >> 16 > 6)


def _sequence_bytes(elem: object, implicit: bool) -> bytes | None:
    """A sequence whose items hold only plain-text elements, laid out as pydicom writes it (PS3.5 7.5)."""
    if getattr(elem, "is_raw", True):
        return None
    items = []
    for item in elem.value:
        body = []
        for tag in sorted(item._dict):
            if not _written(tag):
                continue
            sub = item._dict[tag]
            encoded = _sequence_bytes(sub, implicit) if sub.VR == "SQ" else _text_bytes(sub, implicit)
            if encoded is None:
                return None
            body.append(encoded)
        content = b"".join(body)
        if getattr(item, "is_undefined_length_sequence_item", False):
            items.append(_ITEM + b"\xff\xff\xff\xff" + content + _ITEM_DELIMITER)
        else:
            items.append(_ITEM + struct.pack("<L", len(content)) + content)
    value = b"".join(items)
    undefined = elem.is_undefined_length
    header = element_header(elem.tag, "SQ", _UNDEFINED if undefined else len(value), implicit)
    return header + value + (_SEQUENCE_DELIMITER if undefined else b"")


def _text(value: object) -> str | None:
    """A value as the text pydicom would encode: ``str`` and UIDs as they are, person names by component."""
    if isinstance(value, str):
        return value
    if isinstance(value, PersonName):
        return "=".join(value.components)
    return None


def _meta_bytes(meta: Dataset) -> bytes:
    """File Meta Information as pydicom's ``write_file_meta_info(enforce_standard=True)`` writes it."""
    if not all(_has_value(meta, tag) for tag in _META_COMPLETE):
        validate_file_meta(meta, enforce_standard=True)  # adds what is missing, or says what cannot be
    body = b"".join(
        _element_bytes(meta.get_item(tag), implicit=False, charset="iso8859", ascii_safe=True)
        for tag in sorted(meta._dict)
        if tag != 0x00020000
    )
    return element_header(0x00020000, "UL", 4, implicit=False) + struct.pack("<L", len(body)) + body


#: File Meta elements ``validate_file_meta(enforce_standard=True)`` adds when absent or requires non-empty.
_META_COMPLETE: Final = (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013)


def _has_value(meta: Dataset, tag: int) -> bool:
    elem = meta._dict.get(tag)
    if elem is None:
        return False
    value = elem.value
    return value is not None and len(value) > 0 if isinstance(value, bytes | str) else not elem.is_empty


def _source_span(elem: RawDataElement, source: bytes, implicit: bool, compressed: bool) -> tuple[int, int] | None:
    """Where in ``source`` the element lies, header included, if those bytes are what pydicom would write."""
    value = elem.value
    tell = elem.value_tell
    if value is None or not tell or elem.is_implicit_VR != implicit or not elem.is_little_endian:
        return None  # (a value_tell of 0: an element made in memory, not read from the source)
    undefined = elem.length == _UNDEFINED
    if not undefined and elem.length != len(value):
        return None
    if elem.tag == _PIXEL_DATA and undefined != compressed:
        return None  # pydicom would change the length encoding of Pixel Data
    header = element_header(elem.tag, elem.VR, _UNDEFINED if undefined else len(value), implicit)
    if header is None:
        return None
    start = tell - len(header)
    end = tell + len(value)
    if start < 0 or not source.startswith(header, start):
        return None
    if undefined:
        if source[end : end + 8] != _SEQUENCE_DELIMITER:
            return None
        end += 8
    return start, end


def _sync_meta(ds: Dataset, meta: Dataset) -> None:
    """Bring the File Meta Information's SOP Class/Instance UIDs in line with the data set (as dcmwrite)."""
    for meta_tag, ds_tag, meta_keyword in (
        (0x00020002, 0x00080016, "MediaStorageSOPClassUID"),
        (0x00020003, 0x00080018, "MediaStorageSOPInstanceUID"),
    ):
        value = dicom_values.text(ds, ds_tag) if ds_tag in ds._dict else None
        if meta_tag not in meta._dict or (value and value != dicom_values.text(meta, meta_tag)):
            setattr(meta, meta_keyword, value)


def _pydicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
