"""Input digests: what each cached result was computed from.

Every cached dashboard section and the analysis snapshot is one :class:`~analytics.models.AnalysisCache` row
per study, holding the result and the *inputs digest* it was computed from: a SHA-256 over exactly the
database state the section reads (read scores, ROI statistics, reference records, the study's settings — see
:data:`SECTION_INPUTS`) and :data:`~analytics.sections.common.ANALYSIS_VERSION`. Computing it reads every row
of those groups, so the job does that (:class:`Digests`); pages compare a cheap aggregate stand-in
(:class:`Fingerprints`) and queue the job when it changed (:mod:`analytics.services`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import Count, Max, Q, Sum

from analytics.datasets import OUTCOMES, ROI_COLUMNS, agreement_reader_ids
from analytics.sections.common import ANALYSIS_VERSION
from scoring.models import ReadScore
from studies.models import Case, Membership, Read, ReferenceRecord, Roi, Study
from studies.reference_format import REFERENCE_FIELDS

__all__ = ["SECTION_INPUTS", "SNAPSHOT", "Digests", "Fingerprints"]

#: The cache row of the analysis snapshot zip (:mod:`analytics.snapshot`).
SNAPSHOT = "snapshot"
_DATA = ("settings", "reads", "scores", "cases", "reference")
#: Which groups of database state each cached section (and the snapshot) depends on.
SECTION_INPUTS: dict[str, tuple[str, ...]] = {
    "progress": ("settings", "reads_activity", "scores", "rois", "cases"),
    "agreement": ("settings", "reads", "scores", "rois", "cases"),
    "table1": ("settings", "cases", "reference"),
    "groups": _DATA,
    **{f"roc:{key}": _DATA for key in OUTCOMES},
    "correlation": _DATA,
    SNAPSHOT: ("settings", "meta", "reads_activity", "scores", "rois", "rois_full", "cases", "reference"),
}


def _settings_rows(study: Study) -> list[Any]:
    settings_row = Study.objects.filter(pk=study.pk).values_list(
        "measure_vbq",
        "measure_snr",
        "roi_statistic",
        "min_levels_vbq",
        "noise_correction",
        "consensus_rule",
        "consensus_reader_id",
        "consensus_reader__username",
        "reads_per_reader",
        "washout_days",
        "randomisation_seed",
    )
    members = Membership.objects.filter(study=study).order_by("user_id").values_list("user_id", "user__username")
    return [ANALYSIS_VERSION, *settings_row, *members, ("agreement_readers", agreement_reader_ids(study))]


class Digests:
    """Exact SHA-256 of each group of a study's input state (every relevant row), computed on first use.

    This is the ``inputs_digest`` of a cached section and the snapshot's inputs hash. It reads every row of
    the group, so it is computed by the job, not by pages (see :class:`Fingerprints`).
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self._cache: dict[str, str] = {}

    def _rows(self, group: str) -> Any:
        study = self.study
        if group == "settings":
            return _settings_rows(study)
        if group == "meta":
            return list(Study.objects.filter(pk=study.pk).values_list("name", "locked", "locked_at"))
        if group == "reads":
            return (
                Read.objects.filter(study=study)
                .order_by("id")
                .values_list("id", "case_id", "reader_id", "reader__username", "read_number", "status", "order_index")
            )
        if group == "reads_activity":
            rows = (
                Read.objects.filter(study=study)
                .order_by("id")
                .values_list("id", "status", "started_at", "submitted_at", "time_on_task_seconds")
            )
            # Only submitted reads' times are shown: a reader's autosave ticking does not invalidate anything.
            return ((i, st, start, sub, t if st == Read.Status.SUBMITTED else None) for i, st, start, sub, t in rows)
        if group == "scores":
            return (
                ReadScore.objects.filter(read__study=study)
                .order_by("read_id")
                .values_list(
                    "read_id", "vbq", "vbq_reason", "snr", "snr_reason", "snr_levels", "m_score", "m_score_reason"
                )
            )
        if group == "rois":
            return Roi.objects.filter(read__study=study).order_by("id").values_list("id", *ROI_COLUMNS)
        if group == "rois_full":
            return (
                Roi.objects.filter(read__study=study)
                .order_by("id")
                .values_list("id", "updated_at", "exclusion_note", "score__computed_at")
            )
        if group == "cases":
            return Case.objects.filter(study=study).order_by("id").values_list("id", "subject_code", "is_control")
        if group == "reference":
            return (
                ReferenceRecord.objects.filter(case__study=study)
                .order_by("case_id")
                .values_list("case_id", *REFERENCE_FIELDS)
            )
        raise KeyError(group)

    def group(self, group: str) -> str:
        if group not in self._cache:
            h = hashlib.sha256(group.encode())
            for row in self._rows(group):
                h.update(repr(row).encode())
                h.update(b"\n")
            self._cache[group] = h.hexdigest()
        return self._cache[group]

    def section(self, section: str) -> str:
        h = hashlib.sha256(section.encode())
        for group in SECTION_INPUTS[section]:
            h.update(self.group(group).encode())
        return h.hexdigest()


