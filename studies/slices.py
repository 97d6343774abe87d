"""Slice numbers: the one way a person or a file names a slice of a series.

**Slice number** = 1-based position of the image in its series sorted along the slice normal: by
``Instance.slice_position`` (the dot product of Image Position (Patient) with the normal of the first image's
Image Orientation (Patient), row × column cosines, in mm — set at import by ``studies.dicom.series``),
ascending; ties, which validation refuses, fall back to Instance Number and then the database id. This is
the order of the viewer's stack (``studies.dicom_views.series_payload``) and so the "Slice k / n" it shows.

The viewer, the pre-submit checks, the audit log and the exports name a slice by this number. The DICOM
**Instance Number** is the scanner's own numbering: it may start anywhere, skip, or run against the slice
normal (a real sagittal T1 series of 49 slices numbered them against the stack's order),
so it is kept beside the slice number (``instance_number``) and never called a "slice" number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from studies.models import Instance, Series

__all__ = ["SLICE_ORDER", "SliceRef", "ordered_instances", "slice_refs", "study_slice_refs"]

#: The order of a series' instances along the slice normal: the slice number is the 1-based position in it.
SLICE_ORDER: tuple[str, ...] = ("slice_position", "instance_number", "id")


@dataclass(frozen=True)
class SliceRef:
    """Where an image lies in its series."""

    number: int  #: the slice number (1-based, along the slice normal; what the viewer shows)
    instance_number: int | None  #: DICOM Instance Number (0020,0013), the scanner's numbering
    position_mm: float  #: position along the slice normal, mm
    series_id: int


def ordered_instances(series: Series | int) -> QuerySet[Instance]:
    """The instances of ``series`` in slice-number order."""
    series_id = series if isinstance(series, int) else series.pk
    return Instance.objects.filter(series_id=series_id).order_by(*SLICE_ORDER)


def _refs(instances: QuerySet[Instance]) -> dict[str, SliceRef]:
    rows = instances.order_by("series_id", *SLICE_ORDER).values_list(
        "series_id", "sop_instance_uid", "instance_number", "slice_position"
    )
    refs: dict[str, SliceRef] = {}
    number, current = 0, None
    for series_id, sop, instance_number, position in rows.iterator(chunk_size=2000):
        number = number + 1 if series_id == current else 1
        current = series_id
        refs[sop] = SliceRef(number, instance_number, position, series_id)
    return refs


def slice_refs(sop_instance_uids: Iterable[str]) -> dict[str, SliceRef]:
    """SOP Instance UID → :class:`SliceRef` for the given images (unknown UIDs are left out)."""
    uids = {u for u in sop_instance_uids if u}
    if not uids:
        return {}
    series_ids = Instance.objects.filter(sop_instance_uid__in=uids).values("series_id")
    refs = _refs(Instance.objects.filter(series_id__in=series_ids))
    return {uid: refs[uid] for uid in uids if uid in refs}


def study_slice_refs(study_id: int) -> dict[str, SliceRef]:
    """SOP Instance UID → :class:`SliceRef` for every image of a study."""
    return _refs(Instance.objects.filter(series__case__study_id=study_id))
