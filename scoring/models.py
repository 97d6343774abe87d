"""Stored results of scoring: ROI pixel statistics and per-read scores.

Results are keyed by the ROI version they were computed from, so a stale job never overwrites a newer
result; the periodic sweep recomputes anything missing or stale.
"""

from django.db import models

from studies.models import Job, Read, Roi


class RoiScore(models.Model):
    # No database constraint and no ORM cascade: deleting an ROI is then one DELETE (a save costs ≤ 4 queries,
    # studies.services.roi_save); scoring removes the deleted ROI's statistics right after (the delete event) and the
    # periodic sweep any left by a read or study deletion (scoring.roi_jobs.orphan_scores_delete).
    roi = models.OneToOneField(Roi, on_delete=models.DO_NOTHING, db_constraint=False, related_name="score")
    roi_version = models.PositiveIntegerField()
    n = models.PositiveIntegerField(null=True)
    area_mm2 = models.FloatField(null=True)
    mean = models.FloatField(null=True)
    median = models.FloatField(null=True)
    sd = models.FloatField(null=True, help_text="Sample SD (ddof = 1)")
    min = models.FloatField(null=True)
    max = models.FloatField(null=True)
    error = models.TextField(blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.roi} n={self.n} mean={self.mean}"


class ReadScore(models.Model):
    read = models.OneToOneField(Read, on_delete=models.CASCADE, related_name="score")
    inputs_digest = models.CharField(max_length=64, help_text="Digest of the ROI versions and settings used")
    vbq = models.FloatField(null=True)
    vbq_reason = models.CharField(max_length=300, blank=True)
    snr_levels = models.JSONField(default=dict, help_text="{'L1': SNR, …}")
    snr = models.FloatField(null=True, help_text="SNR L1–L4 = mean of the per-level SNRs")
    snr_reason = models.CharField(max_length=300, blank=True)
    m_score = models.FloatField(null=True)
    m_score_reason = models.CharField(max_length=300, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.read} VBQ={self.vbq}"


class RescoreJob(Job):
    """Progress of a whole-study rescore (shown to the PI)."""

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="rescore_jobs")
    force = models.BooleanField(default=False, help_text="Every ROI, not only those without a current result")

    def __str__(self) -> str:
        return f"rescore {self.study_id}: {self.done}/{self.total} ({self.status})"
