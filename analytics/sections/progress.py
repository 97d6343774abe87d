"""Progress: reading progress per reader × read, scoring status, and the QC list of outlying ROIs and failed reads."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from analytics.datasets import ReadRow, StudyData
from analytics.sections.common import section_result
from analytics.tables import DASH, num, table
from studies.models import Read

__all__ = ["compute"]

QC_Z = 3.0
QC_MIN_RATIO = 0.15  # and at least 15 % off: smaller deviations are placement noise, not a misplaced ROI
QC_MIN_N = 5
QC_MAX_ROWS = 500


def compute(data: StudyData) -> dict:
    """Reading progress per reader × read, scoring status, and the QC list of outlying ROIs and failed reads."""
    readers, totals = _reader_rows(data)
    qc = _qc_items(data)
    return section_result(
        "progress",
        "Progress",
        {"readers": readers, "totals": dict(totals), "qc": qc},
        [_progress_table(readers), _scoring_table(totals), _qc_table(qc)],
        None,
        [],
    )


def _reader_rows(data: StudyData) -> tuple[list[dict[str, Any]], Counter]:
    """One row per reader × read number (reads, submitted, in progress, time per case) and the study's totals."""
    import numpy as np  # here, not at module level: web start-up does not load numpy (issue #20 point 4)

    per: dict[tuple[str, int], dict[str, Any]] = {}
    totals = Counter()
    for r in data.reads:
        row = per.setdefault(
            (r.reader, r.read_number),
            {"reader": r.reader, "read_number": r.read_number, "total": 0, "done": 0, "in_progress": 0, "times": []},
        )
        row["total"] += 1
        totals["reads"] += 1
        totals["rois_drawn"] += r.rois_drawn
        totals["rois_pending"] += r.rois_pending
        totals["roi_errors"] += len(r.roi_errors)
        if r.status == Read.Status.IN_PROGRESS:
            row["in_progress"] += 1
        if r.submitted:
            row["done"] += 1
            totals["submitted"] += 1
            totals["scored"] += r.scored
            totals["awaiting"] += (not r.scored) or r.rois_pending > 0
            if r.time_on_task > 0:
                row["times"].append(r.time_on_task)
    readers = []
    for key in sorted(per):
        row = per[key]
        times = row.pop("times")
        row["pct"] = 100.0 * row["done"] / row["total"] if row["total"] else 0.0
        row["time_median"] = float(np.median(times)) if times else None
        row["time_mean"] = float(np.mean(times)) if times else None
        row["timed"] = len(times)
        readers.append(row)
    return readers, totals


def _progress_table(readers: list[dict[str, Any]]) -> dict:
    rows = [
        [
            r["reader"],
            str(r["read_number"]),
            f"{r['done']} / {r['total']}",
            f"{r['pct']:.0f}%",
            str(r["in_progress"]),
            num(r["time_median"], 0),
            num(r["time_mean"], 0),
        ]
        for r in readers
    ]
    return table(
        "progress",
        "Reading progress",
        ["Reader", "Read", "Submitted", "Progress", "In progress", "Median time per case, s", "Mean time per case, s"],
        rows,
        notes=["Time per case: time on task of submitted reads (viewer open and active)."],
        empty="No reads yet: create the reading plan on the study page.",
    )


def _scoring_table(totals: Counter) -> dict:
    rows = [
        ["ROIs drawn (not excluded)", str(totals["rois_drawn"])],
        ["ROIs awaiting scoring", str(totals["rois_pending"])],
        ["ROIs that could not be measured", str(totals["roi_errors"])],
        ["Reads submitted", str(totals["submitted"])],
        ["Submitted reads scored", str(totals["scored"])],
        ["Submitted reads awaiting scoring", str(totals["awaiting"])],
    ]
    return table("scoring", "Scoring status", ["Item", "Count"], rows)


