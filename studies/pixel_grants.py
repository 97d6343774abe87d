"""Pixel grants: signed, expiring links to the DICOM files of one series, for one login session.

Access to a series is checked once, when the viewer's page (or ``/dicom/series/<id>/``) is built for a user who
may see it (:mod:`studies.dicom_views`); the instance links it hands out carry a grant that lets the file view
send bytes without a database query (issue #20):

    grant = TimestampSigner(SECRET_KEY, salt).sign_object({"s": series id, "d": the series' storage folder,
                                                          "u": user id, "k": SHA-256(session key)[:16]})
    link  = /dicom/g/<grant>/<file name in that folder>

The file view (:func:`verify`) checks the HMAC-SHA256 signature (django.core.signing), the age (≤
``PIXEL_GRANT_SECONDS``) and that the request's session cookie is the one the grant was issued to; the file is
``MEDIA_ROOT/<d>/<name>``, the name a single path segment. So a grant opens only its own series' folder, only
from the session that was allowed to see it, and only until it expires: revoking a membership or voiding a read
stops new grants at once, and links already issued work at most ``PIXEL_GRANT_SECONDS`` longer (logging out
ends them at once: the browser no longer sends that session cookie).

Grants are stamped with the start of a ``PIXEL_GRANT_BUCKET_SECONDS`` window rather than the current second, so
the same session gets the same links for a series within the window and the browser's HTTP cache serves
revisited cases; a grant's life is therefore between ``PIXEL_GRANT_SECONDS - PIXEL_GRANT_BUCKET_SECONDS`` and
``PIXEL_GRANT_SECONDS``.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_str

SALT = "studies.pixel-grant.v1"
#: A file name inside a series folder: one path segment, no leading dot (so never "." or "..").
FILE_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,199}")


class _BucketSigner(signing.TimestampSigner):
    """A TimestampSigner whose timestamp is the start of the current grant window (stable links, see above)."""

    def timestamp(self) -> str:
        bucket = max(1, int(settings.PIXEL_GRANT_BUCKET_SECONDS))
        return signing.b62_encode(int(time.time()) // bucket * bucket)


def _signer() -> _BucketSigner:
    return _BucketSigner(salt=SALT)


def session_tag(session_key: str | None) -> str:
    """What binds a grant to a session without putting the session key into URLs (and so into logs)."""
    return hashlib.sha256(force_str(session_key or "").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Grant:
    series_id: int
    folder: str
    user_id: int


def issue(*, series_id: int, folder: str, user_id: int, session_key: str) -> str:
    """A grant for ``folder`` (relative to MEDIA_ROOT) of series ``series_id``; the caller has checked access."""
    payload = {"s": series_id, "d": folder, "u": user_id, "k": session_tag(session_key)}
    return _signer().sign_object(payload, compress=True)


class GrantError(Exception):
    """Why a grant does not open a file: ``status`` 401 (no session) or 403, and a message for the reader."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


#: Grants this process has verified: (token, session key) → (grant, signed at). A viewer fetches a series' files
#: with one grant, so the signature is checked once per series and process; the age is checked on every use.
_verified: dict[tuple[str, str], tuple[Grant, int]] = {}
_VERIFIED_MAX = 4096


def verify(token: str, session_key: str | None) -> Grant:
    """The grant in ``token`` if its signature holds, it has not expired and ``session_key`` is its session."""
    if not session_key:
        raise GrantError(401, "Your session has expired: log in again.")
    max_age = settings.PIXEL_GRANT_SECONDS
    known = _verified.get((token, session_key))
    if known is not None:
        grant, signed_at = known
        if time.time() - signed_at <= max_age:
            return grant
        raise GrantError(403, "This image link has expired: reload the page.")
    try:
        payload = _signer().unsign_object(token, max_age=max_age)
    except signing.SignatureExpired:
        raise GrantError(403, "This image link has expired: reload the page.") from None
    except (signing.BadSignature, ValueError):
        raise GrantError(403, "You do not have access to this image.") from None
    if not isinstance(payload, dict) or payload.get("k") != session_tag(session_key):
        raise GrantError(403, "You do not have access to this image.")
    grant = Grant(series_id=payload["s"], folder=payload["d"], user_id=payload["u"])
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(token, session_key)] = (grant, signing.b62_decode(token.rsplit(":", 2)[1]))
    return grant
