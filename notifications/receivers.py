"""How notifications reacts to what ``studies`` announces; connected in ``NotificationsConfig.ready``."""

from __future__ import annotations

from studies import events
from vbqsite.queue import enqueue


def on_read_changed(**_) -> None:
    from notifications import tasks  # here, not at module level: loads Celery, not needed at start-up (issue #20)

    # The audit row says what happened; the task e-mails every change not yet recorded. With the broker down,
    # the reminders sweep sends it on its next run.
    enqueue(tasks.read_changes_notify_task)


def connect() -> None:
    events.read_reopened.connect(on_read_changed, dispatch_uid="notifications.read_reopened")
    events.read_reassigned.connect(on_read_changed, dispatch_uid="notifications.read_reassigned")
    events.read_voided.connect(on_read_changed, dispatch_uid="notifications.read_voided")
