"""Agreement: intra-rater (per reader, read 1 vs 2 …) and inter-rater (readers' first reads) ICC; Bland–Altman."""

from __future__ import annotations

from collections import Counter
from typing import Any

from analytics import stats
from analytics.datasets import StudyData
from analytics.sections.common import MEASURE_DIGITS, MEASURE_LABELS, attempt, measures_of, section_result
from analytics.tables import DASH, ci, num, pval, table

__all__ = ["compute"]

KOO_LI = "Koo & Li (2016): < 0.50 poor, 0.50–0.75 moderate, 0.75–0.90 good, > 0.90 excellent."
#: Measures with Bland–Altman plots (the level SIs only get ICCs).
BA_MEASURES = ("vbq", "snr")
#: Measures whose incomplete inter-rater rows also get the mixed-model ICC (a REML fit takes ~0.1 s at 61 cases
#: but ~12 s at 1,000; the level SIs keep the complete-case ICC with the cases left out stated).
LMM_MEASURES = ("vbq", "snr")


def compute(data: StudyData) -> dict:
    """Intra-rater (per reader, read 1 vs 2 …) and inter-rater (readers' first reads) ICC; Bland–Altman."""
    messages: list[str] = []
    entries: list[dict[str, Any]] = []
    ba: list[dict[str, Any]] = []
    repeats = max(data.read_numbers, default=0) >= 2
    if not repeats:
        messages.append(
            "Intra-rater agreement needs a second read of the same cases (the reading plan has one read per reader)."
        )
    for measure in measures_of(data, levels=True):
        wide = data.wide(measure)
        if repeats:
            _intra_rater(data, measure, wide, entries, ba)
        _inter_rater(data, measure, wide, entries, ba)
    if not data.analysed_reads:
        messages.append(
            "No analysed reads yet: agreement between readers appears once they have submitted scored reads."
        )
    summary, forms = _icc_tables(entries)
    ba_data = [{k: v for k, v in b.items() if k not in ("means", "differences")} for b in ba]
    drift, drift_table, drift_plots = _drift(data, messages)
    return section_result(
        "agreement",
        "Agreement",
        {"icc": entries, "bland_altman": ba_data, "drift": drift},
        [summary, forms, _ba_table(ba), drift_table],
        _ba_plots(ba) | drift_plots,
        messages,
    )


# ------------------------------------------------------------------------------------------------ reader drift

#: Significance level of the drift flag.
DRIFT_ALPHA = 0.05
DRIFT_LABELS = {"roi_sd": "ROI SD (mean of L1–L4)"}


