"""How analytics reacts to what ``studies`` announces; connected in ``AnalyticsConfig.ready``."""

from __future__ import annotations

from studies import events
from vbqsite.queue import enqueue


def on_study_locked(*, study_id: int, **_) -> None:
    from analytics import tasks  # here, not at module level: loads Celery, not needed at start-up (issue #20)

    # Freeze the analysis snapshot of the locked data now. With the broker down, the snapshot is built
    # on the first request for it after locking instead.
    enqueue(tasks.study_snapshot_build, study_id)


def connect() -> None:
    events.study_locked.connect(on_study_locked, dispatch_uid="analytics.study_locked")
