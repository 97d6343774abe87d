"""One read as a DICOM Structured Report: a TID 1500 Measurement Report built with highdicom (pure: no Django).

What the document holds (DICOM PS3.16 TID 1500 "Measurement Report"):

- **Observation context** (TID 1001): the reader as *person observer*, named by their study pseudonym (the
  username, as every study export names readers) — never a real name — and VBQ Reader as *device observer*.
- **One planar ROI group per drawn ROI** (TID 1410): the tracking identifier is the protocol's label (``L1`` …
  ``L4``, ``CSF``, ``NOISE``) with a tracking UID; the region is an image-region SCOORD on the de-identified
  stored instance it was drawn on (SOP Class / Instance UID as stored): an ellipse as ``ELLIPSE`` (major axis
  first), a rectangle as a closed ``POLYLINE`` (5 points, first = last), a polygon as a closed ``POLYLINE``.
  Its measurements (TID 300) are those the server stored for the ROI (``scoring.pixels.roi_stats``):

  ======================  =====================================================  ======================
  measurement             concept name (+ derivation, CID 7464)                  unit (UCUM)
  ======================  =====================================================  ======================
  mean SI                 (110852, DCM, "MR signal intensity") + (373098007,     ``[arb'U]``
                          SCT, "Mean")
  median SI               … + (373099004, SCT, "Median")                         ``[arb'U]``
  SD of SI (n − 1)        … + (386136009, SCT, "Standard Deviation")             ``[arb'U]``
  area                    (42798000, SCT, "Area")                                ``mm2``
  pixel count             (NPIX, 99VBQR, "Number of pixels in ROI")              ``{pixels}``
  SNR of a level          (113060, DCM, "Signal to noise")                       ``{ratio}``
  ======================  =====================================================  ======================

- **One measurement group for the read's scores** (TID 1501 "Measurement and Qualitative Evaluation Group",
  tracking identifier ``SCORES``): VBQ = median SI(L1–L4) / SI(CSF), SNR L1–L4 = mean of the level SNRs and the
  M-score, referencing the source images, plus one qualitative evaluation per excluded level (with its reason).
  TID 1500 allows measurements that belong to no single region only in such a group (TID 1410 measurements
  describe their own region, and TID 1500 has no "derived from these ROIs" link between groups), so a ratio of
  several ROIs lives here rather than in any ROI's group.

Codes with no standard equivalent (the pixel count, VBQ, M-score, an excluded level and its reason) use the
private coding scheme :data:`PRIVATE_SCHEME` (``99VBQR``: private designators start with "99", PS3.16 §8.2),
declared in the document's *Coding Scheme Identification Sequence*; :data:`PRIVATE_CODES` lists them.

Coordinates: ROI points are stored as ``[col, row]`` with pixel *centres* at integers (the viewer's convention,
``studies.roi_geometry``); SCOORD image coordinates put the top-left *corner* of the first pixel at (0, 0)
(PS3.3 C.18.6.1.2), so each point is shifted by +0.5 px.

Blinding: the caller decides what the document may contain (a reader's own read carries no scores and only the
ROI statistics the study shows readers); this module writes what it is given and nothing else. Patient and
study attributes come only from a whitelist (:data:`HEADER_KEYWORDS`) of the de-identified stored instance, and
Patient ID / Patient Name are the subject code, as the de-identification wrote them.

Reference: DICOM PS3.16 TID 1500, 1501, 1410, 300, 1001–1004, 4108; CID 7464, 7469, 7181.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import highdicom as hd
import highdicom.coding_schemes
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

__all__ = [
    "HEADER_KEYWORDS",
    "PRIVATE_CODES",
    "PRIVATE_SCHEME",
    "SrError",
    "SrImage",
    "SrRead",
    "SrRoi",
    "SrScores",
    "read_header",
    "read_sr",
    "read_sr_bytes",
    "scoord",
    "sr_header",
    "sr_values",
]

PRIVATE_SCHEME = "99VBQR"
PRIVATE_SCHEME_NAME = "VBQ Reader private codes"


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


#: The private codes (scheme :data:`PRIVATE_SCHEME`), for concepts no standard code covers.
PRIVATE_CODES = {
    "pixel_count": _private("NPIX", "Number of pixels in ROI"),
    "vbq": _private("VBQ", "Vertebral bone quality score"),
    "m_score": _private("MSCORE", "M-score"),
    "excluded": _private("LEVELEXCL", "Level excluded from the read"),
}
SCORES_TRACKING_ID = "SCORES"

SIGNAL = codes.DCM.MRSignalIntensity  # (110852, DCM) in CID 7469 Generic Intensity and Size Measurements
DERIVATIONS = {"mean": codes.SCT.Mean, "median": codes.SCT.Median, "sd": codes.SCT.StandardDeviation}
SNR = codes.DCM.SignalToNoise  # (113060, DCM) in CID 7469
AREA = codes.SCT.Area
UNIT_SIGNAL = codes.UCUM.ArbitraryUnit  # [arb'U]: MR stored values after the rescale have no physical unit
UNIT_AREA = codes.UCUM.SquareMillimeter
UNIT_PIXELS = Code("{pixels}", "UCUM", "pixels")
UNIT_RATIO = codes.UCUM.Ratio  # {ratio}
UNIT_NONE = codes.UCUM.NoUnits  # 1
# CID 100 (extensible) entry for an MRI procedure; pydicom's dictionary holds no lumbar-spine MRI code to use instead
PROCEDURE = codes.LN.MRIUnspecifiedBodyRegion

#: Attributes of a stored instance an SR may copy: patient, study and the reference itself.
HEADER_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
_REQUIRED_HEADER = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")


class SrError(ValueError):
    """The read cannot be written as an SR (message is for the person who asked for it)."""


@dataclass(frozen=True)
class SrRoi:
    """One ROI of the read as stored: geometry, the slice it is on, and its statistics (None = not given)."""

    label: str
    shape: str = ""
    points_px: Sequence[Sequence[float]] = ()
    sop_instance_uid: str = ""
    excluded: bool = False
    exclusion_reason: str = ""
    n: int | None = None
    area_mm2: float | None = None
    mean: float | None = None
    median: float | None = None
    sd: float | None = None
    snr: float | None = None  # SNR of a level (mean SI / noise SD), None for other ROIs


@dataclass(frozen=True, eq=False)  # compared by identity: one object per slice
class SrImage:
    """A stored slice an ROI was drawn on: :func:`sr_header` of its file, and its frame in a multi-frame file."""

    header: Dataset
    frame_number: int | None = None


@dataclass(frozen=True)
class SrScores:
    vbq: float | None = None
    snr: float | None = None
    m_score: float | None = None


@dataclass(frozen=True)
class SrRead:
    """Plain data of one submitted read (what :func:`read_sr` needs; gathered by ``scoring.sr_export``).

    ``images``: every slice an ROI was drawn on, by the ROI's ``sop_instance_uid`` (the slice key: the SOP
    Instance UID of a single-frame file, a frame's key for a frame of a multi-frame file). ``uid_seed``: a string that
    changes whenever the document's content would (the read, its ROI versions, what is shown), from which the
    SR's UIDs are derived, so the same read gives the same document. ``scores`` None leaves the scores group out.
    """

    subject_code: str
    observer: str
    read_number: int
    submitted_at: dt.datetime
    uid_seed: str
    rois: Sequence[SrRoi]
    images: Mapping[str, SrImage]
    scores: SrScores | None = None
    software_version: str = "0.1.0"
    series_description: str = field(default="")


def sr_header(dataset: Dataset) -> Dataset:
    """The whitelisted attributes (:data:`HEADER_KEYWORDS`) of a stored instance, in a new dataset."""
    out = Dataset()
    for keyword in HEADER_KEYWORDS:
        if keyword in dataset:
            out[keyword] = dataset[keyword]
    missing = [k for k in _REQUIRED_HEADER if not out.get(k)]
    if missing:
        raise SrError(f"The stored image has no {', '.join(missing)}: it cannot be referenced from an SR.")
    return out


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def scoord(shape: str, points_px: Sequence[Sequence[float]]):
    """The SCOORD (graphic type, ``(n, 2)`` column/row points) of an ROI drawn as ``points_px``.

    Rectangle ``[top-left, top-right, bottom-left, bottom-right]`` → closed POLYLINE ``tl, tr, br, bl, tl``.
    Ellipse ``[bottom, top, left, right]`` (perpendicular axes *in mm*) → ELLIPSE: the ends of the major then
    the minor axis *in pixel space*. The handles are perpendicular in mm; with anisotropic pixel spacing and a
    rotated ellipse they are only conjugate semi-diameters in pixel space, so the axes come from the singular
    value decomposition of the pixel-space frame ``F = [(right − left)/2, (top − bottom)/2] = U Σ Vᵀ``: the
    ellipse is ``centre + U Σ w`` over unit vectors ``w``, so its semi-axes are ``σᵢ·Uᵢ``.
    Polygon → closed POLYLINE (the first vertex repeated at the end unless already there).
    All points shifted by +0.5 px (pixel centres at integers → SCOORD corner origin).
    """
    pts = np.asarray(points_px, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise SrError(f"The {shape or 'ROI'} has malformed points.")
    if shape == "rectangle":
        if len(pts) != 4:
            raise SrError("A rectangle needs 4 corners.")
        tl, tr, bl, br = pts
        out, graphic_type = np.array([tl, tr, br, bl, tl]), hd.sr.GraphicTypeValues.POLYLINE
    elif shape == "ellipse":
        if len(pts) != 4:
            raise SrError("An ellipse needs the 4 ends of its axes.")
        bottom, top, left, right = pts
        centre = (left + right + bottom + top) / 4
        frame = np.column_stack([(right - left) / 2, (top - bottom) / 2])  # pixel-space conjugate semi-axes
        u, s, _ = np.linalg.svd(frame)
        major, minor = u[:, 0] * s[0], u[:, 1] * s[1]
        out = np.array([centre - major, centre + major, centre - minor, centre + minor])
        graphic_type = hd.sr.GraphicTypeValues.ELLIPSE
    elif shape == "polygon":
        if len(pts) < 3:
            raise SrError("A polygon needs at least 3 vertices.")
        out = pts if np.array_equal(pts[0], pts[-1]) and len(pts) > 3 else np.vstack([pts, pts[:1]])
        graphic_type = hd.sr.GraphicTypeValues.POLYLINE
    else:
        raise SrError(f"Unknown ROI shape {shape!r}.")
    return graphic_type, out + 0.5


_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:vbq-reader:dicom-sr")


def _uid(*parts: object) -> str:
    """A deterministic UID from the given parts (same input → same document): ``2.25.`` + the decimal of a
    name-based (SHA-1) UUID, the UUID form of PS3.5 B.2."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(31).join(map(str, parts))).int}"


