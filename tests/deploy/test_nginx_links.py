"""Pixel links behind deploy/nginx.conf: nginx checks the viewer's instance links itself (secure_link) and sends
the files, no request reaching Django; refusals answer like Django's view (studies/pixel_links.py).

Runs the Debian ``nginx`` binary (bin/vbq test installs it) in front of Django's live test server; the requests
Django serves are recorded from its ``request_started`` signal (the live server runs in this process).
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import time
from pathlib import Path

import pytest
import requests
import yaml
from django.conf import settings
from django.core.signals import request_started
from django.test import Client

from studies import pixel_links
from studies.pixel_serving import nginx_etag
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(32)


@pytest.fixture
def front(live_server, settings, tmp_path):
    """nginx with the pixel-link secret in front of the live server; ``front.django`` lists the paths Django got."""
    from deploy.nginx_local import NGINX, LocalNginx

    if not NGINX:
        skip_or_fail("nginx is not installed (apt-get install nginx)")
    settings.PIXEL_LINK_SECRET = SECRET
    upstream = live_server.url.removeprefix("http://")
    seen: list[str] = []

    def record(sender, environ=None, **kwargs):
        seen.append((environ or {}).get("PATH_INFO", ""))

    request_started.connect(record, weak=False)
    try:
        with LocalNginx(
            upstream=upstream,
            media_root=Path(settings.MEDIA_ROOT),
            workdir=tmp_path / "nginx",
            link_secret=SECRET,
            grant_minutes=settings.PIXEL_GRANT_SECONDS // 60,
        ) as nginx:
            yield type("Front", (), {"url": f"http://127.0.0.1:{nginx.port}", "port": nginx.port, "django": seen})
    finally:
        request_started.disconnect(record)


def _session(user) -> dict:
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def _links(front, world, cookie) -> list[dict]:
    series = requests.get(f"{front.url}/dicom/series/{world.case.primary_series.pk}/", cookies=cookie, timeout=10)
    assert series.status_code == 200
    return series.json()["instances"]


def _cache_control(response) -> set[str]:
    return {d.strip() for d in response.headers["Cache-Control"].split(",")}


def _raw_get(port: int, path: str, cookie: dict) -> tuple[int, bytes]:
    """A request whose path is sent as written (requests/urllib3 would remove dot segments)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in cookie.items()))
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_config_checks_the_session_cookie_django_sets():
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    assert f"$cookie_{settings.SESSION_COOKIE_NAME} " in text  # nginx's $cookie_<name>: the same cookie
    assert re.fullmatch(r"\w+", settings.SESSION_COOKIE_NAME)  # a name nginx's $cookie_ variables can spell
    assert "${VBQ_PIXEL_LINK_SECRET}" in text and "${VBQ_PIXEL_GRANT_MINUTES}" in text


def test_compose_gives_web_and_nginx_the_same_link_secret():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    web, nginx = services["web"]["environment"], services["nginx"]["environment"]
    # the same value, and required: an empty secret would make every link forgeable
    assert web["VBQ_PIXEL_LINK_SECRET"] == nginx["VBQ_PIXEL_LINK_SECRET"]
    assert nginx["VBQ_PIXEL_LINK_SECRET"].startswith("${VBQ_PIXEL_LINK_SECRET:?")
    assert "./deploy/nginx.conf:/etc/nginx/templates/default.conf.template:ro" in services["nginx"]["volumes"]
    # the image's envsubst fills only the VBQ_PIXEL_ variables, and every placeholder has a value
    assert nginx["NGINX_ENVSUBST_FILTER"] == "VBQ_PIXEL_"
    placeholders = set(re.findall(r"\$\{(\w+)\}", (ROOT / "deploy" / "nginx.conf").read_text()))
    assert placeholders == {"VBQ_PIXEL_LINK_SECRET", "VBQ_PIXEL_GRANT_MINUTES"} <= set(nginx)


