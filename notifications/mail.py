"""Sending one notification e-mail and recording it, atomically; the footer every e-mail carries.

The database is the source of truth: :func:`deliver` writes one :class:`~notifications.models.SentNotification`
row per notified item and sends the e-mail inside the same transaction. A row that already exists (another run
got there first) raises ``IntegrityError`` before anything is sent; an e-mail that cannot be sent rolls the rows
back, so the next run tries again. Hence "at most once" per item, and "at least once" as long as SMTP works.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.translation import gettext as _

from notifications.kinds import Kind
from notifications.language import supported
from notifications.models import NotificationPreference, SentNotification

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[VBQ Reader] "


@dataclass(frozen=True)
class Item:
    """One notified thing: its idempotency key, what it refers to and its study."""

    key: str
    object_id: int | None
    study_id: int | None
    #: Recorded under another kind, as "covered" (e.g. a reassigned read already open: the reassign e-mail told
    #: its new reader, so the read-opened sweep must not tell them again).
    covers: str | None = None


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def preferences_url() -> str:
    return site_url(reverse("notification-preferences"))


def footer(kind: Kind) -> str:
    """The line every e-mail ends with: why it came, and how to turn it off."""
    return (
        "\n-- \n"
        + _('You receive this e-mail because "%(kind)s" is on in your VBQ Reader e-mail settings.')
        % {"kind": kind.label}
        + "\n"
        + _("To turn it off, untick it at %(url)s (after logging in).") % {"url": preferences_url()}
        + "\n"
    )


def wanting(user_ids: Iterable[int], kind: Kind) -> set[int]:
    """The users among ``user_ids`` who want e-mails of ``kind`` (no preference row: they do)."""
    user_ids = set(user_ids)
    off = set(
        NotificationPreference.objects.filter(user_id__in=user_ids, **{kind.key: False}).values_list(
            "user_id", flat=True
        )
    )
    return user_ids - off


def deliver(*, user, kind: Kind, items: list[Item], subject: str, body: str, wants: bool, connection=None) -> str:
    """Record ``items`` for ``user`` and, if they want it and have an address, send them one e-mail.

    Returns the outcome (``SentNotification.Outcome``), or ``"duplicate"`` when another run already recorded
    one of the items (nothing is sent: the other run's e-mail told the user). An SMTP error propagates after the
    rows are rolled back.
    """
    if not user.is_active:
        outcome = SentNotification.Outcome.INACTIVE
    elif not wants:
        outcome = SentNotification.Outcome.OFF
    elif not (user.email or "").strip():
        outcome = SentNotification.Outcome.NO_ADDRESS
    else:
        outcome = SentNotification.Outcome.SENT
    try:
        with transaction.atomic():
            SentNotification.objects.bulk_create(
                [
                    SentNotification(
                        key=item.key,
                        kind=item.covers or kind.key,
                        object_id=item.object_id,
                        study_id=item.study_id,
                        user=user,
                        outcome=SentNotification.Outcome.COVERED if item.covers else outcome,
                    )
                    for item in items
                ]
            )
            if outcome == SentNotification.Outcome.SENT:
                EmailMessage(
                    subject=SUBJECT_PREFIX + subject,
                    body=body.rstrip() + "\n" + footer(kind),
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=[user.email],
                    connection=connection,
                ).send()
    except IntegrityError:
        log.info("notification %s for user %s already handled by another run", kind.key, user.pk)
        return "duplicate"
    return outcome


def deliver_safely(**kwargs) -> str:
    """:func:`deliver`, logging (not raising) an e-mail that could not be sent: the next run tries again."""
    try:
        return deliver(**kwargs)
    except Exception:
        log.exception("could not send the %s e-mail to user %s", kwargs["kind"].key, kwargs["user"].pk)
        return "failed"


def users_by_id(user_ids: Iterable[int]) -> dict:
    """The users by id, each with ``email_language``: their saved language, else ``LANGUAGE_CODE`` (one query)."""
    saved = NotificationPreference.objects.filter(user=OuterRef("pk")).values("language")[:1]
    users = get_user_model().objects.filter(pk__in=set(user_ids)).annotate(saved_language=Subquery(saved))
    for u in users:
        u.email_language = supported(u.saved_language) or settings.LANGUAGE_CODE
    return {u.pk: u for u in users}
