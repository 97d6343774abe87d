"""The WSGI fast path for pixel-grant links (studies/pixel_wsgi.py, wrapped around the app in vbqsite/wsgi.py):
the same answers as the Django view for valid grants, and Django's own answer for everything else."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.urls import reverse

from studies.pixel_wsgi import PREFIX, GrantedFiles

pytestmark = pytest.mark.django_db


@contextmanager
def _django_in_test():
    """Django's handler inside a test transaction (as the test client does: no connection closing)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class _Recorder:
    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def _call(app, method: str, url: str, **headers) -> tuple[int, dict, bytes]:
    environ = getattr(RequestFactory(), method)(url, **headers).environ
    got = {}

    def start_response(status, response_headers, exc_info=None):
        got["status"], got["headers"] = int(status.split()[0]), dict(response_headers)

    with _django_in_test():
        result = app(environ, start_response)
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
    return got["status"], got["headers"], body


@pytest.fixture
def granted(world):
    client = Client()
    client.force_login(world.reader)
    item = client.get(reverse("series-detail", args=[world.case.primary_series.pk])).json()["instances"][0]
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken=x"
    stored = Path(world.case.primary_series.instances.get(pk=item["id"]).file.path).read_bytes()
    return client, item["url"], cookie, stored


def test_the_prefix_is_the_url_pattern():
    assert reverse("instance-file-granted", args=["t", "f.dcm"]) == f"{PREFIX}t/f.dcm"


def test_the_deployed_application_is_wrapped():
    from vbqsite import wsgi

    assert isinstance(wsgi.application, GrantedFiles)


def test_a_valid_grant_is_answered_before_django_like_the_view(granted, django_assert_num_queries):
    client, url, cookie, stored = granted
    django = _Recorder(WSGIHandler())
    app = GrantedFiles(django)
    with django_assert_num_queries(0):
        status, headers, body = _call(app, "get", url, HTTP_COOKIE=cookie)
    assert django.calls == 0
    view = client.get(url)
    assert status == 200 and body == stored
    for name in ("ETag", "Cache-Control", "Content-Type", "Content-Length"):
        assert headers[name] == view[name], name
    # the security headers Django adds to every answer are there too (a stricter CSP: it is a file); not the
    # page-language ones (Content-Language, Vary: Accept-Language/Cookie), meaningless for DICOM bytes
    assert set(view.headers) - {"Content-Disposition", "Content-Language", "Vary"} <= set(headers)
    assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"

    weak = f"W/{headers['ETag']}"
    with django_assert_num_queries(0):
        status, headers_304, body = _call(app, "get", url, HTTP_COOKIE=cookie, HTTP_IF_NONE_MATCH=weak)
    assert (status, body) == (304, b"") and django.calls == 0
    assert headers_304["ETag"] == headers["ETag"] and headers_304["Cache-Control"] == headers["Cache-Control"]
    with django_assert_num_queries(0):
        status, head, body = _call(app, "head", url, HTTP_COOKIE=cookie)
    assert (status, body) == (200, b"") and head["Content-Length"] == str(len(stored)) and django.calls == 0


def test_accel_redirect_on_the_fast_path(granted, settings, world):
    _, url, cookie, _ = granted
    settings.PIXEL_ACCEL_REDIRECT = "/_media/"
    status, headers, body = _call(GrantedFiles(WSGIHandler()), "get", url, HTTP_COOKIE=cookie)
    inst = world.case.primary_series.instances.first()
    assert (status, body) == (200, b"")
    assert headers["X-Accel-Redirect"].startswith("/_media/dicom/") and "Content-Length" not in headers
    assert headers["X-Accel-Redirect"].rsplit("/", 1)[1] == url.rsplit("/", 1)[1]
    assert inst.file.name.startswith("dicom/")


def test_everything_else_goes_to_django(granted, world, settings):
    _, url, cookie, _ = granted
    other = Client()
    other.force_login(world.other_reader)
    other_cookie = f"sessionid={other.cookies['sessionid'].value}"
    token, name = url[len(PREFIX) :].split("/")
    cases = {
        "no session": ("get", url, {}, 401),
        "another session": ("get", url, {"HTTP_COOKIE": other_cookie}, 403),
        "tampered": ("get", f"{PREFIX}x{token}/{name}", {"HTTP_COOKIE": cookie}, 403),
        "missing file": ("get", f"{PREFIX}{token}/nope.dcm", {"HTTP_COOKIE": cookie}, 404),
        "POST": ("post", url, {"HTTP_COOKIE": cookie}, 403),  # Django's CSRF check answers first
        "host not allowed": ("get", url, {"HTTP_COOKIE": cookie, "HTTP_HOST": "evil.example"}, 400),
    }
    for label, (method, path, headers, expected) in cases.items():
        django = _Recorder(WSGIHandler())
        status, _, _ = _call(GrantedFiles(django), method, path, **headers)
        assert (status, django.calls) == (expected, 1), label


def test_an_http_request_is_left_to_django_when_https_is_required(granted, settings):
    _, url, cookie, _ = granted
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    django = _Recorder(WSGIHandler())
    status, headers, _ = _call(GrantedFiles(django), "get", url, HTTP_COOKIE=cookie)
    assert (status, django.calls) == (301, 1) and headers["Location"].startswith("https://")
    status, headers, _ = _call(GrantedFiles(django), "get", url, HTTP_COOKIE=cookie, secure=True)
    assert status == 200 and django.calls == 1 and "Strict-Transport-Security" in headers
