"""The snapshot zip built by a real Celery worker on the real Redis broker (#20 point 5): the PI's POST answers at
once (202, queued), the state reports the job's progress while the worker builds, and the download then serves the
stored file. The request itself draws no figure."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from django.urls import reverse

from analytics.models import SnapshotJob
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_builds_the_snapshot_with_progress_and_the_stored_zip_is_served(worker_factory, client, world):
    worker_factory()
    client.force_login(world.pi)
    state_url = reverse("api-analytics-snapshot", kwargs={"study_id": world.study.pk})
    started = time.monotonic()
    response = client.post(state_url)
    answered = time.monotonic() - started
    assert response.status_code == 202 and response.json()["status"] == "queued", response.content
    seen: list[tuple[str, int]] = []

    def ready():
        body = client.get(state_url).json()
        if not seen or seen[-1] != (body["status"], body["percent"]):
            seen.append((body["status"], body["percent"]))
        return body if body["status"] == "ready" else None

    body = wait_for(ready, timeout=180, interval=0.1, what="the worker to build the snapshot")
    built = time.monotonic() - started
    print(f"\nPOST answered in {answered:.2f} s; built by the worker in {built:.1f} s; states seen: {seen}")
    assert {status for status, _ in seen} <= {"queued", "running", "ready"}
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    job = SnapshotJob.objects.get()
    assert (job.status, job.done, job.total, job.requeues) == ("done", 1000, 1000, 0)
    download = client.get(body["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert json.loads(archive.read("manifest.json"))["inputs_hash"] == body["inputs_hash"]
    assert client.post(state_url).status_code == 200 and SnapshotJob.objects.count() == 1  # current: no new job
