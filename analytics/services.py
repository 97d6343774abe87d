"""Analytics services: input digests, the section cache, the refresh job, figures and the analysis snapshot.

Caching model. Every dashboard section is one :class:`~analytics.models.AnalysisCache` row per study, holding
the result and the *inputs digest* it was computed from: a SHA-256 over exactly the database state the section
reads (read scores, ROI statistics, reference records, the study's settings — see :data:`SECTION_INPUTS`) and
:data:`~analytics.sections.common.ANALYSIS_VERSION`. A page compares the row's digest with the current one; when they
differ it enqueues :func:`analytics.tasks.study_analytics_refresh` (once: the row is marked pending) and shows
the last result with a "computing…" banner that refreshes itself. Without a broker (the single-machine
default) the task runs in-process, so the page gets the fresh result at once. The job recomputes only stale
sections, so running it twice changes nothing.

Figures are rendered on their first request (the page's ``<img>``; not by the job, so that in-process mode
does not make the page wait for matplotlib) and kept under ``MEDIA_ROOT/analytics/``
keyed by the section digest, so they are redrawn only when the data change. The analysis snapshot (zip) is
stored the same way; once the study is locked the first snapshot built after locking is frozen and served
from then on.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from analytics import figures
from analytics.datasets import OUTCOMES, ROI_COLUMNS, study_data
from analytics.models import AnalysisCache
from analytics.sections import compute_section
from analytics.sections.common import ANALYSIS_VERSION, CACHED_SECTIONS
from scoring.models import ReadScore
from studies.models import Case, Membership, Read, ReferenceRecord, Roi, Study
from vbqsite.queue import enqueue

log = logging.getLogger(__name__)

__all__ = [
    "SECTION_INPUTS",
    "Digests",
    "Fingerprints",
    "SectionState",
    "figure_files",
    "figure_get",
    "section_for_page",
    "sections_request",
    "snapshot_get",
    "study_analytics_refresh",
    "study_snapshot_build",
]

_DATA = ("settings", "reads", "scores", "cases", "reference")
#: Which groups of database state each cached section depends on.
SECTION_INPUTS: dict[str, tuple[str, ...]] = {
    "progress": ("settings", "reads_activity", "scores", "rois", "cases"),
    "agreement": ("settings", "reads", "scores", "rois", "cases"),
    "table1": ("settings", "cases", "reference"),
    "groups": _DATA,
    **{f"roc:{key}": _DATA for key in OUTCOMES},
    "correlation": _DATA,
    "snapshot": ("settings", "meta", "reads_activity", "scores", "rois", "rois_full", "cases", "reference"),
}
SNAPSHOT = "snapshot"
#: A refresh requested less than this long ago is not requested again (a worker may be busy).
REQUEUE_AFTER = timedelta(minutes=10)


# ------------------------------------------------------------------------------------------------ digests


def _settings_rows(study: Study) -> list[Any]:
    settings_row = Study.objects.filter(pk=study.pk).values_list(
        "measure_vbq",
        "measure_snr",
        "roi_statistic",
        "min_levels_vbq",
        "noise_correction",
        "consensus_rule",
        "consensus_reader_id",
        "consensus_reader__username",
        "reads_per_reader",
        "washout_days",
        "randomisation_seed",
    )
    members = Membership.objects.filter(study=study).order_by("user_id").values_list("user_id", "user__username")
    return [ANALYSIS_VERSION, *settings_row, *members]


class Digests:
    """Exact SHA-256 of each group of a study's input state (every relevant row), computed on first use.

    This is the ``inputs_digest`` of a cached section and the snapshot's inputs hash. It reads every row of
    the group, so it is computed by the job, not by pages (see :class:`Fingerprints`).
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self._cache: dict[str, str] = {}

    def _rows(self, group: str) -> Any:
        study = self.study
        if group == "settings":
            return _settings_rows(study)
        if group == "meta":
            return list(Study.objects.filter(pk=study.pk).values_list("name", "locked", "locked_at"))
        if group == "reads":
            return (
                Read.objects.filter(study=study)
                .order_by("id")
                .values_list("id", "case_id", "reader_id", "reader__username", "read_number", "status")
            )
        if group == "reads_activity":
            rows = (
                Read.objects.filter(study=study)
                .order_by("id")
                .values_list("id", "status", "started_at", "submitted_at", "time_on_task_seconds")
            )
            # Only submitted reads' times are shown: a reader's autosave ticking does not invalidate anything.
            return ((i, st, start, sub, t if st == Read.Status.SUBMITTED else None) for i, st, start, sub, t in rows)
        if group == "scores":
            return (
                ReadScore.objects.filter(read__study=study)
                .order_by("read_id")
                .values_list(
                    "read_id", "vbq", "vbq_reason", "snr", "snr_reason", "snr_levels", "m_score", "m_score_reason"
                )
            )
        if group == "rois":
            return Roi.objects.filter(read__study=study).order_by("id").values_list("id", *ROI_COLUMNS)
        if group == "rois_full":
            return (
                Roi.objects.filter(read__study=study)
                .order_by("id")
                .values_list("id", "updated_at", "exclusion_note", "score__computed_at")
            )
        if group == "cases":
            return Case.objects.filter(study=study).order_by("id").values_list("id", "subject_code", "is_control")
        if group == "reference":
            return (
                ReferenceRecord.objects.filter(case__study=study)
                .order_by("case_id")
                .values_list(
                    "case_id",
                    "modality",
                    "t_score",
                    "bmd",
                    "z_score",
                    "tbs",
                    "age",
                    "sex",
                    "bmi",
                    "diabetes",
                    "hyperlipidemia",
                )
            )
        raise KeyError(group)

    def group(self, group: str) -> str:
        if group not in self._cache:
            h = hashlib.sha256(group.encode())
            for row in self._rows(group):
                h.update(repr(row).encode())
                h.update(b"\n")
            self._cache[group] = h.hexdigest()
        return self._cache[group]

    def section(self, section: str) -> str:
        h = hashlib.sha256(section.encode())
        for group in SECTION_INPUTS[section]:
            h.update(self.group(group).encode())
        return h.hexdigest()


