"""The daily progress digest: one e-mail a day to each PI of each active study.

*Active*: not locked, and at least one read (not voided) not yet submitted — a finished or locked study sends
nothing. The numbers per reader × read number are the dashboard's Progress section
(:func:`analytics.sections.progress.compute`: submitted of total, in progress, the QC list) plus, from
:func:`studies.services.read_opening.reads_opening`, how many of the reads to do are open to the reader now and
how many opened in the last 24 hours. The task runs every hour and sends once the local time
(``TIME_ZONE``) has reached ``NOTIFY_DIGEST_HOUR``; the key ``digest:<study>:<user>:<date>`` makes it once a day.
The PI sees every reader's progress anyway; the digest still names no case.
"""

from __future__ import annotations

import textwrap
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db.models import Exists, OuterRef, Subquery
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analytics.datasets import study_data
from analytics.sections import progress
from notifications.kinds import DIGEST
from notifications.language import supported
from notifications.mail import Item, deliver_safely, site_url, wanting
from notifications.models import NotificationPreference, SentNotification
from studies.models import Membership, Read, Study
from studies.services.read_opening import reads_opening

__all__ = ["active_studies", "daily_digest_send", "digest_rows"]

COLUMNS = ("Reader", "Read", "Submitted", "To do", "Open now", "Opened 24 h", "Submitted 24 h", "QC flags")


def active_studies():
    """Studies not locked with at least one read still to do (not submitted, not voided)."""
    to_do = Read.objects.filter(study_id=OuterRef("pk")).exclude(status__in=(Read.Status.SUBMITTED, Read.Status.VOIDED))
    return Study.objects.filter(locked=False).filter(Exists(to_do)).order_by("pk")


def digest_rows(study: Study, now: datetime) -> tuple[list[dict], dict]:
    """One row per reader × read number with the digest's counts, and the study's totals."""
    section = progress.compute(study_data(study))["data"]
    day_ago = now - timedelta(hours=24)
    qc = Counter((q["reader"], q["read"]) for q in section["qc"])
    open_reads = list(
        Read.objects.filter(study=study)
        .exclude(status__in=(Read.Status.SUBMITTED, Read.Status.VOIDED))
        .select_related("reader")
        .only("pk", "study_id", "case_id", "reader_id", "reader__username", "read_number", "available_from")
    )
    openings = reads_opening(open_reads, now=now)
    open_now: Counter = Counter()
    opened: Counter = Counter()
    for r in open_reads:
        at = openings[r.pk].opens_at
        key = (r.reader.get_username(), r.read_number)
        if at is not None and at <= now:
            open_now[key] += 1
            if at > day_ago:
                opened[key] += 1
    recent = Counter(
        Read.objects.filter(study=study, status=Read.Status.SUBMITTED, submitted_at__gt=day_ago).values_list(
            "reader__username", "read_number"
        )
    )
    rows = []
    for r in section["readers"]:
        key = (r["reader"], r["read_number"])
        rows.append(
            {
                "reader": r["reader"],
                "read_number": r["read_number"],
                "done": r["done"],
                "total": r["total"],
                "to_do": r["total"] - r["done"],
                "in_progress": r["in_progress"],
                "open_now": open_now[key],
                "opened_24h": opened[key],
                "submitted_24h": recent[key],
                "qc": qc[key],
            }
        )
    totals = {
        "done": sum(r["done"] for r in rows),
        "total": sum(r["total"] for r in rows),
        "submitted_24h": sum(r["submitted_24h"] for r in rows),
        "opened_24h": sum(r["opened_24h"] for r in rows),
        "qc": len(section["qc"]),
    }
    return rows, totals


