"""VBQ, SNR and M-score from the ROI statistics of one read (pure Python + numpy, no Django).

A *read* is one reader's set of ROIs on one case: the vertebral bodies L1–L4 (each measured or marked
excluded), a CSF ROI (for VBQ) and a background-noise ROI (for SNR / M-score). Every score is a
:class:`MeasureResult` carrying either a ``value`` or the ``reason`` there is none, in words a PI can act on —
never both, never a silent NaN. Definitions follow ``DESIGN.md`` ("Measurements").

References
----------
.. [1] Ehresman J, Pennington Z, Schilling A, et al. Novel MRI-based score for assessment of bone density in
   operative spine patients. Spine J. 2020;20(4):556–562. (VBQ = median SI(L1–L4) / SI(CSF at L3),
   non-contrast T1-weighted.) The VBQ-vs-QCT seed study in ``DESIGN.md`` (61 lumbar surgery patients) uses
   the same definition with the CSF ROI at L3.
.. [2] Bandirali M, Di Leo G, Papini GDE, et al. A new diagnostic score to detect osteoporosis in patients
   undergoing lumbar spine MRI. Eur Radiol. 2015;25(10):2951–2959. (SNR = mean SI of L1–L4 / SD of the
   background noise; M-score = (SNR − mean SNR of young controls) / SD of the controls' SNR.)
.. [3] Henkelman RM. Measurement of signal intensities in the presence of noise in MR images. Med Phys.
   1985;12(2):232–233. (In a magnitude image the background noise is Rayleigh distributed and its measured SD
   is 0.655 σ of the underlying Gaussian noise.)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from studies.protocol import DEFAULT as PROTOCOL

__all__ = [
    "CSF_LEVELS",
    "LABELS",
    "LEVELS",
    "RAYLEIGH_SD_FACTOR",
    "Excluded",
    "MeasureResult",
    "ReadScores",
    "RoiValues",
    "ScoringSettings",
    "StatsLike",
    "Unmeasurable",
    "level_si",
    "m_score",
    "m_score_against",
    "score_read",
    "snr_levels",
    "snr_overall",
    "vbq",
]

#: Vertebral levels that enter VBQ and SNR (the reading protocol's, :mod:`studies.protocol`).
LEVELS: tuple[str, ...] = PROTOCOL.levels
#: All ROI labels of a read.
LABELS: tuple[str, ...] = PROTOCOL.labels
#: Levels at which the CSF ROI may be drawn: L3 per the method [1]_, L2 then L1 when L3 has no usable CSF.
CSF_LEVELS: tuple[str, ...] = PROTOCOL.reference_levels
#: Measured SD of magnitude-image background noise = 0.655 × σ (Rayleigh distribution) [3]_.
RAYLEIGH_SD_FACTOR = 0.655

_STATISTICS = ("mean", "median")
_NOISE_CORRECTIONS = ("raw", "rayleigh")


class StatsLike(Protocol):
    """Anything with the ROI statistics a score needs, e.g. :class:`scoring.pixels.RoiStats`."""

    @property
    def mean(self) -> float: ...

    @property
    def median(self) -> float: ...

    @property
    def sd(self) -> float | None: ...


@dataclass(frozen=True)
class RoiValues:
    """Statistics of a measured ROI as stored for a read (a plain stand-in for :class:`pixels.RoiStats`).

    Any object with ``mean``, ``median`` and ``sd`` may be used instead. ``csf_level`` is only meaningful on
    the CSF ROI: the vertebral level where it was drawn (L3, or L2 / L1 as a fallback; ``None`` means L3).
    """

    mean: float
    median: float
    sd: float | None = None
    n: int | None = None
    csf_level: str | None = None


@dataclass(frozen=True)
class Excluded:
    """A level the reader marked as not measurable (fracture, hemangioma, hardware, Schmorl node, ...)."""

    reason: str = ""


@dataclass(frozen=True)
class Unmeasurable:
    """An ROI that exists but whose pixels could not be measured (``error`` says why); it blocks the scores
    that need it rather than silently counting as excluded."""

    error: str


@dataclass(frozen=True)
class MeasureResult:
    """A score or the reason it cannot be computed: exactly one of ``value`` and ``reason`` is set."""

    value: float | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("a MeasureResult has exactly one of value and reason")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"a MeasureResult value must be finite, got {self.value!r}")

    @property
    def ok(self) -> bool:
        return self.value is not None

    @classmethod
    def of(cls, value: float) -> MeasureResult:
        """A value; an overflow to ±inf or NaN becomes a reason instead of a number."""
        value = float(value)
        if not math.isfinite(value):
            return cls(reason=f"The result is not a finite number ({value!r}); check the ROI values.")
        return cls(value=value)

    @classmethod
    def fail(cls, reason: str) -> MeasureResult:
        return cls(reason=reason)


@dataclass(frozen=True)
class ScoringSettings:
    """Study-level scoring options.

    statistic
        ROI statistic used as the signal intensity (SI) of L1–L4 and CSF for VBQ: ``"mean"`` (default, as
        read on a PACS workstation) or ``"median"``. SNR always uses the ROI mean [2]_.
    min_levels
        Fewest measured (non-excluded) levels for VBQ and for overall SNR (default 2).
    noise_correction
        ``"raw"``: noise SD as measured [2]_; ``"rayleigh"``: SD / 0.655 [3]_.
    compute_vbq, compute_snr
        Which measures the study's protocol includes (M-score comes with SNR).
    control_snrs
        Overall SNR of each control-group read of this scanner/study, for the M-score.
    """

    statistic: str = "mean"
    min_levels: int = 2
    noise_correction: str = "raw"
    compute_vbq: bool = True
    compute_snr: bool = True
    control_snrs: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        _check_choice("statistic", self.statistic, _STATISTICS)
        _check_choice("noise_correction", self.noise_correction, _NOISE_CORRECTIONS)
        _check_min_levels(self.min_levels)
        object.__setattr__(self, "control_snrs", tuple(float(x) for x in self.control_snrs))


@dataclass(frozen=True)
class ReadScores:
    """All scores of one read, with the inputs they were computed from.

    ``level_si`` (study statistic) and ``level_mean`` are ``None`` for a level without a measured ROI;
    ``excluded`` maps each excluded label to its description. ``snr_levels`` maps L1–L4 to a
    :class:`MeasureResult`. A measure outside the study's protocol is ``None`` (``vbq``; ``snr_levels``,
    ``snr`` and ``m_score``).
    """

    level_si: dict[str, float | None]
    level_mean: dict[str, float | None]
    csf_si: float | None
    csf_level: str | None
    noise_sd: float | None
    excluded: dict[str, str]
    vbq: MeasureResult | None
    snr_levels: dict[str, MeasureResult] | None
    snr: MeasureResult | None
    m_score: MeasureResult | None
    settings: ScoringSettings = field(default_factory=ScoringSettings)


# ----------------------------------------------------------------------------------------------------


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_min_levels(min_levels: int) -> None:
    if isinstance(min_levels, bool) or not isinstance(min_levels, int) or not 1 <= min_levels <= len(LEVELS):
        raise ValueError(f"min_levels must be an integer from 1 to {len(LEVELS)}, got {min_levels!r}")


def _check_level_keys(mapping: Mapping[str, object], what: str) -> None:
    unknown = sorted(set(mapping) - set(LEVELS))
    if unknown:
        raise ValueError(f"{what} has unknown levels {unknown}; expected keys among {list(LEVELS)}")


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def level_si(stats: StatsLike, statistic: str = "mean") -> float:
    """Signal intensity of one ROI: its ``mean`` (default) or ``median``, as the study chose.

    Raises
    ------
    ValueError
        Unknown ``statistic``, or the statistic is not a finite number.
    """
    _check_choice("statistic", statistic, _STATISTICS)
    value = float(getattr(stats, statistic))
    if not math.isfinite(value):
        raise ValueError(f"the ROI {statistic} is not a finite number ({value!r})")
    return value


def vbq(levels: Mapping[str, float | None], csf_si: float | None, min_levels: int = 2) -> MeasureResult:
    """Vertebral Bone Quality score of one read [1]_.

    ``VBQ = median(SI_L1, SI_L2, SI_L3, SI_L4) / SI_CSF``, the median taken over the levels that are not
    excluded (with an even count, the mean of the two middle values).

    Parameters
    ----------
    levels : mapping
        ``"L1"``…``"L4"`` → level SI, or ``None`` when the reader excluded the level. A level absent from the
        mapping has no ROI and is reported as missing.
    csf_si : float or None
        SI of the CSF ROI; ``None`` when there is none.
    min_levels : int
        Fewest measured levels for a VBQ (default 2).

    Returns
    -------
    MeasureResult
        The VBQ, or why there is none: missing level ROIs, too few measured levels, no CSF ROI, CSF SI ≤ 0,
        a non-finite SI.
    """
    _check_min_levels(min_levels)
    _check_level_keys(levels, "levels")
    missing = [lv for lv in LEVELS if lv not in levels]
    if missing:
        return MeasureResult.fail(
            f"No ROI for {', '.join(missing)} (draw it, or mark the level excluded); the read is incomplete."
        )
    measured = {lv: levels[lv] for lv in LEVELS if levels[lv] is not None}
    bad = [lv for lv, si in measured.items() if not math.isfinite(si)]  # type: ignore[arg-type]
    if bad:
        return MeasureResult.fail(f"The SI of {', '.join(bad)} is not a finite number.")
    if len(measured) < min_levels:
        return MeasureResult.fail(
            f"Too few vertebral levels: {len(measured)} measured, at least {min_levels} required "
            f"({_count(len(LEVELS) - len(measured), 'level')} excluded)."
        )
    if csf_si is None:
        return MeasureResult.fail("No CSF ROI: VBQ needs the CSF signal intensity.")
    if not math.isfinite(csf_si):
        return MeasureResult.fail("The CSF SI is not a finite number.")
    if csf_si <= 0:
        return MeasureResult.fail(
            f"The CSF SI is {csf_si:g} (≤ 0), so VBQ is undefined — check that the CSF ROI lies in the CSF."
        )
    return MeasureResult.of(statistics.median(measured.values()) / csf_si)  # type: ignore[type-var]


def _noise_sd_reason(noise_sd: float | None) -> str | None:
    if noise_sd is None:
        return "No background-noise SD (no noise ROI, or it holds a single pixel)."
    if not math.isfinite(noise_sd):
        return "The background-noise SD is not a finite number."
    if noise_sd <= 0:
        return (
            f"The background-noise SD is {noise_sd:g}: the noise ROI has no spread (for example a "
            "zero-filled background), so SNR is undefined — move the noise ROI."
        )
    return None


def snr_levels(
    level_means: Mapping[str, float | None], noise_sd: float | None, noise_correction: str = "raw"
) -> dict[str, MeasureResult]:
    """Per-level SNR [2]_: ``SNR_Lk = mean SI of the Lk ROI / SD of the background-noise ROI``.

    With ``noise_correction="rayleigh"`` the noise SD is first divided by 0.655 (Rayleigh-distributed
    magnitude noise [3]_), i.e. the SNR is multiplied by 0.655.

    Parameters
    ----------
    level_means : mapping
        ``"L1"``…``"L4"`` → ROI mean, ``None`` for an excluded level; an absent level has no ROI.
    noise_sd : float or None
        Sample SD of the noise ROI (``None``: no noise ROI, or a single pixel).

    Returns
    -------
    dict
        ``"L1"``…``"L4"`` → :class:`MeasureResult`.
    """
    _check_choice("noise_correction", noise_correction, _NOISE_CORRECTIONS)
    _check_level_keys(level_means, "level_means")
    noise_reason = _noise_sd_reason(noise_sd)
    sd = None
    if noise_reason is None:
        sd = noise_sd / RAYLEIGH_SD_FACTOR if noise_correction == "rayleigh" else noise_sd  # type: ignore[operator]
    out: dict[str, MeasureResult] = {}
    for lv in LEVELS:
        if lv not in level_means:
            out[lv] = MeasureResult.fail(f"No ROI for {lv}.")
        elif level_means[lv] is None:
            out[lv] = MeasureResult.fail(f"{lv} excluded.")
        elif not math.isfinite(level_means[lv]):  # type: ignore[arg-type]
            out[lv] = MeasureResult.fail(f"The mean SI of {lv} is not a finite number.")
        elif noise_reason is not None:
            out[lv] = MeasureResult.fail(noise_reason)
        else:
            out[lv] = MeasureResult.of(level_means[lv] / sd)  # type: ignore[operator]
    return out


def snr_overall(per_level: Mapping[str, MeasureResult], min_levels: int = 2) -> MeasureResult:
    """Overall SNR of L1–L4 [2]_: the mean of the per-level SNRs over the measured levels.

    Equal to (mean of the level means) / noise SD. Fails when fewer than ``min_levels`` levels have an SNR;
    the reason then repeats the per-level reasons.
    """
    _check_min_levels(min_levels)
    _check_level_keys(per_level, "per_level")
    values = [per_level[lv].value for lv in LEVELS if lv in per_level and per_level[lv].ok]
    if len(values) >= min_levels:
        return MeasureResult.of(statistics.fmean(values))  # type: ignore[arg-type]
    reasons = list(dict.fromkeys(r.reason for lv in LEVELS if (r := per_level.get(lv)) is not None and r.reason))
    missing = [lv for lv in LEVELS if lv not in per_level]
    if missing:
        reasons.append(f"No ROI for {', '.join(missing)}.")
    return MeasureResult.fail(
        f"Too few levels with an SNR: {len(values)}, at least {min_levels} required. " + " ".join(reasons)
    )


def m_score(snr: float | MeasureResult | None, control_snrs: Sequence[float]) -> MeasureResult:
    """M-score [2]_: ``(SNR − mean(SNR_controls)) / SD(SNR_controls)``, SD with n − 1.

    The controls are the study's control-group reads on the same scanner (SNR is scanner-specific). Fails
    when the SNR is missing, fewer than 2 controls exist, a control SNR is not finite, or the controls' SD
    is 0.
    """
    return m_score_against(control_snrs)(snr)


def m_score_against(control_snrs: Sequence[float]) -> Callable[[float | MeasureResult | None], MeasureResult]:
    """:func:`m_score` of any SNR against one control group: ``m_score_against(controls)(snr)``.

    The same checks in the same order and the same arithmetic as :func:`m_score` (which is this), with the group's
    checks, mean and SD computed once, on the first SNR that reaches them: refreshing a study's M-scores applies
    one control group to every read (hundreds), and recomputing its SD for each read was a measurable share.
    """
    group: list = []  # [failure or None, mean, sd] once computed

    def score(snr: float | MeasureResult | None) -> MeasureResult:
        if isinstance(snr, MeasureResult):
            if not snr.ok:
                return MeasureResult.fail(f"No SNR: {snr.reason}")
            snr = snr.value
        if snr is None:
            return MeasureResult.fail("No SNR for this read.")
        if not math.isfinite(snr):
            return MeasureResult.fail("The SNR is not a finite number.")
        if not group:
            group.extend(_control_group(control_snrs))
        failure, mean, sd = group
        if failure is not None:
            return failure
        return MeasureResult.of((snr - mean) / sd)

    return score


def _control_group(control_snrs: Sequence[float]) -> tuple[MeasureResult | None, float, float]:
    """The control group's failure (or None), mean and SD (n − 1) for :func:`m_score`."""
    controls = [float(x) for x in control_snrs]
    if len(controls) < 2:
        return (
            MeasureResult.fail(
                f"The study has {_count(len(controls), 'control SNR')}; the M-score needs at least 2 controls."
            ),
            math.nan,
            math.nan,
        )
    if not all(math.isfinite(x) for x in controls):
        return MeasureResult.fail("A control SNR is not a finite number."), math.nan, math.nan
    sd = statistics.stdev(controls)
    if sd == 0:
        return (
            MeasureResult.fail(
                f"All {len(controls)} control SNRs are equal ({controls[0]:g}), so their SD is 0 and the M-score "
                "is undefined."
            ),
            math.nan,
            math.nan,
        )
    return None, statistics.fmean(controls), sd