class Fingerprints(Digests):
    """A cheap stand-in for :class:`Digests` that pages check on every view: one aggregate query per group.

    Counts, sums and maxima of ids, versions, values and ``auto_now`` timestamps change with every change
    the services make (an ROI edit bumps its version and ``updated_at``; a re-score bumps ``computed_at``;
    the M-score refresh changes the sum of M-scores). When a fingerprint differs from the stored one, the job
    computes the exact digest and recomputes only if the data really changed.
    """

    def _rows(self, group: str) -> Any:
        study = self.study
        submitted = Q(status=Read.Status.SUBMITTED)
        if group == "settings":
            return _settings_rows(study)
        if group == "meta":
            return list(Study.objects.filter(pk=study.pk).values_list("name", "locked", "locked_at"))
        if group in ("reads", "reads_activity"):
            extra = (
                {"t": Sum("time_on_task_seconds", filter=submitted), "s": Max("started_at"), "m": Max("submitted_at")}
                if group == "reads_activity"
                else {}
            )
            return [
                Read.objects.filter(study=study).aggregate(
                    n=Count("id"),
                    ids=Sum("id"),
                    readers=Sum("reader_id"),
                    numbers=Sum("read_number"),
                    done=Count("id", filter=submitted),
                    going=Count("id", filter=Q(status=Read.Status.IN_PROGRESS)),
                    **extra,
                )
            ]
        if group == "scores":
            return [
                ReadScore.objects.filter(read__study=study).aggregate(
                    n=Count("id"),
                    ids=Sum("read_id"),
                    at=Max("computed_at"),
                    vbq=Sum("vbq"),
                    snr=Sum("snr"),
                    m=Sum("m_score"),
                    nm=Count("m_score"),
                )
            ]
        if group in ("rois", "rois_full"):
            # One pass over the ROIs with their statistics (LEFT JOIN), not two.
            return [
                Roi.objects.filter(read__study=study).aggregate(
                    n=Count("id"),
                    ids=Sum("id"),
                    versions=Sum("version"),
                    excluded=Count("id", filter=Q(excluded=True)),
                    at=Max("updated_at"),
                    scored=Count("score__id"),
                    scored_versions=Sum("score__roi_version"),
                    scored_at=Max("score__computed_at"),
                )
            ]
        if group == "cases":
            return [
                Case.objects.filter(study=study).aggregate(
                    n=Count("id"), ids=Sum("id"), controls=Sum("id", filter=Q(is_control=True))
                )
            ]
        if group == "reference":
            return [
                ReferenceRecord.objects.filter(case__study=study).aggregate(
                    n=Count("id"),
                    at=Max("imported_at"),
                    t=Sum("t_score"),
                    bmd=Sum("bmd"),
                    tbs=Sum("tbs"),
                    age=Sum("age"),
                    bmi=Sum("bmi"),
                )
            ]
        raise KeyError(group)


# ------------------------------------------------------------------------------------------------ section cache


@dataclass
class SectionState:
    """A cached section as a page sees it."""

    section: str
    row: AnalysisCache | None
    fingerprint: str
    #: The stored result was computed from the current inputs.
    fresh: bool

    @property
    def result(self) -> dict[str, Any] | None:
        if self.row is None or not self.row.result:
            return None
        return self.row.result

    @property
    def computing(self) -> bool:
        return not self.fresh

    @property
    def failed(self) -> bool:
        return self.fresh and self.row is not None and self.row.status == AnalysisCache.Status.FAILED


