"""Hospital DICOM endpoints (PI only, issue #19): the study's Called AE title, its DICOMweb servers, search, pull.

GET/PUT/DELETE /api/studies/<id>/dicom-receiver/            the AE title a PACS sends this study's images to
GET/POST       /api/studies/<id>/dicomweb-servers/          registered DICOMweb servers (secrets never returned)
DELETE         /api/studies/<id>/dicomweb-servers/<sid>/
POST           /api/studies/<id>/dicomweb-servers/<sid>/search/  QIDO-RS: identified results for the PI, not stored
POST           /api/studies/<id>/dicomweb-servers/<sid>/pull/    WADO-RS + import: 202 with the import job
Non-members get 404, readers 403. A server that is down or answers an error: 400 with a clear ``detail``.
Search filters go in a POST body so that Patient IDs never appear in URLs or access logs.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.models import DicomReceiver, DicomWebServer
from studies.permissions import study_for_pi
from studies.services.dicom_nodes import listener_address, receiver_clear, receiver_set, server_add, server_delete
from studies.services.dicomweb_pull import pull_create, search
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable

from .import_views import ImportJobSerializer


def _invalid(exc: ValidationError) -> Response:
    if hasattr(exc, "error_dict"):
        errors = exc.message_dict
        detail = " ".join(m for ms in errors.values() for m in ms)
        return Response({"detail": detail, "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)


class ReceiverSerializer(serializers.Serializer):
    ae_title = serializers.CharField(
        max_length=16, help_text="Called AE title a PACS or scanner uses to send images to this study"
    )


class ReceiverStateSerializer(serializers.Serializer):
    ae_title = serializers.CharField(allow_blank=True, help_text="Empty: the study receives no images over DICOM")
    listener_port = serializers.IntegerField(help_text="TCP port of the DICOM listener")
    listener_ae_title = serializers.CharField(help_text="The listener's own AE title (C-ECHO only)")


def _receiver_state(study) -> dict:
    receiver = DicomReceiver.objects.filter(study=study).first()
    address = listener_address()
    return {
        "ae_title": receiver.ae_title if receiver else "",
        "listener_port": address["port"],
        "listener_ae_title": address["ae_title"],
    }


class DicomReceiverView(APIView):
    """The Called AE title that chooses this study at the DICOM listener (PI)."""

    @extend_schema(responses=ReceiverStateSerializer)
    def get(self, request, pk: int):
        return Response(_receiver_state(study_for_pi(request.user, pk)))

    @extend_schema(request=ReceiverSerializer, responses={200: ReceiverStateSerializer, 400: dict})
    def put(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        data = ReceiverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            receiver_set(study=study, ae_title=data.validated_data["ae_title"], user=request.user)
        except ValidationError as exc:
            return _invalid(exc)
        return Response(_receiver_state(study))

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        receiver_clear(study=study_for_pi(request.user, pk), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DicomWebServerSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, help_text="Password or token (stored encrypted, never shown)"
    )
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = DicomWebServer
        fields = ("id", "name", "url", "auth", "username", "secret", "has_secret", "created_at")
        read_only_fields = ("id", "has_secret", "created_at")

    def get_has_secret(self, obj) -> bool:
        return bool(obj.secret_encrypted)


class DicomWebServersView(APIView):
    """The DICOMweb servers registered for this study (PI)."""

    @extend_schema(responses=DicomWebServerSerializer(many=True))
    def get(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        return Response(DicomWebServerSerializer(DicomWebServer.objects.filter(study=study), many=True).data)

    @extend_schema(request=DicomWebServerSerializer, responses={201: DicomWebServerSerializer, 400: dict})
    def post(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        data = DicomWebServerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            server = server_add(study=study, user=request.user, **data.validated_data)
        except ValidationError as exc:
            return _invalid(exc)
        return Response(DicomWebServerSerializer(server).data, status=status.HTTP_201_CREATED)


def _server(request, pk: int, server_pk: int) -> DicomWebServer:
    study = study_for_pi(request.user, pk)
    return get_object_or_404(DicomWebServer.objects.select_related("study"), pk=server_pk, study=study)


class DicomWebServerDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, pk: int, server_pk: int):
        server_delete(server=_server(request, pk, server_pk), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchSerializer(serializers.Serializer):
    patient_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    accession_number = serializers.CharField(required=False, allow_blank=True, max_length=16)
    date_from = serializers.DateField(required=False, allow_null=True, help_text="Study date from (YYYY-MM-DD)")
    date_to = serializers.DateField(required=False, allow_null=True, help_text="Study date to (YYYY-MM-DD)")


class SeriesFoundSerializer(serializers.Serializer):
    series_instance_uid = serializers.CharField()
    modality = serializers.CharField()
    series_number = serializers.CharField()
    description = serializers.CharField()
    instances = serializers.CharField(help_text="Number of images, as the server counts them")


class StudyFoundSerializer(serializers.Serializer):
    """A study on the server, with the PACS's identified data (shown to the PI, never stored)."""

    study_instance_uid = serializers.CharField()
    patient_name = serializers.CharField()
    patient_id = serializers.CharField()
    study_date = serializers.CharField(help_text="YYYYMMDD")
    accession_number = serializers.CharField()
    description = serializers.CharField()
    modalities = serializers.CharField()
    series = SeriesFoundSerializer(many=True)


class DicomWebSearchView(APIView):
    """QIDO-RS search of the server: the PACS's identified data for the PI, never stored."""

    @extend_schema(
        request=SearchSerializer,
        responses={
            200: StudyFoundSerializer(many=True),
            400: OpenApiResponse(description="No filter, or the server failed"),
        },
    )
    def post(self, request, pk: int, server_pk: int):
        server = _server(request, pk, server_pk)
        data = SearchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            found = search(
                server=server,
                user=request.user,
                patient_id=v.get("patient_id") or "",
                accession_number=v.get("accession_number") or "",
                date_from=v["date_from"].isoformat() if v.get("date_from") else "",
                date_to=v["date_to"].isoformat() if v.get("date_to") else "",
            )
        except ValidationError as exc:
            return _invalid(exc)
        response = Response(found)
        response["Cache-Control"] = "no-store"  # identified data
        return response


class PickSerializer(serializers.Serializer):
    study_instance_uid = serializers.CharField(max_length=64)
    series_instance_uid = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Empty: the whole study"
    )


class PullSerializer(serializers.Serializer):
    picks = PickSerializer(many=True, allow_empty=False)


class DicomWebPullView(APIView):
    """Retrieve the picked studies or series (WADO-RS) and import them: 202 with the import job to follow."""

    @extend_schema(request=PullSerializer, responses={202: ImportJobSerializer, 400: dict, 503: dict})
    def post(self, request, pk: int, server_pk: int):
        server = _server(request, pk, server_pk)
        data = PullSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = pull_create(study=server.study, server=server, picks=data.validated_data["picks"], user=request.user)
        except ValidationError as exc:
            return _invalid(exc)
        except QueueUnavailable as exc:
            return Response({"detail": QUEUE_DOWN, "job": exc.job.pk if exc.job else None}, status=503)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
