"""Pixel links (studies/pixel_links.py): with PIXEL_LINK_SECRET set, the viewer's instance links are the ones
nginx's secure_link checks (tests/deploy/test_nginx_links.py runs nginx); here Django's own check of them, which
answers where no nginx is in front, and who gets them."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from studies import pixel_links
from studies.models import Membership

pytestmark = pytest.mark.django_db
SECRET = "test-link-secret"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.PIXEL_LINK_SECRET = SECRET


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _links(client: Client, series) -> list[dict]:
    response = client.get(reverse("series-detail", args=[series.pk]))
    assert response.status_code == 200
    return response.json()["instances"]


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_hash_is_nginx_secure_link_md5():
    """secure_link_md5 "$vbq_expires $vbq_folder $cookie_sessionid <secret>": base64url MD5 without padding."""
    md5 = hashlib.md5(b"1800000000 dicom/study-1/S/1.2.3 abc123 s3cret").digest()
    assert pixel_links.link_hash(1800000000, "dicom/study-1/S/1.2.3", "abc123", "s3cret") == (
        base64.urlsafe_b64encode(md5).decode().rstrip("=")
    )


def test_expiry_is_the_grant_window_plus_the_lifetime(settings):
    settings.PIXEL_GRANT_SECONDS, settings.PIXEL_GRANT_BUCKET_SECONDS = 7200, 600
    assert pixel_links.expires_at(1_800_000_123) == 1_800_000_000 + 7200
    assert pixel_links.expires_at(1_800_000_599) == pixel_links.expires_at(1_800_000_000)  # stable links


def test_links_serve_the_stored_bytes_without_queries(world, django_assert_max_num_queries):
    series = world.case.primary_series
    client = _login(world.reader)
    items = _links(client, series)
    assert items and all(i["url"].startswith(pixel_links.PREFIX) for i in items)
    assert len({i["url"].rsplit("/", 1)[0] for i in items}) == 1  # one hash per series folder
    assert items == _links(client, series)  # the same links within the window (browser cache)
    stored = {i.pk: Path(i.file.path).read_bytes() for i in series.instances.all()}
    for item in items:
        with django_assert_max_num_queries(1):  # a middleware may load the session (page language); no access check
            response = client.get(item["url"])
        assert response.status_code == 200 and _body(response) == stored[item["id"]]
        assert response["Cache-Control"] == f"private, max-age={settings.PIXEL_GRANT_SECONDS}"
    etag = response["ETag"]
    weak = client.get(items[-1]["url"], HTTP_IF_NONE_MATCH=f"W/{etag}")
    assert weak.status_code == 304 and weak["Cache-Control"].startswith("private")
    head = client.head(items[-1]["url"])
    assert head.status_code == 200 and int(head["Content-Length"]) == len(stored[items[-1]["id"]])


def test_refused_links(world):
    client = _login(world.reader)
    url = _links(client, world.case.primary_series)[0]["url"]
    expires, digest, rest = url.removeprefix(pixel_links.PREFIX).split("/", 2)
    folder, name = rest.rsplit("/", 1)
    assert Client().get(url).status_code == 401
    assert _login(world.other_reader).get(url).status_code == 403  # another session
    assert _login(world.reader).get(url).status_code == 403  # another login of the same user
    tampered = f"{pixel_links.PREFIX}{expires}/{'A' * 22}/{folder}/{name}"
    assert client.get(tampered).json()["detail"] == "You do not have access to this image."
    assert client.get(f"{pixel_links.PREFIX}{int(expires) + 1}/{digest}/{folder}/{name}").status_code == 403
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    past = int(time.time()) - 1
    expired = client.get(f"{pixel_links.PREFIX}{past}/{pixel_links.link_hash(past, folder, key, SECRET)}/{rest}")
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    # dot segments never make a valid link, even correctly signed
    dots = f"{folder}/.."
    assert (
        client.get(
            f"{pixel_links.PREFIX}{expires}/{pixel_links.link_hash(int(expires), dots, key, SECRET)}/{dots}/{name}"
        ).status_code
        == 403
    )
    assert client.get(url.rsplit("/", 1)[0] + "/missing.dcm").status_code == 404
    client.logout()
    assert client.get(url).status_code == 401


def test_revoked_members_get_no_new_links_and_old_ones_live_out_their_window(world):
    client = _login(world.reader)
    url = _links(client, world.case.primary_series)[0]["url"]
    Membership.objects.filter(study=world.study, user=world.reader).delete()
    assert client.get(reverse("series-detail", args=[world.case.primary_series.pk])).status_code == 403
    page = client.get(reverse("read-viewer", args=[world.read.pk]))
    assert pixel_links.PREFIX not in page.content.decode()
    assert client.get(url).status_code == 200  # the documented bound: until it expires (≤ PIXEL_GRANT_SECONDS)


def test_without_the_secret_links_stay_pixel_grants(world, settings):
    settings.PIXEL_LINK_SECRET = ""
    items = _links(_login(world.reader), world.case.primary_series)
    assert all(i["url"].startswith("/dicom/g/") for i in items)
    assert Client().get(f"{pixel_links.PREFIX}1/{'A' * 22}/a/b.dcm").status_code == 401
