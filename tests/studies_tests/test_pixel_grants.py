"""Pixel-grant links (issue #20): the viewer's instance URLs are checked once per series and session, then served
without a database query; HTTP validators, 304, HEAD and caching on both instance views."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from studies import pixel_grants
from studies.models import Instance, Membership
from tests import factories as f

pytestmark = pytest.mark.django_db


def _payload(client: Client, series) -> dict:
    response = client.get(reverse("series-detail", args=[series.pk]))
    assert response.status_code == 200
    return response.json()


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_viewer_links_are_granted_and_serve_the_stored_bytes(world):
    series = world.case.primary_series
    client = _login(world.reader)
    instances = _payload(client, series)["instances"]
    assert len(instances) == series.instances.count()
    stored = {i.pk: Path(i.file.path).read_bytes() for i in series.instances.all()}
    for item in instances:
        assert item["url"].startswith("/dicom/g/")
        response = client.get(item["url"])
        assert response.status_code == 200
        assert response["Content-Type"] == "application/dicom"
        assert response["Cache-Control"].startswith("private, max-age=")
        assert response["ETag"].startswith('"') and not response["ETag"].startswith("W/")
        assert int(response["Content-Length"]) == len(stored[item["id"]])
        assert _body(response) == stored[item["id"]]


def test_the_viewer_page_hands_out_granted_links(world):
    client = _login(world.reader)
    response = client.get(reverse("read-viewer", args=[world.read.pk]))
    assert response.status_code == 200
    name = Path(world.case.primary_series.instances.first().file.name).name
    assert f"/{name}" in response.content.decode() and "/dicom/g/" in response.content.decode()


def test_a_granted_instance_costs_no_access_check_query(world):
    """Through Django's whole stack (runserver, tests) the view runs no query; a middleware may still load the
    session (the user's page language). Under gunicorn the WSGI fast path answers before any middleware:
    zero queries (test_pixel_wsgi.py)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _login(world.reader)
    url = _payload(client, world.case.primary_series)["instances"][0]["url"]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
        assert client.head(url).status_code == 200
        etag = client.get(url)["ETag"]
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "studies_" not in tables and "auth_user" not in tables, tables
    assert len(queries.captured_queries) <= 4  # at most the session row, once per request


def test_another_session_of_the_same_user_or_another_user_is_refused(world):
    url = _payload(_login(world.reader), world.case.primary_series)["instances"][0]["url"]
    assert _login(world.reader).get(url).status_code == 403  # a new login: another session
    assert _login(world.other_reader).get(url).status_code == 403  # may see the series, but not with this link
    assert _login(world.pi).get(url).status_code == 403
    assert _login(world.outsider).get(url).status_code == 403
    response = Client().get(url)  # no session at all: the viewer is told to log in again
    assert response.status_code == 401 and response["Content-Type"].startswith("application/json")


def test_a_tampered_grant_is_refused(world):
    client = _login(world.reader)
    url = _payload(client, world.case.primary_series)["instances"][0]["url"]
    _, _, token, name = url.strip("/").split("/")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(reverse("instance-file-granted", args=[flipped, name])).status_code == 403
    assert client.get(reverse("instance-file-granted", args=["garbage", name])).status_code == 403
    # a grant with another folder, signed with another key, is still refused
    forged = pixel_grants.issue(series_id=1, folder="dicom", user_id=1, session_key=client.session.session_key)
    assert client.get(reverse("instance-file-granted", args=[forged[:-2] + "xx", name])).status_code == 403


def test_a_grant_for_one_series_does_not_open_another(world):
    other_case = f.make_case(world.study, "VBQ-002")  # the reader has no read of it
    f.make_read(other_case, world.other_reader)
    client = _login(world.reader)
    url = _payload(client, world.case.primary_series)["instances"][0]["url"]
    token = url.strip("/").split("/")[2]
    for inst in other_case.primary_series.instances.all():
        name = Path(inst.file.name).name
        assert client.get(reverse("instance-file-granted", args=[token, name])).status_code == 404
    for name in ("..", ".", ".hidden", "..%2F..%2Fsecret_key"):
        assert client.get(f"/dicom/g/{token}/{name}").status_code in (403, 404)
    # and the reader is never given a grant for it
    assert client.get(reverse("series-detail", args=[other_case.primary_series.pk])).status_code == 403


def test_an_expired_grant_is_refused(world, settings, monkeypatch):
    client = _login(world.reader)
    url = _payload(client, world.case.primary_series)["instances"][0]["url"]
    assert client.get(url).status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + settings.PIXEL_GRANT_SECONDS + 1)
    response = client.get(url)
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


