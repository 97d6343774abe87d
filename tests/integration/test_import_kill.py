"""Nothing identified left behind when the worker dies mid-import (#22 point 3), with the real Redis broker and real
worker processes: an import whose Celery worker is SIGKILLed part-way (0 < files done < total) is noticed by the
job sweep (no heartbeat for JOB_HEARTBEAT_TIMEOUT_SECONDS) and

- queued again and finished by another worker (JOB_MAX_REQUEUES = 1, the default), or
- failed with a message that says so (JOB_MAX_REQUEUES = 0: the sweep gives up on it);

either way the dead run's temporary folder (the extracted, identified zip) is removed by the import sweep as soon as
the bound has passed, and once the job has ended the sweep removes the de-identified files the dead run wrote but
never recorded (studies.services.import_stored). The identified upload goes when the job ends done; a failed job's
upload is kept for Retry for IMPORT_ORPHAN_MAX_AGE_SECONDS counted from the failure, then removed by the import sweep
(Retry then asks for a new upload). Celery's own redelivery is put out of reach (a visibility timeout of an hour), so
the sweep alone acts.
"""

from __future__ import annotations

import io
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from pydicom import dcmread

from studies import tasks
from studies.models import ImportJob, Instance
from studies.services.import_jobs import retry_refused
from tests import factories as f
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BOUND = 3  # seconds without a heartbeat before the sweep acts (5 minutes in production)
SUBJECTS, SLICES = 240, 12  # 2,880 files: the import is still running when it is killed (about 10 s here)


@pytest.fixture(scope="module")
def big_zip(tmp_path_factory) -> tuple[Path, int]:
    """A zip of SUBJECTS patients' sagittal series (identified: name, ID, birth date), SLICES small images each."""
    path = tmp_path_factory.mktemp("scans") / "scans.zip"
    pixels = np.random.default_rng(3).integers(100, 900, size=(48, 48)).astype(np.uint16)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for s in range(SUBJECTS):
            series_uid = f"1.2.826.0.1.3680043.8.498.77.{s}"
            for i in range(SLICES):
                ds = dcmread(
                    io.BytesIO(
                        f.dicom_bytes(
                            pixels,
                            sop_uid=f"{series_uid}.{i}",
                            series_uid=series_uid,
                            position_x=4.0 * i,
                            instance_number=i + 1,
                        )
                    )
                )
                ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.78.{s}"
                ds.PatientID, ds.PatientName, ds.PatientBirthDate = f"MRN{s:05d}", f"Doe^Jane{s}", "19500101"
                out = io.BytesIO()
                ds.save_as(out, enforce_file_format=True)
                zf.writestr(f"MRN{s:05d}/IM{i + 1:04d}.dcm", out.getvalue())
    return path, SUBJECTS * SLICES


@pytest.fixture
def worker_tmp(tmp_path, monkeypatch):
    """The workers' temporary directory (TMPDIR), private to this test; the sweep run here looks at it too."""
    folder = tmp_path / "worker-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _env(worker_tmp: Path) -> dict[str, str]:
    return {
        "TMPDIR": str(worker_tmp),
        "VBQ_JOB_HEARTBEAT_TIMEOUT_SECONDS": str(BOUND),
        "CELERY_VISIBILITY_TIMEOUT": "3600",  # no redelivery by Celery within the test
        "VBQ_IMPORT_PROCESSES": "1",  # one forked helper: a realistic import that leaves the other core free
    }


def _start_import(client, big_zip) -> tuple[ImportJob, Path]:
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    with open(big_zip[0], "rb") as fh:
        response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": fh})
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    return job, Path(job.source)


def _kill_midway(
    worker, job: ImportJob, worker_tmp: Path, after: int = 1, stored: int = 0
) -> tuple[float, list[Path], int]:
    """SIGKILL ``worker`` once the job reports progress (after <= done < total) and has written ``stored``
    de-identified files; the kill time and what it left.

    Progress counts inspecting the files for its first half and storing them for its second. The job row's
    progress is written at most once a second, and storing 1,440 files can take about that long on a quiet
    machine, so "killed while storing" is watched in the storage folder itself, not in the job row.
    """
    folder = Path(settings.MEDIA_ROOT) / "dicom" / f"study-{job.study_id}"

    def midway() -> bool:
        if not ImportJob.objects.filter(pk=job.pk, status="running", done__gte=after).exists():
            return False
        return not stored or sum(1 for p in folder.rglob("*.dcm") if p.is_file()) >= stored

    try:
        wait_for(midway, timeout=120, interval=0.05, what="the import to report progress")
    except AssertionError:
        job.refresh_from_db()
        raise AssertionError((job.status, job.done, job.total, job.error, job.heartbeat_at)) from None
    worker.kill()
    killed_at = time.monotonic()
    job.refresh_from_db()
    assert job.status == "running" and 0 < job.done < job.total, (job.status, job.done, job.total, job.error)
    left = sorted(worker_tmp.glob("vbq-import-*"))
    assert left and any(p.is_file() for p in left[0].rglob("*.dcm")), "the dead run left no extracted files?"
    return killed_at, left, job.done


