"""Read-side queries: what each user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from studies.models import Membership, Read, Study
from studies.permissions import is_pi
from studies.services.reading import read_is_open


def studies_visible_to(user) -> QuerySet[Study]:
    if not user.is_authenticated:
        return Study.objects.none()
    return Study.objects.filter(memberships__user=user).distinct()


def reads_visible_to(user) -> QuerySet[Read]:
    """A reader's own reads, and every read of the studies the user is PI of."""
    if not user.is_authenticated:
        return Read.objects.none()
    pi_studies = Membership.objects.filter(user=user, role=Membership.Role.PI).values("study_id")
    own = Q(reader=user) & ~Q(status=Read.Status.VOIDED)  # a voided read is gone from its reader's view
    return Read.objects.filter(own | Q(study_id__in=pi_studies))


def reader_may_view(read: Read) -> bool:
    """Blinding for the read's own reader: the read is open, and no later read of the same case has opened.

    Once read 2 of a case is open, read 1 of that case is hidden from its reader (no recall of
    earlier ROIs); read 2 is invisible until it opens.
    """
    if not read_is_open(read):
        return False
    later = Read.objects.filter(
        case_id=read.case_id, reader_id=read.reader_id, read_number__gt=read.read_number
    ).select_related("study")
    return not any(read_is_open(r) for r in later)


def roi_stats_shown(read: Read, user) -> str:
    """How much of the read's ROI statistics ``user`` may see: the PI all of them ("full"), a reader what the
    study's ``reader_roi_stats`` setting allows ("none", "quality" or "full")."""
    if is_pi(read.study_id, user):
        return Study.ReaderRoiStats.FULL
    return read.study.reader_roi_stats
