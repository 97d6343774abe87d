"""The de-identification profile as data: PS3.15 Table E.1-1 loaded from a table file (pure: no Django).

:data:`BASIC_PROFILE` is read once, when this module is imported, from ``profiles/ps3_15_basic_profile.csv``
beside it (the file names its source and the edition it was checked against). The loader refuses a file it
cannot trust, naming the line: an action code that Table E.1-1a does not define, a tag or keyword that does
not match pydicom's data dictionary, a repeated keyword, a malformed row. The few attributes this platform
treats beyond the table are small constants below: :data:`ADDITIONAL_REMOVALS`, :data:`MR_IOD_TYPE2` and
:data:`SAFE_PRIVATE_ATTRIBUTES`. :func:`resolve_action` turns a table entry into the one action that applies
to an MR image; :mod:`studies.dicom.deid` applies it.

References
----------
.. [1] DICOM PS3.15, Annex E "Attribute Confidentiality Profiles", Tables E.1-1 and E.1-1a.
.. [2] DICOM PS3.3, A.4 "MR Image IOD" (which attributes are Type 2).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Final

from pydicom.datadict import tag_for_keyword

__all__ = [
    "ACTION_CODES",
    "ADDITIONAL_REMOVALS",
    "BASIC_PROFILE",
    "BASIC_PROFILE_PATH",
    "MR_IOD_TYPE2",
    "SAFE_PRIVATE_ATTRIBUTES",
    "ProfileError",
    "load_profile",
    "resolve_action",
]

#: The table file, found beside this module (shipped with the package; see ``.dockerignore``).
BASIC_PROFILE_PATH: Final = Path(__file__).resolve().parent / "profiles" / "ps3_15_basic_profile.csv"

#: The action codes of PS3.15 Table E.1-1a a profile table may give.
ACTION_CODES: Final = frozenset({"X", "Z", "D", "U", "K", "C", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U"})

_COLUMNS: Final = ("tag", "keyword", "vr", "action", "retired")
_TAG: Final = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)")
_VR: Final = re.compile(r"[A-Z]{2}")


class ProfileError(ValueError):
    """A profile table that cannot be used; the message names the file, the line and what is wrong."""


def load_profile(path: str | os.PathLike[str] = BASIC_PROFILE_PATH) -> dict[str, str]:
    """Read a profile table: attribute keyword -> action code, in the file's order.

    The file has ``#`` comment lines, then the header row ``tag,keyword,vr,action,retired`` and one row per
    attribute, e.g. ``"(0010,0010)",PatientName,PN,Z,``. ``vr`` and ``retired`` are for the reader; ``tag``
    must be the keyword's tag in pydicom's data dictionary (the engine matches attributes by keyword, so a
    keyword pydicom does not know would silently never apply).

    Raises
    ------
    ProfileError
        If the file is missing, has no header or no rows, or a row is malformed, has an unknown action code,
        a tag or keyword that pydicom's dictionary does not agree with, or a keyword already given.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProfileError(f"The de-identification profile {path} cannot be read: {exc}.") from exc
    profile: dict[str, str] = {}
    header_seen = False
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        row = next(csv.reader([line]))
        where = f"{path.name}, line {number}"
        if not header_seen:
            if tuple(row) != _COLUMNS:
                raise ProfileError(f"{where}: the header must be {','.join(_COLUMNS)}, not {line!r}.")
            header_seen = True
            continue
        if len(row) != len(_COLUMNS):
            raise ProfileError(f"{where}: {len(row)} columns instead of {len(_COLUMNS)} ({','.join(_COLUMNS)}).")
        tag_text, keyword, vr, action, retired = row
        match = _TAG.fullmatch(tag_text)
        if match is None:
            raise ProfileError(f"{where}: the tag {tag_text!r} is not of the form (GGGG,EEEE).")
        if action not in ACTION_CODES:
            raise ProfileError(
                f"{where}: unknown action code {action!r} for {keyword}; "
                f"PS3.15 Table E.1-1a codes are {', '.join(sorted(ACTION_CODES))}."
            )
        tag = int(match[1] + match[2], 16)
        known = tag_for_keyword(keyword)
        if known is None:
            raise ProfileError(f"{where}: {keyword!r} is not a keyword of pydicom's data dictionary.")
        if known != tag:
            raise ProfileError(
                f"{where}: {keyword} is ({known >> 16:04X},{known & 0xFFFF:04X}) in pydicom's data dictionary, "
                f"not {tag_text}."
            )
        if not _VR.fullmatch(vr) or retired not in ("", "retired"):
            raise ProfileError(f"{where}: vr must be two capital letters and retired empty or 'retired'.")
        if keyword in profile:
            raise ProfileError(f"{where}: {keyword} is given twice.")
        profile[keyword] = action
    if not profile:
        raise ProfileError(f"The de-identification profile {path} has no {'rows' if header_seen else 'header'}.")
    return profile