def _measurement(name, value, unit, *, derivation=None) -> hd.sr.Measurement:
    # an int stays an int (a count is written exactly as a decimal string); a float also goes in as FD (exact)
    value = value if isinstance(value, int) else float(value)
    return hd.sr.Measurement(name=name, value=value, unit=unit, derivation=derivation)


def _roi_measurements(roi: SrRoi) -> list[hd.sr.Measurement]:
    out = []
    for key in ("mean", "median", "sd"):
        value = getattr(roi, key)
        if _finite(value):
            out.append(_measurement(SIGNAL, value, UNIT_SIGNAL, derivation=DERIVATIONS[key]))
    if _finite(roi.area_mm2):
        out.append(_measurement(AREA, roi.area_mm2, UNIT_AREA))
    if _finite(roi.n):
        out.append(_measurement(PRIVATE_CODES["pixel_count"], roi.n, UNIT_PIXELS))
    if _finite(roi.snr):
        out.append(_measurement(SNR, roi.snr, UNIT_RATIO))
    return out


def _exclusion(roi: SrRoi) -> hd.sr.QualitativeEvaluation:
    reason = (roi.exclusion_reason or "not given").strip()
    value = _private(f"EXCL-{roi.label}", f"{roi.label}: {reason}"[:64])
    return hd.sr.QualitativeEvaluation(name=PRIVATE_CODES["excluded"], value=value)


