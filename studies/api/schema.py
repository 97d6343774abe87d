"""OpenAPI pieces shared by the API views: the one error shape and the responses each kind of endpoint documents."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from studies.services.roi_payload import MAX_POLYGON_VERTICES


class ErrorSerializer(serializers.Serializer):
    """Every 4xx answer: one sentence for people, the list of problems for scripts."""

    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.JSONField(), help_text="Each problem on its own")
    fields = serializers.DictField(required=False, help_text="Per-field messages, when a field was refused")


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current = serializers.JSONField(allow_null=True, help_text="The ROI as stored now (null when deleted)")


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_INPUT = _error(
    "Refused input: a body that is not a JSON object, an unknown or out-of-range value, a setting that "
    "contradicts another; nothing was changed"
)
FORBIDDEN = _error("Visible but not yours to change (read closed, study locked, not the PI or the reader)")
NOT_FOUND = _error("No such object among those you may see")
STALE = OpenApiResponse(ConflictSerializer, description="Stale version: the ROI was changed elsewhere")

#: Responses every write endpoint of a study / read / ROI documents beside its success.
WRITE_ERRORS = {400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND}
READ_ERRORS = {403: FORBIDDEN, 404: NOT_FOUND}

VERSION_QUERY = OpenApiParameter(
    "version",
    int,
    OpenApiParameter.QUERY,
    required=False,
    description="The ROI version you last loaded (a whole number ≥ 1); 409 when stale, 400 when not a number",
)


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_POLYGON_VERTICES,
        "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "description": (
            "[column, row] pixel coordinates (pixel centres at integers), each within the image with a 1-pixel "
            f"margin: 4 handles for a rectangle or an ellipse, 3–{MAX_POLYGON_VERTICES:,} vertices for a polygon; "
            "an excluded level keeps the ROI drawn before its exclusion (empty when none was drawn)"
        ),
    }
)
class PointsField(serializers.JSONField):
    """``points_px`` with its documented shape (stored and returned as given)."""
