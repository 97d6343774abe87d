"""manage.py scoring_audit [--study ID] [--fix] [--no-pixels]: stored scores against a fresh computation."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from scoring.audit import study_scores_audit
from studies.management.commands._study import find_study
from studies.models import Study


class Command(BaseCommand):
    help = (
        "Recompute every ROI statistic, read score and M-score from scratch (the pixels, the current ROIs and "
        "settings) and report each stored value that differs; --fix stores the fresh values. Exit status 1 when "
        "differences remain. Run it before locking a study."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", help="study id or exact name (default: every study)")
        parser.add_argument("--fix", action="store_true", help="store the fresh values")
        parser.add_argument(
            "--no-pixels", action="store_true", help="trust the stored ROI statistics; check only derived scores"
        )
        parser.add_argument("--limit", type=int, default=20, help="differences listed per study (default 20)")

    def handle(self, *args, study=None, fix=False, no_pixels=False, limit=20, **options):
        studies = [find_study(study)] if study else list(Study.objects.order_by("pk"))
        remaining = 0
        for st in studies:
            report = study_scores_audit(study_id=st.pk, fix=fix, pixels=not no_pixels)
            n = len(report.differences)
            verb = "fixed" if report.fixed else "found"
            self.stdout.write(
                f"study {st.pk} ({st.name}): {report.rois_checked} ROIs and {report.reads_checked} reads checked, "
                f"{n} difference{'s' if n != 1 else ''} {verb}"
            )
            for diff in report.differences[:limit]:
                self.stdout.write(f"  {diff}")
            if n > limit:
                self.stdout.write(f"  … and {n - limit} more")
            if not report.fixed:
                remaining += n
        if remaining:
            raise SystemExit(1)