#: PS3.15 Table E.1-1, "Basic Prof." column: keyword -> action code, for every attribute of the table file
#: (the attributes pydicom's data dictionary knows; the repeating Overlay and Curve groups are handled whole,
#: see :mod:`studies.dicom.deid`). Read once, when this module is imported.
BASIC_PROFILE: Final[dict[str, str]] = load_profile(BASIC_PROFILE_PATH)

#: Attributes removed although Table E.1-1 does not list them (or lists them only in later editions): they can
#: name the sending station or carry identifying data and the platform never needs them.
ADDITIONAL_REMOVALS: Final[frozenset[str]] = frozenset(
    {
        "SourceApplicationEntityTitle",  # (0002,0016)
        "SendingApplicationEntityTitle",  # (0002,0017)
        "ReceivingApplicationEntityTitle",  # (0002,0018)
        "PrivateInformationCreatorUID",  # (0002,0100)
        "PrivateInformation",  # (0002,0102)
        "RetrieveAETitle",  # (0008,0054)
        "StationAETitle",  # (0008,0055)
        "IssuerOfPatientIDQualifiersSequence",  # (0010,0024)
        "PatientBirthDateInAlternativeCalendar",  # (0010,0033)
        "PatientDeathDateInAlternativeCalendar",  # (0010,0034)
        "PatientAlternativeCalendar",  # (0010,0035)
        "RequestingPhysicianIdentificationSequence",  # (0032,1031)
        "EncryptedAttributesSequence",  # (0400,0500)
        "MACParametersSequence",  # (4FFE,0001)
    }
)

#: Attributes that are Type 2 in the MR Image IOD (PS3.3 A.4) or the Enhanced MR Image IOD (A.36, also the
#: Legacy Converted one) among those with a compound action code: they are emptied (``Z``) rather than removed.
#: Content Date/Time are Type 2C (present for temporally related images, which MR slices are); Contrast/Bolus
#: Agent is Type 2 in the Contrast/Bolus module; Acquisition Context Sequence is Type 2 in the Acquisition
#: Context module, mandatory in the enhanced MR IODs (only ever emptied when a file holds it).
MR_IOD_TYPE2: Final[frozenset[str]] = frozenset(
    {"ContentDate", "ContentTime", "ContrastBolusAgent", "AcquisitionContextSequence"}
)

#: Private attributes known to carry no identifying information, kept under the Retain Safe Private Option
#: (PS3.15 E.3.10, Table E.3.10-1): (group, private creator, element offset within the block). Philips stores
#: the floating-point scale of its MR pixel values here; all other private data is removed.
SAFE_PRIVATE_ATTRIBUTES: Final[frozenset[tuple[int, str, int]]] = frozenset(
    {
        (0x2005, "Philips MR Imaging DD 001", 0x0D),  # Scale Intercept (FL)
        (0x2005, "Philips MR Imaging DD 001", 0x0E),  # Scale Slope (FL)
    }
)


def resolve_action(keyword: str) -> str | None:
    """Return the single action code (``X``, ``Z``, ``D``, ``U``) that applies to ``keyword`` in an MR image.

    Compound codes of Table E.1-1 are resolved for the MR Image IOD: ``Z`` when the attribute is Type 2 there
    (:data:`MR_IOD_TYPE2`), else ``X`` (all other compound-coded attributes are Type 3 in that IOD). Returns
    ``None`` for an attribute the profile keeps.
    """
    if keyword in ADDITIONAL_REMOVALS:
        return "X"
    code = BASIC_PROFILE.get(keyword)
    if code is None:
        return None
    if "/" not in code:
        return code
    return "Z" if keyword in MR_IOD_TYPE2 and "Z" in code else "X"
