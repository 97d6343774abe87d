"""The ROI shapes the viewer can draw and the error an unmeasurable ROI raises (pure data, no numpy).

Split from :mod:`studies.roi_geometry` (which computes the pixel masks with numpy) so that what every web
process imports at start-up — the reading protocols, the ROI payload checks — does not load numpy (start-up,
issue #20 point 4). :mod:`studies.roi_geometry` re-exports both names.

The messages stay free of Django too: a :class:`RoiGeometryError` carries its English message id and its values,
and the ROI payload checks (:mod:`studies.services.roi_payload`) translate it for the reader.
"""

from __future__ import annotations

__all__ = ["SHAPES", "SHAPE_NAMES", "RoiGeometryError", "gettext_noop"]

#: The ROI shapes the viewer can draw, with the number of points each needs (``None``: 3 or more).
SHAPES: dict[str, int | None] = {"rectangle": 4, "ellipse": 4, "polygon": None}


def gettext_noop(message: str) -> str:
    """Marks ``message`` for the catalogue (``makemessages`` finds the name) without importing Django."""
    return message


#: The shapes' names inside a sentence ("The ellipse has…"), for the catalogue.
SHAPE_NAMES = {
    "rectangle": gettext_noop("rectangle"),
    "ellipse": gettext_noop("ellipse"),
    "polygon": gettext_noop("polygon"),
}


class RoiGeometryError(ValueError):
    """An ROI's geometry cannot be measured (message is written for the clinician who drew it).

    ``message`` is the English message id (``%(name)s`` placeholders filled from ``params``); ``str(exc)`` is the
    English sentence, :func:`studies.services.roi_payload.geometry_message` the sentence in the active language.
    """

    def __init__(self, message: str, **params) -> None:
        self.message, self.params = message, params
        super().__init__(message % params if params else message)
