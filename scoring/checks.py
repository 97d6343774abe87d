"""Checks of a read that need its ROIs' pixel statistics: anatomy and quality warnings shown before submit,
and the one statistics-based problem that blocks it (a noise ROI on tissue).

Joined to ``studies`` through :data:`studies.events.read_checks` (see :mod:`scoring.receivers`); the
protocol's own completeness rules are in :mod:`studies.services.read_checks`.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

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
    return ReadChecks(
        problems=noise_problems(read),
        warnings=uncomputable_warnings(read, stats_shown=stats_shown) + quality_warnings(read, stats_shown=stats_shown),
    )


#: The ROI names of the sentences below that are not "The <label> ROI", for the catalogue (issue #18 point 7).
ROI_NAMES = (gettext_noop("The background-noise ROI"), gettext_noop("The CSF ROI"))


def _roi_name(label: str, phrase: str) -> str:
    """ "The CSF ROI", "The L1 ROI"… (the protocol's phrase, capitalised) in the active language."""
    name = phrase[0].upper() + phrase[1:]
    if name == f"The {label} ROI":
        return gettext("The %(label)s ROI") % {"label": label}
    return gettext(name)


def uncomputable_warnings(read: Read, *, stats_shown: str = "full") -> list[str]:
    """An ROI whose statistics leave a score uncomputable (or meaningless), named, with what to do.

    Warnings, not problems: the cause may be the series itself (a zero-filled background, blank CSF), which
    the reader cannot fix; the read can be submitted and the PI sees the reason with the score. Conditions:
    the noise ROI has no variation (SD 0) or a single pixel (no SD) → no SNR; the CSF signal (the study's ROI
    statistic) is ≤ 0 → no VBQ; any other ROI whose pixels are all equal (SD 0); an ROI whose pixels could not
    be measured. SI values are quoted only when ``stats_shown`` is "full" (blinding, as in
    :func:`quality_warnings`). Too few levels after exclusions is ``studies.services.read_checks``' warning.
    """
    quote_si = stats_shown == "full"
    study = read.study
    protocol = protocol_for(study)
    order = {label: k for k, label in enumerate(protocol.labels)}
    rois = sorted(
        (r for r in Roi.objects.filter(read=read, excluded=False).select_related("score") if r.label in order),
        key=lambda r: order[r.label],
    )
    warnings = []
    for roi in rois:
        score = getattr(roi, "score", None)
        if score is None or score.roi_version != roi.version:
            continue  # not measured yet: the viewer shows it as pending
        phrase = protocol.spec(roi.label).phrase.split(" (")[0]  # "the background-noise ROI", "the CSF ROI"
        name = _roi_name(roi.label, phrase)
        if score.error:
            warnings.append(
                gettext(
                    "%(name)s could not be measured (%(error)s), so the scores that need it "
                    "cannot be computed. Draw it again, or tell the PI."
                )
                % {"name": name, "error": score.error.rstrip(".")}
            )
            continue
        if roi.label == protocol.noise:
            if not study.measure_snr:
                continue
            if score.sd is None:
                warnings.append(
                    gettext(
                        "%(name)s holds a single pixel, so it has no SD and SNR cannot be computed. Draw it larger."
                    )
                    % {"name": name}
                )
            elif score.sd == 0:
                sd = " (SD 0)" if quote_si else ""
                warnings.append(
                    gettext(
                        "%(name)s has no variation%(sd)s: the background is blank in this series, so SNR cannot be "
                        "computed. Move the ROI to an area with visible noise, or tell the PI."
                    )
                    % {"name": name, "sd": sd}
                )
            continue
        if roi.label == protocol.reference and study.measure_vbq:
            si = getattr(score, study.roi_statistic)
            if si is not None and si <= 0:
                value = f" ({study.roi_statistic} {si:g})" if quote_si else ""
                warnings.append(
                    gettext(
                        "%(name)s has no signal%(value)s: its %(statistic)s is 0 or below, so VBQ cannot be "
                        "computed. Move the ROI into the CSF, or tell the PI if the CSF is blank in this series."
                    )
                    % {"name": name, "value": value, "statistic": study.roi_statistic}
                )
                continue
        if (score.n or 0) > 1 and score.sd == 0:
            value = gettext(" (all %(mean)s)") % {"mean": f"{score.mean:g}"} if quote_si else ""
            warnings.append(
                gettext(
                    "%(name)s has no variation: all its pixels are equal%(value)s, so it may lie on a blank or "
                    "saturated part of the image. Check its position, or tell the PI."
                )
                % {"name": name, "value": value}
            )
    return warnings


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
        where = ", ".join(
            gettext("%(label)s: slice %(number)s")
            % {"label": r.label, "number": refs[r.sop_instance_uid].number if r.sop_instance_uid in refs else "?"}
            for r in drawn
            if r.label != protocol.noise
        )
        warnings.append(gettext("ROIs are on different slices (%(where)s).") % {"where": where})
    levels = [stats(lv) for lv in levels_of]
    csf = stats(protocol.reference)
    measured = [s for s in levels if s is not None]
    if csf is not None and measured and csf.mean >= max(s.mean for s in measured):
        warnings.append(
            gettext("The CSF ROI is brighter than the vertebrae: on T1 CSF should be darker. Check its position.")
        )
    for lv, s in zip(levels_of, levels, strict=True):
        if s is not None and s.mean and s.sd is not None and s.sd / s.mean > HIGH_CV:
            values = (
                gettext(" (%(sd)s vs mean %(mean)s)") % {"sd": f"{s.sd:.0f}", "mean": f"{s.mean:.0f}"}
                if quote_si
                else gettext(" for its mean")
            )
            warnings.append(
                gettext("%(level)s: high SD%(values)s — the ROI may touch the cortical rim.")
                % {"level": lv, "values": values}
            )
    noise = stats(protocol.noise)
    if noise is not None and measured and noise.mean > 0.25 * min(s.mean for s in measured):
        warnings.append(gettext("The noise ROI is bright for background: it may overlap tissue or artefact."))
    for label in rois:
        s = stats(label)
        if s is None or label == protocol.noise:
            continue
        if s.area_mm2 < study.roi_area_min_mm2 or s.area_mm2 > study.roi_area_max_mm2:
            area = gettext("area %(area)s mm²") % {"area": f"{s.area_mm2:.0f}"} if quote_area else gettext("the area")
            warnings.append(
                gettext("%(label)s: %(area)s is outside the study's expected range (%(low)s–%(high)s mm²).")
                % {
                    "label": label,
                    "area": area,
                    "low": f"{study.roi_area_min_mm2:.0f}",
                    "high": f"{study.roi_area_max_mm2:.0f}",
                }
            )
    return warnings
