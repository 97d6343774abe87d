"""Import jobs that never stay stuck (#22): queueing (503 when the broker refuses), Retry, and the job sweep.

The rules (claim, heartbeat, sweep) are :mod:`vbqsite.jobs`; this module applies them to :class:`ImportJob`.
A job the broker refused, or that the sweep gave up on, is failed with a message; its upload stays (until the
import sweep removes leftovers older than ``IMPORT_ORPHAN_MAX_AGE_SECONDS``, counted from the failure for a job the
sweep gave up on) so that Retry can queue the same job again.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext

from studies.models import ImportJob
from vbqsite import jobs
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable, enqueue

from .audit import audit_log


def job_is_stuck(job: ImportJob) -> bool:
    return jobs.job_is_stuck(job)


def _send(job_id: int) -> bool:
    from studies import tasks

    return enqueue(tasks.dicom_import, job_id)


def import_job_enqueue(job: ImportJob) -> None:
    """Queue ``job`` (its row committed). Raises :class:`QueueUnavailable` when the broker refuses it: the job
    is then failed with :data:`QUEUE_DOWN` instead of staying queued."""
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())  # queued at
    if not _send(job.pk):
        jobs.job_queue_refused(ImportJob, job.pk, QUEUE_DOWN)
        job.refresh_from_db()
        raise QueueUnavailable(job)


def retry_refused(job: ImportJob) -> str | None:
    """Why Retry cannot queue ``job`` again (None: it can)."""
    if job.status == ImportJob.Status.DONE:
        return gettext("This import has finished; upload the files again to import them once more.")
    if job.status != ImportJob.Status.FAILED and not job_is_stuck(job):
        return gettext("This import is still queued or running.")
    if not Path(job.source).exists():
        return gettext("The uploaded file is no longer kept: upload it again to import it.")
    return None


def import_job_retry(*, job: ImportJob, user) -> ImportJob:
    """Queue a failed or stuck import again, as the same job (its upload must still be kept).

    Raises ValidationError when it cannot be retried (see :func:`retry_refused`) and :class:`QueueUnavailable`
    when the broker refuses it.
    """
    refused = retry_refused(job)
    if refused:
        raise ValidationError(refused)
    try:
        os.utime(job.source)  # a fresh upload for the import sweep, which removes old leftovers
    except OSError:
        pass
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.QUEUED, error="", finished_at=None, requeues=0, heartbeat_at=timezone.now()
    )
    audit_log(study=job.study, user=user, action="import.retry", obj=job, data={"previous": job.status})
    import_job_enqueue(job)
    job.refresh_from_db()
    return job


def import_jobs_sweep() -> dict[str, list[int]]:
    """Queue again, or fail, the import jobs that are stuck (:func:`vbqsite.jobs.jobs_sweep`).

    The upload of a job the sweep gives up on is kept for Retry for ``IMPORT_ORPHAN_MAX_AGE_SECONDS`` counted from
    now (its modification time is what the import sweep reads), then removed like every other leftover.
    """
    done = jobs.jobs_sweep(ImportJob, enqueue_job=lambda job: _send(job.pk), noun="import")
    for source in ImportJob.objects.filter(pk__in=done["failed"]).values_list("source", flat=True):
        try:
            os.utime(source)
        except OSError:  # already gone: Retry will say so
            pass
    return done
