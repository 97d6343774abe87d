"""Scoring's pages: sending the reads' DICOM SRs to a PACS from the study's Hospital DICOM page (issue #19 point 4).

The form is a section of studies' Hospital DICOM page (``templates/studies/dicom_network.html``); it posts here and
the answer is that page with the result: how many SRs were stored, and each read not sent with the reason. The
study's PI only (404 for non-members, 403 for readers). Sending changes nothing in the study (its reads, ROIs and
images stay as they are), so it works on a locked study too. Each send that stored an SR is in the audit trail
(``sr.send``, :func:`scoring.sr_send.sr_send`); the scope rule is :func:`scoring.sr_send.sr_send_scope`, the same as
the API's ``POST /api/studies/{id}/sr/send/``.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from studies.dicom_network_pages import page_context
from studies.models import Case, DicomWebServer, Study
from studies.permissions import study_for_pi


class SrSendForm(forms.Form):
    """The send form's choices, bounded to ``study``: one of its DICOMweb servers; one of its cases (or none:
    the whole study)."""

    server = forms.ModelChoiceField(
        queryset=DicomWebServer.objects.none(),
        error_messages={
            "required": gettext_lazy("Choose the DICOMweb server to send to."),
            "invalid_choice": gettext_lazy("That DICOMweb server is not registered for this study (any more)."),
        },
    )
    case = forms.ModelChoiceField(
        queryset=Case.objects.none(),
        required=False,
        error_messages={"invalid_choice": gettext_lazy("That case is not in this study.")},
    )

    def __init__(self, *args, study: Study, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].queryset = DicomWebServer.objects.filter(study=study)
        self.fields["case"].queryset = Case.objects.filter(study=study)


@login_required
@require_POST
def sr_send_page(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    context = page_context(study) | {"form_action": "sr_send"}
    context["sr_posted"] = {k: request.POST.get(k, "") for k in ("server", "case")}
    form = SrSendForm(request.POST, study=study)
    if not form.is_valid():
        context["sr_errors"] = [message for messages in form.errors.values() for message in messages]
        return render(request, "studies/dicom_network.html", context, status=400)
    from scoring.sr_send import sr_send_scope  # highdicom and the SR builder on the first send, not at start-up

    try:
        context["sr_result"] = sr_send_scope(
            study=study, server=form.cleaned_data["server"], case=form.cleaned_data["case"], user=request.user
        )
    except ValidationError as exc:  # nothing to send, too many reads, the server is down or refused
        context["sr_errors"] = exc.messages
        return render(request, "studies/dicom_network.html", context, status=400)
    return render(request, "studies/dicom_network.html", context)