@pytest.mark.django_db(transaction=True)
def test_nginx_serves_a_valid_link_without_django(front, world):
    cookie = _session(world.reader)
    items = _links(front, world, cookie)
    assert items and all(i["url"].startswith(pixel_links.PREFIX) for i in items)
    stored_path = Path(world.case.primary_series.instances.get(pk=items[0]["id"]).file.path)
    stored = stored_path.read_bytes()
    url = front.url + items[0]["url"]
    front.django.clear()

    response = requests.get(url, cookies=cookie, timeout=10)
    assert response.status_code == 200, response.text[:300]
    assert response.content == stored
    assert response.headers["Content-Type"] == "application/dicom"
    assert _cache_control(response) == {"private", f"max-age={settings.PIXEL_GRANT_SECONDS}"}
    etag = response.headers["ETag"]
    assert etag == nginx_etag(os.stat(stored_path))  # the ETag Django gives the same file
    # the headers Django's fast path (studies/pixel_wsgi.py) gives a file answer
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == settings.X_FRAME_OPTIONS
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == settings.SECURE_REFERRER_POLICY
    assert response.headers["Cross-Origin-Opener-Policy"] == settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP, as Django
    https = requests.get(url, cookies=cookie, headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")

    for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = requests.get(url, cookies=cookie, headers={"If-None-Match": validator}, timeout=10)
        assert not_modified.status_code == 304, validator
        assert not_modified.headers["ETag"] == etag and not not_modified.content
        assert _cache_control(not_modified) == {"private", f"max-age={settings.PIXEL_GRANT_SECONDS}"}
    assert requests.get(url, cookies=cookie, headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200

    head = requests.head(url, cookies=cookie, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(stored) and not head.content
    assert head.headers["ETag"] == etag

    for item in items:  # every slice of the series
        assert requests.get(front.url + item["url"], cookies=cookie, timeout=10).status_code == 200
    assert not [p for p in front.django if p.startswith(pixel_links.PREFIX)], front.django  # Django saw none

    # the same link through Django (no nginx in front): the same answer
    client = Client()
    client.cookies.load(cookie)
    assert client.get(items[0]["url"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_nginx_refuses_bad_links(front, world):
    cookie = _session(world.reader)
    items = _links(front, world, cookie)
    url = items[0]["url"]
    expires, digest, rest = url.removeprefix(pixel_links.PREFIX).split("/", 2)
    folder, name = rest.rsplit("/", 1)
    front.django.clear()

    def get(path, cookies=cookie):
        return requests.get(front.url + path, cookies=cookies, timeout=10)

    no_session = get(url, cookies={})
    assert no_session.status_code == 401 and no_session.json()["detail"].startswith("Your session has expired")
    other = get(url, cookies=_session(world.other_reader))
    assert other.status_code == 403 and other.json() == {"detail": "You do not have access to this image."}
    assert other.headers["Content-Type"] == "application/json" and other.headers["X-Content-Type-Options"]
    assert get(url, cookies={settings.SESSION_COOKIE_NAME: "x" * 32}).status_code == 403
    # Change the first character: the last of 22 base64url characters carries 4 padding bits that decoding drops,
    # so "…A" → "…B" can name the same MD5 (nginx then rightly serves the file).
    tampered = ("B" if digest[0] != "B" else "C") + digest[1:]
    assert get(f"{pixel_links.PREFIX}{expires}/{tampered}/{folder}/{name}").status_code == 403
    # a later expiry under the same hash
    assert get(f"{pixel_links.PREFIX}{int(expires) + 600}/{digest}/{folder}/{name}").status_code == 403
    # the hash binds the folder: the folder above with this hash
    above = folder.rsplit("/", 1)[0]
    assert get(f"{pixel_links.PREFIX}{expires}/{digest}/{above}/{name}").status_code == 403
    # expired: a link correctly signed (the deployment's secret) with an expiry in the past
    session_key = cookie[settings.SESSION_COOKIE_NAME]
    past = int(time.time()) - 5
    old = f"{pixel_links.PREFIX}{past}/{pixel_links.link_hash(past, folder, session_key, SECRET)}/{folder}/{name}"
    expired = get(old)
    assert expired.status_code == 403 and expired.json()["detail"].startswith("This image link has expired")
    # a correctly signed link to a missing file: 404, as Django
    assert get(url.rsplit("/", 1)[0] + "/missing.dcm").status_code == 404
    assert not [p for p in front.django if p.startswith(pixel_links.PREFIX)], front.django

    # nothing outside the folder: dot segments (plain and %-escaped) are resolved before matching, so the path no
    # longer is a pixel link and goes to Django, which has no such page
    media = Path(settings.MEDIA_ROOT)
    (media / "secret.txt").write_text("not for readers")
    depth = folder.count("/") + 1
    for dots in ("..", "%2e%2e", ".%2E"):
        escape = "/".join([dots] * depth)
        status, body = _raw_get(front.port, f"{url.rsplit('/', 1)[0]}/{escape}/secret.txt", cookie)
        assert status in (400, 403, 404) and b"not for readers" not in body, (dots, status)
    # a subfolder of the series folder (there is none; made here): never a listing
    (media / folder / "sub").mkdir()
    (media / folder / "sub" / "x.dcm").write_bytes(b"x")
    status, body = _raw_get(front.port, f"{url.rsplit('/', 1)[0]}/sub", cookie)
    assert status == 404 and b"x.dcm" not in body
    status, body = _raw_get(front.port, f"{url.rsplit('/', 1)[0]}/sub/x.dcm", cookie)
    assert status == 403  # a file in "<folder>/sub" needs a link for that folder
    # other methods: never served
    assert requests.post(front.url + url, cookies=cookie, timeout=10).status_code in (403, 405)
