"""The analysis snapshot: one zip of the study's exports, dashboard tables, figures and methods, kept.

The zip holds the CSV exports (:mod:`analytics.sections.exports`), every dashboard table as numbers (one CSV
each and ``tables/all_tables.xlsx``, :mod:`analytics.manuscript`), the
figures (SVG, PNG at 300 dpi, PDF), ``methods.md`` (a methods paragraph naming each test and the software
versions) and ``manifest.json`` (inputs hash, settings, versions, SHA-256 of every file). Entries have fixed
timestamps (1980-01-01) and a fixed order, so the zip of unchanged data is byte-identical.

It is built by :func:`study_snapshot_build`, run by the snapshot job (:mod:`analytics.snapshot_jobs`, which reports
its progress), and stored under ``MEDIA_ROOT/analytics/`` with its inputs digest and fingerprint
(:mod:`analytics.digests`, the rule of the dashboard sections) in the ``snapshot`` cache row; the download serves
that file, and a change of the data makes it stale (:func:`snapshot_ready`). Once the study is locked, the first
snapshot built after locking is frozen and served from then on.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import platform
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.text import slugify

from analytics.datasets import StudyData, study_data
from analytics.digests import SNAPSHOT, Digests, Fingerprints
from analytics.figure_cache import figure_files
from analytics.manuscript import tables_xlsx
from analytics.models import AnalysisCache
from analytics.sections.common import CACHED_SECTIONS
from analytics.sections.exports import (
    ROI_COLUMNS,
    SCORE_COLUMNS,
    SUBJECT_COLUMNS,
    cell,
    roi_measurements_csv,
    scores_csv,
    subjects_csv,
    table_csv,
)
from analytics.services import store_result, study_analytics_refresh
from studies.models import Study

log = logging.getLogger(__name__)

__all__ = [
    "all_tables",
    "methods_text",
    "snapshot_filename",
    "snapshot_ready",
    "snapshot_row",
    "snapshot_zip",
    "software_versions",
    "study_snapshot_build",
]


# ------------------------------------------------------------------------------------------------ contents


@functools.cache
def vbq_reader_version() -> str:
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return settings.SPECTACULAR_SETTINGS.get("VERSION", "unknown")


def software_versions() -> dict[str, str]:
    import django
    import matplotlib
    import numpy
    import scipy
    import statsmodels

    return {
        "vbq_reader": vbq_reader_version(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "django": django.get_version(),
        "matplotlib": matplotlib.__version__,
    }


def study_settings(study: Study) -> dict[str, Any]:
    return {
        "measure_vbq": study.measure_vbq,
        "measure_snr": study.measure_snr,
        "roi_statistic": study.roi_statistic,
        "min_levels_vbq": study.min_levels_vbq,
        "noise_correction": study.noise_correction,
        "consensus_rule": study.consensus_rule,
        "consensus_reader": study.consensus_reader.get_username() if study.consensus_reader else None,
        "reads_per_reader": study.reads_per_reader,
        "washout_days": study.washout_days,
        "randomisation_seed": study.randomisation_seed,
        "reader_roi_stats": study.reader_roi_stats,
        "who_groups": "T >= -1 normal; -2.5 < T < -1 osteopenia; T <= -2.5 osteoporosis",
    }


#: What readers saw of their ROIs' statistics (Study.reader_roi_stats), in the methods' words.
BLINDING = {
    "none": "no statistics of their ROIs",
    "quality": "only the pixel count, area and quality warnings of their ROIs (not the mean or median SI, from "
    "which the score follows)",
    "full": "all statistics of their ROIs (mean, median, SD, area)",
}


def _ok(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if "error" not in e]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def methods_text(study: Study, data: StudyData, sections: dict[str, dict[str, Any]] | None = None) -> str:
    """The methods paragraph (Markdown), built only from the analyses that ran, with their numbers.

    ``sections`` maps each cached section (``agreement``, ``roc:op_vs_normal`` ...) to its result; by default
    the study's cached results. Every sentence about an analysis is there because that section computed it: no
    sentence on a DeLong comparison of VBQ and M-score when no subject has an M-score, none on TBS when no
    subject has a TBS, none on groups or ROC without reference data.
    """
    if sections is None:
        rows = AnalysisCache.objects.filter(study=study, section__in=CACHED_SECTIONS)
        sections = {row.section: row.result for row in rows if row.result}
    v = software_versions()
    parts = [_readers_sentence(study, data)]
    measure_sentences = _measure_sentences(study, data, m_score_used=_m_score_analysed(sections))
    parts += measure_sentences
    agreement = (sections.get("agreement") or {}).get("data") or {}
    parts += _agreement_sentences(agreement)
    parts += _group_sentences(data, sections)
    parts += _roc_sentences(sections)
    parts += _correlation_sentences(sections)
    tests_ran = len(parts) > 1 + len(measure_sentences)
    if tests_ran:
        parts.append("Two-sided p < 0.05 was considered statistically significant. Standard deviations use n − 1.")
    used_lmm = any("lmm" in e and "error" not in e["lmm"] for e in agreement.get("icc", []))
    software = f"Python {v['python']}, NumPy {v['numpy']}, SciPy {v['scipy']}"
    if used_lmm:
        software += f", statsmodels {v['statsmodels']}"
    parts.append(
        f"Analyses were performed with VBQ Reader {v['vbq_reader']} ({software}, Django {v['django']}, matplotlib "
        f"{v['matplotlib']}); its statistics are validated against R (psych, lme4, pROC, stats)."
    )
    return "## Statistical analysis\n\n" + " ".join(p for p in parts if p) + "\n"


def _readers_sentence(study: Study, data: StudyData) -> str:
    analysed = data.analysed_reads
    cases = {r.case_id for r in analysed}
    names = ", ".join(name for _, name in data.readers) or "none yet"
    text = (
        f"Regions of interest were placed on sagittal T1-weighted images by {len(data.readers)} reader(s) "
        f"({names}); {len(analysed)} submitted and scored reads of {len(cases)} cases were analysed."
    )
    if any(n >= 2 for n in data.read_numbers):
        text += f" Repeated reads were separated by a washout of {study.washout_days} days."
    blinding = BLINDING.get(study.reader_roi_stats, study.reader_roi_stats)
    text += (
        " Each reader's worklist was in a randomised order (seed "
        f"{study.randomisation_seed}); readers did not see the reference data, other readers' ROIs or their own "
        f"earlier reads, and of the ROI statistics they saw {blinding}."
    )
    statistic = "median" if study.roi_statistic == Study.RoiStatistic.MEDIAN else "mean"
    return text + f" The signal intensity (SI) of each level was the {statistic} of its ROI."


def _m_score_analysed(sections: dict[str, dict[str, Any]]) -> bool:
    """Whether a group, ROC or correlation analysis has M-score numbers (else the M-score is not described)."""
    groups = (sections.get("groups") or {}).get("data") or {}
    if any(m["measure"] == "m_score" and m.get("anova") for m in groups.get("measures", [])):
        return True
    for name, result in sections.items():
        if name.startswith("roc:") and any(
            e["score"] == "m_score" and e.get("auc") is not None for e in (result.get("data") or {}).get("scores", [])
        ):
            return True
    pairs = (sections.get("correlation") or {}).get("data", {}).get("pairs", [])
    return any(p["score"] == "m_score" and "error" not in p for p in pairs)


def _measure_sentences(study: Study, data: StudyData, *, m_score_used: bool) -> list[str]:
    out = []
    reads = data.analysed_reads
    if study.measure_vbq and any(r.vbq is not None for r in reads):
        out.append(
            "The vertebral bone quality score (VBQ) was the median SI of L1–L4 divided by the SI of cerebrospinal "
            f"fluid at L3 (levels marked as not measurable were left out; at least {study.min_levels_vbq} levels "
            "were required)."
        )
    if study.measure_snr and any(r.snr is not None for r in reads):
        noise = (
            "the raw SD of the background-noise ROI"
            if study.noise_correction == Study.NoiseCorrection.RAW
            else "the Rayleigh-corrected SD of the background-noise ROI (SD / 0.655)"
        )
        text = (
            f"The signal-to-noise ratio (SNR) of each level was its mean SI divided by {noise}; SNR L1–L4 was the "
            "mean of the per-level SNRs."
        )
        if m_score_used and any(r.m_score is not None for r in reads):
            controls = sum(1 for s in data.subjects if s.is_control)
            text += f" The M-score was (SNR − mean SNR of the {controls} control subjects) / SD of their SNR."
        out.append(text)
    if any(s.group for s in data.subjects):
        modalities = sorted({s.modality for s in data.subjects if s.modality and s.group})
        reference = " and ".join(modalities) if modalities else "reference"
        out.append(
            f"Each subject's score was the {data.consensus_note}. Subjects were classified by the {reference} "
            "T-score according to the WHO criteria (T ≥ −1 normal; −2.5 < T < −1 osteopenia; T ≤ −2.5 osteoporosis)."
        )
    return out


def _agreement_sentences(agreement: dict[str, Any]) -> list[str]:
    from analytics.sections.common import MEASURE_LABELS

    out = []
    entries = agreement.get("icc", [])
    intra = _ok([e for e in entries if e["comparison"] == "intra"])
    inter = _ok([e for e in entries if e["comparison"] == "inter"])
    pairs = _ok([e for e in entries if e["comparison"] == "inter_pair"])
    main = next((e["measure"] for e in entries if e["measure"] in ("vbq", "snr")), None)
    icc_form = (
        "ICC(2,1) (McGraw–Wong ICC(A,1), absolute agreement, single rater; all six Shrout–Fleiss forms with F "
        "tests and confidence intervals as R's psych::ICC; interpreted after Koo and Li, 2016)"
    )
    if intra:
        ns = [f"{e['label'].split(', ')[1].split(' ')[0]} n = {e['n_targets']}" for e in intra if e["measure"] == main]
        out.append(
            f"Intra-rater reliability (read 1 vs read 2 of each reader, two-way mixed effects) was assessed with "
            f"{icc_form} on the cases each reader read twice"
            + (f" ({MEASURE_LABELS[main]}: {'; '.join(ns)})." if ns else ".")
        )
        icc_form = "ICC(2,1)"
    for e in inter:
        if e["measure"] != main:
            continue
        text = (
            f"Inter-rater reliability of the first reads of {_and(e['raters'])} was assessed with {icc_form}, two-way "
            f"random effects, on the {e['n_targets']} cases with a {MEASURE_LABELS[main]} from every reader"
        )
        text += f" ({'; '.join(e['left_out'])} were left out)." if e.get("left_out") else "."
        lmm = e.get("lmm")
        if lmm and "error" not in lmm:
            text += (
                " Because not every reader rated every case, the primary estimate was the ICC(A,1) of a two-way "
                "random-effects linear mixed model (crossed random case and reader effects, REML, as lme4's lmer "
                f"and psych::ICC(lmer = TRUE); statsmodels MixedLM) fitted to all {lmm['n_ratings']} ratings of "
                f"{lmm['n_subjects']} cases: var(case) / (var(case) + var(reader) + var(residual)); it has no "
                "F-based confidence interval. The complete-case ICC is given beside it."
            )
        else:
            text += " Every reader rated every case analysed, so the complete-case (ANOVA) ICC is the primary estimate."
        out.append(text)
    main_pairs = [e for e in pairs if e["measure"] == main]
    if main_pairs:
        described = "; ".join(
            f"{_and(e['raters'])}, n = {e['n_targets']}"
            + (f" (mixed model on {e['lmm']['n_ratings']} ratings)" if "lmm" in e and "error" not in e["lmm"] else "")
            for e in main_pairs
        )
        out.append(f"Every pair of readers was analysed the same way ({described}).")
    ba = _ok(agreement.get("bland_altman", []))
    if ba:
        out.append(
            f"Agreement was shown with {len(ba)} Bland–Altman comparison(s) (bias ± 1.96 SD of the differences, "
            "with the confidence intervals of Bland and Altman, 1999)."
        )
    drift = _ok(agreement.get("drift", []))
    if drift:
        flagged = sorted({f"{d['reader']} (read {d['read']})" for d in drift if d.get("flag")})
        out.append(
            f"Reader drift was assessed for each reader and read ({len(drift)} analyses) by ordinary least-squares "
            "regression of the score and of the ROI SD on the case's position in the randomised worklist (slope "
            "with t-based 95% CI); "
            + (f"drift (p < 0.05) was found for {_and(flagged)}." if flagged else "no drift with p < 0.05 was found.")
        )
    return out


def _group_sentences(data: StudyData, sections: dict[str, dict[str, Any]]) -> list[str]:
    from analytics.sections.common import MEASURE_LABELS

    out = []
    table1 = (sections.get("table1") or {}).get("data") or {}
    variables = [v for v in table1.get("variables", []) if "test" in v and "error" not in (v.get("test") or {})]
    continuous = [v for v in variables if v["kind"] == "continuous"]
    categorical = [v for v in variables if v["kind"] != "continuous"]
    if continuous or categorical:
        tests = []
        if continuous:
            tests.append("continuous characteristics with one-way analysis of variance")
        if categorical:
            yates = "with" if table1.get("yates") else "without"
            tests.append(
                f"categorical characteristics with Pearson's chi-square test {yates} Yates' continuity correction"
            )
        out.append(
            f"The {table1.get('n', 0)} subjects' characteristics were compared between the WHO groups: "
            f"{'; '.join(tests)}."
        )
    groups = (sections.get("groups") or {}).get("data") or {}
    compared = [m for m in groups.get("measures", []) if m.get("anova")]
    if compared:
        described = "; ".join(
            f"{MEASURE_LABELS[m['measure']]}, n = " + "/".join(str(g["n"]) for g in m["anova"]["groups"])
            for m in compared
        )
        tukey = any(m.get("tukey") for m in compared)
        out.append(
            f"Consensus scores were compared between the groups ({described}) with one-way analysis of variance"
            + (" followed by Tukey's honestly significant difference test." if tukey else ".")
        )
    return out


def _roc_sentences(sections: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    described, boot, compared = [], None, []
    for name, result in sorted(sections.items()):
        if not name.startswith("roc:"):
            continue
        data = result.get("data") or {}
        for entry in data.get("scores", []):
            if entry.get("auc") is None:
                continue
            described.append(
                f"{entry['label']} for {data['outcome_label'].lower()} ({entry['n_positive']} positive, "
                f"{entry['n_negative']} negative)"
            )
            ci = entry.get("cutoff_ci") or {}
            if "error" not in ci and ci:
                boot = ci
        comparison = data.get("comparison")
        if comparison and "error" not in comparison:
            compared.append(
                f"{data['outcome_label'].lower()} ({comparison['n_positive']} / {comparison['n_negative']})"
            )
    if not described:
        return out
    out.append(
        f"Diagnostic performance was assessed with empirical receiver operating characteristic (ROC) curves of "
        f"{_and(described)}, higher scores positive: the area under the curve (AUC) with DeLong's 95% confidence "
        "interval, the p-value against AUC = 0.5 with the standard error under the null hypothesis (as SPSS) and "
        "DeLong's Wald p-value. The optimal threshold maximised the Youden index (sensitivity + specificity − 1; "
        "the midpoint between adjacent observed values, as pROC), with sensitivity, specificity, positive and "
        "negative predictive values and Wilson score 95% confidence intervals."
    )
    if boot:
        out.append(
            f"The 95% confidence interval of the threshold was the percentile interval of {boot['resamples']:,} "
            f"stratified bootstrap resamples (positives and negatives resampled separately; seed {boot['seed']}), as "
            "pROC's ci.coords."
        )
    if compared:
        out.append(
            "The AUCs of VBQ and the M-score on the subjects with both were compared with DeLong's test for "
            f"correlated ROC curves ({_and(compared)})."
        )
    return out


def _correlation_sentences(sections: dict[str, dict[str, Any]]) -> list[str]:
    from analytics.sections.common import MEASURE_LABELS

    pairs = (sections.get("correlation") or {}).get("data", {}).get("pairs", [])
    names = {"bmd": "BMD", "t_score": "T-score", "tbs": "TBS"}
    parametric, spearman_only = [], []
    for p in pairs:
        if "error" in p:
            continue
        label = f"{MEASURE_LABELS[p['score']]} with {names.get(p['reference'], p['reference'])} (n = {p['n']})"
        pearson_ok = "pearson" in p and "error" not in p["pearson"]
        if pearson_ok:
            parametric.append(label)
        elif "error" not in p.get("spearman", {"error": ""}):
            spearman_only.append(label)
    out = []
    if parametric:
        out.append(
            f"The association of {_and(parametric)} was assessed with Pearson's correlation coefficient (Fisher z "
            "confidence interval), Spearman's rank correlation and least-squares linear regression."
        )
    if spearman_only:
        out.append(
            f"{_and(spearman_only)[0].upper() + _and(spearman_only)[1:]} were correlated with Spearman's rho "
            "(exact p-values, algorithm AS 89, as R's cor.test)."
        )
    return out


def snapshot_filename(study: Study) -> str:
    return f"vbq-analysis-{slugify(study.name) or study.pk}-{study.pk}.zip"


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], compresslevel=6)
    return buffer.getvalue()


#: Progress of a build (fractions of the whole): the analyses brought up to date, then the data files, then the
#: figures one by one (most of the time: each is drawn in three formats), then the tables, methods and zip.
_REFRESHED, _DATA_WRITTEN, _FIGURES_DRAWN = 0.15, 0.25, 0.9


def snapshot_zip(study: Study, progress: Callable[[float], None] | None = None) -> tuple[bytes, dict[str, Any]]:
    """The analysis snapshot zip of the study's current cached analyses, and its manifest.

    The cached sections must be fresh (``services.study_analytics_refresh`` first). ``progress(fraction)`` is
    called as the work goes on.
    """
    report = progress or (lambda fraction: None)
    study = Study.objects.select_related("consensus_reader").get(pk=study.pk)
    data = study_data(study)
    files: dict[str, bytes] = {
        "data/roi_measurements.csv": roi_measurements_csv(study),
        "data/scores.csv": scores_csv(study, data),
        "data/subjects.csv": subjects_csv(study, data),
    }
    report(_DATA_WRITTEN)
    section_digests, results = _add_sections(study, files, report)
    files["tables/all_tables.xlsx"] = tables_xlsx(all_tables(results))
    files["methods.md"] = methods_text(study, data, results).encode("utf-8")
    manifest = _manifest(study, data, section_digests, files)
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return _zip_bytes(files), manifest


def all_tables(results: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every table of the cached sections, in tab order, named ``<section>-<table>``."""
    return [
        (f"{section.replace(':', '-')}-{tab['id']}", tab)
        for section in CACHED_SECTIONS
        if section in results
        for tab in results[section].get("tables", [])
    ]