def _table(rows: list[dict]) -> str:
    cells = [COLUMNS] + [
        (
            r["reader"],
            str(r["read_number"]),
            f"{r['done']} / {r['total']}",
            str(r["to_do"]),
            str(r["open_now"]),
            str(r["opened_24h"]),
            str(r["submitted_24h"]),
            str(r["qc"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    # the reader's name left-aligned, the numbers right-aligned
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _fill(text: str) -> str:
    """Wrapped at 78 columns where the language has spaces between words (Chinese has none: one line)."""
    return textwrap.fill(text, 78) if " " in text else text


def _message(study: Study, rows: list[dict], totals: dict, day) -> tuple[str, str]:
    pct = 100.0 * totals["done"] / totals["total"] if totals["total"] else 0.0
    counts = {"done": totals["done"], "total": totals["total"]}
    subject = _("Daily progress of %(study)s: %(done)d of %(total)d reads submitted") % {"study": study.name, **counts}
    summary = ngettext(
        "%(done)d of %(total)d reads submitted (%(pct).0f%%); in the last 24 hours %(submitted)d submitted and "
        "%(opened)d opened to their readers; %(qc)d QC flag.",
        "%(done)d of %(total)d reads submitted (%(pct).0f%%); in the last 24 hours %(submitted)d submitted and "
        "%(opened)d opened to their readers; %(qc)d QC flags.",
        totals["qc"],
    ) % {**counts, "pct": pct, "submitted": totals["submitted_24h"], "opened": totals["opened_24h"], "qc": totals["qc"]}
    note = _(
        "To do: reads not yet submitted. Open now: those of them the reader can work on (the others wait for "
        "the washout or for the reader's previous read). Opened 24 h: reads to do that opened to their reader "
        "in the last 24 hours (a new plan, a washout that ended, a reopened read). QC flags: the dashboard's "
        "quality-control list (unmeasured ROIs, missing scores, outlying ROIs)."
    )
    # Translators: a Django date format (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date)
    when = formats.date_format(day, _("l j F Y"))
    body = (
        _('Progress of the study "%(study)s" on %(date)s:') % {"study": study.name, "date": when}
        + f"\n\n{_fill(summary)}\n\n{_table(rows)}\n\n{_fill(note)}\n\n"
        + _("Dashboard: %(url)s") % {"url": site_url(reverse("analytics-overview", args=[study.pk]))}
        + "\n"
        + _("Reads: %(url)s") % {"url": site_url(reverse("study-reads", args=[study.pk]))}
        + "\n"
    )
    return subject, body


def daily_digest_send(now: datetime | None = None) -> dict[str, int]:
    """Send today's digest to every PI of every active study who has not had it; returns counts by outcome."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    counts: dict[str, int] = defaultdict(int)
    if local.hour < settings.NOTIFY_DIGEST_HOUR:
        return dict(counts)
    day = local.date()
    connection = get_connection()
    for study in active_studies():
        saved = NotificationPreference.objects.filter(user=OuterRef("user_id")).values("language")[:1]
        pis = {}
        for m in (
            Membership.objects.filter(study=study, role=Membership.Role.PI)
            .select_related("user")
            .annotate(saved_language=Subquery(saved))
        ):
            m.user.email_language = supported(m.saved_language) or settings.LANGUAGE_CODE
            pis[m.user_id] = m.user
        keys = {uid: f"digest:{study.pk}:{uid}:{day.isoformat()}" for uid in pis}
        sent = set(SentNotification.objects.filter(key__in=keys.values()).values_list("key", flat=True))
        due = [uid for uid in sorted(pis) if keys[uid] not in sent]
        if not due:
            continue
        wants = wanting(due, DIGEST)
        # nobody wants it: record that, and skip loading the study's reads
        rows, totals = digest_rows(study, now) if wants else ([], {})
        messages: dict[str, tuple[str, str]] = {}  # by language: each PI reads it in their own
        for uid in due:
            language = pis[uid].email_language
            with translation.override(language):
                if wants and language not in messages:
                    messages[language] = _message(study, rows, totals, day)
                subject, body = messages.get(language, ("", ""))
                outcome = deliver_safely(
                    user=pis[uid],
                    kind=DIGEST,
                    items=[Item(keys[uid], None, study.pk)],
                    subject=subject,
                    body=body,
                    wants=uid in wants,
                    connection=connection,
                )
            counts[outcome] += 1
    return dict(counts)
