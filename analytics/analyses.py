"""The dashboard sections: tidy study data → statistics (:mod:`analytics.stats`) → plain, JSON-ready dicts.

Each section function takes a :class:`~analytics.datasets.StudyData` and returns::

    {"section": str, "title": str,
     "data": {...},      # the numbers, unrounded (what the API serves and the tests compare with R/the CLI)
     "tables": [...],    # display tables (analytics.tables), shown as HTML and exported as CSV unchanged
     "plots": {...},     # the points the figures are drawn from (analytics.figures)
     "messages": [...]}  # why something could not be computed ("at least 2 raters ...")

Too little data never raises: the statistic's ``ValueError`` sentence becomes a message and the rest of the
section is still computed. Nothing here touches the database; :mod:`analytics.services` loads the data, caches
the results and runs this in a Celery job.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from analytics import stats
from analytics.datasets import GROUP_LABELS, GROUPS, LEVELS, OUTCOMES, StudyData, outcome_of
from analytics.tables import DASH, ci, mean_sd, n_pct, num, pval, table
from studies.models import Read

__all__ = [
    "ANALYSIS_VERSION",
    "CACHED_SECTIONS",
    "SECTIONS",
    "agreement",
    "compute_section",
    "correlation",
    "groups",
    "jsonable",
    "progress",
    "roc",
    "table1",
]

#: Bump when the output of any section changes shape or formatting: cached results are then recomputed.
ANALYSIS_VERSION = "1"

#: Dashboard sections (pages) in tab order, with their titles.
SECTIONS: dict[str, str] = {
    "progress": "Progress",
    "agreement": "Agreement",
    "table1": "Table 1",
    "groups": "Groups",
    "roc": "ROC",
    "correlation": "Correlation",
}
#: What is cached: one row per section, the ROC once per outcome.
CACHED_SECTIONS: tuple[str, ...] = (
    "progress",
    "agreement",
    "table1",
    "groups",
    *(f"roc:{key}" for key in OUTCOMES),
    "correlation",
)

MEASURE_LABELS: dict[str, str] = {
    "vbq": "VBQ",
    "snr": "SNR L1–L4",
    "m_score": "M-score",
    **{f"si_{lv}": f"SI {lv}" for lv in LEVELS},
}
MEASURE_DIGITS: dict[str, int] = {"vbq": 2, "snr": 1, "m_score": 2, **{f"si_{lv}": 1 for lv in LEVELS}}
KOO_LI = "Koo & Li (2016): < 0.50 poor, 0.50–0.75 moderate, 0.75–0.90 good, > 0.90 excellent."
QC_Z = 3.0
QC_MIN_RATIO = 0.15  # and at least 15 % off: smaller deviations are placement noise, not a misplaced ROI
QC_MIN_N = 5
QC_MAX_ROWS = 500
N_CANDIDATES = 15


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays to Python, NaN and ±inf to ``None``, tuples to lists."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Run a statistic; too little or unsuitable data gives its sentence instead of an exception."""
    try:
        return function(*args, **kwargs), None
    except ValueError as error:
        return None, str(error)


def _section(name: str, title: str, data: dict, tables: list, plots: dict | None, messages: list[str]) -> dict:
    return jsonable(
        {"section": name, "title": title, "data": data, "tables": tables, "plots": plots or {}, "messages": messages}
    )


def _measures(data: StudyData, *, levels: bool = False, m_score: bool = False) -> list[str]:
    study = data.study
    out = []
    if study.measure_vbq:
        out.append("vbq")
    if study.measure_snr:
        out.append("snr")
        if m_score:
            out.append("m_score")
    if levels:
        out += [f"si_{lv}" for lv in LEVELS]
    return out


def _no_values(data: StudyData, measure: str) -> str | None:
    """Why no subject has a consensus ``measure`` (the reads' most common reason); None when some do."""
    if any(getattr(s, measure) is not None for s in data.subjects):
        return None
    label = MEASURE_LABELS[measure]
    reasons = Counter(
        getattr(r, f"{measure}_reason") for r in data.analysed_reads if getattr(r, f"{measure}_reason", "")
    )
    if reasons:
        return f"{label}: no subject has a value yet. The reads say: {reasons.most_common(1)[0][0]}"
    return f"{label}: no subject has a value yet (no analysed reads)."


def _fmt_measure(measure: str, value: Any) -> str:
    return num(value, MEASURE_DIGITS.get(measure, 2))


# ------------------------------------------------------------------------------------------------ progress


