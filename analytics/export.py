"""CSV exports and the analysis snapshot zip.

CSV conventions: UTF-8 (no BOM), comma-separated, one header row, ``\\n`` line ends, rows in a fixed order;
numbers written in full precision (Python's shortest round-trip ``repr``, so a re-read float is the same
float the dashboard used); empty cell = missing; yes/no for flags; ISO 8601 UTC timestamps; geometry as
compact JSON. Rerunning an export on unchanged data gives byte-identical files.

Files (columns documented in :data:`ROI_COLUMNS`, :data:`SCORE_COLUMNS`, :data:`SUBJECT_COLUMNS`):

* ``roi_measurements.csv`` — long: one row per ROI of every read.
* ``scores.csv`` — one row per read: VBQ, level SIs, SNR per level and L1–L4, M-score, reasons.
* ``subjects.csv`` — wide: one row per case: reference data, WHO group, ROC outcome codes, consensus scores,
  and each reader × read's VBQ and SNR (``vbq_<reader>_r<n>``, ``snr_<reader>_r<n>``).
* every dashboard table, exactly as displayed (``<section>-<table>.csv``).

The snapshot zip holds all of these, the figures (SVG, PNG at 300 dpi, PDF), ``methods.md`` (a methods
paragraph naming each test and the software versions) and ``manifest.json`` (inputs hash, settings, versions,
SHA-256 of every file). Entries have fixed timestamps (1980-01-01) and a fixed order, so the zip of unchanged
data is byte-identical.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import platform
import tomllib
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.text import slugify

from analytics.datasets import LEVELS, OUTCOMES, StudyData, outcome_of, roi_rows, study_data
from analytics.models import AnalysisCache
from analytics.sections.common import CACHED_SECTIONS
from studies.models import Study

__all__ = [
    "EXPORTS",
    "ROI_COLUMNS",
    "SCORE_COLUMNS",
    "SUBJECT_COLUMNS",
    "methods_text",
    "roi_measurements_csv",
    "scores_csv",
    "snapshot_filename",
    "snapshot_zip",
    "software_versions",
    "subjects_csv",
    "table_csv",
]

#: roi_measurements.csv: column -> meaning.
ROI_COLUMNS: dict[str, str] = {
    "case": "subject code",
    "reader": "reader's username",
    "read": "read number (1 = first read)",
    "read_status": "not_started / in_progress / submitted",
    "label": "L1, L2, L3, L4, CSF or NOISE",
    "csf_level": "level of the CSF ROI (L3, or the L2/L1 fallback)",
    "slice_instance_number": "Instance Number of the slice the ROI is on",
    "slice_sop_instance_uid": "SOP Instance UID of that slice (de-identified)",
    "shape": "rectangle, ellipse or polygon",
    "geometry": "JSON [[col, row], ...] of the ROI's handles, pixel centres at integers",
    "roi_version": "edit counter of the ROI",
    "score_current": "yes when the statistics below are of this ROI version",
    "n": "pixels inside the ROI",
    "area_mm2": "n x pixel area, mm²",
    "mean": "mean stored value (after rescale)",
    "median": "median",
    "sd": "sample SD (n − 1)",
    "min": "minimum",
    "max": "maximum",
    "score_error": "why the ROI could not be measured",
    "excluded": "yes when the level was marked as not measurable",
    "exclusion_reason": "fracture, hemangioma, hardware, schmorl or other",
    "exclusion_note": "free-text note of the exclusion",
    "created_at": "when the ROI was first saved (UTC)",
    "updated_at": "last change (UTC)",
    "scored_at": "when the statistics were computed (UTC)",
}

#: scores.csv: column -> meaning.
SCORE_COLUMNS: dict[str, str] = {
    "case": "subject code",
    "reader": "reader's username",
    "read": "read number",
    "status": "not_started / in_progress / submitted",
    "analysed": "yes when the read is submitted and scored (it enters the statistics)",
    "started_at": "when the reader first opened the read (UTC)",
    "submitted_at": "when the read was submitted (UTC)",
    "time_on_task_s": "active time in the viewer, seconds",
    "vbq": "VBQ = median SI(L1–L4) / SI(CSF)",
    "vbq_reason": "why there is no VBQ",
    **{f"si_{lv}": f"SI of {lv} (the study's ROI statistic)" for lv in LEVELS},
    "si_CSF": "SI of the CSF ROI",
    "noise_sd": "SD of the background-noise ROI",
    **{f"snr_{lv}": f"SNR of {lv}" for lv in LEVELS},
    "snr": "SNR L1–L4 (mean of the per-level SNRs)",
    "snr_reason": "why there is no SNR",
    "m_score": "M-score = (SNR − mean SNR of controls) / SD of controls",
    "m_score_reason": "why there is no M-score",
    "excluded_levels": "levels marked excluded, with the reason (L2: fracture; ...)",
    "roi_errors": "ROIs that could not be measured, with the reason",
}

#: subjects.csv: fixed columns -> meaning (followed by one vbq_/snr_<reader>_r<n> column per reader × read).
SUBJECT_COLUMNS: dict[str, str] = {
    "case": "subject code",
    "is_control": "member of the SNR control group",
    "reference_modality": "QCT or DEXA",
    "t_score": "reference T-score",
    "bmd": "reference BMD (mg/cm³ QCT, g/cm² DEXA)",
    "z_score": "Z-score",
    "tbs": "trabecular bone score",
    "age": "age, years",
    "sex": "F or M",
    "bmi": "body-mass index, kg/m²",
    "diabetes": "yes/no",
    "hyperlipidemia": "yes/no",
    "who_group": "normal / osteopenia / osteoporosis from the T-score",
    **{
        f"outcome_{key}": f"ROC outcome {label}: 1 positive, 0 negative, empty = left out"
        for key, (label, _, _) in OUTCOMES.items()
    },
    "vbq_consensus": "the subject's VBQ under the study's consensus rule",
    "vbq_n_reads": "number of reads averaged",
    "snr_consensus": "consensus SNR L1–L4",
    "snr_n_reads": "number of reads averaged",
    "m_score_consensus": "consensus M-score",
    "m_score_n_reads": "number of reads averaged",
}


def cell(value: Any) -> str:
    """One CSV cell (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return str(value)


def write_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


def roi_measurements_csv(study: Study) -> bytes:
    def rows():
        for r in roi_rows(study):
            current = r["score_current"]
            stat = {
                k: r[f"score__{k}"] if current else None
                for k in ("n", "area_mm2", "mean", "median", "sd", "min", "max")
            }
            yield [
                r["read__case__subject_code"],
                r["read__reader__username"],
                r["read__read_number"],
                r["read__status"],
                r["label"],
                r["csf_level"] or None,
                r["instance_number"],
                r["sop_instance_uid"] or None,
                r["shape"] or None,
                r["points_px"] if r["points_px"] else None,
                r["version"],
                None if r["excluded"] else current,
                stat["n"],
                stat["area_mm2"],
                stat["mean"],
                stat["median"],
                stat["sd"],
                stat["min"],
                stat["max"],
                (r["score__error"] or None) if current else None,
                r["excluded"],
                r["exclusion_reason"] or None,
                r["exclusion_note"] or None,
                r["created_at"],
                r["updated_at"],
                r["score__computed_at"] if current else None,
            ]

    return write_csv(ROI_COLUMNS, rows())


def scores_csv(study: Study, data: StudyData | None = None) -> bytes:
    data = data or study_data(study)

    def rows():
        for r in data.reads:
            yield [
                r.subject_code,
                r.reader,
                r.read_number,
                r.status,
                r.analysed,
                r.started_at,
                r.submitted_at,
                r.time_on_task,
                r.vbq,
                r.vbq_reason or None,
                *(r.si.get(lv) for lv in LEVELS),
                r.si.get("CSF"),
                r.noise_sd,
                *(r.snr_levels.get(lv) for lv in LEVELS),
                r.snr,
                r.snr_reason or None,
                r.m_score,
                r.m_score_reason or None,
                "; ".join(f"{k}: {v}" for k, v in sorted(r.excluded.items())) or None,
                "; ".join(f"{k}: {v}" for k, v in sorted(r.roi_errors.items())) or None,
            ]

    return write_csv(SCORE_COLUMNS, rows())


def wide_columns(data: StudyData) -> list[tuple[str, str, int, int]]:
    """(column, measure, reader_id, read_number) of the per-reader × read columns of subjects.csv."""
    out = []
    for measure in ("vbq", "snr"):
        for reader_id, reader in data.readers:
            for number in data.read_numbers:
                out.append((f"{measure}_{reader}_r{number}", measure, reader_id, number))
    return out


def subjects_csv(study: Study, data: StudyData | None = None) -> bytes:
    data = data or study_data(study)
    wide = wide_columns(data)
    values = {measure: data.wide(measure) for measure in ("vbq", "snr")}

    def rows():
        for s in data.subjects:
            yield [
                s.subject_code,
                s.is_control,
                s.modality,
                s.t_score,
                s.bmd,
                s.z_score,
                s.tbs,
                s.age,
                s.sex,
                s.bmi,
                s.diabetes,
                s.hyperlipidemia,
                s.group,
                *(outcome_of(s.group, key) for key in OUTCOMES),
                s.vbq,
                s.n_reads.get("vbq", 0),
                s.snr,
                s.n_reads.get("snr", 0),
                s.m_score,
                s.n_reads.get("m_score", 0),
                *(values[m].get((rid, n), {}).get(s.case_id) for _, m, rid, n in wide),
            ]

    return write_csv([*SUBJECT_COLUMNS, *(c for c, _, _, _ in wide)], rows())


def table_csv(table: dict[str, Any]) -> bytes:
    """A dashboard table exactly as displayed: its column headings, then its cells."""
    return write_csv(table["columns"], table["rows"])


#: Downloadable data files: name -> builder.
EXPORTS = {
    "roi_measurements": lambda study: roi_measurements_csv(study),
    "scores": lambda study: scores_csv(study),
    "subjects": lambda study: subjects_csv(study),
}


@functools.cache
def vbq_reader_version() -> str:
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return settings.SPECTACULAR_SETTINGS.get("VERSION", "unknown")


def software_versions() -> dict[str, str]:
    import django
    import matplotlib
    import numpy
    import scipy

    return {
        "vbq_reader": vbq_reader_version(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "django": django.get_version(),
        "matplotlib": matplotlib.__version__,
    }


def study_settings(study: Study) -> dict[str, Any]:
    return {
        "measure_vbq": study.measure_vbq,
        "measure_snr": study.measure_snr,
        "roi_statistic": study.roi_statistic,
        "min_levels_vbq": study.min_levels_vbq,
        "noise_correction": study.noise_correction,
        "consensus_rule": study.consensus_rule,
        "consensus_reader": study.consensus_reader.get_username() if study.consensus_reader else None,
        "reads_per_reader": study.reads_per_reader,
        "washout_days": study.washout_days,
        "randomisation_seed": study.randomisation_seed,
        "who_groups": "T >= -1 normal; -2.5 < T < -1 osteopenia; T <= -2.5 osteoporosis",
    }


def methods_text(study: Study, data: StudyData) -> str:
    """A methods paragraph naming each measurement, test and software version (Markdown)."""
    v = software_versions()
    n_readers = len(data.readers)
    modalities = sorted({s.modality for s in data.subjects if s.modality})
    reference = " and ".join(modalities) if modalities else "the reference"
    statistic = "median" if study.roi_statistic == Study.RoiStatistic.MEDIAN else "mean"
    noise = (
        "the raw SD of the background-noise ROI"
        if study.noise_correction == Study.NoiseCorrection.RAW
        else "the Rayleigh-corrected SD of the background-noise ROI (SD / 0.655)"
    )
    parts = [
        "## Statistical analysis",
        "",
        f"Regions of interest were placed on sagittal T1-weighted images by {n_readers} reader(s) "
        f"({', '.join(name for _, name in data.readers) or 'none yet'}); repeated reads were separated by a "
        f"washout of {study.washout_days} days and presented in a randomised order. The signal intensity (SI) of "
        f"each level was the {statistic} of its ROI.",
    ]
    if study.measure_vbq:
        parts.append(
            "The vertebral bone quality score (VBQ) was the median SI of L1–L4 divided by the SI of cerebrospinal "
            f"fluid at L3 (levels marked as not measurable were left out; at least {study.min_levels_vbq} levels "
            "were required)."
        )
    if study.measure_snr:
        parts.append(
            f"The signal-to-noise ratio (SNR) of each level was its mean SI divided by {noise}; SNR L1–L4 was the "
            "mean of the per-level SNRs, and the M-score was (SNR − mean SNR of the control group) / SD of the "
            "control group's SNR."
        )
    parts.append(
        f"Each subject's score was the {data.consensus_note}. Subjects were classified by the {reference} T-score "
        "according to the WHO criteria (T ≥ −1 normal; −2.5 < T < −1 osteopenia; T ≤ −2.5 osteoporosis)."
    )
    parts.append(
        "Intra-rater reliability (read 1 vs read 2 of each reader) and inter-rater reliability (the readers' first "
        "reads) were assessed with intraclass correlation coefficients; ICC(2,1) (McGraw–Wong ICC(A,1), absolute "
        "agreement, single rater; two-way random effects for inter-rater and two-way mixed effects for intra-rater "
        "reliability) is reported with its 95% confidence interval and interpreted after Koo and Li (2016); all six "
        "Shrout–Fleiss forms are given with F tests and confidence intervals computed as by R's psych::ICC. "
        "Agreement was shown with Bland–Altman plots (bias ± 1.96 SD of the differences)."
    )
    parts.append(
        "Continuous characteristics and scores were compared between the groups with one-way analysis of variance "
        "followed by Tukey's honestly significant difference test; categorical characteristics with Pearson's "
        "chi-square test without Yates' continuity correction."
    )
    parts.append(
        "Diagnostic performance was assessed with empirical receiver operating characteristic (ROC) curves "
        "(osteoporosis vs normal by default, osteopenia excluded; other outcomes as stated): the area under the "
        "curve (AUC) with DeLong's 95% confidence interval, the p-value against AUC = 0.5 with the standard error "
        "under the null hypothesis (as SPSS) and DeLong's Wald p-value. The optimal threshold maximised the Youden "
        "index (sensitivity + specificity − 1; the midpoint between adjacent observed values, as pROC), with "
        "sensitivity, specificity, positive and negative predictive values and Wilson score 95% confidence "
        "intervals."
        + (
            " The AUCs of VBQ and the M-score were compared with DeLong's test for correlated ROC curves."
            if study.measure_vbq and study.measure_snr
            else ""
        )
    )
    corr = []
    if study.measure_vbq:
        corr.append(
            "the association of VBQ with BMD and T-score was assessed with Pearson's correlation coefficient "
            "(Fisher z confidence interval), Spearman's rank correlation and least-squares linear regression"
        )
    if study.measure_snr:
        corr.append("SNR and M-score were correlated with BMD, T-score and TBS with Spearman's rho")
    if corr:
        text = "; ".join(corr)
        parts.append(text[0].upper() + text[1:] + " (exact p-values, algorithm AS 89, as R's cor.test).")
    parts.append("Two-sided p < 0.05 was considered statistically significant. Standard deviations use n − 1.")
    parts.append(
        f"Analyses were performed with VBQ Reader {v['vbq_reader']} (Python {v['python']}, NumPy {v['numpy']}, "
        f"SciPy {v['scipy']}, Django {v['django']}, matplotlib {v['matplotlib']}); its statistics are validated "
        "against R (psych, pROC, stats) to 1e-6."
    )
    return parts[0] + "\n\n" + " ".join(parts[2:]) + "\n"


def snapshot_filename(study: Study) -> str:
    return f"vbq-analysis-{slugify(study.name) or study.pk}-{study.pk}.zip"


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], compresslevel=6)
    return buffer.getvalue()


