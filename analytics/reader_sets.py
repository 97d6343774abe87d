"""Which readers enter the inter-rater ICC: the PI's choice (issue #16), a study setting kept in analytics.

:class:`~analytics.models.AgreementReaders` holds the chosen user ids; none stored (or an empty list) means
every reader with analysed first reads. The agreement section always adds every pair of readers, so the PI
sees, say, reader2–reader3 on all 61 cases beside an all-reader ICC that a reader part-way through limits to
the cases every reader finished. The setting is part of the sections' ``settings`` inputs digest
(:mod:`analytics.digests`), so changing it recomputes the agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from analytics.models import AgreementReaders
from studies.models import Membership, Study

__all__ = ["agreement_readers_get", "agreement_readers_set", "study_readers"]


def study_readers(study: Study) -> list[tuple[int, str]]:
    """(user id, username) of the study's readers, by username."""
    rows = Membership.objects.filter(study=study, role=Membership.Role.READER).values_list("user_id", "user__username")
    return sorted(rows, key=lambda r: (r[1], r[0]))


def agreement_readers_get(study: Study) -> list[int]:
    """The chosen reader ids (empty: every reader)."""
    row = AgreementReaders.objects.filter(study=study).values_list("reader_ids", flat=True).first()
    return sorted(int(i) for i in (row or []))


@transaction.atomic
def agreement_readers_set(*, study: Study, reader_ids: Iterable[Any]) -> list[int]:
    """Store the readers of the inter-rater ICC; raise ``ValueError`` with a sentence for the PI when refused.

    Choosing every reader (or none) stores the default, "every reader", so that readers who join later are in.
    """
    readers = dict(study_readers(study))
    chosen: set[int] = set()
    for value in reader_ids:
        text = str(value).strip()
        if not text.isascii() or not text.isdigit():
            raise ValueError(gettext("%(value)s is not a reader id (whole numbers only).") % {"value": repr(value)})
        chosen.add(int(text))
    unknown = sorted(chosen - set(readers))
    if unknown:
        raise ValueError(gettext("User %(id)s is not a reader of this study.") % {"id": unknown[0]})
    if chosen and len(chosen) < 2:
        raise ValueError(
            gettext("An inter-rater ICC needs at least 2 readers: choose 2 or more (or every reader, the default).")
        )
    ids = [] if chosen == set(readers) else sorted(chosen)
    AgreementReaders.objects.update_or_create(study=study, defaults={"reader_ids": ids})
    return ids
