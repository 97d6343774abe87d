"""Analytics JSON for scripts (PI only): each dashboard section's numbers and tables, and the CSV exports.

Same caching as the pages: a GET of a stale section queues its recomputation; without a broker it is
computed before the answer, with one the answer is 202 until the first result exists (then the last result
with ``"fresh": false`` until the new one is ready).
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import reader_sets, services, snapshot_jobs
from analytics.datasets import OUTCOMES
from analytics.models import AnalysisCache
from analytics.sections import exports
from analytics.sections.common import CACHED_SECTIONS, SECTIONS
from analytics.snapshot import snapshot_filename
from studies.permissions import study_for_pi
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable

PI_ONLY = "Only the study's PI can see the analytics."


def _state(state: services.SectionState, *, plots: bool) -> dict:
    row = state.row
    out = {
        "section": state.section,
        "status": row.status if row else "pending",
        "fresh": state.fresh,
        "computed_at": row.computed_at if row else None,
        "inputs_digest": row.inputs_digest if row else None,
        "error": row.error if row and row.error else None,
    }
    if state.result is not None:
        out |= state.result
        if plots and row is not None:
            out["plots"] = AnalysisCache.objects.filter(pk=row.pk).values_list("plots", flat=True).first()
    return out


class SectionListView(APIView):
    """The study's analytics sections with their status (stale ones are queued for recomputation)."""

    @extend_schema(operation_id="analytics_sections", responses=OpenApiTypes.OBJECT)
    def get(self, request, study_id: int):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        states = services.sections_request(study, list(CACHED_SECTIONS))
        sections = []
        for name, state in states.items():
            page, _, outcome = name.partition(":")
            url = reverse("api-analytics-section", kwargs={"study_id": study.pk, "section": page})
            sections.append(_state(state, plots=False) | {"url": url + (f"?outcome={outcome}" if outcome else "")})
            for key in ("data", "tables", "messages", "title"):
                sections[-1].pop(key, None)
        return Response(
            {
                "study": study.pk,
                "sections": sections,
                "exports": {
                    kind: reverse("api-analytics-export", kwargs={"study_id": study.pk, "kind": kind})
                    for kind in exports.EXPORTS
                },
            }
        )