def progress(data: StudyData) -> dict:
    """Reading progress per reader × read, scoring status, and the QC list of outlying ROIs and failed reads."""
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
    progress_table = table(
        "progress",
        "Reading progress",
        ["Reader", "Read", "Submitted", "Progress", "In progress", "Median time per case, s", "Mean time per case, s"],
        rows,
        notes=["Time per case: time on task of submitted reads (viewer open and active)."],
        empty="No reads yet: create the reading plan on the study page.",
    )
    scoring_rows = [
        ["ROIs drawn (not excluded)", str(totals["rois_drawn"])],
        ["ROIs awaiting scoring", str(totals["rois_pending"])],
        ["ROIs that could not be measured", str(totals["roi_errors"])],
        ["Reads submitted", str(totals["submitted"])],
        ["Submitted reads scored", str(totals["scored"])],
        ["Submitted reads awaiting scoring", str(totals["awaiting"])],
    ]
    scoring_table = table("scoring", "Scoring status", ["Item", "Count"], scoring_rows)

    qc = _qc_items(data)
    shown = qc[:QC_MAX_ROWS]
    qc_table = table(
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
    return _section(
        "progress",
        "Progress",
        {"readers": readers, "totals": dict(totals), "qc": qc},
        [progress_table, scoring_table, qc_table],
        None,
        [],
    )


def _qc_items(data: StudyData) -> list[dict[str, Any]]:
    study = data.study
    items: list[dict[str, Any]] = []
    by_reader_label: dict[tuple[str, str], list[tuple[Any, float]]] = defaultdict(list)
    for r in data.reads:
        if not r.submitted:
            continue
        for label, value in r.si.items():
            by_reader_label[(r.reader, label)].append((r, value))
        for label, error in sorted(r.roi_errors.items()):
            items.append(
                {
                    "case": r.subject_code,
                    "reader": r.reader,
                    "read": r.read_number,
                    "item": f"ROI {label} not measured",
                    "value": DASH,
                    "detail": error,
                    "z": None,
                }
            )
        if r.scored:
            if study.measure_vbq and r.vbq is None:
                items.append(_reason_item(r, "No VBQ", r.vbq_reason))
            if study.measure_snr and r.snr is None:
                items.append(_reason_item(r, "No SNR", r.snr_reason))
    # A level SI varies between subjects, so compare each ROI with the other reads of the same case: the
    # log-ratio to the case's median SI for that label, standardised within the reader and label.
    by_case_label: dict[tuple[int, str], list[float]] = defaultdict(list)
    for (_, label), pairs in by_reader_label.items():
        for r, v in pairs:
            by_case_label[(r.case_id, label)].append(v)
    medians = {key: float(np.median(vs)) for key, vs in by_case_label.items() if len(vs) >= 3}
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
    items.sort(key=lambda q: (q["case"], q["reader"], q["read"], q["item"]))
    return items


def _reason_item(r, item: str, reason: str) -> dict[str, Any]:
    return {
        "case": r.subject_code,
        "reader": r.reader,
        "read": r.read_number,
        "item": item,
        "value": DASH,
        "detail": reason or "no reason recorded",
        "z": None,
    }


# ------------------------------------------------------------------------------------------------ agreement


def _icc_matrix(
    data: StudyData, columns: list[dict[int, float]]
) -> tuple[np.ndarray, list[str]] | tuple[None, list[str]]:
    """Cases (rows, by subject code) × columns; cases without any value are left out."""
    codes = {s.case_id: s.subject_code for s in data.subjects}
    cases = sorted({cid for col in columns for cid in col}, key=lambda c: codes.get(c, str(c)))
    if not cases:
        return None, []
    matrix = np.array([[col.get(cid, np.nan) for col in columns] for cid in cases], dtype=float)
    return matrix, [codes.get(c, str(c)) for c in cases]


def _icc_entry(measure: str, comparison: str, label: str, raters: list[str], result: Any, error: str | None):
    entry: dict[str, Any] = {"measure": measure, "comparison": comparison, "label": label, "raters": raters}
    if error is not None:
        entry["error"] = error
        return entry
    entry |= {
        "n_targets": result.n_targets,
        "n_raters": result.n_raters,
        "n_dropped": len(result.targets_dropped),
        "targets_dropped": [str(t) for t in result.targets_dropped[:50]],
        "recommended": result.recommended,
        "recommendation": result.recommendation,
        "forms": {form.type: form.to_dict() for form in result.forms},
    }
    return entry


def agreement(data: StudyData) -> dict:
    """Intra-rater (per reader, read 1 vs 2 …) and inter-rater (readers' first reads) ICC; Bland–Altman."""
    messages: list[str] = []
    entries: list[dict[str, Any]] = []
    ba: list[dict[str, Any]] = []
    plots: dict[str, Any] = {}
    measures = _measures(data, levels=True)
    max_read = max(data.read_numbers, default=0)
    if max_read < 2:
        messages.append(
            "Intra-rater agreement needs a second read of the same cases (the reading plan has one read per reader)."
        )
    for measure in measures:
        wide = data.wide(measure)
        for reader_id, reader in data.readers:
            numbers = sorted(n for (rid, n) in wide if rid == reader_id)
            if max_read < 2:
                break
            label = f"Intra-rater, {reader} (reads {', '.join(map(str, numbers or [1, 2]))})"
            if len(numbers) < 2:
                entries.append(
                    _icc_entry(measure, "intra", label, [], None, f"{reader} has no analysed repeat reads yet")
                )
                continue
            matrix, codes = _icc_matrix(data, [wide[(reader_id, n)] for n in numbers])
            result, error = _attempt(stats.icc, matrix, targets=codes, purpose="intra")
            entries.append(_icc_entry(measure, "intra", label, [f"read {n}" for n in numbers], result, error))
            if measure in ("vbq", "snr") and 1 in numbers and 2 in numbers:
                ba.append(
                    _ba_entry(data, measure, f"{reader}: read 1 − read 2", wide[(reader_id, 1)], wide[(reader_id, 2)])
                )
        raters = [(rid, name) for rid, name in data.readers if (rid, 1) in wide]
        label = "Inter-rater, first reads" + (f" ({', '.join(name for _, name in raters)})" if raters else "")
        if len(raters) < 2:
            entries.append(
                _icc_entry(measure, "inter", label, [], None, "at least 2 readers with analysed first reads are needed")
            )
        else:
            matrix, codes = _icc_matrix(data, [wide[(rid, 1)] for rid, _ in raters])
            result, error = _attempt(stats.icc, matrix, targets=codes, purpose="inter")
            entries.append(_icc_entry(measure, "inter", label, [name for _, name in raters], result, error))
            if measure in ("vbq", "snr"):
                for i, (rid_a, name_a) in enumerate(raters):
                    for rid_b, name_b in raters[i + 1 :]:
                        ba.append(
                            _ba_entry(
                                data, measure, f"{name_a} − {name_b} (first reads)", wide[(rid_a, 1)], wide[(rid_b, 1)]
                            )
                        )
    if not data.analysed_reads:
        messages.append(
            "No analysed reads yet: agreement between readers appears once they have submitted scored reads."
        )
    for measure in ("vbq", "snr"):
        panels = [
            {
                "title": b["label"],
                "means": b["means"],
                "differences": b["differences"],
                "bias": b["bias"],
                "loa_low": b["loa_low"],
                "loa_high": b["loa_high"],
            }
            for b in ba
            if b["measure"] == measure and "error" not in b
        ]
        plots[f"ba-{measure}"] = {"measure": MEASURE_LABELS[measure], "panels": panels}

    summary_rows, summary_classes, form_rows, form_classes = [], [], [], []
    for e in entries:
        name = MEASURE_LABELS[e["measure"]]
        if "error" in e:
            summary_rows.append([name, e["label"], DASH, DASH, DASH, DASH, e["error"]])
            summary_classes.append("unavailable")
            continue
        rec = e["forms"][e["recommended"]]
        targets = str(e["n_targets"]) + (f" ({e['n_dropped']} incomplete left out)" if e["n_dropped"] else "")
        summary_rows.append(
            [
                name,
                e["label"],
                targets,
                str(e["n_raters"]),
                num(rec["estimate"]),
                ci(rec["conf_low"], rec["conf_high"]),
                f"{rec['interpretation']} (CI: {rec['ci_interpretation']})",
            ]
        )
        summary_classes.append("")
        for key, form in e["forms"].items():
            form_rows.append(
                [
                    name,
                    e["label"],
                    key,
                    form["shrout_fleiss"],
                    form["mcgraw_wong"],
                    form["model"],
                    num(form["estimate"]),
                    ci(form["conf_low"], form["conf_high"]),
                    num(form["F"], 2),
                    num(form["df1"], 0),
                    num(form["df2"], 0),
                    pval(form["p_value"]),
                    form["ci_interpretation"],
                ]
            )
            form_classes.append("recommended" if key == e["recommended"] else "")
    rec_notes = [
        "Recommended form: ICC(2,1) = McGraw–Wong ICC(A,1), absolute agreement, single rater — two-way random "
        "effects for inter-rater reliability; for intra-rater reliability the same formula, reported as two-way "
        "mixed effects (Koo & Li 2016). Use ICC(2,k) when the study's score is the mean of k readers.",
        KOO_LI + " The label in brackets reads the 95% CI.",
        "Cases without a value from every reader (or read) are left out (complete-case analysis).",
    ]
    summary = table(
        "icc_summary",
        "Reliability (recommended ICC form)",
        ["Measure", "Comparison", "Cases", "Raters", "ICC(A,1)", "95% CI", "Koo & Li"],
        summary_rows,
        row_classes=summary_classes,
        notes=rec_notes,
        numeric=[False, False, True, True, True, True, False],
        empty="No analysed reads yet.",
    )
    forms = table(
        "icc_forms",
        "All six ICC forms (psych::ICC)",
        [
            "Measure",
            "Comparison",
            "Form",
            "Shrout–Fleiss",
            "McGraw–Wong",
            "Model",
            "ICC",
            "95% CI",
            "F",
            "df1",
            "df2",
            "p",
            "Koo & Li (CI)",
        ],
        form_rows,
        row_classes=form_classes,
        notes=["Highlighted: the recommended form. F tests and CIs as psych::ICC (Shrout & Fleiss 1979)."],
        numeric=[False, False, False, False, False, False, True, True, True, True, True, True, False],
        empty="No analysed reads yet.",
    )
    ba_rows = []
    for b in ba:
        name = MEASURE_LABELS[b["measure"]]
        if "error" in b:
            ba_rows.append([name, b["label"], DASH, DASH, DASH, DASH, DASH, b["error"]])
            continue
        d = MEASURE_DIGITS[b["measure"]] + 1
        ba_rows.append(
            [
                name,
                b["label"],
                str(b["n"]),
                num(b["bias"], d),
                ci(b["bias_conf_low"], b["bias_conf_high"], d),
                num(b["sd"], d),
                f"{num(b['loa_low'], d)} ({ci(b['loa_low_conf_low'], b['loa_low_conf_high'], d)})",
                f"{num(b['loa_high'], d)} ({ci(b['loa_high_conf_low'], b['loa_high_conf_high'], d)})",
            ]
        )
    ba_table = table(
        "bland_altman",
        "Bland–Altman agreement",
        [
            "Measure",
            "Comparison",
            "n",
            "Bias",
            "95% CI of bias",
            "SD of differences",
            "Lower LoA (95% CI)",
            "Upper LoA (95% CI)",
        ],
        ba_rows,
        notes=["Limits of agreement: bias ± 1.96 SD of the differences; CIs of the limits as Bland & Altman (1999)."],
        numeric=[False, False, True, True, True, True, True, True],
        empty="Bland–Altman needs two reads of the same cases.",
    )
    ba_data = [{k: v for k, v in b.items() if k not in ("means", "differences")} for b in ba]
    return _section(
        "agreement",
        "Agreement",
        {"icc": entries, "bland_altman": ba_data},
        [summary, forms, ba_table],
        plots,
        messages,
    )


def _ba_entry(data: StudyData, measure: str, label: str, a: dict[int, float], b: dict[int, float]) -> dict:
    codes = {s.case_id: s.subject_code for s in data.subjects}
    cases = sorted(set(a) & set(b), key=lambda c: codes.get(c, str(c)))
    entry: dict[str, Any] = {"measure": measure, "label": label}
    result, error = _attempt(stats.bland_altman, [a[c] for c in cases], [b[c] for c in cases])
    if error is not None:
        entry["error"] = error
        return entry
    return entry | result.to_dict()


# ------------------------------------------------------------------------------------------------ Table 1


def _bmd_unit(data: StudyData) -> tuple[str, int, str | None]:
    modalities = Counter(s.modality for s in data.subjects if s.bmd is not None and s.modality)
    if not modalities:
        return "BMD", 2, None
    if len(modalities) > 1:
        return "BMD (mixed QCT and DEXA units)", 2, "BMD mixes QCT (mg/cm³) and DEXA (g/cm²) values."
    modality = next(iter(modalities))
    if modality == "QCT":
        return "QCT BMD, mg/cm³", 1, None
    return "DEXA BMD, g/cm²", 3, None


def _friendly(error: str | None) -> str:
    """The statistics' sentence, in Table 1's words (its columns are the groups and the characteristic)."""
    if not error:
        return "too little data"
    if error.startswith("only one category of b"):
        return "every subject has the same value"
    if error.startswith("only one category of a") or error.startswith("only one group"):
        return "only one group has data"
    return error


def table1(data: StudyData) -> dict:
    """Demographics by WHO group (from the reference T-score) with ANOVA / chi-square p-values."""
    subjects = [s for s in data.subjects if s.group is not None]
    messages: list[str] = []
    present = [g for g in GROUPS if any(s.group == g for s in subjects)]
    if not subjects:
        messages.append("No subject has a reference T-score yet: import the reference data to build Table 1.")
    unknown = sum(1 for s in data.subjects if s.group is None)
    bmd_label, bmd_digits, bmd_note = _bmd_unit(data)
    continuous = [
        ("age", "Age, years", 1),
        ("bmi", "BMI, kg/m²", 1),
        ("t_score", "T-score", 1),
        ("bmd", bmd_label, bmd_digits),
    ]
    categorical = [
        ("sex", "Female sex, n (%)", "F"),
        ("diabetes", "Diabetes, n (%)", True),
        ("hyperlipidemia", "Hyperlipidemia, n (%)", True),
    ]
    by_group = {g: [s for s in subjects if s.group == g] for g in present}
    columns = ["Characteristic", f"All (n = {len(subjects)})"]
    columns += [f"{GROUP_LABELS[g]} (n = {len(by_group[g])})" for g in present]
    columns += ["p", "Test"]
    rows: list[list[str]] = []
    variables: list[dict[str, Any]] = []
    notes = [
        "Values are mean ± SD or n (%); SD with n − 1. WHO groups from the reference T-score: T ≥ −1 normal, "
        "−2.5 < T < −1 osteopenia, T ≤ −2.5 osteoporosis."
    ]
    missing_notes = []
    yates_used = False

    def summary(values: list[float]) -> dict[str, Any]:
        arr = np.array(values, dtype=float)
        return {
            "n": int(arr.size),
            "mean": float(arr.mean()) if arr.size else None,
            "sd": float(arr.std(ddof=1)) if arr.size > 1 else None,
        }

    for key, label, digits in continuous:
        values = [getattr(s, key) for s in subjects]
        if all(v is None for v in values):
            continue
        all_stats = summary([v for v in values if v is not None])
        group_stats = {
            g: summary([getattr(s, key) for s in by_group[g] if getattr(s, key) is not None]) for g in present
        }
        result, error = _attempt(stats.one_way_anova, values, [s.group for s in subjects])
        n_missing = sum(v is None for v in values)
        if n_missing:
            missing_notes.append(f"{label}: {n_missing} missing")
        variables.append(
            {
                "variable": key,
                "label": label,
                "kind": "continuous",
                "all": all_stats,
                "groups": group_stats,
                "test": result.to_dict() if result is not None else {"error": error},
            }
        )
        if result is None:
            missing_notes.append(f"{label}: not tested ({_friendly(error)}).")
        rows.append(
            [label, mean_sd(all_stats["mean"], all_stats["sd"], digits)]
            + [mean_sd(group_stats[g]["mean"], group_stats[g]["sd"], digits) for g in present]
            + [pval(result.p_value) if result else DASH, "ANOVA" if result else DASH]
        )

    for key, label, level in categorical:
        raw = [getattr(s, key) for s in subjects]
        if all(v is None for v in raw):
            continue
        labels = [None if v is None else ("yes" if v is True else "no" if v is False else str(v)) for v in raw]
        wanted = "yes" if level is True else level
        known = [(s.group, lab) for s, lab in zip(subjects, labels, strict=True) if lab is not None]
        counts = {g: sum(1 for grp, lab in known if grp == g and lab == wanted) for g in present}
        totals = {g: sum(1 for grp, _ in known if grp == g) for g in present}
        n_all = len(known)
        k_all = sum(counts.values())
        tab = stats.crosstab([s.group for s in subjects], labels)
        result, error = _attempt(stats.chi_square_test, tab, correct=False)
        fisher = None
        if result is not None:
            yates_used = yates_used or result.correct
            if result.warning:
                note = (
                    f"{label.split(',')[0]}: an expected count is below 5, so the chi-square approximation may be poor"
                )
                if result.observed.shape == (2, 2):
                    fisher, _ = _attempt(stats.fisher_exact_test, result.observed)
                    if fisher is not None:
                        note += f"; Fisher's exact test p = {pval(fisher.p_value)}"
                missing_notes.append(note + ".")
        n_missing = sum(v is None for v in raw)
        if n_missing:
            missing_notes.append(f"{label.split(',')[0]}: {n_missing} missing")
        variables.append(
            {
                "variable": key,
                "label": label,
                "kind": "categorical",
                "level": wanted,
                "all": {"count": k_all, "total": n_all},
                "groups": {g: {"count": counts[g], "total": totals[g]} for g in present},
                "test": result.to_dict() if result is not None else {"error": error},
                "fisher": fisher.to_dict() if fisher is not None else None,
            }
        )
        if result is None:
            missing_notes.append(f"{label.split(',')[0]}: not tested ({_friendly(error)}).")
        rows.append(
            [label, n_pct(k_all, n_all)]
            + [n_pct(counts[g], totals[g]) for g in present]
            + [pval(result.p_value) if result else DASH, "Chi-square" if result else DASH]
        )
    # Journal order: demographics, comorbidities, then the reference measurements that define the groups.
    order = ["age", "sex", "bmi", "diabetes", "hyperlipidemia", "t_score", "bmd"]
    ranked = sorted(zip(variables, rows, strict=True), key=lambda vr: order.index(vr[0]["variable"]))
    variables = [v for v, _ in ranked]
    rows = [r for _, r in ranked]
    if rows:
        rows.insert(0, ["Subjects, n", str(len(subjects))] + [str(len(by_group[g])) for g in present] + ["", ""])
    notes.append(
        "p: one-way ANOVA for continuous variables; Pearson's chi-square test for categorical variables, "
        + ("with Yates' continuity correction." if yates_used else "without Yates' continuity correction.")
    )
    if bmd_note:
        notes.append(bmd_note)
    if unknown:
        notes.append(f"{unknown} subject(s) without a reference T-score are not in the table.")
    notes += missing_notes
    t1 = table(
        "table1",
        "Table 1. Characteristics of the subjects by WHO group",
        columns,
        rows,
        notes=notes,
        numeric=[False] + [True] * (len(columns) - 2) + [False],
        empty="No reference data yet.",
    )
    return _section(
        "table1",
        "Table 1",
        {"n": len(subjects), "groups": present, "variables": variables, "yates": yates_used},
        [t1],
        None,
        messages,
    )


# ------------------------------------------------------------------------------------------------ groups


def groups(data: StudyData) -> dict:
    """Consensus VBQ / SNR / M-score by WHO group: mean ± SD, one-way ANOVA and Tukey HSD."""
    messages: list[str] = []
    subjects = [s for s in data.subjects if s.group is not None]
    measures = _measures(data, m_score=True)
    results: list[dict[str, Any]] = []
    plots: dict[str, Any] = {}
    summary_rows, tukey_rows = [], []
    present = [g for g in GROUPS if any(s.group == g for s in subjects)]
    for measure in measures:
        digits = MEASURE_DIGITS[measure]
        name = MEASURE_LABELS[measure]
        why = _no_values(data, measure)
        if why is not None:
            messages.append(why)
            results.append({"measure": measure, "label": name, "n": 0, "error": why})
            continue
        pairs = [(s.group, getattr(s, measure)) for s in subjects if getattr(s, measure) is not None]
        values = [v for _, v in pairs]
        labels = [g for g, _ in pairs]
        entry: dict[str, Any] = {"measure": measure, "label": name, "n": len(values)}
        plots[f"box-{measure.replace('_', '')}"] = {
            "measure": name,
            "groups": [
                {"group": g, "label": GROUP_LABELS[g], "values": [v for grp, v in pairs if grp == g]} for g in present
            ],
        }
        summaries = {}
        for g in present:
            vs = np.array([v for grp, v in pairs if grp == g], dtype=float)
            summaries[g] = {
                "n": int(vs.size),
                "mean": float(vs.mean()) if vs.size else None,
                "sd": float(vs.std(ddof=1)) if vs.size > 1 else None,
            }
        entry["groups"] = summaries
        anova, error = _attempt(stats.one_way_anova, values, labels)
        tukey, _ = _attempt(stats.tukey_hsd, values, labels) if anova is not None else (None, error)
        if anova is not None:
            entry["anova"] = anova.to_dict()
        else:
            entry["error"] = error
            messages.append(f"{name}: {error}")
        if tukey is not None:
            entry["tukey"] = [c.to_dict() for c in tukey.comparisons]
            for c in tukey.comparisons:
                tukey_rows.append(
                    [
                        name,
                        f"{GROUP_LABELS.get(c.group2, c.group2)} − {GROUP_LABELS.get(c.group1, c.group1)}",
                        num(c.diff, digits + 1),
                        ci(c.conf_low, c.conf_high, digits + 1),
                        pval(c.p_adj),
                    ]
                )
        results.append(entry)
        if not values:
            continue
        cells = []
        for g in present:
            s = summaries[g]
            cells.append(f"{mean_sd(s['mean'], s['sd'], digits)} ({s['n']})" if s["n"] else DASH)
        summary_rows.append(
            [name]
            + cells
            + (
                [
                    f"F({anova.df_between}, {anova.df_within}) = {anova.statistic:.2f}",
                    pval(anova.p_value),
                    num(anova.eta_squared),
                ]
                if anova is not None
                else [DASH, DASH, DASH]
            )
        )
    if not subjects:
        messages.append("No subject has a reference T-score yet, so there are no groups to compare.")
    summary = table(
        "group_summary",
        "Scores by WHO group",
        ["Measure"] + [f"{GROUP_LABELS[g]}, mean ± SD (n)" for g in present] + ["ANOVA", "p", "η²"],
        summary_rows,
        notes=[f"Consensus score per subject: {data.consensus_note}. One-way ANOVA; SD with n − 1."],
        empty="No scored subjects with reference data yet.",
    )
    tukey_table = table(
        "tukey",
        "Tukey HSD (95% family-wise confidence)",
        ["Measure", "Comparison", "Difference", "95% CI", "Adjusted p"],
        tukey_rows,
        notes=["Difference = mean of the first-named group − mean of the second (R's TukeyHSD order)."],
        numeric=[False, False, True, True, True],
        empty="Tukey HSD needs at least two groups with data.",
    )
    return _section(
        "groups",
        "Groups",
        {"consensus": data.consensus_note, "groups": present, "measures": results},
        [summary, tukey_table],
        plots,
        messages,
    )


# ------------------------------------------------------------------------------------------------ ROC

ROC_SCORES = {"vbq": ("VBQ", "higher"), "m_score": ("M-score", "higher")}


def _pct_ci(p: dict[str, Any]) -> str:
    if p["estimate"] is None:
        return DASH
    return f"{100 * p['estimate']:.1f} ({100 * p['conf_low']:.1f} to {100 * p['conf_high']:.1f})"


def _candidates(result: Any) -> list[int]:
    curve = result.curve
    finite = np.flatnonzero(np.isfinite(curve.threshold))
    if finite.size == 0:
        return []
    m, n = result.n_positive, result.n_negative
    score = curve.tp[finite].astype(np.int64) * n + curve.tn[finite].astype(np.int64) * m
    order = np.lexsort((-curve.tp[finite], -score))  # best J first, then higher sensitivity
    chosen = finite[order[:N_CANDIDATES]]
    return sorted(int(i) for i in chosen)


def roc(data: StudyData, outcome: str = "op_vs_normal") -> dict:
    """ROC of the consensus VBQ (and M-score) for one WHO outcome: AUC, DeLong CI, p, Youden cut-off."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
    outcome_label, positive, negative = OUTCOMES[outcome]
    messages: list[str] = []
    subjects = [s for s in data.subjects if outcome_of(s.group, outcome) is not None]
    scores = [key for key in ROC_SCORES if key in _measures(data, m_score=True)]
    entries: list[dict[str, Any]] = []
    auc_rows, youden_rows, tables_extra = [], [], []
    curves = []
    for key in scores:
        label, direction = ROC_SCORES[key]
        entry: dict[str, Any] = {"score": key, "label": label, "direction": direction}
        why = _no_values(data, key)
        if why is not None:
            entries.append(entry | {"error": why})
            messages.append(why)
            continue
        pairs = [(getattr(s, key), outcome_of(s.group, outcome)) for s in subjects if getattr(s, key) is not None]
        result, error = _attempt(
            stats.roc_analysis,
            np.array([v for v, _ in pairs], dtype=float),
            np.array([t for _, t in pairs], dtype=int),
            direction=direction,
            positive=1,
        )
        if result is None:
            entry["error"] = error
            messages.append(f"{label}: {error}")
            entries.append(entry)
            auc_rows.append([label, DASH, DASH, DASH, DASH, DASH, DASH])
            continue
        entry |= result.to_dict()
        cut = result.cutoff
        candidates = _candidates(result)
        curve = result.curve
        entry["candidates"] = [
            {
                "threshold": float(curve.threshold[i]),
                "sensitivity": float(curve.sensitivity[i]),
                "specificity": float(curve.specificity[i]),
                "ppv": float(curve.ppv[i]),
                "npv": float(curve.npv[i]),
                "youden": float(curve.youden[i]),
                "tp": int(curve.tp[i]),
                "fp": int(curve.fp[i]),
                "tn": int(curve.tn[i]),
                "fn": int(curve.fn[i]),
            }
            for i in candidates
        ]
        entries.append(entry)
        auc_rows.append(
            [
                label,
                str(result.n_positive),
                str(result.n_negative),
                num(result.auc),
                ci(result.conf_low, result.conf_high),
                pval(result.p_value),
                pval(result.p_value_delong),
            ]
        )
        c = cut.to_dict()
        youden_rows.append(
            [
                label,
                num(cut.threshold, 3),
                num(cut.youden),
                _pct_ci(c["sensitivity"]),
                _pct_ci(c["specificity"]),
                _pct_ci(c["ppv"]),
                _pct_ci(c["npv"]),
                f"{cut.tp} / {cut.fp} / {cut.tn} / {cut.fn}",
            ]
        )
        if len(cut.tied_thresholds) > 1:
            messages.append(
                f"{label}: thresholds tied for the best Youden index: "
                + ", ".join(num(t, 3) for t in cut.tied_thresholds)
                + " (the one with the highest sensitivity is reported)."
            )
        cand_rows, cand_classes = [], []
        for cand in entry["candidates"]:
            cand_rows.append(
                [
                    num(cand["threshold"], 3),
                    num(100 * cand["sensitivity"], 1),
                    num(100 * cand["specificity"], 1),
                    num(100 * cand["ppv"], 1) if math.isfinite(cand["ppv"]) else DASH,
                    num(100 * cand["npv"], 1) if math.isfinite(cand["npv"]) else DASH,
                    num(cand["youden"]),
                    f"{cand['tp']} / {cand['fp']} / {cand['tn']} / {cand['fn']}",
                ]
            )
            cand_classes.append("recommended" if cand["threshold"] == cut.threshold else "")
        tables_extra.append(
            table(
                f"thresholds_{key}",
                f"Candidate {label} thresholds",
                ["Threshold", "Sensitivity, %", "Specificity, %", "PPV, %", "NPV, %", "Youden J", "TP / FP / TN / FN"],
                cand_rows,
                row_classes=cand_classes,
                notes=[
                    f"The {N_CANDIDATES} thresholds with the highest Youden J, in increasing order; highlighted: the "
                    f"reported cut-off. Positive when {label} ≥ threshold."
                ],
                empty="No thresholds.",
            )
        )
        fpr = (1.0 - curve.specificity)[::-1]
        tpr = curve.sensitivity[::-1]
        curves.append(
            {
                "label": label,
                "auc": result.auc,
                "fpr": fpr.tolist(),
                "tpr": tpr.tolist(),
                "youden": {
                    "fpr": 1.0 - cut.specificity.estimate,
                    "tpr": cut.sensitivity.estimate,
                    "threshold": cut.threshold,
                },
            }
        )
    comparison = None
    compare_rows = []
    if all(e.get("auc") is not None for e in entries) and len(entries) == 2:
        both = [s for s in subjects if s.vbq is not None and s.m_score is not None]
        result, error = _attempt(
            stats.roc_test_delong,
            [s.vbq for s in both],
            [s.m_score for s in both],
            np.array([outcome_of(s.group, outcome) for s in both], dtype=int),
            direction="higher",
            positive=1,
        )
        if result is not None:
            comparison = result.to_dict()
            compare_rows.append(
                [
                    "VBQ vs M-score",
                    f"{result.n_positive} / {result.n_negative}",
                    num(result.auc1),
                    num(result.auc2),
                    num(result.estimate),
                    ci(result.conf_low, result.conf_high),
                    num(result.statistic, 2),
                    pval(result.p_value),
                ]
            )
        else:
            comparison = {"error": error}
            messages.append(f"VBQ vs M-score: {error}")
    if not subjects:
        messages.append(f"No subjects in the outcome “{outcome_label}” yet (reference T-scores are needed).")
    auc_table = table(
        "roc_auc",
        f"ROC: {outcome_label}",
        ["Score", "Positive, n", "Negative, n", "AUC", "95% CI (DeLong)", "p (SE under H0, as SPSS)", "p (DeLong)"],
        auc_rows,
        notes=[
            f"Positive: {' + '.join(positive)}; negative: {' + '.join(negative)}. Higher score = positive. "
            f"Consensus score per subject: {data.consensus_note}.",
            "p (as SPSS): test of AUC = 0.5 with the standard error under the null hypothesis; "
            "p (DeLong): Wald test with DeLong's standard error.",
        ],
        empty="No scores yet.",
    )
    youden_table = table(
        "roc_youden",
        "Youden-optimal threshold",
        [
            "Score",
            "Threshold",
            "Youden J",
            "Sensitivity, % (95% CI)",
            "Specificity, % (95% CI)",
            "PPV, % (95% CI)",
            "NPV, % (95% CI)",
            "TP / FP / TN / FN",
        ],
        youden_rows,
        notes=[
            "Threshold: midpoint between adjacent observed values (as pROC); positive when score ≥ threshold. "
            "Wilson score 95% CIs. PPV and NPV at the sample prevalence."
        ],
        empty="No ROC analysis yet.",
    )
    tables_out = [auc_table, youden_table, *tables_extra]
    if compare_rows:
        tables_out.append(
            table(
                "roc_compare",
                "Paired comparison of AUCs (DeLong)",
                ["Scores", "Positive / negative", "AUC 1", "AUC 2", "Difference", "95% CI", "z", "p"],
                compare_rows,
                notes=["DeLong's test for two correlated ROC curves (subjects with both scores)."],
            )
        )
    return _section(
        f"roc:{outcome}",
        f"ROC — {outcome_label}",
        {"outcome": outcome, "outcome_label": outcome_label, "scores": entries, "comparison": comparison},
        tables_out,
        {f"roc-{outcome}": {"outcome": outcome_label, "curves": curves}},
        messages,
    )


# ------------------------------------------------------------------------------------------------ correlation

REFERENCES = {"bmd": "BMD", "t_score": "T-score", "tbs": "TBS"}


def correlation(data: StudyData) -> dict:
    """VBQ vs BMD and T-score (Pearson, Spearman, regression); SNR and M-score vs BMD, T-score, TBS (Spearman)."""
    messages: list[str] = []
    bmd_label, _, _ = _bmd_unit(data)
    ref_labels = {"bmd": bmd_label, "t_score": "T-score", "tbs": "TBS"}
    plan: list[tuple[str, str, bool]] = []
    if data.study.measure_vbq:
        plan += [("vbq", "bmd", True), ("vbq", "t_score", True)]
    if data.study.measure_snr:
        for score in ("snr", "m_score"):
            plan += [(score, ref, False) for ref in ("bmd", "t_score", "tbs")]
    entries: list[dict[str, Any]] = []
    rows, reg_rows = [], []
    plots: dict[str, Any] = {}
    missing_scores = {score: _no_values(data, score) for score, _, _ in plan}
    missing_refs = {
        ref: f"{REFERENCES[ref]}: no subject has a reference value, so it is left out."
        for _, ref, _ in plan
        if all(getattr(s, ref) is None for s in data.subjects)
    }
    messages += list(dict.fromkeys(m for m in (*missing_scores.values(), *missing_refs.values()) if m))
    for score, ref, parametric in plan:
        if missing_scores[score] or ref in missing_refs:
            entries.append(
                {"score": score, "reference": ref, "n": 0, "error": missing_scores[score] or missing_refs[ref]}
            )
            continue
        pairs = [
            (getattr(s, score), getattr(s, ref))
            for s in data.subjects
            if getattr(s, score) is not None and getattr(s, ref) is not None
        ]
        x = [p[0] for p in pairs]
        y = [p[1] for p in pairs]
        entry: dict[str, Any] = {"score": score, "reference": ref, "n": len(pairs)}
        name = f"{MEASURE_LABELS[score]} vs {REFERENCES[ref]}"
        spear, s_error = _attempt(stats.spearman, x, y)
        entry["spearman"] = spear.to_dict() if spear else {"error": s_error}
        pear = reg = None
        if parametric:
            pear, p_error = _attempt(stats.pearson, x, y)
            entry["pearson"] = pear.to_dict() if pear else {"error": p_error}
            reg, r_error = _attempt(stats.linear_regression, x, y)
            entry["regression"] = reg.to_dict() if reg else {"error": r_error}
            plots[f"scatter-{score}-{ref.replace('_', '')}"] = {
                "xlabel": MEASURE_LABELS[score],
                "ylabel": ref_labels[ref],
                "x": x,
                "y": y,
                "regression": reg.to_dict() if reg else None,
                "pearson": pear.to_dict() if pear else None,
            }
            if reg is not None:
                reg_rows.append(
                    [
                        f"{REFERENCES[ref]} = a + b × {MEASURE_LABELS[score]}",
                        str(reg.n),
                        f"{num(reg.slope)} ({ci(reg.slope_conf_low, reg.slope_conf_high)})",
                        f"{num(reg.intercept)} ({ci(reg.intercept_conf_low, reg.intercept_conf_high)})",
                        num(reg.r_squared),
                        pval(reg.slope_p_value),
                    ]
                )
        if spear is None and pear is None:
            messages.append(f"{name}: {s_error}")
        rows.append(
            [
                MEASURE_LABELS[score],
                ref_labels[ref],
                str(len(pairs)),
                (f"{num(pear.estimate)} ({ci(pear.conf_low, pear.conf_high)})" if pear else DASH),
                pval(pear.p_value) if pear else DASH,
                num(spear.estimate) if spear else DASH,
                pval(spear.p_value) if spear else DASH,
            ]
        )
        entries.append(entry)
    corr_table = table(
        "correlation",
        "Correlation with the reference standard",
        ["Score", "Reference", "n", "Pearson r (95% CI)", "p (Pearson)", "Spearman ρ", "p (Spearman)"],
        rows,
        numeric=[False, False, True, True, True, True, True],
        notes=[
            f"Consensus score per subject: {data.consensus_note}. Pearson: t test, Fisher-z CI. Spearman: exact "
            "p (AS 89) without ties and n ≤ 1290, t approximation otherwise (as R's cor.test). SNR and M-score: "
            "Spearman only, as in small studies."
        ],
        empty="No scores yet.",
    )
    reg_table = table(
        "regression",
        "Linear regression",
        ["Model", "n", "Slope b (95% CI)", "Intercept a (95% CI)", "R²", "p"],
        reg_rows,
        notes=["Ordinary least squares; p of the slope (t test)."],
        empty="Regression needs at least 3 subjects with a VBQ and a reference value.",
    )
    return _section(
        "correlation",
        "Correlation",
        {"consensus": data.consensus_note, "pairs": entries},
        [corr_table, reg_table],
        plots,
        messages,
    )


def compute_section(section: str, data: StudyData) -> dict:
    """Compute one cached section (``roc:<outcome>`` for the ROC)."""
    if section.startswith("roc:"):
        return roc(data, outcome=section.split(":", 1)[1])
    functions: dict[str, Callable[[StudyData], dict]] = {
        "progress": progress,
        "agreement": agreement,
        "table1": table1,
        "groups": groups,
        "correlation": correlation,
    }
    if section not in functions:
        raise ValueError(f"unknown section {section!r}")
    return functions[section](data)
