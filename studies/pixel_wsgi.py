"""The fast path for pixel-grant links: a WSGI wrapper that answers a valid grant before Django's stack runs.

``vbqsite/wsgi.py`` wraps the Django application with :class:`GrantedFiles`. A ``GET``/``HEAD`` of
``/dicom/g/<grant>/<file>`` whose host is allowed, whose grant is valid for the request's session cookie
(:func:`studies.pixel_grants.verify`) and whose file exists is answered here — 200 with the file
(``wsgi.file_wrapper``: sendfile under gunicorn), or ``X-Accel-Redirect`` to nginx, or 304 — with the same status,
validators, caching and security headers as the Django view :func:`studies.dicom_views.granted_file`.
Everything else (another method, a refused or expired grant, a missing file, a host Django would refuse, a plain
HTTP request that Django would redirect to HTTPS) goes on to Django, whose view gives the one answer for it.

Why: the view's own work is ~30 µs (HMAC check, ``stat``); Django's URL resolution and ten middlewares around it
cost ~1 ms per request (the CSP header alone is built per response), which bounds a 2-core server far below a
C++ archive's file serving (bench/serving.py). No database, no session store, no user object is touched here.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from django.conf import settings as django_settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.functional import empty

from studies import pixel_grants
from studies.pixel_serving import CONTENT_TYPE, etag_matches, nginx_etag

PREFIX = "/dicom/g/"  # studies/urls.py "instance-file-granted" (tests/studies_tests/test_pixel_wsgi.py checks it)
#: The Content-Security-Policy of a file answer: nothing in it may run or be framed.
FILE_CSP = "default-src 'none'; frame-ancestors 'none'"


class GrantedFiles:
    """WSGI middleware: ``GrantedFiles(django_application)``."""

    def __init__(self, app) -> None:
        self.app = app
        self._hosts: dict[str, bool] = {}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX) and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            answered = self._serve(environ, start_response, path)
            if answered is not None:
                return answered
        return self.app(environ, start_response)

    # ------------------------------------------------------------------------------------------------

    def _host_allowed(self, environ, settings) -> bool:
        if settings.USE_X_FORWARDED_HOST:
            return False  # Django's rules for forwarded hosts: let it decide
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        known = self._hosts.get(host)
        if known is None:
            allowed = settings.ALLOWED_HOSTS
            if settings.DEBUG and not allowed:
                allowed = [".localhost", "127.0.0.1", "[::1]"]
            domain, _port = split_domain_port(host)
            known = bool(domain) and validate_host(domain, allowed)
            if len(self._hosts) < 64:
                self._hosts[host] = known
        return known

    @staticmethod
    def _secure(environ, settings) -> bool:
        if environ.get("wsgi.url_scheme") == "https":
            return True
        header = settings.SECURE_PROXY_SSL_HEADER
        if header:
            name, value = header
            return environ.get(name, "").split(",")[0].strip() == value
        return False

    @staticmethod
    def _security_headers(secure: bool, settings) -> list[tuple[str, str]]:
        """What Django's SecurityMiddleware, clickjacking middleware and CSP add (a stricter CSP: it is a file)."""
        headers = [("Content-Security-Policy", FILE_CSP), ("X-Frame-Options", settings.X_FRAME_OPTIONS)]
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        if settings.SECURE_REFERRER_POLICY:
            policy = settings.SECURE_REFERRER_POLICY
            headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
        if secure and settings.SECURE_HSTS_SECONDS:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += "; preload"
            headers.append(("Strict-Transport-Security", hsts))
        return headers

    def _serve(self, environ, start_response, path: str):
        settings = _settings()
        token, _, name = path[len(PREFIX) :].partition("/")
        if not token or not pixel_grants.FILE_NAME.fullmatch(name) or not self._host_allowed(environ, settings):
            return None
        secure = self._secure(environ, settings)
        if settings.SECURE_SSL_REDIRECT and not secure:
            return None
        session_key = parse_cookie(environ.get("HTTP_COOKIE", "")).get(settings.SESSION_COOKIE_NAME)
        try:
            grant = pixel_grants.verify(token, session_key)
        except pixel_grants.GrantError:
            return None
        relative = f"{grant.folder}/{name}"
        file_path = os.path.join(settings.MEDIA_ROOT, relative)
        try:
            stat = os.stat(file_path)
        except OSError:
            return None
        etag = nginx_etag(stat)
        headers = [("ETag", etag), ("Cache-Control", f"private, max-age={int(settings.PIXEL_GRANT_SECONDS)}")]
        headers += self._security_headers(secure, settings)
        if etag_matches(environ.get("HTTP_IF_NONE_MATCH"), etag):
            start_response("304 Not Modified", headers)
            return []
        headers.append(("Content-Type", CONTENT_TYPE))
        if settings.PIXEL_ACCEL_REDIRECT and environ["REQUEST_METHOD"] == "GET":
            start_response("200 OK", [*headers, ("X-Accel-Redirect", settings.PIXEL_ACCEL_REDIRECT + quote(relative))])
            return []
        start_response("200 OK", [*headers, ("Content-Length", str(stat.st_size))])
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        handle = open(file_path, "rb")
        wrapper = environ.get("wsgi.file_wrapper")
        return wrapper(handle, 65536) if wrapper else _chunks(handle)


def _settings():
    """The current settings object itself: plain attribute reads instead of a LazyObject lookup each (a dozen per
    request); read per request, so override_settings in tests still applies."""
    if django_settings._wrapped is empty:
        django_settings._setup()
    return django_settings._wrapped


def _chunks(handle, size: int = 65536):
    with handle:
        while chunk := handle.read(size):
            yield chunk
