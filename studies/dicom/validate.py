"""Validation of uploaded DICOM files (pure: pydicom and numpy, no Django).

:func:`inspect_file` reads one file and says whether the platform can use it. It never raises on bad input:
every problem becomes an :class:`InspectResult` with a stable ``code`` (see :data:`REJECTION_CODES`) and a
``reason`` a clinician can act on. The import job then groups the accepted datasets by Series Instance UID,
drops repeated instances with :func:`mark_duplicates`, and hands each series to :mod:`studies.dicom.series`
(consistent geometry, slice order, classification) to build the cases.

Only what VBQ and SNR measurement needs is accepted: MR images, grey scale (MONOCHROME1/2), with the image-plane
geometry that lets a viewer and the scoring code place ROIs in millimetres — single-frame files, and Enhanced MR /
Legacy Converted Enhanced MR files whose functional groups place every frame consistently
(:mod:`studies.dicom.frames`).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Final, Literal

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    MRImageStorage,
    UID_dictionary,
)
from pydicom.valuerep import VR

from . import values
from .frames import ENHANCED_MR_CLASSES, file_facts, frame_facts
from .guard import DecodeFailed, decode_with_plugins, is_fatal
from .read import read_bytes_to_end

__all__ = [
    "ACCEPTED",
    "FACT_TAGS",
    "REJECTION_CODES",
    "InspectResult",
    "image_facts",
    "inspect_file",
    "mark_duplicates",
]

ACCEPTED: Final = "accepted"

#: Every code :func:`inspect_file`, :func:`mark_duplicates` and the import's series check
#: (:func:`~studies.dicom.series.check_series_geometry`) can give, with a short title for tables. Codes are
#: stable: the import stores them and tests assert them.
REJECTION_CODES: Final[dict[str, str]] = {
    "empty_file": "Empty file",
    "unreadable": "File could not be read",
    "not_dicom": "Not a DICOM file",
    "dicomdir": "DICOMDIR index file (skipped)",
    "truncated": "Truncated or damaged file",
    "no_pixel_data": "No image in the file",
    "non_mr_modality": "Not an MR image",
    "multi_frame": "Multi-frame file",
    "inconsistent_frames": "Inconsistent multi-frame file",
    "unsupported_photometric": "Colour or unsupported photometric interpretation",
    "unsupported_pixel_format": "Unsupported pixel format",
    "unknown_transfer_syntax": "Unknown transfer syntax",
    "codec_missing": "No decoder for the compression",
    "corrupt_pixel_data": "Image data could not be decoded",
    "decoder_crashed": "Image data crashed the decoder",
    "missing_uids": "Missing identifiers",
    "missing_geometry": "Missing image geometry",
    "duplicate_sop_instance": "Duplicate image",
    "inconsistent_geometry": "Inconsistent geometry within the series",
}

#: Codes whose files are passed over rather than reported as errors.
SKIPPED_CODES: Final = frozenset({"dicomdir"})

_IMAGE_STORAGE: Final = frozenset({MRImageStorage, CTImageStorage, *ENHANCED_MR_CLASSES})
_ACCEPTED_PHOTOMETRIC: Final = frozenset({"MONOCHROME1", "MONOCHROME2"})
_UNDEFINED_LENGTH: Final = 0xFFFFFFFF

_SOP_CLASS_UID: Final = 0x00080016
_MEDIA_STORAGE_SOP_CLASS_UID: Final = 0x00020002
_TRANSFER_SYNTAX_UID: Final = 0x00020010
_FILE_META_GROUP_LENGTH: Final = 0x00020000
_DIRECTORY_RECORD_SEQUENCE: Final = 0x00041220
_MODALITY: Final = 0x00080060
_SAMPLES_PER_PIXEL: Final = 0x00280002
_PHOTOMETRIC_INTERPRETATION: Final = 0x00280004
_NUMBER_OF_FRAMES: Final = 0x00280008
_ROWS: Final = 0x00280010
_COLUMNS: Final = 0x00280011
_PIXEL_SPACING: Final = 0x00280030
_BITS_ALLOCATED: Final = 0x00280100
_IMAGE_POSITION: Final = 0x00200032
_IMAGE_ORIENTATION: Final = 0x00200037
_PIXEL_DATA: Final = 0x7FE00010
_PIXEL_TAGS: Final = (_PIXEL_DATA, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float and Double Float Pixel Data
_UID_TAGS: Final = (
    ("sop_instance_uid", 0x00080018),
    ("series_instance_uid", 0x0020000E),
    ("study_instance_uid", 0x0020000D),
)
_UID_FIELDS: Final = (
    ("SOPInstanceUID", "sop_instance_uid"),
    ("SeriesInstanceUID", "series_instance_uid"),
    ("StudyInstanceUID", "study_instance_uid"),
)

Status = Literal["accepted", "rejected", "skipped"]


@dataclass(frozen=True)
class InspectResult:
    """The verdict on one file.

    Attributes
    ----------
    status : {"accepted", "rejected", "skipped"}
    code : str
        ``"accepted"`` or one of :data:`REJECTION_CODES`.
    reason : str
        A sentence for the person who uploaded the file; empty when accepted.
    dataset : pydicom.dataset.Dataset or None
        The parsed dataset (with pixel data) when accepted, else None.
    source : bytes or None
        The bytes the dataset was read from (accepted files only).
    originals : dict or None
        The top-level elements as pydicom read them, before anything was decoded (accepted files only):
        with ``source`` they let :func:`studies.dicom.encode.part10_bytes` copy unchanged elements.
    facts : dict or None
        :func:`image_facts` of the dataset (accepted files only): small, plain values that can be sent to
        another process and stand in for the dataset in the series functions.
    name : str
        The file name given or taken from the path ("" for bytes).
    sop_instance_uid, series_instance_uid, study_instance_uid, transfer_syntax_uid : str
        Read when the file could be parsed (may be set on rejected files too), else "".
    """

    status: Status
    code: str
    reason: str = ""
    dataset: Dataset | None = field(default=None, compare=False, repr=False)
    source: bytes | None = field(default=None, compare=False, repr=False)
    originals: dict | None = field(default=None, compare=False, repr=False)
    facts: dict | None = field(default=None, compare=False, repr=False)
    name: str = ""
    sop_instance_uid: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    transfer_syntax_uid: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    def as_dict(self) -> dict[str, str]:
        """JSON-ready summary without the dataset, e.g. for an import report row."""
        return {
            "name": self.name,
            "status": self.status,
            "code": self.code,
            "reason": self.reason,
            "sop_instance_uid": self.sop_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "transfer_syntax_uid": self.transfer_syntax_uid,
        }


def inspect_file(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO, *, name: str | None = None
) -> InspectResult:
    """Read one file and accept it or say why not. Never raises on bad input.

    Parameters
    ----------
    source : path, bytes or binary file object
        The file's location or content.
    name : str, optional
        Name to report (defaults to the path's base name).

    Returns
    -------
    InspectResult
        ``accepted`` with the parsed dataset, ``skipped`` (a DICOMDIR index) or ``rejected`` with a code.
    """
    label = name if name is not None else _source_name(source)
    try:
        data = _read_bytes(source)
    except OSError as exc:
        return _reject("unreadable", f"The file could not be read ({exc.strerror or exc}).", label)
    if not data:
        return _reject("empty_file", "The file is empty (0 bytes).", label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _inspect(data, label)
        except BaseException as exc:  # last resort: a malformed file must never crash an import
            if is_fatal(exc):  # (panics of native decoders included; not a request to stop)
                raise
            return _reject(
                "truncated" if _has_dicm(data) else "not_dicom",
                f"The file could not be parsed as DICOM ({type(exc).__name__}); it may be damaged.",
                label,
            )


def _inspect(data: bytes, label: str) -> InspectResult:
    has_dicm = _has_dicm(data)
    try:
        ds, end = read_bytes_to_end(data, force=not has_dicm)
    except InvalidDicomError:
        return _reject("not_dicom", _NOT_DICOM_REASON, label)
    except Exception as exc:
        if has_dicm:
            return _reject(
                "truncated",
                f"The DICOM file breaks off or is damaged part-way through ({type(exc).__name__}); "
                "upload the original file again.",
                label,
            )
        return _reject("not_dicom", _NOT_DICOM_REASON, label)
    if not has_dicm and not _looks_like_dicom(ds):
        return _reject("not_dicom", _NOT_DICOM_REASON, label)

    originals = dict(ds._dict)  # before any element is decoded
    structure = _structure_problem(ds, data, has_dicm, originals, end)
    ids = _identifiers(ds)
    if structure:
        return _reject("truncated", structure, label, **ids)
    unknown = _unknown_meta_vr(ds)
    if unknown:
        return _reject("truncated", unknown, label, **ids)

    meta = getattr(ds, "file_meta", None)
    sop_class = values.text(ds, _SOP_CLASS_UID).strip()
    if not sop_class and meta is not None:
        sop_class = values.text(meta, _MEDIA_STORAGE_SOP_CLASS_UID).strip()
    if sop_class == MediaStorageDirectoryStorage or _DIRECTORY_RECORD_SEQUENCE in ds._dict:
        return InspectResult(
            status="skipped",
            code="dicomdir",
            reason="A DICOMDIR is only an index of the other files; it was skipped.",
            name=label,
            **ids,
        )
    if not any(t in ds._dict for t in _PIXEL_TAGS):
        if _ROWS in ds._dict or sop_class in _IMAGE_STORAGE:
            reason = (
                "The file describes an image but holds no pixel data; it may have been cut short during "
                "copying. Upload the original file again."
            )
        else:
            reason = "The file holds no image (no Pixel Data); it is probably a report or another document."
        return _reject("no_pixel_data", reason, label, **ids)

    modality = values.text(ds, _MODALITY).strip().upper()
    if modality != "MR":
        what = f"a {modality} image" if modality else "an image whose modality is not recorded"
        return _reject(
            "non_mr_modality",
            f"This is {what}; only MR images (Modality MR) can be measured.",
            label,
            **ids,
        )
    frames = values.integer(ds, _NUMBER_OF_FRAMES)
    enhanced = sop_class in ENHANCED_MR_CLASSES
    if frames is not None and frames > 1 and not enhanced:
        return _reject(
            "multi_frame",
            f"This file holds {frames} frames but is not an Enhanced MR image: only single-frame MR images and "
            "Enhanced MR (or Legacy Converted Enhanced MR) files can be read; export the series as either.",
            label,
            **ids,
        )
    photometric = values.text(ds, _PHOTOMETRIC_INTERPRETATION).strip().upper()
    samples = values.integer(ds, _SAMPLES_PER_PIXEL) or 1
    if photometric not in _ACCEPTED_PHOTOMETRIC or samples != 1:
        shown = photometric or "not recorded"
        return _reject(
            "unsupported_photometric",
            f"The image is stored as {shown} with {samples} sample(s) per pixel; only grey-scale images "
            "(MONOCHROME1 or MONOCHROME2) are accepted. Export the original, not a colour screenshot.",
            label,
            **ids,
        )
    bits = values.integer(ds, _BITS_ALLOCATED)
    rows = values.integer(ds, _ROWS)
    columns = values.integer(ds, _COLUMNS)
    if _PIXEL_DATA not in ds._dict or bits not in (8, 16) or not rows or not columns:
        return _reject(
            "unsupported_pixel_format",
            "The image's pixel format is not supported (integer pixels of 8 or 16 bits with Rows and "
            "Columns are required).",
            label,
            **ids,
        )

    ts = ids["transfer_syntax_uid"]
    if not ts:  # no file meta (old-style file): record the encoding pydicom read it with, so it can decode
        ts = ids["transfer_syntax_uid"] = _add_file_meta(ds)
    if not _is_known_transfer_syntax(ts):
        return _reject(
            "unknown_transfer_syntax",
            f"The file uses the transfer syntax {ts}, which is not a standard DICOM encoding this server "
            "knows (often a vendor's private compression); export the images with a standard transfer "
            "syntax, preferably uncompressed.",
            label,
            **ids,
        )
    missing_ids = [k for k, key in _UID_FIELDS if not ids[key]]
    if missing_ids:
        return _reject(
            "missing_uids",
            f"The file lacks {', '.join(missing_ids)}, so it cannot be placed in a study and series.",
            label,
            **ids,
        )
    if enhanced:
        frame_list, frame_problems = frame_facts(ds)
        if frame_problems:
            return _reject(
                "inconsistent_frames",
                "This multi-frame (enhanced MR) file cannot be read as a stack of slices: "
                f"{'; '.join(frame_problems)}. Export the series again from the scanner or PACS.",
                label,
                **ids,
            )
        frames = len(frame_list)
    geometry = [] if enhanced else _geometry_problems(ds)
    if geometry:
        return _reject(
            "missing_geometry",
            f"The image lacks the geometry needed to measure it in millimetres: {'; '.join(geometry)}.",
            label,
            **ids,
        )

    ts_uid = UID(ts)
    if not ts_uid.is_compressed:
        expected = rows * columns * samples * (frames or 1) * bits // 8
        pixel_data = ds._dict[_PIXEL_DATA]
        found = len(pixel_data.value if type(pixel_data) is RawDataElement else ds.PixelData)
        if found < expected:
            return _reject(
                "truncated",
                f"The image data is incomplete ({found} of {expected} bytes); the file was cut short "
                "during copying or export. Upload the original file again.",
                label,
                **ids,
            )
        frame_bytes = rows * columns * samples * bits // 8
        if enhanced and found >= expected + frame_bytes:
            return _reject(
                "inconsistent_frames",
                f"This multi-frame file holds image data for {found // frame_bytes} frames but declares {frames} "
                "(Number of Frames); export the series again from the scanner or PACS.",
                label,
                **ids,
            )
        return _accept(ds, data, originals, label, ids)

    problem = _decode_problem(ds, ts_uid, frames or 1)
    if problem is not None:
        code, reason = problem
        return _reject(code, reason, label, **ids)
    return _accept(ds, data, originals, label, ids)


def _accept(ds: Dataset, data: bytes, originals: dict, label: str, ids: dict[str, str]) -> InspectResult:
    return InspectResult(
        status="accepted",
        code=ACCEPTED,
        dataset=ds,
        source=data,
        originals=originals,
        facts=image_facts(ds),
        name=label,
        **ids,
    )


#: What the import needs of an accepted file besides the file itself: for grouping it into a case and
#: series, :mod:`studies.dicom.series` and the instance's database row.
FACT_TAGS: Final[dict[str, int]] = {
    "PatientID": 0x00100020,
    "PatientName": 0x00100010,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
    "SOPInstanceUID": 0x00080018,
    "InstanceNumber": 0x00200013,
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "PixelSpacing": 0x00280030,
    "ImageOrientationPatient": 0x00200037,
    "ImagePositionPatient": 0x00200032,
    "SliceThickness": 0x00180050,
    "RepetitionTime": 0x00180080,
    "EchoTime": 0x00180081,
    "SeriesDescription": 0x0008103E,
    "ProtocolName": 0x00181030,
    "SequenceName": 0x00180024,
    "ContrastBolusAgent": 0x00180010,
}
_FACT_INTEGERS: Final = frozenset({"InstanceNumber", "Rows", "Columns"})
_FACT_NUMBERS: Final = frozenset({"SliceThickness", "RepetitionTime", "EchoTime"})
_FACT_VECTORS: Final = frozenset({"PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient"})


def image_facts(ds: Dataset) -> dict[str, object]:
    """The :data:`FACT_TAGS` values of ``ds`` as plain Python values (str, int, float, list of float or None).

    An enhanced MR file's facts also hold ``Frames``, each frame's geometry (:func:`~.frames.file_facts`).
    The dict answers ``.get(keyword)`` like the dataset, so the functions of :mod:`studies.dicom.series`
    accept it in its place.
    """
    codec = values.text_codec(ds)
    facts: dict[str, object] = {}
    for keyword, tag in FACT_TAGS.items():
        if keyword in _FACT_INTEGERS:
            facts[keyword] = values.integer(ds, tag)
        elif keyword in _FACT_VECTORS:
            facts[keyword] = values.floats(ds, tag)
        elif keyword in _FACT_NUMBERS:
            numbers = values.floats(ds, tag)
            facts[keyword] = numbers[0] if numbers else None
        else:
            facts[keyword] = values.text(ds, tag, codec)
    if values.text(ds, _SOP_CLASS_UID).strip() in ENHANCED_MR_CLASSES:
        facts.update(file_facts(ds, frame_facts(ds)[0]))  # per frame: ``Frames`` (studies.dicom.frames)
    return facts


def _add_file_meta(ds: Dataset) -> str:
    implicit, little = ds.original_encoding
    if implicit or implicit is None:
        ts = ImplicitVRLittleEndian
    else:
        ts = ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    meta.TransferSyntaxUID = ts
    for keyword, source in (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    ):
        if source in ds and keyword not in meta:
            setattr(meta, keyword, ds[source].value)
    return str(ts)


_NOT_DICOM_REASON: Final = (
    "This is not a DICOM file (no DICOM header could be found); upload the DICOM images exported from the "
    "scanner or PACS, not screenshots, PDFs or other documents."
)


def _decode_problem(ds: Dataset, ts: UID, frames: int = 1) -> tuple[str, str] | None:
    """Decode compressed pixels; say whether the codec is missing or the data is broken."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(ts)
        available = decoder.is_available
    except NotImplementedError:
        available = False
    if not available:
        return (
            "codec_missing",
            f"The image is compressed with {ts.name} (transfer syntax {ts}) and this server has no decoder "
            "(codec) for it installed. Export the images uncompressed, or ask the administrator to add "
            "the codec.",
        )
    try:
        pixels = decode_with_plugins(ds, decoder, ts)
    except DecodeFailed as exc:
        return "corrupt_pixel_data", exc.reason
    if frames > 1:
        found = pixels.shape[0] if pixels.ndim == 3 else 1
        if found != frames or pixels.shape[1:3] != (int(ds.Rows), int(ds.Columns)):
            return (
                "inconsistent_frames",
                f"The image data decodes to {found} frame(s) of {pixels.shape[-1]}×{pixels.shape[-2]} pixels but "
                f"the header declares {frames} of {ds.Columns}×{ds.Rows}; the file may be damaged.",
            )
    elif pixels.shape[:2] != (int(ds.Rows), int(ds.Columns)):
        return (
            "corrupt_pixel_data",
            f"The decoded image is {pixels.shape[1]}×{pixels.shape[0]} pixels but the header says "
            f"{ds.Columns}×{ds.Rows}; the file may be damaged.",
        )
    return None


def _structure_problem(ds: Dataset, data: bytes, has_dicm: bool, originals: dict, end: int | None) -> str | None:
    """Find a file that ends inside an element or its header, which pydicom reads as a shorter dataset.

    Checks that each top-level value pydicom read is as long as its header says and that nothing but zero
    padding follows the last element; where the last element's extent is not known from the parse
    (a sequence pydicom decoded while reading), walks the elements again with pydicom's element generator.
    ``end`` is where the parse ended when the reader knows it (:func:`~.read.read_bytes_to_end`).
    """
    cut = "The DICOM file is cut short (it ends in the middle of its data); upload the original file again."
    size = len(data)
    meta = getattr(ds, "file_meta", None)
    start = 0
    if has_dicm:
        meta_length = values.integer(meta, _FILE_META_GROUP_LENGTH) if meta is not None else None
        if meta_length is None or _TRANSFER_SYNTAX_UID not in meta._dict:
            return "The DICOM file header is incomplete or damaged; upload the original file again."
        start = 132 + 12 + int(meta_length)
        if start > size:
            return cut
    elif data[:2] == b"\x02\x00":
        return None  # file meta without a preamble: unusual; pydicom's own parsing has to do
    ts = values.text(meta, _TRANSFER_SYNTAX_UID).strip() if meta is not None else ""
    if ts == DeflatedExplicitVRLittleEndian:
        return None  # the data set is zlib-compressed; pydicom raises if it is cut
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return None
    if end is None:
        end = _parsed_end(originals)
    if end is not None:
        if end < 0 or end > size:
            return cut
        return cut if end < size and data[end:].strip(b"\x00") else None
    fp = io.BytesIO(data)
    fp.seek(start)
    end = start
    try:
        for elem in data_element_generator(fp, implicit, little):
            length = getattr(elem, "length", None)
            value = getattr(elem, "value", None)
            if length not in (None, _UNDEFINED_LENGTH) and isinstance(value, bytes) and len(value) < length:
                return cut
            end = fp.tell()
    except Exception:
        return cut
    if end < size and data[end:].strip(b"\x00"):  # unparsed bytes that are not zero padding
        return cut
    return None


def _unknown_meta_vr(ds: Dataset) -> str | None:
    """The reason to refuse a file whose file meta information has an element of an unknown VR (a damaged
    header: writing the file again would fail), or None."""
    meta = getattr(ds, "file_meta", None)
    for tag, elem in meta._dict.items() if meta is not None else ():
        vr = getattr(elem, "VR", None)
        if isinstance(elem, RawDataElement) and vr is not None and vr not in _KNOWN_VRS:
            return (
                f"The file header is corrupt: unknown value representation {vr!r} in element "
                f"({tag >> 16:04X},{tag & 0xFFFF:04X}) of the file meta information. Upload the original file again."
            )
    return None


_KNOWN_VRS: Final = frozenset(vr.value for vr in VR if len(vr.value) == 2)


def _parsed_end(originals: dict) -> int | None:
    """Offset just past the last top-level element pydicom read; -1 when a value came up short; None if unknown."""
    if not originals:
        return None
    if not _measurable(originals[max(originals, key=int)]):  # int: BaseTag compares in Python
        return None  # e.g. a closing sequence pydicom decoded while reading: its end is not recorded
    last = None
    for elem in originals.values():
        if not _measurable(elem):
            continue
        if elem.length != _UNDEFINED_LENGTH and len(elem.value) < elem.length:
            return -1
        if last is None or elem.value_tell > last.value_tell:
            last = elem
    return last.value_tell + len(last.value) + (8 if last.length == _UNDEFINED_LENGTH else 0)


def _measurable(elem: object) -> bool:
    return isinstance(elem, RawDataElement) and elem.value is not None and elem.value_tell is not None


def _has_dicm(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


def _looks_like_dicom(ds: Dataset) -> bool:
    """A dataset read without the DICM header is believed only if it has the usual image attributes."""
    if not len(ds):
        return False
    try:
        tags = list(ds.keys())
        if tags[0].group > 0x0008 or any(t.group % 2 == 1 and t.group < 0x0008 for t in tags):
            return False
        return any(k in ds for k in ("SOPClassUID", "SOPInstanceUID", "Modality")) and (
            "Rows" in ds or "SOPClassUID" in ds
        )
    except Exception:
        return False


def _identifiers(ds: Dataset) -> dict[str, str]:
    out = {key: values.text(ds, tag).strip() for key, tag in _UID_TAGS}
    meta = getattr(ds, "file_meta", None)
    out["transfer_syntax_uid"] = values.text(meta, _TRANSFER_SYNTAX_UID).strip() if meta is not None else ""
    return out


def _is_known_transfer_syntax(ts: str) -> bool:
    entry = UID_dictionary.get(ts)
    return entry is not None and entry[1] == "Transfer Syntax"


def _geometry_problems(ds: Dataset) -> list[str]:
    problems = []
    ipp = _finite(values.floats(ds, _IMAGE_POSITION))
    if ipp is None or len(ipp) != 3:
        problems.append("Image Position (Patient) is missing or malformed")
    iop = _finite(values.floats(ds, _IMAGE_ORIENTATION))
    if iop is None or len(iop) != 6:
        problems.append("Image Orientation (Patient) is missing or malformed")
    else:
        row, col = iop[:3], iop[3:]
        if not (abs(math.hypot(*row) - 1) < 0.01 and abs(math.hypot(*col) - 1) < 0.01 and abs(_dot(row, col)) < 0.01):
            problems.append("Image Orientation (Patient) is not two perpendicular unit vectors")
    spacing = _finite(values.floats(ds, _PIXEL_SPACING))
    if spacing is None or len(spacing) != 2:
        problems.append("Pixel Spacing is missing or malformed")
    elif not all(s > 0 for s in spacing):
        problems.append("Pixel Spacing is not positive")
    return problems


def _dot(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _finite(numbers: list[float] | None) -> list[float] | None:
    return numbers if numbers and all(math.isfinite(v) for v in numbers) else None


def _reject(code: str, reason: str, name: str, **ids: str) -> InspectResult:
    status: Status = "skipped" if code in SKIPPED_CODES else "rejected"
    return InspectResult(status=status, code=code, reason=reason, name=name, **ids)


def _source_name(source: object) -> str:
    if isinstance(source, str | os.PathLike):
        return os.path.basename(os.fspath(source))
    return str(getattr(source, "name", "") or "")


def _read_bytes(source: object) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return fh.read()
    return source.read()  # type: ignore[attr-defined]


def mark_duplicates(results: Sequence[InspectResult]) -> list[InspectResult]:
    """Reject every accepted file whose SOP Instance UID an earlier accepted file already has.

    Feed the results in a stable order (e.g. sorted by path): the first file of each instance is kept.
    """
    seen: dict[str, str] = {}
    out = []
    for result in results:
        uid = result.sop_instance_uid
        if result.accepted and uid:
            if uid in seen:
                result = replace(
                    result,
                    status="rejected",
                    code="duplicate_sop_instance",
                    reason=f"The same image (SOP Instance UID) was already imported from {seen[uid]!r}; "
                    "this copy was ignored.",
                    dataset=None,
                )
            else:
                seen[uid] = result.name or uid
        out.append(result)
    return out
