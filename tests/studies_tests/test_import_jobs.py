"""No import job stuck (#22): heartbeats, the job sweep, 503 when the broker is down, and Retry (page and API)."""

from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studies import tasks
from studies.models import ImportJob
from studies.services import import_jobs
from studies.services.dicom_import import import_job_run, uploads_dir
from tests import factories as f
from vbqsite import jobs
from vbqsite.queue import QUEUE_DOWN

pytestmark = pytest.mark.django_db

STOPPED = "The worker running this import stopped (no sign of life for 5 minutes); run it again."


@pytest.fixture
def sent(monkeypatch):
    """The import jobs sent to the broker (nothing runs)."""
    calls: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", lambda job_id: calls.append(job_id) or True)
    return calls


def _upload(name: str = "scan") -> str:
    path = uploads_dir() / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", b"not a DICOM file")
    return str(path)


def _job(status: str, *, silent_for: float, requeues: int = 0, source: str | None = None) -> ImportJob:
    study = f.make_study()
    job = ImportJob.objects.create(study=study, created_by=study.created_by, source=source or _upload(), status=status)
    ago = timezone.now() - timedelta(seconds=silent_for)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=ago, created_at=ago, requeues=requeues)
    job.refresh_from_db()
    return job


# --------------------------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------------------------


def test_a_running_import_without_a_heartbeat_is_queued_again_once_then_failed(sent):
    job = _job("running", silent_for=301)
    assert job.stuck
    result = tasks.import_sweep()
    assert result["requeued"] == [job.pk] and sent == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.requeues) == ("queued", 1)
    assert timezone.now() - job.heartbeat_at < timedelta(seconds=5) and not job.stuck
    # the requeued run dies too: no sign of life for 5 minutes again
    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=6))
    result = tasks.import_sweep()
    assert result["failed"] == [job.pk] and sent == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and job.error == STOPPED and job.finished_at is not None
    assert tasks.import_sweep()["failed"] == []  # settled


def test_live_finished_and_fresh_jobs_are_left_alone(sent):
    live = _job("running", silent_for=30)
    fresh = _job("queued", silent_for=60)
    done = _job("done", silent_for=3600)
    failed = _job("failed", silent_for=3600)
    assert tasks.import_sweep()["requeued"] == [] and sent == []
    for job in (live, fresh, done, failed):
        before = job.status
        job.refresh_from_db()
        assert job.status == before and job.requeues == 0


def test_a_queued_import_never_picked_up_is_queued_again_then_failed(sent, settings):
    job = _job("queued", silent_for=601)
    for attempt in range(1, settings.JOB_QUEUED_MAX_REQUEUES + 1):
        assert tasks.import_sweep()["requeued"] == [job.pk]
        job.refresh_from_db()
        assert (job.status, job.requeues) == ("queued", attempt)
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert tasks.import_sweep()["failed"] == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("No worker picked this import up (queued 4 times")
    assert len(sent) == settings.JOB_QUEUED_MAX_REQUEUES


def test_the_bound_is_a_setting(sent, settings, tmp_path, monkeypatch):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS, settings.JOB_MAX_REQUEUES = 3, 0
    # the sweep also removes import folders untouched for 3 s: this test's own temporary directory, not other runs'
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = _job("running", silent_for=4)
    assert tasks.import_sweep()["failed"] == [job.pk]
    job.refresh_from_db()
    assert job.error == "The worker running this import stopped (no sign of life for 3 seconds); run it again."
    assert "import-sweep" in settings.CELERY_BEAT_SCHEDULE and "rescore-jobs-sweep" in settings.CELERY_BEAT_SCHEDULE


def test_a_failed_jobs_upload_is_removed_by_the_import_sweep_when_old(sent, settings):
    job = _job("failed", silent_for=10)
    old = time.time() - settings.IMPORT_ORPHAN_MAX_AGE_SECONDS - 60
    os.utime(job.source, (old, old))
    assert tasks.import_sweep()["removed"] == 1
    assert not os.path.exists(job.source)


# --------------------------------------------------------------------------------------------------------------
# Claim and heartbeat
# --------------------------------------------------------------------------------------------------------------


def test_a_duplicate_message_does_not_run_a_live_or_failed_job_nor_remove_its_upload():
    for status in ("running", "failed", "done"):
        job = _job(status, silent_for=10)
        assert import_job_run(job_id=job.pk).status == status
        assert (uploads_dir() / job.source).exists()


def test_a_run_claims_the_job_beats_and_removes_the_upload():
    job = _job("running", silent_for=400)  # its worker died: the redelivered message takes it over
    before = timezone.now()
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.rejected == 1
    assert job.heartbeat_at >= before - timedelta(seconds=1)
    assert not (uploads_dir() / job.source).exists()


def test_extracting_a_zip_keeps_the_job_alive():
    from studies.services.dicom_import import dicom_import_run

    ticks: list[int] = []
    dicom_import_run(study=f.make_study(), source=Path(_upload()), alive=lambda: ticks.append(1))
    assert ticks  # one per chunk written: a long extraction is not taken for a dead worker


def test_heartbeats_are_written_at_most_once_a_second():
    job = _job("running", silent_for=0)
    beat = jobs.Heartbeat(ImportJob, job.pk)
    with CaptureQueriesContext(connection) as queries:
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            beat(done=1, total=2)
    writes = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert 2 <= len(writes) <= 3
    beat(force=True, done=2, total=2)
    job.refresh_from_db()
    assert (job.done, job.total) == (2, 2)


