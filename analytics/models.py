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
    inputs_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the inputs of the result")
    inputs_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Cheap aggregate fingerprint of those inputs (checked by pages)"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(default=dict, blank=True)
    plots = models.JSONField(default=dict, blank=True, help_text="The points the section's figures are drawn from")
    error = models.TextField(blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="When a recomputation was last queued")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "section"], name="uniq_analysis_section")]

    def __str__(self) -> str:
        return f"{self.study} {self.section} ({self.status})"
