"""DICOM SR downloads (issue #19 point 4): one submitted read as a TID 1500 Measurement Report, and zips of a
case's or a whole study's submitted reads (the PI). The documents are built by :mod:`scoring.sr_export`.

Who gets what (the blinding rules of the reads API): the PI any read of their study, with every ROI statistic
and the read's scores; a reader only their own read while it is visible to them, with the ROI statistics the
study shows readers and no scores. Reads a user may not see answer 404; a reader's own read hidden by blinding
(washout, a later read open) answers 403; a read that is not submitted, voided or still being scored answers
409 with the reason.
"""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.api.schema import READ_ERRORS, WRITE_ERRORS, ErrorSerializer
from studies.models import Case, DicomWebServer, Read, Study
from studies.permissions import is_pi, study_for_pi
from studies.selectors import reader_may_view, reads_visible_to

DICOM = "application/dicom"
ZIP = "application/zip"
NO_SR = OpenApiResponse(
    ErrorSerializer, description="No SR (yet): the read is not submitted, was voided, or is still being scored"
)

ZIP_FILE = OpenApiResponse(OpenApiTypes.BINARY, description="Zip of SR files (.dcm) and manifest.csv")


def _sr():
    """scoring.sr_export, imported on the first SR request: highdicom and pydicom's SR code dictionary (~0.1 s)
    stay out of every worker's start-up (issue #20 point 4)."""
    from scoring import sr_export

    return sr_export


def _sr_send():
    from scoring.sr_send import sr_send_scope

    return sr_send_scope


class SrUnavailableError(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "sr_unavailable"


class AnyAccept(BaseContentNegotiation):
    """Files answer whatever the client accepts (``Accept: application/dicom`` must not turn an error into 406):
    errors are JSON in the API's one shape."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _attachment(response, name: str):
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


class ReadSrView(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        summary="DICOM SR (TID 1500 Measurement Report) of one submitted read",
        responses={
            (200, DICOM): OpenApiResponse(OpenApiTypes.BINARY, description="Comprehensive SR, DICOM Part-10 file"),
            409: NO_SR,
            **READ_ERRORS,
        },
    )
    def get(self, request, pk: int):
        """The read's ROIs as image-region SCOORDs on the de-identified stored images, with their measurements
        (mean, median, SD, area in mm², pixel count) and — for the PI — VBQ, SNR and M-score. The PI: any read
        of their study; a reader: their own read, blinded as in the viewer (no scores; ROI statistics as the
        study shows readers)."""
        read = get_object_or_404(reads_visible_to(request.user).select_related("study", "case", "reader"), pk=pk)
        pi = is_pi(read.study_id, request.user)
        if not pi and not reader_may_view(read):
            raise PermissionDenied("This read is not open (washout period, or a later read has opened).")
        read = _sr().reads_for_sr(pk=read.pk)[0]
        if pi:
            builder = _sr().SrBuilder([read])
        else:
            builder = _sr().SrBuilder([read], stats_shown=read.study.reader_roi_stats, scores=False)
        try:
            sr = builder.build(read)
        except _sr().SrUnavailable as exc:
            raise SrUnavailableError(str(exc)) from exc
        return _attachment(HttpResponse(sr.data, content_type=DICOM), sr.name)


def _zip_response(reads: list[Read], name: str, *, folders: bool) -> StreamingHttpResponse:
    if not reads:
        raise SrUnavailableError(gettext(_sr().NOTHING))
    stream = _sr().sr_zip_stream(reads, folders=folders)
    return _attachment(StreamingHttpResponse(stream, content_type=ZIP), name)


class CaseSrView(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        summary="DICOM SRs of every submitted read of one case (zip, PI)",
        responses={(200, ZIP): ZIP_FILE, 409: NO_SR, **READ_ERRORS},
    )
    def get(self, request, pk: int, case_id: int):
        """A zip of one SR per submitted read of the case and ``manifest.csv`` (file, subject code, reader, read
        number, submission time, SR SOP Instance UID, or why a read has no file). The study's PI only."""
        study = study_for_pi(request.user, pk)
        case = get_object_or_404(Case, pk=case_id, study=study)
        reads = _sr().reads_for_sr(case=case, status=Read.Status.SUBMITTED)
        return _zip_response(reads, f"{_sr().safe_name(case.subject_code)}_sr.zip", folders=False)


class StudySrView(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        summary="DICOM SRs of every submitted read of the study (zip, streamed, PI)",
        responses={(200, ZIP): ZIP_FILE, 409: NO_SR, **READ_ERRORS},
    )
    def get(self, request, pk: int):
        """A zip with one folder per subject code holding one SR per submitted read, and ``manifest.csv``.
        Streamed as it is written (one SR in memory at a time). The study's PI only."""
        study: Study = study_for_pi(request.user, pk)
        reads = _sr().reads_for_sr(study=study, status=Read.Status.SUBMITTED)
        return _zip_response(reads, f"study-{study.pk}_sr.zip", folders=True)


MAX_ID = 10**18 - 1


class SrSendRequest(serializers.Serializer):
    # ids bounded like the API's others (18 digits): a larger number is a 400, never a database overflow
    server = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="One of the study's DICOMweb servers")
    case = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Only this case")
    read = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, help_text="Only this read")


SrSendAnswer = inline_serializer(
    "SrSendAnswer",
    {
        "server": serializers.CharField(),
        "sent": serializers.ListField(
            child=serializers.DictField(), help_text="read, subject_code, reader, read_number, sr_sop_instance_uid"
        ),
        "not_sent": serializers.ListField(child=serializers.DictField(), help_text="… and the reason"),
    },
)


class StudySrSendView(APIView):
    @extend_schema(
        summary="Send the DICOM SRs of submitted reads to a DICOMweb server of the study (STOW-RS, PI)",
        request=SrSendRequest,
        responses={200: SrSendAnswer, **WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        """Stores the SR of one read (``read``), of a case's submitted reads (``case``) or of the whole study's
        (neither; at most 500) in the chosen PACS. Reads without an SR yet are listed in ``not_sent`` with the
        reason; a server that is down or refuses gives 400 with what to check."""
        study = study_for_pi(request.user, pk)
        body = SrSendRequest(data=request.data)
        body.is_valid(raise_exception=True)
        v = body.validated_data
        server = get_object_or_404(DicomWebServer, pk=v["server"], study=study)
        read = get_object_or_404(Read, pk=v["read"], study=study) if "read" in v else None
        case = get_object_or_404(Case, pk=v["case"], study=study) if "case" in v else None
        # a Django ValidationError (nothing to send, the server failed) is a 400 in the API's one error shape
        try:
            result = _sr_send()(study=study, server=server, user=request.user, case=case, read=read)
        except _sr().SrUnavailable as exc:
            raise SrUnavailableError(str(exc)) from exc
        return Response({"server": result.server, "sent": result.sent, "not_sent": result.not_sent})
