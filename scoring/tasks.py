"""Celery tasks of scoring: thin, idempotent wrappers that take ids and call one service.

acks_late + reject_on_worker_lost (settings) make a job whose worker died run again on another
worker; results are upserted keyed by the ROI version, so a repeat is harmless.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

# The project's Celery app, which these tasks bind to (vbqsite/__init__ does not create it: start-up, issue #20).
import vbqsite.celery  # noqa: F401
from scoring import roi_jobs, services

# OSError: storage hiccups; OperationalError: a database that was briefly locked or unreachable.
RETRY = {"autoretry_for": (OSError, OperationalError), "max_retries": 5, "retry_backoff": True}


@shared_task(name="scoring.tasks.roi_score", acks_late=True, reject_on_worker_lost=True, **RETRY)
def roi_score(roi_id: int, version: int | None = None) -> None:
    """Measure the ROI at ``version`` and score its read; a no-op once a newer version is stored (superseded)."""
    roi_jobs.roi_change_score(roi_id=roi_id, version=version)


@shared_task(name="scoring.tasks.read_score", acks_late=True, reject_on_worker_lost=True, **RETRY)
def read_score(read_id: int, deleted_roi_id: int | None = None) -> None:
    """Score the read again (an ROI of it was deleted: its statistics go first)."""
    roi_jobs.read_change_score_by_id(read_id=read_id, deleted_roi_id=deleted_roi_id)


@shared_task(name="scoring.tasks.study_mscores_refresh", acks_late=True, reject_on_worker_lost=True, **RETRY)
def study_mscores_refresh(study_id: int) -> None:
    """Recompute every M-score of the study (its control group changed)."""
    services.study_mscores_refresh(study_id=study_id)


@shared_task(name="scoring.tasks.study_rescore", acks_late=True, reject_on_worker_lost=True, **RETRY)
def study_rescore(study_id: int, force: bool = False, job_id: int | None = None) -> dict:
    """Score every ROI of a study that has no current result (all of them with ``force``), then its reads."""
    return services.study_rescore(study_id=study_id, force=force, job_id=job_id)


@shared_task(name="scoring.tasks.scoring_sweep", acks_late=True, reject_on_worker_lost=True)
def scoring_sweep() -> dict:
    """Periodic safety net: score anything unscored or stale (e.g. saved while the broker was down), and drop the
    statistics of ROIs deleted with their read or study."""
    return services.scoring_sweep() | {"orphan_scores": roi_jobs.orphan_scores_delete()}


@shared_task(name="scoring.tasks.rescore_jobs_sweep")
def rescore_jobs_sweep() -> dict:
    """Queue again (or fail) the whole-study rescores that are stuck (no heartbeat; never picked up)."""
    return services.rescore_jobs_sweep()
