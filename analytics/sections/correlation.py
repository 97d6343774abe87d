"""Correlation: VBQ vs BMD and T-score (Pearson, Spearman, regression); SNR and M-score vs BMD, T-score, TBS."""

from __future__ import annotations

from typing import Any

from analytics import stats
from analytics.datasets import StudyData
from analytics.sections.common import MEASURE_LABELS, attempt, bmd_unit, no_values, section_result
from analytics.tables import DASH, ci, num, pval, table

__all__ = ["compute"]

REFERENCES = {"bmd": "BMD", "t_score": "T-score", "tbs": "TBS"}


def compute(data: StudyData) -> dict:
    """VBQ vs BMD and T-score (Pearson, Spearman, regression); SNR and M-score vs BMD, T-score, TBS (Spearman)."""
    messages: list[str] = []
    bmd_label, _, _ = bmd_unit(data)
    ref_labels = {"bmd": bmd_label, "t_score": "T-score", "tbs": "TBS"}
    plan = _plan(data)
    entries: list[dict[str, Any]] = []
    rows, reg_rows = [], []
    plots: dict[str, Any] = {}
    missing_scores = {score: no_values(data, score) for score, _, _ in plan}
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
        x, y = data.complete_cases(score, ref)
        entry: dict[str, Any] = {"score": score, "reference": ref, "n": len(x)}
        spear, s_error = attempt(stats.spearman, x, y)
        entry["spearman"] = spear.to_dict() if spear else {"error": s_error}
        pear = reg = None
        if parametric:
            pear, p_error = attempt(stats.pearson, x, y)
            entry["pearson"] = pear.to_dict() if pear else {"error": p_error}
            reg, r_error = attempt(stats.linear_regression, x, y)
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
                reg_rows.append(_regression_row(score, ref, reg))
        if spear is None and pear is None:
            messages.append(f"{MEASURE_LABELS[score]} vs {REFERENCES[ref]}: {s_error}")
        rows.append(
            [
                MEASURE_LABELS[score],
                ref_labels[ref],
                str(len(x)),
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
    return section_result(
        "correlation",
        "Correlation",
        {"consensus": data.consensus_note, "pairs": entries},
        [corr_table, reg_table],
        plots,
        messages,
    )


def _plan(data: StudyData) -> list[tuple[str, str, bool]]:
    """(score, reference, parametric) pairs: VBQ with Pearson and regression, SNR and M-score Spearman only."""
    plan: list[tuple[str, str, bool]] = []
    if data.study.measure_vbq:
        plan += [("vbq", "bmd", True), ("vbq", "t_score", True)]
    if data.study.measure_snr:
        for score in ("snr", "m_score"):
            plan += [(score, ref, False) for ref in ("bmd", "t_score", "tbs")]
    return plan


def _regression_row(score: str, ref: str, reg: Any) -> list[str]:
    return [
        f"{REFERENCES[ref]} = a + b × {MEASURE_LABELS[score]}",
        str(reg.n),
        f"{num(reg.slope)} ({ci(reg.slope_conf_low, reg.slope_conf_high)})",
        f"{num(reg.intercept)} ({ci(reg.intercept_conf_low, reg.intercept_conf_high)})",
        num(reg.r_squared),
        pval(reg.slope_p_value),
    ]