class SectionView(APIView):
    """One section: ``data`` (unrounded numbers), ``tables`` (as displayed), ``messages``; ``?plots=1`` adds the
    plotted points; for ``roc``, ``?outcome=op_vs_normal|op_vs_rest|low_vs_normal``."""

    @extend_schema(
        operation_id="analytics_section",
        parameters=[
            OpenApiParameter("outcome", str, enum=list(OUTCOMES), required=False),
            OpenApiParameter("plots", bool, required=False),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, study_id: int, section: str):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        outcome = request.query_params.get("outcome")
        if section == "roc" and outcome is not None and outcome not in OUTCOMES:
            raise NotFound(f"Unknown outcome; choose from {', '.join(OUTCOMES)}.")
        try:
            name = services.section_for_page(section, outcome)
        except KeyError:
            raise NotFound(f"Unknown section; choose from {', '.join(SECTIONS)}.") from None
        state = services.sections_request(study, [name])[name]
        plots = request.query_params.get("plots") in ("1", "true", "yes")
        code = status.HTTP_200_OK if state.result is not None else status.HTTP_202_ACCEPTED
        return Response(_state(state, plots=plots), status=code)


class ExportView(APIView):
    """``roi_measurements``, ``scores`` or ``subjects`` as CSV (the columns are documented on the exports page)."""

    @extend_schema(operation_id="analytics_export_csv", responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request, study_id: int, kind: str):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        if kind not in exports.EXPORTS:
            raise NotFound(f"Unknown export; choose from {', '.join(exports.EXPORTS)}.")
        response = HttpResponse(exports.EXPORTS[kind](study), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-{kind}.csv"'
        return response


class AgreementReadersView(APIView):
    """The readers of the inter-rater ICC: ``{"reader_ids": [...], "readers": [{id, username}]}``; an empty
    ``reader_ids`` means every reader. PUT ``{"reader_ids": [...]}`` to choose (at least 2, or ``[]``)."""

    def _body(self, study) -> dict:
        return {
            "reader_ids": reader_sets.agreement_readers_get(study),
            "readers": [{"id": uid, "username": name} for uid, name in reader_sets.study_readers(study)],
        }

    @extend_schema(operation_id="analytics_agreement_readers", responses=OpenApiTypes.OBJECT)
    def get(self, request, study_id: int):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        return Response(self._body(study))

    @extend_schema(
        operation_id="analytics_agreement_readers_set",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def put(self, request, study_id: int):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        ids = request.data.get("reader_ids") if isinstance(request.data, dict) else None
        if not isinstance(ids, list):
            raise ValidationError({"reader_ids": ["A list of reader ids is required ([] for every reader)."]})
        if any(isinstance(i, bool) or not isinstance(i, int | str) for i in ids):
            raise ValidationError({"reader_ids": ["Reader ids must be whole numbers."]})
        try:
            reader_sets.agreement_readers_set(study=study, reader_ids=ids)
        except ValueError as error:
            raise ValidationError({"reader_ids": [str(error)]}) from None
        return Response(self._body(study))


def _snapshot_body(study, state) -> dict:
    out = {
        "study": study.pk,
        "status": state.status,
        "percent": state.percent,
        "error": state.error or None,
        "download_url": None,
    }
    if state.ready:
        record = state.record
        out |= {
            "download_url": reverse("api-analytics-snapshot-zip", kwargs={"study_id": study.pk}),
            "sha256": record.get("sha256"),
            "size": record.get("size"),
            "inputs_hash": record.get("inputs_hash"),
            "frozen": bool(record.get("frozen")),
            "built_at": state.row.computed_at,
        }
    return out


class SnapshotView(APIView):
    """The analysis snapshot zip's state: ``status`` ``ready`` (with ``download_url``), ``queued``, ``running``
    (with ``percent``), ``failed`` (with ``error``) or ``none`` (never built, or the data changed since). POST
    queues a build (202; 200 when the stored zip is current; 503 when the job queue is down)."""

    @extend_schema(operation_id="analytics_snapshot", responses=OpenApiTypes.OBJECT)
    def get(self, request, study_id: int):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        return Response(_snapshot_body(study, snapshot_jobs.snapshot_state(study, exact=True)))

    @extend_schema(
        operation_id="analytics_snapshot_build",
        request=None,
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
    )
    def post(self, request, study_id: int):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        try:
            state = snapshot_jobs.snapshot_build_request(study, request.user)
        except QueueUnavailable:
            return Response({"detail": QUEUE_DOWN}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(_snapshot_body(study, state), status=200 if state.ready else status.HTTP_202_ACCEPTED)


class SnapshotZipView(APIView):
    """The stored snapshot zip (sent from storage as it is). 409 when it is not built or out of date: POST
    ``…/snapshot/`` and wait for ``status: ready``."""

    @extend_schema(
        operation_id="analytics_snapshot_zip",
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 409: OpenApiTypes.OBJECT},
    )
    def get(self, request, study_id: int):
        study = study_for_pi(request.user, study_id, message=PI_ONLY)
        state = snapshot_jobs.snapshot_state(study, exact=True)
        if not state.ready:
            return Response(
                _snapshot_body(study, state)
                | {"detail": "The snapshot is not built for the current data: POST to the snapshot URL to build it."},
                status=status.HTTP_409_CONFLICT,
            )
        record = state.record
        return FileResponse(
            default_storage.open(record["path"], "rb"),
            as_attachment=True,
            filename=record.get("filename") or snapshot_filename(study),
            content_type="application/zip",
        )
