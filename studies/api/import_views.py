"""DICOM import endpoints (PI only): upload a zip, follow the job, read the per-file report."""

from __future__ import annotations

import uuid

from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from studies.models import Case, ImportJob, Membership, Series, Study
from studies.permissions import is_pi
from studies.selectors import studies_visible_to
from studies.services.audit import audit_log
from studies.services.dicom_import import import_job_create, uploads_dir
from studies.services.import_files import upload_too_large
from studies.services.import_jobs import import_job_retry
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable

from .pagination import HeaderLimitOffsetPagination

#: Bytes a multipart form adds around the file (boundaries, headers, the study field).
FORM_OVERHEAD = 64 * 1024


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = (
            "id",
            "study",
            "kind",
            "status",
            "total",
            "done",
            "accepted",
            "skipped",
            "rejected",
            "error",
            "created_at",
            "finished_at",
            "heartbeat_at",
            "requeues",
            "report",
        )


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A .zip of DICOM files (any folder structure, any number of series)")


def save_upload(upload) -> str:
    """Stream an uploaded zip to UPLOAD_ROOT, shared with the workers (deleted when the job has run)."""
    name = upload.name or ""
    if not name.lower().endswith(".zip"):
        from django.core.exceptions import ValidationError
        from django.utils.translation import gettext

        raise ValidationError(
            gettext("Upload a .zip file holding the DICOM images (or use manage.py import_dicom on a folder).")
        )
    from django.core.exceptions import ValidationError

    refused = upload_too_large(upload.size)
    if refused:
        raise ValidationError(refused)
    path = uploads_dir() / f"{uuid.uuid4().hex}.zip"
    size = 0
    try:
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                size += len(chunk)
                refused = upload_too_large(size)
                if refused:
                    raise ValidationError(refused)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # nothing identified stays behind
        raise
    return str(path)


def upload_refused(request) -> Response | None:
    """413 before the body is read when the request announces more than UPLOAD_MAX_BYTES (plus form overhead)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    refused = upload_too_large(length - FORM_OVERHEAD)
    if refused:
        return Response({"detail": refused}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return None


class ImportJobViewSet(viewsets.ReadOnlyModelViewSet):
    """Import jobs of the studies you are PI of; POST /api/imports/?study=ID uploads a zip."""

    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = HeaderLimitOffsetPagination  # ?limit= (100, at most 500) &offset=; the body stays a list

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user, the model gives the id's type
            return ImportJob.objects.none()
        pi_studies = Membership.objects.filter(user=self.request.user, role=Membership.Role.PI).values("study_id")
        qs = ImportJob.objects.filter(study_id__in=pi_studies)
        study = self.request.query_params.get("study")
        return qs.filter(study_id=int(study)) if study and study.isdigit() else qs

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={202: ImportJobSerializer, 503: dict})
    def create(self, request, *args, **kwargs):
        """202 with the job; 503 when the job queue refuses it (the job is recorded as failed; Retry queues it)."""
        too_large = upload_refused(request)
        if too_large is not None:
            return too_large
        study_id = request.query_params.get("study") or request.data.get("study")
        study = studies_visible_to(request.user).filter(pk=int(study_id)).first() if str(study_id).isdigit() else None
        if study is None:
            return Response({"detail": "No such study."}, status=status.HTTP_404_NOT_FOUND)
        if not is_pi(study, request.user):
            raise PermissionDenied(gettext("Only the study's PI can import images."))
        payload = UploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            job = import_job_create(study=study, user=request.user, source=save_upload(payload.validated_data["file"]))
        except QueueUnavailable as exc:
            return queue_down_response(exc.job)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ImportJobSerializer, 400: dict, 503: dict})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Queue a failed or stuck import again, as the same job, if its upload is still kept (else 400)."""
        job = self.get_object()
        try:
            job = import_job_retry(job=job, user=request.user)
        except QueueUnavailable as exc:
            return queue_down_response(exc.job)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def queue_down_response(job: ImportJob) -> Response:
    """503: the broker refused the job, which is recorded as failed (not left queued)."""
    return Response(
        {"detail": QUEUE_DOWN, "errors": [QUEUE_DOWN], "job": ImportJobSerializer(job).data},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


class PrimarySeriesSerializer(serializers.Serializer):
    series = serializers.IntegerField()


def case_primary_series_set(*, case: Case, series: Series, user) -> Case:
    """PI: choose which series of the case readers measure."""
    if series.case_id != case.pk:
        from django.core.exceptions import ValidationError

        raise ValidationError(gettext("That series belongs to another case."))
    case.primary_series = series
    case.series_to_confirm = False  # confirmed; later imports leave the PI's choice alone
    case.series_chosen_by_pi = True
    case.save(update_fields=["primary_series", "series_to_confirm", "series_chosen_by_pi"])
    audit_log(study=case.study, user=user, action="case.primary_series", obj=case, data={"series": series.pk})
    return case


class CaseSeriesMixin:
    @extend_schema(request=PrimarySeriesSerializer, responses={200: dict})
    @action(detail=True, methods=["post"], url_path=r"cases/(?P<case_id>\d+)/primary-series")
    def primary_series(self, request, pk=None, case_id=None):
        study: Study = self.get_object()
        if not is_pi(study, request.user):
            raise PermissionDenied(gettext("Only the study's PI can do this."))
        case = Case.objects.filter(study=study, pk=case_id).first()
        payload = PrimarySeriesSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        series = Series.objects.filter(pk=payload.validated_data["series"]).first()
        if case is None or series is None:
            return Response({"detail": "No such case or series."}, status=status.HTTP_404_NOT_FOUND)
        case_primary_series_set(case=case, series=series, user=request.user)
        return Response({"case": case.pk, "primary_series": series.pk})
