"""DICOM SR back to the PACS (#19 point 4, optional part): STOW-RS to a real Orthanc with its DICOMweb plugin (HTTP
Basic auth on), through the study's registered DICOMweb server; a server down or refusing gives a clear 400."""

from __future__ import annotations

import io

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from django.urls import reverse

from scoring.dicom_sr import sr_values
from studies.models import AuditEvent, DicomWebServer, Read
from studies.services.dicomweb_pull import encrypt_secret
from tests import factories as f
from tests.dicom_net.conftest import free_port
from tests.scoring_tests.test_sr_api import scene  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
USERS = {"pacs": "s3cret-pacs"}


def _server(study, url, password="s3cret-pacs") -> DicomWebServer:
    return DicomWebServer.objects.create(
        study=study, name="Radiology PACS", url=url, auth="basic", username="pacs",
        secret_encrypted=encrypt_secret(password),
    )  # fmt: skip


def _send(client, user, study, **body):
    client.force_login(user)
    return client.post(reverse("api-study-sr-send", args=[study.pk]), body, content_type="application/json")


def test_the_pi_sends_a_read_then_the_study_and_the_pacs_holds_the_same_documents(client, scene, orthanc_factory):  # noqa: F811
    pacs = orthanc_factory(users=USERS)
    server = _server(scene.study, pacs.url + "/dicom-web")
    response = _send(client, scene.pi, scene.study, server=server.pk, read=scene.read.pk)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["read"] for r in body["sent"]] == [scene.read.pk] and body["not_sent"] == []
    mine = client.get(reverse("api-read-sr", args=[scene.read.pk])).content
    ds = pydicom.dcmread(io.BytesIO(mine))
    assert body["sent"][0]["sr_sop_instance_uid"] == ds.SOPInstanceUID

    session = requests.Session()
    session.auth = next(iter(USERS.items()))
    web = DICOMwebClient(pacs.url + "/dicom-web", session=session)
    stored = web.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    buffer = io.BytesIO()
    stored.save_as(buffer, enforce_file_format=True)
    assert sr_values(buffer.getvalue()) == sr_values(mine)  # read back by highdicom from the PACS: same values
    assert stored.PatientID == scene.case.subject_code  # filed under the de-identified subject, as the images

    # the whole study: both reads (the first again: the same SOP Instance UID, the same document)
    body = _send(client, scene.pi, scene.study, server=server.pk).json()
    assert sorted(r["reader"] for r in body["sent"]) == ["other_reader", "reader"]
    found = web.search_for_instances(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert [i["00080018"]["Value"][0] for i in found] == [ds.SOPInstanceUID]
    assert AuditEvent.objects.filter(action="sr.send", study=scene.study).count() == 2


def test_reads_without_an_sr_are_listed_not_sent(client, scene, orthanc_factory):  # noqa: F811
    pacs = orthanc_factory(users=USERS)
    server = _server(scene.study, pacs.url + "/dicom-web")
    roi = scene.other_read.rois.get(label="L1")
    type(roi).objects.filter(pk=roi.pk).update(version=roi.version + 1)  # being scored again
    body = _send(client, scene.pi, scene.study, server=server.pk, case=scene.case.pk).json()
    assert [r["reader"] for r in body["sent"]] == ["reader"]
    assert [r["reader"] for r in body["not_sent"]] == ["other_reader"]
    assert "still being computed" in body["not_sent"][0]["reason"]


def test_a_server_down_or_refusing_gives_a_clear_400(client, scene, orthanc_factory):  # noqa: F811
    down = _server(scene.study, f"http://127.0.0.1:{free_port()}/dicom-web")
    response = _send(client, scene.pi, scene.study, server=down.pk, read=scene.read.pk)
    assert response.status_code == 400 and "cannot be reached" in response.json()["detail"]
    pacs = orthanc_factory(users=USERS)
    DicomWebServer.objects.filter(pk=down.pk).delete()
    wrong = _server(scene.study, pacs.url + "/dicom-web", password="wrong")
    response = _send(client, scene.pi, scene.study, server=wrong.pk, read=scene.read.pk)
    assert response.status_code == 400 and "HTTP 401" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="sr.send").exists()


def test_send_is_for_the_pi_and_their_study_servers_and_submitted_reads(client, scene):  # noqa: F811
    server = _server(scene.study, "http://127.0.0.1:9/dicom-web")
    assert _send(client, scene.reader, scene.study, server=server.pk).status_code == 403
    assert _send(client, scene.outsider, scene.study, server=server.pk).status_code == 404
    other_study = f.make_study(scene.pi)
    elsewhere = _server(other_study, "http://127.0.0.1:9/dicom-web")
    assert _send(client, scene.pi, scene.study, server=elsewhere.pk).status_code == 404
    assert _send(client, scene.pi, scene.study, server="x").status_code == 400
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    response = _send(client, scene.pi, scene.study, server=server.pk, read=scene.read.pk)
    assert response.status_code == 409 and "not been submitted" in response.json()["detail"]
    response = _send(client, scene.pi, other_study, server=elsewhere.pk)
    assert response.status_code == 400 and "No read here has been submitted" in response.json()["detail"]
