"""Re-keying as a job (issue #15): the request queues it (202 / back to the page), a worker rewrites the files.

Without a broker (the tests) the task runs in the request, as Celery's eager mode does; the broker-down tests
point Celery at a closed port.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from pydicom import dcmread

from studies.models import AuditEvent, Case, ImportJob, Instance, Read, RekeyJob
from studies.services import subject_rekey
from studies.services.dicom_import import dicom_import_run, import_job_create
from studies.services.import_stored import orphan_candidate_studies, stored_orphans_sweep
from studies.services.subject_rekey import (
    REKEY_RUNNING,
    STUDY_CHANGED,
    RekeyRefused,
    rekey_job_run,
    rekey_jobs_sweep,
    subject_codes_rekey,
)
from tests import factories as f
from vbqsite.queue import QUEUE_DOWN

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(db):
    """Three cases of two slices each, no reads yet; a reader member."""
    study = f.make_study(f.make_user("pi"), name="Re-key study")
    for code in ("S001", "S002", "S003"):
        f.make_case(study, code, n_slices=2)
    f.add_member(study, f.make_user("reader"))
    return study


def _state(study):
    """Codes, and per instance its file name, digest and the file's bytes: what must not change on a failure."""
    codes = sorted(Case.objects.filter(study=study).values_list("subject_code", flat=True))
    files = {i.pk: (i.file.name, i.sha256, Path(i.file.path).read_bytes()) for i in Instance.objects.all()}
    return codes, files


def _subject_folders(study) -> list[str]:
    return sorted(p.name for p in Path(Instance.objects.first().file.path).parents[2].iterdir())


# --------------------------------------------------------------------------------------------- API


