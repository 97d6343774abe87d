"""No ROI is ever lost: a killed worker's study rescore finishes on a new worker; a broker outage is caught up."""

from __future__ import annotations

import time

import pytest

from scoring import tasks
from scoring.models import ReadScore, RescoreJob, RoiScore
from scoring.pixels import measure_roi
from scoring.services import scoring_sweep, stale_roi_ids
from studies.models import Instance, Roi
from tests import factories as f
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _study_with_rois(n_cases: int = 12):
    pi, reader = f.make_user(), f.make_user()
    study = f.make_study(pi)
    f.add_member(study, reader)
    rois = []
    for i in range(n_cases):
        case = f.make_case(study, f"K-{i:03d}", rows=256, cols=256, n_slices=2)
        read = f.make_read(case, reader)
        for j, label in enumerate(("L1", "L2", "L3", "L4", "CSF", "NOISE")):
            payload = f.roi_payload(case, label, box=(10 + 30 * j, 10 + i, 35 + 30 * j, 40 + i))
            rois.append(Roi.objects.create(read=read, **payload))  # no scoring job queued
    return study, rois


def _expected(roi: Roi):
    inst = Instance.objects.get(sop_instance_uid=roi.sop_instance_uid)
    return measure_roi(inst.file.path, roi.shape, roi.points_px)


def test_sigkill_mid_rescore_then_a_new_worker_finishes_exactly_once(worker_factory):
    study, rois = _study_with_rois()
    first = worker_factory()
    tasks.study_rescore.delay(study.pk, False)
    # Kill the worker (SIGKILL: no cleanup, no ack) as soon as it has scored some but not all ROIs.
    wait_for(
        lambda: 0 < RoiScore.objects.count() < len(rois) or RoiScore.objects.count() == len(rois),
        interval=0.005,
        what="the rescore to start",
    )
    first.kill()
    scored_at_kill = RoiScore.objects.count()
    assert scored_at_kill < len(rois), "the worker finished before it could be killed; use more ROIs"
    worker_factory()  # the unacknowledged job is redelivered (acks_late + visibility timeout) to the new worker
    wait_for(
        lambda: RoiScore.objects.count() == len(rois) and RescoreJob.objects.filter(status="done").exists(),
        timeout=120,
        what="the new worker to finish the rescore",
    )
    assert RoiScore.objects.count() == len(rois)  # exactly one result per ROI
    for roi in rois:
        score = RoiScore.objects.get(roi=roi)
        expected = _expected(roi)
        assert score.roi_version == roi.version
        assert (score.n, score.mean, score.sd) == (
            expected.n,
            pytest.approx(expected.mean, abs=1e-9),
            pytest.approx(expected.sd, abs=1e-9),
        )
    assert ReadScore.objects.count() == len(rois) // 6
    assert not stale_roi_ids(study.pk)


def test_broker_down_saves_succeed_and_the_sweep_scores_later(settings, world_factory=None):
    """With an unreachable broker the ROI save still succeeds; the sweep scores it when run."""
    from vbqsite.celery import app

    saved = {
        k: app.conf[k]
        for k in ("broker_url", "task_always_eager", "broker_connection_retry", "broker_connection_max_retries")
    }
    app.conf.update(
        broker_url="redis://127.0.0.1:1/0",
        task_always_eager=False,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
    )
    try:
        pi, reader = f.make_user(), f.make_user()
        study = f.make_study(pi)
        f.add_member(study, reader)
        case = f.make_case(study, "B-001")
        read = f.make_read(case, reader)
        started = time.monotonic()
        roi = f.make_roi(read, "L1")  # the service queues on commit; the broker refuses
        assert time.monotonic() - started < 30
        assert Roi.objects.filter(pk=roi.pk).exists()
        assert not RoiScore.objects.filter(roi=roi).exists()
    finally:
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None
    result = scoring_sweep()  # the periodic task, run once the broker is back
    assert result["rois"] == 1
    assert RoiScore.objects.get(roi=roi).mean == pytest.approx(_expected(roi).mean, abs=1e-12)
    assert scoring_sweep() == {"rois": 0, "reads": 0}  # idempotent
