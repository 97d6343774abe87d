"""The audit log: one append-only row per change a user makes."""

from __future__ import annotations

from typing import Any

from django.db import models

from studies.models import AuditEvent, Study


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
        data=data or {},
    )
