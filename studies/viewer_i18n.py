"""The viewer's server-side words in the reader's language (issue #18 point 7).

The reading protocol (:mod:`studies.protocol`) is plain Python without Django, so its names and help texts stay
English there; the viewer page translates them here, when it builds the page config, from the msgids listed below
(``makemessages`` finds them). The exclusion reasons' stored values and the DICOM SR keep the English labels.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

from studies.models import Roi

#: The texts of studies.protocol.lumbar and Roi.ExclusionReason, for the catalogue.
MSGIDS = (
    gettext_noop("CSF"),
    gettext_noop("Noise"),
    gettext_noop("Mid-sagittal slice: ellipse in the L1 body, avoiding the cortical rim and endplates."),
    gettext_noop("Same slice: ellipse in the L2 body."),
    gettext_noop("Same slice: ellipse in the L3 body."),
    gettext_noop("Same slice: ellipse in the L4 body."),
    gettext_noop("CSF posterior to L3 in the spinal canal (fallback: L2, then L1 when obscured)."),
    gettext_noop("Background noise: a region in the air outside the body, free of artefact."),
    gettext_noop("Fracture"),
    gettext_noop("Hemangioma"),
    gettext_noop("Hardware"),
    gettext_noop("Schmorl node"),
    gettext_noop("Other"),
)


def protocol_panel(entries: list[dict]) -> list[dict]:
    """``ReadingProtocol.viewer_config`` entries with their name and help in the active language."""
    return [{**e, "name": gettext(e["name"]), "help": gettext(e["help"])} for e in entries]


def exclusion_reasons() -> list[dict]:
    """The reasons a reader can give for excluding a level: stored value and label in the active language."""
    return [{"value": value, "label": gettext(label)} for value, label in Roi.ExclusionReason.choices]