def _sweep_until(predicate, what: str, timeout: float):
    """The import-sweep beat task (stuck jobs, then leftovers), run every 0.2 s here instead of every minute."""
    results: list[dict] = []

    def step():
        results.append(tasks.import_sweep())
        return predicate(results)

    wait_for(step, timeout=timeout, what=what)
    return results


def test_a_sigkilled_import_is_requeued_finished_and_leaves_nothing_identified(
    worker_factory, client, settings, worker_tmp, big_zip
):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = BOUND
    first = worker_factory(**_env(worker_tmp))
    job, upload = _start_import(client, big_zip)
    # killed while storing: some series recorded, files of others written but not recorded yet
    killed_at, dead_folders, done_at_kill = _kill_midway(first, job, worker_tmp, stored=100)
    assert upload.exists()  # the job is not over: its upload is needed to run it again
    worker_factory(**_env(worker_tmp))

    results = _sweep_until(
        lambda rs: any(job.pk in r["requeued"] for r in rs) and not any(p.exists() for p in dead_folders),
        "the sweep to requeue the import and remove the dead run's folder",
        timeout=BOUND + 30,
    )
    cleaned = time.monotonic() - killed_at
    assert sum(job.pk in r["requeued"] for r in results) == 1
    wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).exists(),
        timeout=180,
        what="the second worker to finish the import",
    )
    finished = time.monotonic() - killed_at
    job.refresh_from_db()
    print(
        f"\nkilled at {done_at_kill}/{job.total} (progress units); requeued and the dead run's folder removed "
        f"{cleaned:.1f} s after the kill (bound {BOUND} s); done {finished:.1f} s after the kill"
    )
    assert job.status == "done", job.error
    assert (job.requeues, job.total) == (1, big_zip[1])
    assert job.accepted + job.skipped == big_zip[1] and job.rejected == 0
    assert Instance.objects.filter(series__case__study=job.study).count() == big_zip[1]  # each image once
    assert cleaned < BOUND + 5  # the first sweeps after the bound (slack for a loaded machine)
    assert not list(worker_tmp.iterdir())  # no temporary folder of either run
    assert not upload.exists()  # the identified upload went with the finished job
    folder = Path(settings.MEDIA_ROOT) / "dicom" / f"study-{job.study_id}"
    stored = {p for p in folder.rglob("*") if p.is_file()}
    recorded = {Path(i.file.path) for i in Instance.objects.filter(series__case__study=job.study)}
    assert recorded <= stored and len(recorded) == big_zip[1]
    # the dead run's de-identified files written but not yet recorded: the import sweep removes them (the job has
    # ended and they are older than the bound: the job was requeued only after that much silence)
    swept = tasks.import_sweep()
    left = {p for p in folder.rglob("*") if p.is_file()}
    print(f"de-identified files in storage: {len(stored)}; recorded: {len(recorded)}; swept: {swept['removed']}")
    assert left == recorded  # no orphan file remains, no recorded one went
    assert swept["removed"] == len(stored - recorded)


def test_a_sigkilled_import_the_sweep_gives_up_on_keeps_its_upload_for_retry_then_removes_it(
    worker_factory, client, settings, worker_tmp, big_zip
):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS, settings.JOB_MAX_REQUEUES = BOUND, 0
    worker = worker_factory(**_env(worker_tmp))
    job, upload = _start_import(client, big_zip)
    killed_at, dead_folders, _ = _kill_midway(worker, job, worker_tmp)

    _sweep_until(
        lambda rs: any(job.pk in r["failed"] for r in rs) and not any(p.exists() for p in dead_folders),
        "the sweep to fail the import and remove the dead run's folder",
        timeout=BOUND + 30,
    )
    assert time.monotonic() - killed_at < BOUND + 5  # the first sweeps after the bound (slack for a loaded machine)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == f"The worker running this import stopped (no sign of life for {BOUND} seconds); run it again."
    assert not list(worker_tmp.iterdir())  # nothing extracted is left
    folder = Path(settings.MEDIA_ROOT) / "dicom" / f"study-{job.study_id}"
    recorded = {Path(i.file.path) for i in Instance.objects.filter(series__case__study=job.study)}
    assert {p for p in folder.rglob("*") if p.is_file()} == recorded  # nothing stored and unrecorded is left
    # the upload is kept for Retry, for IMPORT_ORPHAN_MAX_AGE_SECONDS counted from the failure
    assert upload.exists() and retry_refused(job) is None
    failed_at = upload.stat().st_mtime
    keep = settings.IMPORT_ORPHAN_MAX_AGE_SECONDS
    assert time.time() - failed_at < BOUND + 5
    assert tasks.import_sweep()["removed"] == 0 and upload.exists()
    from studies.services.dicom_import import import_orphans_sweep

    assert import_orphans_sweep(now=failed_at + keep - 60) == [] and upload.exists()  # a minute before
    assert import_orphans_sweep(now=failed_at + keep + 1) == [str(upload)]  # the keep time has passed
    assert not upload.exists()
    retry = client.post(reverse("api-import-retry", args=[job.pk]))
    assert retry.status_code == 400 and "no longer kept" in retry.content.decode()
