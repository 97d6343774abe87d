"""REST endpoints for studies, members, cases, reads and ROIs.

Views only check access and shape data; every change goes through ``studies.services``. Objects a
user may not see answer 404 (no existence leak); visible objects the user may not change answer 403.
"""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from studies.models import Case, Membership, Read, Roi, Study
from studies.permissions import is_pi, require_pi, require_study_creator
from studies.selectors import reader_may_view, reads_visible_to, roi_stats_shown, studies_visible_to
from studies.services import membership as membership_services
from studies.services import read_actions, reading, roi_save
from studies.services.read_checks import read_checks
from studies.services.read_opening import reads_opening

from . import serializers as s
from .import_views import CaseSeriesMixin
from .pagination import HeaderLimitOffsetPagination
from .parsers import ObjectJSONParser
from .schema import READ_ERRORS, STALE, VERSION_QUERY, WRITE_ERRORS

READ_ACTION = inline_serializer(
    "ReadAction",
    {"reason": serializers.CharField(), "reader": serializers.IntegerField(required=False, help_text="reassign")},
)


@extend_schema_view(
    retrieve=extend_schema(responses={200: s.StudySerializer, 404: READ_ERRORS[404]}),
    create=extend_schema(responses={201: s.StudySerializer, 400: WRITE_ERRORS[400]}),
    update=extend_schema(responses={200: s.StudySerializer, **WRITE_ERRORS}),
    partial_update=extend_schema(responses={200: s.StudySerializer, **WRITE_ERRORS}),
)
class StudyViewSet(
    CaseSeriesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Studies the user belongs to. Creating a study makes you its PI; only the PI changes settings."""

    serializer_class = s.StudySerializer

    def get_queryset(self):
        return studies_visible_to(self.request.user)

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        ctx["roles"] = (
            dict(Membership.objects.filter(user=self.request.user).values_list("study_id", "role"))
            if self.request.user.is_authenticated
            else {}
        )
        return ctx

    def _study_data(self, study: Study, roles: dict) -> dict:
        # Readers get the reduced study shape (no reading-plan seed or privacy settings).
        if roles.get(study.pk) == Membership.Role.PI:
            return s.StudySerializer(study, context=self.get_serializer_context()).data
        return s.ReaderStudySerializer(study).data

    def list(self, request, *args, **kwargs):
        roles = self.get_serializer_context()["roles"]
        return Response([self._study_data(st, roles) for st in self.get_queryset()])

    def retrieve(self, request, *args, **kwargs):
        return Response(self._study_data(self.get_object(), self.get_serializer_context()["roles"]))

    def perform_create(self, serializer):
        require_study_creator(self.request.user)  # an admin allows it ("Can add study"); 403 otherwise
        data = dict(serializer.validated_data)
        study = membership_services.study_create(created_by=self.request.user, **data)
        serializer.instance = study
        # The roles in the context were read before the study existed: the creator is its PI.
        serializer.context["roles"] = {**serializer.context.get("roles", {}), study.pk: Membership.Role.PI}

    def perform_update(self, serializer):
        require_pi(serializer.instance, self.request.user)
        membership_services.study_update(study=serializer.instance, user=self.request.user, **serializer.validated_data)

    @extend_schema(responses=s.MembershipSerializer(many=True), request=s.MemberAddSerializer)
    @action(detail=True, methods=["get", "post"])
    def members(self, request, pk=None):
        """List members (PI), or add one by username / e-mail (PI)."""
        study = self.get_object()
        require_pi(study, request.user)
        if request.method == "POST":
            payload = s.MemberAddSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            added = membership_services.member_add(study=study, added_by=request.user, **payload.validated_data)
            body = s.MembershipSerializer(added.membership).data | {"account_created": added.user_created}
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(s.MembershipSerializer(study.memberships.select_related("user"), many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<membership_id>\d+)")
    def member_remove(self, request, pk=None, membership_id=None):
        study = self.get_object()
        require_pi(study, request.user)
        membership = get_object_or_404(Membership, pk=membership_id, study=study)
        membership_services.member_remove(membership=membership, removed_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.CaseSerializer(many=True))
    @action(detail=True, methods=["get"])
    def cases(self, request, pk=None):
        """Cases with their reference data (PI only: readers never receive reference data)."""
        study = self.get_object()
        require_pi(study, request.user)
        cases = Case.objects.filter(study=study).select_related("reference").prefetch_related("series")
        pages = HeaderLimitOffsetPagination()  # ?limit= (100, at most 500) &offset=; the body stays a list
        page = pages.paginate_queryset(cases, request, self)
        return pages.get_paginated_response(s.CaseSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def plan(self, request, pk=None):
        """Create the reads of the reading plan that do not exist yet (PI)."""
        study = self.get_object()
        require_pi(study, request.user)
        created = reading.reading_plan_build(study=study, user=request.user)
        return Response({"reads_created": created, "reads_total": study.reads.count()})

    @extend_schema(request=None, responses=s.StudySerializer)
    @action(detail=True, methods=["post"])
    def lock(self, request, pk=None):
        """Lock the study: no more edits (PI)."""
        study = self.get_object()
        require_pi(study, request.user)
        membership_services.study_lock(study=study, user=request.user)
        return Response(s.StudySerializer(study, context=self.get_serializer_context()).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("study", int, required=False, description="Only the reads of this study")]
    ),
    retrieve=extend_schema(responses={200: s.PiReadSerializer, **READ_ERRORS}),
)
class ReadViewSet(viewsets.ReadOnlyModelViewSet):
    """Reads: a reader sees their own (blinded); a PI sees every read of their studies."""

    serializer_class = s.ReadSerializer
    pagination_class = HeaderLimitOffsetPagination

    def get_queryset(self):
        # a reader's reads in their randomised worklist order (never by subject code or import order)
        qs = (
            reads_visible_to(self.request.user)
            .select_related("case", "reader", "study")
            .order_by("study_id", "reader_id", "read_number", "order_index", "pk")
        )
        study = self.request.query_params.get("study")
        if study and re.fullmatch(r"[0-9]{1,18}", study):  # str.isdigit() also takes "²", which int() refuses
            qs = qs.filter(study_id=int(study))
        return qs

    def get_object(self):
        read = super().get_object()
        if read.reader_id == self.request.user.pk and not is_pi(read.study_id, self.request.user):
            if not reader_may_view(read):
                raise PermissionDenied(gettext("This read is not open (washout period, or a later read has opened)."))
        return read

    def list(self, request, *args, **kwargs):
        """The PI sees all reads with their scores; a reader sees only the reads open to them now (blinding)."""
        pi_of = set(
            Membership.objects.filter(user=request.user, role=Membership.Role.PI).values_list("study_id", flat=True)
        )
        reads = list(self.get_queryset().select_related("score"))
        openings = reads_opening(reads)  # two queries for the whole list, not per read
        reads = [r for r in reads if r.study_id in pi_of or openings[r.pk].may_view]
        page = self.paginate_queryset(reads)  # ?limit= (100, at most 500) &offset=; the body stays a list
        ctx = {"openings": openings}
        data = [(s.PiReadSerializer if r.study_id in pi_of else s.ReadSerializer)(r, context=ctx).data for r in page]
        return self.get_paginated_response(data)

    def retrieve(self, request, *args, **kwargs):
        read = self.get_object()
        return Response(self._data(read, is_pi(read.study_id, request.user)))

    @staticmethod
    def _data(read: Read, pi: bool) -> dict:
        # Readers do not get scores: the VBQ of their own read could bias later reads.
        return (s.PiReadSerializer if pi else s.ReadSerializer)(read).data

    @extend_schema(request=None, responses=s.ReadSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Close the read when the protocol is complete (the reader); 400 lists what is missing."""
        read = self.get_object()
        read = reading.read_submit(read=read, user=request.user)
        return Response(s.ReadSerializer(read).data)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["get"])
    def checks(self, request, pk=None):
        """Protocol problems (block submit) and anatomy/quality warnings for this read (a reader's warnings
        quote no more of the ROI statistics than the study lets readers see)."""
        read = self.get_object()
        return Response(read_checks(read, stats_shown=roi_stats_shown(read, request.user)))

    @extend_schema(request=READ_ACTION, responses={200: s.ReadSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Reopen a submitted read (PI); ``reason`` is required and audited."""
        read = self._pi_read(request)
        read = reading.read_reopen(read=read, user=request.user, reason=request.data.get("reason"))
        return Response(s.ReadSerializer(read).data)

    @extend_schema(request=READ_ACTION, responses={200: s.ReadSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        """Give the read to another reader of the study (PI): a new read (answered) at the end of that reader's
        worklist; this one is voided and kept with its ROIs. ``reason`` and ``reader`` (user id) are required."""
        read = self._pi_read(request)
        new = read_actions.read_reassign(
            read=read, user=request.user, reader_id=request.data.get("reader"), reason=request.data.get("reason")
        )
        return Response(s.ReadSerializer(new).data)

    @extend_schema(request=READ_ACTION, responses={200: s.ReadSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        """Void the read (PI): out of its reader's worklist and the analytics, kept in the history."""
        read = self._pi_read(request)
        read = read_actions.read_void(read=read, user=request.user, reason=request.data.get("reason"))
        return Response(s.ReadSerializer(read).data)

    def _pi_read(self, request) -> Read:
        read = self.get_object()
        require_pi(read.study, request.user)
        return read


@extend_schema_view(
    list=extend_schema(responses={200: s.RoiSerializer(many=True), **READ_ERRORS}),
    retrieve=extend_schema(responses={200: s.RoiSerializer, **READ_ERRORS}),
    create=extend_schema(responses={201: s.RoiSerializer, **WRITE_ERRORS, 409: STALE}),
    update=extend_schema(responses={200: s.RoiSerializer, **WRITE_ERRORS, 409: STALE}),
    partial_update=extend_schema(responses={200: s.RoiSerializer, **WRITE_ERRORS, 409: STALE}),
    destroy=extend_schema(parameters=[VERSION_QUERY], responses={204: None, **WRITE_ERRORS, 409: STALE}),
)
class RoiViewSet(viewsets.ModelViewSet):
    """ROIs of one read. Writes need the read's reader and, for PUT/PATCH/DELETE, the current version."""

    serializer_class = s.RoiSerializer
    parser_classes = [ObjectJSONParser]  # the viewer and scripts send JSON objects
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_read(self) -> Read:
        if not hasattr(self, "_read"):
            read = get_object_or_404(
                reads_visible_to(self.request.user).select_related("study"), pk=self.kwargs["read_pk"]
            )
            if read.reader_id == self.request.user.pk and not reader_may_view(read):
                raise PermissionDenied(gettext("This read is not open."))
            self._read = read
        return self._read

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Roi.objects.none()
        return Roi.objects.filter(read=self.get_read()).select_related("score")

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and "read_pk" in self.kwargs:
            ctx["stats_shown"] = roi_stats_shown(self.get_read(), self.request.user)  # blinding: see the setting
        return ctx

    # Saves check access, blinding and the version in the save's own query (studies.services.roi_save: 4 queries).

    def _saved(self, saved: roi_save.Saved, code: int = status.HTTP_200_OK) -> Response:
        context = {"request": self.request, "stats_shown": saved.stats_shown}
        return Response(s.RoiSerializer(saved.roi, context=context).data, status=code)

    def create(self, request, *args, **kwargs):
        saved = roi_save.save_roi_create(read_id=self._pk("read_pk"), user=request.user, data=dict(request.data))
        return self._saved(saved, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        data = {k: v for k, v in request.data.items() if k != "version"}
        saved = roi_save.save_roi_update(
            read_id=self._pk("read_pk"),
            roi_id=self._pk("pk"),
            user=request.user,
            data=data,
            version=request.data.get("version"),
        )
        return self._saved(saved)

    def destroy(self, request, *args, **kwargs):
        version = request.query_params.get("version") or (request.data or {}).get("version")
        if isinstance(version, str) and re.fullmatch(r"[0-9]{1,18}", version):
            version = int(version)  # a query parameter is text; anything but digits is refused by the service
        roi_save.save_roi_delete(read_id=self._pk("read_pk"), roi_id=self._pk("pk"), user=request.user, version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _pk(self, name: str) -> int:
        value = int(self.kwargs[name])  # the URL's <int:…> converter
        if value > 2**63 - 1:  # no row has it, and the database driver cannot even take it (OverflowError: a 500)
            raise Http404("No such read or ROI.")
        return value
