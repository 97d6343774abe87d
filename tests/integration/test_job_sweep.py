"""No job stuck (#22), with a real broker and real worker processes: a rescore whose worker is SIGKILLed is
noticed by the job sweep (no heartbeat for JOB_HEARTBEAT_TIMEOUT_SECONDS), queued again and finished by another
worker. Celery's own redelivery is put out of reach (a visibility timeout of an hour), so the sweep alone must do it.
An import the broker refused (503, failed) is queued again by Retry and run by a worker.
"""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from django.urls import reverse

from scoring.models import ReadScore, RescoreJob, RoiScore
from scoring.services import rescore_jobs_sweep, stale_roi_ids, study_rescore_queue
from studies.demo import phantom
from studies.models import ImportJob, Instance, Roi
from tests import factories as f
from tests.integration.conftest import REDIS_URL, _forget_pools, wait_for
from vbqsite.celery import app
from vbqsite.queue import QUEUE_DOWN

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BOUND = 3  # seconds without a heartbeat before the sweep requeues (5 minutes in production)
WORKER_ENV = {
    "VBQ_JOB_HEARTBEAT_TIMEOUT_SECONDS": str(BOUND),
    "CELERY_VISIBILITY_TIMEOUT": "3600",  # no redelivery by Celery within the test
    "SCORING_RESCORE_CHUNK": "6",
}


def _study_with_rois(n_cases: int):
    pi, reader = f.make_user(), f.make_user()
    study = f.make_study(pi)
    f.add_member(study, reader)
    for i in range(n_cases):
        case = f.make_case(study, f"K-{i:03d}", rows=256, cols=256, n_slices=2)
        read = f.make_read(case, reader)
        for j, label in enumerate(("L1", "L2", "L3", "L4", "CSF", "NOISE")):
            payload = f.roi_payload(
                case, label, box=(10 + 30 * j, 10 + i % 100, 35 + 30 * j, 40 + i % 100), index=j % 2
            )
            Roi.objects.create(read=read, **payload)  # no scoring job queued
    return pi, study


def test_a_sigkilled_rescore_is_requeued_by_the_sweep_within_the_bound_and_ends_done(worker_factory, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = BOUND
    pi, study = _study_with_rois(40)
    n_rois = Roi.objects.filter(read__study=study).count()
    first = worker_factory(**WORKER_ENV)
    job = study_rescore_queue(study=study, user=pi, force=True)
    wait_for(
        lambda: RescoreJob.objects.filter(pk=job.pk, status="running").exists() and RoiScore.objects.exists(),
        interval=0.005,
        what="the rescore to start",
    )
    first.kill()
    killed_at = time.monotonic()
    scored_at_kill = RoiScore.objects.count()
    last_beat = RescoreJob.objects.get(pk=job.pk).heartbeat_at
    assert scored_at_kill < n_rois, "the worker finished before it could be killed; use more ROIs"
    assert RescoreJob.objects.get(pk=job.pk).status == "running"  # what the PI saw for 15 minutes before #22
    worker_factory(**WORKER_ENV)

    def sweep_requeued():  # the beat task, run here every 0.2 s instead of every minute
        return job.pk in rescore_jobs_sweep()["requeued"]

    wait_for(sweep_requeued, timeout=BOUND + 30, what="the sweep to requeue the rescore")
    detected = time.monotonic() - killed_at
    silent = (RescoreJob.objects.get(pk=job.pk).heartbeat_at - last_beat).total_seconds()  # requeued at
    wait_for(
        lambda: RescoreJob.objects.filter(pk=job.pk, status="done").exists(),
        timeout=120,
        what="the new worker to finish the rescore",
    )
    finished = time.monotonic() - killed_at
    print(
        f"\nkilled after {scored_at_kill}/{n_rois} ROIs; requeued by the sweep {detected:.1f} s after the kill "
        f"(last heartbeat {silent:.1f} s before; bound {BOUND} s); done {finished:.1f} s after the kill"
    )
    assert BOUND <= silent and detected < BOUND + 2  # not before the bound, and at the first sweep after it
    job.refresh_from_db()
    assert (job.status, job.requeues, job.done, job.total) == ("done", 1, n_rois, n_rois)
    assert RoiScore.objects.count() == n_rois  # exactly one result per ROI
    assert ReadScore.objects.filter(read__study=study).count() == n_rois // 6
    assert not stale_roi_ids(study.pk)


def test_an_import_refused_by_a_down_broker_is_failed_then_retried_and_run_by_a_worker(
    worker_factory, client, tmp_path
):
    """Broker down: the import POST answers 503 and the job is failed (not left queued). Broker back: Retry
    queues the same job and a real worker runs it."""
    subject = phantom.demo_cohort()[0]
    series = phantom.make_phantom_series(subject, out_dir=tmp_path / "scan", rng_seed=3)
    upload = io.BytesIO()
    with zipfile.ZipFile(upload, "w") as zf:
        for path in series.files:
            zf.write(path, path.name)
    upload.seek(0)
    upload.name = "scan.zip"
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)

    app.conf.broker_url = "redis://127.0.0.1:1/0"  # the broker is down
    _forget_pools(app)
    started = time.monotonic()
    response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": upload})
    elapsed = time.monotonic() - started
    app.conf.broker_url = REDIS_URL  # back
    _forget_pools(app)
    assert response.status_code == 503 and response.json()["detail"] == QUEUE_DOWN
    job = ImportJob.objects.get(pk=response.json()["job"]["id"])
    assert job.status == "failed" and elapsed < 5

    worker_factory()
    retry = client.post(reverse("api-import-retry", args=[job.pk]))
    assert retry.status_code == 202, retry.content
    done = wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).first(),
        what="the worker to run the retried import",
    )
    print(f"\nimport 503 with the broker down: {elapsed:.2f} s; retried job {job.pk} ended {done.status}")
    assert done.status == "done", done.error
    assert done.accepted == len(series.files) == Instance.objects.filter(series__case__study=study).count()
