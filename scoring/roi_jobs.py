"""Scoring after one ROI change: that ROI's statistics, then its read's VBQ/SNR and M-score — nothing else.

A reader drags an ROI and the viewer saves every position, so one ROI may change several times a second:

- **superseded versions are dropped**: a job carries the ROI version it was queued for; finding a newer version
  stored, it does nothing (the newer version's own job scores it). Quick moves queued faster than the worker runs
  them therefore coalesce into one measurement of the latest position. A result replaces only an older version's
  (``UPDATE … WHERE roi_version < n``), so a late job never overwrites a newer result, and no ROI row is locked
  (a save never waits for scoring);
- **only the changed ROI is measured** (its slice's pixels come from the worker's slice cache,
  :data:`studies.dicom.pixels._DEFAULT_CACHE`); the read's VBQ and SNR are recomputed from the stored statistics of
  its ROIs (:func:`scoring.services._read_inputs`, one query) and skipped when the read's inputs digest is unchanged;
- **the read's M-score** is computed from the study's control SNRs and stored with its VBQ/SNR in one upsert;
  **every M-score of the study** is refreshed (:func:`scoring.services.study_mscores_refresh`) only when the SNR
  of a control's first read — the readings the control group's mean and SD are taken from
  (:func:`scoring.services.control_snrs`) — changed.

The formulas are those of :mod:`scoring.measures` through the same functions as a whole-study rescore, so the
results are identical (tests/scoring_tests/test_roi_jobs.py compares them with a fresh computation).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from scoring import measures
from scoring.models import ReadScore, RoiScore
from scoring.services import (
    READ_SCORE_FIELDS,
    STAT_FIELDS,
    _input_rows,
    _instance_pixels,
    _read_inputs,
    _read_score_fields,
    control_snrs,
    study_mscores_refresh,
)
from studies.models import Instance, Read, Roi, Study
from studies.roi_shapes import RoiGeometryError

__all__ = ["orphan_scores_delete", "read_change_score", "roi_change_score"]

#: The M-score columns stored with a read's score.
M_FIELDS = ("m_score", "m_score_reason")


def roi_change_score(*, roi_id: int, version: int | None = None) -> ReadScore | None:
    """Measure ROI ``roi_id`` at ``version`` (None: whatever version is stored), then score its read.

    Returns the read's score, or None when the job was superseded (a newer version is stored), the ROI is gone,
    or another ROI of the read still waits for its statistics (its own job scores the read).
    """
    roi = _by_key(Roi.objects.filter(pk=roi_id).select_related("read__study", "read__case"))
    if roi is None or (version is not None and roi.version != version):
        return None  # deleted, or superseded: the stored version's own job measures it
    if roi.excluded:
        RoiScore.objects.filter(roi_id=roi.pk).delete()  # an excluded level has no statistics
    elif not _measure_and_store(roi):
        return None  # changed while we measured: the newer version's job continues
    return read_change_score(read=roi.read)


def _by_key(queryset):
    """The row of a lookup by a unique key (primary key, SOP Instance UID, a read's score), or None.

    ``first()`` without the ORDER BY it adds (the model's ordering, or the primary key): one row has no order, and
    compiling the ordering was about a sixth of this job's Python time (cProfile, issue #20).
    """
    return next(iter(queryset.order_by()[:1]), None)


def _measure_and_store(roi: Roi) -> bool:
    """Pixel statistics of ``roi`` at its loaded version, stored if that version is still current."""
    # Local imports: pixel decoding and ROI masks need pydicom and numpy; the web processes import this module
    # (through scoring.tasks) and their start-up should not load them (issue #20 point 4).
    from scoring.pixels import roi_stats
    from studies.dicom.pixels import PixelError
    from studies.roi_geometry import roi_mask

    values: dict = dict.fromkeys(STAT_FIELDS)
    error = ""
    instance = _by_key(Instance.objects.filter(sop_instance_uid=roi.sop_instance_uid))
    try:
        if instance is None:
            raise PixelError("The slice this ROI was drawn on is no longer stored.")
        pixels = _instance_pixels(instance, None)  # None: the worker's shared slice cache
        mask = roi_mask(roi.shape, roi.points_px, pixels.rows, pixels.cols, pixels.row_spacing, pixels.col_spacing)
        stats = roi_stats(pixels.values, mask, pixels.row_spacing, pixels.col_spacing)
        values = {k: getattr(stats, k) for k in STAT_FIELDS}
    except (PixelError, RoiGeometryError) as exc:
        error = str(exc)
    # No lock on the ROI (a save would wait for it): a result replaces only an older version's, so jobs finishing
    # out of order leave the newest measured version stored; a result for a version already replaced in the ROI is
    # "pending" to every reader of it (roi_version ≠ version) until the newer version's own job stores its result.
    columns = {"roi_version": roi.version, "error": error, **values}
    if RoiScore.objects.filter(roi_id=roi.pk, roi_version__lt=roi.version).update(
        **columns, computed_at=timezone.now()
    ):
        return True
    try:
        with transaction.atomic():
            RoiScore.objects.create(roi_id=roi.pk, **columns)
    except IntegrityError:  # another job stored a result meanwhile: replace it if it is for an older version
        RoiScore.objects.filter(roi_id=roi.pk, roi_version__lt=roi.version).update(
            **columns, computed_at=timezone.now()
        )
    return True


def _m_fields(snr: float | None, controls: list[float]) -> dict:
    """A read's M-score columns (as :func:`scoring.services.study_mscores_refresh`)."""
    if snr is None:
        return {"m_score": None, "m_score_reason": "no SNR for this read"}
    result = measures.m_score(snr, controls)
    return {"m_score": result.value, "m_score_reason": result.reason or ""}


def read_change_score(*, read: Read) -> ReadScore | None:
    """VBQ, SNR and M-score of ``read`` (loaded with its study and case) from its ROIs' stored statistics.

    Nothing is written when the read's inputs digest is the stored one. The study's other M-scores are refreshed
    only when this read is a control's first read and its SNR changed.
    """
    by_label, digest, complete = _read_inputs(read, _input_rows(read=read))
    if not complete:
        return None  # an ROI of the read has no result for its current version yet: its job scores the read
    fields = _read_score_fields(read.study, by_label, digest)
    in_control_group = read.case.is_control and read.read_number == 1
    update = list(READ_SCORE_FIELDS)
    with transaction.atomic():
        # One M-score writer per study at a time: a job reads the control SNRs only after the jobs before it have
        # stored theirs (without this, two workers scoring a control and a patient at once can leave the patient's
        # M-score computed from the control's old SNR). FOR NO KEY UPDATE: saves never lock the study row, and the
        # KEY SHARE lock their audit row's foreign key takes on it does not wait for this one (FOR UPDATE would).
        _by_key(Study.objects.select_for_update(no_key=True).filter(pk=read.study_id).values_list("pk", flat=True))
        old = _by_key(ReadScore.objects.filter(read=read))
        if old is not None and old.inputs_digest == digest:
            return old
        if not in_control_group:  # its SNR is not one of the controls': the group's mean and SD stay as they are
            fields |= _m_fields(fields["snr"], control_snrs(read.study))
            update += M_FIELDS
        (score,) = ReadScore.objects.bulk_create(
            [ReadScore(read=read, **fields)], update_conflicts=True, unique_fields=["read"], update_fields=update
        )
        if in_control_group and (old is None or old.snr != fields["snr"]):
            study_mscores_refresh(study_id=read.study_id)  # the control group changed: every M-score of the study
    return _by_key(ReadScore.objects.filter(read=read)) if in_control_group else score


def read_change_score_by_id(*, read_id: int, deleted_roi_id: int | None = None) -> ReadScore | None:
    """After an ROI was deleted: drop its statistics, then score the read (``read_id``)."""
    if deleted_roi_id is not None:
        RoiScore.objects.filter(roi_id=deleted_roi_id).delete()
    read = Read.objects.filter(pk=read_id).select_related("study", "case").first()
    return None if read is None else read_change_score(read=read)


def orphan_scores_delete() -> int:
    """Delete ROI statistics whose ROI no longer exists (its read or study was deleted); returns how many."""
    orphans = RoiScore.objects.filter(~Exists(Roi.objects.filter(pk=OuterRef("roi_id"))))
    deleted, _ = orphans.delete()
    return deleted
