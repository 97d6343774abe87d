"""Studies, members, cases, images, reference data, reads, ROIs and the audit log.

Business rules live in ``studies.services``; models only hold data and constraints.
"""

from __future__ import annotations

import math
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from studies.protocol import LABEL_CHOICES, PROTOCOLS, protocol_for


def _new_seed() -> int:
    return secrets.randbelow(2**31 - 1)


def validate_finite(value) -> None:
    """A number, not NaN or ±infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(gettext("Enter a finite number."), code="not_finite")


#: Bounds of the study settings the API and the settings page enforce (``Study.clean`` adds the cross-field rules:
#: max ROI area > min ROI area, min_levels_vbq ≤ the protocol's number of levels).
MAX_ROI_AREA_MM2 = 100_000.0  # 1,000 cm²: more than a whole sagittal field of view
MAX_READS_PER_READER = 10  # repeated reads per reader and case (intra-rater ICC needs 2; 10 is already a lot)
MAX_WASHOUT_DAYS = 365
MAX_LEVELS = max(len(p.levels) for p in PROTOCOLS.values())


class Study(models.Model):
    class RoiStatistic(models.TextChoices):
        MEAN = "mean", _("Mean of the ROI (as read on a PACS workstation)")
        MEDIAN = "median", _("Median of the ROI")

    class NoiseCorrection(models.TextChoices):
        RAW = "raw", _("Raw SD of the background ROI (as published)")
        RAYLEIGH = "rayleigh", _("Rayleigh-corrected SD (SD / 0.655)")

    class DateHandling(models.TextChoices):
        SHIFT = "shift", _("Shift dates consistently per subject")
        REMOVE = "remove", _("Remove dates")

    class ReaderRoiStats(models.TextChoices):
        NONE = "none", _("None: readers see no ROI statistics")
        QUALITY = "quality", _("Quality: n, area and the QC warnings (no SI values)")
        FULL = "full", _("Full: n, area, mean, median and SD of each ROI")

    class ConsensusRule(models.TextChoices):
        FIRST_READS = "first_reads", _("Mean over readers of their first reads")
        ALL_READS = "all_reads", _("Mean over all reads")
        READER = "reader", _("One chosen reader's first read")

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    # Measurement protocol
    measure_vbq = models.BooleanField(default=True, help_text="VBQ = median SI(L1–L4) / SI(CSF at L3)")
    measure_snr = models.BooleanField(default=True, help_text="SNR and M-score (needs a background ROI)")
    roi_statistic = models.CharField(max_length=10, choices=RoiStatistic.choices, default=RoiStatistic.MEAN)
    min_levels_vbq = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LEVELS)],
        help_text="Fewest measured (not excluded) levels a VBQ is computed from",
    )
    noise_correction = models.CharField(max_length=10, choices=NoiseCorrection.choices, default=NoiseCorrection.RAW)
    same_slice_required = models.BooleanField(
        default=True, help_text="All vertebral and CSF ROIs on one (mid-sagittal) slice"
    )
    roi_area_min_mm2 = models.FloatField(
        default=20.0, validators=[validate_finite, MinValueValidator(0.0), MaxValueValidator(MAX_ROI_AREA_MM2)]
    )
    roi_area_max_mm2 = models.FloatField(
        default=1500.0,
        validators=[validate_finite, MinValueValidator(0.0), MaxValueValidator(MAX_ROI_AREA_MM2)],
        help_text="Must be larger than the minimum ROI area",
    )
    consensus_rule = models.CharField(max_length=20, choices=ConsensusRule.choices, default=ConsensusRule.FIRST_READS)
    consensus_reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Reading plan
    reads_per_reader = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(MAX_READS_PER_READER)]
    )
    washout_days = models.PositiveSmallIntegerField(default=14, validators=[MaxValueValidator(MAX_WASHOUT_DAYS)])
    randomisation_seed = models.BigIntegerField(default=_new_seed, validators=[MinValueValidator(0)])

    # Blinding: what readers see of their ROIs' statistics (the PI always sees them all). With L1–L4 and CSF
    # means on screen a reader could compute the VBQ, and anchor a second read to the first.
    reader_roi_stats = models.CharField(
        max_length=10,
        choices=ReaderRoiStats.choices,
        default=ReaderRoiStats.QUALITY,
        help_text="ROI statistics shown to readers (the PI always sees all of them)",
    )

    # Privacy
    date_handling = models.CharField(max_length=10, choices=DateHandling.choices, default=DateHandling.SHIFT)
    keep_subject_mapping = models.BooleanField(
        default=True, help_text="Keep original patient ID ↔ subject code (visible to the PI only)"
    )

    locked = models.BooleanField(default=False)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Rules across settings (single-field bounds are the fields' validators)."""
        super().clean()
        errors = {}
        protocol = protocol_for(self)
        n_levels = len(protocol.levels)
        if isinstance(self.min_levels_vbq, int) and not 1 <= self.min_levels_vbq <= n_levels:
            errors["min_levels_vbq"] = gettext(
                "The VBQ is computed from 1 to %(n)s measured levels (%(levels)s), not %(value)s."
            ) % {"n": n_levels, "levels": protocol.levels_text, "value": self.min_levels_vbq}
        lo, hi = self.roi_area_min_mm2, self.roi_area_max_mm2
        numbers = all(isinstance(v, int | float) and math.isfinite(v) for v in (lo, hi))
        if numbers and hi <= lo:
            errors["roi_area_max_mm2"] = gettext(
                "The largest accepted ROI area (%(largest)s mm²) must be larger than the smallest (%(smallest)s mm²)."
            ) % {"largest": f"{hi:g}", "smallest": f"{lo:g}"}
        if errors:
            raise ValidationError(errors)


