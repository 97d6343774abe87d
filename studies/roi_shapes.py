"""The ROI shapes the viewer can draw and the error an unmeasurable ROI raises (pure data, no numpy).

Split from :mod:`studies.roi_geometry` (which computes the pixel masks with numpy) so that what every web
process imports at start-up — the reading protocols, the ROI payload checks — does not load numpy (start-up,
issue #20 point 4). :mod:`studies.roi_geometry` re-exports both names.
"""

from __future__ import annotations

__all__ = ["SHAPES", "RoiGeometryError"]

#: The ROI shapes the viewer can draw, with the number of points each needs (``None``: 3 or more).
SHAPES: dict[str, int | None] = {"rectangle": 4, "ellipse": 4, "polygon": None}


class RoiGeometryError(ValueError):
    """An ROI's geometry cannot be measured (message is written for the clinician who drew it)."""
