"""The audit log: one append-only row per change a user makes."""

from __future__ import annotations

from typing import Any

from django.db import models

from studies.models import AuditEvent, Read, Roi, Study


def _context(obj: models.Model | None) -> dict[str, Any]:
    """The case (subject code) and read number an ROI or read belongs to, kept with the row so the
    audit trail can be filtered by case even after the ROI is deleted."""
    read = obj if isinstance(obj, Read) else obj.read if isinstance(obj, Roi) else None
    if read is None:
        return {}
    return {"case": read.case.subject_code, "read_number": read.read_number}


def audit_log(
    *,
    study: Study | None,
    user,
    action: str,
    obj: models.Model | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record ``action`` on ``obj`` by ``user`` (no PHI in ``data``: geometry, settings, counts only)."""
    return AuditEvent.objects.create(
        study=study,
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=_context(obj) | (data or {}),
    )
