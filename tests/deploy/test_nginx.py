"""deploy/nginx.conf in front of the app, as docker-compose.yml runs it: the instance files Django authorises
(pixel grants) are sent by nginx through X-Accel-Redirect; its internal location is closed to the outside.

Runs the Debian ``nginx`` binary (bin/vbq test installs it) against Django's live test server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import yaml
from django.conf import settings
from django.test import Client

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def nginx_front(live_server, settings, tmp_path):
    from deploy.nginx_local import NGINX, LocalNginx

    if not NGINX:
        skip_or_fail("nginx is not installed (apt-get install nginx)")
    settings.PIXEL_ACCEL_REDIRECT = "/_media/"
    upstream = live_server.url.removeprefix("http://")
    with LocalNginx(upstream=upstream, media_root=Path(settings.MEDIA_ROOT), workdir=tmp_path / "nginx") as nginx:
        yield f"http://127.0.0.1:{nginx.port}"


def test_compose_runs_the_app_behind_this_nginx_config():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "ports" not in services["web"]  # reached through nginx only
    assert "./deploy/nginx.conf:/etc/nginx/templates/default.conf.template:ro" in services["nginx"]["volumes"]
    assert "media:/var/lib/vbq/media:ro" in services["nginx"]["volumes"]
    env = services["web"]["environment"]
    assert env["VBQ_PIXEL_ACCEL_REDIRECT"] == "/_media/" and env["BEHIND_PROXY"] == "true"
    assert "location /_media/" in (ROOT / "deploy" / "nginx.conf").read_text()


@pytest.mark.django_db(transaction=True)
def test_nginx_sends_the_granted_files(nginx_front, world):
    client = Client()
    client.force_login(world.reader)
    cookie = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    http = requests.Session()
    series = http.get(f"{nginx_front}/dicom/series/{world.case.primary_series.pk}/", cookies=cookie, timeout=10)
    assert series.status_code == 200
    item = series.json()["instances"][0]
    stored = Path(world.case.primary_series.instances.get(pk=item["id"]).file.path).read_bytes()

    response = http.get(nginx_front + item["url"], cookies=cookie, timeout=10)
    assert response.status_code == 200, response.text[:300]
    assert response.content == stored
    assert response.headers["Content-Type"] == "application/dicom"
    assert response.headers["Cache-Control"].startswith("private, max-age=")
    assert "X-Accel-Redirect" not in response.headers
    etag = response.headers["ETag"]
    # Django's 304 (and nginx's own) carry the same validator: one ETag whoever sends the file
    for validator in (etag, f"W/{etag}"):
        not_modified = http.get(nginx_front + item["url"], cookies=cookie, headers={"If-None-Match": validator})
        assert not_modified.status_code == 304
        assert not_modified.headers["ETag"] == etag and not_modified.headers["Cache-Control"].startswith("private")
    head = http.head(nginx_front + item["url"], cookies=cookie, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(stored) and not head.content

    # refused before nginx touches the file: another session, no session, a tampered grant
    assert http.get(nginx_front + item["url"], timeout=10).status_code == 401
    other = Client()
    other.force_login(world.other_reader)
    other_cookie = {settings.SESSION_COOKIE_NAME: other.cookies[settings.SESSION_COOKIE_NAME].value}
    assert http.get(nginx_front + item["url"], cookies=other_cookie, timeout=10).status_code == 403
    assert http.get(nginx_front + item["url"].replace("/dicom/g/", "/dicom/g/x"), cookies=cookie).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_media_volume_is_not_public(nginx_front, world):
    inst = world.case.primary_series.instances.first()
    assert requests.get(f"{nginx_front}/_media/{inst.file.name}", timeout=10).status_code == 404
    # (Django's live test server itself serves MEDIA_URL, the app never does: no /media/ check here)