def test_links_are_stable_within_the_grant_window(world):
    client = _login(world.reader)
    first = _payload(client, world.case.primary_series)["instances"][0]["url"]
    assert _payload(client, world.case.primary_series)["instances"][0]["url"] == first  # browser cache hits


def test_revoked_membership_gets_no_new_grant(world):
    client = _login(world.reader)
    url = _payload(client, world.case.primary_series)["instances"][0]["url"]
    Membership.objects.filter(study=world.study, user=world.reader).delete()
    assert client.get(reverse("series-detail", args=[world.case.primary_series.pk])).status_code == 403
    page = client.get(reverse("read-viewer", args=[world.read.pk]))  # their read's page still opens (as before)…
    assert page.status_code != 200 or "/dicom/g/" not in page.content.decode()  # …but hands out no grant
    inst = world.case.primary_series.instances.first()
    assert client.get(reverse("instance-file", args=[inst.pk])).status_code == 403
    # links already issued live until the grant expires (PIXEL_GRANT_SECONDS; README documents the bound)
    assert client.get(url).status_code == 200


def test_logging_out_ends_the_links(world):
    client = _login(world.reader)
    url = _payload(client, world.case.primary_series)["instances"][0]["url"]
    client.logout()
    assert client.get(url).status_code == 401


@pytest.mark.parametrize("granted", [True, False], ids=["granted", "per-instance"])
def test_http_validators_head_and_304(world, granted):
    client = _login(world.reader)
    inst = world.case.primary_series.instances.first()
    url = (
        next(i["url"] for i in _payload(client, world.case.primary_series)["instances"] if i["id"] == inst.pk)
        if granted
        else reverse("instance-file", args=[inst.pk])
    )
    full = client.get(url)
    etag = full["ETag"]
    for validator in (etag, f"W/{etag}", f'"nope", W/{etag}', "*"):
        response = client.get(url, HTTP_IF_NONE_MATCH=validator)
        assert response.status_code == 304, validator
        assert response["ETag"] == etag
        assert response["Cache-Control"] == full["Cache-Control"]
        assert not response.content
    assert client.get(url, HTTP_IF_NONE_MATCH='"nope", W/"other"').status_code == 200
    head = client.head(url)
    assert head.status_code == 200
    assert head["Content-Length"] == full["Content-Length"] and head["ETag"] == etag
    assert not _body(head)
    assert client.post(url).status_code == 405


def test_accel_redirect_hands_the_file_to_nginx(world, settings):
    settings.PIXEL_ACCEL_REDIRECT = "/_media/"
    client = _login(world.reader)
    inst = world.case.primary_series.instances.first()
    url = next(i["url"] for i in _payload(client, world.case.primary_series)["instances"] if i["id"] == inst.pk)
    response = client.get(url)
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == "/_media/" + inst.file.name
    assert response["Content-Type"] == "application/dicom" and response["Cache-Control"].startswith("private")
    assert response.content == b""
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304  # answered by Django


def test_token_authenticated_clients_get_the_checked_urls(world):
    """Without a login session there is nothing to bind a grant to: series_payload falls back."""
    from studies.dicom_views import series_payload

    payload = series_payload(world.case.primary_series)
    inst = Instance.objects.get(pk=payload["instances"][0]["id"])
    assert payload["instances"][0]["url"] == reverse("instance-file", args=[inst.pk])
