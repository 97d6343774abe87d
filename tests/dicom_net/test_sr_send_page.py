"""Sending DICOM SRs from the Hospital DICOM page (#19 point 4): the PI picks one of the study's DICOMweb servers
and the whole study or one case; a real Orthanc (DICOMweb plugin, HTTP Basic auth) stores them. The page says how
many were stored and lists each read not sent with its reason; a server that is down or refuses, an unknown server
and nothing to send give a clear message; readers and outsiders never reach it.
"""

from __future__ import annotations

import html
import re

import pytest
import requests
from django.test import Client
from django.urls import reverse

from studies.models import AuditEvent, DicomWebServer, Read, Study
from tests import factories as f
from tests.dicom_net.conftest import free_port
from tests.dicom_net.test_sr_send import USERS, _server
from tests.scoring_tests.test_sr_api import scene  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _post(client, user, study, **form):
    client.force_login(user)
    return client.post(reverse("study-sr-send", args=[study.pk]), form)


def _text(response) -> str:
    """The page's visible text, tags dropped and white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _pacs_sr_count(pacs) -> int:
    answer = requests.get(pacs.url + "/instances", auth=next(iter(USERS.items())), timeout=10)
    answer.raise_for_status()
    return len(answer.json())


def test_the_page_offers_the_servers_and_the_cases_with_a_submitted_read(client, scene):  # noqa: F811
    server = _server(scene.study, "http://127.0.0.1:9/dicom-web")
    f.make_case(scene.study, subject_code="NOREADS-01")  # nothing submitted: not offered
    client.force_login(scene.pi)
    page = client.get(reverse("study-dicom-network", args=[scene.study.pk])).content.decode()
    section = page[page.index("data-sr-send") :]
    assert f'action="{reverse("study-sr-send", args=[scene.study.pk])}"' in section
    assert f'<option value="{server.pk}"' in section and "csrfmiddlewaretoken" in section
    assert "Whole study (2 submitted reads)" in section
    assert f'<option value="{scene.case.pk}"' in section and "NOREADS-01" not in section
    chinese = client.get(reverse("study-dicom-network", args=[scene.study.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    section = chinese.content.decode()[chinese.content.decode().index("data-sr-send") :]
    for text in ("将 DICOM SR 发送到 DICOMweb 服务器", "整个研究（2 个已提交阅片）", "单个病例", "发送 DICOM SR"):
        assert text in section, text
    assert "Send DICOM SR" not in section


def test_the_result_and_the_refusals_in_chinese(client, scene):  # noqa: F811
    server = _server(scene.study, f"http://127.0.0.1:{free_port()}/dicom-web")
    client.force_login(scene.pi)
    url = reverse("study-sr-send", args=[scene.study.pk])
    down = client.post(url, {"server": server.pk}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert down.status_code == 400 and "无法通过" in _text(down)
    unknown = client.post(url, {"server": "x"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "该 DICOMweb 服务器（已）不是本研究登记的服务器。" in _text(unknown)
    Read.objects.filter(study=scene.study).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    nothing = client.post(url, {"server": server.pk}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "这里尚无已提交的阅片：没有可发送的 DICOM SR。" in _text(nothing)


def test_the_pi_sends_the_study_then_a_case_with_a_read_not_ready(client, scene, orthanc_factory):  # noqa: F811
    pacs = orthanc_factory(users=USERS)
    server = _server(scene.study, pacs.url + "/dicom-web")
    response = _post(client, scene.pi, scene.study, server=server.pk, case="")
    assert response.status_code == 200, _text(response)
    assert 'data-sr-sent="2"' in response.content.decode()
    assert "2 DICOM SRs stored in Radiology PACS." in _text(response)
    assert "data-sr-not-sent" not in response.content.decode()
    assert _pacs_sr_count(pacs) == 2
    event = AuditEvent.objects.get(action="sr.send", study=scene.study)
    assert event.user == scene.pi and event.data["sent"] == 2

    roi = scene.other_read.rois.get(label="L1")
    type(roi).objects.filter(pk=roi.pk).update(version=roi.version + 1)  # being scored again
    response = _post(client, scene.pi, scene.study, server=server.pk, case=scene.case.pk)
    text = _text(response)
    assert response.status_code == 200 and "1 DICOM SR stored in Radiology PACS." in text
    assert "1 read not sent:" in text
    assert re.search(rf"{scene.case.subject_code} other_reader 1 This read's measurements are still being", text)
    assert f'<option value="{scene.case.pk}" selected>' in response.content.decode()  # the choice is kept


def test_a_locked_study_still_sends(client, scene, orthanc_factory):  # noqa: F811
    """Sending changes nothing in the study: allowed once it is locked."""
    pacs = orthanc_factory(users=USERS)
    server = _server(scene.study, pacs.url + "/dicom-web")
    Study.objects.filter(pk=scene.study.pk).update(locked=True)
    response = _post(client, scene.pi, scene.study, server=server.pk, case=scene.case.pk)
    assert response.status_code == 200 and 'data-sr-sent="2"' in response.content.decode()


def test_a_server_down_or_refusing_the_password_gives_a_clear_message(client, scene, orthanc_factory):  # noqa: F811
    down = _server(scene.study, f"http://127.0.0.1:{free_port()}/dicom-web")
    response = _post(client, scene.pi, scene.study, server=down.pk)
    assert response.status_code == 400
    assert "Radiology PACS cannot be reached at" in _text(response) and "data-sr-error" in response.content.decode()
    pacs = orthanc_factory(users=USERS)
    DicomWebServer.objects.filter(pk=down.pk).delete()
    wrong = _server(scene.study, pacs.url + "/dicom-web", password="wrong")
    response = _post(client, scene.pi, scene.study, server=wrong.pk)
    assert response.status_code == 400
    assert "refused the request (HTTP 401): check the user name and password" in _text(response)
    assert _pacs_sr_count(pacs) == 0 and not AuditEvent.objects.filter(action="sr.send").exists()


def test_unknown_server_unknown_case_and_nothing_to_send_are_explained(client, scene):  # noqa: F811
    server = _server(scene.study, "http://127.0.0.1:9/dicom-web")
    other_study = f.make_study(scene.pi)
    elsewhere = _server(other_study, "http://127.0.0.1:9/dicom-web")
    for value in (elsewhere.pk, "x", 10**30, ""):
        response = _post(client, scene.pi, scene.study, server=value)
        assert response.status_code == 400, value
        assert "DICOMweb server" in _text(response) and "data-sr-error" in response.content.decode()
    other_case = f.make_case(other_study)
    response = _post(client, scene.pi, scene.study, server=server.pk, case=other_case.pk)
    assert response.status_code == 400 and "That case is not in this study." in _text(response)
    Read.objects.filter(study=scene.study).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    response = _post(client, scene.pi, scene.study, server=server.pk)
    assert response.status_code == 400
    assert "No read here has been submitted yet: there is no DICOM SR to send." in _text(response)
    assert not AuditEvent.objects.filter(action="sr.send").exists()


def test_only_the_pi_posts_with_the_csrf_token(client, scene):  # noqa: F811
    server = _server(scene.study, "http://127.0.0.1:9/dicom-web")
    assert _post(client, scene.reader, scene.study, server=server.pk).status_code == 403
    assert _post(client, scene.outsider, scene.study, server=server.pk).status_code == 404
    client.logout()
    response = client.post(reverse("study-sr-send", args=[scene.study.pk]), {"server": server.pk})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    client.force_login(scene.pi)
    assert client.get(reverse("study-sr-send", args=[scene.study.pk])).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(scene.pi)
    assert strict.post(reverse("study-sr-send", args=[scene.study.pk]), {"server": server.pk}).status_code == 403
