"""Scoring services: ROI statistics and read scores from the stored pixels, upserted idempotently.

Every result is keyed by what it was computed from (the ROI version; a digest of the read's ROI
versions and settings), so a stale job never overwrites a newer result and running a job twice gives
the same state. The database says what is still to do; the broker only carries work.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from django.db import transaction

from scoring import measures
from scoring.models import ReadScore, RoiScore
from scoring.pixels import PixelError, RoiGeometryError, SliceCache, load_pixels, roi_mask, roi_stats
from studies.models import Case, Instance, Read, Roi, Study

log = logging.getLogger(__name__)

STAT_FIELDS = ("n", "area_mm2", "mean", "median", "sd", "min", "max")


# ----------------------------------------------------------------------------------------------------------------
# Enqueueing (called on commit by the studies services)
# ----------------------------------------------------------------------------------------------------------------


def _send(task, *args) -> None:
    """Queue a task; with the broker down the change is still saved and the sweep scores it later."""
    try:
        task.delay(*args)
    except Exception as exc:  # broker unreachable: the periodic sweep is the safety net
        log.warning("could not queue %s%s (%s); the scoring sweep will pick it up", task.name, args, exc)


def roi_changed(roi: Roi) -> None:
    from scoring import tasks

    _send(tasks.roi_score, roi.pk)


def read_changed(read: Read) -> None:
    from scoring import tasks

    _send(tasks.read_score, read.pk)


# ----------------------------------------------------------------------------------------------------------------
# ROI statistics
# ----------------------------------------------------------------------------------------------------------------


def roi_score_compute(*, roi_id: int, cache: SliceCache | None = None) -> RoiScore | None:
    """Compute and upsert the pixel statistics of one ROI at its current version.

    Returns None when the ROI no longer exists or is an exclusion (which has no statistics).
    """
    roi = Roi.objects.filter(pk=roi_id).select_related("read").first()
    if roi is None:
        return None
    if roi.excluded:
        RoiScore.objects.filter(roi=roi).delete()
        return None
    version = roi.version
    values: dict = dict.fromkeys(STAT_FIELDS)
    error = ""
    instance = Instance.objects.filter(sop_instance_uid=roi.sop_instance_uid).first()
    try:
        if instance is None:
            raise PixelError("The slice this ROI was drawn on is no longer stored.")
        pixels = _instance_pixels(instance, cache)
        mask = roi_mask(roi.shape, roi.points_px, pixels.rows, pixels.cols, pixels.row_spacing, pixels.col_spacing)
        stats = roi_stats(pixels.values, mask, pixels.row_spacing, pixels.col_spacing)
        values = {k: getattr(stats, k) for k in STAT_FIELDS}
    except (PixelError, RoiGeometryError) as exc:
        error = str(exc)
    return _roi_score_upsert(roi_id=roi.pk, version=version, values=values, error=error)


def _instance_pixels(instance: Instance, cache: SliceCache | None):
    """Decoded pixels of a stored instance (local file path; other storages are copied to a temp file)."""
    try:
        path = instance.file.path
    except NotImplementedError:  # remote storage backend
        import tempfile

        with instance.file.open("rb") as src, tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as dst:
            dst.write(src.read())
            path = dst.name
    return load_pixels(path, cache=cache)


@transaction.atomic
def _roi_score_upsert(*, roi_id: int, version: int, values: dict, error: str) -> RoiScore | None:
    # Lock the ROI row: a concurrent edit either happened before (we see its version and skip) or
    # waits until this result is stored (and then queues its own job).
    roi = Roi.objects.select_for_update().filter(pk=roi_id).first()
    if roi is None or roi.version != version:
        return None  # stale job: a newer version exists and has its own job
    score, _ = RoiScore.objects.update_or_create(roi=roi, defaults={"roi_version": version, "error": error, **values})
    return score


# ----------------------------------------------------------------------------------------------------------------
# Read scores
# ----------------------------------------------------------------------------------------------------------------


def _read_inputs(read: Read) -> tuple[dict, str, bool]:
    """The read's ROI statistics by label, the digest of its inputs, and whether every ROI is scored."""
    rois = list(Roi.objects.filter(read=read).select_related("score"))
    study = read.study
    by_label: dict[str, measures.RoiValues | measures.Excluded] = {}
    complete = True
    parts = [study.roi_statistic, study.noise_correction, str(study.min_levels_vbq)]
    for roi in sorted(rois, key=lambda r: r.label):
        parts.append(f"{roi.label}:{roi.version}:{int(roi.excluded)}")
        if roi.excluded:
            by_label[roi.label] = measures.Excluded(reason=roi.get_exclusion_reason_display())
            continue
        score = getattr(roi, "score", None)
        if score is None or score.roi_version != roi.version:
            complete = False
            continue
        if score.error:
            continue  # an ROI that cannot be measured counts as missing; its error is shown on the ROI
        by_label[roi.label] = measures.RoiValues(
            mean=score.mean, median=score.median, sd=score.sd, n=score.n, csf_level=roi.csf_level or None
        )
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return by_label, digest, complete