def snapshot_zip(study: Study) -> tuple[bytes, dict[str, Any]]:
    """The analysis snapshot zip of the study's current cached analyses, and its manifest.

    The cached sections must be fresh (``services.study_analytics_refresh`` first).
    """
    from analytics.services import SNAPSHOT, Digests, figure_files

    study = Study.objects.select_related("consensus_reader").get(pk=study.pk)
    data = study_data(study)
    digests = Digests(study)
    files: dict[str, bytes] = {
        "data/roi_measurements.csv": roi_measurements_csv(study),
        "data/scores.csv": scores_csv(study, data),
        "data/subjects.csv": subjects_csv(study, data),
    }
    rows = {row.section: row for row in AnalysisCache.objects.filter(study=study, section__in=CACHED_SECTIONS)}
    section_digests = {}
    for section in CACHED_SECTIONS:
        row = rows.get(section)
        if row is None or not row.result:
            continue
        section_digests[section] = row.inputs_digest
        slug = section.replace(":", "-")
        for tab in row.result.get("tables", []):
            files[f"tables/{slug}-{tab['id']}.csv"] = table_csv(tab)
        for name, has_data in sorted(row.result.get("figures", {}).items()):
            if has_data:
                # The dashboard's cached files where they exist; the figure is drawn once for the rest.
                for fmt, content in figure_files(study, name, section=section).items():
                    files[f"figures/{name}.{fmt}"] = content
    files["methods.md"] = methods_text(study, data).encode("utf-8")
    columns = {
        "data/roi_measurements.csv": ROI_COLUMNS,
        "data/scores.csv": SCORE_COLUMNS,
        "data/subjects.csv": SUBJECT_COLUMNS
        | {"vbq_<reader>_r<n>": "VBQ of that reader's read n", "snr_<reader>_r<n>": "SNR L1–L4 of that read"},
    }
    manifest = {
        "format": "vbq-reader-analysis-snapshot/1",
        "study": {
            "id": study.pk,
            "name": study.name,
            "locked": study.locked,
            "locked_at": cell(study.locked_at) or None,
        },
        "inputs_hash": digests.section(SNAPSHOT),
        "section_digests": section_digests,
        "settings": study_settings(study),
        "consensus": data.consensus_note,
        "software": software_versions(),
        "columns": columns,
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in sorted(files.items())},
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return _zip_bytes(files), manifest
