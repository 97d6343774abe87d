"""The demo cohort and its truth: :class:`PhantomSubject`, :func:`demo_cohort` and the reference CSV (no Django).

The demo cohort mirrors the two source studies of the design brief: 61 lumbar surgery patients with QCT (21
normal, 21 osteopenia, 19 osteoporosis) and 5 + 5 women with DEXA for the SNR / M-score design. Each subject
carries its reference data and demographics, the fake identifying header values written into its DICOM files,
and the targets (VBQ, SNR, CSF signal, noise, per-level marrow factors) the series generator renders.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from studies.reference_format import REFERENCE_COLUMNS

from .geometry import LEVELS, RAYLEIGH_SD_FACTOR

#: QCT reference: the young-adult mean and SD (mg/cm³) chosen so that the ACR cut-offs (120 and 80 mg/cm³)
#: coincide with the WHO T-score cut-offs (−1 and −2.5): T = (BMD − mean) / SD.
QCT_YOUNG_MEAN: Final = 440 / 3
QCT_YOUNG_SD: Final = 80 / 3
#: DEXA L1–L4 reference (g/cm², Hologic-like young-adult female mean and SD).
DEXA_YOUNG_MEAN: Final = 1.047
DEXA_YOUNG_SD: Final = 0.110

#: The SNR / M-score subjects share one scanner, hence one noise level.
SNR_NOISE_SIGMA: Final = 12.0


@dataclass(frozen=True)
class PhantomSubject:
    """One demo subject: reference data, demographics, the raw (identifying) header values and the targets.

    ``subject_code`` is the pseudonym the import assigns; ``patient_id`` / ``patient_name`` are the fake raw
    identifiers written into the DICOM files (the demo import maps ``patient_id`` → ``subject_code``).
    ``level_factors`` multiply the median marrow signal for T12, L1, L2, L3, L4, L5; the L1–L4 factors have
    median exactly 1 and mean exactly 1.
    """

    subject_code: str
    patient_id: str
    patient_name: str
    birth_date: str
    study_date: str
    cohort: str  # "VBQ" (QCT study) or "SNR" (DEXA study)
    group: str  # "normal" | "osteopenia" | "osteoporosis"
    reference_modality: str  # "QCT" | "DEXA"
    t_score: float
    bmd: float  # mg/cm³ for QCT, g/cm² for DEXA
    z_score: float | None
    tbs: float | None
    age: int
    sex: str  # "F" | "M"
    bmi: float
    diabetes: bool
    hyperlipidemia: bool
    control: bool
    target_vbq: float
    target_snr: float | None
    csf_signal: float
    noise_sigma: float
    level_factors: tuple[float, float, float, float, float, float]

    def marrow_signal(self, level: str) -> float:
        """Noise-free marrow signal of a level (before texture)."""
        return self.csf_signal * self.target_vbq * self.level_factors[LEVELS.index(level)]


_SURNAMES: Final = (
    "Abbott", "Bergstrom", "Castillo", "Dimitrov", "Eriksen", "Fontaine", "Garibaldi", "Horvath", "Ibarra",
    "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quintero", "Rasmussen",
    "Santoro", "Takahashi", "Ulrich", "Varga", "Whitfield", "Xiong", "Yilmaz", "Zielinski",
)  # fmt: skip
_GIVEN_F: Final = ("Anna", "Berit", "Clara", "Dora", "Edith", "Freya", "Greta", "Helga", "Ines", "Judith")
_GIVEN_M: Final = ("Anton", "Bruno", "Carl", "David", "Emil", "Felix", "Gustav", "Hugo", "Ivan", "Jonas")

# Per QCT group: count, VBQ mean/SD, age mean/SD, women, BMI mean/SD, diabetes, hyperlipidemia, T-score range.
_QCT_GROUPS: Final = (
    ("normal", 21, 2.2, 0.5, 57, 14, 9, 25.8, 3.6, 4, 6, (-0.9, 2.0)),
    ("osteopenia", 21, 2.45, 0.55, 65, 7, 12, 25.1, 3.4, 5, 7, (-2.4, -1.1)),
    ("osteoporosis", 19, 2.7, 0.6, 71, 9, 14, 24.0, 3.8, 6, 8, (-4.2, -2.6)),
)
_TARGET_VBQ_BMD_R: Final = -0.27  # the VBQ seed study's Pearson r with QCT BMD


def _standardised(values: np.ndarray, mean: float, sd: float) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return mean + sd * (v - v.mean()) / v.std(ddof=1)


def _truncnorm(rng: np.random.Generator, n: int, mean: float, sd: float, low: float, high: float):
    out: list[float] = []
    while len(out) < n:
        draw = rng.normal(mean, sd, size=4 * n)
        out.extend(float(d) for d in draw if low <= d <= high)
    return np.array(out[:n])


def _level_factors(rng: np.random.Generator) -> tuple[float, float, float, float, float, float]:
    """T12..L5 factors; L1–L4 are {1+a, 1−b, 1+b, 1−a} in random order (median and mean exactly 1)."""
    a = float(rng.uniform(0.03, 0.07))
    b = float(rng.uniform(0.0, 0.025))
    middle = np.array([1 + a, 1 - b, 1 + b, 1 - a])
    rng.shuffle(middle)
    t12, l5 = (float(v) for v in rng.uniform(0.95, 1.05, size=2))
    return (t12, *(float(v) for v in middle), l5)  # type: ignore[return-value]


def _person(rng: np.random.Generator, sex: str, index: int) -> tuple[str, str]:
    surname = _SURNAMES[(index * 7 + int(rng.integers(0, len(_SURNAMES)))) % len(_SURNAMES)]
    given = (_GIVEN_F if sex == "F" else _GIVEN_M)[int(rng.integers(0, 10))]
    patient_id = f"PID{int(rng.integers(1_000_000, 9_999_999))}"
    return f"{surname.upper()}^{given}", patient_id


def _dates(rng: np.random.Generator, age: int, index: int) -> tuple[str, str]:
    study = dt.date(2024, 1, 8) + dt.timedelta(days=3 * index + int(rng.integers(0, 3)))
    birth = study - dt.timedelta(days=int(age * 365.25 + rng.integers(1, 364)))
    return study.strftime("%Y%m%d"), birth.strftime("%Y%m%d")


_TARGET_VBQ_AUC: Final = 0.754  # the VBQ seed study's AUC, osteoporosis (19) vs normal (21)


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Mann-Whitney AUC: P(positive > negative) + ½ P(tie)."""
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _fit_vbq(groups: list[tuple], rng: np.random.Generator, candidates: int = 48) -> list[np.ndarray]:
    """VBQ per QCT group with exactly the target mean and SD, reproducing the seed study's association.

    VBQ = standardised exp(0.6 (−ρ z_BMD + √(1−ρ²) e)) within each group (right-skewed, as published VBQ
    distributions are), where z_BMD is the within-group standardised BMD and e standard normal noise. Among
    ``candidates`` noise draws and ρ on a grid, the pair whose cohort comes closest to the seed study's
    Pearson r with BMD (−0.27) and ROC AUC osteoporosis vs normal (0.754) is kept: deterministic for a seed.
    """
    bmd_all = np.concatenate([g[5] for g in groups])
    z_bmd = [(g[5] - g[5].mean()) / (g[5].std(ddof=1) or 1.0) for g in groups]
    best: tuple[float, list[np.ndarray]] | None = None
    for _ in range(candidates):
        noise = [rng.standard_normal(g[1]) for g in groups]
        for rho in np.linspace(-0.6, 0.9, 31):
            vbq = [
                _standardised(np.exp(0.6 * (-rho * z + math.sqrt(1 - rho * rho) * e)), g[2], g[3])
                for g, z, e in zip(groups, z_bmd, noise, strict=True)
            ]
            r = float(np.corrcoef(np.concatenate(vbq), bmd_all)[0, 1])
            auc = _auc(vbq[2], vbq[0])
            score = ((r - _TARGET_VBQ_BMD_R) / 0.02) ** 2 + ((auc - _TARGET_VBQ_AUC) / 0.01) ** 2
            if best is None or score < best[0]:
                best = (score, vbq)
    assert best is not None
    return best[1]


