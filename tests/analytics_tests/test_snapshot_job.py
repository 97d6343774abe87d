"""The snapshot zip is built by a job with progress; the download serves the stored file (#20 point 5).

API per role (PI builds and downloads; readers, outsiders 403/404), the job's progress, invalidation when the
data change (the inputs digest of the dashboard sections), the queue down (503), a build queued but not run yet
(the exports tab shows "Building the snapshot… n %"), and a stuck build swept. In-process (no broker) the job runs
inside the request, as in the demo; a real worker: tests/integration/test_snapshot_worker.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from analytics import snapshot, snapshot_jobs, tasks
from analytics.models import SnapshotJob
from tests import factories as f
from vbqsite.queue import QUEUE_DOWN

pytestmark = pytest.mark.django_db


def _urls(study_id: int) -> tuple[str, str]:
    return (
        reverse("api-analytics-snapshot", kwargs={"study_id": study_id}),
        reverse("api-analytics-snapshot-zip", kwargs={"study_id": study_id}),
    )


@pytest.fixture
def queued(monkeypatch):
    """Studies whose snapshot task was sent to the broker (nothing runs: a busy worker)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.study_snapshot_build, "delay", lambda study_id: sent.append(study_id))
    return sent


@pytest.mark.parametrize(
    ("role", "expected"),
    [("reader", 403), ("other_reader", 403), ("outsider", 404), ("admin", 404), ("anon", 401)],
)
def test_only_the_pi_builds_or_downloads_the_snapshot(world, client, role, expected):
    if role != "anon":
        client.force_login(getattr(world, role))
    state_url, zip_url = _urls(world.study.pk)
    assert client.get(state_url).status_code == expected
    assert client.post(state_url).status_code == expected
    assert client.get(zip_url).status_code == expected
    assert not SnapshotJob.objects.exists()


def test_the_pi_builds_in_process_and_downloads_the_stored_file(world, client):
    client.force_login(world.pi)
    state_url, zip_url = _urls(world.study.pk)
    before = client.get(state_url).json()
    assert (before["status"], before["percent"], before["download_url"]) == ("none", 0, None)
    assert client.get(zip_url).status_code == 409  # nothing built: no build started by a download either
    response = client.post(state_url)  # no broker: the job runs inside the request
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["percent"], body["download_url"]) == ("ready", 100, zip_url)
    job = SnapshotJob.objects.get()
    assert (job.status, job.done, job.total, job.created_by) == ("done", 1000, 1000, world.pi)
    download = client.get(zip_url)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    content = b"".join(download.streaming_content)
    row = snapshot.snapshot_row(world.study)
    with default_storage.open(row.result["path"], "rb") as fh:
        assert content == fh.read()  # the stored file, as it is
    assert body["sha256"] == row.result["sha256"] and body["size"] == len(content)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(content)).read("manifest.json"))
    assert manifest["inputs_hash"] == body["inputs_hash"]
    assert client.post(state_url).status_code == 200 and SnapshotJob.objects.count() == 1  # current: no new job


def test_a_change_of_the_data_makes_the_stored_zip_stale_until_it_is_built_again(world, client):
    client.force_login(world.pi)
    state_url, zip_url = _urls(world.study.pk)
    first = client.post(state_url).json()
    exports = reverse("analytics-exports", kwargs={"study_id": world.study.pk})
    assert "data-snapshot-download" in client.get(exports).content.decode()
    f.make_case(world.study, "VBQ-002")  # a new case: the snapshot's inputs changed
    assert client.get(state_url).json()["status"] == "none"
    assert client.get(zip_url).status_code == 409
    page = client.get(exports).content.decode()
    assert "data-snapshot-download" not in page and "The data changed since the last snapshot" in page
    again = client.post(state_url).json()
    assert (
        again["status"] == "ready"
        and again["sha256"] != first["sha256"]
        and again["inputs_hash"] != first["inputs_hash"]
    )
    assert not default_storage.exists(f"analytics/study-{world.study.pk}/snapshot-{first['sha256'][:24]}.zip")


