"""Validation of ROI payloads from the viewer or scripts, against the study's reading protocol."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from studies.models import Instance, Read, Roi
from studies.protocol import protocol_for
from studies.roi_shapes import RoiGeometryError

#: Most vertices a polygon ROI may have. A Cornerstone freehand contour of a vertebral body is a few hundred
#: points; 2,000 leaves room for slow, careful tracing and keeps one ROI's payload and mask test small.
MAX_POLYGON_VERTICES = 2000
#: How far (in pixels) a point may lie outside the image: pixel centres run from 0 to columns − 1 (rows − 1), so a
#: handle on the image's outer edge is at −0.5 or columns − 0.5; one more pixel allows for a slightly loose drag.
EDGE_MARGIN_PX = 1.0


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    number = float(value)  # OverflowError for an int too large for a float
    if not math.isfinite(number):
        raise ValueError
    return number


def _points(raw, shape: str) -> list[list[float]]:
    """``points_px`` as [column, row] float pairs, or a ValidationError a reader understands."""
    if not isinstance(raw, list | tuple):
        raise ValidationError("points_px must be a list of [column, row] pairs.")
    if shape == "polygon" and len(raw) > MAX_POLYGON_VERTICES:
        raise ValidationError(
            f"The polygon has {len(raw):,} points; at most {MAX_POLYGON_VERTICES:,} are accepted. "
            "Trace the outline again, or use a rectangle or an ellipse."
        )
    if len(raw) > MAX_POLYGON_VERTICES:
        raise ValidationError(f"A {shape} is drawn with 4 points, not {len(raw):,}.")
    try:
        points = []
        for p in raw:
            if not isinstance(p, list | tuple) or len(p) != 2:
                raise TypeError
            points.append([_number(p[0]), _number(p[1])])
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(
            "points_px must be a list of [column, row] pairs of finite numbers (pixel coordinates)."
        ) from None
    return points


@dataclass(frozen=True)
class SliceGeometry:
    """The size of the image an ROI is drawn on: its series' rows × columns and pixel spacing (row, column; mm)."""

    rows: int
    columns: int
    pixel_spacing: list


def case_slice_geometry(read: Read, sop: str) -> SliceGeometry | None:
    """The geometry of slice ``sop`` when it is an image of the read's case (one query); None otherwise."""
    instance = Instance.objects.filter(sop_instance_uid=sop, series__case_id=read.case_id).select_related("series")
    instance = instance.first()
    if instance is None:
        return None
    series = instance.series
    return SliceGeometry(series.rows, series.columns, series.pixel_spacing)


def validate_roi_payload(
    *, read: Read, data: dict, geometry: Callable[[str], SliceGeometry | None] | None = None
) -> dict:
    """Clean an ROI payload; raise ``ValidationError`` with a sentence a reader understands.

    A drawn ROI needs a label, a shape, its points in image pixel coordinates (pixel centres at integer
    (col, row)) and the SOP Instance UID of a slice of this case. An exclusion needs a level label
    (L1–L4) and a reason; it keeps the level's drawn geometry when it has one (validated like a drawn ROI).
    ``geometry(sop)`` gives the slice's size when the caller has already loaded it (the ROI save loads it with
    everything else in one query); by default it is looked up.
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
        kept = {"shape": "", "points_px": [], "sop_instance_uid": "", "csf_level": ""}
        if data.get("shape") and data.get("points_px") and data.get("sop_instance_uid"):
            # Excluding a drawn level keeps its ROI (shown dashed, left out of every score): undoing the
            # exclusion brings the same ROI back instead of sending the level back to "to draw".
            drawn = validate_roi_payload(read=read, data={**data, "excluded": False}, geometry=geometry)
            kept = {key: drawn[key] for key in kept}
        return {
            "label": label,
            **kept,
            "excluded": True,
            "exclusion_reason": reason,
            "exclusion_note": note,
        }

    shape = str(data.get("shape") or "").strip().lower()
    if shape not in Roi.Shape.values:
        raise ValidationError(f"Unknown ROI shape “{data.get('shape')}”. Use rectangle, ellipse or polygon.")
    sop = str(data.get("sop_instance_uid") or "").strip()
    series = (geometry or (lambda uid: case_slice_geometry(read, uid)))(sop) if sop else None
    if series is None:
        raise ValidationError("The ROI must be drawn on a slice of this case's images (unknown SOP Instance UID).")
    points = _points(data.get("points_px"), shape)
    outside = [
        (c, r)
        for c, r in points
        if not (-EDGE_MARGIN_PX <= c <= series.columns - 1 + EDGE_MARGIN_PX)
        or not (-EDGE_MARGIN_PX <= r <= series.rows - 1 + EDGE_MARGIN_PX)
    ]
    if outside:
        c, r = outside[0]
        raise ValidationError(
            f"The {shape} has {len(outside)} point(s) off the image (the first at column {c:.1f}, row {r:.1f}; "
            f"the image is {series.columns} × {series.rows} pixels). Keep the ROI on the image."
        )
    row_spacing, col_spacing = (float(v) for v in series.pixel_spacing)
    # Local import: roi_mask needs numpy, which web start-up does not load (issue #20 point 4).
    from studies.roi_geometry import roi_mask

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
