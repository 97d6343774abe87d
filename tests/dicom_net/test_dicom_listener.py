"""The DICOM listener (#19 points 1, 3 and 5): a real Orthanc, and a pynetdicom sender, send to the listener process.

What is checked is what the PI sees: the case appears de-identified through the same import as an upload, one
import job per association with its per-file report, unknown Called AE titles are refused at association, an
aborted association imports its complete files and says the rest were not received, a bad file gets a failure
status and a report line, and nothing identified is left in the upload folder.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import requests
from django.conf import settings
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import MRImageStorage

from studies.models import Case, DicomReceiver, ImportJob, Instance
from tests import factories as f
from tests.dicom_net.conftest import LISTENER_AET, echo, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _study_with_ae(title: str = "VBQ_SPINE"):
    pi = f.make_user()
    study = f.make_study(pi)
    DicomReceiver.objects.create(study=study, ae_title=title, created_by=pi)
    return study


def _finished_job(study, count: int = 1) -> list[ImportJob]:
    def done():
        jobs = list(ImportJob.objects.filter(study=study, status__in=["done", "failed"]).order_by("id"))
        return jobs if len(jobs) >= count else None

    return wait_until(done, 90, "the import job of the association")


def _no_received_folders_left() -> bool:
    uploads = Path(settings.UPLOAD_ROOT)
    return not uploads.exists() or not any(uploads.iterdir())


def _scu() -> AE:
    ae = AE(ae_title="TEST_SCANNER")
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    return ae


def test_orthanc_sends_a_series_and_the_case_appears_de_identified(listener, orthanc_factory, phantom_files):
    study = _study_with_ae("VBQ_SPINE")
    orthanc = orthanc_factory({"vbq": ("VBQ_SPINE", listener.port)})
    ids = orthanc.upload(phantom_files)
    # Orthanc checks the node first (C-ECHO), then sends the series with C-STORE in one association
    assert requests.post(f"{orthanc.url}/modalities/vbq/echo", data="{}", timeout=30).ok
    r = requests.post(f"{orthanc.url}/modalities/vbq/store", json={"Resources": ids, "Synchronous": True}, timeout=60)
    assert r.ok, r.text

    [job] = _finished_job(study)
    assert job.status == "done", job.error
    assert (job.total, job.accepted, job.rejected) == (13, 13, 0)
    assert [row["outcome"] for row in job.report] == ["accepted"] * 13
    case = Case.objects.get(study=study)
    original = pydicom.dcmread(phantom_files[0])
    assert case.subject_code != original.PatientID
    stored = Instance.objects.filter(series__case=case)
    assert stored.count() == 13
    ds = pydicom.dcmread(stored.first().file.path)
    assert ds.PatientID == case.subject_code and ds.PatientName != original.PatientName
    assert ds.SOPInstanceUID not in {pydicom.dcmread(p).SOPInstanceUID for p in phantom_files}
    assert wait_until(_no_received_folders_left, 10, "the received files to be removed")

    # sending the same series again changes nothing (the import skips stored images)
    r = requests.post(f"{orthanc.url}/modalities/vbq/store", json={"Resources": ids, "Synchronous": True}, timeout=60)
    assert r.ok, r.text
    jobs = _finished_job(study, 2)
    assert (jobs[1].accepted, jobs[1].skipped) == (0, 13)
    assert Instance.objects.filter(series__case=case).count() == 13


def test_an_unknown_called_ae_title_is_refused_at_association(listener, orthanc_factory):
    _study_with_ae("VBQ_SPINE")
    orthanc = orthanc_factory({"stranger": ("NO_SUCH_STUDY", listener.port), "vbq": ("VBQ_SPINE", listener.port)})
    assert not requests.post(f"{orthanc.url}/modalities/stranger/echo", data="{}", timeout=30).ok
    assert requests.post(f"{orthanc.url}/modalities/vbq/echo", data="{}", timeout=30).ok
    # the same with pynetdicom: an A-ASSOCIATE-RJ, permanent, "called AE title not recognised"
    assoc = _scu().associate("127.0.0.1", listener.port, ae_title="NO_SUCH_STUDY")
    assert assoc.is_rejected
    rj = assoc.acceptor.primitive
    assert (rj.result, rj.result_source, rj.diagnostic) == (0x01, 0x01, 0x07)
    assert echo(listener.port, LISTENER_AET)  # the listener's own title answers C-ECHO
    assert not ImportJob.objects.exists()


def test_an_aborted_association_imports_its_complete_images_and_reports_the_rest(listener, phantom_files):
    study = _study_with_ae("VBQ_SPINE")
    assoc = _scu().associate("127.0.0.1", listener.port, ae_title="VBQ_SPINE")
    assert assoc.is_established
    for path in phantom_files[:5]:
        assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0x0000
    assoc.abort()

    [job] = _finished_job(study)
    assert job.status == "done", job.error
    assert job.accepted == 5
    [note] = [row for row in job.report if row["code"] == "association_aborted"]
    assert "5 complete image(s)" in note["reason"] and "send the series again" in note["reason"]
    assert Instance.objects.filter(series__case__study=study).count() == 5
    assert wait_until(_no_received_folders_left, 10, "the received files to be removed")


def test_a_bad_file_gets_a_failure_status_and_a_report_line_and_the_listener_goes_on(
    listener, phantom_files, tmp_path, monkeypatch
):
    study = _study_with_ae("VBQ_SPINE")
    # a file whose meta header is right but whose data set is garbage, sent as it is (pynetdicom's chunked send
    # reads only the meta header)
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)
    good = pydicom.dcmread(phantom_files[0])
    bad = tmp_path / "bad.dcm"
    pydicom.dcmwrite(bad, good, enforce_file_format=True)
    raw = bad.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(raw[140:144], "little")
    bad.write_bytes(raw[:meta_end] + b"\x08\x00\x16\x00UI\xff\xff" + b"\x01" * 64)
    assoc = _scu().associate("127.0.0.1", listener.port, ae_title="VBQ_SPINE")
    assert assoc.is_established
    status = assoc.send_c_store(bad).Status
    assert status == 0xA900 or status & 0xF000 == 0xC000  # "data set does not match", "cannot understand"
    for path in phantom_files:
        assert assoc.send_c_store(path).Status == 0x0000
    assoc.release()

    [job] = _finished_job(study)
    assert job.status == "done", job.error
    assert (job.accepted, job.rejected) == (13, 1)
    [refused] = [row for row in job.report if row["outcome"] == "rejected"]
    assert refused["code"] in {"unreadable", "instance_mismatch"} and "not received" in refused["reason"]
    assert echo(listener.port, "VBQ_SPINE")  # still listening
    assert wait_until(_no_received_folders_left, 10, "the received files to be removed")


def test_with_the_job_queue_down_the_job_fails_with_the_reason_and_keeps_the_images_for_retry(
    tmp_path, transactional_db, phantom_files
):
    """The broker refuses the job: it is recorded as failed with the queue message (not left queued), and its
    folder stays for Retry (the import sweep removes it after IMPORT_ORPHAN_MAX_AGE_SECONDS, like an upload)."""
    from studies.services.import_jobs import retry_refused
    from tests.dicom_net.conftest import Listener, free_port
    from vbqsite.queue import QUEUE_DOWN

    study = _study_with_ae("VBQ_SPINE")
    process = Listener(tmp_path / "listener.log", env={"CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"})
    process.start()
    try:
        assoc = _scu().associate("127.0.0.1", process.port, ae_title="VBQ_SPINE")
        for path in phantom_files[:3]:
            assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0x0000
        assoc.release()
        [job] = _finished_job(study)
    finally:
        process.stop()
    assert job.status == "failed" and job.error == QUEUE_DOWN
    folder = Path(job.source)
    assert folder.parent == Path(settings.UPLOAD_ROOT) and len(list(folder.iterdir())) == 3
    assert retry_refused(job) is None  # Retry (page or API) queues the same job again once the broker is back
