"""Queueing Celery work: the one place that decides what happens when the broker refuses a job.

The database is the source of truth and the broker only carries work (DESIGN.md, Architecture), so a
refused job is never an error of the request that caused it: the change is already stored, and a
periodic sweep or the next request picks the work up. The exception is a job a user asked for and
follows (an import, a whole-study rescore): its row is marked failed and the request answers 503
(:class:`QueueUnavailable`, :data:`QUEUE_DOWN`), so that nothing stays "queued" for good. What must not
happen is a refusal nobody hears of — every one is logged with the task and its arguments.
"""

from __future__ import annotations

import logging

from django.utils.translation import gettext_noop

log = logging.getLogger("vbqsite.queue")

#: What a user who asked for a job (an import, a rescore) is told when the broker refuses it (HTTP 503). Stored
#: and sent in English (job rows, the API); pages translate it when they show it (``gettext(QUEUE_DOWN)``).
QUEUE_DOWN = gettext_noop("The job queue is not reachable; nothing was lost — try again in a minute.")


class QueueUnavailable(Exception):
    """The broker refused a job a user asked for; the job row (``job``) is marked failed with :data:`QUEUE_DOWN`."""

    def __init__(self, job=None) -> None:
        super().__init__(QUEUE_DOWN)
        self.job = job


def enqueue(task, *args, **kwargs) -> bool:
    """Send ``task`` with ``args``/``kwargs`` to the broker (or run it in-process without one).

    Returns True when the job was accepted, False when the broker refused it (logged as a warning).
    Callers that must tell a user (an import, a rescore) check the result; the others rely on their
    periodic sweep.
    """
    try:
        task.delay(*args, **kwargs)
    except Exception as exc:  # broker unreachable, connection refused, serialisation error …
        log.warning("could not queue %s%s%s: %s", getattr(task, "name", task), args, kwargs or "", exc)
        return False
    return True
