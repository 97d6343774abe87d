"""API shapes. Reader-facing serializers never carry reference data, groups or other reads."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from studies.models import Case, Membership, Read, ReferenceRecord, Roi, Study
from studies.reference_format import REFERENCE_FIELDS
from studies.services.membership import STUDY_SETTING_FIELDS
from studies.services.reading import ROI_FIELDS, read_opens_at

from .schema import PointsField

User = get_user_model()


class StudySerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = ("id", *STUDY_SETTING_FIELDS, "created_at", "locked", "locked_at", "role")
        read_only_fields = ("id", "created_at", "locked", "locked_at", "role")

    def get_role(self, study: Study) -> str | None:
        roles = self.context.get("roles") or {}
        return roles.get(study.pk)


class ReaderStudySerializer(serializers.ModelSerializer):
    """What a reader may know about a study: its name and protocol, not the plan's seed."""

    role = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = (
            "id",
            "name",
            "description",
            "measure_vbq",
            "measure_snr",
            "same_slice_required",
            "locked",
            "role",
        )

    def get_role(self, study: Study) -> str:
        return Membership.Role.READER


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "username", "email", "role", "created_at")


class MemberAddSerializer(serializers.Serializer):
    identifier = serializers.CharField(help_text="Existing username, or an e-mail address to invite")
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class ReferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferenceRecord
        fields = (
            *REFERENCE_FIELDS,
            "covariates",
        )


class CaseSerializer(serializers.ModelSerializer):
    """PI view of a case, with reference data."""

    reference = ReferenceSerializer(read_only=True)
    n_series = serializers.IntegerField(source="series.count", read_only=True)

    class Meta:
        model = Case
        fields = ("id", "subject_code", "is_control", "primary_series", "n_series", "reference")


class ReadSerializer(serializers.ModelSerializer):
    subject_code = serializers.CharField(source="case.subject_code", read_only=True)
    reader = serializers.CharField(source="reader.username", read_only=True)
    opens_at = serializers.SerializerMethodField()

    class Meta:
        model = Read
        fields = (
            "id",
            "study",
            "case",
            "subject_code",
            "reader",
            "read_number",
            "order_index",
            "status",
            "opens_at",
            "started_at",
            "submitted_at",
            "time_on_task_seconds",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField(allow_null=True))  # ISO 8601; null: the previous read is not done
    def get_opens_at(self, read: Read) -> str | None:
        openings = self.context.get("openings")  # computed once for a list (studies.services.read_opening)
        opens = openings[read.pk].opens_at if openings and read.pk in openings else read_opens_at(read)
        return opens.isoformat() if opens else None


class PiReadSerializer(ReadSerializer):
    """A read as the PI sees it: with its VBQ / SNR / M-score (or the reasons there are none)."""

    score = serializers.SerializerMethodField()

    class Meta(ReadSerializer.Meta):
        fields = (*ReadSerializer.Meta.fields, "score")
        read_only_fields = fields

    def get_score(self, read: Read) -> dict | None:
        score = getattr(read, "score", None)
        if score is None:
            return None
        return {
            "vbq": score.vbq,
            "vbq_reason": score.vbq_reason,
            "snr": score.snr,
            "snr_reason": score.snr_reason,
            "snr_levels": score.snr_levels,
            "m_score": score.m_score,
            "m_score_reason": score.m_score_reason,
        }


#: The ROI statistics sent at each level of :attr:`Study.reader_roi_stats` (the PI always gets "full"). Mean and
#: median SI are left out below "full": from L1–L4 and CSF a reader could compute the VBQ.
ROI_STATS_SHOWN: dict[str, tuple[str, ...]] = {
    Study.ReaderRoiStats.NONE: (),
    Study.ReaderRoiStats.QUALITY: ("n", "area_mm2"),
    Study.ReaderRoiStats.FULL: ("n", "area_mm2", "mean", "median", "sd", "min", "max"),
}


class RoiStatsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    area_mm2 = serializers.FloatField()
    mean = serializers.FloatField()
    median = serializers.FloatField()
    sd = serializers.FloatField(allow_null=True)
    min = serializers.FloatField()
    max = serializers.FloatField()


class RoiSerializer(serializers.ModelSerializer):
    stats = serializers.SerializerMethodField()
    score_status = serializers.SerializerMethodField()
    score_error = serializers.SerializerMethodField()
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Send the version you edited (409 when stale, 400 when not a number)"
    )
    points_px = PointsField(required=False)

    class Meta:
        model = Roi
        fields = (
            "id",
            "read",
            *ROI_FIELDS,  # the fields a save writes (studies.services.roi_save), then the version it was edited at
            "version",
            "created_at",
            "updated_at",
            "stats",
            "score_status",
            "score_error",
        )
        read_only_fields = ("id", "read", "created_at", "updated_at", "stats", "score_status", "score_error")
        extra_kwargs = {"label": {"validators": []}}

    def _score(self, roi: Roi):
        try:
            return roi.score
        except Roi.score.RelatedObjectDoesNotExist:
            return None

    def get_score_status(self, roi: Roi) -> str:
        if roi.excluded:
            return "excluded"
        score = self._score(roi)
        if score is None or score.roi_version != roi.version:
            return "pending"
        return "error" if score.error else "scored"

    def get_score_error(self, roi: Roi) -> str:
        score = self._score(roi)
        return score.error if score is not None and score.roi_version == roi.version else ""

    def get_stats(self, roi: Roi) -> dict | None:
        """The ROI's statistics, as many as the viewer may see (context ``stats_shown``; the PI's "full" when
        not given): what a reader may not see is never sent. None while not measured; {} when none are shown."""
        score = self._score(roi)
        if roi.excluded or score is None or score.roi_version != roi.version or score.error:
            return None
        keys = ROI_STATS_SHOWN[self.context.get("stats_shown", Study.ReaderRoiStats.FULL)]
        return {k: getattr(score, k) for k in keys}
