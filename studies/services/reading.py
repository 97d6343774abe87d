"""The reading plan, worklists, ROI saving with optimistic concurrency, and read submission."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from studies import events
from studies.models import Case, Membership, Read, Roi, Study

from .audit import audit_log
from .read_checks import read_checks
from .subject_rekey import rekey_running_refusal

# Time between two autosaves that still counts as working on the case (longer gaps are breaks).
ACTIVITY_GAP = timedelta(minutes=5)


class StaleEdit(Exception):
    """A write carried an ROI version older than the stored one (HTTP 409)."""

    def __init__(self, roi: Roi | None) -> None:
        super().__init__(
            gettext("This ROI was changed elsewhere (another tab or window); the latest version is shown.")
        )
        self.roi = roi


class ReadClosed(ValidationError):
    pass


def worklist_order(*, seed: int, reader_key: str, read_number: int, case_codes: list[str]) -> list[str]:
    """Reproducible random order of ``case_codes`` for one reader and read number.

    The permutation depends only on (study seed, reader username, read number, the set of subject
    codes), so it can be regenerated for the paper's methods section.
    """
    import numpy as np  # here, not at module level: web start-up does not load numpy (issue #20 point 4)

    reader_hash = int.from_bytes(hashlib.sha256(reader_key.encode()).digest()[:8], "big")
    rng = np.random.default_rng([int(seed), reader_hash, int(read_number)])
    codes = sorted(case_codes)
    return [codes[i] for i in rng.permutation(len(codes))]


@transaction.atomic
def reading_plan_build(*, study: Study, user=None) -> int:
    """Create the missing reads of the plan: every reader × case × read number.

    Existing reads are never touched; new cases or readers are appended (the PI "extends" the plan).
    Read 1 is open at once; read n > 1 opens when the reader has submitted all of read n − 1 and the
    washout has passed. Returns the number of reads created.

    Worklist positions (``order_index``) stay a permutation 0..n−1 of each reader × read number's worklist:
    a worklist built in one go follows :func:`worklist_order`; cases added by a later extension take the
    next free positions after the existing ones, in the order :func:`worklist_order` gives them among all
    of the study's cases. The stored position of an existing read never changes. Refused (ValidationError) while
    the study's subject codes are being replaced (:func:`studies.services.subject_rekey.rekey_running_refusal`).
    """
    if refusal := rekey_running_refusal(study):  # the worklists are ordered by the codes being replaced
        raise ValidationError(refusal)
    readers = list(Membership.objects.filter(study=study, role=Membership.Role.READER).select_related("user"))
    codes = list(Case.objects.filter(study=study).values_list("subject_code", flat=True))
    cases = {c.subject_code: c for c in Case.objects.filter(study=study)}
    created = 0
    for membership in readers:
        reader = membership.user
        for read_number in range(1, study.reads_per_reader + 1):
            order = worklist_order(
                seed=study.randomisation_seed,
                reader_key=reader.get_username(),
                read_number=read_number,
                case_codes=codes,
            )
            stored = Read.objects.filter(study=study, reader=reader, read_number=read_number).values_list(
                "case__subject_code", "order_index"
            )
            existing = {code for code, _ in stored}
            next_index = max((index for _, index in stored), default=-1) + 1
            for code in order:
                if code in existing:
                    continue
                Read.objects.create(
                    study=study,
                    case=cases[code],
                    reader=reader,
                    read_number=read_number,
                    order_index=next_index,
                )
                next_index += 1
                created += 1
    if created:
        audit_log(study=study, user=user, action="plan.build", obj=study, data={"reads_created": created})
    return created


def read_opens_at(read: Read) -> timezone.datetime | None:
    """When the read becomes available to its reader; None while still blocked by the previous read."""
    if read.available_from is not None:
        return read.available_from
    if read.read_number == 1:
        return read.study.created_at
    previous = Read.objects.filter(
        study_id=read.study_id, reader_id=read.reader_id, read_number=read.read_number - 1
    ).exclude(status=Read.Status.VOIDED)
    if not previous.exists() or previous.exclude(status=Read.Status.SUBMITTED).exists():
        return None
    last = max(r.submitted_at for r in previous if r.submitted_at)
    return last + timedelta(days=read.study.washout_days)


def read_is_open(read: Read, now=None) -> bool:
    opens = read_opens_at(read)
    return opens is not None and opens <= (now or timezone.now())


def read_reopen(*, read: Read, user, reason: str) -> Read:
    """PI action: reopen a submitted read so the reader can correct it (``reason`` is required and audited)."""
    from .read_actions import check_action  # the PI's read actions share their checks

    reason = check_action(read, reason)
    read.status = Read.Status.IN_PROGRESS
    read.submitted_at = None
    read.available_from = timezone.now()
    read.save(update_fields=["status", "submitted_at", "available_from"])
    audit_log(study=read.study, user=user, action="read.reopen", obj=read, data={"reason": reason})
    events.announce(events.read_reopened, read_id=read.pk)
    return read


def read_open_now(*, study: Study, reader, read_number: int, user) -> int:
    """PI action: open a reader's read n now (waive the remaining washout)."""
    count = Read.objects.filter(study=study, reader=reader, read_number=read_number).update(
        available_from=timezone.now()
    )
    audit_log(
        study=study,
        user=user,
        action="read.open_now",
        obj=study,
        data={"reader": reader.get_username(), "read_number": read_number, "reads": count},
    )
    return count


