"""PI page: reference-data CSV import (upload, per-row error table, current reference data)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from studies.models import AuditEvent, Case, ReferenceRecord
from studies.permissions import study_for_pi
from studies.services.reference_csv import (
    COLUMNS,
    MAX_FILE_BYTES,
    ReferenceImportError,
    RowError,
    reference_import,
)

BMD_UNITS = {ReferenceRecord.Modality.QCT: "mg/cm³", ReferenceRecord.Modality.DEXA: "g/cm²"}


@login_required
def reference_page(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    errors: list[RowError] = []
    filename = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "Choose a CSV file of reference data to upload.")
        elif upload.size > MAX_FILE_BYTES:
            messages.error(request, f"The file is larger than {MAX_FILE_BYTES // 1024**2} MB; is it the right one?")
        else:
            filename = upload.name or ""
            try:
                result = reference_import(
                    study=study, file_bytes_or_text=upload.read(), user=request.user, filename=filename
                )
            except ReferenceImportError as exc:
                errors = exc.errors
            except ValidationError as exc:  # a locked study
                messages.error(request, " ".join(exc.messages))
            else:
                text = f"Imported reference data of {result.imported} subject(s) from “{filename}”"
                if result.replaced:
                    text += f", replacing the {result.replaced} earlier record(s)"
                if result.controls is not None:
                    text += f"; {result.controls} control(s)"
                messages.success(request, text + ".")
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
