"""DICOM import end to end: good files stored de-identified, bad files reported, nothing partial, re-run a no-op."""

from __future__ import annotations

import io
import os
import re
import signal
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.urls import reverse

from studies.demo import phantom
from studies.models import Case, ImportJob, Instance, Series, SubjectKey
from studies.services.dicom_import import dicom_import_run, import_job_run
from studies.services.subject_keys import decrypt_patient_id
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two phantom subjects (13 slices each) and 18 files an import must turn away or flag."""
    root = tmp_path_factory.mktemp("corpus")
    subjects = phantom.demo_cohort()[:2]
    for s in subjects:
        phantom.make_phantom_series(s, out_dir=root / "scans" / s.subject_code, rng_seed=3)
    expected = phantom.make_bad_files(root / "scans" / "zz-bad")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted((root / "scans").rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root / "scans"))
    return {"root": root / "scans", "subjects": subjects, "bad": expected, "zip": buf.getvalue()}


@pytest.fixture(params=[0, 2], ids=["one-process", "two-workers"])
def processes(request, settings) -> int:
    """Run the import in this process, or with two worker processes (as large imports do)."""
    settings.IMPORT_PROCESSES = request.param
    settings.IMPORT_PARALLEL_MIN_FILES = 1
    return request.param


def _stored_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*.dcm"))


def test_zip_upload_stores_good_files_and_reports_every_bad_one(
    corpus, client, settings, django_capture_on_commit_callbacks, processes
):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    upload = io.BytesIO(corpus["zip"])
    upload.name = "export.zip"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": upload})
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])  # in-process task: already run
    assert job.status == "done", job.error

    good = 2 * 13 + 1  # two phantom series + good_mr.dcm
    assert job.accepted == good
    assert Instance.objects.count() == good
    assert len(_stored_files(settings)) == good  # nothing of a rejected file reached storage
    by_file = {row["file"]: row for row in job.report}
    assert len(by_file) == job.total
    for name, code in corpus["bad"].items():
        row = by_file[f"zz-bad/{name}"]
        assert row["code"] == code, (name, row)
        if code != "accepted":
            assert row["outcome"] in ("rejected", "skipped") and row["reason"], row
    kinds = {c for c in corpus["bad"].values() if c not in ("accepted", "duplicate_sop_instance", "dicomdir")}
    assert len(kinds) >= 10
    assert Case.objects.filter(study=study).count() == 3
    assert not Path(job.source).exists()  # the identified upload is not kept

    # The job page and the report render for the PI (no 5xx).
    assert client.get(reverse("study-import-detail", args=[study.pk, job.pk])).status_code == 200


def test_rerun_changes_nothing(corpus, settings, processes):
    study = f.make_study()
    codes = {s.patient_id: s.subject_code for s in corpus["subjects"]}
    first = dicom_import_run(study=study, source=corpus["root"], subject_codes=codes)
    files_before = [(p, p.stat().st_mtime_ns) for p in _stored_files(settings)]
    counts = (Case.objects.count(), Series.objects.count(), Instance.objects.count())
    second = dicom_import_run(study=study, source=corpus["root"], subject_codes=codes)
    assert second.accepted == 0
    assert second.skipped == first.accepted + first.skipped
    assert (Case.objects.count(), Series.objects.count(), Instance.objects.count()) == counts
    assert [(p, p.stat().st_mtime_ns) for p in _stored_files(settings)] == files_before


def test_stored_files_are_deidentified_and_pixels_identical(corpus, processes):
    study = f.make_study()
    subject = corpus["subjects"][0]
    dicom_import_run(
        study=study,
        source=corpus["root"] / subject.subject_code,
        subject_codes={subject.patient_id: subject.subject_code},
    )
    case = Case.objects.get(study=study)
    assert case.subject_code == subject.subject_code
    originals = {
        pydicom.dcmread(p).InstanceNumber: pydicom.dcmread(p)
        for p in (corpus["root"] / subject.subject_code).glob("*.dcm")
    }
    series_uids = set()
    for inst in Instance.objects.filter(series__case=case):
        raw = inst.file.read()
        inst.file.close()
        ds = pydicom.dcmread(io.BytesIO(raw))
        orig = originals[ds.InstanceNumber]
        assert ds.PatientName == subject.subject_code and ds.PatientID == subject.subject_code
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.PixelData == orig.PixelData
        assert ds.SOPInstanceUID != orig.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for text in (subject.patient_id, str(subject.patient_name), subject.birth_date):
            assert text.encode() not in raw, text
        series_uids.add(ds.SeriesInstanceUID)
    assert len(series_uids) == 1
    key = SubjectKey.objects.get(case=case)
    assert decrypt_patient_id(key.patient_id_encrypted) == subject.patient_id  # kept for the PI (study setting)
    assert subject.patient_id not in key.patient_id_encrypted  # encrypted at rest


def test_no_identity_mapping_when_the_study_keeps_none(corpus):
    study = f.make_study(keep_subject_mapping=False)
    subject = corpus["subjects"][1]
    dicom_import_run(study=study, source=corpus["root"] / subject.subject_code)
    assert not SubjectKey.objects.filter(case__study=study).exists()
    assert re.fullmatch(r"S-[2-9A-HJ-NP-Z]{4}", Case.objects.get(study=study).subject_code)  # opaque (#15)


def test_series_with_inconsistent_geometry_is_rejected_whole(corpus, tmp_path, settings, processes):
    subject = corpus["subjects"][0]
    src = corpus["root"] / subject.subject_code
    for path in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        if ds.InstanceNumber == 5:
            ds.PixelSpacing = [0.5, 0.5]
        ds.save_as(tmp_path / path.name)
    study = f.make_study()
    outcome = dicom_import_run(study=study, source=tmp_path)
    assert outcome.accepted == 0 and outcome.rejected == 13
    assert {row["code"] for row in outcome.report} == {"inconsistent_geometry"}
    assert Instance.objects.count() == 0 and not _stored_files(settings)


def test_a_file_name_already_taken_on_disk_is_never_overwritten(corpus, settings, processes):
    """An orphan left at an instance's path (e.g. by a crash) keeps its bytes; the instance gets a free name."""
    subject = corpus["subjects"][1]
    study = f.make_study()
    first = dicom_import_run(study=study, source=corpus["root"] / subject.subject_code)
    inst = Instance.objects.filter(series__case__study=study).order_by("pk").first()
    path, name = Path(inst.file.path), inst.file.name
    stored = path.read_bytes()
    Instance.objects.filter(series__case__study=study).delete()  # the database forgets, the files stay
    again = dicom_import_run(study=study, source=corpus["root"] / subject.subject_code)
    assert again.accepted == first.accepted == 13
    assert path.read_bytes() == stored
    moved = Instance.objects.get(sop_instance_uid=inst.sop_instance_uid)
    assert moved.file.name != name and Path(moved.file.path).read_bytes() == stored


