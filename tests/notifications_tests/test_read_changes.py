"""Readers are e-mailed when the PI reopens, reassigns or voids one of their reads (studies.events signals)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications import tasks
from notifications.models import NotificationPreference, SentNotification
from notifications.read_changes import read_changes_notify
from notifications.read_opened import read_opened_notify
from studies.models import Read
from studies.services import read_actions
from studies.services.reading import read_reopen
from tests import factories as f

from .helpers import repeat_study, submit

pytestmark = pytest.mark.django_db

REASON = "L3 ROI of VBQ-001 sits on the endplate; bob measured 3.1"


def _api(client, read, action, **data):
    return client.post(reverse(f"api-read-{action}", args=[read.pk]), data, content_type="application/json")


def test_reopen_by_the_pi_emails_the_reader_once(world, client, django_capture_on_commit_callbacks):
    submit(world.read, timezone.now())
    client.force_login(world.pi)
    with django_capture_on_commit_callbacks(execute=True):
        assert _api(client, world.read, "reopen", reason=REASON).status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reader@example.org"]
    assert message.subject == "[VBQ Reader] The PI changed your reads in VBQ vs QCT"
    assert "Reopened for you to correct: 1 case of your first read" in message.body
    # blinding: neither the case nor the PI's free-text reason (it may name a subject or quote another reader)
    assert "VBQ-001" not in message.body and "endplate" not in message.body and "3.1" not in message.body
    assert '"Changes the PI makes to my reads"' in message.body and "/account/email/" in message.body
    # the sweep finds it recorded: nothing more
    assert tasks.reminders_sweep.apply().get()["read_changed"] == {}
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("role", ["reader", "other_reader", "outsider"])
def test_only_the_pi_can_cause_an_email(world, client, role, django_capture_on_commit_callbacks):
    submit(world.read, timezone.now())
    client.force_login(getattr(world, role))
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(client, world.read, "reopen", reason=REASON)
    assert response.status_code in (403, 404)
    assert mail.outbox == []


def test_reassign_emails_both_readers(world, client, django_capture_on_commit_callbacks):
    newcomer = f.make_user("carol")
    f.add_member(world.study, newcomer)
    client.force_login(world.pi)
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(client, world.read, "reassign", reason=REASON, reader=newcomer.pk)
    assert response.status_code == 200, response.content
    by_to = {m.to[0]: m for m in mail.outbox}
    assert set(by_to) == {"reader@example.org", "carol@example.org"}
    assert "Given to another reader: 1 case of your first read (off your worklist)" in by_to["reader@example.org"].body
    assert "Given to you: 1 case for your first read" in by_to["carol@example.org"].body
    for m in mail.outbox:
        assert "VBQ-001" not in m.body and "endplate" not in m.body and "carol" not in m.body.split("Hello")[0]
    assert "reader" not in by_to["carol@example.org"].body.replace("another reader", "")
    assert read_changes_notify() == {}


def test_void_emails_the_reader(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.pi)
    with django_capture_on_commit_callbacks(execute=True):
        assert _api(client, world.read, "void", reason=REASON).status_code == 200
    assert [m.to for m in mail.outbox] == [["reader@example.org"]]
    assert "Withdrawn by the PI: 1 case of your first read" in mail.outbox[0].body


def test_a_missed_signal_is_sent_by_the_sweep_in_one_summary(world):
    submit(world.read, timezone.now())
    second = f.make_read(f.make_case(world.study, "VBQ-002", n_slices=1), world.reader)
    submit(second, timezone.now())
    # no on-commit callbacks run here (broker down, say): only the audit rows exist
    read_reopen(read=world.read, user=world.pi, reason="redo")
    read_reopen(read=second, user=world.pi, reason="redo")
    assert mail.outbox == []
    assert tasks.reminders_sweep.apply().get()["read_changed"] == {"sent": 1}
    assert "Reopened for you to correct: 2 cases of your first read" in mail.outbox[0].body
    assert tasks.reminders_sweep.apply().get()["read_changed"] == {}
    assert len(mail.outbox) == 1


def test_turned_off_is_honoured(world):
    NotificationPreference.objects.create(user=world.reader, read_changed=False)
    submit(world.read, timezone.now())
    read_reopen(read=world.read, user=world.pi, reason="redo")
    assert read_changes_notify() == {"off": 1}
    assert mail.outbox == []


def test_a_reassigned_open_repeat_read_is_not_announced_twice():
    w = repeat_study(n_cases=2)
    carol = f.make_user("carol")
    f.add_member(w.study, carol)
    for case in w.cases:  # carol's first reads done 15 days ago: her second reads are open too
        submit(f.make_read(case, carol, 1), timezone.now() - timedelta(days=15))
    moved = Read.objects.get(case=w.cases[0], reader=w.bob, read_number=2)
    read_actions.read_reassign(read=moved, user=w.pi, reader_id=carol.pk, reason="bob is away")
    assert read_changes_notify() == {"sent": 2}  # bob (read taken away) and carol (read given)
    counts = read_opened_notify()
    # alice's 2 second reads; carol's reassigned (open) read 2 was in the reassign e-mail already
    assert counts == {"reads": 2, "sent": 1}
    assert [m.to for m in mail.outbox[-1:]] == [["alice@example.org"]]
    assert SentNotification.objects.filter(kind="read_opened", outcome="covered").count() == 1


def test_nothing_for_a_locked_study(world):
    submit(world.read, timezone.now())
    read_reopen(read=world.read, user=world.pi, reason="redo")
    world.study.locked = True
    world.study.save()
    assert read_changes_notify() == {}
    assert mail.outbox == []


def test_queries_do_not_grow_with_the_events(django_assert_max_num_queries):
    w = repeat_study(n_cases=20, submitted_days_ago=1)
    for read in Read.objects.filter(study=w.study, reader=w.alice, read_number=1):
        read_reopen(read=read, user=w.pi, reason="redo")
    # events, recorded pairs, reads, users, preferences, studies, new reads (7) + savepoint, insert, release (3)
    with django_assert_max_num_queries(10):
        assert read_changes_notify() == {"sent": 1}
    assert "Reopened for you to correct: 20 cases of your first read" in mail.outbox[0].body
