"""How scoring reacts to what ``studies`` announces (:mod:`studies.events`); connected in ``ScoringConfig.ready``.

Every change that can alter a read's score leads to a recomputed score: an ROI created, moved, excluded,
re-included or deleted (its read), a scoring setting of the study (every read), a new control group (every
M-score). Work is queued (in-process without a broker); a refused job is logged and left to the periodic
sweep, which finds it through the read's inputs digest.
"""

from __future__ import annotations

from scoring import checks
from studies import events
from vbqsite.queue import enqueue

#: Study settings that change what a read's score is (the read inputs digest covers each of them).
SCORING_SETTINGS = frozenset({"measure_vbq", "measure_snr", "roi_statistic", "min_levels_vbq", "noise_correction"})


def on_roi_changed(
    *, read_id: int, roi_id: int | None, action: str, version: int | None = None, deleted_roi_id=None, **_
) -> None:
    from scoring import tasks  # here, not at module level: loads Celery, not needed at start-up (issue #20)

    if roi_id is not None:
        # measures the ROI at this version (dropped if a newer one is stored by then), then scores its read
        enqueue(tasks.roi_score, roi_id, version)
    else:
        enqueue(tasks.read_score, read_id, deleted_roi_id)


def on_study_settings_changed(*, study_id: int, fields: list[str], **_) -> None:
    from scoring import tasks  # here, not at module level: loads Celery, not needed at start-up (issue #20)

    if SCORING_SETTINGS.intersection(fields):
        enqueue(tasks.study_rescore, study_id, False)


def on_reference_changed(*, study_id: int, controls_changed: bool, **_) -> None:
    from scoring import tasks  # here, not at module level: loads Celery, not needed at start-up (issue #20)

    if controls_changed:
        enqueue(tasks.study_mscores_refresh, study_id)


def connect() -> None:
    events.roi_changed.connect(on_roi_changed, dispatch_uid="scoring.roi_changed")
    events.study_settings_changed.connect(on_study_settings_changed, dispatch_uid="scoring.settings_changed")
    events.reference_changed.connect(on_reference_changed, dispatch_uid="scoring.reference_changed")
    events.read_checks.connect(checks.read_checks, dispatch_uid="scoring.read_checks")
