"""Cached analysis results (filled by the analytics jobs)."""

from django.db import models

from studies.models import Study


class AnalysisCache(models.Model):
    """One computed dashboard section for a study, valid while ``inputs_digest`` matches."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="analyses")
    section = models.CharField(max_length=40)
    inputs_digest = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "section"], name="uniq_analysis_section")]

    def __str__(self) -> str:
        return f"{self.study} {self.section} ({self.status})"