def _assert_writable(read: Read, user) -> None:
    if read.study.locked:
        raise ReadClosed(gettext("The study is locked: ROIs can no longer be changed."))
    if read.reader_id != user.pk:
        raise ReadClosed(gettext("Only the reader of this read can change its ROIs."))
    if read.status == Read.Status.SUBMITTED:
        raise ReadClosed(gettext("This read has been submitted and is closed. Ask the PI to reopen it."))
    if not read_is_open(read):
        raise ReadClosed(gettext("This read is not open yet (washout period)."))


def _touch(read: Read) -> None:
    now = timezone.now()
    fields = ["last_activity_at"]
    if read.started_at is None:
        read.started_at = now
        fields.append("started_at")
    if read.status == Read.Status.NOT_STARTED:
        read.status = Read.Status.IN_PROGRESS
        fields.append("status")
    if read.last_activity_at is not None and now - read.last_activity_at <= ACTIVITY_GAP:
        read.time_on_task_seconds += (now - read.last_activity_at).total_seconds()
        fields.append("time_on_task_seconds")
    read.last_activity_at = now
    read.save(update_fields=fields)


ROI_FIELDS = (
    "label",
    "shape",
    "points_px",
    "sop_instance_uid",
    "csf_level",
    "excluded",
    "exclusion_reason",
    "exclusion_note",
)


def roi_version(value) -> int:
    """The ROI version a write carries: a whole number ≥ 1 (a JSON integer; not 1.5, "1", true or a list)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ValidationError(
            gettext(
                "version must be the ROI's version as a whole number of 1 or more (the one you last loaded), "
                "not %(shown)s."
            )
            % {"shown": shown}
        )
    return value


def roi_create(*, read: Read, user, data: dict) -> Roi:
    """Create an ROI (:func:`studies.services.roi_save.save_roi_create`: four queries, no study lock)."""
    from .roi_save import save_roi_create

    return save_roi_create(read_id=read.pk, user=user, data=data).roi


def roi_update(*, roi: Roi, user, data: dict, version: int | None) -> Roi:
    """Change an ROI at ``version`` (:func:`studies.services.roi_save.save_roi_update`); StaleEdit when stale."""
    from .roi_save import save_roi_update

    return save_roi_update(read_id=roi.read_id, roi_id=roi.pk, user=user, data=data, version=version).roi


def roi_delete(*, roi: Roi, user, version: int | None) -> None:
    """Delete an ROI (:func:`studies.services.roi_save.save_roi_delete`); StaleEdit when ``version`` is stale."""
    from .roi_save import save_roi_delete

    save_roi_delete(read_id=roi.read_id, roi_id=roi.pk, user=user, version=version)


def read_submit_problems(read: Read) -> list[str]:
    """What still prevents submitting the read (empty when complete)."""
    return read_checks(read)["problems"]


@transaction.atomic
def read_submit(*, read: Read, user) -> Read:
    read = Read.objects.select_for_update().select_related("study").get(pk=read.pk)
    _assert_writable(read, user)
    problems = read_submit_problems(read)
    if problems:
        raise ValidationError(problems)
    _touch(read)
    read.status = Read.Status.SUBMITTED
    read.submitted_at = timezone.now()
    read.save(update_fields=["status", "submitted_at"])
    audit_log(
        study=read.study,
        user=user,
        action="read.submit",
        obj=read,
        data={"time_on_task_seconds": read.time_on_task_seconds},
    )
    events.announce(events.read_submitted, read_id=read.pk)
    return read


def reads_for_reader(*, study: Study, reader, read_numbers: Iterable[int] | None = None):
    qs = Read.objects.filter(study=study, reader=reader).exclude(status=Read.Status.VOIDED).select_related("case")
    if read_numbers is not None:
        qs = qs.filter(read_number__in=list(read_numbers))
    return qs.order_by("read_number", "order_index")
