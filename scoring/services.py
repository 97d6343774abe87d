"""Scoring services: ROI statistics and read scores from the stored pixels, upserted idempotently.

Every result is keyed by what it was computed from (the ROI version; a digest of the read's ROI
versions and settings), so a stale job never overwrites a newer result and running a job twice gives
the same state. The database says what is still to do; the broker only carries work.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from scoring import measures
from scoring.models import ReadScore, RoiScore
from studies.models import Instance, Read, Roi, Study
from studies.roi_shapes import RoiGeometryError
from vbqsite import jobs
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable, enqueue

# Pixel decoding, ROI masks and statistics (pydicom, numpy) are imported inside the functions that measure: the
# web processes import this module (the scoring API, the read pages) and their start-up should not load them
# (issue #20 point 4).
if TYPE_CHECKING:
    from studies.dicom.pixels import SliceCache

log = logging.getLogger(__name__)

STAT_FIELDS = ("n", "area_mm2", "mean", "median", "sd", "min", "max")


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
    from scoring.pixels import roi_stats
    from studies.dicom.pixels import PixelError
    from studies.roi_geometry import roi_mask

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


def roi_changed_score(*, roi_id: int) -> ReadScore | None:
    """Measure an ROI at its current version, then score its read.

    The read is scored whether or not the ROI could be measured: an excluded level has no statistics, and
    excluding it must still take it out of the read's VBQ and SNR.
    """
    roi_score_compute(roi_id=roi_id)
    read_id = Roi.objects.filter(pk=roi_id).values_list("read_id", flat=True).first()
    return None if read_id is None else read_score_compute(read_id=read_id)


def _instance_pixels(instance: Instance, cache: SliceCache | None):
    """Decoded pixels of a stored instance — its frame of a multi-frame file (``frame_number``) — from the local
    file (other storages are copied to a temp file)."""
    from studies.dicom.pixels import load_pixels

    try:
        path = instance.file.path
    except NotImplementedError:  # remote storage backend
        import tempfile

        with instance.file.open("rb") as src, tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as dst:
            dst.write(src.read())
            path = dst.name
    return load_pixels(path, cache=cache, frame=instance.frame_number)


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


_INPUT_COLUMNS = (
    "read_id",
    "label",
    "version",
    "excluded",
    "exclusion_reason",
    "csf_level",
    "score__roi_version",
    "score__error",
    "score__mean",
    "score__median",
    "score__sd",
    "score__n",
)


def _input_rows(**filters) -> list[tuple]:
    """The columns a read score depends on, one tuple per ROI (no model objects: a study has thousands).

    In no particular order (no ORDER BY: the ROI's default ordering would be compiled and sorted for nothing):
    :func:`_read_inputs` sorts a read's rows by label, which is unique in a read.
    """
    return list(Roi.objects.filter(**filters).order_by().values_list(*_INPUT_COLUMNS))


def _read_inputs(read: Read, rows: list[tuple] | None = None) -> tuple[dict, str, bool]:
    """The read's ROI statistics by label, the digest of its inputs, and whether every ROI is scored."""
    if rows is None:
        rows = _input_rows(read=read)
    study = read.study
    reasons = dict(Roi.ExclusionReason.choices)
    by_label: dict[str, measures.RoiValues | measures.Excluded] = {}
    complete = True
    parts = [
        study.roi_statistic,
        study.noise_correction,
        str(study.min_levels_vbq),
        f"vbq={int(study.measure_vbq)},snr={int(study.measure_snr)}",
    ]
    for _, label, version, excluded, reason, csf_level, scored_version, error, mean, median, sd, n in sorted(
        rows, key=lambda r: r[1]
    ):
        parts.append(f"{label}:{version}:{int(excluded)}")
        if excluded:
            by_label[label] = measures.Excluded(reason=reasons.get(reason, reason))
            continue
        if scored_version != version:
            complete = False
            continue
        if error:
            continue  # an ROI that cannot be measured counts as missing; its error is shown on the ROI
        by_label[label] = measures.RoiValues(mean=mean, median=median, sd=sd, n=n, csf_level=csf_level or None)
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return by_label, digest, complete


def _read_score_fields(study: Study, by_label: dict, digest: str) -> dict:
    """VBQ and SNR of one read (the ReadScore columns) from its ROI statistics."""
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
    return {
        "inputs_digest": digest,
        "vbq": vbq.value,
        "vbq_reason": vbq.reason or "",
        "snr_levels": {k: r.value for k, r in (result.snr_levels or {}).items() if r.ok},
        "snr": snr.value,
        "snr_reason": snr.reason or "",
    }


READ_SCORE_FIELDS = ("inputs_digest", "vbq", "vbq_reason", "snr_levels", "snr", "snr_reason", "computed_at")


def read_score_compute(*, read_id: int) -> ReadScore | None:
    """Compute and upsert VBQ and SNR of a read from its scored ROIs, then its M-score."""
    read = Read.objects.filter(pk=read_id).select_related("study", "case").first()
    if read is None:
        return None
    by_label, digest, complete = _read_inputs(read)
    if not complete:
        return None  # an ROI job is outstanding; it calls back when done
    with transaction.atomic():
        score, _ = ReadScore.objects.update_or_create(
            read=read, defaults=_read_score_fields(read.study, by_label, digest)
        )
    study_mscores_refresh(study_id=read.study_id, only_read=None if read.case.is_control else read.pk)
    return score


def reads_score_bulk(*, study_id: int, force: bool = False) -> int:
    """Compute the scores of every complete read of a study whose inputs changed (all with ``force``).

    Same results as :func:`read_score_compute` per read, with a constant number of queries.
    """
    study = Study.objects.get(pk=study_id)
    rois_by_read: dict[int, list[tuple]] = {}
    for row in _input_rows(read__study_id=study_id):
        rois_by_read.setdefault(row[0], []).append(row)
    current = dict(ReadScore.objects.filter(read__study_id=study_id).values_list("read_id", "inputs_digest"))
    rows = []
    for read in Read.objects.filter(pk__in=list(rois_by_read)).select_related("study"):
        by_label, digest, complete = _read_inputs(read, rois_by_read[read.pk])
        if complete and (force or current.get(read.pk) != digest):
            rows.append(ReadScore(read=read, **_read_score_fields(study, by_label, digest)))
    with transaction.atomic():
        ReadScore.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["read"], update_fields=list(READ_SCORE_FIELDS)
        )
    return len(rows)


