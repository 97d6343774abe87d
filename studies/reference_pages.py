"""PI page: reference-data CSV import (upload, per-row error table, current reference data)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from studies.csv_upload_pages import csv_upload
from studies.models import AuditEvent, Case, ReferenceRecord
from studies.permissions import study_for_pi
from studies.services.reference_csv import COLUMNS, MAX_FILE_BYTES, reference_import

BMD_UNITS = {ReferenceRecord.Modality.QCT: "mg/cm³", ReferenceRecord.Modality.DEXA: "g/cm²"}


@login_required
def reference_page(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    result, errors, filename = csv_upload(
        request,
        max_bytes=MAX_FILE_BYTES,
        no_file=_("Choose a CSV file of reference data to upload."),
        store=lambda data, name: reference_import(
            study=study, file_bytes_or_text=data, user=request.user, filename=name
        ),
    )
    if result is not None:
        text = _("Imported reference data of %(imported)d subject(s) from “%(filename)s”") % {
            "imported": result.imported,
            "filename": filename,
        }
        if result.replaced:
            text += _(", replacing the %(replaced)d earlier record(s)") % {"replaced": result.replaced}
        if result.controls is not None:
            text += _("; %(controls)d control(s)") % {"controls": result.controls}
        messages.success(request, text + _("."))
        return redirect("study-reference", study_id=study.pk)

    cases = list(Case.objects.filter(study=study).select_related("reference").order_by("subject_code"))
    rows = [
        {"case": c, "ref": c.reference, "unit": BMD_UNITS.get(c.reference.modality, "")}
        for c in cases
        if hasattr(c, "reference")
    ]
    last_import = (
        AuditEvent.objects.filter(study=study, action="reference.import").select_related("user").order_by("-at").first()
    )
    return render(
        request,
        "studies/reference.html",
        {
            "study": study,
            "errors": errors,
            "filename": filename,
            "rows": rows,
            "n_cases": len(cases),
            "n_missing": len(cases) - len(rows),
            "columns": COLUMNS,
            "last_import": last_import,
        },
    )
