"""PI pages: image import (upload, live progress, per-file report) and cases with their series."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from studies.api.import_views import case_primary_series_set, save_upload, upload_refused
from studies.import_reasons import report_row_for_page
from studies.models import Case, ImportJob, Series
from studies.permissions import study_for_pi
from studies.services.dicom_import import import_job_create
from studies.services.import_jobs import import_job_retry
from vbqsite.queue import QueueUnavailable


@login_required
def import_list(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    refused = None
    code = 200
    if request.method == "POST":
        refused = upload_refused(request)  # before the body is read
        upload = None if refused is not None else request.FILES.get("file")
        if refused is not None:
            messages.error(request, refused.data["detail"])
        elif upload is None:
            messages.error(request, _("Choose a .zip file of DICOM images to upload."))
        else:
            try:
                job = import_job_create(study=study, user=request.user, source=save_upload(upload))
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            except QueueUnavailable as exc:  # the job is listed below, failed, with a Retry button
                messages.error(request, str(exc))
                code = 503
            else:
                return redirect("study-import-detail", study_id=study.pk, job_id=job.pk)
    jobs = ImportJob.objects.filter(study=study).order_by("-created_at")[:50]
    return render(
        request, "studies/imports.html", {"study": study, "jobs": jobs}, status=413 if refused is not None else code
    )


@login_required
@require_POST
def import_retry(request, study_id: int, job_id: int):
    """PI: queue a failed or stuck import again (same job), if its upload is still kept."""
    study = study_for_pi(request.user, study_id)
    job = get_object_or_404(ImportJob, pk=job_id, study=study)
    try:
        import_job_retry(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except QueueUnavailable as exc:
        messages.error(request, str(exc))
        jobs = ImportJob.objects.filter(study=study).order_by("-created_at")[:50]
        return render(request, "studies/imports.html", {"study": study, "jobs": jobs}, status=503)
    else:
        messages.success(request, _("Import #%(number)s is queued again.") % {"number": job.pk})
    return redirect("study-import-detail", study_id=study.pk, job_id=job.pk)


@login_required
def import_detail(request, study_id: int, job_id: int):
    study = study_for_pi(request.user, study_id)
    job = get_object_or_404(ImportJob, pk=job_id, study=study)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(
            {
                "status": job.status,
                "done": job.done,
                "total": job.total,
                "accepted": job.accepted,
                "skipped": job.skipped,
                "rejected": job.rejected,
                "error": job.error,
            }
        )
    problems = [report_row_for_page(row) for row in job.report if row["outcome"] != "accepted" or row.get("reason")]
    return render(
        request,
        "studies/import_detail.html",
        {
            "study": study,
            "job": job,
            "problems": problems,
            "pct": round(100 * job.done / job.total) if job.total else 0,
        },
    )


@login_required
def case_list(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    cases = (
        Case.objects.filter(study=study)
        .select_related("primary_series", "reference")
        .prefetch_related("series__instances")
    )
    return render(request, "studies/cases.html", {"study": study, "cases": cases})


@login_required
@require_POST
def case_primary_series(request, study_id: int, case_id: int):
    study = study_for_pi(request.user, study_id)
    case = get_object_or_404(Case, pk=case_id, study=study)
    series = get_object_or_404(Series, pk=request.POST.get("series") or 0, case=case)
    case_primary_series_set(case=case, series=series, user=request.user)
    messages.success(
        request,
        _("%(subject)s: readers now measure “%(series)s”.")
        % {"subject": case.subject_code, "series": series.description or series.pk},
    )
    return redirect("study-cases", study_id=study.pk)
