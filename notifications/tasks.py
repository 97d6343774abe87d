"""Celery tasks of notifications: thin, idempotent wrappers (a second run sends nothing new).

What was sent is recorded in the database (:class:`notifications.models.SentNotification`), so a repeat — a
redelivery after a worker died, two beats, a retry — finds the rows and sends nothing again.
"""

from __future__ import annotations

from celery import shared_task

# The project's Celery app, which these tasks bind to (vbqsite/__init__ does not create it: start-up, issue #20).
import vbqsite.celery  # noqa: F401
from notifications.digest import daily_digest_send
from notifications.read_changes import read_changes_notify
from notifications.read_opened import read_opened_notify


@shared_task(name="notifications.tasks.reminders_sweep", acks_late=True, reject_on_worker_lost=True)
def reminders_sweep() -> dict:
    """Beat, every NOTIFY_SWEEP_INTERVAL_SECONDS: repeat reads that opened, and PI actions not yet e-mailed."""
    return {"read_opened": read_opened_notify(), "read_changed": read_changes_notify()}


@shared_task(name="notifications.tasks.read_changes_notify", acks_late=True, reject_on_worker_lost=True)
def read_changes_notify_task() -> dict:
    """Queued when the PI reopens, reassigns or voids a read: e-mail the readers concerned now."""
    return read_changes_notify()


@shared_task(name="notifications.tasks.daily_digest_send", acks_late=True, reject_on_worker_lost=True)
def daily_digest_send_task() -> dict:
    """Beat, hourly: today's progress digest to the PIs of active studies, once the digest hour has come."""
    return daily_digest_send()
