"""Agreement: intra-rater (per reader, read 1 vs 2 …) and inter-rater (readers' first reads) ICC; Bland–Altman."""

from __future__ import annotations

from typing import Any

from analytics import stats
from analytics.datasets import StudyData
from analytics.sections.common import MEASURE_DIGITS, MEASURE_LABELS, attempt, measures_of, section_result
from analytics.tables import DASH, ci, num, pval, table

__all__ = ["compute"]

KOO_LI = "Koo & Li (2016): < 0.50 poor, 0.50–0.75 moderate, 0.75–0.90 good, > 0.90 excellent."
#: Measures with Bland–Altman plots (the level SIs only get ICCs).
BA_MEASURES = ("vbq", "snr")


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
    return section_result(
        "agreement",
        "Agreement",
        {"icc": entries, "bland_altman": ba_data},
        [summary, forms, _ba_table(ba)],
        _ba_plots(ba),
        messages,
    )


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
    """The readers' first reads: one ICC entry, Bland–Altman of each pair of readers."""
    raters = [(rid, name) for rid, name in data.readers if (rid, 1) in wide]
    label = "Inter-rater, first reads" + (f" ({', '.join(name for _, name in raters)})" if raters else "")
    if len(raters) < 2:
        entries.append(
            _icc_entry(measure, "inter", label, [], None, "at least 2 readers with analysed first reads are needed")
        )
        return
    matrix, codes = data.case_matrix([wide[(rid, 1)] for rid, _ in raters])
    result, error = attempt(stats.icc, matrix, targets=codes, purpose="inter")
    entries.append(_icc_entry(measure, "inter", label, [name for _, name in raters], result, error))
    if measure in BA_MEASURES:
        for i, (rid_a, name_a) in enumerate(raters):
            for rid_b, name_b in raters[i + 1 :]:
                ba.append(
                    _ba_entry(data, measure, f"{name_a} − {name_b} (first reads)", wide[(rid_a, 1)], wide[(rid_b, 1)])
                )


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
    """The recommended form of each comparison, and all six forms."""
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