def read_score_compute(*, read_id: int) -> ReadScore | None:
    """Compute and upsert VBQ and SNR of a read from its scored ROIs (M-score: see ``study_mscores_refresh``)."""
    read = Read.objects.filter(pk=read_id).select_related("study", "case").first()
    if read is None:
        return None
    by_label, digest, complete = _read_inputs(read)
    if not complete:
        return None  # an ROI job is outstanding; it calls back when done
    study = read.study
    result = measures.score_read(
        by_label,
        measures.ScoringSettings(
            statistic=study.roi_statistic,
            min_levels=study.min_levels_vbq,
            noise_correction=study.noise_correction,
            compute_vbq=study.measure_vbq,
            compute_snr=study.measure_snr,
        ),
    )
    vbq = result.vbq or measures.MeasureResult.fail("VBQ is not part of this study's protocol.")
    snr = result.snr or measures.MeasureResult.fail("SNR is not part of this study's protocol.")
    with transaction.atomic():
        score, _ = ReadScore.objects.update_or_create(
            read=read,
            defaults={
                "inputs_digest": digest,
                "vbq": vbq.value,
                "vbq_reason": vbq.reason or "",
                "snr_levels": {k: r.value for k, r in (result.snr_levels or {}).items() if r.ok},
                "snr": snr.value,
                "snr_reason": snr.reason or "",
            },
        )
    study_mscores_refresh(study_id=study.pk, only_read=None if read.case.is_control else read.pk)
    return score


def control_snrs(study: Study) -> list[float]:
    """SNR of each control subject: mean over the readers' first reads (the study's consensus rule)."""
    values = []
    for case in Case.objects.filter(study=study, is_control=True):
        snrs = [
            s
            for s in ReadScore.objects.filter(read__case=case, read__read_number=1).values_list("snr", flat=True)
            if s is not None
        ]
        if snrs:
            values.append(float(np.mean(snrs)))
    return values


def study_mscores_refresh(*, study_id: int, only_read: int | None = None) -> int:
    """Recompute M-scores: all reads of the study (a control's SNR changed) or one read.

    M-score = (SNR − mean SNR of controls) / SD of controls' SNR (ddof = 1).
    """
    study = Study.objects.get(pk=study_id)
    controls = control_snrs(study)
    qs = ReadScore.objects.filter(read__study=study)
    if only_read is not None:
        qs = qs.filter(read_id=only_read)
    changed = 0
    for score in qs:
        if score.snr is None:
            value, reason = None, "no SNR for this read"
        else:
            res = measures.m_score(score.snr, controls)
            value, reason = res.value, res.reason or ""
        if score.m_score != value or score.m_score_reason != reason:
            ReadScore.objects.filter(pk=score.pk).update(m_score=value, m_score_reason=reason)
            changed += 1
    return changed


# ----------------------------------------------------------------------------------------------------------------
# Whole study and sweep
# ----------------------------------------------------------------------------------------------------------------


