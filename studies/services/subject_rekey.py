"""Re-keying a study (issue #15): every case gets a fresh opaque subject code, before any read exists.

Studies imported before opaque codes have codes in import order (S001, S002…), which can follow the groups;
the PI may replace them all with random codes (:func:`studies.services.subject_codes.new_subject_code`).
Existing studies keep their codes unless re-keyed.

- Allowed only while the study has no reads at all (before the reading plan is created): once reads exist,
  readers may have seen the codes on their worklists, and the worklist order is derived from the codes
  (:func:`studies.services.reading.worklist_order`), so the documented regeneration of the order would break.
  A locked study is refused too, and so is a study with an import queued or running (it plans with the codes).
- The code is written in each stored file (Patient's Name and Patient ID) and in its path
  (:func:`studies.models.instance_file_name`), so every file is rewritten with the new code under its new
  path (SHA-256 and size updated); the old files are removed once the change is committed. If anything fails,
  the new files are removed and nothing changes. UIDs and dates are not touched: the date shift of each case is
  stored with it and kept.
- New codes avoid the old ones and those assigned to patients not imported yet; assignments of patients
  already imported are dropped (their cases now have new codes). One audit entry (counts only).

A study of hundreds of cases has thousands of files (about 3 ms a file on a local disk, far more on object
storage), longer than a web request may last, so the PI's request records a :class:`~studies.models.RekeyJob`
and a worker runs it (:func:`rekey_job_create`, :func:`rekey_job_run`; claim, heartbeat and sweep as every job,
:mod:`vbqsite.jobs`). The files are rewritten first, outside any transaction (progress: files done/total); then
one short transaction, under the study's row lock, checks that nothing changed meanwhile and records everything.
While the job is queued or running the study's imports, its reading plan and another re-keying are refused
(:func:`rekey_running_refusal`), and the import sweep leaves its folder alone
(:mod:`studies.services.import_stored`: the files written before a killed worker's requeue are removed by it).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from studies.models import Case, ImportJob, Instance, Read, RekeyJob, Study, SubjectCodeAssignment, instance_file_name
from vbqsite import jobs
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable, enqueue

from .audit import audit_log
from .membership import StudyLocked
from .subject_codes import DEFAULT_PREFIX, new_subject_code

__all__ = [
    "REKEY_RUNNING",
    "RekeyRefused",
    "RekeyResult",
    "rekey_blocker",
    "rekey_error_shown",
    "rekey_job_create",
    "rekey_job_run",
    "rekey_jobs_sweep",
    "rekey_running_refusal",
    "subject_codes_rekey",
]

log = logging.getLogger(__name__)

LIVE = (RekeyJob.Status.QUEUED, RekeyJob.Status.RUNNING)

#: Why an import, the reading plan or another re-keying waits (stored in English on an import job that ran into it).
REKEY_RUNNING = gettext_noop(
    "The subject codes of this study are being replaced (re-keying queued or running): try again once it has finished."
)
#: The job's error when the study changed between the rewriting of the files and the commit.
STUDY_CHANGED = gettext_noop(
    "The study's cases or images changed while the codes were being replaced; nothing was changed: run it again."
)

#: The job's error when its worker was stopped while it ran.
REKEY_INTERRUPTED = gettext_noop(
    "The re-keying was interrupted (the worker stopped); nothing was changed: run it again."
)

#: The job's error when something failed while it ran (the exception's class name).
REKEY_FAILED = gettext_noop("The re-keying failed (%(error)s); nothing was changed: run it again.")


class RekeyRefused(Exception):
    """The study cannot be re-keyed now (HTTP 409); the message says why."""


@dataclass(frozen=True)
class RekeyResult:
    cases: int
    files: int


def rekey_running_refusal(study: Study | int) -> str:
    """Why an import or the reading plan of ``study`` must wait ("" when no re-keying is queued or running)."""
    study_id = study if isinstance(study, int) else study.pk
    return _(REKEY_RUNNING) if RekeyJob.objects.filter(study_id=study_id, status__in=LIVE).exists() else ""


def rekey_blocker(study: Study, *, job: RekeyJob | None = None) -> str:
    """Why the study cannot be re-keyed now ("" when it can); ``job``: the re-keying asking, not a rival."""
    if study.locked:
        return _("The study is locked: its data can no longer be changed.")
    reads = Read.objects.filter(study=study).count()
    if reads:
        return _(
            "The study has %(reads)d read(s): subject codes can only be replaced before the reading plan is "
            "created (readers may have seen the codes, and the worklist order is derived from them)."
        ) % {"reads": reads}
    if not Case.objects.filter(study=study).exists():
        return _("The study has no cases yet: there are no codes to replace.")
    if ImportJob.objects.filter(study=study, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).exists():
        return _("An import of this study is queued or running: replace the codes once it has finished.")
    rivals = RekeyJob.objects.filter(study=study, status__in=LIVE)
    if (rivals.exclude(pk=job.pk) if job is not None else rivals).exists():
        return _("The codes of this study are already being replaced: wait for that to finish.")
    return ""


def _prefix(codes: list[str]) -> str:
    """The study's code prefix when all its codes share one like ``VBQ-``, else ``S-``."""
    prefixes = {m[0] if (m := re.match(r"[A-Za-z]{1,8}-", c)) else "" for c in codes}
    return prefixes.pop() if len(prefixes) == 1 and "" not in prefixes else DEFAULT_PREFIX