def _add_sections(
    study: Study, files: dict[str, bytes], report: Callable[[float], None]
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Add every computed section's tables and figures to ``files``; their inputs digests and results."""
    rows = {row.section: row for row in AnalysisCache.objects.filter(study=study, section__in=CACHED_SECTIONS)}
    n_figures = sum(
        bool(has_data) for row in rows.values() if row.result for has_data in row.result.get("figures", {}).values()
    )
    drawn = 0
    section_digests = {}
    results: dict[str, dict[str, Any]] = {}
    for section in CACHED_SECTIONS:
        row = rows.get(section)
        if row is None or not row.result:
            continue
        section_digests[section] = row.inputs_digest
        results[section] = row.result
        slug = section.replace(":", "-")
        for tab in row.result.get("tables", []):
            files[f"tables/{slug}-{tab['id']}.csv"] = table_csv(tab)
        for name, has_data in sorted(row.result.get("figures", {}).items()):
            if has_data:
                # The dashboard's cached files where they exist; the figure is drawn once for the rest.
                for fmt, content in figure_files(study, name, section=section).items():
                    files[f"figures/{name}.{fmt}"] = content
                drawn += 1
                report(_DATA_WRITTEN + (_FIGURES_DRAWN - _DATA_WRITTEN) * drawn / max(n_figures, 1))
    return section_digests, results


def _manifest(
    study: Study, data: StudyData, section_digests: dict[str, str], files: dict[str, bytes]
) -> dict[str, Any]:
    columns = {
        "data/roi_measurements.csv": ROI_COLUMNS,
        "data/scores.csv": SCORE_COLUMNS,
        "data/subjects.csv": SUBJECT_COLUMNS
        | {"vbq_<reader>_r<n>": "VBQ of that reader's read n", "snr_<reader>_r<n>": "SNR L1–L4 of that read"},
    }
    return {
        "format": "vbq-reader-analysis-snapshot/1",
        "study": {
            "id": study.pk,
            "name": study.name,
            "locked": study.locked,
            "locked_at": cell(study.locked_at) or None,
        },
        "inputs_hash": Digests(study).section(SNAPSHOT),
        "section_digests": section_digests,
        "settings": study_settings(study),
        "consensus": data.consensus_note,
        "software": software_versions(),
        "columns": columns,
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in sorted(files.items())},
    }


