"""What a read still needs before it can be submitted, and the warnings shown beside it.

Completeness follows the study's reading protocol (:mod:`studies.protocol`): every required ROI drawn, or
excluded for a level; enough levels left for a VBQ; one slice when the study asks for it. Checks that need
more than the ROIs (their pixel statistics) come from the apps that own them through
:data:`studies.events.read_checks`.
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
    levels = protocol.levels
    measured = [lv for lv in levels if lv in rois and not rois[lv].excluded]
    if read.study.measure_vbq and all(lv in rois for lv in levels) and len(measured) < 2:
        problems.append("At least two vertebral levels must be measured (not excluded) for a VBQ.")
    if read.study.same_slice_required:
        drawn = [r for r in rois.values() if not r.excluded and r.label != protocol.noise]
        if len({r.sop_instance_uid for r in drawn}) > 1:
            problems.append("Draw all vertebral and CSF ROIs on the same (mid-sagittal) slice.")
    return problems


def read_checks(read: Read, *, stats_shown: str = "full") -> dict[str, list[str]]:
    """``problems`` (block submission) and ``warnings`` (shown, do not block) for the read.

    ``stats_shown`` is how much of the ROI statistics the asker may see (:attr:`Study.reader_roi_stats`; the
    PI: "full"): the contributed sentences quote no value beyond it.
    """
    contributed = ask_read_checks(read, stats_shown=stats_shown)
    return {"problems": protocol_problems(read) + contributed.problems, "warnings": contributed.warnings}