def _rewritten(data: bytes, code: str) -> bytes:
    """The stored file with Patient's Name and Patient ID set to ``code`` (everything else as it was)."""
    from pydicom import dcmread  # here, not at module level: web start-up does not load pydicom (issue #20 point 4)

    ds = dcmread(io.BytesIO(data))
    ds.PatientName = code
    ds.PatientID = code
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _remove(storage, names: list[str]) -> None:
    """Delete the files, and on a local disk their series and subject folders once empty."""
    for name in names:
        storage.delete(name)
    if isinstance(storage, FileSystemStorage):
        folders = {os.path.dirname(storage.path(n)) for n in names}
        for folder in sorted(folders | {os.path.dirname(d) for d in folders}, key=len, reverse=True):
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty (or already gone)


def _check(study: Study, job: RekeyJob | None) -> None:
    if study.locked:
        raise StudyLocked()
    blocker = rekey_blocker(study, job=job)
    if blocker:
        raise RekeyRefused(blocker)


def subject_codes_rekey(
    *,
    study: Study,
    user,
    job: RekeyJob | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RekeyResult:
    """Give every case of ``study`` a new random code; rewrite and rename its files. See the module docstring.

    First the new files are written (``progress(done, total)`` after each file), then one transaction checks that
    the study's cases and images are those read at the start, and records the new codes, files and digests (and
    ``job`` done). Anything that fails removes the new files and changes nothing.
    """
    storage = Instance._meta.get_field("file").storage
    written: list[str] = []
    old_files: list[str] = []
    try:
        _check(study, job)
        cases = list(Case.objects.filter(study=study).order_by("pk"))
        old = [c.subject_code for c in cases]
        before = {c.pk: c.subject_code for c in cases}
        taken = set(old) | set(SubjectCodeAssignment.objects.filter(study=study).values_list("subject_code", flat=True))
        prefix = _prefix(old)
        new_codes = {}
        for case in cases:
            new_codes[case.pk] = code = new_subject_code(taken, prefix=prefix)
            taken.add(code)
        instances = list(Instance.objects.filter(series__case__study=study).select_related("series").order_by("pk"))
        seen = {(i.pk, i.file.name) for i in instances}
        total = len({i.file.name for i in instances})
        moved: dict[str, tuple[str, str, int]] = {}  # old name -> new name, sha256, size (frames share a file)
        if progress is not None:
            progress(0, total)
        for inst in instances:
            if inst.file.name not in moved:
                code = new_codes[inst.series.case_id]
                with inst.file.open("rb") as fh:
                    data = _rewritten(fh.read(), code)
                name = instance_file_name(
                    study.pk, code, inst.series.series_instance_uid, inst.file.name.rsplit("/", 1)[-1]
                )
                old_files.append(inst.file.name)
                new_name = storage.save(name, ContentFile(data))
                written.append(new_name)
                moved[inst.file.name] = (new_name, hashlib.sha256(data).hexdigest(), len(data))
                if progress is not None:
                    progress(len(moved), total)
            inst.file.name, inst.sha256, inst.size = moved[inst.file.name]
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study.pk)
            _check(study, job)  # locked, planned, imported into or re-keyed while the files were written
            now_cases = dict(Case.objects.select_for_update().filter(study=study).values_list("pk", "subject_code"))
            now_files = set(Instance.objects.filter(series__case__study=study).values_list("pk", "file"))
            assigned = SubjectCodeAssignment.objects.filter(study=study, subject_code__in=new_codes.values())
            if now_cases != before or now_files != seen or assigned.exists():
                raise RekeyRefused(_(STUDY_CHANGED))
            Instance.objects.bulk_update(instances, ["file", "sha256", "size"], batch_size=500)
            # new codes avoid every old one: the unique (study, code) constraint holds row by row
            for case in cases:
                case.subject_code = new_codes[case.pk]
            Case.objects.bulk_update(cases, ["subject_code"], batch_size=500)
            digests = [c.patient_digest for c in cases if c.patient_digest]
            dropped, _n = SubjectCodeAssignment.objects.filter(study=study, patient_digest__in=digests).delete()
            data = {"cases": len(cases), "files": len(moved), "assignments_dropped": dropped}
            if job is not None:
                data["job"] = job.pk
                RekeyJob.objects.filter(pk=job.pk).update(
                    status=RekeyJob.Status.DONE,
                    done=len(moved),
                    total=total,
                    cases=len(cases),
                    error="",
                    finished_at=timezone.now(),
                    heartbeat_at=timezone.now(),
                )
            audit_log(study=study, user=user, action="subject_codes.rekey", obj=study, data=data)
            transaction.on_commit(lambda: _remove(storage, old_files))
    except BaseException:
        _remove(storage, written)  # nothing partial: the new files go, the old ones (still referenced) stay
        raise
    return RekeyResult(cases=len(cases), files=len(moved))


