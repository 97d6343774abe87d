"""The analysis snapshot: one zip of the study's exports, dashboard tables, figures and methods, kept.

The zip holds the CSV exports (:mod:`analytics.sections.exports`), every dashboard table as displayed, the
figures (SVG, PNG at 300 dpi, PDF), ``methods.md`` (a methods paragraph naming each test and the software
versions) and ``manifest.json`` (inputs hash, settings, versions, SHA-256 of every file). Entries have fixed
timestamps (1980-01-01) and a fixed order, so the zip of unchanged data is byte-identical.

It is built by the :func:`study_snapshot_build` job and stored under ``MEDIA_ROOT/analytics/`` with its
inputs digest (:mod:`analytics.digests`) in the ``snapshot`` cache row; :func:`snapshot_get` serves it and
queues a rebuild when the data changed. Once the study is locked, the first snapshot built after locking is
frozen and served from then on.
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
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.text import slugify

from analytics.datasets import StudyData, study_data
from analytics.digests import SNAPSHOT, Digests
from analytics.figure_cache import figure_files
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
from analytics.services import REQUEUE_AFTER, store_result, study_analytics_refresh
from studies.models import Study
from vbqsite.queue import enqueue

log = logging.getLogger(__name__)

__all__ = [
    "methods_text",
    "snapshot_filename",
    "snapshot_get",
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

    return {
        "vbq_reader": vbq_reader_version(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
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
        "who_groups": "T >= -1 normal; -2.5 < T < -1 osteopenia; T <= -2.5 osteoporosis",
    }


def methods_text(study: Study, data: StudyData) -> str:
    """A methods paragraph naming each measurement, test and software version (Markdown)."""
    v = software_versions()
    n_readers = len(data.readers)
    modalities = sorted({s.modality for s in data.subjects if s.modality})
    reference = " and ".join(modalities) if modalities else "the reference"
    statistic = "median" if study.roi_statistic == Study.RoiStatistic.MEDIAN else "mean"
    noise = (
        "the raw SD of the background-noise ROI"
        if study.noise_correction == Study.NoiseCorrection.RAW
        else "the Rayleigh-corrected SD of the background-noise ROI (SD / 0.655)"
    )
    parts = [
        "## Statistical analysis",
        "",
        f"Regions of interest were placed on sagittal T1-weighted images by {n_readers} reader(s) "
        f"({', '.join(name for _, name in data.readers) or 'none yet'}); repeated reads were separated by a "
        f"washout of {study.washout_days} days and presented in a randomised order. The signal intensity (SI) of "
        f"each level was the {statistic} of its ROI.",
    ]
    if study.measure_vbq:
        parts.append(
            "The vertebral bone quality score (VBQ) was the median SI of L1–L4 divided by the SI of cerebrospinal "
            f"fluid at L3 (levels marked as not measurable were left out; at least {study.min_levels_vbq} levels "
            "were required)."
        )
    if study.measure_snr:
        parts.append(
            f"The signal-to-noise ratio (SNR) of each level was its mean SI divided by {noise}; SNR L1–L4 was the "
            "mean of the per-level SNRs, and the M-score was (SNR − mean SNR of the control group) / SD of the "
            "control group's SNR."
        )
    parts.append(
        f"Each subject's score was the {data.consensus_note}. Subjects were classified by the {reference} T-score "
        "according to the WHO criteria (T ≥ −1 normal; −2.5 < T < −1 osteopenia; T ≤ −2.5 osteoporosis)."
    )
    parts.append(
        "Intra-rater reliability (read 1 vs read 2 of each reader) and inter-rater reliability (the readers' first "
        "reads) were assessed with intraclass correlation coefficients; ICC(2,1) (McGraw–Wong ICC(A,1), absolute "
        "agreement, single rater; two-way random effects for inter-rater and two-way mixed effects for intra-rater "
        "reliability) is reported with its 95% confidence interval and interpreted after Koo and Li (2016); all six "
        "Shrout–Fleiss forms are given with F tests and confidence intervals computed as by R's psych::ICC. "
        "Agreement was shown with Bland–Altman plots (bias ± 1.96 SD of the differences)."
    )
    parts.append(
        "Continuous characteristics and scores were compared between the groups with one-way analysis of variance "
        "followed by Tukey's honestly significant difference test; categorical characteristics with Pearson's "
        "chi-square test without Yates' continuity correction."
    )
    parts.append(
        "Diagnostic performance was assessed with empirical receiver operating characteristic (ROC) curves "
        "(osteoporosis vs normal by default, osteopenia excluded; other outcomes as stated): the area under the "
        "curve (AUC) with DeLong's 95% confidence interval, the p-value against AUC = 0.5 with the standard error "
        "under the null hypothesis (as SPSS) and DeLong's Wald p-value. The optimal threshold maximised the Youden "
        "index (sensitivity + specificity − 1; the midpoint between adjacent observed values, as pROC), with "
        "sensitivity, specificity, positive and negative predictive values and Wilson score 95% confidence "
        "intervals."
        + (
            " The AUCs of VBQ and the M-score were compared with DeLong's test for correlated ROC curves."
            if study.measure_vbq and study.measure_snr
            else ""
        )
    )
    corr = []
    if study.measure_vbq:
        corr.append(
            "the association of VBQ with BMD and T-score was assessed with Pearson's correlation coefficient "
            "(Fisher z confidence interval), Spearman's rank correlation and least-squares linear regression"
        )
    if study.measure_snr:
        corr.append("SNR and M-score were correlated with BMD, T-score and TBS with Spearman's rho")
    if corr:
        text = "; ".join(corr)
        parts.append(text[0].upper() + text[1:] + " (exact p-values, algorithm AS 89, as R's cor.test).")
    parts.append("Two-sided p < 0.05 was considered statistically significant. Standard deviations use n − 1.")
    parts.append(
        f"Analyses were performed with VBQ Reader {v['vbq_reader']} (Python {v['python']}, NumPy {v['numpy']}, "
        f"SciPy {v['scipy']}, Django {v['django']}, matplotlib {v['matplotlib']}); its statistics are validated "
        "against R (psych, pROC, stats) to 1e-6."
    )
    return parts[0] + "\n\n" + " ".join(parts[2:]) + "\n"


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


def snapshot_zip(study: Study) -> tuple[bytes, dict[str, Any]]:
    """The analysis snapshot zip of the study's current cached analyses, and its manifest.

    The cached sections must be fresh (``services.study_analytics_refresh`` first).
    """
    study = Study.objects.select_related("consensus_reader").get(pk=study.pk)
    data = study_data(study)
    files: dict[str, bytes] = {
        "data/roi_measurements.csv": roi_measurements_csv(study),
        "data/scores.csv": scores_csv(study, data),
        "data/subjects.csv": subjects_csv(study, data),
    }
    section_digests = _add_sections(study, files)
    files["methods.md"] = methods_text(study, data).encode("utf-8")
    manifest = _manifest(study, data, section_digests, files)
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    return _zip_bytes(files), manifest


def _add_sections(study: Study, files: dict[str, bytes]) -> dict[str, str]:
    """Add every computed section's tables and figures to ``files``; their inputs digests."""
    rows = {row.section: row for row in AnalysisCache.objects.filter(study=study, section__in=CACHED_SECTIONS)}
    section_digests = {}
    for section in CACHED_SECTIONS:
        row = rows.get(section)
        if row is None or not row.result:
            continue
        section_digests[section] = row.inputs_digest
        slug = section.replace(":", "-")
        for tab in row.result.get("tables", []):
            files[f"tables/{slug}-{tab['id']}.csv"] = table_csv(tab)
        for name, has_data in sorted(row.result.get("figures", {}).items()):
            if has_data:
                # The dashboard's cached files where they exist; the figure is drawn once for the rest.
                for fmt, content in figure_files(study, name, section=section).items():
                    files[f"figures/{name}.{fmt}"] = content
    return section_digests


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