def _is_fresh(row: AnalysisCache | None, fingerprint: str) -> bool:
    if row is None or row.inputs_fingerprint != fingerprint:
        return False
    return row.status in (AnalysisCache.Status.DONE, AnalysisCache.Status.FAILED)


def _enqueue_refresh(study: Study, sections: list[str]) -> bool:
    from analytics import tasks

    # Broker down: the page keeps showing the last result and asks again on the next request.
    return enqueue(tasks.study_analytics_refresh, study.pk, sections)


def _rows(study: Study, sections: list[str], *, defer_result: bool = False) -> dict[str, AnalysisCache]:
    qs = AnalysisCache.objects.filter(study=study, section__in=sections).defer("plots")
    if defer_result:
        qs = qs.defer("result", "plots")
    return {row.section: row for row in qs}


def sections_request(study: Study, sections: list[str]) -> dict[str, SectionState]:
    """The states of ``sections``; stale ones are queued for recomputation (at most once per REQUEUE_AFTER).

    In-process task mode recomputes them right here, and the returned states are then fresh.
    """
    fingerprints = Fingerprints(study)
    wanted = {s: fingerprints.section(s) for s in sections}
    rows = _rows(study, sections)
    stale = [s for s in sections if not _is_fresh(rows.get(s), wanted[s])]
    if stale:
        now = timezone.now()
        to_queue = [
            s
            for s in stale
            if rows.get(s) is None
            or rows[s].status not in (AnalysisCache.Status.PENDING, AnalysisCache.Status.RUNNING)
            or rows[s].requested_at is None
            or now - rows[s].requested_at > REQUEUE_AFTER
        ]
        if to_queue:
            for s in to_queue:
                AnalysisCache.objects.update_or_create(
                    study=study, section=s, defaults={"status": AnalysisCache.Status.PENDING, "requested_at": now}
                )
            _enqueue_refresh(study, to_queue)
            rows = _rows(study, sections)
    return {
        s: SectionState(section=s, row=rows.get(s), fingerprint=wanted[s], fresh=_is_fresh(rows.get(s), wanted[s]))
        for s in sections
    }


def section_for_page(page: str, outcome: str | None = None) -> str:
    """The cached section behind a dashboard page (``roc`` → ``roc:<outcome>``)."""
    if page == "roc":
        return f"roc:{outcome if outcome in OUTCOMES else next(iter(OUTCOMES))}"
    if page not in CACHED_SECTIONS:
        raise KeyError(page)
    return page


def study_analytics_refresh(*, study_id: int, sections: list[str] | None = None, force: bool = False) -> dict:
    """Recompute the stale cached sections of a study (all of ``sections``, default every section).

    Idempotent: a section whose stored exact digest matches the current inputs is not recomputed (unless
    ``force``); only its fingerprint is brought up to date. Returns the sections computed, unchanged and
    failed.
    """
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {"computed": [], "unchanged": [], "failed": []}
    sections = [s for s in (sections or CACHED_SECTIONS) if s in CACHED_SECTIONS]
    # Fingerprints first, then digests, then the data: a change made meanwhile leaves the row stale (it is
    # noticed and recomputed next time), never wrongly fresh.
    fingerprints = Fingerprints(study)
    prints = {s: fingerprints.section(s) for s in sections}
    digests = Digests(study)
    wanted = {s: digests.section(s) for s in sections}
    rows = _rows(study, sections, defer_result=True)
    stale = [
        s
        for s in sections
        if force or rows.get(s) is None or rows[s].inputs_digest != wanted[s] or not rows[s].computed_at
    ]
    outcome: dict[str, list[str]] = {"computed": [], "unchanged": [], "failed": []}
    for s in sections:
        if s not in stale:
            row = rows[s]
            status = AnalysisCache.Status.FAILED if row.error else AnalysisCache.Status.DONE
            AnalysisCache.objects.filter(pk=row.pk).update(inputs_fingerprint=prints[s], status=status)
            outcome["unchanged"].append(s)
    if not stale:
        return outcome
    AnalysisCache.objects.filter(study=study, section__in=stale).update(status=AnalysisCache.Status.RUNNING)
    data = study_data(study)
    for section in stale:
        try:
            result = compute_section(section, data)
        except Exception as exc:  # a bug in one section must not take the dashboard down
            log.exception("analytics section %s of study %s failed", section, study.pk)
            _store(
                study,
                section,
                wanted[section],
                {},
                fingerprint=prints[section],
                status=AnalysisCache.Status.FAILED,
                error=f"{exc.__class__.__name__}: {exc}",
            )
            outcome["failed"].append(section)
            continue
        _store(study, section, wanted[section], result, fingerprint=prints[section])
        outcome["computed"].append(section)
    return outcome


