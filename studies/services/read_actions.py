"""The PI's actions on one read (reopen, reassign, void): each needs a reason, which the audit log keeps."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from studies import events
from studies.models import Membership, Read

from .audit import audit_log
from .reading import ReadClosed

REASON_MAX = 2000


def check_action(read: Read, reason) -> str:
    """The cleaned reason.

    A missing reason (or a bad reader) is a :class:`ValidationError` (HTTP 400); a locked study or a voided read is
    :class:`ReadClosed` (HTTP 403, as for every change to a locked study's reads).
    """
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError(gettext("A reason is required."))
    if len(reason) > REASON_MAX:
        raise ValidationError(gettext("The reason is too long (at most %(n)d characters).") % {"n": REASON_MAX})
    if read.study.locked:
        raise ReadClosed(gettext("The study is locked: its reads can no longer be changed."))
    if read.status == Read.Status.VOIDED:
        raise ReadClosed(gettext("This read has been voided."))
    return reason


def _void(read: Read, reason: str) -> None:
    read.status = Read.Status.VOIDED
    read.voided_at = timezone.now()
    read.void_reason = reason
    read.save(update_fields=["status", "voided_at", "void_reason"])


@transaction.atomic
def read_void(*, read: Read, user, reason: str) -> Read:
    """Void a read: it leaves its reader's worklist and the analytics, and stays (with its ROIs) in the history."""
    read = Read.objects.select_for_update().select_related("study").get(pk=read.pk)
    reason = check_action(read, reason)
    _void(read, reason)
    audit_log(study=read.study, user=user, action="read.void", obj=read, data={"reason": reason})
    events.announce(events.read_voided, read_id=read.pk)
    return read


@transaction.atomic
def read_reassign(*, read: Read, user, reader_id, reason: str) -> Read:
    """Give the read's case and read number to another reader of the study; the old read is voided.

    The new read is appended at the end of that reader's worklist for the read number, so the worklist positions
    stay a permutation 0..n−1. The old read keeps its ROIs. Returns the new read.
    """
    read = Read.objects.select_for_update().select_related("study").get(pk=read.pk)
    reason = check_action(read, reason)
    try:
        reader_id = int(reader_id)
    except (TypeError, ValueError):
        raise ValidationError(gettext("Choose the reader to give the read to.")) from None
    member = (
        Membership.objects.filter(study=read.study, user_id=reader_id, role=Membership.Role.READER)
        .select_related("user")
        .first()
    )
    if member is None:
        raise ValidationError(gettext("That user is not a reader of this study."))
    if reader_id == read.reader_id:
        raise ValidationError(gettext("The read already belongs to that reader."))
    if Read.objects.filter(case_id=read.case_id, reader_id=reader_id, read_number=read.read_number).exists():
        raise ValidationError(gettext("That reader already has a read of this case for this read number."))
    worklist = Read.objects.filter(study=read.study, reader_id=reader_id, read_number=read.read_number)
    last = worklist.aggregate(m=Max("order_index"))["m"]
    new = Read.objects.create(
        study=read.study,
        case_id=read.case_id,
        reader=member.user,
        read_number=read.read_number,
        order_index=0 if last is None else last + 1,
        available_from=read.available_from,
    )
    _void(read, reason)
    audit_log(
        study=read.study,
        user=user,
        action="read.reassign",
        obj=read,
        data={"reason": reason, "to_reader": member.user.get_username(), "new_read": new.pk},
    )
    events.announce(events.read_reassigned, read_id=read.pk, new_read_id=new.pk)
    return new
