"""Sending a stored DICOM file: validators, 304, HEAD, caching, and who copies the bytes.

- ``ETag``: strong. For files reached through a pixel grant it is nginx's own form, ``"<mtime hex>-<size hex>"``
  (so it is the same whether Django or nginx sends the file); the per-instance view keeps the file's SHA-256.
- ``If-None-Match``: weak comparison (RFC 9110 §13.1.2: ``W/"x"`` matches ``"x"``), lists and ``*``; a match
  answers 304 with the ``ETag`` and ``Cache-Control`` (§15.4.5).
- ``HEAD``: the headers of the ``GET`` answer (``Content-Length`` included), no body.
- ``Cache-Control: private, max-age=…``: a de-identified instance's bytes never change; only the browser keeps it.
- The bytes: ``FileResponse`` (the WSGI server's ``wsgi.file_wrapper``, i.e. sendfile under gunicorn) by default;
  with ``PIXEL_ACCEL_REDIRECT`` set (behind nginx, see deploy/nginx.conf) an empty answer with
  ``X-Accel-Redirect: <prefix><path under MEDIA_ROOT>`` and nginx sends the file from its internal location.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags

CONTENT_TYPE = "application/dicom"


def nginx_etag(stat: os.stat_result) -> str:
    """nginx's ETag for a static file: ``"%xT-%xO"`` (mtime in seconds, size, both hex)."""
    return f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of ``If-None-Match`` against our (strong) ``etag``."""
    if not if_none_match:
        return False
    wanted = parse_etags(if_none_match)  # keeps W/ prefixes; '*' as ['*']
    if "*" in wanted:
        return True
    bare = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == bare for tag in wanted)


def file_response(request, path: str, *, relative: str, etag: str, size: int, max_age: int) -> HttpResponse:
    """The answer for the file at ``path`` (``relative``: its name under MEDIA_ROOT) — 304, HEAD or the bytes."""
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={max_age}"}
    if etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        return HttpResponseNotModified(headers=headers)
    accel = settings.PIXEL_ACCEL_REDIRECT
    if request.method == "HEAD" or accel:
        response = HttpResponse(content_type=CONTENT_TYPE, headers=headers)
        if accel and request.method != "HEAD":
            # nginx replaces the (empty) body with the file and keeps Content-Type and Cache-Control.
            response["X-Accel-Redirect"] = accel + quote(relative)
        else:
            response["Content-Length"] = str(size)
        return response
    response = FileResponse(open(path, "rb"), content_type=CONTENT_TYPE, headers=headers)
    response["Content-Length"] = str(size)
    del response["Content-Disposition"]  # FileResponse's "inline; filename=…": nothing needs it
    return response
