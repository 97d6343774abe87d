"""Multi-frame (enhanced) MR files: per-frame geometry from the functional groups (pure: pydicom, no Django).

An Enhanced MR Image (SOP class 1.2.840.10008.5.1.4.1.1.4.1) or a Legacy Converted Enhanced MR Image
(…4.4) holds a whole stack in one file. What a single-frame file says once at the top level, it says per
frame in the *functional groups* (PS3.3 C.7.6.16): an attribute is taken from the frame's item of the
Per-frame Functional Groups Sequence (5200,9230) when it is there, else from the one item of the Shared
Functional Groups Sequence (5200,9229):

- Image Position (Patient) from the Plane Position Sequence (0020,9113),
- Image Orientation (Patient) from the Plane Orientation Sequence (0020,9116),
- Pixel Spacing and Slice Thickness from the Pixel Measures Sequence (0028,9110),
- Rescale Slope / Intercept / Type from the Pixel Value Transformation Sequence (0028,9145) (else the top
  level; none means identity),
- Window Center / Width from the Frame VOI LUT Sequence (0028,9132).

The import stores one file and one slice row per frame: frame *n* (1-based, as DICOM's Referenced Frame Number
and Cornerstone's ``?frame=n`` count) is a slice of the series, placed along the slice normal by its own
position. :func:`frame_facts` gives each frame's facts (the keys of
:func:`~studies.dicom.validate.image_facts`) or the reasons the file is inconsistent — a frame without a
position, a frame count that differs from Number of Frames, frames in different orientations or pixel spacings —
so that the file is rejected as a whole. :func:`frame_dataset` gives the small dataset decoding frame *n* needs
(its rescale and pixel spacing), so that its values are computed exactly as for a single-frame file.

References: DICOM PS3.3 A.36 (Enhanced MR Image IOD), A.36.3.3 (Legacy Converted Enhanced MR), C.7.6.16
(Multi-frame Functional Groups), C.7.6.16.2 (functional group macros).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Final

from pydicom.dataset import Dataset
from pydicom.uid import EnhancedMRImageStorage, LegacyConvertedEnhancedMRImageStorage

__all__ = [
    "ENHANCED_MR_CLASSES",
    "expand_facts",
    "frame_dataset",
    "frame_facts",
    "frame_uid",
    "is_enhanced_mr",
]

#: The multi-frame MR SOP classes imported frame by frame.
ENHANCED_MR_CLASSES: Final = frozenset({EnhancedMRImageStorage, LegacyConvertedEnhancedMRImageStorage})

_TOLERANCE: Final = 1e-3  # as studies.dicom.series.check_series_geometry: orientations and spacings agree to this
#: Facts taken from a frame's functional groups; the others are the file's (top level).
FRAME_KEYS: Final = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness")


def is_enhanced_mr(ds: Dataset) -> bool:
    """True for an Enhanced MR or Legacy Converted Enhanced MR image (by SOP Class UID)."""
    return str(ds.get("SOPClassUID", "") or "").strip() in ENHANCED_MR_CLASSES


def _item(ds: Dataset, keyword: str) -> Dataset | None:
    """The first item of the sequence ``keyword`` of ``ds``, or None."""
    seq = ds.get(keyword) if ds is not None else None
    try:
        return seq[0] if seq else None
    except (TypeError, IndexError):
        return None


def _lookup(frame: Dataset | None, shared: Dataset | None, macro: str, keyword: str) -> object:
    """``keyword`` of the functional group ``macro``: the frame's item first, then the shared one (PS3.3
    C.7.6.16.1: a macro is in one of the two, never both)."""
    for group in (frame, shared):
        try:
            item = _item(group, macro) if group is not None else None
            if item is not None and keyword in item:
                return item.get(keyword)
        except Exception:  # a value pydicom cannot convert (e.g. "abc" as a DS): reported as not valid
            return None
    return None


def _floats(value: object, n: int) -> list[float] | None:
    if value is None or value == "":
        return None
    try:
        items = [value] if isinstance(value, str | int | float) else list(value)  # type: ignore[call-overload]
        out = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n and all(math.isfinite(v) for v in out) else None


def _frames_declared(ds: Dataset) -> int | None:
    try:
        value = ds.get("NumberOfFrames")
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def frame_facts(ds: Dataset) -> tuple[list[dict[str, object]], list[str]]:
    """Each frame's geometry from the functional groups, and the reasons the file cannot be used as a stack.

    Returns ``(frames, problems)``: ``frames`` is one dict per frame, in file order, with ``FrameNumber``
    (1-based) and :data:`FRAME_KEYS` (lists of floats; Slice Thickness a float or None); ``problems`` lists
    sentences for the uploader (empty when the file is consistent). Checked: Number of Frames is a positive
    number equal to the items of the Per-frame Functional Groups Sequence; at most one shared item; every frame
    has a position, an orientation (two perpendicular unit vectors) and a positive pixel spacing; all frames
    share one orientation and one pixel spacing (to 0.001); a rescale is a complete pair of finite numbers.
    """
    problems: list[str] = []
    declared = _frames_declared(ds)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    if declared is None or declared < 1:
        problems.append("the file does not say how many frames it holds (Number of Frames is missing or not positive)")
    if not per_frame:
        problems.append("the Per-frame Functional Groups Sequence, which places each frame, is missing")
        return [], problems
    if declared is not None and declared >= 1 and len(per_frame) != declared:
        problems.append(
            f"the file declares {declared} frames (Number of Frames) but describes {len(per_frame)} "
            "in its Per-frame Functional Groups Sequence"
        )
    if shared_seq is not None and len(shared_seq) > 1:
        problems.append(f"the Shared Functional Groups Sequence has {len(shared_seq)} items instead of one")
    shared = shared_seq[0] if shared_seq else None
    frames: list[dict[str, object]] = []
    missing: dict[str, list[int]] = {}
    for number, item in enumerate(per_frame, 1):
        position = _floats(_lookup(item, shared, "PlanePositionSequence", "ImagePositionPatient"), 3)
        orientation = _floats(_lookup(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        spacing = _floats(_lookup(item, shared, "PixelMeasuresSequence", "PixelSpacing"), 2)
        thickness = _floats(_lookup(item, shared, "PixelMeasuresSequence", "SliceThickness"), 1)
        for name, value in (
            ("Image Position (Patient) (Plane Position Sequence)", position),
            ("Image Orientation (Patient) (Plane Orientation Sequence)", orientation),
            ("Pixel Spacing (Pixel Measures Sequence)", spacing),
        ):
            if value is None:
                missing.setdefault(name, []).append(number)
        if orientation is not None and not _plane(orientation):
            missing.setdefault("an Image Orientation (Patient) of two perpendicular unit vectors", []).append(number)
        if spacing is not None and not all(s > 0 for s in spacing):
            missing.setdefault("a positive Pixel Spacing", []).append(number)
        rescale = _rescale_problem(item, shared, ds)
        if rescale:
            missing.setdefault(rescale, []).append(number)
        frames.append(
            {
                "FrameNumber": number,
                "ImagePositionPatient": position,
                "ImageOrientationPatient": orientation,
                "PixelSpacing": spacing,
                "SliceThickness": thickness[0] if thickness else None,
            }
        )
    for name, numbers in missing.items():
        problems.append(f"{_frames_text(numbers, len(frames))} no valid {name}")
    if not missing:
        if _spread(f["ImageOrientationPatient"] for f in frames) > _TOLERANCE:
            problems.append("its frames have different orientations (it mixes imaging planes or stacks)")
        if _spread(f["PixelSpacing"] for f in frames) > _TOLERANCE:
            problems.append("its frames have different pixel spacings")
    return frames, problems


def _frames_text(numbers: list[int], total: int) -> str:
    if len(numbers) == total and total > 1:
        return "its frames have"
    shown = ", ".join(str(n) for n in numbers[:5]) + (" …" if len(numbers) > 5 else "")
    return f"frame{'s' if len(numbers) > 1 else ''} {shown} {'have' if len(numbers) > 1 else 'has'}"


def _plane(iop: list[float]) -> bool:
    row, col = iop[:3], iop[3:]
    dot = math.fsum(a * b for a, b in zip(row, col, strict=True))
    return abs(math.hypot(*row) - 1) < 0.01 and abs(math.hypot(*col) - 1) < 0.01 and abs(dot) < 0.01


def _spread(vectors: Iterable[object]) -> float:
    items = [list(v) for v in vectors]  # type: ignore[call-overload]
    if not items:
        return 0.0
    return max(abs(a - b) for v in items for a, b in zip(v, items[0], strict=True))


_RESCALE: Final = ("RescaleSlope", "RescaleIntercept")


def _rescale_values(frame: Dataset | None, shared: Dataset | None, ds: Dataset) -> dict[str, object]:
    """The frame's Rescale Slope / Intercept / Type: from its Pixel Value Transformation item (per frame, else
    shared), else the top level; only the attributes present."""
    for group in (frame, shared):
        item = _item(group, "PixelValueTransformationSequence") if group is not None else None
        if item is not None and any(k in item for k in _RESCALE):
            return {k: item.get(k) for k in (*_RESCALE, "RescaleType") if k in item}
    return {k: ds.get(k) for k in (*_RESCALE, "RescaleType") if k in ds}


def _rescale_problem(frame: Dataset | None, shared: Dataset | None, ds: Dataset) -> str | None:
    found = _rescale_values(frame, shared, ds)
    present = {k: found.get(k) for k in _RESCALE if k in found}
    if not present:
        return None
    if len(present) == 1 or any(_floats(v, 1) is None for v in present.values()):
        return "rescale (Rescale Slope and Intercept must both be finite numbers)"
    return None


def frame_dataset(ds: Dataset, frame: int) -> Dataset:
    """A dataset describing frame ``frame`` (1-based) as a single-frame file would: the top-level attributes
    decoding uses (Pixel Representation, Bits Stored…, without Pixel Data), with the frame's Pixel Spacing,
    Slice Thickness, Image Position / Orientation (Patient), Rescale Slope / Intercept / Type and Window
    Center / Width from its functional groups. Passing it to ``pydicom.pixels.apply_modality_lut`` rescales
    the frame's stored values exactly as a single-frame file with those attributes.

    Raises
    ------
    ValueError
        If the file has no such frame.
    """
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    declared = _frames_declared(ds) or len(per_frame) or 1
    if not 1 <= frame <= max(declared, len(per_frame)):
        raise ValueError(f"The file has {declared} frame(s); frame {frame} does not exist.")
    out = Dataset()
    for keyword in ("PixelRepresentation", "BitsStored", "BitsAllocated", "Rows", "Columns", "Modality"):
        if keyword in ds:
            setattr(out, keyword, ds.get(keyword))
    item = per_frame[frame - 1] if frame <= len(per_frame) else None
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    for macro, keyword in (
        ("PlanePositionSequence", "ImagePositionPatient"),
        ("PlaneOrientationSequence", "ImageOrientationPatient"),
        ("PixelMeasuresSequence", "PixelSpacing"),
        ("PixelMeasuresSequence", "SliceThickness"),
        ("FrameVOILUTSequence", "WindowCenter"),
        ("FrameVOILUTSequence", "WindowWidth"),
    ):
        value = _lookup(item, shared, macro, keyword)
        if value is None and keyword in ds:
            value = ds.get(keyword)
        if value is not None:
            setattr(out, keyword, value)
    for keyword, value in _rescale_values(item, shared, ds).items():
        setattr(out, keyword, value)
    return out


def expand_facts(facts: dict) -> list[dict]:
    """The facts of each slice a file holds: ``[facts]`` for a single-frame file; for a multi-frame one
    (``facts["Frames"]``, from :func:`frame_facts`), the file's facts with each frame's geometry in place."""
    frames = facts.get("Frames")
    if not frames:
        return [facts]
    base = {k: v for k, v in facts.items() if k != "Frames"}
    return [base | frame for frame in frames]


def frame_uid(sop_instance_uid: str, frame: int) -> str:
    """The key of frame ``frame`` of the instance ``sop_instance_uid`` among a study's slices: a UID under the
    2.25 root (ISO/IEC 9834-8: "2.25." and a 128-bit integer) derived from both, so that it is the same on
    every import and differs from every SOP Instance UID. The slice rows of a multi-frame file carry it where a
    single-frame file's row carries its SOP Instance UID; the DICOM reference to the frame remains the file's
    SOP Instance UID with Referenced Frame Number ``frame``."""
    digest = hashlib.sha256(f"vbq-frame:{sop_instance_uid}:{int(frame)}".encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _first_number(*candidates: object) -> float | None:
    for value in candidates:
        numbers = _floats(value, 1)
        if numbers is not None:
            return numbers[0]
    return None


def file_facts(ds: Dataset, frames: list[dict[str, object]]) -> dict[str, object]:
    """What :func:`~studies.dicom.validate.image_facts` cannot read at the top level of an enhanced MR file:
    the first frame's geometry (where a single-frame file has it), Repetition Time (MR Timing and Related
    Parameters Sequence, else the legacy converted shared attributes), Echo Time (MR Echo Sequence's Effective
    Echo Time, else the converted attributes), Sequence Name (Pulse Sequence Name), and ``Frames``."""
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    first = _item(ds, "PerFrameFunctionalGroupsSequence")
    converted = [_item(g, s) for g in (first, shared) for s in _CONVERTED if g is not None]
    converted = [c for c in converted if c is not None]
    out: dict[str, object] = {k: frames[0][k] for k in FRAME_KEYS} if frames else {}
    out["RepetitionTime"] = _first_number(
        ds.get("RepetitionTime"),
        _lookup(first, shared, "MRTimingAndRelatedParametersSequence", "RepetitionTime"),
        *(c.get("RepetitionTime") for c in converted),
    )
    out["EchoTime"] = _first_number(
        ds.get("EchoTime"),
        _lookup(first, shared, "MREchoSequence", "EffectiveEchoTime"),
        *(c.get("EchoTime") for c in converted),
    )
    names = [ds.get("SequenceName"), ds.get("PulseSequenceName"), *(c.get("SequenceName") for c in converted)]
    out["SequenceName"] = next((str(n) for n in names if n not in (None, "")), "")
    out["Frames"] = frames
    return out


_CONVERTED: Final = ("UnassignedPerFrameConvertedAttributesSequence", "UnassignedSharedConvertedAttributesSequence")
