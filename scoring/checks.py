"""Protocol completeness (blocks submit) and anatomy / quality warnings (shown before submit)."""

from __future__ import annotations

from studies.models import Instance, Read, Roi

LEVELS = ("L1", "L2", "L3", "L4")
# A vertebral ROI whose SD exceeds this fraction of its mean probably includes cortical bone or disc.
HIGH_CV = 0.35


def required_labels(read: Read) -> list[str]:
    study = read.study
    labels: list[str] = []
    if study.measure_vbq or study.measure_snr:
        labels += list(LEVELS)
    if study.measure_vbq:
        labels.append("CSF")
    if study.measure_snr:
        labels.append("NOISE")
    return labels


def protocol_problems(read: Read) -> list[str]:
    """What is missing before the read can be submitted, as sentences for the reader."""
    rois = {r.label: r for r in Roi.objects.filter(read=read)}
    problems = []
    for label in required_labels(read):
        roi = rois.get(label)
        if roi is None:
            what = {"CSF": "the CSF ROI (at L3)", "NOISE": "the background-noise ROI"}.get(label, f"the {label} ROI")
            problems.append(f"Draw {what}" + (" or exclude the level." if label in LEVELS else "."))
    measured = [rois[lv] for lv in LEVELS if lv in rois and not rois[lv].excluded]
    if read.study.measure_vbq and len([lv for lv in LEVELS if lv in rois]) == 4 and len(measured) < 2:
        problems.append("At least two vertebral levels must be measured (not excluded) for a VBQ.")
    if read.study.same_slice_required:
        drawn = [r for r in rois.values() if not r.excluded and r.label != "NOISE"]
        slices = {r.sop_instance_uid for r in drawn}
        if len(slices) > 1:
            problems.append("Draw all vertebral and CSF ROIs on the same (mid-sagittal) slice.")
    noise = rois.get("NOISE")
    if noise is not None and not noise.excluded:
        score = getattr(noise, "score", None)
        if score is not None and score.roi_version == noise.version and not score.error:
            body = [r for r in measured if getattr(r, "score", None) is not None and r.score.mean]
            if body and score.mean > 0.5 * min(r.score.mean for r in body):
                problems.append("The background-noise ROI must lie outside the body (in air).")
    return problems


def quality_warnings(read: Read) -> list[str]:
    """Anatomy and quality hints; they do not block submission."""
    study = read.study
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
    body_slices = {r.sop_instance_uid for r in drawn if r.label != "NOISE"}
    if len(body_slices) > 1:
        positions = dict(
            Instance.objects.filter(sop_instance_uid__in=body_slices).values_list("sop_instance_uid", "instance_number")
        )
        warnings.append(
            "ROIs are on different slices ("
            + ", ".join(
                f"{r.label}: slice {positions.get(r.sop_instance_uid, '?')}" for r in drawn if r.label != "NOISE"
            )
            + ")."
        )
    levels = [stats(lv) for lv in LEVELS]
    csf = stats("CSF")
    measured = [s for s in levels if s is not None]
    if csf is not None and measured and csf.mean >= max(s.mean for s in measured):
        warnings.append("The CSF ROI is brighter than the vertebrae: on T1 CSF should be darker. Check its position.")
    for lv, s in zip(LEVELS, levels, strict=True):
        if s is not None and s.mean and s.sd is not None and s.sd / s.mean > HIGH_CV:
            warnings.append(f"{lv}: high SD ({s.sd:.0f} vs mean {s.mean:.0f}) — the ROI may touch the cortical rim.")
    noise = stats("NOISE")
    if noise is not None and measured and noise.mean > 0.25 * min(s.mean for s in measured):
        warnings.append("The noise ROI is bright for background: it may overlap tissue or artefact.")
    for label in rois:
        s = stats(label)
        if s is None or label == "NOISE":
            continue
        if s.area_mm2 < study.roi_area_min_mm2 or s.area_mm2 > study.roi_area_max_mm2:
            warnings.append(
                f"{label}: area {s.area_mm2:.0f} mm² is outside the study's expected range "
                f"({study.roi_area_min_mm2:.0f}–{study.roi_area_max_mm2:.0f} mm²)."
            )
    return warnings
