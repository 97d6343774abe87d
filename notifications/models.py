"""Each user's e-mail preferences, and the record of every notification handled (sent or not).

:class:`SentNotification` is what makes the tasks idempotent: one row per thing notified, with a unique ``key``
(``read_opened:<read id>``, ``read_changed:<audit event id>:<user id>``, ``digest:<study>:<user>:<date>``) written in
the same transaction as the e-mail is sent. A second run finds the row and sends nothing; a failed send rolls the
row back, so the next run tries again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from notifications.kinds import DIGEST, READ_CHANGED, READ_OPENED


class NotificationPreference(models.Model):
    """Which e-mails a user wants; a user without a row gets every kind (the defaults)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_opened = models.BooleanField(default=True, verbose_name=READ_OPENED.label, help_text=READ_OPENED.help_text)
    read_changed = models.BooleanField(default=True, verbose_name=READ_CHANGED.label, help_text=READ_CHANGED.help_text)
    daily_digest = models.BooleanField(default=True, verbose_name=DIGEST.label, help_text=DIGEST.help_text)
    #: Pages and e-mails in this language ("": the browser's language for pages, LANGUAGE_CODE for e-mails).
    language = models.CharField(
        max_length=10,
        blank=True,
        default="",
        choices=[("", _("The browser's language")), *settings.LANGUAGES],
        verbose_name=_("Language"),
        help_text=_("Pages and e-mails in this language."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"E-mail preferences of {self.user}"


class SentNotification(models.Model):
    """One notified item (a read that opened, a PI action, a day's digest) and what became of it."""

    class Kind(models.TextChoices):
        READ_OPENED = READ_OPENED.key, READ_OPENED.label
        READ_CHANGED = READ_CHANGED.key, READ_CHANGED.label
        DAILY_DIGEST = DIGEST.key, DIGEST.label

    class Outcome(models.TextChoices):
        SENT = "sent", "E-mailed"
        OFF = "off", "Not sent: turned off by the user"
        NO_ADDRESS = "no_address", "Not sent: the user has no e-mail address"
        INACTIVE = "inactive", "Not sent: the account is deactivated"
        COVERED = "covered", "Not sent: another e-mail told the user"

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    #: What was notified: the read (read_opened) or the audit event (read_changed); None for a digest.
    object_id = models.BigIntegerField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    study = models.ForeignKey("studies.Study", null=True, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "object_id"], name="notif_kind_object")]

    def __str__(self) -> str:
        return f"{self.key} → {self.user} ({self.outcome})"
