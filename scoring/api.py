"""REST endpoint of scoring: the PI's whole-study rescore and its progress."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from scoring.models import RescoreJob
from scoring.services import study_rescore_queue
from studies.api.schema import READ_ERRORS, WRITE_ERRORS
from studies.permissions import study_for_pi
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable


def _job_data(job: RescoreJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


class StudyRescoreView(APIView):
    """POST: queue a whole-study rescore (PI); GET: progress of the latest one."""

    @extend_schema(request=None, responses={200: dict, **READ_ERRORS})
    def get(self, request, pk: int):
        study = study_for_pi(request.user, pk)
        job = RescoreJob.objects.filter(study=study).first()
        return Response(_job_data(job) if job else {"status": "none"})

    @extend_schema(request=None, responses={202: dict, 503: dict, **WRITE_ERRORS})
    def post(self, request, pk: int):
        """202 with the job; 503 when the job queue refuses it (the job is recorded as failed)."""
        study = study_for_pi(request.user, pk)
        force = request.data.get("force") if isinstance(request.data, dict) else None
        try:
            job = study_rescore_queue(study=study, user=request.user, force=bool(force))
        except QueueUnavailable as exc:
            return Response(
                {"detail": QUEUE_DOWN, "errors": [QUEUE_DOWN], "job": _job_data(exc.job)},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        job.refresh_from_db()
        return Response(_job_data(job), status=status.HTTP_202_ACCEPTED)
