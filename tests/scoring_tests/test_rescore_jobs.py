"""No rescore job stuck (#22): the claim, heartbeats, the job sweep and 503 when the broker is down."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scoring import services, tasks
from scoring.models import RescoreJob, RoiScore
from vbqsite.queue import QUEUE_DOWN

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    calls: list[tuple] = []

    def send(job):
        calls.append((job.study_id, job.force, job.pk))
        return True

    monkeypatch.setattr(services, "_rescore_send", send)
    return calls


def _job(world, status: str, *, silent_for: float, force: bool = False) -> RescoreJob:
    job = RescoreJob.objects.create(study=world.study, status=status, force=force)
    ago = timezone.now() - timedelta(seconds=silent_for)
    RescoreJob.objects.filter(pk=job.pk).update(heartbeat_at=ago, created_at=ago)
    job.refresh_from_db()
    return job


def test_a_killed_rescore_is_queued_again_with_its_arguments_once_then_failed(world, sent):
    job = _job(world, "running", silent_for=301, force=True)
    assert tasks.rescore_jobs_sweep() == {"requeued": [job.pk], "failed": []}
    assert sent == [(world.study.pk, True, job.pk)]
    job.refresh_from_db()
    assert (job.status, job.requeues) == ("queued", 1)
    RescoreJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=6))
    assert tasks.rescore_jobs_sweep() == {"requeued": [], "failed": [job.pk]}
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "The worker running this rescore stopped (no sign of life for 5 minutes); run it again."


def test_live_and_finished_rescores_are_left_alone(world, sent):
    for status, silent in (("running", 20), ("queued", 30), ("done", 9999), ("failed", 9999)):
        _job(world, status, silent_for=silent)
    assert tasks.rescore_jobs_sweep() == {"requeued": [], "failed": []} and sent == []


def test_the_requeued_job_runs_and_a_duplicate_message_is_skipped(world):
    job = _job(world, "running", silent_for=400)  # its worker died mid-run
    started = timezone.now()
    result = services.study_rescore(study_id=world.study.pk, job_id=job.pk)
    assert result["job"] == job.pk and "skipped" not in result
    job.refresh_from_db()
    assert job.status == "done" and job.heartbeat_at >= started - timedelta(seconds=1)
    assert RoiScore.objects.filter(roi__read__study=world.study).count() == 2
    assert services.study_rescore(study_id=world.study.pk, job_id=job.pk)["skipped"]  # done: not run again
    live = _job(world, "running", silent_for=5)
    assert services.study_rescore(study_id=world.study.pk, job_id=live.pk)["skipped"]  # running elsewhere
    live.refresh_from_db()
    assert live.status == "running"


def test_rescore_answers_503_quickly_when_the_broker_is_down_and_the_job_is_failed(world, client, broker_down):
    client.force_login(world.pi)
    started = time.monotonic()
    response = client.post(reverse("api-study-rescore", args=[world.study.pk]), {"force": True}, "application/json")
    elapsed = time.monotonic() - started
    print(f"\nrescore 503 with the broker down (connection refused): {elapsed:.2f} s")
    assert response.status_code == 503 and elapsed < 5
    assert response.json()["detail"] == QUEUE_DOWN
    job = RescoreJob.objects.get(pk=response.json()["job"]["id"])
    assert job.status == "failed" and job.error == QUEUE_DOWN and job.force
    progress = client.get(reverse("api-study-rescore", args=[world.study.pk])).json()
    assert progress["status"] == "failed" and progress["error"] == QUEUE_DOWN
