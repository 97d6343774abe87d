"""Serving de-identified DICOM instances to the viewer (Cornerstone3D ``wadouri:``) and thumbnails.

Answers 401/403/404 — never a redirect to the login page, which the viewer's XHR would follow and
then fail to parse.
"""

from __future__ import annotations

from django.http import FileResponse, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from studies.models import Instance, Membership, Read, Series
from studies.permissions import study_role
from studies.selectors import reader_may_view
from studies.slices import ordered_instances


def _may_see_case(user, case) -> bool:
    role = study_role(case.study_id, user)
    if role == Membership.Role.PI:
        return True
    if role != Membership.Role.READER:
        return False
    return any(reader_may_view(r) for r in Read.objects.filter(case=case, reader=user).select_related("study"))


def _deny(request):
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Your session has expired: log in again."}, status=401)
    return JsonResponse({"detail": "You do not have access to this image."}, status=403)


@require_GET
def instance_file(request, pk: int):
    """The stored Part-10 file (application/dicom), with an ETag and private caching."""
    instance = get_object_or_404(Instance.objects.select_related("series__case"), pk=pk)
    if not request.user.is_authenticated or not _may_see_case(request.user, instance.series.case):
        return _deny(request)
    etag = f'"{instance.sha256}"'
    if request.headers.get("If-None-Match") == etag:
        return HttpResponseNotModified(headers={"ETag": etag})
    response = FileResponse(instance.file.open("rb"), content_type="application/dicom")
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Length"] = str(instance.size or instance.file.size)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def series_payload(series: Series) -> dict:
    """Instances in slice-number order (along the slice normal, :mod:`studies.slices`), with the geometry the
    viewer needs; ``slice_number`` is the 1-based position the viewer shows, ``instance_number`` the DICOM one."""
    from django.urls import reverse

    from studies.services.display_window import series_default_window

    return {
        "id": series.pk,
        "series_instance_uid": series.series_instance_uid,
        "description": series.description,
        "rows": series.rows,
        "columns": series.columns,
        "pixel_spacing": series.pixel_spacing,
        # for images without Window Center/Width (studies.dicom.window): {lower, upper} or null
        "default_window": series_default_window(series),
        "instances": [
            {
                "id": inst.pk,
                "sop": inst.sop_instance_uid,
                "url": reverse("instance-file", args=[inst.pk]),
                "slice_number": number,
                "instance_number": inst.instance_number,
                "slice_position": inst.slice_position,
                "image_position": inst.image_position,
            }
            for number, inst in enumerate(ordered_instances(series), start=1)
        ],
    }


@require_GET
def series_detail(request, pk: int):
    series = get_object_or_404(Series.objects.select_related("case"), pk=pk)
    if not request.user.is_authenticated or not _may_see_case(request.user, series.case):
        return _deny(request)
    return JsonResponse(series_payload(series))


@require_GET
def series_thumbnail(request, pk: int):
    """A PNG of the middle slice (worklist thumbnail)."""
    series = get_object_or_404(Series.objects.select_related("case"), pk=pk)
    if not request.user.is_authenticated or not _may_see_case(request.user, series.case):
        return _deny(request)
    from studies.services.thumbnails import series_thumbnail_png

    png = series_thumbnail_png(series)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
