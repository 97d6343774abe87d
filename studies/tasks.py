"""Celery tasks of the studies app (thin wrappers over services)."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

# The project's Celery app, which these tasks bind to (vbqsite/__init__ does not create it: start-up, issue #20).
import vbqsite.celery  # noqa: F401
from studies.models import WorkerHeartbeat


@shared_task(name="studies.tasks.worker_heartbeat")
def worker_heartbeat(hostname: str | None = None) -> str:
    """Record that a worker is alive (idempotent upsert keyed by hostname)."""
    name = hostname or worker_heartbeat.request.hostname or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(hostname=name, defaults={"seen_at": timezone.now()})
    return name


@shared_task(name="studies.tasks.dicom_import", acks_late=True, reject_on_worker_lost=True)
def dicom_import(job_id: int) -> None:
    """Run one DICOM import job (idempotent: stored images are skipped on a re-run)."""
    from studies.services.dicom_import import import_job_run

    import_job_run(job_id=job_id)


@shared_task(name="studies.tasks.import_sweep")
def import_sweep() -> dict:
    """Queue again (or fail) the import jobs that are stuck, then remove import leftovers: stored uploads of jobs no
    longer queued or running older than IMPORT_ORPHAN_MAX_AGE_SECONDS (kept that long for Retry), temporary
    folders untouched for longer than JOB_HEARTBEAT_TIMEOUT_SECONDS (their process is gone), and stored files no
    image references that a killed import wrote (studies.services.import_stored)."""
    from studies.services.dicom_import import import_orphans_sweep
    from studies.services.import_jobs import import_jobs_sweep
    from studies.services.import_stored import stored_orphans_sweep
    from studies.services.import_temp import import_temp_sweep

    swept = import_jobs_sweep()
    removed = len(import_orphans_sweep()) + len(import_temp_sweep()) + len(stored_orphans_sweep())
    return {**swept, "removed": removed}


@shared_task(name="studies.tasks.subject_codes_rekey", acks_late=True, reject_on_worker_lost=True)
def subject_codes_rekey(job_id: int) -> None:
    """Run one re-keying job (idempotent: a job that is done, failed or running on a live worker is left alone)."""
    from studies.services.subject_rekey import rekey_job_run

    rekey_job_run(job_id=job_id)


@shared_task(name="studies.tasks.rekey_jobs_sweep")
def rekey_jobs_sweep() -> dict:
    """Queue again (or fail) the re-keying jobs that are stuck (no heartbeat; never picked up)."""
    from studies.services.subject_rekey import rekey_jobs_sweep as sweep

    return sweep()
