"""ROC: the consensus VBQ (and M-score) for one WHO outcome — AUC, DeLong CI, p, Youden cut-off, thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analytics import stats
from analytics.datasets import OUTCOMES, StudyData
from analytics.sections.common import attempt, measures_of, no_values, section_result
from analytics.tables import DASH, ci, num, pval, table

__all__ = ["compute"]

#: Scores with a ROC analysis: key -> (label, direction).
ROC_SCORES = {"vbq": ("VBQ", "higher"), "m_score": ("M-score", "higher")}
N_CANDIDATES = 15
#: The Youden cut-off's bootstrap CI: resamples and seed (reported with the interval; same defaults as
#: ``manage.py stats roc-cutoff-ci``).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 16


def compute(data: StudyData, outcome: str = "op_vs_normal") -> dict:
    """ROC of the consensus VBQ (and M-score) for one WHO outcome: AUC, DeLong CI, p, Youden cut-off."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
    outcome_label, positive, negative = OUTCOMES[outcome]
    messages: list[str] = []
    entries: list[dict[str, Any]] = []
    auc_rows, youden_rows, threshold_tables, curves = [], [], [], []
    scores = [key for key in ROC_SCORES if key in measures_of(data, m_score=True)]
    for key in scores:
        label, direction = ROC_SCORES[key]
        entry: dict[str, Any] = {"score": key, "label": label, "direction": direction}
        why = no_values(data, key)
        if why is not None:
            entries.append(entry | {"error": why})
            messages.append(why)
            continue
        (values,), truth = data.outcome_cases(outcome, key)
        result, error = attempt(
            stats.roc_analysis,
            np.array(values, dtype=float),
            np.array(truth, dtype=int),
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
        entry["candidates"] = _candidates(result)
        boot, boot_error = attempt(
            stats.youden_cutoff_ci,
            np.array(values, dtype=float),
            np.array(truth, dtype=int),
            direction=direction,
            positive=1,
            resamples=BOOTSTRAP_RESAMPLES,
            seed=BOOTSTRAP_SEED,
        )
        entry["cutoff_ci"] = boot.to_dict() if boot is not None else {"error": boot_error}
        if boot is None:
            messages.append(f"{label}: no CI for the cut-off: {boot_error}")
        entries.append(entry)
        auc_rows.append(_auc_row(label, result))
        youden_rows.append(_youden_row(label, result.cutoff, boot))
        if len(result.cutoff.tied_thresholds) > 1:
            messages.append(
                f"{label}: thresholds tied for the best Youden index: "
                + ", ".join(num(t, 3) for t in result.cutoff.tied_thresholds)
                + " (the one with the highest sensitivity is reported)."
            )
        threshold_tables.append(_thresholds_table(key, label, entry["candidates"], result.cutoff.threshold))
        curves.append(_curve(label, result))
    comparison = None
    compare_rows = []
    if all(e.get("auc") is not None for e in entries) and len(entries) == 2:
        comparison, compare_row, error = _compare(data, outcome)
        if compare_row is not None:
            compare_rows.append(compare_row)
        else:
            messages.append(f"VBQ vs M-score: {error}")
    _, in_outcome = data.outcome_cases(outcome)
    if not in_outcome:
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
            "Threshold 95% CI (bootstrap)",
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
            "Wilson score 95% CIs. PPV and NPV at the sample prevalence.",
            f"Threshold 95% CI: stratified bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples of the positives and the "
            f"negatives separately, seed {BOOTSTRAP_SEED}), percentile interval of each resample's Youden-optimal "
            'threshold, as pROC\'s ci.coords(x = "best", boot.stratified = TRUE); needs at least '
            f"{stats.MIN_BOOTSTRAP_GROUP} positives and {stats.MIN_BOOTSTRAP_GROUP} negatives.",
        ],
        empty="No ROC analysis yet.",
    )
    tables_out = [auc_table, youden_table, *threshold_tables]
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
    return section_result(
        f"roc:{outcome}",
        f"ROC — {outcome_label}",
        {"outcome": outcome, "outcome_label": outcome_label, "scores": entries, "comparison": comparison},
        tables_out,
        {f"roc-{outcome}": {"outcome": outcome_label, "curves": curves}},
        messages,
    )


