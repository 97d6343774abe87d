"""De-identification of DICOM datasets: DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Pure module (pydicom and the standard library, no Django). The import job calls :func:`deidentify` on each
accepted file *after* :mod:`studies.dicom.validate` has classified it (the profile removes Series
Description and Protocol Name, which the classification reads) and *before* anything reaches storage.

The table of PS3.15 Table E.1-1 is data (``profiles/ps3_15_basic_profile.csv``, loaded by
:mod:`studies.dicom.deid_profile`, which also holds the few attributes treated beyond it). Its action
codes, from Table E.1-1a:

- ``X`` remove, ``Z`` replace with a zero-length value, ``D`` replace with a dummy value, ``U`` replace the
  UID with one that is consistent across the study (:class:`UidMapper`), ``K`` keep, ``C`` clean (only with
  the Clean Descriptors Option, ``clean_descriptors=True``).
- Compound codes (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U``) are resolved for the MR Image IOD (PS3.3
  A.4) and the Enhanced MR Image IODs (A.36): an attribute that is Type 2 there is emptied
  (:data:`MR_IOD_TYPE2`), every other one is removed. The functional groups of an enhanced file are sequences,
  so the table reaches every frame's attributes.
- Patient's Name and Patient ID are replaced by the study's subject code (a ``D`` with a meaningful dummy).
- Dates: with ``keep_dates=True`` and a ``date_offset_days``, every DA and DT value (except the patient's
  birth date, which is emptied) is shifted by that many days and TM values are kept, as the Retain
  Longitudinal Temporal Information with Modified Dates Option (code 113107) allows. Otherwise dates and
  times follow the profile (``X``/``Z``/``D``) and a date or time attribute the table does not list is
  removed as well.
- Private attributes are removed except those in :data:`SAFE_PRIVATE_ATTRIBUTES` (Retain Safe Private
  Option, code 113111, declared only when something was actually kept).
- Overlay (60xx) and curve (50xx) groups are removed whole (the profile lists Overlay Data/Comments and
  Curve Data; an overlay plane can hold burned-in text), and so are public attributes unknown to pydicom's
  dictionary.
- Sequences are recursed: the table applies inside every item. A sequence whose action is ``D`` is
  replaced by one empty item, ``Z`` by an empty sequence.
- Pixel Data is never touched, so the pixels stay bit-identical.

References
----------
.. [1] DICOM PS3.15, Annex E "Attribute Confidentiality Profiles", Table E.1-1.
       https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html
.. [2] DICOM PS3.16, CID 7050 "De-identification Method" (codes 113100-113111).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Final

from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from . import values as dicom_values
from .deid_iod import fit_to_iod
from .deid_keyed import UidMapper, shift_date_text, subject_date_offset
from .deid_profile import (
    ADDITIONAL_REMOVALS,
    BASIC_PROFILE,
    MR_IOD_TYPE2,
    SAFE_PRIVATE_ATTRIBUTES,
    resolve_action,
)
from .encode import element_header, padded

__all__ = [
    "ADDITIONAL_REMOVALS",
    "BASIC_PROFILE",
    "CODE_BASIC_PROFILE",
    "CODE_CLEAN_DESCRIPTORS",
    "CODE_MODIFIED_DATES",
    "CODE_SAFE_PRIVATE",
    "MR_IOD_TYPE2",
    "SAFE_PRIVATE_ATTRIBUTES",
    "DeidReport",
    "UidMapper",
    "deidentify",
    "resolve_action",
    "subject_date_offset",
]

PROFILE_NAME: Final = "VBQ Reader PS3.15 Basic Profile"

#: Codes of CID 7050 written to DeidentificationMethodCodeSequence: (code value, code meaning).
CODE_BASIC_PROFILE: Final = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_DESCRIPTORS: Final = ("113105", "Clean Descriptors Option")
CODE_MODIFIED_DATES: Final = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
CODE_SAFE_PRIVATE: Final = ("113111", "Retain Safe Private Option")

#: Date/time attributes that hold dictionary versions, not events of the patient's care: never shifted.
_VERSION_DATETIMES: Final = frozenset(
    {"ContextGroupVersion", "ContextGroupLocalVersion", "TemplateVersion", "TemplateLocalVersion"}
)
#: Descriptors kept, after cleaning, under the Clean Descriptors Option.
_CLEANABLE_DESCRIPTORS: Final = frozenset({"SeriesDescription", "ProtocolName", "StudyDescription"})
_DATE_VRS: Final = frozenset({"DA", "DT", "TM"})
_TEXT_VRS: Final = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_BINARY_VRS: Final = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW"})
_RAW_TEXT_VRS: Final = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT"})
_CHARSET_VRS: Final = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_SPECIFIC_CHARACTER_SET: Final = 0x00080005
_PIXEL_TAGS: Final = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_SOP_INSTANCE_UID: Final = 0x00080018
_MEDIA_STORAGE_SOP_INSTANCE_UID: Final = 0x00020003
_BURNED_IN_ANNOTATION: Final = 0x00280301
_DIGIT_RUN: Final = re.compile(r"\d{5,}")
_SPACE_RUN: Final = re.compile(r"\s{2,}")
#: Plans of :meth:`_Deidentifier._plan` by (top level?, dates shifted?, descriptors cleaned?), then (tag, VR).
_PLANS: dict[tuple[bool, bool, bool], dict[tuple[int, str | None], tuple[str, str, str]]] = {}
#: Bounds of a :func:`deidentify` memo: contexts (subject, date offset, encoding…) and values per context.
_MEMO_CONTEXTS: Final = 256
_MEMO_VALUES: Final = 4096
#: A text value :meth:`_Deidentifier._text_outcome` removes.
_REMOVE: Final = object()
#: Top-level attributes :func:`deidentify` writes whatever the file held.
_WRITTEN_BY_DEIDENTIFY: Final = frozenset({0x00100010, 0x00100020, 0x00120062, 0x00120063, 0x00120064, 0x00280303})
_DUMMY_TEXT: Final = "ANONYMIZED"
_DUMMY_BY_VR: Final[dict[str, object]] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
}


@dataclass(frozen=True)
class DeidReport:
    """What :func:`deidentify` did to one dataset: attribute keywords (nested ones included), never values.

    Private and unknown attributes are named by tag, ``"(gggg,eeee)"``.
    """

    subject_code: str
    removed: tuple[str, ...]
    emptied: tuple[str, ...]
    replaced: tuple[str, ...]
    cleaned: tuple[str, ...]
    uids_remapped: tuple[str, ...]
    dates_shifted: tuple[str, ...]
    private_removed: tuple[str, ...]
    private_kept: tuple[str, ...]
    burned_in_annotation: bool
    date_offset_days: int | None
    dates_retained: bool
    method: tuple[str, ...]
    method_codes: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (lists for tuples) for storing with the imported instance."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def changed(self) -> tuple[str, ...]:
        """Every public keyword that was removed, emptied, replaced, cleaned, remapped or shifted."""
        return tuple(
            sorted(
                set(self.removed)
                | set(self.emptied)
                | set(self.replaced)
                | set(self.cleaned)
                | set(self.uids_remapped)
                | set(self.dates_shifted)
            )
        )


def deidentify(
    ds: Dataset,
    *,
    subject_code: str,
    uid_map: UidMapper,
    date_offset_days: int | None,
    keep_dates: bool = True,
    clean_descriptors: bool = False,
    unchanged: set[int] | None = None,
    memo: dict | None = None,
) -> DeidReport:
    """De-identify ``ds`` in place with the PS3.15 Basic Application Level Confidentiality Profile.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset read by pydicom (with or without ``file_meta``). Modified in place; Pixel Data is untouched.
    subject_code : str
        The study's pseudonym for the subject; written to Patient's Name and Patient ID.
    uid_map : UidMapper
        Maps every instance UID (action ``U``) consistently; share one mapper across a study's files.
    date_offset_days : int or None
        Days added to every date (negative shifts into the past), the same for all files of a subject
        (see :func:`subject_date_offset`). ``None`` removes or empties the dates as the profile says.
    keep_dates : bool
        ``False`` removes dates per the profile even when an offset is given.
    clean_descriptors : bool
        Apply the Clean Descriptors Option to Series Description, Protocol Name and Study Description: keep
        them after removing any identifying value found elsewhere in the dataset and any long digit run.
        Off by default (the basic profile removes them).
    unchanged : set of int, optional
        If given, filled with the tags of the top-level attributes left exactly as they were read, so a
        writer may copy their original bytes (:func:`studies.dicom.encode.part10_bytes`).
    memo : dict, optional
        A dict the caller keeps across the files it de-identifies with the same ``uid_map``: each text value
        rewritten (names, IDs, dates, UIDs, descriptors) is remembered with the subject, date offset and
        encoding it was rewritten for, and a file holding the same value gets the same result without it being
        decoded again (the files of a series share most values). The result is the same with or without it.

    Returns
    -------
    DeidReport

    Raises
    ------
    ValueError
        If the subject code is empty, too long for a DICOM LO value (64 characters) or contains a backslash.
    """
    code = subject_code.strip() if isinstance(subject_code, str) else ""
    if not code or len(code) > 64 or "\\" in code:
        raise ValueError(
            f"Subject code {subject_code!r} cannot be written to DICOM: it must be 1-64 characters without a backslash."
        )
    if date_offset_days is not None and (isinstance(date_offset_days, bool) or not isinstance(date_offset_days, int)):
        raise ValueError("date_offset_days must be a whole number of days or None.")
    shift = date_offset_days if keep_dates and date_offset_days is not None else None
    burned_in = dicom_values.text(ds, _BURNED_IN_ANNOTATION).strip().upper() == "YES"

    worker = _Deidentifier(
        uid_map=uid_map,
        shift_days=shift,
        clean_descriptors=clean_descriptors,
        identifiers=_identifying_strings(ds) if clean_descriptors else (),
        root=ds,
        subject_code=code,
        memo=memo,
    )
    had_device_serial = 0x00181000 in ds._dict
    worker.walk(ds)
    iod_removed, iod_replaced = fit_to_iod(ds, had_device_serial=had_device_serial)  # PS3.3 C.12.2, C.7.5.2
    worker.removed.update(iod_removed)
    worker.removed.difference_update(iod_replaced)
    worker.replaced.update(iod_replaced)
    for keyword, tag, vr in (("PatientName", 0x00100010, "PN"), ("PatientID", 0x00100020, "LO")):
        if tag not in ds._dict:  # Type 2 in the Patient module: always present
            worker.put(ds, tag, vr, [code])
            worker.replaced.add(keyword)
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None:
        worker.walk(file_meta)
        sop_instance_uid = dicom_values.text(ds, _SOP_INSTANCE_UID)
        if sop_instance_uid:
            worker.put(file_meta, _MEDIA_STORAGE_SOP_INSTANCE_UID, "UI", [sop_instance_uid])

    method = [f"{PROFILE_NAME}; {'dates shifted' if shift is not None else 'dates removed'}"]
    codes = [CODE_BASIC_PROFILE]
    if worker.cleaned:
        method.append("descriptors cleaned")
        codes.append(CODE_CLEAN_DESCRIPTORS)
    if shift is not None:
        codes.append(CODE_MODIFIED_DATES)
    if worker.private_kept:
        method.append("safe private attributes retained")
        codes.append(CODE_SAFE_PRIVATE)
    if getattr(ds, "preamble", None):
        ds.preamble = b"\x00" * 128  # the 128-byte preamble is free-form (e.g. a TIFF header): never passed on
    worker.put(ds, 0x00120062, "CS", ["YES"])  # Patient Identity Removed
    worker.put(ds, 0x00120063, "LO", method)  # De-identification Method
    worker.put_codes(ds, 0x00120064, codes)  # De-identification Method Code Sequence
    worker.put(ds, 0x00280303, "CS", ["MODIFIED" if shift is not None else "REMOVED"])
    if unchanged is not None:
        unchanged.update(worker.kept_root - _WRITTEN_BY_DEIDENTIFY)

    def _sorted(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(set(values)))

    return DeidReport(
        subject_code=code,
        removed=_sorted(worker.removed),
        emptied=_sorted(worker.emptied),
        replaced=_sorted(worker.replaced),
        cleaned=_sorted(worker.cleaned),
        uids_remapped=_sorted(worker.remapped),
        dates_shifted=_sorted(worker.shifted),
        private_removed=_sorted(worker.private_removed),
        private_kept=_sorted(worker.private_kept),
        burned_in_annotation=burned_in,
        date_offset_days=shift,
        dates_retained=shift is not None,
        method=tuple(method),
        method_codes=tuple(c[0] for c in codes),
    )


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


@lru_cache(maxsize=64)
def _code_sequence_value(codes: tuple[tuple[str, str], ...], implicit: bool) -> bytes:
    """The encoded value of a code sequence: one defined-length item per (code value, meaning), CID 7050 (DCM)."""
    items = []
    for value, meaning in codes:
        body = b"".join(
            element_header(tag, vr, len(data), implicit) + data
            for tag, vr, data in (
                (0x00080100, "SH", padded(value.encode("ascii"), "SH")),
                (0x00080102, "SH", b"DCM "),
                (0x00080104, "LO", padded(meaning.encode("ascii"), "LO")),
            )
        )
        items.append(b"\xfe\xff\x00\xe0" + struct.pack("<L", len(body)) + body)
    return b"".join(items)


def _tag_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Deidentifier:
    """Walks a dataset (recursing into sequences) and applies the actions; collects the report.

    Text attributes the actions change (names, IDs, dates, UIDs, descriptors) are read and written as bytes
    (:mod:`studies.dicom.values`, a new ``RawDataElement``) when the dataset is little endian in a
    plain character set; otherwise, and for everything else, through pydicom's ``DataElement``.
    """

    def __init__(
        self,
        *,
        uid_map: UidMapper,
        shift_days: int | None,
        clean_descriptors: bool,
        identifiers: tuple[str, ...],
        root: Dataset,
        subject_code: str,
        memo: dict | None = None,
    ) -> None:
        self.root = root
        self.subject_code = subject_code
        self.uid_map = uid_map
        self.shift_days = shift_days
        self.clean_descriptors = clean_descriptors
        self.identifiers = identifiers
        self.removed: set[str] = set()
        self.emptied: set[str] = set()
        self.replaced: set[str] = set()
        self.cleaned: set[str] = set()
        self.remapped: set[str] = set()
        self.shifted: set[str] = set()
        self.private_removed: set[str] = set()
        self.private_kept: set[str] = set()
        self.kept_root: set[int] = set()
        implicit, little = root.original_encoding if hasattr(root, "original_encoding") else (None, None)
        self.codec = dicom_values.text_codec(root)
        # as bytes only when the encoding is known, little endian and its text decodes with one codec
        self.raw = implicit is not None and little is True and self.codec is not None
        self.implicit = bool(implicit)
        # text values rewritten for earlier files in the same context: ((tag, VR), action, raw bytes) →
        # (report set, new element or _REMOVE)
        self.memo: dict | None = None
        if memo is not None and self.raw:
            if len(memo) >= _MEMO_CONTEXTS:
                memo.clear()
            context = (subject_code, shift_days, clean_descriptors, identifiers, self.codec, self.implicit)
            self.memo = memo.setdefault(context, {})
            if len(self.memo) >= _MEMO_VALUES:
                self.memo.clear()

    def walk(self, ds: Dataset) -> None:
        if any(tag >> 16 & 1 for tag in ds._dict):
            self._private(ds)
        root = ds is self.root
        raw_text = self.raw and (root or _SPECIFIC_CHARACTER_SET not in ds._dict)
        plans = _PLANS.setdefault((root, self.shift_days is not None, self.clean_descriptors), {})
        for tag, raw in list(ds._dict.items()):
            key = (int(tag), raw.VR)  # a plain int: a BaseTag compares through Python code
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self._plan(BaseTag(tag), raw.VR, root)
            action, keyword, vr = plan
            if action == "K":
                if root:
                    self.kept_root.add(tag)
                continue  # kept, and left undecoded
            if action == "-":  # private (handled above) or a retired group length, stale once edited
                if not tag >> 16 & 1:
                    _drop(ds, tag)
                continue
            if action == "X":
                _drop(ds, tag)
                self.removed.add(keyword)
                continue
            if raw_text and vr in _RAW_TEXT_VRS and action in "ZPSUC":
                memo_key = (key, action, raw.value) if self.memo is not None and type(raw) is RawDataElement else None
                outcome = self.memo.get(memo_key) if memo_key is not None else None  # type: ignore[union-attr]
                if outcome is None:
                    outcome = self._text_outcome(ds, tag, vr, action)
                    if memo_key is not None and type(outcome[1]) is not DataElement:  # (a DataElement is mutable)
                        self.memo[memo_key] = outcome  # type: ignore[index]
                report, new = outcome
                if new is _REMOVE:
                    _drop(ds, tag)
                elif new is not None:
                    _set(ds, tag, new)
                if report:
                    getattr(self, report).add(keyword)
                continue
            if action == "Z":
                ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else empty_value_for_VR(vr))
                self.emptied.add(keyword)
                continue
            try:
                elem = ds[tag]
            except Exception:  # a value pydicom cannot decode cannot be checked, so it goes
                self.removed.add(keyword)
                del ds[tag]
                continue
            self._apply(ds, elem, action)

    def _text_outcome(self, ds: Dataset, tag: int, vr: str, action: str) -> tuple[str, object]:
        """Actions Z, P, S, U and C on a text attribute's values, as bytes: (the report set it goes to, or "";
        the new element, ``_REMOVE``, or None when it stays as it is)."""
        texts = dicom_values.strings(ds, tag, self.codec)
        if texts is None:  # a value pydicom cannot decode cannot be checked, so it goes
            return "removed", _REMOVE
        if action == "Z":
            new, report = [], "emptied"
        elif action == "P":
            new, report = [self.subject_code], "replaced"
        elif action == "S":
            if vr == "TM" or not texts:
                return "", None  # a whole-day shift leaves the time of day unchanged
            new = [shift_date_text(t, self.shift_days or 0, datetime=vr == "DT") for t in texts]
            if None in new:  # unparseable or partial: cannot be shifted, so it goes
                return "removed", _REMOVE
            report = "shifted"
        elif action == "U":
            if vr != "UI" or not texts:
                return "", None
            new, report = [self.uid_map.map(t) for t in texts], "remapped"
        else:  # "C"
            new, report = [self._clean_text("\\".join(texts))], "cleaned"
        return report, self._element(ds, tag, vr, new)

    def put(self, ds: Dataset, tag: int, vr: str, texts: list[str]) -> None:
        """Set a text attribute (as bytes when the dataset allows, else through pydicom)."""
        _set(ds, tag, self._element(ds, tag, vr, texts))

    def _element(self, ds: Dataset, tag: int, vr: str, texts: list[str]) -> RawDataElement | DataElement:
        """A text attribute of ``ds`` with these values: raw bytes when the dataset allows, else pydicom's."""
        if self.raw and (ds is self.root or tag >> 16 == 0x0002 or _SPECIFIC_CHARACTER_SET not in ds._dict):
            codec = self.codec if vr in _CHARSET_VRS else "ascii"
            try:
                data = padded("\\".join(texts).encode(codec), vr)
            except UnicodeEncodeError:
                data = None
            if data is not None:
                implicit = self.implicit and tag >> 16 != 0x0002  # File Meta Information is explicit VR
                key = BaseTag(tag)
                return RawDataElement(key, None if implicit else vr, len(data), data, 0, implicit, True, True, False)
        return DataElement(tag, vr, texts if len(texts) > 1 else (texts[0] if texts else ""))

    def put_codes(self, ds: Dataset, tag: int, codes: list[tuple[str, str]]) -> None:
        """Set a code sequence (CID 7050 codes, scheme DCM)."""
        if not self.raw:
            ds[tag] = DataElement(tag, "SQ", Sequence([_code_item(*c) for c in codes]))
            return
        data = _code_sequence_value(tuple(codes), self.implicit)
        vr = None if self.implicit else "SQ"
        key = BaseTag(tag)
        ds._dict[key] = RawDataElement(key, vr, len(data), data, 0, self.implicit, True, True, False)

    def _plan(self, tag: BaseTag, raw_vr: str | None, root: bool) -> tuple[str, str, str]:
        """(action, name for the report, VR) for an element, from its tag and the VR it was read with."""
        if tag.is_private:
            return "-", "", raw_vr or ""
        group = tag.group
        if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and group % 2 == 0):
            # Curves and overlays go whole: an overlay plane can carry burned-in text.
            return "X", keyword_for_tag(tag) or _tag_name(tag), raw_vr or ""
        if tag.element == 0x0000 and group != 0x0002:
            return "-", "", raw_vr or ""
        if not dictionary_has_tag(tag):
            return "X", _tag_name(tag), raw_vr or ""
        keyword = keyword_for_tag(tag)
        vr = raw_vr if raw_vr not in (None, "UN") else dictionary_VR(tag)
        return self._action(root, keyword, vr), keyword, vr

    def _action(self, root: bool, keyword: str, vr: str) -> str:
        """What happens to one attribute, from its keyword and VR alone (no value is decoded for K, X, Z).

        ``K`` keep, ``X`` remove, ``Z`` empty, ``D`` dummy, ``U`` remap UID, ``C`` clean, ``S`` shift date,
        ``P`` subject code (Patient's Name/ID of the top-level dataset), ``R`` recurse into a sequence.
        """
        if root and keyword in ("PatientName", "PatientID"):
            return "P"
        action = resolve_action(keyword)
        if vr in _DATE_VRS and keyword not in _VERSION_DATETIMES:
            if self.shift_days is not None and keyword not in ("PatientBirthDate", "PatientBirthTime"):
                return "K" if vr == "TM" else "S"  # a whole-day shift leaves times of day as they are
            if action is None:  # a date or time the table does not list: removed as well, to be safe
                return "X"
        if self.clean_descriptors and keyword in _CLEANABLE_DESCRIPTORS:
            return "C"
        if action is not None:
            return action
        if vr == "UI" and _is_instance_uid(keyword):
            return "U"
        return "R" if vr == "SQ" else "K"

    def _apply(self, ds: Dataset, elem: DataElement, action: str) -> None:
        keyword = elem.keyword
        if action == "P":
            elem.value = self.subject_code
            self.replaced.add(keyword)
        elif action == "S":
            self._shift(ds, elem)
        elif action == "D":
            self._dummy(elem)
            self.replaced.add(keyword)
        elif action == "U":
            self._remap(elem)
        elif action == "C":
            self._clean(elem)
        elif action == "R":
            for item in elem.value:
                self.walk(item)

    def _remap(self, elem: DataElement) -> None:
        if elem.VR != "UI":  # e.g. a sequence with a U action in a later edition: clean its items instead
            if elem.VR == "SQ":
                for item in elem.value:
                    self.walk(item)
            return
        if elem.is_empty:
            return
        values = elem.value if elem.VM > 1 else [elem.value]
        new = [self.uid_map.map(v) for v in values]
        elem.value = new if elem.VM > 1 else new[0]
        self.remapped.add(elem.keyword)

    def _dummy(self, elem: DataElement) -> None:
        vr = elem.VR
        if vr == "SQ":
            elem.value = Sequence([Dataset()])
        elif vr == "UI":
            elem.value = self.uid_map.map(str(elem.value)) if not elem.is_empty else "2.25.0"
        elif vr in _DUMMY_BY_VR:
            elem.value = _DUMMY_BY_VR[vr]
        elif vr in _TEXT_VRS:
            elem.value = _DUMMY_TEXT
        elif vr in _BINARY_VRS:
            elem.value = b"\x00\x00"
        else:  # US, SS, UL, SL, FL, FD, AT, ...
            elem.value = 0

    def _shift(self, ds: Dataset, elem: DataElement) -> None:
        if elem.VR == "TM" or elem.is_empty:
            return  # a whole-day shift leaves the time of day unchanged
        values = elem.value if elem.VM > 1 else [elem.value]
        shifted = []
        for value in values:
            new = shift_date_text(str(value), self.shift_days or 0, datetime=elem.VR == "DT")
            if new is None:  # unparseable or partial: cannot be shifted, so it goes
                del ds[elem.tag]
                self.removed.add(elem.keyword)
                return
            shifted.append(new)
        elem.value = shifted if elem.VM > 1 else shifted[0]
        self.shifted.add(elem.keyword)

    def _clean(self, elem: DataElement) -> None:
        elem.value = self._clean_text(str(elem.value or ""))
        self.cleaned.add(elem.keyword)

    def _clean_text(self, text: str) -> str:
        return _cleaned(text, self.identifiers)

    def _private(self, ds: Dataset) -> None:
        """Remove private attributes except the safe list; keep the creators the kept ones need."""
        private = [tag for tag in ds._dict if tag >> 16 & 1]  # odd groups
        creators: dict[tuple[int, int], str] = {}
        for tag in private:
            if 0x0010 <= tag & 0xFFFF <= 0x00FF:
                creators[(tag >> 16, tag & 0xFFFF)] = dicom_values.text(ds, tag).strip()
        kept_blocks: set[tuple[int, int]] = set()
        for tag in private:
            group, element = tag >> 16, tag & 0xFFFF
            if element <= 0x00FF:
                continue
            block = (group, element >> 8)
            creator = creators.get(block)
            if creator is not None and (group, creator, element & 0xFF) in SAFE_PRIVATE_ATTRIBUTES:
                kept_blocks.add(block)
                self.private_kept.add(_tag_name(tag))
                continue
            self.private_removed.add(_tag_name(tag))
            del ds[tag]
        for tag in private:
            group, element = tag >> 16, tag & 0xFFFF
            if element > 0x00FF or (group, element) in kept_blocks:
                continue  # a kept block's creator, or a private element dealt with above
            self.private_removed.add(_tag_name(tag))
            del ds[tag]


