"""The audit trail: who did what and when, per study for its PI and site-wide for admins (is_staff).

Filters (reader, case, action, time range) apply to the page and to its CSV export alike; newest first,
100 rows a page, a constant number of queries whatever the rows.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from studies.models import AuditEvent
from studies.permissions import study_for_pi
from studies.services.audit_trail import audit_csv_lines, audit_events, audit_filters, audit_row

PAGE_SIZE = 100


def _staff(user) -> None:
    if not user.is_staff:
        raise PermissionDenied("Only administrators see the site-wide audit trail.")


def _page(request, study):
    filters = audit_filters(request.GET)
    page = Paginator(audit_events(study=study, filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    scope = AuditEvent.objects.filter(study=study) if study is not None else AuditEvent.objects.all()
    actions = list(scope.order_by("action").values_list("action", flat=True).distinct())
    users = list(
        scope.exclude(user=None).order_by("user__username").values_list("user__username", flat=True).distinct()
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "studies/audit.html",
        {
            "study": study,
            "filters": filters,
            "page": page,
            "rows": [audit_row(e) for e in page.object_list],
            "actions": actions,
            "users": users,
            "query": query.urlencode(),
        },
    )


def _csv(request, study):
    events = audit_events(study=study, filters=audit_filters(request.GET))
    response = StreamingHttpResponse(audit_csv_lines(events), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"study-{study.pk}-audit-{stamp}.csv" if study is not None else f"audit-{stamp}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@never_cache
def study_audit(request, study_id: int):
    return _page(request, study_for_pi(request.user, study_id))


@login_required
@never_cache
def study_audit_csv(request, study_id: int):
    return _csv(request, study_for_pi(request.user, study_id))


@login_required
@never_cache
def site_audit(request):
    _staff(request.user)
    return _page(request, None)


@login_required
@never_cache
def site_audit_csv(request):
    _staff(request.user)
    return _csv(request, None)