def test_instance_url_serves_the_stored_bytes(corpus, client):
    pi, reader, outsider = f.make_user(), f.make_user(), f.make_user()
    study = f.make_study(pi)
    subject = corpus["subjects"][0]
    dicom_import_run(study=study, source=corpus["root"] / subject.subject_code)
    inst = Instance.objects.first()
    stored = inst.file.read()
    inst.file.close()
    client.force_login(pi)
    response = client.get(reverse("instance-file", args=[inst.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom"
    assert "private" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert body == stored
    assert pydicom.dcmread(io.BytesIO(body)).SOPInstanceUID == inst.sop_instance_uid
    assert client.get(reverse("instance-file", args=[inst.pk]), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    client.force_login(outsider)
    assert client.get(reverse("instance-file", args=[inst.pk])).status_code == 403
    f.add_member(study, reader)  # a reader without a read of this case
    client.force_login(reader)
    assert client.get(reverse("instance-file", args=[inst.pk])).status_code == 403


def test_upload_must_be_a_zip(client):
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    upload = io.BytesIO(b"not a zip")
    upload.name = "scan.dcm"
    response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": upload})
    assert response.status_code == 400
    assert "zip" in response.json()["detail"]
    assert ImportJob.objects.count() == 0


def test_two_series_of_one_patient_share_one_case(corpus, tmp_path, settings, processes):
    """A patient's second series in the same import goes to the case the first one created."""
    subject = corpus["subjects"][0]
    src = corpus["root"] / subject.subject_code
    uid = pydicom.uid.generate_uid(entropy_srcs=["vbq-test-second-series"])
    (tmp_path / "t2").mkdir()
    (tmp_path / "t1").mkdir()
    for path in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.save_as(tmp_path / "t1" / path.name)
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[ds.SOPInstanceUID, "second"])
        ds.SeriesDescription = "T2 TSE SAG"
        ds.save_as(tmp_path / "t2" / path.name)
    study = f.make_study()
    outcome = dicom_import_run(study=study, source=tmp_path)
    case = Case.objects.get(study=study)
    assert outcome.accepted == 26 and outcome.cases_created == [case.subject_code]
    assert case.series.count() == 2
    assert case.primary_series.weighting == "T1"  # the sagittal T1 is read, whichever came first


def test_a_subject_code_taken_by_another_patient_rejects_the_series_with_a_reason(corpus, settings, processes):
    subject = corpus["subjects"][0]
    study = f.make_study()
    Case.objects.create(study=study, subject_code="S001", patient_digest="someone-else")
    outcome = dicom_import_run(
        study=study,
        source=corpus["root"] / subject.subject_code,
        subject_codes={subject.patient_id: "S001"},
    )
    assert outcome.accepted == 0 and outcome.rejected == 13
    assert {row["code"] for row in outcome.report} == {"storage_error"}
    assert "belongs to another patient" in outcome.report[0]["reason"]
    assert Instance.objects.count() == 0 and not _stored_files(settings)


def test_a_worker_killed_mid_import_costs_its_series_and_leaves_no_unrecorded_file(corpus, settings, monkeypatch):
    """The job goes on with a new worker; the series it was storing are reported, not stored; every file on disk
    belongs to a recorded instance (nothing partial)."""
    from studies.services import import_workers

    settings.IMPORT_PROCESSES, settings.IMPORT_PARALLEL_MIN_FILES = 2, 1
    original = import_workers.FileWork.store
    calls = {"n": 0}

    def store_then_die(self, requests, reread=None):
        calls["n"] += 1
        if calls["n"] == 2:  # inside a worker process: the second batch it is given kills it
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, requests, reread)

    monkeypatch.setattr(import_workers.FileWork, "store", store_then_die)
    pi = f.make_user()
    study = f.make_study(pi)
    job = ImportJob.objects.create(study=study, created_by=pi, source=str(corpus["root"]))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    lost = [row for row in job.report if row["code"] == "storage_error"]
    assert lost and all(row["reason"] for row in lost)
    assert job.accepted + len(lost) == 2 * 13 + 1
    recorded = {Path(i.file.path) for i in Instance.objects.all()}
    assert set(_stored_files(settings)) == recorded


def test_files_are_written_whole_when_the_system_writes_less_than_asked(tmp_path, monkeypatch):
    from studies.services import import_files

    real_writev = os.writev
    monkeypatch.setattr(import_files.os, "writev", lambda fd, buffers: real_writev(fd, [bytes(buffers[0])[:1000]]))
    parts = [b"a" * 2500, memoryview(b"b" * 10), b"", bytearray(b"c" * 1999)]
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    import_files._write_all(fd, parts)
    os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"a" * 2500 + b"b" * 10 + b"c" * 1999


def test_a_database_failure_mid_import_fails_the_job_and_leaves_no_unrecorded_file(
    corpus, settings, monkeypatch, processes
):
    from django.db import OperationalError

    from studies.services import import_cases

    original = import_cases._commit_batch
    calls = {"n": 0}

    def commit_then_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return original(*args, **kwargs)

    monkeypatch.setattr(import_cases, "COMMIT_EVERY_SECONDS", 0)  # a batch per series: the second one fails
    monkeypatch.setattr(import_cases, "_commit_batch", commit_then_fail)
    pi = f.make_user()
    study = f.make_study(pi)
    job = ImportJob.objects.create(study=study, created_by=pi, source=str(corpus["root"]))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "OperationalError" in job.error
    # the series recorded in the failed transaction were rolled back with it: their files went too
    assert set(_stored_files(settings)) == {Path(i.file.path) for i in Instance.objects.all()}
    assert not ImportJob.objects.get(pk=job.pk).report


def test_series_are_recorded_one_by_one_when_recording_them_together_fails(corpus, settings, monkeypatch, processes):
    """A failure of the batched statements costs no series: each is then recorded (or rejected) on its own."""
    from django.db import IntegrityError

    from studies.services import import_cases

    def fail(*args, **kwargs):
        raise IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr(import_cases, "_record_together", fail)
    study = f.make_study()
    outcome = dicom_import_run(study=study, source=corpus["root"])
    assert outcome.accepted == Instance.objects.count() >= 26
    assert "storage_error" not in {row["code"] for row in outcome.report}
    assert sorted(outcome.cases_created) == sorted(
        Case.objects.filter(study=study).values_list("subject_code", flat=True)
    )
    assert all(case.primary_series_id for case in Case.objects.filter(study=study))
    assert len(_stored_files(settings)) == outcome.accepted


def test_series_larger_than_what_a_worker_may_have_queued_are_stored_whole(corpus, settings, monkeypatch):
    from studies.services import import_workers

    settings.IMPORT_PROCESSES, settings.IMPORT_PARALLEL_MIN_FILES = 2, 1
    monkeypatch.setattr(import_workers, "STORE_AHEAD", 4)  # a series has 13 files
    study = f.make_study()
    outcome = dicom_import_run(study=study, source=corpus["root"])
    assert outcome.accepted == Instance.objects.count() >= 26
    assert len(_stored_files(settings)) == outcome.accepted


def test_the_garbage_collector_is_as_it_was_after_an_import(corpus):
    import gc

    assert gc.get_freeze_count() == 0
    dicom_import_run(study=f.make_study(), source=corpus["root"] / corpus["subjects"][0].subject_code)
    assert gc.get_freeze_count() == 0  # frozen during the import only
    gc.freeze()  # frozen by someone else (a preloading server): left so
    try:
        frozen = gc.get_freeze_count()
        dicom_import_run(study=f.make_study(), source=corpus["root"] / corpus["subjects"][1].subject_code)
        assert gc.get_freeze_count() > frozen // 2  # not unfrozen (a few frozen objects may be freed)
    finally:
        gc.unfreeze()
