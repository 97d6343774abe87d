"""Readers are e-mailed once when their repeat reads open after the washout: summarised, blinded, idempotent."""

from __future__ import annotations

import io
import json
import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from notifications import tasks
from notifications.models import NotificationPreference, SentNotification
from notifications.read_opened import read_opened_notify
from studies.models import Read
from studies.services.membership import study_lock
from tests import factories as f

from .helpers import repeat_study, submit

pytestmark = pytest.mark.django_db


def test_one_summary_per_reader_naming_the_study_and_the_number_of_cases():
    w = repeat_study(n_cases=5)
    counts = read_opened_notify()
    assert counts == {"reads": 5, "sent": 1}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == "[VBQ Reader] 5 cases ready for your second read in VBQ vs QCT"
    assert '5 cases are ready for your second read in the study "VBQ vs QCT"' in message.body
    assert f"http://127.0.0.1:8000/studies/{w.study.pk}/" in message.body
    # blinding: no case, no other reader, no score
    for code in (c.subject_code for c in w.cases):
        assert code not in message.body and code not in message.subject
    assert "bob" not in message.body
    # how to turn it off
    assert '"Cases ready for a repeat read"' in message.body
    assert "http://127.0.0.1:8000/account/email/" in message.body
    assert SentNotification.objects.filter(kind="read_opened", outcome="sent").count() == 5


def test_the_beat_task_is_idempotent():
    repeat_study(n_cases=3)
    first = tasks.reminders_sweep.apply().get()
    assert first["read_opened"] == {"reads": 3, "sent": 1}
    second = tasks.reminders_sweep.apply().get()
    assert second["read_opened"] == {"reads": 0}
    assert len(mail.outbox) == 1
    assert SentNotification.objects.count() == 3


def test_reads_opening_later_are_announced_later_in_one_more_email():
    w = repeat_study(n_cases=3, submitted_days_ago=10)  # opens in 4 days
    assert read_opened_notify() == {"reads": 0}
    in_five_days = timezone.now() + timedelta(days=5)
    assert read_opened_notify(now=in_five_days) == {"reads": 3, "sent": 1}
    assert read_opened_notify(now=in_five_days + timedelta(minutes=15)) == {"reads": 0}
    # a fourth case added to the plan, its read 1 submitted: only the new read 2 is announced (one case)
    case = f.make_case(w.study, "VBQ-004", n_slices=1)
    submit(f.make_read(case, w.alice, 1, order_index=3), timezone.now() - timedelta(days=10))
    f.make_read(case, w.alice, 2, order_index=3)
    assert read_opened_notify(now=in_five_days + timedelta(minutes=30)) == {"reads": 1, "sent": 1}
    assert mail.outbox[-1].subject == "[VBQ Reader] 1 case ready for your second read in VBQ vs QCT"
    assert "1 case is ready" in mail.outbox[-1].body


def test_nothing_for_a_locked_study():
    w = repeat_study()
    study_lock(study=w.study, user=w.pi)
    assert tasks.reminders_sweep.apply().get()["read_opened"] == {"reads": 0}
    assert mail.outbox == []


def test_nothing_for_a_finished_study():
    w = repeat_study()
    for read in Read.objects.filter(study=w.study).exclude(status=Read.Status.SUBMITTED):
        submit(read, timezone.now())
    assert read_opened_notify() == {"reads": 0}
    assert mail.outbox == []


def test_started_reads_and_openings_older_than_the_lookback_are_not_announced(settings):
    w = repeat_study(n_cases=2, submitted_days_ago=30)  # opened 16 days ago: before the 48 h lookback
    assert read_opened_notify() == {"reads": 0}
    settings.NOTIFY_LOOKBACK_HOURS = 24 * 20
    Read.objects.filter(pk=w.second[0].pk).update(status=Read.Status.IN_PROGRESS)  # she is on it already
    assert read_opened_notify() == {"reads": 1, "sent": 1}


def test_a_reader_who_turned_it_off_gets_nothing_not_even_later():
    w = repeat_study(n_cases=2)
    prefs = NotificationPreference.objects.create(user=w.alice, read_opened=False)
    assert read_opened_notify() == {"reads": 2, "off": 1}
    assert mail.outbox == []
    assert set(SentNotification.objects.values_list("outcome", flat=True)) == {"off"}
    prefs.read_opened = True
    prefs.save()
    assert read_opened_notify() == {"reads": 0}  # no backlog of what opened while it was off
    assert mail.outbox == []


def test_a_reader_without_an_address_is_recorded_not_mailed():
    w = repeat_study(n_cases=1)
    w.alice.email = ""
    w.alice.save()
    assert read_opened_notify() == {"reads": 1, "no_address": 1}
    assert mail.outbox == []


def test_a_deactivated_account_is_recorded_not_mailed():
    w = repeat_study(n_cases=1)
    w.alice.is_active = False
    w.alice.save()
    assert read_opened_notify() == {"reads": 1, "inactive": 1}
    assert mail.outbox == []


def test_a_failed_send_is_retried_on_the_next_run(settings):
    repeat_study(n_cases=2)
    # A real SMTP backend aimed at a port nobody listens on: the connection is refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    assert read_opened_notify() == {"reads": 2, "failed": 1}
    assert SentNotification.objects.count() == 0  # rolled back with the failed send
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert read_opened_notify() == {"reads": 2, "sent": 1}
    assert len(mail.outbox) == 1


def test_one_email_per_reader_across_studies():
    w = repeat_study(n_cases=2)
    other = f.make_study(w.pi, name="Second cohort", washout_days=7, reads_per_reader=2)
    f.add_member(other, w.alice)
    case = f.make_case(other, "OTH-001", n_slices=1)
    submit(f.make_read(case, w.alice, 1), timezone.now() - timedelta(days=8))
    f.make_read(case, w.alice, 2)
    assert read_opened_notify() == {"reads": 3, "sent": 1}
    body = mail.outbox[0].body
    assert mail.outbox[0].subject == "[VBQ Reader] 3 cases ready for a repeat read"
    assert '2 cases are ready for your second read in the study "VBQ vs QCT"' in body
    assert '1 case is ready for your second read in the study "Second cohort"' in body


def test_queries_do_not_grow_with_the_reads(django_assert_max_num_queries):
    repeat_study(n_cases=30)
    # candidates (1) + opening dates (2) + users, preferences, studies (3) + savepoint, insert, release (3)
    with django_assert_max_num_queries(10):
        assert read_opened_notify() == {"reads": 30, "sent": 1}


def test_the_beat_schedule_names_registered_tasks(settings):
    from vbqsite.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"notifications.tasks.reminders_sweep", "notifications.tasks.daily_digest_send"} <= names
    assert names <= set(app.tasks)


def test_the_command_for_cron_without_beat(settings):
    settings.NOTIFY_DIGEST_HOUR = 0
    repeat_study(n_cases=2)
    out = io.StringIO()
    call_command("send_reminders", stdout=out)
    assert json.loads(out.getvalue()) == {
        "daily_digest": {"sent": 1},
        "read_changed": {},
        "read_opened": {"reads": 2, "sent": 1},
    }
    out = io.StringIO()
    call_command("send_reminders", stdout=out)
    assert json.loads(out.getvalue()) == {"daily_digest": {}, "read_changed": {}, "read_opened": {"reads": 0}}
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.org", "pi@example.org"]
