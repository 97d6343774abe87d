"""The upload part of an API endpoint that imports a CSV (reference data, subject codes), defined once.

The CSV comes as a multipart ``file`` field or as a ``text/csv`` (or ``text/plain``) body; a rejected file
answers 400 ``{detail, errors: [{line, column, message}]}``.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.response import Response

from studies.services.csv_upload import CsvRejected, RowError


class CsvParser(BaseParser):
    """A raw CSV request body, handed on as bytes (the service decodes and checks it)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class PlainTextCsvParser(CsvParser):
    media_type = "text/plain"


#: The parsers of a CSV upload endpoint: the multipart form, or the CSV as the body.
CSV_PARSERS = [MultiPartParser, FormParser, CsvParser, PlainTextCsvParser]


# The multipart form of every CSV upload; no docstring, as drf-spectacular would publish it in the schema (whose
# component name, ReferenceUpload, the first endpoint gave it).
class ReferenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="Reference-data CSV (UTF-8; comma or semicolon separated)")


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


def rejected(errors: list[RowError]) -> Response:
    """400 with every problem of the file."""
    n = len(errors)
    detail = f"The file was rejected ({n} problem{'s' if n != 1 else ''}); nothing was stored."
    return Response({"detail": detail, "errors": [e.as_dict() for e in errors]}, status=status.HTTP_400_BAD_REQUEST)


def uploaded_csv(request, max_bytes: int) -> tuple[bytes, str]:
    """The uploaded file's bytes and name ("" for a CSV body); :class:`CsvRejected` when there is no file, it is
    larger than ``max_bytes`` or empty."""
    if isinstance(request.data, bytes):
        payload, filename = request.data, ""
    else:
        upload = request.data.get("file")
        if upload is None or isinstance(upload, str):
            raise CsvRejected([RowError(0, "", "no file: send the CSV as the multipart field “file”.")])
        if upload.size > max_bytes:
            raise CsvRejected([RowError(0, "", f"the file is larger than {max_bytes // 1024**2} MB.")])
        payload, filename = upload.read(), upload.name or ""
    if not payload:
        raise CsvRejected([RowError(0, "", "the file is empty.")])
    return payload, filename