def stale_roi_ids(study_id: int | None = None) -> list[int]:
    """Drawn ROIs with no result for their current version."""
    qs = Roi.objects.filter(excluded=False)
    if study_id is not None:
        qs = qs.filter(read__study_id=study_id)
    rows = qs.values_list("id", "version", "score__roi_version")
    return [pk for pk, version, scored in rows if scored != version]


def stale_read_ids(study_id: int | None = None) -> list[int]:
    """Reads with ROIs whose read score is missing or computed from other inputs."""
    qs = Read.objects.filter(rois__isnull=False).distinct().select_related("study", "score")
    if study_id is not None:
        qs = qs.filter(study_id=study_id)
    stale = []
    for read in qs:
        _, digest, complete = _read_inputs(read)
        current = getattr(read, "score", None)
        if complete and (current is None or current.inputs_digest != digest):
            stale.append(read.pk)
    return stale


def roi_ids_of_study(study_id: int) -> list[int]:
    return list(Roi.objects.filter(read__study_id=study_id, excluded=False).values_list("id", flat=True))


def study_rescore(*, study_id: int, force: bool = False, job_id: int | None = None) -> dict:
    """Score every ROI of the study without a current result (every ROI with ``force``), then its reads.

    Each slice is decoded once (shared cache). Progress goes to the ``RescoreJob`` row. Idempotent: a
    rerun after a killed worker only does what is still missing.
    """
    from django.utils import timezone

    from scoring.models import RescoreJob

    roi_ids = roi_ids_of_study(study_id) if force else stale_roi_ids(study_id)
    # Group ROIs by slice so the cache decodes each slice once.
    order = dict(Roi.objects.filter(pk__in=roi_ids).values_list("id", "sop_instance_uid"))
    roi_ids = sorted(roi_ids, key=lambda pk: (order.get(pk, ""), pk))
    job = RescoreJob.objects.filter(pk=job_id).first() if job_id else None
    if job is None:
        job = RescoreJob.objects.create(study_id=study_id)
    job.status, job.total, job.done = RescoreJob.Status.RUNNING, len(roi_ids), 0
    job.save(update_fields=["status", "total", "done"])
    cache = SliceCache()
    for i, roi_id in enumerate(roi_ids, 1):
        roi_score_compute(roi_id=roi_id, cache=cache)
        if i % 50 == 0 or i == len(roi_ids):
            RescoreJob.objects.filter(pk=job.pk).update(done=i)
    reads = (
        stale_read_ids(study_id)
        if not force
        else list(Read.objects.filter(study_id=study_id, rois__isnull=False).distinct().values_list("id", flat=True))
    )
    for read_id in reads:
        read_score_compute(read_id=read_id)
    study_mscores_refresh(study_id=study_id)
    RescoreJob.objects.filter(pk=job.pk).update(status=RescoreJob.Status.DONE, finished_at=timezone.now())
    return {"rois": len(roi_ids), "reads": len(reads), "job": job.pk}


def study_rescore_queue(*, study: Study, user, force: bool = False):
    """Record a whole-study rescore and queue it (after commit); progress is on the returned row."""
    from scoring import tasks
    from scoring.models import RescoreJob
    from studies.services.audit import audit_log

    job = RescoreJob.objects.create(study=study)
    audit_log(study=study, user=user, action="study.rescore", obj=study, data={"force": force, "job": job.pk})
    transaction.on_commit(lambda: _send(tasks.study_rescore, study.pk, force, job.pk))
    return job


def scoring_sweep(*, cache: SliceCache | None = None) -> dict:
    """Score every stale ROI and read in every study (the periodic safety net)."""
    rois = stale_roi_ids()
    for roi_id in rois:
        roi_score_compute(roi_id=roi_id, cache=cache)
    reads = stale_read_ids()
    studies = set()
    for read_id in reads:
        score = read_score_compute(read_id=read_id)
        if score is not None:
            studies.add(score.read.study_id)
    for study_id in studies:
        study_mscores_refresh(study_id=study_id)
    return {"rois": len(rois), "reads": len(reads)}
