"""Table 1: demographics by WHO group (from the reference T-score) with ANOVA / chi-square p-values."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics import stats
from analytics.datasets import GROUP_LABELS, GROUPS, StudyData, SubjectRow
from analytics.sections.common import attempt, bmd_unit, section_result
from analytics.tables import DASH, mean_sd, n_pct, pval, table

__all__ = ["compute"]

#: Journal order: demographics, comorbidities, then the reference measurements that define the groups.
ORDER = ("age", "sex", "bmi", "diabetes", "hyperlipidemia", "t_score", "bmd")


def compute(data: StudyData) -> dict:
    """Demographics by WHO group (from the reference T-score) with ANOVA / chi-square p-values."""
    subjects = [s for s in data.subjects if s.group is not None]
    messages: list[str] = []
    present = [g for g in GROUPS if any(s.group == g for s in subjects)]
    if not subjects:
        messages.append("No subject has a reference T-score yet: import the reference data to build Table 1.")
    unknown = sum(1 for s in data.subjects if s.group is None)
    bmd_label, bmd_digits, bmd_note = bmd_unit(data)
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
    ranked: list[tuple[dict[str, Any], list[str]]] = []
    missing_notes: list[str] = []
    yates_used = False
    for key, label, digits in continuous:
        if all(getattr(s, key) is None for s in subjects):
            continue
        variable, row, notes = _continuous(subjects, by_group, present, key, label, digits)
        ranked.append((variable, row))
        missing_notes += notes
    for key, label, level in categorical:
        if all(getattr(s, key) is None for s in subjects):
            continue
        variable, row, notes, yates = _categorical(subjects, present, key, label, level)
        ranked.append((variable, row))
        missing_notes += notes
        yates_used = yates_used or yates
    ranked.sort(key=lambda vr: ORDER.index(vr[0]["variable"]))
    variables = [v for v, _ in ranked]
    rows = [r for _, r in ranked]
    if rows:
        rows.insert(0, ["Subjects, n", str(len(subjects))] + [str(len(by_group[g])) for g in present] + ["", ""])
    notes = [
        "Values are mean ± SD or n (%); SD with n − 1. WHO groups from the reference T-score: T ≥ −1 normal, "
        "−2.5 < T < −1 osteopenia, T ≤ −2.5 osteoporosis.",
        "p: one-way ANOVA for continuous variables; Pearson's chi-square test for categorical variables, "
        + ("with Yates' continuity correction." if yates_used else "without Yates' continuity correction."),
    ]
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
    return section_result(
        "table1",
        "Table 1",
        {"n": len(subjects), "groups": present, "variables": variables, "yates": yates_used},
        [t1],
        None,
        messages,
    )


def _summary(values: list[float]) -> dict[str, Any]:
    arr = np.array(values, dtype=float)
    return {
        "n": int(arr.size),
        "mean": float(arr.mean()) if arr.size else None,
        "sd": float(arr.std(ddof=1)) if arr.size > 1 else None,
    }


def _friendly(error: str | None) -> str:
    """The statistics' sentence, in Table 1's words (its columns are the groups and the characteristic)."""
    if not error:
        return "too little data"
    if error.startswith("only one category of b"):
        return "every subject has the same value"
    if error.startswith("only one category of a") or error.startswith("only one group"):
        return "only one group has data"
    return error


def _continuous(
    subjects: list[SubjectRow],
    by_group: dict[str, list[SubjectRow]],
    present: list[str],
    key: str,
    label: str,
    digits: int,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Mean ± SD overall and per group, one-way ANOVA: the variable's data, its row and its notes."""
    values = [getattr(s, key) for s in subjects]
    notes = []
    all_stats = _summary([v for v in values if v is not None])
    group_stats = {g: _summary([getattr(s, key) for s in by_group[g] if getattr(s, key) is not None]) for g in present}
    result, error = attempt(stats.one_way_anova, values, [s.group for s in subjects])
    n_missing = sum(v is None for v in values)
    if n_missing:
        notes.append(f"{label}: {n_missing} missing")
    variable = {
        "variable": key,
        "label": label,
        "kind": "continuous",
        "all": all_stats,
        "groups": group_stats,
        "test": result.to_dict() if result is not None else {"error": error},
    }
    if result is None:
        notes.append(f"{label}: not tested ({_friendly(error)}).")
    row = (
        [label, mean_sd(all_stats["mean"], all_stats["sd"], digits)]
        + [mean_sd(group_stats[g]["mean"], group_stats[g]["sd"], digits) for g in present]
        + [pval(result.p_value) if result else DASH, "ANOVA" if result else DASH]
    )
    return variable, row, notes


def _categorical(
    subjects: list[SubjectRow], present: list[str], key: str, label: str, level: Any
) -> tuple[dict[str, Any], list[str], list[str], bool]:
    """n (%) of ``level`` overall and per group, chi-square (Fisher's exact test noted for sparse 2 × 2 tables):
    the variable's data, its row, its notes and whether Yates' correction was used."""
    raw = [getattr(s, key) for s in subjects]
    name = label.split(",")[0]
    notes = []
    labels = [None if v is None else ("yes" if v is True else "no" if v is False else str(v)) for v in raw]
    wanted = "yes" if level is True else level
    known = [(s.group, lab) for s, lab in zip(subjects, labels, strict=True) if lab is not None]
    counts = {g: sum(1 for grp, lab in known if grp == g and lab == wanted) for g in present}
    totals = {g: sum(1 for grp, _ in known if grp == g) for g in present}
    n_all = len(known)
    k_all = sum(counts.values())
    tab = stats.crosstab([s.group for s in subjects], labels)
    result, error = attempt(stats.chi_square_test, tab, correct=False)
    fisher = None
    yates = False
    if result is not None:
        yates = result.correct
        if result.warning:
            note = f"{name}: an expected count is below 5, so the chi-square approximation may be poor"
            if result.observed.shape == (2, 2):
                fisher, _ = attempt(stats.fisher_exact_test, result.observed)
                if fisher is not None:
                    note += f"; Fisher's exact test p = {pval(fisher.p_value)}"
            notes.append(note + ".")
    n_missing = sum(v is None for v in raw)
    if n_missing:
        notes.append(f"{name}: {n_missing} missing")
    variable = {
        "variable": key,
        "label": label,
        "kind": "categorical",
        "level": wanted,
        "all": {"count": k_all, "total": n_all},
        "groups": {g: {"count": counts[g], "total": totals[g]} for g in present},
        "test": result.to_dict() if result is not None else {"error": error},
        "fisher": fisher.to_dict() if fisher is not None else None,
    }
    if result is None:
        notes.append(f"{name}: not tested ({_friendly(error)}).")
    row = (
        [label, n_pct(k_all, n_all)]
        + [n_pct(counts[g], totals[g]) for g in present]
        + [pval(result.p_value) if result else DASH, "Chi-square" if result else DASH]
    )
    return variable, row, notes, yates