def test_the_build_reports_its_progress(world):
    fractions: list[float] = []
    record = snapshot.study_snapshot_build(study_id=world.study.pk, progress=fractions.append)
    assert record["sha256"]
    # the analyses, the data files, each figure drawn, then the rest (tables, methods, zip)
    assert fractions[:2] == [0.15, 0.25] and fractions == sorted(fractions) and fractions[-1] <= 0.9
    n_figures = sum(
        bool(v) for r in world.study.analyses.exclude(section="snapshot") for v in r.result.get("figures", {}).values()
    )
    assert len(fractions) == 2 + n_figures
    fractions.clear()
    snapshot.study_snapshot_build(study_id=world.study.pk, progress=fractions.append)
    assert fractions == []  # current: nothing rebuilt


def test_a_build_queued_for_a_worker_shows_its_progress_on_the_exports_tab(world, client, queued, settings):
    client.force_login(world.pi)
    state_url, _ = _urls(world.study.pk)
    response = client.post(state_url)
    assert response.status_code == 202 and response.json()["status"] == "queued" and queued == [world.study.pk]
    assert client.post(state_url).status_code == 202 and queued == [world.study.pk]  # one build at a time
    job = SnapshotJob.objects.get()
    SnapshotJob.objects.filter(pk=job.pk).update(status="running", done=420, heartbeat_at=timezone.now())
    assert client.get(state_url).json() | {"error": None} == {
        "study": world.study.pk,
        "status": "running",
        "percent": 42,
        "error": None,
        "download_url": None,
    }
    page = client.get(reverse("analytics-exports", kwargs={"study_id": world.study.pk})).content.decode()
    assert "Building the snapshot… 42 %" in page and 'http-equiv="refresh"' in page
    assert "data-snapshot-download" not in page
    # that worker died; the sweep queued the task again and another worker runs it: the same job ends, the link shows
    silent = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS + 1)
    SnapshotJob.objects.filter(pk=job.pk).update(heartbeat_at=silent)
    tasks.study_snapshot_build.run(world.study.pk)
    job.refresh_from_db()
    assert (job.status, job.percent) == ("done", 100)
    page = client.get(reverse("analytics-exports", kwargs={"study_id": world.study.pk})).content.decode()
    assert "data-snapshot-download" in page and "Building the snapshot" not in page


def test_a_duplicate_task_does_not_run_a_live_build_twice(world, queued):
    state = snapshot_jobs.snapshot_build_request(world.study)
    assert state.status == "queued"
    job = SnapshotJob.objects.get()
    SnapshotJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    assert tasks.study_snapshot_build.run(world.study.pk) == {}  # taken by a live worker
    assert SnapshotJob.objects.get().status == "running" and snapshot.snapshot_row(world.study) is None


def test_the_queue_down_answers_503_and_the_job_is_failed(world, client, monkeypatch):
    def refuse(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.study_snapshot_build, "delay", refuse)
    client.force_login(world.pi)
    state_url, _ = _urls(world.study.pk)
    response = client.post(state_url)
    assert response.status_code == 503 and response.json()["detail"] == QUEUE_DOWN
    assert SnapshotJob.objects.get().status == "failed"
    body = client.get(state_url).json()
    assert (body["status"], body["error"]) == ("failed", QUEUE_DOWN)
    page = client.get(reverse("analytics-snapshot", kwargs={"study_id": world.study.pk}), follow=True)
    assert QUEUE_DOWN in page.content.decode()


def test_a_build_whose_worker_died_is_swept_or_replaced(world, client, queued, settings):
    snapshot_jobs.snapshot_build_request(world.study)
    job = SnapshotJob.objects.get()
    silent = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS + 1)
    SnapshotJob.objects.filter(pk=job.pk).update(status="running", done=300, heartbeat_at=silent)
    assert tasks.snapshot_jobs_sweep() == {"requeued": [job.pk], "failed": []}
    assert queued == [world.study.pk, world.study.pk]
    job.refresh_from_db()
    assert (job.status, job.requeues) == ("queued", 1)
    # silent again, and the PI asks: a new build replaces the dead one at once
    SnapshotJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=silent)
    client.force_login(world.pi)
    assert client.post(_urls(world.study.pk)[0]).status_code == 202
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("The worker running this snapshot stopped")
    assert SnapshotJob.objects.filter(status="queued").count() == 1 and len(queued) == 3
    assert "snapshot-jobs-sweep" in settings.CELERY_BEAT_SCHEDULE
