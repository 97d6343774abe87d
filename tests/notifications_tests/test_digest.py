"""The PIs' daily progress digest: once a day per PI and active study, the dashboard's numbers, no case named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notifications import tasks
from notifications.digest import daily_digest_send, digest_rows
from notifications.models import NotificationPreference, SentNotification
from scoring.models import ReadScore
from studies.models import Membership, Read
from tests import factories as f

from .helpers import repeat_study, submit

pytestmark = pytest.mark.django_db


def _at(hour: int, day: int = 0) -> datetime:
    """Today (UTC, the tests' TIME_ZONE) at ``hour``:00, shifted by ``day`` days."""
    today = timezone.now().astimezone(UTC).date()
    return datetime(today.year, today.month, today.day, hour, tzinfo=UTC) + timedelta(days=day)


@pytest.fixture
def study(settings):
    settings.NOTIFY_DIGEST_HOUR = 7
    w = repeat_study(n_cases=3, submitted_days_ago=14.5)  # her second reads opened 12 hours ago
    # one of alice's submitted reads was scored without a VBQ: a QC flag
    first = Read.objects.filter(study=w.study, reader=w.alice, read_number=1).order_by("pk").first()
    ReadScore.objects.create(read=first, inputs_digest="x", vbq=None, vbq_reason="CSF ROI missing", snr=10.0)
    # bob submitted one first read within the last 24 hours
    submit(Read.objects.filter(study=w.study, reader=w.bob, read_number=1).order_by("pk").first(), timezone.now())
    return w


def test_rows_are_the_dashboard_progress_plus_openings(study):
    rows, totals = digest_rows(study.study, timezone.now())
    by = {(r["reader"], r["read_number"]): r for r in rows}
    assert (by[("alice", 1)]["done"], by[("alice", 1)]["total"], by[("alice", 1)]["qc"]) == (3, 3, 1)
    assert (by[("alice", 2)]["to_do"], by[("alice", 2)]["open_now"], by[("alice", 2)]["opened_24h"]) == (3, 3, 3)
    assert (by[("bob", 1)]["done"], by[("bob", 1)]["submitted_24h"], by[("bob", 1)]["open_now"]) == (1, 1, 2)
    assert (by[("bob", 2)]["to_do"], by[("bob", 2)]["open_now"]) == (3, 0)  # waits for his first reads
    # bob's two unsubmitted first reads opened when the study was created, just now
    assert by[("bob", 1)]["opened_24h"] == 2
    assert totals == {"done": 4, "total": 12, "submitted_24h": 1, "opened_24h": 5, "qc": 1}


def test_the_digest_says_what_the_dashboard_says(study, settings):
    settings.NOTIFY_DIGEST_HOUR = 0
    assert daily_digest_send() == {"sent": 1}
    message = mail.outbox[0]
    assert message.to == ["pi@example.org"]
    assert message.subject == "[VBQ Reader] Daily progress of VBQ vs QCT: 4 of 12 reads submitted"
    assert "4 of 12 reads submitted (33%); in the last 24 hours 1 submitted and 5 opened" in " ".join(
        message.body.split()
    )
    assert "1 QC flag." in message.body
    table = message.body.split("\n\n")[2].splitlines()
    assert table[0] == "Reader  Read  Submitted  To do  Open now  Opened 24 h  Submitted 24 h  QC flags"
    assert table[2].split() == ["alice", "1", "3", "/", "3", "0", "0", "0", "0", "1"]
    assert table[3].split() == ["alice", "2", "0", "/", "3", "3", "3", "3", "0", "0"]
    assert table[4].split() == ["bob", "1", "1", "/", "3", "2", "2", "2", "1", "0"]
    assert table[5].split() == ["bob", "2", "0", "/", "3", "3", "0", "0", "0", "0"]
    assert "VBQ-00" not in message.body  # no case named
    assert f"/studies/{study.study.pk}/analytics/" in message.body and '"Daily progress digest"' in message.body


def test_one_digest_a_day_to_each_pi(study):
    co_pi = f.make_user("co_pi")
    f.add_member(study.study, co_pi, Membership.Role.PI)
    assert daily_digest_send(now=_at(6)) == {}  # before the digest hour
    assert daily_digest_send(now=_at(8)) == {"sent": 2}
    assert sorted(m.to[0] for m in mail.outbox) == ["co_pi@example.org", "pi@example.org"]
    # the same day: nothing more, whatever the hour
    assert daily_digest_send(now=_at(9)) == {}
    assert daily_digest_send(now=_at(23)) == {}
    assert len(mail.outbox) == 2
    # the next day: again
    assert daily_digest_send(now=_at(7, day=1)) == {"sent": 2}
    assert len(mail.outbox) == 4


def test_the_beat_task_is_idempotent(study, settings):
    settings.NOTIFY_DIGEST_HOUR = 0
    assert tasks.daily_digest_send_task.apply().get() == {"sent": 1}
    assert tasks.daily_digest_send_task.apply().get() == {}
    assert len(mail.outbox) == 1
    assert SentNotification.objects.filter(kind="daily_digest").count() == 1


def test_nothing_for_a_locked_study(study):
    study.study.locked = True
    study.study.save()
    assert daily_digest_send(now=_at(8)) == {}
    assert mail.outbox == []


def test_nothing_for_a_finished_study(study):
    for read in Read.objects.filter(study=study.study).exclude(status=Read.Status.SUBMITTED):
        submit(read, timezone.now())
    assert daily_digest_send(now=_at(8)) == {}
    assert mail.outbox == []


def test_readers_get_no_digest_and_a_pi_who_turned_it_off_neither(study):
    NotificationPreference.objects.create(user=study.pi, daily_digest=False)
    assert daily_digest_send(now=_at(8)) == {"off": 1}
    assert mail.outbox == []
    assert daily_digest_send(now=_at(9)) == {}


def test_queries_do_not_grow_with_the_reads(settings, django_assert_max_num_queries):
    settings.NOTIFY_DIGEST_HOUR = 0
    repeat_study(n_cases=40)
    with django_assert_max_num_queries(20):
        assert daily_digest_send() == {"sent": 1}