def _qc_table(qc: list[dict[str, Any]]) -> dict:
    shown = qc[:QC_MAX_ROWS]
    return table(
        "qc",
        "Quality control",
        ["Case", "Reader", "Read", "Item", "Value", "Detail"],
        [[q["case"], q["reader"], str(q["read"]), q["item"], q["value"], q["detail"]] for q in shown],
        notes=[
            "Outlying ROIs: the ROI's SI divided by the median SI of that label over all reads of the case, "
            f"compared with the reader's usual ratio: robust |z| > {QC_Z:g} (median and MAD) and at least "
            f"{QC_MIN_RATIO:.0%} off (cases with at least 3 reads, readers with at least {QC_MIN_N}).",
            "Reads: submitted reads with a reason instead of a score.",
        ]
        + ([f"Showing the first {QC_MAX_ROWS} of {len(qc)} items."] if len(qc) > QC_MAX_ROWS else []),
        numeric=[False, False, True, False, True, False],
        empty="Nothing to check.",
    )


# ------------------------------------------------------------------------------------------------ QC list


def _qc_items(data: StudyData) -> list[dict[str, Any]]:
    """Unmeasured ROIs and unscored reads, then outlying ROIs; sorted by case, reader, read and item."""
    items = _read_items(data)
    by_reader_label: dict[tuple[str, str], list[tuple[ReadRow, float]]] = defaultdict(list)
    for r in data.reads:
        if r.submitted:
            for label, value in r.si.items():
                by_reader_label[(r.reader, label)].append((r, value))
    items += _outlying_rois(by_reader_label)
    items.sort(key=lambda q: (q["case"], q["reader"], q["read"], q["item"]))
    return items


def _read_items(data: StudyData) -> list[dict[str, Any]]:
    """Submitted reads' ROIs that could not be measured, and scored reads without a VBQ or SNR."""
    study = data.study
    items: list[dict[str, Any]] = []
    for r in data.reads:
        if not r.submitted:
            continue
        for label, error in sorted(r.roi_errors.items()):
            items.append(_item(r, f"ROI {label} not measured", error))
        if r.scored:
            if study.measure_vbq and r.vbq is None:
                items.append(_item(r, "No VBQ", r.vbq_reason or "no reason recorded"))
            if study.measure_snr and r.snr is None:
                items.append(_item(r, "No SNR", r.snr_reason or "no reason recorded"))
    return items


def _item(r: ReadRow, item: str, detail: str) -> dict[str, Any]:
    return {
        "case": r.subject_code,
        "reader": r.reader,
        "read": r.read_number,
        "item": item,
        "value": DASH,
        "detail": detail,
        "z": None,
    }


def _outlying_rois(by_reader_label: dict[tuple[str, str], list[tuple[ReadRow, float]]]) -> list[dict[str, Any]]:
    """ROIs whose SI is far off the other reads of the same case, by the reader's usual standard.

    A level SI varies between subjects, so compare each ROI with the other reads of the same case: the
    log-ratio to the case's median SI for that label, standardised within the reader and label.
    """
    import numpy as np  # here, not at module level: web start-up does not load numpy (issue #20 point 4)

    by_case_label: dict[tuple[int, str], list[float]] = defaultdict(list)
    for (_, label), pairs in by_reader_label.items():
        for r, v in pairs:
            by_case_label[(r.case_id, label)].append(v)
    medians = {key: float(np.median(vs)) for key, vs in by_case_label.items() if len(vs) >= 3}
    items: list[dict[str, Any]] = []
    for (reader, label), pairs in sorted(by_reader_label.items()):
        devs = [
            (r, v, float(np.log(v / medians[(r.case_id, label)])))
            for r, v in pairs
            if (r.case_id, label) in medians and v > 0 and medians[(r.case_id, label)] > 0
        ]
        if len(devs) < QC_MIN_N:
            continue
        d = np.array([x for _, _, x in devs])
        # Robust centre and spread (median, MAD × 1.4826): one misplaced ROI must not hide itself.
        centre = float(np.median(d))
        spread = 1.4826 * float(np.median(np.abs(d - centre)))
        if spread == 0:
            continue
        for r, v, x in devs:
            z = (x - centre) / spread
            if abs(z) > QC_Z and abs(np.exp(x - centre) - 1) >= QC_MIN_RATIO:
                items.append(
                    {
                        "case": r.subject_code,
                        "reader": reader,
                        "read": r.read_number,
                        "item": f"Outlying SI {label}",
                        "value": num(v, 1),
                        "detail": f"{np.exp(x):.2f} × the case's median over all reads (robust z = {z:.1f}; "
                        f"this reader's usual ratio {np.exp(centre):.2f})",
                        "z": z,
                    }
                )
    return items
