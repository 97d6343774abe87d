"""Every number of a study's dashboard equals ``manage.py stats`` run on the study's exported CSVs.

Shared by the dashboard tests (the synthetic study of ``analytics.synthetic``, the demo built from phantoms).
Each ``check_*`` reads one cached section (``AnalysisCache``), exports nothing itself, runs
``analytics.stats_cli`` — the engine of ``python manage.py stats`` — on the CSV files of
:func:`export_csvs`, filtered the way a statistician would (rows of one reader, first reads), and asserts that
the two agree to ``1e-9`` relative (ICC: ``1e-8``). Group means and SDs, which the CLI does not print, are
checked against the CSV columns directly. Each returns what it checked, for the caller's own assertions.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from analytics import stats_cli
from analytics.models import AnalysisCache
from analytics.sections import exports as export

GROUPS = ("normal", "osteopenia", "osteoporosis")


def close(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=1e-12)


def section(study, name: str) -> dict:
    """The cached result of one dashboard section."""
    return AnalysisCache.objects.get(study=study, section=name).result


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def subset(tmp_path: Path, source: Path, name: str, keep) -> Path:
    """The rows of ``source`` for which ``keep(row)`` holds, as a new CSV file."""
    kept = rows(source)
    out = tmp_path / name
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(r for r in kept if keep(r))
    return out


def export_csvs(study, tmp_path: Path) -> dict[str, Path]:
    """subjects.csv and scores.csv of the study (as the Exports page serves them) and the folder they are in."""
    return {
        "subjects": write(tmp_path, "subjects.csv", export.subjects_csv(study)),
        "scores": write(tmp_path, "scores.csv", export.scores_csv(study)),
        "tmp": tmp_path,
    }


def assert_group_summaries(summaries: dict[str, dict], subjects_csv: Path, column: str) -> None:
    """n, mean and SD (n − 1) per WHO group equal those of the column in subjects.csv."""
    table = [r for r in rows(subjects_csv) if r["who_group"] and r[column] != ""]
    for group, summary in summaries.items():
        values = np.array([float(r[column]) for r in table if r["who_group"] == group])
        assert summary["n"] == values.size, (column, group)
        assert close(summary["mean"], float(values.mean()) if values.size else None), (column, group)
        assert close(summary["sd"], float(values.std(ddof=1)) if values.size > 1 else None), (column, group)


def check_table1(study, exported: dict[str, Path]) -> dict[str, dict]:
    """Table 1: ANOVA (continuous) and chi-square (categorical) as ``stats anova`` / ``stats chisq``."""
    subjects = exported["subjects"]
    variables = {v["variable"]: v for v in section(study, "table1")["data"]["variables"]}
    for key, entry in variables.items():
        if entry["kind"] == "continuous":
            cli = stats_cli.run("anova", subjects, value=key, group="who_group")
            assert close(entry["test"]["statistic"], cli["F"]), key
            assert close(entry["test"]["p_value"], cli["p_value"]), key
            assert (entry["test"]["df_between"], entry["test"]["df_within"]) == (cli["df_between"], cli["df_within"])
            assert_group_summaries(entry["groups"], subjects, key)
        else:
            cli = stats_cli.run("chisq", subjects, a="who_group", b=key)
            assert close(entry["test"]["statistic"], cli["statistic"]), key
            assert close(entry["test"]["p_value"], cli["p_value"]), key
            assert entry["test"]["correct"] is False
    return variables


def check_groups(study, exported: dict[str, Path]) -> dict[str, dict]:
    """Scores by WHO group: one-way ANOVA and Tukey HSD of each consensus score as ``stats anova``."""
    subjects = exported["subjects"]
    measures = {m["measure"]: m for m in section(study, "groups")["data"]["measures"]}
    for measure, entry in measures.items():
        if "anova" not in entry:
            continue
        cli = stats_cli.run("anova", subjects, value=f"{measure}_consensus", group="who_group")
        anova = entry["anova"]
        assert close(anova["statistic"], cli["F"]), measure
        assert (anova["df_between"], anova["df_within"]) == (cli["df_between"], cli["df_within"])
        assert close(anova["p_value"], cli["p_value"]), measure
        assert close(anova["eta_squared"], cli["eta_squared"]), measure
        assert len(entry["tukey"]) == len(cli["tukey"])
        for mine, theirs in zip(entry["tukey"], cli["tukey"], strict=True):
            assert (mine["group1"], mine["group2"]) == (theirs["group1"], theirs["group2"])
            for key in ("diff", "conf_low", "conf_high", "p_adj"):
                assert close(mine[key], theirs[key]), (measure, key)
        assert_group_summaries(entry["groups"], subjects, f"{measure}_consensus")
    return measures


def check_roc(study, exported: dict[str, Path], outcome: str) -> dict[str, dict]:
    """ROC of each score: AUC, DeLong CI and p-values, Youden cut-off with sensitivity, specificity, PPV, NPV."""
    scores = {s["score"]: s for s in section(study, f"roc:{outcome}")["data"]["scores"]}
    for score, entry in scores.items():
        if "auc" not in entry:
            continue
        cli = stats_cli.run(
            "roc", exported["subjects"], score=f"{score}_consensus", truth=f"outcome_{outcome}", direction="higher"
        )
        for key in ("auc", "conf_low", "conf_high", "p_value", "p_value_delong"):
            assert close(entry[key], cli[key]), (score, key)
        cut = entry["cutoff"]
        assert close(cut["threshold"], cli["threshold"]), score
        assert close(cut["youden"], cli["youden"]), score
        for key in ("sensitivity", "specificity", "ppv", "npv"):
            assert close(cut[key]["estimate"], cli[key]), (score, key)
        boot = entry["cutoff_ci"]
        if "error" not in boot:
            # The bootstrap CI, same seed and resamples: `stats roc-cutoff-ci` gives the same interval.
            cli_ci = stats_cli.run(
                "roc-cutoff-ci",
                exported["subjects"],
                score=f"{score}_consensus",
                truth=f"outcome_{outcome}",
                positive="1",
                direction="higher",
                resamples=boot["resamples"],
                seed=boot["seed"],
            )
            for key in ("threshold", "conf_low", "conf_high", "sensitivity", "specificity"):
                assert close(boot[key], cli_ci[key]), (score, key)
    return scores


def check_correlation(study, exported: dict[str, Path]) -> dict[tuple[str, str], dict]:
    """Pearson, Spearman and the linear regression of each score–reference pair as ``stats pearson`` …"""
    subjects = exported["subjects"]
    pairs = {(p["score"], p["reference"]): p for p in section(study, "correlation")["data"]["pairs"]}
    keys = {
        "pearson": ("estimate", "p_value", "conf_low", "conf_high"),
        "spearman": ("estimate", "p_value"),
        "regression": ("slope", "intercept", "slope_se", "intercept_se", "r_squared", "p_value"),
    }
    for (score, ref), entry in pairs.items():
        for method, compared in keys.items():
            if method not in entry or "error" in entry[method]:
                continue
            cli = stats_cli.run(method, subjects, x=f"{score}_consensus", y=ref)
            for key in compared:
                assert close(entry[method][key], cli[key]), (score, ref, method, key)
    return pairs


def check_agreement(study, exported: dict[str, Path]) -> list[dict]:
    """Every ICC (all six forms, F test, CI) and the VBQ Bland–Altman limits as ``stats icc`` / ``bland-altman``.

    Intra-rater: the scores.csv rows of one reader (rater = read); inter-rater: the first reads (rater =
    reader). Returns the ICC entries compared.
    """
    result = section(study, "agreement")
    tmp, scores, subjects = exported["tmp"], exported["scores"], exported["subjects"]
    checked = []
    for entry in result["data"]["icc"]:
        if "forms" not in entry:  # e.g. a reader without repeat reads: a message, no number
            continue
        measure = entry["measure"]
        if entry["comparison"] in ("inter", "inter_pair"):
            # The readers of the row (the PI's chosen set, or a pair): their analysed first reads.
            name = f"{entry['comparison']}-{measure}-{'-'.join(entry['raters'])}.csv"
            path = subset(
                tmp,
                scores,
                name,
                lambda r, rs=tuple(entry["raters"]): r["analysed"] == "yes" and r["read"] == "1" and r["reader"] in rs,
            )
            cli = stats_cli.run("icc", path, target="case", rater="reader", rating=measure)
            if "lmm" in entry and "error" not in entry["lmm"]:
                # Incomplete design: the mixed-model ICC from all available ratings, as `stats icc-lmm`.
                lmm = stats_cli.run("icc-lmm", path, subject="case", rater="reader", score=measure)
                for key, value in lmm.items():
                    assert close(entry["lmm"][key], value, 1e-8), (measure, entry["label"], key)
        else:
            reader = entry["label"].split(", ")[1].split(" ")[0]
            path = subset(
                tmp,
                scores,
                f"intra-{measure}-{reader}.csv",
                lambda r, rd=reader: r["analysed"] == "yes" and r["reader"] == rd,
            )
            cli = stats_cli.run("icc", path, target="case", rater="read", rating=measure)
        for form, values in cli.items():
            for key in ("estimate", "F", "df1", "df2", "p_value", "conf_low", "conf_high"):
                assert close(entry["forms"][form][key], values[key], 1e-8), (measure, entry["label"], form, key)
        checked.append(entry)

    for drift in result["data"].get("drift", []):
        if "error" in drift:
            continue
        # Reader drift: one reader's analysed reads of one read number, value against worklist position.
        path = subset(
            tmp,
            scores,
            f"drift-{drift['reader']}-{drift['read']}.csv",
            lambda r, d=drift: r["analysed"] == "yes" and r["reader"] == d["reader"] and r["read"] == str(d["read"]),
        )
        cli = stats_cli.run("drift", path, score=drift["measure"], position="position")
        for key in ("slope", "conf_low", "conf_high", "p_value", "n"):
            assert close(drift[key], cli[key]), (drift["reader"], drift["read"], drift["measure"], key)
        assert drift["flag"] is (cli["p_value"] < 0.05)

    for ba in result["data"]["bland_altman"]:
        if ba["measure"] != "vbq":
            continue
        if ":" in ba["label"]:
            reader = ba["label"].split(":")[0]
            a, b = f"vbq_{reader}_r1", f"vbq_{reader}_r2"
        else:
            first, second = ba["label"].split(" (")[0].split(" − ")
            a, b = f"vbq_{first}_r1", f"vbq_{second}_r1"
        cli = stats_cli.run("bland-altman", subjects, a=a, b=b)
        for key in ("bias", "sd", "loa_low", "loa_high"):
            assert close(ba[key], cli[key]), (ba["label"], key)
    return checked


def check_all(study, exported: dict[str, Path]) -> dict[str, Any]:
    """All sections with numbers: Table 1, groups, ROC (every outcome), correlation, agreement."""
    from analytics.datasets import OUTCOMES

    return {
        "table1": check_table1(study, exported),
        "groups": check_groups(study, exported),
        "roc": {outcome: check_roc(study, exported, outcome) for outcome in OUTCOMES},
        "correlation": check_correlation(study, exported),
        "agreement": check_agreement(study, exported),
    }