def _drift(data: StudyData, messages: list[str]) -> tuple[list[dict], dict, dict]:
    """Each reader's read: score (and ROI SD) against position in the worklist — OLS slope, 95% CI, p, flag."""
    measures = [m for m in ("vbq", "snr") if m in measures_of(data)] + ["roi_sd"]
    entries: list[dict[str, Any]] = []
    rows, classes = [], []
    plots: dict[str, Any] = {
        f"drift-{m.replace('_', '')}": {"measure": _drift_label(m), "panels": []} for m in measures
    }
    for reader_id, reader in data.readers:
        for number in data.read_numbers:
            reads = list(data.reads_of(reader_id=reader_id, read_number=number))
            for measure in measures:
                points = [(r.order_index, r.value(measure)) for r in reads if r.value(measure) is not None]
                entry: dict[str, Any] = {"reader": reader, "read": number, "measure": measure, "n": len(points)}
                if not points:
                    continue
                x = [float(p[0]) for p in points]
                y = [float(p[1]) for p in points]
                result, error = attempt(stats.linear_regression, x, y)
                label = _drift_label(measure)
                if result is None:
                    entry["error"] = error
                    rows.append([reader, str(number), label, str(len(points)), DASH, DASH, DASH, "", error])
                    classes.append("unavailable")
                    entries.append(entry)
                    continue
                flagged = result.slope_p_value < DRIFT_ALPHA
                entry |= {
                    "slope": result.slope,
                    "conf_low": result.slope_conf_low,
                    "conf_high": result.slope_conf_high,
                    "p_value": result.slope_p_value,
                    "intercept": result.intercept,
                    "flag": flagged,
                }
                entries.append(entry)
                digits = MEASURE_DIGITS.get(measure, 1) + 2
                rows.append(
                    [
                        reader,
                        str(number),
                        label,
                        str(result.n),
                        num(result.slope, digits),
                        ci(result.slope_conf_low, result.slope_conf_high, digits),
                        pval(result.slope_p_value),
                        "drift" if flagged else "",
                        "",
                    ]
                )
                classes.append("flagged" if flagged else "")
                if flagged:
                    messages.append(
                        f"Reader drift: {reader}, read {number}: {label} changes by {num(result.slope, digits)} per "
                        f"case along the worklist (95% CI {ci(result.slope_conf_low, result.slope_conf_high, digits)}, "
                        f"p = {pval(result.slope_p_value)})."
                    )
                plots[f"drift-{measure.replace('_', '')}"]["panels"].append(
                    {
                        "title": f"{reader}, read {number}" + (" (drift)" if flagged else ""),
                        "x": x,
                        "y": y,
                        "slope": result.slope,
                        "intercept": result.intercept,
                    }
                )
    drift_table = table(
        "reader_drift",
        "Reader drift along the worklist",
        ["Reader", "Read", "Measure", "n", "Slope per case", "95% CI", "p", "Flag", "Note"],
        rows,
        row_classes=classes,
        notes=[
            "Ordinary least squares of each read's value on the case's position in that reader's randomised "
            "worklist (0 = first; as R lm(value ~ position)); slope per case with its t-based 95% CI. "
            f"Flag: p < {DRIFT_ALPHA:g} (a reader whose measurements trend over the session: fatigue, learning, "
            "or a changed habit). ROI SD: mean pixel SD of the read's L1–L4 ROIs."
        ],
        numeric=[False, True, False, True, True, True, True, False, False],
        empty="No analysed reads yet.",
    )
    return entries, drift_table, plots


def _drift_label(measure: str) -> str:
    return DRIFT_LABELS.get(measure) or MEASURE_LABELS[measure]


# ------------------------------------------------------------------------------------------------ ICC, Bland–Altman


def _intra_rater(
    data: StudyData, measure: str, wide: dict[tuple[int, int], dict[int, float]], entries: list, ba: list
) -> None:
    """Each reader's reads of the same cases: an ICC entry per reader, Bland–Altman of read 1 − read 2."""
    for reader_id, reader in data.readers:
        numbers = sorted(n for (rid, n) in wide if rid == reader_id)
        label = f"Intra-rater, {reader} (reads {', '.join(map(str, numbers or [1, 2]))})"
        if len(numbers) < 2:
            entries.append(_icc_entry(measure, "intra", label, [], None, f"{reader} has no analysed repeat reads yet"))
            continue
        matrix, codes = data.case_matrix([wide[(reader_id, n)] for n in numbers])
        result, error = attempt(stats.icc, matrix, targets=codes, purpose="intra")
        entries.append(_icc_entry(measure, "intra", label, [f"read {n}" for n in numbers], result, error))
        if measure in BA_MEASURES and 1 in numbers and 2 in numbers:
            ba.append(
                _ba_entry(data, measure, f"{reader}: read 1 − read 2", wide[(reader_id, 1)], wide[(reader_id, 2)])
            )