class Membership(models.Model):
    class Role(models.TextChoices):
        PI = "pi", _("PI / study manager")
        READER = "reader", _("Reader")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "user"], name="uniq_membership")]
        ordering = ["study_id", "role", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.study}"


class Case(models.Model):
    """One subject of a study: their sagittal T1 series is what readers measure."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cases")
    subject_code = models.CharField(max_length=64)
    is_control = models.BooleanField(default=False, help_text="Member of the SNR control group")
    primary_series = models.ForeignKey("Series", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    date_offset_days = models.IntegerField(null=True, blank=True, help_text="De-identification date shift")
    patient_digest = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="Keyed digest of the original Patient ID (re-imports)"
    )
    series_to_confirm = models.BooleanField(
        default=False, help_text="Two candidate reading series were close in slice count: the PI should confirm"
    )
    series_chosen_by_pi = models.BooleanField(default=False, help_text="The PI chose the reading series")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "subject_code"], name="uniq_subject_code")]
        ordering = ["study_id", "subject_code"]

    def __str__(self) -> str:
        return self.subject_code


class SubjectKey(models.Model):
    """Original patient identity ↔ subject code. PI-only; absent when the study keeps no mapping."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="subject_key")
    # The original Patient ID, Fernet-encrypted with VBQ_MAPPING_KEY (studies.services.subject_keys); never the name.
    patient_id_encrypted = models.TextField()

    def __str__(self) -> str:
        return f"{self.case} (subject key)"


class SubjectCodeAssignment(models.Model):
    """A subject code the PI chose for a patient, uploaded before (or between) imports (issue #15).

    Keyed by the case's keyed digest of the Patient ID (``Case.patient_digest``), never the Patient ID itself;
    the import gives a new patient whose digest is here this code (``studies.services.subject_code_csv``).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="code_assignments")
    patient_digest = models.CharField(max_length=64)
    subject_code = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "patient_digest"], name="uniq_code_assignment_patient"),
            models.UniqueConstraint(fields=["study", "subject_code"], name="uniq_code_assignment_code"),
        ]
        ordering = ["study_id", "subject_code"]

    def __str__(self) -> str:
        return f"{self.subject_code} (assigned)"


class Series(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    orientation = models.CharField(max_length=12, blank=True)  # sagittal / coronal / axial / oblique
    weighting = models.CharField(max_length=12, blank=True)  # T1 / T2 / other
    rows = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0)
    pixel_spacing = models.JSONField(default=list)  # [row spacing, column spacing] in mm
    burned_in_annotation = models.BooleanField(default=False)
    default_window = models.JSONField(
        null=True,
        blank=True,
        help_text="Viewer window for images without Window Center/Width: {lower, upper, slices} "
        "(studies.dicom.window; lower/upper null when none suits); null until first computed",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case_id", "id"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"{self.case} {self.description or self.series_instance_uid}"


def instance_file_name(study_id: int, subject_code: str, series_instance_uid: str, filename: str) -> str:
    """Where an instance's file is stored: by study, subject code and (de-identified) series UID."""
    return f"dicom/study-{study_id}/{subject_code}/{series_instance_uid}/{filename}"


