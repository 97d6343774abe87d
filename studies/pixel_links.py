"""Pixel links: instance links that nginx verifies and serves on its own (secure_link), no Python per file.

When the deployment sets ``VBQ_PIXEL_LINK_SECRET`` (``settings.PIXEL_LINK_SECRET``; docker-compose gives the same
value to web and to nginx, deploy/nginx.conf), the viewer's instance links (:func:`studies.dicom_views.series_payload`,
issued only to a user who may see the series, like pixel grants) are

    /dicom/s/<expires>/<hash>/<series folder>/<file name>            (folder_link + file name)
    hash    = base64url(MD5("<expires> <series folder> <session cookie value> <secret>")), no padding
    expires = start of the current PIXEL_GRANT_BUCKET_SECONDS window + PIXEL_GRANT_SECONDS   (Unix seconds)

nginx (``secure_link`` / ``secure_link_md5``, in the official and the Debian builds) recomputes the hash from the
URL, the request's session cookie and the secret, answers 401 without a session cookie, 403 for a wrong or expired
hash, and otherwise sends ``MEDIA_ROOT/<folder>/<name>`` itself. So a link opens only its own series' folder,
only from the login session it was issued to, and only until it expires — the pixel grants' rules
(:mod:`studies.pixel_grants`), with the same revocation bound: a removed member, a voided read or a deactivated
account gets no new links at once, and links already issued work at most ``PIXEL_GRANT_SECONDS`` longer (logging
out ends them at once: the browser no longer sends that session cookie, and Django's new session has another key).
Links are the same for a session and series within a window, so the browser's cache serves revisited cases.

Why MD5 is acceptable here: nginx's core offers no HMAC (secure_link_hmac is a third-party module). The secret is
the *last* field, so the length-extension attack on Merkle–Damgård hashes (which needs the secret first) does not
apply; forging a link needs either the secret or a collision between a message Django chose to hash and one
the attacker wants — but every field Django hashes is fixed by the server (expiry, a folder the user may see, a
session key Django generated and the attacker's browser cannot choose: it is rotated at login), so a chosen-prefix
collision cannot be set up, and a link is worth nothing without the HttpOnly session cookie it is bound to.
Fields are separated by spaces that none of them contains (digits, the folder pattern below, a session key), so
one string has one reading.

Without the secret (the embedded default, tests) links stay pixel grants; :func:`verify` lets Django answer a
pixel link too (``runserver``, a request nginx passed on), with the same rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from django.conf import settings

PREFIX = "/dicom/s/"
#: A series folder under MEDIA_ROOT: path segments of these characters, none starting with a dot (deploy/nginx.conf's
#: location uses the same patterns; a folder outside them keeps pixel-grant links).
FOLDER = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]*(?:/[A-Za-z0-9_\-][A-Za-z0-9._\-]*)*")
NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,199}")
#: The whole link path after PREFIX, as deploy/nginx.conf's location matches it.
LINK = re.compile(r"(?P<expires>[0-9]{1,12})/(?P<hash>[A-Za-z0-9_\-]{22})/(?P<folder>.+)/(?P<name>[^/]+)")


def enabled() -> bool:
    return bool(settings.PIXEL_LINK_SECRET)


def expires_at(now: float | None = None) -> int:
    """The expiry of links issued now: the start of the current window plus the grant lifetime."""
    bucket = max(1, int(settings.PIXEL_GRANT_BUCKET_SECONDS))
    now = time.time() if now is None else now
    return int(now) // bucket * bucket + int(settings.PIXEL_GRANT_SECONDS)


def link_hash(expires: int, folder: str, session_key: str, secret: str) -> str:
    """nginx's ``secure_link_md5 "$expires $folder $cookie_sessionid <secret>"``: base64url MD5, no padding."""
    digest = hashlib.md5(f"{expires} {folder} {session_key} {secret}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issuable(folder: str, name: str) -> bool:
    return bool(FOLDER.fullmatch(folder) and NAME.fullmatch(name))


def folder_link(folder: str, session_key: str, *, now: float | None = None) -> str:
    """The link prefix to the files of ``folder`` (under MEDIA_ROOT) for ``session_key``, ending in ``/``: one hash
    per series folder, as nginx checks it; the caller has checked access."""
    expires = expires_at(now)
    return f"{PREFIX}{expires}/{link_hash(expires, folder, session_key, settings.PIXEL_LINK_SECRET)}/{folder}/"


class LinkError(Exception):
    """Why a link does not open a file: ``status`` 401 (no session) or 403, and a message for the reader."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def verify(rest: str, session_key: str | None, *, now: float | None = None) -> str:
    """The file (relative to MEDIA_ROOT) the link path ``rest`` (after PREFIX) opens for ``session_key``, checked
    as nginx checks it; raises :class:`LinkError`."""
    if not session_key:
        raise LinkError(401, "Your session has expired: log in again.")
    match = LINK.fullmatch(rest)
    secret = settings.PIXEL_LINK_SECRET
    if (
        not secret
        or match is None
        or not issuable(match["folder"], match["name"])
        or not hmac.compare_digest(
            match["hash"], link_hash(int(match["expires"]), match["folder"], session_key, secret)
        )
    ):
        raise LinkError(403, "You do not have access to this image.")
    if int(match["expires"]) < (time.time() if now is None else now):
        raise LinkError(403, "This image link has expired: reload the page.")
    return f"{match['folder']}/{match['name']}"
