"""PI page: every read of a study (reader, status, times, scores) with filters, sorting, and the PI's read actions.

The actions (reopen, reassign to another reader, void) each need a reason, which the audit log keeps. The list
costs a constant number of queries per page, whatever the number of reads.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from studies.models import Membership, Read
from studies.permissions import study_for_pi
from studies.services import read_actions, reading
from studies.services.reading import ReadClosed

PAGE_SIZE = 50

# ?sort= key → ordering field (a leading "-" sorts descending)
SORTS = {
    "reader": "reader__username",
    "case": "case__subject_code",
    "read_number": "read_number",
    "status": "status",
    "started": "started_at",
    "submitted": "submitted_at",
    "time": "time_on_task_seconds",
    "vbq": "score__vbq",
    "snr": "score__snr",
    "m_score": "score__m_score",
}
ACTIONS = {"reopen": _("Reopen"), "reassign": _("Reassign to…"), "void": _("Void")}


def _duration(seconds: float) -> str:
    seconds = round(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds else "—"


def _reads_context(request, study) -> dict:
    readers = list(
        Membership.objects.filter(study=study, role=Membership.Role.READER)
        .select_related("user")
        .order_by("user__username")
    )
    qs = Read.objects.filter(study=study).select_related("case", "reader", "score")
    filters = {
        "reader": request.GET.get("reader", ""),
        "status": request.GET.get("status", ""),
        "read_number": request.GET.get("read_number", ""),
        "case": request.GET.get("case", "").strip(),
    }
    if filters["reader"].isascii() and filters["reader"].isdigit():
        qs = qs.filter(reader_id=int(filters["reader"]))
    if filters["status"] in Read.Status.values:
        qs = qs.filter(status=filters["status"])
    if filters["read_number"].isascii() and filters["read_number"].isdigit():
        qs = qs.filter(read_number=int(filters["read_number"]))
    if filters["case"]:
        qs = qs.filter(case__subject_code__icontains=filters["case"])
    sort = request.GET.get("sort", "")
    field = SORTS.get(sort.removeprefix("-"))
    if field:
        order = [f"-{field}" if sort.startswith("-") else field, "pk"]
    else:
        sort = ""
        order = ["reader__username", "read_number", "order_index", "pk"]
    page = Paginator(qs.order_by(*order), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for read in page.object_list:
        score = getattr(read, "score", None)  # scoring's ReadScore (select_related: no query per row)
        reasons = [r for r in (score.vbq_reason, score.snr_reason, score.m_score_reason) if r] if score else []
        rows.append({"read": read, "score": score, "time": _duration(read.time_on_task_seconds), "qc": reasons})
    params = request.GET.copy()
    params.pop("page", None)
    sort_params = params.copy()
    sort_params.pop("sort", None)
    return {
        "study": study,
        "readers": readers,
        "rows": rows,
        "page": page,
        "filters": filters,
        "sort": sort,
        "statuses": Read.Status.choices,
        "read_numbers": range(1, study.reads_per_reader + 1),
        "actions": ACTIONS,
        "columns": [
            ("reader", _("Reader")),
            ("case", _("Case")),
            ("read_number", _("Read")),
            ("status", _("Status")),
            ("started", _("Opened")),
            ("submitted", _("Submitted")),
            ("time", _("Time")),
            ("vbq", "VBQ"),
            ("snr", "SNR"),
            ("m_score", "M-score"),
        ],
        "query": params.urlencode(),
        "sort_query": sort_params.urlencode(),
    }


@login_required
def study_reads(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    return render(request, "studies/reads.html", _reads_context(request, study))


@login_required
@require_POST
def study_read_action(request, study_id: int, read_id: int):
    study = study_for_pi(request.user, study_id)
    read = get_object_or_404(Read.objects.select_related("study", "case", "reader"), pk=read_id, study=study)
    action = request.POST.get("action", "")
    reason = request.POST.get("reason", "")
    try:
        if action == "reopen":
            reading.read_reopen(read=read, user=request.user, reason=reason)
        elif action == "reassign":
            read_actions.read_reassign(
                read=read, user=request.user, reader_id=request.POST.get("reader"), reason=reason
            )
        elif action == "void":
            read_actions.read_void(read=read, user=request.user, reason=reason)
        else:
            raise ValidationError(_("Choose an action: reopen, reassign or void."))
    except ValidationError as exc:
        context = _reads_context(request, study)
        context["error"] = f"{read.case.subject_code} · {read.reader.get_username()} · read {read.read_number}: " + (
            " ".join(exc.messages)
        )
        return render(request, "studies/reads.html", context, status=403 if isinstance(exc, ReadClosed) else 400)
    url = reverse("study-reads", args=[study.pk])
    return redirect(f"{url}?{request.GET.urlencode()}" if request.GET else url)
