"""The scoring audit: every stored score against a fresh computation from the current ROIs and settings.

Scores are kept current by events (an ROI change queues its scoring; see :mod:`scoring.receivers`) and by the
periodic sweep (inputs digests). The audit does not trust either: it recomputes from scratch and reports
each stored value that differs — ROI statistics from the pixels (``pixels=True``), read scores (VBQ, SNR per
level and overall, their reasons) and M-scores — and, with ``fix=True``, stores the fresh values.

``pixels=False`` is the cheap form the periodic sweep runs: it takes the stored ROI statistics as given and
checks only what is derived from them (read scores, M-scores), which needs no decoding.
Run it before locking a study: ``manage.py scoring_audit --study ID [--fix]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction

from scoring import measures
from scoring.models import ReadScore, RoiScore
from scoring.services import (
    READ_SCORE_FIELDS,
    STAT_FIELDS,
    _input_rows,
    _instance_pixels,
    _measure,
    _read_inputs,
    _read_score_fields,
)
from studies.dicom.pixels import PixelError, SliceCache
from studies.models import Instance, Read, Roi, Study

#: Relative tolerance of a float comparison (stored floats are the computed ones, so equal up to round-off).
REL_TOL = 1e-9
_READ_FIELDS = ("vbq", "vbq_reason", "snr", "snr_reason", "snr_levels")
_M_FIELDS = ("m_score", "m_score_reason")


@dataclass(frozen=True)
class Difference:
    """One stored value that differs from its fresh computation."""

    kind: str  # "roi", "read" or "m_score"
    object_id: int
    field: str
    stored: object
    fresh: object

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.field} stored {self.stored!r}, fresh {self.fresh!r}"


@dataclass
class AuditReport:
    study_id: int
    rois_checked: int = 0
    reads_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    fixed: bool = False


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    return a == b


def _fresh_roi_rows(study_id: int) -> tuple[list[tuple], dict[int, tuple[dict, str]], int]:
    """The read-input rows with statistics measured now from the pixels, and the fresh statistics by ROI id."""
    rois = list(Roi.objects.filter(read__study_id=study_id))
    fresh: dict[int, tuple[dict, str]] = {}
    by_slice: dict[str, list[Roi]] = {}
    for roi in rois:
        if not roi.excluded:
            by_slice.setdefault(roi.sop_instance_uid, []).append(roi)
    instances = {i.sop_instance_uid: i for i in Instance.objects.filter(sop_instance_uid__in=list(by_slice))}
    for sop, group in by_slice.items():
        try:
            if sop not in instances:
                raise PixelError("The slice this ROI was drawn on is no longer stored.")
            pixels = _instance_pixels(instances[sop], SliceCache(maxsize=1))
        except PixelError as exc:
            pixels = exc
        for roi in group:
            fresh[roi.pk] = _measure(roi, pixels)
    rows = []
    for roi in rois:
        values, error = fresh.get(roi.pk, (dict.fromkeys(STAT_FIELDS), ""))
        rows.append(
            (
                roi.read_id,
                roi.label,
                roi.version,
                roi.excluded,
                roi.exclusion_reason,
                roi.csf_level,
                roi.version,
                error,
                values["mean"],
                values["median"],
                values["sd"],
                values["n"],
            )
        )
    return rows, fresh, len(rois)


def _roi_differences(study_id: int, fresh: dict[int, tuple[dict, str]]) -> list[Difference]:
    stored = {s.roi_id: s for s in RoiScore.objects.filter(roi__read__study_id=study_id).select_related("roi")}
    out = []
    for roi_id, score in stored.items():
        if score.roi.excluded:
            out.append(Difference("roi", roi_id, "statistics", "stored", "none (level excluded)"))
    for roi_id, (values, error) in sorted(fresh.items()):
        score = stored.get(roi_id)
        if score is None:
            out.append(Difference("roi", roi_id, "statistics", None, values if not error else error))
            continue
        for name, value in (*values.items(), ("error", error)):
            if not _same(getattr(score, name), value):
                out.append(Difference("roi", roi_id, name, getattr(score, name), value))
    return out


def study_scores_audit(*, study_id: int, fix: bool = False, pixels: bool = True) -> AuditReport:
    """Recompute every ROI statistic (``pixels``), read score and M-score of a study; report (and fix) differences.

    A read is scored from all its ROIs as they are now (excluded levels left out); a read whose ROIs were
    all deleted keeps a score only if it says why there is none. M-score = (SNR − mean SNR of the controls)
    / SD of the controls' SNR over their readers' first reads, as :func:`scoring.services.control_snrs`.
    """
    study = Study.objects.get(pk=study_id)
    report = AuditReport(study_id=study_id)
    fresh_rois: dict[int, tuple[dict, str]] = {}
    if pixels:
        rows, fresh_rois, report.rois_checked = _fresh_roi_rows(study_id)
        report.differences += _roi_differences(study_id, fresh_rois)
    else:
        rows = _input_rows(read__study_id=study_id)
    by_read: dict[int, list[tuple]] = {}
    for row in rows:
        by_read.setdefault(row[0], []).append(row)
    stored = {s.read_id: s for s in ReadScore.objects.filter(read__study_id=study_id)}
    reads = Read.objects.filter(study_id=study_id).select_related("study", "case")
    fresh_reads: dict[int, dict] = {}
    controls: dict[int, list[float]] = {}
    for read in reads:
        if read.pk not in by_read and read.pk not in stored:
            continue  # never drawn: nothing to score
        by_label, digest, complete = _read_inputs(read, by_read.get(read.pk, []))
        if not complete:
            continue  # an ROI without statistics for its version (cheap form): the sweep measures it first
        values = _read_score_fields(study, by_label, digest)
        fresh_reads[read.pk] = values
        if read.case.is_control and read.read_number == 1 and values["snr"] is not None:
            controls.setdefault(read.case_id, []).append(values["snr"])
    control_snrs = [float(np.mean(v)) for _, v in sorted(controls.items())]
    report.reads_checked = len(fresh_reads)
    for read_id, values in sorted(fresh_reads.items()):
        if values["snr"] is None:
            values["m_score"], values["m_score_reason"] = None, "no SNR for this read"
        else:
            m = measures.m_score(values["snr"], control_snrs)
            values["m_score"], values["m_score_reason"] = m.value, m.reason or ""
        score = stored.get(read_id)
        if score is None:
            report.differences.append(Difference("read", read_id, "score", None, "computed"))
            continue
        for name in _READ_FIELDS:
            if not _same(getattr(score, name), values[name]):
                report.differences.append(Difference("read", read_id, name, getattr(score, name), values[name]))
        for name in _M_FIELDS:
            if not _same(getattr(score, name), values[name]):
                report.differences.append(Difference("m_score", read_id, name, getattr(score, name), values[name]))
    if fix and report.differences:
        _store(study_id, fresh_rois, fresh_reads)
        report.fixed = True
    return report


@transaction.atomic
def _store(study_id: int, fresh_rois: dict[int, tuple[dict, str]], fresh_reads: dict[int, dict]) -> None:
    versions = dict(Roi.objects.filter(pk__in=list(fresh_rois)).values_list("id", "version"))
    RoiScore.objects.filter(roi__read__study_id=study_id, roi__excluded=True).delete()
    RoiScore.objects.bulk_create(
        [
            RoiScore(roi_id=roi_id, roi_version=versions[roi_id], error=error, **values)
            for roi_id, (values, error) in fresh_rois.items()
            if roi_id in versions
        ],
        update_conflicts=True,
        unique_fields=["roi"],
        update_fields=["roi_version", "error", *STAT_FIELDS, "computed_at"],
    )
    ReadScore.objects.bulk_create(
        [ReadScore(read_id=read_id, **values) for read_id, values in fresh_reads.items()],
        update_conflicts=True,
        unique_fields=["read"],
        update_fields=[*READ_SCORE_FIELDS, *_M_FIELDS],
    )