def _check(read: SrRead) -> None:
    for roi in read.rois:
        if not roi.excluded and roi.sop_instance_uid not in read.images:
            raise SrError(f"The slice {roi.label} was drawn on is no longer stored.")
    if not any(not r.excluded for r in read.rois):
        raise SrError("The read has no drawn ROI: there is nothing to report.")
    if not read.subject_code or "\\" in read.subject_code or len(read.subject_code) > 64:
        raise SrError("The subject code cannot be written to DICOM (1–64 characters, no backslash).")


def read_sr(read: SrRead) -> hd.sr.ComprehensiveSR:
    """The read as a Comprehensive SR holding a TID 1500 Measurement Report (see the module docstring)."""
    _check(read)
    algorithm = hd.sr.AlgorithmIdentification(name="VBQ Reader ROI statistics", version=read.software_version)
    groups: list = []
    drawn = [r for r in read.rois if not r.excluded]
    for roi in drawn:
        image = read.images[roi.sop_instance_uid]
        graphic_type, graphic_data = scoord(roi.shape, roi.points_px)
        frames = [image.frame_number] if image.frame_number else None
        region = hd.sr.ImageRegion(
            graphic_type=graphic_type,
            graphic_data=graphic_data,
            source_image=hd.sr.SourceImageForRegion(
                referenced_sop_class_uid=image.header.SOPClassUID,
                referenced_sop_instance_uid=image.header.SOPInstanceUID,
                referenced_frame_numbers=frames,
            ),
            # the coordinates are those of the frame (a multi-frame MR is not a tiled image)
            pixel_origin_interpretation=hd.sr.PixelOriginInterpretationValues.FRAME if frames else None,
        )
        measurements = _roi_measurements(roi)
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid(read.uid_seed, roi.label), identifier=roi.label),
                referenced_region=region,
                algorithm_id=algorithm if measurements else None,
                measurements=measurements or None,
            )
        )
    scores = read.scores
    derived = []
    if scores is not None:
        for name, value, unit in (
            (PRIVATE_CODES["vbq"], scores.vbq, UNIT_RATIO),
            (SNR, scores.snr, UNIT_RATIO),
            (PRIVATE_CODES["m_score"], scores.m_score, UNIT_NONE),
        ):
            if _finite(value):
                derived.append(_measurement(name, value, unit))
    exclusions = [_exclusion(r) for r in read.rois if r.excluded]
    if derived or exclusions:
        sources = [
            hd.sr.SourceImageForMeasurementGroup(
                referenced_sop_class_uid=image.header.SOPClassUID,
                referenced_sop_instance_uid=image.header.SOPInstanceUID,
                referenced_frame_numbers=[image.frame_number] if image.frame_number else None,
            )
            for image in dict.fromkeys(read.images[r.sop_instance_uid] for r in drawn)
        ]
        groups.append(
            hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(
                    uid=_uid(read.uid_seed, SCORES_TRACKING_ID), identifier=SCORES_TRACKING_ID
                ),
                algorithm_id=algorithm if derived else None,
                measurements=derived or None,
                qualitative_evaluations=exclusions or None,
                source_images=sources,
            )
        )
    observer = read.observer.strip()[:60] or "reader"
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=f"{observer}^"),
        ),
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=_uid("device"), name="VBQ Reader", model_name="VBQ Reader"
            ),
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=context, procedure_reported=PROCEDURE, imaging_measurements=groups
    )
    files = {str(read.images[r.sop_instance_uid].header.SOPInstanceUID): r.sop_instance_uid for r in drawn}
    evidence = [_evidence(read.images[key].header, read.subject_code) for key in files.values()]
    with warnings.catch_warnings():
        # highdicom warns about a one-component Patient Name; the subject code is one, as de-identification wrote it
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        sr = _comprehensive_sr(read, report, evidence, observer)
    # Same read → same bytes: the creation time is the submission, not the moment of the download.
    sr.InstanceCreationDate = sr.ContentDate
    sr.InstanceCreationTime = sr.ContentTime
    sr.TimezoneOffsetFromUTC = "+0000"
    for item in sr.get("ContributingEquipmentSequence", []):  # highdicom, as the library that wrote the file
        item.ContributionDateTime = f"{sr.ContentDate}{sr.ContentTime}"
    return sr


