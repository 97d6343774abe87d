"""The keyed parts of de-identification: UIDs remapped, dates shifted, the same on every run (standard library).

:class:`UidMapper` and :func:`subject_date_offset` derive what they give from HMAC-SHA256 with a per-study
secret, so the files of one study, imported on any worker and at any time, get the same new UIDs and each subject
the same date shift, while without the secret neither can be reversed or recomputed; :func:`shift_date_text`
applies a shift to a DA or DT value. :func:`studies.dicom.deid.deidentify` uses them.

References
----------
.. [1] DICOM PS3.5, B.2 "UUID Derived UID" (UIDs under the root 2.25); RFC 9562 (UUID version 8).
.. [2] DICOM PS3.15, Annex E, the Retain Longitudinal Temporal Information with Modified Dates Option.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from typing import Final

__all__ = ["UidMapper", "shift_date_text", "subject_date_offset"]

_DATE: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class UidMapper:
    """Deterministic, study-consistent replacement of UIDs (action ``U``).

    A UID is replaced by ``2.25.<n>`` where ``n`` is the integer value of a version-8 (custom) UUID made
    from the first 128 bits of HMAC-SHA256(secret, original UID) (PS3.5 B.2: UIDs under the 2.25 root
    derived from a UUID). The same secret maps the same UID to the same new UID in every run and on every
    worker, so files of one series keep one Series Instance UID, references between instances stay valid
    and a re-import is idempotent; without the secret the mapping can be neither reversed nor recomputed.
    The pairs seen so far are kept in memory (:attr:`mapping`) so the caller can store them with the study.

    Parameters
    ----------
    secret : bytes or str
        Per-study secret (e.g. a random token stored on the study row). Must not be empty.
    """

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not key:
            raise ValueError("The UID mapping secret must not be empty.")
        self._key = key
        self._mapping: dict[str, str] = {}

    def map(self, uid: str) -> str:
        """Return the replacement of ``uid`` (an empty value stays empty)."""
        original = str(uid).strip().rstrip("\x00")
        if not original:
            return original
        new = self._mapping.get(original)
        if new is None:
            digest = hmac.new(self._key, original.encode("ascii", "replace"), hashlib.sha256).digest()
            value = int.from_bytes(digest[:16], "big")
            # UUID version 8 (RFC 9562 custom layout) and the RFC 4122 variant bits.
            value = (value & ~(0xF << 76)) | (0x8 << 76)
            value = (value & ~(0x3 << 62)) | (0x2 << 62)
            new = f"2.25.{value}"
            self._mapping[original] = new
        return new

    __call__ = map

    @property
    def mapping(self) -> dict[str, str]:
        """A copy of the original UID -> new UID pairs mapped so far."""
        return dict(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and uid.strip().rstrip("\x00") in self._mapping


def subject_date_offset(subject_code: str, *, secret: bytes | str, min_days: int = 365, max_days: int = 3650) -> int:
    """Return a reproducible date shift (a negative number of days) for one subject of a study.

    The offset is drawn from HMAC-SHA256(secret, subject code), uniformly in ``[-max_days, -min_days]``:
    every file of a subject gets the same shift, so intervals between that subject's examinations are
    kept, while the true dates cannot be recovered without the secret.
    """
    if not 0 < min_days <= max_days:
        raise ValueError("Date offsets need 0 < min_days <= max_days.")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("The date offset secret must not be empty.")
    digest = hmac.new(key, b"date-offset:" + subject_code.encode("utf-8"), hashlib.sha256).digest()
    span = max_days - min_days + 1
    return -(min_days + int.from_bytes(digest[:8], "big") % span)


def shift_date_text(value: str, days: int, *, datetime: bool) -> str | None:
    """Shift a DA value, or the date part of a DT value, by ``days``; None when it has no full date."""
    text = value.strip()
    if not datetime:
        text = text.replace(".", "")  # ACR-NEMA style "YYYY.MM.DD"
        head, tail = text, ""
    else:
        head, tail = text[:8], text[8:]
    match = _DATE.match(head)
    if not match:
        return None
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + tail
    except (ValueError, OverflowError):
        return None
