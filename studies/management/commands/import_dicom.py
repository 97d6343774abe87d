"""manage.py import_dicom STUDY PATH — import a folder or zip of DICOM files into a study."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from studies.management.commands._study import find_study
from studies.services.dicom_import import dicom_import_run


class Command(BaseCommand):
    help = "Validate, de-identify and store a folder or zip of DICOM files; prints a per-file report."

    def add_arguments(self, parser):
        parser.add_argument("study", help="Study id or exact name")
        parser.add_argument("path", help="Folder or .zip")
        parser.add_argument("--quiet-accepted", action="store_true", help="List only skipped and rejected files")

    def handle(self, *args, study, path, quiet_accepted, **options):
        study = find_study(study)
        try:
            outcome = dicom_import_run(study=study, source=Path(path))
        except ValidationError as exc:
            self.stderr.write(" ".join(exc.messages))
            sys.exit(2)
        for row in outcome.report:
            if quiet_accepted and row["outcome"] == "accepted":
                continue
            self.stdout.write(f"{row['outcome']:9} {row['file']}" + (f" — {row['reason']}" if row["reason"] else ""))
        self.stdout.write(
            f"{outcome.total} file(s): {outcome.accepted} accepted, {outcome.skipped} skipped, "
            f"{outcome.rejected} rejected; {len(outcome.cases_created)} new case(s)."
        )
        for series in outcome.burned_in_series:
            self.stdout.write(f"WARNING burned-in annotation: {series}")