def test_api_post_answers_202_and_the_job_rewrites_every_file(client, study, django_capture_on_commit_callbacks):
    client.force_login(study.created_by)
    old_paths = [i.file.path for i in Instance.objects.all()]
    url = reverse("api-study-subject-codes-rekey", args=[study.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 202, response.content
    body = response.json()
    job = RekeyJob.objects.get(pk=body["id"])
    assert job.status == "done" and (job.done, job.total, job.cases) == (6, 6, 3) and not job.error
    assert job.created_by == study.created_by and job.finished_at is not None
    codes = set(Case.objects.filter(study=study).values_list("subject_code", flat=True))
    assert len(codes) == 3 and not codes & {"S001", "S002", "S003"}
    for inst in Instance.objects.select_related("series__case"):
        ds = dcmread(inst.file.path)
        assert ds.PatientID == str(ds.PatientName) == inst.series.case.subject_code
        assert inst.file.name.split("/")[2] == inst.series.case.subject_code
    assert not any(os.path.exists(p) for p in old_paths)
    assert AuditEvent.objects.get(action="subject_codes.rekey").data["job"] == job.pk
    assert AuditEvent.objects.get(action="subject_codes.rekey_queue").data == {"job": job.pk}
    progress = client.get(url).json()
    assert progress["id"] == job.pk and progress["status"] == "done" and progress["done"] == 6


@pytest.mark.parametrize(
    ("role", "post", "get"),
    [("anon", 403, 403), ("outsider", 404, 404), ("reader", 403, 403), ("admin", 404, 404), ("pi", 202, 200)],
)
def test_api_per_role(client, study, role, post, get):
    users = {
        "outsider": f.make_user("outsider"),
        "reader": study.memberships.get(role="reader").user,
        "admin": f.make_user("admin", is_staff=True, is_superuser=True),
        "pi": study.created_by,
    }
    if role != "anon":
        client.force_login(users[role])
    url = reverse("api-study-subject-codes-rekey", args=[study.pk])
    assert client.get(url).status_code in {get, 401}
    assert client.post(url).status_code in {post, 401}
    changed = not Case.objects.filter(subject_code="S001").exists()
    assert changed is (role == "pi")


def test_api_get_before_any_job(client, study):
    client.force_login(study.created_by)
    assert client.get(reverse("api-study-subject-codes-rekey", args=[study.pk])).json() == {"status": "none"}


def test_refusals_answer_409_at_once_and_queue_nothing(client, study):
    client.force_login(study.created_by)
    url = reverse("api-study-subject-codes-rekey", args=[study.pk])
    live = RekeyJob.objects.create(study=study, status="running", heartbeat_at=timezone.now())
    response = client.post(url)
    assert response.status_code == 409 and "already being replaced" in response.json()["detail"]
    live.status = "done"
    live.save()
    job = ImportJob.objects.create(study=study, source="/x.zip", status=ImportJob.Status.QUEUED)
    assert client.post(url).status_code == 409
    job.status = "done"
    job.save()
    f.make_read(Case.objects.first(), study.memberships.get(role="reader").user)
    assert "before the reading plan" in client.post(url).json()["detail"]
    assert RekeyJob.objects.count() == 1 and Case.objects.filter(subject_code="S001").exists()


def test_broker_down_answers_503_the_job_is_failed_and_nothing_changed(client, study, broker_down):
    client.force_login(study.created_by)
    before = _state(study)
    response = client.post(reverse("api-study-subject-codes-rekey", args=[study.pk]))
    assert response.status_code == 503 and response.json()["detail"] == QUEUE_DOWN
    job = RekeyJob.objects.get(pk=response.json()["job"]["id"])
    assert job.status == "failed" and job.error == QUEUE_DOWN
    assert _state(study) == before
    page = client.post(reverse("study-subject-codes-rekey", args=[study.pk]))
    assert page.status_code == 503 and QUEUE_DOWN in page.content.decode()
    assert _state(study) == before and not AuditEvent.objects.filter(action="subject_codes.rekey")
    # a failed job does not block: once the queue is back the PI can start again
    assert subject_rekey.rekey_blocker(study) == ""


# --------------------------------------------------------------------------------------------- page


def test_page_queues_and_shows_the_job(client, study):
    client.force_login(study.created_by)
    response = client.post(reverse("study-subject-codes-rekey", args=[study.pk]))
    assert response.status_code == 302 and response.url == reverse("study-subject-codes", args=[study.pk])
    page = client.get(response.url).content.decode()
    assert "The subject codes are being replaced" in page
    assert 'data-status="done"' in page and "New random codes for 3 case(s); 6 file(s) rewritten" in page
    assert 'http-equiv="refresh"' not in page


def test_page_shows_a_running_job_with_its_progress_and_a_failed_one_with_its_error(client, study):
    client.force_login(study.created_by)
    url = reverse("study-subject-codes", args=[study.pk])
    job = RekeyJob.objects.create(study=study, status="running", done=2, total=6, heartbeat_at=timezone.now())
    page = client.get(url).content.decode()
    assert "2 / 6 files rewritten" in page and 'http-equiv="refresh"' in page
    assert "already being replaced" in page  # why the button is disabled
    job.status, job.error = "failed", STUDY_CHANGED
    job.save()
    page = client.get(url).content.decode()
    assert 'data-status="failed"' in page and "Nothing was changed." in page and "cases or images changed" in page


@pytest.mark.parametrize(("role", "code"), [("outsider", 404), ("reader", 403), ("admin", 404)])
def test_page_refuses_other_roles(client, study, role, code):
    user = study.memberships.get(role="reader").user if role == "reader" else f.make_user(role, is_staff=True)
    client.force_login(user)
    assert client.post(reverse("study-subject-codes-rekey", args=[study.pk])).status_code == code
    assert not RekeyJob.objects.exists() and Case.objects.filter(subject_code="S001").exists()


# --------------------------------------------------------------------------------------------- all or nothing


def test_a_failure_mid_way_fails_the_job_and_changes_nothing(client, study, monkeypatch):
    before = _state(study)
    calls = iter(range(100))

    def flaky(data, code):
        if next(calls) == 3:
            raise OSError("disk full")
        return data

    monkeypatch.setattr(subject_rekey, "_rewritten", flaky)
    client.force_login(study.created_by)
    response = client.post(reverse("api-study-subject-codes-rekey", args=[study.pk]))
    assert response.status_code == 202
    job = RekeyJob.objects.get()
    assert job.status == "failed" and "OSError" in job.error and "nothing was changed" in job.error
    assert _state(study) == before
    assert _subject_folders(study) == ["S001", "S002", "S003"]  # the new files were removed
    assert not AuditEvent.objects.filter(action="subject_codes.rekey")


def test_a_study_changed_while_the_files_were_written_is_not_recorded(study):
    before = _state(study)
    extra = []

    def progress(done, total):
        if done == 2 and not extra:  # e.g. a case added from the command line meanwhile
            extra.append(f.make_case(study, "S009", n_slices=1))

    with pytest.raises(RekeyRefused, match="changed while the codes were being replaced"):
        subject_codes_rekey(study=study, user=study.created_by, progress=progress)
    codes, files = _state(study)
    assert codes == sorted([*before[0], "S009"]) and {k: files[k] for k in before[1]} == before[1]
    assert _subject_folders(study) == ["S001", "S002", "S003", "S009"]


# --------------------------------------------------------------------------------------------- what waits


def test_imports_and_the_reading_plan_wait_while_a_rekey_is_live(client, study, tmp_path):
    RekeyJob.objects.create(study=study, status="queued", heartbeat_at=timezone.now())
    with pytest.raises(ValidationError, match="being replaced"):
        import_job_create(study=study, user=study.created_by, source=tmp_path / "x.zip")
    with pytest.raises(ValidationError, match="being replaced"):
        dicom_import_run(study=study, source=tmp_path)
    assert not ImportJob.objects.exists()
    client.force_login(study.created_by)
    response = client.post(reverse("api-study-plan", args=[study.pk]))
    assert response.status_code == 400 and "being replaced" in str(response.json())
    response = client.post(reverse("study-plan-build", args=[study.pk]), follow=True)
    assert response.status_code == 200 and "being replaced" in response.content.decode()
    assert not Read.objects.exists()
    assert REKEY_RUNNING.startswith("The subject codes of this study are being replaced")


def test_images_a_dicom_node_sent_meanwhile_get_a_job_that_fails_and_can_be_retried(study, tmp_path):
    RekeyJob.objects.create(study=study, status="running", heartbeat_at=timezone.now())
    folder = tmp_path / "received"
    folder.mkdir()
    job = import_job_create(study=study, user=None, source=folder)  # the listener's path: nothing is dropped
    job.refresh_from_db()
    assert job.status == "failed" and "being replaced" in job.error


# --------------------------------------------------------------------------------------------- claim and sweep


def test_the_task_is_idempotent(study):
    job = RekeyJob.objects.create(study=study, heartbeat_at=timezone.now())
    assert rekey_job_run(job_id=job.pk).status == "done"
    codes = sorted(Case.objects.values_list("subject_code", flat=True))
    assert rekey_job_run(job_id=job.pk).status == "done"  # a duplicate message finds it done
    assert sorted(Case.objects.values_list("subject_code", flat=True)) == codes


def test_the_sweep_requeues_a_silent_job_then_fails_it(study, settings):
    settings.JOB_MAX_REQUEUES = 1
    silent = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_SECONDS + 5)
    job = RekeyJob.objects.create(study=study, status="running", heartbeat_at=silent)
    assert rekey_jobs_sweep() == {"requeued": [job.pk], "failed": []}
    job.refresh_from_db()
    assert job.status == "done" and job.requeues == 1  # the eager task ran it again
    other = RekeyJob.objects.create(study=study, status="running", heartbeat_at=silent, requeues=1)
    assert rekey_jobs_sweep() == {"requeued": [], "failed": [other.pk]}
    other.refresh_from_db()
    assert other.status == "failed" and "re-key stopped" in other.error


def test_the_import_sweep_leaves_a_live_rekey_alone_and_cleans_up_after_a_killed_one(study, settings):
    stray = Path(Instance.objects.first().file.path).parents[1] / "unrecorded.dcm"
    stray.write_bytes(b"written by a worker that was killed")
    old = 1_000_000.0
    os.utime(stray, (old, old))
    job = RekeyJob.objects.create(study=study, status="running", heartbeat_at=timezone.now())
    assert stored_orphans_sweep(studies=[study.pk]) == [] and stray.exists()
    job.status, job.requeues, job.finished_at = "failed", 1, timezone.now()
    job.save()
    assert orphan_candidate_studies() == [study.pk]
    assert len(stored_orphans_sweep()) == 1 and not stray.exists()


def test_the_progress_in_chinese(client, study):
    from django.utils import translation

    client.force_login(study.created_by)
    RekeyJob.objects.create(study=study, status="running", done=2, total=6, heartbeat_at=timezone.now())
    with translation.override("zh-hans"):
        page = client.get(reverse("study-subject-codes", args=[study.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = page.content.decode()
    assert "已重写 2 / 6 个文件" in text and "本研究的编码已在替换中" in text


def test_a_recent_rekey_makes_its_study_a_candidate_for_the_import_sweep(study):
    """A worker killed just after the commit leaves the old files (removed after the commit): the sweep looks."""
    RekeyJob.objects.create(study=study, status="done", finished_at=timezone.now())
    assert orphan_candidate_studies() == [study.pk]
    RekeyJob.objects.create(study=study, status="queued")
    assert orphan_candidate_studies() == []  # a live job owns the folder


def test_the_job_errors_in_chinese(study, settings):
    from django.utils import translation

    from vbqsite.jobs import stopped_message

    job = RekeyJob(study=study, status="failed", error=subject_rekey.REKEY_FAILED % {"error": "OSError"})
    with translation.override("zh-hans"):
        assert job.error_shown == "重新编码失败（OSError）；没有做任何更改：请重新运行。"
        job.error = stopped_message("re-key")
        assert "重新编码任务" in job.error_shown
        job.error = STUDY_CHANGED
        assert job.error_shown.startswith("替换编码期间")