def _comprehensive_sr(read: SrRead, report, evidence: list[Dataset], observer: str) -> hd.sr.ComprehensiveSR:
    when = read.submitted_at.astimezone(dt.UTC)
    description = read.series_description or f"VBQ Reader ROIs, read {read.read_number} by {observer}"
    return hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=report,
        series_instance_uid=_uid("series", read.uid_seed.split("|", 1)[0], observer, read.read_number),
        series_number=900 + min(read.read_number, 99),
        sop_instance_uid=_uid("sop", read.uid_seed),
        instance_number=1,
        manufacturer="VBQ Reader",
        manufacturer_model_name="VBQ Reader",
        software_versions=read.software_version,
        is_complete=True,
        is_final=True,
        series_description=description[:64],
        content_date=when.date(),
        content_time=when.time().replace(tzinfo=None),
        specific_character_set="ISO_IR 192",
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=PRIVATE_SCHEME, name=PRIVATE_SCHEME_NAME, responsible_organization="VBQ Reader"
            )
        ],
    )


def _evidence(header: Dataset, subject_code: str) -> Dataset:
    """The stored instance's whitelisted header, with the subject code as Patient ID and Name (as de-identified)."""
    ds = sr_header(header)
    ds.PatientID = subject_code
    ds.PatientName = subject_code
    for keyword in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID", "AccessionNumber"):
        if keyword not in ds:
            setattr(ds, keyword, None)  # type 2: present, empty (highdicom copies them from here)
    return ds