# ------------------------------------------------------------------------------------------------ build and serve


def snapshot_row(study: Study) -> AnalysisCache | None:
    """The study's snapshot cache row (None before the first request)."""
    return AnalysisCache.objects.filter(study=study, section=SNAPSHOT).first()


def snapshot_ready(study: Study, row: AnalysisCache | None, *, exact: bool = True) -> bool:
    """The stored zip of ``row`` is the study's current snapshot: built from the current data (the exact inputs
    digest, or with ``exact=False`` the cheap fingerprint pages compare), or frozen when the study is locked."""
    if row is None or row.status != AnalysisCache.Status.DONE or not row.result.get("path"):
        return False
    if not default_storage.exists(row.result["path"]):
        return False
    if study.locked:
        return bool(row.result.get("frozen"))
    if exact:
        return row.inputs_digest == Digests(study).section(SNAPSHOT)
    return bool(row.inputs_fingerprint) and row.inputs_fingerprint == Fingerprints(study).section(SNAPSHOT)


def study_snapshot_build(*, study_id: int, progress: Callable[[float], None] | None = None) -> dict:
    """Build and store the analysis snapshot zip (idempotent; a frozen snapshot of a locked study is kept).

    ``progress(fraction)`` is called as the build goes on. Returns the stored record ({} when it failed: the
    row says why).
    """
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {}
    report = progress or (lambda fraction: None)
    row = snapshot_row(study)
    # Fingerprint first, then digest, then the data: a change made meanwhile leaves the zip stale, never wrongly fresh.
    fingerprint = Fingerprints(study).section(SNAPSHOT)
    digest = Digests(study).section(SNAPSHOT)
    if snapshot_ready(study, row):
        if row.inputs_fingerprint != fingerprint and not study.locked:
            AnalysisCache.objects.filter(pk=row.pk).update(inputs_fingerprint=fingerprint)
        return row.result
    try:
        study_analytics_refresh(study_id=study.pk)
        report(_REFRESHED)
        content, manifest = snapshot_zip(study, report)
    except Exception as exc:  # recorded for the exports page; the next request tries again
        log.exception("snapshot of study %s failed", study.pk)
        store_result(
            study,
            SNAPSHOT,
            digest,
            {},
            fingerprint=fingerprint,
            status=AnalysisCache.Status.FAILED,
            error=f"{exc.__class__.__name__}: {exc}",
        )
        return {}
    sha = hashlib.sha256(content).hexdigest()
    path = f"analytics/study-{study.pk}/snapshot-{sha[:24]}.zip"
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(content))
    old = row.result.get("path") if row is not None and row.result else None
    result = {
        "path": path,
        "sha256": sha,
        "size": len(content),
        "frozen": bool(study.locked),
        "inputs_hash": manifest["inputs_hash"],
        "filename": snapshot_filename(study),
    }
    store_result(study, SNAPSHOT, digest, result, fingerprint=fingerprint)
    if old and old != path and default_storage.exists(old):
        default_storage.delete(old)
    return result
