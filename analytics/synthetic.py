"""A scored synthetic study written straight to the database (bulk inserts): for tests and benchmarks.

Shaped like the VBQ/QCT seed study: subjects split normal / osteopenia / osteoporosis 21 : 21 : 19 by QCT
T-score (BMD = 146.7 + 26.7 T mg/cm³), VBQ 2.2 ± 0.5, 2.45 ± 0.55 and 2.7 ± 0.6 by group and mildly
associated with BMD; ages, sex, BMI, diabetes and hyperlipidemia per group; a few normal subjects are SNR
controls. ``modality="DEXA"`` gives a DEXA study with TBS (the SNR/M-score design).

Readers measure with realistic error: each reader has a systematic habit (a small multiplicative bias of the
marrow and CSF SI), and each read adds placement jitter, so intra-reader agreement exceeds inter-reader
agreement. ROIs, their pixel statistics (``RoiScore``) and the read scores (``ReadScore``, computed with
:func:`scoring.measures.score_read` and :func:`scoring.measures.m_score` exactly as the scoring service does)
are inserted directly — no DICOM pixels are decoded. A few deterministic oddities exercise the QC list: an
excluded level (fracture), a read whose CSF ROI is excluded (no VBQ, with the reason), and one misplaced ROI.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from scoring import measures
from scoring.models import ReadScore, RoiScore
from studies.models import Case, Instance, Membership, Read, ReferenceRecord, Roi, Series, Study
from studies.protocol import LUMBAR_VBQ

__all__ = ["SyntheticStudy", "synthetic_study"]

GROUP_SPEC = (
    # group, share, T range, VBQ mean, VBQ sd, age mean, age sd, share of women
    ("normal", 21, (-0.9, 1.5), 2.2, 0.5, 57, 14, 0.55),
    ("osteopenia", 21, (-2.4, -1.1), 2.45, 0.55, 65, 7, 0.65),
    ("osteoporosis", 19, (-4.0, -2.6), 2.7, 0.6, 71, 9, 0.8),
)
LEVELS = LUMBAR_VBQ.levels


@dataclass
class SyntheticStudy:
    study: Study
    pi: object
    readers: list
    n_cases: int
    n_reads: int
    n_rois: int


def _digest(study: Study, rois: list[Roi]) -> str:
    """The read-score inputs digest, as ``scoring.services._read_inputs`` computes it."""
    parts = [study.roi_statistic, study.noise_correction, str(study.min_levels_vbq)]
    for roi in sorted(rois, key=lambda r: r.label):
        parts.append(f"{roi.label}:{roi.version}:{int(roi.excluded)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _ellipse(col: float, row: float, a: float, b: float) -> list[list[float]]:
    return [[col, row + b], [col, row - b], [col - a, row], [col + a, row]]


def _rectangle(col: float, row: float, a: float, b: float) -> list[list[float]]:
    return [[col - a, row - b], [col + a, row - b], [col - a, row + b], [col + a, row + b]]


@transaction.atomic
def synthetic_study(
    *,
    n_cases: int = 61,
    n_readers: int = 3,
    reads_per_reader: int = 2,
    seed: int = 20261123,
    modality: str = "QCT",
    name: str | None = None,
    pi=None,
    reader_prefix: str = "reader",
    n_controls: int | None = None,
    oddities: bool = True,
) -> SyntheticStudy:
    """Create the study, its members, cases, reference data, submitted reads, ROIs and scores."""
    from studies.services.membership import study_create

    User = get_user_model()
    rng = np.random.default_rng(seed)
    pi = pi or User.objects.create_user(username=f"pi-{seed}-{n_cases}", password=None)
    study = study_create(
        name=name or f"Synthetic {modality} study ({n_cases} cases)",
        created_by=pi,
        reads_per_reader=reads_per_reader,
        randomisation_seed=seed,
    )
    readers = []
    for i in range(n_readers):
        user, _ = User.objects.get_or_create(username=f"{reader_prefix}{i + 1}")
        Membership.objects.get_or_create(study=study, user=user, defaults={"role": Membership.Role.READER})
        readers.append(user)

    # ---------------------------------------------------------------- subjects
    total_share = sum(spec[1] for spec in GROUP_SPEC)
    counts = [round(n_cases * spec[1] / total_share) for spec in GROUP_SPEC]
    counts[-1] = n_cases - sum(counts[:-1])
    subjects = []
    for (group, _, (t_lo, t_hi), v_m, v_sd, a_m, a_sd, women), n in zip(GROUP_SPEC, counts, strict=True):
        for _ in range(n):
            t = float(np.round(rng.uniform(t_lo, t_hi), 1))
            if modality == "QCT":
                bmd = float(np.round(146.7 + 26.7 * t, 1))
                tbs = None
            else:
                bmd = float(np.round(1.047 + 0.110 * t, 3))
                tbs = float(np.round(1.35 + 0.04 * t + rng.normal(0, 0.03), 3))
            z = (t - {"normal": 0.3, "osteopenia": -1.75, "osteoporosis": -3.2}[group]) / 1.0
            vbq = float(max(1.0, v_m + v_sd * (0.75 * rng.standard_normal() - 0.3 * z)))
            subjects.append(
                {
                    "group": group,
                    "t": t,
                    "bmd": bmd,
                    "tbs": tbs,
                    "age": float(np.clip(np.rint(rng.normal(a_m, a_sd)), 18, 95)),
                    "sex": "F" if rng.uniform() < women else "M",
                    "bmi": float(np.round(rng.normal(27.0, 4.0), 1)),
                    "diabetes": bool(rng.uniform() < {"normal": 0.15, "osteopenia": 0.2, "osteoporosis": 0.3}[group]),
                    "hyperlipidemia": bool(rng.uniform() < 0.35),
                    "vbq": vbq,
                    "csf": float(rng.uniform(300, 480)),
                    "sigma": float(rng.uniform(7, 14)),
                    "factors": 1.0 + rng.normal(0, 0.04, size=4),
                }
            )
    order = rng.permutation(len(subjects))
    subjects = [subjects[i] for i in order]
    normals = [i for i, s in enumerate(subjects) if s["group"] == "normal"]
    n_controls = max(2, len(normals) // 4) if n_controls is None else n_controls
    controls = set(normals[:n_controls])

    prefix = "SYN" if modality == "QCT" else "DXA"
    cases = Case.objects.bulk_create(
        [
            Case(study=study, subject_code=f"{prefix}-{i + 1:04d}", is_control=i in controls)
            for i in range(len(subjects))
        ]
    )
    series = Series.objects.bulk_create(
        [
            Series(
                case=c,
                series_instance_uid=f"2.25.{seed}{study.pk:04d}{i:06d}1",
                description="T1 TSE SAG",
                orientation="sagittal",
                weighting="T1",
                rows=320,
                columns=320,
                pixel_spacing=[0.9375, 0.9375],
            )
            for i, c in enumerate(cases)
        ]
    )
    instances = Instance.objects.bulk_create(
        [
            Instance(
                series=s,
                sop_instance_uid=f"2.25.{seed}{study.pk:04d}{i:06d}7",
                source_digest=hashlib.sha256(f"{study.pk}:{i}".encode()).hexdigest(),
                file=f"dicom/synthetic/{study.pk}/{i}.dcm",
                sha256="0" * 64,
                instance_number=7,
                slice_position=0.0,
            )
            for i, s in enumerate(series)
        ]
    )
    for c, s in zip(cases, series, strict=True):
        c.primary_series = s
    Case.objects.bulk_update(cases, ["primary_series"])
    ReferenceRecord.objects.bulk_create(
        [
            ReferenceRecord(
                case=c,
                modality=modality,
                t_score=s["t"],
                bmd=s["bmd"],
                z_score=None,
                tbs=s["tbs"],
                age=s["age"],
                sex=s["sex"],
                bmi=s["bmi"],
                diabetes=s["diabetes"],
                hyperlipidemia=s["hyperlipidemia"],
            )
            for c, s in zip(cases, subjects, strict=True)
        ]
    )

    # ---------------------------------------------------------------- reads and ROIs
    start = timezone.now() - timedelta(days=60)
    habits = [(rng.normal(0, 0.035), rng.normal(0, 0.03)) for _ in readers]  # marrow, CSF bias
    reads = []
    plan = []
    for ci, case in enumerate(cases):
        for ri, reader in enumerate(readers):
            for number in range(1, reads_per_reader + 1):
                seconds = float(rng.uniform(60, 240))
                began = start + timedelta(days=30 * (number - 1), minutes=5 * ci + ri)
                reads.append(
                    Read(
                        study=study,
                        case=case,
                        reader=reader,
                        read_number=number,
                        order_index=ci,
                        status=Read.Status.SUBMITTED,
                        available_from=began,
                        started_at=began,
                        submitted_at=began + timedelta(seconds=seconds),
                        time_on_task_seconds=seconds,
                        last_activity_at=began + timedelta(seconds=seconds),
                    )
                )
                plan.append((ci, ri, number))
    reads = Read.objects.bulk_create(reads)

    rois: list[Roi] = []
    roi_values: list[dict | None] = []
    for read, (ci, ri, number) in zip(reads, plan, strict=True):
        s = subjects[ci]
        marrow_bias, csf_bias = habits[ri]
        sop = instances[ci].sop_instance_uid
        for li, level in enumerate(LEVELS):
            excluded = oddities and ci % 17 == 3 and level == "L2"  # a fracture every reader sees
            misplaced = oddities and ci == 7 and ri == 0 and number == 1 and level == "L3"
            mean = s["csf"] * s["vbq"] * s["factors"][li] * (1 + marrow_bias + rng.normal(0, 0.025))
            if misplaced:
                mean *= 2.2  # the ROI was put in the disc / CSF by mistake: a QC outlier
            rois.append(
                Roi(
                    read=read,
                    label=level,
                    shape="" if excluded else "ellipse",
                    points_px=[] if excluded else _ellipse(150 + rng.normal(0, 0.7), 80 + 45 * li, 12, 9),
                    sop_instance_uid="" if excluded else sop,
                    excluded=excluded,
                    exclusion_reason="fracture" if excluded else "",
                )
            )
            roi_values.append(None if excluded else {"mean": mean, "sd": 0.08 * mean, "n": 340})
        csf_excluded = oddities and ci == 11 and ri == n_readers - 1 and number == reads_per_reader
        csf_mean = s["csf"] * (1 + csf_bias + rng.normal(0, 0.03))
        rois.append(
            Roi(
                read=read,
                label=LUMBAR_VBQ.reference,
                shape="" if csf_excluded else "rectangle",
                points_px=[] if csf_excluded else _rectangle(205, 215, 3, 8),
                sop_instance_uid="" if csf_excluded else sop,
                csf_level="L3",
                excluded=csf_excluded,
                exclusion_reason="other" if csf_excluded else "",
                exclusion_note="no CSF visible at L3" if csf_excluded else "",
            )
        )
        roi_values.append(None if csf_excluded else {"mean": csf_mean, "sd": 0.05 * csf_mean, "n": 119})
        noise_sd = 0.655 * s["sigma"] * (1 + rng.normal(0, 0.06))
        rois.append(
            Roi(
                read=read,
                label=LUMBAR_VBQ.noise,
                shape="rectangle",
                points_px=_rectangle(15 + rng.normal(0, 1.5), 160, 10, 30),
                sop_instance_uid=sop,
            )
        )
        roi_values.append({"mean": 1.2533 * s["sigma"], "sd": noise_sd, "n": 1281})
    rois = Roi.objects.bulk_create(rois)

    scores = []
    by_read: dict[int, dict[str, object]] = {}
    rois_of_read: dict[int, list[Roi]] = {}
    for roi, v in zip(rois, roi_values, strict=True):
        rois_of_read.setdefault(roi.read_id, []).append(roi)
        if v is None:
            by_read.setdefault(roi.read_id, {})[roi.label] = measures.Excluded(
                reason="Fracture" if roi.label != LUMBAR_VBQ.reference else "Other"
            )
            continue
        mean = float(v["mean"])
        median = mean * (1 + 0.004 * rng.standard_normal())
        sd = float(v["sd"])
        scores.append(
            RoiScore(
                roi=roi,
                roi_version=roi.version,
                n=v["n"],
                area_mm2=v["n"] * 0.9375 * 0.9375,
                mean=mean,
                median=median,
                sd=sd,
                min=mean - 2.8 * sd,
                max=mean + 2.9 * sd,
            )
        )
        by_read.setdefault(roi.read_id, {})[roi.label] = measures.RoiValues(
            mean=mean, median=median, sd=sd, n=v["n"], csf_level=roi.csf_level or None
        )
    RoiScore.objects.bulk_create(scores, batch_size=2000)

    scoring_settings = measures.ScoringSettings(
        statistic=study.roi_statistic,
        min_levels=study.min_levels_vbq,
        noise_correction=study.noise_correction,
        compute_vbq=study.measure_vbq,
        compute_snr=study.measure_snr,
    )
    results = {read.pk: measures.score_read(by_read[read.pk], scoring_settings) for read in reads}
    control_snrs = []
    for ci in sorted(controls):
        snrs = [
            results[read.pk].snr.value
            for read, (c, _, number) in zip(reads, plan, strict=True)
            if c == ci and number == 1 and results[read.pk].snr and results[read.pk].snr.ok
        ]
        if snrs:
            control_snrs.append(float(np.mean(snrs)))
    read_scores = []
    for read in reads:
        res = results[read.pk]
        vbq = res.vbq or measures.MeasureResult.fail("VBQ is not part of this study's protocol.")
        snr = res.snr or measures.MeasureResult.fail("SNR is not part of this study's protocol.")
        m = (
            measures.m_score(snr.value, control_snrs)
            if snr.value is not None
            else measures.MeasureResult.fail("no SNR for this read")
        )
        read_scores.append(
            ReadScore(
                read=read,
                inputs_digest=_digest(study, rois_of_read[read.pk]),
                vbq=vbq.value,
                vbq_reason=vbq.reason or "",
                snr_levels={k: r.value for k, r in (res.snr_levels or {}).items() if r.ok},
                snr=snr.value,
                snr_reason=snr.reason or "",
                m_score=m.value,
                m_score_reason=m.reason or "",
            )
        )
    ReadScore.objects.bulk_create(read_scores, batch_size=2000)
    return SyntheticStudy(study=study, pi=pi, readers=readers, n_cases=len(cases), n_reads=len(reads), n_rois=len(rois))
