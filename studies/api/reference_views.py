"""Reference-data CSV endpoints (PI only): import a file, download the template.

POST /api/studies/<id>/reference/ takes the CSV as a multipart ``file`` field or as a ``text/csv`` body and
answers 200 ``{imported, replaced, controls, covariates}`` or 400 ``{detail, errors: [{line, column, message}]}``
— all rows or none are stored. Non-members get 404, readers 403, a locked study 403.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.permissions import study_for_pi
from studies.services.reference_csv import (
    MAX_FILE_BYTES,
    ReferenceImportError,
    RowError,
    reference_import,
    reference_template_csv,
)


class CsvParser(BaseParser):
    """A raw CSV request body, handed on as bytes (the service decodes and checks it)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class PlainTextCsvParser(CsvParser):
    media_type = "text/plain"


class ReferenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="Reference-data CSV (UTF-8; comma or semicolon separated)")


ImportedSerializer = inline_serializer(
    "ReferenceImported",
    {
        "imported": serializers.IntegerField(),
        "replaced": serializers.IntegerField(),
        "controls": serializers.IntegerField(allow_null=True),
        "covariates": serializers.ListField(child=serializers.CharField()),
    },
)
RejectedSerializer = inline_serializer(
    "ReferenceRejected",
    {
        "detail": serializers.CharField(),
        "errors": inline_serializer(
            "ReferenceRowError",
            {"line": serializers.IntegerField(), "column": serializers.CharField(), "message": serializers.CharField()},
            many=True,
        ),
    },
)


def _rejected(errors: list[RowError]) -> Response:
    n = len(errors)
    detail = f"The file was rejected ({n} problem{'s' if n != 1 else ''}); nothing was stored."
    return Response({"detail": detail, "errors": [e.as_dict() for e in errors]}, status=status.HTTP_400_BAD_REQUEST)


class ReferenceImportView(APIView):
    """Import the study's reference data from a CSV; replaces all earlier reference data (PI)."""

    parser_classes = [MultiPartParser, FormParser, CsvParser, PlainTextCsvParser]

    @extend_schema(
        request={
            "multipart/form-data": ReferenceUploadSerializer,
            "text/csv": OpenApiTypes.STR,
        },
        responses={
            200: ImportedSerializer,
            400: OpenApiResponse(RejectedSerializer, description="Every problem, with line and column"),
        },
    )
    def post(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        if isinstance(request.data, bytes):
            payload, filename = request.data, ""
        else:
            upload = request.data.get("file")
            if upload is None or isinstance(upload, str):
                return _rejected([RowError(0, "", "no file: send the CSV as the multipart field “file”.")])
            if upload.size > MAX_FILE_BYTES:
                return _rejected([RowError(0, "", f"the file is larger than {MAX_FILE_BYTES // 1024**2} MB.")])
            payload, filename = upload.read(), upload.name or ""
        if not payload:
            return _rejected([RowError(0, "", "the file is empty.")])
        try:
            result = reference_import(study=study, file_bytes_or_text=payload, user=request.user, filename=filename)
        except ReferenceImportError as exc:
            return _rejected(exc.errors)
        return Response(
            {
                "imported": result.imported,
                "replaced": result.replaced,
                "controls": result.controls,
                "covariates": list(result.covariates),
            }
        )


class ReferenceTemplateView(APIView):
    """The CSV template: header and commented example rows (PI)."""

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, pk: int):
        study_for_pi(request.user, pk)
        response = HttpResponse(reference_template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="reference-template.csv"'
        return response
