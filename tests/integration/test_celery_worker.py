"""Tasks go through the real Redis broker to a real worker process and change the database."""

from __future__ import annotations

import pytest

from scoring.models import RoiScore
from studies.models import WorkerHeartbeat
from studies.tasks import worker_heartbeat
from tests import factories as f
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_runs_a_task_and_writes_the_database(worker_factory):
    worker_factory()
    worker_heartbeat.delay("integration-test-host")
    hb = wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname="integration-test-host").first(),
        what="the worker to record its heartbeat",
    )
    assert hb.seen_at is not None


def test_saved_roi_is_scored_by_the_worker(worker_factory):
    worker_factory()
    pi, reader = f.make_user(), f.make_user()
    study = f.make_study(pi)
    f.add_member(study, reader)
    case = f.make_case(study, "W-001")  # pixel value = 100 + col on slice 0
    read = f.make_read(case, reader)
    roi = f.make_roi(read, "L1", shape="rectangle", points_px=[[10, 10], [20, 10], [10, 20], [20, 20]])
    score = wait_for(
        lambda: RoiScore.objects.filter(roi=roi, roi_version=roi.version).first(),
        what="the ROI to be scored by the worker",
    )
    assert score.n == 121
    assert score.mean == pytest.approx(115.0, abs=1e-12)


def test_an_import_job_runs_in_the_worker_with_its_own_worker_processes(worker_factory, tmp_path):
    """The Celery worker forks the import's worker processes; the job ends with every file stored."""
    from studies.demo import phantom
    from studies.models import ImportJob, Instance
    from studies.services.dicom_import import import_job_create

    subject = phantom.demo_cohort()[0]
    phantom.make_phantom_series(subject, out_dir=tmp_path / "scan", rng_seed=2)
    worker_factory(VBQ_IMPORT_PROCESSES="2", VBQ_IMPORT_PARALLEL_MIN_FILES="1")
    pi = f.make_user()
    study = f.make_study(pi)
    job = import_job_create(study=study, user=pi, source=tmp_path / "scan")
    done = wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).first(),
        what="the import job to finish in the worker",
    )
    assert done.status == "done", done.error
    assert done.accepted == 13 and done.rejected == 0
    assert Instance.objects.filter(series__case__study=study).count() == 13


def test_a_rekey_job_runs_in_the_worker(worker_factory):
    """The PI's re-keying is queued by the request and run by the worker: new codes, every file rewritten."""
    from pydicom import dcmread

    from studies.models import Case, Instance, RekeyJob
    from studies.services.subject_rekey import rekey_job_create

    worker_factory()
    pi = f.make_user()
    study = f.make_study(pi)
    for code in ("S001", "S002"):
        f.make_case(study, code, n_slices=3)
    job = rekey_job_create(study=study, user=pi)
    done = wait_for(
        lambda: RekeyJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).first(),
        what="the re-keying job to finish in the worker",
    )
    assert done.status == "done", done.error
    assert (done.done, done.total, done.cases) == (6, 6, 2)
    assert not Case.objects.filter(subject_code__in=["S001", "S002"]).exists()
    for inst in Instance.objects.filter(series__case__study=study).select_related("series__case"):
        assert dcmread(inst.file.path).PatientID == inst.series.case.subject_code
