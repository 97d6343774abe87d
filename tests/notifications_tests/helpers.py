"""Shared set-up for the notification tests: a study whose readers' second reads open at chosen times."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from studies.models import Case, Read
from tests import factories as f


def submit(read: Read, at) -> Read:
    read.status = Read.Status.SUBMITTED
    read.started_at = at
    read.submitted_at = at
    read.time_on_task_seconds = 90
    read.save()
    return read


def repeat_study(*, n_cases: int = 3, submitted_days_ago: float = 15, washout_days: int = 14, name="VBQ vs QCT"):
    """A study (PI ``pi``, readers ``alice`` and ``bob``) with ``n_cases`` cases and reads 1 and 2 of each.

    alice submitted all her first reads ``submitted_days_ago`` days ago (so her second reads open
    ``submitted_days_ago - washout_days`` days ago); bob has not finished his first reads.
    """
    pi = f.make_user("pi")
    study = f.make_study(pi, name=name, washout_days=washout_days, reads_per_reader=2)
    alice, bob = f.make_user("alice"), f.make_user("bob")
    f.add_member(study, alice)
    f.add_member(study, bob)
    at = timezone.now() - timedelta(days=submitted_days_ago)
    cases = [Case.objects.create(study=study, subject_code=f"VBQ-{i:03d}") for i in range(1, n_cases + 1)]
    second = []
    for i, case in enumerate(cases):
        submit(f.make_read(case, alice, 1, order_index=i), at)
        second.append(f.make_read(case, alice, 2, order_index=i))
        f.make_read(case, bob, 1, order_index=i)
        f.make_read(case, bob, 2, order_index=i)
    return type("Repeat", (), dict(pi=pi, study=study, alice=alice, bob=bob, cases=cases, second=second))