def read_sr_bytes(read: SrRead) -> bytes:
    """:func:`read_sr` as a DICOM Part-10 file."""
    buffer = io.BytesIO()
    read_sr(read).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def sr_values(data: bytes) -> dict[str, dict]:
    """Read an SR written by :func:`read_sr` back with highdicom: ``{tracking id: {...}}``.

    Each ROI: ``graphic_type``, ``points`` (SCOORD, float), ``sop_instance_uid`` and its measurements by key
    (``mean``, ``median``, ``sd``, ``area_mm2``, ``n``, ``snr``) with their units; ``SCORES``: ``vbq``, ``snr``,
    ``m_score`` and ``excluded`` ({label: reason}). For tests and for scripts that load our SRs again.
    """
    sr = hd.sr.srread(io.BytesIO(data))
    report = sr.content
    if not isinstance(report, hd.sr.MeasurementReport):
        raise SrError("The document is not a TID 1500 Measurement Report.")
    out: dict[str, dict] = {}
    for group in report.get_planar_roi_measurement_groups():
        region = group.roi
        values: dict = {
            "graphic_type": region.graphic_type.value,
            "points": region.value.tolist(),
            "sop_instance_uid": str(region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID),
            "tracking_uid": group.tracking_uid,
            "units": {},
        }
        for m in group.get_measurements():
            key = _key(m)
            values[key] = m.value
            values["units"][key] = m.unit.value
        out[group.tracking_identifier] = values
    for group in report.get_image_measurement_groups():
        values = {"units": {}, "excluded": {}}
        for m in group.get_measurements():
            key = _key(m)
            values[key] = m.value
            values["units"][key] = m.unit.value
        for q in group.get_qualitative_evaluations():
            label, _, reason = q.value.meaning.partition(": ")
            values["excluded"][label] = reason
        out[group.tracking_identifier] = values
    return out


def _key(measurement) -> str:
    name = measurement.name
    if name == SIGNAL:
        return next(k for k, code in DERIVATIONS.items() if measurement.derivation == code)
    keys = {AREA: "area_mm2", SNR: "snr", **{code: key for key, code in PRIVATE_CODES.items()}}
    key = next((k for code, k in keys.items() if name == code), None)
    return {"pixel_count": "n"}.get(key, key) if key else name.meaning


def read_header(path_or_file) -> Dataset:
    """:func:`sr_header` of a stored DICOM file (header only, no pixel data read)."""
    return sr_header(dcmread(path_or_file, stop_before_pixels=True, specific_tags=list(HEADER_KEYWORDS)))