def _inter_rater(
    data: StudyData, measure: str, wide: dict[tuple[int, int], dict[int, float]], entries: list, ba: list
) -> None:
    """The readers' first reads: the chosen reader set (default every reader), then every pair of readers.

    Each entry states its n and the cases left out and why. When not every reader of the set rated every case,
    the mixed-model ICC from all available ratings (lme4-equivalent REML) is given beside the complete-case one
    and is the primary estimate.
    """
    with_reads = [(rid, name) for rid, name in data.readers if (rid, 1) in wide]
    chosen = set(data.agreement_reader_ids)
    if chosen:
        raters = [(rid, name) for rid, name in with_reads if rid in chosen]
        label = "Inter-rater, first reads, chosen readers"
    else:
        raters = with_reads
        label = "Inter-rater, first reads, all readers"
    label += f" ({', '.join(name for _, name in raters)})" if raters else ""
    if len(raters) < 2:
        names = ", ".join(name for _, name in raters) or "none"
        error = (
            "at least 2 readers with analysed first reads are needed for an inter-rater ICC "
            f"(readers in the set with first reads: {names})"
        )
        entries.append(_icc_entry(measure, "inter", label, [name for _, name in raters], None, error))
    else:
        entries.append(_inter_entry(data, measure, wide, "inter", label, raters))
    # Every pair too (a pair that is the whole set would repeat the set's row).
    if len(with_reads) >= 2 and not (len(with_reads) == 2 and raters == with_reads):
        for i, (rid_a, name_a) in enumerate(with_reads):
            for rid_b, name_b in with_reads[i + 1 :]:
                pair = [(rid_a, name_a), (rid_b, name_b)]
                entries.append(
                    _inter_entry(
                        data, measure, wide, "inter_pair", f"Inter-rater pair, first reads ({name_a}, {name_b})", pair
                    )
                )
    if measure in BA_MEASURES:
        for i, (rid_a, name_a) in enumerate(with_reads):
            for rid_b, name_b in with_reads[i + 1 :]:
                ba.append(
                    _ba_entry(data, measure, f"{name_a} − {name_b} (first reads)", wide[(rid_a, 1)], wide[(rid_b, 1)])
                )


def _inter_entry(
    data: StudyData,
    measure: str,
    wide: dict[tuple[int, int], dict[int, float]],
    comparison: str,
    label: str,
    raters: list[tuple[int, str]],
) -> dict[str, Any]:
    """One inter-rater ICC: complete-case ANOVA forms, the cases left out and why, the mixed model if incomplete."""
    columns = [wide[(rid, 1)] for rid, _ in raters]
    matrix, codes = data.case_matrix(columns)
    result, error = attempt(stats.icc, matrix, targets=codes, purpose="inter")
    entry = _icc_entry(measure, comparison, label, [name for _, name in raters], result, error)
    left_out = _left_out(data, measure, raters, columns)
    entry["n_cases_any"] = len(codes)
    entry["left_out"] = left_out
    if left_out and measure in LMM_MEASURES:
        code_of = data.subject_codes()
        subject, rater, score = [], [], []
        for (_, name), col in zip(raters, columns, strict=True):
            for cid, value in col.items():
                subject.append(code_of.get(cid, str(cid)))
                rater.append(name)
                score.append(value)
        lmm, lmm_error = attempt(stats.icc_lmm, subject, rater, score)
        entry["lmm"] = {"error": lmm_error} if lmm_error is not None else lmm.to_dict()
        entry["primary"] = "lmm" if lmm_error is None else "anova"
    else:
        entry["primary"] = "anova"
    return entry


def _left_out(
    data: StudyData, measure: str, raters: list[tuple[int, str]], columns: list[dict[int, float]]
) -> list[str]:
    """Why cases with some rating lack another reader's: not (yet) read, or read without a value (and why)."""
    cases = set().union(*columns)
    first_reads = {(r.reader_id, r.case_id): r for r in data.reads_of(read_number=1)}
    out = []
    for (rid, name), column in zip(raters, columns, strict=True):
        missing = [cid for cid in cases if cid not in column]
        unread = [cid for cid in missing if (rid, cid) not in first_reads]
        if unread:
            out.append(f"{len(unread)} without a first read of {name}")
        no_value = [first_reads[(rid, cid)] for cid in missing if (rid, cid) in first_reads]
        if no_value:
            reasons = Counter(getattr(r, f"{measure}_reason", "") for r in no_value if hasattr(r, f"{measure}_reason"))
            reason = next((text for text, _ in reasons.most_common() if text), "")
            what = MEASURE_LABELS[measure]
            out.append(f"{len(no_value)} read by {name} without a {what}" + (f" ({reason})" if reason else ""))
    return out


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


def _ba_entry(data: StudyData, measure: str, label: str, a: dict[int, float], b: dict[int, float]) -> dict:
    entry: dict[str, Any] = {"measure": measure, "label": label}
    result, error = attempt(stats.bland_altman, *data.paired(a, b))
    if error is not None:
        entry["error"] = error
        return entry
    return entry | result.to_dict()


def _ba_plots(ba: list[dict[str, Any]]) -> dict[str, Any]:
    plots: dict[str, Any] = {}
    for measure in BA_MEASURES:
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
    return plots


# ------------------------------------------------------------------------------------------------ tables


