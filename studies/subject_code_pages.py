"""PI page: subject codes (issue #15) — upload codes per Patient ID before importing, and re-key the study.

Re-keying is a job run by a worker (:class:`studies.models.RekeyJob`): the button queues it and the page shows the
latest one (queued, running with files done/total, done, failed with the reason), reloading itself while it is live.

Only the study's PI (404 for non-members, 403 for readers). The rules are in
:mod:`studies.services.subject_code_csv` and :mod:`studies.services.subject_rekey`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from studies.csv_upload_pages import csv_upload
from studies.models import AuditEvent, RekeyJob
from studies.permissions import study_for_pi
from studies.services.subject_code_csv import MAX_FILE_BYTES, pending_codes, subject_codes_import
from studies.services.subject_rekey import RekeyRefused, rekey_blocker, rekey_job_create
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable

#: :data:`studies.services.subject_code_csv.CODE_RULE` for the page (a test checks the English is the same).
CODE_RULE_TEXT = gettext_lazy("3–16 letters (A–Z), digits or dashes, starting with a letter or digit")


@login_required
def subject_codes_page(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    result, errors, filename = csv_upload(
        request,
        max_bytes=MAX_FILE_BYTES,
        no_file=_("Choose a CSV file of subject codes to upload."),
        store=lambda data, name: subject_codes_import(
            study=study,
            file_bytes_or_text=data,
            user=request.user,
            filename=name,
            new_patients=bool(request.POST.get("new_patients")),
        ),
    )
    if result is not None:
        text = _("Stored %(pending)d code(s) for patients still to be imported from “%(filename)s”") % {
            "pending": result.pending,
            "filename": filename,
        }
        if result.matched:
            text += _("; %(matched)d patient(s) already imported keep their code") % {"matched": result.matched}
        messages.success(request, text + _("."))
        return redirect("study-subject-codes", study_id=study.pk)
    return _page(request, study, errors=errors, filename=filename, status=400 if errors else 200)


def _page(request, study, *, errors=None, filename="", status: int = 200):
    last = (
        AuditEvent.objects.filter(study=study, action="subject_codes.upload").select_related("user").order_by("-at")
    ).first()
    return render(
        request,
        "studies/subject_codes.html",
        {
            "study": study,
            "errors": errors,
            "filename": filename,
            "pending": pending_codes(study),
            "n_cases": study.cases.count(),
            "code_rule": CODE_RULE_TEXT,
            "rekey_blocker": rekey_blocker(study),
            "rekey_job": RekeyJob.objects.filter(study=study).first(),
            "last_upload": last,
        },
        status=status,
    )


@login_required
@require_POST
def subject_codes_rekey_page(request, study_id: int):
    """Queue the re-keying and come back to the page, which shows its progress (503 when the queue is down)."""
    study = study_for_pi(request.user, study_id)
    try:
        rekey_job_create(study=study, user=request.user)
    except (RekeyRefused, ValidationError) as exc:
        messages.error(request, str(exc) if isinstance(exc, RekeyRefused) else " ".join(exc.messages))
    except QueueUnavailable:  # the job is shown below, failed; nothing changed
        messages.error(request, _(QUEUE_DOWN))
        return _page(request, study, status=503)
    else:
        messages.success(request, _("The subject codes are being replaced: this page shows the progress."))
    return redirect("study-subject-codes", study_id=study.pk)