@dataclass(frozen=True)
class _Entry:
    kind: str  # "measured" | "excluded" | "error"
    stats: StatsLike | None = None
    note: str = ""  # a sentence for reasons
    detail: str = ""  # the exclusion reason as given


def _entry(label: str, roi: object) -> _Entry:
    if isinstance(roi, Excluded):
        why = roi.reason
        return _Entry("excluded", note=f"{label} excluded" + (f" ({why})" if why else ""), detail=why)
    if isinstance(roi, Unmeasurable):
        return _Entry("error", note=f"The {label} ROI could not be measured: {roi.error or 'unknown error'}")
    if not all(hasattr(roi, a) for a in ("mean", "median", "sd")):
        raise TypeError(
            f"the {label} ROI must have mean, median and sd, or be Excluded / Unmeasurable; got {type(roi).__name__}"
        )
    if not all(math.isfinite(float(getattr(roi, a))) for a in ("mean", "median")):
        return _Entry("error", note=f"The {label} ROI statistics are not finite numbers")
    return _Entry("measured", stats=roi)  # type: ignore[arg-type]


def score_read(
    rois: Mapping[str, StatsLike | Excluded | Unmeasurable],
    settings: ScoringSettings | None = None,
    **options: object,
) -> ReadScores:
    """Compute every score of one read at once.

    Parameters
    ----------
    rois : mapping
        Label (``"L1"``…``"L4"``, ``"CSF"``, ``"NOISE"``) → ROI statistics (any object with ``mean``,
        ``median`` and ``sd``: :class:`RoiValues`, :class:`scoring.pixels.RoiStats`), :class:`Excluded`, or
        :class:`Unmeasurable`. An absent label has no ROI. The CSF entry may carry ``csf_level`` (L3 default,
        L2/L1 fallback).
    settings : ScoringSettings
        Statistic, minimum levels, noise correction, protocol, control SNRs. Instead of ``settings`` the same
        fields may be given as keywords (``score_read(rois, statistic="median")``).

    Returns
    -------
    ReadScores
        VBQ (:func:`vbq` with ``settings.statistic`` for L1–L4 and CSF), per-level and overall SNR
        (:func:`snr_levels` / :func:`snr_overall`, on ROI means) and M-score (:func:`m_score` against
        ``settings.control_snrs``). A measure that cannot be computed carries every reason found: missing
        or unmeasurable ROIs, too few levels, CSF/noise problems.

    Raises
    ------
    ValueError
        An unknown label or an invalid setting (programming errors, not read problems).
    """
    if settings is None:
        settings = ScoringSettings(**options)  # type: ignore[arg-type]
    elif options:
        raise TypeError("give either settings or keyword options, not both")
    unknown = sorted(set(rois) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown ROI labels {unknown}; expected labels among {list(LABELS)}")
    entries = {label: _entry(label, roi) for label, roi in rois.items()}

    excluded = {lb: e.note for lb, e in entries.items() if e.kind == "excluded"}
    level_errors = [_sentence(entries[lv].note) for lv in LEVELS if lv in entries and entries[lv].kind == "error"]
    level_si_: dict[str, float | None] = dict.fromkeys(LEVELS)
    level_mean: dict[str, float | None] = dict.fromkeys(LEVELS)
    for lv in LEVELS:
        e = entries.get(lv)
        if e is not None and e.kind == "measured":
            level_si_[lv] = float(getattr(e.stats, settings.statistic))
            level_mean[lv] = float(e.stats.mean)  # type: ignore[union-attr]
    # Measured (float) or excluded (None); levels without an ROI are left out, so they are reported missing.
    present = [lv for lv in LEVELS if lv in entries and entries[lv].kind != "error"]

    csf_si: float | None = None
    csf_level: str | None = None
    csf_reason: str | None = None
    csf = entries.get(PROTOCOL.reference)
    if csf is None:
        csf_reason = "No CSF ROI: VBQ needs the CSF signal intensity."
    elif csf.kind == "excluded":
        csf_reason = "The CSF ROI is marked excluded" + (f" ({csf.detail})" if csf.detail else "")
        csf_reason += "; VBQ needs it."
    elif csf.kind == "error":
        csf_reason = _sentence(csf.note)
    else:
        csf_si = float(getattr(csf.stats, settings.statistic))
        csf_level = getattr(csf.stats, "csf_level", None) or "L3"
        if csf_level not in CSF_LEVELS:
            csf_reason = f"The CSF ROI level {csf_level!r} is not one of {', '.join(CSF_LEVELS)}."

    noise_sd: float | None = None
    noise_reason: str | None = None
    noise = entries.get(PROTOCOL.noise)
    if noise is None:
        noise_reason = "No background-noise ROI: SNR needs the noise SD."
    elif noise.kind == "excluded":
        noise_reason = "The background-noise ROI is marked excluded" + (f" ({noise.detail})" if noise.detail else "")
        noise_reason += "; SNR needs it."
    elif noise.kind == "error":
        noise_reason = _sentence(noise.note)
    elif noise.stats.sd is None:  # type: ignore[union-attr]
        noise_reason = "The background-noise ROI holds a single pixel, so its SD is undefined — draw it larger."
    else:
        noise_sd = float(noise.stats.sd)  # type: ignore[union-attr]
        noise_reason = _noise_sd_reason(noise_sd)

    vbq_result: MeasureResult | None = None
    if settings.compute_vbq:
        levels_in = {lv: level_si_[lv] for lv in present}
        if not level_errors and csf_reason is None:
            vbq_result = vbq(levels_in, csf_si, settings.min_levels)
        else:  # report every problem, so one look at the read shows all there is to fix
            reasons = list(level_errors)
            if not level_errors:
                levels_only = vbq(levels_in, 1.0, settings.min_levels)
                if not levels_only.ok:
                    reasons.append(levels_only.reason)  # type: ignore[arg-type]
            if csf_reason is not None:
                reasons.append(csf_reason)
            vbq_result = MeasureResult.fail(" ".join(reasons))

    per_level: dict[str, MeasureResult] | None = None
    snr: MeasureResult | None = None
    m: MeasureResult | None = None
    if settings.compute_snr:
        per_level = snr_levels({lv: level_mean[lv] for lv in present}, noise_sd, settings.noise_correction)
        for lv in LEVELS:  # more specific reasons than snr_levels can know
            e = entries.get(lv)
            if e is not None and e.kind in ("excluded", "error"):
                per_level[lv] = MeasureResult.fail(_sentence(e.note))
            elif e is not None and noise_reason is not None:
                per_level[lv] = MeasureResult.fail(noise_reason)
        if level_errors:
            snr = MeasureResult.fail(" ".join(level_errors + ([noise_reason] if noise_reason else [])))
        elif noise_reason is not None:
            snr = MeasureResult.fail(noise_reason)
        else:
            snr = snr_overall(per_level, settings.min_levels)
        m = m_score(snr, settings.control_snrs)

    return ReadScores(
        level_si=level_si_,
        level_mean=level_mean,
        csf_si=csf_si,
        csf_level=csf_level,
        noise_sd=noise_sd,
        excluded=excluded,
        vbq=vbq_result,
        snr_levels=per_level,
        snr=snr,
        m_score=m,
        settings=settings,
    )
