"""What de-identification must redo so that the file stays a valid instance of its IOD (pure: pydicom, no Django).

:func:`studies.dicom.deid.deidentify` applies PS3.15 Table E.1-1 attribute by attribute; two of its actions leave
an enhanced MR file that contradicts its own IOD, and :func:`fit_to_iod` repairs them after the walk:

- **Common Instance Reference module** (PS3.3 C.12.2). It "describes the hierarchical relationships of any SOP
  Instances referenced from other Modules": Referenced Series Sequence (0008,1115) is Type 1C, "required if this
  Instance references Instances in this Study", Studies Containing Other Referenced Instances Sequence (0008,1200)
  Type 1C, "required if this Instance references Instances in other Studies". The profile removes the references
  themselves (Referenced Image Sequence, Source Image Sequence: ``X/Z/U``, resolved to ``X``) but has no action
  for this index of them, which would then list instances nothing in the file references any more (dciodvfy:
  "ReferencedSeriesSequence present but Instance does not reference Instances"). Each listed instance that no
  remaining reference names is dropped, then each series and study item left empty, then the sequence left
  empty: the module stays exactly as large as the remaining references need. The Referenced Image Evidence
  Sequence (0008,9092) and Source Image Evidence Sequence (0008,9154) of the MR Image and Spectroscopy Instance
  Macro (PS3.3 C.8.13.1, Type 1C: "required if Referenced Image Sequence / Source Image Sequence is present") are
  the same kind of index and are pruned the same way.

  What counts as a reference: a Referenced SOP Instance UID (0008,1155) anywhere in the dataset outside these
  indexes, except in the Referenced Performed Procedure Step, Referenced Study and Referenced Patient Sequences
  (they name procedure steps, studies and patients, not instances of a series) and in the Conversion Source
  Attributes Sequence (0020,9172) of a legacy-converted file: that one records which single-frame original each
  frame was built from (kept, with its UIDs remapped); dicom3tools' IOD tables do not count it as a reference the
  module must index, and the platform never stores the originals.

- **Device Serial Number** (0018,1000), ``X/Z/D``: removed for the MR Image IOD, where it is Type 3, but Type 1
  in the Enhanced General Equipment module (PS3.3 C.7.5.2) of the Enhanced MR Image IODs (A.36): there the ``D``
  of the compound code applies and a dummy value replaces it.

References
----------
.. [1] DICOM PS3.3 C.12.2 "Common Instance Reference Module"; C.8.13.1 "MR Image and Spectroscopy Instance
       Macro" (evidence sequences); A.36 "Enhanced MR Image IOD"; C.7.5.2 "Enhanced General Equipment Module".
.. [2] DICOM PS3.15 Annex E, Table E.1-1 (Referenced Image Sequence, Source Image Sequence, Device Serial Number).
"""

from __future__ import annotations

from typing import Final

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import EnhancedMRColorImageStorage, EnhancedMRImageStorage

from . import values as dicom_values

__all__ = ["DUMMY_SERIAL", "INDEXES", "fit_to_iod", "referenced_instances"]

#: The dummy written to Device Serial Number where the IOD needs a value.
DUMMY_SERIAL: Final = "ANONYMIZED"
#: SOP classes whose IOD has the Enhanced General Equipment module (Device Serial Number Type 1).
_ENHANCED_EQUIPMENT_CLASSES: Final = frozenset({EnhancedMRImageStorage, EnhancedMRColorImageStorage})

_SOP_CLASS_UID: Final = 0x00080016
_DEVICE_SERIAL_NUMBER: Final = 0x00181000
#: The indexes of references pruned to what the remaining references need: tag -> keyword (for the report).
INDEXES: Final = {
    0x00081115: "ReferencedSeriesSequence",  # Common Instance Reference: this study's series
    0x00081200: "StudiesContainingOtherReferencedInstancesSequence",  # … and other studies'
    0x00089092: "ReferencedImageEvidenceSequence",  # what Referenced Image Sequences reference (C.8.13.1)
    0x00089154: "SourceImageEvidenceSequence",  # what Source Image Sequences reference (C.8.13.1)
}
#: The levels inside an index: series items, and the instance lists of a series item.
_LEVELS: Final = (0x00081115, 0x0008114A, 0x00081199)  # Referenced Series / Instance / SOP Sequence
_REFERENCED_SOP_INSTANCE_UID: Final = 0x00081155
_PIXEL_DATA: Final = 0x7FE00010
#: Sequences whose references are not to instances the Common Instance Reference module indexes.
_NOT_INDEXED: Final = frozenset(
    {
        0x00081111,  # Referenced Performed Procedure Step Sequence
        0x00081110,  # Referenced Study Sequence
        0x00081120,  # Referenced Patient Sequence
        0x00209172,  # Conversion Source Attributes Sequence
    }
)


def fit_to_iod(ds: Dataset, *, had_device_serial: bool) -> tuple[set[str], set[str]]:
    """Repair, in place, what the profile's actions left inconsistent with the IOD (see the module docstring).

    ``had_device_serial`` says whether the file held Device Serial Number before the profile removed it.
    Returns the keywords (removed, replaced) for the :class:`~studies.dicom.deid.DeidReport`.
    """
    removed: set[str] = set()
    replaced: set[str] = set()
    if had_device_serial and dicom_values.text(ds, _SOP_CLASS_UID).strip() in _ENHANCED_EQUIPMENT_CLASSES:
        ds[_DEVICE_SERIAL_NUMBER] = DataElement(_DEVICE_SERIAL_NUMBER, "LO", DUMMY_SERIAL)
        replaced.add("DeviceSerialNumber")
    if any(tag in ds._dict for tag in INDEXES):
        needed = referenced_instances(ds)
        for tag, keyword in INDEXES.items():
            if tag in ds._dict and _prune(ds, tag, needed):
                removed.add(keyword)
    return removed, replaced


def referenced_instances(ds: Dataset) -> set[str]:
    """The SOP Instance UIDs ``ds`` references outside its indexes of references (see the module docstring)."""
    found: set[str] = set()
    _collect(ds, found, root=True)
    return found


def _collect(ds: Dataset, found: set[str], *, root: bool) -> None:
    for tag, elem in list(ds._dict.items()):
        if tag == _REFERENCED_SOP_INSTANCE_UID:
            found.update(u.strip() for u in dicom_values.strings(ds, tag) or () if u.strip())
            continue
        if tag == _PIXEL_DATA or tag in _NOT_INDEXED or (root and tag in INDEXES):
            continue
        vr = elem.VR or (dictionary_VR(tag) if not tag >> 16 & 1 else None)
        if vr != "SQ":
            continue
        for item in ds[tag].value:
            _collect(item, found, root=False)


def _prune(ds: Dataset, tag: int, needed: set[str]) -> bool:
    """Keep, in the sequence ``tag`` of ``ds``, the instance items in ``needed`` and the study/series items that
    still hold one; delete the sequence if nothing is left. True if anything was dropped."""
    changed = False
    kept = []
    for item in ds[tag].value:
        if _REFERENCED_SOP_INSTANCE_UID in item._dict:  # an instance (SOP Instance Reference Macro)
            if dicom_values.text(item, _REFERENCED_SOP_INSTANCE_UID).strip() in needed:
                kept.append(item)
            else:
                changed = True
            continue
        children = [child for child in _LEVELS if child in item._dict]
        for child in children:
            changed |= _prune(item, child, needed)
        if any(child in item._dict for child in children):
            kept.append(item)
        else:
            changed = True
    if kept:
        ds[tag].value = kept
    else:
        del ds[tag]
    return changed
