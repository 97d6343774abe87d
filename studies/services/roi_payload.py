"""Validation of ROI payloads from the viewer or scripts, against the study's reading protocol.

Every refusal is a sentence for the reader in the request's language (the API's 400 answer, shown by the viewer);
the English wording is the message id.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from studies.models import Instance, Read, Roi
from studies.protocol import protocol_for
from studies.roi_shapes import SHAPE_NAMES, RoiGeometryError

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


def geometry_message(exc: RoiGeometryError) -> str:
    """:class:`RoiGeometryError`'s sentence in the active language (a shape's name translated too)."""
    params = dict(exc.params)
    if params.get("shape") in SHAPE_NAMES:
        params["shape"] = gettext(SHAPE_NAMES[params["shape"]])
    return gettext(exc.message) % params if params else gettext(exc.message)


def _points(raw, shape: str) -> list[list[float]]:
    """``points_px`` as [column, row] float pairs, or a ValidationError a reader understands."""
    if not isinstance(raw, list | tuple):
        raise ValidationError(gettext("points_px must be a list of [column, row] pairs."))
    if shape == "polygon" and len(raw) > MAX_POLYGON_VERTICES:
        raise ValidationError(
            gettext(
                "The polygon has %(n)s points; at most %(max)s are accepted. "
                "Trace the outline again, or use a rectangle or an ellipse."
            )
            % {"n": f"{len(raw):,}", "max": f"{MAX_POLYGON_VERTICES:,}"}
        )
    if len(raw) > MAX_POLYGON_VERTICES:
        raise ValidationError(
            gettext("A %(shape)s is drawn with 4 points, not %(n)s.")
            % {"shape": gettext(SHAPE_NAMES.get(shape, shape)), "n": f"{len(raw):,}"}
        )
    try:
        points = []
        for p in raw:
            if not isinstance(p, list | tuple) or len(p) != 2:
                raise TypeError
            points.append([_number(p[0]), _number(p[1])])
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(
            gettext("points_px must be a list of [column, row] pairs of finite numbers (pixel coordinates).")
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
        raise ValidationError(
            gettext("Unknown ROI label “%(label)s”. Use one of: %(labels)s.")
            % {"label": data.get("label"), "labels": ", ".join(protocol.labels)}
        )
    excluded = bool(data.get("excluded"))
    if excluded:
        if label not in protocol.levels:
            raise ValidationError(
                gettext(
                    "Only vertebral levels (%(levels)s) can be excluded; %(reference)s and noise ROIs are required."
                )
                % {"levels": protocol.levels_text, "reference": protocol.reference}
            )
        reason = str(data.get("exclusion_reason") or "").strip().lower()
        if reason not in Roi.ExclusionReason.values:
            raise ValidationError(
                gettext("Give the reason for excluding %(label)s: one of %(reasons)s.")
                % {"label": label, "reasons": ", ".join(gettext(r) for r in Roi.ExclusionReason.labels)}
            )
        note = str(data.get("exclusion_note") or "")[:200]
        if reason == Roi.ExclusionReason.OTHER and not note.strip():
            raise ValidationError(gettext("Describe why %(label)s is excluded (reason “other”).") % {"label": label})
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
        raise ValidationError(
            gettext("Unknown ROI shape “%(shape)s”. Use rectangle, ellipse or polygon.") % {"shape": data.get("shape")}
        )
    sop = str(data.get("sop_instance_uid") or "").strip()
    series = (geometry or (lambda uid: case_slice_geometry(read, uid)))(sop) if sop else None
    if series is None:
        raise ValidationError(
            gettext("The ROI must be drawn on a slice of this case's images (unknown SOP Instance UID).")
        )
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
            gettext(
                "The %(shape)s has %(n)s point(s) off the image (the first at column %(col)s, row %(row)s; "
                "the image is %(columns)s × %(rows)s pixels). Keep the ROI on the image."
            )
            % {
                "shape": gettext(SHAPE_NAMES[shape]),
                "n": len(outside),
                "col": f"{c:.1f}",
                "row": f"{r:.1f}",
                "columns": series.columns,
                "rows": series.rows,
            }
        )
    row_spacing, col_spacing = (float(v) for v in series.pixel_spacing)
    # Local import: roi_mask needs numpy, which web start-up does not load (issue #20 point 4).
    from studies.roi_geometry import roi_mask

    try:
        roi_mask(shape, points, series.rows, series.columns, row_spacing, col_spacing)
    except RoiGeometryError as exc:
        raise ValidationError(geometry_message(exc)) from None
    csf_level = ""
    if label == protocol.reference:
        first, *fallback = protocol.reference_levels
        csf_level = str(data.get("csf_level") or first).strip().upper()
        if csf_level not in protocol.reference_levels:
            raise ValidationError(
                gettext(
                    "The %(label)s ROI is placed at %(first)s, or at %(fallback)s when %(first)s %(label)s is obscured."
                )
                % {"label": label, "first": first, "fallback": "/".join(fallback)}
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