def control_snrs(study: Study) -> list[float]:
    """SNR of each control subject: mean over the readers' first reads (the study's consensus rule)."""
    by_case: dict[int, list[float]] = {}
    rows = ReadScore.objects.filter(
        read__study=study, read__case__is_control=True, read__read_number=1, snr__isnull=False
    ).values_list("read__case_id", "snr")
    for case_id, snr in rows:
        by_case.setdefault(case_id, []).append(snr)
    import numpy as np  # see the note on the imports at the top (start-up)

    return [float(np.mean(v)) for _, v in sorted(by_case.items())]


def study_mscores_refresh(*, study_id: int, only_read: int | None = None) -> int:
    """Recompute M-scores: all reads of the study (a control's SNR changed) or one read.

    M-score = (SNR − mean SNR of controls) / SD of controls' SNR (ddof = 1).
    """
    study = Study.objects.get(pk=study_id)
    score = measures.m_score_against(control_snrs(study))  # the group's mean and SD once, not once per read
    # Plain rows, not model objects: a control's move refreshes every read of the study (hundreds).
    qs = ReadScore.objects.filter(read__study=study)
    if only_read is not None:
        qs = qs.filter(read_id=only_read)
    changed = []
    for pk, snr, m_value, m_reason in qs.values_list("id", "snr", "m_score", "m_score_reason"):
        if snr is None:
            value, reason = None, "no SNR for this read"
        else:
            res = score(snr)
            value, reason = res.value, res.reason or ""
        if m_value != value or m_reason != reason:
            changed.append((pk, value, reason))
    _m_scores_update(changed)
    return len(changed)


