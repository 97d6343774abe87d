"""Checks of a read that need its ROIs' pixel statistics: anatomy and quality warnings shown before submit,
and the one statistics-based problem that blocks it (a noise ROI on tissue).

Joined to ``studies`` through :data:`studies.events.read_checks` (see :mod:`scoring.receivers`); the
protocol's own completeness rules are in :mod:`studies.services.read_checks`.
"""

from __future__ import annotations

from studies.events import ReadChecks
from studies.models import Read, Roi
from studies.protocol import protocol_for
from studies.slices import slice_refs

# A vertebral ROI whose SD exceeds this fraction of its mean probably includes cortical bone or disc.
HIGH_CV = 0.35


def noise_problems(read: Read) -> list[str]:
    """The background-noise ROI must lie in air: its mean above half the darkest level's blocks submission."""
    protocol = protocol_for(read.study)
    rois = {r.label: r for r in Roi.objects.filter(read=read).select_related("score")}
    noise = rois.get(protocol.noise)
    if noise is None or noise.excluded:
        return []
    score = getattr(noise, "score", None)
    if score is None or score.roi_version != noise.version or score.error:
        return []
    measured = [rois[lv] for lv in protocol.levels if lv in rois and not rois[lv].excluded]
    body = [r for r in measured if getattr(r, "score", None) is not None and r.score.mean]
    if body and score.mean > 0.5 * min(r.score.mean for r in body):
        return ["The background-noise ROI must lie outside the body (in air)."]
    return []


def read_checks(*, read: Read, stats_shown: str = "full", **_) -> ReadChecks:
    """Receiver of :data:`studies.events.read_checks`."""
    return ReadChecks(problems=noise_problems(read), warnings=quality_warnings(read, stats_shown=stats_shown))


def quality_warnings(read: Read, *, stats_shown: str = "full") -> list[str]:
    """Anatomy and quality hints; they do not block submission.

    Every check runs whatever ``stats_shown`` is (the study's ``reader_roi_stats`` for a reader, "full" for the
    PI); the sentences quote SI values (mean, SD) only under "full" and areas from "quality" on, so that a
    blinded reader gets the warning without the numbers.
    """
    quote_si = stats_shown == "full"
    quote_area = stats_shown in ("full", "quality")
    study = read.study
    protocol = protocol_for(study)
    levels_of = protocol.levels
    rois = {r.label: r for r in Roi.objects.filter(read=read).select_related("score")}
    warnings = []

    def stats(label):
        roi = rois.get(label)
        if roi is None or roi.excluded:
            return None
        score = getattr(roi, "score", None)
        if score is None or score.roi_version != roi.version or score.error:
            return None
        return score

    drawn = [r for r in rois.values() if not r.excluded]
    body_slices = {r.sop_instance_uid for r in drawn if r.label != protocol.noise}
    if len(body_slices) > 1:
        refs = slice_refs(body_slices)  # the slice numbers the viewer shows (studies.slices)
        warnings.append(
            "ROIs are on different slices ("
            + ", ".join(
                f"{r.label}: slice {refs[r.sop_instance_uid].number if r.sop_instance_uid in refs else '?'}"
                for r in drawn
                if r.label != protocol.noise
            )
            + ")."
        )
    levels = [stats(lv) for lv in levels_of]
    csf = stats(protocol.reference)
    measured = [s for s in levels if s is not None]
    if csf is not None and measured and csf.mean >= max(s.mean for s in measured):
        warnings.append("The CSF ROI is brighter than the vertebrae: on T1 CSF should be darker. Check its position.")
    for lv, s in zip(levels_of, levels, strict=True):
        if s is not None and s.mean and s.sd is not None and s.sd / s.mean > HIGH_CV:
            values = f" ({s.sd:.0f} vs mean {s.mean:.0f})" if quote_si else " for its mean"
            warnings.append(f"{lv}: high SD{values} — the ROI may touch the cortical rim.")
    noise = stats(protocol.noise)
    if noise is not None and measured and noise.mean > 0.25 * min(s.mean for s in measured):
        warnings.append("The noise ROI is bright for background: it may overlap tissue or artefact.")
    for label in rois:
        s = stats(label)
        if s is None or label == protocol.noise:
            continue
        if s.area_mm2 < study.roi_area_min_mm2 or s.area_mm2 > study.roi_area_max_mm2:
            area = f"area {s.area_mm2:.0f} mm²" if quote_area else "the area"
            warnings.append(
                f"{label}: {area} is outside the study's expected range "
                f"({study.roi_area_min_mm2:.0f}–{study.roi_area_max_mm2:.0f} mm²)."
            )
    return warnings
