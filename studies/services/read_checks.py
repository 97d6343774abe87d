"""What a read still needs before it can be submitted, and the warnings shown beside it.

Completeness follows the study's reading protocol (:mod:`studies.protocol`): every required ROI drawn, or
excluded for a level; one slice when the study asks for it. Checks that need more than the ROIs (their pixel
statistics) come from the apps that own them through :data:`studies.events.read_checks`.

Problems block submission; warnings do not. A condition that leaves a score uncomputable but that the reader
may be right about (too few measurable levels once the excluded ones are left out; in ``scoring.checks``: a
blank background, CSF without signal, an ROI whose pixels are all equal) is a **warning** naming the ROI and
what to do: the read can be submitted, and the PI sees why it has no score.
"""

from __future__ import annotations

from studies.events import ask_read_checks
from studies.models import Read, Roi
from studies.protocol import protocol_for


def required_labels(read: Read) -> list[str]:
    """The labels this read must have, in reading order."""
    study = read.study
    return protocol_for(study).required_labels(vbq=study.measure_vbq, snr=study.measure_snr)


def protocol_problems(read: Read, rois: dict[str, Roi] | None = None) -> list[str]:
    """What is missing from the protocol before the read can be submitted, as sentences for the reader."""
    protocol = protocol_for(read.study)
    if rois is None:
        rois = {r.label: r for r in Roi.objects.filter(read=read)}
    problems = []
    for label in required_labels(read):
        if label not in rois:
            spec = protocol.spec(label)
            problems.append(f"Draw {spec.phrase}" + (" or exclude the level." if spec.excludable else "."))
    if read.study.same_slice_required:
        drawn = [r for r in rois.values() if not r.excluded and r.label != protocol.noise]
        if len({r.sop_instance_uid for r in drawn}) > 1:
            problems.append("Draw all vertebral and CSF ROIs on the same (mid-sagittal) slice.")
    return problems


def protocol_warnings(read: Read, rois: dict[str, Roi] | None = None) -> list[str]:
    """Protocol conditions that leave a score uncomputable without blocking submission (see the module)."""
    study = read.study
    protocol = protocol_for(study)
    if rois is None:
        rois = {r.label: r for r in Roi.objects.filter(read=read)}
    levels = protocol.levels
    measures = [name for name, on in (("VBQ", study.measure_vbq), ("SNR", study.measure_snr)) if on]
    excluded = [lv for lv in levels if lv in rois and rois[lv].excluded]
    measured = len(levels) - len(excluded)
    if not measures or measured >= study.min_levels_vbq or not excluded:
        return []
    return [
        f"Only {measured} vertebral level{'' if measured == 1 else 's'} can be measured "
        f"({', '.join(excluded)} excluded); this study needs at least {study.min_levels_vbq}, so "
        f"{' and '.join(measures)} cannot be computed for this read. Measure an excluded level if it is usable; "
        "otherwise submit, and the PI will see why the read has no score."
    ]


def read_checks(read: Read, *, stats_shown: str = "full") -> dict[str, list[str]]:
    """``problems`` (block submission) and ``warnings`` (shown, do not block) for the read.

    ``stats_shown`` is how much of the ROI statistics the asker may see (:attr:`Study.reader_roi_stats`; the
    PI: "full"): the contributed sentences quote no value beyond it.
    """
    contributed = ask_read_checks(read, stats_shown=stats_shown)
    rois = {r.label: r for r in Roi.objects.filter(read=read)}
    return {
        "problems": protocol_problems(read, rois) + contributed.problems,
        "warnings": protocol_warnings(read, rois) + contributed.warnings,
    }
