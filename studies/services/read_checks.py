"""What a read still needs before it can be submitted, and the warnings shown beside it.

Completeness follows the study's reading protocol (:mod:`studies.protocol`): every required ROI drawn, or
excluded for a level; one slice when the study asks for it. Checks that need more than the ROIs (their pixel
statistics) come from the apps that own them through :data:`studies.events.read_checks`.

Problems block submission; warnings do not. A condition that leaves a score uncomputable but that the reader
may be right about (too few measurable levels once the excluded ones are left out; in ``scoring.checks``: a
blank background, CSF without signal, an ROI whose pixels are all equal) is a **warning** naming the ROI and
what to do: the read can be submitted, and the PI sees why it has no score.

The sentences are in the active language (issue #18 point 7): :mod:`studies.protocol` is Django-free, so its ROI
phrases are translated here, from the msgids of :data:`PHRASES`.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop, ngettext

from studies.events import ask_read_checks
from studies.models import Read, Roi
from studies.protocol import protocol_for

#: The fixed ROI phrases of :mod:`studies.protocol.lumbar`, for the catalogue (a level's is "the <label> ROI").
PHRASES = (gettext_noop("the CSF ROI (at L3)"), gettext_noop("the background-noise ROI"))


def roi_phrase(spec) -> str:
    """The protocol's phrase for an ROI ("the L1 ROI", "the CSF ROI (at L3)") in the active language."""
    if spec.phrase == f"the {spec.label} ROI":
        return gettext("the %(label)s ROI") % {"label": spec.label}
    return gettext(spec.phrase)


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
            what = {"what": roi_phrase(spec)}
            problems.append(
                gettext("Draw %(what)s or exclude the level.") % what
                if spec.excludable
                else gettext("Draw %(what)s.") % what
            )
    if read.study.same_slice_required:
        drawn = [r for r in rois.values() if not r.excluded and r.label != protocol.noise]
        if len({r.sop_instance_uid for r in drawn}) > 1:
            problems.append(gettext("Draw all vertebral and CSF ROIs on the same (mid-sagittal) slice."))
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
        ngettext(
            "Only %(measured)d vertebral level can be measured (%(excluded)s excluded); this study needs at least "
            "%(needed)d, so %(measures)s cannot be computed for this read. Measure an excluded level if it is usable; "
            "otherwise submit, and the PI will see why the read has no score.",
            "Only %(measured)d vertebral levels can be measured (%(excluded)s excluded); this study needs at least "
            "%(needed)d, so %(measures)s cannot be computed for this read. Measure an excluded level if it is usable; "
            "otherwise submit, and the PI will see why the read has no score.",
            measured,
        )
        % {
            "measured": measured,
            "excluded": ", ".join(excluded),
            "needed": study.min_levels_vbq,
            "measures": gettext(" and ").join(measures),
        }
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