def _icc_tables(entries: list[dict[str, Any]]) -> tuple[dict, dict]:
    """The recommended form of each comparison (and the mixed-model ICC beside it), and all six forms."""
    summary_rows, summary_classes, form_rows, form_classes = [], [], [], []
    for e in entries:
        name = MEASURE_LABELS[e["measure"]]
        if "error" in e:
            summary_rows.append([name, e["label"], DASH, DASH, DASH, DASH, DASH, DASH, DASH, e["error"]])
            summary_classes.append("unavailable")
            continue
        rec = e["forms"][e["recommended"]]
        left_out = "; ".join(e.get("left_out") or []) or (
            f"{e['n_dropped']} without a value from every {'read' if e['comparison'] == 'intra' else 'reader'}"
            if e["n_dropped"]
            else ""
        )
        lmm = e.get("lmm")
        primary = e.get("primary", "anova")
        summary_rows.append(
            [
                name,
                e["label"],
                "complete cases, ANOVA" + (" (primary)" if lmm and primary == "anova" else ""),
                str(e["n_targets"]),
                str(e["n_raters"]),
                str(e["n_targets"] * e["n_raters"]),
                num(rec["estimate"]),
                ci(rec["conf_low"], rec["conf_high"]),
                f"{rec['interpretation']} (CI: {rec['ci_interpretation']})",
                left_out,
            ]
        )
        summary_classes.append("recommended" if lmm and primary == "anova" else "")
        if lmm is not None:
            if "error" in lmm:
                summary_rows.append(
                    [
                        name,
                        e["label"],
                        "all ratings, mixed model (REML)",
                        DASH,
                        DASH,
                        DASH,
                        DASH,
                        DASH,
                        DASH,
                        lmm["error"],
                    ]
                )
                summary_classes.append("unavailable")
            else:
                summary_rows.append(
                    [
                        name,
                        e["label"],
                        "all ratings, mixed model (REML)" + (" (primary)" if primary == "lmm" else ""),
                        str(lmm["n_subjects"]),
                        str(lmm["n_raters"]),
                        str(lmm["n_ratings"]),
                        num(lmm["icc_agreement"]),
                        DASH,
                        stats.koo_li_interpretation(lmm["icc_agreement"]),
                        "none",
                    ]
                )
                summary_classes.append("recommended" if primary == "lmm" else "")
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
        "Complete cases, ANOVA: only the cases with a value from every reader (or read) of the row (psych::ICC, "
        "lmer = FALSE); the cases left out, and why, are in the last column. When some are left out, the ICC(A,1) "
        "of a two-way random-effects linear mixed model fitted by REML to all available ratings (lme4's "
        "lmer(score ~ 1 + (1 | case) + (1 | reader)), as psych::ICC(lmer = TRUE)) is given beside it and is the "
        "primary estimate (var_case / (var_case + var_reader + var_residual)); it has no F-based CI. The mixed "
        "model is fitted for VBQ and SNR; the level SIs keep the complete-case ICC.",
        "Inter-rater rows: the readers the PI chose (default every reader), then every pair of readers.",
    ]
    summary = table(
        "icc_summary",
        "Reliability (recommended ICC form)",
        [
            "Measure",
            "Comparison",
            "Estimate",
            "Cases",
            "Raters",
            "Ratings",
            "ICC(A,1)",
            "95% CI",
            "Koo & Li",
            "Cases left out",
        ],
        summary_rows,
        row_classes=summary_classes,
        notes=rec_notes,
        numeric=[False, False, False, True, True, True, True, True, False, False],
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
    return summary, forms


def _ba_table(ba: list[dict[str, Any]]) -> dict:
    rows = []
    for b in ba:
        name = MEASURE_LABELS[b["measure"]]
        if "error" in b:
            rows.append([name, b["label"], DASH, DASH, DASH, DASH, DASH, b["error"]])
            continue
        d = MEASURE_DIGITS[b["measure"]] + 1
        rows.append(
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
    return table(
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
        rows,
        notes=["Limits of agreement: bias ± 1.96 SD of the differences; CIs of the limits as Bland & Altman (1999)."],
        numeric=[False, False, True, True, True, True, True, True],
        empty="Bland–Altman needs two reads of the same cases.",
    )
