"""Groups: consensus VBQ / SNR / M-score by WHO group — mean ± SD, one-way ANOVA and Tukey HSD."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics import stats
from analytics.datasets import GROUP_LABELS, GROUPS, StudyData
from analytics.sections.common import (
    MEASURE_DIGITS,
    MEASURE_LABELS,
    attempt,
    measures_of,
    no_values,
    section_result,
)
from analytics.tables import DASH, ci, mean_sd, num, pval, table

__all__ = ["compute"]


def compute(data: StudyData) -> dict:
    """Consensus VBQ / SNR / M-score by WHO group: mean ± SD, one-way ANOVA and Tukey HSD."""
    messages: list[str] = []
    subjects = [s for s in data.subjects if s.group is not None]
    present = [g for g in GROUPS if any(s.group == g for s in subjects)]
    results: list[dict[str, Any]] = []
    plots: dict[str, Any] = {}
    summary_rows, tukey_rows = [], []
    for measure in measures_of(data, m_score=True):
        name = MEASURE_LABELS[measure]
        why = no_values(data, measure)
        if why is not None:
            messages.append(why)
            results.append({"measure": measure, "label": name, "n": 0, "error": why})
            continue
        values, labels = data.complete_cases(measure, "group")
        entry, anova, tukey, error = _compare(measure, values, labels, present)
        if error is not None:
            messages.append(f"{name}: {error}")
        if tukey is not None:
            tukey_rows += _tukey_rows(measure, tukey)
        results.append(entry)
        plots[f"box-{measure.replace('_', '')}"] = {
            "measure": name,
            "groups": [
                {
                    "group": g,
                    "label": GROUP_LABELS[g],
                    "values": [v for v, grp in zip(values, labels, strict=True) if grp == g],
                }
                for g in present
            ],
        }
        if values:
            summary_rows.append(_summary_row(measure, entry["groups"], anova, present))
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
    return section_result(
        "groups",
        "Groups",
        {"consensus": data.consensus_note, "groups": present, "measures": results},
        [summary, tukey_table],
        plots,
        messages,
    )


def _compare(
    measure: str, values: list[float], labels: list[str], present: list[str]
) -> tuple[dict[str, Any], Any, Any, str | None]:
    """Per-group summaries, one-way ANOVA and (when the ANOVA runs) Tukey HSD of one measure: its entry, the
    ANOVA and Tukey results (None when they could not be computed) and why not."""
    entry: dict[str, Any] = {"measure": measure, "label": MEASURE_LABELS[measure], "n": len(values)}
    summaries = {}
    for g in present:
        vs = np.array([v for v, grp in zip(values, labels, strict=True) if grp == g], dtype=float)
        summaries[g] = {
            "n": int(vs.size),
            "mean": float(vs.mean()) if vs.size else None,
            "sd": float(vs.std(ddof=1)) if vs.size > 1 else None,
        }
    entry["groups"] = summaries
    anova, error = attempt(stats.one_way_anova, values, labels)
    tukey, _ = attempt(stats.tukey_hsd, values, labels) if anova is not None else (None, error)
    if anova is not None:
        entry["anova"] = anova.to_dict()
    else:
        entry["error"] = error
    if tukey is not None:
        entry["tukey"] = [c.to_dict() for c in tukey.comparisons]
    return entry, anova, tukey, error if anova is None else None


def _tukey_rows(measure: str, tukey: Any) -> list[list[str]]:
    digits = MEASURE_DIGITS[measure]
    return [
        [
            MEASURE_LABELS[measure],
            f"{GROUP_LABELS.get(c.group2, c.group2)} − {GROUP_LABELS.get(c.group1, c.group1)}",
            num(c.diff, digits + 1),
            ci(c.conf_low, c.conf_high, digits + 1),
            pval(c.p_adj),
        ]
        for c in tukey.comparisons
    ]


def _summary_row(measure: str, summaries: dict[str, dict[str, Any]], anova: Any, present: list[str]) -> list[str]:
    digits = MEASURE_DIGITS[measure]
    cells = []
    for g in present:
        s = summaries[g]
        cells.append(f"{mean_sd(s['mean'], s['sd'], digits)} ({s['n']})" if s["n"] else DASH)
    test = (
        [
            f"F({anova.df_between}, {anova.df_within}) = {anova.statistic:.2f}",
            pval(anova.p_value),
            num(anova.eta_squared),
        ]
        if anova is not None
        else [DASH, DASH, DASH]
    )
    return [MEASURE_LABELS[measure], *cells, *test]
