"""Reading protocols: which ROIs a read needs, how they are drawn, and which labels feed which score.

Pure (no Django): the models' label choices, the ROI payload checks, the submit checks, the pixel
measures (:mod:`scoring.measures`), the analytics and the viewer's panel all read the protocol from here.
A new protocol (say cervical C-VBQ: C3–C7 over CSF at C2) is one new module defining a
:class:`ReadingProtocol` plus its entry in :data:`PROTOCOLS`.
"""

from __future__ import annotations

from .base import ReadingProtocol, RoiSpec
from .lumbar import LUMBAR_VBQ

__all__ = ["DEFAULT", "LABEL_CHOICES", "LUMBAR_VBQ", "PROTOCOLS", "ReadingProtocol", "RoiSpec", "protocol_for"]

#: Every protocol the platform knows, by key.
PROTOCOLS: dict[str, ReadingProtocol] = {p.key: p for p in (LUMBAR_VBQ,)}
#: The protocol of every study today (studies do not choose one yet).
DEFAULT: ReadingProtocol = LUMBAR_VBQ
#: (label, display name) of every label of every protocol: the choices of ``Roi.label``.
LABEL_CHOICES: tuple[tuple[str, str], ...] = tuple(
    dict((spec.label, spec.name) for p in PROTOCOLS.values() for spec in p.rois).items()
)


def protocol_for(study: object | None = None) -> ReadingProtocol:
    """The reading protocol of ``study`` (every study reads the lumbar VBQ / SNR protocol for now)."""
    return DEFAULT
