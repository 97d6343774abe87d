"""PI page: hospital DICOM (issue #19) — the AE title a PACS sends the study's images to, DICOMweb servers,
searching and pulling images from them, and sending the reads' DICOM SRs to them (that form posts to scoring's
:func:`scoring.pages.sr_send_page`: studies does not import scoring).

Only the study's PI (404 for non-members, 403 for readers). Search results are the PACS's identified data: they are
shown in the response to the search and never stored (the page is sent with ``Cache-Control: no-store``). The
rules are in :mod:`studies.services.dicom_nodes` and :mod:`studies.services.dicomweb_pull`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from studies.models import Case, DicomReceiver, DicomWebServer, Read, Study
from studies.permissions import study_for_pi
from studies.services.dicom_nodes import listener_address, receiver_clear, receiver_set, server_add, server_delete
from studies.services.dicomweb_pull import pull_create, search
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable

SEARCH_FIELDS = ("patient_id", "accession_number", "date_from", "date_to")


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    """Field → messages; messages about no single field under "general" (templates cannot read "__all__")."""
    if not hasattr(exc, "error_dict"):
        return {"general": exc.messages}
    errors = dict(exc.message_dict)
    if "__all__" in errors:
        errors["general"] = errors.pop("__all__")
    return errors


def page_context(study: Study) -> dict:
    """What the page shows of ``study`` whatever the action (also for scoring's "Send DICOM SR" form, which posts
    to :func:`scoring.pages.sr_send_page` and answers with this page)."""
    submitted = study.reads.filter(status=Read.Status.SUBMITTED)
    return {
        "study": study,
        "servers": list(DicomWebServer.objects.filter(study=study)),
        "listener": listener_address(),
        "auth_choices": DicomWebServer.Auth.choices,
        "receiver": DicomReceiver.objects.filter(study=study).first(),
        "sr_submitted": submitted.count(),
        # the cases the send form offers: those with a submitted read (the rest have no SR to send)
        "sr_cases": list(
            Case.objects.filter(pk__in=submitted.values("case_id"))
            .order_by("subject_code")
            .values("pk", "subject_code")
        ),
    }


@login_required
def dicom_network_page(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    context = page_context(study)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "set_ae":
                receiver_set(study=study, ae_title=request.POST.get("ae_title", ""), user=request.user)
                messages.success(request, _("The AE title is set: images sent to it now go to this study."))
            elif action == "clear_ae":
                receiver_clear(study=study, user=request.user)
                messages.success(request, _("This study no longer receives images over DICOM."))
            elif action == "add_server":
                fields = {k: request.POST.get(k, "") for k in ("name", "url", "auth", "username", "secret")}
                server_add(study=study, user=request.user, **fields)
                messages.success(request, _("DICOMweb server “%(name)s” added.") % {"name": fields["name"].strip()})
            elif action == "delete_server":
                server = get_object_or_404(DicomWebServer, pk=request.POST.get("server"), study=study)
                server_delete(server=server, user=request.user)
                messages.success(request, _("DICOMweb server “%(name)s” removed.") % {"name": server.name})
            elif action == "search":
                return _search(request, study, context)
            elif action == "pull":
                return _pull(request, study, context)
            else:
                messages.error(request, _("Unknown action."))
            return redirect("study-dicom-network", study_id=study.pk)
        except ValidationError as exc:
            context["errors"] = _errors(exc)
            context["form_action"] = action
            context["posted"] = {k: v for k, v in request.POST.items() if k not in ("secret", "csrfmiddlewaretoken")}
            status = 400
    return render(request, "studies/dicom_network.html", context, status=status)


def _search(request, study, context):
    server = get_object_or_404(DicomWebServer, pk=request.POST.get("server"), study=study)
    query = {k: request.POST.get(k, "").strip() for k in SEARCH_FIELDS}
    context.update(search_server=server, query=query, form_action="search")
    try:
        context["results"] = search(server=server, user=request.user, **query)
    except ValidationError as exc:
        context["errors"] = _errors(exc)
        response = render(request, "studies/dicom_network.html", context, status=400)
    else:
        response = render(request, "studies/dicom_network.html", context)
    response["Cache-Control"] = "no-store"  # identified search results
    return response


def _pull(request, study, context):
    server = get_object_or_404(DicomWebServer, pk=request.POST.get("server"), study=study)
    picks = []
    for value in request.POST.getlist("pick"):
        study_uid, _sep, series_uid = value.partition("|")
        picks.append({"study_instance_uid": study_uid, "series_instance_uid": series_uid})
    try:
        job = pull_create(study=study, server=server, picks=picks, user=request.user)
    except QueueUnavailable:
        messages.error(request, _(QUEUE_DOWN))
        return redirect("study-imports", study_id=study.pk)
    except ValidationError as exc:
        context.update(errors=_errors(exc), form_action="pull")
        return render(request, "studies/dicom_network.html", context, status=400)
    messages.success(
        request,
        _("Pulling %(n)d item(s) from %(server)s: follow the import below.") % {"n": len(picks), "server": server.name},
    )
    return redirect("study-import-detail", study_id=study.pk, job_id=job.pk)