def _snapshot_ready(study: Study, row: AnalysisCache | None, digest: str) -> bool:
    if row is None or row.status != AnalysisCache.Status.DONE or not row.result.get("path"):
        return False
    if not default_storage.exists(row.result["path"]):
        return False
    if study.locked:
        return bool(row.result.get("frozen"))
    return row.inputs_digest == digest


def study_snapshot_build(*, study_id: int) -> dict:
    """Build and store the analysis snapshot zip (idempotent; a frozen snapshot of a locked study is kept)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {}
    row = snapshot_row(study)
    digest = Digests(study).section(SNAPSHOT)
    if _snapshot_ready(study, row, digest):
        return row.result
    try:
        study_analytics_refresh(study_id=study.pk)
        content, manifest = snapshot_zip(study)
    except Exception as exc:  # recorded for the exports page; the next request tries again
        log.exception("snapshot of study %s failed", study.pk)
        store_result(
            study, SNAPSHOT, digest, {}, status=AnalysisCache.Status.FAILED, error=f"{exc.__class__.__name__}: {exc}"
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
    store_result(study, SNAPSHOT, digest, result)
    if old and old != path and default_storage.exists(old):
        default_storage.delete(old)
    return result


def snapshot_get(study: Study) -> tuple[bytes | None, dict[str, Any]]:
    """The snapshot zip and its record, building it (via the job) when missing or stale.

    Returns ``(None, record)`` while a worker is still building it.
    """
    from analytics import tasks

    row = snapshot_row(study)
    digest = Digests(study).section(SNAPSHOT)
    if not _snapshot_ready(study, row, digest):
        now = timezone.now()
        if (
            row is None
            or row.status != AnalysisCache.Status.PENDING
            or row.requested_at is None
            or now - row.requested_at > REQUEUE_AFTER
        ):
            AnalysisCache.objects.update_or_create(
                study=study, section=SNAPSHOT, defaults={"status": AnalysisCache.Status.PENDING, "requested_at": now}
            )
            enqueue(tasks.study_snapshot_build, study.pk)
        row = snapshot_row(study)
        if not _snapshot_ready(study, row, digest):
            return None, {"status": row.status if row else "pending", "error": row.error if row else ""}
    with default_storage.open(row.result["path"], "rb") as fh:
        return fh.read(), row.result
