"""DICOMweb pull (#19 points 2, 3 and 5) against a real Orthanc with its DICOMweb plugin (HTTP Basic auth on).

Search by Patient ID, Accession Number and date (QIDO-RS) shows the PACS's identified data to the PI; a pull of a
series (WADO-RS) is an import job whose images end de-identified in the study; a server that is down, a wrong URL
or wrong credentials give a clear message or job error, never a server error; the password is stored encrypted.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from studies.models import Case, DicomWebServer, ImportJob, Instance
from studies.services.dicomweb_pull import encrypt_secret, pull_create, search
from tests import factories as f
from tests.dicom_net.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)
USERS = {"pacs": "s3cret-pacs"}


def _server(study, url, password="s3cret-pacs", **fields):
    return DicomWebServer.objects.create(
        study=study,
        name="Radiology PACS",
        url=url,
        auth="basic",
        username="pacs",
        secret_encrypted=encrypt_secret(password),
        **fields,
    )


@pytest.fixture
def pacs(orthanc_factory, phantom_files):
    orthanc = orthanc_factory(users=USERS)
    orthanc.upload(phantom_files)
    return orthanc


def test_search_then_pull_a_series_imports_it_de_identified(pacs, phantom_files):
    pi = f.make_user()
    study = f.make_study(pi)
    server = _server(study, pacs.url + "/dicom-web")
    assert "s3cret" not in server.secret_encrypted
    original = pydicom.dcmread(phantom_files[0])

    [found] = search(server=server, user=pi, patient_id=original.PatientID)
    assert found["patient_id"] == original.PatientID  # the PI sees who it is (nothing of it is stored)
    assert found["study_instance_uid"] == original.StudyInstanceUID
    [series] = found["series"]
    assert series["series_instance_uid"] == original.SeriesInstanceUID and series["instances"] == "13"
    iso = f"{original.StudyDate[:4]}-{original.StudyDate[4:6]}-{original.StudyDate[6:]}"
    assert [s["study_instance_uid"] for s in search(server=server, user=pi, date_from=iso, date_to=iso)] == [
        original.StudyInstanceUID
    ]
    assert search(server=server, user=pi, patient_id="NOBODY-HERE") == []

    pick = {"study_instance_uid": found["study_instance_uid"], "series_instance_uid": series["series_instance_uid"]}
    job = pull_create(study=study, server=server, user=pi, picks=[pick])
    job.refresh_from_db()  # no broker in the tests: the job ran when it was queued
    assert job.status == "done", job.error
    assert (job.total, job.accepted, job.rejected) == (13, 13, 0)
    case = Case.objects.get(study=study)
    ds = pydicom.dcmread(Instance.objects.filter(series__case=case).first().file.path)
    assert ds.PatientID == case.subject_code != original.PatientID
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert not any(Path(settings.UPLOAD_ROOT).glob("dicomweb-pull-*"))  # the identified files are gone


def test_a_server_that_is_down_or_refuses_gives_a_clear_error(pacs, phantom_files):
    pi = f.make_user()
    study = f.make_study(pi)
    down = DicomWebServer.objects.create(study=study, name="Old PACS", url=f"http://127.0.0.1:{free_port()}/dicom-web")
    with pytest.raises(ValidationError, match="cannot be reached"):
        search(server=down, user=pi, patient_id="X")
    wrong_password = _server(study, pacs.url + "/dicom-web", password="nope")
    with pytest.raises(ValidationError, match="HTTP 401"):
        search(server=wrong_password, user=pi, patient_id="X")
    wrong_url = DicomWebServer.objects.create(
        study=study,
        name="Typo",
        url=pacs.url + "/dicomweb-typo",
        auth="basic",
        username="pacs",
        secret_encrypted=encrypt_secret("s3cret-pacs"),
    )
    with pytest.raises(ValidationError, match="HTTP 404"):
        search(server=wrong_url, user=pi, patient_id="X")

    original = pydicom.dcmread(phantom_files[0])
    job = pull_create(study=study, server=down, user=pi, picks=[{"study_instance_uid": original.StudyInstanceUID}])
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "cannot be reached" in job.error and "Nothing from this pull was imported" in job.error
    assert not Case.objects.filter(study=study).exists()