def _store(
    study: Study,
    section: str,
    digest: str,
    result: dict,
    *,
    fingerprint: str = "",
    status: str = AnalysisCache.Status.DONE,
    error: str = "",
) -> None:
    # The plotted points are stored apart: pages load the tables without them, figures load only them.
    result = dict(result)
    plots = result.pop("plots", None) or {}
    if plots or "section" in result:
        result["figures"] = {name: figures.has_data(name, plot) for name, plot in plots.items()}
    with transaction.atomic():
        AnalysisCache.objects.update_or_create(
            study=study,
            section=section,
            defaults={
                "inputs_digest": digest,
                "inputs_fingerprint": fingerprint,
                "status": status,
                "result": result,
                "plots": plots,
                "error": error,
                "computed_at": timezone.now(),
            },
        )


# ------------------------------------------------------------------------------------------------ figures


def figure_section(name: str) -> str:
    """The cached section a figure is drawn from (``roc-op_vs_rest`` → ``roc:op_vs_rest``)."""
    for prefix, (section, _) in figures.FIGURES.items():
        if name.startswith(prefix):
            if section == "roc":
                return section_for_page("roc", name[len(prefix) :])
            return section
    raise KeyError(name)


_SAFE = re.compile(r"^[a-z0-9_-]+$")


def figure_files(
    study: Study, name: str, formats: tuple[str, ...] = tuple(figures.FORMATS), *, section: str | None = None
) -> dict[str, bytes]:
    """The figure in each of ``formats`` from the stored section result, cached under MEDIA_ROOT by the
    section digest (drawn once for all the formats missing from the cache).

    Raises KeyError for an unknown figure or format.
    """
    if any(fmt not in figures.FORMATS for fmt in formats) or not _SAFE.match(name):
        raise KeyError(name)
    section = section or figure_section(name)
    row = AnalysisCache.objects.filter(study=study, section=section).only("inputs_digest", "status", "plots").first()
    if row is None or row.status != AnalysisCache.Status.DONE:
        fig = figures.build(name, None)  # not computed yet: a placeholder, not cached
        return {fmt: figures.render(fig, fmt) for fmt in formats}
    plots = row.plots
    if name not in plots:
        raise KeyError(name)
    out: dict[str, bytes] = {}
    fig = None
    for fmt in formats:
        path = f"analytics/study-{study.pk}/figures/{name}-{row.inputs_digest[:24]}.{fmt}"
        if default_storage.exists(path):
            with default_storage.open(path, "rb") as fh:
                out[fmt] = fh.read()
            continue
        fig = fig or figures.build(name, plots[name])
        out[fmt] = figures.render(fig, fmt)
        _replace_file(path, out[fmt], prefix=f"{name}-", suffix=f".{fmt}")
    return out


def figure_get(study: Study, name: str, fmt: str, *, section: str | None = None) -> bytes:
    """One format of :func:`figure_files`."""
    return figure_files(study, name, (fmt,), section=section)[fmt]


def _replace_file(path: str, content: bytes, *, prefix: str, suffix: str) -> None:
    """Store ``path`` and delete older versions of the same figure (other digests)."""
    folder, _, filename = path.rpartition("/")
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        files = []
    for old in files:
        if old != filename and old.startswith(prefix) and old.endswith(suffix):
            # "ba-vbq-<digest>.svg" must not delete "ba-vbq-extra-…": the rest is exactly the digest.
            if len(old) == len(filename):
                default_storage.delete(f"{folder}/{old}")
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(content))


# ------------------------------------------------------------------------------------------------ snapshot


def _snapshot_row(study: Study) -> AnalysisCache | None:
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
    from analytics import export

    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {}
    row = _snapshot_row(study)
    digest = Digests(study).section(SNAPSHOT)
    if _snapshot_ready(study, row, digest):
        return row.result
    try:
        study_analytics_refresh(study_id=study.pk)
        content, manifest = export.snapshot_zip(study)
    except Exception as exc:  # recorded for the exports page; the next request tries again
        log.exception("snapshot of study %s failed", study.pk)
        _store(
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
        "filename": export.snapshot_filename(study),
    }
    _store(study, SNAPSHOT, digest, result)
    if old and old != path and default_storage.exists(old):
        default_storage.delete(old)
    return result


def snapshot_get(study: Study) -> tuple[bytes | None, dict[str, Any]]:
    """The snapshot zip and its record, building it (via the job) when missing or stale.

    Returns ``(None, record)`` while a worker is still building it.
    """
    from analytics import tasks

    row = _snapshot_row(study)
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
        row = _snapshot_row(study)
        if not _snapshot_ready(study, row, digest):
            return None, {"status": row.status if row else "pending", "error": row.error if row else ""}
    with default_storage.open(row.result["path"], "rb") as fh:
        return fh.read(), row.result
