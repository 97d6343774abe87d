"""Cached analysis results (filled by the analytics jobs)."""

from django.conf import settings
from django.db import models

from studies.models import Job, Study


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


class AgreementReaders(models.Model):
    """The readers whose first reads enter the study's inter-rater ICC, as the PI chose them (issue #16).

    An empty list (or no row) means every reader with analysed first reads. A study setting kept in analytics
    (not on ``Study``) because only the analyses read it; it is part of the agreement section's inputs digest.
    Readers who left the study or have no reads are ignored when the ICC is computed, and said so.
    """

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="agreement_readers")
    reader_ids = models.JSONField(default=list, blank=True, help_text="User ids; empty: every reader")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.study}: inter-rater readers {self.reader_ids or 'all'}"


class SnapshotJob(Job):
    """One build of a study's analysis snapshot zip (issue #20): asked for by the PI (page or API) or by locking
    the study, run by a Celery worker (:func:`analytics.snapshot_jobs.snapshot_job_run`), with its progress.

    Claim, heartbeat and sweep as every job (:mod:`vbqsite.jobs`). The zip it builds is the study's ``snapshot``
    :class:`AnalysisCache` row (the stored file and the inputs digest it was built from).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="snapshot_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    done = models.PositiveIntegerField(default=0, help_text="Progress: work units done (of total)")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["study", "status"], name="snapshotjob_study_status")]

    def __str__(self) -> str:
        return f"snapshot of {self.study_id} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0