def _m_scores_update(rows: list[tuple[int, float | None, str]]) -> None:
    """Store ``(ReadScore id, m_score, m_score_reason)`` rows: one parametrised UPDATE by id run by ``executemany``.

    ``bulk_update`` stores the same values but builds and compiles a ``CASE WHEN id = … THEN …`` branch per row and
    field: ~0.25 ms a row, 150 ms of worker CPU for a study of 600 reads at every move of a control's ROI (this:
    ~6 ms; PostgreSQL runs one statement per row, ~5-10 ms more of its CPU for 600 rows than the one CASE statement).
    Values go through the fields' ``get_db_prep_save`` as there; all rows or none (one transaction, as
    ``bulk_update``).
    """
    if not rows:
        return
    meta = ReadScore._meta
    m_field, reason_field = meta.get_field("m_score"), meta.get_field("m_score_reason")
    connection = connections[router.db_for_write(ReadScore)]
    quote = connection.ops.quote_name
    table, m_column, reason_column = quote(meta.db_table), quote(m_field.column), quote(reason_field.column)
    sql = f"UPDATE {table} SET {m_column} = %s, {reason_column} = %s WHERE {quote(meta.pk.column)} = %s"
    params = [
        (m_field.get_db_prep_save(value, connection), reason_field.get_db_prep_save(reason, connection), pk)
        for pk, value, reason in rows
    ]
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, params)


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
    by_read: dict[int, list[tuple]] = {}
    for row in _input_rows(**({"read__study_id": study_id} if study_id is not None else {})):
        by_read.setdefault(row[0], []).append(row)
    current = dict(ReadScore.objects.filter(read_id__in=list(by_read)).values_list("read_id", "inputs_digest"))
    stale = []
    for read in Read.objects.filter(pk__in=list(by_read)).select_related("study"):
        _, digest, complete = _read_inputs(read, by_read[read.pk])
        if complete and current.get(read.pk) != digest:
            stale.append(read.pk)
    return stale


def roi_ids_of_study(study_id: int) -> list[int]:
    return list(Roi.objects.filter(read__study_id=study_id, excluded=False).values_list("id", flat=True))


def _scores_upsert(results: list[tuple[int, int, dict, str]]) -> int:
    """Store (roi id, version, statistics, error) results whose ROI still has that version; one transaction."""
    if not results:
        return 0
    with transaction.atomic():
        versions = dict(
            Roi.objects.select_for_update().filter(pk__in=[r[0] for r in results]).values_list("id", "version")
        )
        rows = [
            RoiScore(roi_id=roi_id, roi_version=version, error=error, **values)
            for roi_id, version, values, error in results
            if versions.get(roi_id) == version  # a newer version has its own job
        ]
        RoiScore.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["roi"],
            update_fields=["roi_version", "error", *STAT_FIELDS, "computed_at"],
        )
    return len(rows)


def _measure(roi: Roi, pixels) -> tuple[dict, str]:
    from scoring.pixels import roi_stats
    from studies.dicom.pixels import PixelError
    from studies.roi_geometry import roi_mask

    try:
        if isinstance(pixels, Exception):
            raise pixels
        mask = roi_mask(roi.shape, roi.points_px, pixels.rows, pixels.cols, pixels.row_spacing, pixels.col_spacing)
        stats = roi_stats(pixels.values, mask, pixels.row_spacing, pixels.col_spacing)
        return {k: getattr(stats, k) for k in STAT_FIELDS}, ""
    except (PixelError, RoiGeometryError) as exc:
        return dict.fromkeys(STAT_FIELDS), str(exc)


