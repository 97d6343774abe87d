"""Reference-data CSV endpoints (PI only): import a file, download the template.

POST /api/studies/<id>/reference/ takes the CSV as a multipart ``file`` field or as a ``text/csv`` body and
answers 200 ``{imported, replaced, controls, covariates}`` or 400 ``{detail, errors: [{line, column, message}]}``
— all rows or none are stored. Non-members get 404, readers 403, a locked study 403.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.permissions import study_for_pi
from studies.services.reference_csv import (
    MAX_FILE_BYTES,
    ReferenceImportError,
    reference_import,
    reference_template_csv,
)

from .csv_upload import CSV_PARSERS, ReferenceUploadSerializer, RejectedSerializer, rejected, uploaded_csv

ImportedSerializer = inline_serializer(
    "ReferenceImported",
    {
        "imported": serializers.IntegerField(),
        "replaced": serializers.IntegerField(),
        "controls": serializers.IntegerField(allow_null=True),
        "covariates": serializers.ListField(child=serializers.CharField()),
    },
)


class ReferenceImportView(APIView):
    """Import the study's reference data from a CSV; replaces all earlier reference data (PI)."""

    parser_classes = CSV_PARSERS

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
        try:
            payload, filename = uploaded_csv(request, MAX_FILE_BYTES)
            result = reference_import(study=study, file_bytes_or_text=payload, user=request.user, filename=filename)
        except ReferenceImportError as exc:
            return rejected(exc.errors)
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