class Fingerprints(Digests):
    """A cheap stand-in for :class:`Digests` that pages check on every view: one aggregate query per group.

    Counts, sums and maxima of ids, versions, values and ``auto_now`` timestamps change with every change
    the services make (an ROI edit bumps its version and ``updated_at``; a re-score bumps ``computed_at``;
    the M-score refresh changes the sum of M-scores). When a fingerprint differs from the stored one, the job
    computes the exact digest and recomputes only if the data really changed.
    """

    def _rows(self, group: str) -> Any:
        study = self.study
        submitted = Q(status=Read.Status.SUBMITTED)
        if group == "settings":
            return _settings_rows(study)
        if group == "meta":
            return list(Study.objects.filter(pk=study.pk).values_list("name", "locked", "locked_at"))
        if group in ("reads", "reads_activity"):
            extra = (
                {"t": Sum("time_on_task_seconds", filter=submitted), "s": Max("started_at"), "m": Max("submitted_at")}
                if group == "reads_activity"
                else {}
            )
            return [
                Read.objects.filter(study=study).aggregate(
                    n=Count("id"),
                    ids=Sum("id"),
                    readers=Sum("reader_id"),
                    numbers=Sum("read_number"),
                    order=Sum("order_index"),
                    done=Count("id", filter=submitted),
                    going=Count("id", filter=Q(status=Read.Status.IN_PROGRESS)),
                    **extra,
                )
            ]
        if group == "scores":
            return [
                ReadScore.objects.filter(read__study=study).aggregate(
                    n=Count("id"),
                    ids=Sum("read_id"),
                    at=Max("computed_at"),
                    vbq=Sum("vbq"),
                    snr=Sum("snr"),
                    m=Sum("m_score"),
                    nm=Count("m_score"),
                )
            ]
        if group in ("rois", "rois_full"):
            # One pass over the ROIs with their statistics (LEFT JOIN), not two.
            return [
                Roi.objects.filter(read__study=study).aggregate(
                    n=Count("id"),
                    ids=Sum("id"),
                    versions=Sum("version"),
                    excluded=Count("id", filter=Q(excluded=True)),
                    at=Max("updated_at"),
                    scored=Count("score__id"),
                    scored_versions=Sum("score__roi_version"),
                    scored_at=Max("score__computed_at"),
                )
            ]
        if group == "cases":
            return [
                Case.objects.filter(study=study).aggregate(
                    n=Count("id"), ids=Sum("id"), controls=Sum("id", filter=Q(is_control=True))
                )
            ]
        if group == "reference":
            return [
                ReferenceRecord.objects.filter(case__study=study).aggregate(
                    n=Count("id"),
                    at=Max("imported_at"),
                    t=Sum("t_score"),
                    bmd=Sum("bmd"),
                    tbs=Sum("tbs"),
                    age=Sum("age"),
                    bmi=Sum("bmi"),
                )
            ]
        raise KeyError(group)