def instance_upload_to(instance: Instance, filename: str) -> str:
    series = instance.series
    return instance_file_name(series.case.study_id, series.case.subject_code, series.series_instance_uid, filename)


class Instance(models.Model):
    """One slice of a series: a de-identified single-frame DICOM file, or one frame of a multi-frame (enhanced MR)
    file. The frames of a file share its ``file``; each has its ``frame_number`` and, as ``sop_instance_uid``, the
    frame's key (:func:`studies.dicom.frames.frame_uid`), so that a slice is still named by one UID everywhere."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    source_digest = models.CharField(
        max_length=64, db_index=True, help_text="HMAC of the original SOP Instance UID (duplicate detection)"
    )
    file = models.FileField(upload_to=instance_upload_to, max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    instance_number = models.IntegerField(null=True, blank=True)
    frame_number = models.PositiveIntegerField(
        null=True, blank=True, help_text="Frame of a multi-frame file (1-based); empty for a single-frame file"
    )
    slice_position = models.FloatField(default=0.0, help_text="Position along the slice normal (mm)")
    image_position = models.JSONField(default=list)
    image_orientation = models.JSONField(default=list)

    class Meta:
        ordering = ["series_id", "slice_position", "instance_number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["series", "source_digest"], name="uniq_instance_source"),
        ]

    def __str__(self) -> str:
        return self.sop_instance_uid


class Job(models.Model):
    """What every background job row holds — imports, re-keyings (here), whole-study rescores (scoring) and snapshot
    builds (analytics): its status and progress, and the heartbeat and requeue count the job sweep works with
    (claim, heartbeat and sweep: :mod:`vbqsite.jobs`)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life: when it was queued, then while it runs (≤ 1 write/s)"
    )
    requeues = models.PositiveSmallIntegerField(default=0, help_text="Times the job sweep queued it again")

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def stuck(self) -> bool:
        """Queued or running without a sign of life for longer than the job sweep's bound (see settings)."""
        from vbqsite.jobs import job_is_stuck

        return job_is_stuck(self)


class ImportJob(Job):
    class Kind(models.TextChoices):
        DICOM = "dicom", "DICOM images"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="import_jobs")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DICOM)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=500, help_text="Uploaded zip or server folder")
    accepted = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list, help_text="Per file: name, outcome, reason")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import #{self.pk} ({self.status})"

    @property
    def error_shown(self) -> str:
        """:attr:`error` (stored in English) in the page's language (:mod:`studies.job_messages`)."""
        from studies.job_messages import import_error_shown

        return import_error_shown(self.error)