# --------------------------------------------------------------------------------------------------------------
# Broker down: 503, the job failed (not left queued); Retry
# --------------------------------------------------------------------------------------------------------------


def _zip_upload() -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", b"not a DICOM file")
    buf.seek(0)
    buf.name = "export.zip"
    return buf


def test_api_import_answers_503_quickly_when_the_broker_is_down_and_retry_queues_the_same_job(client, broker_down):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    started = time.monotonic()
    response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": _zip_upload()})
    elapsed = time.monotonic() - started
    print(f"\n503 with the broker down (connection refused): {elapsed:.2f} s")
    assert response.status_code == 503, response.content
    assert elapsed < 5
    assert response.json()["detail"] == QUEUE_DOWN
    job = ImportJob.objects.get(pk=response.json()["job"]["id"])
    assert job.status == "failed" and job.error == QUEUE_DOWN
    assert (uploads_dir() / job.source).exists()  # nothing was lost
    retry = reverse("api-import-retry", args=[job.pk])
    assert client.post(retry).status_code == 503  # still down: still failed
    job.refresh_from_db()
    assert job.status == "failed"


def test_a_broker_that_accepts_but_never_answers_gives_503_within_seconds(client, settings):
    """A half-dead broker (TCP accepted, no reply) must not hang the request: the broker socket timeouts
    (CELERY_BROKER_TRANSPORT_OPTIONS) bound it (about 3 s; 87 s before them, until the peer went away)."""
    import socket

    from vbqsite.celery import app

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the kernel; nobody ever reads or answers
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._pool, app.amqp._producer_pool = None, None
    try:
        pi = f.make_user()
        study = f.make_study(pi)
        client.force_login(pi)
        started = time.monotonic()
        response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": _zip_upload()})
        elapsed = time.monotonic() - started
    finally:
        app.conf.update(saved)
        app._pool, app.amqp._producer_pool = None, None
        silent.close()
    print(f"\n503 with a broker that never answers: {elapsed:.2f} s")
    assert response.status_code == 503 and elapsed < 10
    assert ImportJob.objects.get(study=study).status == "failed"


def test_api_retry_runs_the_same_job_once_the_broker_is_back(client):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    job = ImportJob.objects.create(study=study, created_by=pi, source=_upload(), status="failed", error=QUEUE_DOWN)
    response = client.post(reverse("api-import-retry", args=[job.pk]))
    assert response.status_code == 202, response.content
    job.refresh_from_db()  # in-process task: already run
    assert job.status == "done" and job.rejected == 1 and job.error == ""
    assert not (uploads_dir() / job.source).exists()
    again = client.post(reverse("api-import-retry", args=[job.pk]))
    assert again.status_code == 400 and "finished" in again.json()["detail"]


def test_api_retry_says_the_file_must_be_uploaded_again_when_it_is_gone(client):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    job = ImportJob.objects.create(study=study, created_by=pi, source="/nonexistent/x.zip", status="failed")
    response = client.post(reverse("api-import-retry", args=[job.pk]))
    assert response.status_code == 400 and "upload it again" in response.json()["detail"]
    running = ImportJob.objects.create(study=study, created_by=pi, source=_upload(), status="running")
    ImportJob.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now())
    response = client.post(reverse("api-import-retry", args=[running.pk]))
    assert response.status_code == 400 and "still queued or running" in response.json()["detail"]


def test_page_import_answers_503_and_lists_the_failed_job_with_retry(client, broker_down):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    started = time.monotonic()
    response = client.post(reverse("study-imports", args=[study.pk]), {"file": _zip_upload()})
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    page = response.content.decode()
    assert "The job queue is not reachable; nothing was lost" in page
    job = ImportJob.objects.get(study=study)
    assert job.status == "failed"
    assert reverse("study-import-retry", args=[study.pk, job.pk]) in page and ">Retry</button>" in page


def test_page_retry_queues_the_job_again_or_says_to_upload_again(client):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    job = ImportJob.objects.create(study=study, created_by=pi, source=_upload(), status="failed", error=QUEUE_DOWN)
    detail = client.get(reverse("study-import-detail", args=[study.pk, job.pk])).content.decode()
    assert ">Retry</button>" in detail
    response = client.post(reverse("study-import-retry", args=[study.pk, job.pk]), follow=True)
    assert response.status_code == 200 and f"Import #{job.pk} is queued again." in response.content.decode()
    job.refresh_from_db()
    assert job.status == "done"
    response = client.post(reverse("study-import-retry", args=[study.pk, job.pk]), follow=True)
    assert "This import has finished" in response.content.decode()
    gone = ImportJob.objects.create(study=study, created_by=pi, source="/nonexistent/y.zip", status="failed")
    response = client.post(reverse("study-import-retry", args=[study.pk, gone.pk]), follow=True)
    assert "upload it again" in response.content.decode()


def test_a_stuck_job_shows_retry_on_the_job_list(client):
    job = _job("running", silent_for=400)
    client.force_login(job.created_by)
    page = client.get(reverse("study-imports", args=[job.study_id])).content.decode()
    assert "(no sign of life)" in page and ">Retry</button>" in page
