"""E-mail readers whose repeat reads (read 2, 3 …) opened: once per read, one e-mail per reader per run.

A read *opens* when :func:`studies.services.read_opening.reads_opening` says so: the reader submitted every read of
the previous read number and the study's washout has passed since the last of them (or the PI opened it early).
Each run looks at the reads not yet started, of studies not locked, whose opening time lies in the last
``NOTIFY_LOOKBACK_HOURS`` and that no :class:`~notifications.models.SentNotification` row covers yet; each reader
gets one e-mail saying, per study and read number, how many cases are ready. Blinding: the e-mail names the study
and counts cases — never a subject code, a score or another reader.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from notifications.kinds import READ_OPENED
from notifications.mail import Item, deliver_safely, site_url, users_by_id, wanting
from notifications.models import SentNotification
from studies.models import Membership, Read, Study
from studies.services.read_opening import reads_opening

__all__ = ["ordinal", "read_opened_notify", "reads_newly_open"]

_ORDINALS = {
    1: gettext_lazy("first"),
    2: gettext_lazy("second"),
    3: gettext_lazy("third"),
    4: gettext_lazy("fourth"),
    5: gettext_lazy("fifth"),
}


def ordinal(n: int) -> str:
    """'second' for 2 (in the active language), as in "your second read"."""
    return str(_ORDINALS[n]) if n in _ORDINALS else _("%(n)dth") % {"n": n}


def cases(n: int) -> str:
    return ngettext("%(n)d case", "%(n)d cases", n) % {"n": n}


def reads_newly_open(now: datetime | None = None) -> list[Read]:
    """Reads 2+ not started, of unlocked studies, opened within the lookback and not yet notified (3 queries)."""
    now = now or timezone.now()
    notified = SentNotification.objects.filter(kind=READ_OPENED.key, object_id=OuterRef("pk"))
    still_reader = Membership.objects.filter(
        study_id=OuterRef("study_id"), user_id=OuterRef("reader_id"), role=Membership.Role.READER
    )
    candidates = list(
        Read.objects.filter(read_number__gte=2, status=Read.Status.NOT_STARTED, study__locked=False)
        .filter(Exists(still_reader))
        .exclude(Exists(notified))
        .only("pk", "study_id", "case_id", "reader_id", "read_number", "available_from")
    )
    since = now - timedelta(hours=settings.NOTIFY_LOOKBACK_HOURS)
    openings = reads_opening(candidates, now=now)
    return [r for r in candidates if openings[r.pk].opens_at is not None and since < openings[r.pk].opens_at <= now]


def read_opened_notify(now: datetime | None = None) -> dict[str, int]:
    """Send the "cases ready for your next read" e-mails; returns counts of reads and e-mails by outcome."""
    reads = reads_newly_open(now)
    per_reader: dict[int, list[Read]] = defaultdict(list)
    for read in reads:
        per_reader[read.reader_id].append(read)
    users = users_by_id(per_reader)
    wants = wanting(per_reader, READ_OPENED)
    studies = Study.objects.in_bulk({r.study_id for r in reads})
    counts: dict[str, int] = defaultdict(int)
    counts["reads"] = len(reads)
    connection = get_connection()  # one SMTP connection for the whole run
    for reader_id, own in sorted(per_reader.items()):
        with translation.override(users[reader_id].email_language):  # the reader's own language
            subject, body = _message(users[reader_id], own, studies)
            outcome = deliver_safely(
                user=users[reader_id],
                kind=READ_OPENED,
                items=[Item(f"read_opened:{r.pk}", r.pk, r.study_id) for r in own],
                subject=subject,
                body=body,
                wants=reader_id in wants,
                connection=connection,
            )
        counts[outcome] += 1
    return dict(counts)


def _message(user, reads: list[Read], studies: dict[int, Study]) -> tuple[str, str]:
    groups: dict[tuple[int, int], int] = defaultdict(int)  # (study, read number) -> cases
    for r in reads:
        groups[(r.study_id, r.read_number)] += 1
    ordered = sorted(groups.items(), key=lambda kv: (studies[kv[0][0]].name.lower(), kv[0][0], kv[0][1]))
    lines = []
    for (study_id, number), n in ordered:
        link = site_url(reverse("study-detail", args=[study_id]))
        sentence = ngettext(
            '- %(cases)s is ready for your %(ordinal)s read in the study "%(study)s":',
            '- %(cases)s are ready for your %(ordinal)s read in the study "%(study)s":',
            n,
        ) % {"cases": cases(n), "ordinal": ordinal(number), "study": studies[study_id].name}
        lines.append(f"{sentence}\n  {link}")
    if len(ordered) == 1:
        (study_id, number), n = ordered[0]
        subject = _("%(cases)s ready for your %(ordinal)s read in %(study)s") % {
            "cases": cases(n),
            "ordinal": ordinal(number),
            "study": studies[study_id].name,
        }
    else:
        subject = _("%(cases)s ready for a repeat read") % {"cases": cases(len(reads))}
    body = (
        _("Hello %(name)s,") % {"name": user.get_username()}
        + "\n\n"
        + _("The washout has passed (or the PI opened them early): these cases are ready for you in VBQ Reader.")
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        + _("They are on your worklist, in the study's randomised order.")
        + "\n"
    )
    return subject, body
