"""Validation of ROI payloads from the viewer or scripts, against the study's reading protocol."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from studies.models import Instance, Read, Roi
from studies.protocol import protocol_for
from studies.roi_geometry import RoiGeometryError, roi_mask


def validate_roi_payload(*, read: Read, data: dict) -> dict:
    """Clean an ROI payload; raise ``ValidationError`` with a sentence a reader understands.

    A drawn ROI needs a label, a shape, its points in image pixel coordinates (pixel centres at integer
    (col, row)) and the SOP Instance UID of a slice of this case. An exclusion needs a level label
    (L1–L4) and a reason, and carries no geometry.
    """
    protocol = protocol_for(read.study)
    label = str(data.get("label") or "").strip().upper()
    if label not in protocol.labels:
        raise ValidationError(f"Unknown ROI label “{data.get('label')}”. Use one of: {', '.join(protocol.labels)}.")
    excluded = bool(data.get("excluded"))
    if excluded:
        if label not in protocol.levels:
            raise ValidationError(
                f"Only vertebral levels ({protocol.levels_text}) can be excluded; "
                f"{protocol.reference} and noise ROIs are required."
            )
        reason = str(data.get("exclusion_reason") or "").strip().lower()
        if reason not in Roi.ExclusionReason.values:
            raise ValidationError(
                f"Give the reason for excluding {label}: one of {', '.join(Roi.ExclusionReason.labels)}."
            )
        note = str(data.get("exclusion_note") or "")[:200]
        if reason == Roi.ExclusionReason.OTHER and not note.strip():
            raise ValidationError(f"Describe why {label} is excluded (reason “other”).")
        return {
            "label": label,
            "shape": "",
            "points_px": [],
            "sop_instance_uid": "",
            "csf_level": "",
            "excluded": True,
            "exclusion_reason": reason,
            "exclusion_note": note,
        }

    shape = str(data.get("shape") or "").strip().lower()
    if shape not in Roi.Shape.values:
        raise ValidationError(f"Unknown ROI shape “{data.get('shape')}”. Use rectangle, ellipse or polygon.")
    sop = str(data.get("sop_instance_uid") or "").strip()
    instance = (
        Instance.objects.filter(sop_instance_uid=sop, series__case_id=read.case_id).select_related("series").first()
        if sop
        else None
    )
    if instance is None:
        raise ValidationError("The ROI must be drawn on a slice of this case's images (unknown SOP Instance UID).")
    points = data.get("points_px")
    if not isinstance(points, list | tuple):
        raise ValidationError("points_px must be a list of [column, row] pairs.")
    try:
        points = [[float(p[0]), float(p[1])] for p in points]
        if any(len(p) != 2 for p in data.get("points_px")):
            raise TypeError
    except (TypeError, ValueError, IndexError, KeyError):
        raise ValidationError("points_px must be a list of [column, row] number pairs.") from None
    series = instance.series
    row_spacing, col_spacing = (float(v) for v in series.pixel_spacing)
    try:
        roi_mask(shape, points, series.rows, series.columns, row_spacing, col_spacing)
    except RoiGeometryError as exc:
        raise ValidationError(str(exc)) from None
    csf_level = ""
    if label == protocol.reference:
        first, *fallback = protocol.reference_levels
        csf_level = str(data.get("csf_level") or first).strip().upper()
        if csf_level not in protocol.reference_levels:
            raise ValidationError(
                f"The {label} ROI is placed at {first}, or at {'/'.join(fallback)} when {first} {label} is obscured."
            )
    return {
        "label": label,
        "shape": shape,
        "points_px": points,
        "sop_instance_uid": sop,
        "csf_level": csf_level,
        "excluded": False,
        "exclusion_reason": "",
        "exclusion_note": "",
    }
