"""The reading page: one read, the Cornerstone3D viewer and the ROI protocol panel."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from studies.dicom_views import series_payload
from studies.models import Read, Roi
from studies.permissions import is_pi
from studies.protocol import protocol_for
from studies.selectors import reader_may_view
from studies.services.read_checks import required_labels
from studies.services.reading import reads_for_reader
from studies.viewer_i18n import exclusion_reasons, protocol_panel


@login_required
def read_viewer(request, read_id: int):
    read = get_object_or_404(Read.objects.select_related("study", "case__primary_series"), pk=read_id)
    pi = is_pi(read.study_id, request.user)
    if (read.reader_id != request.user.pk or read.status == Read.Status.VOIDED) and not pi:
        raise Http404("No such read.")  # a voided read is gone for its reader
    if read.reader_id == request.user.pk and not reader_may_view(read):
        raise PermissionDenied("This read is not open yet.")
    series = read.case.primary_series
    next_read = None
    if read.reader_id == request.user.pk:
        # the next open case after this one in the randomised worklist (then from its top): never code order
        worklist = list(reads_for_reader(study=read.study, reader=request.user, read_numbers=[read.read_number]))
        after = [r for r in worklist if r.order_index > read.order_index] + worklist
        next_read = next((r for r in after if r.status != Read.Status.SUBMITTED and r.pk != read.pk), None)
    labels = required_labels(read)
    editable = read.reader_id == request.user.pk and read.status != Read.Status.SUBMITTED and not read.study.locked
    cfg = {
        "readId": read.pk,
        "userId": request.user.pk,  # binds the prefetch hand-over to this user (a tab may change login)
        "subjectCode": read.case.subject_code,
        "readNumber": read.read_number,
        "status": read.status,
        "editable": editable,
        "readOnlyMessage": None if editable else _read_only_message(read, own=read.reader_id == request.user.pk),
        "roiApi": reverse("api-read-roi-list", args=[read.pk]),
        "readApi": reverse("api-read-detail", args=[read.pk]),
        "submitApi": reverse("api-read-submit", args=[read.pk]),
        "checksApi": reverse("api-read-checks", args=[read.pk]),
        "worklistUrl": reverse("study-detail", args=[read.study_id]),
        "nextUrl": reverse("read-viewer", args=[next_read.pk]) if next_read else None,
        # the next case's series payload (pixel-grant links): the viewer prefetches its slices once this case shows
        "nextSeriesUrl": _series_url(next_read),
        "csrfToken": get_token(request),
        "protocol": protocol_panel(protocol_for(read.study).viewer_config(labels)),
        "exclusionReasons": exclusion_reasons(),
        "sameSlice": read.study.same_slice_required,
        "series": series_payload(series, request) if series else None,  # pixel-grant links for this session
    }
    context = {"read": read, "cfg": cfg, "study": read.study}
    if pi:
        context["pi_summary"] = _pi_summary(read)
    return render(request, "studies/viewer.html", context)


def _series_url(read: Read | None) -> str | None:
    series_id = read.case.primary_series_id if read is not None else None
    return reverse("series-detail", args=[series_id]) if series_id else None


def _read_only_message(read: Read, *, own: bool) -> str:
    """Why the viewer shows this read view-only, in the words of the banner above the protocol panel."""
    if read.status == Read.Status.SUBMITTED:
        when = timezone.localtime(read.submitted_at).strftime("%Y-%m-%d %H:%M") if read.submitted_at else None
        if own and when:
            return _(
                "You submitted this read on %(when)s: view only. If it needs a correction, ask the PI to reopen it."
            ) % {"when": when}
        if own:
            return _("You submitted this read: view only. If it needs a correction, ask the PI to reopen it.")
        if when:
            return _("This read is submitted (%(when)s): view only.") % {"when": when}
        return _("This read is submitted: view only.")
    if read.study.locked:
        return _("The study is locked: view only.")
    return _("View only: you cannot change this read.")


def _pi_summary(read: Read) -> dict:
    """What the PI sees of a read's scores beside the viewer: the values, and which levels they were computed from.

    Readers never get this (blinding); it is the PI's check that an excluded level was left out.
    """
    protocol = protocol_for(read.study)
    rois = {r.label: r for r in Roi.objects.filter(read=read)}
    reasons = {r["value"]: r["label"] for r in exclusion_reasons()}
    excluded = [
        {"label": lv, "reason": reasons.get(rois[lv].exclusion_reason, rois[lv].exclusion_reason)}
        for lv in protocol.levels
        if lv in rois and rois[lv].excluded
    ]
    score = getattr(read, "score", None)  # scoring's ReadScore, when scored (studies does not import scoring)
    return {
        "reader": read.reader.get_username(),
        "levels_used": [lv for lv in protocol.levels if lv in rois and not rois[lv].excluded],
        "excluded": excluded,
        "score": score,
    }
