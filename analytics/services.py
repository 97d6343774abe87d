"""The section cache and the refresh job: what pages and the API ask for, and what the Celery job computes.

Caching model. Every dashboard section is one :class:`~analytics.models.AnalysisCache` row per study, holding
the result and the inputs digest it was computed from (:mod:`analytics.digests`). A page compares the row's
fingerprint with the current one; when they differ it enqueues :func:`analytics.tasks.study_analytics_refresh`
(once: the row is marked pending) and shows the last result with a "computing…" banner that refreshes itself.
Without a broker (the single-machine default) the task runs in-process, so the page gets the fresh result at
once. The job recomputes only stale sections (:func:`analytics.sections.compute_section`), so running it
twice changes nothing. Figures: :mod:`analytics.figure_cache`; the snapshot zip: :mod:`analytics.snapshot`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics import figures
from analytics.datasets import OUTCOMES, study_data
from analytics.digests import Digests, Fingerprints
from analytics.models import AnalysisCache
from analytics.sections import compute_section
from analytics.sections.common import CACHED_SECTIONS
from studies.models import Study
from vbqsite.queue import enqueue

log = logging.getLogger(__name__)

__all__ = [
    "REQUEUE_AFTER",
    "SectionState",
    "section_for_page",
    "sections_request",
    "store_result",
    "study_analytics_refresh",
]

#: A refresh requested less than this long ago is not requested again (a worker may be busy).
REQUEUE_AFTER = timedelta(minutes=10)


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
            store_result(
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
        store_result(study, section, wanted[section], result, fingerprint=prints[section])
        outcome["computed"].append(section)
    return outcome


def store_result(
    study: Study,
    section: str,
    digest: str,
    result: dict,
    *,
    fingerprint: str = "",
    status: str = AnalysisCache.Status.DONE,
    error: str = "",
) -> None:
    """Upsert a cache row: the result, the digest and fingerprint it was computed from, and its status."""
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
