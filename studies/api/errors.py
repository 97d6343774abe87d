"""Turn service-layer errors into clear HTTP answers (DRF exception handler)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from studies.services.membership import StudyLocked
from studies.services.reading import ReadClosed, StaleEdit


def _messages(exc: DjangoValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [
            f"{field}: {msg}" if field != "__all__" else msg for field, msgs in exc.message_dict.items() for msg in msgs
        ]
    return list(exc.messages)


def exception_handler(exc, context):
    if isinstance(exc, StaleEdit):
        from .serializers import RoiSerializer

        current = RoiSerializer(exc.roi).data if exc.roi is not None and exc.roi.pk else None
        return Response({"detail": str(exc), "current": current}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, (ReadClosed, StudyLocked)):
        return Response({"detail": " ".join(_messages(exc))}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, DjangoValidationError):
        msgs = _messages(exc)
        return Response({"detail": " ".join(msgs), "errors": msgs}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = _one_format(response.data)
    return response


def _flatten(data, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        out = []
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out += _flatten(value, "" if key in ("non_field_errors", "detail") else name)
        return out
    if isinstance(data, list | tuple):
        return [msg for item in data for msg in _flatten(item, prefix)]
    return [f"{prefix}: {data}" if prefix else str(data)]


def _one_format(data):
    """DRF's own errors (serializer field errors, parse errors, 401/403/404/405/415, throttling) in the API's one
    shape ``{"detail": "...", "errors": [...]}``; a serializer's per-field messages stay under ``"fields"``."""
    if isinstance(data, dict) and set(data) <= {"detail", "errors", "current"} and "detail" in data:
        return {"errors": [str(data["detail"])], **data}
    msgs = _flatten(data)
    out = {"detail": " ".join(msgs), "errors": msgs}
    if isinstance(data, dict):
        out["fields"] = data
    return out
