"""Hospital DICOM settings, API and page (#19): per role, validation messages, secrets never returned, a server
that is down is a 400 with a clear message (never a 500), and the endpoints are in the OpenAPI schema.
The end-to-end pulls against Orthanc are in test_dicomweb_pull.py."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studies.models import AuditEvent, DicomReceiver, DicomWebServer
from tests import factories as f
from tests.dicom_net.conftest import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return f.make_study(f.make_user("pi"))


def test_ae_title_api_sets_validates_and_refuses_duplicates(client, study):
    client.force_login(study.created_by)
    url = reverse("api-study-dicom-receiver", args=[study.pk])
    assert client.get(url).json()["ae_title"] == ""
    ok = client.put(url, {"ae_title": "VBQ_SPINE_01"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["ae_title"] == "VBQ_SPINE_01"
    assert DicomReceiver.objects.get(study=study).ae_title == "VBQ_SPINE_01"
    bad = client.put(url, {"ae_title": "BACK\\SLASH"}, content_type="application/json")
    assert bad.status_code == 400 and "1 to 16 letters" in bad.json()["detail"]
    other = f.make_study(study.created_by)
    taken = client.put(
        reverse("api-study-dicom-receiver", args=[other.pk]),
        {"ae_title": "VBQ_SPINE_01"},
        content_type="application/json",
    )
    assert taken.status_code == 400 and "already used by another study" in taken.json()["detail"]
    own = client.put(url, {"ae_title": "VBQ"}, content_type="application/json")
    assert own.status_code == 400 and "listener's own AE title" in own.json()["detail"]
    assert client.delete(url).status_code == 204 and not DicomReceiver.objects.filter(study=study).exists()
    assert AuditEvent.objects.filter(study=study, action="dicom.receiver_set").count() == 1


def test_servers_api_stores_the_secret_encrypted_and_never_returns_it(client, study):
    client.force_login(study.created_by)
    url = reverse("api-study-dicomweb-servers", args=[study.pk])
    missing = client.post(
        url, {"name": "PACS", "url": "http://pacs.example/dicom-web", "auth": "basic"}, content_type="application/json"
    )
    assert (
        missing.status_code == 400
        and "user name" in missing.json()["detail"]
        and "password" in missing.json()["detail"]
    )
    body = {
        "name": "PACS",
        "url": "http://pacs.example/dicom-web",
        "auth": "basic",
        "username": "u",
        "secret": "pw-123",
    }
    created = client.post(url, body, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert "secret" not in created.json() and created.json()["has_secret"] is True
    server = DicomWebServer.objects.get(study=study)
    assert server.secret_encrypted and "pw-123" not in server.secret_encrypted
    assert "pw-123" not in str(list(AuditEvent.objects.values_list("data", flat=True)))
    assert client.post(url, body, content_type="application/json").status_code == 400  # same name
    listed = client.get(url).json()
    assert [s["name"] for s in listed] == ["PACS"] and "pw-123" not in str(listed)
    detail = reverse("api-study-dicomweb-server", args=[study.pk, server.pk])
    assert client.delete(detail).status_code == 204 and not DicomWebServer.objects.exists()


def test_search_and_pull_of_a_server_that_is_down_answer_400_with_a_clear_message(client, study):
    client.force_login(study.created_by)
    server = DicomWebServer.objects.create(study=study, name="Down", url=f"http://127.0.0.1:{free_port()}/dicom-web")
    search = reverse("api-study-dicomweb-search", args=[study.pk, server.pk])
    no_filter = client.post(search, {}, content_type="application/json")
    assert no_filter.status_code == 400 and "Patient ID" in no_filter.json()["detail"]
    down = client.post(search, {"patient_id": "P1"}, content_type="application/json")
    assert down.status_code == 400 and "cannot be reached" in down.json()["detail"]
    pull = reverse("api-study-dicomweb-pull", args=[study.pk, server.pk])
    assert client.post(pull, {"picks": []}, content_type="application/json").status_code == 400
    job = client.post(pull, {"picks": [{"study_instance_uid": "1.2.3"}]}, content_type="application/json")
    assert job.status_code == 202  # the job ran (no broker in the tests) and failed with the reason
    assert job.json()["status"] == "failed" and "cannot be reached" in job.json()["error"]


def test_only_the_pi_may_use_the_endpoints_and_the_page(client, study):
    reader, outsider = f.make_user("r"), f.make_user("o")
    f.add_member(study, reader)
    server = DicomWebServer.objects.create(study=study, name="PACS", url="http://pacs.example/dicom-web")
    urls = [
        reverse("api-study-dicom-receiver", args=[study.pk]),
        reverse("api-study-dicomweb-servers", args=[study.pk]),
        reverse("study-dicom-network", args=[study.pk]),
    ]
    posts = [
        reverse("api-study-dicomweb-search", args=[study.pk, server.pk]),
        reverse("api-study-dicomweb-pull", args=[study.pk, server.pk]),
    ]
    for user, code in ((reader, 403), (outsider, 404)):
        client.force_login(user)
        assert [client.get(u).status_code for u in urls] == [code] * 3
        assert [client.post(u, {"patient_id": "P"}, content_type="application/json").status_code for u in posts] == [
            code
        ] * 2


def test_page_sets_the_ae_title_adds_a_server_and_shows_a_clear_search_error(client, study):
    client.force_login(study.created_by)
    url = reverse("study-dicom-network", args=[study.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"AE title of this study" in page.content
    assert client.post(url, {"action": "set_ae", "ae_title": "VBQ_PAGE"}).status_code == 302
    bad = client.post(url, {"action": "set_ae", "ae_title": " "})
    assert bad.status_code == 400
    added = client.post(
        url,
        {"action": "add_server", "name": "Down", "url": f"http://127.0.0.1:{free_port()}/dicom-web", "auth": "none"},
    )
    assert added.status_code == 302
    server = DicomWebServer.objects.get(study=study)
    found = client.post(url, {"action": "search", "server": server.pk, "patient_id": "P1"})
    assert found.status_code == 400 and b"cannot be reached" in found.content
    assert found["Cache-Control"] == "no-store"


def test_the_endpoints_are_in_the_openapi_schema(client, study):
    client.force_login(study.created_by)
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()
    for path in (
        "/api/studies/{id}/dicom-receiver/",
        "/api/studies/{id}/dicomweb-servers/",
        "/api/studies/{id}/dicomweb-servers/{server_pk}/search/",
        "/api/studies/{id}/dicomweb-servers/{server_pk}/pull/",
    ):
        assert path in schema["paths"], sorted(schema["paths"])


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-01-02", "2024-01-31", "20240102-20240131"),
        ("2024-01-02", "", "20240102-"),
        ("", "2024-01-31", "-20240131"),
        ("2024-01-02", "2024-01-02", "20240102"),
        ("", "", ""),
    ],
)
def test_study_date_ranges_follow_ps3_4_range_matching(start, end, expected):
    from studies.services.dicomweb_pull import _date_range

    assert _date_range(start, end) == expected


def test_server_errors_say_what_to_check():
    import requests

    from studies.services.dicomweb_pull import server_error

    def http(code):
        response = requests.Response()
        response.status_code = code
        return requests.HTTPError(response=response)

    url = "http://pacs/dicom-web"
    assert "user name and password or the token" in server_error("PACS", url, http(401))
    assert "often ending in /dicom-web" in server_error("PACS", url, http(404))
    assert "HTTP 502" in server_error("PACS", url, http(502))
    assert "did not answer in time" in server_error("PACS", url, requests.Timeout())
    assert "cannot be reached" in server_error("PACS", url, requests.ConnectionError())
    assert "did not answer as a DICOMweb server" in server_error("PACS", url, ValueError("not JSON"))
