"""The kinds of e-mail VBQ Reader sends on its own, with the words the preferences page and the e-mails use."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

__all__ = ["DIGEST", "KINDS", "READ_CHANGED", "READ_OPENED", "Kind"]


@dataclass(frozen=True)
class Kind:
    key: str  #: field name on NotificationPreference and the ``kind`` of SentNotification rows
    label: str | Promise  #: checkbox label on the preferences page (translated when shown)
    help_text: str | Promise  #: who gets it and when


READ_OPENED = Kind(
    "read_opened",
    _("Cases ready for a repeat read"),
    _(
        "Readers: one e-mail when cases of your second (or later) read become available after the washout, "
        "with the number of cases per study."
    ),
)
READ_CHANGED = Kind(
    "read_changed",
    _("Changes the PI makes to my reads"),
    _(
        "Readers: an e-mail when the PI reopens one of your reads for correction, gives it to another reader, "
        "voids it, or gives you a read."
    ),
)
DIGEST = Kind(
    "daily_digest",
    _("Daily progress digest"),
    _("PIs: one e-mail a day per active study with each reader's progress (submitted, to do, open) and QC flags."),
)
KINDS: tuple[Kind, ...] = (READ_OPENED, READ_CHANGED, DIGEST)
