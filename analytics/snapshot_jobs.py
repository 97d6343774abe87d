"""The snapshot zip is built by a job with progress (#20 point 5); requests only read the stored file.

A PI asks for the snapshot (the exports tab's link, ``POST /api/analytics/studies/<id>/snapshot/``) or locks the
study; :func:`snapshot_build_request` then queues one :class:`~analytics.models.SnapshotJob` through
:func:`vbqsite.queue.enqueue` — unless the stored zip is current (:func:`analytics.snapshot.snapshot_ready`: the
inputs digest of the ``snapshot`` cache row, the rule of the dashboard sections) or a build is already queued or
running. The Celery task (:func:`analytics.tasks.study_snapshot_build`, a thin wrapper taking the study id) runs
:func:`snapshot_job_run`: it claims the study's job, builds the zip (:func:`analytics.snapshot.study_snapshot_build`)
and writes its progress with the job's heartbeat (:class:`vbqsite.jobs.Heartbeat`), so the exports tab shows
"Building the snapshot… n %" and then the download link. A worker that dies mid-build leaves the job silent: the
snapshot job sweep (beat, every minute) queues it again or fails it (:func:`vbqsite.jobs.jobs_sweep`), and a
request that finds it stuck queues a new one. Without a broker (``CELERY_TASK_ALWAYS_EAGER``, the demo) the job
runs inside the request and the zip is ready when it answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from analytics.models import AnalysisCache, SnapshotJob
from analytics.snapshot import snapshot_ready, snapshot_row, study_snapshot_build
from studies.models import Study
from vbqsite import jobs
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable, enqueue

log = logging.getLogger(__name__)

__all__ = [
    "SnapshotState",
    "snapshot_build_request",
    "snapshot_job_run",
    "snapshot_jobs_sweep",
    "snapshot_state",
]

#: Progress is written in these units (a percentage with one decimal).
UNITS = 1000
_ACTIVE = (SnapshotJob.Status.QUEUED, SnapshotJob.Status.RUNNING)


@dataclass
class SnapshotState:
    """What a page or the API shows: the stored zip when current, else the build under way or its failure."""

    ready: bool
    row: AnalysisCache | None
    job: SnapshotJob | None

    @property
    def status(self) -> str:
        """``ready``, ``queued``, ``running``, ``failed`` or ``none`` (never built, or out of date)."""
        if self.ready:
            return "ready"
        if self.job is not None and self.job.status in _ACTIVE:
            return self.job.status
        if self.job is not None and self.job.status == SnapshotJob.Status.FAILED:
            return "failed"
        return "none"

    @property
    def building(self) -> bool:
        return self.status in _ACTIVE

    @property
    def percent(self) -> int:
        return 100 if self.ready else (self.job.percent if self.building else 0)

    @property
    def error(self) -> str:
        return self.job.error if self.status == "failed" and self.job is not None else ""

    @property
    def error_shown(self) -> str:
        """:attr:`error` in the page's language (:func:`vbqsite.jobs.job_error_shown`)."""
        return jobs.job_error_shown(self.error, "snapshot")

    @property
    def record(self) -> dict[str, Any]:
        return dict(self.row.result) if self.ready and self.row is not None else {}


def _latest_job(study: Study) -> SnapshotJob | None:
    return SnapshotJob.objects.filter(study=study).order_by("-id").first()


def snapshot_state(study: Study, *, exact: bool = False) -> SnapshotState:
    """The study's snapshot as it stands (no side effect). ``exact`` compares the exact inputs digest (reads every
    input row: for a download); pages compare the cheap fingerprint, as for the dashboard sections."""
    row = snapshot_row(study)
    return SnapshotState(ready=snapshot_ready(study, row, exact=exact), row=row, job=_latest_job(study))


def _send(study_id: int) -> bool:
    from analytics import tasks

    return enqueue(tasks.study_snapshot_build, study_id)


def snapshot_build_request(study: Study, user=None) -> SnapshotState:
    """Queue a build unless the stored zip is current or a live build is queued or running; the state after.

    Raises :class:`vbqsite.queue.QueueUnavailable` when the broker refuses the job (the job is then failed with
    :data:`vbqsite.queue.QUEUE_DOWN`, not left queued).
    """
    state = snapshot_state(study, exact=True)
    if state.ready:
        return state
    job = state.job
    if job is not None and job.status in _ACTIVE and not jobs.job_is_stuck(job):
        return state
    if job is not None and job.status in _ACTIVE:  # its worker is gone: this one replaces it
        SnapshotJob.objects.filter(pk=job.pk, status=job.status).update(
            status=SnapshotJob.Status.FAILED, error=jobs.stopped_message("snapshot"), finished_at=timezone.now()
        )
    job = SnapshotJob.objects.create(study=study, created_by=user, heartbeat_at=timezone.now(), total=UNITS)
    if not _send(study.pk):
        jobs.job_queue_refused(SnapshotJob, job.pk, QUEUE_DOWN)
        job.refresh_from_db()
        raise QueueUnavailable(job)
    return snapshot_state(study, exact=True)


def snapshot_job_run(*, study_id: int) -> dict:
    """Run the study's queued snapshot job (the task; idempotent): claim it, build with progress, end it.

    A study with no queued job (the lock receiver queues the task directly) gets one here. A job running elsewhere
    with a heartbeat, or already ended, is left alone. Returns the stored snapshot record ({} when nothing was
    built).
    """
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {}
    job = SnapshotJob.objects.filter(study=study, status__in=_ACTIVE).order_by("-id").first()
    if job is None:
        job = SnapshotJob.objects.create(
            study=study, status=SnapshotJob.Status.RUNNING, heartbeat_at=timezone.now(), total=UNITS
        )
    elif not jobs.job_claim(SnapshotJob, job.pk):
        return {}
    beat = jobs.Heartbeat(SnapshotJob, job.pk)

    def progress(fraction: float) -> None:
        beat(done=min(UNITS, round(fraction * UNITS)), total=UNITS)

    status, error, result = SnapshotJob.Status.FAILED, "", {}
    try:
        result = study_snapshot_build(study_id=study.pk, progress=progress)
    except BaseException as exc:  # the job must end whatever happens; a shutdown still stops the worker
        log.exception("snapshot job %s failed", job.pk)
        error = f"The snapshot could not be built ({exc.__class__.__name__})."
        if not isinstance(exc, Exception):
            SnapshotJob.objects.filter(pk=job.pk).update(status=status, error=error, finished_at=timezone.now())
            raise
    else:
        if result:
            status = SnapshotJob.Status.DONE
        else:
            row = snapshot_row(study)
            error = f"The snapshot could not be built: {row.error if row and row.error else 'unknown error'}"
    now = timezone.now()
    ended = {"done": UNITS} if status == SnapshotJob.Status.DONE else {}
    SnapshotJob.objects.filter(pk=job.pk).update(status=status, error=error, heartbeat_at=now, finished_at=now, **ended)
    return result


def snapshot_jobs_sweep() -> dict[str, list[int]]:
    """Queue again, or fail, the snapshot jobs whose worker is gone (:func:`vbqsite.jobs.jobs_sweep`)."""
    return jobs.jobs_sweep(SnapshotJob, enqueue_job=lambda job: _send(job.study_id), noun="snapshot")
