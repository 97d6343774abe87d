"""Top-level values of a dataset pydicom has read, taken from the bytes it read without decoding the element.

Pure module (pydicom and the standard library, no Django). pydicom decodes an element the first time it is
accessed (about 25 µs: hooks, value checks, a ``DataElement``); the import reads some forty values of every
file to validate, group, classify and de-identify it, which this module does in about 1 µs each. An element
is read from its raw bytes when it is still a little-endian ``RawDataElement`` in a character set whose
decoding is a plain codec (none, ISO_IR 6, ISO_IR 100, ISO_IR 192); anything else (an element already
decoded or replaced, big endian, code extensions) goes through pydicom itself. Either way the values are
those pydicom gives, as plain Python types (``str``, ``int``, ``float``).

References
----------
.. [1] DICOM PS3.5, 6.2 "Value Representation" (padding, the backslash as value delimiter) and 6.1.2.3
       "Encoding of Character Repertoires" (Specific Character Set).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Final

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

__all__ = ["floats", "integer", "strings", "text", "text_codec"]

SPECIFIC_CHARACTER_SET: Final = 0x00080005

#: Text VRs whose bytes are in the Specific Character Set (PS3.5 6.1.2.3); the others are always ASCII.
_CHARSET_VRS: Final = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
#: Text VRs that may hold several values separated by backslashes.
_MULTI_VRS: Final = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UC", "UI"})
_SINGLE_TEXT_VRS: Final = frozenset({"LT", "ST", "UT", "UR"})
_BINARY_FORMATS: Final = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
#: Specific Character Set values whose decoding is one Python codec (pydicom's default is latin-1).
_CODECS: Final = {"": "latin_1", "ISO_IR 6": "latin_1", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf_8"}


@lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def text_codec(ds: Dataset) -> str | None:
    """The Python codec of ``ds``'s Specific Character Set, or None when pydicom must decode its text."""
    elem = ds._dict.get(SPECIFIC_CHARACTER_SET)
    if elem is None:
        return "latin_1"
    if type(elem) is RawDataElement and elem.value is not None:
        return _CODECS.get(elem.value.decode("latin_1").strip(" \x00"))
    value = elem.value
    if isinstance(value, MultiValue | list):
        return _CODECS.get(str(value[0]).strip()) if len(value) == 1 else None
    return _CODECS.get(str(value or "").strip())


def _raw(ds: Dataset, tag: int) -> tuple[RawDataElement | None, str | None, bool]:
    """(raw element or None, its VR, present?)."""
    elem = ds._dict.get(tag)
    if elem is None:
        return None, None, False
    if type(elem) is not RawDataElement or elem.value is None or not elem.is_little_endian:
        return None, None, True
    vr = elem.VR if elem.VR not in (None, "UN") else _dictionary_vr(tag)
    return elem, vr, True


def strings(ds: Dataset, tag: int, codec: str | None = "") -> list[str] | None:
    """The values of a text element (trailing spaces and NULs removed, as pydicom does); None when absent.

    ``codec`` is :func:`text_codec` of ``ds`` when the caller has it ("" looks it up).
    """
    raw, vr, present = _raw(ds, tag)
    if not present:
        return None
    if raw is not None and vr is not None and (vr in _MULTI_VRS or vr in _SINGLE_TEXT_VRS):
        if vr in _CHARSET_VRS:
            codec = text_codec(ds) if codec == "" else codec
        else:
            codec = "latin_1"
        if codec is not None:
            try:
                decoded = raw.value.decode(codec)
            except UnicodeDecodeError:
                decoded = None
            if decoded is not None:
                if vr in _SINGLE_TEXT_VRS:
                    return [decoded.rstrip(" \x00")] if decoded.rstrip(" \x00") else []
                values = decoded.rstrip(" \x00").split("\\")
                return [] if values == [""] else [v.rstrip(" \x00") for v in values]
    return _decoded_strings(ds, tag)


def _decoded(ds: Dataset, tag: int) -> list | None:
    """The element's values as pydicom decodes them (a list); None when it cannot."""
    try:
        value = ds[tag].value
    except Exception:
        return None
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, MultiValue | list | tuple) else [value]


def _decoded_strings(ds: Dataset, tag: int) -> list[str] | None:
    items = _decoded(ds, tag)
    return None if items is None else [str(v) for v in items]


def text(ds: Dataset, tag: int, codec: str | None = "") -> str:
    """A text element's value(s) as one string, backslash-separated; "" when absent or empty."""
    values = strings(ds, tag, codec)
    return "\\".join(values) if values else ""


def floats(ds: Dataset, tag: int) -> list[float] | None:
    """The values of a numeric element (DS, IS, FL, FD, US…) as floats; None when absent or unreadable."""
    raw, vr, present = _raw(ds, tag)
    if not present:
        return None
    if raw is not None and vr in _BINARY_FORMATS:
        return [float(v) for v in _unpack(raw.value, vr)]
    values = strings(ds, tag) if raw is not None and vr in ("DS", "IS") else None
    if values is None:
        return _decoded_floats(ds, tag)
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _decoded_floats(ds: Dataset, tag: int) -> list[float] | None:
    items = _decoded(ds, tag)
    try:
        return None if items is None else [float(v) for v in items]
    except (TypeError, ValueError):
        return None


def integer(ds: Dataset, tag: int) -> int | None:
    """The first value of an integer element (US, SS, UL, SL, IS); None when absent, empty or unreadable."""
    values = floats(ds, tag)
    if not values or values[0] != values[0] or values[0] in (float("inf"), float("-inf")):
        return None
    first = values[0]
    return int(first) if first == int(first) else None


def _unpack(data: bytes, vr: str) -> tuple:
    fmt = _BINARY_FORMATS[vr]
    count = len(data) // struct.calcsize(fmt)
    return struct.unpack(f"<{count}{fmt}", data[: count * struct.calcsize(fmt)])