# ------------------------------------------------------------------------------------------------ one score


def _candidates(result: Any) -> list[dict[str, Any]]:
    """The :data:`N_CANDIDATES` thresholds with the best Youden J (then higher sensitivity), in increasing order."""
    curve = result.curve
    finite = np.flatnonzero(np.isfinite(curve.threshold))
    if finite.size == 0:
        return []
    m, n = result.n_positive, result.n_negative
    score = curve.tp[finite].astype(np.int64) * n + curve.tn[finite].astype(np.int64) * m
    order = np.lexsort((-curve.tp[finite], -score))  # best J first, then higher sensitivity
    chosen = sorted(int(i) for i in finite[order[:N_CANDIDATES]])
    return [
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
        for i in chosen
    ]


def _pct_ci(p: dict[str, Any]) -> str:
    if p["estimate"] is None:
        return DASH
    return f"{100 * p['estimate']:.1f} ({100 * p['conf_low']:.1f} to {100 * p['conf_high']:.1f})"


def _auc_row(label: str, result: Any) -> list[str]:
    return [
        label,
        str(result.n_positive),
        str(result.n_negative),
        num(result.auc),
        ci(result.conf_low, result.conf_high),
        pval(result.p_value),
        pval(result.p_value_delong),
    ]


def _youden_row(label: str, cut: Any, boot: Any) -> list[str]:
    c = cut.to_dict()
    return [
        label,
        num(cut.threshold, 3),
        ci(boot.conf_low, boot.conf_high) if boot is not None else DASH,
        num(cut.youden),
        _pct_ci(c["sensitivity"]),
        _pct_ci(c["specificity"]),
        _pct_ci(c["ppv"]),
        _pct_ci(c["npv"]),
        f"{cut.tp} / {cut.fp} / {cut.tn} / {cut.fn}",
    ]


def _thresholds_table(key: str, label: str, candidates: list[dict[str, Any]], cutoff: float) -> dict:
    rows, classes = [], []
    for cand in candidates:
        rows.append(
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
        classes.append("recommended" if cand["threshold"] == cutoff else "")
    return table(
        f"thresholds_{key}",
        f"Candidate {label} thresholds",
        ["Threshold", "Sensitivity, %", "Specificity, %", "PPV, %", "NPV, %", "Youden J", "TP / FP / TN / FN"],
        rows,
        row_classes=classes,
        notes=[
            f"The {N_CANDIDATES} thresholds with the highest Youden J, in increasing order; highlighted: the "
            f"reported cut-off. Positive when {label} ≥ threshold."
        ],
        empty="No thresholds.",
    )


def _curve(label: str, result: Any) -> dict[str, Any]:
    """The plotted ROC curve (false-positive rate increasing) with its Youden point."""
    curve, cut = result.curve, result.cutoff
    fpr = (1.0 - curve.specificity)[::-1]
    tpr = curve.sensitivity[::-1]
    return {
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


# ------------------------------------------------------------------------------------------------ VBQ vs M-score


def _compare(data: StudyData, outcome: str) -> tuple[dict[str, Any], list[str] | None, str | None]:
    """DeLong's test of the VBQ's and the M-score's AUCs on the subjects with both: the comparison's data, its
    table row (None when it could not be computed) and why not."""
    (vbq, m_score), truth = data.outcome_cases(outcome, "vbq", "m_score")
    result, error = attempt(
        stats.roc_test_delong,
        vbq,
        m_score,
        np.array(truth, dtype=int),
        direction="higher",
        positive=1,
    )
    if result is None:
        return {"error": error}, None, error
    row = [
        "VBQ vs M-score",
        f"{result.n_positive} / {result.n_negative}",
        num(result.auc1),
        num(result.auc2),
        num(result.estimate),
        ci(result.conf_low, result.conf_high),
        num(result.statistic, 2),
        pval(result.p_value),
    ]
    return result.to_dict(), row, None