class RekeyJob(Job):
    """A re-keying of the study's subject codes run by a worker (:mod:`studies.services.subject_rekey`): progress
    in files rewritten. While one is queued or running, imports, the reading plan and another re-keying wait."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rekey_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    total = models.PositiveIntegerField(default=0, help_text="Files to rewrite")
    done = models.PositiveIntegerField(default=0, help_text="Files rewritten so far")
    cases = models.PositiveIntegerField(default=0, help_text="Cases given a new code (once done)")

    def __str__(self) -> str:
        return f"re-key {self.study_id}: {self.done}/{self.total} ({self.status})"

    @property
    def error_shown(self) -> str:
        """:attr:`error` (stored in English) in the page's language
        (:func:`studies.services.subject_rekey.rekey_error_shown`)."""
        from studies.services.subject_rekey import rekey_error_shown

        return rekey_error_shown(self.error)


class ReferenceRecord(models.Model):
    """Reference densitometry and demographics of one subject (QCT or DEXA). PI-only."""

    class Modality(models.TextChoices):
        QCT = "QCT", "QCT"
        DEXA = "DEXA", "DEXA"

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="reference")
    modality = models.CharField(max_length=4, choices=Modality.choices)
    t_score = models.FloatField(null=True, blank=True)
    bmd = models.FloatField(null=True, blank=True, help_text="g/cm² (DEXA) or mg/cm³ (QCT)")
    z_score = models.FloatField(null=True, blank=True)
    tbs = models.FloatField(null=True, blank=True)
    age = models.FloatField(null=True, blank=True)
    sex = models.CharField(max_length=1, blank=True)
    bmi = models.FloatField(null=True, blank=True)
    diabetes = models.BooleanField(null=True, blank=True)
    hyperlipidemia = models.BooleanField(null=True, blank=True)
    covariates = models.JSONField(default=dict, blank=True)
    imported_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.case} {self.modality} T={self.t_score}"


class Read(models.Model):
    """One reader's reading of one case, for one read number (1 = first read, 2 = repeat…)."""

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", _("Not started")
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Submitted")
        VOIDED = "voided", _("Voided")  # by the PI (void or reassign): kept in the history, out of worklists/analytics

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reads")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reads")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reads")
    read_number = models.PositiveSmallIntegerField(default=1)
    order_index = models.PositiveIntegerField(default=0, help_text="Position in the randomised worklist")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NOT_STARTED)
    available_from = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    time_on_task_seconds = models.FloatField(default=0.0)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "reader", "read_number"], name="uniq_read"),
        ]
        ordering = ["study_id", "reader_id", "read_number", "order_index"]

    def __str__(self) -> str:
        return f"{self.case} · {self.reader} · read {self.read_number}"


class Roi(models.Model):
    """One ROI of a read (or the record that a level was excluded)."""

    class Shape(models.TextChoices):
        RECTANGLE = "rectangle", "Rectangle"
        ELLIPSE = "ellipse", "Ellipse"
        POLYGON = "polygon", "Polygon"

    class ExclusionReason(models.TextChoices):
        FRACTURE = "fracture", "Fracture"
        HEMANGIOMA = "hemangioma", "Hemangioma"
        HARDWARE = "hardware", "Hardware"
        SCHMORL = "schmorl", "Schmorl node"
        OTHER = "other", "Other"

    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="rois")
    label = models.CharField(max_length=8, choices=LABEL_CHOICES)  # the reading protocols' labels
    shape = models.CharField(max_length=10, choices=Shape.choices, blank=True)
    points_px = models.JSONField(default=list, help_text="[[col, row], …]; pixel centres at integers")
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    csf_level = models.CharField(max_length=2, blank=True, help_text="L3, or the L2/L1 fallback")
    excluded = models.BooleanField(default=False)
    exclusion_reason = models.CharField(max_length=12, choices=ExclusionReason.choices, blank=True)
    exclusion_note = models.CharField(max_length=200, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["read", "label"], name="uniq_roi_label")]
        ordering = ["read_id", "label"]

    def __str__(self) -> str:
        return f"{self.read} {self.label} v{self.version}"


class AuditEventAppendOnly(Exception):
    """Raised on any attempt to change or delete an audit row (the log is append-only)."""


class AuditEventQuerySet(models.QuerySet):
    """Audit rows are written once (``create``) and never updated or deleted through the ORM.

    The one exception is Django's deletion collector: deleting a whole study (an admin action) cascades
    to its audit rows, and deleting a user sets ``user`` to NULL; neither goes through these methods.
    """

    def update(self, **kwargs):
        raise AuditEventAppendOnly("The audit log is append-only: audit rows cannot be updated.")

    def delete(self):
        raise AuditEventAppendOnly("The audit log is append-only: audit rows cannot be deleted.")


class AuditEvent(models.Model):
    """Append-only log of every change to ROIs, reads, members, reference data and settings."""

    study = models.ForeignKey(Study, null=True, on_delete=models.CASCADE, related_name="audit_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.action} {self.object_type}#{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEventAppendOnly("The audit log is append-only: audit rows cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEventAppendOnly("The audit log is append-only: audit rows cannot be deleted.")


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the heartbeat task (shown on /healthz)."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at}"


from studies.network_models import DicomReceiver, DicomWebServer  # noqa: E402, F401  (#19: models of their own module)
