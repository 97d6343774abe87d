"""No job stuck (#22): what imports (studies.ImportJob), whole-study rescores (scoring.RescoreJob), snapshot builds
(analytics.SnapshotJob) and re-keyings (studies.RekeyJob) share.

A job row is the truth about a job; the broker only carries it. Three rules keep every row moving:

- **Claim.** A task marks its job running only if it is queued, or running without a sign of life for longer than
  ``JOB_HEARTBEAT_TIMEOUT_SECONDS`` (its worker died): a duplicate message (a redelivery, a re-enqueue by the
  sweep, a Retry) finds the job taken, done or failed and does nothing. That is what makes re-enqueueing safe.
- **Heartbeat.** A running job writes ``heartbeat_at`` as it makes progress, at most once a second
  (:class:`Heartbeat`); ``heartbeat_at`` is also set when the job is queued.
- **Sweep.** :func:`jobs_sweep` (a beat task per app, every minute) queues again a running job silent for longer
  than ``JOB_HEARTBEAT_TIMEOUT_SECONDS`` (at most ``JOB_MAX_REQUEUES`` times) and a queued job nobody picked up
  within ``JOB_QUEUED_TIMEOUT_SECONDS`` (at most ``JOB_QUEUED_MAX_REQUEUES`` times); after that it marks the job
  failed with a message that says what happened.

The job models share these fields through the abstract :class:`studies.models.Job` (``status``: queued / running /
done / failed, ``total``/``done``, ``heartbeat_at``, ``requeues``, ``error``, ``created_at``, ``finished_at``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Model, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, ngettext

log = logging.getLogger("vbqsite.jobs")

QUEUED, RUNNING, FAILED = "queued", "running", "failed"


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)


def queued_timeout() -> timedelta:
    return timedelta(seconds=settings.JOB_QUEUED_TIMEOUT_SECONDS)


def _silent_since(cutoff: datetime) -> Q:
    """No sign of life since ``cutoff`` (rows from before heartbeats: by their creation time)."""
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def stuck_q(now: datetime | None = None) -> Q:
    """Jobs the sweep acts on: running and silent, or queued and never picked up, for longer than the bounds."""
    now = now or timezone.now()
    return (Q(status=RUNNING) & _silent_since(now - heartbeat_timeout())) | (
        Q(status=QUEUED) & _silent_since(now - queued_timeout())
    )


def job_is_stuck(job: Model, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    seen = job.heartbeat_at or job.created_at
    if job.status == RUNNING:
        return seen is not None and seen < now - heartbeat_timeout()
    if job.status == QUEUED:
        return seen is not None and seen < now - queued_timeout()
    return False


def job_claim(model: type[Model], pk: int) -> bool:
    """Mark the job running for this caller if it is queued, or running but silent for longer than the bound."""
    now = timezone.now()
    silent = Q(heartbeat_at__lt=now - heartbeat_timeout()) | Q(heartbeat_at=None)
    free = Q(status=QUEUED) | (Q(status=RUNNING) & silent)
    return bool(model.objects.filter(pk=pk).filter(free).update(status=RUNNING, heartbeat_at=now))


def job_queue_refused(model: type[Model], pk: int, message: str) -> None:
    """The broker refused the job: it is failed (not left queued) with ``message``; Retry queues it again."""
    model.objects.filter(pk=pk, status=QUEUED).update(status=FAILED, error=message, finished_at=timezone.now())


class Heartbeat:
    """Writes ``heartbeat_at`` (and the given progress fields) of one job row, at most once per ``interval`` s.

    ``beat(**fields)`` writes unless the last write was less than ``interval`` ago (the fields then wait for the
    next write); ``beat(force=True, ...)`` always writes.
    """

    def __init__(self, model: type[Model], pk: int, interval: float = 1.0) -> None:
        self.model, self.pk, self.interval = model, pk, interval
        self.last = time.monotonic()  # the claim has just written one
        self.pending: dict = {}

    def __call__(self, force: bool = False, **fields) -> None:
        self.pending.update(fields)
        now = time.monotonic()
        if force or now - self.last >= self.interval:
            self.last = now
            self.model.objects.filter(pk=self.pk).update(heartbeat_at=timezone.now(), **self.pending)
            self.pending = {}


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 60 or minutes * 60 != seconds:
        return f"{seconds:g} seconds"
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def stopped_message(noun: str) -> str:
    """The error of a job whose worker stopped for good (noun: "import", "rescore")."""
    return (
        f"The worker running this {noun} stopped (no sign of life for "
        f"{_minutes(settings.JOB_HEARTBEAT_TIMEOUT_SECONDS)}); run it again."
    )


def never_started_message(noun: str) -> str:
    return (
        f"No worker picked this {noun} up (queued {settings.JOB_QUEUED_MAX_REQUEUES + 1} times, "
        f"{_minutes(settings.JOB_QUEUED_TIMEOUT_SECONDS)} each); check that the workers are running, then run it "
        "again."
    )


#: The job nouns of the messages above, for the catalogue.
NOUNS = {
    "import": gettext_noop("import"),
    "rescore": gettext_noop("rescore"),
    "snapshot": gettext_noop("snapshot"),
    "re-key": gettext_noop("re-key"),
}


def _minutes_shown(seconds: float) -> str:
    """:func:`_minutes` in the active language."""
    minutes = round(seconds / 60)
    if seconds < 60 or minutes * 60 != seconds:
        return gettext("%(n)s seconds") % {"n": f"{seconds:g}"}
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


def job_error_shown(error: str, noun: str) -> str:
    """A stored job error (English, as the sweep or the queue wrote it) in the active language, for a page.

    The sweep's messages are recognised by rebuilding them from the same settings; any other fixed sentence with a
    catalogue entry (e.g. :data:`vbqsite.queue.QUEUE_DOWN`) is translated; the rest is shown as stored.
    """
    if not error:
        return ""
    what = {"noun": gettext(NOUNS.get(noun, noun))}
    if error == stopped_message(noun):
        return gettext("The worker running this %(noun)s stopped (no sign of life for %(time)s); run it again.") % {
            **what,
            "time": _minutes_shown(settings.JOB_HEARTBEAT_TIMEOUT_SECONDS),
        }
    if error == never_started_message(noun):
        return gettext(
            "No worker picked this %(noun)s up (queued %(times)d times, %(time)s each); check that the workers are "
            "running, then run it again."
        ) % {
            **what,
            "times": settings.JOB_QUEUED_MAX_REQUEUES + 1,
            "time": _minutes_shown(settings.JOB_QUEUED_TIMEOUT_SECONDS),
        }
    return gettext(error)


def jobs_sweep(model: type[Model], *, enqueue_job: Callable[[Model], bool], noun: str) -> dict[str, list[int]]:
    """Queue again, or mark failed, every stuck job of ``model`` (see the module docstring).

    ``enqueue_job(job)`` sends the job's task (True when the broker took it). Every change is a conditional
    update on the status and heartbeat read, so a job that came back to life meanwhile is left alone.
    Returns the ids requeued and failed.
    """
    now = timezone.now()
    done: dict[str, list[int]] = {"requeued": [], "failed": []}
    for job in model.objects.filter(stuck_q(now)).order_by("pk"):
        running = job.status == RUNNING
        limit = settings.JOB_MAX_REQUEUES if running else settings.JOB_QUEUED_MAX_REQUEUES
        same = model.objects.filter(pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at)
        if job.requeues < limit:
            if same.update(status=QUEUED, heartbeat_at=now, requeues=F("requeues") + 1):
                log.warning("%s job %s %s: queued again", noun, job.pk, "stopped" if running else "never started")
                enqueue_job(job)  # refused: still queued, and the next sweep tries again
                done["requeued"].append(job.pk)
        else:
            message = stopped_message(noun) if running else never_started_message(noun)
            if same.update(status=FAILED, error=message, finished_at=now):
                log.warning("%s job %s failed: %s", noun, job.pk, message)
                done["failed"].append(job.pk)
    return done