def demo_cohort(seed: int = 20261123) -> list[PhantomSubject]:
    """The 71 demo subjects: VBQ-001…VBQ-061 (QCT study) then SNR-001…SNR-010 (DEXA study).

    VBQ study: 21 normal, 21 osteopenia, 19 osteoporosis by QCT T-score (WHO cut-offs −1 and −2.5), with
    BMD = 146.7 + 26.7 × T mg/cm³ so the ACR cut-offs 120 and 80 mg/cm³ agree; VBQ per group has exactly the
    target mean and SD (2.2 ± 0.5, 2.45 ± 0.55, 2.7 ± 0.6), ages exactly 57 ± 14, 65 ± 7, 71 ± 9 (before
    rounding to whole years), and a within-group association with BMD tuned so that Pearson r(VBQ, BMD) over
    the 61 subjects is as close as possible to −0.27.

    SNR study: SNR-001…005 postmenopausal osteoporotic women (DEXA T ≤ −2.5, low TBS, high marrow signal),
    SNR-006…010 young female controls (``control=True``); all scanned on one scanner (noise σ = 12).
    """
    rng = np.random.default_rng(seed)
    subjects: list[PhantomSubject] = []
    groups = []
    for group, n, vbq_m, vbq_sd, age_m, age_sd, women, bmi_m, bmi_sd, n_dm, n_hl, (lo, hi) in _QCT_GROUPS:
        centre = {"normal": -0.1, "osteopenia": -1.75, "osteoporosis": -3.1}[group]
        t = np.round(_truncnorm(rng, n, centre, 0.7, lo, hi), 1)
        bmd = np.round(QCT_YOUNG_MEAN + QCT_YOUNG_SD * t, 1)
        ages = np.rint(_standardised(rng.standard_normal(n), age_m, age_sd)).astype(int)
        bmis = np.round(_standardised(rng.standard_normal(n), bmi_m, bmi_sd), 1)
        sexes = np.array(["F"] * women + ["M"] * (n - women))
        rng.shuffle(sexes)
        dm = np.zeros(n, dtype=bool)
        dm[rng.choice(n, n_dm, replace=False)] = True
        hl = np.zeros(n, dtype=bool)
        hl[rng.choice(n, n_hl, replace=False)] = True
        groups.append((group, n, vbq_m, vbq_sd, t, bmd, ages, bmis, sexes, dm, hl))

    vbqs = _fit_vbq(groups, rng)

    index = 0
    for (group, n, _, _, t, bmd, ages, bmis, sexes, dm, hl), vbq in zip(groups, vbqs, strict=True):
        for i in range(n):
            index += 1
            sex = str(sexes[i])
            name, pid = _person(rng, sex, index)
            study_date, birth = _dates(rng, int(ages[i]), index)
            subjects.append(
                PhantomSubject(
                    subject_code=f"VBQ-{index:03d}",
                    patient_id=pid,
                    patient_name=name,
                    birth_date=birth,
                    study_date=study_date,
                    cohort="VBQ",
                    group=group,
                    reference_modality="QCT",
                    t_score=float(t[i]),
                    bmd=float(bmd[i]),
                    z_score=None,
                    tbs=None,
                    age=int(ages[i]),
                    sex=sex,
                    bmi=float(bmis[i]),
                    diabetes=bool(dm[i]),
                    hyperlipidemia=bool(hl[i]),
                    control=False,
                    target_vbq=float(vbq[i]),
                    target_snr=None,
                    csf_signal=float(rng.uniform(300, 480)),
                    noise_sigma=float(rng.uniform(7, 14)),
                    level_factors=_level_factors(rng),
                )
            )

    # SNR / M-score design: 5 osteoporotic postmenopausal women, 5 young controls, one scanner.
    snr_design = (
        ("osteoporosis", False, (58, 78), (-3.6, -2.6), (1.15, 1.25), 88.0, 9.0, 3.0, 0.35),
        ("normal", True, (22, 34), (-0.8, 1.2), (1.38, 1.48), 62.0, 5.0, 2.0, 0.2),
    )
    number = 0
    for group, control, (age_lo, age_hi), (t_lo, t_hi), (tbs_lo, tbs_hi), snr_m, snr_sd, v_m, v_sd in snr_design:
        snrs = _standardised(rng.standard_normal(5), snr_m, snr_sd)
        vbq = _standardised(rng.standard_normal(5), v_m, v_sd)
        for i in range(5):
            number += 1
            age = int(rng.integers(age_lo, age_hi + 1))
            t_score = float(np.round(rng.uniform(t_lo, t_hi), 1))
            z_score = float(np.round(t_score + 0.03 * max(0, age - 35), 1))
            name, pid = _person(rng, "F", 100 + number)
            study_date, birth = _dates(rng, age, 100 + number)
            noise_sd = RAYLEIGH_SD_FACTOR * SNR_NOISE_SIGMA
            marrow = float(snrs[i]) * noise_sd
            subjects.append(
                PhantomSubject(
                    subject_code=f"SNR-{number:03d}",
                    patient_id=pid,
                    patient_name=name,
                    birth_date=birth,
                    study_date=study_date,
                    cohort="SNR",
                    group=group,
                    reference_modality="DEXA",
                    t_score=t_score,
                    bmd=float(np.round(DEXA_YOUNG_MEAN + DEXA_YOUNG_SD * t_score, 3)),
                    z_score=z_score,
                    tbs=float(np.round(rng.uniform(tbs_lo, tbs_hi), 3)),
                    age=age,
                    sex="F",
                    bmi=float(np.round(rng.uniform(20.5, 26.5), 1)),
                    diabetes=False,
                    hyperlipidemia=bool(not control and rng.uniform() < 0.4),
                    control=control,
                    target_vbq=float(vbq[i]),
                    target_snr=float(snrs[i]),
                    csf_signal=marrow / float(vbq[i]),
                    noise_sigma=SNR_NOISE_SIGMA,
                    level_factors=_level_factors(rng),
                )
            )
    return subjects


def write_reference_csv(subjects: list[PhantomSubject], path: Path) -> None:
    """Write the reference-data CSV the import expects (one row per subject, keyed by subject code).

    Columns: :data:`REFERENCE_COLUMNS`. BMD is in mg/cm³ for QCT and g/cm² for DEXA; z_score and tbs are empty
    where not measured; yes/no flags are lower case.
    """

    def yn(flag: bool) -> str:
        return "yes" if flag else "no"

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(REFERENCE_COLUMNS)
        for s in subjects:
            writer.writerow(
                [
                    s.subject_code,
                    s.reference_modality,
                    f"{s.t_score:.1f}",
                    f"{s.bmd:.1f}" if s.reference_modality == "QCT" else f"{s.bmd:.3f}",
                    "" if s.z_score is None else f"{s.z_score:.1f}",
                    "" if s.tbs is None else f"{s.tbs:.3f}",
                    s.age,
                    s.sex,
                    f"{s.bmi:.1f}",
                    yn(s.diabetes),
                    yn(s.hyperlipidemia),
                    yn(s.control),
                ]
            )
