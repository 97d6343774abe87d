"""The PI's page of the subject-key mapping (original Patient ID ↔ subject code): view, export as CSV, delete.

Only the study's PI (404 for non-members, 403 for readers); every view, export and deletion is audited
(:mod:`studies.services.subject_keys`). The page is never cached by the browser.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from studies.permissions import study_for_pi
from studies.services.subject_keys import subject_mapping, subject_mapping_csv, subject_mapping_delete


@login_required
@never_cache
def subject_key_list(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    rows = subject_mapping(study=study, user=request.user)
    return render(request, "studies/subject_keys.html", {"study": study, "rows": rows})


@login_required
@never_cache
def subject_key_export(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    response = HttpResponse(subject_mapping_csv(study=study, user=request.user), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-subject-mapping.csv"'
    return response


@login_required
@require_POST
def subject_key_delete(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    deleted = subject_mapping_delete(study=study, user=request.user)
    messages.success(
        request,
        _("Subject mapping deleted (%(deleted)d subjects); this study no longer keeps one.") % {"deleted": deleted},
    )
    return redirect("study-subject-keys", study_id=study.pk)