# --------------------------------------------------------------------------------------------- the job


def _send(job_id: int) -> bool:
    from studies import tasks

    return enqueue(tasks.subject_codes_rekey, job_id)


def rekey_job_create(*, study: Study, user) -> RekeyJob:
    """Record a re-keying of ``study`` and queue it once the row is committed; progress is on the returned row.

    Raises :class:`StudyLocked` or :class:`RekeyRefused` (see :func:`rekey_blocker`) at once, and
    :class:`vbqsite.queue.QueueUnavailable` when the broker refuses the job (it is then failed, not left queued;
    nothing changed). Not to be called inside a transaction: the caller must learn whether the job was queued.
    """
    with transaction.atomic(durable=True):
        locked = Study.objects.select_for_update().get(pk=study.pk)  # one re-keying queued at a time
        _check(locked, None)
        job = RekeyJob.objects.create(study=locked, created_by=user, heartbeat_at=timezone.now())
        audit_log(study=locked, user=user, action="subject_codes.rekey_queue", obj=locked, data={"job": job.pk})
    if not _send(job.pk):
        jobs.job_queue_refused(RekeyJob, job.pk, QUEUE_DOWN)
        job.refresh_from_db()
        raise QueueUnavailable(job)
    job.refresh_from_db()
    return job


def rekey_job_run(*, job_id: int) -> RekeyJob | None:
    """Run a queued re-keying (idempotent: a job that is done, failed or running on a live worker is left alone).

    Whatever happens, the job ends done (codes and files replaced) or failed with the reason (nothing changed).
    """
    if not jobs.job_claim(RekeyJob, job_id):
        return RekeyJob.objects.filter(pk=job_id).first()
    job = RekeyJob.objects.select_related("study", "created_by").get(pk=job_id)
    beat = jobs.Heartbeat(RekeyJob, job.pk)  # the job sweep requeues a re-keying that stops beating

    def progress(done: int, total: int) -> None:
        beat(force=done == 0 or done >= total, done=done, total=total)  # the total at once, then ≤ 1 write/s

    error = ""
    try:
        subject_codes_rekey(study=job.study, user=job.created_by, job=job, progress=progress)
    except RekeyRefused as exc:
        error = str(exc)
    except StudyLocked:
        error = "The study is locked: its data can no longer be changed."
    except BaseException as exc:  # native code may raise BaseException subclasses: the job must still end
        log.exception("re-keying job %s failed", job.pk)
        error = REKEY_FAILED % {"error": exc.__class__.__name__}
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            _failed(job, REKEY_INTERRUPTED)
            raise
    if error:
        _failed(job, error)
    job.refresh_from_db()
    return job


def _failed(job: RekeyJob, error: str) -> None:
    # only a job still running: a rival run of the same job (requeued while alive) may have finished it
    RekeyJob.objects.filter(pk=job.pk, status=RekeyJob.Status.RUNNING).update(
        status=RekeyJob.Status.FAILED, error=error, finished_at=timezone.now()
    )


def rekey_error_shown(error: str) -> str:
    """A re-keying job's stored error (English) in the page's language (:func:`vbqsite.jobs.job_error_shown` for
    the sweep's and the fixed sentences)."""
    before, after = REKEY_FAILED.split("%(error)s")
    if error.startswith(before) and error.endswith(after) and len(error) > len(before) + len(after):
        return _(REKEY_FAILED) % {"error": error[len(before) : len(error) - len(after)]}
    return jobs.job_error_shown(error, "re-key")


def rekey_jobs_sweep() -> dict[str, list[int]]:
    """Queue again, or fail, the re-keyings that are stuck (:func:`vbqsite.jobs.jobs_sweep`)."""
    return jobs.jobs_sweep(RekeyJob, enqueue_job=lambda job: _send(job.pk), noun="re-key")
