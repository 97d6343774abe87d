"""E-mail readers about what the PI did to their reads: reopen, reassign (both readers), void.

The audit log is the source: every PI action on a read is an append-only ``AuditEvent`` (``read.reopen``,
``read.reassign``, ``read.void``). The receivers of ``studies.events`` queue :func:`read_changes_notify` at once;
the periodic sweep runs it too, so an event whose e-mail was missed (broker down, SMTP down) is sent on a later
run. A run looks at the events of the last ``NOTIFY_LOOKBACK_HOURS`` in studies not locked, leaves out the
(event, reader) pairs already recorded, and sends each reader one e-mail summarising theirs.

Blinding and privacy: the e-mail names the study, the read number and the number of cases, never the case, the
PI's free-text reason (it may name a subject or quote another reader) or other readers' results.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from notifications.kinds import READ_CHANGED, READ_OPENED
from notifications.mail import Item, deliver_safely, site_url, users_by_id, wanting
from notifications.models import SentNotification
from notifications.read_opened import cases, ordinal
from studies.models import AuditEvent, Read, Study
from studies.services.read_opening import reads_opening

__all__ = ["ACTIONS", "read_changes_notify"]

ACTIONS = ("read.reopen", "read.reassign", "read.void")

#: What each reader is told, per (action, role in it).
_SENTENCES = {
    ("read.reopen", "reader"): gettext_lazy(
        "reopened for you to correct: %(n)s of your %(ordinal)s read (back on your worklist)"
    ),
    ("read.void", "reader"): gettext_lazy(
        "withdrawn by the PI: %(n)s of your %(ordinal)s read (off your worklist, nothing to do)"
    ),
    ("read.reassign", "reader"): gettext_lazy(
        "given to another reader: %(n)s of your %(ordinal)s read (off your worklist)"
    ),
    ("read.reassign", "new_reader"): gettext_lazy(
        "given to you: %(n)s for your %(ordinal)s read (at the end of your worklist)"
    ),
}


def _pending(now: datetime) -> list[tuple[AuditEvent, int, str, int, int | None]]:
    """(event, recipient id, role, read number, new read id) not yet recorded, oldest first."""
    since = now - timedelta(hours=settings.NOTIFY_LOOKBACK_HOURS)
    events = list(
        AuditEvent.objects.filter(action__in=ACTIONS, object_type="read", at__gt=since, study__locked=False).order_by(
            "at", "id"
        )
    )
    if not events:
        return []
    done = set(
        SentNotification.objects.filter(kind=READ_CHANGED.key, object_id__in=[e.pk for e in events]).values_list(
            "object_id", "user_id"
        )
    )
    read_ids = {int(e.object_id) for e in events if e.object_id.isdigit()}
    read_ids |= {int(e.data["new_read"]) for e in events if str(e.data.get("new_read", "")).isdigit()}
    reads = Read.objects.in_bulk(read_ids)
    out = []
    for e in events:
        read = reads.get(int(e.object_id)) if e.object_id.isdigit() else None
        if read is None:
            continue
        recipients = [(read.reader_id, "reader", None)]
        if e.action == "read.reassign":
            new = reads.get(int(e.data.get("new_read") or 0))
            if new is not None:
                recipients.append((new.reader_id, "new_reader", new.pk))
        for user_id, role, new_id in recipients:
            if (e.pk, user_id) not in done:
                out.append((e, user_id, role, read.read_number, new_id))
    return out


def read_changes_notify(now: datetime | None = None) -> dict[str, int]:
    """Send the e-mails of the PI's read actions not yet notified; returns counts of e-mails by outcome."""
    now = now or timezone.now()
    pending = _pending(now)
    per_user: dict[int, list] = defaultdict(list)
    for row in pending:
        per_user[row[1]].append(row)
    users = users_by_id(per_user)
    wants = wanting(per_user, READ_CHANGED)
    studies = Study.objects.in_bulk({row[0].study_id for row in pending})
    new_reads = Read.objects.in_bulk({row[4] for row in pending if row[4]})
    counts: dict[str, int] = defaultdict(int)
    connection = get_connection()
    for user_id, rows in sorted(per_user.items()):
        items = [Item(f"read_changed:{e.pk}:{user_id}", e.pk, e.study_id) for e, *_rest in rows]
        items += _covered_openings([new_reads[r[4]] for r in rows if r[4] in new_reads], now)
        with translation.override(users[user_id].email_language):  # the reader's own language
            subject, body = _message(users[user_id], rows, studies)
            outcome = deliver_safely(
                user=users[user_id],
                kind=READ_CHANGED,
                items=items,
                subject=subject,
                body=body,
                wants=user_id in wants,
                connection=connection,
            )
        counts[outcome] += 1
    return dict(counts)


def _covered_openings(new_reads: list[Read], now: datetime) -> list[Item]:
    """A reassigned repeat read already open: this e-mail tells its new reader; the read-opened one need not."""
    told = set(
        SentNotification.objects.filter(kind=READ_OPENED.key, object_id__in=[r.pk for r in new_reads]).values_list(
            "object_id", flat=True
        )
    )
    new_reads = [r for r in new_reads if r.read_number >= 2 and r.pk not in told]
    if not new_reads:
        return []
    openings = reads_opening(new_reads, now=now)
    return [
        Item(f"read_opened:{r.pk}", r.pk, r.study_id, covers=READ_OPENED.key)
        for r in new_reads
        if r.pk in openings and openings[r.pk].opens_at is not None and openings[r.pk].opens_at <= now
    ]


def _message(user, rows, studies: dict[int, Study]) -> tuple[str, str]:
    groups: dict[tuple[int, str, str, int], int] = defaultdict(int)
    for e, _user_id, role, number, _new in rows:
        groups[(e.study_id, e.action, role, number)] += 1
    by_study: dict[int, list[str]] = defaultdict(list)
    for (study_id, action, role, number), n in sorted(groups.items()):
        sentence = str(_SENTENCES[(action, role)]) % {"n": cases(n), "ordinal": ordinal(number)}
        by_study[study_id].append(f"  - {sentence[0].upper()}{sentence[1:]}")
    parts = []
    for study_id, lines in sorted(by_study.items(), key=lambda kv: studies[kv[0]].name.lower()):
        link = site_url(reverse("study-detail", args=[study_id]))
        head = _('In the study "%(study)s" (%(link)s):') % {"study": studies[study_id].name, "link": link}
        parts.append(head + "\n" + "\n".join(lines))
    names = sorted({studies[s].name for s in by_study})
    where = names[0] if len(names) == 1 else ngettext("%(n)d study", "%(n)d studies", len(names)) % {"n": len(names)}
    subject = _("The PI changed your reads in %(where)s") % {"where": where}
    body = (
        _("Hello %(name)s,") % {"name": user.get_username()}
        + "\n\n"
        + _("The PI of your study changed some of your reads:")
        + "\n\n"
        + "\n\n".join(parts)
        + "\n\n"
        + _("Your worklist shows what is left to do. Ask the PI if you need the reason for a change.")
        + "\n"
    )
    return subject, body
