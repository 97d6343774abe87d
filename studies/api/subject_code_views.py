"""Subject codes (PI only, issue #15): assign codes per Patient ID before importing; re-key a study.

GET  /api/studies/<id>/subject-codes/        the codes waiting for patients not imported yet, and whether the
                                             study can be re-keyed now.
POST /api/studies/<id>/subject-codes/        a CSV ``patient_id,subject_code`` (multipart ``file`` or a ``text/csv``
                                             body; ``?new_patients=true`` when the study already has cases and
                                             more patients are still to be imported): 200 ``{rows, pending,
                                             matched, replaced}`` or 400 ``{detail, errors: [{line, column,
                                             message}]}`` — all rows or none are stored.
POST /api/studies/<id>/subject-codes/rekey/  fresh random codes for every case, by a worker: 202 with the job
                                             ``{id, status, done, total, cases, error, created_at,
                                             finished_at}`` (``done``/``total``: files rewritten), 409 at once
                                             when the study has reads, no cases, an import or a re-keying
                                             queued or running; 503 when the job queue is down (the job is
                                             recorded as failed; nothing changed).
GET  /api/studies/<id>/subject-codes/rekey/  the latest re-keying job (``{"status": "none"}`` before any).
Non-members get 404, readers 403, a locked study 403.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.api.schema import READ_ERRORS
from studies.models import RekeyJob
from studies.permissions import study_for_pi
from studies.services.csv_upload import CsvRejected
from studies.services.subject_code_csv import MAX_FILE_BYTES, pending_codes, subject_codes_import
from studies.services.subject_rekey import RekeyRefused, rekey_blocker, rekey_job_create
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable

from .csv_upload import CSV_PARSERS, ReferenceUploadSerializer, RejectedSerializer, rejected, uploaded_csv

TRUE = {"1", "true", "yes", "on"}


class SubjectCodesView(APIView):
    """Codes assigned per Patient ID (stored by keyed digest), used by the next imports (PI)."""

    parser_classes = CSV_PARSERS

    @extend_schema(
        responses=inline_serializer(
            "SubjectCodesState",
            {
                "pending": serializers.ListField(child=serializers.CharField()),
                "rekey_allowed": serializers.BooleanField(),
                "rekey_blocker": serializers.CharField(),
            },
        )
    )
    def get(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        blocker = rekey_blocker(study)
        return Response({"pending": pending_codes(study), "rekey_allowed": not blocker, "rekey_blocker": blocker})

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "new_patients", bool, required=False, description="Patients still to be imported may be listed"
            )
        ],
        request={"multipart/form-data": ReferenceUploadSerializer, "text/csv": OpenApiTypes.STR},
        responses={
            200: inline_serializer(
                "SubjectCodesAssigned",
                {
                    "rows": serializers.IntegerField(),
                    "pending": serializers.IntegerField(),
                    "matched": serializers.IntegerField(),
                    "replaced": serializers.IntegerField(),
                },
            ),
            400: OpenApiResponse(RejectedSerializer, description="Every problem, with line and column"),
        },
    )
    def post(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        flag = request.query_params.get("new_patients", "")
        if not isinstance(request.data, bytes):  # a multipart form may carry the flag as a field
            flag = flag or str(request.data.get("new_patients", ""))
        try:
            payload, filename = uploaded_csv(request, MAX_FILE_BYTES)
            result = subject_codes_import(
                study=study,
                file_bytes_or_text=payload,
                user=request.user,
                filename=filename,
                new_patients=flag.strip().lower() in TRUE,
            )
        except CsvRejected as exc:  # the upload's or the file's problems
            return rejected(exc.errors)
        return Response(
            {"rows": result.rows, "pending": result.pending, "matched": result.matched, "replaced": result.replaced}
        )


def rekey_job_data(job: RekeyJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "cases": job.cases,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


REKEY_JOB = inline_serializer(
    "SubjectCodesRekeyJob",
    {
        "id": serializers.IntegerField(),
        "status": serializers.ChoiceField(choices=RekeyJob.Status.choices),
        "done": serializers.IntegerField(help_text="Files rewritten so far"),
        "total": serializers.IntegerField(help_text="Files to rewrite"),
        "cases": serializers.IntegerField(help_text="Cases given a new code (once done)"),
        "error": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)


class SubjectCodesRekeyView(APIView):
    """POST: replace every case's code with a fresh random one, before any read exists, by a worker (PI);
    GET: the latest re-keying job."""

    @extend_schema(request=None, responses={200: REKEY_JOB, **READ_ERRORS})
    def get(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        job = RekeyJob.objects.filter(study=study).first()
        return Response(rekey_job_data(job) if job else {"status": "none"})

    @extend_schema(
        request=None,
        responses={
            202: REKEY_JOB,
            409: OpenApiResponse(description="The study has reads or no cases, or an import or re-keying is live"),
            503: OpenApiResponse(description="The job queue is down: the job is recorded as failed, nothing changed"),
        },
    )
    def post(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        try:
            job = rekey_job_create(study=study, user=request.user)
        except RekeyRefused as exc:
            return Response({"detail": str(exc), "errors": [str(exc)]}, status=status.HTTP_409_CONFLICT)
        except QueueUnavailable as exc:
            return Response(
                {"detail": QUEUE_DOWN, "errors": [QUEUE_DOWN], "job": rekey_job_data(exc.job)},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(rekey_job_data(job), status=status.HTTP_202_ACCEPTED)
