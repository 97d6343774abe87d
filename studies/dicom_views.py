"""Serving de-identified DICOM instances to the viewer (Cornerstone3D ``wadouri:``) and thumbnails.

The viewer's instance links are pixel-grant links (:mod:`studies.pixel_grants`): access is checked once per
series when the links are issued (``series_payload`` with the request), and :func:`granted_file` then sends
each file without a database query; with ``PIXEL_LINK_SECRET`` set they are pixel links
(:mod:`studies.pixel_links`) that nginx checks and serves itself. ``/dicom/instances/<id>/file`` (checked per
request) stays for other clients.

Answers 401/403/404 — never a redirect to the login page, which the viewer's XHR would follow and
then fail to parse.
"""

from __future__ import annotations

import os
import posixpath

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_safe

from studies import pixel_grants, pixel_links
from studies.models import Instance, Membership, Read, Series
from studies.permissions import study_role
from studies.pixel_serving import file_response, nginx_etag
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


@require_safe
def instance_file(request, pk: int):
    """The stored Part-10 file (application/dicom), access checked on every request; ETag = its SHA-256."""
    instance = get_object_or_404(Instance.objects.select_related("series__case"), pk=pk)
    if not request.user.is_authenticated or not _may_see_case(request.user, instance.series.case):
        return _deny(request)
    return file_response(
        request,
        instance.file.path,
        relative=instance.file.name,
        etag=f'"{instance.sha256}"',
        size=instance.size or instance.file.size,
        max_age=3600,
    )


@require_safe
def granted_file(request, token: str, name: str):
    """A file of the series a pixel grant opens, for the session it was issued to: no database query.

    401 without a session cookie, 403 for a tampered, expired or other session's grant, 404 for a name that is
    not a file of the series' folder. Under gunicorn, valid grants are answered the same way before Django's
    middleware runs (:mod:`studies.pixel_wsgi`); this view gives every other answer, and serves runserver and tests.
    """
    try:
        grant = pixel_grants.verify(token, request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    except pixel_grants.GrantError as e:
        return JsonResponse({"detail": e.detail}, status=e.status)
    if not pixel_grants.FILE_NAME.fullmatch(name):
        return JsonResponse({"detail": "No such image."}, status=404)
    relative = f"{grant.folder}/{name}"
    path = os.path.join(settings.MEDIA_ROOT, relative)
    try:
        stat = os.stat(path)
    except OSError:
        return JsonResponse({"detail": "No such image."}, status=404)
    return file_response(
        request, path, relative=relative, etag=nginx_etag(stat), size=stat.st_size, max_age=_grant_max_age()
    )


@require_safe
def linked_file(request, rest: str):
    """A file a pixel link (:mod:`studies.pixel_links`) opens, checked as nginx checks it.

    Behind deploy/nginx.conf nginx answers these links itself; this view answers them where no nginx is in front
    (``runserver``, tests), with the same statuses: 401 without a session cookie, 403 for a tampered, expired or
    other session's link, 404 for a missing file.
    """
    try:
        relative = pixel_links.verify(rest, request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    except pixel_links.LinkError as e:
        return JsonResponse({"detail": e.detail}, status=e.status)
    path = os.path.join(settings.MEDIA_ROOT, relative)
    try:
        stat = os.stat(path)
    except OSError:
        return JsonResponse({"detail": "No such image."}, status=404)
    if not os.path.isfile(path):
        return JsonResponse({"detail": "No such image."}, status=404)
    return file_response(
        request, path, relative=relative, etag=nginx_etag(stat), size=stat.st_size, max_age=_grant_max_age()
    )


def _grant_max_age() -> int:
    # the link dies with its grant: a browser may keep the bytes (never changing) as long as the link lives
    return int(settings.PIXEL_GRANT_SECONDS)


class _Grants:
    """Instance links for one request: a grant per series folder (normally one), issued on first use."""

    def __init__(self, request, series: Series) -> None:
        from django.urls import reverse

        self.request, self.series, self.reverse, self.tokens = request, series, reverse, {}
        session = getattr(request, "session", None)
        # The one place grants are issued: checked here again whatever the caller checked (a reader whose
        # membership was removed may still open their read's page, but gets no grant: the links answer 403).
        if session is None or not request.user.is_authenticated or not _may_see_case(request.user, series.case):
            self.session_key = None
            return
        if session.session_key is None:
            session.save()  # a logged-in session always has a key; this covers sessions not stored yet
        self.session_key = session.session_key

    def url(self, inst: Instance) -> str:
        if self.session_key is None:  # no session to bind to, or not allowed: the per-request checked view
            return self.reverse("instance-file", args=[inst.pk])
        folder, name = posixpath.split(inst.file.name)
        if pixel_links.enabled() and pixel_links.issuable(folder, name):
            # nginx checks and sends these itself (deploy/nginx.conf): no Python per file
            if ("link", folder) not in self.tokens:
                self.tokens["link", folder] = pixel_links.folder_link(folder, self.session_key)
            return self.tokens["link", folder] + name
        if folder not in self.tokens:
            self.tokens[folder] = pixel_grants.issue(
                series_id=self.series.pk, folder=folder, user_id=self.request.user.pk, session_key=self.session_key
            )
        return self.reverse("instance-file-granted", args=[self.tokens[folder], name])


def series_payload(series: Series, request=None) -> dict:
    """Instances in slice-number order (along the slice normal, :mod:`studies.slices`), with the geometry the
    viewer needs; ``slice_number`` is the 1-based position the viewer shows, ``instance_number`` the DICOM one.

    With ``request`` (whose user the caller has allowed to see ``series``) each ``url`` is a pixel-grant link for
    that session; without, the per-instance checked URL.
    """
    from django.urls import reverse

    from studies.services.display_window import series_default_window

    grants = _Grants(request, series) if request is not None else None
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
                "url": grants.url(inst) if grants else reverse("instance-file", args=[inst.pk]),
                "slice_number": number,
                "instance_number": inst.instance_number,
                "frame": inst.frame_number,  # of a multi-frame file (the file's url is shared): ?frame= in wadouri
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
    return JsonResponse(series_payload(series, request))


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
