"""The subject-key mapping: original Patient ID ↔ subject code, kept for the PI when the study asks for it.

Never the Patient Name. The Patient ID is stored encrypted (Fernet, key ``VBQ_MAPPING_KEY`` from the
environment); re-imports find a patient's case through the keyed digest on :class:`~studies.models.Case`, not
through this mapping, so deleting it changes nothing for them. Every view, export and deletion is audited.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from studies.models import Study, SubjectKey

from .audit import audit_log

MISSING_KEY = (
    "VBQ_MAPPING_KEY is not set: a study that keeps the subject mapping needs it to encrypt the original Patient "
    "IDs. Generate one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
    " and set it in the environment (keep it: without it the stored IDs cannot be read), or turn off "
    "'keep subject mapping' for the study."
)


@cache
def _fernet(key: str, secret: str, derive: bool) -> Fernet:
    if key:
        try:
            return Fernet(key.encode())
        except ValueError as exc:
            raise ImproperlyConfigured("VBQ_MAPPING_KEY is not a Fernet key (32 url-safe base64 bytes).") from exc
    if not derive:
        raise ImproperlyConfigured(MISSING_KEY)
    # DEBUG / tests / VBQ_MAPPING_KEY_FROM_SECRET: a key derived from SECRET_KEY (documented in .env.example)
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"vbq-subject-mapping:{secret}".encode()).digest()))


def mapping_fernet() -> Fernet:
    """The cipher of the mapping; ImproperlyConfigured (with what to do) when no key is available."""
    return _fernet(settings.VBQ_MAPPING_KEY, settings.SECRET_KEY, bool(settings.VBQ_MAPPING_KEY_FROM_SECRET))


def encrypt_patient_id(patient_id: str) -> str:
    return mapping_fernet().encrypt(patient_id.encode()).decode()


def decrypt_patient_id(token: str) -> str:
    """The original Patient ID, or a marker when this key cannot read it (the key was changed)."""
    try:
        return mapping_fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return "(unreadable with the current VBQ_MAPPING_KEY)"


def subject_key_values(case_id: int, patient_id: str) -> dict:
    """The fields of a case's :class:`SubjectKey` (the Patient ID encrypted)."""
    return {"case_id": case_id, "patient_id_encrypted": encrypt_patient_id(patient_id)}


def subject_mapping(*, study: Study, user, export: bool = False) -> list[tuple[str, str]]:
    """(subject code, original Patient ID) of the study's cases that have one, decrypted for the PI (checked by
    the caller); every look is audited."""
    keys = SubjectKey.objects.filter(case__study=study).select_related("case").order_by("case__subject_code")
    rows = [(k.case.subject_code, decrypt_patient_id(k.patient_id_encrypted)) for k in keys]
    action = "subject_mapping.export" if export else "subject_mapping.view"
    audit_log(study=study, user=user, action=action, obj=study, data={"subjects": len(rows)})
    return rows


def subject_mapping_csv(*, study: Study, user) -> str:
    """The mapping as CSV (subject_code, patient_id); audited as an export."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subject_code", "patient_id"])
    writer.writerows(subject_mapping(study=study, user=user, export=True))
    return out.getvalue()


def subject_mapping_delete(*, study: Study, user) -> int:
    """Delete the study's mapping and stop keeping it (else the next import would store it again); audited.
    Re-imports still find each patient's case (through the keyed digest on the case)."""
    with transaction.atomic():
        deleted, _ = SubjectKey.objects.filter(case__study=study).delete()
        study.keep_subject_mapping = False
        study.save(update_fields=["keep_subject_mapping"])
        audit_log(study=study, user=user, action="subject_mapping.delete", obj=study, data={"subjects": deleted})
    return deleted