def _drop(ds: Dataset, tag: BaseTag) -> None:
    """``del ds[tag]`` for a public attribute other than pixel data (Dataset.__delitem__ also resets the caches
    of private blocks and decoded pixels, which such an attribute does not touch)."""
    if tag in _PIXEL_TAGS:
        del ds[tag]
    else:
        del ds._dict[tag]


def _set(ds: Dataset, tag: int, elem: RawDataElement | DataElement) -> None:
    if type(elem) is RawDataElement:
        ds._dict[elem.tag] = elem  # raw elements are immutable: one may be shared by many datasets
    else:
        ds[tag] = elem


@lru_cache(maxsize=4096)
def _cleaned(text: str, identifiers: tuple[str, ...]) -> str:
    """A descriptor without the identifying values found elsewhere in the dataset and long digit runs (the same
    descriptors recur in every file of a series)."""
    for pattern in _identifier_patterns(identifiers):
        text = pattern.sub("", text)
    text = _DIGIT_RUN.sub("", text)  # dates, record numbers, phone numbers
    return _SPACE_RUN.sub(" ", text).strip(" -_^,;")


@lru_cache(maxsize=64)
def _identifier_patterns(identifiers: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    """Case-insensitive patterns for the identifying values (the same for every file of a patient)."""
    return tuple(re.compile(re.escape(ident), re.IGNORECASE) for ident in identifiers)


def _is_instance_uid(keyword: str) -> bool:
    """UIDs the table does not list but that identify instances, series, studies or frames of reference."""
    return keyword.endswith("InstanceUID") or keyword.endswith("FrameOfReferenceUID")


def _identifying_strings(ds: Dataset) -> tuple[str, ...]:
    """Values that identify the patient, staff or site, used by the Clean Descriptors Option."""
    codec = dicom_values.text_codec(ds)
    elements = [ds._dict.get(tag) for _, tag in _IDENTIFYING_ATTRIBUTES]
    if codec is None or not all(e is None or type(e) is RawDataElement for e in elements):
        return _identifying(ds, codec)
    # as read from the file: the same bytes, in every file of a patient, give the same strings
    key = (codec, *(None if e is None else (e.VR, e.value, e.is_implicit_VR, e.is_little_endian) for e in elements))
    found = _identifying_cache.get(key)
    if found is None:
        if len(_identifying_cache) >= 1024:
            _identifying_cache.clear()
        found = _identifying_cache[key] = _identifying(ds, codec)
    return found


_identifying_cache: dict[tuple, tuple[str, ...]] = {}


def _identifying(ds: Dataset, codec: str | None) -> tuple[str, ...]:
    found: set[str] = set()
    for keyword, tag in _IDENTIFYING_ATTRIBUTES:
        for item in dicom_values.strings(ds, tag, codec) or ():
            text = item.strip()
            if len(text) >= 3:
                found.add(text)
            if keyword.endswith("Name"):
                found.update(p for p in re.split(r"[\^\s,]+", text) if len(p) >= 3)
    return tuple(sorted(found, key=len, reverse=True))


_IDENTIFYING_ATTRIBUTES: Final = (
    ("PatientName", 0x00100010),
    ("PatientID", 0x00100020),
    ("OtherPatientIDs", 0x00101000),
    ("AccessionNumber", 0x00080050),
    ("StudyID", 0x00200010),
    ("InstitutionName", 0x00080080),
    ("InstitutionAddress", 0x00080081),
    ("ReferringPhysicianName", 0x00080090),
    ("PerformingPhysicianName", 0x00081050),
    ("OperatorsName", 0x00081070),
    ("StationName", 0x00081010),
    ("PatientBirthDate", 0x00100030),
)
