"""manage.py import_reference STUDY FILE — import a study's reference-data CSV (all rows or none)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from studies.management.commands._study import find_study
from studies.services.reference_csv import ReferenceImportError, reference_import


class Command(BaseCommand):
    help = (
        "Check a reference-data CSV (QCT/DEXA T-score, BMD, demographics, control flag) row by row and, if every "
        "row is valid, replace the study's reference data with it. Exit status 2 when the file is rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="Study id or exact name")
        parser.add_argument("file", help="CSV file (UTF-8, comma or semicolon separated)")
        parser.add_argument("--user", help="Username recorded in the audit log (default: none)")

    def handle(self, *args, study, file, user=None, **options):
        study = find_study(study)
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"No user named {user!r}.")
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.stderr.write(f"Cannot read {path}: {exc.strerror or exc}.")
            sys.exit(2)
        try:
            result = reference_import(study=study, file_bytes_or_text=data, user=actor, filename=path.name)
        except ReferenceImportError as exc:
            self.stderr.write(f"{path.name} rejected — nothing was stored. {len(exc.errors)} problem(s):")
            for error in exc.errors:
                self.stderr.write(f"  {error}")
            sys.exit(2)
        except ValidationError as exc:  # a locked study
            self.stderr.write(" ".join(exc.messages))
            sys.exit(2)
        summary = f"{study.name}: reference data of {result.imported} subject(s) imported from {path.name}"
        if result.replaced:
            summary += f" (replaced {result.replaced} earlier record(s))"
        if result.controls is not None:
            summary += f"; {result.controls} control(s)"
        if result.covariates:
            summary += f"; covariates: {', '.join(result.covariates)}"
        self.stdout.write(summary + ".")
