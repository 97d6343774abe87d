"""Celery tasks of analytics: thin, idempotent wrappers that take ids and call one service.

The refresh and the snapshot build skip work whose stored digest matches the current inputs, so a repeat (or a
redelivery after a worker died: acks_late + reject_on_worker_lost) is harmless.
"""

from __future__ import annotations

from celery import shared_task

# The project's Celery app, which these tasks bind to (vbqsite/__init__ does not create it: start-up, issue #20).
import vbqsite.celery  # noqa: F401
from analytics import services, snapshot_jobs


@shared_task(name="analytics.tasks.study_analytics_refresh", acks_late=True, reject_on_worker_lost=True)
def study_analytics_refresh(study_id: int, sections: list[str] | None = None, force: bool = False) -> dict:
    """Recompute the stale dashboard sections of a study (all sections when ``sections`` is None).

    ``force`` recomputes them even when their inputs are unchanged (the PI's "recompute" button).
    """
    return services.study_analytics_refresh(study_id=study_id, sections=sections, force=force)


@shared_task(name="analytics.tasks.study_snapshot_build", acks_late=True, reject_on_worker_lost=True)
def study_snapshot_build(study_id: int) -> dict:
    """Run the study's snapshot job: build the analysis snapshot zip with progress (kept frozen once the study is
    locked). A duplicate finds the job taken or ended, or the zip current, and does nothing."""
    return snapshot_jobs.snapshot_job_run(study_id=study_id)


@shared_task(name="analytics.tasks.snapshot_jobs_sweep")
def snapshot_jobs_sweep() -> dict:
    """Queue again (or fail) the snapshot jobs whose worker stopped (no heartbeat for JOB_HEARTBEAT_TIMEOUT_SECONDS)."""
    return snapshot_jobs.snapshot_jobs_sweep()
