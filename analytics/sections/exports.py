"""Exports: the CSV files of the exports tab.

CSV conventions: UTF-8 (no BOM), comma-separated, one header row, ``\\n`` line ends, rows in a fixed order;
numbers written in full precision (Python's shortest round-trip ``repr``, so a re-read float is the same
float the dashboard used); empty cell = missing; yes/no for flags; ISO 8601 UTC timestamps; geometry as
compact JSON. Rerunning an export on unchanged data gives byte-identical files.

Files (columns documented in :data:`ROI_COLUMNS`, :data:`SCORE_COLUMNS`, :data:`SUBJECT_COLUMNS`):

* ``roi_measurements.csv`` — long: one row per ROI of every read.
* ``scores.csv`` — one row per read: VBQ, level SIs, SNR per level and L1–L4, M-score, reasons.
* ``subjects.csv`` — wide: one row per case: reference data, WHO group, ROC outcome codes, consensus scores,
  and each reader × read's VBQ and SNR (``vbq_<reader>_r<n>``, ``snr_<reader>_r<n>``).
* every dashboard table as numbers only (``<section>-<table>.csv``; :mod:`analytics.manuscript`: estimate,
  conf_low, conf_high and n in separate columns, empty for missing, words in a ``note`` column), and all of
  them in one workbook (``tables.xlsx``).

The analysis snapshot zip (:mod:`analytics.snapshot`) holds all of these.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from analytics.datasets import LEVELS, OUTCOMES, REFERENCE, StudyData, outcome_of, roi_rows, study_data
from studies.models import Study

__all__ = [
    "EXPORTS",
    "ROI_COLUMNS",
    "SCORE_COLUMNS",
    "SUBJECT_COLUMNS",
    "cell",
    "roi_measurements_csv",
    "scores_csv",
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
    "slice_number": "slice the ROI is on, as the viewer numbers it: 1-based position along the slice normal",
    "instance_number": "DICOM Instance Number of that slice (the scanner's numbering; may differ from slice_number)",
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
    "position": "position of the case in the reader's randomised worklist for this read (0 = first)",
    "roi_sd": "mean pixel SD (n − 1) of the read's measured vertebral ROIs L1–L4",
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
                r["slice_number"],
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
                r.si.get(REFERENCE),
                r.noise_sd,
                *(r.snr_levels.get(lv) for lv in LEVELS),
                r.snr,
                r.snr_reason or None,
                r.m_score,
                r.m_score_reason or None,
                "; ".join(f"{k}: {v}" for k, v in sorted(r.excluded.items())) or None,
                "; ".join(f"{k}: {v}" for k, v in sorted(r.roi_errors.items())) or None,
                r.order_index,
                r.roi_sd,
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
    """A dashboard table as numbers only (:func:`analytics.manuscript.numeric_table`): estimates, CI bounds and
    counts in their own columns, empty for missing, words in a ``note`` column."""
    from analytics.manuscript import numeric_table

    header, rows = numeric_table(table)
    return write_csv(header, rows)


#: Downloadable data files: name -> builder.
EXPORTS = {
    "roi_measurements": lambda study: roi_measurements_csv(study),
    "scores": lambda study: scores_csv(study),
    "subjects": lambda study: subjects_csv(study),
}