def study_rescore(*, study_id: int, force: bool = False, job_id: int | None = None) -> dict:
    """Score every ROI of the study without a current result (every ROI with ``force``), then its reads.

    ROIs are grouped by slice: each slice is decoded once and its ROIs' results are stored in one
    transaction, so a killed worker loses at most one slice's work and a rerun does only what is missing
    (idempotent). Progress goes to the ``RescoreJob`` row.
    """
    from scoring.models import RescoreJob
    from studies.dicom.pixels import PixelError, SliceCache

    if job_id is not None and not jobs.job_claim(RescoreJob, job_id):
        # done, failed, or running on a live worker: a duplicate message (redelivery, the job sweep, a retry)
        return {"rois": 0, "reads": 0, "job": job_id, "skipped": True}
    if force:
        rois = list(Roi.objects.filter(read__study_id=study_id, excluded=False))
    else:
        rois = list(Roi.objects.filter(read__study_id=study_id, excluded=False).select_related("score"))
        rois = [r for r in rois if getattr(r, "score", None) is None or r.score.roi_version != r.version]
    job = RescoreJob.objects.filter(pk=job_id).first() if job_id else None
    if job is None:
        job = RescoreJob.objects.create(study_id=study_id, force=force, heartbeat_at=timezone.now())
    job.status, job.total, job.done = RescoreJob.Status.RUNNING, len(rois), 0
    job.save(update_fields=["status", "total", "done"])
    beat = jobs.Heartbeat(RescoreJob, job.pk)  # the job sweep requeues a rescore that stops beating

    by_slice: dict[str, list[Roi]] = {}
    for roi in rois:
        by_slice.setdefault(roi.sop_instance_uid, []).append(roi)
    instances = {i.sop_instance_uid: i for i in Instance.objects.filter(sop_instance_uid__in=list(by_slice))}
    done, pending = 0, []
    slices = sorted(by_slice)
    for index, sop in enumerate(slices):
        group = by_slice[sop]
        instance = instances.get(sop)
        try:
            if instance is None:
                raise PixelError("The slice this ROI was drawn on is no longer stored.")
            pixels = _instance_pixels(instance, SliceCache(maxsize=1))
        except PixelError as exc:
            pixels = exc
        pending.extend((roi.pk, roi.version, *_measure(roi, pixels)) for roi in group)
        # Store whole slices, about SCORING_RESCORE_CHUNK ROIs per transaction (few commits; little lost on a kill).
        if len(pending) >= settings.SCORING_RESCORE_CHUNK or index == len(slices) - 1:
            _scores_upsert(pending)
            done += len(pending)
            pending = []
            beat(done=done)
        else:
            beat()
    reads = reads_score_bulk(study_id=study_id, force=force)
    study_mscores_refresh(study_id=study_id)
    RescoreJob.objects.filter(pk=job.pk).update(
        status=RescoreJob.Status.DONE, done=done, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    return {"rois": len(rois), "reads": reads, "job": job.pk}


def study_rescore_queue(*, study: Study, user, force: bool = False):
    """Record a whole-study rescore and queue it once the row is committed; progress is on the returned row.

    Raises :class:`vbqsite.queue.QueueUnavailable` when the broker refuses it (the job is then failed, not left
    queued). Not to be called inside a transaction: the caller must learn whether the job was queued.
    """
    from scoring.models import RescoreJob
    from studies.services.audit import audit_log

    with transaction.atomic(durable=True):
        job = RescoreJob.objects.create(study=study, force=force, heartbeat_at=timezone.now())
        audit_log(study=study, user=user, action="study.rescore", obj=study, data={"force": force, "job": job.pk})
    if not _rescore_send(job):
        jobs.job_queue_refused(RescoreJob, job.pk, QUEUE_DOWN)
        job.refresh_from_db()
        raise QueueUnavailable(job)
    return job


def _rescore_send(job) -> bool:
    from scoring import tasks

    return enqueue(tasks.study_rescore, job.study_id, job.force, job.pk)


def rescore_jobs_sweep() -> dict[str, list[int]]:
    """Queue again, or fail, the whole-study rescores that are stuck (:func:`vbqsite.jobs.jobs_sweep`)."""
    from scoring.models import RescoreJob

    return jobs.jobs_sweep(RescoreJob, enqueue_job=_rescore_send, noun="rescore")


def scoring_sweep() -> dict:
    """Score every stale ROI and read in every study (the periodic safety net); a no-op when all is current.

    Then the cheap form of the scoring audit (:mod:`scoring.audit`, stored ROI statistics taken as given):
    a read or M-score that differs from a fresh computation — whatever event was missed — is fixed.
    """
    from scoring.audit import study_scores_audit

    study_ids = set(Roi.objects.filter(pk__in=stale_roi_ids()).values_list("read__study_id", flat=True))
    study_ids |= set(Read.objects.filter(pk__in=stale_read_ids()).values_list("study_id", flat=True))
    totals = {"rois": 0, "reads": 0}
    for study_id in sorted(study_ids):
        result = study_rescore(study_id=study_id)
        totals["rois"] += result["rois"]
        totals["reads"] += result["reads"]
    for study_id in Study.objects.filter(locked=False).values_list("pk", flat=True):
        report = study_scores_audit(study_id=study_id, fix=True, pixels=False)
        if report.differences:
            log.warning("scoring sweep fixed %d stale values in study %s", len(report.differences), study_id)
    return totals
